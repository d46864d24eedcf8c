"""PostgreSQL issuing at 8 processes: two source trees side by side, alternating, on one server.

An experiment, not a target of the harness: it tells whether a change to the
issuing path moves the 8-process rate by more than this machine's noise.
Runs tenantbill from ``--a`` and from ``--b`` (two ``src`` folders, say a
``git worktree`` of the last commit and the working tree) in turn, each with
8 spawned processes issuing on one account, with pgbench in between; prints
each round and the medians. ``--burn-b N`` makes every issue of ``b`` first
spin N µs of CPU: what the client's CPU per invoice is worth.

    git worktree add /tmp/base HEAD
    python benchmarks/ab_pg_issue.py --a /tmp/base/src --b src --rounds 4
    python benchmarks/ab_pg_issue.py --a src --b src --burn-b 200
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_pg  # noqa: E402
import dev  # noqa: E402


def _use(src: str) -> None:
    """Import tenantbill (and the benchmarks' ``common``) from ``src`` from now on."""
    sys.path.insert(0, src)
    for name in [m for m in sys.modules if m.startswith("tenantbill") or m == "common"]:
        del sys.modules[name]


def _issuer(
    src: str, url: str, owner_id: str, account_id: str, count: int, burn_us: int, start: Any, out: Any
) -> None:
    _use(src)
    from common import START, draft

    import tenantbill as tb
    from tenantbill.clock import FixedClock
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    if not str(tb.__file__).startswith(src):
        raise RuntimeError(f"tenantbill imported from {tb.__file__}, not {src}")
    app = tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer(keep=False), clock=FixedClock(START))
    d = draft()
    tag = secrets.token_hex(4)
    warm_owner, warm = app.accounts.sign_up(name=f"Warm {tag} AS", email=f"warm-{tag}@example.com")
    for _ in range(30):
        app.invoices.issue(warm_owner.id, warm.id, d)
    burn, clock = burn_us * 1000, time.thread_time_ns
    start.wait()
    before, begin = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    numbers = []
    for _ in range(count):
        if burn:
            until = clock() + burn
            while clock() < until:
                pass
        numbers.append(app.invoices.issue(owner_id, account_id, d).sequence)
    end, after = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    app.store.close()  # type: ignore[attr-defined]
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    out.put((begin, end, cpu / count * 1e6, numbers))


def _rate(src: str, url: str, processes: int, count: int, burn_us: int) -> tuple[float, float]:
    """Invoices per second of ``processes`` processes on one new account, and their CPU per invoice (µs)."""
    _use(src)
    import tenantbill as tb
    from tenantbill.memory import MemoryMailer
    from tenantbill.sql import SqlStore

    store = SqlStore(url)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(keep=False))
    owner, account = app.accounts.sign_up(name="Bench AS", email=f"bench-{secrets.token_hex(4)}@example.com")
    store.close()
    context = multiprocessing.get_context("spawn")
    start, out = context.Barrier(processes), context.Queue()
    args = (src, url, owner.id, account.id, count, burn_us, start, out)
    workers = [context.Process(target=_issuer, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    numbers = sorted(n for r in results for n in r[3])
    if numbers != list(range(1, processes * count + 1)):
        raise RuntimeError("numbering check failed")
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    return processes * count / seconds, statistics.median(r[2] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", required=True, help="the src folder of variant a")
    parser.add_argument("--b", required=True, help="the src folder of variant b")
    parser.add_argument("--burn-b", type=int, default=0, help="µs of CPU spun before each issue of b")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--count", type=int, default=800, help="invoices per process")
    options = parser.parse_args()
    a, b = str(Path(options.a).resolve()), str(Path(options.b).resolve())
    got: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    tps: list[float] = []
    with dev.postgres(durable=True, reuse=False) as server, bench_pg._database(server) as url:
        assert server is not None
        _use(b)
        from tenantbill.sql import migrate

        migrate.upgrade(url)
        for round_ in range(options.rounds):
            order = [("a", a, 0), ("b", b, options.burn_b)]
            for name, src, burn in order if round_ % 2 == 0 else order[::-1]:
                got[name].append(_rate(src, url, options.processes, options.count, burn))
            tps.append(bench_pg._pgbench_tps(url, options.processes, 4))
            print(
                f"round {round_}: a {got['a'][-1][0]:.0f}/s ({got['a'][-1][1]:.0f} µs CPU), "
                f"b {got['b'][-1][0]:.0f}/s ({got['b'][-1][1]:.0f} µs CPU), pgbench {tps[-1]:.0f} tps",
                flush=True,
            )
    pgbench = statistics.median(tps)
    rate_a = statistics.median(r for r, _ in got["a"])
    rate_b = statistics.median(r for r, _ in got["b"])
    print(
        f"median: a {rate_a:.0f}/s ({rate_a / pgbench:.3f}× pgbench), "
        f"b {rate_b:.0f}/s ({rate_b / pgbench:.3f}×); b / a = {rate_b / rate_a:.3f}"
    )


if __name__ == "__main__":
    main()
