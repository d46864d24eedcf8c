"""Invoices, credit notes, VAT and the balance ledger: pure rules and immutable values.

An invoice is computed once, from a draft, when it is issued: line amounts are
rounded to the currency's minor unit, VAT is grouped per rate and rounded once
per rate, and any credit on the customer's balance is applied. Issued invoices
never change; a credit note is the only correction.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import attrs

from tenantbill.domain.accounts import Account
from tenantbill.domain.billing import BillingCycle, Period, local_date
from tenantbill.domain.identity import Email
from tenantbill.domain.money import (
    EXACT,
    MAX_AMOUNT,
    check_amount,
    minor_unit,
    normalize_currency,
    to_decimal,
    to_exact_decimal,
)
from tenantbill.domain.text import (
    ADDRESS_MAX,
    CODE_MAX,
    DESCRIPTION_MAX,
    NAME_MAX,
    NOTE_MAX,
    multi_line,
    one_line,
    optional_one_line,
)
from tenantbill.domain.vat import VatCategory, parse_category, rate_conflict
from tenantbill.errors import InvalidInvoice, SeriesError

__all__ = [
    "Invoice",
    "InvoiceDraft",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceStatus",
    "LedgerEntry",
    "Line",
    "Party",
    "Seller",
    "Series",
    "VatGroup",
    "apply_balance",
    "balance_entry",
    "build_credit_note",
    "build_invoice",
    "compute_lines",
    "credit_lines",
    "credit_reason",
    "credit_vat",
    "parse_vat_rate",
    "seller_of",
    "stored_party",
    "vat_breakdown",
]

_ZERO = Decimal(0)
_MAX_SERIES_START = 10**15
_MAX_EMAILS = 50
# Products and sums of bounded amounts (15 + 15 digits each side) computed exactly,
# whatever the caller's decimal context: nothing is rounded until quantize().


def _party_name(value: object) -> str:
    return one_line(value, "the party's name", max_length=NAME_MAX, error=InvalidInvoice)


def _party_address(value: object) -> str:
    return multi_line(value, "the party's address", max_length=ADDRESS_MAX, error=InvalidInvoice)


def _party_org_number(value: object) -> str | None:
    return optional_one_line(value, "the party's org number", max_length=CODE_MAX, error=InvalidInvoice)


def _party_reference(value: object) -> str | None:
    return optional_one_line(value, "the buyer's reference", max_length=NAME_MAX, error=InvalidInvoice)


def _party_country(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() or not value.isalpha():
        raise InvalidInvoice(
            f"a party's country is a two-letter ISO code such as 'NO' or 'SE', got {value!r}"
        )
    return value.upper()


def _exemption_reason(value: object) -> str | None:
    return optional_one_line(value, "the VAT exemption reason", max_length=NAME_MAX, error=InvalidInvoice)


def _exchange_rate(value: object) -> Decimal | None:
    if value is None:
        return None
    rate = to_decimal(value, "tax_exchange_rate")
    if rate <= 0:
        raise InvalidInvoice(
            f"tax_exchange_rate is NOK per unit of the invoice's currency, above 0, got {rate}"
        )
    return rate


def _description(value: object) -> str:
    return multi_line(
        value, "a line's description", max_length=DESCRIPTION_MAX, required=True, error=InvalidInvoice
    )


def _note(value: object) -> str:
    return multi_line(value, "the invoice's note", max_length=NOTE_MAX, error=InvalidInvoice)


def _customer(value: object) -> str | None:
    return optional_one_line(value, "the customer key", max_length=NAME_MAX, error=InvalidInvoice)


def _period(value: object) -> Period | None:
    if value is not None and not isinstance(value, Period):
        raise InvalidInvoice(
            f"period must be a tenantbill.Period(start=date, end=date) or None, got {type(value).__name__}"
        )
    return value


def _cycle(value: object) -> BillingCycle | None:
    if value is not None and not isinstance(value, BillingCycle):
        raise InvalidInvoice(
            "cycle must be a tenantbill.BillingCycle (MONTHLY, YEARLY or every(months=n)) or None, "
            f"got {type(value).__name__}"
        )
    return value


def credit_reason(value: object) -> str:
    """The reason for a credit note (printed on it), checked like any note, or :class:`InvalidInvoice`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInvoice("a credit note needs a reason (it is printed on the credit note)")
    return multi_line(
        value, "the credit note's reason", max_length=NOTE_MAX, required=True, error=InvalidInvoice
    )


def _quantity(value: object) -> Decimal:
    return to_exact_decimal(value, "quantity")


def _unit_price(value: object) -> Decimal:
    return to_exact_decimal(value, "unit_price")


def parse_vat_rate(value: object) -> Decimal:
    """A VAT rate as a Decimal fraction in [0, 1), or :class:`InvalidInvoice`."""
    rate = to_decimal(value, "vat_rate")
    if not _ZERO <= rate < 1:
        raise InvalidInvoice(f"vat_rate is a fraction in [0, 1) (25 % is Decimal('0.25')), got {rate}")
    return rate


def _emails(value: object) -> tuple[str, ...]:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Iterable):
        raise InvalidInvoice("emails must be a list of addresses")
    addresses = tuple(value)
    if len(addresses) > _MAX_EMAILS:
        raise InvalidInvoice(f"a party has at most {_MAX_EMAILS} e-mail addresses, got {len(addresses)}")
    return tuple(Email.parse(address).value for address in addresses)


@attrs.frozen
class Party:
    """Who an invoice is billed to.

    ``reference`` is the buyer's reference (their order or cost centre; EHF's
    BuyerReference, which Norwegian public buyers require) and ``country``
    the buyer's ISO country code (``None``: the seller's country).
    """

    name: str = attrs.field(converter=_party_name)
    address: str = attrs.field(default="", converter=_party_address)
    org_number: str | None = attrs.field(default=None, converter=_party_org_number)
    emails: tuple[str, ...] = attrs.field(default=(), converter=_emails)
    reference: str | None = attrs.field(default=None, converter=_party_reference)
    country: str | None = attrs.field(default=None, converter=_party_country)


_PARTY_FIELDS = ("name", "address", "org_number", "emails", "reference", "country")


def stored_party(
    name: str,
    address: str,
    org_number: str | None,
    emails: tuple[str, ...],
    reference: str | None = None,
    country: str | None = None,
) -> Party:
    """A :class:`Party` as a store gives it back: checked when its invoice was issued, not again.

    Checking each e-mail address again costs more than the rest of reading an
    invoice; what a store holds was stored by tenantbill, so it is trusted.
    """
    party = object.__new__(Party)
    values = (name, address, org_number, emails, reference, country)
    for field, value in zip(_PARTY_FIELDS, values, strict=True):
        object.__setattr__(party, field, value)
    return party


@attrs.frozen
class Seller:
    """The issuing account's details as they were when the invoice was issued.

    ``country`` is the account's ISO country (:attr:`Account.country_code`)
    and ``business_register`` whether it is in Foretaksregisteret, as the
    e-invoice states them.
    """

    name: str
    address: str = ""
    org_number: str | None = None
    bank_account: str | None = None
    vat_registered: bool = False
    logo: bytes | None = attrs.field(default=None, repr=False)
    country: str = "NO"
    business_register: bool = True


@attrs.frozen
class Line:
    """A line of a draft: what is sold, how many, at what unit price and VAT rate."""

    description: str = attrs.field(converter=_description)
    quantity: Decimal = attrs.field(converter=_quantity)
    unit_price: Decimal = attrs.field(converter=_unit_price)
    vat_rate: Decimal = attrs.field(default=_ZERO, converter=parse_vat_rate)
    vat_category: VatCategory | None = attrs.field(default=None, converter=parse_category)

    def __attrs_post_init__(self) -> None:
        if self.vat_category is not None:
            conflict = rate_conflict(self.vat_category, self.vat_rate)
            if conflict is not None:
                raise InvalidInvoice(f"a line of VAT {conflict}")


def _lines(value: object) -> tuple[Line, ...]:
    if not isinstance(value, Iterable) or isinstance(value, str | bytes | bytearray):
        raise InvalidInvoice("lines must be a list of tenantbill.Line")
    lines = tuple(value)
    if not lines:
        raise InvalidInvoice("an invoice needs at least one line")
    for line in lines:
        if not isinstance(line, Line):
            raise InvalidInvoice(f"lines must be tenantbill.Line values, got {type(line).__name__}")
    return lines


def _optional_currency(value: object) -> str | None:
    return None if value is None else _currency(value)


def _currency(value: object) -> str:
    try:
        return normalize_currency(value)
    except InvalidInvoice:
        raise
    except ValueError as error:
        raise InvalidInvoice(str(error)) from None


@attrs.frozen
class InvoiceDraft:
    """An invoice before it is issued: no number, no dates, nothing rounded yet.

    ``customer`` is an optional key (for platform billing, the customer
    account's id) whose balance ledger the invoice draws credit from.
    ``currency`` left out (``None``) means the issuing account's currency.
    ``vat_exemption_reason`` says why lines of category E, AE, K, G or O
    carry no VAT (printed, and required in an e-invoice);
    ``tax_exchange_rate`` is NOK per unit of ``currency`` for an invoice in
    another currency than NOK from a Norwegian account (its VAT is then shown
    in NOK too).

    A draft is checked as a whole when it is made: every line amount, the VAT
    and the total have at most 15 digits before the decimal point, and the
    total is not negative. A line may be negative (a discount) as long as the
    invoice as a whole is not: money is given back with a credit note
    (``app.invoices.credit``), never with a negative invoice.
    """

    bill_to: Party
    lines: tuple[Line, ...] = attrs.field(converter=_lines)
    currency: str | None = attrs.field(default=None, converter=_optional_currency)
    period: Period | None = attrs.field(default=None, converter=_period)
    cycle: BillingCycle | None = attrs.field(default=None, converter=_cycle)
    customer: str | None = attrs.field(default=None, converter=_customer)
    note: str = attrs.field(default="", converter=_note)
    vat_exemption_reason: str | None = attrs.field(default=None, converter=_exemption_reason)
    tax_exchange_rate: Decimal | None = attrs.field(default=None, converter=_exchange_rate)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.bill_to, Party):
            raise InvalidInvoice(f"bill_to must be a tenantbill.Party, got {type(self.bill_to).__name__}")
        # Without a currency (the account's, known when issued) the bounds are checked in cents.
        currency = self.currency or "EUR"
        lines = compute_lines(self.lines, currency)
        vat = vat_breakdown(lines, currency)
        with localcontext(EXACT):
            net = sum((group.base for group in vat), _ZERO)
            vat_total = sum((group.vat for group in vat), _ZERO)
            total = net + vat_total
        check_amount(net, "the invoice's net total")
        check_amount(vat_total, "the invoice's VAT")
        check_amount(total, "the invoice's total")
        if total < 0:
            raise InvalidInvoice(
                f"the invoice's total would be negative ({total} {self.currency or ''}".rstrip()
                + "): an invoice cannot "
                "pay money back; to give money back, credit the invoice it belongs to "
                "(app.invoices.credit), or add the discount to an invoice whose total stays at 0 or more"
            )


@attrs.frozen
class InvoiceLine:
    """An issued line: the draft line plus its rounded net amount."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    amount: Decimal
    vat_category: VatCategory | None = None


@attrs.frozen
class VatGroup:
    """The VAT for one category and rate: the net base and the VAT on it, rounded once."""

    rate: Decimal
    base: Decimal
    vat: Decimal
    category: VatCategory | None = None


class InvoiceKind(enum.Enum):
    """An invoice or a credit note; both are numbered in the account's one series."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(enum.Enum):
    """Where an invoice is in getting paid (see :attr:`Invoice.status`)."""

    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CREDITED = "credited"


@attrs.frozen
class Invoice:
    """An issued, numbered, immutable invoice or credit note.

    Amounts are rounded to the currency's minor unit; a credit note carries
    negative amounts. ``amount_due`` is ``total - balance_applied``.
    """

    id: str
    account_id: str
    sequence: int
    number: str
    kind: InvoiceKind
    issued_at: datetime
    issue_date: date
    due_date: date
    seller: Seller
    bill_to: Party
    currency: str
    locale: str
    lines: tuple[InvoiceLine, ...]
    vat: tuple[VatGroup, ...]
    net_total: Decimal
    vat_total: Decimal
    total: Decimal
    balance_applied: Decimal
    amount_due: Decimal
    period: Period | None = None
    cycle: BillingCycle | None = None
    customer: str | None = None
    credits_invoice_id: str | None = None
    credits_number: str | None = None
    credited_lines: tuple[int, ...] = ()
    note: str = ""
    subscription_id: str | None = None
    kid_method: str | None = None
    vat_exemption_reason: str | None = None
    tax_exchange_rate: Decimal | None = None
    paid: Decimal = _ZERO
    credited: Decimal = _ZERO

    @property
    def kid(self) -> str | None:
        """The payment reference (KID or OCR) of an invoice from an account with a KID method, else ``None``.

        Made from the customer (its key, else the buyer's org number) and the
        invoice's sequence, so it is unique in the account
        (:func:`tenantbill.domain.kid.make_kid`); credit notes have none.
        """
        if self.kid_method is None or self.sequence <= 0 or self.kind is InvoiceKind.CREDIT_NOTE:
            return None
        from tenantbill.domain.kid import invoice_kid

        return invoice_kid(self.kid_method, self.customer or self.bill_to.org_number, self.sequence)

    @property
    def outstanding(self) -> Decimal:
        """What is still to pay: ``amount_due`` less payments and credit notes (never below 0)."""
        if self.kind is InvoiceKind.CREDIT_NOTE:
            return _ZERO
        return max(_ZERO, self.amount_due - self.paid - self.credited)

    @property
    def status(self) -> InvoiceStatus:
        """OPEN, PARTIALLY_PAID, PAID or CREDITED (computed from ``paid`` and ``credited``).

        An invoice credited in full is CREDITED; one with nothing left to pay
        is PAID; one with payments and something left is PARTIALLY_PAID; else
        OPEN. A credit note is CREDITED: there is nothing to pay on it.
        """
        if self.kind is InvoiceKind.CREDIT_NOTE or (self.total > 0 and self.credited >= self.total):
            return InvoiceStatus.CREDITED
        if self.outstanding == 0:
            return InvoiceStatus.PAID
        return InvoiceStatus.PARTIALLY_PAID if self.paid > 0 else InvoiceStatus.OPEN

    def is_overdue(self, as_of: date) -> bool:
        """Whether the due date has passed on ``as_of`` (the account's local date) with money still due."""
        return self.due_date < as_of and self.outstanding > 0

    @property
    def is_credit_note(self) -> bool:
        """Whether this is a credit note."""
        return self.kind is InvoiceKind.CREDIT_NOTE

    @property
    def draws_credit_from(self) -> str | None:
        """The customer whose balance pays towards this invoice: its customer, if there is anything to pay."""
        return self.customer if self.total > 0 else None

    @property
    def moves_balance(self) -> bool:
        """Whether issuing it changes the customer's balance (see :func:`balance_entry`)."""
        if self.kind is InvoiceKind.CREDIT_NOTE:
            return self.customer is not None
        return self.balance_applied != 0

    def numbered(self, sequence: int, number: str) -> Invoice:
        """This invoice with its place in the series: what a store returns once it has numbered it.

        Every field is passed by position, in the order the class declares them
        (``tests/test_invoices.py`` checks that each one is carried over): half the
        time of ``attrs.evolve``, and it runs once per invoice issued.
        """
        return Invoice(
            self.id,
            self.account_id,
            sequence,
            number,
            self.kind,
            self.issued_at,
            self.issue_date,
            self.due_date,
            self.seller,
            self.bill_to,
            self.currency,
            self.locale,
            self.lines,
            self.vat,
            self.net_total,
            self.vat_total,
            self.total,
            self.balance_applied,
            self.amount_due,
            self.period,
            self.cycle,
            self.customer,
            self.credits_invoice_id,
            self.credits_number,
            self.credited_lines,
            self.note,
            self.subscription_id,
            self.kid_method,
            self.vat_exemption_reason,
            self.tax_exchange_rate,
            self.paid,
            self.credited,
        )


@attrs.frozen
class Series:
    """An account's invoice number series and its display format."""

    account_id: str
    next_sequence: int = 1
    prefix: str = ""
    width: int = 0
    last_used: int | None = None

    def format(self, sequence: int) -> str:
        """The number printed on the invoice: prefix and zero-padded digits."""
        return f"{self.prefix}{sequence:0{self.width}d}"

    def reconfigured(self, *, start: int | None, prefix: str | None, width: int | None) -> Series:
        """A new configuration; the start may never reuse a number already issued.

        The start is at most 10^15, the width at most 20 digits and the prefix
        one line of at most 20 printable characters.
        """
        new_start = self.next_sequence if start is None else start
        if isinstance(new_start, bool) or not isinstance(new_start, int) or new_start < 1:
            raise SeriesError(f"the series start must be a whole number of at least 1, got {_brief(start)}")
        if new_start > _MAX_SERIES_START:
            raise SeriesError(
                f"the series start is at most 1 000 000 000 000 000 (10^15), got {_brief(start)}"
            )
        if self.last_used is not None and new_start <= self.last_used:
            raise SeriesError(
                f"the series cannot restart at {new_start}: number {self.last_used} is already "
                f"used, so the next number must be at least {self.last_used + 1}"
            )
        new_width = self.width if width is None else width
        if isinstance(new_width, bool) or not isinstance(new_width, int) or not 0 <= new_width <= 20:
            raise SeriesError(f"width is the number of digits to pad to (0-20), got {_brief(width)}")
        new_prefix = self.prefix if prefix is None else prefix
        one_line(new_prefix, "the series prefix", max_length=20, required=False, error=SeriesError)
        if len(new_prefix) > 20 or not new_prefix.isprintable():
            raise SeriesError(f"prefix must be printable text of at most 20 characters, got {_brief(prefix)}")
        return attrs.evolve(self, next_sequence=new_start, prefix=new_prefix, width=new_width)

    def taken(self, sequence: int) -> Series:
        """The series after ``sequence`` has been allocated."""
        return Series(self.account_id, sequence + 1, self.prefix, self.width, sequence)


@attrs.frozen
class LedgerEntry:
    """A movement on a customer's balance: a credit (positive) or credit applied (negative)."""

    id: str
    account_id: str
    customer: str
    at: datetime
    amount: Decimal
    currency: str
    kind: str
    invoice_id: str | None = None
    memo: str = ""


def compute_lines(
    lines: Sequence[Line], currency: str, *, vat_registered: bool | None = None
) -> tuple[InvoiceLine, ...]:
    """Issued lines with each net amount rounded half-up to the currency's minor unit.

    With ``vat_registered`` (the seller's), each line gets its VAT category
    (:func:`~tenantbill.domain.vat.default_category`); without, the line's
    own category is kept. Raises :class:`InvalidInvoice` for a line amount of
    more than 15 digits before the decimal point.
    """
    unit = minor_unit(currency)
    issued = []
    # One loop with no call per line but InvoiceLine's: it runs for every invoice issued.
    # (The categories are default_category's, inlined.)
    with localcontext(EXACT):
        for index, line in enumerate(lines):
            quantity, unit_price = line.quantity, line.unit_price
            amount = quantity * unit_price
            if abs(amount) >= MAX_AMOUNT:
                check_amount(amount, f"the amount of line {index + 1} (quantity × unit price)")
            rounded = amount.quantize(unit, rounding=ROUND_HALF_UP)
            category = line.vat_category
            if vat_registered is False:
                category = _NOT_SUBJECT
            elif vat_registered and category is None:
                category = _STANDARD if line.vat_rate > 0 else _ZERO_RATED
            issued.append(
                InvoiceLine(line.description, quantity, unit_price, line.vat_rate, rounded, category)
            )
    return tuple(issued)


_NOT_SUBJECT, _STANDARD, _ZERO_RATED = VatCategory.O, VatCategory.S, VatCategory.Z

_VatKey = tuple[Decimal, str]


def _vat_key(rate: Decimal, category: VatCategory | None) -> _VatKey:
    # The code, not the member: an enum member hashes in Python, a str in C.
    return (rate, "" if category is None else category._value_)


def vat_breakdown(lines: Sequence[InvoiceLine], currency: str) -> tuple[VatGroup, ...]:
    """VAT grouped per rate and category (rate ascending), each rounded once on the group's net base."""
    unit = minor_unit(currency)
    bases: dict[_VatKey, list[Any]] = {}
    with localcontext(EXACT):
        for line in lines:
            category = line.vat_category
            key = (line.vat_rate, "" if category is None else category._value_)
            found = bases.get(key)
            if found is None:
                bases[key] = [line.amount, category]
            else:
                found[0] += line.amount
        return tuple(
            VatGroup(rate, base, (base * rate).quantize(unit, rounding=ROUND_HALF_UP), category)
            for (rate, _), (base, category) in sorted(bases.items())
        )


def credit_lines(invoice: Invoice, indexes: Sequence[int] | None, already: Iterable[int]) -> tuple[int, ...]:
    """The line indexes a credit note may credit: all that are left, or the ones asked for."""
    done = set(already)
    left = [i for i in range(len(invoice.lines)) if i not in done]
    if not left:
        raise InvalidInvoice(f"invoice {invoice.number} is already fully credited")
    if indexes is None:
        return tuple(left)
    chosen = tuple(dict.fromkeys(indexes))
    if not chosen:
        raise InvalidInvoice("choose at least one line to credit")
    for index in chosen:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(invoice.lines):
            raise InvalidInvoice(
                f"invoice {invoice.number} has lines 0 to {len(invoice.lines) - 1}, got {index!r}"
            )
        if index in done:
            raise InvalidInvoice(f"line {index} of invoice {invoice.number} is already credited")
    return chosen


def credit_vat(
    invoice: Invoice, credited: Sequence[InvoiceLine], chosen: Sequence[int], prior: Sequence[Invoice]
) -> tuple[VatGroup, ...]:
    """The VAT of a credit note, so that crediting line by line never drifts from the invoice's VAT.

    Per VAT rate and category, the VAT credited so far (the earlier notes'
    and this one's) is the VAT of the base credited so far, rounded once: each
    note's VAT is within one minor unit of its own base × rate and has its
    sign, however many notes there are. A rate whose last lines are credited
    now gets exactly what is left of the invoice's VAT for that rate.
    """
    groups = vat_breakdown(credited, invoice.currency)
    unit = minor_unit(invoice.currency)
    done = {i for note in prior for i in note.credited_lines} | set(chosen)
    keys_left = {
        _vat_key(line.vat_rate, line.vat_category) for i, line in enumerate(invoice.lines) if i not in done
    }
    invoice_vat = {_vat_key(group.rate, group.category): group.vat for group in invoice.vat}
    base_before: dict[_VatKey, Decimal] = {}
    vat_before: dict[_VatKey, Decimal] = {}
    for note in prior:
        for group in note.vat:
            key = _vat_key(group.rate, group.category)
            base_before[key] = base_before.get(key, _ZERO) + group.base
            vat_before[key] = vat_before.get(key, _ZERO) + group.vat
    result = []
    for group in groups:
        key = _vat_key(group.rate, group.category)
        if key in keys_left:
            with localcontext(EXACT):
                so_far = (base_before.get(key, _ZERO) + group.base) * group.rate
            vat = so_far.quantize(unit, rounding=ROUND_HALF_UP) - vat_before.get(key, _ZERO)
        else:  # the rate's last lines: what is left of its VAT
            vat = -invoice_vat.get(key, _ZERO) - vat_before.get(key, _ZERO)
        result.append(group if vat == group.vat else attrs.evolve(group, vat=vat))
    return tuple(result)


def check_credit(original: Invoice, chosen: Sequence[int], total: Decimal) -> None:
    """Refuse a credit note of ``total`` (negative: it credits) that adds to what is owed or credits too much.

    A credit note lowers what the invoice asks for, by at most what is left
    of its total after the earlier notes: lines that add up to a charge (a
    discount line alone) or to more than is left (a line without the
    discount that lowered it) are credited together with the lines they go
    with.
    """
    amount, left = -total, original.total - original.credited
    which = ", ".join(str(i) for i in chosen)
    if amount < 0:
        raise InvalidInvoice(
            f"line(s) {which} of invoice {original.number} add up to a charge of {-amount} "
            f"{original.currency}, not a credit: credit them together with the lines they discount"
        )
    if amount > left:
        raise InvalidInvoice(
            f"crediting line(s) {which} of invoice {original.number} ({amount} {original.currency}) "
            f"is more than is left to credit ({left} {original.currency}): credit them together "
            "with the discount lines of the invoice"
        )


def seller_of(account: Account) -> Seller:
    """The seller block of an invoice: the account's details as they are now."""
    return Seller(
        name=account.name,
        address=account.address,
        org_number=account.org_number,
        bank_account=account.bank_account,
        vat_registered=account.vat_registered,
        logo=account.logo,
        country=account.country_code,
        business_register=account.business_register,
    )


def _totals(vat: Sequence[VatGroup]) -> tuple[Decimal, Decimal]:
    """The net total and the VAT total of a VAT breakdown."""
    return sum((group.base for group in vat), _ZERO), sum((group.vat for group in vat), _ZERO)


def build_invoice(
    draft: InvoiceDraft,
    account: Account,
    *,
    id: str,
    now: datetime,
    locale: str | None = None,
    subscription_id: str | None = None,
) -> Invoice:
    """The invoice ``account`` issues from ``draft`` at ``now``: not numbered yet, no credit applied, no KID.

    Dated in the account's time zone and due after its payment terms, in the
    draft's currency or else the account's, in ``locale`` or else the
    account's. The store numbers it (``invoices.add_numbered``), after
    :func:`apply_balance` has applied the customer's credit.
    """
    issue_date = local_date(now, account.timezone)
    currency = draft.currency or account.currency
    lines = compute_lines(draft.lines, currency, vat_registered=account.vat_registered)
    vat = vat_breakdown(lines, currency)
    net, vat_total = _totals(vat)
    total = net + vat_total
    return Invoice(
        id=id,
        account_id=account.id,
        sequence=0,
        number="",
        kind=InvoiceKind.INVOICE,
        issued_at=now,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=account.payment_terms_days),
        seller=seller_of(account),
        bill_to=draft.bill_to,
        currency=currency,
        locale=locale or account.locale,
        lines=lines,
        vat=vat,
        net_total=net,
        vat_total=vat_total,
        total=total,
        balance_applied=_ZERO,
        amount_due=total,
        period=draft.period,
        cycle=draft.cycle,
        customer=draft.customer,
        note=draft.note,
        subscription_id=subscription_id,
        kid_method=account.kid,
        vat_exemption_reason=draft.vat_exemption_reason,
        tax_exchange_rate=draft.tax_exchange_rate,
    )


def apply_balance(invoice: Invoice, balance: Decimal) -> Invoice:
    """The invoice with the customer's credit applied: as much of ``balance`` as its total takes.

    ``balance`` is the credit of the customer :attr:`Invoice.draws_credit_from`
    names; a balance of 0 or less pays nothing.
    """
    if balance <= 0 or invoice.draws_credit_from is None:
        return invoice
    applied = min(balance, invoice.total)
    return attrs.evolve(invoice, balance_applied=applied, amount_due=invoice.total - applied)


def build_credit_note(
    original: Invoice,
    account: Account,
    *,
    prior_notes: Sequence[Invoice],
    lines: Sequence[int] | None,
    reason: str,
    id: str,
    now: datetime,
) -> Invoice:
    """The credit note (not numbered yet) for some lines of ``original``, or all that are left.

    ``prior_notes`` are the invoice's credit notes so far: each line is
    credited once, and the last credit of a VAT rate gets what is left of
    that rate's VAT (see :func:`credit_vat`). Billed to the same party,
    customer and period as the invoice; dated today in the account's time
    zone, due at once, with the account's seller details as they are now.
    Raises :class:`InvalidInvoice` for a credit note, lines already credited
    or out of range, lines that credit nothing or more than is left (see
    :func:`check_credit`), and an empty reason.
    """
    if original.is_credit_note:
        raise InvalidInvoice(f"{original.number} is a credit note; credit notes cannot be credited")
    note = credit_reason(reason)
    chosen = credit_lines(original, lines, [i for prior in prior_notes for i in prior.credited_lines])
    credited = tuple(_negated(original.lines[i]) for i in chosen)
    vat = credit_vat(original, credited, chosen, prior_notes)
    net, vat_total = _totals(vat)
    check_credit(original, chosen, net + vat_total)
    issue_date = local_date(now, account.timezone)
    return Invoice(
        id=id,
        account_id=original.account_id,
        sequence=0,
        number="",
        kind=InvoiceKind.CREDIT_NOTE,
        issued_at=now,
        issue_date=issue_date,
        due_date=issue_date,
        seller=seller_of(account),
        bill_to=original.bill_to,
        currency=original.currency,
        locale=original.locale,
        lines=credited,
        vat=vat,
        net_total=net,
        vat_total=vat_total,
        total=net + vat_total,
        balance_applied=_ZERO,
        amount_due=net + vat_total,
        period=original.period,
        cycle=original.cycle,
        customer=original.customer,
        credits_invoice_id=original.id,
        credits_number=original.number,
        credited_lines=chosen,
        note=note,
        subscription_id=original.subscription_id,
        vat_exemption_reason=original.vat_exemption_reason,
        tax_exchange_rate=original.tax_exchange_rate,
    )


def _negated(line: InvoiceLine) -> InvoiceLine:
    return InvoiceLine(
        line.description, -line.quantity, line.unit_price, line.vat_rate, -line.amount, line.vat_category
    )


def balance_entry(invoice: Invoice, *, id: str, at: datetime, credit: Decimal | None = None) -> LedgerEntry:
    """The movement on the customer's balance that issuing ``invoice`` makes.

    An invoice uses up the credit applied to it; a credit note puts on the
    balance, for the customer's next invoice, ``credit``: the part of it that
    the credited invoice no longer owed (see
    :func:`tenantbill.domain.payments.credit_settlement`; by default all of
    it). Only for an invoice that :attr:`Invoice.moves_balance`.
    """
    if invoice.customer is None or not invoice.moves_balance:
        raise ValueError(f"invoice {invoice.number} does not move a customer's balance")
    if invoice.is_credit_note:
        amount = -invoice.total if credit is None else credit
        kind, memo = "credit_note", f"credit note {invoice.number}"
    else:
        amount, kind, memo = -invoice.balance_applied, "applied", f"applied to invoice {invoice.number}"
    return LedgerEntry(
        id=id,
        account_id=invoice.account_id,
        customer=invoice.customer,
        at=at,
        amount=amount,
        currency=invoice.currency,
        kind=kind,
        invoice_id=invoice.id,
        memo=memo,
    )


def _brief(value: object) -> str:
    """``repr(value)`` cut short for a message (the value may be anything a caller passed)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}… ({len(text)} characters)"
