"""The invoice and reminder e-mails: subject, text and HTML bodies per language, and the attached PDF."""

from __future__ import annotations

import email.policy
import html
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import attrs
import pytest

from tenantbill.domain.invoices import Invoice, InvoiceKind, InvoiceLine, Party, Seller, VatGroup
from tenantbill.domain.payments import Reminder
from tenantbill.errors import InvalidEmail, InvalidInput
from tenantbill.render.mail import invoice_message, reminder_message

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SENDER = "Acme AS <faktura@example.no>"
RECIPIENT = "kari@example.no"


def make_invoice(**changes: Any) -> Invoice:
    amount = Decimal("1000.00")
    invoice = Invoice(
        id="inv-1",
        account_id="acc-1",
        sequence=1001,
        number="1001",
        kind=InvoiceKind.INVOICE,
        issued_at=datetime(2026, 1, 15, 9, 30, tzinfo=UTC),
        issue_date=date(2026, 1, 15),
        due_date=date(2026, 1, 29),
        seller=Seller(name="Acme AS", bank_account="12345678903", vat_registered=True),
        bill_to=Party(name="Kunde AS", emails=("kari@example.no",)),
        currency="NOK",
        locale="nb",
        lines=(
            InvoiceLine(
                description="Hosting",
                quantity=Decimal(1),
                unit_price=amount,
                vat_rate=Decimal("0.25"),
                amount=amount,
            ),
        ),
        vat=(VatGroup(rate=Decimal("0.25"), base=amount, vat=Decimal("250.00")),),
        net_total=amount,
        vat_total=Decimal("250.00"),
        total=Decimal("1250.00"),
        balance_applied=Decimal(0),
        amount_due=Decimal("1250.00"),
    )
    return attrs.evolve(invoice, **changes)


def make_credit_note(**changes: Any) -> Invoice:
    credit = make_invoice(
        id="inv-2",
        sequence=1002,
        number="1002",
        kind=InvoiceKind.CREDIT_NOTE,
        credits_invoice_id="inv-1",
        credits_number="1001",
        net_total=Decimal("-1000.00"),
        vat_total=Decimal("-250.00"),
        total=Decimal("-1250.00"),
        amount_due=Decimal("-1250.00"),
    )
    return attrs.evolve(credit, **changes)


def message_for(invoice: Invoice, **kwargs: Any) -> EmailMessage:
    kwargs = {"recipient": RECIPIENT, "sender": SENDER, "pdf": PDF, **kwargs}
    return invoice_message(invoice, **kwargs)


def text_of(message: EmailMessage) -> str:
    return _body(message, "plain")


def html_of(message: EmailMessage) -> str:
    return _body(message, "html")


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    assert part is not None
    # a message parsed from the wire has CRLF line endings
    return str(part.get_content()).replace("\r\n", "\n")


def reparsed(message: EmailMessage) -> EmailMessage:
    """The message as a receiver sees it after it went over the wire."""
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes(policy=email.policy.SMTP))
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize(
    ("locale", "seller", "subject"),
    [
        ("nb", "Acme AS", "Faktura 1001 fra Acme AS"),
        ("nb_NO", "Acme AS", "Faktura 1001 fra Acme AS"),
        ("no", "Acme AS", "Faktura 1001 fra Acme AS"),
        ("sv", "Acme AB", "Faktura 1001 från Acme AB"),
        ("sv-SE", "Acme AB", "Faktura 1001 från Acme AB"),
        ("en", "Acme Ltd", "Invoice 1001 from Acme Ltd"),
        ("de", "Acme GmbH", "Invoice 1001 from Acme GmbH"),
        ("xx_YY", "Acme Ltd", "Invoice 1001 from Acme Ltd"),
    ],
)
def test_subject_names_the_invoice_and_seller_in_the_language(locale: str, seller: str, subject: str) -> None:
    invoice = make_invoice(seller=Seller(name=seller), locale=locale)

    assert reparsed(message_for(invoice))["Subject"] == subject


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("nb", "Kreditnota 1002 fra Acme AS"),
        ("sv", "Kreditfaktura 1002 från Acme AS"),
        ("en", "Credit note 1002 from Acme AS"),
    ],
)
def test_credit_note_subject_says_credit_note(locale: str, subject: str) -> None:
    assert message_for(make_credit_note(locale=locale))["Subject"] == subject


def test_locale_argument_overrides_the_invoice_locale() -> None:
    message = message_for(make_invoice(locale="nb"), locale="en_GB")

    assert message["Subject"] == "Invoice 1001 from Acme AS"
    assert "29 January 2026" in text_of(message)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "nb",
            [
                "Hei Kunde AS,",
                "Vedlagt er faktura 1001 fra Acme AS.",
                "1\u00a0250,00\u00a0kr",
                "Forfallsdato:",
                "29. januar 2026",
                "Kontonummer:",
                "1234.56.78903",
                "Fakturanummer: 1001",
                "Vennlig hilsen\nAcme AS",
            ],
        ),
        (
            "sv",
            [
                "Hej Kunde AS,",
                "Bifogat finns faktura 1001 från Acme AS.",
                "Att betala:",
                "1\u00a0250,00\u00a0Nkr",
                "29 januari 2026",
                "1234.56.78903",
                "Fakturanummer: 1001",
                "Med vänliga hälsningar\nAcme AS",
            ],
        ),
        (
            "en",
            [
                "Hello Kunde AS,",
                "Please find attached invoice 1001 from Acme AS.",
                "Amount due:",
                "NOK1,250.00",
                "January 29, 2026",
                "Bank account:",
                "1234.56.78903",
                "Invoice number:",
                "Kind regards\nAcme AS",
            ],
        ),
    ],
)
def test_body_gives_amount_due_date_account_and_number(locale: str, expected: list[str]) -> None:
    message = reparsed(message_for(make_invoice(locale=locale)))
    text = text_of(message)
    markup = html_of(message)

    for piece in expected:
        assert piece in text
        # the HTML has the same words, with labels in table cells instead of "label: value"
        assert piece.split("\n")[0].split(":")[0] in markup
    assert f'<html lang="{locale}">' in markup


def test_amount_is_in_the_invoice_currency() -> None:
    message = message_for(make_invoice(currency="SEK", locale="sv", seller=Seller(name="Acme AB")))

    assert "1\u00a0250,00\u00a0kr" in text_of(message)


def test_iban_is_shown_in_groups_of_four() -> None:
    invoice = make_invoice(seller=Seller(name="Acme AB", bank_account="SE4550000000058398257466"))

    assert "SE45 5000 0000 0583 9825 7466" in text_of(message_for(invoice))


@pytest.mark.parametrize("locale", ["sv", "nb", "en"])
@pytest.mark.parametrize(
    ("account", "name", "number"),
    [("BANKGIRO50501055", "Bankgiro", "5050-1055"), ("PLUSGIRO2865434", "Plusgiro", "28 65 43-4")],
)
def test_a_giro_number_is_given_under_its_name(locale: str, account: str, name: str, number: str) -> None:
    message = message_for(make_invoice(locale=locale, seller=Seller(name="Acme AB", bank_account=account)))

    lines = [line.split(":", 1) for line in text_of(message).splitlines() if ":" in line]
    assert [name, number] in [[label, value.strip()] for label, value in lines]
    assert f'<th align="left">{name}</th><td>{number}</td>' in html_of(message)


def test_invoice_without_bank_account_leaves_the_line_out() -> None:
    text = text_of(message_for(make_invoice(seller=Seller(name="Acme AS"))))

    assert "Kontonummer" not in text
    assert "Forfallsdato:" in text


def test_invoice_paid_by_credit_balance_says_there_is_nothing_to_pay() -> None:
    invoice = make_invoice(balance_applied=Decimal("1250.00"), amount_due=Decimal("0.00"), locale="en")
    text = text_of(message_for(invoice))

    assert "nothing to pay" in text
    assert "Due date" not in text


def test_credit_note_body_gives_the_amount_credited_and_the_invoice_it_credits() -> None:
    text = text_of(message_for(make_credit_note(locale="en")))

    assert "Please find attached credit note 1002 from Acme AS." in text
    assert "It credits invoice 1001." in text
    assert "NOK1,250.00" in text
    assert "Due date" not in text


def test_html_escapes_every_user_provided_string() -> None:
    evil = '<script>alert("x")</script> & Co'
    invoice = make_invoice(
        seller=Seller(name=evil, bank_account="12345678903"),
        bill_to=Party(name='<img src=x onerror="steal()">'),
        number="<b>1001</b>",
    )
    markup = html_of(message_for(invoice))

    assert "<script>" not in markup
    assert "<img" not in markup
    assert "<b>" not in markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in markup
    assert "&lt;img src=x onerror=&quot;steal()&quot;&gt;" in markup


def test_headers_are_from_to_subject_and_date_of_issue() -> None:
    message = reparsed(message_for(make_invoice()))

    assert message["From"] == SENDER
    assert message["To"] == RECIPIENT
    assert message["Date"] == "Thu, 15 Jan 2026 09:30:00 +0000"
    assert message["Date"].datetime == datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def test_a_line_break_in_the_seller_name_cannot_inject_headers() -> None:
    invoice = make_invoice(seller=Seller(name="Acme AS\r\nBcc: victim@example.com"))
    message = reparsed(message_for(invoice))

    assert "Bcc" not in message
    assert message["Subject"] == "Faktura 1001 fra Acme AS Bcc: victim@example.com"


def test_pdf_is_attached_as_application_pdf_named_by_number() -> None:
    message = reparsed(message_for(make_invoice()))
    (attachment,) = message.iter_attachments()

    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "1001.pdf"
    assert attachment.get_content() == PDF


@pytest.mark.parametrize(
    ("number", "filename"),
    [
        ("F/2026-1001", "F_2026-1001.pdf"),
        ("../../etc/1001", "etc_1001.pdf"),
        ("INV 1001", "INV_1001.pdf"),
        ("Fa\\1001:", "Fa_1001.pdf"),
        ("Å-1001", "1001.pdf"),
    ],
)
def test_attachment_name_is_safe_as_a_file_name(number: str, filename: str) -> None:
    (attachment,) = message_for(make_invoice(number=number)).iter_attachments()

    assert attachment.get_filename() == filename


def test_message_is_text_and_html_alternatives_plus_the_pdf() -> None:
    message = reparsed(message_for(make_invoice()))

    assert message.get_content_type() == "multipart/mixed"
    alternative, pdf = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert pdf.get_content_type() == "application/pdf"


def test_identical_input_gives_identical_bytes() -> None:
    first = message_for(make_invoice()).as_bytes(policy=email.policy.SMTP)
    second = message_for(make_invoice()).as_bytes(policy=email.policy.SMTP)

    assert first == second
    assert first != message_for(make_invoice(), recipient="ola@example.no").as_bytes(policy=email.policy.SMTP)


def test_message_is_seven_bit_clean() -> None:
    data = message_for(make_invoice(locale="sv", seller=Seller(name="Åhléns Rör AB"))).as_bytes(
        policy=email.policy.SMTP
    )

    assert data.isascii()


@pytest.mark.parametrize(
    "recipient", ["", "kari", "kari@example.no, ola@example.no", "kari@example.no\nBcc: x@y.z"]
)
def test_recipient_must_be_one_address(recipient: str) -> None:
    with pytest.raises(InvalidEmail, match="recipient"):
        message_for(make_invoice(), recipient=recipient)


def test_sender_may_carry_a_display_name() -> None:
    message = message_for(make_invoice(), sender="Acme AS via tenantbill <no-reply@example.com>")

    assert message["From"].addresses[0].display_name == "Acme AS via tenantbill"


def test_pdf_must_be_pdf_bytes() -> None:
    with pytest.raises(InvalidInput, match="PDF"):
        message_for(make_invoice(), pdf=b"<html>not a pdf</html>")


# The invoice e-mail of an account that makes KIDs


def test_an_invoice_with_a_kid_gives_it_and_asks_for_it() -> None:
    invoice = make_invoice(kid_method="mod10", customer="4711", locale="en")
    text = text_of(message_for(invoice))

    assert f"Payment reference (KID): {invoice.kid}" in text
    assert "Please quote the payment reference (KID) with your payment." in text
    assert "quote the invoice number" not in text


# The payment reminder e-mail

REMINDED_ON = date(2026, 2, 13)


def make_reminder(invoice: Invoice, **changes: Any) -> Reminder:
    """The first reminder of ``invoice``, 15 days after it was due, with the Norwegian fee of 70 kr."""
    values: dict[str, Any] = {
        "invoice_id": invoice.id,
        "sent_on": REMINDED_ON,
        "fee": Decimal("70.00"),
        "amount_due": invoice.outstanding + Decimal("70.00"),
        "number": 1,
        "outstanding": invoice.outstanding,
        "currency": invoice.currency,
    }
    return Reminder(**{**values, **changes})


def reminder_for(invoice: Invoice, **kwargs: Any) -> EmailMessage:
    reminder = kwargs.pop("reminder", None) or make_reminder(invoice)
    kwargs = {"recipient": RECIPIENT, "sender": SENDER, "pdf": PDF, **kwargs}
    return reminder_message(invoice, reminder, **kwargs)


@pytest.mark.parametrize(
    ("locale", "subject"),
    [
        ("nb", "Purring på faktura 1001 fra Acme AS"),
        ("nb_NO", "Purring på faktura 1001 fra Acme AS"),
        ("sv", "Betalningspåminnelse för faktura 1001 från Acme AS"),
        ("en", "Payment reminder for invoice 1001 from Acme AS"),
        ("de", "Payment reminder for invoice 1001 from Acme AS"),
    ],
)
def test_reminder_subject_names_the_invoice_and_seller_in_the_language(locale: str, subject: str) -> None:
    assert reparsed(reminder_for(make_invoice(locale=locale)))["Subject"] == subject


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (
            "nb",
            [
                "Hei Kunde AS,",
                "Vedlagt er en purring på faktura 1001 fra Acme AS, som forfalt 29. januar 2026.",
                "Å betale:",
                "1\u00a0320,00\u00a0kr",
                "Betal innen:",
                "27. februar 2026",
                "Purregebyr:",
                "70,00\u00a0kr",
                "Kontonummer:",
                "1234.56.78903",
                "KID:",
                "Fakturanummer:",
                "Oppgi KID når du betaler.",
                "Har du betalt i mellomtiden, kan du se bort fra denne purringen.",
                "Vennlig hilsen\nAcme AS",
            ],
        ),
        (
            "sv",
            [
                "Hej Kunde AS,",
                "Bifogat finns en betalningspåminnelse för faktura 1001 från Acme AS",
                "Att betala:",
                "Betala senast:",
                "27 februari 2026",
                "Påminnelseavgift:",
                "OCR-nummer:",
                "Ange OCR-numret när du betalar.",
                "Om du redan har betalat kan du bortse från denna påminnelse.",
            ],
        ),
        (
            "en",
            [
                "Hello Kunde AS,",
                "Please find attached a payment reminder for invoice 1001 from Acme AS",
                "Amount due:",
                "NOK1,320.00",
                "Please pay by:",
                "February 27, 2026",
                "Reminder fee:",
                "Payment reference (KID):",
                "Please quote the payment reference (KID) with your payment.",
                "If you have paid in the meantime, please disregard this reminder.",
            ],
        ),
    ],
)
def test_reminder_body_gives_what_is_due_by_when_the_fee_account_and_kid(
    locale: str, expected: list[str]
) -> None:
    invoice = make_invoice(locale=locale, kid_method="mod10", customer="4711")
    message = reparsed(reminder_for(invoice))
    text = text_of(message)
    markup = html_of(message)

    for piece in expected:
        assert piece in text
        assert html.escape(piece.split("\n")[0].split(":")[0], quote=False) in markup
    assert invoice.kid is not None
    assert invoice.kid in text
    assert f'<html lang="{locale}">' in markup


def test_a_reminder_without_a_fee_or_kid_leaves_them_out() -> None:
    invoice = make_invoice(locale="en")
    text = text_of(
        reminder_for(invoice, reminder=make_reminder(invoice, fee=Decimal(0), amount_due=Decimal(1250)))
    )

    assert "Reminder fee" not in text
    assert "KID" not in text
    assert "Invoice number:" in text
    assert "Please quote the invoice number with your payment." in text


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("nb", "Ved betaling etter forfall kan det kreves forsinkelsesrente på 12,75\u00a0% per år."),
        ("sv", "Vid betalning efter förfallodagen kan dröjsmålsränta på 12,75\u00a0% per år debiteras."),
        ("en", "Late-payment interest of 12.75% a year may be charged on payment after the due date."),
    ],
)
def test_the_late_payment_interest_rate_is_mentioned_only_when_given(locale: str, sentence: str) -> None:
    invoice = make_invoice(locale=locale)

    assert sentence in text_of(reminder_for(invoice, interest_rate=Decimal("0.1275")))
    assert sentence not in text_of(reminder_for(invoice))


def test_reminder_headers_are_from_to_subject_and_the_day_it_is_sent() -> None:
    message = reparsed(reminder_for(make_invoice()))

    assert message["From"] == SENDER
    assert message["To"] == RECIPIENT
    assert message["Date"].datetime == datetime(2026, 2, 13, 12, 0, tzinfo=UTC)


def test_reminder_date_may_be_given_as_the_moment_it_is_sent() -> None:
    at = datetime(2026, 2, 13, 7, 45, tzinfo=UTC)

    assert reparsed(reminder_for(make_invoice(), sent_at=at))["Date"].datetime == at
    with pytest.raises(InvalidInput, match="sent_at"):
        reminder_for(make_invoice(), sent_at=datetime(2026, 2, 13, 7, 45))


@pytest.mark.parametrize(
    ("locale", "filename"),
    [("nb", "purring-1001.pdf"), ("sv", "paminnelse-1001.pdf"), ("en", "reminder-1001.pdf")],
)
def test_the_reminder_pdf_is_attached_named_by_the_language_and_number(locale: str, filename: str) -> None:
    message = reparsed(reminder_for(make_invoice(locale=locale)))
    alternative, attachment = message.iter_parts()

    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == filename
    assert attachment.get_content() == PDF


def test_the_reminder_attachment_name_is_safe_as_a_file_name() -> None:
    (attachment,) = reminder_for(make_invoice(number="../F 2026/1001")).iter_attachments()

    assert attachment.get_filename() == "purring-.._F_2026_1001.pdf"


def test_identical_reminders_give_identical_seven_bit_bytes() -> None:
    first = reminder_for(make_invoice(locale="sv", seller=Seller(name="Åhléns Rör AB"))).as_bytes(
        policy=email.policy.SMTP
    )

    assert first == reminder_for(make_invoice(locale="sv", seller=Seller(name="Åhléns Rör AB"))).as_bytes(
        policy=email.policy.SMTP
    )
    assert first.isascii()


@pytest.mark.parametrize(
    "name",
    [
        "Acme AS\r\nBcc: victim@example.com",
        "Acme\r\n\r\nYour invoice was cancelled.",
        "=?utf-8?q?x=0D=0ABcc:_victim@example.com?=",
        "=?utf-8?b?eA0KQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
        "Acme =?ISO-8859-1?Q?x=0D=0ABcc=3A_victim=40example.com?= AS",
    ],
)
def test_hostile_seller_and_customer_names_stay_data_in_the_reminder(name: str) -> None:
    invoice = make_invoice(
        seller=Seller(name=name, bank_account="12345678903"), bill_to=Party(name="Kunde AS")
    )
    message = reparsed(reminder_for(invoice))
    customer = reparsed(reminder_for(make_invoice(bill_to=unchecked_party(name))))

    for parsed in (message, customer):
        names = [field.lower() for field in parsed]
        assert sorted(names) == sorted(["from", "to", "subject", "date", "mime-version", "content-type"])
        assert [a.addr_spec for a in parsed["To"].addresses] == [RECIPIENT]
        assert len(list(parsed.iter_attachments())) == 1
    flat = " ".join(name.replace("\r", " ").replace("\n", " ").split())
    assert message["Subject"] == f"Purring på faktura 1001 fra {flat}"  # as typed, never decoded
    assert f"Hei {flat}," in text_of(customer)


def unchecked_party(name: str) -> Party:
    """A Party named ``name`` even where the domain would refuse it at input (a value stored earlier)."""
    party = Party(name="placeholder")
    object.__setattr__(party, "name", name)
    return party


def test_a_reminder_of_another_invoice_or_a_bad_rate_is_refused() -> None:
    invoice = make_invoice()

    with pytest.raises(InvalidInput, match="Reminder of invoice 1001"):
        reminder_for(invoice, reminder=make_reminder(invoice, invoice_id="inv-9"))
    with pytest.raises(InvalidInput, match="late_interest_rate"):
        reminder_for(invoice, interest_rate=Decimal("12.75"))
    with pytest.raises(InvalidInput, match="PDF"):
        reminder_for(invoice, pdf=b"<html>not a pdf</html>")
