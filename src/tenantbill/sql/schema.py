"""The tables of :class:`~tenantbill.sql.SqlStore`, in SQLAlchemy Core.

Everything a query filters, orders or constrains on is a column of its own;
nested values of an invoice or a subscription are JSON text. Decimals are
stored as text (exact on every backend, SQLite has no decimal type), instants
as UTC (``timestamp with time zone`` on PostgreSQL, fixed-width ISO text on
SQLite, which sorts in time order). Table names carry a ``tenantbill_`` prefix
so the tables can live in a host application's own database.

There are no foreign keys, on purpose: the store holds exactly what it is
given, like :class:`~tenantbill.memory.MemoryStore`, and the services keep the
references consistent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
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
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from tenantbill.errors import InvalidInput

__all__ = [
    "Amount",
    "Instant",
    "accounts",
    "audit_events",
    "billing_marks",
    "blobs",
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


class Amount(TypeDecorator[Decimal]):
    """A :class:`~decimal.Decimal` kept as its exact text (``"1.50"`` stays ``1.50``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Instant(TypeDecorator[datetime]):
    """An aware instant, stored in UTC and read back as an aware UTC ``datetime``.

    On SQLite the text is ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00``: fixed width,
    so comparing the text compares the instants.
    """

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(TIMESTAMP(timezone=True))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise InvalidInput(f"{value} has no time zone: the store keeps aware instants only")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.isoformat(timespec="microseconds")

    def process_result_value(self, value: Any | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(value)


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
    Column("id", String, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("email_key", Text, nullable=False, unique=True),  # the case-folded address
    Column("invoice_emails", Boolean, nullable=False),
)

accounts = Table(
    "tenantbill_accounts",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text, nullable=False),
    Column("owner_id", String, nullable=False),
    Column("org_number", String),
    Column("bank_account", String),
    Column("address", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("locale", String, nullable=False),
    Column("timezone", String, nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("vat_registered", Boolean, nullable=False),
    Column("logo", LargeBinary),
    Column("invoice_recipients", Text, nullable=False),  # JSON list
)

memberships = Table(
    "tenantbill_memberships",
    metadata,
    _ordinal(),
    Column("account_id", String, nullable=False),
    Column("user_id", String, nullable=False, index=True),
    Column("role", String, nullable=False),
    UniqueConstraint("account_id", "user_id"),
)

number_owners = Table(
    "tenantbill_number_owners",
    metadata,
    Column("kind", String, nullable=False),
    Column("number", String, nullable=False),
    Column("owner_id", String, nullable=False),
    PrimaryKeyConstraint("kind", "number"),
)

number_claims = Table(
    "tenantbill_number_claims",
    metadata,
    Column("kind", String, nullable=False),
    Column("number", String, nullable=False),
    Column("account_id", String, nullable=False),
    PrimaryKeyConstraint("kind", "number", "account_id"),
)

invitations = Table(
    "tenantbill_invitations",
    metadata,
    Column("id", String, primary_key=True),
    Column("account_id", String, nullable=False),
    Column("email", Text, nullable=False),
    Column("role", String, nullable=False),
    Column("token_hash", String, nullable=False, unique=True),
    Column("invited_by", String, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("expires_at", Instant, nullable=False),
    Column("state", String, nullable=False),
    Column("accepted_by", String),
)

audit_events = Table(
    "tenantbill_audit_events",
    metadata,
    _ordinal(),
    Column("account_id", String, nullable=False, index=True),
    Column("at", Instant, nullable=False),
    Column("actor_id", String),
    Column("action", String, nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

series = Table(
    "tenantbill_series",
    metadata,
    Column("account_id", String, primary_key=True),
    Column("next_sequence", BigInteger, nullable=False),
    Column("prefix", String, nullable=False),
    Column("width", Integer, nullable=False),
    Column("last_used", BigInteger),
)

blobs = Table(
    "tenantbill_blobs",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of data, hex
    Column("data", LargeBinary, nullable=False),
)

invoices = Table(
    "tenantbill_invoices",
    metadata,
    Column("id", String, primary_key=True),
    Column("account_id", String, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("number", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("issued_at", Instant, nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("locale", String, nullable=False),
    Column("net_total", Amount, nullable=False),
    Column("vat_total", Amount, nullable=False),
    Column("total", Amount, nullable=False),
    Column("balance_applied", Amount, nullable=False),
    Column("amount_due", Amount, nullable=False),
    Column("customer", String),
    Column("credits_invoice_id", String, index=True),
    Column("credits_number", String),
    Column("subscription_id", String),
    Column("note", Text, nullable=False),
    # The seller's logo is the same picture on thousands of invoices: kept once in blobs.
    Column("seller_logo", String(64)),
    Column("body", Text, nullable=False),  # JSON: seller, bill_to, lines, vat, period, cycle, …
    UniqueConstraint("account_id", "sequence"),
)

ledger_entries = Table(
    "tenantbill_ledger_entries",
    metadata,
    _ordinal(),
    Column("id", String, nullable=False),
    Column("account_id", String, nullable=False),
    Column("customer", String, nullable=False),
    Column("at", Instant, nullable=False),
    Column("amount", Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String, nullable=False),
    Column("invoice_id", String),
    Column("memo", Text, nullable=False),
    Index(None, "account_id", "customer"),
)

subscriptions = Table(
    "tenantbill_subscriptions",
    metadata,
    Column("id", String, primary_key=True),
    Column("provider_id", String, nullable=False),
    Column("customer_id", String, nullable=False),
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
    Column("id", String, nullable=False),
    Column("subscription_id", String, nullable=False),
    Column("on", Date, nullable=False),
    Column("item", Text, nullable=False),
    Column("quantity", Amount, nullable=False),
    Column("unit_price", Amount, nullable=False),
    Column("vat_rate", Amount, nullable=False),
    Column("recorded_at", Instant, nullable=False),
    Index(None, "subscription_id", "on"),
)

billing_marks = Table(
    "tenantbill_billing_marks",
    metadata,
    Column("subscription_id", String, nullable=False),
    Column("due", Date, nullable=False),
    Column("invoice_id", String),
    PrimaryKeyConstraint("subscription_id", "due"),
)

outbox = Table(
    "tenantbill_outbox",
    metadata,
    _ordinal(),
    Column("id", String, nullable=False, unique=True),
    Column("key", String, nullable=False, unique=True),
    Column("recipient", Text, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("next_attempt_at", Instant, nullable=False),
    Column("invoice_id", String, index=True),
    Column("payload", LargeBinary),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("sent_at", Instant),
    Index(None, "sent_at", "next_attempt_at"),
)
