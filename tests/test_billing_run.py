"""The billing run: bills every period that is due, in order, exactly once, and can finish a broken run."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.services.billing import _SUBSCRIPTIONS_PER_TRANSACTION
from tenantbill.testing.factories import Factory, SignedUp
from tenantbill.testing.faults import FaultyStore, InjectedFault

D = Decimal


@pytest.fixture
def faulty(store: Store) -> FaultyStore:
    """conftest.py's store (memory, SQLite, PostgreSQL) with faults on demand."""
    return FaultyStore(store)


@pytest.fixture
def app(faulty: FaultyStore) -> tb.Tenantbill:
    return tb.Tenantbill(
        store=faulty, mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 4, 15, tzinfo=UTC))
    )


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def provider(factory: Factory) -> SignedUp:
    return factory.account(name="Plattform AS")


def plan(price: str = "300") -> tb.Plan:
    return tb.Plan(code="pro", name="Pro", price=D(price), vat_rate=D("0.25"))


def subscribe(provider: SignedUp, customer: SignedUp, anchor: date, price: str = "300") -> tb.Subscription:
    return provider.app.subscriptions.start(
        customer.owner.id, provider.account.id, customer.account.id, plan(price), anchor=anchor
    )


def invoices(provider: SignedUp) -> list[tb.Invoice]:
    return list(provider.app.invoices.of_account(provider.owner.id, provider.account.id))


def billed_periods(provider: SignedUp) -> list[tuple[str | None, date]]:
    return [(i.subscription_id, i.period.start) for i in invoices(provider) if i.period is not None]


def test_an_anchor_in_the_past_is_caught_up_period_by_period_in_order(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    subscription = subscribe(provider, factory.account(), date(2026, 1, 1))

    report = app.billing.run(as_of=date(2026, 4, 15))

    assert report.issued == 4
    issued = invoices(provider)
    assert [i.id for i in issued] == list(report.invoice_ids)
    assert [i.sequence for i in issued] == [1, 2, 3, 4]
    assert billed_periods(provider) == [
        (subscription.id, date(2026, 1, 1)),
        (subscription.id, date(2026, 2, 1)),
        (subscription.id, date(2026, 3, 1)),
        (subscription.id, date(2026, 4, 1)),
    ]


def test_nothing_is_billed_before_the_anchor(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    subscribe(provider, factory.account(), date(2026, 5, 1))

    assert app.billing.run(as_of=date(2026, 4, 30)).issued == 0
    assert invoices(provider) == []


def test_a_period_with_no_fee_and_no_usage_produces_no_invoice(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    subscribe(provider, factory.account(), date(2026, 1, 1), price="0")

    report = app.billing.run(as_of=date(2026, 4, 15))

    assert report.issued == 0
    assert invoices(provider) == []


@pytest.mark.parametrize("again", [date(2026, 3, 1), date(2026, 2, 15), date(2026, 1, 1)])
def test_running_again_for_the_same_or_an_earlier_date_bills_nothing(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp, again: date
) -> None:
    subscription = subscribe(provider, factory.account(), date(2026, 1, 1))
    app.subscriptions.record_usage(
        provider.owner.id,
        subscription.id,
        item="sms",
        quantity=D("3"),
        unit_price=D("1"),
        at=date(2026, 2, 10),
    )
    app.billing.run(as_of=date(2026, 3, 1))
    before = invoices(provider)

    report = app.billing.run(as_of=again)

    assert report.issued == 0
    assert report.invoice_ids == ()
    assert invoices(provider) == before
    assert len(before) == 3


def test_a_later_run_bills_only_what_became_due_since(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    subscribe(provider, factory.account(), date(2026, 1, 1))
    app.billing.run(as_of=date(2026, 2, 1))

    report = app.billing.run(as_of=date(2026, 3, 1))

    assert report.issued == 1
    assert [start for _, start in billed_periods(provider)] == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]


def test_a_run_that_fails_half_way_can_be_run_again_to_finish_without_duplicates_or_gaps(
    app: tb.Tenantbill, faulty: FaultyStore, factory: Factory, provider: SignedUp
) -> None:
    batch = _SUBSCRIPTIONS_PER_TRANSACTION
    subscriptions = [subscribe(provider, factory.account(), date(2026, 1, 1)) for _ in range(batch + 2)]
    faulty.fail("invoices.add_numbered", 3 * batch + 2)  # in the second batch

    with pytest.raises(InjectedFault):
        app.billing.run(as_of=date(2026, 3, 1))
    # A batch of subscriptions is billed in one transaction: the first batch's
    # invoices (three due periods each) stand, the second's were rolled back whole.
    assert len(invoices(provider)) == 3 * batch

    faulty.fail("invoices.add_numbered")
    report = app.billing.run(as_of=date(2026, 3, 1))

    assert report.issued == 6
    assert [i.sequence for i in invoices(provider)] == list(range(1, 3 * (batch + 2) + 1))
    assert sorted(billed_periods(provider)) == sorted(
        (s.id, date(2026, month, 1)) for s in subscriptions for month in (1, 2, 3)
    )
    assert app.billing.run(as_of=date(2026, 3, 1)).issued == 0


def test_two_runs_at_the_same_time_bill_every_period_once(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    subscriptions = [subscribe(provider, factory.account(), date(2026, 1, 1)) for _ in range(4)]
    barrier = threading.Barrier(2)
    reports: list[Any] = []

    def run() -> None:
        barrier.wait()
        reports.append(app.billing.run(as_of=date(2026, 4, 1)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(report.issued for report in reports) == 16
    assert [i.sequence for i in invoices(provider)] == list(range(1, 17))
    assert Counter(billed_periods(provider)) == Counter(
        {(s.id, date(2026, month, 1)): 1 for s in subscriptions for month in (1, 2, 3, 4)}
    )


def test_each_provider_bills_in_its_own_series(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    other = factory.account(name="Annen plattform AS")
    customer = factory.account()
    subscribe(provider, customer, date(2026, 1, 1))
    subscribe(other, customer, date(2026, 1, 1))

    app.billing.run(as_of=date(2026, 2, 1))

    assert [i.sequence for i in invoices(provider)] == [1, 2]
    assert [i.sequence for i in invoices(other)] == [1, 2]


# One bad subscription, time zones, progress


def test_one_subscription_that_cannot_be_billed_is_reported_and_the_others_are_billed(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    customers = [factory.account(name=f"Kunde {n} AS") for n in range(5)]
    subs = [subscribe(provider, customer, date(2026, 4, 1)) for customer in customers]
    broken = customers[2].account
    with app.store.transaction() as tx:  # stored before names were checked: no valid invoice party
        tx.accounts.save(attrs.evolve(broken, name="Kunde\nAS"))

    report = app.billing.run(as_of=date(2026, 4, 1))

    assert report.issued == 4
    [(failed_id, reason)] = report.failed
    assert failed_id == subs[2].id
    assert "line break" in reason or "one line" in reason
    assert sorted(i.subscription_id for i in invoices(provider)) == sorted(
        s.id for s in subs if s is not subs[2]
    )
    assert [i.sequence for i in invoices(provider)] == [1, 2, 3, 4]  # no gap where it failed

    with app.store.transaction() as tx:
        tx.accounts.save(broken)
    again = app.billing.run(as_of=date(2026, 4, 1))
    assert (again.issued, again.failed) == (1, ())


def test_run_now_bills_each_provider_up_to_its_own_local_date(app: tb.Tenantbill, factory: Factory) -> None:
    oslo = factory.account(name="Oslo AS")
    auckland = factory.account(name="Auckland Ltd", timezone="Pacific/Auckland")
    for seller in (oslo, auckland):
        subscribe(seller, factory.account(), date(2026, 5, 1))

    # 13:00 UTC on Apr 30 is 15:00 in Oslo (still Apr 30) and 01:00 on May 1 in Auckland.
    report = app.billing.run(now=datetime(2026, 4, 30, 13, 0, tzinfo=UTC))

    assert [i.account_id for i in (app.invoices.get(auckland.owner.id, i) for i in report.invoices)] == [
        auckland.account.id
    ]
    assert invoices(oslo) == []
    assert app.billing.run(now=datetime(2026, 4, 30, 23, 0, tzinfo=UTC)).issued == 1  # May 1 in Oslo


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"as_of": date(2026, 4, 1), "now": datetime(2026, 4, 1, tzinfo=UTC)}, {"now": datetime(2026, 4, 1)}],
)
def test_run_needs_one_of_as_of_and_an_aware_now(app: tb.Tenantbill, kwargs: dict[str, object]) -> None:
    with pytest.raises(tb.InvalidInput):
        app.billing.run(**kwargs)  # type: ignore[arg-type]


def test_progress_counts_every_due_subscription(
    app: tb.Tenantbill, factory: Factory, provider: SignedUp
) -> None:
    for _ in range(30):
        subscribe(provider, factory.account(), date(2026, 4, 1))
    seen: list[tuple[int, int]] = []

    app.billing.run(as_of=date(2026, 4, 1), progress=lambda done, total: seen.append((done, total)))

    assert seen[0] == (0, 30)
    assert seen[-1] == (30, 30)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
