"""tenantbill on PostgreSQL: issuing against pgbench on the same server, and the month-end run.

- Issuing: 1, 4 and 8 processes issue invoices on ONE account, each process
  with its own ``Tenantbill`` on its own ``SqlStore``; the numbers must come
  out exactly 1..total. Side by side, pgbench's single-row ``UPDATE`` rate
  with the same number of clients on the same server: the practical limit of
  one serialized counter, which is what an account's invoice series is.
- The month-end run: 10 000 subscriptions (setup not timed), then
  ``billing.run`` and ``billing.deliver`` (rendering every PDF, sending to a
  counting ``MemoryMailer``) with 1 worker process and with 4 at once.

Starts throwaway PostgreSQL 15 servers (``dev.postgres()``): one with
PostgreSQL's default durability, one with ``fsync=off`` (see ``run``); works
in databases of its own, dropped after.

    python benchmarks/run.py --only pg
    python benchmarks/bench_pg.py [--quick]
"""

from __future__ import annotations

import multiprocessing
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import dev  # noqa: E402  (the project's dev.py: starts the throwaway server)
from common import START, Row, draft  # noqa: E402

PGBENCH = dev.PG_BIN / "pgbench"
CLIENTS = (1, 4, 8)
WORKERS = (1, 4)
BILLING_DAY = date(2026, 2, 1)

# ---------------------------------------------------------------- the server


def _admin(url: str) -> Any:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    return engine.connect()


@contextmanager
def _database(server: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server (a copy of ``template`` if given), dropped after."""
    from sqlalchemy.engine import make_url

    name = f"tenantbill_bench_{secrets.token_hex(5)}"
    copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
    with _admin(server) as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(server) as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _in_processes(target: Callable[..., None], calls: list[tuple[Any, ...]]) -> list[Any]:
    """``target(*args, start, results)`` in a new (spawned) process per call; their results, in order.

    Each process gets ready, then waits at ``start`` for the others, so the
    timed parts begin together.
    """
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(calls))
    results = context.Queue()
    processes = [
        context.Process(target=_child, args=(target, index, args, start, results))
        for index, args in enumerate(calls)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=1800) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
    errors = [value for value in outcomes.values() if isinstance(value, str)]
    if errors:
        raise RuntimeError("a benchmark process failed:\n" + "\n".join(errors))
    return [outcomes[index] for index in range(len(calls))]


def _child(target: Callable[..., Any], index: int, args: tuple[Any, ...], start: Any, results: Any) -> None:
    import traceback

    try:
        results.put((index, target(*args, start)))
    except BaseException:
        start.abort()
        results.put((index, traceback.format_exc()))


# ---------------------------------------------------------------- issuing


def _issuer(url: str, owner_id: str, account_id: str, count: int, index: int, start: Any) -> dict[str, Any]:
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    app = tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer(keep=False), clock=FixedClock(START))
    d = draft()
    # Warm up on an account of its own: connection, compiled statements, the issuing code.
    warm_owner, warm = app.accounts.sign_up(name=f"Warm {index} AS", email=f"warm{index}@example.com")
    app.invoices.issue(warm_owner.id, warm.id, d)
    start.wait()
    begin, cpu = time.monotonic(), time.process_time()
    numbers = [app.invoices.issue(owner_id, account_id, d).sequence for _ in range(count)]
    end, cpu = time.monotonic(), time.process_time() - cpu
    app.store.close()  # type: ignore[attr-defined]
    return {"begin": begin, "end": end, "numbers": numbers, "cpu": cpu / count}


def _issue_rate(url: str, processes: int, count: int) -> tuple[float, float, int, int]:
    """Invoices per second with ``processes`` processes issuing ``count`` each on one new account.

    Also the issuing processes' own CPU time per invoice (the median), and
    (duplicates, gaps) of the numbers, as the processes got them and as stored.
    """
    import tenantbill as tb
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    store = SqlStore(url)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False))
    owner, account = app.accounts.sign_up(name="Bench AS", email=f"bench-{secrets.token_hex(4)}@example.com")
    runs = _in_processes(
        _issuer, [(url, owner.id, account.id, count, secrets.randbelow(10**9)) for _ in range(processes)]
    )
    seconds = max(r["end"] for r in runs) - min(r["begin"] for r in runs)
    got = sorted(n for r in runs for n in r["numbers"])
    with store.transaction() as tx:
        stored = [invoice.sequence for invoice in tx.invoices.of_account(account.id)]
    store.close()
    total = processes * count
    expected = list(range(1, total + 1))
    duplicates = (len(got) - len(set(got))) + (len(stored) - len(set(stored)))
    gaps = len(set(expected) - set(got)) + len(set(expected) - set(stored))
    if got != expected or stored != expected:
        print(f"  numbering check failed: {processes} processes, {duplicates} duplicates, {gaps} gaps")
    return total / seconds, statistics.median(r["cpu"] for r in runs), duplicates, gaps


def _pgbench_tps(url: str, clients: int, seconds: int) -> float:
    """pgbench's transactions per second for a single-row UPDATE with ``clients`` clients."""
    from sqlalchemy.engine import make_url

    with _admin(url) as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS counter")
        connection.exec_driver_sql("CREATE TABLE counter (id integer PRIMARY KEY, n bigint NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (1, 0)")
    parsed = make_url(url)
    folder = Path(tempfile.mkdtemp(prefix="tenantbill-pgbench-"))
    try:
        folder.chmod(0o755)  # readable by the postgres user pgbench runs as
        script = folder / "update.sql"
        script.write_text("UPDATE counter SET n = n + 1 WHERE id = 1;\n")
        script.chmod(0o644)
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        command = [
            *as_user,
            str(PGBENCH),
            "-n",
            f"-c{clients}",
            f"-j{clients}",
            f"-T{seconds}",
            "-f",
            str(script),
            "-h",
            parsed.host or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            parsed.database or "postgres",
        ]
        env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out) or re.search(
        r"tps = ([\d.]+)", out
    )
    if match is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{out}")
    return float(match.group(1))


def _settings(url: str) -> str:
    """How the server makes commits durable, as its settings say."""
    with _admin(url) as connection:
        fsync = connection.exec_driver_sql("SHOW fsync").scalar_one()
        synchronous = connection.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    return f"fsync={fsync}, synchronous_commit={synchronous}"


def _issuing(server: str, count: int, seconds: int, repeats: int, *, target: bool) -> list[Row]:
    rows: list[Row] = []
    with _database(server) as url:
        from tenantbill.sql import migrate

        migrate.upgrade(url)
        config = _settings(url)
        print(f"  (issuing on a server with {config})", flush=True)
        for clients in CLIENTS:
            ours, theirs, cpus, duplicates, gaps = [], [], [], 0, 0
            for _ in range(repeats):  # side by side, alternating
                rate, cpu, dup, gap = _issue_rate(url, clients, count)
                ours.append(rate)
                cpus.append(cpu)
                duplicates, gaps = duplicates + dup, gaps + gap
                theirs.append(_pgbench_tps(url, clients, seconds))
            rate, tps = statistics.median(ours), statistics.median(theirs)
            spread = f"{min(ours):.0f}–{max(ours):.0f}"
            rows += [
                {
                    "name": f"issue, PostgreSQL ({config}), {clients} process(es) × {count} on one account",
                    "value": round(rate),
                    "unit": f"invoices/s (range {spread})",
                },
                {
                    "name": f"  client CPU per invoice, {clients} process(es)",
                    "value": round(statistics.median(cpus) * 1000, 3),
                    "unit": "ms",
                },
                {
                    "name": f"pgbench single-row UPDATE, {clients} client(s)",
                    "value": round(tps),
                    "unit": f"tps (range {min(theirs):.0f}–{max(theirs):.0f})",
                },
                {
                    "name": f"issue / pgbench, {clients} client(s) ({config})",
                    "value": round(rate / tps, 3),
                    "unit": "×",
                    **({"target": ">= 0.5"} if clients == 8 and target else {}),
                },
                {
                    "name": f"numbering, {clients} process(es): duplicates + gaps over {repeats} runs",
                    "value": duplicates + gaps,
                    "unit": "",
                    "target": "0",
                },
            ]
    return rows


# ---------------------------------------------------------------- month-end


def _populate(url: str, provider_id: str, biller_id: str, first: int, count: int, start: Any) -> int:
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    clock = FixedClock(datetime(2026, 1, 31, 8, 0, tzinfo=UTC))
    app = tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer(keep=False), clock=clock)
    plan = tb.Plan(code="web", name="Webhotell Pluss", price=Decimal("149"), vat_rate=Decimal("0.25"))
    for i in range(first, first + count):
        user, customer = app.accounts.sign_up(
            name=f"Kunde {i} AS", email=f"kunde{i}@example.no", address=f"Gate {i}\n0155 Oslo"
        )
        app.users.set_invoice_emails(user.id, enabled=True)
        sub = app.subscriptions.start(user.id, provider_id, customer.id, plan, anchor=date(2026, 1, 1))
        app.subscriptions.record_usage(
            biller_id,
            sub.id,
            item="Ekstra domene",
            quantity=Decimal(1 + i % 3),
            unit_price=Decimal("49"),
            at=date(2026, 1, 10),
        )
    app.store.close()  # type: ignore[attr-defined]
    return count


def _month_end_data(url: str, subscriptions: int) -> str:
    """The provider and its subscribed customers, as in bench_monthend; the provider's id."""
    import tenantbill as tb
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore, migrate

    migrate.upgrade(url)
    store = SqlStore(url)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False))
    _owner, provider = app.accounts.sign_up(
        name="Skyhost AS",
        email="ola@skyhost.example.no",
        org_number="974760673",
        bank_account="86011117947",
        vat_registered=True,
    )
    store.close()
    parts = 4
    share = -(-subscriptions // parts)
    calls = [
        (url, provider.id, _owner.id, first, min(share, subscriptions - first))
        for first in range(0, subscriptions, share)
    ]
    _in_processes(_populate, calls)
    return provider.id


def _month_end_worker(url: str, start: Any) -> dict[str, Any]:
    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    mailer = MemoryMailer(keep=False)
    clock = FixedClock(datetime(2026, 2, 1, 6, 0, tzinfo=UTC))
    app = tb.Tenantbill(store=SqlStore(url), mailer=mailer, clock=clock)
    with app.store.transaction() as tx:  # connect and compile before the clock starts
        tx.accounts.get("warm-up")
    start.wait()
    begin = time.monotonic()
    report = app.billing.run(BILLING_DAY)
    billed = time.monotonic()
    delivery = app.billing.deliver()
    end = time.monotonic()
    app.store.close()  # type: ignore[attr-defined]
    return {
        "begin": begin,
        "billed": billed,
        "end": end,
        "issued": report.issued,
        "sent": delivery.sent,
        "failed": delivery.failed,
        "mailed": mailer.count,
    }


def _month_end_check(url: str, provider_id: str) -> dict[str, int]:
    from tenantbill.sql import SqlStore

    store = SqlStore(url)
    with store.transaction() as tx:
        numbers = [invoice.sequence for invoice in tx.invoices.of_account(provider_id)]
    store.close()
    with _admin(url) as connection:
        unsent = connection.exec_driver_sql("SELECT count(*) FROM tenantbill_outbox WHERE sent_at IS NULL")
        queued = connection.exec_driver_sql("SELECT count(*) FROM tenantbill_outbox")
        unsent_count, queued_count = unsent.scalar_one(), queued.scalar_one()
    return {
        "invoices": len(numbers),
        "gapless": int(numbers == list(range(1, len(numbers) + 1))),
        "queued": queued_count,
        "unsent": unsent_count,
    }


def _month_end(server: str, subscriptions: int) -> list[Row]:
    rows: list[Row] = []
    with _database(server) as template:
        begin = time.perf_counter()
        provider_id = _month_end_data(template, subscriptions)
        print(f"  (setup of {subscriptions} subscriptions: {time.perf_counter() - begin:.0f} s)", flush=True)
        seconds: dict[int, float] = {}
        for workers in WORKERS:
            with _database(server, template=template) as url:
                runs = _in_processes(_month_end_worker, [(url,)] * workers)
                seconds[workers] = max(r["end"] for r in runs) - min(r["begin"] for r in runs)
                check = _month_end_check(url, provider_id)
            issued = sum(r["issued"] for r in runs)
            mailed = sum(r["mailed"] for r in runs)
            failed = sum(r["failed"] for r in runs)
            ok = (
                issued == check["invoices"] == 2 * subscriptions
                and check["gapless"]
                and check["unsent"] == 0
                and failed == 0
                and mailed == check["queued"]
            )
            status = (
                "ok" if ok else f"CHECK FAILED: issued {issued}, mailed {mailed}, {check}, failed {failed}"
            )
            first = min(r["begin"] for r in runs)
            rows += [
                {
                    "name": f"month-end run, PostgreSQL, {subscriptions} subscriptions, {workers} worker(s)",
                    "value": round(seconds[workers], 1),
                    "unit": f"s ({issued} invoices, {mailed} e-mails; {status})",
                },
                {
                    "name": f"  of which billing (run), {workers} worker(s)",
                    "value": round(max(r["billed"] for r in runs) - first, 1),
                    "unit": "s",
                },
                {
                    "name": f"  invoices billed and delivered per second, {workers} worker(s)",
                    "value": round(issued / seconds[workers]),
                    "unit": "invoices/s",
                },
            ]
        rows.append(
            {
                "name": f"month-end speed-up, {WORKERS[-1]} workers / 1 ({os.cpu_count()} CPUs)",
                "value": round(seconds[WORKERS[0]] / seconds[WORKERS[-1]], 2),
                "unit": "×",
            }
        )
    return rows


# ---------------------------------------------------------------- the harness


def run(scale: int = 1, quick: bool = False) -> list[Row]:
    """The benchmark's rows; ``quick`` makes every size a tenth (not the recorded figures).

    Issuing is measured twice: on a server with PostgreSQL's default
    durability (every commit flushed to disk, as in production; the target
    applies here), and on the test suite's ``fsync=off`` server, where a
    commit costs almost nothing and the clients' CPU is all that is left. The
    month-end run uses the durable server. ``TENANTBILL_PG_URL``, if set, is
    used for the durable figures as it is configured (its settings are shown).
    """
    if not (dev.PG_BIN / "pg_ctl").exists() and not os.environ.get("TENANTBILL_PG_URL"):
        return [{"name": f"PostgreSQL not found in {dev.PG_BIN}: skipped", "value": 0, "unit": ""}]
    if not PGBENCH.exists():
        raise RuntimeError(f"pgbench not found at {PGBENCH}")
    divisor = 10 if quick else 1
    count, seconds = 1_000 * scale // divisor, 3 if quick else 10
    rows: list[Row] = []
    with dev.postgres(durable=True) as server:
        assert server is not None
        rows += _issuing(server, count=count, seconds=seconds, repeats=3, target=True)
        rows += _month_end(server, subscriptions=10_000 * scale // divisor)
    with dev.postgres(durable=False, reuse=False) as server:
        assert server is not None
        rows += _issuing(server, count=count, seconds=seconds, repeats=3, target=False)
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
