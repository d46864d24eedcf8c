"""Billing-cycle calculator: ``period(anchor, n)`` against pendulum's ``add(months=n)``.

Target (docs PERFORMANCE.md): the calculator computes periods at >= 2x the rate
at which pendulum adds months to a date, measured side by side in the same
run, and at >= 100 000 periods per second. Each figure is the median of five
repetitions of ``100_000 x scale`` operations over the same (anchor, n) pairs:
anchors on every day of four years (so month ends and Feb 29 are covered) and
n from 0 to 119. The two measurements alternate so that both see the same
machine noise.

Run ``python benchmarks/bench_calculator.py [scale]`` to print a table.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from datetime import date, timedelta

import pendulum
from common import print_table, timed

from tenantbill.billing import BillingCycle

OPERATIONS = 100_000
REPETITIONS = 5
MONTHS_AHEAD = 120


def run(scale: int = 1) -> list[dict[str, object]]:
    """Measure both rates on ``100_000 x scale`` operations; return the result rows."""
    count = OPERATIONS * scale
    pairs = _pairs(count)
    pendulum_pairs = [(pendulum.Date(a.year, a.month, a.day), n) for a, n in pairs]

    calculator_times: list[float] = []
    pendulum_times: list[float] = []
    for _ in range(REPETITIONS):
        calculator_times.append(timed(lambda: _calculator_periods(pairs)))
        pendulum_times.append(timed(lambda: _pendulum_additions(pendulum_pairs)))

    calculator_rate = count / statistics.median(calculator_times)
    pendulum_rate = count / statistics.median(pendulum_times)
    return [
        {
            "name": "calculator: period(anchor, n)",
            "value": calculator_rate,
            "unit": "periods/s",
            "target": ">= 100000",
        },
        {
            "name": "reference: pendulum add(months=n)",
            "value": pendulum_rate,
            "unit": "additions/s",
        },
        {
            "name": "calculator / pendulum",
            "value": calculator_rate / pendulum_rate,
            "unit": "×",
            "target": ">= 2",
        },
    ]


def _pairs(count: int) -> list[tuple[date, int]]:
    first = date(2024, 1, 1)
    anchors = [first + timedelta(days=offset) for offset in range(4 * 365 + 1)]
    # Steps coprime with the list lengths spread anchors and n independently.
    return [(anchors[(i * 7) % len(anchors)], (i * 13) % MONTHS_AHEAD) for i in range(count)]


def _calculator_periods(pairs: Sequence[tuple[date, int]]) -> None:
    period = BillingCycle.MONTHLY.period
    for anchor, n in pairs:
        period(anchor, n)


def _pendulum_additions(pairs: Sequence[tuple[pendulum.Date, int]]) -> None:
    for anchor, n in pairs:
        anchor.add(months=n)


if __name__ == "__main__":
    print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
