"""The tables of tenantbill 0.1: the schema SqlStore created before migrations shipped.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out in full, never derived from tenantbill.sql.schema: this revision
keeps producing this schema whatever the schema module says later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Decimals as their exact text.
_Amount = sa.Text()
# Aware instants in UTC: fixed-width ISO text on SQLite.
_Instant = sa.String(32).with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
# Identifiers compare by code point on PostgreSQL too.
_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
# SQLite numbers rows itself only through an INTEGER PRIMARY KEY; PostgreSQL gets a bigserial.
_Ordinal = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ordinal() -> sa.Column[int]:
    return sa.Column("ordinal", _Ordinal, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "tenantbill_users",
        sa.Column("id", _Key, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("email_key", sa.Text(), nullable=False),
        sa.Column("invoice_emails", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_users")),
        sa.UniqueConstraint("email_key", name=op.f("uq_tenantbill_users_email_key")),
    )
    op.create_table(
        "tenantbill_accounts",
        sa.Column("id", _Key, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("owner_id", _Key, nullable=False),
        sa.Column("org_number", _Key, nullable=True),
        sa.Column("bank_account", _Key, nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("locale", _Key, nullable=False),
        sa.Column("timezone", _Key, nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("vat_registered", sa.Boolean(), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("invoice_recipients", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_accounts")),
    )
    op.create_table(
        "tenantbill_memberships",
        _ordinal(),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("user_id", _Key, nullable=False),
        sa.Column("role", _Key, nullable=False),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_memberships")),
        sa.UniqueConstraint(
            "account_id", "user_id", name=op.f("uq_tenantbill_memberships_account_id_user_id")
        ),
    )
    op.create_index(op.f("ix_tenantbill_memberships_user_id"), "tenantbill_memberships", ["user_id"])
    op.create_table(
        "tenantbill_number_owners",
        sa.Column("kind", _Key, nullable=False),
        sa.Column("number", _Key, nullable=False),
        sa.Column("owner_id", _Key, nullable=False),
        sa.PrimaryKeyConstraint("kind", "number", name=op.f("pk_tenantbill_number_owners")),
    )
    op.create_table(
        "tenantbill_number_claims",
        sa.Column("kind", _Key, nullable=False),
        sa.Column("number", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.PrimaryKeyConstraint("kind", "number", "account_id", name=op.f("pk_tenantbill_number_claims")),
    )
    op.create_table(
        "tenantbill_invitations",
        sa.Column("id", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("role", _Key, nullable=False),
        sa.Column("token_hash", _Key, nullable=False),
        sa.Column("invited_by", _Key, nullable=False),
        sa.Column("created_at", _Instant, nullable=False),
        sa.Column("expires_at", _Instant, nullable=False),
        sa.Column("state", _Key, nullable=False),
        sa.Column("accepted_by", _Key, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tenantbill_invitations_token_hash")),
    )
    op.create_table(
        "tenantbill_audit_events",
        _ordinal(),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("at", _Instant, nullable=False),
        sa.Column("actor_id", _Key, nullable=True),
        sa.Column("action", _Key, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_audit_events")),
    )
    op.create_index(op.f("ix_tenantbill_audit_events_account_id"), "tenantbill_audit_events", ["account_id"])
    op.create_table(
        "tenantbill_series",
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("next_sequence", sa.BigInteger(), nullable=False),
        sa.Column("prefix", _Key, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("last_used", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_tenantbill_series")),
    )
    op.create_table(
        "tenantbill_blobs",
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tenantbill_blobs")),
    )
    op.create_table(
        "tenantbill_invoices",
        sa.Column("id", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("number", _Key, nullable=False),
        sa.Column("kind", _Key, nullable=False),
        sa.Column("issued_at", _Instant, nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("locale", _Key, nullable=False),
        sa.Column("net_total", _Amount, nullable=False),
        sa.Column("vat_total", _Amount, nullable=False),
        sa.Column("total", _Amount, nullable=False),
        sa.Column("balance_applied", _Amount, nullable=False),
        sa.Column("amount_due", _Amount, nullable=False),
        sa.Column("customer", _Key, nullable=True),
        sa.Column("credits_invoice_id", _Key, nullable=True),
        sa.Column("credits_number", _Key, nullable=True),
        sa.Column("subscription_id", _Key, nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("seller_logo", sa.String(64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_invoices")),
        sa.UniqueConstraint(
            "account_id", "sequence", name=op.f("uq_tenantbill_invoices_account_id_sequence")
        ),
    )
    op.create_index(
        op.f("ix_tenantbill_invoices_credits_invoice_id"), "tenantbill_invoices", ["credits_invoice_id"]
    )
    op.create_table(
        "tenantbill_ledger_entries",
        _ordinal(),
        sa.Column("id", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("customer", _Key, nullable=False),
        sa.Column("at", _Instant, nullable=False),
        sa.Column("amount", _Amount, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", _Key, nullable=False),
        sa.Column("invoice_id", _Key, nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_ledger_entries")),
    )
    op.create_index(
        op.f("ix_tenantbill_ledger_entries_account_id_customer"),
        "tenantbill_ledger_entries",
        ["account_id", "customer"],
    )
    op.create_table(
        "tenantbill_subscriptions",
        sa.Column("id", _Key, nullable=False),
        sa.Column("provider_id", _Key, nullable=False),
        sa.Column("customer_id", _Key, nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("fee_anchor", sa.Date(), nullable=False),
        sa.Column("fee_n", sa.Integer(), nullable=False),
        sa.Column("usage_n", sa.Integer(), nullable=False),
        sa.Column("cancel_at", sa.Date(), nullable=True),
        sa.Column("next_due", sa.Date(), nullable=True),
        sa.Column("plans", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_subscriptions")),
    )
    op.create_index(op.f("ix_tenantbill_subscriptions_next_due"), "tenantbill_subscriptions", ["next_due"])
    op.create_table(
        "tenantbill_usage",
        _ordinal(),
        sa.Column("id", _Key, nullable=False),
        sa.Column("subscription_id", _Key, nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("quantity", _Amount, nullable=False),
        sa.Column("unit_price", _Amount, nullable=False),
        sa.Column("vat_rate", _Amount, nullable=False),
        sa.Column("recorded_at", _Instant, nullable=False),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_usage")),
    )
    op.create_index(
        op.f("ix_tenantbill_usage_subscription_id_on"), "tenantbill_usage", ["subscription_id", "on"]
    )
    op.create_table(
        "tenantbill_billing_marks",
        sa.Column("subscription_id", _Key, nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("invoice_id", _Key, nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", "due", name=op.f("pk_tenantbill_billing_marks")),
    )
    op.create_table(
        "tenantbill_outbox",
        _ordinal(),
        sa.Column("id", _Key, nullable=False),
        sa.Column("key", _Key, nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("created_at", _Instant, nullable=False),
        sa.Column("next_attempt_at", _Instant, nullable=False),
        sa.Column("invoice_id", _Key, nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", _Instant, nullable=True),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_tenantbill_outbox_id")),
        sa.UniqueConstraint("key", name=op.f("uq_tenantbill_outbox_key")),
    )
    op.create_index(op.f("ix_tenantbill_outbox_invoice_id"), "tenantbill_outbox", ["invoice_id"])
    op.create_index(
        op.f("ix_tenantbill_outbox_sent_at_next_attempt_at"),
        "tenantbill_outbox",
        ["sent_at", "next_attempt_at"],
    )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    for table in (
        "tenantbill_outbox",
        "tenantbill_billing_marks",
        "tenantbill_usage",
        "tenantbill_subscriptions",
        "tenantbill_ledger_entries",
        "tenantbill_invoices",
        "tenantbill_blobs",
        "tenantbill_series",
        "tenantbill_audit_events",
        "tenantbill_invitations",
        "tenantbill_number_claims",
        "tenantbill_number_owners",
        "tenantbill_memberships",
        "tenantbill_accounts",
        "tenantbill_users",
    ):
        op.drop_table(table)
