"""A customer's balance: prepayments and goodwill credit, applied automatically to the next invoices."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def seller(factory: Factory) -> SignedUp:
    return factory.account(name="Plattform AS")


@pytest.fixture
def customer(factory: Factory) -> SignedUp:
    return factory.account(name="Kunde AS")


def issue(seller: SignedUp, customer: SignedUp, net: str, *, currency: str = "NOK") -> tb.Invoice:
    """An invoice to the customer of ``net`` plus 25 % VAT."""
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name=customer.account.name),
        lines=[tb.Line(description="Abonnement", quantity=D(1), unit_price=D(net), vat_rate=D("0.25"))],
        currency=currency,
        customer=customer.account.id,
    )
    return as_platform(seller).invoices.issue(seller.owner.id, seller.account.id, draft)


def as_platform(seller: SignedUp) -> tb.Tenantbill:
    """The seller's app with the seller as the platform account, which may bill every account."""
    app = seller.app
    return tb.Tenantbill(
        store=app.store, mailer=app.mailer, clock=app.clock, platform_account_id=seller.account.id
    )


def add_credit(seller: SignedUp, customer: SignedUp, amount: str, **kwargs: str) -> tb.LedgerEntry:
    return seller.app.invoices.add_credit(
        seller.owner.id, seller.account.id, customer.account.id, D(amount), **kwargs
    )


def balance(seller: SignedUp, customer: SignedUp, currency: str | None = None) -> Decimal:
    return seller.app.invoices.balance(
        seller.owner.id, seller.account.id, customer.account.id, currency=currency
    )


def test_a_prepayment_is_applied_to_the_next_invoice(seller: SignedUp, customer: SignedUp) -> None:
    add_credit(seller, customer, "100.00")

    invoice = issue(seller, customer, "300")

    assert invoice.total == D("375.00")
    assert invoice.balance_applied == D("100.00")
    assert invoice.amount_due == D("275.00")
    assert balance(seller, customer) == D("0")


def test_credit_larger_than_the_invoice_leaves_nothing_to_pay_and_carries_over(
    seller: SignedUp, customer: SignedUp
) -> None:
    add_credit(seller, customer, "500.00", kind="goodwill", memo="Beklager nedetiden")

    first = issue(seller, customer, "300")
    second = issue(seller, customer, "300")
    third = issue(seller, customer, "300")

    assert (first.balance_applied, first.amount_due) == (D("375.00"), D("0.00"))
    assert (second.balance_applied, second.amount_due) == (D("125.00"), D("250.00"))
    assert (third.balance_applied, third.amount_due) == (D("0"), D("375.00"))
    assert balance(seller, customer) == D("0")


def test_the_ledger_lists_every_movement_in_order(seller: SignedUp, customer: SignedUp) -> None:
    add_credit(seller, customer, "400.00", kind="prepayment")
    first = issue(seller, customer, "200")
    add_credit(seller, customer, "50.00", kind="goodwill")
    second = issue(seller, customer, "200")

    entries = seller.app.invoices.ledger(seller.owner.id, seller.account.id, customer.account.id)

    assert [(e.kind, e.amount, e.invoice_id) for e in entries] == [
        ("prepayment", D("400.00"), None),
        ("applied", D("-250.00"), first.id),
        ("goodwill", D("50.00"), None),
        ("applied", D("-200.00"), second.id),
    ]
    assert balance(seller, customer) == D("0")


def test_a_full_credit_note_of_a_paid_invoice_puts_the_invoice_amount_on_the_balance(
    seller: SignedUp, customer: SignedUp
) -> None:
    invoice = issue(seller, customer, "300")
    seller.app.payments.register(
        seller.owner.id,
        seller.account.id,
        amount=D("375.00"),
        paid_on=date(2026, 1, 20),
        invoice_id=invoice.id,
    )

    note = seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil plan")

    assert note.total == D("-375.00")
    assert balance(seller, customer) == D("375.00")
    assert issue(seller, customer, "100").balance_applied == D("125.00")
    assert balance(seller, customer) == D("250.00")


def test_a_credit_note_of_an_unpaid_invoice_settles_it_and_gives_no_credit(
    seller: SignedUp, customer: SignedUp
) -> None:
    invoice = issue(seller, customer, "300")

    seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil plan")

    assert balance(seller, customer) == D("0")
    credited = seller.app.invoices.get(seller.owner.id, invoice.id)
    assert credited.status is tb.InvoiceStatus.CREDITED
    assert credited.outstanding == D("0")


def test_a_credit_note_gives_back_only_what_was_paid_beyond_what_is_left(
    seller: SignedUp, customer: SignedUp
) -> None:
    invoice = issue(seller, customer, "800")  # 1000.00 with VAT
    seller.app.payments.register(
        seller.owner.id,
        seller.account.id,
        amount=D("600.00"),
        paid_on=date(2026, 1, 20),
        invoice_id=invoice.id,
    )

    seller.app.invoices.credit(seller.owner.id, invoice.id, reason="Feil plan")

    # 400.00 was still due: the credit settles it, and the 600.00 paid goes on the balance.
    assert balance(seller, customer) == D("600.00")


def test_the_balance_is_kept_per_currency(seller: SignedUp, customer: SignedUp) -> None:
    add_credit(seller, customer, "40.00", currency="EUR")

    in_kroner = issue(seller, customer, "100")
    in_euro = issue(seller, customer, "100", currency="EUR")

    assert in_kroner.balance_applied == D("0")
    assert (in_euro.balance_applied, in_euro.amount_due) == (D("40.00"), D("85.00"))
    assert balance(seller, customer, "EUR") == D("0")
    assert balance(seller, customer, "NOK") == D("0")


def test_an_invoice_without_a_customer_key_does_not_touch_any_balance(
    seller: SignedUp, customer: SignedUp
) -> None:
    add_credit(seller, customer, "100.00")

    invoice = seller.app.invoices.issue(
        seller.owner.id,
        seller.account.id,
        tb.InvoiceDraft(
            bill_to=tb.Party(name=customer.account.name),
            lines=[tb.Line(description="Vare", quantity=D(1), unit_price=D(100))],
        ),
    )

    assert (invoice.balance_applied, invoice.amount_due) == (D("0"), D("100.00"))
    assert balance(seller, customer) == D("100.00")


@pytest.mark.parametrize("amount", ["0", "-10"])
def test_credit_must_be_a_positive_amount(seller: SignedUp, customer: SignedUp, amount: str) -> None:
    with pytest.raises(tb.InvalidInput):
        add_credit(seller, customer, amount)
    assert seller.app.invoices.ledger(seller.owner.id, seller.account.id, customer.account.id) == []


def test_a_billing_user_cannot_give_credit(app: tb.Tenantbill, factory: Factory, customer: SignedUp) -> None:
    team = factory.team()

    with pytest.raises(tb.PermissionDenied):
        app.invoices.add_credit(team.billing.id, team.account.id, customer.account.id, D("100"))


def test_the_billing_run_applies_the_customers_credit(
    app: tb.Tenantbill, seller: SignedUp, customer: SignedUp
) -> None:
    plan = tb.Plan(code="pro", name="Pro", price=D("300"), vat_rate=D("0.25"))
    app.subscriptions.start(
        customer.owner.id, seller.account.id, customer.account.id, plan, anchor=date(2026, 1, 1)
    )
    add_credit(seller, customer, "100.00")

    app.billing.run(as_of=date(2026, 2, 1))

    invoices = list(app.invoices.of_account(seller.owner.id, seller.account.id))
    assert [(i.balance_applied, i.amount_due) for i in invoices] == [
        (D("100.00"), D("275.00")),
        (D("0"), D("375.00")),
    ]
