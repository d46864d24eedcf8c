"""What SQLite and PostgreSQL share: compiled statements, the unit of work and its repositories.

The dialect modules (:mod:`tenantbill.sql.sqlite`, :mod:`tenantbill.sql.postgres`)
subclass what differs, and :class:`~tenantbill.sql.store.SqlStore` picks the
dialect's classes once, when the store is made:

- :class:`Statements` compiles every statement both dialects run alike; a
  dialect's subclass adds its own (PostgreSQL's row locks, ``SKIP LOCKED``
  claims and the one-statement issue; SQLite's read-then-update claim).
- :class:`UnitOfWork` runs compiled statements on the driver's cursor; a
  dialect's subclass names its repositories. The repositories here are the
  ones that read and write the same way on both; the few methods that differ
  (numbering, the outbox claim, releasing a number) are overridden in the
  dialect's module, so no method asks which database it is on.

SQLAlchemy builds every statement for the backend's dialect and compiles it
once; a unit of work then runs the compiled SQL on its connection's driver
cursor. That keeps a statement's cost close to the driver's own, which is
what makes an invoice a fraction of a millisecond.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, cast

import attrs
from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Dialect,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    null,
    select,
    tuple_,
    update,
)
from sqlalchemy.sql.compiler import SQLCompiler

from tenantbill._lazy import repository
from tenantbill.domain.accounts import (
    Account,
    AuditEvent,
    Invitation,
    InvitationState,
    Membership,
    Role,
    User,
)
from tenantbill.domain.events import Event
from tenantbill.domain.identity import email_key
from tenantbill.domain.invoices import Invoice, LedgerEntry, Series
from tenantbill.domain.keys import KeyRecord
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.payments import Payment, Reminder
from tenantbill.domain.subscriptions import Subscription, Usage
from tenantbill.errors import (
    AlreadyBilled,
    AlreadyMember,
    EmailTaken,
    NotFound,
    StoreUnavailable,
    number_taken,
)
from tenantbill.ports import DuplicateId, InvoiceKey
from tenantbill.sql.codec import Formats, Row
from tenantbill.sql.schema import (
    accounts,
    audit_events,
    billing_marks,
    blobs,
    events,
    idempotency_keys,
    invitations,
    invoices,
    ledger_entries,
    memberships,
    number_claims,
    number_owners,
    outbox,
    payments,
    reminders,
    series,
    subscriptions,
    usage,
    users,
)

__all__ = [
    "DELIVERY_STATE",
    "INVOICE_PAGE",
    "Sql",
    "SqlAccounts",
    "SqlEvents",
    "SqlInvoices",
    "SqlLedger",
    "SqlMetering",
    "SqlOutbox",
    "Statements",
    "Unavailable",
    "UnitOfWork",
    "first_of_each_key",
    "key_params",
    "statements_for",
]

INVOICE_PAGE = 500
# The statuses of an invoice with money still due (never a credit note), written into the statement.
_UNPAID: tuple[ColumnElement[str], ...] = (literal_column("'open'"), literal_column("'partially_paid'"))
DELIVERY_STATE = ("next_attempt_at", "attempts", "last_error", "sent_at", "dropped_at")

Unavailable = Callable[[BaseException, str, bool], StoreUnavailable | None]
"""The store's translation of a driver error: ``(error, what it was doing, retryable)`` → the error
to raise instead, or ``None`` when the error is not about the database being unavailable."""


class Sql:
    """A statement compiled once for a dialect, ready for the driver's ``cursor.execute``."""

    __slots__ = ("defaults", "names", "text", "writes")

    def __init__(self, statement: ClauseElement, dialect: Dialect, schema: str | None = None) -> None:
        # In a schema of its own (PostgreSQL), the tables are named with it in the compiled text:
        # no search_path to set on a connection, and still compiled once.
        translate: dict[str, Any] = {}
        if schema is not None:
            translate = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, **translate))
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


def columns(table: Table) -> dict[str, Any]:
    """A bound parameter per column, named after it, but for the row number the database assigns."""
    return {c.name: bindparam(c.name) for c in table.c if c.name != "ordinal"}


def insert_all(table: Table) -> ClauseElement:
    """``INSERT INTO table`` of every column but the row number, which the database assigns."""
    return insert(table).values(columns(table))


def replace(table: Table, *keys: str) -> ClauseElement:
    """``UPDATE table SET <every other column> WHERE <keys>``; key parameters are ``key_<name>``."""
    return (
        update(table)
        .where(*(table.c[key] == bindparam(f"key_{key}") for key in keys))
        .values({c.name: bindparam(c.name) for c in table.c if c.name not in (*keys, "ordinal")})
    )


def key_params(values: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The parameters of a :func:`replace` statement: the keys renamed, the rest as they are."""
    params = {name: value for name, value in values.items() if name not in keys}
    params.update({f"key_{key}": values[key] for key in keys})
    return params


# Compiling every statement takes tens of milliseconds: stores on the same
# kind of database share one compiled set. A memo, filled at most once per key.
_COMPILED: dict[tuple[Any, ...], Statements] = {}


def statements_for(kind: type[Statements], dialect: Dialect, schema: str | None = None) -> Statements:
    """The statements of ``kind`` compiled for ``dialect`` (once per dialect, server version and schema)."""
    key = (kind, type(dialect), dialect.server_version_info, schema)
    statements = _COMPILED.get(key)
    if statements is None:
        statements = _COMPILED.setdefault(key, kind(dialect, schema))
    return statements


class Statements:
    """The statements both dialects run alike, compiled for one dialect.

    A dialect's subclass sets :attr:`formats` and :attr:`upsert` (its
    ``INSERT … ON CONFLICT``) and compiles the statements only it has.
    """

    formats: ClassVar[Formats]
    upsert: ClassVar[Callable[..., Any]]
    lock_invoice: Sql
    """An invoice, locked until the transaction ends (set by the dialect)."""

    def __init__(self, dialect: Dialect, schema: str | None = None) -> None:
        self.dialect = dialect
        self.schema = schema
        """The PostgreSQL schema the tables are in (named in every statement), or ``None``."""
        upsert = type(self).upsert
        sql = self.compile

        self.insert_user = sql(
            upsert(users).values(columns(users)).on_conflict_do_nothing(index_elements=["email_key"])
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
            upsert(accounts).values(columns(accounts)).on_conflict_do_nothing(index_elements=["id"])
        )
        self.update_account = sql(replace(accounts, "id"))
        self.get_account = sql(select(accounts).where(accounts.c.id == bindparam("id")))
        self.accounts_of_user = sql(
            select(accounts)
            .join(memberships, memberships.c.account_id == accounts.c.id)
            .where(memberships.c.user_id == bindparam("user_id"))
            .order_by(memberships.c.ordinal)
        )

        self.insert_membership = sql(
            upsert(memberships)
            .values(columns(memberships))
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
        # (SQLite compiles no FOR UPDATE, and needs none: BEGIN IMMEDIATE serializes its transactions.)
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
        self.account_and_membership = sql(account_and_membership())
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
            .values(columns(number_owners))
            .on_conflict_do_nothing(index_elements=["kind", "number"])
        )
        owner_upsert = upsert(number_owners).values(columns(number_owners))
        self.set_owner = sql(
            owner_upsert.on_conflict_do_update(
                index_elements=["kind", "number"], set_={"owner_id": owner_upsert.excluded.owner_id}
            )
        )
        self.lock_owner = sql(select(number_owners.c.owner_id).where(*owner_key).with_for_update())
        self.delete_owner = sql(delete(number_owners).where(*owner_key, ~exists().where(*claim_key)))
        self.insert_claim = sql(upsert(number_claims).values(columns(number_claims)).on_conflict_do_nothing())
        self.delete_claim = sql(
            delete(number_claims).where(*claim_key, number_claims.c.account_id == bindparam("account_id"))
        )
        self.holders = sql(
            select(number_claims.c.account_id).where(*claim_key).order_by(number_claims.c.account_id)
        )

        self.insert_invitation = sql(insert_all(invitations))
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
            .values(columns(idempotency_keys))
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

        self.insert_audit = sql(insert_all(audit_events))
        self.audit_of_account = sql(
            select(audit_events)
            .where(audit_events.c.account_id == bindparam("account_id"))
            .order_by(audit_events.c.ordinal)
        )

        self.insert_series = sql(insert_all(series))
        series_upsert = upsert(series).values(columns(series))
        self.save_series = sql(
            series_upsert.on_conflict_do_update(
                index_elements=["account_id"],
                set_={
                    c: series_upsert.excluded[c] for c in ("next_sequence", "prefix", "width", "last_used")
                },
            )
        )
        self.get_series = sql(select(series).where(series.c.account_id == bindparam("account_id")))
        # One statement reads, increments and (on PostgreSQL) locks the series row, and
        # returns it: the series read next in the transaction needs no second trip.
        self.allocate = sql(
            update(series)
            .where(series.c.account_id == bindparam("key_account_id"))
            .values(next_sequence=series.c.next_sequence + 1, last_used=series.c.next_sequence)
            .returning(*series.c)
        )

        self.insert_blob = sql(
            upsert(blobs).values(columns(blobs)).on_conflict_do_nothing(index_elements=["digest"])
        )
        self.insert_invoice = sql(insert_all(invoices))
        self.invoice_with_logo = select(invoices, blobs.c.data).select_from(
            invoices.outerjoin(blobs, blobs.c.digest == invoices.c.seller_logo)
        )
        self.get_invoice = sql(self.invoice_with_logo.where(invoices.c.id == bindparam("id")))
        invoices_in_order = self.invoice_with_logo.where(
            invoices.c.account_id == bindparam("account_id")
        ).order_by(invoices.c.sequence)
        self.first_invoices = sql(invoices_in_order.limit(INVOICE_PAGE))
        self.next_invoices = sql(
            invoices_in_order.where(invoices.c.sequence > bindparam("after")).limit(INVOICE_PAGE)
        )
        self.credit_notes_of = sql(
            self.invoice_with_logo.where(invoices.c.credits_invoice_id == bindparam("invoice_id")).order_by(
                invoices.c.sequence
            )
        )

        customer_key = (
            ledger_entries.c.account_id == bindparam("account_id"),
            ledger_entries.c.customer == bindparam("customer"),
        )
        self.insert_ledger = sql(insert_all(ledger_entries))
        self.ledger = sql(select(ledger_entries).where(*customer_key).order_by(ledger_entries.c.ordinal))
        # Summed in Python: the amounts are exact decimal text, which SQL would sum as floats.
        self.ledger_amounts = sql(
            select(ledger_entries.c.amount).where(
                *customer_key, ledger_entries.c.currency == bindparam("currency")
            )
        )

        self.insert_subscription = sql(insert_all(subscriptions))
        self.update_subscription = sql(replace(subscriptions, "id"))
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

        # A usage whose key is recorded for its subscription is not inserted (NULL keys never collide).
        self.insert_usage = sql(
            upsert(usage)
            .values(columns(usage))
            .on_conflict_do_nothing(index_elements=["subscription_id", "key"])
        )
        self.usage_by_key = sql(
            select(usage).where(
                usage.c.subscription_id == bindparam("subscription_id"), usage.c.key == bindparam("key")
            )
        )
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
            .values(columns(billing_marks))
            .on_conflict_do_nothing(index_elements=["subscription_id", "due"])
        )

        self.insert_outbox = sql(
            upsert(outbox).values(columns(outbox)).on_conflict_do_nothing(index_elements=["key"])
        )
        # Only the delivery state: the key and the content of a message never change,
        # except that a sent or dropped message's payload is erased, and a drop is kept.
        delivery_state: dict[str, Any] = {name: bindparam(name) for name in DELIVERY_STATE}
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
        self.due_messages: Select[Any] = (
            select(outbox).where(*due_now).order_by(*due_order).limit(bindparam("limit"))
        )
        self.one_due_message = self.due_messages.where(outbox.c.id == bindparam("id"))
        self.due_outbox = sql(self.due_messages)
        self.outbox_of_invoice = sql(
            select(outbox).where(outbox.c.invoice_id == bindparam("invoice_id")).order_by(outbox.c.ordinal)
        )

        self._finding_statements()

    def _finding_statements(self) -> None:
        """Finding things (search, numbers, pending invitations, people), erasing a user, and events."""
        sql = self.compile
        self.erase_user = sql(
            update(users)
            .where(users.c.id == bindparam("key_id"))
            .values(name=bindparam("name"), email="", email_key=bindparam("email_key"), invoice_emails=False)
        )
        self.memberships_of_user = sql(
            select(accounts, memberships.c.role)
            .join(memberships, memberships.c.account_id == accounts.c.id)
            .where(memberships.c.user_id == bindparam("user_id"))
            .order_by(memberships.c.ordinal)
        )
        self.people_of_account = sql(
            select(memberships, users.c.name, users.c.email)
            .select_from(memberships.outerjoin(users, users.c.id == memberships.c.user_id))
            .where(memberships.c.account_id == bindparam("account_id"))
            .order_by(memberships.c.ordinal)
        )
        self.pending_invitations = sql(
            select(invitations)
            .where(
                invitations.c.account_id == bindparam("account_id"),
                invitations.c.state == InvitationState.PENDING.value,
            )
            .order_by(invitations.c.created_at, invitations.c.id)
        )
        # Erasing a user (rare): these scan their tables.
        self.redact_invitations = sql(
            update(invitations)
            .where(func.lower(invitations.c.email) == bindparam("email_key"))
            .values(email=bindparam("replacement"))
        )
        self.redact_audit = sql(
            update(audit_events)
            .where(func.lower(audit_events.c.target) == bindparam("target_key"))
            .values(target=bindparam("replacement"))
        )
        self.invoice_by_number = sql(
            self.invoice_with_logo.where(
                invoices.c.account_id == bindparam("account_id"),
                invoices.c.sequence.in_([bindparam(f"s{k}") for k in range(_SEQUENCE_DIGITS)]),
                invoices.c.number == bindparam("number"),
            )
            .order_by(invoices.c.sequence.desc())
            .limit(1)
        )
        self._searches: dict[tuple[bool, ...], Sql] = {}
        upsert = type(self).upsert
        self.insert_payment = sql(
            upsert(payments)
            .values(columns(payments))
            .on_conflict_do_nothing(index_elements=["account_id", "reference"])
        )
        self.payment_by_reference = sql(
            select(payments).where(
                payments.c.account_id == bindparam("account_id"),
                payments.c.reference == bindparam("reference"),
            )
        )
        self.payments_of_invoice = sql(
            select(payments)
            .where(payments.c.invoice_id == bindparam("invoice_id"))
            .order_by(payments.c.ordinal)
        )
        self.settle_invoice = sql(
            update(invoices)
            .where(invoices.c.id == bindparam("key_id"))
            .values(paid=bindparam("paid"), credited=bindparam("credited"), status=bindparam("status"))
        )
        self.invoice_by_sequence = sql(
            self.invoice_with_logo.where(
                invoices.c.account_id == bindparam("account_id"), invoices.c.sequence == bindparam("sequence")
            )
        )
        overdue = self.invoice_with_logo.where(
            invoices.c.account_id == bindparam("account_id"),
            invoices.c.status.in_(_UNPAID),
            invoices.c.due_date < bindparam("as_of", type_=invoices.c.due_date.type),
        ).order_by(invoices.c.due_date, invoices.c.id)
        self.overdue_first = sql(overdue.limit(bindparam("limit")))
        after = tuple_(
            bindparam("after_date", type_=invoices.c.due_date.type),
            bindparam("after_id", type_=invoices.c.id.type),
        )
        self.overdue_next = sql(
            overdue.where(tuple_(invoices.c.due_date, invoices.c.id) > after).limit(bindparam("limit"))
        )
        self.insert_reminder = sql(
            upsert(reminders)
            .values(columns(reminders))
            .on_conflict_do_nothing(index_elements=["invoice_id", "sent_on"])
        )
        self.reminders_of_invoice = sql(
            select(reminders)
            .where(reminders.c.invoice_id == bindparam("invoice_id"))
            .order_by(reminders.c.sent_on)
        )
        self.insert_event = sql(
            insert(events).values({c.name: bindparam(c.name) for c in events.c if c.name != "position"})
        )
        self.read_events = sql(
            select(events)
            .where(events.c.position > bindparam("after"))
            .order_by(events.c.position)
            .limit(bindparam("limit"))
        )

    def search(
        self,
        received: bool,
        customer: bool,
        start: bool,
        end: bool,
        before: bool,
        status: bool = False,
        overdue: bool = False,
    ) -> Sql:
        """The page of :meth:`SqlInvoices.search` with these filters, compiled on first use."""
        key = (received, customer, start, end, before, status, overdue)
        found = self._searches.get(key)
        if found is not None:
            return found
        c = invoices.c
        query = self.invoice_with_logo
        if received:
            query = query.where(c.customer == bindparam("account_id"))
        else:
            query = query.where(c.account_id == bindparam("account_id"))
            if customer:
                query = query.where(c.customer == bindparam("customer"))
        if start:
            query = query.where(c.issue_date >= bindparam("issued_from", type_=c.issue_date.type))
        if end:
            query = query.where(c.issue_date <= bindparam("issued_to", type_=c.issue_date.type))
        if status:
            query = query.where(c.status == bindparam("status"))
        if overdue:
            query = query.where(
                c.status.in_(_UNPAID), c.due_date < bindparam("overdue_on", type_=c.due_date.type)
            )
        if before:
            # Keyset: the rows after the previous page's last one, read from the index in its order.
            last = tuple_(
                bindparam("before_date", type_=c.issue_date.type),
                bindparam("before_at", type_=c.issued_at.type),
                bindparam("before_id", type_=c.id.type),
            )
            query = query.where(tuple_(c.issue_date, c.issued_at, c.id) < last)
        query = query.order_by(c.issue_date.desc(), c.issued_at.desc(), c.id.desc()).limit(bindparam("limit"))
        return self._searches.setdefault(key, self.compile(query))

    def compile(self, statement: ClauseElement) -> Sql:
        """``statement`` compiled for this dialect (and schema)."""
        return Sql(statement, self.dialect, self.schema)


def account_and_membership() -> Select[Any]:
    """The account ``:account_id`` with the membership of ``:user_id`` on it (all ``NULL`` if none)."""
    return (
        select(accounts, memberships)
        .select_from(
            accounts.outerjoin(
                memberships,
                (memberships.c.account_id == accounts.c.id) & (memberships.c.user_id == bindparam("user_id")),
            )
        )
        .where(accounts.c.id == bindparam("account_id"))
    )


class UnitOfWork:
    """The unit of work of a :class:`~tenantbill.sql.store.SqlStore`: a :class:`tenantbill.ports.Transaction`.

    A dialect's subclass sets :attr:`driver_errors` and names the repositories
    it overrides; the store opens and ends the database transaction around it.
    """

    driver_errors: ClassVar[tuple[type[BaseException], ...]]
    """The driver's exceptions that may mean the database is unavailable (see ``unavailable``)."""

    def __init__(
        self,
        cursor: Any,
        statements: Statements,
        log: Any,
        begin: Callable[[], None] | None,
        unavailable: Unavailable,
    ) -> None:
        self._cursor = cursor
        self._q = statements
        self._f = statements.formats
        self._log = log
        # PostgreSQL: called before the first statement that writes or locks (see PostgresStore.transaction).
        self._begin = begin
        self._unavailable = unavailable
        self.closed = False
        # Whether a message's payload was erased: the store then scrubs its traces after the commit.
        self.erased = False
        # Whether add_numbered() committed on its own (PostgreSQL): no write may follow.
        self._sealed = False
        # The series this transaction allocated from last: its row is locked until the
        # transaction ends, so it stays as returned until this transaction changes it.
        self._allocated: Series | None = None
        # The rows of the events appended and not written yet: written in one batch when
        # the unit of work ends (see flush_events), or before the events are read in it.
        self._pending_events: list[dict[str, Any]] = []

    @repository
    def users(self) -> SqlUsers:
        return SqlUsers(self)

    @repository
    def accounts(self) -> SqlAccounts:
        return SqlAccounts(self)

    @repository
    def memberships(self) -> SqlMemberships:
        return SqlMemberships(self)

    @repository
    def invitations(self) -> SqlInvitations:
        return SqlInvitations(self)

    @repository
    def invoices(self) -> SqlInvoices:
        raise NotImplementedError  # the dialect's numbering: see SqliteUnitOfWork, PostgresUnitOfWork

    @repository
    def ledger(self) -> SqlLedger:
        return SqlLedger(self)

    @repository
    def payments(self) -> SqlPayments:
        return SqlPayments(self)

    @repository
    def reminders(self) -> SqlReminders:
        return SqlReminders(self)

    @repository
    def subscriptions(self) -> SqlSubscriptions:
        return SqlSubscriptions(self)

    @repository
    def outbox(self) -> SqlOutbox:
        raise NotImplementedError  # the dialect's claim: see SqliteUnitOfWork, PostgresUnitOfWork

    @repository
    def metering(self) -> SqlMetering:
        raise NotImplementedError  # the dialect's batch insert: see SqliteUnitOfWork, PostgresUnitOfWork

    @repository
    def idempotency(self) -> SqlIdempotency:
        return SqlIdempotency(self)

    @repository
    def audit(self) -> SqlAudit:
        return SqlAudit(self)

    @repository
    def events(self) -> SqlEvents:
        return SqlEvents(self)

    def flush_events(self) -> None:
        """Write the events appended in this unit of work, in one ``executemany``, in order.

        The store calls it when the block of the transaction ends without an
        error, before it commits: an event is written in its transaction, and
        a billing run's transaction writes its events in one batch.
        """
        if self._pending_events:
            self.events.write_pending()

    def _run(self, sql: Sql, values: Mapping[str, Any]) -> Any:
        """Execute ``sql`` and return the driver's cursor, holding its result."""
        if sql.writes and not self.begun:
            self._begin_writing()
        return self._execute(sql, values)

    def _begin_writing(self) -> None:
        """Begin the database transaction, before the first statement that writes or locks."""
        if self._sealed:
            raise RuntimeError(
                "add_numbered() committed this unit of work on its own (it was its first write); "
                "it must be the last write of the unit of work"
            )
        assert self._begin is not None
        self._begin()
        self._begin = None

    def _run_many(self, sql: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute ``sql`` once per row of values, in one call of the driver's ``executemany``."""
        if not rows:
            return
        if sql.writes and not self.begun:
            self._begin_writing()
        parameters = [sql.parameters(values) for values in rows]
        if self._log is not None:
            self._log.info("%s\n[compiled once, %d rows] %r", sql.text, len(parameters), parameters[0])
        try:
            self._cursor.executemany(sql.text, parameters)
        except self.driver_errors as error:
            unavailable = self._unavailable(error, "running a statement", True)
            if unavailable is None:
                raise
            raise unavailable from error

    def _execute(self, sql: Sql, values: Mapping[str, Any]) -> Any:
        parameters = sql.parameters(values)
        if self._log is not None:
            self._log.info("%s\n[compiled once] %r", sql.text, parameters)
        try:
            self._cursor.execute(sql.text, parameters)
        except self.driver_errors as error:
            # Nothing this unit of work wrote is committed: a statement that writes runs in the
            # database transaction, which commits only when the unit of work ends. (The one
            # write that commits on its own, PostgreSQL's one-statement issue, says otherwise.)
            unavailable = self._unavailable(error, "running a statement", True)
            if unavailable is None:
                raise
            raise unavailable from error
        return self._cursor

    @property
    def begun(self) -> bool:
        """Whether the database transaction has begun (always on SQLite; at the first write on PostgreSQL)."""
        return self._begin is None

    def _one(self, sql: Sql, values: Mapping[str, Any]) -> Row | None:
        row: Row | None = self._run(sql, values).fetchone()
        return row

    def _all(self, sql: Sql, values: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = self._run(sql, values).fetchall()
        return rows

    def _changed(self, sql: Sql, values: Mapping[str, Any]) -> bool:
        """Whether the statement inserted, changed or deleted a row."""
        count: int = self._run(sql, values).rowcount
        return count > 0

    def _replace(self, sql: Sql, values: Mapping[str, Any], what: str, key: Any) -> None:
        if not self._changed(sql, values):
            raise NotFound(f"no {what} {key!r}")

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


class Repository:
    """A repository of a :class:`UnitOfWork`: it runs the unit of work's statements."""

    __slots__ = ("_f", "_q", "_tx")

    def __init__(self, tx: UnitOfWork) -> None:
        self._tx = tx
        self._q = tx._q
        self._f = tx._f


class SqlUsers(Repository):
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

    def erase(self, user_id: str, name: str) -> bool:
        # The unique address key becomes one no address has: the address is free again.
        values = {"key_id": user_id, "name": name, "email_key": f"erased:{user_id}"}
        return self._tx._changed(self._q.erase_user, values)


class SqlAccounts(Repository):
    """The ``accounts`` repository of a transaction (see :class:`tenantbill.ports.Accounts`)."""

    __slots__ = ()

    def add(self, account: Account) -> None:
        if not self._tx._changed(self._q.insert_account, self._f.account_values(account)):
            raise DuplicateId(f"an account with the id {account.id!r} already exists")
        self._tx._run(self._q.insert_series, self._f.series_values(Series(account_id=account.id)))

    def save(self, account: Account) -> None:
        values = key_params(self._f.account_values(account), "id")
        self._tx._replace(self._q.update_account, values, "account", account.id)

    def get(self, account_id: str) -> Account | None:
        row = self._tx._one(self._q.get_account, {"id": account_id})
        return None if row is None else self._f.account_from(row)

    def of_user(self, user_id: str) -> list[Account]:
        rows = self._tx._all(self._q.accounts_of_user, {"user_id": user_id})
        return [self._f.account_from(row) for row in rows]

    def memberships_of(self, user_id: str) -> list[tuple[Account, Role]]:
        rows = self._tx._all(self._q.memberships_of_user, {"user_id": user_id})
        return [(self._f.account_from(row[:-1]), Role(row[-1])) for row in rows]

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
        self._tx._run(self._q.delete_claim, {**key, "account_id": account_id})
        self._tx._run(self._q.delete_owner, key)

    def number_holders(self, kind: str, number: str) -> list[str]:
        return [row[0] for row in self._tx._all(self._q.holders, {"kind": kind, "number": number})]

    def set_number_owner(self, kind: str, number: str, owner_id: str) -> None:
        self._tx._run(self._q.set_owner, {"kind": kind, "number": number, "owner_id": owner_id})


class SqlMemberships(Repository):
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

    def with_account(
        self, account_id: str, user_id: str, *, recent: bool = False
    ) -> tuple[Account | None, Membership | None]:
        # A read here is as cheap as a cached answer would be (see PostgresMemberships).
        row = self._tx._one(self._q.account_and_membership, {"account_id": account_id, "user_id": user_id})
        if row is None:
            return None, None
        width = len(accounts.c)
        account, membership = row[:width], row[width:]
        found = None if membership[0] is None else self._f.membership_from(membership)
        return self._f.account_from(account), found

    def of_account(self, account_id: str) -> list[Membership]:
        rows = self._tx._all(self._q.people_of_account, {"account_id": account_id})
        return [
            attrs.evolve(self._f.membership_from(row[:-2]), name=row[-2], email=row[-1] or None)
            for row in rows
        ]


class SqlInvitations(Repository):
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

    def pending_of(self, account_id: str) -> list[Invitation]:
        rows = self._tx._all(self._q.pending_invitations, {"account_id": account_id})
        return [self._f.invitation_from(row) for row in rows]

    def redact_email(self, email_key: str, replacement: str) -> None:
        self._tx._run(self._q.redact_invitations, {"email_key": email_key, "replacement": replacement})


class SqlInvoices(Repository):
    """The ``invoices`` repository of a transaction (see :class:`tenantbill.ports.Invoices`).

    The dialect's subclass numbers: :meth:`add_numbered` and :meth:`lock_series`.
    """

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

    def lock_series(self, account_id: str) -> Series:
        raise NotImplementedError  # the dialect's: see SqliteInvoices, PostgresInvoices

    def add_numbered(
        self, invoice: Invoice, messages: Sequence[OutboxMessage] = (), events: Sequence[Event] = ()
    ) -> Invoice:
        raise NotImplementedError  # the dialect's: see SqliteInvoices, PostgresInvoices

    def _queued(
        self, numbered: Invoice, messages: Sequence[OutboxMessage], events: Sequence[Event]
    ) -> Invoice:
        """Queue a just-numbered invoice's e-mails and events (with its number); returns it."""
        for message in messages:
            self._tx.outbox.add(message)
        if events:
            self._tx.events.append_numbered(events, numbered.number)
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
            if len(rows) < INVOICE_PAGE:
                return
            sql = self._q.next_invoices
            values = {"account_id": account_id, "after": rows[-1][2]}  # the sequence

    def credit_notes_of(self, invoice_id: str) -> list[Invoice]:
        rows = self._tx._all(self._q.credit_notes_of, {"invoice_id": invoice_id})
        return [self._f.invoice_from(row) for row in rows]

    def search(
        self,
        account_id: str,
        *,
        received: bool = False,
        customer: str | None = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        before: InvoiceKey | None = None,
        limit: int = 50,
        status: str | None = None,
        overdue_on: date | None = None,
    ) -> list[Invoice]:
        if limit <= 0:
            return []
        f = self._f
        values: dict[str, Any] = {"account_id": account_id, "limit": limit}
        by_customer = customer is not None and not received
        if by_customer:
            values["customer"] = customer
        if issued_from is not None:
            values["issued_from"] = f.day(issued_from)
        if issued_to is not None:
            values["issued_to"] = f.day(issued_to)
        if before is not None:
            values.update(before_date=f.day(before[0]), before_at=f.instant(before[1]), before_id=before[2])
        if status is not None:
            values["status"] = status
        if overdue_on is not None:
            values["overdue_on"] = f.day(overdue_on)
        sql = self._q.search(
            received,
            by_customer,
            issued_from is not None,
            issued_to is not None,
            before is not None,
            status is not None,
            overdue_on is not None,
        )
        return [f.invoice_from(row) for row in self._tx._all(sql, values)]

    def by_number(self, account_id: str, number: str) -> Invoice | None:
        candidates = sequence_candidates(number)
        if not candidates:
            return None
        values: dict[str, Any] = {"account_id": account_id, "number": number}
        # Unused places repeat the last candidate: one compiled statement for every number.
        values.update({f"s{k}": candidates[min(k, len(candidates) - 1)] for k in range(_SEQUENCE_DIGITS)})
        row = self._tx._one(self._q.invoice_by_number, values)
        return None if row is None else self._f.invoice_from(row)


_SEQUENCE_DIGITS = 19
"""The most digits a sequence has (a BIGINT)."""
_SEQUENCE_MAX = 2**63 - 1


def sequence_candidates(number: str) -> list[int]:
    """The sequences an invoice numbered ``number`` may have: the values of the digits it ends with.

    A number is its series' prefix, then the sequence's digits zero-padded
    (see :meth:`~tenantbill.domain.invoices.Series.format`); a prefix may end
    with digits too, so each run of final digits is a candidate ("INV-0042":
    2 and 42; "20260001": 1, 260001, 6260001, 26260001 …).
    """
    candidates: list[int] = []
    for length in range(1, min(len(number), _SEQUENCE_DIGITS) + 1):
        digits = number[-length:]
        if not ("0" <= digits[0] <= "9"):  # ASCII digits only: Series.format writes str(int)
            break
        value = int(digits)
        if 0 < value <= _SEQUENCE_MAX and value not in candidates:
            candidates.append(value)
    return candidates


class SqlPayments(Repository):
    """The ``payments`` repository of a transaction (see :class:`tenantbill.ports.Payments`)."""

    __slots__ = ()

    def add(self, payment: Payment) -> bool:
        return self._tx._changed(self._q.insert_payment, self._f.payment_values(payment))

    def by_reference(self, account_id: str, reference: str) -> Payment | None:
        row = self._tx._one(self._q.payment_by_reference, {"account_id": account_id, "reference": reference})
        return None if row is None else self._f.payment_from(row)

    def of_invoice(self, invoice_id: str) -> list[Payment]:
        rows = self._tx._all(self._q.payments_of_invoice, {"invoice_id": invoice_id})
        return [self._f.payment_from(row) for row in rows]

    def settle(self, invoice_id: str, paid: Decimal, credited: Decimal) -> None:
        invoice = self._tx.invoices.get(invoice_id)
        if invoice is None:
            raise NotFound(f"no invoice {invoice_id!r}")
        status = attrs.evolve(invoice, paid=paid, credited=credited).status.value
        values = {"key_id": invoice_id, "paid": str(paid), "credited": str(credited), "status": status}
        self._tx._replace(self._q.settle_invoice, values, "invoice", invoice_id)

    def invoice_by_sequence(self, account_id: str, sequence: int) -> Invoice | None:
        row = self._tx._one(self._q.invoice_by_sequence, {"account_id": account_id, "sequence": sequence})
        return None if row is None else self._f.invoice_from(row)

    def overdue(
        self, account_id: str, as_of: date, *, after: tuple[date, str] | None = None, limit: int = 100
    ) -> list[Invoice]:
        if limit <= 0:
            return []
        values: dict[str, Any] = {"account_id": account_id, "as_of": self._f.day(as_of), "limit": limit}
        sql = self._q.overdue_first
        if after is not None:
            sql = self._q.overdue_next
            values.update(after_date=self._f.day(after[0]), after_id=after[1])
        return [self._f.invoice_from(row) for row in self._tx._all(sql, values)]


class SqlReminders(Repository):
    """The ``reminders`` repository of a transaction (see :class:`tenantbill.ports.Reminders`)."""

    __slots__ = ()

    def add(self, reminder: Reminder) -> bool:
        return self._tx._changed(self._q.insert_reminder, self._f.reminder_values(reminder))

    def of_invoice(self, invoice_id: str) -> list[Reminder]:
        rows = self._tx._all(self._q.reminders_of_invoice, {"invoice_id": invoice_id})
        return [self._f.reminder_from(row) for row in rows]


class SqlLedger(Repository):
    """The ``ledger`` repository of a transaction (see :class:`tenantbill.ports.Ledger`)."""

    __slots__ = ()

    def add(self, entry: LedgerEntry) -> None:
        self._tx._run(self._q.insert_ledger, self._f.ledger_values(entry))

    def entries(self, account_id: str, customer_key: str) -> list[LedgerEntry]:
        rows = self._tx._all(self._q.ledger, {"account_id": account_id, "customer": customer_key})
        return [self._f.ledger_from(row) for row in rows]

    def balance(self, account_id: str, customer_key: str, currency: str) -> Decimal:
        values = {"account_id": account_id, "customer": customer_key, "currency": currency}
        rows = self._tx._all(self._q.ledger_amounts, values)
        return sum((Decimal(amount) for (amount,) in rows), Decimal(0))


class SqlSubscriptions(Repository):
    """The ``subscriptions`` repository of a transaction (see :class:`tenantbill.ports.Subscriptions`)."""

    __slots__ = ()

    def add(self, subscription: Subscription) -> None:
        self._tx._run(self._q.insert_subscription, self._f.subscription_values(subscription))

    def save(self, subscription: Subscription) -> None:
        values = key_params(self._f.subscription_values(subscription), "id")
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
        if not self._tx._changed(self._q.insert_usage, self._f.usage_values(usage)):
            raise DuplicateId(f"usage with the key {usage.key!r} is already recorded")

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        values = {"subscription_id": subscription_id, "start": self._f.day(start), "end": self._f.day(end)}
        return [self._f.usage_from(row) for row in self._tx._all(self._q.usage_between, values)]

    def mark_billed(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        values = {"subscription_id": subscription_id, "due": self._f.day(due), "invoice_id": invoice_id}
        if not self._tx._changed(self._q.insert_billing_mark, values):
            raise AlreadyBilled(f"subscription {subscription_id} is already billed for {due}")


class SqlMetering(Repository):
    """The ``metering`` repository of a transaction (see :class:`tenantbill.ports.Metering`).

    The dialect's subclass records a batch: :meth:`add`.
    """

    __slots__ = ()

    def add(self, usages: Sequence[Usage]) -> set[tuple[str, str]]:
        raise NotImplementedError

    def by_key(self, subscription_id: str, key: str) -> Usage | None:
        row = self._tx._one(self._q.usage_by_key, {"subscription_id": subscription_id, "key": key})
        return None if row is None else self._f.usage_from(row)


def first_of_each_key(usages: Sequence[Usage]) -> dict[tuple[str, str], Usage]:
    """The usages by ``(subscription_id, key)``, the first of each key only, in the order given."""
    found: dict[tuple[str, str], Usage] = {}
    for recorded in usages:
        if recorded.key is None:
            raise ValueError("metering.add records usage with a key only")
        found.setdefault((recorded.subscription_id, recorded.key), recorded)
    return found


class SqlOutbox(Repository):
    """The ``outbox`` repository of a transaction (see :class:`tenantbill.ports.Outbox`).

    The dialect's subclass claims: :meth:`claim`.
    """

    __slots__ = ()

    def add(self, message: OutboxMessage) -> bool:
        return self._tx._changed(self._q.insert_outbox, self._f.outbox_values(message))

    def save(self, message: OutboxMessage) -> None:
        values = self._f.outbox_values(message)
        state = {name: values[name] for name in DELIVERY_STATE}
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
        raise NotImplementedError

    def _claim_values(
        self, now: datetime, limit: int, lease_until: datetime, message_id: str | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "now": self._f.instant(now),
            "limit": limit,
            "lease_until": self._f.instant(lease_until),
        }
        if message_id is not None:
            values["id"] = message_id
        return values

    def of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        rows = self._tx._all(self._q.outbox_of_invoice, {"invoice_id": invoice_id})
        return [self._f.outbox_from(row) for row in rows]


class SqlIdempotency(Repository):
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


class SqlAudit(Repository):
    """The ``audit`` repository of a transaction (see :class:`tenantbill.ports.Audit`)."""

    __slots__ = ()

    def add(self, event: AuditEvent) -> None:
        self._tx._run(self._q.insert_audit, self._f.audit_values(event))

    def of_account(self, account_id: str) -> list[AuditEvent]:
        rows = self._tx._all(self._q.audit_of_account, {"account_id": account_id})
        return [self._f.audit_from(row) for row in rows]

    def redact(self, target_key: str, replacement: str) -> None:
        self._tx._run(self._q.redact_audit, {"target_key": target_key, "replacement": replacement})


class SqlEvents(Repository):
    """The ``events`` repository of a transaction (see :class:`tenantbill.ports.Events`).

    The position is the row's number, which the database gives at insert. On
    SQLite that is commit order already (one writer at a time); PostgreSQL's
    subclass serializes appends (see :class:`~tenantbill.sql.postgres.PostgresEvents`).
    """

    __slots__ = ()

    def append(self, event: Event) -> None:
        self._pend(self._f.event_values(event))

    def append_numbered(self, events: Sequence[Event], number: str) -> None:
        """Append the events of an invoice just numbered ``number`` (their data gets ``"number"``)."""
        for event in events:
            self._pend(self._f.event_values(event, number))

    def _pend(self, values: dict[str, Any]) -> None:
        # Kept until the unit of work ends (UnitOfWork.flush_events), so a transaction writes its
        # events with one statement; its database transaction begins now, as at any write.
        tx = self._tx
        if not tx.begun:
            tx._begin_writing()
        tx._pending_events.append(values)

    def write_pending(self) -> None:
        """Insert the events appended so far in this unit of work, in the order appended."""
        tx = self._tx
        pending, tx._pending_events = tx._pending_events, []
        tx._run_many(self._q.insert_event, pending)

    def read(self, after: int, limit: int) -> list[Event]:
        if limit <= 0:
            return []
        self._tx.flush_events()  # this unit of work's own events, read in it too
        rows = self._tx._all(self._q.read_events, {"after": after, "limit": limit})
        return [self._f.event_from(row) for row in rows]
