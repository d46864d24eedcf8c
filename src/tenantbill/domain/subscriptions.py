"""Plans, subscriptions and usage: what is due on a date, as pure functions.

Plan fees are billed in advance at the start of each period of the plan's
cycle; usage and adjustments are billed in arrears per monthly period counted
from the anchor, also on yearly plans. A subscription keeps two cursors (the
next fee period and the next usage period), so finding what is due never
scans the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import attrs

from tenantbill.domain.billing import BillingCycle, Period
from tenantbill.domain.invoices import Line
from tenantbill.domain.money import normalize_currency, to_decimal
from tenantbill.domain.text import CODE_MAX, NAME_MAX, one_line
from tenantbill.errors import InvalidInput

__all__ = ["Plan", "PlanChange", "Subscription", "Usage", "usage_item", "usage_lines"]


def _code(value: object) -> str:
    return one_line(value, "a plan's code", max_length=CODE_MAX)


def _plan_name(value: object) -> str:
    return one_line(value, "a plan's name", max_length=NAME_MAX)


def usage_item(value: object) -> str:
    """What was used (printed as the invoice line's description): one line of at most 200 characters.

    Raises :class:`InvalidInput` saying what to fix.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput("item names what was used (non-empty text)")
    return one_line(value, "a usage item", max_length=NAME_MAX)


def _price(value: object) -> Decimal:
    price = to_decimal(value, "price")
    if price < 0:
        raise InvalidInput(f"a plan's price cannot be negative, got {price}")
    return price


def _rate(value: object) -> Decimal:
    rate = to_decimal(value, "vat_rate")
    if not Decimal(0) <= rate < 1:
        raise InvalidInput(f"vat_rate is a fraction in [0, 1), got {rate}")
    return rate


def _cycle(value: object) -> BillingCycle:
    if not isinstance(value, BillingCycle):
        raise InvalidInput("cycle must be a BillingCycle (MONTHLY, YEARLY or every(months=n))")
    return value


@attrs.frozen
class Plan:
    """A priced plan on a billing cycle; its fee is billed in advance each period."""

    code: str = attrs.field(converter=_code)
    name: str = attrs.field(converter=_plan_name)
    price: Decimal = attrs.field(converter=_price)
    currency: str = attrs.field(default="NOK", converter=normalize_currency)
    cycle: BillingCycle = attrs.field(default=BillingCycle.MONTHLY, validator=lambda _i, _a, v: _cycle(v))
    vat_rate: Decimal = attrs.field(default=Decimal(0), converter=_rate)


@attrs.frozen
class PlanChange:
    """The plan in force from ``on`` (a date in the provider's calendar)."""

    on: date
    plan: Plan


@attrs.frozen
class Usage:
    """Metered usage, an add-on or a one-off adjustment, billed in arrears."""

    id: str
    subscription_id: str
    on: date
    item: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: Decimal
    recorded_at: datetime


@attrs.frozen
class Subscription:
    """A customer account's plan with a provider account, and where its billing stands.

    ``fee_n`` is the index of the next fee period to bill (periods of the
    current plan's cycle from ``fee_anchor``); ``usage_n`` the next monthly
    usage period (from ``anchor``). ``cancel_at`` ends service at a period end.
    """

    id: str
    provider_id: str
    customer_id: str
    anchor: date
    plans: tuple[PlanChange, ...]
    fee_anchor: date
    fee_n: int = 0
    usage_n: int = 0
    cancel_at: date | None = None

    @property
    def plan(self) -> Plan:
        """The plan in force now (the latest change)."""
        return self.plans[-1].plan

    def plan_at(self, day: date) -> Plan:
        """The plan in force on ``day``."""
        current = self.plans[0].plan
        for change in self.plans:
            if change.on > day:
                break
            current = change.plan
        return current

    def fee_period(self, n: int) -> Period:
        """The n-th fee period of the current plan's cycle."""
        return self.plan.cycle.period(self.fee_anchor, n)

    def usage_period(self, n: int) -> Period:
        """The n-th monthly usage period counted from the anchor."""
        return BillingCycle.MONTHLY.period(self.anchor, n)

    @property
    def next_fee_date(self) -> date | None:
        """When the next plan fee is due (its period's start), or ``None`` after cancellation."""
        start = self.fee_period(self.fee_n).start
        if self.cancel_at is not None and start >= self.cancel_at:
            return None
        return start

    @property
    def next_usage_date(self) -> date | None:
        """When the next usage period is billed (its end), or ``None`` after cancellation."""
        period = self.usage_period(self.usage_n)
        if self.cancel_at is not None and period.start >= self.cancel_at:
            return None
        return period.end

    @property
    def next_due(self) -> date | None:
        """The first date with anything to bill, or ``None`` if nothing is left."""
        dates = [d for d in (self.next_fee_date, self.next_usage_date) if d is not None]
        return min(dates) if dates else None


def usage_lines(usages: Sequence[Usage]) -> list[Line]:
    """Invoice lines for a period's usage: equal items at equal prices are summed."""
    totals: dict[tuple[str, Decimal, Decimal], Decimal] = {}
    for usage in usages:
        key = (usage.item, usage.unit_price, usage.vat_rate)
        totals[key] = totals.get(key, Decimal(0)) + usage.quantity
    return [
        Line(description=item, quantity=quantity, unit_price=price, vat_rate=rate)
        for (item, price, rate), quantity in totals.items()
        if quantity
    ]
