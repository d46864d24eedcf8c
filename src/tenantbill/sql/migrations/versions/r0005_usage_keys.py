"""Usage keys: each usage event's key recorded once per subscription, guarded by the database.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-11

- ``tenantbill_usage.key``: the key of a usage event (``app.metering.record``,
  ``record_usage(..., idempotency_key=...)``); ``NULL`` for usage recorded
  without one, as all usage before this revision.
- ``uq_tenantbill_usage_key``: a unique index on ``(subscription_id, key)``,
  so no race records one key twice (``NULL`` keys never collide).

PostgreSQL adds the column in place. SQLite would append its definition to
the stored ``CREATE TABLE`` in a form of its own, so there the table is
built anew, exactly as the store creates it, and the usage is copied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "tenantbill_usage"
_Instant = sa.String(32).with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_Ordinal = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_UNIQUE = "uq_tenantbill_usage_key"
_COPIED = (
    "ordinal",
    "id",
    "subscription_id",
    '"on"',
    "item",
    "quantity",
    "unit_price",
    "vat_rate",
    "recorded_at",
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_on_sqlite()
    else:
        op.add_column(_TABLE, sa.Column("key", _Key, nullable=True))
    op.create_index(_UNIQUE, _TABLE, ["subscription_id", "key"], unique=True)


def _rebuild_on_sqlite() -> None:
    old = f"{_TABLE}_0004"
    op.rename_table(_TABLE, old)
    op.create_table(
        _TABLE,
        sa.Column("ordinal", _Ordinal, autoincrement=True, nullable=False),
        sa.Column("id", _Key, nullable=False),
        sa.Column("subscription_id", _Key, nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("unit_price", sa.Text(), nullable=False),
        sa.Column("vat_rate", sa.Text(), nullable=False),
        sa.Column("recorded_at", _Instant, nullable=False),
        sa.Column("key", _Key, nullable=True),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_usage")),
    )
    columns = ", ".join(_COPIED)
    op.execute(f"INSERT INTO {_TABLE} ({columns}) SELECT {columns} FROM {old}")
    op.drop_table(old)  # and its index, whose name the new table takes
    op.create_index(op.f("ix_tenantbill_usage_subscription_id_on"), _TABLE, ["subscription_id", "on"])


def downgrade() -> None:
    op.drop_index(_UNIQUE, table_name=_TABLE)
    with op.batch_alter_table(_TABLE) as table:
        table.drop_column("key")
