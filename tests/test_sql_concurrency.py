"""SqlStore on one SQLite file under real concurrency: threads, and processes started with spawn.

Numbers must come out gapless and unique, and a number claimed by several
owners at once must go to exactly one of them. With ``TENANTBILL_PG_URL`` set
(a PostgreSQL server; ``python3 dev.py test`` starts one) the same tests run
there too, each in a database of its own. Processes racing to number and to
claim an org number, and the races of the port's other invariants, are in
``test_races.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from support import fresh_postgres_database, in_processes
from tenantbill.domain.accounts import Account
from tenantbill.errors import AlreadyBilled, OrgNumberTaken
from tenantbill.sql import SqlStore
from tenantbill.testing.store import make_invoice, make_subscription

ACCOUNT = "account-1"
PG_URL = os.environ.get("TENANTBILL_PG_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
SKIP_REASON = "set TENANTBILL_PG_URL to run on PostgreSQL"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with one account in it: a SQLite file, or a new PostgreSQL database."""
    if request.param == "postgresql":
        assert PG_URL is not None
        with fresh_postgres_database(PG_URL) as url:
            yield with_account(url)
    else:
        yield with_account(f"sqlite:///{tmp_path / 'tenantbill.db'}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database."""
    if PG_URL is None:
        pytest.skip(SKIP_REASON)
    with fresh_postgres_database(PG_URL) as url:
        yield url


def with_account(url: str) -> str:
    store = SqlStore(url)
    with store.transaction() as tx:
        tx.accounts.add(Account(id=ACCOUNT, name="Acme", owner_id="owner-1"))
    store.close()
    return url


def number(store: SqlStore, count: int) -> list[int]:
    """Number ``count`` invoices of the account, one unit of work each; their sequences."""
    numbers = []
    for _ in range(count):
        with store.transaction() as tx:
            numbers.append(tx.invoices.add_numbered(make_invoice(ACCOUNT)).sequence)
    return numbers


def stored_sequences(url: str) -> list[int]:
    store = SqlStore(url)
    try:
        with store.transaction() as tx:
            return [invoice.sequence for invoice in tx.invoices.of_account(ACCOUNT)]
    finally:
        store.close()


def claim(store: SqlStore, start: threading.Barrier | None, n: int) -> bool:
    """Claim org number 974760673 for account n, owned by owner n; whether it was granted."""
    if start is not None:
        start.wait()
    try:
        with store.transaction() as tx:
            tx.accounts.claim_number("org", "974760673", f"account-{n}", f"owner-{n}")
    except OrgNumberTaken:
        return False
    return True


def claim_in_process(url: str, n: int) -> bool:
    store = SqlStore(url)
    try:
        return claim(store, None, n)
    finally:
        store.close()


def holders(url: str) -> list[str]:
    store = SqlStore(url)
    try:
        with store.transaction() as tx:
            return tx.accounts.number_holders("org", "974760673")
    finally:
        store.close()


def test_threads_numbering_on_one_account_get_each_number_once(url: str) -> None:
    store = SqlStore(url)
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: number(store, 25), range(8)))
    store.close()
    assert all(batch == sorted(batch) for batch in batches)
    assert sorted(n for batch in batches for n in batch) == list(range(1, 201))
    assert stored_sequences(url) == list(range(1, 201))


def test_threads_racing_for_one_org_number_let_exactly_one_owner_have_it(url: str) -> None:
    store = SqlStore(url)
    racers = 16
    start = threading.Barrier(racers)
    with ThreadPoolExecutor(max_workers=racers) as pool:
        granted = list(pool.map(lambda n: claim(store, start, n), range(racers)))
    store.close()
    assert granted.count(True) == 1
    assert holders(url) == [f"account-{granted.index(True)}"]


@pytest.mark.slow
def test_processes_opening_a_new_file_at_once_all_get_in(tmp_path: Path) -> None:
    # Each one switches the new file to WAL and creates the tables: only one may, the others wait.
    url = f"sqlite:///{tmp_path / 'new.db'}"
    granted = in_processes(claim_in_process, [(url, n) for n in range(6)])
    assert granted.count(True) == 1
    assert holders(url) == [f"account-{granted.index(True)}"]


def test_subscription_locked_by_one_worker_is_skipped_by_another(pg_url: str) -> None:
    store = SqlStore(pg_url)
    subscription = make_subscription()
    with store.transaction() as tx:
        tx.subscriptions.add(subscription)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            assert tx.subscriptions.lock(subscription.id) == subscription
            locked.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        with store.transaction() as tx:
            assert tx.subscriptions.lock(subscription.id) is None
    finally:
        release.set()
        holder.join()
    with store.transaction() as tx:
        assert tx.subscriptions.lock(subscription.id) == subscription
    store.close()


def test_the_next_due_subscription_skips_one_another_worker_holds(pg_url: str) -> None:
    store = SqlStore(pg_url)
    first, second = make_subscription(id="sub-1"), make_subscription(id="sub-2")
    with store.transaction() as tx:
        tx.subscriptions.add(first)
        tx.subscriptions.add(second)
    day = date(2026, 1, 31)
    with holding(store, first.id):
        with store.transaction() as tx:
            assert tx.subscriptions.lock_next_due(day, None) == second
        with store.transaction() as tx:
            assert tx.subscriptions.lock_next_due(day, second.id) is None
    with store.transaction() as tx:
        assert tx.subscriptions.lock_next_due(day, None) == first
    store.close()


def test_a_waiting_lock_on_a_subscription_waits_for_the_holder_and_sees_its_change(pg_url: str) -> None:
    store = SqlStore(pg_url)
    subscription = make_subscription()
    with store.transaction() as tx:
        tx.subscriptions.add(subscription)
    billed = attrs.evolve(subscription, fee_n=1)
    got: list[Any] = []

    def wait_for_it() -> None:
        with store.transaction() as tx:
            got.append(tx.subscriptions.lock(subscription.id, wait=True))

    with holding(store, subscription.id, then_save=billed):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        assert _waiting_for_a_lock(pg_url), "the lock was not waited for"
        assert got == []
    waiter.join(timeout=30)
    assert got == [billed]
    store.close()


def test_a_billing_mark_made_at_once_by_another_worker_is_refused_without_aborting(pg_url: str) -> None:
    store = SqlStore(pg_url)
    due = date(2026, 1, 10)
    marked, release = threading.Event(), threading.Event()
    outcome: list[str] = []

    def first() -> None:
        with store.transaction() as tx:
            tx.subscriptions.mark_billed("sub-1", due, "invoice-1")
            marked.set()
            release.wait(timeout=30)

    def second() -> None:
        with store.transaction() as tx:
            try:
                tx.subscriptions.mark_billed("sub-1", due, "invoice-2")
            except AlreadyBilled:
                outcome.append("refused")
            tx.subscriptions.mark_billed("sub-1", date(2026, 2, 10), None)  # the transaction goes on
        outcome.append("committed")

    holder = threading.Thread(target=first)
    holder.start()
    assert marked.wait(timeout=30)
    racer = threading.Thread(target=second)
    racer.start()
    assert _waiting_for_a_lock(pg_url), "the second mark did not wait for the first"
    release.set()
    holder.join()
    racer.join(timeout=30)
    assert outcome == ["refused", "committed"]
    with store.transaction() as tx, pytest.raises(AlreadyBilled):
        tx.subscriptions.mark_billed("sub-1", date(2026, 2, 10), None)
    store.close()


def _waiting_for_a_lock(url: str) -> bool:
    """Whether a session of this database is (or within 10 s comes to be) waiting for a row lock."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            for _ in range(1000):
                waiting = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                ).scalar()
                if waiting:
                    return True
                time.sleep(0.01)
            return False
    finally:
        engine.dispose()


@contextmanager
def holding(store: SqlStore, subscription_id: str, then_save: Any = None) -> Iterator[None]:
    """Another thread holds the subscription's lock in an open transaction while the block runs."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction() as tx:
            assert tx.subscriptions.lock(subscription_id) is not None
            locked.set()
            release.wait(timeout=30)
            if then_save is not None:
                tx.subscriptions.save(then_save)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        yield
    finally:
        release.set()
        holder.join()
