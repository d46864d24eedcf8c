"""The database going away: a restart, a server that is down, a crash under load, a locked SQLite file.

A call that finds the database unavailable raises ``StoreUnavailable`` (not
the driver's error), which says whether the call may be retried; the store
stays usable, and once the database is back the next call succeeds, even
when every connection in the pool went stale with the restart.

The PostgreSQL tests stop, crash and restart a server of their own
(tests/pgserver.py), so the shared one stays up for the rest of the suite;
they need the PostgreSQL server binaries, which CI always has.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

import tenantbill as tb
from pgserver import own_postgres
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.sql import SqlStore

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
POOLED = 4
LINES = [tb.Line(description="Drift", quantity=Decimal(1), unit_price=Decimal(300))]
DRAFT = tb.InvoiceDraft(bill_to=tb.Party(name="Kunde AS", address="Storgata 1\n0155 Oslo"), lines=LINES)
MAILED = tb.InvoiceDraft(bill_to=tb.Party(name="Kunde AS", emails=("faktura@kunde.no",)), lines=LINES)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with own_postgres() as server:
        yield server


@pytest.fixture
def url(server: Any) -> Iterator[str]:
    """A new database on the test's own server, which is running again when the test ends."""
    import sqlalchemy

    server_url = sqlalchemy.make_url(server.url)
    name = f"tenantbill_test_{uuid.uuid4().hex[:16]}"
    # No pool: the server is restarted between these two statements.
    admin = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        if not server.running():
            server.start()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def app(url: str) -> Iterator[tb.Tenantbill]:
    store = SqlStore(url)
    try:
        yield tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))
    finally:
        store.close()


def fill_pool(store: Any, connections: int = POOLED) -> None:
    """Leave ``connections`` connections in the store's pool (transactions held open at once)."""
    together = threading.Barrier(connections)

    def hold() -> None:
        with store.transaction() as tx:
            tx.users.get("nobody")
            together.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert store._engine.pool.checkedin() == connections  # the premise: that many to go stale


def unavailable(call: Callable[[], object]) -> tb.StoreUnavailable:
    with pytest.raises(tb.StoreUnavailable) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------- PostgreSQL restarted


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_after_a_restart_no_call_fails_though_every_pooled_connection_went_stale(
    server: Any, app: tb.Tenantbill, mode: str
) -> None:
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    fill_pool(app.store)

    server.restart(mode)  # "immediate" is a crash: no goodbye to the clients

    # Each of the next calls meets one of the stale connections first: none may fail.
    assert app.accounts.get(owner.id, account.id).id == account.id
    sequences = [app.invoices.issue(owner.id, account.id, DRAFT).sequence for _ in range(2 * POOLED)]
    assert sequences == list(range(1, 2 * POOLED + 1))


# ---------------------------------------------------------------- PostgreSQL down


def test_while_the_server_is_down_calls_raise_store_unavailable_and_may_be_retried(
    server: Any, app: tb.Tenantbill
) -> None:
    import psycopg

    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    fill_pool(app.store)
    server.stop()

    calls: list[Callable[[], object]] = [
        lambda: app.invoices.issue(owner.id, account.id, DRAFT),  # a write
        lambda: list(app.invoices.of_account(owner.id, account.id)),  # a read
        lambda: app.accounts.sign_up(name="Ny AS", email="eier@ny.no"),
    ]
    for call in calls:
        error = unavailable(call)
        assert error.retryable
        assert f"PostgreSQL at 127.0.0.1:{server.port}/" in str(error)
        assert "Nothing was committed: the call can be retried" in str(error)
        assert isinstance(error.__cause__, psycopg.OperationalError)

    server.start()
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 1


def test_a_connection_lost_in_a_transaction_rolls_it_back_and_the_call_may_be_retried(
    server: Any, app: tb.Tenantbill
) -> None:
    user = tb.User(id="user-lost", name="Åse", email="ase@example.no")

    def add_then_read() -> None:
        with app.store.transaction() as tx:
            tx.users.add(user)  # begins the database transaction
            server.stop()
            tx.users.get(user.id)

    error = unavailable(add_then_read)
    assert error.retryable
    server.start()
    with app.store.transaction() as tx:
        assert tx.users.get(user.id) is None  # rolled back


def test_a_connection_lost_before_commit_leaves_the_outcome_unknown(server: Any, app: tb.Tenantbill) -> None:
    user = tb.User(id="user-commit", name="Åse", email="ase@example.no")

    def add_then_commit() -> None:
        with app.store.transaction() as tx:
            tx.users.add(user)
            server.stop()  # COMMIT is sent to a connection the server has closed

    error = unavailable(add_then_commit)
    assert not error.retryable
    assert "The outcome is unknown" in str(error)
    server.start()
    with app.store.transaction() as tx:
        assert tx.users.get(user.id) is None  # here it was not committed; a caller cannot tell


def test_issuing_in_one_statement_on_a_connection_lost_since_checkout_may_be_retried(
    server: Any, app: tb.Tenantbill
) -> None:
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    first = app.invoices.issue(owner.id, account.id, DRAFT)

    with app.store.transaction() as tx:
        again = tx.invoices.get(first.id)  # a read: nothing begun
        assert again is not None
        server.stop()
        # The first write commits on its own, but the connection is found closed before it is sent.
        error = unavailable(lambda: tx.invoices.add_numbered(attrs.evolve(again, id="invoice-again")))
    assert error.retryable

    server.start()
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 2


@pytest.mark.parametrize("held", ["series row", "issuers' lock"])
def test_issuing_in_one_statement_cut_off_on_the_server_leaves_the_outcome_unknown(
    url: str, app: tb.Tenantbill, held: str
) -> None:
    # The issuing statement (tenantbill's prepared statement, after the account's advisory lock
    # in the same round trip) waits for the series row or for that lock, and its server process
    # is terminated meanwhile: the caller cannot know whether it committed, the store stays
    # usable, and the numbers stay gapless.
    import psycopg

    from tenantbill.sql.postgres import _SERIES_LOCK_CLASS, _account_lock

    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 1
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as holder, psycopg.connect(plain, autocommit=True) as admin:
        if held == "series row":
            holder.execute("SELECT 1 FROM tenantbill_series WHERE account_id = %s FOR UPDATE", (account.id,))
        else:
            holder.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", (_SERIES_LOCK_CLASS, _account_lock(account.id))
            )
        outcome: list[BaseException] = []

        def issue() -> None:
            try:
                app.invoices.issue(owner.id, account.id, DRAFT)
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=issue)
        thread.start()
        waiting: list[Any] = []
        for _ in range(500):  # until the statement waits for the row lock (at most 10 s)
            waiting = admin.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchall()
            if waiting:
                break
            time.sleep(0.02)
        assert len(waiting) == 1
        admin.execute("SELECT pg_terminate_backend(%s)", (waiting[0][0],))
        thread.join(timeout=10)
        holder.rollback()
    assert len(outcome) == 1
    assert isinstance(outcome[0], tb.StoreUnavailable), outcome
    assert not outcome[0].retryable
    assert "The outcome is unknown" in str(outcome[0])
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 2  # it had not committed: no gap


# ---------------------------------------------------------------- PostgreSQL crashed under load


def test_a_crash_while_issuing_and_delivering_loses_nothing_and_numbers_nothing_twice(
    server: Any, url: str
) -> None:
    began = time.monotonic()
    deadline = began + 25
    clock = FixedClock(AT)
    mailer = MemoryMailer()
    store = SqlStore(url)
    app = tb.Tenantbill(store=store, mailer=mailer, clock=clock)
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    keyed_threads, per_thread, unkeyed_target = 3, 30, 30
    failures: Counter[str] = Counter()
    unkeyed_issued: list[str] = []
    unknown = 0
    issuers_done = threading.Event()
    lock = threading.Lock()

    def retrying(call: Callable[[], Any], *, keyed: bool) -> Any:
        """``call()`` until it works; ``None`` if its outcome is unknown and it may not be repeated."""
        while time.monotonic() < deadline:
            try:
                return call()
            except tb.StoreUnavailable as error:
                with lock:
                    failures["retryable" if error.retryable else "unknown"] += 1
                if not error.retryable and not keyed:
                    return None
                time.sleep(0.05)
        raise TimeoutError("the store did not come back")

    def issue_keyed(thread: int) -> None:
        for i in range(per_thread):
            key = f"order-{thread}-{i}"
            retrying(
                lambda key=key: app.invoices.issue(owner.id, account.id, MAILED, idempotency_key=key),
                keyed=True,
            )

    def issue_unkeyed() -> None:
        nonlocal unknown
        while len(unkeyed_issued) < unkeyed_target:
            invoice = retrying(lambda: app.invoices.issue(owner.id, account.id, MAILED), keyed=False)
            if invoice is None:
                unknown += 1  # it may or may not have been issued: not repeated
            else:
                unkeyed_issued.append(invoice.id)

    def deliver() -> None:
        while not issuers_done.is_set():
            report = retrying(lambda: app.billing.deliver(lease=timedelta(minutes=5)), keyed=True)
            if report.sent == 0:
                time.sleep(0.02)

    issuers = [threading.Thread(target=issue_keyed, args=(t,)) for t in range(keyed_threads)]
    issuers.append(threading.Thread(target=issue_unkeyed))
    deliverer = threading.Thread(target=deliver)
    for thread in [*issuers, deliverer]:
        thread.start()
    while len(unkeyed_issued) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.restart("immediate")  # a crash, in the middle of it all, and the server back
    for thread in issuers:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    issuers_done.set()
    deliverer.join(timeout=max(deadline - time.monotonic(), 0))
    assert not any(thread.is_alive() for thread in [*issuers, deliverer]), "the work did not finish in time"
    assert failures, "the crash met no call: it proved nothing"

    # Every keyed call issued exactly one invoice: asked again, each key gives back its own.
    keyed = {
        app.invoices.issue(owner.id, account.id, MAILED, idempotency_key=f"order-{t}-{i}").id
        for t in range(keyed_threads)
        for i in range(per_thread)
    }
    assert len(keyed) == keyed_threads * per_thread
    stored = list(app.invoices.of_account(owner.id, account.id))
    ids = {invoice.id for invoice in stored}
    assert keyed <= ids
    assert set(unkeyed_issued) <= ids
    # An unkeyed call with an unknown outcome may have issued its invoice, or not.
    assert len(keyed) + len(unkeyed_issued) <= len(stored) <= len(keyed) + len(unkeyed_issued) + unknown
    # Numbered without gaps, no number given twice.
    assert [invoice.sequence for invoice in stored] == list(range(1, len(stored) + 1))
    assert len({invoice.number for invoice in stored}) == len(stored)

    # Every invoice's e-mail was queued once, and is sent once the leases of the interrupted
    # deliveries have run out (a message sent but not recorded before the crash is sent again).
    clock.advance(minutes=10)
    while app.billing.deliver().sent:
        pass
    with store.transaction() as tx:
        queued = {invoice.id: tx.outbox.of_invoice(invoice.id) for invoice in stored}
    assert all(len(messages) == 1 for messages in queued.values())
    assert all(messages[0].sent_at is not None for messages in queued.values())
    mailed = Counter(message["X-Tenantbill-Key"] for message in mailer.sent)
    assert set(mailed) == {messages[0].key for messages in queued.values()}
    store.close()
    seconds = time.monotonic() - began
    print(
        f"\n{len(stored)} invoices, {mailer.count} e-mails ({sum(mailed.values()) - len(mailed)} sent again)"
        f" across a crash, in {seconds:.1f} s; calls that met it: {dict(failures)}"
    )
    assert seconds < 30


# ---------------------------------------------------------------- what was answered is on disk


@contextlib.contextmanager
def wal_writer_paused(url: str) -> Iterator[None]:
    """The server's WAL writer stopped (SIGSTOP): WAL no commit flushed stays in shared memory.

    Then a crash (an immediate stop: SIGQUIT, which the writer handles first
    when it is let go) loses exactly what no commit has flushed to disk.
    """
    import os
    import signal

    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as admin:
        row = admin.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'").fetchone()
    assert row is not None
    os.kill(row[0], signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):  # (gone with a crash)
            os.kill(row[0], signal.SIGCONT)


def crash(server: Any, url: str) -> None:
    """Crash the server (its WAL writer paused: see ``wal_writer_paused``) and start it again."""
    import os
    import signal

    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as admin:
        row = admin.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'").fetchone()
    assert row is not None
    stopping = threading.Thread(target=server.stop, args=("immediate",))
    stopping.start()
    time.sleep(0.5)  # the postmaster has sent SIGQUIT: handled first when the writer goes on
    os.kill(row[0], signal.SIGCONT)
    stopping.join(timeout=30)
    server.start()


def test_an_issued_invoice_is_on_disk_before_issue_returns(server: Any, url: str) -> None:
    # The issuing transaction commits without waiting for the disk, so the account's lock is
    # free sooner; the flush that follows in the same round trip must still come first.
    store = SqlStore(url)
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(AT))
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 1
    with wal_writer_paused(url):
        issued = app.invoices.issue(owner.id, account.id, MAILED)
        crash(server, url)
    kept = app.invoices.get(owner.id, issued.id)
    assert (kept.sequence, kept.number) == (2, issued.number)
    assert app.billing.deliver().sent == 1  # its e-mail, queued with it
    assert [message["To"] for message in mailer.sent] == ["faktura@kunde.no"]
    assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 3
    store.close()


def test_events_are_read_only_once_on_disk(server: Any, url: str) -> None:
    # An event committed without waiting for the disk (as an issue's is, until its flush) is
    # returned by events.read only once it is on disk: a forwarder never sends one that a
    # crash then takes back.
    import psycopg

    store = SqlStore(url)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))
    _owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    start = app.events.read(after=0, limit=1000)
    after = start[-1].position if start else 0
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with wal_writer_paused(url):
        with psycopg.connect(plain, autocommit=True) as other:
            other.execute("SET synchronous_commit = off")
            other.execute(
                "INSERT INTO tenantbill_events (type, account_id, at, data)"
                " VALUES ('test.async', %s, now(), '{}')",
                (account.id,),
            )
        read = app.events.read(after=after, limit=1000)
        assert [event.type for event in read] == ["test.async"]
        crash(server, url)
    again = app.events.read(after=after, limit=1000)
    assert [(event.position, event.type) for event in again] == [(read[0].position, "test.async")]
    store.close()


# ---------------------------------------------------------------- SQLite locked


def test_a_sqlite_database_locked_beyond_the_busy_timeout_raises_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "tb.db"
    store = SqlStore(f"sqlite:///{path}?timeout=0.2")
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process's writer, holding the lock
        begin = time.monotonic()
        error = unavailable(lambda: app.invoices.issue(owner.id, account.id, DRAFT))
        assert time.monotonic() - begin < 5
        assert error.retryable
        assert "database is locked" in str(error)
        assert "busy timeout, 0.2 s" in str(error)
        assert isinstance(error.__cause__, sqlite3.OperationalError)
        other.execute("ROLLBACK")
        assert app.invoices.issue(owner.id, account.id, DRAFT).sequence == 1
    finally:
        other.close()
        store.close()
