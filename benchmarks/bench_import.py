"""`import tenantbill` against `import pendulum, babel.numbers, attrs`, each in a fresh interpreter."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

Row = dict[str, object]


def _import_time(statement: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def run(scale: int = 1) -> list[Row]:
    repeats = 7 * scale
    bare = _import_time("pass", repeats)
    ours = _import_time("import tenantbill", repeats) - bare
    ref = _import_time("import pendulum, babel.numbers, attrs", repeats) - bare
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tenantbill; print(sorted({'fpdf', 'sqlalchemy'} & set(sys.modules)))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return [
        {"name": "import tenantbill", "value": round(ours * 1000, 1), "unit": "ms"},
        {"name": "import pendulum, babel.numbers, attrs", "value": round(ref * 1000, 1), "unit": "ms"},
        {"name": "import ratio", "value": round(ours / ref, 2), "unit": "×", "target": "<= 2"},
        {"name": "fpdf/sqlalchemy loaded by import", "value": heavy, "unit": "", "target": "[]"},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
