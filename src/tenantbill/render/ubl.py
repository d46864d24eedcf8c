"""EHF 3.0 / Peppol BIS Billing 3.0 UBL from an :class:`~tenantbill.domain.einvoice.EDocument`.

The XML is built as an lxml tree, element by element in the order the UBL 2.1
schema requires, so user text is always escaped as data. Nothing is judged
here: the ``EDocument`` already holds only what the rules accept. Optional
elements without a value are left out, never written empty
(PEPPOL-EN16931-R008), and every amount has two decimals.

Which seller tax schemes are written:

* ``VAT`` with ``NO<org>MVA`` (or ``SE<org>01``) when the seller is
  VAT-registered, except on a document that is all out of scope of VAT
  (category O, BR-O-02);
* ``TAX`` with ``Foretaksregisteret`` for a Norwegian seller in the Register
  of Business Enterprises (:attr:`Supplier.in_business_register`, NO-R-002).

The parts that repeat from document to document (the header of one kind and
currency; a buyer's party of one shape; the payment means; a line of one VAT
category, rate, unit and currency; the VAT totals of one grouping; the
totals; an account's seller) are built once with lxml as templates, with
placeholder texts, and copied: a copy is made by libxml2 in one call, where
building the same elements one by one costs a Python call each. Every text
of a copy is then set from the document's own values, so the text is still
escaped by lxml as data.

The one exception is an attachment's base64, which is most of a document
with a PDF: it is joined into the serialized bytes (see :func:`_with_content`),
since its alphabet never needs escaping.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from lxml import etree

from tenantbill.domain.einvoice import (
    ORG_NUMBER_SCHEMES,
    Customer,
    DocumentLine,
    EDocument,
    PostalAddress,
    Supplier,
    VatCategory,
)
from tenantbill.domain.identity import OrgNumber

if TYPE_CHECKING:
    from lxml.etree import _Element

__all__ = ["CUSTOMIZATION_ID", "PROFILE_ID", "ubl"]

CUSTOMIZATION_ID: Final = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID: Final = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

_INVOICE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
_CREDIT_NOTE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
_CAC_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_CBC_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
_CAC: Final = "{" + _CAC_NS + "}"
_CBC: Final = "{" + _CBC_NS + "}"
_EMBEDDED_END: Final = b"</cbc:EmbeddedDocumentBinaryObject>"
_CREDIT_TRANSFER: Final = "30"
_CENT: Final = Decimal("0.01")
_sub: Final = etree.SubElement
_NSMAP: Final[dict[str | None, str]] = {"cac": _CAC_NS, "cbc": _CBC_NS}
# A copy of an element with its subtree, made by libxml2 in one call (lxml-stubs leave it out).
_copy: Final[Callable[[_Element], _Element]] = etree._Element.__copy__  # type: ignore[attr-defined]


def ubl(document: EDocument) -> bytes:
    """The document as UTF-8 UBL 2.1: an ``Invoice`` (type 380) or a ``CreditNote`` (type 381)."""
    credit = document.is_credit_note
    currency = document.currency
    due = None if credit or document.due_date is None else document.due_date.isoformat()
    note = document.note or None
    template, slots = _root(credit, due is not None, note is not None, currency, document.tax_currency)
    texts = (document.number, document.issue_date.isoformat(), due, note, document.buyer_reference)
    root = _filled(template, slots, [text for text in texts if text is not None])
    if document.invoice_period is not None:
        period = _cac(root, "InvoicePeriod")
        _cbc(period, "StartDate", document.invoice_period.start.isoformat())
        _cbc(period, "EndDate", document.invoice_period.last_day.isoformat())
    if document.credited_invoice is not None:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", document.credited_invoice.number)
        _cbc(reference, "IssueDate", document.credited_invoice.issue_date.isoformat())
    if document.attachment is not None:
        _attachment(root, document)
    root.append(_copy(_supplier_party(document.supplier, document.shows_seller_vat_id)))
    _customer(root, document.customer, not document.out_of_scope)
    if document.delivery_country is not None:
        location = _cac(_cac(root, "Delivery"), "DeliveryLocation")
        _country(_cac(location, "Address"), document.delivery_country)
    if document.payment is not None:
        _payment_means(root, document)
    if document.payment_terms is not None:
        _cbc(_cac(root, "PaymentTerms"), "Note", document.payment_terms)
    _tax_totals(root, document)
    _monetary_total(root, document)
    for line in document.lines:
        _line(root, line, currency, credit)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    if document.attachment is None:
        return xml
    return _with_content(xml, document.attachment.content)


def _cbc(parent: _Element, name: str, text: str, attributes: dict[str, str] | None = None) -> None:
    _sub(parent, _CBC + name, attributes).text = text


def _cac(parent: _Element, name: str) -> _Element:
    return _sub(parent, _CAC + name)


def _optional(parent: _Element, name: str, text: str | None) -> None:
    if text:
        _cbc(parent, name, text)


def _amount(parent: _Element, name: str, amount: Decimal, currency: str) -> None:
    _cbc(parent, name, f"{amount:.2f}", {"currencyID": currency})


def _decimal(value: Decimal) -> str:
    """A quantity, price or percent: two decimals when they hold it exactly, else all its digits."""
    cents = value.quantize(_CENT)
    if cents == value:
        return str(cents)  # exponent -2: the digits of f"{value:.2f}", at half the cost
    return f"{value.normalize():f}"


# Templates: built once, never changed, only copied (``__copy__`` copies the whole subtree).


def _template(name: str) -> _Element:
    """A ``cac`` element to build a template in, under a root that declares the prefixes.

    A copy appended to a document drops its own declarations of ``cac`` and
    ``cbc``, which the document's root makes.
    """
    return _cac(etree.Element(_CAC + "Templates", nsmap=_NSMAP), name)


def _slotted(template: _Element) -> tuple[_Element, tuple[int, ...]]:
    """*template* and the positions in its ``iter()`` (document order) of its empty texts.

    A template leaves empty exactly the texts that are set per document; an
    element without text has none (``None``), and every other text is given.
    """
    return template, tuple(index for index, element in enumerate(template.iter()) if element.text == "")


def _filled(template: _Element, slots: tuple[int, ...], texts: list[str]) -> _Element:
    """A copy of *template* with *texts* set, in document order, into its empty texts at *slots*."""
    element = _copy(template)
    elements = list(element.iter())
    for slot, text in zip(slots, texts, strict=True):
        elements[slot].text = text
    return element


@lru_cache(maxsize=64)
def _root(
    credit: bool, due: bool, note: bool, currency: str, tax_currency: str | None
) -> tuple[_Element, tuple[int, ...]]:
    """The root and the header up to BuyerReference; ID, dates, note and reference are set per document."""
    namespace = _CREDIT_NOTE_NS if credit else _INVOICE_NS
    root = etree.Element(
        "{" + namespace + "}" + ("CreditNote" if credit else "Invoice"),
        nsmap={None: namespace, **_NSMAP},
    )
    _cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    _cbc(root, "ProfileID", PROFILE_ID)
    _cbc(root, "ID", "")
    _cbc(root, "IssueDate", "")
    if credit:
        _cbc(root, "CreditNoteTypeCode", "381")
    else:
        if due:
            _cbc(root, "DueDate", "")
        _cbc(root, "InvoiceTypeCode", "380")
    if note:
        _cbc(root, "Note", "")
    _cbc(root, "DocumentCurrencyCode", currency)
    if tax_currency:
        _cbc(root, "TaxCurrencyCode", tax_currency)
    _cbc(root, "BuyerReference", "")
    return _slotted(root)


@lru_cache(maxsize=256)
def _line_template(
    credit: bool, currency: str, category: VatCategory, rate: Decimal, unit_code: str
) -> _Element:
    """An invoice or credit note line; the texts of ID, quantity, amount, name and price are set per line.

    They have no text node here, not even an empty one: setting a text then only adds one.
    """
    element = _template("CreditNoteLine" if credit else "InvoiceLine")
    _sub(element, _CBC + "ID")
    _sub(element, _CBC + ("CreditedQuantity" if credit else "InvoicedQuantity"), {"unitCode": unit_code})
    _sub(element, _CBC + "LineExtensionAmount", {"currencyID": currency})
    item = _cac(element, "Item")
    _sub(item, _CBC + "Name")
    _cbc(_cac(_tax_category(item, "ClassifiedTaxCategory", category, rate), "TaxScheme"), "ID", "VAT")
    _sub(_cac(element, "Price"), _CBC + "PriceAmount", {"currencyID": currency})
    return element


def _subtotal(
    parent: _Element, currency: str, category: VatCategory, rate: Decimal, has_reason: bool
) -> None:
    """A VAT subtotal; the texts of the two amounts and of the exemption reason are set per subtotal."""
    element = _cac(parent, "TaxSubtotal")
    _amount(element, "TaxableAmount", _CENT, currency)
    _amount(element, "TaxAmount", _CENT, currency)
    tax_category = _tax_category(element, "TaxCategory", category, rate)
    if has_reason:
        _cbc(tax_category, "TaxExemptionReason", "")
    _cbc(_cac(tax_category, "TaxScheme"), "ID", "VAT")


_TOTALS: Final = (
    "LineExtensionAmount",
    "TaxExclusiveAmount",
    "TaxInclusiveAmount",
    "PrepaidAmount",
    "PayableRoundingAmount",
    "PayableAmount",
)


@lru_cache(maxsize=64)
def _total_template(currency: str, has_prepaid: bool, has_rounding: bool) -> _Element:
    """LegalMonetaryTotal; the amounts are set per document, in the order of :data:`_TOTALS`."""
    element = _template("LegalMonetaryTotal")
    for name in _TOTALS:
        if (name != "PrepaidAmount" or has_prepaid) and (name != "PayableRoundingAmount" or has_rounding):
            _amount(element, name, _CENT, currency)
    return element


@lru_cache(maxsize=256)
def _tax_total_template(currency: str, groups: tuple[tuple[VatCategory, Decimal, bool], ...]) -> _Element:
    """TaxTotal with a subtotal per (category, rate, whether it gives a reason): copied in one call."""
    element = _template("TaxTotal")
    _amount(element, "TaxAmount", _CENT, currency)
    for category, rate, has_reason in groups:
        _subtotal(element, currency, category, rate, has_reason)
    return element


@lru_cache(maxsize=64)
def _supplier_party(supplier: Supplier, show_vat_id: bool) -> _Element:
    """AccountingSupplierParty, complete: an account's invoices share their seller."""
    element = _template("AccountingSupplierParty")
    _supplier(element, supplier, show_vat_id)
    return element


# Parts


def _attachment(root: _Element, document: EDocument) -> None:
    attachment = document.attachment
    assert attachment is not None
    reference = _copy(_attachment_template(attachment.mime_code))
    root.append(reference)
    ident, holder = reference
    ident.text = document.number
    holder[0].set("filename", attachment.filename)


@lru_cache(maxsize=8)
def _attachment_template(mime_code: str) -> _Element:
    """AdditionalDocumentReference; its ID and the filename are set per document.

    The EmbeddedDocumentBinaryObject has an empty text, so that it is written
    as a start and an end tag, between which :func:`_with_content` puts the base64.
    """
    reference = _template("AdditionalDocumentReference")
    _sub(reference, _CBC + "ID")
    _cbc(
        _cac(reference, "Attachment"),
        "EmbeddedDocumentBinaryObject",
        "",
        {"mimeCode": mime_code, "filename": ""},
    )
    return reference


def _with_content(xml: bytes, content: bytes) -> bytes:
    """*xml* with the base64 of *content* put into its (empty) EmbeddedDocumentBinaryObject.

    The base64 of a PDF is most of the document: handed to lxml as text it
    would be checked, copied into the tree, scanned for characters to escape
    and copied again into the output. Its alphabet (``A-Z a-z 0-9 + / =``)
    needs no escaping, so it is joined into the serialized bytes instead,
    byte for byte what lxml would write. The end tag is found unambiguously:
    a document has one attachment, and ``<`` in any text or attribute value
    is written as ``&lt;``, so nothing else can look like the tag.
    """
    end = xml.index(_EMBEDDED_END)
    view = memoryview(xml)
    return b"".join((view[:end], binascii.b2a_base64(content, newline=False), view[end:]))


def _endpoint(party: _Element, scheme: str, identifier: str) -> None:
    _cbc(party, "EndpointID", identifier, {"schemeID": scheme})


def _address(party: _Element, address: PostalAddress) -> None:
    element = _cac(party, "PostalAddress")
    _optional(element, "StreetName", address.street)
    _optional(element, "AdditionalStreetName", address.additional_street)
    _optional(element, "CityName", address.city)
    _optional(element, "PostalZone", address.postal_zone)
    if address.line:
        _cbc(_cac(element, "AddressLine"), "Line", address.line)
    _country(element, address.country)


def _country(address: _Element, code: str) -> None:
    _cbc(_cac(address, "Country"), "IdentificationCode", code)


def _tax_scheme(party: _Element, company_id: str, scheme: str) -> None:
    element = _cac(party, "PartyTaxScheme")
    _cbc(element, "CompanyID", company_id)
    _cbc(_cac(element, "TaxScheme"), "ID", scheme)


def _legal_entity(party: _Element, name: str, org_number: OrgNumber | None) -> None:
    element = _cac(party, "PartyLegalEntity")
    _cbc(element, "RegistrationName", name)
    if org_number is not None:
        scheme = ORG_NUMBER_SCHEMES[org_number.country]
        _cbc(element, "CompanyID", org_number.value, {"schemeID": scheme})


def _supplier(parent: _Element, supplier: Supplier, show_vat_id: bool) -> None:
    party = _cac(parent, "Party")
    org = supplier.org_number
    _endpoint(party, ORG_NUMBER_SCHEMES[org.country], org.value)
    _address(party, supplier.address)
    if show_vat_id and supplier.vat_id is not None:
        _tax_scheme(party, supplier.vat_id, "VAT")
    if supplier.in_business_register:
        _tax_scheme(party, "Foretaksregisteret", "TAX")
    _legal_entity(party, supplier.name, org)


def _customer(root: _Element, customer: Customer, show_vat_id: bool) -> None:
    """AccountingCustomerParty, a copy of the template for its shape, its texts set in document order."""
    org, endpoint, address = customer.org_number, customer.endpoint, customer.address
    scheme: str | None
    identifier: str | None
    if endpoint is not None:
        scheme, identifier = endpoint.scheme, endpoint.identifier
    elif org is not None:
        scheme, identifier = ORG_NUMBER_SCHEMES[org.country], org.value
    else:
        scheme = identifier = None
    vat_id = customer.vat_id if show_vat_id else None
    legal_scheme = None if org is None else ORG_NUMBER_SCHEMES[org.country]
    texts = (
        identifier,
        address.street or None,
        address.additional_street or None,
        address.city or None,
        address.postal_zone or None,
        address.line or None,
        vat_id,
        customer.name,
        None if org is None else org.value,
    )
    template, slots = _customer_template(
        scheme, *(text is not None for text in texts[1:7]), address.country, legal_scheme
    )
    root.append(_filled(template, slots, [text for text in texts if text is not None]))


@lru_cache(maxsize=256)
def _customer_template(
    scheme: str | None,
    street: bool,
    additional_street: bool,
    city: bool,
    postal_zone: bool,
    line: bool,
    vat_id: bool,
    country: str,
    legal_scheme: str | None,
) -> tuple[_Element, tuple[int, ...]]:
    """AccountingCustomerParty with the elements a buyer of this shape has, and where its texts go.

    The positions are those in ``iter()`` (document order) of the elements
    whose text is set per document, left empty here: the endpoint, the
    address fields, the VAT id, the name and the org number, those present.
    """
    element = _template("AccountingCustomerParty")
    party = _cac(element, "Party")
    if scheme is not None:
        _endpoint(party, scheme, "")
    address = _cac(party, "PostalAddress")
    for name, present in (
        ("StreetName", street),
        ("AdditionalStreetName", additional_street),
        ("CityName", city),
        ("PostalZone", postal_zone),
    ):
        if present:
            _cbc(address, name, "")
    if line:
        _cbc(_cac(address, "AddressLine"), "Line", "")
    _country(address, country)
    if vat_id:
        _tax_scheme(party, "", "VAT")
    legal = _cac(party, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", "")
    if legal_scheme is not None:
        _cbc(legal, "CompanyID", "", {"schemeID": legal_scheme})
    return _slotted(element)


def _payment_means(root: _Element, document: EDocument) -> None:
    payment = document.payment
    assert payment is not None
    due_date = document.due_date  # a CreditNote has no DueDate: its payment means states it
    due = due_date.isoformat() if document.is_credit_note and due_date is not None else None
    kid = payment.kid or None
    template, slots = _payment_template(due is not None, kid is not None, payment.service_provider)
    texts = [text for text in (due, kid) if text is not None]
    root.append(_filled(template, slots, [*texts, payment.account_id]))


@lru_cache(maxsize=16)
def _payment_template(due: bool, kid: bool, provider: str | None) -> tuple[_Element, tuple[int, ...]]:
    """PaymentMeans: credit transfer; the due date, the KID and the account are set per document.

    A Swedish giro number names its giro (``SE:BANKGIRO``) as the account's
    FinancialInstitutionBranch, which follows the account's ID in UBL.
    """
    means = _template("PaymentMeans")
    _cbc(means, "PaymentMeansCode", _CREDIT_TRANSFER)
    if due:
        _cbc(means, "PaymentDueDate", "")
    if kid:
        _cbc(means, "PaymentID", "")
    account = _cac(means, "PayeeFinancialAccount")
    _cbc(account, "ID", "")
    if provider is not None:
        _cbc(_cac(account, "FinancialInstitutionBranch"), "ID", provider)
    return _slotted(means)


def _tax_category(parent: _Element, name: str, category: VatCategory, rate: Decimal) -> _Element:
    element = _cac(parent, name)
    _cbc(element, "ID", category.value)
    if category is not VatCategory.O:  # O has no rate at all (BR-O-05)
        _cbc(element, "Percent", _decimal(rate * 100))
    return element


def _tax_totals(root: _Element, document: EDocument) -> None:
    breakdown = document.vat_breakdown
    groups = tuple((group.category, group.rate, group.exemption_reason is not None) for group in breakdown)
    total = _copy(_tax_total_template(document.currency, groups))
    root.append(total)
    children = iter(total)
    next(children).text = f"{document.totals.tax:.2f}"
    for element, subtotal in zip(children, breakdown, strict=True):
        reason = subtotal.exemption_reason
        taxable, tax, category = element
        taxable.text = f"{subtotal.taxable_amount:.2f}"
        tax.text = f"{subtotal.tax_amount:.2f}"
        if reason is not None:
            category[-2].text = reason
    in_nok = document.tax_in_tax_currency
    if in_nok is not None and document.tax_currency is not None:
        _amount(_cac(root, "TaxTotal"), "TaxAmount", in_nok, document.tax_currency)


def _monetary_total(root: _Element, document: EDocument) -> None:
    totals = document.totals
    has_prepaid, has_rounding = bool(totals.prepaid), bool(totals.rounding)
    element = _copy(_total_template(document.currency, has_prepaid, has_rounding))
    root.append(element)
    amounts = [totals.line_extension, totals.tax_exclusive, totals.tax_inclusive]
    if has_prepaid:
        amounts.append(totals.prepaid)
    if has_rounding:
        amounts.append(totals.rounding)
    amounts.append(totals.payable)
    for child, amount in zip(element, amounts, strict=True):
        child.text = f"{amount:.2f}"


def _line(root: _Element, line: DocumentLine, currency: str, credit: bool) -> None:
    """An invoice or credit note line, a copy of the template for its kind, currency, VAT and unit."""
    template = _line_template(credit, currency, line.vat_category, line.vat_rate, line.unit_code)
    element = _copy(template)
    root.append(element)
    ident, quantity, amount, item, price = element
    ident.text = line.id
    quantity.text = _decimal(line.quantity)
    amount.text = f"{line.net_amount:.2f}"
    item[0].text = line.description
    price[0].text = _decimal(line.unit_price)
