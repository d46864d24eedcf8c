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

from tenantbill.domain.accounts import Account
from tenantbill.domain.billing import BillingCycle, Period, prorate
from tenantbill.domain.invoices import InvoiceDraft, LedgerEntry, Line, Party, parse_vat_rate
from tenantbill.domain.money import normalize_currency, round_money, to_decimal, to_exact_decimal
from tenantbill.domain.text import CODE_MAX, NAME_MAX, one_line
from tenantbill.errors import InvalidInput

__all__ = [
    "Adjustment",
    "Billing",
    "Plan",
    "PlanChange",
    "PlanChangeResult",
    "Subscription",
    "Usage",
    "bill_due",
    "cancel",
    "change_plan",
    "subscribe",
    "usage_item",
    "usage_lines",
    "usage_record",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_MEMO_MAX = 1000


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
    price = to_exact_decimal(value, "price")
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
    key: str | None = None
    """The usage event's key (see ``app.metering.record``): recorded once per subscription."""


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

    def is_due(self, as_of: date) -> bool:
        """Whether anything is left to bill on or before ``as_of``."""
        due = self.next_due
        return due is not None and due <= as_of

    def usage_billed_on(self, due: date) -> Period | None:
        """The usage period :func:`bill_due` bills on ``due``, or ``None`` if no usage is billed then."""
        return self.usage_period(self.usage_n) if self.next_usage_date == due else None

    def fee_period_index(self, start: date) -> int:
        """The index of the current plan's fee period that starts on ``start``."""
        anchor = self.fee_anchor
        return ((start.year - anchor.year) * 12 + start.month - anchor.month) // self.plan.cycle.months


def subscribe(*, id: str, provider_id: str, customer_id: str, plan: Plan, anchor: date) -> Subscription:
    """A new subscription of the customer account to the provider's ``plan``, counted from ``anchor``.

    Raises :class:`InvalidInput` when both are one account: an account
    cannot subscribe to itself.
    """
    if customer_id == provider_id:
        raise InvalidInput("an account cannot subscribe to itself")
    return Subscription(
        id=id,
        provider_id=provider_id,
        customer_id=customer_id,
        anchor=anchor,
        plans=(PlanChange(anchor, plan),),
        fee_anchor=anchor,
    )


def usage_record(
    subscription: Subscription,
    *,
    id: str,
    on: date,
    item: str,
    quantity: Decimal,
    unit_price: Decimal,
    vat_rate: Decimal | None,
    recorded_at: datetime,
    key: str | None = None,
) -> Usage:
    """Usage of ``subscription`` on ``on``, at the VAT rate of the plan in force that day unless given.

    Raises :class:`InvalidInput` for usage that would never be billed: before
    the subscription started, in a monthly usage period billed already, or in
    one that starts after the subscription ends.
    """
    if on < subscription.anchor:
        raise InvalidInput(f"usage on {on} is before the subscription started ({subscription.anchor})")
    open_from = subscription.usage_period(subscription.usage_n).start
    if on < open_from:
        raise InvalidInput(
            f"usage on {on} falls in a usage period billed already (up to {open_from}): it would "
            f"never be billed; record it on {open_from} or later, or issue an invoice for it"
        )
    ends = subscription.cancel_at
    if ends is not None and BillingCycle.MONTHLY.period_containing(subscription.anchor, on).start >= ends:
        raise InvalidInput(
            f"usage on {on} is after the subscription ended ({ends}): it would never be billed"
        )
    rate = subscription.plan_at(on).vat_rate if vat_rate is None else vat_rate
    return Usage(
        id=id,
        subscription_id=subscription.id,
        on=on,
        item=item,
        quantity=quantity,
        unit_price=unit_price,
        vat_rate=parse_vat_rate(rate),
        recorded_at=recorded_at,
        key=key,
    )


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


@attrs.frozen
class Billing:
    """What a subscription bills on one due date, and the subscription after it.

    ``lines`` are invoiced, for ``period`` on ``cycle``; none when nothing is
    to be invoiced. When the date has only credits (say, the unused part of a
    plan left for a free one) nothing is invoiced: ``credit`` is what the
    customer is owed, to go on its balance (see :meth:`adjustment`).
    """

    subscription: Subscription
    lines: tuple[Line, ...] = ()
    period: Period | None = None
    cycle: BillingCycle | None = None
    credit: Decimal = _ZERO
    memo: str = ""

    def draft(self, customer: Account) -> InvoiceDraft:
        """The invoice to the customer account for ``lines``, in the plan's currency."""
        return InvoiceDraft(
            bill_to=Party(
                name=customer.name,
                address=customer.address,
                org_number=customer.org_number,
                reference=customer.buyer_reference,
                country=customer.country,
            ),
            lines=self.lines,
            currency=self.subscription.plan.currency,
            period=self.period,
            cycle=self.cycle,
            customer=customer.id,
        )

    def adjustment(self, *, id: str, at: datetime) -> LedgerEntry:
        """The ledger entry that puts ``credit`` on the customer's balance at the provider."""
        subscription = self.subscription
        return LedgerEntry(
            id=id,
            account_id=subscription.provider_id,
            customer=subscription.customer_id,
            at=at,
            amount=self.credit,
            currency=subscription.plan.currency,
            kind="adjustment",
            memo=self.memo,
        )


def bill_due(
    subscription: Subscription, due: date, usage: Sequence[Usage], *, locale: str | None = None
) -> Billing:
    """What ``subscription`` bills on ``due`` (its :attr:`~Subscription.next_due`).

    The plan fee in advance, if a fee period starts on ``due`` and the plan
    is not free, described as the plan's name and the period ("Pro
    01.03.2026–31.03.2026", dated as the invoice's ``locale`` writes dates on
    paper; ISO dates without a locale); and, if a monthly usage period ends
    on ``due``, the usage recorded in it (``usage``, found with
    :meth:`Subscription.usage_billed_on`), equal items summed. The invoice's
    period is the fee period, or else the usage period. The subscription
    moves past the periods billed.
    """
    lines: list[Line] = []
    period = cycle = None
    fee_n, usage_n = subscription.fee_n, subscription.usage_n
    if subscription.next_fee_date == due:
        fee_period = subscription.fee_period(fee_n)
        plan = subscription.plan_at(fee_period.start)
        if plan.price:
            period, cycle = fee_period, plan.cycle
            label = f"{plan.name} {_period_text(fee_period, locale)}"
            lines.append(
                Line(description=label, quantity=_ONE, unit_price=plan.price, vat_rate=plan.vat_rate)
            )
        fee_n += 1
    if subscription.next_usage_date == due:
        usage_period = subscription.usage_period(usage_n)
        used = usage_lines(usage)
        if used and period is None:
            period, cycle = usage_period, BillingCycle.MONTHLY
        lines.extend(used)
        usage_n += 1
    billed = attrs.evolve(subscription, fee_n=fee_n, usage_n=usage_n)
    owed = -sum((ln.quantity * ln.unit_price * (1 + ln.vat_rate) for ln in lines), _ZERO)
    if owed > 0:
        memo = "; ".join(ln.description for ln in lines)[:_MEMO_MAX]
        credit = round_money(owed, subscription.plan.currency)
        return Billing(billed, period=period, cycle=cycle, credit=credit, memo=memo)
    return Billing(billed, tuple(lines), period, cycle)


def _period_text(period: Period, locale: str | None) -> str:
    """The period's first and last day as the invoice prints dates, or in ISO form without a locale."""
    if locale is None:
        return f"{period.start.isoformat()}–{period.last_day.isoformat()}"
    # The one formatter every date on paper goes through (pure, Babel's CLDR data).
    from tenantbill.render.fmt import format_period

    return format_period(period.start, period.last_day, locale)


@attrs.frozen
class Adjustment:
    """A prorated credit (negative) or charge of a plan change, billed with the next usage invoice."""

    subscription_id: str
    on: date
    item: str
    amount: Decimal
    vat_rate: Decimal

    def usage(self, *, id: str, recorded_at: datetime) -> Usage:
        """The adjustment as a usage record: one unit at ``amount``, on the day of the change."""
        return Usage(
            id, self.subscription_id, self.on, self.item, _ONE, self.amount, self.vat_rate, recorded_at
        )


@attrs.frozen
class PlanChangeResult:
    """A plan change: the changed subscription and the adjustments to record as usage."""

    subscription: Subscription
    adjustments: tuple[Adjustment, ...] = ()


def change_plan(subscription: Subscription, new_plan: Plan, on: date) -> PlanChangeResult:
    """Move ``subscription`` to ``new_plan`` from ``on``, prorated by days.

    On the same cycle: a credit for the unused part of the current period on
    the old plan and a charge for the rest of it on the new plan; later
    periods bill the new plan. On another cycle the fee periods restart at
    ``on`` and the unused part of the old period is credited; the period
    must have been billed first, unless the change is on its first day. A
    change on the first day of an unbilled period adjusts nothing. Raises
    :class:`InvalidInput` for another currency, a change on or after the
    end of the subscription, or before its start.
    """
    old_plan = subscription.plan
    if new_plan.currency != old_plan.currency:
        raise InvalidInput(f"the new plan is in {new_plan.currency}, the subscription in {old_plan.currency}")
    if subscription.cancel_at is not None and on >= subscription.cancel_at:
        raise InvalidInput("the subscription has ended; start a new one")
    if on < subscription.anchor:
        raise InvalidInput("a plan change cannot take effect before the subscription starts")
    current = old_plan.cycle.period_containing(subscription.fee_anchor, on)
    billed = subscription.fee_n > subscription.fee_period_index(current.start)
    same_cycle = new_plan.cycle == old_plan.cycle
    if not same_cycle and not billed and on > current.start:
        raise InvalidInput(
            f"bill the subscription up to {on} first (run billing), then change to a plan with another cycle"
        )
    plans = (*subscription.plans, PlanChange(on, new_plan))
    if on == current.start and not billed:
        return PlanChangeResult(attrs.evolve(subscription, plans=plans))

    def rest_of_period(plan: Plan) -> Decimal:
        return prorate(plan.price, current, on, current.end, currency=plan.currency)

    unused = Adjustment(
        subscription.id, on, f"{old_plan.name}: unused", -rest_of_period(old_plan), old_plan.vat_rate
    )
    if same_cycle:
        rest = Adjustment(
            subscription.id,
            on,
            f"{new_plan.name}: rest of period",
            rest_of_period(new_plan),
            new_plan.vat_rate,
        )
        return PlanChangeResult(attrs.evolve(subscription, plans=plans), _nonzero(unused, rest))
    changed = attrs.evolve(subscription, plans=plans, fee_anchor=on, fee_n=0)
    return PlanChangeResult(changed, _nonzero(unused) if on > current.start else ())


def _nonzero(*adjustments: Adjustment) -> tuple[Adjustment, ...]:
    return tuple(adjustment for adjustment in adjustments if adjustment.amount)


def cancel(subscription: Subscription, on: date) -> Subscription:
    """The subscription ending at the end of the fee period that holds ``on`` (or its first period)."""
    day = max(on, subscription.anchor)
    end = subscription.plan.cycle.period_containing(subscription.fee_anchor, day).end
    return attrs.evolve(subscription, cancel_at=end)
