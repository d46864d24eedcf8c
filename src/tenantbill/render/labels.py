"""The words printed on invoices, one catalogue per language.

A locale is supported when it has an entry in :data:`CATALOGUES`: adding a
language is adding an entry here, not code. Lookups fall back from a regional
locale to its language (``"nb_NO"`` and ``"nb-NO"`` use ``"nb"``), and
:data:`ALIASES` maps other names for a language (``"no"``) to its entry.

Templates use :meth:`str.format` fields: ``{number}``, ``{n}``, ``{rate}``,
``{base}``, ``{due}``, ``{new_due}``, ``{amount}``, ``{page}`` and ``{pages}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import attrs

from tenantbill.errors import InvalidInput

__all__ = ["ALIASES", "CATALOGUES", "Labels", "labels_for", "resolve_locale", "supported_locales"]


@attrs.frozen
class Labels:
    """Everything an invoice says in one language, and how that language writes dates."""

    language: str
    date_pattern: str
    """A CLDR date pattern (``"dd.MM.y"``) as an accountant in that country expects it."""

    invoice: str
    credit_note: str
    credits_invoice: str
    invoice_number: str
    credit_note_number: str
    issue_date: str
    credit_date: str
    due_date: str
    cycle: str
    period: str
    bank_account: str
    iban: str
    org_number: str
    vat_number: str
    bill_to: str
    description: str
    quantity: str
    unit_price: str
    vat_rate: str
    amount: str
    net_total: str
    vat_line: str
    vat_total: str
    total: str
    credit_total: str
    balance_applied: str
    amount_due: str
    amount_credited: str
    payment_details: str
    """The heading of the payment block: account, payment reference, due date and amount."""
    kid: str
    """The payment reference: Norwegian "KID", Swedish "OCR-nummer"."""
    pay_with_kid: str
    pay_with_number: str
    note: str
    page: str
    continued: str
    cycles: Mapping[str, str]
    """Names of billing cycles, keyed by :attr:`BillingCycle.name` ("monthly", "yearly", …)."""
    every_months: str
    """The cycle of ``{n}`` months when :attr:`cycles` has no name for it."""

    # The payment reminder (purring), see render_reminder.
    reminder: str
    reminder_for: str
    reminder_date: str
    reminder_number: str
    original_due_date: str
    new_due_date: str
    reminder_intro: str
    paid: str
    credited: str
    left_on_invoice: str
    earlier_fees: str
    reminder_fee: str
    late_interest: str
    """Shown when the account has a late-payment interest rate: ``{rate}`` a year."""
    your_reference: str = "Your reference"
    """The buyer's reference (``Party.reference``), under the buyer's address."""

    def cycle_name(self, name: str, months: int) -> str:
        """The printed name of a billing cycle of ``months`` months called ``name`` in English."""
        return self.cycles.get(name) or self.every_months.format(n=months)


NB = Labels(
    your_reference="Deres ref.",
    language="nb",
    date_pattern="dd.MM.y",
    invoice="Faktura",
    credit_note="Kreditnota",
    credits_invoice="Krediterer faktura {number}",
    invoice_number="Fakturanummer",
    credit_note_number="Kreditnotanummer",
    issue_date="Fakturadato",
    credit_date="Dato",
    due_date="Forfallsdato",
    cycle="Faktureringsintervall",
    period="Periode",
    bank_account="Kontonummer",
    iban="IBAN",
    org_number="Org.nr.",
    vat_number="MVA-nr.",
    bill_to="Fakturamottaker",
    description="Beskrivelse",
    quantity="Antall",
    unit_price="Enhetspris",
    vat_rate="MVA",
    amount="Beløp",
    net_total="Sum eks. MVA",
    vat_line="MVA {rate} av {base}",
    vat_total="Sum MVA",
    total="Fakturabeløp",
    credit_total="Kreditert beløp",
    balance_applied="Trukket fra kontosaldo",
    amount_due="Å betale",
    amount_credited="Til gode",
    payment_details="Betalingsinformasjon",
    kid="KID",
    pay_with_kid="Bruk KID når du betaler, så finner vi betalingen automatisk.",
    pay_with_number="Merk betalingen med fakturanummer {number}.",
    note="Merknad",
    page="Side {page}/{pages}",
    continued="{title} {number} (forts.)",
    cycles={
        "monthly": "månedlig",
        "quarterly": "kvartalsvis",
        "half-yearly": "halvårlig",
        "yearly": "årlig",
    },
    every_months="hver {n}. måned",
    reminder="Purring",
    reminder_for="Gjelder faktura {number}",
    reminder_date="Purredato",
    reminder_number="Purring nr.",
    original_due_date="Opprinnelig forfall",
    new_due_date="Ny forfallsdato",
    reminder_intro=(
        "Vi kan ikke se at faktura {number}, som forfalt {due}, er betalt i sin helhet. "
        "Vennligst betal {amount} innen {new_due}. Har du betalt i mellomtiden, kan du se bort "
        "fra denne purringen."
    ),
    paid="Innbetalt",
    credited="Kreditert",
    left_on_invoice="Gjenstår på fakturaen",
    earlier_fees="Tidligere purregebyr",
    reminder_fee="Purregebyr",
    late_interest="Ved betaling etter forfall kan det kreves forsinkelsesrente på {rate} per år.",
)

SV = Labels(
    your_reference="Er referens",
    language="sv",
    date_pattern="y-MM-dd",
    invoice="Faktura",
    credit_note="Kreditfaktura",
    credits_invoice="Krediterar faktura {number}",
    invoice_number="Fakturanummer",
    credit_note_number="Kreditfakturanummer",
    issue_date="Fakturadatum",
    credit_date="Datum",
    due_date="Förfallodatum",
    cycle="Faktureringscykel",
    period="Period",
    bank_account="Kontonummer",
    iban="IBAN",
    org_number="Org.nr",
    vat_number="Momsreg.nr",
    bill_to="Fakturamottagare",
    description="Beskrivning",
    quantity="Antal",
    unit_price="À-pris",
    vat_rate="Moms",
    amount="Belopp",
    net_total="Summa exkl. moms",
    vat_line="Moms {rate} på {base}",
    vat_total="Summa moms",
    total="Debiterat belopp",
    credit_total="Krediterat belopp",
    balance_applied="Avdrag från kontosaldo",
    amount_due="Att betala",
    amount_credited="Till godo",
    payment_details="Betalningsinformation",
    kid="OCR-nummer",
    pay_with_kid="Ange OCR-numret när du betalar, så hittar vi betalningen automatiskt.",
    pay_with_number="Ange fakturanummer {number} vid betalning.",
    note="Meddelande",
    page="Sida {page}/{pages}",
    continued="{title} {number} (forts.)",
    cycles={
        "monthly": "månadsvis",
        "quarterly": "kvartalsvis",
        "half-yearly": "halvårsvis",
        "yearly": "årsvis",
    },
    every_months="var {n}:e månad",
    reminder="Betalningspåminnelse",
    reminder_for="Avser faktura {number}",
    reminder_date="Påminnelsedatum",
    reminder_number="Påminnelse nr",
    original_due_date="Urspr. förfallodatum",
    new_due_date="Nytt förfallodatum",
    reminder_intro=(
        "Vi kan inte se att faktura {number}, som förföll till betalning {due}, är betald i sin "
        "helhet. Vänligen betala {amount} senast {new_due}. Om du redan har betalat kan du bortse "
        "från denna påminnelse."
    ),
    paid="Inbetalt",
    credited="Krediterat",
    left_on_invoice="Kvar att betala på fakturan",
    earlier_fees="Tidigare påminnelseavgifter",
    reminder_fee="Påminnelseavgift",
    late_interest="Vid betalning efter förfallodagen kan dröjsmålsränta på {rate} per år debiteras.",
)

EN = Labels(
    your_reference="Your reference",
    language="en",
    date_pattern="d MMM y",
    invoice="Invoice",
    credit_note="Credit note",
    credits_invoice="Credits invoice {number}",
    invoice_number="Invoice number",
    credit_note_number="Credit note number",
    issue_date="Invoice date",
    credit_date="Date",
    due_date="Due date",
    cycle="Billing cycle",
    period="Service period",
    bank_account="Bank account",
    iban="IBAN",
    org_number="Org. no.",
    vat_number="VAT no.",
    bill_to="Bill to",
    description="Description",
    quantity="Qty",
    unit_price="Unit price",
    vat_rate="VAT",
    amount="Amount",
    net_total="Net total",
    vat_line="VAT {rate} on {base}",
    vat_total="Total VAT",
    total="Amount charged",
    credit_total="Total credited",
    balance_applied="Account balance applied",
    amount_due="Amount to pay",
    amount_credited="Credit in your favour",
    payment_details="Payment details",
    kid="Payment reference (KID)",
    pay_with_kid="Please quote the payment reference (KID) when you pay, so that we find your payment.",
    pay_with_number="Please quote invoice number {number} with your payment.",
    note="Note",
    page="Page {page}/{pages}",
    continued="{title} {number} (continued)",
    cycles={
        "monthly": "monthly",
        "quarterly": "quarterly",
        "half-yearly": "half-yearly",
        "yearly": "yearly",
    },
    every_months="every {n} months",
    reminder="Payment reminder",
    reminder_for="Concerning invoice {number}",
    reminder_date="Reminder date",
    reminder_number="Reminder no.",
    original_due_date="Original due date",
    new_due_date="New due date",
    reminder_intro=(
        "According to our records, invoice {number}, due on {due}, has not been paid in full. "
        "Please pay {amount} by {new_due}. If you have paid in the meantime, please disregard "
        "this reminder."
    ),
    paid="Paid",
    credited="Credited",
    left_on_invoice="Left to pay on the invoice",
    earlier_fees="Earlier reminder fees",
    reminder_fee="Reminder fee",
    late_interest="Late-payment interest of {rate} a year may be charged on payment after the due date.",
)

CATALOGUES: Mapping[str, Labels] = {"nb": NB, "sv": SV, "en": EN}
"""The supported languages: an invoice renders in any locale whose language is a key here."""

ALIASES: Mapping[str, str] = {"no": "nb", "nn": "nb"}
"""Other names people use for a supported language.

Nynorsk (``nn``) reads the Bokmål labels: every Norwegian reads both, and
dates and numbers are still written the Nynorsk way (Babel knows ``nn``).
"""


def supported_locales() -> str:
    """The supported locales in words, for messages: "en, nb, sv (or a regional form …)"."""
    aliases = ", ".join(f"'{alias}'" for alias in sorted(ALIASES))
    return (
        f"{', '.join(sorted(CATALOGUES))} (or a regional form such as 'nb_NO' or 'en_GB'; "
        f"{aliases} are read as {', '.join(sorted(set(ALIASES.values())))})"
    )


def resolve_locale(locale: str) -> str:
    """The catalogue key for ``locale`` (``"nb_NO"`` → ``"nb"``), or raise InvalidInput."""
    return _resolve(locale) if isinstance(locale, str) else _unknown(locale)


def labels_for(locale: str) -> Labels:
    """The catalogue for ``locale``, falling back to its language; InvalidInput if unsupported."""
    return CATALOGUES[resolve_locale(locale)]


@lru_cache(maxsize=256)
def _resolve(locale: str) -> str:
    if len(locale) > 64:
        return _unknown(locale[:64] + "…")
    key = locale.strip().replace("-", "_").lower()
    for candidate in (key, key.split("_", 1)[0]):
        candidate = ALIASES.get(candidate, candidate)
        if candidate in CATALOGUES:
            return candidate
    return _unknown(locale)


def _unknown(locale: object) -> str:
    raise InvalidInput(
        f"no invoice labels for locale {locale!r}: use one of {supported_locales()}, "
        "or add a catalogue to tenantbill.render.labels"
    )
