"""Names people type cannot add headers, recipients or MIME parts to an e-mail, and addresses stay apart.

Every vector goes through a real SMTP server (aiosmtpd): the envelope must
name exactly the intended recipient, the message must have one From, To and
Subject and no Bcc or Reply-To, the PDF must arrive intact, and the Subject
must decode to exactly the text the user typed (whitespace collapsed).
"""

from __future__ import annotations

import base64
import email.policy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.identity import Email, email_key
from tenantbill.domain.invoices import Invoice, InvoiceKind, InvoiceLine, Party, Seller, VatGroup
from tenantbill.errors import DeliveryError, InvalidEmail, InvalidInput
from tenantbill.ports import Store
from tenantbill.render.mail import invitation_message, invoice_message
from tenantbill.smtp import SmtpMailer
from tenantbill.testing.mailer import Received, SmtpSink

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n\r\n.\r\n\x00trailer <<>>\n%%EOF\n"
SENDER_ADDRESS = "faktura@example.no"
SENDER = f"Acme AS <{SENDER_ADDRESS}>"
RECIPIENT = "kari@example.no"
ATTACKER = "someone@example.net"
AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _b64_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


ENCODED_WORD_VECTORS = [
    "=?utf-8?q?x=0D=0ABcc:_someone@example.net?=",
    "=?utf-8?q?x=0D=0AFrom:_someone@example.net?=",
    "=?utf-8?q?x=0D=0AReply-To:_someone@example.net?=",
    "=?utf-8?q?x=0D=0ATo:_someone@example.net?=",
    "=?utf-8?q?x=0D=0A=0D=0AYour_invoice_was_cancelled.?=",
    _b64_word("x\r\nBcc: someone@example.net"),
    "Acme =?ISO-8859-1?Q?x=0D=0ABcc=3A_someone=40example.net?= AS",
    '"=?utf-8?q?x=0D=0ABcc:_someone@example.net?=" <someone@example.net>',
    "A" * 150 + " =?utf-8?q?x=0D=0ABcc:_someone@example.net?=",
    "Ålesund Rør & Søn AS — " * 5 + "=?utf-8?q?x=0D=0ABcc:_someone@example.net?=",
]
RAW_BREAK_VECTORS = [
    "Acme\r\nBcc: someone@example.net",
    "Acme\nBcc: someone@example.net",
    "Acme\rBcc: someone@example.net",
    "Acme\r\n\r\nYour invoice was cancelled.",
    "Acme\u2028Bcc: someone@example.net",
    "Acme\u2029\x85Reply-To: someone@example.net",
    "Acme\x00\x1b\x7f AS",
]
LONG_VECTORS = [
    "B" * 210,
    "Fjord & Fjell AS " * 15,
    "Ålesund Rør og Ventilasjon AS avdeling Sunnmøre " * 5,
    "東京都の会社 " * 40,
]
PLAIN_VECTORS = ["Ålesund Rør AS", "Acme AS", "Acme (Oslo) AS, avd. <nord>", "Emoji 🧾 AS"]
VECTORS = ENCODED_WORD_VECTORS + RAW_BREAK_VECTORS + LONG_VECTORS + PLAIN_VECTORS

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def collapsed(text: str) -> str:
    """What a name reads as in a header: every run of whitespace or control characters one space."""
    return " ".join(_CONTROLS.sub(" ", text).split())


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def mailer_for(sink: SmtpSink) -> SmtpMailer:
    return SmtpMailer(sink.host, sink.port, timeout=5, local_hostname="localhost")


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
        seller=Seller(name="Acme AS", bank_account="12345678903"),
        bill_to=Party(name="Kunde AS"),
        currency="NOK",
        locale="en",
        lines=(InvoiceLine("Hosting", Decimal(1), amount, Decimal("0.25"), amount),),
        vat=(VatGroup(Decimal("0.25"), amount, Decimal("250.00")),),
        net_total=amount,
        vat_total=Decimal("250.00"),
        total=Decimal("1250.00"),
        balance_applied=Decimal(0),
        amount_due=Decimal("1250.00"),
    )
    return attrs.evolve(invoice, **changes)


def party(name: str) -> Party | None:
    """A Party named ``name``, or None where the domain refuses such a name at input."""
    try:
        return Party(name=name)
    except InvalidInput:
        return None


def parsed(data: bytes) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def assert_exact_header(message: EmailMessage) -> None:
    """One From, To and Subject; nothing that adds or redirects a recipient."""
    names = [name.lower() for name in message]
    assert names.count("from") == 1
    assert names.count("to") == 1
    assert names.count("subject") == 1
    for unwanted in ("bcc", "cc", "reply-to", "sender", "resent-to", "resent-bcc"):
        assert unwanted not in names
    assert message["From"].addresses[0].addr_spec == SENDER_ADDRESS
    assert [a.addr_spec for a in message["To"].addresses] == [RECIPIENT]
    assert ATTACKER not in str(message["To"])


def assert_delivered_safely(sink: SmtpSink, subject: str, *, pdf: bytes | None) -> Received:
    (got,) = sink.received
    assert got.recipients == (RECIPIENT,)
    assert_exact_header(got.message)
    assert str(got.message["Subject"]) == subject
    if pdf is not None:
        assert got.message.get_content_type() == "multipart/mixed"
        (attachment,) = got.message.iter_attachments()
        assert isinstance(attachment, EmailMessage)
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content() == pdf
    return got


def display_name(message: EmailMessage) -> str:
    """The From display name as RFC 2047 decodes it (whitespace between encoded words is not text).

    The stdlib's modern parser keeps a space between adjacent encoded words
    in a display name; mail readers, following the RFC, do not.
    """
    raw = "".join(str(dict(message.raw_items())["From"]).splitlines())
    phrase = raw.rsplit("<", 1)[0].strip() if raw.endswith(">") else ""
    return str(make_header(decode_header(phrase)))


def assert_lines_fit(data: bytes) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))


# The invoice e-mail, built directly (the domain may refuse some of these names at input)


@pytest.mark.parametrize("name", VECTORS)
def test_seller_name_cannot_change_the_invoice_email(sink: SmtpSink, name: str) -> None:
    message = invoice_message(
        make_invoice(seller=Seller(name=name)), recipient=RECIPIENT, sender=SENDER, pdf=PDF
    )
    data = message.as_bytes(policy=email.policy.SMTP)
    assert_exact_header(parsed(data))
    assert_lines_fit(data)

    mailer_for(sink).send(message)

    got = assert_delivered_safely(sink, f"Invoice 1001 from {collapsed(name)}", pdf=PDF)
    text = got.message.get_body(("plain",))
    assert text is not None
    assert collapsed(name) in text.get_content()


@pytest.mark.parametrize("name", VECTORS)
def test_customer_name_cannot_change_the_invoice_email(sink: SmtpSink, name: str) -> None:
    bill_to = party(name)
    if bill_to is None:
        return  # refused at input: nothing to send
    message = invoice_message(make_invoice(bill_to=bill_to), recipient=RECIPIENT, sender=SENDER, pdf=PDF)
    assert_exact_header(parsed(message.as_bytes(policy=email.policy.SMTP)))

    mailer_for(sink).send(message)

    got = assert_delivered_safely(sink, "Invoice 1001 from Acme AS", pdf=PDF)
    text = got.message.get_body(("plain",))
    assert text is not None
    assert f"Hello {collapsed(bill_to.name)}," in text.get_content()


@pytest.mark.parametrize("name", VECTORS)
def test_sender_display_name_cannot_change_the_invoice_email(sink: SmtpSink, name: str) -> None:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    senders = [f'"{quoted}" <{SENDER_ADDRESS}>']
    if not name.startswith('"'):
        senders.append(f"{name} <{SENDER_ADDRESS}>")
    for sender in senders:
        message = invoice_message(make_invoice(), recipient=RECIPIENT, sender=sender, pdf=PDF)
        data = message.as_bytes(policy=email.policy.SMTP)
        assert_exact_header(parsed(data))
        assert_lines_fit(data)
        assert display_name(parsed(data)) == collapsed(name)

    mailer_for(sink).send(message)

    got = assert_delivered_safely(sink, "Invoice 1001 from Acme AS", pdf=PDF)
    assert display_name(got.message) == collapsed(name)


def test_a_short_encoded_word_in_the_seller_name_is_sent_as_typed_not_decoded(sink: SmtpSink) -> None:
    name = "=?utf-8?q?Evil_Corp?="
    message = invoice_message(
        make_invoice(seller=Seller(name=name)), recipient=RECIPIENT, sender=SENDER, pdf=PDF
    )

    mailer_for(sink).send(message)

    assert_delivered_safely(sink, f"Invoice 1001 from {name}", pdf=PDF)


# The invitation e-mail, built directly


def invitation(account_name: str, **changes: Any) -> EmailMessage:
    arguments: dict[str, Any] = {
        "account_name": account_name,
        "role": "member",
        "recipient": RECIPIENT,
        "sender": SENDER,
        "token": "tok_EN-123",
        "created_at": AT - timedelta(days=7),
        "expires_at": AT,
        **changes,
    }
    return invitation_message(**arguments)


@pytest.mark.parametrize("name", VECTORS)
def test_account_name_cannot_change_the_invitation_email(sink: SmtpSink, name: str) -> None:
    message = invitation(name)
    data = message.as_bytes(policy=email.policy.SMTP)
    assert_exact_header(parsed(data))
    assert_lines_fit(data)
    # The outbox stores the bytes and parses them back before sending.
    mailer_for(sink).send(parsed(data))

    got = assert_delivered_safely(sink, f"You are invited to {collapsed(name)}", pdf=None)
    body = got.message.get_content()
    assert "Your invitation code: tok_EN-123" in body
    assert f"invited to join {collapsed(name)}." in body
    assert "Role: member (full access)" in body


def test_invitation_message_is_deterministic_and_in_utc() -> None:
    first = invitation("Acme AS").as_bytes(policy=email.policy.SMTP)

    assert first == invitation("Acme AS").as_bytes(policy=email.policy.SMTP)
    oslo = invitation("Acme AS", expires_at=AT.astimezone(ZoneInfo("Europe/Oslo")))
    assert oslo.as_bytes(policy=email.policy.SMTP) == first
    assert "expires at 2026-01-15 09:00 UTC" in str(parsed(first).get_content())


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"token": "abc\r\nBcc: x@example.net"}, InvalidInput),
        ({"recipient": f"{RECIPIENT}, {ATTACKER}"}, InvalidEmail),
        ({"recipient": f"{RECIPIENT}\r\nBcc: {ATTACKER}"}, InvalidEmail),
        ({"sender": f"Acme <{SENDER_ADDRESS}>\r\nBcc: {ATTACKER}"}, InvalidEmail),
        ({"headers": {"Bcc": ATTACKER}}, InvalidInput),
        ({"headers": {"X-Note": "=?utf-8?q?x=0D=0ABcc:_a@b.c?="}}, InvalidInput),
    ],
)
def test_invitation_message_refuses_structure_in_its_arguments(changes: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        invitation("Acme AS", **changes)


# Through the app: the account name (invitation), the provider and customer names (invoice), the sender


def refused_at_input(action: Callable[[], Any]) -> bool:
    """Run ``action``; True if the name was refused as input (then nothing may have been sent)."""
    try:
        action()
    except InvalidInput:
        return True
    return False


APP_VECTORS = ENCODED_WORD_VECTORS + RAW_BREAK_VECTORS + LONG_VECTORS[1:3] + PLAIN_VECTORS


@pytest.mark.parametrize("name", APP_VECTORS)
def test_an_invitation_to_an_account_with_a_hostile_name_reaches_only_the_invitee(
    store: Store, sink: SmtpSink, name: str
) -> None:
    app = tb.Tenantbill(store=store, mailer=mailer_for(sink), clock=FixedClock(AT), sender=SENDER)
    owner, account = app.accounts.sign_up(name="Acme AS", email="eier@example.no")
    if refused_at_input(lambda: app.accounts.update(owner.id, account.id, name=name)):
        return
    issued = app.access.invite(owner.id, account.id, email=RECIPIENT, role=tb.Role.MEMBER)
    app.billing.deliver()

    got = assert_delivered_safely(sink, f"Du er invitert til {collapsed(name)}", pdf=None)  # an nb account
    assert issued.token in got.message.get_content()


@pytest.mark.parametrize("name", ["Acme =?utf-8?q?x=0D=0ABcc:_someone@example.net?=", *RAW_BREAK_VECTORS[:2]])
def test_the_configured_sender_name_cannot_add_a_recipient_to_an_invitation(
    store: Store, sink: SmtpSink, name: str
) -> None:
    app = tb.Tenantbill(
        store=store, mailer=mailer_for(sink), clock=FixedClock(AT), sender=f"{name} <{SENDER_ADDRESS}>"
    )
    owner, account = app.accounts.sign_up(name="Acme AS", email="eier@example.no")
    app.access.invite(owner.id, account.id, email=RECIPIENT, role=tb.Role.MEMBER)
    app.billing.deliver()

    got = assert_delivered_safely(sink, "Du er invitert til Acme AS", pdf=None)  # an nb account
    assert display_name(got.message) == collapsed(name)


@pytest.mark.parametrize("name", ENCODED_WORD_VECTORS + LONG_VECTORS[1:3] + RAW_BREAK_VECTORS[:1])
def test_an_invoice_from_and_to_hostile_names_reaches_only_its_recipient(
    store: Store, sink: SmtpSink, name: str
) -> None:
    app = tb.Tenantbill(store=store, mailer=mailer_for(sink), clock=FixedClock(AT), sender=SENDER)
    owner, provider = app.accounts.sign_up(
        name="Acme AS", email="eier@example.no", bank_account="86011117947", locale="en"
    )
    if refused_at_input(lambda: app.accounts.update(owner.id, provider.id, name=name)):
        return
    bill_to = party(name)
    if bill_to is None:
        return
    draft = tb.InvoiceDraft(
        bill_to=attrs.evolve(bill_to, emails=(RECIPIENT,)),
        lines=[
            tb.Line(description="Pro", quantity=Decimal(1), unit_price=Decimal(300), vat_rate=Decimal("0.25"))
        ],
    )
    invoice = app.invoices.issue(owner.id, provider.id, draft)
    report = app.billing.deliver()

    assert report.sent == 1, report.errors
    pdf = app.invoices.pdf(owner.id, invoice.id)
    got = assert_delivered_safely(sink, f"Invoice {invoice.number} from {collapsed(name)}", pdf=pdf)
    text = got.message.get_body(("plain",))
    assert text is not None
    assert f"Hello {collapsed(name)}," in text.get_content()


# The SMTP mailer itself: envelope from raw recipient fields, and a refusal instead of a mangled header


def test_mailer_refuses_a_header_the_stdlib_would_refold_into_an_injected_field(sink: SmtpSink) -> None:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Invoice 1 from " + "A" * 80 + " =?utf-8?q?x=0D=0ABcc:_someone@example.net?="
    message.set_content("Hello\n")

    with pytest.raises(DeliveryError, match=r"one field|would not be written"):
        mailer_for(sink).send(message)
    assert sink.received == []


def test_envelope_comes_from_the_raw_recipient_field_not_its_decoded_text(sink: SmtpSink) -> None:
    message = EmailMessage(policy=email.policy.compat32)
    message["From"] = SENDER
    message["To"] = f"=?utf-8?q?{ATTACKER.replace('@', '=40')}=2C?= <{RECIPIENT}>"
    message["Subject"] = "Hello"
    message.set_payload("Hello\n")
    message.policy = email.policy.default

    mailer_for(sink).send(message)

    (got,) = sink.received
    assert got.recipients == (RECIPIENT,)


@pytest.mark.parametrize(
    "to",
    [
        f"=?utf-8?q?{ATTACKER.replace('@', '=40')}?=@example.com",  # an encoded word as the local part
        "åse@example.no",  # would need SMTPUTF8
    ],
)
def test_mailer_refuses_recipients_that_are_not_plain_addresses(sink: SmtpSink, to: str) -> None:
    message = EmailMessage(policy=email.policy.compat32)
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = "Hello"
    message.set_payload("Hello\n")
    message.policy = email.policy.default

    with pytest.raises(DeliveryError):
        mailer_for(sink).send(message)
    assert sink.received == []


# Addresses: one normal form, compared as email-validator normalizes, sendable over plain SMTP


def test_strasse_and_strasse_with_sharp_s_are_different_users(store: Store) -> None:
    app = tb.Tenantbill(store=store, clock=FixedClock(AT))
    first, _ = app.accounts.sign_up(name="Strasse AS", email="strasse@example.no")

    with pytest.raises(InvalidEmail, match="SMTPUTF8"):
        app.accounts.sign_up(name="Straße AS", email="straße@example.no")
    user = app.users.get(first.id)
    with store.transaction() as tx:
        assert tx.users.by_email("STRASSE@example.no") == user
        assert tx.users.by_email("straße@example.no") is None


def test_email_key_lowers_case_but_does_not_fold_it() -> None:
    assert email_key("Straße@Example.NO") == "straße@example.no"
    assert email_key("strasse@example.no") != email_key("straße@example.no")
    assert email_key("Kari.Nordmann@EXAMPLE.no") == "kari.nordmann@example.no"
    assert email_key("ola@Bøker.no") == "ola@xn--bker-gra.no"
    assert Email.parse("Ola@Example.NO").key == "ola@example.no"
    assert Email.parse("OLA@example.no") == Email.parse("ola@EXAMPLE.no")


def test_an_ascii_key_is_what_the_case_folded_key_was() -> None:
    for address in ("Kari.Nordmann@Example.NO", "a+b@x.no", "Q_Z@sub.Example.com"):
        assert email_key(address) == address.casefold()


@pytest.mark.parametrize("address", ["straße@example.no", "Åse@example.no", "用户@example.com"])
def test_an_address_that_needs_smtputf8_is_refused_saying_so(address: str) -> None:
    with pytest.raises(InvalidEmail, match="SMTPUTF8"):
        Email.parse(address)


def test_an_internationalized_domain_is_kept_in_its_ascii_form() -> None:
    assert Email.parse("ola@bøker.no").value == "ola@xn--bker-gra.no"
    assert Email.parse("ola@bøker.no") == Email.parse("OLA@XN--BKER-GRA.NO")


def test_an_address_that_reads_as_an_encoded_word_is_refused() -> None:
    with pytest.raises(InvalidEmail, match="encoded word"):
        Email.parse("=?utf-8?q?someone=40example.net?=@example.com")


def test_invoice_email_to_an_idn_domain_is_sent_to_its_ascii_form(sink: SmtpSink) -> None:
    recipient = Email.parse("kari@bøker.no").value
    message = invoice_message(make_invoice(), recipient=recipient, sender=SENDER, pdf=PDF)

    mailer_for(sink).send(message)

    (got,) = sink.received
    assert got.recipients == ("kari@xn--bker-gra.no",)


# Any text at all


NAMES = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            [
                "=?",
                "?=",
                "utf-8",
                "?q?",
                "?b?",
                "=0D",
                "=0A",
                "_",
                "Bcc:",
                " ",
                "\r\n",
                "\u2028",
                "x@y.z",
                "ø",
                '"',
                "<",
                ">",
                ",",
                "\\",
            ]
        ),
        max_size=40,
    ).map("".join),
    st.text(min_size=60, max_size=400),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seller=NAMES, customer=NAMES, sender_name=NAMES)
def test_any_names_give_exactly_the_intended_header_and_recipient(
    seller: str, customer: str, sender_name: str
) -> None:
    bill_to = party(customer) or Party(name="Kunde AS")
    quoted = sender_name.replace("\\", "\\\\").replace('"', '\\"')
    message = invoice_message(
        make_invoice(seller=Seller(name=seller), bill_to=bill_to),
        recipient=RECIPIENT,
        sender=f'"{quoted}" <{SENDER_ADDRESS}>',
        pdf=PDF,
    )
    data = message.as_bytes(policy=email.policy.SMTP)
    got = parsed(data)

    assert_exact_header(got)
    assert_lines_fit(data)
    assert str(got["Subject"]) == collapsed(f"Invoice 1001 from {seller}")
    assert display_name(got) == collapsed(sender_name)
    (attachment,) = got.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content() == PDF


@settings(max_examples=300, deadline=None)
@given(account_name=NAMES)
def test_any_account_name_gives_exactly_the_intended_invitation_header(account_name: str) -> None:
    data = invitation(account_name).as_bytes(policy=email.policy.SMTP)
    # stored in the outbox, parsed back, and written out again to be sent
    again = parsed(data).as_bytes(policy=email.policy.SMTP)

    for written in (data, again):
        got = parsed(written)
        assert_exact_header(got)
        assert_lines_fit(written)
        assert str(got["Subject"]) == collapsed(f"You are invited to {account_name}")
        assert "tok_EN-123" in got.get_content()


def test_the_outbox_path_keeps_the_invitation_bytes(store: Store) -> None:
    """Queued as bytes, parsed back and handed to the mailer: the header is what was written."""
    from tenantbill.memory import MemoryMailer

    mailer = MemoryMailer()
    app = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(AT), sender=SENDER)
    owner, account = app.accounts.sign_up(
        name="Acme =?utf-8?q?x=0D=0ABcc:_someone@example.net?= " + "Ø" * 40, email="eier@example.no"
    )
    app.access.invite(owner.id, account.id, email=RECIPIENT, role=tb.Role.MEMBER)
    app.billing.deliver()

    (message,) = mailer.sent
    got = parsed(message.as_bytes(policy=email.policy.SMTP))
    assert_exact_header(got)
    assert (
        str(got["Subject"])
        == "Du er invitert til Acme =?utf-8?q?x=0D=0ABcc:_someone@example.net?= " + "Ø" * 40  # nb account
    )


def _stdlib_encoded(name: str, text: str) -> str:
    from email.header import Header

    from tenantbill.render import headers

    encoded = Header(text, "utf-8", maxlinelen=headers._ENCODED_WIDTH, header_name=name)
    return encoded.encode(linesep="\n")


_HEADER_TEXT = st.text(
    alphabet=st.sampled_from(
        [*"abcXYZ019 -!*+/_=?.,:;<>@\"'()", "å", "ø", "Æ", "é", "ß", "—", "€", "中", "文", "🙂", "\u00a0"]
    ),
    min_size=1,
    max_size=240,
)


@given(name=st.sampled_from(["Subject", "From", "To", "X-Tenantbill-Something-Long"]), text=_HEADER_TEXT)
@settings(max_examples=400, deadline=None)
def test_encoded_words_are_those_of_the_standard_library(name: str, text: str) -> None:
    from tenantbill.render import headers

    value = headers.one_line(text)
    if value:
        assert headers._encoded(name, value) == _stdlib_encoded(name, value)


@pytest.mark.parametrize(
    "text",
    [
        "Purring på faktura 2026-00017 fra Skyhost AS",
        "Betalningspåminnelse för faktura 2026-00017 från Skyhost AS",
        "Ålesund Rør & Søn AS — " * 5,
        "中文" * 40,
        "🙂" * 30,
        "ø",
        "a" * 200 + "ø",
    ],
)
def test_encoded_words_of_subjects_and_names_are_those_of_the_standard_library(text: str) -> None:
    from tenantbill.render import headers

    for name in ("Subject", "From", "To"):
        assert headers._encoded_words(name, text) is not None
        assert headers._encoded(name, text) == _stdlib_encoded(name, text)
