"""Metering: usage events in batches with keys, and record_usage with an idempotency key.

On memory, SQLite and PostgreSQL (conftest's ``store``): each key is recorded
once per subscription, whichever path recorded it and whatever races; a bad
batch records nothing; recorded usage is billed as any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.services.metering import MAX_BATCH
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
OSLO = ZoneInfo("Europe/Oslo")
ANCHOR = date(2026, 1, 1)


@attrs.frozen
class Metered:
    app: tb.Tenantbill
    clock: FixedClock
    store: Store
    provider: SignedUp
    customer: SignedUp
    subscription: tb.Subscription

    def event(self, key: str, **changes: Any) -> tb.UsageEvent:
        fields: dict[str, Any] = {
            "key": key,
            "subscription_id": self.subscription.id,
            "item": "API calls",
            "quantity": D("3"),
            "unit_price": D("0.10"),
            "at": date(2026, 1, 20),
        }
        fields.update(changes)
        return tb.UsageEvent(**fields)

    def usage(self, subscription_id: str | None = None) -> list[tb.Usage]:
        with self.store.transaction() as tx:
            return tx.subscriptions.usage_between(
                subscription_id or self.subscription.id, date(2000, 1, 1), date(2100, 1, 1)
            )

    def record_usage(self, **changes: Any) -> tb.Usage:
        fields: dict[str, Any] = {
            "item": "API calls",
            "quantity": D("3"),
            "unit_price": D("0.10"),
            "at": date(2026, 1, 20),
        }
        fields.update(changes)
        return self.app.subscriptions.record_usage(self.provider.owner.id, self.subscription.id, **fields)


@pytest.fixture
def metered(store: Store) -> Metered:
    clock = FixedClock(datetime(2026, 1, 15, 9, tzinfo=UTC))
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=clock)
    factory = Factory(app)
    provider = factory.account(name="Plattform AS")
    customer = factory.account(name="Kunde AS", address="Storgata 1\n0155 Oslo", org_number="974760673")
    plan = tb.Plan("pro", "Pro", D("100.00"), "NOK", tb.BillingCycle.MONTHLY, D("0.25"))
    subscription = app.subscriptions.start(
        customer.owner.id, provider.account.id, customer.account.id, plan, anchor=ANCHOR
    )
    return Metered(app, clock, store, provider, customer, subscription)


# app.metering.record


def test_a_batch_is_recorded_and_a_resent_batch_records_nothing(metered: Metered) -> None:
    batch = [metered.event(f"evt-{n}", quantity=D(n)) for n in range(1, 6)]
    assert metered.app.metering.record(batch) == tb.MeteringResult(accepted=5, duplicates=0)
    again = metered.app.metering.record(batch)
    assert (again.accepted, again.duplicates) == (0, 5)
    assert again.duplicate_keys == tuple(f"evt-{n}" for n in range(1, 6))
    usage = metered.usage()
    assert [u.key for u in usage] == [f"evt-{n}" for n in range(1, 6)]
    assert [u.quantity for u in usage] == [D(n) for n in range(1, 6)]
    assert all(u.vat_rate == D("0.25") and u.on == date(2026, 1, 20) for u in usage)


def test_a_key_twice_in_one_batch_counts_once(metered: Metered) -> None:
    batch = [metered.event("a"), metered.event("b"), metered.event("a", quantity=D(99))]
    result = metered.app.metering.record(batch)
    assert (result.accepted, result.duplicates, result.duplicate_keys) == (2, 1, ("a",))
    assert [u.quantity for u in metered.usage()] == [D(3), D(3)]


def test_new_and_old_keys_mixed_record_the_new_ones(metered: Metered) -> None:
    metered.app.metering.record([metered.event("a"), metered.event("b")])
    result = metered.app.metering.record([metered.event("b"), metered.event("c"), metered.event("a")])
    assert (result.accepted, result.duplicates, result.duplicate_keys) == (1, 2, ("b", "a"))
    assert [u.key for u in metered.usage()] == ["a", "b", "c"]


def test_keys_are_per_subscription(metered: Metered) -> None:
    other = metered.app.subscriptions.start(
        metered.customer.owner.id,
        metered.provider.account.id,
        metered.customer.account.id,
        metered.subscription.plan,
        anchor=ANCHOR,
    )
    result = metered.app.metering.record([metered.event("a"), metered.event("a", subscription_id=other.id)])
    assert (result.accepted, result.duplicates) == (2, 0)
    assert len(metered.usage(other.id)) == 1


def test_an_empty_batch_records_nothing(metered: Metered) -> None:
    assert metered.app.metering.record([]) == tb.MeteringResult(accepted=0, duplicates=0)


def test_an_instant_is_billed_on_its_date_in_the_providers_time_zone(metered: Metered) -> None:
    late_evening_utc = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # 1 February in Oslo
    metered.app.metering.record([metered.event("a", at=late_evening_utc)])
    assert metered.usage()[0].on == date(2026, 2, 1)


def test_an_events_vat_rate_overrides_the_plans(metered: Metered) -> None:
    metered.app.metering.record([metered.event("a", vat_rate=D("0.15")), metered.event("b")])
    assert [u.vat_rate for u in metered.usage()] == [D("0.15"), D("0.25")]


def test_events_may_be_mappings_of_the_fields(metered: Metered) -> None:
    fields = attrs.asdict(metered.event("a"))
    assert metered.app.metering.record([fields]).accepted == 1  # type: ignore[list-item]
    assert metered.usage()[0].key == "a"


def test_an_unknown_subscription_is_refused_naming_the_event_and_nothing_is_recorded(
    metered: Metered,
) -> None:
    batch = [metered.event("a"), metered.event("b", subscription_id="no-such-subscription")]
    with pytest.raises(tb.NotFound, match=r"event 1 \(key 'b'\).*no-such-subscription"):
        metered.app.metering.record(batch)
    assert metered.usage() == []


def test_usage_before_the_subscription_started_is_refused(metered: Metered) -> None:
    batch = [metered.event("a"), metered.event("early", at=date(2025, 12, 31))]
    with pytest.raises(tb.InvalidInput, match=r"event 1 \(key 'early'\).*before the subscription started"):
        metered.app.metering.record(batch)
    assert metered.usage() == []


def test_usage_in_a_period_billed_already_is_refused_and_nothing_is_recorded(metered: Metered) -> None:
    metered.app.billing.run(date(2026, 2, 1))  # bills January's usage period
    late = metered.event("late", at=date(2026, 1, 31))
    with pytest.raises(tb.InvalidInput, match=r"event 1 \(key 'late'\).*billed already.*2026-02-01 or later"):
        metered.app.metering.record([metered.event("feb", at=date(2026, 2, 3)), late])
    with pytest.raises(tb.InvalidInput, match="billed already"):
        metered.record_usage(at=date(2026, 1, 31))
    assert metered.usage() == []
    assert metered.app.metering.record([metered.event("feb", at=date(2026, 2, 1))]).accepted == 1


def test_usage_after_the_subscription_ended_is_refused(metered: Metered) -> None:
    ended = metered.app.subscriptions.cancel(metered.customer.owner.id, metered.subscription.id)
    assert ended.cancel_at == date(2026, 2, 1)  # at the end of the period
    with pytest.raises(tb.InvalidInput, match="after the subscription ended"):
        metered.app.metering.record([metered.event("after", at=date(2026, 2, 1))])
    metered.record_usage(at=date(2026, 1, 31))  # the last day of service: still billed
    metered.app.billing.run(date(2026, 3, 1))
    issued = metered.app.invoices.of_account(metered.provider.owner.id, metered.provider.account.id)
    assert [
        (ln.description, ln.quantity) for i in issued for ln in i.lines if ln.description == "API calls"
    ] == [("API calls", D("3"))]


def test_a_key_recorded_by_record_usage_is_a_duplicate_in_a_batch(metered: Metered) -> None:
    metered.record_usage(idempotency_key="order-1")
    result = metered.app.metering.record([metered.event("order-1"), metered.event("order-2")])
    assert (result.accepted, result.duplicate_keys) == (1, ("order-1",))
    assert len(metered.usage()) == 2


# hostile input: only TenantbillError, and nothing recorded

BAD_FIELDS: list[dict[str, Any]] = [
    {"key": ""},
    {"key": "   "},
    {"key": "two\nlines"},
    {"key": "x" * 201},
    {"key": 12},
    {"key": None},
    {"key": "nul\x00"},
    {"key": "\ud800"},
    {"subscription_id": ""},
    {"subscription_id": 7},
    {"subscription_id": "x" * 10_000},
    {"item": ""},
    {"item": "x" * 5000},
    {"quantity": 1.5},
    {"quantity": "NaN"},
    {"quantity": "Infinity"},
    {"quantity": True},
    {"quantity": "1e400"},
    {"quantity": "9" * 40},
    {"quantity": "lots"},
    {"unit_price": None},
    {"unit_price": 0.1},
    {"at": datetime(2026, 1, 20, 12)},  # naive
    {"at": "2026-01-20"},
    {"at": None},
    {"vat_rate": D("1.5")},
    {"vat_rate": -1},
    {"vat_rate": "abc"},
]


@pytest.mark.parametrize(
    "bad", BAD_FIELDS, ids=lambda bad: f"{next(iter(bad))}={next(iter(bad.values()))!r:.20}"
)
def test_a_bad_field_is_refused_when_the_event_is_made(bad: dict[str, Any]) -> None:
    good = {
        "key": "k",
        "subscription_id": "s",
        "item": "i",
        "quantity": D(1),
        "unit_price": D(1),
        "at": ANCHOR,
    }
    tb.UsageEvent(**good)
    with pytest.raises(tb.InvalidInput):
        tb.UsageEvent(**{**good, **bad})


@pytest.mark.parametrize(
    "bad", BAD_FIELDS, ids=lambda bad: f"{next(iter(bad))}={next(iter(bad.values()))!r:.20}"
)
def test_a_bad_event_in_a_batch_records_nothing_and_names_its_place(
    metered: Metered, bad: dict[str, Any]
) -> None:
    fields = {**attrs.asdict(metered.event("bad-one")), **bad}
    batch: list[Any] = [metered.event("a"), metered.event("b"), fields]
    with pytest.raises(tb.InvalidInput, match=r"^event 2\b"):
        metered.app.metering.record(batch)
    assert metered.usage() == []


@pytest.mark.parametrize(
    "events",
    [None, "evt-1", b"evt", 42, {"key": "a"}, [None], [object()], [[1, 2]], [{"key": "a", "colour": "red"}]],
    ids=repr,
)
def test_what_is_not_a_batch_of_events_is_refused(metered: Metered, events: Any) -> None:
    with pytest.raises(tb.InvalidInput):
        metered.app.metering.record(events)
    assert metered.usage() == []


def test_a_huge_batch_is_refused_before_anything_is_recorded(metered: Metered) -> None:
    event = metered.event("a")
    batch = (attrs.evolve(event, key=f"e{n}") for n in range(MAX_BATCH + 1))
    with pytest.raises(tb.InvalidInput, match="at most"):
        metered.app.metering.record(batch)
    assert metered.usage() == []


def test_a_full_batch_is_recorded(metered: Metered) -> None:
    event = metered.event("a")
    batch = [attrs.evolve(event, key=f"e{n}") for n in range(MAX_BATCH)]
    assert metered.app.metering.record(batch).accepted == MAX_BATCH
    assert metered.app.metering.record(batch).duplicates == MAX_BATCH
    assert len(metered.usage()) == MAX_BATCH


def test_odd_but_valid_keys_are_recorded_exactly(metered: Metered) -> None:
    keys = ["Key", "key", "kéy", "k'ey\"; DROP TABLE tenantbill_usage; --", "ключ", "x" * 200, "%s %(key)s ?"]
    result = metered.app.metering.record([metered.event(k) for k in keys])
    assert result.accepted == len(keys)
    assert [u.key for u in metered.usage()] == keys
    assert metered.app.metering.record([metered.event(k) for k in keys]).duplicates == len(keys)


# concurrency


def _together(calls: list[Callable[[], Any]]) -> list[Any]:
    """The calls in threads of their own, let go at once; their results in order (or the first error)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(20)
            results[n] = calls[n]()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a racing call hung"
    if errors:
        raise errors[0]
    return results


def test_concurrent_batches_with_overlapping_keys_record_each_key_once(metered: Metered) -> None:
    for trial in range(5):
        # Two batches share half their keys, in opposite orders (a deadlock if nothing orders them).
        first = [metered.event(f"t{trial}-{n}") for n in range(0, 300)]
        second = [metered.event(f"t{trial}-{n}") for n in reversed(range(150, 450))]
        results = _together([lambda b=batch: metered.app.metering.record(b) for batch in (first, second)])
        assert sum(r.accepted for r in results) == 450
        assert sum(r.duplicates for r in results) == 150
    keys = [u.key for u in metered.usage()]
    assert len(keys) == len(set(keys)) == 5 * 450


def test_concurrent_record_usage_calls_with_one_key_record_once(metered: Metered) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: metered.record_usage(idempotency_key="retry-1") for _ in range(6)
    ]
    results = _together(calls)
    assert len({u.id for u in results}) == 1
    assert len(metered.usage()) == 1


# record_usage(..., idempotency_key=)


def test_the_same_key_and_arguments_return_the_first_usage(metered: Metered) -> None:
    first = metered.record_usage(idempotency_key="order-1")
    assert first.key == "order-1"
    metered.clock.set(datetime(2026, 1, 18, 9, tzinfo=UTC))
    assert metered.record_usage(idempotency_key="order-1") == first
    assert metered.usage() == [first]


def test_a_retry_without_a_day_is_the_first_calls_day(metered: Metered) -> None:
    first = metered.record_usage(at=None, idempotency_key="order-1")
    metered.clock.set(datetime(2026, 1, 17, 9, tzinfo=UTC))
    assert metered.record_usage(at=None, idempotency_key="order-1") == first


def test_the_same_key_with_other_arguments_is_a_conflict(metered: Metered) -> None:
    metered.record_usage(idempotency_key="order-1")
    for changes in (
        {"quantity": D(4)},
        {"unit_price": D("0.11")},
        {"item": "Other"},
        {"at": date(2026, 1, 21)},
        {"vat_rate": D("0.15")},
    ):
        with pytest.raises(tb.IdempotencyConflict, match="order-1"):
            metered.record_usage(idempotency_key="order-1", **changes)
    assert len(metered.usage()) == 1


def test_a_key_recorded_by_metering_is_returned_by_record_usage(metered: Metered) -> None:
    metered.app.metering.record([metered.event("evt-1")])
    found = metered.record_usage(idempotency_key="evt-1")
    assert found.key == "evt-1"
    assert metered.usage() == [found]
    with pytest.raises(tb.IdempotencyConflict):
        metered.record_usage(idempotency_key="evt-1", quantity=D(10))


def test_equal_quantities_written_differently_are_the_same_call(metered: Metered) -> None:
    first = metered.record_usage(quantity=D("3"), idempotency_key="order-1")
    assert metered.record_usage(quantity=D("3.00"), idempotency_key="order-1") == first


@pytest.mark.parametrize("key", ["", " ", "a\nb", "x" * 201, 5, b"bytes"], ids=repr)
def test_a_bad_idempotency_key_is_refused(metered: Metered, key: Any) -> None:
    with pytest.raises(tb.InvalidInput):
        metered.record_usage(idempotency_key=key)
    assert metered.usage() == []


def test_record_usage_still_checks_the_actor(metered: Metered) -> None:
    with pytest.raises(tb.PermissionDenied):
        metered.app.subscriptions.record_usage(
            metered.customer.owner.id,
            metered.subscription.id,
            item="x",
            quantity=D(1),
            unit_price=D(1),
            idempotency_key="k",
        )


# billing


def test_metered_usage_is_billed_once_with_the_next_usage_invoice(metered: Metered) -> None:
    metered.app.metering.record([metered.event(f"e{n}", quantity=D(10)) for n in range(4)])
    metered.app.metering.record([metered.event(f"e{n}", quantity=D(10)) for n in range(4)])  # re-sent
    metered.record_usage(idempotency_key="extra", item="Support", quantity=D(1), unit_price=D(500))
    metered.clock.set(datetime.combine(date(2026, 2, 1), time(6), tzinfo=OSLO))
    report = metered.app.billing.run(as_of=date(2026, 2, 1))
    invoices = [metered.app.invoices.get(metered.provider.owner.id, i) for i in report.invoice_ids]
    lines = [(ln.description, ln.quantity, ln.unit_price) for inv in invoices for ln in inv.lines]
    assert ("API calls", D(40), D("0.10")) in lines
    assert ("Support", D(1), D(500)) in lines
    assert sum(1 for line in lines if line[0] == "API calls") == 1


def test_the_result_is_a_plain_value() -> None:
    result = tb.MeteringResult(accepted=1, duplicates=0)
    assert result.duplicate_keys == ()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.accepted = 2  # type: ignore[misc]


def test_events_compare_by_value() -> None:
    at = datetime(2026, 1, 20, 12, tzinfo=timezone(timedelta(hours=1)))
    one = tb.UsageEvent(key=" k ", subscription_id="s", item="i", quantity=D("1.0"), unit_price=D(2), at=at)
    assert one.key == "k"
    assert one.quantity == D("1.0")
    assert one == tb.UsageEvent(
        key="k", subscription_id="s", item="i", quantity=D("1.0"), unit_price=D(2), at=at
    )


def test_record_usage_takes_quantities_and_prices_as_decimals_only(metered: Metered) -> None:
    with pytest.raises(tb.InvalidInput, match="must be a Decimal, not int"):
        metered.record_usage(quantity=2)
    with pytest.raises(tb.InvalidInput, match="must be a Decimal, not str"):
        metered.record_usage(unit_price="0.10")
    assert metered.usage() == []
