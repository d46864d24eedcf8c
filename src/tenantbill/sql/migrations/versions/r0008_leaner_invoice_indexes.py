"""Fewer index entries per issued invoice.

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-15

Every index on ``tenantbill_invoices`` is written while the account's series
row is locked, so each one an issue skips makes issuing on one account faster.

- The customer indexes (``ix_tenantbill_invoices_customer_recent``,
  ``ix_tenantbill_invoices_received``) and the credited-invoice index keep
  only the rows that have a customer key or credit an invoice: a lookup by
  one of those always names a value.
- ``ix_tenantbill_invoices_number`` is dropped: ``by_number`` finds an
  invoice through its sequence (the digits a number ends with) on the
  ``(account_id, sequence)`` unique index.

On a large invoices table the indexes take a while to build, and (on
PostgreSQL) block writes to the table meanwhile: run it in a quiet hour.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_INVOICES = "tenantbill_invoices"
_PARTIAL = {
    "ix_tenantbill_invoices_customer_recent": (
        ["account_id", "customer", "issue_date", "issued_at", "id"],
        "customer IS NOT NULL",
    ),
    "ix_tenantbill_invoices_received": (
        ["customer", "issue_date", "issued_at", "id"],
        "customer IS NOT NULL",
    ),
    "ix_tenantbill_invoices_credits_invoice_id": (["credits_invoice_id"], "credits_invoice_id IS NOT NULL"),
}


def upgrade() -> None:
    op.drop_index("ix_tenantbill_invoices_number", table_name=_INVOICES)
    for name, (columns, where) in _PARTIAL.items():
        op.drop_index(name, table_name=_INVOICES)
        op.create_index(
            name, _INVOICES, columns, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )


def downgrade() -> None:
    for name, (columns, _where) in _PARTIAL.items():
        op.drop_index(name, table_name=_INVOICES)
        op.create_index(name, _INVOICES, columns)
    op.create_index("ix_tenantbill_invoices_number", _INVOICES, ["account_id", "number"])
