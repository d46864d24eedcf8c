"""The Alembic migrations: an empty database migrated to the newest revision has exactly the created schema.

Runs on a SQLite file, and on PostgreSQL when ``TENANTBILL_PG_URL`` names a
server (``python3 dev.py test`` starts one): each test there gets fresh
databases of its own, with random names, dropped afterwards.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("alembic", reason="the migrations need Alembic (the postgres extra)")

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.sql import SqlStore, migrate, store
from tenantbill.sql.schema import metadata

PG_URL = os.environ.get("TENANTBILL_PG_URL")
NO_SERVER = "no PostgreSQL server: set TENANTBILL_PG_URL (python3 dev.py test starts one) to run these"
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=NO_SERVER)]
    ),
]

NewDatabase = Callable[[], str]


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases: SQLite files, or PostgreSQL databases created for the test and dropped after."""
    made: list[str] = []

    def make() -> str:
        name = f"tenantbill_migrations_{secrets.token_hex(6)}"
        made.append(name)
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'{name}.db'}"
        with _server() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        assert PG_URL is not None
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if request.param == "postgresql":
        with _server() as connection:
            for name in made:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server() -> Any:
    """A connection to the server's own database, outside of any transaction (for CREATE DATABASE)."""
    assert PG_URL is not None
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    return engine.connect()


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.NullPool)


def differences(url: str) -> list[Any]:
    """What Alembic's autogenerate finds different between the database's tables and the schema module."""
    with _engine(url).connect() as connection:
        return migrate._differences(connection)


def snapshot(url: str) -> dict[str, Any]:
    """Everything the database says about tenantbill's tables: the inspector's view and the catalog's own."""
    with _engine(url).connect() as connection:
        inspector = sa.inspect(connection)
        tables = sorted(name for name in inspector.get_table_names() if name in metadata.tables)
        shape: dict[str, Any] = {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("autoincrement"), c["default"])
                    for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
                ),
            }
            for table in tables
        }
        if connection.dialect.name == "sqlite":
            # The CREATE statements as SQLite keeps them, and its automatic indexes.
            rows = connection.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name LIKE 'tenantbill\\_%' "
                "ESCAPE '\\' AND tbl_name != ? ORDER BY type, name",
                (migrate.VERSION_TABLE,),
            )
            shape["catalog"] = [tuple(row) for row in rows]
        else:
            # Collations, sequences and the exact index and constraint definitions.
            columns = connection.execute(
                sa.text(
                    "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,"
                    " collation_name, is_nullable, column_default, is_identity"
                    " FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = ANY(:tables) "
                    "ORDER BY table_name, ordinal_position"
                ),
                {"tables": tables},
            )
            indexes = connection.execute(
                sa.text(
                    "SELECT tablename, indexname, indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND tablename = ANY(:tables) ORDER BY indexname"
                ),
                {"tables": tables},
            )
            constraints = connection.execute(
                sa.text(
                    "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
                    "FROM pg_constraint WHERE conrelid::regclass::text = ANY(:tables) ORDER BY conname"
                ),
                {"tables": tables},
            )
            sequences = connection.execute(
                sa.text(
                    "SELECT sequence_name, data_type FROM information_schema.sequences "
                    "WHERE sequence_schema = current_schema() ORDER BY sequence_name"
                )
            )
            shape["catalog"] = [
                [tuple(row) for row in result] for result in (columns, indexes, constraints, sequences)
            ]
        return shape


def created(url: str) -> None:
    """The tables made the other way: ``metadata.create_all``, as SqlStore does on first use."""
    engine = _engine(url)
    with engine.begin() as connection:
        metadata.create_all(connection)
    engine.dispose()


def test_an_empty_database_migrated_to_head_has_exactly_the_created_schema(new_database: NewDatabase) -> None:
    migrated, made = new_database(), new_database()
    migrate.upgrade(migrated)
    created(made)
    assert differences(migrated) == []
    assert differences(made) == []
    assert snapshot(migrated) == snapshot(made)
    assert set(snapshot(migrated)) >= set(metadata.tables)
    assert migrate.current(migrated) == migrate.HEAD
    assert migrate.current(made) is None


def test_a_store_on_a_migrated_database_creates_nothing_and_works(new_database: NewDatabase) -> None:
    url = new_database()
    migrate.upgrade(url)
    before = snapshot(url)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        app = tb.Tenantbill(
            store=SqlStore(url), mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
        )
        owner, account = app.accounts.sign_up(name="Fjord Consulting AS", email="kari@fjord.example.no")
        draft = tb.InvoiceDraft(
            bill_to=tb.Party(name="Kunde AS", address="Storgata 1\n0155 Oslo"),
            lines=[tb.Line(description="Rådgivning", quantity=Decimal(2), unit_price=Decimal("1200"))],
        )
        first = app.invoices.issue(owner.id, account.id, draft)
        second = app.invoices.issue(owner.id, account.id, draft)
        app.store.close()  # type: ignore[attr-defined]
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    assert [first.sequence, second.sequence] == [1, 2]
    assert not [s for s in statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP"))]
    assert snapshot(url) == before
    assert migrate.current(url) == migrate.HEAD


def test_upgrading_again_changes_nothing(new_database: NewDatabase) -> None:
    url = new_database()
    migrate.upgrade(url)
    before = snapshot(url)
    migrate.upgrade(url)
    migrate.upgrade(url, migrate.HEAD)
    assert snapshot(url) == before
    assert migrate.current(url) == migrate.HEAD


def test_a_database_the_store_created_is_adopted_with_its_data(new_database: NewDatabase) -> None:
    url = new_database()
    app = tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer())
    owner, account = app.accounts.sign_up(name="Fjord Consulting AS", email="kari@fjord.example.no")
    app.store.close()  # type: ignore[attr-defined]
    assert migrate.current(url) in (None, migrate.HEAD)  # HEAD once the store stamps what it creates
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.HEAD
    assert differences(url) == []
    app = tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer())
    assert app.accounts.get(owner.id, account.id) == account
    app.store.close()  # type: ignore[attr-defined]


def test_tables_created_and_stamped_in_one_go_need_no_migration(new_database: NewDatabase) -> None:
    url, migrated = new_database(), new_database()
    engine = _engine(url)
    with engine.begin() as connection:
        metadata.create_all(connection)
        migrate.stamp_created(connection)
    engine.dispose()
    migrate.upgrade(migrated)
    assert migrate.current(url) == migrate.HEAD
    migrate.upgrade(url)
    assert snapshot(url) == snapshot(migrated)


def test_downgrading_to_base_removes_every_table(new_database: NewDatabase) -> None:
    url = new_database()
    migrate.upgrade(url)
    # Through the sqlalchemy.url option this time, as Alembic's own commands run it.
    command.downgrade(migrate.alembic_config(url), "base")
    assert migrate.current(url) is None
    empty: dict[str, Any] = {"catalog": [[], [], [], []] if url.startswith("postgresql") else []}
    assert snapshot(url) == empty
    migrate.upgrade(url)
    assert differences(url) == []


@pytest.mark.slow
def test_processes_upgrading_at_once_migrate_once(new_database: NewDatabase) -> None:
    url, reference = new_database(), new_database()
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(migrate.upgrade, [url] * 4)
    migrate.upgrade(reference)
    assert migrate.current(url) == migrate.HEAD
    assert snapshot(url) == snapshot(reference)
    engine = _engine(url)
    with engine.connect() as connection:
        versions = connection.exec_driver_sql(f"SELECT version_num FROM {migrate.VERSION_TABLE}").all()
    engine.dispose()
    assert versions == [(migrate.HEAD,)]


def test_head_is_the_one_newest_revision() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [migrate.HEAD]
    revisions = list(script.walk_revisions())
    assert revisions[-1].revision == migrate.BASELINE
    assert revisions[-1].down_revision is None


def test_the_sql_can_be_printed_without_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    command.upgrade(migrate.alembic_config("postgresql+psycopg://"), "head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE tenantbill_users" in sql
    assert 'id VARCHAR COLLATE "C" NOT NULL' in sql
    assert "ordinal BIGSERIAL NOT NULL" in sql
    assert f"CREATE TABLE {migrate.VERSION_TABLE}" in sql
    assert "alembic_version " not in sql.replace(migrate.VERSION_TABLE, "")


def test_migrations_and_the_store_take_the_same_schema_lock() -> None:
    assert migrate._SCHEMA_LOCK_KEY == store._SCHEMA_LOCK_KEY


def test_without_alembic_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "alembic", None)
    with pytest.raises(ImportError, match=r"tenantbill\[postgres\]"):
        migrate.upgrade(f"sqlite:///{tmp_path / 'x.db'}")


def test_importing_the_module_does_not_load_alembic() -> None:
    code = "import sys, tenantbill.sql.migrate; assert 'alembic' not in sys.modules, 'alembic loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_command_line_migrates_and_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert migrate.main([url, "--show"]) == 0
    assert migrate.main([url]) == 0
    assert migrate.main([url, "--show"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"none (this tenantbill: {migrate.HEAD})",
        f"tenantbill schema: none -> {migrate.HEAD}",
        f"{migrate.HEAD} (this tenantbill: {migrate.HEAD})",
    ]


def test_only_sqlite_and_postgresql_are_accepted() -> None:
    with pytest.raises(tb.InvalidInput, match="mysql"):
        migrate.current("mysql://localhost/x")
