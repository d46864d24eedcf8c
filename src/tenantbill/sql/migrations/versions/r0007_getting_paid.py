"""Getting paid: account settings, invoice status and KID, payments and reminders.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01

- ``tenantbill_accounts.settings``: the getting-paid setup as JSON (KID
  method, country, Foretaksregisteret, Swedish reminder-fee agreement, late
  interest).
- ``tenantbill_invoices``: ``paid``, ``credited`` and ``status``, with an
  index of overdue invoices by due date (the KID is made from the
  invoice's sequence, so it needs no column). Existing
  invoices are OPEN with nothing paid.
- ``tenantbill_payments`` and ``tenantbill_reminders``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_Instant = sa.String(32).with_variant(sa.dialects.postgresql.TIMESTAMP(timezone=True), "postgresql")
_Ordinal = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_INVOICES = "tenantbill_invoices"


def _add_columns(table: str, columns: list[sa.Column[Any]]) -> None:
    if op.get_context().dialect.name != "sqlite":
        for column in columns:
            op.add_column(table, column)
        return
    # SQLite keeps each table's CREATE statement as written: rebuild the table, so that its
    # statement reads as a new database's does (ALTER TABLE ... ADD COLUMN would append to it).
    bind = op.get_bind()
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    kept = [column.name for column in old.columns]
    indexes = [(index.name, [c.name for c in index.columns], index.unique) for index in old.indexes]
    uniques = [c for c in old.constraints if isinstance(c, sa.UniqueConstraint)]
    op.rename_table(table, f"{table}_0006")
    new = sa.Table(
        table,
        sa.MetaData(),
        *(sa.Column(c.name, c.type, nullable=c.nullable) for c in old.columns),
        *columns,
        sa.PrimaryKeyConstraint(*(c.name for c in old.primary_key.columns), name=f"pk_{table}"),
        *(sa.UniqueConstraint(*(c.name for c in u.columns), name=u.name) for u in uniques),
    )
    new.create(bind)
    names = ", ".join(kept)
    op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {table}_0006")
    op.drop_table(f"{table}_0006")  # and its indexes, made again below
    for name, index_columns, unique in indexes:
        op.create_index(name, table, index_columns, unique=bool(unique))


def upgrade() -> None:
    _add_columns(
        "tenantbill_accounts", [sa.Column("settings", sa.Text(), nullable=False, server_default="{}")]
    )
    _add_columns(
        _INVOICES,
        [
            sa.Column("paid", sa.Text(), nullable=False, server_default="0"),
            sa.Column("credited", sa.Text(), nullable=False, server_default="0"),
            sa.Column("status", _Key, nullable=False, server_default="open"),
        ],
    )
    op.create_index("ix_tenantbill_invoices_due", _INVOICES, ["account_id", "status", "due_date", "id"])
    op.create_table(
        "tenantbill_payments",
        sa.Column("ordinal", _Ordinal, autoincrement=True, nullable=False),
        sa.Column("id", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("invoice_id", _Key, nullable=False),
        sa.Column("amount", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", _Instant, nullable=False),
        sa.Column("reference", _Key, nullable=True),
        sa.Column("kid", _Key, nullable=True),
        sa.Column("applied", sa.Text(), nullable=False),
        sa.Column("fees", sa.Text(), nullable=False),
        sa.Column("to_balance", sa.Text(), nullable=False),
        sa.Column("unapplied", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_payments")),
        sa.UniqueConstraint("id", name=op.f("uq_tenantbill_payments_id")),
    )
    op.create_index("ix_tenantbill_payments_invoice", "tenantbill_payments", ["invoice_id"])
    op.create_index(
        "uq_tenantbill_payments_reference", "tenantbill_payments", ["account_id", "reference"], unique=True
    )
    op.create_table(
        "tenantbill_reminders",
        sa.Column("id", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=False),
        sa.Column("invoice_id", _Key, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("fee", sa.Text(), nullable=False),
        sa.Column("amount_due", sa.Text(), nullable=False),
        sa.Column("outstanding", sa.Text(), nullable=False),
        sa.Column("fees_before", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenantbill_reminders")),
    )
    op.create_index(
        "uq_tenantbill_reminders_invoice_day", "tenantbill_reminders", ["invoice_id", "sent_on"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_tenantbill_reminders_invoice_day", table_name="tenantbill_reminders")
    op.drop_table("tenantbill_reminders")
    op.drop_index("uq_tenantbill_payments_reference", table_name="tenantbill_payments")
    op.drop_index("ix_tenantbill_payments_invoice", table_name="tenantbill_payments")
    op.drop_table("tenantbill_payments")
    op.drop_index("ix_tenantbill_invoices_due", table_name=_INVOICES)
    with op.batch_alter_table(_INVOICES) as batch:
        for column in ("status", "credited", "paid"):
            batch.drop_column(column)
    with op.batch_alter_table("tenantbill_accounts") as batch:
        batch.drop_column("settings")
