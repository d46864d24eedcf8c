"""Invoice e-mails: who gets one, and delivery through the outbox that never loses or doubles a message."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Mailer, Store, Transaction
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 1, 31, 22, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dies here: nothing the library may catch and carry on from."""


class CrashOnceAfterSend:
    """A real store that crashes once, when delivery records that a message was sent."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.armed = False

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._store.transaction() as tx:
            yield _CrashingTransaction(tx, self)


class _CrashingTransaction:
    def __init__(self, tx: Transaction, store: CrashOnceAfterSend) -> None:
        self._tx = tx
        self.outbox = _CrashingOutbox(tx, store)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class _CrashingOutbox:
    def __init__(self, tx: Transaction, store: CrashOnceAfterSend) -> None:
        self._outbox = tx.outbox
        self._store = store

    def save(self, message: OutboxMessage) -> None:
        if self._store.armed and message.sent:
            self._store.armed = False
            raise Crash
        self._outbox.save(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


class FlakyMailer:
    """A mailer that refuses a share of the messages (none at first), at random but reproducibly."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.failure_rate = 0.0
        self.attempts = 0
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self._random.random() < self.failure_rate:
            raise ConnectionError("421 4.3.2 service not available, try again later")
        self.sent.append(message)


@attrs.frozen
class Setup:
    """A provider, a customer account with three members and an accountant, and the app they use."""

    app: tb.Tenantbill
    clock: FixedClock
    provider: SignedUp
    customer: SignedUp
    member: tb.User
    billing: tb.User

    def issue(self) -> tb.Invoice:
        draft = tb.InvoiceDraft(
            bill_to=tb.Party(name=self.customer.account.name),
            lines=[tb.Line(description="Pro", quantity=D(1), unit_price=D(300), vat_rate=D("0.25"))],
            customer=self.customer.account.id,
        )
        return self.app.invoices.issue(self.provider.owner.id, self.provider.account.id, draft)

    def queued(self, invoice: tb.Invoice) -> list[OutboxMessage]:
        with self.app.store.transaction() as tx:
            return tx.outbox.of_invoice(invoice.id)


SENDER = "Plattform AS <faktura@plattform.example.no>"


def set_up(store: Store, mailer: Mailer) -> Setup:
    clock = FixedClock(NOW)
    app = tb.Tenantbill(store=store, mailer=mailer, clock=clock, sender=SENDER)
    factory = Factory(app)
    provider = factory.account(name="Plattform AS", bank_account="86011117947")
    customer = factory.account(name="Kunde AS", email="eier@kunde.no")
    member = customer.member(tb.Role.MEMBER, email="medarbeider@kunde.no")
    billing = customer.member(tb.Role.BILLING, email="faktura@kunde.no")
    app.users.set_invoice_emails(customer.owner.id, enabled=True)
    app.users.set_invoice_emails(billing.id, enabled=True)
    app.accounts.set_invoice_recipients(
        customer.owner.id, customer.account.id, ["regnskap@byraa.no", "FAKTURA@Kunde.no"]
    )
    # The provider is the platform account, which every account accepts as biller.
    app = tb.Tenantbill(
        store=store, mailer=mailer, clock=clock, sender=SENDER, platform_account_id=provider.account.id
    )
    return Setup(app, clock, provider, customer, member, billing)


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def setup(store: Store, mailer: MemoryMailer) -> Setup:
    setup = set_up(store, mailer)
    mailer.sent.clear()  # the invitations
    return setup


def message_ids(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(str(message["Message-ID"]) for message in messages)


def recipients(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(message["To"]).casefold() for message in messages)


EXPECTED = ["eier@kunde.no", "faktura@kunde.no", "regnskap@byraa.no"]


# Who gets the e-mail


def test_issuing_queues_one_email_per_recipient_and_sends_nothing_yet(
    setup: Setup, mailer: MemoryMailer
) -> None:
    invoice = setup.issue()

    queued = setup.queued(invoice)

    # The owner and the billing user opted in; the member did not; the accountant is listed,
    # and the billing user's address, listed again in capitals, is sent to once.
    assert sorted(entry.recipient.casefold() for entry in queued) == EXPECTED
    assert not any(entry.sent for entry in queued)
    assert mailer.sent == []


def test_nobody_gets_invoice_emails_without_opting_in_or_being_listed(setup: Setup) -> None:
    setup.app.users.set_invoice_emails(setup.customer.owner.id, enabled=False)
    setup.app.users.set_invoice_emails(setup.billing.id, enabled=False)
    setup.app.accounts.set_invoice_recipients(setup.customer.owner.id, setup.customer.account.id, [])

    assert setup.queued(setup.issue()) == []


def test_an_invalid_extra_recipient_is_refused(setup: Setup) -> None:
    with pytest.raises(tb.InvalidEmail):
        setup.app.accounts.set_invoice_recipients(
            setup.customer.owner.id, setup.customer.account.id, ["regnskap(at)byraa.no"]
        )


def test_the_billing_run_and_credit_notes_queue_emails_too(setup: Setup) -> None:
    plan = tb.Plan(code="pro", name="Pro", price=D(300), vat_rate=D("0.25"))
    setup.app.subscriptions.start(
        setup.customer.owner.id,
        setup.provider.account.id,
        setup.customer.account.id,
        plan,
        anchor=date(2026, 1, 1),
    )

    [invoice_id] = setup.app.billing.run(as_of=date(2026, 1, 31)).invoice_ids
    invoice = setup.app.invoices.get(setup.provider.owner.id, invoice_id)
    note = setup.app.invoices.credit(setup.provider.owner.id, invoice_id, reason="Feil plan")

    assert sorted(entry.recipient.casefold() for entry in setup.queued(invoice)) == EXPECTED
    assert sorted(entry.recipient.casefold() for entry in setup.queued(note)) == EXPECTED


# Delivery


def test_deliver_sends_each_queued_email_once_with_the_pdf_attached(
    setup: Setup, mailer: MemoryMailer
) -> None:
    invoice = setup.issue()

    report = setup.app.billing.deliver()

    assert (report.sent, report.failed) == (3, 0)
    assert recipients(mailer.sent) == EXPECTED
    for message in mailer.sent:
        assert invoice.number in str(message["Subject"])
        attachments = [part.get_content_type() for part in message.iter_attachments()]
        assert attachments == ["application/pdf"]
    assert all(entry.sent for entry in setup.queued(invoice))

    again = setup.app.billing.deliver()

    assert (again.sent, again.failed) == (0, 0)
    assert len(mailer.sent) == 3


def test_a_failed_send_stays_queued_with_its_error_until_the_back_off_has_passed(
    store: Store,
) -> None:
    mailer = FlakyMailer(seed=0)
    setup = set_up(store, mailer)
    mailer.sent.clear()
    mailer.failure_rate = 1.0
    setup.app.users.set_invoice_emails(setup.billing.id, enabled=False)
    setup.app.accounts.set_invoice_recipients(setup.customer.owner.id, setup.customer.account.id, [])
    invoice = setup.issue()

    report = setup.app.billing.deliver()

    assert (report.sent, report.failed) == (0, 1)
    assert "421" in report.errors[0]
    [entry] = setup.queued(invoice)
    assert not entry.sent
    assert entry.attempts == 1
    assert entry.last_error is not None
    assert "421" in entry.last_error
    assert entry.next_attempt_at > setup.clock.now()

    mailer.failure_rate = 0.0
    attempts = mailer.attempts
    setup.clock.set(entry.next_attempt_at - timedelta(seconds=1))
    early = setup.app.billing.deliver()
    assert (early.sent, early.failed) == (0, 0)
    assert mailer.attempts == attempts

    setup.clock.set(entry.next_attempt_at)
    assert setup.app.billing.deliver().sent == 1
    assert recipients(mailer.sent) == ["eier@kunde.no"]


@pytest.mark.parametrize("seed", [1, 2])
def test_with_a_mailer_failing_at_random_every_email_is_sent_exactly_once_in_the_end(
    store: Store, seed: int
) -> None:
    mailer = FlakyMailer(seed=seed)
    setup = set_up(store, mailer)
    mailer.sent.clear()
    mailer.failure_rate = 0.4
    invoices = [setup.issue() for _ in range(4)]

    for _ in range(50):
        report = setup.app.billing.deliver()
        if report.sent == report.failed == 0:
            break
        setup.clock.advance(hours=7)

    assert mailer.attempts > len(mailer.sent)  # the failures did happen
    assert len(mailer.sent) == 4 * len(EXPECTED)
    assert set(message_ids(mailer.sent).values()) == {1}
    for invoice in invoices:
        assert all(entry.sent for entry in setup.queued(invoice))
        sent_for_invoice = [m for m in mailer.sent if invoice.number in str(m["Subject"])]
        assert recipients(sent_for_invoice) == EXPECTED


def test_a_crash_between_sending_and_recording_resends_with_the_same_message_id(
    store: Store, mailer: MemoryMailer
) -> None:
    crashing = CrashOnceAfterSend(store)
    setup = set_up(crashing, mailer)
    setup.app.users.set_invoice_emails(setup.billing.id, enabled=False)
    setup.app.accounts.set_invoice_recipients(setup.customer.owner.id, setup.customer.account.id, [])
    mailer.sent.clear()
    invoice = setup.issue()

    crashing.armed = True
    with pytest.raises(Crash):
        setup.app.billing.deliver()
    [entry] = setup.queued(invoice)
    assert not entry.sent

    assert setup.app.billing.deliver().sent == 1
    assert setup.app.billing.deliver().sent == 0

    # At least once: the receiver sees the same Message-ID twice and can drop the second.
    assert len(mailer.sent) == 2
    assert len(message_ids(mailer.sent)) == 1
