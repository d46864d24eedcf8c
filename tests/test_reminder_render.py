"""Payment reminder PDFs (purring): what the customer owes on the invoice, and how to pay it."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from pypdf import PdfReader

from tenantbill.domain.invoices import Invoice, InvoiceKind, Party
from tenantbill.domain.payments import REMINDER_PAYMENT_DAYS, Reminder, reminder_due_date
from tenantbill.errors import InvalidInput
from tenantbill.render import pdf as pdf_module
from tenantbill.render.fmt import format_date, format_money
from tenantbill.render.pdf import render_reminder
from test_pdf import LINES, make_invoice, pages_text, text_of, unchecked

SENT_ON = date(2026, 4, 2)


def overdue(locale: str = "nb", **changes: Any) -> Invoice:
    """Invoice 1001 (1 393,75 NOK to pay, due 15 March 2026) from an account that makes KIDs."""
    return attrs.evolve(make_invoice(locale=locale), kid_method="mod10", customer="4711", **changes)


def reminder_of(invoice: Invoice, **changes: Any) -> Reminder:
    """The first reminder of ``invoice`` with the Norwegian fee (70 kr), sent on 2 April 2026."""
    fee = changes.pop("fee", Decimal("70.00"))
    fees_before = changes.pop("fees_before", Decimal(0))
    values: dict[str, Any] = {
        "invoice_id": invoice.id,
        "sent_on": SENT_ON,
        "fee": fee,
        "amount_due": invoice.outstanding + fees_before + fee,
        "number": 1,
        "outstanding": invoice.outstanding,
        "fees_before": fees_before,
        "currency": invoice.currency,
    }
    return Reminder(**{**values, **changes})


# What the reader finds, language by language: 1 393,75 NOK was due, 500 paid, 100 credited,
# one earlier fee of 70 unpaid and 70 more now: 793,75 + 140 = 933,75 to pay.
EXPECTED = {
    "nb": [
        "Purring",
        "Gjelder faktura 1001",
        "Purredato 02.04.2026",
        "Purring nr. 2",
        "Fakturanummer 1001",
        "Fakturadato 01.03.2026",
        "Opprinnelig forfall 15.03.2026",
        "Ny forfallsdato 16.04.2026",
        "Fakturabeløp 1\xa0493,75",
        "Trukket fra kontosaldo -100,00",
        "Innbetalt -500,00",
        "Kreditert -100,00",
        "Gjenstår på fakturaen 793,75",
        "Tidligere purregebyr 70,00",
        "Purregebyr 70,00",
        "Å betale 933,75\xa0NOK",
        "Vennligst betal 933,75\xa0NOK innen 16.04.2026.",
        "Bruk KID når du betaler",
        "Side 1/1",
    ],
    "sv": [
        "Betalningspåminnelse",
        "Avser faktura 1001",
        "Påminnelsedatum 2026-04-02",
        "Påminnelse nr 2",
        "Fakturadatum 2026-03-01",
        "Urspr. förfallodatum 2026-03-15",
        "Nytt förfallodatum 2026-04-16",
        "Debiterat belopp 1\xa0493,75",
        "Inbetalt -500,00",
        "Krediterat -100,00",
        "Kvar att betala på fakturan 793,75",
        "Tidigare påminnelseavgifter 70,00",
        "Påminnelseavgift 70,00",
        "Att betala 933,75\xa0NOK",
        "Ange OCR-numret när du betalar",
        "Sida 1/1",
    ],
    "en": [
        "Payment reminder",
        "Concerning invoice 1001",
        "Reminder date 2 Apr 2026",
        "Reminder no. 2",
        "Invoice date 1 Mar 2026",
        "Original due date 15 Mar 2026",
        "New due date 16 Apr 2026",
        "Amount charged 1,493.75",
        "Account balance applied -100.00",
        "Paid -500.00",
        "Credited -100.00",
        "Left to pay on the invoice 793.75",
        "Earlier reminder fees 70.00",
        "Reminder fee 70.00",
        "Amount to pay NOK\xa0933.75",
        "Please quote the payment reference (KID)",
        "Page 1/1",
    ],
}


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_a_reminder_shows_the_invoice_what_was_paid_the_fees_and_what_is_due_in_each_language(
    locale: str,
) -> None:
    invoice = overdue(locale, paid=Decimal("500.00"), credited=Decimal("100.00"))
    reminder = reminder_of(invoice, number=2, fees_before=Decimal("70.00"))
    pages = pages_text(render_reminder(invoice, reminder))
    text = " ".join(pages[0].splitlines())  # sentences may wrap

    assert len(pages) == 1
    for expected in EXPECTED[locale]:
        assert expected in text, f"{expected!r} missing from the {locale} reminder"
    for expected in ["Blåfjell Hosting AS", "Storgata 1", "Kunde Ærlig Østby AS", "Kirkeveien 12"]:
        assert expected in text  # the seller and the buyer, as on the invoice


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_the_reminders_payment_block_has_the_account_kid_new_due_date_and_amount(locale: str) -> None:
    invoice = overdue(locale)
    reminder = reminder_of(invoice)
    text = text_of(render_reminder(invoice, reminder))

    new_due = format_date(SENT_ON + timedelta(days=14), locale)
    block = f"8601.11.17947 {invoice.kid} {new_due} {format_money(reminder.amount_due, 'NOK', locale)}"
    assert block in text


def test_the_new_due_date_is_fourteen_days_after_the_reminder() -> None:
    reminder = reminder_of(overdue())

    assert REMINDER_PAYMENT_DAYS == 14
    assert reminder_due_date(reminder) == date(2026, 4, 16)


def test_the_invoices_lines_are_summed_up_not_repeated() -> None:
    text = text_of(render_reminder(overdue(), reminder_of(overdue())))

    for line in LINES:
        assert line.description not in text


def test_rows_with_nothing_in_them_are_left_out() -> None:
    invoice = overdue(balance_applied=Decimal(0), amount_due=Decimal("1493.75"))
    text = text_of(render_reminder(invoice, reminder_of(invoice, fee=Decimal(0))))

    for absent in ["Trukket fra kontosaldo", "Innbetalt", "Kreditert", "purregebyr", "Purregebyr"]:
        assert absent not in text
    assert "Gjenstår på fakturaen 1\xa0493,75" in text
    assert "Å betale 1\xa0493,75\xa0NOK" in text


def test_a_reminder_of_an_invoice_without_a_kid_asks_for_the_invoice_number() -> None:
    invoice = make_invoice()
    text = text_of(render_reminder(invoice, reminder_of(invoice)))

    assert "KID" not in text
    assert "Merk betalingen med fakturanummer 1001." in text


@pytest.mark.parametrize(
    ("locale", "sentence"),
    [
        ("nb", "Ved betaling etter forfall kan det kreves forsinkelsesrente på 12,75\xa0% per år."),
        ("sv", "Vid betalning efter förfallodagen kan dröjsmålsränta på 12,75\xa0% per år debiteras."),
        ("en", "Late-payment interest of 12.75% a year may be charged on payment after the due date."),
    ],
)
def test_the_late_payment_interest_rate_is_shown_when_given(locale: str, sentence: str) -> None:
    invoice = overdue(locale)
    reminder = reminder_of(invoice)
    with_rate = " ".join(
        text_of(render_reminder(invoice, reminder, interest_rate=Decimal("0.1275"))).splitlines()
    )
    without = " ".join(text_of(render_reminder(invoice, reminder)).splitlines())

    assert sentence in with_rate
    assert sentence[:25] not in without
    # shown, never computed: what is due is the same with or without it
    assert format_money(reminder.amount_due, "NOK", locale) in with_rate


def test_the_interest_sentence_is_shown_even_without_an_account_or_kid_to_pay_to() -> None:
    invoice = make_invoice(seller=attrs.evolve(make_invoice().seller, bank_account=None))
    text = text_of(render_reminder(invoice, reminder_of(invoice), interest_rate=Decimal("0.1275")))

    assert "forsinkelsesrente på 12,75\xa0%" in text


@pytest.mark.parametrize("rate", [0.1275, Decimal("-0.01"), Decimal(1), Decimal("NaN"), "12 %"])
def test_an_interest_rate_that_is_not_a_decimal_fraction_is_refused(rate: Any) -> None:
    invoice = overdue()

    with pytest.raises(InvalidInput, match="interest_rate"):
        render_reminder(invoice, reminder_of(invoice), interest_rate=rate)


def test_the_locale_argument_overrides_the_invoices_own_locale() -> None:
    invoice = overdue("nb")
    text = text_of(render_reminder(invoice, reminder_of(invoice), locale="en_GB"))

    assert "Payment reminder" in text
    assert "Purring" not in text


def test_an_unsupported_locale_is_refused() -> None:
    invoice = overdue()

    with pytest.raises(InvalidInput, match="locale"):
        render_reminder(invoice, reminder_of(invoice), locale="de")


def test_a_credit_note_is_never_reminded() -> None:
    note = attrs.evolve(make_invoice(), kind=InvoiceKind.CREDIT_NOTE)

    with pytest.raises(InvalidInput, match="credit note"):
        render_reminder(note, reminder_of(note))


def test_a_reminder_of_another_invoice_is_refused() -> None:
    invoice = overdue()

    with pytest.raises(InvalidInput, match="inv-other"):
        render_reminder(invoice, reminder_of(invoice, invoice_id="inv-other"))


def test_identical_input_renders_to_identical_bytes_dated_by_the_reminder() -> None:
    invoice = overdue()
    first = render_reminder(invoice, reminder_of(invoice))

    assert render_reminder(invoice, reminder_of(invoice)) == first
    reader = PdfReader(io.BytesIO(first))
    assert reader.metadata is not None
    assert reader.metadata.creation_date == datetime(2026, 4, 2, tzinfo=UTC)
    assert reader.metadata.title == "Purring 1001"


def test_hostile_text_on_the_invoice_cannot_break_the_reminder() -> None:
    buyer = unchecked(
        Party,
        name="Evil\x00 Corp\r\n) Tj ET BT (\u202e",
        address="Line one\r\nLine\ttwo",
        org_number=None,
        emails=(),
        reference=None,
        country=None,
    )
    invoice = overdue(bill_to=buyer, number="1001\n(\\)")
    text = text_of(render_reminder(invoice, reminder_of(invoice)))

    assert "Evil Corp  ) Tj ET BT (" in text  # the line break is a space, like any control character
    assert "Gjelder faktura 1001 (\\)" in text


@pytest.mark.parametrize("fast", [True, False])
def test_the_reminder_opens_in_poppler_on_both_ways_through_fpdf2(
    fast: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    if not fast:
        monkeypatch.setattr(pdf_module, "_backend", pdf_module._PUBLIC)
    elif pdf_module._backend.name != "fast":
        pytest.skip("the fast path does not load under this fpdf2")
    invoice = overdue("sv", paid=Decimal("500.00"))
    (tmp_path / "reminder.pdf").write_bytes(
        render_reminder(invoice, reminder_of(invoice), interest_rate=Decimal("0.08"))
    )

    result = subprocess.run(
        [pdftoppm, "-png", "-r", "20", "-singlefile", "reminder.pdf", "page"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")
