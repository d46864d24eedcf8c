"""Reminders (purring): only after the due date, with the fees Norwegian and Swedish law allow, once a day."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.payments import DEFAULT_INKASSOSATS
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # invoices are due 14 days later: 2026-03-16
DUE = date(2026, 3, 16)


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def app(store: Store, mailer: MemoryMailer) -> tb.Tenantbill:
    return tb.Tenantbill(
        store=store, mailer=mailer, clock=FixedClock(NOW), sender="Faktura <faktura@acme.no>"
    )


@pytest.fixture
def factory(app: tb.Tenantbill) -> Factory:
    return Factory(app)


@pytest.fixture
def norwegian(factory: Factory) -> SignedUp:
    return factory.account(name="Acme AS", org_number="923609016", bank_account="86011117947", kid="mod10")


@pytest.fixture
def swedish(factory: Factory) -> SignedUp:
    return factory.account(
        name="Acme AB", currency="SEK", locale="sv", timezone="Europe/Stockholm", kid="ocr"
    )


def issue(seller: SignedUp, net: str = "800", *, currency: str | None = None) -> tb.Invoice:
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=["kunde@example.com"]),
        lines=[tb.Line(description="Konsulenttimer", quantity=D(1), unit_price=D(net), vat_rate=D("0.25"))],
        currency=currency,
    )
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, draft)


def remind(seller: SignedUp, invoice: tb.Invoice, on: date, **kwargs: bool) -> tb.Reminder:
    return seller.app.invoices.remind(seller.owner.id, invoice.id, on=on, **kwargs)


def delivered(seller: SignedUp, mailer: MemoryMailer) -> list[EmailMessage]:
    seller.app.billing.deliver()
    return [
        m
        for m in mailer.sent
        if "X-Tenantbill-Key" in m and str(m["X-Tenantbill-Key"]).startswith("reminder:")
    ]


# When, and the fee


def test_no_reminder_before_the_due_date_has_passed(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    with pytest.raises(tb.InvalidInvoice, match="after the due date"):
        remind(norwegian, invoice, DUE)


def test_a_norwegian_reminder_has_no_fee_until_14_days_after_the_due_date(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    early = remind(norwegian, invoice, date(2026, 3, 17))
    assert (early.fee, early.amount_due) == (D(0), D("1000.00"))
    late = remind(norwegian, invoice, date(2026, 3, 30))  # 14 days after 16 March
    assert late.fee == DEFAULT_INKASSOSATS / 10
    assert late.amount_due == D("1000.00") + late.fee


def test_a_norwegian_invoice_carries_a_fee_at_most_twice(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    fees = [
        remind(norwegian, invoice, day).fee
        for day in (date(2026, 3, 30), date(2026, 4, 14), date(2026, 5, 1))
    ]
    assert fees == [D("70.00"), D("70.00"), D(0)]
    last = norwegian.app.invoices.remind(norwegian.owner.id, invoice.id, on=date(2026, 5, 20))
    assert last.amount_due == D("1140.00")  # the invoice and the two fees
    assert last.number == 4


def test_the_fee_follows_the_inkassosats_setting(store: Store, norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW), inkassosats=D("750"))
    assert app.invoices.remind(norwegian.owner.id, invoice.id, on=date(2026, 4, 1)).fee == D("75.00")
    with pytest.raises(tb.InvalidInput):
        tb.Tenantbill(store=store, inkassosats=D(0))


def test_no_fee_when_the_caller_asks_for_none(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    assert remind(norwegian, invoice, date(2026, 4, 1), fee=False).fee == D(0)


def test_no_fee_on_an_invoice_in_another_currency(norwegian: SignedUp) -> None:
    invoice = issue(norwegian, currency="EUR")
    assert remind(norwegian, invoice, date(2026, 4, 1)).fee == D(0)


def test_a_swedish_fee_only_when_agreed_and_at_most_60_kronor(swedish: SignedUp) -> None:
    invoice = issue(swedish)
    assert remind(swedish, invoice, date(2026, 3, 17)).fee == D(0)
    swedish.app.accounts.update(swedish.owner.id, swedish.account.id, reminder_fee_agreed=True)
    agreed = remind(swedish, invoice, date(2026, 3, 18))
    assert agreed.fee == D(60)
    assert agreed.currency == "SEK"


# Payments of fees, what is due, once a day


def test_a_payment_settles_the_invoice_first_and_then_the_fees(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    remind(norwegian, invoice, date(2026, 3, 30))  # fee 70
    payment = norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("1050"),
        paid_on=date(2026, 4, 2),
        invoice_id=invoice.id,
    )
    assert (payment.applied, payment.fees, payment.unapplied) == (D("1000.00"), D("50"), D(0))
    rest = norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("30"),
        paid_on=date(2026, 4, 3),
        invoice_id=invoice.id,
    )
    assert (rest.applied, rest.fees, rest.unapplied) == (D(0), D("20"), D("10"))


def test_a_paid_invoice_is_not_reminded(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("1000"),
        paid_on=date(2026, 3, 10),
        invoice_id=invoice.id,
    )
    with pytest.raises(tb.InvalidInvoice, match="paid"):
        remind(norwegian, invoice, date(2026, 4, 1))


def test_a_partly_paid_invoice_is_reminded_of_what_is_left(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("400"),
        paid_on=date(2026, 3, 10),
        invoice_id=invoice.id,
    )
    reminder = remind(norwegian, invoice, date(2026, 3, 20))
    assert (reminder.outstanding, reminder.fee, reminder.amount_due) == (D("600.00"), D(0), D("600.00"))


def test_credit_notes_are_never_reminded(norwegian: SignedUp) -> None:
    note = norwegian.app.invoices.credit(norwegian.owner.id, issue(norwegian).id, reason="Feil")
    with pytest.raises(tb.InvalidInvoice, match="credit note"):
        remind(norwegian, note, date(2026, 5, 1))


def test_a_second_reminder_on_the_same_day_is_the_first(norwegian: SignedUp, mailer: MemoryMailer) -> None:
    invoice = issue(norwegian)
    first = remind(norwegian, invoice, date(2026, 3, 30))
    again = remind(norwegian, invoice, date(2026, 3, 30))
    assert again == first
    assert len(delivered(norwegian, mailer)) == 1


def test_a_reminder_makes_an_event(norwegian: SignedUp) -> None:
    invoice = issue(norwegian)
    reminder = remind(norwegian, invoice, date(2026, 3, 30))
    event = next(e for e in norwegian.app.events.read() if e.type == "invoice.reminded")
    assert event.data["invoice_id"] == invoice.id
    assert event.data["fee"] == str(reminder.fee)


@pytest.mark.parametrize("role", [tb.Role.OWNER, tb.Role.MEMBER, tb.Role.BILLING])
def test_every_member_may_remind_and_strangers_may_not(factory: Factory, role: tb.Role) -> None:
    team = factory.team()
    invoice = issue(team.signed_up)
    team.app.invoices.remind(team.user(role).id, invoice.id, on=date(2026, 3, 20))
    stranger = factory.account()
    with pytest.raises(tb.PermissionDenied):
        stranger.app.invoices.remind(stranger.owner.id, invoice.id, on=date(2026, 3, 21))


# The e-mail


def test_the_reminder_e_mail_carries_the_reminder_pdf(norwegian: SignedUp, mailer: MemoryMailer) -> None:
    invoice = issue(norwegian)
    remind(norwegian, invoice, date(2026, 3, 30))
    [message] = delivered(norwegian, mailer)
    assert message["To"] == "kunde@example.com"
    assert "Date" in message
    assert str(message["Message-ID"]).endswith("@acme.no>")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    content = attachment.get_content()
    assert isinstance(content, bytes)
    assert content.startswith(b"%PDF-")
    assert invoice.number in str(message["Subject"])


def test_a_hostile_buyer_name_stays_data_in_the_reminder(norwegian: SignedUp, mailer: MemoryMailer) -> None:
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="=?utf-8?q?Bcc:_evil@example.com?= Kunde", emails=["kunde@example.com"]),
        lines=[tb.Line(description="Timer", quantity=D(1), unit_price=D(100), vat_rate=D("0.25"))],
    )
    invoice = norwegian.app.invoices.issue(norwegian.owner.id, norwegian.account.id, draft)
    remind(norwegian, invoice, date(2026, 3, 30))
    [message] = delivered(norwegian, mailer)
    assert "Bcc" not in message
    assert message.get_all("To") == ["kunde@example.com"]


# The reminder run


def test_the_reminder_run_reminds_each_overdue_invoice_once_a_fortnight(
    norwegian: SignedUp, mailer: MemoryMailer
) -> None:
    due = [issue(norwegian) for _ in range(3)]
    paid = issue(norwegian)
    norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("1000"),
        paid_on=date(2026, 3, 10),
        invoice_id=paid.id,
    )
    run = norwegian.app.invoices.remind_overdue

    first = run(norwegian.owner.id, norwegian.account.id, on=date(2026, 3, 20))
    assert sorted(r.invoice_id for r in first) == sorted(i.id for i in due)
    assert run(norwegian.owner.id, norwegian.account.id, on=date(2026, 3, 20)) == []
    assert run(norwegian.owner.id, norwegian.account.id, on=date(2026, 4, 2)) == []
    again = run(norwegian.owner.id, norwegian.account.id, on=date(2026, 4, 3))
    assert len(again) == 3
    assert {r.fee for r in again} == {D("70.00")}
    assert len(delivered(norwegian, mailer)) == 6


def test_a_store_failure_stops_the_run_and_the_next_run_finishes_it_once(mailer: MemoryMailer) -> None:
    from tenantbill.memory import MemoryStore
    from tenantbill.testing.faults import FaultyStore, InjectedFault

    store = FaultyStore(MemoryStore())
    app = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(NOW))
    seller = Factory(app).account(name="Acme AS", kid="mod10")
    invoices = [issue(seller) for _ in range(4)]
    store.fail("reminders.add", 2)  # the store fails in the middle of the first batch
    with pytest.raises(InjectedFault):
        app.invoices.remind_overdue(seller.owner.id, seller.account.id, on=date(2026, 3, 20))
    store.fail("reminders.add")
    sent = app.invoices.remind_overdue(seller.owner.id, seller.account.id, on=date(2026, 3, 20))
    assert sorted(r.invoice_id for r in sent) == sorted(i.id for i in invoices)  # the batch left nothing
    assert app.invoices.remind_overdue(seller.owner.id, seller.account.id, on=date(2026, 3, 20)) == []


def test_an_invoice_paid_during_the_run_is_left_out_and_the_rest_reminded(norwegian: SignedUp) -> None:
    invoices = [issue(norwegian) for _ in range(3)]
    run = norwegian.app.invoices.remind_overdue
    norwegian.app.payments.register(
        norwegian.owner.id,
        norwegian.account.id,
        amount=D("1000"),
        paid_on=date(2026, 3, 18),
        invoice_id=invoices[1].id,
    )
    sent = run(norwegian.owner.id, norwegian.account.id, on=date(2026, 3, 20))
    assert sorted(r.invoice_id for r in sent) == sorted([invoices[0].id, invoices[2].id])
