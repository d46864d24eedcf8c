"""The issuing statement as libpq's own prepared statement (``tenantbill.sql.prepared``), on PostgreSQL.

It must behave as psycopg's cursor would: the same values stored, the same
errors raised, and psycopg's cursor taking over (before anything is sent)
wherever it cannot: a value of another type, a connection not in UTF-8, a
result of other types. A statement deallocated under it is prepared again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg")
sa = pytest.importorskip("sqlalchemy")

import tenantbill as tb  # noqa: E402
from support import fresh_postgres_database  # noqa: E402
from tenantbill.clock import FixedClock  # noqa: E402
from tenantbill.memory import MemoryMailer  # noqa: E402
from tenantbill.sql import SqlStore  # noqa: E402
from tenantbill.sql.core import Sql  # noqa: E402
from tenantbill.sql.prepared import NotNative, Prepared, run_prepared  # noqa: E402

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def url() -> Iterator[str]:
    server = os.environ.get("TENANTBILL_PG_URL")
    if not server:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    with fresh_postgres_database(server) as url:
        yield url


@pytest.fixture
def driver(url: str) -> Iterator[Any]:
    """A psycopg connection at rest (autocommit), as the store's pooled ones are."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )
    yield connection
    connection.close()


def _sql(text: str) -> Sql:
    from sqlalchemy.dialects.postgresql import psycopg as dialect

    return Sql(sa.text(text), dialect.dialect())


def _prepared_names(connection: Any) -> list[str]:
    rows = connection.exec_driver_sql(
        "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'tenantbill_')"
    )
    return [row[0] for row in rows]


def _app(store: SqlStore) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))


def _draft(description: str = "Support") -> tb.InvoiceDraft:
    line = tb.Line(description=description, quantity=Decimal("2"), unit_price=Decimal("950"))
    return tb.InvoiceDraft(bill_to=tb.Party(name="Kunde AS"), lines=[line])


def test_placeholders_become_numbered_parameters_and_a_name_used_twice_is_one() -> None:
    statement = Prepared(_sql("SELECT :a || :b, :a, '100%' AS pct"))
    assert statement.command == b"SELECT $1 || $2, $1, '100%' AS pct"
    assert statement.names == ("a", "b")
    assert statement.name.startswith(b"tenantbill_")
    assert Prepared(_sql("SELECT :a || :b, :a, '100%' AS pct")).name == statement.name
    assert Prepared(_sql("SELECT :a")).name != statement.name


def test_a_placeholder_not_understood_leaves_the_statement_to_psycopg(driver: Any) -> None:
    # (No statement SQLAlchemy compiles for tenantbill has such a name.)
    statement = Prepared(SimpleNamespace(text="SELECT %(odd-name)s", defaults={}))  # type: ignore[arg-type]
    assert not statement.usable
    with pytest.raises(NotNative):
        run_prepared(driver, statement, {})


def test_values_are_written_as_text_and_other_types_are_left_to_psycopg() -> None:
    statement = Prepared(_sql("SELECT :s, :i, :f, :d, :t, :m, :n"))
    values = {
        "s": "Bøker «x»",
        "i": 12,
        "f": True,
        "d": date(2026, 3, 2),
        "t": AT,
        "m": Decimal("1.50"),
        "n": None,
    }
    assert statement.parameters(values) == [
        "Bøker «x»".encode(),
        b"12",
        b"true",
        b"2026-03-02",
        b"2026-03-02T09:00:00+00:00",
        b"1.50",
        None,
    ]
    for other in (1.5, b"bytes", datetime(2026, 3, 2, 9, 0), [1]):
        with pytest.raises(NotNative):
            statement.parameters({**values, "m": other})


def test_text_with_nul_is_refused_as_psycopg_refuses_it() -> None:
    with pytest.raises(psycopg.DataError, match="NUL"):
        Prepared(_sql("SELECT :s")).parameters({"s": "a\x00b"})


def test_a_server_error_is_psycopgs_own_with_its_diagnostics(driver: Any) -> None:
    statement = Prepared(_sql("SELECT 1 / CAST(:x AS integer)"))
    with pytest.raises(psycopg.errors.DivisionByZero) as raised:
        run_prepared(driver, statement, {"x": 0})
    assert raised.value.sqlstate == "22012"
    assert raised.value.diag.message_primary == "division by zero"
    assert run_prepared(driver, statement, {"x": 1}) == (1,)


def test_a_result_of_other_types_is_left_to_psycopg_and_nothing_runs(driver: Any) -> None:
    driver.execute("CREATE TABLE stamped (at timestamptz)")
    statement = Prepared(_sql("INSERT INTO stamped VALUES (CAST(:at AS timestamptz)) RETURNING at"))
    with pytest.raises(NotNative):
        run_prepared(driver, statement, {"at": AT})
    with pytest.raises(NotNative):  # and it is not prepared again
        run_prepared(driver, statement, {"at": AT})
    assert driver.execute("SELECT count(*) FROM stamped").fetchone() == (0,)


def test_issuing_uses_three_prepared_statements_and_goes_on_after_deallocate_all(url: str) -> None:
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    store = SqlStore(engine)
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert app.invoices.issue(owner.id, account.id, _draft()).number == "1"
    with engine.connect() as connection:  # the store's one pooled connection: lock, issue, flush
        assert len(_prepared_names(connection)) == 3
        connection.exec_driver_sql("DEALLOCATE ALL")
    assert app.invoices.issue(owner.id, account.id, _draft("Bøker «x» ✓")).number == "2"
    with engine.connect() as connection:
        assert len(_prepared_names(connection)) == 3
    second = app.invoices.by_number(owner.id, account.id, "2")
    assert [line.description for line in second.lines] == ["Bøker «x» ✓"]
    store.close()
    engine.dispose()


@pytest.mark.parametrize(
    "settings",
    [{"client_encoding": "LATIN1"}, {"prepare_threshold": None}],
    ids=["not-utf8", "prepared-statements-off"],
)
def test_a_connection_not_in_utf8_or_without_prepared_statements_issues_through_the_cursor(
    url: str, settings: dict[str, Any]
) -> None:
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, connect_args=settings)
    store = SqlStore(engine)
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    invoice = app.invoices.issue(owner.id, account.id, _draft("Bøker"))
    assert invoice.number == "1"
    assert app.invoices.get(owner.id, invoice.id).lines[0].description == "Bøker"
    assert app.invoices.issue(owner.id, account.id, _draft()).number == "2"
    with engine.connect() as connection:
        assert _prepared_names(connection) == []
        if settings.get("prepare_threshold", 0) is None:  # nor psycopg's own
            names = connection.exec_driver_sql("SELECT name FROM pg_prepared_statements").fetchall()
            assert names == []
    store.close()
    engine.dispose()


def test_a_statement_run_after_another_is_in_its_transaction_and_sees_what_it_did(driver: Any) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    first = Prepared(
        _sql("SELECT count(*) FROM (INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n) AS i")
    )
    # (a data-modifying statement in WITH, as the first statement's work; its result is not read)
    first = Prepared(_sql("WITH i AS (INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n) SELECT 1"))
    count = Prepared(_sql("SELECT count(*) FROM seen WHERE n <= CAST(:n AS integer)"))
    assert run_prepared(driver, count, {"n": 1}, first) == (1,)  # the second statement sees the first's row
    assert driver.execute("SELECT count(*) FROM seen").fetchone() == (1,)  # and both committed
    assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF


def test_if_the_second_statement_fails_the_first_is_rolled_back(driver: Any) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    first = Prepared(_sql("WITH i AS (INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n) SELECT 1"))
    failing = Prepared(_sql("SELECT 1 / (CAST(:n AS integer) - 1)"))
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_prepared(driver, failing, {"n": 1}, first)
    assert driver.execute("SELECT count(*) FROM seen").fetchone() == (0,)
    assert run_prepared(driver, failing, {"n": 2}, first) == (1,)  # the connection is usable again
    assert driver.execute("SELECT n FROM seen").fetchall() == [(2,)]


def test_if_the_first_statement_fails_the_second_does_not_run(driver: Any) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    failing = Prepared(_sql("SELECT 1 / (CAST(:n AS integer) - 1)"))
    insert = Prepared(_sql("INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n"))
    with pytest.raises(psycopg.errors.DivisionByZero) as raised:
        run_prepared(driver, insert, {"n": 1}, failing)
    assert raised.value.sqlstate == "22012"
    assert driver.execute("SELECT count(*) FROM seen").fetchone() == (0,)
    assert run_prepared(driver, insert, {"n": 3}, failing) == (3,)


def test_a_pipeline_goes_on_after_deallocate_all(driver: Any) -> None:
    first = Prepared(_sql("SELECT CAST(:n AS integer)"))
    second = Prepared(_sql("SELECT CAST(:n AS integer) + 1"))
    assert run_prepared(driver, second, {"n": 1}, first) == (2,)
    driver.execute("DEALLOCATE ALL")
    assert run_prepared(driver, second, {"n": 2}, first) == (3,)


def test_issuing_waits_for_the_accounts_issuers_lock(url: str) -> None:
    """An issue starts once the one before it on the account has committed: it waits for their lock."""
    import threading

    from tenantbill.sql.postgres import _SERIES_LOCK_CLASS, _account_lock

    store = SqlStore(url)
    app = _app(store)
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
    assert app.invoices.issue(owner.id, account.id, _draft()).number == "1"
    holder = sa.create_engine(url)
    issued: list[str] = []
    with holder.connect() as connection:
        connection.exec_driver_sql(
            f"SELECT pg_advisory_xact_lock({_SERIES_LOCK_CLASS}, {_account_lock(account.id)})"
        )
        thread = threading.Thread(
            target=lambda: issued.append(app.invoices.issue(owner.id, account.id, _draft()).number)
        )
        thread.start()
        thread.join(0.5)
        assert issued == []
        assert thread.is_alive()
        connection.rollback()  # releases it
        thread.join(10)
    assert issued == ["2"]
    store.close()
    holder.dispose()


def test_an_interrupt_while_waiting_is_raised_once_the_answer_is_in(driver: Any) -> None:
    import signal
    import threading
    import time

    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    slow = Prepared(_sql("SELECT pg_sleep(CAST(:n AS integer) * 0.4)"))
    insert = Prepared(_sql("INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n"))
    main = threading.get_ident()
    timer = threading.Timer(0.1, lambda: signal.pthread_kill(main, signal.SIGINT))
    began = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_prepared(driver, insert, {"n": 1}, slow)
    assert time.monotonic() - began >= 0.4  # not before the server answered
    assert driver.execute("SELECT n FROM seen").fetchall() == [(1,)]  # so it is known to have committed
    assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    assert run_prepared(driver, insert, {"n": 2}) == (2,)


def test_a_statement_run_then_is_a_transaction_of_its_own_after_the_statement(driver: Any) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    insert = Prepared(_sql("INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n"))
    then = Prepared(_sql("SELECT count(*) FROM seen"))
    xid = Prepared(_sql("SELECT txid_current()"))
    assert run_prepared(driver, insert, {"n": 1}, None, then) == (1,)
    # then runs after the statement committed, in another transaction
    first = run_prepared(driver, xid, {}, None, xid)
    assert first is not None
    assert run_prepared(driver, xid, {})[0] > first[0] + 1  # type: ignore[index]
    assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF


def test_if_what_follows_fails_the_statement_is_committed_and_its_outcome_reported_unknown(
    driver: Any,
) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    insert = Prepared(_sql("INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n"))
    failing = Prepared(_sql("SELECT 1 / (CAST(:n AS integer) - 1)"))
    with pytest.raises(psycopg.OperationalError, match="committed; what follows it failed") as raised:
        run_prepared(driver, insert, {"n": 1}, None, failing)
    assert getattr(raised.value, "sqlstate", None) is None  # so the store reports the outcome unknown
    assert driver.execute("SELECT n FROM seen").fetchall() == [(1,)]
    with pytest.raises(psycopg.errors.UniqueViolation):  # the statement's own error comes first
        run_prepared(driver, insert, {"n": 1}, None, failing)
    assert run_prepared(driver, insert, {"n": 2}, None, Prepared(_sql("SELECT 1"))) == (2,)


def test_what_follows_deallocated_alone_runs_again_but_the_statement_does_not(driver: Any) -> None:
    driver.execute("CREATE TABLE seen (n integer PRIMARY KEY)")
    insert = Prepared(_sql("INSERT INTO seen VALUES (CAST(:n AS integer)) RETURNING n"))
    then = Prepared(_sql("SELECT count(*) FROM seen WHERE CAST(:n AS integer) > 0"))
    assert run_prepared(driver, insert, {"n": 1}, None, then) == (1,)
    driver.execute(f"DEALLOCATE {then.name.decode()}")
    assert run_prepared(driver, insert, {"n": 2}, None, then) == (2,)  # inserted once, not retried
    assert driver.execute("SELECT n FROM seen ORDER BY n").fetchall() == [(1,), (2,)]
    assert run_prepared(driver, insert, {"n": 3}, None, then) == (3,)


def test_a_role_that_may_not_write_the_flush_record_issues_with_commits_that_wait(url: str) -> None:
    # pg_logical_emit_message revoked (in this database): issues commit as PostgreSQL does by
    # default, waiting for the disk, and events are read without a flush of their own.
    import uuid

    from tenantbill.sql import postgres

    role = f"tenantbill_role_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        connection.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {role}")
        connection.exec_driver_sql(
            "REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC"
        )
    store = SqlStore(sa.make_url(url).set(username=role, password=None).render_as_string(hide_password=False))
    try:
        app = _app(store)
        owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example")
        numbers = [app.invoices.issue(owner.id, account.id, _draft()).number for _ in range(3)]
        assert numbers == ["1", "2", "3"]
        assert [event.type for event in app.events.read()].count("invoice.issued") == 3
        pooled = store._engine.raw_connection()  # the one connection the calls above used
        try:
            assert postgres._FLUSH_APART.get(pooled.driver_connection) is False
        finally:
            pooled.close()
    finally:
        store.close()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()
