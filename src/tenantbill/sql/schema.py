"""The tables of :class:`~tenantbill.sql.SqlStore`, in SQLAlchemy Core.

Everything a query filters, orders or constrains on is a column of its own;
nested values of an invoice or a subscription are JSON text. Decimals are
stored as text (exact on every backend, SQLite has no decimal type), instants
as UTC (``timestamp with time zone`` on PostgreSQL, fixed-width ISO text on
SQLite, which sorts in time order). Table names carry a ``tenantbill_`` prefix
so the tables can live in a host application's own database.

:mod:`tenantbill.sql.codec` converts values to rows and back, reading a row's
columns in the order they are declared here: add a column there as well.

There are no foreign keys, on purpose: the store holds exactly what it is
given, like :class:`~tenantbill.memory.MemoryStore`, and the services keep the
references consistent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP

__all__ = [
    "accounts",
    "audit_events",
    "billing_marks",
    "blobs",
    "events",
    "idempotency_keys",
    "invitations",
    "invoices",
    "ledger_entries",
    "memberships",
    "metadata",
    "number_claims",
    "number_owners",
    "outbox",
    "series",
    "subscriptions",
    "usage",
    "users",
]


# Decimals as their exact text: "1.50" stays 1.50 (SQLite has no decimal type).
_Amount = Text()

# Aware instants, in UTC: fixed-width ISO text on SQLite, so comparing the text compares the instants.
_Instant = String(32).with_variant(TIMESTAMP(timezone=True), "postgresql")

# Identifiers compare by code point, as in Python: PostgreSQL's default collation would
# sort "B" after "a" and make paging by id disagree with the in-memory store.
_Key = String().with_variant(String(collation="C"), "postgresql")

# SQLite numbers rows itself only through an INTEGER PRIMARY KEY; PostgreSQL gets a bigserial.
_Ordinal = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _ordinal() -> Column[int]:
    """An increasing row number: the order rows were added in."""
    return Column("ordinal", _Ordinal, primary_key=True, autoincrement=True)


users = Table(
    "tenantbill_users",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("email_key", Text, nullable=False, unique=True),  # the case-folded address
    Column("invoice_emails", Boolean, nullable=False),
)

accounts = Table(
    "tenantbill_accounts",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner_id", _Key, nullable=False),
    Column("org_number", _Key),
    Column("bank_account", _Key),
    Column("address", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("locale", _Key, nullable=False),
    Column("timezone", _Key, nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("vat_registered", Boolean, nullable=False),
    Column("logo", LargeBinary),
    Column("invoice_recipients", Text, nullable=False),  # JSON list
    Column("settings", Text, nullable=False, server_default="{}"),  # JSON: kid, country, reminders
)

memberships = Table(
    "tenantbill_memberships",
    metadata,
    _ordinal(),
    Column("account_id", _Key, nullable=False),
    Column("user_id", _Key, nullable=False, index=True),
    Column("role", _Key, nullable=False),
    UniqueConstraint("account_id", "user_id"),
    # Exactly one OWNER per account: a second owner row cannot be written, whatever races.
    Index(
        "uq_tenantbill_memberships_one_owner",
        "account_id",
        unique=True,
        sqlite_where=text("role = 'owner'"),
        postgresql_where=text("role = 'owner'"),
    ),
)

number_owners = Table(
    "tenantbill_number_owners",
    metadata,
    Column("kind", _Key, nullable=False),
    Column("number", _Key, nullable=False),
    Column("owner_id", _Key, nullable=False),
    PrimaryKeyConstraint("kind", "number"),
)

number_claims = Table(
    "tenantbill_number_claims",
    metadata,
    Column("kind", _Key, nullable=False),
    Column("number", _Key, nullable=False),
    Column("account_id", _Key, nullable=False),
    PrimaryKeyConstraint("kind", "number", "account_id"),
)

invitations = Table(
    "tenantbill_invitations",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("account_id", _Key, nullable=False),
    Column("email", Text, nullable=False),
    Column("role", _Key, nullable=False),
    Column("token_hash", _Key, nullable=False, unique=True),
    Column("invited_by", _Key, nullable=False),
    Column("created_at", _Instant, nullable=False),
    Column("expires_at", _Instant, nullable=False),
    Column("state", _Key, nullable=False),
    Column("accepted_by", _Key),
    # An account's pending invitations (app.access.invitations).
    Index("ix_tenantbill_invitations_account", "account_id", "state"),
)

audit_events = Table(
    "tenantbill_audit_events",
    metadata,
    _ordinal(),
    Column("account_id", _Key, nullable=False, index=True),
    Column("at", _Instant, nullable=False),
    Column("actor_id", _Key),
    Column("action", _Key, nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

series = Table(
    "tenantbill_series",
    metadata,
    Column("account_id", _Key, primary_key=True),
    Column("next_sequence", BigInteger, nullable=False),
    Column("prefix", _Key, nullable=False),
    Column("width", Integer, nullable=False),
    Column("last_used", BigInteger),
)

blobs = Table(
    "tenantbill_blobs",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of data, hex
    Column("data", LargeBinary, nullable=False),
)


def _where(condition: str) -> dict[str, Any]:
    """The keyword arguments of a partial index, on both dialects."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


invoices = Table(
    "tenantbill_invoices",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("account_id", _Key, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("number", _Key, nullable=False),
    Column("kind", _Key, nullable=False),
    Column("issued_at", _Instant, nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("locale", _Key, nullable=False),
    Column("net_total", _Amount, nullable=False),
    Column("vat_total", _Amount, nullable=False),
    Column("total", _Amount, nullable=False),
    Column("balance_applied", _Amount, nullable=False),
    Column("amount_due", _Amount, nullable=False),
    Column("customer", _Key),
    Column("credits_invoice_id", _Key),
    Column("credits_number", _Key),
    Column("subscription_id", _Key),
    Column("note", Text, nullable=False),
    # The seller's logo is the same picture on thousands of invoices: kept once in blobs.
    Column("seller_logo", String(64)),
    Column("body", Text, nullable=False),  # JSON: seller, bill_to, lines, vat, period, cycle, …
    # Getting paid: what payments and credit notes settled, and the status
    # they make (kept in step by app.payments and app.invoices.credit, under the invoice's lock).
    Column("paid", _Amount, nullable=False, server_default="0"),
    Column("credited", _Amount, nullable=False, server_default="0"),
    Column("status", _Key, nullable=False, server_default="open"),
    # Also how by_number finds a number: by the sequence its digits may end with.
    UniqueConstraint("account_id", "sequence"),
    # app.invoices.search reads a page, newest first, from one of these (keyset: no OFFSET, no COUNT).
    # Every index is written while the account's series is locked: those of a customer key or a
    # credited invoice keep only the rows that have one (a lookup always names a value).
    Index("ix_tenantbill_invoices_recent", "account_id", "issue_date", "issued_at", "id"),
    Index(
        "ix_tenantbill_invoices_customer_recent",
        "account_id",
        "customer",
        "issue_date",
        "issued_at",
        "id",
        **_where("customer IS NOT NULL"),
    ),
    Index(
        "ix_tenantbill_invoices_received",
        "customer",
        "issue_date",
        "issued_at",
        "id",
        **_where("customer IS NOT NULL"),
    ),
    Index(
        "ix_tenantbill_invoices_credits_invoice_id",
        "credits_invoice_id",
        **_where("credits_invoice_id IS NOT NULL"),
    ),
    # Overdue invoices by due date (app.invoices.overdue, the reminder run). A search by status
    # reads the recent index above and keeps the matches: no index of its own to keep up on
    # every insert.
    Index("ix_tenantbill_invoices_due", "account_id", "status", "due_date", "id"),
)

payments = Table(
    "tenantbill_payments",
    metadata,
    _ordinal(),
    Column("id", _Key, nullable=False, unique=True),
    Column("account_id", _Key, nullable=False),
    Column("invoice_id", _Key, nullable=False),
    Column("amount", _Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("recorded_at", _Instant, nullable=False),
    Column("reference", _Key),
    Column("kid", _Key),
    Column("applied", _Amount, nullable=False),
    Column("fees", _Amount, nullable=False),
    Column("to_balance", _Amount, nullable=False),
    Column("unapplied", _Amount, nullable=False),
    # A bank reference is registered once per account, whatever races (NULLs never collide).
    Index("ix_tenantbill_payments_invoice", "invoice_id"),
    Index("uq_tenantbill_payments_reference", "account_id", "reference", unique=True),
)

reminders = Table(
    "tenantbill_reminders",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("account_id", _Key, nullable=False),
    Column("invoice_id", _Key, nullable=False),
    Column("number", Integer, nullable=False),
    Column("sent_on", Date, nullable=False),
    Column("fee", _Amount, nullable=False),
    Column("amount_due", _Amount, nullable=False),
    Column("outstanding", _Amount, nullable=False),
    Column("fees_before", _Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    # One reminder of an invoice a day: a reminder run repeated on the same day sends nothing new.
    Index("uq_tenantbill_reminders_invoice_day", "invoice_id", "sent_on", unique=True),
)

ledger_entries = Table(
    "tenantbill_ledger_entries",
    metadata,
    _ordinal(),
    Column("id", _Key, nullable=False),
    Column("account_id", _Key, nullable=False),
    Column("customer", _Key, nullable=False),
    Column("at", _Instant, nullable=False),
    Column("amount", _Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", _Key, nullable=False),
    Column("invoice_id", _Key),
    Column("memo", Text, nullable=False),
    Index(None, "account_id", "customer"),
)

subscriptions = Table(
    "tenantbill_subscriptions",
    metadata,
    Column("id", _Key, primary_key=True),
    Column("provider_id", _Key, nullable=False),
    Column("customer_id", _Key, nullable=False),
    Column("anchor", Date, nullable=False),
    Column("fee_anchor", Date, nullable=False),
    Column("fee_n", Integer, nullable=False),
    Column("usage_n", Integer, nullable=False),
    Column("cancel_at", Date),
    Column("next_due", Date, index=True),  # Subscription.next_due, kept current on every save
    Column("plans", Text, nullable=False),  # JSON list of plan changes
)

usage = Table(
    "tenantbill_usage",
    metadata,
    _ordinal(),
    Column("id", _Key, nullable=False),
    Column("subscription_id", _Key, nullable=False),
    Column("on", Date, nullable=False),
    Column("item", Text, nullable=False),
    Column("quantity", _Amount, nullable=False),
    Column("unit_price", _Amount, nullable=False),
    Column("vat_rate", _Amount, nullable=False),
    Column("recorded_at", _Instant, nullable=False),
    Column("key", _Key),  # a usage event's key (None for usage recorded without one)
    Index(None, "subscription_id", "on"),
    # Each key once per subscription, whatever races (NULL keys never collide).
    Index("uq_tenantbill_usage_key", "subscription_id", "key", unique=True),
)

billing_marks = Table(
    "tenantbill_billing_marks",
    metadata,
    Column("subscription_id", _Key, nullable=False),
    Column("due", Date, nullable=False),
    Column("invoice_id", _Key),
    PrimaryKeyConstraint("subscription_id", "due"),
)

idempotency_keys = Table(
    "tenantbill_idempotency_keys",
    metadata,
    Column("scope", _Key, nullable=False),  # "issue:<account id>", "usage:<subscription id>"
    Column("key", _Key, nullable=False),
    Column("fingerprint", _Key, nullable=False),  # a hash of the first call's arguments
    Column("result", _Key),  # the id of what the first call made
    PrimaryKeyConstraint("scope", "key"),
)

outbox = Table(
    "tenantbill_outbox",
    metadata,
    _ordinal(),
    Column("id", _Key, nullable=False, unique=True),
    Column("key", _Key, nullable=False, unique=True),
    Column("recipient", Text, nullable=False),
    Column("created_at", _Instant, nullable=False),
    Column("next_attempt_at", _Instant, nullable=False),
    Column("invoice_id", _Key, index=True),
    Column("payload", LargeBinary),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("sent_at", _Instant),
    # Given up unsent (e.g. a revoked invitation); a sent or dropped message has no payload.
    Column("dropped_at", _Instant),
    # Claims read due messages in this order, a batch at a time (no sort of the whole queue).
    Index("ix_tenantbill_outbox_due", "sent_at", "dropped_at", "next_attempt_at", "created_at", "id"),
)

# What happened, in commit order (see tenantbill.ports.Events): the position is the row number,
# taken in commit order (PostgreSQL: appends are serialized by an advisory lock, see postgres.py).
events = Table(
    "tenantbill_events",
    metadata,
    Column("position", _Ordinal, primary_key=True, autoincrement=True),
    Column("type", _Key, nullable=False),
    Column("account_id", _Key),
    Column("at", _Instant, nullable=False),
    Column("data", Text, nullable=False),  # JSON object
)
