"""The Store conformance suite on every store tenantbill ships.

A backend is one subclass saying how to build an empty store. PostgreSQL runs
when ``TENANTBILL_PG_URL`` names a database the tests may wipe, e.g.
``postgresql+psycopg://postgres@localhost/tenantbill_test``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tenantbill.memory import MemoryStore
from tenantbill.ports import Store
from tenantbill.sql import SqlStore
from tenantbill.testing.store import StoreConformance

PG_URL = os.environ.get("TENANTBILL_PG_URL")


class TestMemoryStore(StoreConformance):
    def make_store(self) -> Store:
        return MemoryStore()


class _SqlConformance(StoreConformance):
    def close_store(self, store: Store) -> None:
        assert isinstance(store, SqlStore)
        store.close()


class TestSqliteFileStore(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = SqlStore(f"sqlite:///{tmp_path / 'tenantbill.db'}")
        yield store
        store.close()


class TestSqliteMemoryStore(_SqlConformance):
    def make_store(self) -> Store:
        return SqlStore("sqlite://")


@pytest.mark.skipif(PG_URL is None, reason="set TENANTBILL_PG_URL to run on PostgreSQL")
class TestPostgresStore(_SqlConformance):
    def make_store(self) -> Store:
        assert PG_URL is not None
        _drop_tables(PG_URL)
        return SqlStore(PG_URL)


def _drop_tables(url: str) -> None:
    """Start from an empty database: the store creates its tables again on first use."""
    import sqlalchemy

    from tenantbill.sql.schema import metadata

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as connection:
            metadata.drop_all(connection)
    finally:
        engine.dispose()
