"""Getting paid: payments by invoice id or KID, invoice status, overdue invoices, search by status."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.kid import is_valid_kid, sequence_of
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp, Team

D = Decimal
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # invoices are due 14 days later: 2026-03-16


@pytest.fixture
def app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def team(factory: Factory) -> Team:
    return factory.team(org_number="923609016", bank_account="86011117947", kid="mod10")


def issue(
    seller: SignedUp | Team, net: str = "800", *, customer: str | None = None, currency: str | None = None
) -> tb.Invoice:
    """An invoice of ``net`` plus 25 % VAT (800 → 1000.00 to pay)."""
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=["kunde@example.com"]),
        lines=[tb.Line(description="Konsulenttimer", quantity=D(1), unit_price=D(net), vat_rate=D("0.25"))],
        customer=customer,
        currency=currency,
    )
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, draft)


def pay(seller: SignedUp | Team, amount: str, **target: str) -> tb.Payment:
    return seller.app.payments.register(
        seller.owner.id, seller.account.id, amount=D(amount), paid_on=date(2026, 3, 10), **target
    )


def current(seller: SignedUp | Team, invoice: tb.Invoice) -> tb.Invoice:
    return seller.app.invoices.get(seller.owner.id, invoice.id)


# Status


def test_an_invoice_goes_from_open_through_partly_paid_to_paid(team: Team) -> None:
    invoice = issue(team)
    assert (invoice.status, invoice.outstanding, invoice.paid) == (tb.InvoiceStatus.OPEN, D("1000.00"), D(0))

    pay(team, "400", invoice_id=invoice.id)
    partly = current(team, invoice)
    assert (partly.status, partly.outstanding, partly.paid) == (
        tb.InvoiceStatus.PARTIALLY_PAID,
        D("600.00"),
        D("400"),
    )

    pay(team, "600.00", invoice_id=invoice.id)
    paid = current(team, invoice)
    assert (paid.status, paid.outstanding) == (tb.InvoiceStatus.PAID, D(0))


def test_a_payment_never_changes_the_invoices_amounts(team: Team) -> None:
    invoice = issue(team)
    pay(team, "1000", invoice_id=invoice.id)
    after = current(team, invoice)
    assert (after.total, after.amount_due, after.net_total, after.vat_total, after.lines) == (
        invoice.total,
        invoice.amount_due,
        invoice.net_total,
        invoice.vat_total,
        invoice.lines,
    )


def test_payments_are_listed_per_invoice_and_make_events(team: Team) -> None:
    invoice = issue(team)
    first = pay(team, "250", invoice_id=invoice.id, reference="BANK-1")
    second = pay(team, "750", invoice_id=invoice.id, reference="BANK-2")

    assert team.app.payments.of_invoice(team.billing.id, invoice.id) == [first, second]
    kinds = [event.type for event in team.app.events.read()]
    assert kinds.count("payment.registered") == 2
    assert kinds.count("invoice.paid") == 1
    paid = next(e for e in team.app.events.read() if e.type == "invoice.paid")
    assert paid.data["invoice_id"] == invoice.id


def test_an_overpayment_goes_to_the_customers_balance(factory: Factory) -> None:
    seller = factory.account()
    invoice = issue(seller, customer="kunde-42")

    payment = pay(seller, "1200", invoice_id=invoice.id)

    assert (payment.applied, payment.to_balance, payment.unapplied) == (D("1000.00"), D("200.00"), D(0))
    assert seller.app.invoices.balance(seller.owner.id, seller.account.id, "kunde-42") == D("200.00")
    assert issue(seller, customer="kunde-42").balance_applied == D("200.00")


def test_an_overpayment_without_a_customer_key_stays_unapplied_on_the_payment(team: Team) -> None:
    invoice = issue(team)
    payment = pay(team, "1100", invoice_id=invoice.id)
    assert (payment.applied, payment.to_balance, payment.unapplied) == (D("1000.00"), D(0), D("100.00"))
    assert current(team, invoice).status is tb.InvoiceStatus.PAID


def test_the_same_bank_reference_is_recorded_once(team: Team) -> None:
    invoice = issue(team)
    first = pay(team, "400", invoice_id=invoice.id, reference="NETS 2026-03-10 0001")
    again = pay(team, "400", invoice_id=invoice.id, reference="NETS 2026-03-10 0001")

    assert again == first
    assert current(team, invoice).paid == D("400")
    assert len(team.app.payments.of_invoice(team.owner.id, invoice.id)) == 1


def test_a_fully_credited_invoice_is_credited_and_not_due(team: Team) -> None:
    invoice = issue(team)
    team.app.invoices.credit(team.owner.id, invoice.id, reason="Feil kunde")
    credited = current(team, invoice)
    assert (credited.status, credited.outstanding) == (tb.InvoiceStatus.CREDITED, D(0))
    assert team.app.invoices.overdue(team.owner.id, team.account.id, as_of=date(2026, 6, 1)).items == ()


def test_a_partial_credit_lowers_what_is_due(team: Team) -> None:
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"),
        lines=[
            tb.Line(description="A", quantity=D(1), unit_price=D("600"), vat_rate=D("0.25")),
            tb.Line(description="B", quantity=D(1), unit_price=D("200"), vat_rate=D("0.25")),
        ],
    )
    invoice = team.app.invoices.issue(team.owner.id, team.account.id, draft)
    team.app.invoices.credit(team.owner.id, invoice.id, reason="B ble ikke levert", lines=[1])
    after = current(team, invoice)
    assert (after.status, after.outstanding) == (tb.InvoiceStatus.OPEN, D("750.00"))
    pay(team, "750", invoice_id=invoice.id)
    assert current(team, invoice).status is tb.InvoiceStatus.PAID


# KID


@pytest.mark.parametrize("method", ["mod10", "mod11", "ocr"])
def test_an_invoice_carries_a_valid_kid_and_a_payment_finds_it_by_kid(factory: Factory, method: str) -> None:
    seller = factory.account(kid=method)
    first, second = issue(seller), issue(seller)
    assert first.kid is not None
    assert second.kid is not None
    assert first.kid != second.kid
    assert is_valid_kid(first.kid, method)  # type: ignore[arg-type]
    assert sequence_of(second.kid, method) == second.sequence

    payment = pay(seller, "1000", kid=second.kid)

    assert (payment.invoice_id, payment.kid) == (second.id, second.kid)
    assert current(seller, second).status is tb.InvoiceStatus.PAID
    assert current(seller, first).status is tb.InvoiceStatus.OPEN


def test_an_account_without_kid_makes_none_and_refuses_payments_by_kid(factory: Factory) -> None:
    seller = factory.account()
    invoice = issue(seller)
    assert invoice.kid is None
    with pytest.raises(tb.InvalidInput, match="KID"):
        pay(seller, "100", kid="0000010000018")


def test_a_kid_that_names_no_invoice_is_not_found(team: Team) -> None:
    invoice = issue(team)
    assert invoice.kid is not None
    unknown = invoice.kid[:-1] + str((int(invoice.kid[-1]) + 1) % 10)  # a wrong check digit
    with pytest.raises(tb.NotFound):
        pay(team, "100", kid=unknown)
    with pytest.raises(tb.NotFound):
        pay(team, "100", kid="0000009999995")  # a valid KID of a sequence never issued


def test_a_kid_of_another_account_is_not_found_here(factory: Factory, team: Team) -> None:
    other = factory.account(kid="mod10")
    theirs = issue(other)
    mine = issue(team)
    assert theirs.kid == mine.kid  # the same customer part and sequence: unique per account only
    pay(team, "1000", kid=theirs.kid or "")
    assert current(team, mine).status is tb.InvoiceStatus.PAID
    assert current(other, theirs).status is tb.InvoiceStatus.OPEN


def test_credit_notes_have_no_kid(team: Team) -> None:
    note = team.app.invoices.credit(team.owner.id, issue(team).id, reason="Feil")
    assert note.kid is None


@settings(max_examples=40, deadline=None)
@given(method=st.sampled_from(["mod10", "mod11", "ocr"]), sequence=st.integers(1, 10**9))
def test_a_kid_gives_back_the_sequence_it_was_made_from(method: str, sequence: int) -> None:
    from tenantbill.domain.kid import invoice_kid

    kid = invoice_kid(method, "kunde-1", sequence)
    assert 2 <= len(kid) <= 25
    assert sequence_of(kid, method) == sequence


# Bad input and permissions


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"amount": D(0)}, tb.InvalidInput),
        ({"amount": D("-5")}, tb.InvalidInput),
        ({"amount": 12.5}, tb.InvalidInput),
        ({"amount": "1e30"}, tb.InvalidInput),
        ({"paid_on": datetime(2026, 3, 10, tzinfo=UTC)}, tb.InvalidInput),
        ({"paid_on": "2026-03-10"}, tb.InvalidInput),
        ({"reference": "a\r\nBcc: x@example.com"}, tb.InvalidInput),
        ({"reference": "\x00"}, tb.InvalidInput),
        ({"invoice_id": None}, tb.InvalidInput),
        ({"kid": "123"}, tb.InvalidInput),
    ],
)
def test_bad_payments_are_refused_and_change_nothing(
    team: Team, kwargs: dict[str, object], error: type[Exception]
) -> None:
    invoice = issue(team)
    call: dict[str, object] = {
        "amount": D(100),
        "paid_on": date(2026, 3, 10),
        "invoice_id": invoice.id,
        **kwargs,
    }
    with pytest.raises(error):
        team.app.payments.register(team.owner.id, team.account.id, **call)  # type: ignore[arg-type]
    assert current(team, invoice).paid == D(0)
    assert team.app.payments.of_invoice(team.owner.id, invoice.id) == []


def test_a_credit_note_takes_no_payment(team: Team) -> None:
    note = team.app.invoices.credit(team.owner.id, issue(team).id, reason="Feil")
    with pytest.raises(tb.InvalidInput, match="credit note"):
        pay(team, "100", invoice_id=note.id)


@pytest.mark.parametrize("role", [tb.Role.OWNER, tb.Role.MEMBER, tb.Role.BILLING])
def test_every_member_may_register_payments(team: Team, role: tb.Role) -> None:
    invoice = issue(team)
    user = team.user(role)
    team.app.payments.register(
        user.id, team.account.id, amount=D(10), paid_on=date(2026, 3, 10), invoice_id=invoice.id
    )
    assert current(team, invoice).paid == D(10)


def test_strangers_and_other_accounts_cannot_pay_or_see_payments(factory: Factory, team: Team) -> None:
    invoice = issue(team)
    stranger = factory.account()
    with pytest.raises(tb.PermissionDenied):
        stranger.app.payments.register(
            stranger.owner.id, team.account.id, amount=D(10), paid_on=date(2026, 3, 10), invoice_id=invoice.id
        )
    with pytest.raises(tb.PermissionDenied):  # their own account, someone else's invoice id
        stranger.app.payments.register(
            stranger.owner.id,
            stranger.account.id,
            amount=D(10),
            paid_on=date(2026, 3, 10),
            invoice_id=invoice.id,
        )
    with pytest.raises(tb.PermissionDenied):
        stranger.app.payments.of_invoice(stranger.owner.id, invoice.id)
    assert current(team, invoice).paid == D(0)


# Overdue and search


def test_overdue_is_judged_on_the_accounts_local_date(team: Team) -> None:
    invoice = issue(team)  # due 2026-03-16
    overdue = team.app.invoices.overdue
    assert overdue(team.owner.id, team.account.id, as_of=date(2026, 3, 16)).items == ()
    assert overdue(team.owner.id, team.account.id, as_of=date(2026, 3, 17)).items == (current(team, invoice),)


def test_overdue_defaults_to_today_in_the_accounts_time_zone(store: Store, factory: Factory) -> None:
    seller = factory.account()
    issue(seller)  # due 2026-03-16
    # 23:30 UTC on the 16th is already the 17th in Oslo.
    late = tb.Tenantbill(
        store=store, mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 3, 16, 23, 30, tzinfo=UTC))
    )
    assert len(late.invoices.overdue(seller.owner.id, seller.account.id).items) == 1
    early = tb.Tenantbill(
        store=store, mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 3, 16, 22, 30, tzinfo=UTC))
    )
    assert early.invoices.overdue(seller.owner.id, seller.account.id).items == ()


def test_paid_and_credited_invoices_and_credit_notes_are_never_overdue(team: Team) -> None:
    paid, credited, open_ = issue(team), issue(team), issue(team)
    pay(team, "1000", invoice_id=paid.id)
    team.app.invoices.credit(team.owner.id, credited.id, reason="Feil")
    found = team.app.invoices.overdue(team.owner.id, team.account.id, as_of=date(2026, 4, 1)).items
    assert [invoice.id for invoice in found] == [open_.id]


def test_overdue_pages_follow_the_due_date(team: Team) -> None:
    issued = [issue(team) for _ in range(5)]
    pages, cursor = [], None
    while True:
        page = team.app.invoices.overdue(
            team.owner.id, team.account.id, as_of=date(2026, 4, 1), limit=2, cursor=cursor
        )
        pages.append(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(items) for items in pages] == [2, 2, 1]
    assert sorted(i.id for items in pages for i in items) == sorted(i.id for i in issued)
    with pytest.raises(tb.InvalidInput):
        team.app.invoices.overdue(team.owner.id, team.account.id, cursor="i1.bm9wZQ")


def test_search_filters_by_status(store: Store, team: Team) -> None:
    open_, partly, paid, credited = issue(team), issue(team), issue(team), issue(team)
    pay(team, "10", invoice_id=partly.id)
    pay(team, "1000", invoice_id=paid.id)
    note = team.app.invoices.credit(team.owner.id, credited.id, reason="Feil")

    def ids(status: object) -> set[str]:
        page = team.app.invoices.search(team.owner.id, team.account.id, status=status)  # type: ignore[arg-type]
        return {invoice.id for invoice in page.items}

    assert ids(tb.InvoiceStatus.OPEN) == {open_.id}
    assert ids("partially_paid") == {partly.id}
    assert ids(tb.InvoiceStatus.PAID) == {paid.id}
    assert ids("credited") == {credited.id, note.id}
    assert ids("overdue") == set()
    later = tb.Tenantbill(
        store=store, mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 4, 1, tzinfo=UTC))
    )
    page = later.invoices.search(team.owner.id, team.account.id, status="overdue")
    assert {invoice.id for invoice in page.items} == {open_.id, partly.id}
    with pytest.raises(tb.InvalidInput, match="status"):
        team.app.invoices.search(team.owner.id, team.account.id, status="unpaid")


def test_a_kid_still_finds_its_invoice_after_the_account_changes_its_kid_method(factory: Factory) -> None:
    seller = factory.account(kid="mod10")
    before = issue(seller)
    seller.app.accounts.update(seller.owner.id, seller.account.id, kid="mod11")
    after = issue(seller)
    assert before.kid is not None
    assert after.kid is not None
    assert is_valid_kid(after.kid, "mod11")
    pay(seller, "1000", kid=before.kid)
    pay(seller, "1000", kid=after.kid)
    assert current(seller, before).status is current(seller, after).status is tb.InvoiceStatus.PAID


def test_a_page_of_overdue_invoices_is_a_sequence_of_them(team: Team) -> None:
    issued = [issue(team) for _ in range(3)]
    page = team.app.invoices.overdue(team.owner.id, team.account.id, as_of=date(2026, 4, 1))
    assert len(page) == 3
    assert [invoice.id for invoice in page] == [invoice.id for invoice in page.items]
    assert page[0].id in {invoice.id for invoice in issued}
