"""The outbox's due-messages index covers the order messages are claimed in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Claiming reads the unsent messages that are due in (next attempt, creation,
id) order, a batch at a time. With only (sent_at, next_attempt_at) indexed,
every claim sorted all the due messages to find the first batch: a month-end
queue of 20 000 messages was sorted 400 times. With the whole order in the
index, a claim reads its batch and stops.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLE = "tenantbill_outbox"
_OLD = ["sent_at", "next_attempt_at"]
_NEW = ["sent_at", "next_attempt_at", "created_at", "id"]


def upgrade() -> None:
    op.create_index(op.f("ix_tenantbill_outbox_sent_at_next_attempt_at_created_at_id"), _TABLE, _NEW)
    op.drop_index(op.f("ix_tenantbill_outbox_sent_at_next_attempt_at"), table_name=_TABLE)


def downgrade() -> None:
    op.create_index(op.f("ix_tenantbill_outbox_sent_at_next_attempt_at"), _TABLE, _OLD)
    op.drop_index(op.f("ix_tenantbill_outbox_sent_at_next_attempt_at_created_at_id"), table_name=_TABLE)
