"""Embedding: the host's Engine, a PostgreSQL schema, and ``app.within(connection)``.

On SQLite (a file) and PostgreSQL (``TENANTBILL_PG_URL``): tenantbill's writes
made inside the host's transaction commit with it or vanish with it; a refused
call inside leaves the host's transaction usable and changes nothing; the
store runs on the host's engine without disposing of it or changing how its
connections are left; ``schema=`` keeps every table in that schema.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

import tenantbill as tb
from support import fresh_postgres_database
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.sql import SqlStore, migrate
from tenantbill.sql.schema import metadata

try:
    from psycopg.errors import UniqueViolation
except ImportError:  # pragma: no cover - the postgres extra is not installed
    UniqueViolation = sqlite3.IntegrityError  # type: ignore[assignment,misc]

DUPLICATE_KEY = (sqlite3.IntegrityError, UniqueViolation)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

host_metadata = sa.MetaData()
host_users = sa.Table(
    "host_users",
    host_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(200), nullable=False, unique=True),
)


def _pg_url() -> str:
    url = os.environ.get("TENANTBILL_PG_URL")
    if not url:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The host's engine, made as a host makes it (no tenantbill settings), with the host's own table."""
    if request.param == "sqlite":
        host = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
        host_metadata.create_all(host)
        yield host
        host.dispose()
        return
    with fresh_postgres_database(_pg_url()) as url:
        host = sa.create_engine(url)
        host_metadata.create_all(host)
        yield host
        host.dispose()


def _app(store: tb.ports.Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))


def _draft() -> tb.InvoiceDraft:
    line = tb.Line(description="Support", quantity=Decimal("2"), unit_price=Decimal("950"))
    return tb.InvoiceDraft(bill_to=tb.Party(name="Kunde AS"), lines=[line])


def _host_emails(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(host_users.c.email).order_by(host_users.c.id)).scalars())


def _user_count(store: SqlStore) -> int:
    with store.transaction() as tx:
        return 0 if tx.users.by_email("ola@acme.example") is None else 1


# ---------------------------------------------------------------- one transaction with the host


def test_sign_up_commits_with_the_host(engine: sa.Engine) -> None:
    store = SqlStore(engine)
    app = _app(store)
    with engine.begin() as connection:
        connection.execute(host_users.insert().values(id=1, email="ola@acme.example"))
        user, account = app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert _host_emails(engine) == ["ola@acme.example"]
    assert [a.id for a in app.accounts.of_user(user.id)] == [account.id]
    store.close()


@pytest.mark.parametrize("tenantbill_first", [False, True])
def test_a_failure_after_sign_up_leaves_no_orphan(engine: sa.Engine, tenantbill_first: bool) -> None:
    store = SqlStore(engine)
    app = _app(store)

    def sign_up_then_fail() -> None:
        with engine.begin() as connection:
            if not tenantbill_first:
                connection.execute(host_users.insert().values(id=1, email="ola@acme.example"))
            # tenantbill's call first: on SQLite its savepoint must not begin (and, released, commit) it.
            app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
            raise RuntimeError("after sign-up")

    with pytest.raises(RuntimeError, match="after sign-up"):
        sign_up_then_fail()
    assert _host_emails(engine) == []
    assert _user_count(store) == 0
    # No orphan: the same address signs up again.
    with engine.begin() as connection:
        connection.execute(host_users.insert().values(id=1, email="ola@acme.example"))
        app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert _user_count(store) == 1
    store.close()


def test_a_refused_call_inside_changes_nothing_and_the_host_goes_on(engine: sa.Engine) -> None:
    store = SqlStore(engine)
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    stranger, _ = app.accounts.sign_up(name="Other AS", email="kari@other.example")
    with engine.begin() as connection:
        connection.execute(host_users.insert().values(id=1, email="first@host.example"))
        inside = app.within(connection)
        with pytest.raises(tb.PermissionDenied):
            inside.invoices.issue(stranger.id, account.id, _draft())
        with pytest.raises(tb.EmailTaken):
            inside.accounts.sign_up(name="Again", email="ola@acme.example")
        connection.execute(host_users.insert().values(id=2, email="second@host.example"))
        invoice = inside.invoices.issue(owner.id, account.id, _draft())
    assert _host_emails(engine) == ["first@host.example", "second@host.example"]
    assert invoice.number == "1"
    assert [i.id for i in app.invoices.of_account(owner.id, account.id)] == [invoice.id]
    store.close()


def test_a_failed_statement_inside_rolls_back_to_its_savepoint(engine: sa.Engine) -> None:
    """A statement the database refuses (a duplicate key) aborts only tenantbill's savepoint."""
    store = SqlStore(engine)
    app = _app(store)
    user, _ = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    with engine.begin() as connection:
        inside = store.within(connection)

        def add_twice() -> None:
            with inside.transaction() as tx:
                tx.users.add(
                    tb.User(id="new-user", name="New", email="new@acme.example", invoice_emails=False)
                )
                tx.users.add(tb.User(id=user.id, name="Dup", email="dup@acme.example", invoice_emails=False))

        with pytest.raises(DUPLICATE_KEY):
            add_twice()
        connection.execute(host_users.insert().values(id=1, email="after@host.example"))
        with inside.transaction() as tx:
            assert tx.users.get("new-user") is None  # the whole unit of work was rolled back
    assert _host_emails(engine) == ["after@host.example"]
    store.close()


def test_issuing_inside_is_numbered_in_the_host_transaction(engine: sa.Engine) -> None:
    """PostgreSQL issues in one autocommitted statement on its own; inside the host's transaction, never."""
    store = SqlStore(engine)
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")

    def issue_then_fail() -> None:
        with engine.begin() as connection:
            inside = app.within(connection)
            issued = inside.invoices.issue(owner.id, account.id, _draft(), idempotency_key="k-1")
            assert issued.number == "1"
            if engine.dialect.name == "postgresql":  # another connection sees nothing yet
                assert list(app.invoices.of_account(owner.id, account.id)) == []
            raise RuntimeError("the host changes its mind")

    with pytest.raises(RuntimeError, match="changes its mind"):
        issue_then_fail()
    # Nothing was committed: not the invoice, not its number, not its key, not its e-mails.
    assert list(app.invoices.of_account(owner.id, account.id)) == []
    again = app.invoices.issue(owner.id, account.id, _draft(), idempotency_key="k-1")
    assert again.number == "1"
    with store.transaction() as tx:
        assert [m.invoice_id for m in tx.outbox.due(AT, 10)] == []  # no recipients on this draft
    store.close()


def test_within_on_a_commit_as_you_go_connection(engine: sa.Engine) -> None:
    """engine.connect() without begin(): the call begins the host's transaction; the host commits it."""
    store = SqlStore(engine)
    app = _app(store)
    with engine.connect() as connection:
        app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
        connection.rollback()
        assert _user_count(store) == 0
        app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
        connection.commit()
    assert _user_count(store) == 1
    store.close()


def test_within_refuses_what_cannot_share_the_transaction(engine: sa.Engine, tmp_path: Path) -> None:
    store = SqlStore(engine)
    with pytest.raises(tb.InvalidInput, match="SqlStore"):
        _app(MemoryStore()).within(engine.connect())
    with pytest.raises(tb.InvalidInput, match="Connection"):
        _app(store).within(engine)  # type: ignore[arg-type]
    autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    with autocommit as connection, pytest.raises(tb.InvalidInput, match="AUTOCOMMIT"):
        _app(store).within(connection)
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    if engine.dialect.name == "sqlite":
        with other.connect() as connection, pytest.raises(tb.InvalidInput, match="another database"):
            _app(store).within(connection)
    else:
        with other.connect() as connection, pytest.raises(tb.InvalidInput, match="sqlite"):
            _app(store).within(connection)
    other.dispose()
    store.close()


def test_an_unread_result_on_sqlite_is_explained(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    host_metadata.create_all(engine)
    store = SqlStore(engine)
    app = _app(store)
    with engine.begin() as connection:
        result = connection.execute(
            host_users.insert().values(email="a@host.example").returning(host_users.c.id)
        )
        with pytest.raises(tb.InvalidInput, match="fetch it"):
            app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
        assert result.scalar_one() == 1
        app.within(connection).accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert _user_count(store) == 1
    store.close()
    engine.dispose()


# ---------------------------------------------------------------- the host's engine


def test_close_leaves_the_host_engine_open(engine: sa.Engine) -> None:
    store = SqlStore(engine)
    _app(store).accounts.sign_up(name="Acme AS", email="ola@acme.example")
    pooled = engine.pool.checkedin()
    store.close()
    assert engine.pool.checkedin() == pooled >= 1
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1


def test_host_connections_go_back_as_they_came(tmp_path: Path) -> None:
    """PostgreSQL: tenantbill's own calls run READ COMMITTED, then the host's settings are put back."""
    with fresh_postgres_database(_pg_url()) as url:
        host = sa.create_engine(url, isolation_level="REPEATABLE READ", pool_size=1, max_overflow=0)
        store = SqlStore(host)
        app = _app(store)
        owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
        app.invoices.issue(owner.id, account.id, _draft())
        with host.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver is not None
            assert driver.autocommit is False
            assert connection.get_isolation_level() == "REPEATABLE READ"
        store.close()
        host.dispose()


def test_host_engine_with_another_driver_is_refused() -> None:
    with pytest.raises(tb.InvalidInput, match="blocking driver"):
        SqlStore(sa.create_engine("postgresql+psycopg_async://"))
    with pytest.raises(tb.InvalidInput):
        SqlStore(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- a schema of its own


@pytest.fixture
def pg_engine() -> Iterator[sa.Engine]:
    with fresh_postgres_database(_pg_url()) as url:
        host = sa.create_engine(url)
        host_metadata.create_all(host)
        yield host
        host.dispose()


def test_schema_holds_every_table_and_the_store_works_there(pg_engine: sa.Engine) -> None:
    store = SqlStore(pg_engine, schema="billing")
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    invoice = app.invoices.issue(owner.id, account.id, _draft())
    issued = app.access.invite(owner.id, account.id, email="kari@acme.example")
    app.access.accept(issued.token, new_user=tb.NewUser(name="Kari", email="kari@acme.example"))
    assert invoice.number == "1"
    inspector = sa.inspect(pg_engine)
    assert set(metadata.tables) <= set(inspector.get_table_names(schema="billing"))
    assert not set(metadata.tables) & set(inspector.get_table_names(schema="public"))
    assert migrate.current(pg_engine, schema="billing") == migrate.HEAD
    # Inside the host's transaction too, and the host's table stays in its own schema.
    with pg_engine.begin() as connection:
        connection.execute(host_users.insert().values(id=1, email="ola@acme.example"))
        second = app.within(connection).invoices.issue(owner.id, account.id, _draft())
    assert second.number == "2"
    assert "host_users" in inspector.get_table_names(schema="public")
    store.close()


def test_upgrade_into_a_schema(pg_engine: sa.Engine) -> None:
    migrate.upgrade(pg_engine, schema="ledger")
    assert migrate.current(pg_engine, schema="ledger") == migrate.HEAD
    assert migrate.current(pg_engine) is None  # nothing in the default schema
    assert set(metadata.tables) <= set(sa.inspect(pg_engine).get_table_names(schema="ledger"))
    migrate.upgrade(pg_engine, schema="ledger")  # again: nothing to do
    app = _app(SqlStore(pg_engine, schema="ledger"))
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert app.invoices.issue(owner.id, account.id, _draft()).number == "1"
    # Two schemas, two independent sets of tables in one database.
    other = _app(SqlStore(pg_engine, schema="other"))
    owner2, account2 = other.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert other.invoices.issue(owner2.id, account2.id, _draft()).number == "1"


@pytest.mark.parametrize(
    "schema",
    [
        'billing"; DROP TABLE host_users; --',
        "Billing",
        "bil ling",
        "billing.x",
        "pg_catalog",
        "pg_temp",
        "information_schema",
        "",
        "9lives",
        "b" * 64,
        "bïlling",
        5,
    ],
)
def test_hostile_schema_names_are_refused(schema: object) -> None:
    with pytest.raises(tb.InvalidInput, match="schema"):
        SqlStore("postgresql+psycopg://nobody@127.0.0.1:1/none", schema=schema)  # type: ignore[arg-type]
    with pytest.raises(tb.InvalidInput, match="schema"):
        migrate.upgrade("postgresql+psycopg://nobody@127.0.0.1:1/none", schema=schema)  # type: ignore[arg-type]


def test_sqlite_has_no_schemas(tmp_path: Path) -> None:
    with pytest.raises(tb.InvalidInput, match="SQLite has no schemas"):
        SqlStore(f"sqlite:///{tmp_path / 'x.db'}", schema="billing")
    host = sa.create_engine(f"sqlite:///{tmp_path / 'y.db'}")
    with pytest.raises(tb.InvalidInput, match="SQLite has no schemas"):
        SqlStore(host, schema="billing")
    with pytest.raises(tb.InvalidInput, match="schemas"):
        migrate.upgrade(host, schema="billing")
    host.dispose()
