"""Billing cycles: which days a subscription's n-th period covers, and prorating.

A subscription's periods are half-open ``[start, end)`` ranges of calendar
days in the account's time zone, counted from an anchor date. The n-th period
starts ``n × months`` months after the anchor, on the anchor's day of the
month, clamped to the month's last day. Every start is computed from the
anchor, never from the previous period, so a clamp never drifts: anchored on
Jan 31, a monthly plan runs Jan 31 → Feb 28 (Feb 29 in leap years) → Mar 31;
a yearly plan anchored on Feb 29 renews on Feb 28 in common years.

Everything here is pure integer arithmetic on :class:`datetime.date`, fast
enough to compute periods on the fly instead of storing them.
"""

from __future__ import annotations

import functools
from calendar import monthrange
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import ClassVar

import attrs

from tenantbill.domain.money import round_money, to_decimal
from tenantbill.errors import InvalidInput, InvalidPeriod

__all__ = ["BillingCycle", "Period", "local_date", "prorate"]

_ONE_DAY = timedelta(days=1)
_CENT = Decimal("0.01")


def _require_date(value: object, what: str) -> date:
    # A datetime is a date subclass, but mixing the two silently breaks
    # comparisons and day counts: demand a calendar date.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidPeriod(
            f"{what} must be a date, not {type(value).__name__}: "
            "convert instants with local_date(instant, timezone) first"
        )
    return value


def _check_start(instance: Period, attribute: attrs.Attribute[date], value: date) -> None:
    _require_date(value, "a period's start")


def _check_end(instance: Period, attribute: attrs.Attribute[date], value: date) -> None:
    _require_date(value, "a period's end")
    if value <= instance.start:
        raise InvalidPeriod(
            f"a period must end after it starts: start {instance.start}, end {value} "
            "(the end is excluded: a one-day period on 2026-03-01 ends 2026-03-02)"
        )


@attrs.frozen
class Period:
    """A half-open range of calendar days ``[start, end)``: `end` is the first day after it."""

    start: date = attrs.field(validator=_check_start)
    end: date = attrs.field(validator=_check_end)

    @property
    def days(self) -> int:
        """The number of days in the period."""
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        """The last day included in the period (``end`` − 1 day), as printed on invoices."""
        return self.end - _ONE_DAY

    def __contains__(self, day: object) -> bool:
        """Whether `day` is one of the period's days (`start` included, `end` excluded)."""
        return self.start <= _require_date(day, "the day to look up") < self.end

    def overlaps(self, other: Period) -> bool:
        """Whether the two periods share at least one day."""
        return self.start < other.end and other.start < self.end


# The calculator's own periods are valid by construction: setting the slots
# directly skips the validators and makes period() several times faster.
_new_object = object.__new__
_set_start = Period.__dict__["start"].__set__
_set_end = Period.__dict__["end"].__set__


def _period(start: date, end: date) -> Period:
    period = _new_object(Period)
    _set_start(period, start)
    _set_end(period, end)
    return period


def _check_months(instance: BillingCycle, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidPeriod(f"a billing cycle must be a whole number of months >= 1, got {value!r}")


_NAMES = {1: "monthly", 3: "quarterly", 6: "half-yearly", 12: "yearly"}


@attrs.frozen
class BillingCycle:
    """A cycle of a whole number of months: ``MONTHLY``, ``YEARLY`` or ``every(months=n)``."""

    MONTHLY: ClassVar[BillingCycle]
    YEARLY: ClassVar[BillingCycle]

    months: int = attrs.field(validator=_check_months)

    @classmethod
    def every(cls, months: int) -> BillingCycle:
        """Return the cycle of `months` months (``every(months=3)`` is quarterly)."""
        return cls(months)

    @property
    def name(self) -> str:
        """A human name: "monthly", "quarterly", "half-yearly", "yearly" or "every n months"."""
        return _NAMES.get(self.months, f"every {self.months} months")

    def start_of(self, anchor: date, n: int) -> date:
        """Return the first day of period `n` (the anchor's day, clamped to the month's end)."""
        if type(anchor) is not date:
            _require_date(anchor, "the anchor")
        if type(n) is not int or n < 0:
            _require_index(n)
        return _shift(anchor, n * self.months)

    def period(self, anchor: date, n: int) -> Period:
        """Return period `n` (0 is the period that starts on the anchor)."""
        # The exact-type tests are the fast path; anything else gets the full check.
        if type(anchor) is not date:
            _require_date(anchor, "the anchor")
        if type(n) is not int or n < 0:
            _require_index(n)
        # Both bounds inline rather than through _shift(): period() is the hot path.
        months = self.months
        year, day = anchor.year, anchor.day
        first = anchor.month - 1 + n * months
        after = first + months
        return _period(
            _clamped_date(year + first // 12, first % 12 + 1, day),
            _clamped_date(year + after // 12, after % 12 + 1, day),
        )

    def period_containing(self, anchor: date, day: date) -> Period:
        """Return the period whose ``[start, end)`` holds `day`."""
        _require_date(anchor, "the anchor")
        _require_date(day, "the day to look up")
        if day < anchor:
            raise InvalidPeriod(f"{day} is before the anchor {anchor}: no period holds it")
        months = self.months
        # The n-th start lies in month anchor + n × months, so the month
        # difference gives n exactly unless the day of the month is earlier
        # than the (clamped) anchor day; then it is the period before.
        n = ((day.year - anchor.year) * 12 + day.month - anchor.month) // months
        start = _shift(anchor, n * months)
        if start > day:
            return _period(_shift(anchor, (n - 1) * months), start)
        return _period(start, _shift(anchor, (n + 1) * months))

    def periods_until(self, anchor: date, until: date) -> Iterator[tuple[int, Period]]:
        """Yield ``(n, period)`` for every period that starts before `until` (exclusive).

        `until` is excluded, like a period's end: to include a period starting
        on the run date ``as_of``, pass ``as_of + timedelta(days=1)``.
        """
        _require_date(anchor, "the anchor")
        _require_date(until, "until")
        months = self.months
        n = 0
        start = anchor
        while start < until:
            end = _shift(anchor, (n + 1) * months)
            yield n, _period(start, end)
            n += 1
            start = end


BillingCycle.MONTHLY = BillingCycle(1)
BillingCycle.YEARLY = BillingCycle(12)


def _require_index(n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidPeriod(f"a period number must be a whole number >= 0, got {n!r}")


def _shift(anchor: date, months: int) -> date:
    """Return `anchor` moved `months` months ahead, its day clamped to the month's end."""
    index = anchor.month - 1 + months
    return _clamped_date(anchor.year + index // 12, index % 12 + 1, anchor.day)


def _clamped_date(year: int, month: int, day: int) -> date:
    """Return ``date(year, month, day)``, with `day` clamped to the month's last day."""
    # Only February is shorter than 30 days and only day 31 overflows the
    # other short months: the test spares most calls to monthrange().
    if day > 28 and (day == 31 or month == 2):
        day = min(day, monthrange(year, month)[1])
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidPeriod(f"a period in the year {year} is beyond the calendar") from None


def prorate(
    amount: Decimal,
    period: Period,
    start: date,
    end: date,
    *,
    currency: str | None = None,
) -> Decimal:
    """Return the share of `amount` for the days of ``[start, end)`` within `period`.

    The share is by days, rounded half-up to two decimals, or to the minor
    unit of `currency` when given. Days of ``[start, end)`` outside the period
    are not counted; an empty range ``[d, d)`` is worth zero, and a non-empty
    range that shares no day with the period is refused.
    """
    value = to_decimal(amount, "amount")
    if not isinstance(period, Period):
        raise InvalidPeriod(f"period must be a Period, not {type(period).__name__}")
    if start == end and isinstance(start, date) and not isinstance(start, datetime):
        return _rounded(value * 0, currency)
    span = Period(start, end)
    if not span.overlaps(period):
        raise InvalidPeriod(f"[{start}, {end}) shares no day with the period [{period.start}, {period.end})")
    days = (min(end, period.end) - max(start, period.start)).days
    return _rounded(value * days / period.days, currency)


def _rounded(share: Decimal, currency: str | None) -> Decimal:
    if currency is not None:
        return round_money(share, currency)
    try:
        return share.quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise InvalidInput(f"amount {share} is too large to prorate") from None


def local_date(instant: datetime, timezone: str) -> date:
    """Return the calendar date of the aware `instant` in the IANA zone `timezone`."""
    if not isinstance(instant, datetime):
        raise InvalidInput(f"an instant must be a datetime, not {type(instant).__name__}")
    if instant.utcoffset() is None:
        raise InvalidInput(f"{instant} has no time zone: pass an aware datetime, e.g. with tzinfo=UTC")
    local = instant.astimezone(_zone(timezone))
    return date(local.year, local.month, local.day)


def _zone(name: object) -> tzinfo:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a time zone must be an IANA name such as 'Europe/Oslo', got {name!r}")
    return _load_zone(name)


@functools.lru_cache(maxsize=64)
def _load_zone(name: str) -> tzinfo:
    """The zone for an IANA name, loaded once (zone files are read from disk)."""
    # Imported on first use: pendulum is only needed here, and importing
    # tenantbill should stay cheap.
    import pendulum

    try:
        return pendulum.timezone(name)
    except (ValueError, LookupError):
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Oslo'") from None
