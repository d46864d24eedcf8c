"""The month-end run on a SQLite file: time against rendering the same PDFs alone, and peak memory.

Each size runs in a fresh process (peak RSS is per process). The run covers
billing (numbering, storing, queueing) and delivery (rendering each PDF,
building each e-mail, sending to an in-memory mailer that counts messages).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

Row = dict[str, object]
HERE = Path(__file__).resolve().parent


def child(count: int, path: str) -> dict[str, float]:
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.render.pdf import render_invoice
    from tenantbill.sql import SqlStore

    clock = FixedClock(datetime(2026, 1, 31, 8, 0, tzinfo=UTC))
    mailer = MemoryMailer(keep=False)
    app = tb.Tenantbill(store=SqlStore(f"sqlite:///{path}"), mailer=mailer, clock=clock)
    _owner, provider = app.accounts.sign_up(
        name="Skyhost AS",
        email="ola@skyhost.example.no",
        org_number="974760673",
        bank_account="86011117947",
        vat_registered=True,
    )
    plan = tb.Plan(code="web", name="Webhotell Pluss", price=Decimal("149"), vat_rate=Decimal("0.25"))
    for i in range(count):
        user, customer = app.accounts.sign_up(
            name=f"Kunde {i} AS", email=f"kunde{i}@example.no", address=f"Gate {i}\n0155 Oslo"
        )
        app.users.set_invoice_emails(user.id, enabled=True)
        sub = app.subscriptions.start(provider.id, customer.id, plan, anchor=date(2026, 1, 1))
        app.subscriptions.record_usage(
            sub.id,
            item="Ekstra domene",
            quantity=Decimal(1 + i % 3),
            unit_price=Decimal("49"),
            at=date(2026, 1, 10),
        )
    clock.set(datetime(2026, 2, 1, 6, 0, tzinfo=UTC))
    begin = time.perf_counter()
    report = app.billing.run(as_of=date(2026, 2, 1))
    delivery = app.billing.deliver()
    run_seconds = time.perf_counter() - begin
    assert report.issued == 2 * count, report.issued
    assert delivery.sent == 2 * count, delivery
    assert mailer.count == 2 * count, mailer.count
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the run's peak
    # the same PDFs rendered alone, as the reference (streamed, like the run)
    count_rendered = 0
    begin = time.perf_counter()
    with app.store.transaction() as tx:
        for invoice in tx.invoices_of_account(provider.id):
            render_invoice(invoice)
            count_rendered += 1
    render_seconds = time.perf_counter() - begin
    return {
        "run_seconds": run_seconds,
        "render_seconds": render_seconds,
        "rss_mb": rss_mb,
        "invoices": count_rendered,
    }


def _measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(count), str(Path(tmp) / "monthend.db")],
            check=True,
            capture_output=True,
            text=True,
            cwd=HERE,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(scale: int = 1) -> list[Row]:
    small, large = 1_000 * scale, 10_000 * scale
    a = _measure(small)
    b = _measure(large)
    ratio = b["run_seconds"] / b["render_seconds"]
    return [
        {
            "name": f"month-end run, {large} subscriptions ({int(b['invoices'])} invoices)",
            "value": round(b["run_seconds"], 1),
            "unit": "s",
        },
        {"name": "rendering the same PDFs alone", "value": round(b["render_seconds"], 1), "unit": "s"},
        {"name": "month-end run / render alone", "value": round(ratio, 2), "unit": "×", "target": "<= 1.5"},
        {"name": f"peak RSS, {small} subscriptions", "value": round(a["rss_mb"]), "unit": "MB"},
        {"name": f"peak RSS, {large} subscriptions", "value": round(b["rss_mb"]), "unit": "MB"},
        {
            "name": "peak RSS growth",
            "value": round(b["rss_mb"] - a["rss_mb"]),
            "unit": "MB",
            "target": "<= 50",
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("PYTHONHASHSEED", "0")
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3])))
    else:
        for row in run():
            print(row)
