"""Issuing invoices: amounts, VAT per rate, dates, validation, credit notes and who may see them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def app(store: Store, clock: FixedClock) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=clock)


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def seller(factory: Factory) -> SignedUp:
    return factory.account(name="Leverandør AS")


def line(description: str, quantity: str, unit_price: str, vat_rate: str = "0.25") -> tb.Line:
    return tb.Line(
        description=description, quantity=D(quantity), unit_price=D(unit_price), vat_rate=D(vat_rate)
    )


def draft(*lines: tb.Line, currency: str = "NOK", customer: str | None = None) -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", address="Storgata 1\n0155 Oslo"),
        lines=lines or (line("Konsulenttime", "1", "1000.00"),),
        currency=currency,
        customer=customer,
    )


def issue(seller: SignedUp, *lines: tb.Line, **kwargs: str | None) -> tb.Invoice:
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, draft(*lines, **kwargs))


# Amounts and VAT


def test_each_line_amount_is_quantity_times_unit_price_rounded_half_up(seller: SignedUp) -> None:
    invoice = issue(seller, line("Kaffe", "3", "33.33"), line("Te", "1.5", "0.15"))

    assert [ln.amount for ln in invoice.lines] == [D("99.99"), D("0.23")]


def test_vat_is_grouped_per_rate_and_rounded_once_per_rate(seller: SignedUp) -> None:
    invoice = issue(
        seller,
        line("Bok", "1", "199.00", "0"),
        line("Kaffe", "3", "33.33", "0.25"),
        line("Pose", "1", "0.02", "0.25"),
        line("Billett", "2", "0.05", "0.12"),
        line("Billett, barn", "1", "0.20", "0.12"),
        line("Mat", "1", "49.90", "0.15"),
        line("Avis", "1", "10.10", "0.06"),
        line("Bilag", "1.5", "0.15", "0.06"),
    )

    assert [(g.rate, g.base, g.vat) for g in invoice.vat] == [
        (D("0"), D("199.00"), D("0.00")),
        (D("0.06"), D("10.33"), D("0.62")),
        (D("0.12"), D("0.30"), D("0.04")),
        (D("0.15"), D("49.90"), D("7.49")),
        (D("0.25"), D("100.01"), D("25.00")),
    ]
    assert invoice.net_total == D("359.54")
    assert invoice.vat_total == D("33.15")
    assert invoice.total == D("392.69")
    assert invoice.amount_due == D("392.69")


def test_vat_on_the_rate_total_differs_from_the_sum_of_per_line_vat(seller: SignedUp) -> None:
    # Per line: 0.10 × 12 % = 0.012 → 0.01 and 0.20 × 12 % = 0.024 → 0.02, together 0.03.
    # Per rate, as the invoice must show it: 0.30 × 12 % = 0.036 → 0.04.
    invoice = issue(seller, line("A", "1", "0.10", "0.12"), line("B", "1", "0.20", "0.12"))

    assert invoice.vat_total == D("0.04")
    assert invoice.total == D("0.34")


def test_yen_amounts_round_to_whole_units(seller: SignedUp) -> None:
    invoice = issue(seller, line("Sushi", "3", "33.5", "0.10"), currency="JPY")

    assert invoice.currency == "JPY"
    assert str(invoice.lines[0].amount) == "101"
    assert str(invoice.vat_total) == "10"
    assert str(invoice.total) == "111"


# Dates


def test_the_issue_date_is_today_in_the_accounts_time_zone(factory: Factory, clock: FixedClock) -> None:
    oslo = factory.account(timezone="Europe/Oslo")
    london = factory.account(timezone="Europe/London")
    clock.set(datetime(2025, 12, 31, 23, 30, tzinfo=UTC))

    assert issue(oslo).issue_date == date(2026, 1, 1)
    assert issue(london).issue_date == date(2025, 12, 31)


def test_the_due_date_is_fourteen_days_after_issue_by_default(seller: SignedUp) -> None:
    invoice = issue(seller)

    assert invoice.issue_date == date(2026, 1, 15)
    assert invoice.due_date == date(2026, 1, 29)


def test_the_due_date_follows_the_accounts_payment_terms(factory: Factory) -> None:
    seller = factory.account(payment_terms_days=30)

    assert issue(seller).due_date == date(2026, 2, 14)


# What a draft must be


def test_an_invoice_needs_at_least_one_line() -> None:
    with pytest.raises(tb.InvalidInvoice, match="at least one line"):
        tb.InvoiceDraft(bill_to=tb.Party(name="Kunde AS"), lines=[])


@pytest.mark.parametrize("field", ["quantity", "unit_price", "vat_rate"])
def test_a_float_is_refused_wherever_an_amount_is_expected(field: str) -> None:
    values = {"quantity": D("1"), "unit_price": D("10"), "vat_rate": D("0.25"), field: 0.25}

    with pytest.raises(tb.InvalidInvoice, match="float"):
        tb.Line(description="Vare", **values)


@pytest.mark.parametrize("rate", ["1", "1.25", "25", "-0.01"])
def test_a_vat_rate_outside_zero_to_one_is_refused(rate: str) -> None:
    with pytest.raises(tb.InvalidInvoice, match="vat_rate"):
        line("Vare", "1", "10", rate)


def test_an_invoice_cannot_be_changed_once_issued(seller: SignedUp) -> None:
    invoice = issue(seller)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        invoice.total = D("0")  # type: ignore[misc]
    stored = seller.app.invoices.get(seller.owner.id, invoice.id)
    assert stored == invoice


# Credit notes


def test_a_full_credit_note_is_numbered_in_the_same_series_and_negates_the_invoice(
    seller: SignedUp,
) -> None:
    seller.app.invoices.configure_series(seller.owner.id, seller.account.id, prefix="F-", width=4)
    invoice = issue(seller, line("Vare", "2", "100.00", "0.25"), line("Frakt", "1", "49.00", "0"))

    note = seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Returnert")

    assert note.is_credit_note
    assert (note.sequence, note.number) == (invoice.sequence + 1, "F-0002")
    assert note.credits_invoice_id == invoice.id
    assert note.credits_number == "F-0001"
    assert (note.net_total, note.vat_total, note.total) == (D("-249.00"), D("-50.00"), D("-299.00"))
    assert [ln.amount for ln in note.lines] == [D("-200.00"), D("-49.00")]
    assert note.note == "Returnert"


def test_an_invoice_can_be_credited_in_full_only_once(seller: SignedUp) -> None:
    invoice = issue(seller)
    seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil pris")

    with pytest.raises(tb.InvalidInvoice, match="already fully credited"):
        seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil pris")
    # The refused credit note took no number.
    assert issue(seller).sequence == 3


def test_lines_can_be_credited_one_by_one_up_to_what_is_left(seller: SignedUp) -> None:
    credit = seller.app.invoices.credit
    invoice = issue(seller, line("A", "1", "100"), line("B", "1", "200"), line("C", "1", "300"))

    first = credit(seller.owner.id, invoice.id, reason="B returnert", lines=[1])
    with pytest.raises(tb.InvalidInvoice, match="already credited"):
        credit(seller.owner.id, invoice.id, reason="B igjen", lines=[1])
    rest = credit(seller.owner.id, invoice.id, reason="Resten")

    assert first.total == D("-250.00")
    assert [ln.description for ln in rest.lines] == ["A", "C"]
    assert rest.total == D("-500.00")
    with pytest.raises(tb.InvalidInvoice, match="already fully credited"):
        credit(seller.owner.id, invoice.id, reason="En gang til")


def test_crediting_every_line_one_by_one_cancels_the_invoice_exactly(seller: SignedUp) -> None:
    # The invoice's VAT is rounded on the rate's total (0.30 × 12 % = 0.04); credit notes of
    # single lines would each round on their own (0.01 + 0.02): the last one must take what is
    # left, or 0.01 of VAT stays charged on an invoice that is fully credited.
    invoice = issue(seller, line("A", "1", "0.10", "0.12"), line("B", "1", "0.20", "0.12"))

    notes = [
        seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Retur", lines=[index])
        for index in (0, 1)
    ]

    assert sum(note.vat_total for note in notes) == -invoice.vat_total
    assert sum(note.total for note in notes) == -invoice.total


def test_a_credit_note_cannot_itself_be_credited(seller: SignedUp) -> None:
    note = seller.app.invoices.credit(seller.owner.id, issue(seller).id, reason="Feil")

    with pytest.raises(tb.InvalidInvoice, match="credit note"):
        seller.app.invoices.credit(seller.owner.id, note.id, reason="Feil igjen")


def test_a_credit_note_needs_a_reason(seller: SignedUp) -> None:
    with pytest.raises(tb.InvalidInvoice, match="reason"):
        seller.app.invoices.credit(seller.owner.id, issue(seller).id, reason="  ")


# Who may see and issue invoices


def test_a_billing_user_can_view_invoices_but_not_issue_or_credit_them(
    app: tb.Tenantbill, factory: Factory
) -> None:
    team = factory.team()
    invoice = app.invoices.issue(team.owner.id, team.account.id, draft())

    assert app.invoices.get(team.billing.id, invoice.id) == invoice
    assert list(app.invoices.of_account(team.billing.id, team.account.id)) == [invoice]
    with pytest.raises(tb.PermissionDenied):
        app.invoices.issue(team.billing.id, team.account.id, draft())
    with pytest.raises(tb.PermissionDenied):
        app.invoices.credit(team.billing.id, invoice.id, reason="Nei")
    assert [i.sequence for i in app.invoices.of_account(team.owner.id, team.account.id)] == [1]


def test_a_member_with_full_access_can_issue_invoices(app: tb.Tenantbill, factory: Factory) -> None:
    team = factory.team()

    invoice = app.invoices.issue(team.member.id, team.account.id, draft())

    assert invoice.sequence == 1


def test_a_user_of_another_account_cannot_see_or_issue_its_invoices(
    app: tb.Tenantbill, factory: Factory, seller: SignedUp
) -> None:
    invoice = issue(seller)
    outsider = factory.account(name="Annen AS").owner

    with pytest.raises(tb.PermissionDenied):
        app.invoices.get(outsider.id, invoice.id)
    with pytest.raises(tb.PermissionDenied):
        list(app.invoices.of_account(outsider.id, seller.account.id))
    with pytest.raises(tb.PermissionDenied):
        app.invoices.issue(outsider.id, seller.account.id, draft())


def test_members_of_the_billed_customer_account_can_see_their_invoice(
    app: tb.Tenantbill, factory: Factory, seller: SignedUp
) -> None:
    customer = factory.account(name="Kunde AS")
    bookkeeper = customer.member(tb.Role.BILLING)
    plan = tb.Plan(code="pro", name="Pro", price=D("300"), vat_rate=D("0.25"))
    # Subscribing to the seller's plan is the customer's consent to be billed by it.
    app.subscriptions.start(
        customer.owner.id, seller.account.id, customer.account.id, plan, anchor=date(2026, 1, 1)
    )
    invoice = issue(seller, customer=customer.account.id)

    assert app.invoices.get(customer.owner.id, invoice.id) == invoice
    assert app.invoices.get(bookkeeper.id, invoice.id) == invoice
    with pytest.raises(tb.PermissionDenied):
        list(app.invoices.of_account(customer.owner.id, seller.account.id))
    with pytest.raises(tb.PermissionDenied):
        app.invoices.credit(customer.owner.id, invoice.id, reason="Vil ikke betale")


def test_an_unknown_invoice_is_denied_like_another_accounts(seller: SignedUp, factory: Factory) -> None:
    other = factory.account(name="Annen AS")
    theirs = issue(other)

    with pytest.raises(tb.PermissionDenied) as unknown:
        seller.app.invoices.get(seller.owner.id, "no-such-invoice")
    with pytest.raises(tb.PermissionDenied) as foreign:
        seller.app.invoices.get(seller.owner.id, theirs.id)

    # Same answer, whether the id exists or not (only the id itself differs).
    assert str(unknown.value).replace("'no-such-invoice'", "ID") == str(foreign.value).replace(
        repr(theirs.id), "ID"
    )


def test_a_draft_without_a_currency_is_issued_in_the_accounts(factory: Factory) -> None:
    yen = factory.account(name="Tokyo KK", currency="JPY")
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde"),
        lines=[tb.Line(description="Kaffe", quantity=D(3), unit_price=D("333.5"), vat_rate=D("0.1"))],
    )

    invoice = yen.app.invoices.issue(yen.owner.id, yen.account.id, draft)
    explicit = yen.app.invoices.issue(yen.owner.id, yen.account.id, attrs.evolve(draft, currency="NOK"))

    assert draft.currency is None
    assert (invoice.currency, invoice.net_total, invoice.vat_total) == ("JPY", D("1001"), D("100"))
    assert (explicit.currency, explicit.net_total) == ("NOK", D("1000.50"))


def _every_field_set() -> tb.Invoice:
    """An invoice whose every field differs from its default (and from the others)."""
    from tenantbill.domain.invoices import InvoiceKind, InvoiceLine, Seller, VatGroup

    return tb.Invoice(
        id="inv-1",
        account_id="acc-1",
        sequence=0,
        number="",
        kind=InvoiceKind.CREDIT_NOTE,
        issued_at=NOW,
        issue_date=date(2026, 1, 15),
        due_date=date(2026, 1, 29),
        seller=Seller("Leverandør AS", "Gata 2", "999888777", "1234.56.78903", True, b"\x89PNG"),
        bill_to=tb.Party(name="Kunde AS", address="Storgata 1", org_number="123", emails=["a@example.com"]),
        currency="NOK",
        locale="nb_NO",
        lines=(InvoiceLine("Time", D(-2), D("100.00"), D("0.25"), D("-200.00")),),
        vat=(VatGroup(D("0.25"), D("-200.00"), D("-50.00")),),
        net_total=D("-200.00"),
        vat_total=D("-50.00"),
        total=D("-250.00"),
        balance_applied=D("1.00"),
        amount_due=D("-251.00"),
        period=tb.Period(start=date(2026, 1, 1), end=date(2026, 2, 1)),
        cycle=tb.BillingCycle.every(months=3),
        customer="cust-1",
        credits_invoice_id="inv-0",
        credits_number="F-1",
        credited_lines=(0,),
        note="Takk",
        subscription_id="sub-1",
    )


def test_numbered_carries_every_field_over() -> None:
    invoice = _every_field_set()
    assert invoice.numbered(7, "F-7") == attrs.evolve(invoice, sequence=7, number="F-7")


def test_the_memory_store_gives_back_every_field_of_an_invoice() -> None:
    from tenantbill.memory import _pack_invoice, _unpack_invoice

    invoice = _every_field_set().numbered(7, "F-7")
    assert _unpack_invoice(_pack_invoice(invoice)) == invoice
    assert _unpack_invoice(_pack_invoice(attrs.evolve(invoice, period=None, cycle=None))) == attrs.evolve(
        invoice, period=None, cycle=None
    )


def test_a_stored_party_has_every_field_of_a_party() -> None:
    from tenantbill.domain.invoices import stored_party

    fields = ("Kunde AS", "Gate 1", "923609016", ("a@kunde.no",), "PO 1", "SE")
    assert stored_party(*fields) == tb.Party(*fields)
    assert [f.name for f in attrs.fields(tb.Party)] == [
        "name",
        "address",
        "org_number",
        "emails",
        "reference",
        "country",
    ]
