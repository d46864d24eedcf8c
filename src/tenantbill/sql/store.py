"""SqlStore: the :class:`~tenantbill.ports.Store` on SQLAlchemy Core, for SQLite and PostgreSQL.

It behaves exactly like :class:`~tenantbill.memory.MemoryStore` (the same
conformance suite runs on both); what differs is how the guarantees are kept.

- SQLite: every transaction starts with ``BEGIN IMMEDIATE``, so transactions
  are serialized across threads and processes and a race can never produce a
  duplicate. The file is in WAL mode with a 30 s busy timeout; an in-memory
  database (``sqlite://``) is one connection shared under a lock.
- PostgreSQL: READ COMMITTED. The series row is locked by the one ``UPDATE …
  RETURNING`` that allocates a number; claims and marks rely on primary keys
  and ``INSERT … ON CONFLICT DO NOTHING`` (which waits for a concurrent insert
  of the same key), so no statement fails and aborts the transaction. Billing
  workers lock a subscription with ``FOR UPDATE SKIP LOCKED``, and delivery
  workers claim outbox messages with one ``UPDATE … FROM (SELECT … FOR UPDATE
  SKIP LOCKED) … RETURNING``, so workers in several processes share the work
  without waiting for each other. A transaction begins at its first statement
  that writes or locks; the plain reads before it run on their own, which
  under READ COMMITTED sees exactly what they would see inside it (each
  statement reads what was committed when it started), and a transaction
  that only reads costs no ``BEGIN``/``COMMIT`` round trips. Issuing an
  invoice to a party is one statement of its own (:meth:`SqlStore.issue_invoice`):
  the series row is locked only while the server numbers, inserts and commits.

SQLAlchemy builds every statement for the backend's dialect and compiles it
once; a transaction then runs the compiled SQL on its connection's driver
cursor. That keeps a statement's cost close to the driver's own, which is
what makes an invoice a fraction of a millisecond.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, cast

import attrs
from sqlalchemy import (
    ClauseElement,
    Connection,
    Dialect,
    Engine,
    Select,
    Table,
    Text,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

from tenantbill.domain.accounts import (
    Account,
    AuditEvent,
    Invitation,
    InvitationState,
    Membership,
    Role,
    User,
)
from tenantbill.domain.identity import email_key
from tenantbill.domain.invoices import Invoice, LedgerEntry, Series
from tenantbill.domain.keys import KeyRecord
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import Subscription, Usage
from tenantbill.errors import (
    AlreadyBilled,
    AlreadyMember,
    EmailTaken,
    InvalidInput,
    NotFound,
    number_taken,
)
from tenantbill.ports import DuplicateId, Transaction
from tenantbill.sql.codec import POSTGRESQL, SQLITE, Formats, Row
from tenantbill.sql.schema import (
    accounts,
    audit_events,
    billing_marks,
    blobs,
    idempotency_keys,
    invitations,
    invoices,
    ledger_entries,
    memberships,
    metadata,
    number_claims,
    number_owners,
    outbox,
    series,
    subscriptions,
    usage,
    users,
)

__all__ = ["SqlStore"]

_BUSY_TIMEOUT_SECONDS = 30.0
_CHECKPOINT_WAIT_MS = 200
"""How long a checkpoint after erasing a payload waits for other connections' readers (then: later)."""
_INVOICE_PAGE = 500
# Any constant will do: it names the advisory lock that serializes schema creation.
_SCHEMA_LOCK_KEY = 0x7E4A_B111


class SqlStore:
    """A store in a SQL database: ``SqlStore("sqlite:///tenantbill.db")``.

    Also ``"sqlite://"`` (in memory, for tests) and
    ``"postgresql+psycopg://user:password@host/db"``. The tables are created on
    first use. ``echo=True`` logs every statement.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            in_memory = parsed.database in (None, "", ":memory:")
            self._engine = _sqlite_engine(parsed, echo=echo, in_memory=in_memory)
            self._in_memory = in_memory
            # BEGIN IMMEDIATE serializes transactions anyway; queueing this
            # process's threads on a lock spares them SQLite's busy-wait sleeps.
            self._serial: threading.Lock | None = threading.Lock()
        elif backend == "postgresql":
            self._engine = _postgresql_engine(parsed, echo=echo)
            self._serial = None
            self._in_memory = False
        else:
            raise InvalidInput(f"SqlStore works with SQLite and PostgreSQL, not {backend!r} ({url!r})")
        # With echo=True, the statements run on the driver's cursor are logged
        # where SQLAlchemy logs its own.
        self._log: Any = self._engine.logger if echo else None
        self._statements: _Statements | None = None
        self._setup_lock = threading.Lock()
        self._open = threading.local()
        # SQLite: an erased payload may still be in the WAL; checkpoint after the next transaction.
        self._checkpoint_due = False

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open a transaction: committed when the block ends, rolled back if it raises."""
        if getattr(self._open, "transaction", False):
            raise RuntimeError("SqlStore transactions do not nest")
        statements = self._statements or self._set_up()
        self._open.transaction = True
        try:
            # The pool's DB-API connection, without SQLAlchemy's Connection around it:
            # every statement is compiled already, and this is the hot path.
            with self._serialized():
                connection = self._engine.raw_connection()
                driver: Any = connection.driver_connection
                scrub = False
                try:
                    cursor = connection.cursor()
                    begin = None
                    if self._serial is not None:  # SQLite: take the write lock now
                        cursor.execute("BEGIN IMMEDIATE")
                    else:
                        # PostgreSQL, READ COMMITTED: each statement reads what was committed
                        # when it started, in a transaction or not. So reads run on their
                        # own (the connection rests in autocommit mode) until the first
                        # statement that writes or locks, which begins the transaction: a
                        # transaction that only reads costs no BEGIN and no COMMIT.
                        begin = partial(setattr, driver, "autocommit", False)
                    tx = _SqlTransaction(cursor, statements, self._log, begin)
                    try:
                        yield tx
                    except BaseException:
                        if tx.begun:
                            connection.rollback()
                        raise
                    finally:
                        tx.closed = True
                        cursor.close()
                    if tx.begun:
                        connection.commit()
                        scrub = tx.erased or self._checkpoint_due
                finally:
                    if self._serial is None and not driver.autocommit:
                        try:
                            driver.autocommit = True  # at rest again, after COMMIT or ROLLBACK
                        except Exception:  # a broken connection: not to be reused
                            connection.invalidate()
                            scrub = False
                    if scrub:
                        self._scrub(connection, driver, first=tx.erased)
                    connection.close()  # back to the pool
        finally:
            self._open.transaction = False

    def close(self) -> None:
        """Close the store's database connections; the store can no longer be used."""
        if self._checkpoint_due:
            with self._serialized():
                connection = self._engine.raw_connection()
                try:
                    self._scrub(connection, connection.driver_connection, first=True)
                finally:
                    connection.close()
        self._engine.dispose()

    def _scrub(self, connection: Any, driver: Any, *, first: bool) -> None:
        """After a commit that erased a payload: leave no copy of the old bytes behind, if it can.

        The transaction has committed; nothing here may fail it.

        - SQLite (``secure_delete`` is on, so the file's freed space is
          zeroed): a ``TRUNCATE`` checkpoint copies the new pages into the
          file and empties the WAL, which held the old page images. A reader
          in another connection can hold it up: it is then retried after the
          next transaction, and at :meth:`close`.
        - PostgreSQL: ``VACUUM`` of the outbox removes the dead row versions
          the ``UPDATE`` left, unless another vacuum holds the table or an
          older snapshot still sees them (autovacuum gets them later).
        """
        try:
            if self._serial is not None:
                if self._in_memory:
                    return
                cursor = driver.cursor()
                try:
                    wait = _CHECKPOINT_WAIT_MS if first else 0
                    cursor.execute(f"PRAGMA busy_timeout={wait}")
                    try:
                        (busy, _, _) = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    finally:
                        cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_SECONDS * 1000)}")
                finally:
                    cursor.close()
                self._checkpoint_due = busy != 0
            else:
                cursor = driver.cursor()
                try:
                    version = self._engine.dialect.server_version_info or ()
                    skip = " (SKIP_LOCKED)" if version >= (12,) else ""
                    cursor.execute(f"VACUUM{skip} {outbox.name}")
                finally:
                    cursor.close()
        except Exception:
            if self._serial is not None:
                self._checkpoint_due = True
            else:  # the connection may be broken: not to be reused
                connection.invalidate()

    def _serialized(self) -> AbstractContextManager[Any]:
        return nullcontext() if self._serial is None else self._serial

    def _set_up(self) -> _Statements:
        """Create the tables if they are missing, and compile the statements."""
        with self._setup_lock, self._serialized():
            if self._statements is not None:
                return self._statements
            # One transaction, which on SQLite holds the write lock and on
            # PostgreSQL an advisory lock: processes starting together do not
            # race to create the same table.
            with self._engine.connect() as connection:
                postgres = connection.dialect.name == "postgresql"
                driver: Any = connection.connection.driver_connection
                if postgres:
                    driver.autocommit = False  # it rests in autocommit mode (see _postgresql_engine)
                try:
                    with connection.begin():
                        if postgres:
                            lock = text("SELECT pg_advisory_xact_lock(:key)")
                            connection.execute(lock, {"key": _SCHEMA_LOCK_KEY})
                        existing = set(inspect(connection).get_table_names())
                        fresh = not any(table in existing for table in metadata.tables)
                        metadata.create_all(connection)
                        if fresh:
                            # Record the schema's revision, so migrations later start from the right place.
                            from tenantbill.sql import migrate

                            migrate.stamp_created(connection)
                finally:
                    if postgres:
                        driver.autocommit = True
            self._statements = _statements_for(self._engine.dialect)
            return self._statements


def _sqlite_engine(url: URL, *, echo: bool, in_memory: bool) -> Engine:
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
            connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_SECONDS},
        )

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # The pysqlite driver's own transaction handling defers BEGIN and so
        # cannot serialize writers; switch it off and begin explicitly below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # Deleted and overwritten content is zeroed, not left in free space:
            # an erased payload (an invitation token) must not stay in the file.
            cursor.execute("PRAGMA secure_delete=ON")
            if not in_memory:
                _use_wal(cursor)
                # Durable commits: a committed invoice number must survive a power cut.
                cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (kept in the file: once is enough)."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
            if mode.lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            # Processes opening a new file at once all try to switch it, and
            # the switch fails at once, without the busy timeout: retry.
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _postgresql_engine(url: URL, *, echo: bool) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")  # the driver of the postgres extra
    engine = create_engine(url, echo=echo, isolation_level="READ COMMITTED")

    @event.listens_for(engine, "connect")
    def reads_on_their_own(dbapi_connection: Any, _record: Any) -> None:
        # A pooled connection rests in autocommit mode: reads need no BEGIN, and
        # SqlStore.transaction switches it off at the first write (see there).
        dbapi_connection.autocommit = True

    return engine


# Compiling every statement takes tens of milliseconds: stores on the same
# kind of database share one compiled set. A memo, filled at most once per key.
_COMPILED: dict[tuple[Any, ...], _Statements] = {}


def _statements_for(dialect: Dialect) -> _Statements:
    key = (type(dialect), dialect.server_version_info)
    statements = _COMPILED.get(key)
    if statements is None:
        statements = _COMPILED.setdefault(key, _Statements(dialect))
    return statements


class _Sql:
    """A statement compiled once for a dialect, ready for the driver's ``cursor.execute``."""

    __slots__ = ("defaults", "names", "text", "writes")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.text = compiled.string
        # Whether it writes or locks: only such a statement needs a transaction begun.
        # Anything but a plain SELECT (an INSERT, an UPDATE, a WITH of data-modifying
        # statements) writes; a SELECT … FOR UPDATE locks.
        self.writes = not self.text.lstrip().upper().startswith("SELECT") or "FOR UPDATE" in self.text
        # Values SQLAlchemy put in itself, such as the 1 of "next_sequence + 1".
        self.defaults = {name: value for name, value in compiled.params.items() if value is not None}
        self.names = tuple(compiled.positiontup or ()) if dialect.positional else None

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple in order for SQLite, a mapping for psycopg."""
        if self.defaults:
            values = {**self.defaults, **values}
        if self.names is None:
            return values
        return tuple(map(values.__getitem__, self.names))


def _columns(table: Table) -> dict[str, Any]:
    """A bound parameter per column, named after it, but for the row number the database assigns."""
    return {c.name: bindparam(c.name) for c in table.c if c.name != "ordinal"}


def _insert(table: Table) -> ClauseElement:
    """``INSERT INTO table`` of every column but the row number, which the database assigns."""
    return insert(table).values(_columns(table))


def _replace(table: Table, *keys: str) -> ClauseElement:
    """``UPDATE table SET <every other column> WHERE <keys>``; key parameters are ``key_<name>``."""
    return (
        update(table)
        .where(*(table.c[key] == bindparam(f"key_{key}") for key in keys))
        .values({c.name: bindparam(c.name) for c in table.c if c.name not in (*keys, "ordinal")})
    )


_ISSUE_MESSAGES_AT_MOST = 8
"""Invoices with more recipients than this are issued in an ordinary transaction."""


def _issue_statement(messages: int) -> ClauseElement:
    """PostgreSQL: number, insert and queue an invoice with ``messages`` e-mails, in one statement.

    ``WITH allocated AS (UPDATE series …), issued AS (INSERT INTO invoices …
    SELECT … FROM allocated RETURNING …), queued AS (INSERT INTO outbox …
    SELECT … FROM issued) SELECT sequence, number FROM issued``: the e-mails
    are queued only if the invoice was inserted, and all of it commits or
    none. Outbox parameters are named ``m<k>_<column>``.
    """
    issued = _allocate_and_insert().cte("issued")
    final = select(issued.c.sequence, issued.c.number)
    if messages:
        given = [c for c in outbox.c if c.name != "ordinal"]
        rows = [
            select(*(sa_cast(bindparam(f"m{k}_{c.name}"), c.type) for c in given)).select_from(issued)
            for k in range(messages)
        ]
        queued = (
            insert(outbox)
            .from_select([c.name for c in given], rows[0] if messages == 1 else union_all(*rows))
            .returning(outbox.c.id)
            .cte("queued")
        )
        final = final.add_cte(queued)
    return final


def _allocate_and_insert() -> Insert:
    """PostgreSQL: take the next number of the series and insert the invoice with it, in one statement.

    ``WITH allocated AS (UPDATE series … RETURNING …) INSERT INTO invoices …
    SELECT …, allocated.last_used, <the number> FROM allocated RETURNING
    sequence, number``. The number is formatted as ``Series.format`` does:
    the prefix, then the digits zero-padded to the width (never cut).
    """
    allocated = (
        update(series)
        .where(series.c.account_id == bindparam("key_account_id"))
        .values(next_sequence=series.c.next_sequence + 1, last_used=series.c.next_sequence)
        .returning(series.c.last_used, series.c.prefix, series.c.width)
        .cte("allocated")
    )
    digits = sa_cast(allocated.c.last_used, Text())
    padded = case(
        (func.length(digits) >= allocated.c.width, digits),
        else_=func.lpad(digits, allocated.c.width, "0"),
    )
    given = [c for c in invoices.c if c.name not in ("sequence", "number")]
    rows = select(
        *(bindparam(c.name, type_=c.type) for c in given),
        allocated.c.last_used,
        allocated.c.prefix + padded,
    )
    return (
        insert(invoices)
        .from_select([*(c.name for c in given), "sequence", "number"], rows)
        .returning(invoices.c.sequence, invoices.c.number)
    )


def _key_params(values: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The parameters of a :func:`_replace` statement: the keys renamed, the rest as they are."""
    params = {name: value for name, value in values.items() if name not in keys}
    params.update({f"key_{key}": values[key] for key in keys})
    return params


class _Statements:
    """Every statement the store runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        postgres = dialect.name == "postgresql"
        upsert = postgresql.insert if postgres else sqlite.insert
        self.formats: Formats = POSTGRESQL if postgres else SQLITE
        self.locks_rows = postgres

        def sql(statement: ClauseElement) -> _Sql:
            return _Sql(statement, dialect)

        self.insert_user = sql(
            upsert(users).values(_columns(users)).on_conflict_do_nothing(index_elements=["email_key"])
        )
        # The case-folded key stays as inserted: a user keeps their address.
        self.update_user = sql(
            update(users)
            .where(users.c.id == bindparam("key_id"))
            .values(
                name=bindparam("name"),
                email=bindparam("email"),
                invoice_emails=bindparam("invoice_emails"),
            )
        )
        self.get_user = sql(select(users).where(users.c.id == bindparam("id")))
        self.user_by_email = sql(select(users).where(users.c.email_key == bindparam("email_key")))

        self.insert_account = sql(
            upsert(accounts).values(_columns(accounts)).on_conflict_do_nothing(index_elements=["id"])
        )
        self.update_account = sql(_replace(accounts, "id"))
        self.get_account = sql(select(accounts).where(accounts.c.id == bindparam("id")))
        self.accounts_of_user = sql(
            select(accounts)
            .join(memberships, memberships.c.account_id == accounts.c.id)
            .where(memberships.c.user_id == bindparam("user_id"))
            .order_by(memberships.c.ordinal)
        )

        self.insert_membership = sql(
            upsert(memberships)
            .values(_columns(memberships))
            .on_conflict_do_nothing(index_elements=["account_id", "user_id"])
        )
        membership_key = (
            memberships.c.account_id == bindparam("account_id"),
            memberships.c.user_id == bindparam("user_id"),
        )
        owner = Role.OWNER.value
        self.delete_membership = sql(delete(memberships).where(*membership_key, memberships.c.role != owner))
        # Ownership moves in this order: the new owner's row locked (it must be a member,
        # not the owner), the owner demoted (only if still the owner), the new one promoted.
        self.lock_member = sql(
            select(memberships.c.role).where(*membership_key, memberships.c.role != owner).with_for_update()
        )
        self.demote_owner = sql(
            update(memberships)
            .where(*membership_key, memberships.c.role == owner)
            .values(role=Role.MEMBER.value)
        )
        self.promote_member = sql(update(memberships).where(*membership_key).values(role=owner))
        self.set_account_owner = sql(
            update(accounts)
            .where(accounts.c.id == bindparam("account_id"))
            .values(owner_id=bindparam("owner_id"))
        )
        self.get_membership = sql(select(memberships).where(*membership_key))
        self.account_and_membership = sql(
            select(accounts, memberships)
            .select_from(
                accounts.outerjoin(
                    memberships,
                    (memberships.c.account_id == accounts.c.id)
                    & (memberships.c.user_id == bindparam("user_id")),
                )
            )
            .where(accounts.c.id == bindparam("account_id"))
        )
        self.memberships_of_account = sql(
            select(memberships)
            .where(memberships.c.account_id == bindparam("account_id"))
            .order_by(memberships.c.ordinal)
        )

        owner_key = (
            number_owners.c.kind == bindparam("kind"),
            number_owners.c.number == bindparam("number"),
        )
        claim_key = (
            number_claims.c.kind == bindparam("kind"),
            number_claims.c.number == bindparam("number"),
        )
        self.insert_owner = sql(
            upsert(number_owners)
            .values(_columns(number_owners))
            .on_conflict_do_nothing(index_elements=["kind", "number"])
        )
        owner_upsert = upsert(number_owners).values(_columns(number_owners))
        self.set_owner = sql(
            owner_upsert.on_conflict_do_update(
                index_elements=["kind", "number"], set_={"owner_id": owner_upsert.excluded.owner_id}
            )
        )
        self.lock_owner = sql(select(number_owners.c.owner_id).where(*owner_key).with_for_update())
        self.delete_owner = sql(delete(number_owners).where(*owner_key, ~exists().where(*claim_key)))
        self.insert_claim = sql(
            upsert(number_claims).values(_columns(number_claims)).on_conflict_do_nothing()
        )
        self.delete_claim = sql(
            delete(number_claims).where(*claim_key, number_claims.c.account_id == bindparam("account_id"))
        )
        self.holders = sql(
            select(number_claims.c.account_id).where(*claim_key).order_by(number_claims.c.account_id)
        )

        self.insert_invitation = sql(_insert(invitations))
        pending = (
            invitations.c.id == bindparam("id"),
            invitations.c.state == InvitationState.PENDING.value,
        )
        self.accept_invitation = sql(
            update(invitations)
            .where(*pending, invitations.c.token_hash == bindparam("token_hash"))
            .values(state=InvitationState.ACCEPTED.value, accepted_by=bindparam("user_id"))
        )
        self.revoke_invitation = sql(
            update(invitations).where(*pending).values(state=InvitationState.REVOKED.value)
        )
        self.renew_invitation = sql(
            update(invitations)
            .where(*pending)
            .values(token_hash=bindparam("new_token_hash"), expires_at=bindparam("expires_at"))
        )

        self.claim_key = sql(
            upsert(idempotency_keys)
            .values(_columns(idempotency_keys))
            .on_conflict_do_nothing(index_elements=["scope", "key"])
        )
        key_match = (
            idempotency_keys.c.scope == bindparam("scope"),
            idempotency_keys.c.key == bindparam("key"),
        )
        self.get_key = sql(
            select(idempotency_keys.c.fingerprint, idempotency_keys.c.result).where(*key_match)
        )
        self.complete_key = sql(update(idempotency_keys).where(*key_match).values(result=bindparam("result")))
        self.get_invitation = sql(select(invitations).where(invitations.c.id == bindparam("id")))
        self.invitation_by_token = sql(
            select(invitations).where(invitations.c.token_hash == bindparam("token_hash"))
        )

        self.insert_audit = sql(_insert(audit_events))
        self.audit_of_account = sql(
            select(audit_events)
            .where(audit_events.c.account_id == bindparam("account_id"))
            .order_by(audit_events.c.ordinal)
        )

        self.insert_series = sql(_insert(series))
        series_upsert = upsert(series).values(_columns(series))
        self.save_series = sql(
            series_upsert.on_conflict_do_update(
                index_elements=["account_id"],
                set_={
                    c: series_upsert.excluded[c] for c in ("next_sequence", "prefix", "width", "last_used")
                },
            )
        )
        self.get_series = sql(select(series).where(series.c.account_id == bindparam("account_id")))
        self.lock_series = (
            sql(select(series).where(series.c.account_id == bindparam("account_id")).with_for_update())
            if postgres
            else None
        )
        # One statement reads, increments and (on PostgreSQL) locks the series row, and
        # returns it: the series read next in the transaction needs no second trip.
        self.allocate = sql(
            update(series)
            .where(series.c.account_id == bindparam("key_account_id"))
            .values(next_sequence=series.c.next_sequence + 1, last_used=series.c.next_sequence)
            .returning(*series.c)
        )

        self.insert_blob = sql(
            upsert(blobs).values(_columns(blobs)).on_conflict_do_nothing(index_elements=["digest"])
        )
        self.insert_invoice = sql(_insert(invoices))
        self.allocate_and_insert_invoice = sql(_allocate_and_insert()) if postgres else None
        self._dialect = dialect
        self._issue: dict[int, _Sql] = {}
        invoice_with_logo = select(invoices, blobs.c.data).select_from(
            invoices.outerjoin(blobs, blobs.c.digest == invoices.c.seller_logo)
        )
        self.get_invoice = sql(invoice_with_logo.where(invoices.c.id == bindparam("id")))
        # FOR UPDATE OF the invoice only (the logo's blob row is shared). SQLite: no row locks,
        # and none needed: BEGIN IMMEDIATE serializes its transactions.
        self.lock_invoice = (
            sql(invoice_with_logo.where(invoices.c.id == bindparam("id")).with_for_update(of=invoices))
            if postgres
            else self.get_invoice
        )
        invoices_in_order = invoice_with_logo.where(
            invoices.c.account_id == bindparam("account_id")
        ).order_by(invoices.c.sequence)
        self.first_invoices = sql(invoices_in_order.limit(_INVOICE_PAGE))
        self.next_invoices = sql(
            invoices_in_order.where(invoices.c.sequence > bindparam("after")).limit(_INVOICE_PAGE)
        )
        self.credit_notes_of = sql(
            invoice_with_logo.where(invoices.c.credits_invoice_id == bindparam("invoice_id")).order_by(
                invoices.c.sequence
            )
        )

        customer_key = (
            ledger_entries.c.account_id == bindparam("account_id"),
            ledger_entries.c.customer == bindparam("customer"),
        )
        self.insert_ledger = sql(_insert(ledger_entries))
        self.ledger = sql(select(ledger_entries).where(*customer_key).order_by(ledger_entries.c.ordinal))
        # Summed in Python: the amounts are exact decimal text, which SQL would sum as floats.
        self.ledger_amounts = sql(
            select(ledger_entries.c.amount).where(
                *customer_key, ledger_entries.c.currency == bindparam("currency")
            )
        )

        self.insert_subscription = sql(_insert(subscriptions))
        self.update_subscription = sql(_replace(subscriptions, "id"))
        get_subscription = select(subscriptions).where(subscriptions.c.id == bindparam("id"))
        self.get_subscription = sql(get_subscription)
        self.subscriptions_of_account = sql(
            select(subscriptions)
            .where(
                (subscriptions.c.provider_id == bindparam("account_id"))
                | (subscriptions.c.customer_id == bindparam("account_id"))
            )
            .order_by(subscriptions.c.id)
        )
        self.has_subscription = sql(
            select(subscriptions.c.id)
            .where(
                subscriptions.c.provider_id == bindparam("provider_id"),
                subscriptions.c.customer_id == bindparam("customer_id"),
            )
            .limit(1)
        )
        # SQLite has no row locks (and needs none: its transactions are serialized).
        self.lock_subscription = sql(get_subscription.with_for_update(skip_locked=True))
        self.lock_subscription_waiting = sql(get_subscription.with_for_update())
        due = (
            select(subscriptions.c.id)
            .where(subscriptions.c.next_due <= bindparam("as_of"))
            .order_by(subscriptions.c.id)
            .limit(bindparam("limit"))
        )
        self.first_due_subscriptions = sql(due)
        self.next_due_subscriptions = sql(due.where(subscriptions.c.id > bindparam("after")))
        # The next due subscription no other transaction holds, locked (SQLite: serialized anyway).
        take = due.with_only_columns(*subscriptions.c).with_for_update(skip_locked=True)
        self.lock_first_due_subscription = sql(take)
        self.lock_next_due_subscription = sql(take.where(subscriptions.c.id > bindparam("after")))

        self.insert_usage = sql(_insert(usage))
        self.usage_between = sql(
            select(usage)
            .where(
                usage.c.subscription_id == bindparam("subscription_id"),
                usage.c.on >= bindparam("start"),
                usage.c.on < bindparam("end"),
            )
            .order_by(usage.c.ordinal)
        )

        self.insert_billing_mark = sql(
            upsert(billing_marks)
            .values(_columns(billing_marks))
            .on_conflict_do_nothing(index_elements=["subscription_id", "due"])
        )

        self.insert_outbox = sql(
            upsert(outbox).values(_columns(outbox)).on_conflict_do_nothing(index_elements=["key"])
        )
        # Only the delivery state: the key and the content of a message never change,
        # except that a sent or dropped message's payload is erased, and a drop is kept.
        delivery_state: dict[str, Any] = {name: bindparam(name) for name in _DELIVERY_STATE}
        dropped_at = bindparam("dropped_at", type_=outbox.c.dropped_at.type)
        delivery_state["dropped_at"] = func.coalesce(outbox.c.dropped_at, dropped_at)
        update_state = update(outbox).where(outbox.c.id == bindparam("key_id")).values(delivery_state)
        self.update_outbox = sql(update_state)
        self.update_outbox_erasing = sql(update_state.values(payload=null()))
        self.get_outbox = sql(select(outbox).where(outbox.c.id == bindparam("id")))
        due_now = (
            outbox.c.sent_at.is_(None),
            outbox.c.dropped_at.is_(None),
            outbox.c.next_attempt_at <= bindparam("now"),
        )
        due_order = (outbox.c.next_attempt_at, outbox.c.created_at, outbox.c.id)
        due_messages = select(outbox).where(*due_now).order_by(*due_order).limit(bindparam("limit"))
        self.due_outbox = sql(due_messages)
        self.claim_outbox = sql(_claim(postgres, due_messages))
        one_message = due_messages.where(outbox.c.id == bindparam("id"))
        self.claim_one_outbox = sql(_claim(postgres, one_message))
        if not postgres:
            # SQLite cannot return the row as it was before the update: the claim reads
            # the due messages first (its transaction holds the write lock throughout).
            self.due_one_outbox = sql(one_message)
        self.outbox_of_invoice = sql(
            select(outbox).where(outbox.c.invoice_id == bindparam("invoice_id")).order_by(outbox.c.ordinal)
        )

    def issue(self, messages: int) -> _Sql:
        """The one-statement issue with ``messages`` e-mails (PostgreSQL), compiled on first use."""
        statement = self._issue.get(messages)
        if statement is None:
            statement = self._issue.setdefault(messages, _Sql(_issue_statement(messages), self._dialect))
        return statement


_DELIVERY_STATE = ("next_attempt_at", "attempts", "last_error", "sent_at", "dropped_at")


def _claim(postgres: bool, due: Select[Any]) -> ClauseElement:
    """The statement that moves the due messages' next attempt to ``lease_until``.

    PostgreSQL: one ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) …
    RETURNING``, which also returns when each message was due, for the order.
    SQLite: ``UPDATE … WHERE ordinal IN (SELECT …)``, after the same SELECT
    has read the rows.
    """
    lease: dict[str, Any] = {"next_attempt_at": bindparam("lease_until")}
    if postgres:
        picked = (
            due.with_only_columns(outbox.c.ordinal, outbox.c.next_attempt_at.label("was_due"))
            .with_for_update(skip_locked=True)
            .subquery("picked")
        )
        return (
            update(outbox)
            .where(outbox.c.ordinal == picked.c.ordinal)
            .values(lease)
            .returning(*outbox.c, picked.c.was_due)
        )
    return update(outbox).where(outbox.c.ordinal.in_(due.with_only_columns(outbox.c.ordinal))).values(lease)


class _SqlTransaction:
    """The unit of work of a :class:`SqlStore` (see :class:`tenantbill.ports.Transaction`)."""

    def __init__(
        self, cursor: Any, statements: _Statements, log: Any, begin: Callable[[], None] | None = None
    ) -> None:
        self._cursor = cursor
        self._q = statements
        self._f = statements.formats
        self._log = log
        # PostgreSQL: called before the first statement that writes or locks (see SqlStore.transaction).
        self._begin = begin
        self.closed = False
        # Whether a message's payload was erased: SqlStore then scrubs its traces after the commit.
        self.erased = False
        # Whether add_numbered() committed on its own (PostgreSQL): no write may follow.
        self._sealed = False
        # The series this transaction allocated from last: its row is locked until the
        # transaction ends, so it stays as returned until this transaction changes it.
        self._allocated: Series | None = None

    @functools.cached_property
    def users(self) -> _SqlUsers:
        return _SqlUsers(self)

    @functools.cached_property
    def accounts(self) -> _SqlAccounts:
        return _SqlAccounts(self)

    @functools.cached_property
    def memberships(self) -> _SqlMemberships:
        return _SqlMemberships(self)

    @functools.cached_property
    def invitations(self) -> _SqlInvitations:
        return _SqlInvitations(self)

    @functools.cached_property
    def invoices(self) -> _SqlInvoices:
        return _SqlInvoices(self)

    @functools.cached_property
    def subscriptions(self) -> _SqlSubscriptions:
        return _SqlSubscriptions(self)

    @functools.cached_property
    def outbox(self) -> _SqlOutbox:
        return _SqlOutbox(self)

    @functools.cached_property
    def idempotency(self) -> _SqlIdempotency:
        return _SqlIdempotency(self)

    @functools.cached_property
    def audit(self) -> _SqlAudit:
        return _SqlAudit(self)

    def _run(self, sql: _Sql, values: Mapping[str, Any]) -> Any:
        """Execute ``sql`` and return the driver's cursor, holding its result."""
        if sql.writes and not self.begun:
            if self._sealed:
                raise RuntimeError(
                    "add_numbered() committed this unit of work on its own (it was its first write); "
                    "it must be the last write of the unit of work"
                )
            assert self._begin is not None
            self._begin()
            self._begin = None
        return self._execute(sql, values)

    def _execute(self, sql: _Sql, values: Mapping[str, Any]) -> Any:
        parameters = sql.parameters(values)
        if self._log is not None:
            self._log.info("%s\n[compiled once] %r", sql.text, parameters)
        self._cursor.execute(sql.text, parameters)
        return self._cursor

    @property
    def begun(self) -> bool:
        """Whether the database transaction has begun (always on SQLite; at the first write on PostgreSQL)."""
        return self._begin is None

    def _one(self, sql: _Sql, values: Mapping[str, Any]) -> Row | None:
        row: Row | None = self._run(sql, values).fetchone()
        return row

    def _all(self, sql: _Sql, values: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = self._run(sql, values).fetchall()
        return rows

    def _changed(self, sql: _Sql, values: Mapping[str, Any]) -> bool:
        """Whether the statement inserted, changed or deleted a row."""
        count: int = self._run(sql, values).rowcount
        return count > 0

    def _replace(self, sql: _Sql, values: Mapping[str, Any], what: str, key: Any) -> None:
        if not self._changed(sql, values):
            raise NotFound(f"no {what} {key!r}")

    def _issue_alone(self, invoice: Invoice, messages: Sequence[OutboxMessage]) -> Invoice:
        """PostgreSQL: :meth:`_SqlInvoices.add_numbered` as one autocommitted statement; seals the unit of work."""
        values = self._f.invoice_values(invoice, None)
        values["key_account_id"] = invoice.account_id
        for k, message in enumerate(messages):
            values.update({f"m{k}_{name}": value for name, value in self._f.outbox_values(message).items()})
        if invoice.seller.logo is not None:  # the picture first, on its own: kept even if the issue fails
            digest = hashlib.sha256(invoice.seller.logo).hexdigest()
            self._execute(self._q.insert_blob, {"digest": digest, "data": invoice.seller.logo})
            values["seller_logo"] = digest
        row = self._execute(self._q.issue(len(messages)), values).fetchone()
        if row is None:
            raise NotFound(f"no invoice series {invoice.account_id!r}")
        self._sealed = True
        return invoice.numbered(row[0], row[1])

    def _add_logo(self, invoice: Invoice) -> str | None:
        """Keep the seller's logo in the blobs (once per picture); its digest, or ``None``."""
        logo = invoice.seller.logo
        if logo is None:
            return None
        digest = hashlib.sha256(logo).hexdigest()
        self._run(self._q.insert_blob, {"digest": digest, "data": logo})
        return digest

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(
                "invoices_of_account() was iterated after its transaction ended; "
                "iterate it inside the transaction (or make a list there)"
            )


class _SqlPart:
    """A repository of a :class:`_SqlTransaction`: it runs the transaction's statements."""

    __slots__ = ("_f", "_q", "_tx")

    def __init__(self, tx: _SqlTransaction) -> None:
        self._tx = tx
        self._q = tx._q
        self._f = tx._f


class _SqlUsers(_SqlPart):
    """The ``users`` repository of a transaction (see :class:`tenantbill.ports.Users`)."""

    __slots__ = ()

    def add(self, user: User) -> None:
        if not self._tx._changed(self._q.insert_user, self._f.user_values(user)):
            raise EmailTaken(f"a user with the e-mail address {user.email} already exists")

    def save(self, user: User) -> None:
        values = {
            "key_id": user.id,
            "name": user.name,
            "email": user.email,
            "invoice_emails": user.invoice_emails,
        }
        self._tx._replace(self._q.update_user, values, "user", user.id)

    def get(self, user_id: str) -> User | None:
        row = self._tx._one(self._q.get_user, {"id": user_id})
        return None if row is None else self._f.user_from(row)

    def by_email(self, email: str) -> User | None:
        row = self._tx._one(self._q.user_by_email, {"email_key": email_key(email)})
        return None if row is None else self._f.user_from(row)


class _SqlAccounts(_SqlPart):
    """The ``accounts`` repository of a transaction (see :class:`tenantbill.ports.Accounts`)."""

    __slots__ = ()

    def add(self, account: Account) -> None:
        if not self._tx._changed(self._q.insert_account, self._f.account_values(account)):
            raise DuplicateId(f"an account with the id {account.id!r} already exists")
        self._tx._run(self._q.insert_series, self._f.series_values(Series(account_id=account.id)))

    def save(self, account: Account) -> None:
        values = _key_params(self._f.account_values(account), "id")
        self._tx._replace(self._q.update_account, values, "account", account.id)

    def get(self, account_id: str) -> Account | None:
        row = self._tx._one(self._q.get_account, {"id": account_id})
        return None if row is None else self._f.account_from(row)

    def of_user(self, user_id: str) -> list[Account]:
        rows = self._tx._all(self._q.accounts_of_user, {"user_id": user_id})
        return [self._f.account_from(row) for row in rows]

    def claim_number(self, kind: str, number: str, account_id: str, owner_id: str) -> None:
        key = {"kind": kind, "number": number}
        while not self._tx._changed(self._q.insert_owner, {**key, "owner_id": owner_id}):
            # Someone holds the number. ON CONFLICT waited for their transaction,
            # so this read sees the committed owner (and locks it on PostgreSQL).
            row = self._tx._one(self._q.lock_owner, key)
            if row is None:
                continue  # released in between: try to take it again
            if row[0] != owner_id:
                raise number_taken(kind, number)
            break
        self._tx._run(self._q.insert_claim, {**key, "account_id": account_id})

    def release_number(self, kind: str, number: str, account_id: str) -> None:
        key = {"kind": kind, "number": number}
        if self._q.locks_rows:
            # A claim of the same number waits on this lock, so the owner row
            # is never dropped under a claim that is being made.
            self._tx._run(self._q.lock_owner, key)
        self._tx._run(self._q.delete_claim, {**key, "account_id": account_id})
        self._tx._run(self._q.delete_owner, key)

    def number_holders(self, kind: str, number: str) -> list[str]:
        return [row[0] for row in self._tx._all(self._q.holders, {"kind": kind, "number": number})]

    def set_number_owner(self, kind: str, number: str, owner_id: str) -> None:
        self._tx._run(self._q.set_owner, {"kind": kind, "number": number, "owner_id": owner_id})


class _SqlMemberships(_SqlPart):
    """The ``memberships`` repository of a transaction (see :class:`tenantbill.ports.Memberships`)."""

    __slots__ = ()

    def add(self, membership: Membership) -> None:
        if not self._tx._changed(self._q.insert_membership, self._f.membership_values(membership)):
            raise AlreadyMember(f"user {membership.user_id} is already a member of this account")

    def remove(self, account_id: str, user_id: str) -> bool:
        return self._tx._changed(self._q.delete_membership, {"account_id": account_id, "user_id": user_id})

    def transfer_ownership(self, account_id: str, from_user_id: str, to_user_id: str) -> bool:
        tx, q = self._tx, self._q
        if from_user_id == to_user_id:
            return False
        if tx._one(q.lock_member, {"account_id": account_id, "user_id": to_user_id}) is None:
            return False
        if not tx._changed(q.demote_owner, {"account_id": account_id, "user_id": from_user_id}):
            return False
        tx._run(q.promote_member, {"account_id": account_id, "user_id": to_user_id})
        tx._run(q.set_account_owner, {"account_id": account_id, "owner_id": to_user_id})
        return True

    def get(self, account_id: str, user_id: str) -> Membership | None:
        row = self._tx._one(self._q.get_membership, {"account_id": account_id, "user_id": user_id})
        return None if row is None else self._f.membership_from(row)

    def with_account(self, account_id: str, user_id: str) -> tuple[Account | None, Membership | None]:
        row = self._tx._one(self._q.account_and_membership, {"account_id": account_id, "user_id": user_id})
        if row is None:
            return None, None
        width = len(accounts.c)
        account, membership = row[:width], row[width:]
        found = None if membership[0] is None else self._f.membership_from(membership)
        return self._f.account_from(account), found

    def of_account(self, account_id: str) -> list[Membership]:
        rows = self._tx._all(self._q.memberships_of_account, {"account_id": account_id})
        return [self._f.membership_from(row) for row in rows]


class _SqlInvitations(_SqlPart):
    """The ``invitations`` repository of a transaction (see :class:`tenantbill.ports.Invitations`)."""

    __slots__ = ()

    def add(self, invitation: Invitation) -> None:
        self._tx._run(self._q.insert_invitation, self._f.invitation_values(invitation))

    def accept(self, invitation_id: str, token_hash: str, user_id: str) -> bool:
        values = {"id": invitation_id, "token_hash": token_hash, "user_id": user_id}
        return self._tx._changed(self._q.accept_invitation, values)

    def revoke(self, invitation_id: str) -> bool:
        return self._tx._changed(self._q.revoke_invitation, {"id": invitation_id})

    def renew(self, invitation_id: str, token_hash: str, expires_at: datetime) -> bool:
        values = {
            "id": invitation_id,
            "new_token_hash": token_hash,
            "expires_at": self._f.instant(expires_at),
        }
        return self._tx._changed(self._q.renew_invitation, values)

    def get(self, invitation_id: str) -> Invitation | None:
        row = self._tx._one(self._q.get_invitation, {"id": invitation_id})
        return None if row is None else self._f.invitation_from(row)

    def by_token_hash(self, token_hash: str) -> Invitation | None:
        row = self._tx._one(self._q.invitation_by_token, {"token_hash": token_hash})
        return None if row is None else self._f.invitation_from(row)


class _SqlInvoices(_SqlPart):
    """The ``invoices`` repository of a transaction (see :class:`tenantbill.ports.Invoices`)."""

    __slots__ = ()

    def series(self, account_id: str) -> Series:
        if self._tx._allocated is not None and self._tx._allocated.account_id == account_id:
            return self._tx._allocated
        row = self._tx._one(self._q.get_series, {"account_id": account_id})
        if row is None:
            raise NotFound(f"no invoice series {account_id!r}")
        return self._f.series_from(row)

    def save_series(self, series: Series) -> None:
        self._tx._allocated = None
        self._tx._run(self._q.save_series, self._f.series_values(series))

    def _allocate_sequence(self, account_id: str) -> int:
        row = self._tx._one(self._q.allocate, {"key_account_id": account_id})
        if row is None:
            raise NotFound(f"no invoice series {account_id!r}")
        self._tx._allocated = self._f.series_from(row)
        sequence: int = row[4]  # last_used
        return sequence

    def _add(self, invoice: Invoice) -> None:
        self._tx._run(self._q.insert_invoice, self._f.invoice_values(invoice, self._tx._add_logo(invoice)))

    def lock_series(self, account_id: str) -> Series:
        if self._q.lock_series is None:  # SQLite: the transaction holds the write lock already
            return self.series(account_id)
        row = self._tx._one(self._q.lock_series, {"account_id": account_id})
        if row is None:
            raise NotFound(f"no invoice series {account_id!r}")
        return self._f.series_from(row)

    def add_numbered(self, invoice: Invoice, messages: Sequence[OutboxMessage] = ()) -> Invoice:
        tx = self._tx
        if self._q.allocate_and_insert_invoice is None:  # SQLite: the write lock is held anyway
            sequence = self._allocate_sequence(invoice.account_id)
            numbered = invoice.numbered(sequence, self.series(invoice.account_id).format(sequence))
            self._add(numbered)
        elif not tx.begun and len(messages) <= _ISSUE_MESSAGES_AT_MOST:
            # PostgreSQL, nothing written yet: number, insert and queue in one statement
            # that commits on its own, so the series row is locked only while the server
            # runs it, with no round trip to this process in between.
            return tx._issue_alone(invoice, messages)
        else:
            # PostgreSQL in a transaction: the series row is locked, incremented and used by one
            # statement; the only round trips left while it is locked are the e-mails and COMMIT.
            values = self._f.invoice_values(invoice, tx._add_logo(invoice))
            values["key_account_id"] = invoice.account_id
            row = tx._one(self._q.allocate_and_insert_invoice, values)
            if row is None:
                raise NotFound(f"no invoice series {invoice.account_id!r}")
            tx._allocated = None
            numbered = invoice.numbered(row[0], row[1])
        for message in messages:
            tx.outbox.add(message)
        return numbered

    def get(self, invoice_id: str) -> Invoice | None:
        row = self._tx._one(self._q.get_invoice, {"id": invoice_id})
        return None if row is None else self._f.invoice_from(row)

    def lock(self, invoice_id: str) -> Invoice | None:
        row = self._tx._one(self._q.lock_invoice, {"id": invoice_id})
        return None if row is None else self._f.invoice_from(row)

    def of_account(self, account_id: str) -> Iterator[Invoice]:
        # A generator: the invoices are read a page at a time as the caller iterates.
        sql, values = self._q.first_invoices, {"account_id": account_id}
        while True:
            self._tx._check_open()
            rows = self._tx._all(sql, values)
            for row in rows:
                self._tx._check_open()
                yield self._f.invoice_from(row)
            if len(rows) < _INVOICE_PAGE:
                return
            sql = self._q.next_invoices
            values = {"account_id": account_id, "after": rows[-1][2]}  # the sequence

    def credit_notes_of(self, invoice_id: str) -> list[Invoice]:
        rows = self._tx._all(self._q.credit_notes_of, {"invoice_id": invoice_id})
        return [self._f.invoice_from(row) for row in rows]

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        self._tx._run(self._q.insert_ledger, self._f.ledger_values(entry))

    def ledger(self, account_id: str, customer_key: str) -> list[LedgerEntry]:
        rows = self._tx._all(self._q.ledger, {"account_id": account_id, "customer": customer_key})
        return [self._f.ledger_from(row) for row in rows]

    def balance(self, account_id: str, customer_key: str, currency: str) -> Decimal:
        values = {"account_id": account_id, "customer": customer_key, "currency": currency}
        rows = self._tx._all(self._q.ledger_amounts, values)
        return sum((Decimal(amount) for (amount,) in rows), Decimal(0))


class _SqlSubscriptions(_SqlPart):
    """The ``subscriptions`` repository of a transaction (see :class:`tenantbill.ports.Subscriptions`)."""

    __slots__ = ()

    def add(self, subscription: Subscription) -> None:
        self._tx._run(self._q.insert_subscription, self._f.subscription_values(subscription))

    def save(self, subscription: Subscription) -> None:
        values = _key_params(self._f.subscription_values(subscription), "id")
        self._tx._replace(self._q.update_subscription, values, "subscription", subscription.id)

    def get(self, subscription_id: str) -> Subscription | None:
        row = self._tx._one(self._q.get_subscription, {"id": subscription_id})
        return None if row is None else self._f.subscription_from(row)

    def of_account(self, account_id: str) -> list[Subscription]:
        rows = self._tx._all(self._q.subscriptions_of_account, {"account_id": account_id})
        return [self._f.subscription_from(row) for row in rows]

    def exists_between(self, provider_id: str, customer_id: str) -> bool:
        values = {"provider_id": provider_id, "customer_id": customer_id}
        return self._tx._one(self._q.has_subscription, values) is not None

    def due_ids(self, as_of: date, after: str | None, limit: int) -> list[str]:
        if limit <= 0:
            return []
        values: dict[str, Any] = {"as_of": self._f.day(as_of), "limit": limit}
        if after is None:
            rows = self._tx._all(self._q.first_due_subscriptions, values)
        else:
            rows = self._tx._all(self._q.next_due_subscriptions, {**values, "after": after})
        return [row[0] for row in rows]

    def lock_next_due(self, as_of: date, after: str | None) -> Subscription | None:
        values: dict[str, Any] = {"as_of": self._f.day(as_of), "limit": 1}
        if after is None:
            row = self._tx._one(self._q.lock_first_due_subscription, values)
        else:
            row = self._tx._one(self._q.lock_next_due_subscription, {**values, "after": after})
        return None if row is None else self._f.subscription_from(row)

    def lock(self, subscription_id: str, *, wait: bool = False) -> Subscription | None:
        sql = self._q.lock_subscription_waiting if wait else self._q.lock_subscription
        row = self._tx._one(sql, {"id": subscription_id})
        return None if row is None else self._f.subscription_from(row)

    def add_usage(self, usage: Usage) -> None:
        self._tx._run(self._q.insert_usage, self._f.usage_values(usage))

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        values = {"subscription_id": subscription_id, "start": self._f.day(start), "end": self._f.day(end)}
        return [self._f.usage_from(row) for row in self._tx._all(self._q.usage_between, values)]

    def mark_billed(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        values = {"subscription_id": subscription_id, "due": self._f.day(due), "invoice_id": invoice_id}
        if not self._tx._changed(self._q.insert_billing_mark, values):
            raise AlreadyBilled(f"subscription {subscription_id} is already billed for {due}")


class _SqlOutbox(_SqlPart):
    """The ``outbox`` repository of a transaction (see :class:`tenantbill.ports.Outbox`)."""

    __slots__ = ()

    def add(self, message: OutboxMessage) -> bool:
        return self._tx._changed(self._q.insert_outbox, self._f.outbox_values(message))

    def save(self, message: OutboxMessage) -> None:
        values = self._f.outbox_values(message)
        state = {name: values[name] for name in _DELIVERY_STATE}
        statement = self._q.update_outbox
        if message.done:
            # Sent or dropped: the payload goes in the same write (it may hold a secret).
            statement = self._q.update_outbox_erasing
            if message.invoice_id is None:  # invoice e-mails have no payload to leave traces of
                self._tx.erased = True
        self._tx._replace(statement, {**state, "key_id": message.id}, "outbox message", message.id)

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._tx._one(self._q.get_outbox, {"id": message_id})
        return None if row is None else self._f.outbox_from(row)

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        rows = self._tx._all(self._q.due_outbox, {"now": self._f.instant(now), "limit": limit})
        return [self._f.outbox_from(row) for row in rows]

    def claim(
        self, now: datetime, limit: int, lease_until: datetime, *, message_id: str | None = None
    ) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        values: dict[str, Any] = {
            "now": self._f.instant(now),
            "limit": limit,
            "lease_until": self._f.instant(lease_until),
        }
        claim = self._q.claim_outbox
        if message_id is not None:
            values["id"] = message_id
            claim = self._q.claim_one_outbox
        if self._q.locks_rows:
            # PostgreSQL: RETURNING gives the claimed rows and when each was due, in no order.
            rows = sorted(self._tx._all(claim, values), key=lambda row: (row[-1], row[4], row[1]))
            return [self._f.outbox_from(row[:-1]) for row in rows]
        due = self._q.due_outbox if message_id is None else self._q.due_one_outbox
        rows = self._tx._all(due, values)
        if rows:
            self._tx._run(claim, values)
        return [attrs.evolve(self._f.outbox_from(row), next_attempt_at=lease_until) for row in rows]

    def of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        rows = self._tx._all(self._q.outbox_of_invoice, {"invoice_id": invoice_id})
        return [self._f.outbox_from(row) for row in rows]


class _SqlIdempotency(_SqlPart):
    """The ``idempotency`` repository of a transaction (see :class:`tenantbill.ports.Idempotency`)."""

    __slots__ = ()

    def claim(self, scope: str, key: str, fingerprint: str) -> KeyRecord | None:
        values = {"scope": scope, "key": key, "fingerprint": fingerprint, "result": None}
        if self._tx._changed(self._q.claim_key, values):
            return None
        row = self._tx._one(self._q.get_key, {"scope": scope, "key": key})
        assert row is not None  # claimed by a transaction that has committed
        return KeyRecord(fingerprint=row[0], result=row[1])

    def complete(self, scope: str, key: str, result: str) -> None:
        self._tx._run(self._q.complete_key, {"scope": scope, "key": key, "result": result})


class _SqlAudit(_SqlPart):
    """The ``audit`` repository of a transaction (see :class:`tenantbill.ports.Audit`)."""

    __slots__ = ()

    def add(self, event: AuditEvent) -> None:
        self._tx._run(self._q.insert_audit, self._f.audit_values(event))

    def of_account(self, account_id: str) -> list[AuditEvent]:
        rows = self._tx._all(self._q.audit_of_account, {"account_id": account_id})
        return [self._f.audit_from(row) for row in rows]
