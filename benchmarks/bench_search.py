"""Finding things at scale: one page of ``invoices.search`` and of ``events.read`` at 10 000 and at
1 000 000 rows, on SQLite and PostgreSQL; and what recording events costs issuing on PostgreSQL.

The target (docs/performance.md): the time for one page grows at most 2x from
10 000 to 1 000 000 rows (keyset pagination on an index, no OFFSET, no
COUNT). The rows are written with bulk SQL (PostgreSQL ``generate_series``,
SQLite ``executemany``), cloning one invoice issued through the API, not by
issuing a million invoices.

    python benchmarks/run.py --only search   # 10 000 and 1 000 000 rows (about 90 s on the 2-core machine)
    python benchmarks/bench_search.py --quick  # 10 000 and 100 000 rows, for a quick look

Pages timed: the first page (limit 50), a page from the middle (with the
cursor of a row half-way), the first page to one customer; ``events.read``
from the start and from half-way (limit 500). Both sizes are built first; then
each page is read 30 times on each, one call on the small store and the same
call on the big one in turn, and each figure is the median of its 30 calls.
Issuing: 4 threads issue on 4 accounts (each its own series), with the
``invoice.issued`` event and with it left out, on a server with PostgreSQL's
default durability.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import dev  # noqa: E402
from common import START, Row, app_on, draft  # noqa: E402

import tenantbill as tb  # noqa: E402
from tenantbill.domain.events import event_data_text  # noqa: E402
from tenantbill.domain.pages import invoice_cursor  # noqa: E402
from tenantbill.sql import SqlStore  # noqa: E402
from tenantbill.sql.schema import events, invoices  # noqa: E402

CALLS = 30
CUSTOMERS = 100


def _fill_sqlite(store: Any, account_id: str, template: dict[str, Any], count: int) -> None:
    engine = store._engine
    columns = [c.name for c in invoices.c]
    marks = ", ".join("?" for _ in columns)
    with engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()

        def rows() -> Any:
            for n in range(1, count + 1):
                at = START + timedelta(minutes=n)
                values = dict(template)
                values.update(
                    id=f"b{n:015d}",
                    account_id=account_id,
                    sequence=n + 1_000_000_000,
                    number=str(n + 1_000_000_000),
                    issued_at=at.isoformat(timespec="microseconds"),
                    issue_date=at.date().isoformat(),
                    customer=f"c{n % CUSTOMERS}",
                )
                yield tuple(values[c] for c in columns)

        cursor.executemany(f"INSERT INTO {invoices.name} ({', '.join(columns)}) VALUES ({marks})", rows())
        data = event_data_text({"invoice_id": "x", "number": "1", "total": "100.00"})
        cursor.executemany(
            f"INSERT INTO {events.name} (type, account_id, at, data) VALUES (?, ?, ?, ?)",
            (
                ("invoice.issued", account_id, START.isoformat(timespec="microseconds"), data)
                for _ in range(count)
            ),
        )
        cursor.execute("ANALYZE")


def _fill_postgres(store: Any, account_id: str, template_id: str, count: int) -> None:
    import sqlalchemy as sa

    given = [c.name for c in invoices.c]
    generated = {
        "id": "'b' || lpad(g::text, 15, '0')",
        "account_id": ":account",
        "sequence": "g + 1000000000",
        "number": "(g + 1000000000)::text",
        "issued_at": "t.issued_at + g * interval '1 minute'",
        "issue_date": "(t.issued_at + g * interval '1 minute')::date",
        "customer": f"'c' || (g % {CUSTOMERS})",
    }
    select = ", ".join(generated.get(c, f"t.{c}") for c in given)
    with store._engine.begin() as connection:
        connection.execute(
            sa.text(
                f"INSERT INTO {invoices.name} ({', '.join(given)}) SELECT {select} "
                f"FROM generate_series(1, :count) AS g CROSS JOIN (SELECT * FROM {invoices.name} "
                "WHERE id = :template) AS t"
            ),
            {"account": account_id, "count": count, "template": template_id},
        )
        data = event_data_text({"invoice_id": "x", "number": "1", "total": "100.00"})
        connection.execute(
            sa.text(
                f"INSERT INTO {events.name} (type, account_id, at, data) "
                "SELECT 'invoice.issued', :account, now(), :data FROM generate_series(1, :count)"
            ),
            {"account": account_id, "count": count, "data": data},
        )
    with store._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f"VACUUM ANALYZE {invoices.name}"))
        connection.execute(sa.text(f"VACUUM ANALYZE {events.name}"))


def _pages(url: str, count: int, backend: str) -> tuple[SqlStore, dict[str, Callable[[], object]]]:
    """A store with ``count`` invoices and events, and the page reads to time on it (by name)."""
    store = SqlStore(url)
    app, owner, account = app_on(store)
    template = app.invoices.issue(owner, account, draft(lines=2))
    if backend == "sqlite":
        with store._engine.connect() as connection:
            row = connection.execute(invoices.select().where(invoices.c.id == template.id)).one()
            values = dict(row._mapping)
        _fill_sqlite(store, account, values, count)
    else:
        _fill_postgres(store, account, template.id, count)
    middle = START + timedelta(minutes=count // 2)
    cursor = invoice_cursor("issued", middle.date(), middle, f"b{count // 2:015d}")
    half = count // 2
    return store, {
        "search, first page": lambda: app.invoices.search(owner, account),
        "search, a page half-way": lambda: app.invoices.search(owner, account, cursor=cursor),
        "search, one customer": lambda: app.invoices.search(owner, account, customer="c7"),
        "events.read, from the start": lambda: app.events.read(None, limit=500),
        "events.read, half-way": lambda: app.events.read(half, limit=500),
    }


def _side_by_side(
    small: dict[str, Callable[[], object]], big: dict[str, Callable[[], object]]
) -> tuple[dict[str, float], dict[str, float]]:
    """The median ms of each page on the small and on the big store, the calls alternating.

    One call on one store, then the same call on the other (which goes first
    alternates too), ``CALLS`` times: both sizes see the same machine.
    """
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in small}
    for name in small:
        calls = (small[name], big[name])
        for call in calls:
            call()  # warm
        for round_ in range(CALLS):
            for side in (round_ % 2, 1 - round_ % 2):
                begin = time.perf_counter()
                calls[side]()
                times[name][side].append(time.perf_counter() - begin)
    return (
        {name: statistics.median(pair[0]) * 1000 for name, pair in times.items()},
        {name: statistics.median(pair[1]) * 1000 for name, pair in times.items()},
    )


def _issue_rate(url: str, threads: int, per_thread: int, *, with_events: bool) -> float:
    from tenantbill.sql import postgres

    store = SqlStore(url)
    original = postgres.PostgresInvoices.add_numbered
    if not with_events:

        def without(self: Any, invoice: Any, messages: Any = (), events: Any = ()) -> Any:
            return original(self, invoice, messages, ())

        postgres.PostgresInvoices.add_numbered = without  # type: ignore[method-assign]
    try:
        app = tb.Tenantbill(store=store, mailer=None)
        sellers = [
            app.accounts.sign_up(name=f"S{n}", email=f"s{n}-{time.time_ns()}@x.no") for n in range(threads)
        ]
        the_draft = draft(lines=2)

        def issue(n: int) -> None:
            owner, account = sellers[n]
            for _ in range(per_thread):
                app.invoices.issue(owner.id, account.id, the_draft)

        workers = [threading.Thread(target=issue, args=(n,)) for n in range(threads)]
        begin = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return threads * per_thread / (time.perf_counter() - begin)
    finally:
        postgres.PostgresInvoices.add_numbered = original  # type: ignore[method-assign]
        store.close()


def _rows(backend: str, small: dict[str, float], big: dict[str, float], sizes: tuple[int, int]) -> list[Row]:
    rows: list[Row] = []
    for name in small:
        rows.append({"name": f"{backend}: {name} at {sizes[0]:,}", "value": small[name], "unit": "ms"})
        rows.append({"name": f"{backend}: {name} at {sizes[1]:,}", "value": big[name], "unit": "ms"})
        target = "<= 2.0" if sizes[1] >= 1_000_000 else "<= 2.0 at 1 000 000 (run without --quick)"
        rows.append(
            {
                "name": f"{backend}: {name}, growth",
                "value": big[name] / small[name],
                "unit": "x",
                "target": target,
            }
        )
    return rows


def _growth(label: str, urls: list[str], sizes: tuple[int, int], backend: str) -> list[Row]:
    """Both stores built, then their pages timed side by side: the rows of ``label``."""
    built = [_pages(url, n, backend) for url, n in zip(urls, sizes, strict=True)]
    try:
        small, big = _side_by_side(built[0][1], built[1][1])
    finally:
        for store, _ in built:
            store.close()
    return _rows(label, small, big, sizes)


def run(scale: int = 1, quick: bool = False) -> list[Row]:
    sizes = (10_000, 100_000 if quick else 1_000_000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        urls = [f"sqlite:///{Path(directory) / f'search{n}.db'}" for n in sizes]
        rows += _growth("SQLite", urls, sizes, "sqlite")
    if not (dev.PG_BIN / "pg_ctl").exists():
        return [*rows, {"name": f"PostgreSQL not found in {dev.PG_BIN}: skipped", "value": 0, "unit": ""}]
    from bench_pg import _database

    with dev.postgres(durable=True, reuse=False) as server:
        assert server is not None
        with _database(server) as small_url, _database(server) as big_url:
            rows += _growth("PostgreSQL", [small_url, big_url], sizes, "postgresql")
        for label, with_events in (("with", True), ("without", False), ("with (again)", True)):
            with _database(server) as url:
                rate = _issue_rate(url, threads=4, per_thread=250, with_events=with_events)
            rows.append(
                {
                    "name": f"PostgreSQL (durable): issuing on 4 accounts, 4 threads, {label} events",
                    "value": rate,
                    "unit": "invoices/s",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
