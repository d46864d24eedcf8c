"""The SQL store: SQLite (embedded) and PostgreSQL through SQLAlchemy Core.

Needs the ``sql`` extra (``pip install tenantbill[sql]``, or ``[postgres]``
for PostgreSQL); importing :mod:`tenantbill` alone never loads SQLAlchemy.

>>> from tenantbill.sql import SqlStore
>>> store = SqlStore("sqlite:///tenantbill.db")  # doctest: +SKIP
"""

from __future__ import annotations

from tenantbill.sql.store import SqlStore

__all__ = ["SqlStore"]
