"""The month-end run on a SQLite file: time against rendering the same PDFs alone, and peak memory.

The subscriptions are set up once per size (not timed) in a database file;
each repetition runs on a fresh copy of it, in a fresh process (peak RSS is
per process, and so is the run's own). The run covers billing (numbering,
storing, queueing) and delivery (rendering each PDF, building each e-mail,
sending to an in-memory mailer that counts messages). Then the same process
renders the same PDFs alone, as the reference. Medians of ``REPEATS``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

Row = dict[str, object]
HERE = Path(__file__).resolve().parent
REPEATS = 3
SETUP_AT = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
RUN_AT = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)


def setup(count: int, path: str) -> None:
    """A provider and ``count`` customers, each with a monthly subscription and some usage."""
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    store = SqlStore(f"sqlite:///{path}")
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False), clock=FixedClock(SETUP_AT))
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
        sub = app.subscriptions.start(user.id, provider.id, customer.id, plan, anchor=date(2026, 1, 1))
        app.subscriptions.record_usage(
            _owner.id,
            sub.id,
            item="Ekstra domene",
            quantity=Decimal(1 + i % 3),
            unit_price=Decimal("49"),
            at=date(2026, 1, 10),
        )
    store.close()
    print(json.dumps({"provider": provider.id}))


def child(count: int, path: str, provider_id: str) -> dict[str, float]:
    """The timed run on the database at ``path``, then rendering its PDFs alone."""
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.render.pdf import render_invoice
    from tenantbill.sql import SqlStore

    mailer = MemoryMailer(keep=False)
    app = tb.Tenantbill(store=SqlStore(f"sqlite:///{path}"), mailer=mailer, clock=FixedClock(RUN_AT))
    with app.store.transaction() as tx:  # open the file and compile the statements before the clock
        tx.accounts.get(provider_id)
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
        for invoice in tx.invoices.of_account(provider_id):
            render_invoice(invoice)
            count_rendered += 1
    render_seconds = time.perf_counter() - begin
    return {
        "run_seconds": run_seconds,
        "render_seconds": render_seconds,
        "rss_mb": rss_mb,
        "invoices": count_rendered,
    }


def _python(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=HERE
    )
    return out.stdout.strip().splitlines()[-1]


def _measure(count: int, repeats: int) -> dict[str, float]:
    """Medians over ``repeats`` runs, each on a fresh copy of one set-up database."""
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        provider = json.loads(_python("--setup", str(count), str(template)))["provider"]
        runs = []
        for n in range(repeats):
            copy = Path(tmp) / f"run{n}.db"
            shutil.copyfile(template, copy)
            runs.append(json.loads(_python("--child", str(count), str(copy), provider)))
            copy.unlink()
    ratios = [r["run_seconds"] / r["render_seconds"] for r in runs]
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    median["ratio"] = statistics.median(ratios)
    median["ratio_min"], median["ratio_max"] = min(ratios), max(ratios)
    return median


def run(scale: int = 1) -> list[Row]:
    small, large = 1_000 * scale, 10_000 * scale
    a = _measure(small, REPEATS)
    b = _measure(large, REPEATS)
    spread = f"{b['ratio_min']:.2f}–{b['ratio_max']:.2f}"
    return [
        {
            "name": f"month-end run, {large} subscriptions ({int(b['invoices'])} invoices)",
            "value": round(b["run_seconds"], 1),
            "unit": f"s (median of {REPEATS})",
        },
        {"name": "rendering the same PDFs alone", "value": round(b["render_seconds"], 1), "unit": "s"},
        {
            "name": "month-end run / render alone",
            "value": round(b["ratio"], 2),
            "unit": f"× (range {spread})",
            "target": "<= 1.5",
        },
        {"name": f"  the same at {small} subscriptions", "value": round(a["ratio"], 2), "unit": "×"},
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
    os.environ.setdefault("PYTHONHASHSEED", "0")
    if sys.argv[1:2] == ["--setup"]:
        setup(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3], sys.argv[4])))
    else:
        for row in run():
            print(row)
