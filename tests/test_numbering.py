"""The invoice number series: gapless, configurable, unaffected by failures and concurrency."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tenantbill as tb
from support import open_store
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp
from tenantbill.testing.faults import FaultyStore, InjectedFault

STORES = ["memory", "sqlite"]
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def make_app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))


@pytest.fixture(params=STORES)
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tb.Tenantbill]:
    with open_store(request.param, tmp_path) as store:
        yield make_app(store)


@pytest.fixture
def seller(app: tb.Tenantbill) -> SignedUp:
    return Factory(app).account(name="Leverandør AS")


def draft(emails: tuple[str, ...] = ("kunde@example.com",)) -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=emails),
        lines=[tb.Line(description="Time", quantity=Decimal(1), unit_price=Decimal(100))],
    )


def issue(seller: SignedUp) -> tb.Invoice:
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, draft())


def sequences(seller: SignedUp) -> list[int]:
    return [i.sequence for i in seller.app.invoices.of_account(seller.owner.id, seller.account.id)]


# The series


def test_the_series_starts_at_one_and_has_no_gaps(seller: SignedUp) -> None:
    issued = [issue(seller) for _ in range(5)]

    assert [i.sequence for i in issued] == [1, 2, 3, 4, 5]
    assert [i.number for i in issued] == ["1", "2", "3", "4", "5"]
    assert sequences(seller) == [1, 2, 3, 4, 5]


def test_a_configured_series_prints_prefix_and_padded_digits(seller: SignedUp) -> None:
    seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=1001, prefix="F-", width=6)

    first, second = issue(seller), issue(seller)

    assert (first.sequence, first.number) == (1001, "F-001001")
    assert (second.sequence, second.number) == (1002, "F-001002")


def test_changing_the_display_format_does_not_change_the_sequence(seller: SignedUp) -> None:
    issue(seller)
    issue(seller)

    seller.app.invoices.configure_series(seller.owner.id, seller.account.id, prefix="INV-", width=3)

    assert issue(seller).number == "INV-003"


@pytest.mark.parametrize("start", [1, 2, 3])
def test_the_start_cannot_reuse_a_number_already_issued(seller: SignedUp, start: int) -> None:
    for _ in range(3):
        issue(seller)

    with pytest.raises(tb.SeriesError, match="already used"):
        seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=start, prefix="X-")

    assert issue(seller).number == "4"


def test_the_start_can_jump_above_the_last_number_used(seller: SignedUp) -> None:
    issue(seller)

    seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=500)

    assert issue(seller).sequence == 500
    assert sequences(seller) == [1, 500]
    with pytest.raises(tb.SeriesError):
        seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=499)


def test_the_start_can_be_changed_freely_until_the_first_invoice(seller: SignedUp) -> None:
    configure = seller.app.invoices.configure_series
    configure(seller.owner.id, seller.account.id, start=1001)
    configure(seller.owner.id, seller.account.id, start=500)

    assert issue(seller).sequence == 500
    with pytest.raises(tb.SeriesError):
        configure(seller.owner.id, seller.account.id, start=500)


@pytest.mark.parametrize("start", [0, -5])
def test_the_start_is_a_positive_number(seller: SignedUp, start: int) -> None:
    with pytest.raises(tb.SeriesError):
        seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=start)


def test_a_billing_user_cannot_configure_the_series(app: tb.Tenantbill) -> None:
    team = Factory(app).team()

    with pytest.raises(tb.PermissionDenied):
        app.invoices.configure_series(team.billing.id, team.account.id, start=1001)


def test_two_accounts_have_separate_series(app: tb.Tenantbill) -> None:
    factory = Factory(app)
    first, second = factory.account(), factory.account()
    app.invoices.configure_series(second.owner.id, second.account.id, start=100)

    for _ in range(3):
        issue(first)
        issue(second)

    assert sequences(first) == [1, 2, 3]
    assert sequences(second) == [100, 101, 102]


# Failures leave no gap


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("after", [True, False], ids=["after-numbering", "while-numbering"])
def test_an_issue_that_fails_after_taking_a_number_leaves_no_gap(
    kind: str, after: bool, tmp_path: Path
) -> None:
    with open_store(kind, tmp_path) as real:
        store = FaultyStore(real)
        seller = Factory(make_app(store)).account()
        issue(seller)

        store.fail("invoices.add_numbered", 1, after=after)
        with pytest.raises(InjectedFault):
            issue(seller)

        assert issue(seller).sequence == 2
        assert sequences(seller) == [1, 2]


def test_a_draft_refused_inside_the_transaction_leaves_no_gap(seller: SignedUp) -> None:
    issue(seller)

    with pytest.raises(tb.TenantbillError):
        seller.app.invoices.issue(seller.owner.id, seller.account.id, draft(emails=("not an address",)))

    assert issue(seller).sequence == 2
    assert sequences(seller) == [1, 2]


outcomes = st.lists(st.sampled_from(["issued", "invoices.add_numbered"]), min_size=1, max_size=12)


@pytest.mark.parametrize("kind", STORES)
@settings(max_examples=30, deadline=None)
@given(start=st.integers(min_value=1, max_value=10**6), outcomes=outcomes)
def test_interleaved_failed_and_successful_issues_number_the_successes_without_gaps(
    kind: str, tmp_path_factory: pytest.TempPathFactory, start: int, outcomes: list[str]
) -> None:
    with open_store(kind, tmp_path_factory.mktemp(kind)) as real:
        store = FaultyStore(real)
        seller = Factory(make_app(store)).account()
        seller.app.invoices.configure_series(seller.owner.id, seller.account.id, start=start)

        issued = []
        for outcome in outcomes:
            if outcome == "issued":
                issued.append(issue(seller).sequence)
                continue
            store.fail(outcome, 1, after=True)
            with pytest.raises(InjectedFault):
                issue(seller)
            store.fail(outcome)

        expected = list(range(start, start + len(issued)))
        assert issued == expected
        assert sequences(seller) == expected
        series = seller.app.invoices.series(seller.owner.id, seller.account.id)
        assert series.next_sequence == start + len(issued)


# Concurrency


@pytest.mark.parametrize("kind", STORES)
def test_concurrent_issues_on_one_account_take_every_number_exactly_once(kind: str, tmp_path: Path) -> None:
    threads, per_thread = 8, 50
    barrier = threading.Barrier(threads)
    with open_store(kind, tmp_path) as store:
        seller = Factory(make_app(store)).account()

        def worker() -> list[int]:
            barrier.wait()
            return [issue(seller).sequence for _ in range(per_thread)]

        with ThreadPoolExecutor(threads) as pool:
            results = [future.result() for future in [pool.submit(worker) for _ in range(threads)]]

        taken = sorted(sequence for result in results for sequence in result)
        assert taken == list(range(1, threads * per_thread + 1))
        assert sequences(seller) == taken
