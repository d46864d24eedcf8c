"""Subscriptions: fee periods from the anchor, usage in arrears, plan changes, cancellation, time zones."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
OSLO = ZoneInfo("Europe/Oslo")
MONTHLY = tb.BillingCycle.MONTHLY
YEARLY = tb.BillingCycle.YEARLY


@attrs.frozen
class Platform:
    """A provider account that bills a customer account, and the clock they live by."""

    app: tb.Tenantbill
    clock: FixedClock
    provider: SignedUp
    customer: SignedUp

    def start(self, plan: tb.Plan, anchor: date) -> tb.Subscription:
        return self.app.subscriptions.start(
            self.customer.owner.id, self.provider.account.id, self.customer.account.id, plan, anchor=anchor
        )

    def run(self, as_of: date) -> list[tb.Invoice]:
        """Bill what is due on ``as_of``, with the clock in the morning of that day in Oslo."""
        self.clock.set(datetime.combine(as_of, time(6), tzinfo=OSLO))
        report = self.app.billing.run(as_of=as_of)
        return [self.app.invoices.get(self.provider.owner.id, i) for i in report.invoice_ids]

    def invoices(self) -> list[tb.Invoice]:
        return list(self.app.invoices.of_account(self.provider.owner.id, self.provider.account.id))


@pytest.fixture
def platform(store: Store) -> Platform:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=clock)
    factory = Factory(app)
    provider = factory.account(name="Plattform AS")
    customer = factory.account(name="Kunde AS", address="Storgata 1\n0155 Oslo", org_number="974760673")
    return Platform(app=app, clock=clock, provider=provider, customer=customer)


def plan(price: str, cycle: tb.BillingCycle = MONTHLY, name: str = "Pro") -> tb.Plan:
    return tb.Plan(
        code=name.lower(), name=name, price=D(price), currency="NOK", cycle=cycle, vat_rate=D("0.25")
    )


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def billed_on(platform: Platform, first: date, last: date) -> dict[date, list[tb.Invoice]]:
    """Run the billing every day from ``first`` to ``last``; the days that issued invoices."""
    issued = {day: platform.run(day) for day in days(first, last)}
    return {day: invoices for day, invoices in issued.items() if invoices}


def periods(invoices: list[tb.Invoice]) -> list[tuple[date, date]]:
    return [(i.period.start, i.period.end) for i in invoices if i.period is not None]


# Plan fees, billed in advance


def test_a_monthly_plan_anchored_on_jan_31_is_billed_on_the_last_day_of_each_month(
    platform: Platform,
) -> None:
    platform.start(plan("300"), anchor=date(2026, 1, 31))

    billed = billed_on(platform, date(2026, 1, 1), date(2026, 4, 30))

    assert list(billed) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    invoices = [invoice for issued in billed.values() for invoice in issued]
    assert periods(invoices) == [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2026, 2, 28), date(2026, 3, 31)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 4, 30), date(2026, 5, 31)),
    ]
    assert [i.issue_date for i in invoices] == list(billed)
    assert {(i.cycle, i.total) for i in invoices} == {(MONTHLY, D("375.00"))}


@pytest.mark.parametrize(
    ("locale", "description", "period"),
    [
        ("nb", "Pro 01.03.2026–31.03.2026", "Periode 01.03.2026–31.03.2026"),
        ("sv", "Pro 2026-03-01–2026-03-31", "Period 2026-03-01–2026-03-31"),
        ("en", "Pro 1 Mar 2026 – 31 Mar 2026", "Service period 1 Mar 2026 – 31 Mar 2026"),
    ],
)
def test_the_plan_line_dates_its_period_as_the_invoice_does_in_the_customers_locale(
    platform: Platform, locale: str, description: str, period: str
) -> None:
    from pypdf import PdfReader

    customer = platform.customer
    platform.app.accounts.update(customer.owner.id, customer.account.id, locale=locale)
    platform.start(plan("149"), anchor=date(2026, 3, 1))
    (invoice,) = platform.run(date(2026, 3, 1))
    pdf = platform.app.invoices.pdf(platform.provider.owner.id, invoice.id)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)

    assert invoice.locale == locale
    assert [line.description for line in invoice.lines] == [description]
    assert description in text
    assert period in text


def test_a_monthly_plan_anchored_on_jan_31_renews_on_feb_29_in_a_leap_year(platform: Platform) -> None:
    platform.start(plan("300"), anchor=date(2028, 1, 31))

    invoices = platform.run(date(2028, 3, 31))

    assert periods(invoices) == [
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2028, 2, 29), date(2028, 3, 31)),
        (date(2028, 3, 31), date(2028, 4, 30)),
    ]


def test_a_yearly_plan_anchored_on_feb_29_renews_on_feb_28(platform: Platform) -> None:
    platform.start(plan("3000", YEARLY), anchor=date(2028, 2, 29))

    invoices = platform.run(date(2029, 2, 28))

    assert periods(invoices) == [
        (date(2028, 2, 29), date(2029, 2, 28)),
        (date(2029, 2, 28), date(2030, 2, 28)),
    ]


def test_a_yearly_plan_is_one_invoice_a_year_and_its_usage_is_billed_monthly_in_arrears(
    platform: Platform,
) -> None:
    subscription = platform.start(plan("3000", YEARLY), anchor=date(2026, 1, 15))
    for on, quantity in [(date(2026, 2, 3), "2"), (date(2026, 2, 20), "1"), (date(2026, 3, 1), "3")]:
        platform.app.subscriptions.record_usage(
            platform.provider.owner.id,
            subscription.id,
            item="extra-site",
            quantity=D(quantity),
            unit_price=D("50"),
            at=on,
        )

    billed = billed_on(platform, date(2026, 1, 1), date(2027, 1, 14))

    invoices = [invoice for issued in billed.values() for invoice in issued]
    fees = [i for i in invoices if i.cycle == YEARLY]
    usage = [i for i in invoices if i.cycle == MONTHLY]
    assert len(invoices) == 3
    assert periods(fees) == [(date(2026, 1, 15), date(2027, 1, 15))]
    assert [(ln.quantity, ln.unit_price) for ln in fees[0].lines] == [(D(1), D("3000"))]
    assert fees[0].issue_date == date(2026, 1, 15)
    # Usage of Jan 15–Feb 15 is billed on Feb 15; that of Feb 15–Mar 15 on Mar 15.
    assert [i.issue_date for i in usage] == [date(2026, 2, 15), date(2026, 3, 15)]
    assert periods(usage) == [(date(2026, 1, 15), date(2026, 2, 15)), (date(2026, 2, 15), date(2026, 3, 15))]
    assert [[(ln.quantity, ln.amount) for ln in i.lines] for i in usage] == [
        [(D("2"), D("100.00"))],
        [(D("4"), D("200.00"))],
    ]
    assert [i.total for i in platform.run(date(2027, 1, 15))] == [D("3750.00")]


# Usage, billed in arrears


def test_usage_is_summed_per_item_and_price_on_the_invoice_at_the_end_of_its_period(
    platform: Platform,
) -> None:
    subscription = platform.start(plan("300"), anchor=date(2026, 1, 1))

    def record(subscription_id: str, **kwargs: Any) -> tb.Usage:
        return platform.app.subscriptions.record_usage(platform.provider.owner.id, subscription_id, **kwargs)

    record(subscription.id, item="extra-site", quantity=D("2"), unit_price=D("50"), at=date(2026, 1, 5))
    record(subscription.id, item="extra-site", quantity=D("3"), unit_price=D("50"), at=date(2026, 1, 20))
    record(subscription.id, item="extra-site", quantity=D("1"), unit_price=D("40"), at=date(2026, 1, 21))
    record(subscription.id, item="backup", quantity=D("1"), unit_price=D("20"), at=date(2026, 1, 31))
    record(subscription.id, item="backup", quantity=D("1"), unit_price=D("20"), at=date(2026, 2, 1))

    billed = billed_on(platform, date(2026, 1, 1), date(2026, 2, 1))

    # February's fee comes with January's usage; the backup of Feb 1 waits for Mar 1.
    [january], [february] = billed[date(2026, 1, 1)], billed[date(2026, 2, 1)]
    assert [ln.unit_price for ln in january.lines] == [D("300")]
    usage = [ln for ln in february.lines if ln.unit_price != D("300")]
    assert sorted((ln.description, ln.quantity, ln.unit_price) for ln in usage) == [
        ("backup", D("1"), D("20")),
        ("extra-site", D("1"), D("40")),
        ("extra-site", D("5"), D("50")),
    ]
    assert february.net_total == D("300") + D("250") + D("40") + D("20")


def test_usage_at_an_instant_is_dated_in_the_providers_time_zone(platform: Platform) -> None:
    subscription = platform.start(plan("300"), anchor=date(2026, 1, 1))

    # 23:30 UTC on Jan 31 is 00:30 on Feb 1 in Oslo: February's usage, billed on Mar 1.
    usage = platform.app.subscriptions.record_usage(
        platform.provider.owner.id,
        subscription.id,
        item="sms",
        quantity=D("10"),
        unit_price=D("1"),
        at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
    )

    assert usage.on == date(2026, 2, 1)
    _, february, march = platform.run(date(2026, 3, 1))
    assert [ln.quantity for ln in february.lines if ln.description == "sms"] == []
    assert [ln.quantity for ln in march.lines if ln.description == "sms"] == [D("10")]


def test_an_invoice_of_usage_alone_shows_the_usage_period(platform: Platform) -> None:
    subscription = platform.start(plan("0"), anchor=date(2026, 1, 1))
    platform.app.subscriptions.record_usage(
        platform.provider.owner.id,
        subscription.id,
        item="sms",
        quantity=D("10"),
        unit_price=D("1"),
        at=date(2026, 2, 10),
    )

    assert platform.run(date(2026, 2, 1)) == []
    [invoice] = platform.run(date(2026, 3, 1))

    assert (invoice.period.start, invoice.period.end) == (date(2026, 2, 1), date(2026, 3, 1))
    assert invoice.cycle == MONTHLY
    assert [(ln.description, ln.amount) for ln in invoice.lines] == [("sms", D("10.00"))]


def test_usage_at_midnight_after_the_spring_dst_change_falls_on_the_new_day(platform: Platform) -> None:
    subscription = platform.start(plan("0"), anchor=date(2026, 3, 1))

    # Oslo is on summer time (UTC+2) from Mar 29: 22:30 UTC on Mar 31 is 00:30 on Apr 1.
    usage = platform.app.subscriptions.record_usage(
        platform.provider.owner.id,
        subscription.id,
        item="sms",
        quantity=D("1"),
        unit_price=D("1"),
        at=datetime(2026, 3, 31, 22, 30, tzinfo=UTC),
    )

    assert usage.on == date(2026, 4, 1)


def test_usage_before_the_subscription_starts_is_refused(platform: Platform) -> None:
    subscription = platform.start(plan("300"), anchor=date(2026, 2, 1))

    with pytest.raises(tb.InvalidInput):
        platform.app.subscriptions.record_usage(
            platform.provider.owner.id,
            subscription.id,
            item="sms",
            quantity=D("1"),
            unit_price=D("1"),
            at=date(2026, 1, 31),
        )


def test_usage_billed_at_another_vat_rate_keeps_it(platform: Platform) -> None:
    subscription = platform.start(plan("0"), anchor=date(2026, 1, 1))
    platform.app.subscriptions.record_usage(
        platform.provider.owner.id,
        subscription.id,
        item="kurs",
        quantity=D("1"),
        unit_price=D("100"),
        vat_rate=D("0"),
        at=date(2026, 1, 9),
    )

    [invoice] = platform.run(date(2026, 2, 1))

    assert [(g.rate, g.base, g.vat) for g in invoice.vat] == [(D("0"), D("100.00"), D("0.00"))]


# Plan changes and cancellation


def test_a_plan_change_mid_period_credits_the_old_plan_and_charges_the_new_by_days(
    platform: Platform,
) -> None:
    subscription = platform.start(plan("300", name="Basic"), anchor=date(2026, 1, 1))
    platform.run(date(2026, 1, 1))

    platform.app.subscriptions.change_plan(
        platform.provider.owner.id, subscription.id, plan("600"), at=date(2026, 1, 11)
    )
    february, march = platform.run(date(2026, 3, 1))

    # Jan 11 to Feb 1 is 21 of January's 31 days: 300 × 21/31 = 203.23 back, 600 × 21/31 = 406.45 due.
    assert sorted(ln.amount for ln in february.lines) == [D("-203.23"), D("406.45"), D("600.00")]
    assert [ln.amount for ln in march.lines] == [D("600.00")]


def test_a_move_to_a_free_plan_puts_the_unused_part_on_the_customers_balance(platform: Platform) -> None:
    subscription = platform.start(plan("310", name="Basic"), anchor=date(2026, 1, 1))
    platform.run(date(2026, 1, 1))

    platform.app.subscriptions.change_plan(
        platform.provider.owner.id, subscription.id, plan("0", name="Free"), at=date(2026, 1, 11)
    )
    issued = platform.run(date(2026, 3, 1))

    # Nothing to invoice in February: 310 × 21/31 = 210.00 net back, 262.50 with VAT, goes on the balance.
    assert issued == []
    owner, provider, customer = (
        platform.provider.owner.id,
        platform.provider.account.id,
        platform.customer.account.id,
    )
    assert platform.app.invoices.balance(owner, provider, customer) == D("262.50")
    [entry] = platform.app.invoices.ledger(owner, provider, customer)
    assert (entry.kind, entry.memo) == ("adjustment", "Basic: unused")


def test_a_plan_change_is_prorated_by_whole_days_across_the_dst_change(platform: Platform) -> None:
    subscription = platform.start(plan("300", name="Basic"), anchor=date(2026, 3, 1))
    [march] = platform.run(date(2026, 3, 1))

    # 22:30 UTC on Mar 29 is 00:30 on Mar 30 in Oslo: 2 of March's 31 days are left. By the
    # hour it would be 48 of 743 hours (the night of Mar 29 is an hour short): 19.38 and 38.76.
    platform.app.subscriptions.change_plan(
        platform.provider.owner.id, subscription.id, plan("600"), at=datetime(2026, 3, 29, 22, 30, tzinfo=UTC)
    )
    [april] = platform.run(date(2026, 4, 1))

    assert (march.period.start, march.period.end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert march.period.days == 31
    assert sorted(ln.amount for ln in april.lines) == [D("-19.35"), D("38.71"), D("600.00")]


def test_a_cancelled_subscription_ends_at_the_end_of_the_period_and_bills_its_last_usage(
    platform: Platform,
) -> None:
    subscription = platform.start(plan("300"), anchor=date(2026, 1, 1))
    platform.run(date(2026, 1, 1))
    platform.app.subscriptions.record_usage(
        platform.provider.owner.id,
        subscription.id,
        item="sms",
        quantity=D("5"),
        unit_price=D("1"),
        at=date(2026, 1, 20),
    )

    cancelled = platform.app.subscriptions.cancel(
        platform.provider.owner.id, subscription.id, at=date(2026, 1, 20)
    )
    billed = billed_on(platform, date(2026, 1, 2), date(2026, 6, 30))

    assert cancelled.cancel_at == date(2026, 2, 1)
    assert list(billed) == [date(2026, 2, 1)]
    [last] = billed[date(2026, 2, 1)]
    assert [(ln.description, ln.amount) for ln in last.lines] == [("sms", D("5.00"))]
    assert len(platform.invoices()) == 2


# Who is billed


def test_the_invoice_is_billed_to_the_customer_account_as_a_party(platform: Platform) -> None:
    platform.start(plan("300"), anchor=date(2026, 1, 1))

    [invoice] = platform.run(date(2026, 1, 1))

    assert invoice.bill_to.name == "Kunde AS"
    assert invoice.bill_to.address == "Storgata 1\n0155 Oslo"
    assert invoice.bill_to.org_number == "974760673"
    assert invoice.customer == platform.customer.account.id
    assert invoice.account_id == platform.provider.account.id
    assert invoice.seller.name == "Plattform AS"
    assert platform.app.invoices.get(platform.customer.owner.id, invoice.id) == invoice


def test_an_account_cannot_subscribe_to_itself(platform: Platform) -> None:
    with pytest.raises(tb.InvalidInput):
        platform.app.subscriptions.start(
            platform.provider.owner.id,
            platform.provider.account.id,
            platform.provider.account.id,
            plan("300"),
            anchor=date(2026, 1, 1),
        )
