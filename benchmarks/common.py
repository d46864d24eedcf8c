"""Shared pieces of the benchmark harness: timing, medians and a ready app."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store

Row = dict[str, object]
T = TypeVar("T")
START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def median_rate(work: Callable[[], int], repeats: int = 5) -> float:
    """The median over ``repeats`` runs of (items done / seconds)."""
    rates = []
    for _ in range(repeats):
        begin = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - begin))
    return statistics.median(rates)


def app_on(store: Store) -> tuple[tb.Tenantbill, str, str]:
    """An app on ``store`` with one signed-up account: (app, owner id, account id)."""
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(START))
    owner, account = app.accounts.sign_up(name="Bench AS", email="bench@example.com")
    return app, owner.id, account.id


def draft(lines: int = 8) -> tb.InvoiceDraft:
    """A typical Norwegian invoice draft."""
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", address="Storgata 1\n0155 Oslo"),
        lines=[
            tb.Line(
                description=f"Tjeneste {i} – støtte og drift",
                quantity=Decimal(i + 1),
                unit_price=Decimal("199.50"),
                vat_rate=Decimal("0.25"),
            )
            for i in range(lines)
        ],
    )


def each(make: Callable[[T], object], items: Sequence[T], count: int) -> None:
    """``make`` applied ``count`` times, going round ``items``."""
    for index in range(count):
        make(items[index % len(items)])


def timed(operation: Callable[[], None]) -> float:
    """Seconds ``operation`` takes, with the collector off (like timeit: its pauses land on one side only)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        started = time.perf_counter()
        operation()
        return time.perf_counter() - started
    finally:
        if gc_was_enabled:
            gc.enable()


def print_table(rows: list[Row], width: int = 40) -> None:
    """The rows of one benchmark as a table, for running its file on its own."""
    print(f"{'benchmark':<{width}} {'value':>14}  {'unit':<12} target")
    for row in rows:
        value = row["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) and value < 100 else f"{value:,.0f}"
        print(f"{row['name']!s:<{width}} {shown:>14}  {row['unit']!s:<12} {row.get('target', '')}")
