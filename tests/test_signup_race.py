"""Simultaneous sign-ups with the same number on one SQLite file: exactly one wins."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ORG = "974760673"
BANK = "86011117947"
THREADS = 16
PROCESSES = 4


def sql_store(url: str) -> Any:
    from tenantbill.sql import SqlStore

    return SqlStore(url)


def app_on(store: Any) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))


def attempt(app: tb.Tenantbill, i: int, numbers: dict[str, str]) -> str:
    """Sign up racer ``i``; the outcome's name ("won" or the error class)."""
    try:
        app.accounts.sign_up(name=f"Racer {i} AS", email=f"racer{i}@example.no", **numbers)
    except tb.TenantbillError as error:
        return type(error).__name__
    return "won"


def race_in_threads(make_app: Callable[[], tb.Tenantbill], numbers: dict[str, str]) -> Counter[str]:
    apps = [make_app() for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def run(i: int) -> str:
        start.wait()
        return attempt(apps[i], i, numbers)

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(pool.map(run, range(THREADS)))


def winners(store: Any, kind: str, number: str) -> list[tb.Account]:
    """The accounts holding ``number``; checks that no losing racer left a user."""
    with store.transaction() as tx:
        holders = [tx.accounts.get(a) for a in tx.accounts.number_holders(kind, number)]
        racers = [tx.users.by_email(f"racer{i}@example.no") for i in range(THREADS)]
    assert sum(user is not None for user in racers) == 1, "a losing sign-up left its user"
    return [a for a in holders if a is not None]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 't.db'}"


@pytest.fixture(params=["sqlite", "memory"])
def shared_store(request: pytest.FixtureRequest, url: str) -> Any:
    """One store object that every racing thread uses."""
    return sql_store(url) if request.param == "sqlite" else MemoryStore()


@pytest.mark.parametrize(
    ("numbers", "kind", "error"),
    [
        ({"org_number": ORG}, "org", "OrgNumberTaken"),
        ({"bank_account": BANK}, "bank", "BankAccountTaken"),
    ],
)
def test_threads_sharing_one_store_cannot_both_sign_up_with_one_number(
    shared_store: Any, numbers: dict[str, str], kind: str, error: str
) -> None:
    outcomes = race_in_threads(lambda: app_on(shared_store), numbers)

    assert outcomes == Counter({"won": 1, error: THREADS - 1})
    assert len(winners(shared_store, kind, next(iter(numbers.values())))) == 1


def test_threads_each_with_their_own_store_on_one_file_cannot_both_sign_up_with_one_number(
    url: str,
) -> None:
    sql_store(url)  # create the schema once, before the race

    outcomes = race_in_threads(lambda: app_on(sql_store(url)), {"org_number": ORG})

    assert outcomes == Counter({"won": 1, "OrgNumberTaken": THREADS - 1})
    assert len(winners(sql_store(url), "org", ORG)) == 1


def test_simultaneous_sign_ups_with_one_address_create_one_user(shared_store: Any) -> None:
    apps = [app_on(shared_store) for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def run(i: int) -> str:
        start.wait()
        try:
            apps[i].accounts.sign_up(name=f"Racer {i} AS", email="same@example.no")
        except tb.TenantbillError as error:
            return type(error).__name__
        return "won"

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = Counter(pool.map(run, range(THREADS)))

    assert outcomes == Counter({"won": 1, "EmailTaken": THREADS - 1})


def _sign_up_in_process(url: str, i: int, start: Any, results: Any) -> None:
    app = app_on(sql_store(url))
    start.wait()
    try:
        results.put(attempt(app, i, {"org_number": ORG}))
    except BaseException as error:  # report anything, or the parent waits for nothing
        results.put(f"crashed: {error!r}")


@pytest.mark.slow
def test_processes_on_one_file_cannot_both_sign_up_with_one_org_number(url: str) -> None:
    sql_store(url)  # create the schema once, before the race
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_sign_up_in_process, args=(url, i, start, results)) for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = Counter(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=30)

    assert outcomes == Counter({"won": 1, "OrgNumberTaken": PROCESSES - 1})
    store = sql_store(url)
    with store.transaction() as tx:
        assert len(tx.accounts.number_holders("org", ORG)) == 1
