"""Invoices issued per second on the in-memory store and on a SQLite file (WAL), at 1× and 10× the work."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import Row, app_on, draft

from tenantbill.memory import MemoryStore
from tenantbill.ports import Store
from tenantbill.sql import SqlStore


def _rate(make_store: Callable[[], Store], count: int, repeats: int) -> float:
    """Median invoices/s over ``repeats`` fresh stores; only the issuing is timed.

    A few invoices are issued on a throwaway store first, as every benchmark
    warms up: the first issue of a process imports and compiles what it needs.
    """
    app, owner, account = app_on(make_store())
    for _ in range(50):
        app.invoices.issue(owner, account, draft())
    rates = []
    for _ in range(repeats):
        app, owner, account = app_on(make_store())
        d = draft()
        begin = time.perf_counter()
        for _ in range(count):
            app.invoices.issue(owner, account, d)
        rates.append(count / (time.perf_counter() - begin))
    return statistics.median(rates)


def run(scale: int = 1) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def sqlite_store() -> SqlStore:
            return SqlStore(f"sqlite:///{Path(tmp) / f'issue-{next(counter)}.db'}")

        for factor in (1, 10):
            n_mem = 2_000 * scale * factor
            n_sql = 300 * scale * factor
            mem = _rate(MemoryStore, n_mem, 7 if factor == 1 else 3)
            sql = _rate(sqlite_store, n_sql, 3)
            rows.append(
                {
                    "name": f"issue, in memory ({n_mem} invoices)",
                    "value": round(mem),
                    "unit": "invoices/s",
                    "target": ">= 20000",
                }
            )
            rows.append(
                {
                    "name": f"issue, SQLite file ({n_sql} invoices)",
                    "value": round(sql),
                    "unit": "invoices/s",
                    "target": ">= 1000",
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
