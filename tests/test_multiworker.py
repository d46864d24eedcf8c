"""Several worker processes running the billing run and the delivery over one store at once.

On PostgreSQL (a database of its own per test, created and dropped here) and on
an SQLite file. The PostgreSQL cases need ``TENANTBILL_PG_URL`` (a server the
tests may create databases on); ``python3 dev.py test`` starts a throwaway one
and sets it.

What must hold: every (subscription, due date) is billed exactly once, the
series stays gapless, also when a worker is killed (SIGKILL) half-way and the
run is started again; and every queued e-mail is sent exactly once when workers
deliver at once.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import tenantbill as tb
from support import fresh_postgres_database, in_processes
from tenantbill.clock import FixedClock
from tenantbill.domain.accounts import Account
from tenantbill.domain.invoices import LedgerEntry
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import PlanChange, Subscription
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.services.delivery import RECORD_EVERY, message_id

PG_URL = os.environ.get("TENANTBILL_PG_URL")
SKIP_REASON = "set TENANTBILL_PG_URL (python3 dev.py test starts a server)"
BACKENDS = [
    pytest.param(
        "postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=SKIP_REASON)]
    ),
    "sqlite",
]
pytestmark = pytest.mark.slow

AT = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
AS_OF = date(2026, 3, 1)
PROVIDER = "provider"
CUSTOMERS = [f"customer-{n:02d}" for n in range(20)]
SUBSCRIPTIONS = 2000
PLAN = tb.Plan(code="pro", name="Pro", price=Decimal("300"), vat_rate=Decimal("0.25"))
MESSAGES = 300
BATCH = 50  # the messages a worker claims at a time


# the databases


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        assert PG_URL is not None
        with fresh_postgres_database(PG_URL) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'tenantbill.db'}"


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    from tenantbill.sql import SqlStore

    store = SqlStore(url)
    try:
        yield store
    finally:
        store.close()


SENDER = "Plattform AS <faktura@plattform.example.no>"


def app_on(store: Store, mailer: tb.Mailer | None = None, now: datetime = AT) -> tb.Tenantbill:
    return tb.Tenantbill(
        store=store, mailer=mailer or MemoryMailer(keep=False), clock=FixedClock(now), sender=SENDER
    )


# the billing run


def anchor_of(n: int) -> date:
    return date(2026, 1, 1 + n % 28)


def subscribe_all(url: str) -> set[tuple[str, date]]:
    """A provider, customers and the subscriptions; every (subscription, period start) to bill by AS_OF."""
    expected = set()
    with open_store(url) as store, store.transaction() as tx:
        tx.accounts.add(Account(id=PROVIDER, name="Plattform AS", owner_id="owner"))
        for customer in CUSTOMERS:
            address = f"faktura@{customer}.example.no"
            tx.accounts.add(
                Account(id=customer, name=customer, owner_id=customer, invoice_recipients=(address,))
            )
        for n in range(SUBSCRIPTIONS):
            anchor = anchor_of(n)
            subscription = Subscription(
                id=f"subscription-{n:05d}",
                provider_id=PROVIDER,
                customer_id=CUSTOMERS[n % len(CUSTOMERS)],
                anchor=anchor,
                plans=(PlanChange(anchor, PLAN),),
                fee_anchor=anchor,
            )
            tx.subscriptions.add(subscription)
            starts = (anchor.replace(month=month) for month in (1, 2, 3))
            expected.update((subscription.id, start) for start in starts if start <= AS_OF)
    return expected


def bill(url: str) -> tuple[int, int]:
    """One worker's billing run: (invoices issued, subscriptions found billed by another)."""
    with open_store(url) as store:
        report = app_on(store).billing.run(AS_OF)
        return report.issued, report.already_billed


def last_number(url: str) -> int:
    if url.startswith("sqlite:///"):
        # A plain WAL reader: the store's own transactions take SQLite's write lock,
        # which a busy billing worker hands back to itself between its batches.
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            row = connection.execute(
                "SELECT last_used FROM tenantbill_series WHERE account_id = ?", (PROVIDER,)
            ).fetchone()
            return int(row[0] or 0)
    with open_store(url) as store, store.transaction() as tx:
        return tx.invoices.series(PROVIDER).last_used or 0


def assert_billed_exactly_once(url: str, expected: set[tuple[str, date]]) -> None:
    with open_store(url) as store, store.transaction() as tx:
        invoices = list(tx.invoices.of_account(PROVIDER))
        unfinished = tx.subscriptions.due_ids(AS_OF, None, 10)
    billed = Counter((i.subscription_id, i.period.start if i.period else None) for i in invoices)
    twice = [key for key, count in billed.items() if count > 1]
    assert twice == [], f"billed more than once: {twice[:5]}"
    assert set(billed) == expected
    assert [i.sequence for i in invoices] == list(range(1, len(expected) + 1))
    assert unfinished == []


def test_workers_billing_at_once_bill_every_period_once_in_one_gapless_series(url: str) -> None:
    expected = subscribe_all(url)

    reports = in_processes(bill, [(url,)] * 4)

    assert_billed_exactly_once(url, expected)
    assert sum(issued for issued, _ in reports) == len(expected)
    if url.startswith("postgresql"):
        # On PostgreSQL they share the work. On SQLite one writer at a time holds the
        # file, and a worker may find everything billed by the time it gets a turn.
        assert all(issued > 0 for issued, _ in reports), f"a worker did nothing: {reports}"


def test_a_worker_killed_half_way_leaves_the_rest_to_a_second_run_which_bills_it_once(url: str) -> None:
    expected = subscribe_all(url)
    worker = spawn(bill, url)
    try:
        deadline = time.monotonic() + 120
        while last_number(url) < 200:
            assert worker.is_alive(), "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker issued nothing"
            time.sleep(0.02)
        os.kill(worker.pid or 0, signal.SIGKILL)
    finally:
        worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL
    done = last_number(url)
    assert 200 <= done < len(expected)

    reports = in_processes(bill, [(url,)] * 2)

    assert_billed_exactly_once(url, expected)
    assert sum(issued for issued, _ in reports) == len(expected) - done


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None, reason=SKIP_REASON)
def test_workers_billing_one_customer_at_once_apply_its_credit_once() -> None:
    assert PG_URL is not None
    customers, credit = 100, Decimal("375.00")  # one invoice's total: 300 + 25 % VAT
    with fresh_postgres_database(PG_URL) as url:
        with open_store(url) as store, store.transaction() as tx:
            tx.accounts.add(Account(id=PROVIDER, name="Plattform AS", owner_id="owner"))
            for n in range(customers):
                customer = f"customer-{n:03d}"
                tx.accounts.add(Account(id=customer, name=customer, owner_id=customer))
                tx.ledger.add(LedgerEntry(f"credit-{n}", PROVIDER, customer, AT, credit, "NOK", "prepayment"))
                for k in range(2):  # two subscriptions: two invoices at once, one credit
                    anchor = date(2026, 3, 1)
                    tx.subscriptions.add(
                        Subscription(
                            id=f"subscription-{n:03d}-{k}",
                            provider_id=PROVIDER,
                            customer_id=customer,
                            anchor=anchor,
                            plans=(PlanChange(anchor, PLAN),),
                            fee_anchor=anchor,
                        )
                    )

        in_processes(bill, [(url,)] * 4)

        with open_store(url) as store, store.transaction() as tx:
            balances = [tx.ledger.balance(PROVIDER, f"customer-{n:03d}", "NOK") for n in range(customers)]
    assert [b for b in balances if b < 0] == []


# the delivery


class FileMailer:
    """Sends by appending the Message-ID to this worker's own file (flushed, so a kill loses none)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="ascii")

    def send(self, message: EmailMessage) -> None:
        time.sleep(0.001)  # a real mailer takes a while; let the workers overlap
        self._file.write(f"{message['Message-ID']}\n")
        self._file.flush()


def queue_messages(url: str) -> set[str]:
    """Queue MESSAGES ready e-mails; their Message-IDs."""
    with open_store(url) as store, store.transaction() as tx:
        keys = []
        for n in range(MESSAGES):
            email = EmailMessage()
            email["From"] = SENDER
            email["To"] = f"kunde-{n}@example.no"
            email["Subject"] = f"Melding {n}"
            email.set_content("Hei!")
            key = f"test:{n}"
            tx.outbox.add(
                OutboxMessage(
                    id=f"message-{n:04d}",
                    key=key,
                    recipient=str(email["To"]),
                    created_at=AT,
                    next_attempt_at=AT,
                    payload=email.as_bytes(),
                )
            )
            keys.append(key)
    return {message_id(key, SENDER) for key in keys}


def deliver(url: str, log: str, now: datetime = AT) -> int:
    """One worker's delivery: how many messages it sent."""
    with open_store(url) as store:
        return app_on(store, FileMailer(Path(log)), now).billing.deliver().sent


def sent_ids(logs: list[Path]) -> Counter[str]:
    return Counter(line for log in logs if log.exists() for line in log.read_text().splitlines())


def unsent(url: str) -> int:
    with open_store(url) as store, store.transaction() as tx:
        return len(tx.outbox.due(AT + timedelta(days=1), MESSAGES))


def test_workers_delivering_at_once_send_every_message_exactly_once(url: str, tmp_path: Path) -> None:
    expected = queue_messages(url)
    logs = [tmp_path / f"sent-{n}.log" for n in range(3)]

    counts = in_processes(deliver, [(url, str(log)) for log in logs])

    sent = sent_ids(logs)
    assert set(sent) == expected
    assert [m for m, count in sent.items() if count > 1] == []
    assert sum(counts) == MESSAGES
    assert unsent(url) == 0


def test_messages_of_a_killed_worker_are_sent_again_when_its_lease_ends(url: str, tmp_path: Path) -> None:
    expected = queue_messages(url)
    killed, again = tmp_path / "killed.log", tmp_path / "again.log"
    worker = spawn(deliver, url, str(killed))
    try:
        deadline = time.monotonic() + 120
        while len(sent_ids([killed])) < 20:
            assert worker.is_alive(), "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.01)
        os.kill(worker.pid or 0, signal.SIGKILL)
    finally:
        worker.join(timeout=30)
    assert worker.exitcode == -signal.SIGKILL
    first = sent_ids([killed])
    assert len(first) < MESSAGES

    # Before the lease ends, the killed worker's batch is still its own: everything else goes.
    deliver(url, str(again))
    assert max(sent_ids([killed, again]).values()) == 1
    assert unsent(url) <= BATCH
    # After, the rest of that batch is sent too (at least once: one may have gone already).
    deliver(url, str(again), AT + timedelta(minutes=11))

    sent = sent_ids([killed, again])
    assert set(sent) == expected
    twice = {m for m, count in sent.items() if count > 1}
    assert len(twice) <= RECORD_EVERY, "only messages sent but not yet recorded as sent are sent again"
    assert unsent(url) == 0


# processes


def spawn(function: Callable[..., Any], *args: Any) -> multiprocessing.process.BaseProcess:
    """Start ``function(*args)`` in a new (spawned) process."""
    process = multiprocessing.get_context("spawn").Process(target=function, args=args)
    process.start()
    return process
