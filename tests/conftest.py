"""Fixtures shared by the test modules: a ``store`` on memory, SQLite and PostgreSQL.

A module that defines a ``store`` fixture of its own uses that one; the
others run on all three stores. PostgreSQL runs when ``TENANTBILL_PG_URL``
names a server (``python3 dev.py test`` starts one, and CI always does); each
test gets a new database, copied from a template that already has the tables.
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
def postgres_template() -> Iterator[str]:
    """The name of a database with tenantbill's tables, to copy for each test."""
    url = os.environ.get("TENANTBILL_PG_URL")
    if not url:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    import sqlalchemy
    from sqlalchemy.engine import make_url

    from tenantbill.sql import SqlStore

    server = make_url(url)
    name = f"tenantbill_tpl_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = SqlStore(server.set(database=name).render_as_string(hide_password=False))
    store.close()
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


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

    template = request.getfixturevalue("postgres_template")
    import sqlalchemy
    from sqlalchemy.engine import make_url

    server = make_url(os.environ["TENANTBILL_PG_URL"])
    name = f"tenantbill_test_{uuid.uuid4().hex[:16]}"
    admin = sqlalchemy.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    postgres = SqlStore(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield postgres
    finally:
        postgres.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
