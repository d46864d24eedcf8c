"""Usage ingestion: ``app.metering.record`` in batches of 1 000 keyed events, on SQLite and PostgreSQL.

For each database, in the same run and interleaved batch by batch (so a busy
machine slows both alike):

- ``app.metering.record(batch)``: 1 000 ``UsageEvent`` values with new keys,
  spread over 10 subscriptions; events/s over every batch. The events are
  built before the clock starts (they are the host's values); building them
  is shown on a row of its own.
- the baseline: the same rows, as the store writes them, inserted with the
  driver's ``executemany`` into a table of the same shape (same columns,
  same indexes, the unique key index included), one transaction per batch.
- the ratio of the two (target on PostgreSQL: ≥ 0.3), and re-sending every
  batch, which must record 0.

PostgreSQL is a throwaway server with PostgreSQL's default durability
(``dev.postgres(durable=True)``: every commit flushed), or the one
``TENANTBILL_PG_URL`` names, in a database of its own, dropped after.

    python benchmarks/run.py --only metering
    python benchmarks/bench_metering.py
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import dev  # noqa: E402  (the project's dev.py: starts the throwaway server)
from common import START, Row  # noqa: E402

import tenantbill as tb  # noqa: E402
from tenantbill.clock import FixedClock  # noqa: E402
from tenantbill.memory import MemoryMailer  # noqa: E402
from tenantbill.ports import Store  # noqa: E402
from tenantbill.sql import SqlStore  # noqa: E402

BATCH = 1_000
SUBSCRIPTIONS = 10
RAW_TABLE = "bench_raw_usage"


def _setup(store: Store) -> tuple[tb.Tenantbill, list[str]]:
    """An app with a provider billing one customer on ``SUBSCRIPTIONS`` subscriptions; their ids."""
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(START))
    _, provider = app.accounts.sign_up(name="Metered AS", email="meter@example.com")
    owner, customer = app.accounts.sign_up(name="Kunde AS", email="kunde@example.com")
    plan = tb.Plan("api", "API", Decimal("0"), "NOK", tb.BillingCycle.MONTHLY, Decimal("0.25"))
    ids = [
        app.subscriptions.start(owner.id, provider.id, customer.id, plan, anchor=date(2026, 1, 1)).id
        for _ in range(SUBSCRIPTIONS)
    ]
    return app, ids


def _batches(ids: list[str], count: int, tag: str) -> list[list[tb.UsageEvent]]:
    """``count`` batches of ``BATCH`` events with keys never used before."""
    return [
        [
            tb.UsageEvent(
                key=f"{tag}-{b}-{n}-{secrets.token_hex(6)}",
                subscription_id=ids[n % len(ids)],
                item="API calls",
                quantity=Decimal(n % 7 + 1),
                unit_price=Decimal("0.0125"),
                at=date(2026, 1, 1) + timedelta(days=n % 28),
            )
            for n in range(BATCH)
        ]
        for b in range(count)
    ]


def _raw_rows(store: Any, batch: list[tb.UsageEvent]) -> list[dict[str, Any]]:
    """The rows the store writes for ``batch`` (its codec's values), for the baseline."""
    formats = store._statements.formats if store._statements is not None else None
    assert formats is not None
    return [
        formats.usage_values(
            tb.Usage(
                id=secrets.token_hex(16),
                subscription_id=e.subscription_id,
                on=e.at,  # a date in these batches
                item=e.item,
                quantity=e.quantity,
                unit_price=e.unit_price,
                vat_rate=Decimal("0.25"),
                recorded_at=START,
                key=e.key,
            )
        )
        for e in batch
    ]


COLUMNS = ("id", "subscription_id", "on", "item", "quantity", "unit_price", "vat_rate", "recorded_at", "key")


def _measure(
    store: SqlStore,
    raw_insert: Callable[[list[dict[str, Any]]], None],
    batches: int,
    repeats: int,
) -> dict[str, float]:
    app, ids = _setup(store)
    build_seconds: list[float] = []
    record_rates: list[float] = []
    raw_rates: list[float] = []
    resent: list[int] = []
    for repeat in range(repeats):
        begin = time.perf_counter()
        work = _batches(ids, batches, f"r{repeat}")
        build_seconds.append((time.perf_counter() - begin) / (batches * BATCH))
        raws = [_raw_rows(store, batch) for batch in _batches(ids, batches, f"raw{repeat}")]
        recording = raw = 0.0
        for batch, rows in zip(work, raws, strict=True):
            begin = time.perf_counter()
            result = app.metering.record(batch)
            recording += time.perf_counter() - begin
            assert result.accepted == BATCH, result
            begin = time.perf_counter()
            raw_insert(rows)
            raw += time.perf_counter() - begin
        record_rates.append(batches * BATCH / recording)
        raw_rates.append(batches * BATCH / raw)
        resent.append(sum(app.metering.record(batch).accepted for batch in work))
    return {
        "record": statistics.median(record_rates),
        "raw": statistics.median(raw_rates),
        "ratio": statistics.median(r / w for r, w in zip(record_rates, raw_rates, strict=True)),
        "build_us": statistics.median(build_seconds) * 1e6,
        "resent": max(resent),
    }


def _rows(db: str, figures: dict[str, float], target: str, ratio_target: str | None) -> list[Row]:
    return [
        {
            "name": f"metering.record, {db}, batches of {BATCH} keyed events",
            "value": round(figures["record"]),
            "unit": "events/s",
            "target": target,
        },
        {
            "name": f"  raw executemany INSERT of the same rows, {db}",
            "value": round(figures["raw"]),
            "unit": "rows/s",
        },
        {
            "name": f"  metering.record / raw executemany, {db}",
            "value": round(figures["ratio"], 2),
            "unit": "×",
            **({"target": ratio_target} if ratio_target else {}),
        },
        {
            "name": f"  re-sending every batch records, {db}",
            "value": int(figures["resent"]),
            "unit": "events",
            "target": "0",
        },
        {
            "name": f"  building a UsageEvent (host side, not timed above), {db}",
            "value": round(figures["build_us"], 1),
            "unit": "µs/event",
        },
    ]


def _sqlite(tmp: Path, batches: int, repeats: int) -> dict[str, float]:
    import sqlite3

    store = SqlStore(f"sqlite:///{tmp / 'metering.db'}")
    with store.transaction():
        pass  # the store creates its tables
    raw_db = tmp / "metering.db"
    connection = sqlite3.connect(raw_db, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")  # as the store runs its file
    ddl = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'tenantbill_usage'").fetchone()[0]
    connection.execute(ddl.replace("tenantbill_usage", RAW_TABLE, 1).replace("pk_tenantbill_usage", "pk_raw"))
    connection.execute(f'CREATE INDEX ix_raw_on ON {RAW_TABLE} (subscription_id, "on")')
    connection.execute(f'CREATE UNIQUE INDEX uq_raw_key ON {RAW_TABLE} (subscription_id, "key")')
    quoted = ", ".join(f'"{c}"' for c in COLUMNS)
    insert = f"INSERT INTO {RAW_TABLE} ({quoted}) VALUES ({', '.join('?' * len(COLUMNS))})"

    def raw_insert(rows: list[dict[str, Any]]) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, [tuple(row[c] for c in COLUMNS) for row in rows])
        connection.execute("COMMIT")

    try:
        return _measure(store, raw_insert, batches, repeats)
    finally:
        connection.close()
        store.close()


@contextmanager
def _pg_database(server: str) -> Iterator[str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    name = f"tenantbill_metering_{secrets.token_hex(5)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _postgres(server: str, batches: int, repeats: int) -> tuple[dict[str, float], str]:
    import psycopg
    from sqlalchemy.engine import make_url

    with _pg_database(server) as url:
        store = SqlStore(url)
        with store.transaction():
            pass
        parsed = make_url(url)
        connection = psycopg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
            dbname=parsed.database, autocommit=False,
        )  # fmt: skip
        connection.execute(f"CREATE TABLE {RAW_TABLE} (LIKE tenantbill_usage INCLUDING ALL)")
        connection.commit()
        settings = ", ".join(
            f"{name}={connection.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
            for name in ("fsync", "synchronous_commit")
        )
        quoted = ", ".join(f'"{c}"' for c in COLUMNS)
        insert = f"INSERT INTO {RAW_TABLE} ({quoted}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"

        def raw_insert(rows: list[dict[str, Any]]) -> None:
            with connection.cursor() as cursor:
                cursor.executemany(insert, [tuple(row[c] for c in COLUMNS) for row in rows])
            connection.commit()

        try:
            return _measure(store, raw_insert, batches, repeats), settings
        finally:
            connection.close()
            store.close()


def run(scale: int = 1, quick: bool = False) -> list[Row]:
    batches = (5 if quick else 20) * scale
    repeats = 3
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += _rows("SQLite file", _sqlite(Path(tmp), batches, repeats), ">= 20000", None)
    if not (dev.PG_BIN / "pg_ctl").exists() and not os.environ.get("TENANTBILL_PG_URL"):
        rows.append({"name": f"PostgreSQL not found in {dev.PG_BIN}: skipped", "value": 0, "unit": ""})
        return rows
    with dev.postgres(durable=True) as server:
        assert server is not None
        figures, settings = _postgres(server, batches, repeats)
    rows += _rows(f"PostgreSQL ({settings})", figures, ">= 10000", ">= 0.3")
    rows.append({"name": "load average at the end (1, 5, 15 min)", "value": _loadavg(), "unit": ""})
    return rows


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
