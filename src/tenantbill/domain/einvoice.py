"""The content of an EHF 3.0 / Peppol BIS Billing 3.0 invoice or credit note, as checked values.

An :class:`EDocument` holds every figure and name the UBL needs and refuses,
when it is built, what the official rules would reject: VAT categories with
the wrong rate or a missing exemption reason, totals that do not add up to
the cent, a missing buyer reference. So :func:`tenantbill.render.ubl.ubl`
only writes XML and never has to judge.

Rates are fractions as everywhere in tenantbill (``Decimal("0.25")`` is
25 %); amounts have at most two decimals. Amounts are not recomputed here:
the document states the issued invoice's own figures and this module checks
that they agree. :func:`vat_breakdown_of` and :func:`totals_of` compute them
the same way for a caller that has only the lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final, Self, TypeVar

import attrs
from attrs import AttrsInstance

from tenantbill.domain.billing import Period
from tenantbill.domain.identity import BankAccount, OrgNumber
from tenantbill.domain.invoices import Invoice, InvoiceKind, InvoiceLine
from tenantbill.domain.money import EXACT, minor_unit, normalize_currency, to_decimal
from tenantbill.domain.vat import VatCategory, default_category, rate_conflict
from tenantbill.errors import EInvoiceError, InvalidInput, InvalidInvoice

__all__ = [
    "ATTACHMENT_MIME_CODES",
    "ORG_NUMBER_SCHEMES",
    "Attachment",
    "Customer",
    "DocumentLine",
    "EDocument",
    "Endpoint",
    "InvoiceReference",
    "Payment",
    "PostalAddress",
    "Supplier",
    "Totals",
    "VatCategory",
    "VatSubtotal",
    "document_of",
    "pdf_attachment",
    "totals_of",
    "vat_breakdown_of",
]

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

_ZERO: Final = Decimal(0)
_CENT: Final = Decimal("0.01")
ORG_NUMBER_SCHEMES: Final = {"NO": "0192", "SE": "0007"}
_SE_STANDARD_RATES: Final = frozenset({Decimal("0.25"), Decimal("0.12"), Decimal("0.06")})
# A Swedish giro number is paid by credit transfer, naming the giro as the payment service provider.
_GIRO_PROVIDERS: Final = {"BANKGIRO": "SE:BANKGIRO", "PLUSGIRO": "SE:PLUSGIRO"}
ATTACHMENT_MIME_CODES: Final = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.spreadsheet",
    }
)

# What XML 1.0 can carry; single-line fields also refuse tab, CR and LF.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_XML_LINE: Final = re.compile("[^\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_POSTAL_LINE: Final = re.compile(r"^(?:[A-Z]{1,2}-)?(\d{4}|\d{3} ?\d{2})\s+(\S.*)$")
_COUNTRY_LINES: Final = frozenset({"norge", "noreg", "norway", "sverige", "sweden"})
_VAT_ID: Final = re.compile(r"^[A-Z]{2}[0-9A-Za-z+*.]{2,}$")


# Converters (named, so that type checkers see the constructor's types) and validators


def _strip(value: str) -> str:
    return value.strip() if isinstance(value, str) else value


def _strip_or_none(value: str | None) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else value


def _number(value: Decimal | int | str) -> Decimal:
    return to_decimal(value, "an amount, quantity or price")


def _vat_rate(value: Decimal | int | str) -> Decimal:
    rate = to_decimal(value, "vat_rate")
    if not _ZERO <= rate < 1:
        raise InvalidInvoice(f"vat_rate is a fraction in [0, 1) (25 % is Decimal('0.25')), got {rate}")
    return rate


def _category(value: VatCategory | str) -> VatCategory:
    if isinstance(value, VatCategory):
        return value
    try:
        return VatCategory(value)
    except ValueError:
        codes = ", ".join(category.value for category in VatCategory)
        raise InvalidInvoice(f"a VAT category is one of {codes}, got {value!r}") from None


def _country(value: str) -> str:
    code = value.strip().upper() if isinstance(value, str) else value
    if not isinstance(code, str) or code not in _countries():
        raise InvalidInvoice(f"a country is an ISO 3166 two-letter code such as 'NO', got {value!r}")
    return code


def _country_or_none(value: str | None) -> str | None:
    return None if value is None else _country(value)


def _tax_exchange_rate(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    rate = to_decimal(value, "tax_exchange_rate")
    if rate <= 0:
        raise InvalidInvoice(f"tax_exchange_rate is NOK per unit of the invoice currency, got {rate}")
    return rate


def _currency(value: str) -> str:
    try:
        return normalize_currency(value)
    except InvalidInput as error:
        raise InvalidInvoice(str(error)) from None


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    from babel import Locale  # loaded on first use: babel's locale data is large

    codes = (code for code in Locale("en").territories if isinstance(code, str))
    return frozenset(code for code in codes if len(code) == 2 and code.isalpha())


def _label(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _text(*, multiline: bool = False, optional: bool = False) -> _Validator:
    """A validator for non-empty text that XML 1.0 can carry; one line unless *multiline*."""
    pattern = _NOT_XML if multiline else _NOT_XML_LINE

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str):
            raise InvalidInvoice(f"{_label(instance, attribute)} must be text, got {type(value).__name__}")
        if not value:
            raise InvalidInvoice(f"{_label(instance, attribute)} must not be empty")
        bad = pattern.search(value)
        if bad:
            kind = "an e-invoice" if multiline else "a one-line field of an e-invoice"
            raise InvalidInvoice(
                f"{_label(instance, attribute)} contains the character U+{ord(bad.group()):04X},"
                f" which {kind} cannot carry; remove it: {value!r}"
            )

    return check


def _cents(instance: object, attribute: attrs.Attribute[Any], value: Decimal) -> None:
    """At most two decimals, as every amount in an e-invoice (BR-DEC)."""
    if value != value.quantize(_CENT):
        raise InvalidInvoice(f"{_label(instance, attribute)} has at most two decimals, got {value}")


def _is(kind: type[Any], *, optional: bool = False) -> _Validator:
    """A validator that the value is a *kind* (or None when *optional*)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        wrong_date = kind is date and isinstance(value, datetime)
        if wrong_date or not (isinstance(value, kind) or (optional and value is None)):
            raise InvalidInvoice(
                f"{_label(instance, attribute)} must be a {kind.__name__}"
                f"{' or None' if optional else ''}, got {type(value).__name__}"
            )

    return check


def _items(kind: type[Any]) -> _Validator:
    """A validator for a non-empty tuple of *kind*."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        if not value:
            raise InvalidInvoice(f"{_label(instance, attribute)} must not be empty")
        for item in value:
            if not isinstance(item, kind):
                raise InvalidInvoice(
                    f"{_label(instance, attribute)} holds {kind.__name__} values, got {type(item).__name__}"
                )

    return check


def _lines(value: Iterable[DocumentLine]) -> tuple[DocumentLine, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInvoice("EDocument.lines must be a list of DocumentLine")
    return tuple(value)


def _subtotals(value: Iterable[VatSubtotal]) -> tuple[VatSubtotal, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInvoice("EDocument.vat_breakdown must be a list of VatSubtotal")
    return tuple(value)


@attrs.frozen
class PostalAddress:
    """A postal address in EHF's fields; :meth:`from_text` builds one from tenantbill's free text."""

    country: str = attrs.field(converter=_country)
    street: str | None = attrs.field(default=None, converter=_strip_or_none, validator=_text(optional=True))
    additional_street: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(optional=True)
    )
    city: str | None = attrs.field(default=None, converter=_strip_or_none, validator=_text(optional=True))
    postal_zone: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(optional=True)
    )
    line: str | None = attrs.field(default=None, converter=_strip_or_none, validator=_text(optional=True))

    @classmethod
    def from_text(cls, text: str, country: str) -> Self:
        """Map free-text address lines onto EHF's fields.

        The last line that starts with a postcode (``0155 Oslo``, ``NO-0155 Oslo``,
        ``411 05 Göteborg``) gives PostalZone and CityName; the first line
        before it is StreetName, the second AdditionalStreetName, and any other
        lines are joined into one AddressLine. A single line is split at
        commas first. A trailing line naming Norway or Sweden is dropped: the
        country is *country*.
        """
        if not isinstance(text, str):
            raise InvalidInvoice(f"an address is text, got {type(text).__name__}")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(lines) == 1:
            lines = [part.strip() for part in lines[0].split(",") if part.strip()]
        if lines and lines[-1].casefold() in _COUNTRY_LINES:
            lines.pop()
        city = postal_zone = None
        for index in range(len(lines) - 1, -1, -1):
            match = _POSTAL_LINE.match(lines[index])
            if match:
                postal_zone, city = match.group(1), match.group(2)
                del lines[index]
                break
        street = lines[0] if lines else None
        additional = lines[1] if len(lines) > 1 else None
        rest = ", ".join(lines[2:]) or None
        return cls(country, street, additional, city, postal_zone, rest)


def _scheme(value: str) -> str:
    if not (isinstance(value, str) and len(value) == 4 and value.isascii() and value.isdigit()):
        raise InvalidInvoice(f"a Peppol endpoint scheme is a 4-digit EAS code such as '0192', got {value!r}")
    return value


@attrs.frozen
class Endpoint:
    """A party's Peppol electronic address: an EAS scheme code and an identifier (BT-34, BT-49).

    Norwegian and Swedish org numbers (schemes 0192 and 0007) are check-digit
    verified; use :meth:`of` to build one from an :class:`OrgNumber`.
    """

    scheme: str = attrs.field(converter=_scheme)
    identifier: str = attrs.field(converter=_strip, validator=_text())

    @classmethod
    def of(cls, org_number: OrgNumber) -> Self:
        """The endpoint of a Norwegian (0192) or Swedish (0007) organisation."""
        return cls(ORG_NUMBER_SCHEMES[org_number.country], org_number.value)

    def __attrs_post_init__(self) -> None:
        if " " in self.identifier:
            raise InvalidInvoice(f"an endpoint identifier has no spaces, got {self.identifier!r}")
        for country, scheme in ORG_NUMBER_SCHEMES.items():
            if self.scheme == scheme:
                try:
                    org = OrgNumber.parse(self.identifier)
                except InvalidInput as error:
                    raise InvalidInvoice(f"endpoint {scheme}:{self.identifier}: {error}") from None
                if org != OrgNumber(self.identifier, country):
                    raise InvalidInvoice(
                        f"scheme {scheme} takes the bare digits of a {country} org number,"
                        f" got {self.identifier!r}"
                    )


@attrs.frozen
class Supplier:
    """The seller: a Norwegian or Swedish organisation (EHF needs its org number for the endpoint).

    ``business_register`` says whether "Foretaksregisteret" is printed (NO-R-002;
    by law for AS, ASA and branches of foreign companies). ``None`` derives it:
    a Norwegian seller that is VAT-registered is taken to be registered in
    Foretaksregisteret. Pass ``False`` for a VAT-registered sole proprietorship
    that is not.
    """

    name: str = attrs.field(converter=_strip, validator=_text())
    org_number: OrgNumber = attrs.field(validator=_is(OrgNumber))
    address: PostalAddress = attrs.field(validator=_is(PostalAddress))
    vat_registered: bool = attrs.field(validator=_is(bool))
    business_register: bool | None = attrs.field(default=None, validator=_is(bool, optional=True))

    @property
    def vat_id(self) -> str | None:
        """``NO<org>MVA`` or ``SE<org>01`` when VAT-registered (NO-R-001, SE-R-001/002), else None."""
        if not self.vat_registered:
            return None
        org = self.org_number
        return f"NO{org.value}MVA" if org.country == "NO" else f"SE{org.value}01"

    @property
    def in_business_register(self) -> bool:
        """Whether to state "Foretaksregisteret" (see the class doc)."""
        if self.business_register is not None:
            return self.business_register
        return self.org_number.country == "NO" and self.vat_registered


@attrs.frozen
class Customer:
    """The buyer, with the reference it asked to be quoted (EHF BuyerReference).

    An EHF is delivered to the buyer's Peppol endpoint, so the buyer needs an
    org number or an explicit :class:`Endpoint` (another EAS scheme, e.g. for
    a buyer abroad). ``vat_id`` is needed for reverse charge (AE) and
    intra-EU supplies (K).
    """

    name: str = attrs.field(converter=_strip, validator=_text())
    address: PostalAddress = attrs.field(validator=_is(PostalAddress))
    org_number: OrgNumber | None = attrs.field(default=None, validator=_is(OrgNumber, optional=True))
    endpoint: Endpoint | None = attrs.field(default=None, validator=_is(Endpoint, optional=True))
    vat_id: str | None = attrs.field(default=None, converter=_strip_or_none, validator=_text(optional=True))
    reference: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(optional=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.endpoint is None and self.org_number is None:
            raise InvalidInvoice(
                f"an e-invoice is delivered to the buyer's Peppol address: give {self.name!r}"
                " an org number or an Endpoint"
            )
        if self.vat_id is not None and not _VAT_ID.match(self.vat_id):
            raise InvalidInvoice(
                "a VAT id starts with its country code and has no spaces (NO123456785MVA),"
                f" got {self.vat_id!r}"
            )


@attrs.frozen
class DocumentLine:
    """An invoice or credit note line: net amount = quantity × unit price, rounded to the cent.

    ``description`` becomes the item's name. ``unit_code`` is from UN/ECE
    Recommendation 20 (``EA`` each, ``HUR`` hour, ``MON`` month).
    """

    id: str = attrs.field(converter=_strip, validator=_text())
    description: str = attrs.field(converter=_strip, validator=_text(multiline=True))
    quantity: Decimal = attrs.field(converter=_number)
    unit_price: Decimal = attrs.field(converter=_number)
    net_amount: Decimal = attrs.field(converter=_number, validator=_cents)
    vat_category: VatCategory = attrs.field(converter=_category)
    vat_rate: Decimal = attrs.field(converter=_vat_rate)
    unit_code: str = attrs.field(default="EA", converter=_strip, validator=_text())

    def __attrs_post_init__(self) -> None:
        if self.unit_price < 0:
            raise InvalidInvoice(
                f"line {self.id}: a unit price is not negative (BR-27), got {self.unit_price};"
                " use a negative quantity"
            )
        conflict = rate_conflict(self.vat_category, self.vat_rate)
        if conflict is not None:
            raise InvalidInvoice(f"line {self.id}: {conflict}")

    @property
    def vat_key(self) -> tuple[VatCategory, Decimal]:
        """The (category, rate) group of the VAT breakdown this line belongs to."""
        return self.vat_category, self.vat_rate.normalize()


@attrs.frozen
class VatSubtotal:
    """One group of the VAT breakdown: a (category, rate), its taxable amount and its VAT, rounded once."""

    category: VatCategory = attrs.field(converter=_category)
    rate: Decimal = attrs.field(converter=_vat_rate)
    taxable_amount: Decimal = attrs.field(converter=_number, validator=_cents)
    tax_amount: Decimal = attrs.field(converter=_number, validator=_cents)
    exemption_reason: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(multiline=True, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        category = self.category
        if category.needs_exemption_reason and self.exemption_reason is None:
            raise InvalidInvoice(
                f"VAT category {category.value} needs an exemption reason saying why no VAT is charged"
                f" (BR-{'IC' if category is VatCategory.K else category.value}-10)"
            )
        if not category.needs_exemption_reason and self.exemption_reason is not None:
            raise InvalidInvoice(
                f"VAT category {category.value} takes no exemption reason (BR-{category.value}-10)"
            )

    @property
    def vat_key(self) -> tuple[VatCategory, Decimal]:
        """The (category, rate) this group stands for."""
        return self.category, self.rate.normalize()


@attrs.frozen
class Totals:
    """The document totals (BG-22). ``rounding`` is øre-rounding of the payable amount, often zero."""

    line_extension: Decimal = attrs.field(converter=_number, validator=_cents)
    tax_exclusive: Decimal = attrs.field(converter=_number, validator=_cents)
    tax: Decimal = attrs.field(converter=_number, validator=_cents)
    tax_inclusive: Decimal = attrs.field(converter=_number, validator=_cents)
    payable: Decimal = attrs.field(converter=_number, validator=_cents)
    prepaid: Decimal = attrs.field(default=_ZERO, converter=_number, validator=_cents)
    rounding: Decimal = attrs.field(default=_ZERO, converter=_number, validator=_cents)


@attrs.frozen
class Payment:
    """How to pay: credit transfer (code 30) to ``account``, quoting ``kid`` (a KID or OCR reference)."""

    account: BankAccount = attrs.field(validator=_is(BankAccount))
    kid: str | None = attrs.field(default=None, converter=_strip_or_none, validator=_text(optional=True))

    @property
    def account_id(self) -> str:
        """The payment account identifier (BT-84): the domestic digits, the giro's digits or the IBAN."""
        return self.account.number

    @property
    def service_provider(self) -> str | None:
        """The payment service provider (BT-86): ``SE:BANKGIRO`` or ``SE:PLUSGIRO`` for a giro number.

        The Swedish rules SE-R-007 to SE-R-010 read the account as a giro
        number by it; other accounts name none.
        """
        return _GIRO_PROVIDERS.get(self.account.kind)


@attrs.frozen
class InvoiceReference:
    """The invoice a credit note corrects (BT-25, BT-26)."""

    number: str = attrs.field(converter=_strip, validator=_text())
    issue_date: date = attrs.field(validator=_is(date))


def _filename(instance: Attachment, attribute: attrs.Attribute[str], value: str) -> None:
    if "/" in value or "\\" in value:
        raise InvalidInvoice(f"an attachment's filename has no folder part, got {value!r}")


def _mime_code(instance: Attachment, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ATTACHMENT_MIME_CODES:
        allowed = ", ".join(sorted(ATTACHMENT_MIME_CODES))
        raise InvalidInvoice(f"an EHF attachment is one of {allowed} (BR-CL-24), got {value!r}")


def _content(instance: Attachment, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if not isinstance(value, bytes) or not value:
        raise InvalidInvoice("an attachment's content is non-empty bytes")


@attrs.frozen
class Attachment:
    """A file embedded in the e-invoice (BG-24), normally the invoice PDF."""

    filename: str = attrs.field(converter=_strip, validator=[_text(), _filename])
    content: bytes = attrs.field(validator=_content, repr=False)
    mime_code: str = attrs.field(default="application/pdf", validator=_mime_code)


@attrs.frozen
class EDocument:
    """Everything an EHF 3.0 invoice or credit note says, checked against the rules when built.

    Credit notes carry positive amounts and name the invoice they credit.
    ``tax_exchange_rate`` (NOK per unit of ``currency``) adds the VAT total in
    NOK, which a Norwegian seller's foreign-currency invoice must show.
    ``invoice_period`` is half-open like tenantbill's billing periods.
    ``delivery_country`` is needed only for intra-EU supplies (K).
    """

    kind: InvoiceKind = attrs.field(validator=_is(InvoiceKind))
    number: str = attrs.field(converter=_strip, validator=_text())
    issue_date: date = attrs.field(validator=_is(date))
    currency: str = attrs.field(converter=_currency)
    supplier: Supplier = attrs.field(validator=_is(Supplier))
    customer: Customer = attrs.field(validator=_is(Customer))
    lines: tuple[DocumentLine, ...] = attrs.field(converter=_lines, validator=_items(DocumentLine))
    vat_breakdown: tuple[VatSubtotal, ...] = attrs.field(converter=_subtotals, validator=_items(VatSubtotal))
    totals: Totals = attrs.field(validator=_is(Totals))
    due_date: date | None = attrs.field(default=None, validator=_is(date, optional=True))
    payment: Payment | None = attrs.field(default=None, validator=_is(Payment, optional=True))
    payment_terms: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(optional=True, multiline=True)
    )
    note: str | None = attrs.field(
        default=None, converter=_strip_or_none, validator=_text(optional=True, multiline=True)
    )
    tax_exchange_rate: Decimal | None = attrs.field(default=None, converter=_tax_exchange_rate)
    credited_invoice: InvoiceReference | None = attrs.field(
        default=None, validator=_is(InvoiceReference, optional=True)
    )
    invoice_period: Period | None = attrs.field(default=None, validator=_is(Period, optional=True))
    delivery_country: str | None = attrs.field(default=None, converter=_country_or_none)
    attachment: Attachment | None = attrs.field(default=None, validator=_is(Attachment, optional=True))

    def __attrs_post_init__(self) -> None:
        _check_header(self)
        _check_lines(self)
        _check_vat(self)
        _check_breakdown(self)
        _check_totals(self)

    def with_attachment(self, attachment: Attachment | None) -> EDocument:
        """This document with *attachment* embedded (or none), without checking the rest again.

        The attachment takes part in no rule across fields, and this document
        was checked when it was built, so only the attachment's type is.
        """
        if attachment is not None and not isinstance(attachment, Attachment):
            raise InvalidInvoice(
                f"EDocument.attachment must be an Attachment, got {type(attachment).__name__}"
            )
        values = {field.name: getattr(self, field.name) for field in attrs.fields(EDocument)}
        values["attachment"] = attachment
        return _unchecked(EDocument, values)

    @property
    def is_credit_note(self) -> bool:
        """Whether this is a credit note (UBL CreditNote, type 381)."""
        return self.kind is InvoiceKind.CREDIT_NOTE

    @property
    def buyer_reference(self) -> str:
        """The buyer's reference, quoted as BuyerReference (required, PEPPOL-EN16931-R003)."""
        assert self.customer.reference is not None  # checked at construction
        return self.customer.reference

    @property
    def tax_currency(self) -> str | None:
        """``NOK`` when the VAT is also stated in NOK, else None."""
        return None if self.tax_exchange_rate is None else "NOK"

    @property
    def tax_in_tax_currency(self) -> Decimal | None:
        """The VAT total in NOK at ``tax_exchange_rate``, rounded to the øre (BT-111)."""
        if self.tax_exchange_rate is None:
            return None
        return (self.totals.tax * self.tax_exchange_rate).quantize(_CENT, ROUND_HALF_UP)

    @property
    def shows_seller_vat_id(self) -> bool:
        """Whether the seller's VAT id is stated: not on a document that is out of scope of VAT (BR-O-02)."""
        return self.supplier.vat_id is not None and not self.out_of_scope

    @property
    def out_of_scope(self) -> bool:
        """Whether every line is category O, not subject to VAT."""
        return self.lines[0].vat_category is VatCategory.O


# Checks made when an EDocument is built


def _check_header(document: EDocument) -> None:
    if document.customer.reference is None:
        raise InvalidInvoice(
            "the buyer's reference is missing: an EHF invoice must quote it as BuyerReference"
            " (PEPPOL-EN16931-R003). Ask the buyer for it (a person, department or order"
            " reference) and store it on the customer"
        )
    if document.is_credit_note:
        if document.credited_invoice is None:
            raise InvalidInvoice("a credit note names the invoice it credits: give credited_invoice")
        if document.totals.tax_inclusive < 0:
            raise InvalidInvoice("a credit note carries positive amounts in EHF; negate the credited amounts")
    else:
        if document.credited_invoice is not None:
            raise InvalidInvoice("credited_invoice is only for a credit note")
        if document.due_date is None:
            raise InvalidInvoice("an invoice needs its due date")
    if document.due_date is not None and document.due_date < document.issue_date:
        raise InvalidInvoice(
            f"the due date {document.due_date} is before the issue date {document.issue_date}"
        )
    if document.payment is None and document.kind is InvoiceKind.INVOICE:
        raise InvalidInvoice("an invoice says how to pay it: give payment with the seller's bank account")
    terms_given = document.payment_terms is not None or (document.payment and document.due_date)
    if document.is_credit_note and document.totals.payable > 0 and not terms_given:
        raise InvalidInvoice(
            "a credit note with an amount due states payment terms, or a payment and due date (BR-CO-25)"
        )
    if document.tax_exchange_rate is not None and document.currency == "NOK":
        raise InvalidInvoice(
            "tax_exchange_rate is for an invoice in another currency than NOK (PEPPOL-EN16931-R005)"
        )


def _check_lines(document: EDocument) -> None:
    quantum = minor_unit(document.currency)
    seen: set[str] = set()
    for line in document.lines:
        if line.id in seen:
            raise InvalidInvoice(f"line id {line.id!r} is used twice; each line has its own id")
        seen.add(line.id)
        with localcontext(EXACT):
            expected = (line.quantity * line.unit_price).quantize(quantum, ROUND_HALF_UP)
        if line.net_amount != expected:
            raise InvalidInvoice(
                f"line {line.id}: net amount {line.net_amount} is not quantity × unit price = {expected}"
            )


def _check_vat(document: EDocument) -> None:
    supplier, customer = document.supplier, document.customer
    categories = {line.vat_category for line in document.lines}
    if VatCategory.O in categories and len(categories) > 1:
        raise InvalidInvoice(
            "a document with category O (not subject to VAT) has no lines of other categories (BR-O-11)"
        )
    if not supplier.vat_registered and categories != {VatCategory.O}:
        others = ", ".join(sorted(category.value for category in categories - {VatCategory.O}))
        raise InvalidInvoice(
            f"the seller is not VAT-registered, so every line is category O (not subject to VAT)"
            f" with an exemption reason; got {others}"
        )
    for category, rule in ((VatCategory.AE, "BR-AE-02"), (VatCategory.K, "BR-IC-02")):
        if category in categories and customer.vat_id is None:
            raise InvalidInvoice(f"category {category.value} needs the buyer's VAT id ({rule})")
    if VatCategory.K in categories and (document.invoice_period is None or document.delivery_country is None):
        raise InvalidInvoice(
            "an intra-EU supply (K) states the invoice period and the country delivered to"
            " (BR-IC-11, BR-IC-12)"
        )
    if supplier.org_number.country == "SE":
        for line in document.lines:
            if line.vat_category is VatCategory.S and line.vat_rate not in _SE_STANDARD_RATES:
                raise InvalidInvoice(
                    f"line {line.id}: Swedish standard rates are 25, 12 and 6 % (SE-R-006),"
                    f" got {line.vat_rate}"
                )
    needs_nok = supplier.org_number.country == "NO" and document.currency != "NOK"
    if needs_nok and VatCategory.S in categories and document.tax_exchange_rate is None:
        raise InvalidInvoice(
            f"a Norwegian seller's invoice in {document.currency} states its VAT in NOK too:"
            f" give tax_exchange_rate (NOK per {document.currency})"
        )


def _check_breakdown(document: EDocument) -> None:
    quantum = minor_unit(document.currency)
    # Keyed by (category, rate) as given: equal Decimals hash alike (0.25 and 0.250 are one key),
    # as their vat_key makes them, without normalizing every line's rate.
    taxable: dict[tuple[VatCategory, Decimal], Decimal] = {}
    for line in document.lines:
        key = line.vat_category, line.vat_rate
        taxable[key] = taxable.get(key, _ZERO) + line.net_amount
    given: dict[tuple[VatCategory, Decimal], VatSubtotal] = {}
    for subtotal in document.vat_breakdown:
        key = subtotal.category, subtotal.rate
        if key in given:
            raise InvalidInvoice(f"the VAT breakdown has {_key_text(key)} twice")
        given[key] = subtotal
    if set(given) != set(taxable):
        missing = ", ".join(_key_text(key) for key in taxable if key not in given) or "none"
        extra = ", ".join(_key_text(key) for key in given if key not in taxable) or "none"
        raise InvalidInvoice(
            "the VAT breakdown has one group per (category, rate) of the lines;"
            f" missing: {missing}; extra: {extra}"
        )
    for key, subtotal in given.items():
        if subtotal.taxable_amount != taxable[key]:
            raise InvalidInvoice(
                f"{_key_text(key)}: taxable amount {subtotal.taxable_amount} is not the sum"
                f" of its lines, {taxable[key]}"
            )
        expected = (subtotal.taxable_amount * subtotal.rate).quantize(quantum, ROUND_HALF_UP)
        # A credit note that credits the last lines of a (category, rate) carries what is left
        # of the invoice's VAT, so that the notes cancel it exactly; that may differ from its
        # own base × rate by the rounding of the earlier notes. BR-CO-17 accepts less than one
        # unit of difference; an invoice's own VAT is rounded once, exactly.
        off = abs(subtotal.tax_amount - expected)
        if (off >= 1) if document.is_credit_note else (off != 0):
            raise InvalidInvoice(
                f"{_key_text(key)}: VAT {subtotal.tax_amount} is not taxable amount × rate,"
                f" rounded once, = {expected} (BR-CO-17)"
            )


def _check_totals(document: EDocument) -> None:
    totals = document.totals
    checks = (
        (
            "BR-CO-10",
            "the sum of line net amounts",
            totals.line_extension,
            _sum(document.lines, "net_amount"),
        ),
        (
            "BR-CO-13",
            "the total without VAT (no document allowances or charges)",
            totals.tax_exclusive,
            totals.line_extension,
        ),
        ("BR-CO-14", "the VAT total", totals.tax, _sum(document.vat_breakdown, "tax_amount")),
        ("BR-CO-15", "the total with VAT", totals.tax_inclusive, totals.tax_exclusive + totals.tax),
        (
            "BR-CO-16",
            "the amount due (total with VAT − prepaid + rounding)",
            totals.payable,
            totals.tax_inclusive - totals.prepaid + totals.rounding,
        ),
    )
    for rule, what, given, expected in checks:
        if given != expected:
            raise InvalidInvoice(f"{what} is {given}, but the figures add up to {expected} ({rule})")


def _sum(items: Iterable[object], name: str) -> Decimal:
    return sum(map(attrgetter(name), items), _ZERO)


def _key_text(key: tuple[VatCategory, Decimal]) -> str:
    category, rate = key
    return f"VAT category {category.value} at {rate.normalize() * 100:f} %"


# Helpers for a caller that has only the lines


def vat_breakdown_of(
    lines: Iterable[DocumentLine],
    currency: str,
    exemption_reasons: Mapping[VatCategory, str] | None = None,
) -> tuple[VatSubtotal, ...]:
    """One :class:`VatSubtotal` per (category, rate) of *lines*, its VAT rounded once.

    *exemption_reasons* gives the reason for each category that needs one (E, AE, K, G, O).
    """
    quantum = minor_unit(_currency(currency))
    reasons = exemption_reasons or {}
    taxable: dict[tuple[VatCategory, Decimal], Decimal] = {}
    for line in lines:
        taxable[line.vat_key] = taxable.get(line.vat_key, _ZERO) + line.net_amount
    return tuple(
        VatSubtotal(
            category,
            rate,
            amount,
            (amount * rate).quantize(quantum, ROUND_HALF_UP),
            reasons.get(category) if category.needs_exemption_reason else None,
        )
        for (category, rate), amount in taxable.items()
    )


def totals_of(
    lines: Iterable[DocumentLine],
    vat_breakdown: Iterable[VatSubtotal],
    *,
    prepaid: Decimal = _ZERO,
    rounding: Decimal = _ZERO,
) -> Totals:
    """The totals that *lines* and *vat_breakdown* add up to, less *prepaid*, plus *rounding*."""
    net = _sum(lines, "net_amount")
    tax = _sum(vat_breakdown, "tax_amount")
    return Totals(
        line_extension=net,
        tax_exclusive=net,
        tax=tax,
        tax_inclusive=net + tax,
        payable=net + tax - prepaid + rounding,
        prepaid=prepaid,
        rounding=rounding,
    )


# From an issued invoice

_UNSAFE_IN_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]+")
_CREDIT_TERMS: Final = {
    # (language, whether the credit goes to the customer's balance)
    ("nb", True): "Det krediterte beløpet trekkes fra neste faktura.",
    ("nb", False): "Det krediterte beløpet tilbakebetales eller motregnes.",
    ("sv", True): "Det krediterade beloppet dras av på nästa faktura.",
    ("sv", False): "Det krediterade beloppet återbetalas eller kvittas.",
    ("en", True): "The amount credited is deducted from the next invoice.",
    ("en", False): "The amount credited is paid back or set off.",
}
_LANGUAGES: Final = {"nb": "nb", "nn": "nb", "no": "nb", "sv": "sv"}


def document_of(invoice: Invoice, *, credited: Invoice | None = None, pdf: bytes | None = None) -> EDocument:
    """The EHF 3.0 content of an issued invoice or credit note, with *pdf* embedded when given.

    The figures are the invoice's own: lines, VAT per (category, rate),
    totals, the balance applied as the prepaid amount, and amounts of a
    credit note turned positive. The seller is the invoice's seller snapshot
    (org number as Peppol endpoint 0192 or 0007, ``NO…MVA`` when
    VAT-registered, Foretaksregisteret when registered there); the buyer is
    ``bill_to`` with its reference and country (else the seller's). An
    invoice is paid by credit transfer to the seller's bank account quoting
    its KID. *credited* is the invoice a credit note credits.

    Raises :class:`~tenantbill.errors.EInvoiceError` naming what the host
    must collect when the invoice lacks something an e-invoice needs.
    """
    seller, credit = invoice.seller, invoice.is_credit_note
    where = f"{'credit note' if credit else 'invoice'} {invoice.number}"
    categories = _categories_of(invoice)
    if credit and (credited is None or credited.id != invoice.credits_invoice_id):
        raise EInvoiceError(f"{where} is a credit note: give the invoice it credits (credited=)")
    if not seller.vat_registered and any(line.vat_rate for line in invoice.lines):
        raise EInvoiceError(
            f"{where} charges VAT, but its seller was not VAT-registered when it was issued: every"
            " line is then category O (not subject to VAT), which an e-invoice cannot charge VAT"
            " on (BR-O-05). Credit it, then register the account for VAT"
            " (app.accounts.update(..., vat_registered=True)) or issue its lines with vat_rate=0"
        )
    _check_two_decimals(invoice, where)
    reason = invoice.vat_exemption_reason
    needing = sorted(category.value for category in categories if category.needs_exemption_reason)
    if needing and reason is None:
        raise EInvoiceError(
            f"{where} has lines of VAT category {', '.join(needing)}, which an e-invoice must give a"
            " reason for: the host collects why no VAT is charged and passes"
            " InvoiceDraft(vat_exemption_reason=...) when issuing"
        )
    try:
        supplier = _supplier_of(invoice, where)
        customer = _customer_of(invoice, categories, where)
        lines = tuple(
            _document_line(index, line, seller.vat_registered, credit)
            for index, line in enumerate(invoice.lines, 1)
        )
        sign = -1 if credit else 1
        breakdown = tuple(
            _subtotal(
                category,
                group.rate,
                _signed(sign, group.base),
                _signed(sign, group.vat),
                reason if category.needs_exemption_reason else None,
            )
            for group in invoice.vat
            for category in (_category_or_default(group.category, group.rate, seller.vat_registered),)
        )
        totals = _totals(
            _signed(sign, invoice.net_total),
            _signed(sign, invoice.vat_total),
            _signed(sign, invoice.total),
            _signed(sign, invoice.amount_due),
            _signed(sign, invoice.balance_applied),
        )
        values: dict[str, object] = {
            "kind": invoice.kind,
            "number": invoice.number,
            "issue_date": invoice.issue_date,
            "currency": invoice.currency,
            "supplier": supplier,
            "customer": customer,
            "lines": lines,
            "vat_breakdown": breakdown,
            "totals": totals,
            "due_date": None if credit else invoice.due_date,
            "payment": None if credit else _payment_of(invoice, where),
            "payment_terms": _credit_terms(invoice) if credit else None,
            "note": invoice.note or None,
            "tax_exchange_rate": _exchange_rate_of(invoice, supplier, categories, where),
            "credited_invoice": None
            if credited is None
            else InvoiceReference(credited.number, credited.issue_date),
            "invoice_period": invoice.period,
            "delivery_country": customer.address.country if VatCategory.K in categories else None,
            "attachment": None if pdf is None else pdf_attachment(invoice, pdf),
        }
        if not (_is_clean(invoice.number, _NOT_XML_LINE) and _is_clean(values["note"], _NOT_XML)):
            return EDocument(**values)  # type: ignore[arg-type]  # the full checks name what is wrong
        document = _unchecked(EDocument, values)
        document.__attrs_post_init__()  # the rules across fields, all of them
        return document
    except EInvoiceError:
        raise
    except InvalidInvoice as error:
        raise EInvoiceError(f"{where} cannot be sent as an e-invoice: {error}") from error


def _signed(sign: int, amount: Decimal) -> Decimal:
    """``sign × amount``, never a negative zero (which would be written ``-0.00``)."""
    return sign * amount + _ZERO


def pdf_attachment(invoice: Invoice, pdf: bytes) -> Attachment:
    """The invoice PDF as the e-invoice's attachment, named ``<number>.pdf`` like the e-mailed one."""
    stem = _UNSAFE_IN_FILENAME.sub("_", invoice.number).strip("._-")
    return Attachment(f"{stem or 'invoice'}.pdf", pdf)


def _category_or_default(category: VatCategory | None, rate: Decimal, vat_registered: bool) -> VatCategory:
    """A line's or group's category; invoices issued before categories get the default one."""
    return category if category is not None else default_category(None, rate, vat_registered=vat_registered)


def _categories_of(invoice: Invoice) -> frozenset[VatCategory]:
    registered = invoice.seller.vat_registered
    return frozenset(
        default_category(None, line.vat_rate, vat_registered=registered)
        if line.vat_category is None
        else line.vat_category
        for line in invoice.lines
    )


# The parts of a document made from an issued invoice. Its values have the types
# the converters make and were checked when it was issued (amounts bounded Decimals,
# rates in [0, 1), text without control characters), so the parts are made without
# the converters and field validators: see _unchecked. What issuing did not check is
# checked here: text that XML cannot carry (U+FFFE, U+FFFF) or that has surrounding
# space, and amounts with more than two decimals. A part that fails is built by its
# constructor instead, which runs every check and names what is wrong. The rules of
# each part and of the document (__attrs_post_init__) always run.

_A = TypeVar("_A", bound=AttrsInstance)
_FIELD_NAMES: dict[type[Any], frozenset[str]] = {}


def _unchecked(cls: type[_A], values: dict[str, Any]) -> _A:
    """An instance of the frozen attrs class *cls* with *values*, one per field, as given.

    Converters, field validators and ``__attrs_post_init__`` do not run: the
    caller vouches for the values and runs the class's rules itself.
    """
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(field.name for field in attrs.fields(cls))
    if values.keys() != names:
        raise TypeError(f"{cls.__name__} takes the fields {sorted(names)}, got {sorted(values)}")
    instance = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    return instance


def _is_clean(text: object, pattern: re.Pattern[str]) -> bool:
    """Whether *text* is None, or non-empty, stripped text in which *pattern* finds nothing."""
    if text is None:
        return True
    return isinstance(text, str) and text != "" and text == text.strip() and pattern.search(text) is None


def _in_cents(*amounts: Decimal) -> bool:
    return all(amount == amount.quantize(_CENT) for amount in amounts)


def _check_two_decimals(invoice: Invoice, where: str) -> None:
    """Refuse an invoice whose currency's amounts an e-invoice, which states two decimals, cannot carry."""
    if minor_unit(invoice.currency) == _CENT:
        return
    for index, line in enumerate(invoice.lines, 1):
        with localcontext(EXACT):
            exact = line.quantity * line.unit_price
        if line.amount != line.amount.quantize(_CENT) or abs(exact - line.amount) > _R120_TOLERANCE:
            places = -minor_unit(invoice.currency).as_tuple().exponent  # type: ignore[operator]
            raise EInvoiceError(
                f"{where} is in {invoice.currency}, whose amounts have {places} decimals, while an"
                f" e-invoice states every amount to the cent: line {index}'s amount {line.amount} is"
                f" not its quantity × unit price ({exact}) to the cent (PEPPOL-EN16931-R120). Send"
                " this invoice as a PDF; it cannot be sent as EHF"
            )


_R120_TOLERANCE: Final = Decimal("0.02")


def _document_line(index: int, line: InvoiceLine, vat_registered: bool, credit: bool) -> DocumentLine:
    quantity, price, rate = line.quantity, line.unit_price, line.vat_rate
    amount = _signed(-1 if credit else 1, line.amount)
    if credit:  # a credit note's lines are stored negated; EHF states them positive
        quantity = -quantity
    if price < 0:  # a discount: EHF has no negative price (BR-27), so the quantity is negative
        quantity, price = -quantity, -price
    category = line.vat_category
    if category is None:
        category = default_category(None, rate, vat_registered=vat_registered)
    description = line.description
    if amount != amount.quantize(_CENT) or not _is_clean(description, _NOT_XML):
        return DocumentLine(str(index), description, quantity, price, amount, category, rate)
    # Set field by field (see _LINE_FIELDS): half the time of a dict through _unchecked, once a line.
    document_line = _new(DocumentLine)
    _set(document_line, "id", str(index))
    _set(document_line, "description", description)
    _set(document_line, "quantity", quantity)
    _set(document_line, "unit_price", price)
    _set(document_line, "net_amount", amount)
    _set(document_line, "vat_category", category)
    _set(document_line, "vat_rate", rate)
    _set(document_line, "unit_code", "EA")
    document_line.__attrs_post_init__()
    return document_line


_new: Final = object.__new__
_set: Final = object.__setattr__
_LINE_FIELDS: Final = (
    "id",
    "description",
    "quantity",
    "unit_price",
    "net_amount",
    "vat_category",
    "vat_rate",
    "unit_code",
)
if tuple(field.name for field in attrs.fields(DocumentLine)) != _LINE_FIELDS:  # pragma: no cover
    raise TypeError(f"_document_line sets the fields {_LINE_FIELDS} of DocumentLine, which has others")


def _subtotal(
    category: VatCategory, rate: Decimal, taxable: Decimal, tax: Decimal, reason: str | None
) -> VatSubtotal:
    if not (_is_clean(reason, _NOT_XML) and _in_cents(taxable, tax)):
        return VatSubtotal(category, rate, taxable, tax, reason)
    subtotal = _unchecked(
        VatSubtotal,
        {
            "category": category,
            "rate": rate,
            "taxable_amount": taxable,
            "tax_amount": tax,
            "exemption_reason": reason,
        },
    )
    subtotal.__attrs_post_init__()
    return subtotal


def _totals(net: Decimal, tax: Decimal, total: Decimal, payable: Decimal, prepaid: Decimal) -> Totals:
    if not _in_cents(net, tax, total, payable, prepaid):
        return Totals(net, net, tax, total, payable, prepaid)
    return _unchecked(
        Totals,
        {
            "line_extension": net,
            "tax_exclusive": net,
            "tax": tax,
            "tax_inclusive": total,
            "payable": payable,
            "prepaid": prepaid,
            "rounding": _ZERO,
        },
    )


def _supplier_of(invoice: Invoice, where: str) -> Supplier:
    seller = invoice.seller
    if seller.org_number is None:
        raise EInvoiceError(
            f"{where} was issued without the seller's org number, which is its Peppol address:"
            " set the account's org_number (app.accounts.update) before issuing e-invoices"
        )
    return _supplier(
        seller.name,
        seller.address,
        seller.org_number,
        seller.country,
        seller.vat_registered,
        seller.business_register,
    )


# An account's invoices share their seller, and a customer's its org number and address:
# these are checked once (parsing org numbers and addresses is most of document_of's work).


@lru_cache(maxsize=256)
def _supplier(
    name: str, address: str, org_number: str, country: str, vat_registered: bool, business_register: bool
) -> Supplier:
    org = _org_number(org_number)
    return Supplier(
        name=name,
        org_number=org,
        address=_address(address, country),
        vat_registered=vat_registered,
        business_register=business_register and org.country == "NO",
    )


@lru_cache(maxsize=4096)
def _org_number(text: str) -> OrgNumber:
    return OrgNumber.parse(text)


@lru_cache(maxsize=4096)
def _address(text: str, country: str) -> PostalAddress:
    return PostalAddress.from_text(text, country)


@lru_cache(maxsize=256)
def _bank_account(text: str) -> BankAccount:
    return BankAccount.parse(text)


def _customer_of(invoice: Invoice, categories: frozenset[VatCategory], where: str) -> Customer:
    party = invoice.bill_to
    if party.reference is None:
        passed = (
            "set it on the customer's account (app.accounts.update(..., buyer_reference=...)), which"
            " the billing run puts on the invoices of its subscriptions"
            if invoice.subscription_id is not None
            else "pass Party(reference=...) when issuing"
        )
        raise EInvoiceError(
            f"{where} has no buyer's reference, which an e-invoice must quote as BuyerReference"
            " (PEPPOL-EN16931-R003): the host must collect the buyer's reference (a person, department"
            f" or order number) and {passed}"
        )
    if party.org_number is None:
        raise EInvoiceError(
            f"{where} is billed to {party.name!r} without an org number, which is the buyer's Peppol"
            " address: the host must collect it and pass Party(org_number=...) when issuing"
        )
    try:
        org = _org_number(party.org_number)
    except InvalidInput:
        raise EInvoiceError(
            f"{where}: the buyer's org number {party.org_number!r} is not a Norwegian or Swedish one,"
            " so it has no Peppol address tenantbill can state (schemes 0192 and 0007)"
        ) from None
    country = party.country or invoice.seller.country
    needs_vat_id = VatCategory.AE in categories or VatCategory.K in categories
    return _customer(party.name, party.address, org, country, needs_vat_id, party.reference)


@lru_cache(maxsize=4096)
def _customer(
    name: str, address: str, org: OrgNumber, country: str, needs_vat_id: bool, reference: str
) -> Customer:
    return Customer(
        name=name,
        address=_address(address, country),
        org_number=org,
        # Reverse charge (AE) and intra-EU supplies (K) state the buyer's VAT id: a buyer
        # liable for the VAT is registered, and its VAT id is made from its org number.
        vat_id=_vat_id(org) if needs_vat_id else None,
        reference=reference,
    )


def _vat_id(org: OrgNumber) -> str:
    return f"NO{org.value}MVA" if org.country == "NO" else f"SE{org.value}01"


def _payment_of(invoice: Invoice, where: str) -> Payment:
    account = invoice.seller.bank_account
    if account is None:
        raise EInvoiceError(
            f"{where} was issued without the seller's bank account, which an e-invoice states for"
            " payment: set the account's bank_account (app.accounts.update) before issuing e-invoices"
        )
    return Payment(_bank_account(account), kid=invoice.kid)


def _exchange_rate_of(
    invoice: Invoice, supplier: Supplier, categories: frozenset[VatCategory], where: str
) -> Decimal | None:
    """NOK per unit for a Norwegian seller's invoice in another currency, else None."""
    if invoice.currency == "NOK" or supplier.org_number.country != "NO":
        return None
    rate = invoice.tax_exchange_rate
    if rate is None and VatCategory.S in categories:
        raise EInvoiceError(
            f"{where} is in {invoice.currency} from a Norwegian seller, so its VAT must be stated in NOK"
            f" too: the host must pass InvoiceDraft(tax_exchange_rate=...) (NOK per {invoice.currency})"
            " when issuing"
        )
    return rate


def _credit_terms(invoice: Invoice) -> str:
    language = _LANGUAGES.get(invoice.locale.split("-")[0].split("_")[0].lower(), "en")
    return _CREDIT_TERMS[language, invoice.customer is not None]
