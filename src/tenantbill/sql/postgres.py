"""The PostgreSQL store: READ COMMITTED, row locks, and issuing in one statement.

- The series row is locked by the one ``UPDATE … RETURNING`` that allocates
  a number; claims and marks rely on primary keys and ``INSERT … ON CONFLICT
  DO NOTHING`` (which waits for a concurrent insert of the same key), so no
  statement fails and aborts the transaction. Billing workers lock a
  subscription with ``FOR UPDATE SKIP LOCKED``, and delivery workers claim
  outbox messages with one ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)
  … RETURNING``, so workers in several processes share the work without
  waiting for each other.
- A pooled connection rests in autocommit mode, and a transaction begins at
  its first statement that writes or locks. The plain reads before it run on
  their own, which under READ COMMITTED sees exactly what they would see
  inside it (each statement reads what was committed when it started), and a
  unit of work that only reads costs no ``BEGIN``/``COMMIT`` round trips.
- ``invoices.add_numbered`` as the first write of a unit of work is one
  statement that numbers, inserts and queues the e-mails, and commits on its
  own: the series row is locked only while the server runs it. It is sent
  after an advisory lock on the account, in one pipeline (one round trip, one
  implicit transaction): issuers of one account wait for that lock, so the
  statement starts after the one before it has committed, and finds the
  series row free and current. (Waiting for the row itself, PostgreSQL would
  recheck the row once it is free by starting the whole statement's plan
  again, with the row held.) That transaction commits without waiting for
  the disk, releasing its locks at once; a second one in the same round
  trip writes one WAL record and commits as the session does, so the
  answer comes only once both are on disk (docs/decisions.md).
- A pooled connection that the server has closed (a restart, a crash, an
  idle timeout) is noticed when it is taken from the pool, without a round
  trip, and replaced: after a restart the next call succeeds.
"""

from __future__ import annotations

import hashlib
import select as _select
import weakref
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import Any, NoReturn

import psycopg
from sqlalchemy import (
    ClauseElement,
    Connection,
    Date,
    Dialect,
    Engine,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    create_engine,
    event,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy import cast as sa_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import Exists
from sqlalchemy.types import TypeEngine

from tenantbill._lazy import repository
from tenantbill.domain.accounts import Account, Membership
from tenantbill.domain.events import Event
from tenantbill.domain.invoices import Invoice, Series
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import Usage
from tenantbill.errors import NotFound, StaleRead, TenantbillError
from tenantbill.ports import Transaction
from tenantbill.sql.codec import POSTGRESQL
from tenantbill.sql.core import (
    Sql,
    SqlAccounts,
    SqlEvents,
    SqlInvoices,
    SqlMemberships,
    SqlMetering,
    SqlOutbox,
    Statements,
    UnitOfWork,
    account_and_membership,
    first_of_each_key,
)
from tenantbill.sql.prepared import NotNative, Prepared, run_prepared
from tenantbill.sql.schema import accounts, events, invoices, memberships, outbox, series, usage
from tenantbill.sql.store import _SCHEMA_LOCK_KEY, SqlStore, create_tables, first_line

__all__ = ["PostgresStore"]

_ISSUE_MESSAGES_AT_MOST = 8
"""Invoices with more recipients than this are issued in an ordinary transaction."""

_EVENTS_LOCK_KEY = 0x7E4A_E7E7
"""The advisory lock that serializes event appends: positions follow commit order (see PostgresEvents)."""

_SERIES_LOCK_CLASS = 0x7E4A_5E21
"""The first key of the advisory locks issuers of an account wait for (the second: a hash of its id)."""

_USAGE_LOCK_CLASS = 0x7E4A_B112
"""The first key of the advisory locks on usage buckets (the two-key form: apart from one-key locks)."""
_USAGE_LOCK_BUCKETS = 256
"""Subscriptions share this many usage locks: a batch holds at most this many."""

_KNOWN_AT_MOST = 4096
"""How many (account, user) answers of ``with_account`` a store keeps for ``recent=True``."""

Stamps = tuple[str, str]
"""The versions of an account's row and a membership's row: their ``xmin`` (the transaction that wrote it)."""

Known = dict[tuple[str, str], tuple[Account, Membership, Stamps]]
"""What a store read with ``with_account``, per (account, user), with the rows' versions."""

_DRIVER_ERRORS = (psycopg.OperationalError, psycopg.InterfaceError)
"""psycopg's errors for a lost or refused connection, a server shutting down or starting up, and the like."""


class PostgresStatements(Statements):
    """The statements of the PostgreSQL store."""

    formats = POSTGRESQL
    upsert = staticmethod(postgresql.insert)

    def __init__(self, dialect: Dialect, schema: str | None = None) -> None:
        super().__init__(dialect, schema)
        self.lock_series = self.compile(
            select(series).where(series.c.account_id == bindparam("account_id")).with_for_update()
        )
        self.allocate_and_insert_invoice = self.compile(_allocate_and_insert())
        # FOR UPDATE OF the invoice only (the logo's blob row is shared).
        self.lock_invoice = self.compile(
            self.invoice_with_logo.where(invoices.c.id == bindparam("id")).with_for_update(of=invoices)
        )
        self.claim_outbox = self.compile(_claim(self.due_messages))
        self.claim_one_outbox = self.compile(_claim(self.one_due_message))
        self._issue: dict[tuple[int, int, bool], Sql] = {}
        self._prepared: dict[Sql, Prepared] = {}
        self.account_and_membership_stamped = self.compile(_stamped(account_and_membership()))
        # Held until the transaction ends. A SELECT, but it must run in the transaction: marked a write.
        self.lock_events = self.compile(select(func.pg_advisory_xact_lock(_EVENTS_LOCK_KEY)))
        self.lock_events.writes = True
        buckets = (
            func.unnest(sa_cast(bindparam("buckets"), ARRAY(Integer)))
            .table_valued("bucket")
            .render_derived(name="buckets")
        )
        self.lock_usage_buckets = self.compile(
            select(func.pg_advisory_xact_lock(_USAGE_LOCK_CLASS, buckets.c.bucket))
        )
        self.lock_usage_buckets.writes = True  # a lock held until the transaction ends: begin it first
        # Before the issuing statement, in its transaction: wait for the account's issuers' lock,
        # and let the transaction's COMMIT release its locks without waiting for the disk ...
        queue = func.pg_advisory_xact_lock(
            literal_column(str(_SERIES_LOCK_CLASS)), bindparam("lock_account", type_=Integer)
        )
        no_wait = func.set_config(*map(literal_column, ("'synchronous_commit'", "'off'", "true")))
        self.lock_account_issuers = self.prepared(self.compile(select(queue, no_wait)))
        self.lock_account_issuers_only = self.prepared(self.compile(select(queue)))  # (flushed by COMMIT)
        # ... then, in the same round trip, a transaction of its own that commits as the session
        # does: it writes a record (a transactional logical message, which every WAL level
        # takes and no table sees), so its COMMIT flushes the WAL up to its own commit record,
        # past the issue's, and the answer comes once the invoice is on disk.
        message: tuple[Any, ...] = (true(), literal_column("'tenantbill'"), literal_column("''"))
        self.flush_commits_read = self.compile(select(func.pg_logical_emit_message(*message)))  # (cursor)
        self.flush_commits = self.prepared(self.flush_commits_read)  # (libpq's own, in the issue's pipeline)
        self.insert_usage_batch = self.compile(_insert_usage_batch())

    def issue(self, messages: int, events: int = 0, checked: bool = False) -> Sql:
        """The one-statement issue with ``messages`` e-mails and ``events`` events, compiled on first use.

        ``checked``: it numbers only if the account's and the membership's
        rows are still the versions given (``stamp_*``; see PostgresMemberships).
        """
        key = (messages, events, checked)
        statement = self._issue.get(key)
        if statement is None:
            statement = self._issue.setdefault(key, self.compile(_issue_statement(messages, events, checked)))
        return statement

    def prepared(self, statement: Sql) -> Prepared:
        """``statement`` as libpq's prepared statement (:mod:`tenantbill.sql.prepared`), made once."""
        found = self._prepared.get(statement)
        if found is None:
            found = self._prepared.setdefault(statement, Prepared(statement))
        return found


def _stamped(read: Select[Any]) -> Select[Any]:
    """The read of an account and a membership, with both rows' versions (``xmin``, as text) after them."""
    return read.add_columns(
        sa_cast(literal_column(f"{accounts.name}.xmin"), Text()),
        sa_cast(literal_column(f"{memberships.name}.xmin"), Text()),
    )


def _still_current() -> Exists:
    """Whether the account's and the membership's rows are still the versions ``stamp_*`` (``_stamped``)."""
    return exists(
        select(literal_column("1"))
        .select_from(accounts.join(memberships, memberships.c.account_id == accounts.c.id))
        .where(
            accounts.c.id == bindparam("key_account_id"),
            memberships.c.user_id == bindparam("stamp_user_id"),
            sa_cast(literal_column(f"{accounts.name}.xmin"), Text()) == bindparam("stamp_account"),
            sa_cast(literal_column(f"{memberships.name}.xmin"), Text()) == bindparam("stamp_membership"),
        )
    )


def _issue_statement(messages: int, appended: int = 0, checked: bool = False) -> ClauseElement:
    """Number, insert and queue an invoice with ``messages`` e-mails, in one statement.

    ``WITH allocated AS (UPDATE series …), issued AS (INSERT INTO invoices …
    SELECT … FROM allocated RETURNING …), queued AS (INSERT INTO outbox …
    SELECT … FROM issued ON CONFLICT (key) DO NOTHING) SELECT sequence, number
    FROM issued``: the e-mails are queued only if the invoice was inserted (a
    key queued already is skipped, as ``outbox.add`` does), and all of it
    commits or none. Outbox parameters are named ``m<k>_<column>``.
    """
    issued = _allocate_and_insert(checked).cte("issued")
    final = select(issued.c.sequence, issued.c.number)
    if messages:
        given = [c for c in outbox.c if c.name != "ordinal"]
        rows = [
            select(*(sa_cast(bindparam(f"m{k}_{c.name}"), c.type) for c in given)).select_from(issued)
            for k in range(messages)
        ]
        queued = (
            postgresql.insert(outbox)
            .from_select([c.name for c in given], rows[0] if messages == 1 else union_all(*rows))
            .on_conflict_do_nothing(index_elements=["key"])  # as outbox.add: a key queued already is skipped
            .cte("queued")
        )
        final = final.add_cte(queued)
    if appended:
        # The events, each row joined with the row of the lock that serializes appends: the lock
        # is taken before any position is, and held until the statement commits.
        key: ColumnClause[Any] = literal_column(str(_EVENTS_LOCK_KEY))  # in the text, not a parameter
        locked = select(func.pg_advisory_xact_lock(key).label("locked")).cte("events_locked")
        given = [c for c in events.c if c.name != "position"]
        event_rows = [
            select(
                sa_cast(bindparam(f"e{k}_type"), events.c.type.type),
                sa_cast(bindparam(f"e{k}_account_id"), events.c.account_id.type),
                sa_cast(bindparam(f"e{k}_at"), events.c.at.type),
                # The data's JSON text around the number's JSON string: no JSON parsed on the server.
                sa_cast(bindparam(f"e{k}_data_head"), Text())
                .concat(sa_cast(func.to_json(issued.c.number), Text()))
                .concat(sa_cast(bindparam(f"e{k}_data_tail"), Text())),
            )
            .select_from(issued)
            .join(locked, true())
            for k in range(appended)
        ]
        recorded = (
            postgresql.insert(events)
            .from_select([c.name for c in given], event_rows[0] if appended == 1 else union_all(*event_rows))
            .cte("recorded")
        )
        final = final.add_cte(recorded)
    return final


def _allocate_and_insert(checked: bool = False) -> Insert:
    """Take the next number of the series and insert the invoice with it, in one statement.

    ``WITH allocated AS (UPDATE series … RETURNING …) INSERT INTO invoices …
    SELECT …, allocated.last_used, <the number> FROM allocated RETURNING
    sequence, number``. The number is formatted as ``Series.format`` does:
    the prefix, then the digits zero-padded to the width (never cut).
    ``checked``: only if the account and membership rows are as read (see
    :func:`_still_current`); otherwise nothing is numbered or inserted.
    """
    allocated = (
        update(series)
        .where(series.c.account_id == bindparam("key_account_id"))
        .where(_still_current() if checked else true())
        .values(next_sequence=series.c.next_sequence + literal_column("1"), last_used=series.c.next_sequence)
        .returning(series.c.last_used, series.c.prefix, series.c.width)
        .cte("allocated")
    )
    digits = sa_cast(allocated.c.last_used, Text())
    padded = case(
        (func.length(digits) >= allocated.c.width, digits),
        else_=func.lpad(digits, allocated.c.width, literal_column("'0'")),
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


def _insert_usage_batch() -> ClauseElement:
    """Insert a batch of usage given as one array per column, skipping keys recorded already.

    ``INSERT INTO usage (…) SELECT … FROM unnest(:id, :subscription_id, …) WITH
    ORDINALITY ORDER BY ordinality ON CONFLICT (subscription_id, key) DO NOTHING
    RETURNING subscription_id, key``: one statement and one round trip for the
    batch, rows in the order given, and the pairs it inserted.
    """
    given = [c for c in usage.c if c.name != "ordinal"]
    element: dict[str, TypeEngine[Any]] = {"on": Date(), "recorded_at": TIMESTAMP(timezone=True)}
    arrays = [sa_cast(bindparam(c.name), ARRAY(element.get(c.name) or Text())) for c in given]
    rows = (
        func.unnest(*arrays)
        .table_valued(*(f"v_{c.name}" for c in given), with_ordinality="n")
        .render_derived(name="batch")
    )
    chosen = select(*(rows.c[f"v_{c.name}"] for c in given)).order_by(rows.c.n)
    return (
        postgresql.insert(usage)
        .from_select([c.name for c in given], chosen)
        .on_conflict_do_nothing(index_elements=["subscription_id", "key"])
        .returning(usage.c.subscription_id, usage.c.key)
    )


def _claim(due: Select[Any]) -> ClauseElement:
    """Move the due messages' next attempt to ``lease_until``, skipping those another worker holds.

    One ``UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING``,
    which also returns when each message was due, for the order.
    """
    picked = (
        due.with_only_columns(outbox.c.ordinal, outbox.c.next_attempt_at.label("was_due"))
        .with_for_update(skip_locked=True)
        .subquery("picked")
    )
    return (
        update(outbox)
        .where(outbox.c.ordinal == picked.c.ordinal)
        .values(next_attempt_at=bindparam("lease_until"))
        .returning(*outbox.c, picked.c.was_due)
    )


class PostgresAccounts(SqlAccounts):
    """Releasing a number locks its owner row first."""

    __slots__ = ()

    def release_number(self, kind: str, number: str, account_id: str) -> None:
        # A claim of the same number waits on this lock, so the owner row
        # is never dropped under a claim that is being made.
        self._tx._run(self._q.lock_owner, {"kind": kind, "number": number})
        super().release_number(kind, number, account_id)


class PostgresMemberships(SqlMemberships):
    """``with_account(recent=True)`` may answer with what this store read before, checked at the write.

    The store keeps each member's answer with the versions of the two rows
    (PostgreSQL's ``xmin``: the transaction that wrote the row version; any
    change of a row makes a new version). Asked with ``recent=True`` before
    the unit of work has begun its transaction, it answers from what it kept,
    and the unit of work checks the versions before anything it writes: the
    one statement that issues checks them itself (no round trip), and before
    any other statement, or when the unit of work ends, one read checks them.
    If a row changed, :class:`StaleRead` is raised and nothing is written.
    """

    __slots__ = ()
    _q: PostgresStatements
    _tx: PostgresUnitOfWork

    def with_account(
        self, account_id: str, user_id: str, *, recent: bool = False
    ) -> tuple[Account | None, Membership | None]:
        tx = self._tx
        if recent and tx.known is not None and not tx.begun and tx.recent is None:
            known = tx.known.get((account_id, user_id))
            if known is not None:
                tx.recent = (account_id, user_id, known[2])
                return known[0], known[1]
        found = tx._read_stamped(account_id, user_id)
        return found[0], found[1]


class PostgresInvoices(SqlInvoices):
    """Numbering by one statement that locks, increments and uses the series row."""

    __slots__ = ()
    _q: PostgresStatements
    _tx: PostgresUnitOfWork

    def lock_series(self, account_id: str) -> Series:
        row = self._tx._one(self._q.lock_series, {"account_id": account_id})
        if row is None:
            raise NotFound(f"no invoice series {account_id!r}")
        return self._f.series_from(row)

    def add_numbered(
        self, invoice: Invoice, messages: Sequence[OutboxMessage] = (), events: Sequence[Event] = ()
    ) -> Invoice:
        tx = self._tx
        if not tx.begun and max(len(messages), len(events)) <= _ISSUE_MESSAGES_AT_MOST:
            # Nothing written yet: number, insert, queue and record in one statement that commits
            # on its own, so the series row is locked only while the server runs it, with
            # no round trip to this process in between.
            return tx._issue_alone(invoice, messages, events)
        # In a transaction: the series row is locked, incremented and used by one statement;
        # the only round trips left while it is locked are the e-mails and COMMIT.
        values = self._f.invoice_values(invoice, tx._add_logo(invoice))
        values["key_account_id"] = invoice.account_id
        row = tx._one(self._q.allocate_and_insert_invoice, values)
        if row is None:
            raise NotFound(f"no invoice series {invoice.account_id!r}")
        tx._allocated = None
        numbered = invoice.numbered(row[0], row[1])
        return self._queued(numbered, messages, events)


class PostgresOutbox(SqlOutbox):
    """The outbox claim: one ``UPDATE … SKIP LOCKED … RETURNING``."""

    __slots__ = ()
    _q: PostgresStatements

    def claim(
        self, now: datetime, limit: int, lease_until: datetime, *, message_id: str | None = None
    ) -> list[OutboxMessage]:
        if limit <= 0:
            return []
        values = self._claim_values(now, limit, lease_until, message_id)
        claim = self._q.claim_outbox if message_id is None else self._q.claim_one_outbox
        # RETURNING gives the claimed rows and when each was due, in no order.
        rows = sorted(self._tx._all(claim, values), key=lambda row: (row[-1], row[4], row[1]))
        return [self._f.outbox_from(row[:-1]) for row in rows]


class PostgresMetering(SqlMetering):
    """A batch in one ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING RETURNING``.

    Two transactions inserting the same keys in different orders would each
    wait for the other's uncommitted row (a deadlock): a batch first takes
    transaction-level advisory locks on its subscriptions' buckets, in order,
    so batches of one subscription are recorded one after the other.
    """

    __slots__ = ()
    _q: PostgresStatements

    def add(self, usages: Sequence[Usage]) -> set[tuple[str, str]]:
        wanted = first_of_each_key(usages)
        if not wanted:
            return set()
        tx, q = self._tx, self._q
        buckets = sorted({_usage_bucket(subscription_id) for subscription_id, _ in wanted})
        tx._run(q.lock_usage_buckets, {"buckets": buckets}).fetchall()
        values = [self._f.usage_values(usage) for usage in wanted.values()]
        arrays = {name: [row[name] for row in values] for name in values[0]}
        return {(row[0], row[1]) for row in tx._all(q.insert_usage_batch, arrays)}


_FLUSH_APART: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
"""Per psycopg connection: whether its role may write the flush record (``pg_logical_emit_message``)."""


def _may_flush_apart(driver: Any) -> bool:
    """Whether an issue on ``driver`` may commit without waiting for the disk and be flushed after.

    Only if the role may run ``pg_logical_emit_message`` (every role may,
    unless an administrator revoked it): otherwise the issue's own COMMIT
    waits for the disk, holding its locks, as PostgreSQL commits by default.
    Asked once per connection.
    """
    known = _FLUSH_APART.get(driver)
    if known is None:
        row = driver.execute(
            "SELECT coalesce(bool_and(has_function_privilege(oid, 'EXECUTE')), false) FROM pg_proc"
            " WHERE proname = 'pg_logical_emit_message' AND pronamespace = 'pg_catalog'::regnamespace"
            " AND proargtypes[2] = 'text'::regtype"
        ).fetchone()
        known = _FLUSH_APART[driver] = bool(row is not None and row[0])
    return known


def _account_lock(account_id: str) -> int:
    """The second key of the advisory lock issuers of ``account_id`` wait for: a signed 32-bit hash."""
    return zlib.crc32(account_id.encode("utf-8", "surrogatepass")) - 0x8000_0000


def _usage_bucket(subscription_id: str) -> int:
    """The advisory lock bucket of a subscription's usage (a bounded number of locks per batch)."""
    return zlib.crc32(subscription_id.encode("utf-8", "surrogatepass")) % _USAGE_LOCK_BUCKETS


class PostgresEvents(SqlEvents):
    """Appends serialized by a transaction-scoped advisory lock, so positions follow commit order.

    A ``bigserial`` position is taken at insert, not at commit: had two
    transactions appended at once, the one with position 5 could commit first,
    a reader would move past 5, and position 4 would appear behind it, never
    read. So a unit of work that appends events takes an advisory lock (one
    key for the store) when it writes them, in one batch as it ends, and holds
    it until it commits or rolls back; only then does it take positions. A
    position is therefore taken only when every smaller one has committed or
    rolled back (PostgreSQL makes a commit visible before it releases the
    transaction's locks), and a reader that sees position ``p`` sees every event below it. Reads take no lock.
    """

    __slots__ = ()
    _q: PostgresStatements
    _tx: PostgresUnitOfWork

    def write_pending(self) -> None:
        # The lock is taken here, when the unit of work writes its events (at its end, just
        # before COMMIT), so a transaction holds it only from then: positions are still taken
        # only under it, so still in commit order.
        tx = self._tx
        if not tx.events_locked:
            tx._run(self._q.lock_events, {})
            tx.events_locked = True
        super().write_pending()

    def read(self, after: int, limit: int) -> list[Event]:
        # An issue's transaction is visible a disk flush before it is durable (see
        # PostgresStore): events read outside a transaction are returned once a commit of
        # this session's own has flushed the WAL past them, so no event leaves before it is kept.
        read = super().read(after, limit)
        tx = self._tx
        if read and not tx.begun and _may_flush_apart(tx._cursor.connection):
            tx._one(self._q.flush_commits_read, {})
        return read


class PostgresUnitOfWork(UnitOfWork):
    """A unit of work that begins its database transaction at its first write."""

    driver_errors = _DRIVER_ERRORS
    _q: PostgresStatements
    events_locked = False
    """Whether this unit of work holds the lock of event appends (taken when it writes its events)."""
    recent: tuple[str, str, Stamps] | None = None
    """The (account, user) of an answer ``with_account`` gave from what the store kept: not checked yet."""
    known: Known | None = None
    """What the store read with ``with_account`` (PostgresStore.transaction gives its own; else none kept)."""

    def _forget(self, account_id: str, user_id: str) -> None:
        if self.known is not None:
            self.known.pop((account_id, user_id), None)

    def _remember(self, account: Account, membership: Membership, stamps: Stamps) -> None:
        """Keep what ``with_account`` read for a member, for the store's next ``recent`` answer."""
        key, known = (account.id, membership.user_id), self.known
        if known is None:
            return
        if len(known) >= _KNOWN_AT_MOST and key not in known:
            known.clear()
        known[key] = (account, membership, stamps)

    @repository
    def memberships(self) -> PostgresMemberships:
        return PostgresMemberships(self)

    def _run(self, sql: Sql, values: Mapping[str, Any]) -> Any:
        if self.recent is not None:
            self.check_recent()
        return super()._run(sql, values)

    def _run_many(self, sql: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.recent is not None:
            self.check_recent()
        super()._run_many(sql, rows)

    def check_recent(self) -> None:
        """Raise :class:`StaleRead` if the account or membership answered from what was kept has changed."""
        if self.recent is None:
            return
        account_id, user_id, stamps = self.recent
        self.recent = None
        _account, membership, now = self._read_stamped(account_id, user_id)
        if membership is None or now != stamps:
            raise StaleRead(f"account {account_id!r} or its member {user_id!r} changed since they were read")

    def _read_stamped(
        self, account_id: str, user_id: str
    ) -> tuple[Account | None, Membership | None, Stamps]:
        """The account, the membership and their rows' versions, read now; kept for ``recent`` answers."""
        key = {"account_id": account_id, "user_id": user_id}
        row = self._one(self._q.account_and_membership_stamped, key)
        if row is None:
            self._forget(account_id, user_id)
            return None, None, ("", "")
        width = len(accounts.c)
        account = self._f.account_from(row[:width])
        found = None if row[width] is None else self._f.membership_from(row[width:-2])
        stamps = (row[-2], row[-1] or "")
        if found is None:
            self._forget(account_id, user_id)
        else:
            self._remember(account, found, stamps)
        return account, found, stamps

    @repository
    def events(self) -> PostgresEvents:
        return PostgresEvents(self)

    @repository
    def accounts(self) -> PostgresAccounts:
        return PostgresAccounts(self)

    @repository
    def invoices(self) -> PostgresInvoices:
        return PostgresInvoices(self)

    @repository
    def outbox(self) -> PostgresOutbox:
        return PostgresOutbox(self)

    @repository
    def metering(self) -> PostgresMetering:
        return PostgresMetering(self)

    def _issue_alone(
        self, invoice: Invoice, messages: Sequence[OutboxMessage], appended: Sequence[Event] = ()
    ) -> Invoice:
        """:meth:`PostgresInvoices.add_numbered` as one autocommitted statement; seals the unit of work."""
        values = self._f.invoice_values(invoice, None)
        values["key_account_id"] = invoice.account_id
        values["lock_account"] = _account_lock(invoice.account_id)
        for k, message in enumerate(messages):
            values.update({f"m{k}_{name}": value for name, value in self._f.outbox_values(message).items()})
        recent = self.recent
        if recent is not None and recent[0] != invoice.account_id:  # pragma: no cover - issued where read
            self.check_recent()  # an answer about another account: checked by a read of its own
            recent = None
        self.recent = None
        if recent is not None:  # checked by the statement itself
            _account_id, user_id, stamps = recent
            values.update(stamp_user_id=user_id, stamp_account=stamps[0], stamp_membership=stamps[1])
        for k, new in enumerate(appended):
            values.update(
                {f"e{k}_{name}": value for name, value in self._f.event_values_around_number(new).items()}
            )
        if invoice.seller.logo is not None:  # the picture first, on its own: kept even if the issue fails
            digest = hashlib.sha256(invoice.seller.logo).hexdigest()
            self._execute(self._q.insert_blob, {"digest": digest, "data": invoice.seller.logo})
            values["seller_logo"] = digest
        statement = self._q.issue(len(messages), len(appended), checked=recent is not None)
        row = self._execute_alone(statement, values)
        if row is None:
            if recent is not None:  # (or there is no series: the caller's fresh read will say so)
                self._forget(*recent[:2])
                raise StaleRead(f"account {invoice.account_id!r} or its member changed since they were read")
            raise NotFound(f"no invoice series {invoice.account_id!r}")
        self._sealed = True
        return invoice.numbered(row[0], row[1])

    def _execute_alone(self, sql: Sql, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run a write that commits itself and return its first row.

        If the connection fails under it, the outcome is unknown.
        """
        driver = self._cursor.connection
        if driver.closed or _has_input(driver.fileno()):
            # Closed by the server since it left the pool (which checked it): nothing is sent.
            lost = psycopg.OperationalError("the server closed the connection before the statement was sent")
            self._raise(lost, True)
        if self._log is not None:
            self._log.info("%s\n[compiled once] %r", sql.text, sql.parameters(values))
        q = self._q
        try:
            apart = _may_flush_apart(driver)  # (nothing of the issue sent yet)
        except _DRIVER_ERRORS as error:
            self._raise(error, True)
        lock: Prepared = q.lock_account_issuers
        flush: Prepared | None = q.flush_commits
        if not apart:  # the issue's COMMIT waits for the disk itself
            lock, flush = q.lock_account_issuers_only, None
        try:
            try:
                return run_prepared(driver, q.prepared(sql), values, lock, flush)
            except NotNative:  # (nothing sent) a value or a connection for psycopg's own cursor
                self._cursor.execute(sql.text, sql.parameters(values))
                row: tuple[Any, ...] | None = self._cursor.fetchone()
                return row
        except _DRIVER_ERRORS as error:
            self._raise(error, _refused(error))

    def _raise(self, error: BaseException, retryable: bool) -> NoReturn:
        unavailable = self._unavailable(
            error, "issuing an invoice (one statement that commits itself)", retryable
        )
        if unavailable is None:
            raise error
        raise unavailable from error


_STALE_RETRIES = 3
_AT_REST = "tenantbill.at_rest"
"""A host's pooled connection's ``info``: its autocommit and isolation level before tenantbill took it."""


def _give_back(connection: Any, driver: Any) -> None:
    """Put a host's connection back as tenantbill found it (autocommit, isolation level)."""
    autocommit, isolation_level = connection.info.pop(_AT_REST, (False, None))
    try:
        driver.autocommit = autocommit
        driver.isolation_level = isolation_level
    except Exception:  # a broken connection: not to be reused
        connection.invalidate()


def _refused(error: BaseException) -> bool:
    """Whether the server answered ``error`` to the statement, so it did not commit.

    A lost connection (no answer), or the server going away (``08…``,
    ``57P…``), leaves it unknown whether a statement that commits on its own,
    or a COMMIT, took effect before.
    """
    sqlstate: str | None = getattr(error, "sqlstate", None)
    return sqlstate is not None and not sqlstate.startswith(("08", "57P"))


if hasattr(_select, "poll"):

    def _has_input(fd: int) -> bool:
        """Whether the socket has something to read (or is closed), without waiting."""
        poller = _select.poll()
        poller.register(fd, _select.POLLIN)
        return bool(poller.poll(0))

else:  # pragma: no cover (Windows)

    def _has_input(fd: int) -> bool:
        """Whether the socket has something to read (or is closed), without waiting."""
        return bool(_select.select([fd], [], [], 0)[0])


class PostgresStore(SqlStore):
    """The :class:`SqlStore` of a PostgreSQL URL (``SqlStore("postgresql+psycopg://…")`` makes one)."""

    statements_class = PostgresStatements
    unit_of_work_class = PostgresUnitOfWork

    def __init__(self, url: str | Engine, *, schema: str | None = None, echo: bool = False) -> None:
        super().__init__(url, schema=schema, echo=echo)
        self._known: Known = {}
        """This store's ``with_account`` answers, for ``recent=True`` (see PostgresMemberships)."""

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Open a transaction: committed when the block ends, rolled back if it raises."""
        if getattr(self._open, "transaction", False):
            raise RuntimeError("SqlStore transactions do not nest")
        statements = self._statements or self._set_up()
        self._open.transaction = True
        try:
            connection = self._checkout()
            driver: Any = connection.driver_connection
            scrub = failed = False
            try:
                cursor = connection.cursor()
                # READ COMMITTED: each statement reads what was committed when it started,
                # in a transaction or not. So reads run on their own (the connection rests in
                # autocommit mode) until the first statement that writes or locks, which
                # begins the transaction: a transaction that only reads costs no BEGIN and no COMMIT.
                begin = partial(setattr, driver, "autocommit", False)
                tx = PostgresUnitOfWork(cursor, statements, self._log, begin, self._unavailable)
                tx.known = self._known
                try:
                    yield tx
                    tx.flush_events()
                    tx.check_recent()
                except BaseException as error:
                    failed = True
                    if tx.begun:
                        self._roll_back(connection)
                    if isinstance(error, _DRIVER_ERRORS):  # not from the unit of work's statements
                        self._reraise(error, "running a statement", True)
                    if tx.recent is not None and isinstance(error, TenantbillError):
                        # Refused on an answer kept from before (say, a role since changed):
                        # StaleRead if it has changed, so that the caller reads it again.
                        tx.check_recent()
                    raise
                finally:
                    tx.closed = True
                    cursor.close()
                if tx.begun:
                    try:
                        connection.commit()
                    except _DRIVER_ERRORS as error:
                        failed = True
                        self._reraise(error, "committing", _refused(error))
                    scrub = tx.erased
            finally:
                if failed and (not connection.is_valid or driver.closed):
                    if connection.is_valid:  # (a failed ROLLBACK has dropped it already)
                        connection.invalidate()  # lost: not to be reused
                elif not driver.autocommit:
                    try:
                        driver.autocommit = True  # at rest again, after COMMIT or ROLLBACK
                    except Exception:  # a broken connection: not to be reused
                        connection.invalidate()
                        scrub = False
                if scrub:
                    self._scrub(connection, driver)
                if self._borrowed and connection.is_valid:
                    _give_back(connection, driver)
                connection.close()  # back to the pool
        finally:
            self._open.transaction = False

    def _scrub(self, connection: Any, driver: Any) -> None:
        """After a commit that erased a payload: ``VACUUM`` the outbox, if it can.

        The transaction has committed; nothing here may fail it. ``VACUUM``
        removes the dead row versions the ``UPDATE`` left, unless another
        vacuum holds the table or an older snapshot still sees them
        (autovacuum gets them later).
        """
        try:
            cursor = driver.cursor()
            try:
                version = self._engine.dialect.server_version_info or ()
                skip = " (SKIP_LOCKED)" if version >= (12,) else ""
                table = outbox.name if self._schema is None else f"{self._schema}.{outbox.name}"
                cursor.execute(f"VACUUM{skip} {table}")
            finally:
                cursor.close()
        except Exception:  # the connection may be broken: not to be reused
            connection.invalidate()

    def _serialized(self) -> AbstractContextManager[Any]:
        return nullcontext()

    def _make_engine(self, url: str, *, echo: bool) -> Engine:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # the driver of the postgres extra
        engine = create_engine(parsed, echo=echo, isolation_level="READ COMMITTED")

        @event.listens_for(engine, "connect")
        def reads_on_their_own(dbapi_connection: Any, _record: Any) -> None:
            # A pooled connection rests in autocommit mode: reads need no BEGIN, and
            # PostgresStore.transaction switches it off at the first write (see there).
            dbapi_connection.autocommit = True

        @event.listens_for(engine, "checkout")
        def still_connected(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # An idle connection has nothing to read. If it has, the server has closed it
            # (a restart, a crash, an idle timeout): the pool replaces it. A check without
            # a round trip (pool_pre_ping's SELECT would cost issuing about a third).
            if dbapi_connection.closed or _has_input(dbapi_connection.fileno()):
                raise DisconnectionError("the server has closed this pooled connection")

        return engine

    def _create_tables(self, connection: Connection) -> None:
        # One transaction, holding an advisory lock: processes starting together
        # do not race to create the same table.
        driver: Any = connection.connection.driver_connection
        at_rest = driver.autocommit  # autocommit on tenantbill's own connections (see _make_engine)
        driver.autocommit = False
        try:
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                if self._schema is not None:  # a plain name (check_schema): nothing to quote
                    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {self._schema}"))
                create_tables(connection, self._schema)
        finally:
            if not driver.closed:
                driver.autocommit = at_rest

    def _checkout(self) -> Any:
        if not self._borrowed:
            return super()._checkout()
        # A host's pool: no events of tenantbill's on its engine, so what they do for
        # tenantbill's own pool is done here, on each connection taken, and undone by
        # _give_back before it goes back.
        connection = super()._checkout()
        driver: Any = connection.driver_connection
        for _ in range(_STALE_RETRIES):
            if not (driver.closed or _has_input(driver.fileno())):
                break
            connection.invalidate()  # closed by the server since it was pooled: take another
            connection.close()
            connection = super()._checkout()
            driver = connection.driver_connection
        connection.info[_AT_REST] = (driver.autocommit, driver.isolation_level)
        driver.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        driver.autocommit = True
        return connection

    def _describe(self) -> str:
        url = self._engine.url
        return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"

    def _failure(self, error: BaseException) -> str | None:
        return first_line(error) if isinstance(error, _DRIVER_ERRORS) else None
