"""The benchmark harness: runs every ``bench_*.py``, prints a table and writes JSON.

    python benchmarks/run.py [--scale N] [--only NAME ...] [--json PATH]

Every target of docs/performance.md is a ratio measured side by side in the
same run, or a count; the figures are medians of several repetitions.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    parser = argparse.ArgumentParser(description="tenantbill benchmarks")
    parser.add_argument("--scale", type=int, default=1, help="multiply the work (10 for the growth check)")
    parser.add_argument("--only", nargs="*", default=None, help="benchmark names, e.g. pdf calculator")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n in args.only]
    results: dict[str, list[dict[str, object]]] = {}
    for name in names:
        print(f"== {name}", flush=True)
        gc.collect()  # what the benchmark before left behind is not this one's to collect
        begin = time.perf_counter()
        rows = importlib.import_module(f"bench_{name}").run(scale=args.scale)
        results[name] = rows
        for row in rows:
            target = f"  (target {row['target']})" if row.get("target") else ""
            value = row["value"]
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            print(f"  {row['name']:<58} {shown:>12} {row['unit']}{target}", flush=True)
        print(f"  [{time.perf_counter() - begin:.0f} s]", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "scale": args.scale}
    args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
