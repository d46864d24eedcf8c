"""Events, and the indexes of the finding calls.

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-12

- ``tenantbill_events``: what happened (``app.events.read``), one row per
  event; ``position`` is the row number, taken in commit order.
- Indexes that ``app.invoices.search`` reads its pages from, newest first
  (keyset pagination: no OFFSET, no COUNT): an account's invoices, an
  account's invoices to one customer, the invoices an account received; one
  for ``by_number``; one for an account's pending invitations.

On a large invoices table the indexes take a while to build, and (on
PostgreSQL) block writes to the table meanwhile: run it in a quiet hour.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_Key = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_Instant = sa.String(32).with_variant(sa.dialects.postgresql.TIMESTAMP(timezone=True), "postgresql")
_Ordinal = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_INVOICES = "tenantbill_invoices"
_INDEXES = {
    "ix_tenantbill_invoices_recent": ["account_id", "issue_date", "issued_at", "id"],
    "ix_tenantbill_invoices_customer_recent": ["account_id", "customer", "issue_date", "issued_at", "id"],
    "ix_tenantbill_invoices_received": ["customer", "issue_date", "issued_at", "id"],
    "ix_tenantbill_invoices_number": ["account_id", "number"],
}


def upgrade() -> None:
    op.create_table(
        "tenantbill_events",
        sa.Column("position", _Ordinal, autoincrement=True, nullable=False),
        sa.Column("type", _Key, nullable=False),
        sa.Column("account_id", _Key, nullable=True),
        sa.Column("at", _Instant, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_tenantbill_events")),
    )
    for name, columns in _INDEXES.items():
        op.create_index(name, _INVOICES, columns)
    op.create_index("ix_tenantbill_invitations_account", "tenantbill_invitations", ["account_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_tenantbill_invitations_account", table_name="tenantbill_invitations")
    for name in reversed(_INDEXES):
        op.drop_index(name, table_name=_INVOICES)
    op.drop_table("tenantbill_events")
