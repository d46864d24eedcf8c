"""The outbox records messages dropped unsent, and its due-messages index skips them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A queued message whose reason has gone (an invitation revoked, accepted,
expired or re-sent with a new token before its e-mail went out) is dropped:
``dropped_at`` is set, it is never sent, and its payload is erased. Claims
read unsent messages that are not dropped, so the index leads with both (it
is named shortly: the generated name would pass PostgreSQL's 63 characters).
Sent messages' payloads are erased too; that needs no schema change.

PostgreSQL adds the column in place. SQLite would append its definition to
the stored ``CREATE TABLE`` in a form of its own, so there the table is
built anew, exactly as the store creates it, and the messages are copied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLE = "tenantbill_outbox"
_Instant = sa.String(32).with_variant(postgresql.TIMESTAMP(timezone=True), "postgresql")
_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_Ordinal = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OLD_DUE = "ix_tenantbill_outbox_sent_at_next_attempt_at_created_at_id"
_DUE = "ix_tenantbill_outbox_due"
_OLD = ["sent_at", "next_attempt_at", "created_at", "id"]
_NEW = ["sent_at", "dropped_at", "next_attempt_at", "created_at", "id"]
_COPIED = (
    "ordinal",
    "id",
    '"key"',
    "recipient",
    "created_at",
    "next_attempt_at",
    "invoice_id",
    "payload",
    "attempts",
    "last_error",
    "sent_at",
)


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild_on_sqlite()
        return
    op.add_column(_TABLE, sa.Column("dropped_at", _Instant, nullable=True))
    op.create_index(op.f(_DUE), _TABLE, _NEW)
    op.drop_index(op.f(_OLD_DUE), table_name=_TABLE)


def _rebuild_on_sqlite() -> None:
    old = f"{_TABLE}_0002"
    op.rename_table(_TABLE, old)
    op.create_table(
        _TABLE,
        sa.Column("ordinal", _Ordinal, autoincrement=True, nullable=False),
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
        sa.Column("dropped_at", _Instant, nullable=True),
        sa.PrimaryKeyConstraint("ordinal", name=op.f("pk_tenantbill_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_tenantbill_outbox_id")),
        sa.UniqueConstraint("key", name=op.f("uq_tenantbill_outbox_key")),
    )
    columns = ", ".join(_COPIED)
    op.execute(f"INSERT INTO {_TABLE} ({columns}) SELECT {columns} FROM {old}")
    op.drop_table(old)  # and its indexes, whose names the new table takes
    op.create_index(op.f("ix_tenantbill_outbox_invoice_id"), _TABLE, ["invoice_id"])
    op.create_index(op.f(_DUE), _TABLE, _NEW)


def downgrade() -> None:
    op.create_index(op.f(_OLD_DUE), _TABLE, _OLD)
    op.drop_index(op.f(_DUE), table_name=_TABLE)
    with op.batch_alter_table(_TABLE) as table:
        table.drop_column("dropped_at")
