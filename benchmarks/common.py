"""Shared pieces of the benchmark harness: timing, medians and a ready app."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store

Row = dict[str, object]
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
