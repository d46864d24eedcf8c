"""One OWNER per account, guarded by the database; idempotency keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14

- ``uq_tenantbill_memberships_one_owner``: a partial unique index on the
  memberships of role ``owner``, so no race can leave an account with two
  owners (ownership moves by one conditional update that demotes the owner
  before the new owner is promoted).
- ``tenantbill_idempotency_keys``: one row per (scope, key) claimed by an
  issue with an idempotency key or a usage event with a key, with a hash of
  the first call's arguments and the id of what it made.

An existing database with two owners on one account (which the race this
fixes could leave) makes the upgrade fail on the index: the message names
the index; keep the owner that ``tenantbill_accounts.owner_id`` names and
make the other a ``member`` first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_index(
        "uq_tenantbill_memberships_one_owner",
        "tenantbill_memberships",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("role = 'owner'"),
        postgresql_where=sa.text("role = 'owner'"),
    )
    op.create_table(
        "tenantbill_idempotency_keys",
        sa.Column("scope", _Key, nullable=False),
        sa.Column("key", _Key, nullable=False),
        sa.Column("fingerprint", _Key, nullable=False),
        sa.Column("result", _Key, nullable=True),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_tenantbill_idempotency_keys")),
    )


def downgrade() -> None:
    op.drop_table("tenantbill_idempotency_keys")
    op.drop_index("uq_tenantbill_memberships_one_owner", table_name="tenantbill_memberships")
