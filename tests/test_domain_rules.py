"""The domain's rules as pure functions: invoices, billing a date, plan changes, the outbox, identifiers.

No store and no clock: each rule is called with values and its result checked.
The services' tests cover the same rules end to end on every store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from tenantbill.domain.accounts import Account, Invitation, InvitationState, Role
from tenantbill.domain.billing import BillingCycle, Period
from tenantbill.domain.identity import (
    BankAccount,
    OrgNumber,
    display_bank_account,
    display_org_number,
)
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceDraft,
    InvoiceKind,
    Line,
    Party,
    apply_balance,
    balance_entry,
    build_credit_note,
    build_invoice,
)
from tenantbill.domain.outbox import OutboxMessage, backoff, invitation_withdrawn
from tenantbill.domain.subscriptions import (
    Plan,
    PlanChange,
    Subscription,
    Usage,
    bill_due,
    cancel,
    change_plan,
    subscribe,
    usage_record,
)
from tenantbill.errors import InvalidInput, InvalidInvoice

D = Decimal
NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
MONTHLY = BillingCycle.MONTHLY
YEARLY = BillingCycle.YEARLY


def account(**changes: object) -> Account:
    base = Account(
        id="acc-1",
        name="Blåfjell Hosting AS",
        owner_id="user-1",
        org_number="974760673",
        bank_account="86011117947",
        address="Storgata 1\n0155 Oslo",
        vat_registered=True,
    )
    return attrs.evolve(base, **changes)


def draft(*lines: Line, **changes: object) -> InvoiceDraft:
    base = InvoiceDraft(
        bill_to=Party(name="Kunde AS"),
        lines=lines or (Line("Hosting", D(1), D("100.00"), D("0.25")),),
        customer="cust-1",
    )
    return attrs.evolve(base, **changes)


def issued(invoice: Invoice, sequence: int = 1) -> Invoice:
    return invoice.numbered(sequence, f"F-{sequence:04d}")


# Invoices -------------------------------------------------------------------------------------


def test_a_built_invoice_is_unnumbered_and_priced_per_vat_rate() -> None:
    invoice = build_invoice(
        draft(
            Line("Hosting", D(3), D("33.333"), D("0.25")),
            Line("Bok", D(1), D("200"), D("0.12")),
            Line("Domene", D(2), D("50"), D("0.25")),
        ),
        account(),
        id="inv-1",
        now=NOW,
    )
    assert (invoice.id, invoice.sequence, invoice.number) == ("inv-1", 0, "")
    assert invoice.kind is InvoiceKind.INVOICE
    assert [line.amount for line in invoice.lines] == [D("100.00"), D("200.00"), D("100.00")]
    assert [(group.rate, group.base, group.vat) for group in invoice.vat] == [
        (D("0.12"), D("200.00"), D("24.00")),
        (D("0.25"), D("200.00"), D("50.00")),
    ]
    assert (invoice.net_total, invoice.vat_total, invoice.total) == (D("400.00"), D("74.00"), D("474.00"))
    assert (invoice.balance_applied, invoice.amount_due) == (D(0), D("474.00"))


def test_a_built_invoice_is_dated_in_the_accounts_time_zone_and_due_after_its_terms() -> None:
    late_evening = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # already 1 February in Oslo
    invoice = build_invoice(draft(), account(payment_terms_days=30), id="inv-1", now=late_evening)
    assert invoice.issued_at == late_evening
    assert invoice.issue_date == date(2026, 2, 1)
    assert invoice.due_date == date(2026, 3, 3)


def test_a_built_invoice_takes_the_accounts_currency_and_locale_unless_given() -> None:
    plain = build_invoice(draft(), account(currency="SEK", locale="sv"), id="inv-1", now=NOW)
    assert (plain.currency, plain.locale) == ("SEK", "sv")
    chosen = build_invoice(draft(currency="EUR"), account(), id="inv-2", now=NOW, locale="en")
    assert (chosen.currency, chosen.locale) == ("EUR", "en")


def test_a_built_invoice_keeps_the_sellers_details_as_they_are_when_issued() -> None:
    invoice = build_invoice(draft(), account(), id="inv-1", now=NOW, subscription_id="sub-1")
    assert invoice.seller.name == "Blåfjell Hosting AS"
    assert invoice.seller.bank_account == "86011117947"
    assert invoice.seller.vat_registered
    assert invoice.subscription_id == "sub-1"
    assert invoice.customer == "cust-1"


def test_the_customers_credit_pays_as_much_of_the_invoice_as_it_covers() -> None:
    invoice = build_invoice(draft(), account(), id="inv-1", now=NOW)  # total 125.00
    partly = apply_balance(invoice, D("40.00"))
    assert (partly.balance_applied, partly.amount_due) == (D("40.00"), D("85.00"))
    fully = apply_balance(invoice, D("500.00"))
    assert (fully.balance_applied, fully.amount_due) == (D("125.00"), D("0.00"))


def test_no_credit_or_a_debt_on_the_balance_pays_nothing() -> None:
    invoice = build_invoice(draft(), account(), id="inv-1", now=NOW)
    assert apply_balance(invoice, D(0)) is invoice
    assert apply_balance(invoice, D("-10.00")) is invoice


def test_only_an_invoice_to_a_customer_with_something_to_pay_draws_on_a_balance() -> None:
    assert build_invoice(draft(), account(), id="a", now=NOW).draws_credit_from == "cust-1"
    anonymous = build_invoice(draft(customer=None), account(), id="b", now=NOW)
    assert anonymous.draws_credit_from is None
    assert apply_balance(anonymous, D(100)) is anonymous
    free = build_invoice(draft(Line("Gratis", D(1), D(0))), account(), id="c", now=NOW)
    assert free.draws_credit_from is None


def test_credit_applied_to_an_invoice_is_taken_off_the_balance() -> None:
    invoice = issued(apply_balance(build_invoice(draft(), account(), id="inv-1", now=NOW), D(40)))
    assert invoice.moves_balance
    entry = balance_entry(invoice, id="led-1", at=NOW)
    assert (entry.customer, entry.amount, entry.kind) == ("cust-1", D(-40), "applied")
    assert entry.memo == "applied to invoice F-0001"
    assert entry.invoice_id == "inv-1"


def test_an_invoice_that_used_no_credit_leaves_the_balance_alone() -> None:
    invoice = issued(build_invoice(draft(), account(), id="inv-1", now=NOW))
    assert not invoice.moves_balance
    with pytest.raises(ValueError, match="does not move"):
        balance_entry(invoice, id="led-1", at=NOW)


def three_lines() -> Invoice:
    return issued(
        build_invoice(
            draft(
                Line("A", D(1), D("0.10"), D("0.12")),
                Line("B", D(1), D("0.10"), D("0.12")),
                Line("C", D(1), D("0.10"), D("0.12")),
            ),
            account(),
            id="inv-1",
            now=NOW,
        )
    )


def test_a_full_credit_note_negates_the_invoice_and_is_due_at_once() -> None:
    original = three_lines()
    later = datetime(2026, 2, 3, 8, 0, tzinfo=UTC)
    note = build_credit_note(
        original,
        account(name="Nytt Navn AS"),
        prior_notes=[],
        lines=None,
        reason="Retur",
        id="cn-1",
        now=later,
    )
    assert note.is_credit_note
    assert (note.sequence, note.number) == (0, "")
    assert (note.credits_invoice_id, note.credits_number) == ("inv-1", "F-0001")
    assert note.credited_lines == (0, 1, 2)
    assert [line.quantity for line in note.lines] == [D(-1)] * 3
    assert (note.net_total, note.vat_total, note.total, note.amount_due) == (
        -original.net_total,
        -original.vat_total,
        -original.total,
        -original.total,
    )
    assert note.issue_date == note.due_date == date(2026, 2, 3)
    assert note.seller.name == "Nytt Navn AS"
    assert (note.bill_to, note.customer, note.currency) == (original.bill_to, "cust-1", "NOK")
    assert note.note == "Retur"


def test_crediting_lines_one_by_one_cancels_the_invoices_vat_exactly() -> None:
    original = three_lines()  # VAT 12 % of 0.30 is 0.04, of each 0.10 line 0.01
    notes: list[Invoice] = []
    for index in range(3):
        note = build_credit_note(
            original, account(), prior_notes=notes, lines=[index], reason="Retur", id=f"cn-{index}", now=NOW
        )
        notes.append(issued(note, index + 2))
    assert [note.vat_total for note in notes] == [D("-0.01"), D("-0.01"), D("-0.02")]
    assert sum(note.total for note in notes) == -original.total


def test_a_line_is_credited_once() -> None:
    original = three_lines()
    first = issued(
        build_credit_note(original, account(), prior_notes=[], lines=[1], reason="B", id="cn-1", now=NOW), 2
    )
    with pytest.raises(InvalidInvoice, match="line 1 of invoice F-0001 is already credited"):
        build_credit_note(original, account(), prior_notes=[first], lines=[1], reason="B", id="cn-2", now=NOW)
    rest = build_credit_note(
        original, account(), prior_notes=[first], lines=None, reason="Resten", id="cn-2", now=NOW
    )
    assert rest.credited_lines == (0, 2)


def test_a_credit_note_cannot_be_credited_and_needs_a_reason() -> None:
    original = three_lines()
    note = issued(
        build_credit_note(original, account(), prior_notes=[], lines=None, reason="R", id="cn-1", now=NOW), 2
    )
    with pytest.raises(InvalidInvoice, match="F-0002 is a credit note; credit notes cannot be credited"):
        build_credit_note(note, account(), prior_notes=[], lines=None, reason="R", id="cn-2", now=NOW)
    with pytest.raises(InvalidInvoice, match="needs a reason"):
        build_credit_note(original, account(), prior_notes=[], lines=None, reason=" ", id="cn-3", now=NOW)


def test_a_credit_note_to_a_customer_goes_on_its_balance() -> None:
    note = issued(
        build_credit_note(
            three_lines(), account(), prior_notes=[], lines=[0], reason="R", id="cn-1", now=NOW
        ),
        2,
    )
    assert note.moves_balance
    entry = balance_entry(note, id="led-1", at=NOW)
    assert (entry.amount, entry.kind, entry.memo) == (D("0.11"), "credit_note", "credit note F-0002")


# Subscriptions: what a date bills ------------------------------------------------------------


def plan(price: str, cycle: BillingCycle = MONTHLY, name: str = "Pro", currency: str = "NOK") -> Plan:
    return Plan(
        code=name.lower(), name=name, price=D(price), currency=currency, cycle=cycle, vat_rate=D("0.25")
    )


def subscription(first: Plan, anchor: date = date(2026, 1, 1), **changes: object) -> Subscription:
    base = Subscription(
        id="sub-1",
        provider_id="prov-1",
        customer_id="cust-1",
        anchor=anchor,
        plans=(PlanChange(anchor, first),),
        fee_anchor=anchor,
    )
    return attrs.evolve(base, **changes)


def usage(item: str, quantity: str, price: str, on: date = date(2026, 1, 10)) -> Usage:
    return Usage("u", "sub-1", on, item, D(quantity), D(price), D("0.25"), NOW)


def test_a_new_subscription_bills_its_plan_from_the_anchor() -> None:
    pro = plan("149")
    sub = subscribe(id="sub-1", provider_id="prov-1", customer_id="cust-1", plan=pro, anchor=date(2026, 1, 5))
    assert sub.plans == (PlanChange(date(2026, 1, 5), pro),)
    assert (sub.fee_anchor, sub.fee_n, sub.usage_n) == (date(2026, 1, 5), 0, 0)
    assert sub.next_due == date(2026, 1, 5)


def test_an_account_cannot_subscribe_to_itself() -> None:
    with pytest.raises(InvalidInput, match="cannot subscribe to itself"):
        subscribe(id="s", provider_id="acc-1", customer_id="acc-1", plan=plan("1"), anchor=date(2026, 1, 1))


def test_usage_takes_the_vat_rate_of_the_plan_in_force_that_day_unless_given() -> None:
    zero_rated = Plan(code="eu", name="EU", price=D(10), vat_rate=D(0))
    first = subscription(plan("149"))
    sub = attrs.evolve(first, plans=(*first.plans, PlanChange(date(2026, 2, 1), zero_rated)))

    def record(on: date, vat_rate: Decimal | None = None) -> Usage:
        return usage_record(
            sub, id="u", on=on, item="SMS", quantity=D(1), unit_price=D(1), vat_rate=vat_rate, recorded_at=NOW
        )

    assert record(date(2026, 1, 31)).vat_rate == D("0.25")
    assert record(date(2026, 2, 1)).vat_rate == D(0)
    assert record(date(2026, 2, 1), D("0.15")).vat_rate == D("0.15")
    with pytest.raises(
        InvalidInput, match=r"usage on 2025-12-31 is before the subscription started \(2026-01-01\)"
    ):
        record(date(2025, 12, 31))


def test_the_fee_is_billed_in_advance_on_the_first_day_of_the_period() -> None:
    sub = subscription(plan("149"))
    billing = bill_due(sub, date(2026, 1, 1), [])
    assert [(line.description, line.unit_price) for line in billing.lines] == [
        ("Pro 2026-01-01–2026-01-31", D("149"))
    ]
    assert (billing.period, billing.cycle) == (Period(date(2026, 1, 1), date(2026, 2, 1)), MONTHLY)
    assert (billing.subscription.fee_n, billing.subscription.usage_n) == (1, 0)
    assert billing.credit == 0


@pytest.mark.parametrize(
    ("locale", "description"),
    [
        ("nb", "Pro 01.01.2026–31.01.2026"),
        ("nb_NO", "Pro 01.01.2026–31.01.2026"),
        ("sv", "Pro 2026-01-01–2026-01-31"),
        ("en", "Pro 1 Jan 2026 – 31 Jan 2026"),
        (None, "Pro 2026-01-01–2026-01-31"),
    ],
)
def test_the_fee_lines_dates_are_written_as_the_invoices_locale_writes_dates(
    locale: str | None, description: str
) -> None:
    billing = bill_due(subscription(plan("149")), date(2026, 1, 1), [], locale=locale)

    assert [line.description for line in billing.lines] == [description]


def test_usage_is_billed_in_arrears_with_the_next_fee_and_equal_items_are_summed() -> None:
    sub = subscription(plan("149"), fee_n=1)
    period = sub.usage_billed_on(date(2026, 2, 1))
    assert period == Period(date(2026, 1, 1), date(2026, 2, 1))
    billing = bill_due(sub, date(2026, 2, 1), [usage("SMS", "10", "0.50"), usage("SMS", "5", "0.50")])
    assert [(line.description, line.quantity) for line in billing.lines] == [
        ("Pro 2026-02-01–2026-02-28", D(1)),
        ("SMS", D(15)),
    ]
    assert billing.period == Period(date(2026, 2, 1), date(2026, 3, 1))  # the fee's period
    assert (billing.subscription.fee_n, billing.subscription.usage_n) == (2, 1)


def test_usage_on_a_free_plan_is_invoiced_for_its_monthly_period() -> None:
    sub = subscription(plan("0"), fee_n=1)
    billing = bill_due(sub, date(2026, 2, 1), [usage("SMS", "10", "0.50")])
    assert [line.description for line in billing.lines] == ["SMS"]
    assert (billing.period, billing.cycle) == (Period(date(2026, 1, 1), date(2026, 2, 1)), MONTHLY)


def test_a_date_with_nothing_to_bill_invoices_nothing_and_moves_on() -> None:
    sub = subscription(plan("0"))
    billing = bill_due(sub, date(2026, 1, 1), [])
    assert billing.lines == ()
    assert billing.credit == 0
    assert billing.subscription.next_due == date(2026, 2, 1)


def test_a_date_with_only_credits_puts_them_on_the_customers_balance() -> None:
    sub = subscription(plan("0"), fee_n=1)
    billing = bill_due(sub, date(2026, 2, 1), [usage("Pro: unused", "1", "-100.00")])
    assert billing.lines == ()
    assert billing.credit == D("125.00")  # with the 25 % VAT it was charged with
    entry = billing.adjustment(id="led-1", at=NOW)
    assert (entry.account_id, entry.customer, entry.currency) == ("prov-1", "cust-1", "NOK")
    assert (entry.amount, entry.kind, entry.memo) == (D("125.00"), "adjustment", "Pro: unused")


def test_the_invoice_of_a_billing_is_to_the_customer_account_in_the_plans_currency() -> None:
    billing = bill_due(subscription(plan("99", currency="EUR")), date(2026, 1, 1), [])
    customer = account(id="cust-1", name="Kunde AS", org_number="974760673")
    invoice_draft = billing.draft(customer)
    assert invoice_draft.bill_to == Party(name="Kunde AS", address=customer.address, org_number="974760673")
    assert (invoice_draft.customer, invoice_draft.currency) == ("cust-1", "EUR")
    assert (invoice_draft.period, invoice_draft.cycle) == (billing.period, MONTHLY)


def test_a_subscription_is_due_until_its_next_date_has_been_billed() -> None:
    sub = subscription(plan("149"))
    assert sub.is_due(date(2026, 1, 1))
    assert not sub.is_due(date(2025, 12, 31))
    billed = bill_due(sub, date(2026, 1, 1), []).subscription
    assert not billed.is_due(date(2026, 1, 31))
    assert billed.is_due(date(2026, 2, 1))


def test_a_cancelled_subscription_bills_its_last_usage_and_then_nothing() -> None:
    ended = cancel(bill_due(subscription(plan("149")), date(2026, 1, 1), []).subscription, date(2026, 1, 20))
    assert ended.cancel_at == date(2026, 2, 1)
    last = bill_due(ended, date(2026, 2, 1), [usage("SMS", "1", "0.50")])
    assert [line.description for line in last.lines] == ["SMS"]
    assert last.subscription.next_due is None
    assert not last.subscription.is_due(date(2030, 1, 1))


# Subscriptions: plan changes and cancellation --------------------------------------------------


def test_a_change_mid_period_on_the_same_cycle_credits_the_old_plan_and_charges_the_new() -> None:
    sub = subscription(plan("310", name="Basis"), fee_n=1)
    change = change_plan(sub, plan("620", name="Pro"), date(2026, 1, 11))  # 21 of 31 days left
    assert [(a.item, a.amount, a.on) for a in change.adjustments] == [
        ("Basis: unused", D("-210.00"), date(2026, 1, 11)),
        ("Pro: rest of period", D("420.00"), date(2026, 1, 11)),
    ]
    assert change.subscription.plan.name == "Pro"
    assert change.subscription.fee_anchor == date(2026, 1, 1)
    recorded = change.adjustments[0].usage(id="u-1", recorded_at=NOW)
    assert (recorded.id, recorded.subscription_id, recorded.quantity, recorded.unit_price) == (
        "u-1",
        "sub-1",
        D(1),
        D("-210.00"),
    )


def test_a_change_on_the_first_day_of_an_unbilled_period_adjusts_nothing() -> None:
    sub = subscription(plan("310"), fee_n=1)
    change = change_plan(sub, plan("620", cycle=YEARLY), date(2026, 2, 1))
    assert change.adjustments == ()
    assert change.subscription.plans[-1] == PlanChange(date(2026, 2, 1), plan("620", cycle=YEARLY))
    assert change.subscription.fee_anchor == date(2026, 1, 1)


def test_a_change_to_another_cycle_restarts_the_fee_periods_and_credits_the_unused_days() -> None:
    sub = subscription(plan("310", name="Basis"), fee_n=1)
    change = change_plan(sub, plan("1200", cycle=YEARLY), date(2026, 1, 11))
    assert [(a.item, a.amount) for a in change.adjustments] == [("Basis: unused", D("-210.00"))]
    assert (change.subscription.fee_anchor, change.subscription.fee_n) == (date(2026, 1, 11), 0)


def test_a_change_to_another_cycle_waits_for_the_current_period_to_be_billed() -> None:
    with pytest.raises(InvalidInput, match="bill the subscription up to 2026-01-11 first"):
        change_plan(subscription(plan("310")), plan("1200", cycle=YEARLY), date(2026, 1, 11))


@pytest.mark.parametrize(
    ("sub", "new_plan", "on", "message"),
    [
        (subscription(plan("310")), plan("10", currency="EUR"), date(2026, 1, 5), "the new plan is in EUR"),
        (subscription(plan("310"), cancel_at=date(2026, 2, 1)), plan("10"), date(2026, 2, 1), "has ended"),
        (subscription(plan("310")), plan("10"), date(2025, 12, 31), "before the subscription starts"),
    ],
)
def test_a_plan_change_is_refused_when_it_cannot_apply(
    sub: Subscription, new_plan: Plan, on: date, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        change_plan(sub, new_plan, on)


def test_cancelling_ends_the_subscription_with_the_fee_period_it_falls_in() -> None:
    sub = subscription(plan("1200", cycle=YEARLY), anchor=date(2026, 3, 15))
    assert cancel(sub, date(2026, 9, 1)).cancel_at == date(2027, 3, 15)
    assert cancel(sub, date(2026, 1, 1)).cancel_at == date(2027, 3, 15)  # before the start: the first period
    assert cancel(sub, date(2027, 3, 15)).cancel_at == date(2028, 3, 15)


# The outbox ---------------------------------------------------------------------------------


def message(**changes: object) -> OutboxMessage:
    base = OutboxMessage(
        id="m-1", key="invoice:i:a@example.no", recipient="a@example.no", created_at=NOW, next_attempt_at=NOW
    )
    return attrs.evolve(base, **changes)


def test_a_queued_message_is_due_from_its_next_attempt_until_it_is_sent_or_dropped() -> None:
    queued = message(payload=b"x")
    assert queued.is_due(NOW)
    assert not queued.is_due(NOW - timedelta(seconds=1))
    assert not queued.after_attempt(None, NOW).is_due(NOW + timedelta(days=1))
    assert not queued.withdrawn("gone", NOW).is_due(NOW + timedelta(days=1))


def test_a_sent_message_loses_its_payload_and_error() -> None:
    sent = message(payload=b"secret", attempts=2, last_error="timeout").after_attempt(None, NOW)
    assert (sent.sent_at, sent.payload, sent.last_error, sent.attempts) == (NOW, None, None, 3)
    assert sent.sent
    assert sent.done


def test_a_failed_message_is_due_again_after_a_back_off_that_doubles() -> None:
    first = message(payload=b"x").after_attempt("SMTP 451", NOW)
    assert (first.attempts, first.last_error, first.payload) == (1, "SMTP 451", b"x")
    assert first.next_attempt_at == NOW + timedelta(minutes=1)
    third = message(attempts=2).after_attempt("SMTP 451", NOW)
    assert third.next_attempt_at == NOW + timedelta(minutes=4)
    assert not third.done


def test_the_back_off_stops_growing_at_six_hours() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert backoff(20) == timedelta(hours=6)


def test_a_long_error_is_kept_short() -> None:
    failed = message().after_attempt("x" * 2000, NOW)
    assert failed.last_error == "x" * 500


def test_a_dropped_message_is_never_sent_and_says_why() -> None:
    dropped = message(payload=b"token").withdrawn("the invitation was revoked", NOW)
    assert (dropped.dropped_at, dropped.payload) == (NOW, None)
    assert dropped.last_error == "not sent: the invitation was revoked"
    assert dropped.dropped
    assert not dropped.sent


def test_a_released_claim_is_due_at_once() -> None:
    claimed = message(next_attempt_at=NOW + timedelta(minutes=10))
    assert not claimed.is_due(NOW)
    assert claimed.released(NOW).is_due(NOW)


def invitation(**changes: object) -> Invitation:
    base = Invitation(
        id="inv-1",
        account_id="acc-1",
        email="ny@example.no",
        role=Role.MEMBER,
        token_hash="h",
        invited_by="user-1",
        created_at=NOW,
        expires_at=NOW + timedelta(days=7),
    )
    return attrs.evolve(base, **changes)


@pytest.mark.parametrize(
    ("found", "at", "reason"),
    [
        (invitation(), NOW, None),
        (None, NOW, "the invitation no longer exists"),
        (invitation(state=InvitationState.REVOKED), NOW, "the invitation was revoked"),
        (invitation(state=InvitationState.ACCEPTED), NOW, "the invitation was accepted"),
        (invitation(), NOW + timedelta(days=7), "the invitation expired"),
    ],
)
def test_an_invitation_email_is_sent_only_while_the_invitation_is_live(
    found: Invitation | None, at: datetime, reason: str | None
) -> None:
    assert invitation_withdrawn(found, at) == reason


# Identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("NO 974 760 673 MVA", "974 760 673"),
        ("974760673", "974 760 673"),
        ("SE556036079301", "556036-0793"),
        ("556036-0793", "556036-0793"),
    ],
)
def test_an_org_number_is_displayed_the_way_its_country_writes_it(text: str, shown: str) -> None:
    assert OrgNumber.parse(text).display() == shown
    assert display_org_number(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("86011117947", "8601.11.17947"),
        ("NO93 8601 1117 947", "8601.11.17947"),
        ("DE89370400440532013000", "DE89 3704 0044 0532 0130 00"),
        ("se4550000000058398257466", "SE45 5000 0000 0583 9825 7466"),
    ],
)
def test_a_bank_account_is_displayed_in_its_usual_groups(text: str, shown: str) -> None:
    assert BankAccount.parse(text).display() == shown
    assert display_bank_account(text) == shown


@pytest.mark.parametrize("text", ["Kontonr. ukjent", "1234", ""])
def test_text_that_is_no_valid_number_is_displayed_as_given(text: str) -> None:
    assert display_bank_account(text) == text
    assert display_org_number(text) == text
