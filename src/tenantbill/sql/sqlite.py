"""The SQLite store: one writer at a time, so every guarantee holds by serializing.

Every transaction starts with ``BEGIN IMMEDIATE``, which takes the database's
write lock: transactions are serialized across threads and processes, and a
race can never produce a duplicate. So there are no row locks here, and none
needed: numbering reads and increments the series in the transaction, and an
outbox claim reads the due messages and then updates them.

The file is in WAL mode with ``synchronous=FULL`` (a committed invoice number
survives a power cut) and ``secure_delete`` (an erased payload, such as an
invitation token, is zeroed in the file); after a commit that erased one, a
``TRUNCATE`` checkpoint empties the WAL, which held the old page images. The
busy timeout is 30 s unless the URL says otherwise (``?timeout=5``); an
in-memory database (``sqlite://``) is one connection shared under a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import attrs
from sqlalchemy import (
    ClauseElement,
    Connection,
    Dialect,
    Engine,
    Select,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from tenantbill._lazy import repository
from tenantbill.domain.events import Event
from tenantbill.domain.invoices import Invoice, Series
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import Usage
from tenantbill.errors import InvalidInput, NotFound
from tenantbill.ports import Transaction
from tenantbill.sql.codec import SQLITE
from tenantbill.sql.core import (
    SqlInvoices,
    SqlMetering,
    SqlOutbox,
    Statements,
    UnitOfWork,
    first_of_each_key,
)
from tenantbill.sql.schema import outbox, usage
from tenantbill.sql.store import SqlStore, create_tables, first_line

__all__ = ["SqliteStore"]

_BUSY_TIMEOUT_SECONDS = 30.0
_CHECKPOINT_WAIT_MS = 200
"""How long a checkpoint after erasing a payload waits for other connections' readers (then: later)."""

_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOMEM,
    }
)
"""The primary result codes that mean the database is unavailable now, not that a statement is wrong."""


class SqliteStatements(Statements):
    """The statements of the SQLite store."""

    formats = SQLITE
    upsert = staticmethod(sqlite.insert)

    def __init__(self, dialect: Dialect, schema: str | None = None) -> None:
        super().__init__(dialect, schema)
        # No row locks, and none needed: BEGIN IMMEDIATE serializes the transactions.
        self.lock_invoice = self.get_invoice
        # SQLite cannot return the row as it was before the update: a claim reads the due
        # messages first (its transaction holds the write lock throughout), then updates them.
        self.due_one_outbox = self.compile(self.one_due_message)
        self.claim_one_outbox = self.compile(_claim(self.one_due_message))
        # The batch just read, by ordinal (a JSON array): finding the due messages again costs more.
        ordinals = func.json_each(bindparam("ordinals", type_=Text)).table_valued("value")
        self.claim_outbox_ordinals = self.compile(
            update(outbox)
            .where(outbox.c.ordinal.in_(select(ordinals.c.value)))
            .values(next_attempt_at=bindparam("lease_until"))
        )
        # Which of the (subscription_id, key) pairs of a JSON array are recorded, through the unique index.
        pairs = func.json_each(bindparam("pairs", type_=Text)).table_valued("value").alias("pairs")
        self.recorded_usage_keys = self.compile(
            select(usage.c.subscription_id, usage.c.key).select_from(
                pairs.join(
                    usage,
                    (usage.c.subscription_id == func.json_extract(pairs.c.value, "$[0]"))
                    & (usage.c.key == func.json_extract(pairs.c.value, "$[1]")),
                )
            )
        )


def _claim(due: Select[Any]) -> ClauseElement:
    """``UPDATE outbox … WHERE ordinal IN (<the due messages>)``: their next attempt is ``lease_until``."""
    return (
        update(outbox)
        .where(outbox.c.ordinal.in_(due.with_only_columns(outbox.c.ordinal)))
        .values(next_attempt_at=bindparam("lease_until"))
    )


class SqliteInvoices(SqlInvoices):
    """Numbering under the write lock the transaction holds from its start."""

    __slots__ = ()

    def lock_series(self, account_id: str) -> Series:
        return self.series(account_id)  # the transaction holds the write lock already

    def add_numbered(
        self, invoice: Invoice, messages: Sequence[OutboxMessage] = (), events: Sequence[Event] = ()
    ) -> Invoice:
        tx = self._tx
        row = tx._one(self._q.allocate, {"key_account_id": invoice.account_id})
        if row is None:
            raise NotFound(f"no invoice series {invoice.account_id!r}")
        # The series as this statement left it: read again in this transaction, it needs no trip.
        tx._allocated = allocated = self._f.series_from(row)
        sequence: int = row[4]  # last_used
        numbered = invoice.numbered(sequence, allocated.format(sequence))
        tx._run(self._q.insert_invoice, self._f.invoice_values(numbered, tx._add_logo(numbered)))
        return self._queued(numbered, messages, events)


class SqliteOutbox(SqlOutbox):
    """The outbox claim: read the due messages, then move their next attempt (under the write lock)."""

    __slots__ = ()
    _q: SqliteStatements

    def claim(
        self, now: datetime, limit: int, lease_until: datetime, *, message_id: str | None = None
    ) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        values = self._claim_values(now, limit, lease_until, message_id)
        if message_id is None:
            # The write lock is held from BEGIN IMMEDIATE: the rows read are the rows to claim.
            rows = self._tx._all(self._q.due_outbox, values)
            lease = values["lease_until"]
            if rows:
                claimed = {"ordinals": json.dumps([row[0] for row in rows]), "lease_until": lease}
                self._tx._run(self._q.claim_outbox_ordinals, claimed)
        else:
            rows = self._tx._all(self._q.due_one_outbox, values)
            if rows:
                self._tx._run(self._q.claim_one_outbox, values)
        return [attrs.evolve(self._f.outbox_from(row), next_attempt_at=lease_until) for row in rows]


class SqliteMetering(SqlMetering):
    """A batch under the write lock the transaction holds from its start: read which keys are recorded,
    then insert the others with one ``executemany``."""

    __slots__ = ()
    _q: SqliteStatements

    def add(self, usages: Sequence[Usage]) -> set[tuple[str, str]]:
        wanted = first_of_each_key(usages)
        if not wanted:
            return set()
        tx = self._tx
        pairs = json.dumps(list(wanted))
        for subscription_id, key in tx._all(self._q.recorded_usage_keys, {"pairs": pairs}):
            del wanted[subscription_id, key]
        usage_values = self._f.usage_values
        tx._run_many(self._q.insert_usage, [usage_values(usage) for usage in wanted.values()])
        return set(wanted)


class SqliteUnitOfWork(UnitOfWork):
    """A unit of work inside ``BEGIN IMMEDIATE``."""

    driver_errors = (sqlite3.OperationalError,)

    @repository
    def invoices(self) -> SqliteInvoices:
        return SqliteInvoices(self)

    @repository
    def outbox(self) -> SqliteOutbox:
        return SqliteOutbox(self)

    @repository
    def metering(self) -> SqliteMetering:
        return SqliteMetering(self)


class SqliteStore(SqlStore):
    """The :class:`SqlStore` of a SQLite URL (``SqlStore("sqlite:///tenantbill.db")`` makes one)."""

    statements_class = SqliteStatements
    unit_of_work_class = SqliteUnitOfWork

    def __init__(self, url: str | Engine, *, schema: str | None = None, echo: bool = False) -> None:
        if schema is not None:
            raise InvalidInput(
                f"SQLite has no schemas: leave schema= out (got {schema!r:.80}); tenantbill's tables "
                "are named tenantbill_* and can share the file with the host's"
            )
        parsed = url.url if isinstance(url, Engine) else make_url(url)
        self._in_memory = parsed.database in (None, "", ":memory:")
        try:
            self._busy_timeout = float(parsed.query.get("timeout", _BUSY_TIMEOUT_SECONDS))  # type: ignore[arg-type]
        except ValueError:
            raise InvalidInput(f"the SQLite URL's timeout must be a number of seconds ({url!r})") from None
        # BEGIN IMMEDIATE serializes transactions anyway; queueing this
        # process's threads on a lock spares them SQLite's busy-wait sleeps.
        self._serial = threading.Lock()
        # An erased payload may still be in the WAL: checkpoint after the next transaction.
        self._checkpoint_due = False
        super().__init__(url, schema=schema, echo=echo)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open a transaction: committed when the block ends, rolled back if it raises."""
        if getattr(self._open, "transaction", False):
            raise RuntimeError("SqlStore transactions do not nest")
        statements = self._statements or self._set_up()
        self._open.transaction = True
        try:
            with self._serial:
                connection = self._checkout()
                scrub = False
                try:
                    cursor = connection.cursor()
                    try:
                        cursor.execute("BEGIN IMMEDIATE")  # the write lock, now
                    except sqlite3.OperationalError as error:
                        cursor.close()
                        self._reraise(error, "beginning a transaction (BEGIN IMMEDIATE)", True)
                    tx = SqliteUnitOfWork(cursor, statements, self._log, None, self._unavailable)
                    try:
                        yield tx
                        tx.flush_events()
                    except BaseException as error:
                        self._roll_back(connection)
                        if isinstance(
                            error, sqlite3.OperationalError
                        ):  # not from the unit of work's statements
                            self._reraise(error, "running a statement", True)
                        raise
                    finally:
                        tx.closed = True
                        cursor.close()
                    try:
                        connection.commit()
                    except sqlite3.OperationalError as error:
                        # A COMMIT that is busy leaves the transaction open, to be rolled back;
                        # after an I/O error it may or may not have been committed.
                        self._roll_back(connection)
                        self._reraise(error, "committing", _code(error) in _BUSY)
                    scrub = tx.erased or self._checkpoint_due
                finally:
                    if scrub:
                        self._scrub(connection, first=tx.erased)
                    connection.close()  # back to the pool
        finally:
            self._open.transaction = False

    def close(self) -> None:
        """Close the store's database connections; the store can no longer be used."""
        if self._checkpoint_due:
            with self._serial:
                connection = self._engine.raw_connection()
                try:
                    self._scrub(connection, first=True)
                finally:
                    connection.close()
        super().close()

    def _scrub(self, connection: Any, *, first: bool) -> None:
        """After a commit that erased a payload: leave no copy of the old bytes behind, if it can.

        The transaction has committed; nothing here may fail it. ``secure_delete``
        is on, so the file's freed space is zeroed: a ``TRUNCATE`` checkpoint
        copies the new pages into the file and empties the WAL, which held the
        old page images. A reader in another connection can hold it up: it is
        then retried after the next transaction, and at :meth:`close`.
        """
        if self._in_memory:
            return
        try:
            cursor = connection.driver_connection.cursor()
            try:
                wait = _CHECKPOINT_WAIT_MS if first else 0
                (was,) = cursor.execute("PRAGMA busy_timeout").fetchone()
                cursor.execute(f"PRAGMA busy_timeout={wait}")
                try:
                    (busy, _, _) = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                finally:
                    cursor.execute(f"PRAGMA busy_timeout={int(was)}")
            finally:
                cursor.close()
            self._checkpoint_due = busy != 0
        except Exception:
            self._checkpoint_due = True

    def _serialized(self) -> AbstractContextManager[Any]:
        return self._serial

    def _make_engine(self, url: str, *, echo: bool) -> Engine:
        in_memory = self._in_memory
        if in_memory:
            # One connection shared by every thread (under the store's lock): each
            # new connection to ":memory:" would be a new, empty database.
            engine = create_engine(
                url, echo=echo, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": self._busy_timeout},
            )
        busy_timeout = self._busy_timeout

        @event.listens_for(engine, "connect")
        def configure(dbapi_connection: Any, _record: Any) -> None:
            # The pysqlite driver's own transaction handling defers BEGIN and so
            # cannot serialize writers; switch it off and begin explicitly.
            dbapi_connection.isolation_level = None
            _configure(dbapi_connection, in_memory, busy_timeout)

        @event.listens_for(engine, "begin")
        def begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _create_tables(self, connection: Connection) -> None:
        # One transaction, which holds the write lock: processes starting together
        # do not race to create the same table.
        with connection.begin():
            self._join(connection.connection.driver_connection)  # (a host's engine begins lazily)
            create_tables(connection)

    def _checkout(self) -> Any:
        connection = super()._checkout()
        if self._borrowed and not connection.info.get(_CONFIGURED):
            # A host's connection: set up as tenantbill's own are (once per connection),
            # leaving the driver's transaction handling as the host has it.
            _configure(connection.driver_connection, self._in_memory, self._busy_timeout)
            connection.info[_CONFIGURED] = True
        return connection

    @staticmethod
    def _join(driver: Any) -> None:
        """Take the write lock now if ``driver`` has no transaction open: ``BEGIN IMMEDIATE``.

        For a host's connection, whose driver may begin lazily: a ``SAVEPOINT``
        outside a transaction would begin one that its ``RELEASE`` commits.
        """
        if not driver.in_transaction:
            driver.execute("BEGIN IMMEDIATE")

    def _describe(self) -> str:
        if self._in_memory:
            return "the in-memory SQLite database"
        return f"the SQLite database {self._engine.url.database}"

    def _failure(self, error: BaseException) -> str | None:
        if not isinstance(error, sqlite3.OperationalError) or _code(error) not in _UNAVAILABLE:
            return None
        what = first_line(error)
        if _code(error) in _BUSY:
            what += (
                f" (another connection held it for longer than the busy timeout, {self._busy_timeout:g} s;"
                " a URL's ?timeout= sets it)"
            )
        return what


_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

_CONFIGURED = "tenantbill.configured"
"""Set in a host's pooled connection's ``info`` once tenantbill has set its pragmas."""


def _configure(dbapi_connection: Any, in_memory: bool, busy_timeout: float) -> None:
    """A connection's pragmas for tenantbill: ``secure_delete``; on a file, WAL and ``synchronous=FULL``."""
    cursor = dbapi_connection.cursor()
    try:
        # Deleted and overwritten content is zeroed, not left in free space:
        # an erased payload (an invitation token) must not stay in the file.
        cursor.execute("PRAGMA secure_delete=ON")
        if not in_memory:
            _use_wal(cursor, busy_timeout)
            # Durable commits: a committed invoice number must survive a power cut.
            cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()


def _code(error: sqlite3.Error) -> int:
    """The primary result code of ``error`` (``SQLITE_BUSY`` for ``SQLITE_BUSY_SNAPSHOT``), or -1."""
    code: int = getattr(error, "sqlite_errorcode", -1)
    return code & 0xFF if code >= 0 else -1


def _use_wal(cursor: Any, busy_timeout: float) -> None:
    """Put the database file in WAL mode (kept in the file: once is enough)."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            # Processes opening a new file at once all try to switch it, and
            # the switch fails at once, without the busy timeout: retry.
            if _code(error) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
