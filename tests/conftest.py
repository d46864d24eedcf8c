"""Fixtures shared by the test modules: a ``store`` on memory, SQLite and PostgreSQL.

A module that defines a ``store`` fixture of its own uses that one; the
others run on all three stores. PostgreSQL runs when ``TENANTBILL_PG_URL``
names a server (``python3 dev.py test`` starts one, and CI always does); the
tests share one database, emptied (``TRUNCATE``) before each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantbill.memory import MemoryStore
from tenantbill.ports import Store

STORES = ["memory", "sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of a database with tenantbill's tables, for this test session."""
    url = os.environ.get("TENANTBILL_PG_URL")
    if not url:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from tenantbill.sql import SqlStore

    server = make_url(url)
    name = f"tenantbill_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database = server.set(database=name).render_as_string(hide_password=False)
    first = SqlStore(database)
    with first.transaction():  # the first transaction creates the tables
        pass
    first.close()
    try:
        yield database
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _emptied(url: str) -> None:
    """Delete every row of every tenantbill table (the schema revision stays)."""
    import sqlalchemy

    from tenantbill.sql.schema import metadata

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as connection:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
    finally:
        engine.dispose()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each kind."""
    if request.param == "memory":
        yield MemoryStore()
        return
    from tenantbill.sql import SqlStore

    if request.param == "sqlite":
        sqlite = SqlStore(f"sqlite:///{tmp_path / 'tb.db'}")
        try:
            yield sqlite
        finally:
            sqlite.close()
        return

    url = request.getfixturevalue("postgres_database")
    _emptied(url)
    postgres = SqlStore(url)
    try:
        yield postgres
    finally:
        postgres.close()
