"""Invoices issued per second on the in-memory store and on a SQLite file (WAL), at 1× and 10× the work."""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import Row, app_on, draft, median_rate

from tenantbill.memory import MemoryStore
from tenantbill.sql import SqlStore


def _rate(make_store: object, count: int, repeats: int) -> float:
    def work() -> int:
        app, owner, account = app_on(make_store())  # type: ignore[operator]
        d = draft()
        for _ in range(count):
            app.invoices.issue(owner, account, d)
        return count

    return median_rate(work, repeats)


def run(scale: int = 1) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1_000_000))

        def sqlite_store() -> SqlStore:
            return SqlStore(f"sqlite:///{Path(tmp) / f'issue-{next(counter)}.db'}")

        for factor in (1, 10):
            n_mem = 2_000 * scale * factor
            n_sql = 300 * scale * factor
            mem = _rate(MemoryStore, n_mem, 3)
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
