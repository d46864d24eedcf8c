"""The Alembic migrations of :class:`~tenantbill.sql.SqlStore`'s tables, shipped with the package.

Run them with :func:`tenantbill.sql.migrate.upgrade`; no ``alembic.ini`` is
needed. Each file in ``versions/`` is one schema change, written out in full
(never derived from :mod:`tenantbill.sql.schema`), so a revision keeps
producing the schema it produced when it was released.
"""
