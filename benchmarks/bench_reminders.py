"""The reminder run on a SQLite file: time against rendering the same reminder PDFs alone.

Target (docs/performance.md, wave 2): a reminder run over 10 000 overdue
invoices (a reminder PDF and an e-mail each) takes at most 1.5x the time of
rendering the same reminder PDFs alone.

The overdue invoices are issued once (not timed) into a database file; each
repetition copies the file and runs ``app.invoices.remind_overdue`` on the
copy (per invoice: lock it, decide the fee, store the reminder, queue its
e-mail; a batch of invoices per transaction), then ``app.billing.deliver()``,
which renders each reminder PDF and builds and sends each e-mail (to an
in-memory mailer that counts them). Then the same process renders the same
reminders' PDFs alone, from the reminders the run made. Medians of
``REPEATS``; the two are measured in alternation so that they see the same
machine noise.

Run ``python benchmarks/bench_reminders.py [scale]`` to print a table.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

Row = dict[str, object]
REPEATS = 3
INVOICES = 10_000
ISSUED_AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
RUN_ON = date(2026, 2, 16)  # 14 days and more after the due dates: a fee on each


def setup(count: int, path: str) -> None:
    """A provider with ``count`` unpaid invoices to 50 customers, all overdue on ``RUN_ON``."""
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    store = SqlStore(f"sqlite:///{path}")
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False), clock=FixedClock(ISSUED_AT))
    owner, account = app.accounts.sign_up(
        name="Skyhost AS",
        email="ola@skyhost.example.no",
        org_number="974760673",
        bank_account="86011117947",
        vat_registered=True,
        kid="mod10",
        late_interest_rate=Decimal("0.1275"),
    )
    for i in range(count):
        n = i % 50
        draft = tb.InvoiceDraft(
            bill_to=tb.Party(
                name=f"Kunde {n} AS", address=f"Storgata {n}\n0155 Oslo", emails=[f"kunde{n}@example.no"]
            ),
            lines=[
                tb.Line(
                    description="Webhotell Pluss",
                    quantity=Decimal(1),
                    unit_price=Decimal(149),
                    vat_rate=Decimal("0.25"),
                ),
                tb.Line(
                    description="Ekstra domene",
                    quantity=Decimal(1 + i % 3),
                    unit_price=Decimal(50),
                    vat_rate=Decimal("0.25"),
                ),
            ],
            customer=f"kunde-{n}",
        )
        app.invoices.issue(owner.id, account.id, draft)
    app.billing.deliver()  # the invoices' own e-mails went out when they were issued
    store.close()


def _measure(source: Path, workdir: Path) -> tuple[float, float, int]:
    """One repetition: (seconds of the run, seconds of rendering its PDFs alone, reminders)."""
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.render.pdf import render_reminder
    from tenantbill.sql import SqlStore

    copy = workdir / "run.db"
    shutil.copyfile(source, copy)
    store = SqlStore(f"sqlite:///{copy}")
    clock = FixedClock(datetime(RUN_ON.year, RUN_ON.month, RUN_ON.day, 7, 0, tzinfo=UTC))
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False), clock=clock)
    with store.transaction() as tx:
        user = tx.users.by_email("ola@skyhost.example.no")
        assert user is not None
        account = tx.accounts.of_user(user.id)[0]
    begin = time.perf_counter()
    reminders = app.invoices.remind_overdue(user.id, account.id, on=RUN_ON)
    delivered = app.billing.deliver()
    run_seconds = time.perf_counter() - begin
    assert delivered.sent == len(reminders), (delivered, len(reminders))
    with store.transaction() as tx:
        pairs = [(tx.invoices.get(r.invoice_id), r) for r in reminders]
    begin = time.perf_counter()
    for invoice, reminder in pairs:
        assert invoice is not None
        render_reminder(invoice, reminder, interest_rate=account.late_interest_rate)
    render_seconds = time.perf_counter() - begin
    store.close()
    return run_seconds, render_seconds, len(reminders)


def run(scale: int = 1) -> list[Row]:
    """Measure the reminder run over ``10 000 x scale`` overdue invoices; return the rows."""
    count = INVOICES * scale
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        source = workdir / "overdue.db"
        setup(count, str(source))
        _measure(source, workdir)  # warm-up: fonts, compiled statements
        results = [_measure(source, workdir) for _ in range(REPEATS)]
    runs = [r[0] for r in results]
    renders = [r[1] for r in results]
    ratios = [r[0] / r[1] for r in results]
    reminded = results[0][2]
    return [
        {
            "name": f"reminder run + delivery, {reminded} overdue invoices (PDF + e-mail each)",
            "value": round(statistics.median(runs), 1),
            "unit": f"s (median of {REPEATS})",
        },
        {
            "name": "rendering the same reminder PDFs alone",
            "value": round(statistics.median(renders), 1),
            "unit": "s",
        },
        {
            "name": "reminder run / render alone",
            "value": round(statistics.median(ratios), 2),
            "unit": f"× (range {min(ratios):.2f}–{max(ratios):.2f})",
            "target": "<= 1.5",
        },
    ]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if sys.argv[1:] else 1):
        print(row)
