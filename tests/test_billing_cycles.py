"""Billing cycles: periods from an anchor, month-end clamping, prorating, local dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantbill.billing import BillingCycle, Period, local_date, prorate
from tenantbill.errors import InvalidInput, InvalidInvoice, InvalidPeriod

MONTHLY = BillingCycle.MONTHLY
YEARLY = BillingCycle.YEARLY
QUARTERLY = BillingCycle.every(months=3)


def starts(cycle: BillingCycle, anchor: date, count: int) -> list[date]:
    return [cycle.period(anchor, n).start for n in range(count)]


@st.composite
def month_ends(draw: st.DrawFn) -> date:
    """The last few days of a month: where clamping happens."""
    first_of_next = draw(st.dates(date(1900, 2, 1), date(2200, 12, 1))).replace(day=1)
    return first_of_next - timedelta(days=draw(st.integers(1, 4)))


anchors = st.one_of(st.dates(date(1900, 1, 1), date(2200, 12, 31)), month_ends())
cycles = st.sampled_from([1, 2, 3, 5, 6, 12, 24]).map(BillingCycle.every)
amounts = st.decimals(
    min_value=Decimal("-1000000"),
    max_value=Decimal("1000000"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


# Cycles


def test_every_one_month_is_monthly_and_every_twelve_is_yearly() -> None:
    assert BillingCycle.every(months=1) == MONTHLY
    assert BillingCycle.every(months=12) == YEARLY


@pytest.mark.parametrize(
    ("months", "name"),
    [
        (1, "monthly"),
        (3, "quarterly"),
        (6, "half-yearly"),
        (12, "yearly"),
        (2, "every 2 months"),
        (24, "every 24 months"),
    ],
)
def test_a_cycle_has_a_human_name(months: int, name: str) -> None:
    assert BillingCycle.every(months=months).name == name


@pytest.mark.parametrize("months", [0, -1, True, "1", 1.0])
def test_a_cycle_needs_a_whole_number_of_months_from_one(months: object) -> None:
    with pytest.raises(InvalidPeriod, match="whole number of months"):
        BillingCycle.every(months=months)  # type: ignore[arg-type]


# Periods from an anchor


def test_monthly_from_jan_31_clamps_to_feb_28_and_recovers_to_mar_31() -> None:
    assert starts(MONTHLY, date(2026, 1, 31), 5) == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]


def test_monthly_from_jan_31_in_a_leap_year_clamps_to_feb_29() -> None:
    assert starts(MONTHLY, date(2028, 1, 31), 3) == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_a_period_ends_where_the_next_one_starts() -> None:
    assert MONTHLY.period(date(2026, 1, 31), 1) == Period(date(2026, 2, 28), date(2026, 3, 31))


def test_yearly_from_feb_29_renews_on_feb_28_in_common_years() -> None:
    assert starts(YEARLY, date(2028, 2, 29), 5) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_quarterly_periods_keep_the_anchor_day_where_the_month_has_it() -> None:
    assert starts(QUARTERLY, date(2025, 11, 30), 5) == [
        date(2025, 11, 30),
        date(2026, 2, 28),
        date(2026, 5, 30),
        date(2026, 8, 30),
        date(2026, 11, 30),
    ]


def test_start_of_is_the_first_day_of_the_nth_period() -> None:
    assert MONTHLY.start_of(date(2026, 1, 31), 13) == date(2027, 2, 28)
    assert MONTHLY.start_of(date(2026, 1, 31), 14) == date(2027, 3, 31)


def test_a_negative_period_number_is_refused() -> None:
    with pytest.raises(InvalidPeriod, match=">= 0"):
        MONTHLY.period(date(2026, 1, 1), -1)


def test_an_instant_is_refused_where_a_calendar_date_is_needed() -> None:
    with pytest.raises(InvalidPeriod, match="local_date"):
        MONTHLY.period(datetime(2026, 1, 1, tzinfo=UTC), 0)


def test_a_pendulum_date_works_as_an_anchor() -> None:
    assert MONTHLY.period(pendulum.Date(2026, 1, 31), 1) == Period(date(2026, 2, 28), date(2026, 3, 31))


def test_a_period_beyond_the_calendar_is_an_error() -> None:
    with pytest.raises(InvalidPeriod, match="beyond the calendar"):
        YEARLY.period(date(9999, 1, 1), 0)


# Period values


def test_a_period_knows_its_days_and_its_last_day() -> None:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))
    assert march.days == 31
    assert march.last_day == date(2026, 3, 31)


def test_a_period_includes_its_start_and_excludes_its_end() -> None:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))
    assert date(2026, 3, 1) in march
    assert date(2026, 3, 31) in march
    assert date(2026, 4, 1) not in march
    assert date(2026, 2, 28) not in march


@pytest.mark.parametrize("end", [date(2026, 3, 1), date(2026, 2, 1)])
def test_a_period_must_end_after_it_starts(end: date) -> None:
    with pytest.raises(InvalidPeriod, match="must end after it starts"):
        Period(date(2026, 3, 1), end)


def test_periods_overlap_only_when_they_share_a_day() -> None:
    march = Period(date(2026, 3, 1), date(2026, 4, 1))
    assert not march.overlaps(Period(date(2026, 4, 1), date(2026, 5, 1)))
    assert march.overlaps(Period(date(2026, 3, 31), date(2026, 4, 2)))
    assert march.overlaps(Period(date(2026, 2, 1), date(2026, 5, 1)))


# Finding the period of a day


def test_the_first_day_of_a_period_belongs_to_that_period() -> None:
    anchor = date(2026, 1, 31)
    assert MONTHLY.period_containing(anchor, date(2026, 2, 28)) == Period(
        date(2026, 2, 28), date(2026, 3, 31)
    )


def test_the_end_of_a_period_belongs_to_the_next_period() -> None:
    anchor = date(2026, 1, 31)
    assert MONTHLY.period_containing(anchor, date(2026, 3, 31)) == Period(
        date(2026, 3, 31), date(2026, 4, 30)
    )


def test_the_day_before_a_period_starts_belongs_to_the_previous_one() -> None:
    anchor = date(2026, 1, 15)
    assert MONTHLY.period_containing(anchor, date(2026, 3, 14)) == Period(
        date(2026, 2, 15), date(2026, 3, 15)
    )


def test_the_anchor_itself_is_in_the_first_period() -> None:
    assert YEARLY.period_containing(date(2028, 2, 29), date(2028, 2, 29)) == YEARLY.period(
        date(2028, 2, 29), 0
    )


def test_a_day_before_the_anchor_has_no_period() -> None:
    with pytest.raises(InvalidPeriod, match="before the anchor"):
        MONTHLY.period_containing(date(2026, 1, 31), date(2026, 1, 30))


def test_periods_until_lists_every_period_that_starts_before_the_given_day() -> None:
    anchor = date(2026, 1, 31)
    listed = list(MONTHLY.periods_until(anchor, date(2026, 3, 31)))
    assert listed == [(0, MONTHLY.period(anchor, 0)), (1, MONTHLY.period(anchor, 1))]
    assert [n for n, _ in MONTHLY.periods_until(anchor, date(2026, 4, 1))] == [0, 1, 2]
    assert list(MONTHLY.periods_until(anchor, anchor)) == []


# Properties of the calculator


@given(anchors, cycles, st.integers(0, 1200))
def test_consecutive_periods_tile_the_calendar(anchor: date, cycle: BillingCycle, months: int) -> None:
    n = months // cycle.months
    this, following = cycle.period(anchor, n), cycle.period(anchor, n + 1)
    assert this.start < this.end
    assert this.end == following.start


@given(anchors, cycles, st.integers(0, 1200))
def test_a_period_is_determined_by_the_anchor_alone(anchor: date, cycle: BillingCycle, months: int) -> None:
    n = months // cycle.months
    reference = pendulum.Date(anchor.year, anchor.month, anchor.day)
    period = cycle.period(anchor, n)
    assert period.start == reference.add(months=n * cycle.months)
    assert period.end == reference.add(months=(n + 1) * cycle.months)


@given(anchors, cycles, st.integers(0, 30 * 366))
def test_every_day_from_the_anchor_falls_in_exactly_one_period(
    anchor: date, cycle: BillingCycle, offset: int
) -> None:
    day = anchor + timedelta(days=offset)
    holding = [period for _, period in cycle.periods_until(anchor, day + timedelta(days=1)) if day in period]
    assert holding == [cycle.period_containing(anchor, day)]


# Prorating


def test_half_of_a_thirty_day_month_costs_half_the_price() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    assert prorate(Decimal("300"), april, date(2026, 4, 16), date(2026, 5, 1)) == Decimal("150.00")


def test_prorating_rounds_a_half_cent_up() -> None:
    eight_days = Period(date(2026, 3, 1), date(2026, 3, 9))
    # 0.20 x 1/8 = 0.025: half-up gives 0.03 where banker's rounding would give 0.02.
    assert prorate(Decimal("0.20"), eight_days, date(2026, 3, 1), date(2026, 3, 2)) == Decimal("0.03")
    assert prorate(Decimal("-0.20"), eight_days, date(2026, 3, 1), date(2026, 3, 2)) == Decimal("-0.03")


def test_prorating_in_yen_rounds_to_whole_yen() -> None:
    two_days = Period(date(2026, 3, 1), date(2026, 3, 3))
    share = prorate(Decimal("1001"), two_days, date(2026, 3, 1), date(2026, 3, 2), currency="JPY")
    assert str(share) == "501"


def test_prorating_counts_only_the_days_inside_the_period() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    assert prorate(Decimal("300"), april, date(2026, 4, 16), date(2026, 6, 1)) == Decimal("150.00")


def test_prorating_a_range_outside_the_period_is_refused() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    with pytest.raises(InvalidPeriod, match="shares no day"):
        prorate(Decimal("300"), april, date(2026, 5, 1), date(2026, 5, 10))


def test_prorating_an_empty_range_is_zero() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    assert str(prorate(Decimal("300"), april, date(2026, 4, 10), date(2026, 4, 10))) == "0.00"
    assert str(prorate(Decimal("1001"), april, date(2026, 5, 10), date(2026, 5, 10), currency="JPY")) == "0"


def test_prorating_a_backwards_range_is_refused() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    with pytest.raises(InvalidPeriod, match="must end after it starts"):
        prorate(Decimal("300"), april, date(2026, 4, 10), date(2026, 4, 9))


def test_prorating_a_float_amount_is_refused() -> None:
    april = Period(date(2026, 4, 1), date(2026, 5, 1))
    with pytest.raises(InvalidInvoice, match="not a float"):
        prorate(300.0, april, april.start, april.end)  # type: ignore[arg-type]


@given(amounts, anchors, cycles)
def test_prorating_the_whole_period_gives_the_rounded_amount(
    amount: Decimal, anchor: date, cycle: BillingCycle
) -> None:
    period = cycle.period(anchor, 0)
    expected = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert prorate(amount, period, period.start, period.end) == expected


@given(amounts, anchors, cycles, st.data())
def test_the_two_parts_of_a_split_period_add_up_to_within_a_minor_unit(
    amount: Decimal, anchor: date, cycle: BillingCycle, data: st.DataObject
) -> None:
    period = cycle.period(anchor, 0)
    split = period.start + timedelta(days=data.draw(st.integers(1, period.days - 1)))
    first = prorate(amount, period, period.start, split, currency="NOK")
    second = prorate(amount, period, split, period.end, currency="NOK")
    assert abs(first + second - amount) <= Decimal("0.01")


# Local dates


OSLO = "Europe/Oslo"


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Spring forward (2026-03-29 01:00 UTC): 00:30 UTC is 01:30 CET, 01:30 UTC is 03:30 CEST.
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), date(2026, 3, 30)),
        # Fall back (2026-10-25 01:00 UTC): midnight is 22:00 UTC before, 23:00 UTC after.
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),
    ],
)
def test_local_date_follows_oslo_across_daylight_saving_changes(instant: datetime, expected: date) -> None:
    assert local_date(instant, OSLO) == expected


def test_an_instant_just_before_midnight_utc_is_already_the_next_day_in_oslo() -> None:
    assert local_date(datetime(2026, 1, 31, 23, 30, tzinfo=UTC), OSLO) == date(2026, 2, 1)
    assert local_date(datetime(2026, 6, 30, 22, 30, tzinfo=UTC), OSLO) == date(2026, 7, 1)


def test_local_date_accepts_an_instant_in_any_offset() -> None:
    new_york_evening = datetime(2026, 3, 8, 20, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert local_date(new_york_evening, OSLO) == date(2026, 3, 9)


def test_local_date_refuses_a_naive_datetime() -> None:
    with pytest.raises(InvalidInput, match="no time zone"):
        local_date(datetime(2026, 3, 29, 0, 30), OSLO)


@pytest.mark.parametrize("zone", ["Europe/Atlantis", "", "../etc/passwd"])
def test_local_date_refuses_an_unknown_time_zone(zone: str) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        local_date(datetime(2026, 3, 29, tzinfo=UTC), zone)
