"""The Store conformance kit: what every :class:`~tenantbill.ports.Store` must do.

tenantbill's services rely only on the behaviour checked here, so a store
that passes it can replace the built-in ones. The same tests run on
:class:`~tenantbill.memory.MemoryStore` and on
:class:`~tenantbill.sql.SqlStore` (SQLite and PostgreSQL): same results, same
errors, same rollback, and the same invariants when calls race.

There is one test class per repository of the unit of work, so an adapter
can be written and checked one repository at a time:

- :class:`UsersContract`: ``tx.users``
- :class:`AccountsContract`: ``tx.accounts``, with the org and bank number claims
- :class:`MembershipsContract`: ``tx.memberships``, with ``remove`` and ``transfer_ownership``
- :class:`InvitationsContract`: ``tx.invitations``, with ``accept``, ``revoke`` and ``renew``
- :class:`InvoicesContract`: ``tx.invoices``: the series, ``add_numbered``, the locks, the ledger
- :class:`PaymentsContract`: ``tx.payments``: each bank reference once, settling, by KID, overdue
- :class:`RemindersContract`: ``tx.reminders``: at most one reminder of an invoice a day
- :class:`SubscriptionsContract`: ``tx.subscriptions``, usage and billing marks
- :class:`MeteringContract`: ``tx.metering``: keyed usage, each key recorded once per subscription
- :class:`OutboxContract`: ``tx.outbox``
- :class:`IdempotencyContract`: ``tx.idempotency``
- :class:`AuditContract`: ``tx.audit``
- :class:`EventsContract`: ``tx.events``: positions in commit order, read by position
- :class:`TransactionsContract`: units of work: own writes, refusals, errors, no nesting
- :class:`RollbackContract`: a failed unit of work leaves no trace of any write (:data:`WRITES`)

:class:`StoreConformance` is all of them at once. The classes of repositories
that keep an invariant concurrency could break (an invitation accepted once
and never after revocation, exactly one owner, one claim per idempotency key,
each usage key recorded once, gapless numbers, one holder of an org number, one billing mark) race it with
threads against the store they are given, each race bounded in time.

To check your own adapter, subclass a contract class (or
:class:`StoreConformance`) in your test suite and say how to build a new,
empty store::

    # tests/test_my_store.py
    from tenantbill.testing.store import InvitationsContract, StoreConformance

    class TestMyInvitations(InvitationsContract):   # one repository while you write it
        def make_store(self):
            return MyStore(...)

    class TestMyStore(StoreConformance):              # everything, once it is done
        def make_store(self):
            return MyStore(...)

        def close_store(self, store):  # optional: release what make_store() took
            store.close()

then run ``pytest tests/test_my_store.py``. Each test gets a store from the
``store`` fixture, which calls :meth:`~StoreContract.make_store`; when
building the store needs other fixtures, override the fixture itself::

    class TestMyFileStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "data")
            yield store
            store.close()

The store must start empty: some tests read lists that span the whole store
(what is due, what is queued). Where a test numbers an invoice and then
expects a rollback, ``add_numbered`` follows another write of its unit of
work, as in the services: as the first write, a store may commit it on its
own (see :meth:`tenantbill.ports.Invoices.add_numbered`). The races use
threads sharing the one store
object; ``race_threads``, ``race_trials`` and ``race_timeout`` (seconds before
a race counts as hung) are class attributes you may change. The suite needs
pytest and hypothesis.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar, TypeVar, cast

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantbill.domain.accounts import (
    Account,
    AuditEvent,
    Invitation,
    InvitationState,
    Membership,
    Role,
    User,
)
from tenantbill.domain.billing import BillingCycle, Period
from tenantbill.domain.events import Event
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LedgerEntry,
    Party,
    Seller,
    Series,
    VatGroup,
)
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.payments import Payment, Reminder
from tenantbill.domain.subscriptions import Plan, PlanChange, Subscription, Usage
from tenantbill.domain.vat import VatCategory
from tenantbill.errors import (
    AlreadyBilled,
    AlreadyMember,
    BankAccountTaken,
    EmailTaken,
    NotFound,
    NumberTaken,
    OrgNumberTaken,
    PermissionDenied,
    StaleRead,
)
from tenantbill.ports import DuplicateId, IdempotencyRecord, Store, Transaction

__all__ = [
    "WRITES",
    "AccountsContract",
    "AuditContract",
    "EventsContract",
    "IdempotencyContract",
    "InvitationsContract",
    "InvoicesContract",
    "LedgerContract",
    "MembershipsContract",
    "MeteringContract",
    "OutboxContract",
    "PaymentsContract",
    "RemindersContract",
    "RollbackContract",
    "StoreConformance",
    "StoreContract",
    "SubscriptionsContract",
    "TransactionsContract",
    "UsersContract",
    "make_account",
    "make_invitation",
    "make_invoice",
    "make_message",
    "make_subscription",
    "make_user",
    "race",
]

T = TypeVar("T")
X = TypeVar("X")

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
LOGO = bytes(range(256)) * 8
PRO = Plan("pro", "Pro", Decimal("199.00"), "NOK", BillingCycle.MONTHLY, Decimal("0.25"))
PRO_YEARLY = Plan("pro-y", "Pro, yearly", Decimal("1990.50"), "NOK", BillingCycle.YEARLY, Decimal("0.25"))


class Boom(Exception):
    """The exception the tests raise to make a transaction fail."""


# values to store


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_user(**changes: Any) -> User:
    user_id = new_id("user")
    return attrs.evolve(User(id=user_id, name="Åse Ørnes", email=f"{user_id}@Example.no"), **changes)


def make_account(owner: User, **changes: Any) -> Account:
    account = Account(
        id=new_id("account"),
        name="Fjord & Fjell AS",
        owner_id=owner.id,
        org_number="974760673",
        bank_account="86011117947",
        address="Storgata 1\n0155 Oslo",
        currency="NOK",
        locale="nb",
        timezone="Europe/Oslo",
        payment_terms_days=30,
        vat_registered=True,
        logo=LOGO,
        invoice_recipients=("regnskap@example.no", "revisor@example.no"),
    )
    return attrs.evolve(account, **changes)


def make_invitation(account: Account, inviter: User, **changes: Any) -> Invitation:
    invitation = Invitation(
        id=new_id("invitation"),
        account_id=account.id,
        email="ny@example.no",
        role=Role.BILLING,
        token_hash=uuid.uuid4().hex,
        invited_by=inviter.id,
        created_at=T0,
        expires_at=T0 + timedelta(days=7),
    )
    return attrs.evolve(invitation, **changes)


def make_invoice(account_id: str, **changes: Any) -> Invoice:
    """An invoice not numbered yet (``add_numbered`` gives it its sequence and number)."""
    lines = (
        InvoiceLine("Hosting – «Pro»", Decimal("1"), Decimal("199.00"), Decimal("0.25"), Decimal("199.00")),
        InvoiceLine("Support", Decimal("1.50"), Decimal("850.005"), Decimal("0.25"), Decimal("1275.01")),
        InvoiceLine("Bøker", Decimal("3"), Decimal("0.10"), Decimal("0.12"), Decimal("0.30")),
    )
    invoice = Invoice(
        id=new_id("invoice"),
        account_id=account_id,
        sequence=0,
        number="",
        kind=InvoiceKind.INVOICE,
        issued_at=T0,
        issue_date=date(2026, 1, 15),
        due_date=date(2026, 2, 14),
        seller=Seller("Fjord & Fjell AS", "Storgata 1\n0155 Oslo", "974760673", "86011117947", True, LOGO),
        bill_to=Party("Kund AB", "Drottninggatan 2\n111 51 Stockholm", "5560360793", ("a@kund.se",)),
        currency="NOK",
        locale="nb",
        lines=lines,
        vat=(
            VatGroup(Decimal("0.12"), Decimal("0.30"), Decimal("0.04")),
            VatGroup(Decimal("0.25"), Decimal("1474.01"), Decimal("368.50")),
        ),
        net_total=Decimal("1474.31"),
        vat_total=Decimal("368.54"),
        total=Decimal("1842.85"),
        balance_applied=Decimal("100.00"),
        amount_due=Decimal("1742.85"),
        period=Period(date(2026, 1, 31), date(2026, 2, 28)),
        cycle=BillingCycle.MONTHLY,
        customer="customer-1",
        note="Takk for handelen!",
        subscription_id="subscription-1",
    )
    return attrs.evolve(invoice, **changes)


def make_credit_note(invoice: Invoice) -> Invoice:
    """A credit note of ``invoice``'s last line, not numbered yet."""
    return attrs.evolve(
        invoice,
        id=new_id("credit"),
        sequence=0,
        number="",
        kind=InvoiceKind.CREDIT_NOTE,
        lines=(attrs.evolve(invoice.lines[2], quantity=Decimal("-3"), amount=Decimal("-0.30")),),
        vat=(VatGroup(Decimal("0.12"), Decimal("-0.30"), Decimal("-0.04")),),
        net_total=Decimal("-0.30"),
        vat_total=Decimal("-0.04"),
        total=Decimal("-0.34"),
        balance_applied=Decimal("0"),
        amount_due=Decimal("-0.34"),
        credits_invoice_id=invoice.id,
        credits_number=invoice.number,
        credited_lines=(2,),
    )


def make_subscription(anchor: date = date(2026, 1, 10), **changes: Any) -> Subscription:
    """A monthly subscription whose first fee is due on ``anchor``."""
    subscription = Subscription(
        id=new_id("subscription"),
        provider_id="provider",
        customer_id=new_id("customer"),
        anchor=anchor,
        plans=(PlanChange(anchor, PRO),),
        fee_anchor=anchor,
    )
    return attrs.evolve(subscription, **changes)


def make_usage(subscription_id: str, on: date, item: str = "GB", key: str | None = None) -> Usage:
    return Usage(
        id=new_id("usage"),
        subscription_id=subscription_id,
        on=on,
        item=item,
        quantity=Decimal("2.500"),
        unit_price=Decimal("0.35"),
        vat_rate=Decimal("0.25"),
        recorded_at=T0,
        key=key,
    )


def make_ledger_entry(account_id: str, customer: str, amount: str, currency: str = "NOK") -> LedgerEntry:
    return LedgerEntry(
        id=new_id("entry"),
        account_id=account_id,
        customer=customer,
        at=T0,
        amount=Decimal(amount),
        currency=currency,
        kind="credit",
        memo="Goodwill",
    )


def make_message(**changes: Any) -> OutboxMessage:
    message_id = new_id("message")
    message = OutboxMessage(
        id=message_id,
        key=f"key:{message_id}",
        recipient="regnskap@example.no",
        created_at=T0,
        next_attempt_at=T0,
    )
    return attrs.evolve(message, **changes)


def marker(account_id: str, detail: str = "") -> AuditEvent:
    """An audit event: a write that begins a unit of work without touching what a test looks at."""
    return AuditEvent(account_id, T0, None, "marked", "kit", detail)


# running transactions


def run(store: Store, action: Callable[[Transaction], T]) -> T:
    """``action`` in a transaction of its own, committed."""
    with store.transaction() as tx:
        return action(tx)


def each(store: Store, action: Callable[[Transaction, T], object], items: Iterable[T]) -> None:
    """``action(tx, item)`` for every item, each in a committed transaction of its own."""
    for item in items:
        with store.transaction() as tx:
            action(tx, item)


def add_all(action: Callable[[T], object], items: Iterable[T]) -> None:
    """``action(item)`` for every item (in one transaction: ``action`` is a bound method of it)."""
    for item in items:
        action(item)


class _Undo(Exception):
    pass


def probe(store: Store, action: Callable[[Transaction], T]) -> T:
    """``action``'s result in a transaction that is then rolled back."""
    result: list[T] = []
    try:
        with store.transaction() as tx:
            result.append(action(tx))
            raise _Undo
    except _Undo:
        pass
    return result[0]


def fails(store: Store, action: Callable[[Transaction], object]) -> None:
    """Run ``action`` in a transaction that raises after it; the exception must come back unchanged."""
    boom = Boom("the transaction fails after writing")

    def write_then_fail() -> None:
        with store.transaction() as tx:
            action(tx)
            raise boom

    with pytest.raises(Boom) as caught:
        write_then_fail()
    assert caught.value is boom


def numbered(tx: Transaction, invoice: Invoice, messages: Sequence[OutboxMessage] = ()) -> Invoice:
    """``add_numbered`` as the services call it: the last write of a unit of work that wrote before.

    A store may run ``add_numbered`` as one statement that commits on its own
    when it is the unit of work's first write (see the port); after another
    write it is part of the unit of work, rolled back with it.
    """
    tx.audit.add(marker(invoice.account_id, invoice.id))
    return tx.invoices.add_numbered(invoice, messages)


def add_account(store: Store, **changes: Any) -> Account:
    """A new account (with its series) in the store."""
    account = make_account(make_user(), **changes)
    run(store, lambda tx: tx.accounts.add(account))
    return account


def issue(store: Store, invoice: Invoice, messages: Sequence[OutboxMessage] = ()) -> Invoice:
    """``invoice`` numbered and stored in a unit of work of its own."""
    return run(store, lambda tx: tx.invoices.add_numbered(invoice, messages))


def _save_account(tx: Transaction, account: Account) -> None:
    tx.accounts.save(account)


def _save_series(tx: Transaction, series: Series) -> None:
    tx.invoices.save_series(series)


def series_or_none(tx: Transaction, account_id: str) -> Series | None:
    try:
        return tx.invoices.series(account_id)
    except NotFound:
        return None


def record(found: IdempotencyRecord | None) -> tuple[str, str | None] | None:
    """An idempotency record as plain values (records are only a protocol)."""
    return None if found is None else (found.fingerprint, found.result)


def owners(tx: Transaction, account_id: str) -> list[str]:
    """The users with the OWNER role on the account."""
    return [m.user_id for m in tx.memberships.of_account(account_id) if m.role is Role.OWNER]


# racing calls


def race(calls: Sequence[Callable[[], T]], timeout: float) -> list[T]:
    """Each call in a thread of its own, all let go at once; their results, in the order of ``calls``.

    A barrier holds every thread until all are ready, so the calls overlap as
    much as the store lets them. Fails the test if a call raises (the first
    error is raised again here) or if the race is not over after ``timeout``
    seconds (a deadlock, or a lock never released).
    """
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def racer(index: int) -> None:
        try:
            start.wait(timeout)
            results[index] = calls[index]()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [
        threading.Thread(target=racer, args=(index,), name=f"racer-{index}", daemon=True)
        for index in range(len(calls))
    ]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        pytest.fail(f"{len(stuck)} of {len(calls)} racing calls had not returned after {timeout} s: {stuck}")
    if errors:
        raise errors[0]
    return cast("list[T]", results)


def outcome(call: Callable[[], object], *expected: type[BaseException]) -> Callable[[], str]:
    """``call`` made to tell how it ended: ``"done"`` or the name of the expected error it raised."""

    def tell() -> str:
        try:
            call()
        except expected as error:
            return type(error).__name__
        return "done"

    return tell


def in_own_transaction(store: Store, action: Callable[[Transaction], T]) -> Callable[[], T]:
    """A call of ``action`` in a committed transaction of its own, for :func:`race`."""
    return partial(run, store, action)


def racers(store: Store, action: Callable[[Transaction, X], T], items: Iterable[X]) -> list[Callable[[], T]]:
    """For each item, ``action(tx, item)`` in a committed transaction of its own, for :func:`race`."""
    return [partial(_run_with, store, action, item) for item in items]


def _run_with(store: Store, action: Callable[[Transaction, X], T], item: X) -> T:
    with store.transaction() as tx:
        return action(tx, item)


# a populated store, and everything that can be read back from it

SCOPE = "invoices.issue"


@attrs.frozen
class World:
    """Ids and values of a store with one of everything, and of values not yet added."""

    owner: User
    member: User
    outsider: User
    account: Account
    invitation: Invitation
    invoice: Invoice
    subscription: Subscription
    message: OutboxMessage
    new_user: User
    new_account: Account
    claimed_key: str
    new_key: str
    usage_key: str

    @property
    def customer(self) -> str:
        return self.outsider.id


def populate(store: Store) -> World:
    owner, member, outsider = make_user(), make_user(), make_user()
    account = make_account(owner)
    invitation = make_invitation(account, owner)
    subscription = make_subscription()
    claimed_key, new_key = new_id("key"), new_id("key")
    usage_key = new_id("usage-key")

    def fill(tx: Transaction) -> World:
        for user in (owner, member, outsider):
            tx.users.add(user)
        tx.accounts.add(account)
        tx.memberships.add(Membership(account.id, owner.id, Role.OWNER))
        tx.memberships.add(Membership(account.id, member.id, Role.MEMBER))
        tx.accounts.claim_number("org", "974760673", account.id, owner.id)
        tx.accounts.claim_number("bank", "86011117947", account.id, owner.id)
        tx.invitations.add(invitation)
        tx.audit.add(AuditEvent(account.id, T0, owner.id, "invited", invitation.email))
        assert tx.idempotency.claim(SCOPE, claimed_key, "fingerprint-1") is None
        invoice = tx.invoices.add_numbered(make_invoice(account.id))
        tx.ledger.add(make_ledger_entry(account.id, outsider.id, "250.50"))
        tx.subscriptions.add(subscription)
        tx.subscriptions.add_usage(make_usage(subscription.id, date(2026, 1, 20)))
        tx.metering.add([make_usage(subscription.id, date(2026, 1, 20), "API calls", key=usage_key)])
        tx.subscriptions.mark_billed(subscription.id, date(2026, 1, 10), invoice.id)
        message = make_message(invoice_id=invoice.id)
        tx.outbox.add(message)
        tx.events.append(Event("invitation.accepted", account.id, T0, {"user_id": member.id}))
        return World(
            owner=owner,
            member=member,
            outsider=outsider,
            account=account,
            invitation=invitation,
            invoice=invoice,
            subscription=subscription,
            message=message,
            new_user=make_user(),
            new_account=make_account(owner, org_number="123456785"),
            claimed_key=claimed_key,
            new_key=new_key,
            usage_key=usage_key,
        )

    return run(store, fill)


def snapshot(store: Store, w: World) -> dict[str, object]:
    """Everything the protocol can tell about the world's records."""
    users = (w.owner, w.member, w.outsider, w.new_user)
    accounts = (w.account, w.new_account)
    numbers = (("org", "974760673"), ("bank", "86011117947"), ("org", "123456785"))

    def read(tx: Transaction) -> dict[str, object]:
        return {
            "users": [tx.users.get(u.id) for u in users],
            "users by e-mail": [tx.users.by_email(u.email) for u in users],
            "accounts": [tx.accounts.get(a.id) for a in accounts],
            "accounts of users": [tx.accounts.of_user(u.id) for u in users],
            "memberships": [tx.memberships.of_account(a.id) for a in accounts],
            "membership with account": [tx.memberships.with_account(w.account.id, u.id) for u in users],
            "holders": [tx.accounts.number_holders(kind, number) for kind, number in numbers],
            "invitation": tx.invitations.get(w.invitation.id),
            "invitation by token": tx.invitations.by_token_hash(w.invitation.token_hash),
            "invitation by new token": [
                tx.invitations.by_token_hash(token) for token in ("added-token-hash", "renewed-token-hash")
            ],
            "audit": tx.audit.of_account(w.account.id),
            "events": tx.events.read(0, 100),
            "roles of users": [tx.accounts.memberships_of(u.id) for u in users],
            "people": [[(m.name, m.email) for m in tx.memberships.of_account(a.id)] for a in accounts],
            "pending invitations": tx.invitations.pending_of(w.account.id),
            "search": tx.invoices.search(w.account.id, limit=100),
            "by number": tx.invoices.by_number(w.account.id, w.invoice.number),
            "series": [series_or_none(tx, a.id) for a in accounts],
            "invoices": list(tx.invoices.of_account(w.account.id)),
            "credit notes": tx.invoices.credit_notes_of(w.invoice.id),
            "ledger": tx.ledger.entries(w.account.id, w.customer),
            "balance": tx.ledger.balance(w.account.id, w.customer, "NOK"),
            "subscription": tx.subscriptions.get(w.subscription.id),
            "due": tx.subscriptions.due_ids(date(2030, 1, 1), None, 100),
            "usage": tx.subscriptions.usage_between(w.subscription.id, date(2000, 1, 1), date(2100, 1, 1)),
            "usage by key": [
                tx.metering.by_key(w.subscription.id, key) for key in (w.usage_key, "added-usage-key")
            ],
            "outbox": tx.outbox.get(w.message.id),
            "due outbox": tx.outbox.due(T0 + timedelta(days=3650), 100),
            "outbox of invoice": tx.outbox.of_invoice(w.invoice.id),
            "payments": tx.payments.of_invoice(w.invoice.id),
            "payment by reference": tx.payments.by_reference(w.account.id, "REF-ADDED"),
            "by sequence": tx.payments.invoice_by_sequence(w.account.id, w.invoice.sequence),
            "overdue": tx.payments.overdue(w.account.id, date(2030, 1, 1)),
            "reminders": tx.reminders.of_invoice(w.invoice.id),
        }

    state = run(store, read)
    for kind, number in numbers:
        for user in users:
            refused = _claim_refused(kind, number, user.id)
            state[f"{kind} {number} refused to {user.id}"] = probe(store, refused)
    for due in (date(2026, 1, 10), date(2026, 2, 10)):
        state[f"billed {due}"] = probe(store, _mark_refused(w.subscription.id, due))
    state["outbox key taken"] = probe(store, lambda tx: not tx.outbox.add(make_message(key=w.message.key)))
    for key in (w.claimed_key, w.new_key):
        state[f"idempotency {key}"] = probe(store, partial(_claim_record, key))
    return state


def _claim_record(key: str, tx: Transaction) -> tuple[str, str | None] | None:
    return record(tx.idempotency.claim(SCOPE, key, "probe"))


def _claim_refused(kind: str, number: str, owner_id: str) -> Callable[[Transaction], bool]:
    def refused(tx: Transaction) -> bool:
        try:
            tx.accounts.claim_number(kind, number, new_id("account"), owner_id)
        except NumberTaken:
            return True
        return False

    return refused


def _mark_refused(subscription_id: str, due: date) -> Callable[[Transaction], bool]:
    def refused(tx: Transaction) -> bool:
        try:
            tx.subscriptions.mark_billed(subscription_id, due, None)
        except AlreadyBilled:
            return True
        return False

    return refused


def _write_cases() -> dict[str, Callable[[Transaction, World], object]]:
    """One of every write of the port, by ``"repository.method"``, each changing what :func:`snapshot` sees.

    Keyed as :class:`~tenantbill.testing.faults.FaultyStore` names methods.
    """
    return {
        "users.add": lambda tx, w: tx.users.add(w.new_user),
        "users.save": lambda tx, w: tx.users.save(
            attrs.evolve(w.owner, name="Nytt navn", invoice_emails=True)
        ),
        "accounts.add": lambda tx, w: tx.accounts.add(w.new_account),
        "accounts.save": lambda tx, w: tx.accounts.save(attrs.evolve(w.account, name="Nytt AS", logo=None)),
        "accounts.claim_number": lambda tx, w: tx.accounts.claim_number(
            "org", "123456785", w.new_account.id, w.outsider.id
        ),
        "accounts.release_number": lambda tx, w: tx.accounts.release_number("org", "974760673", w.account.id),
        "accounts.set_number_owner": lambda tx, w: tx.accounts.set_number_owner(
            "bank", "86011117947", w.member.id
        ),
        "memberships.add": lambda tx, w: tx.memberships.add(
            Membership(w.account.id, w.outsider.id, Role.BILLING)
        ),
        "memberships.remove": lambda tx, w: tx.memberships.remove(w.account.id, w.member.id),
        "memberships.transfer_ownership": lambda tx, w: tx.memberships.transfer_ownership(
            w.account.id, w.owner.id, w.member.id
        ),
        "invitations.add": lambda tx, w: tx.invitations.add(
            make_invitation(w.account, w.owner, token_hash="added-token-hash")
        ),
        "invitations.accept": lambda tx, w: tx.invitations.accept(
            w.invitation.id, w.invitation.token_hash, w.outsider.id
        ),
        "invitations.revoke": lambda tx, w: tx.invitations.revoke(w.invitation.id),
        "invitations.renew": lambda tx, w: tx.invitations.renew(
            w.invitation.id, "renewed-token-hash", T0 + timedelta(days=14)
        ),
        "audit.add": lambda tx, w: tx.audit.add(AuditEvent(w.account.id, T0, None, "left", w.member.id)),
        "audit.redact": lambda tx, w: tx.audit.redact(w.invitation.email.lower(), w.outsider.id),
        "users.erase": lambda tx, w: tx.users.erase(w.member.id, "(erased)"),
        "invitations.redact_email": lambda tx, w: tx.invitations.redact_email(
            w.invitation.email.lower(), "(erased)"
        ),
        "events.append": lambda tx, w: tx.events.append(
            Event("member.removed", w.account.id, T0, {"user_id": w.member.id})
        ),
        "invoices.save_series": lambda tx, w: tx.invoices.save_series(Series(w.account.id, 1000, "F-", 6, 1)),
        # Last, after another write (see numbered()): the unit of work's first write may commit on its own.
        "invoices.add_numbered": lambda tx, w: numbered(tx, make_credit_note(w.invoice)),
        "ledger.add": lambda tx, w: tx.ledger.add(make_ledger_entry(w.account.id, w.customer, "-50.25")),
        "subscriptions.add": lambda tx, w: tx.subscriptions.add(make_subscription(date(2026, 3, 1))),
        "subscriptions.save": lambda tx, w: tx.subscriptions.save(
            attrs.evolve(
                w.subscription,
                fee_n=1,
                usage_n=1,
                plans=(*w.subscription.plans, PlanChange(date(2026, 2, 10), PRO_YEARLY)),
            )
        ),
        "subscriptions.add_usage": lambda tx, w: tx.subscriptions.add_usage(
            make_usage(w.subscription.id, date(2026, 1, 21))
        ),
        "subscriptions.mark_billed": lambda tx, w: tx.subscriptions.mark_billed(
            w.subscription.id, date(2026, 2, 10), None
        ),
        "metering.add": lambda tx, w: tx.metering.add(
            [
                make_usage(w.subscription.id, date(2026, 1, 22), key=k)
                for k in (w.usage_key, "added-usage-key")
            ]
        ),
        "outbox.add": lambda tx, w: tx.outbox.add(make_message(invoice_id=w.invoice.id)),
        "outbox.save": lambda tx, w: tx.outbox.save(attrs.evolve(w.message, attempts=1, sent_at=T0)),
        "outbox.claim": lambda tx, w: tx.outbox.claim(T0, 10, T0 + timedelta(minutes=10)),
        "idempotency.claim": lambda tx, w: tx.idempotency.claim(SCOPE, w.new_key, "fingerprint-2"),
        "idempotency.complete": lambda tx, w: tx.idempotency.complete(SCOPE, w.claimed_key, w.invoice.id),
        "payments.add": lambda tx, w: tx.payments.add(make_payment(w.invoice, "100", reference="REF-ADDED")),
        "payments.settle": lambda tx, w: tx.payments.settle(w.invoice.id, Decimal("100"), Decimal("0")),
        "reminders.add": lambda tx, w: tx.reminders.add(make_reminder(w.invoice, date(2026, 3, 1))),
    }


WRITES = _write_cases()
"""Every write of the port, by ``"repository.method"``: what it does to a populated :class:`World`."""


# the contract classes


class StoreContract:
    """How a contract class gets its store: subclass a contract class and implement :meth:`make_store`."""

    race_threads: ClassVar[int] = 8
    """Threads in each race."""
    race_trials: ClassVar[int] = 5
    """How often each race of an invariant is run (a new invitation, account or key each time)."""
    race_timeout: ClassVar[float] = 20.0
    """Seconds a race may take before it counts as hung (a deadlock, a lock never released)."""

    def make_store(self) -> Store:
        """A new, empty store to test."""
        raise NotImplementedError(f"{type(self).__name__} must say how to build its store (make_store)")

    def close_store(self, store: Store) -> None:
        """Release what :meth:`make_store` acquired (nothing by default)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A new, empty store for one test."""
        store = self.make_store()
        yield store
        self.close_store(store)

    def race(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """:func:`race` with this class's timeout."""
        return race(calls, self.race_timeout)


class UsersContract(StoreContract):
    """``tx.users``: one user per e-mail address, compared case-insensitively."""

    def test_added_user_is_found_by_id_and_by_email(self, store: Store) -> None:
        user = make_user()
        run(store, lambda tx: tx.users.add(user))
        assert run(store, lambda tx: tx.users.get(user.id)) == user
        assert run(store, lambda tx: tx.users.by_email(user.email)) == user

    def test_email_lookup_ignores_case(self, store: Store) -> None:
        user = make_user(email="Kari.Nordmann@Example.NO")
        run(store, lambda tx: tx.users.add(user))
        assert run(store, lambda tx: tx.users.by_email("kari.nordmann@example.no")) == user
        assert run(store, lambda tx: tx.users.by_email("KARI.NORDMANN@EXAMPLE.NO")) == user

    def test_second_user_with_the_same_email_in_other_case_is_refused(self, store: Store) -> None:
        first = make_user(email="kari@example.no")
        run(store, lambda tx: tx.users.add(first))
        with pytest.raises(EmailTaken):
            run(store, lambda tx: tx.users.add(make_user(email="KARI@example.no")))
        assert run(store, lambda tx: tx.users.by_email("kari@example.no")) == first

    def test_an_erased_user_keeps_only_the_id_and_frees_the_address(self, store: Store) -> None:
        user = make_user(invoice_emails=True)
        run(store, lambda tx: tx.users.add(user))
        assert run(store, lambda tx: tx.users.erase(user.id, "(erased)")) is True
        assert run(store, lambda tx: tx.users.get(user.id)) == User(user.id, "(erased)", "", False)
        assert run(store, lambda tx: tx.users.by_email(user.email)) is None
        again = make_user(email=user.email)
        run(store, lambda tx: tx.users.add(again))
        assert run(store, lambda tx: tx.users.by_email(user.email)) == again
        assert run(store, lambda tx: tx.users.erase("unknown", "(erased)")) is False

    def test_unknown_user_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.users.get("nobody")) is None
        assert run(store, lambda tx: tx.users.by_email("nobody@example.no")) is None

    def test_saved_user_replaces_the_record(self, store: Store) -> None:
        user = make_user()
        run(store, lambda tx: tx.users.add(user))
        changed = attrs.evolve(user, name="Kari", invoice_emails=True)
        run(store, lambda tx: tx.users.save(changed))
        assert run(store, lambda tx: tx.users.get(user.id)) == changed
        assert run(store, lambda tx: tx.users.by_email(user.email)) == changed

    def test_saving_an_unknown_user_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.users.save(make_user()))

    def test_threads_adding_users_with_one_address_add_exactly_one(self, store: Store) -> None:
        users = [
            make_user(email="KARI@Example.no" if n % 2 else "kari@example.no")
            for n in range(self.race_threads)
        ]
        ended = self.race([outcome(call, EmailTaken) for call in racers(store, _add_user, users)])
        assert Counter(ended) == Counter({"done": 1, "EmailTaken": len(users) - 1})
        winner = users[ended.index("done")]
        assert run(store, lambda tx: tx.users.by_email("kari@EXAMPLE.no")) == winner
        assert run(store, lambda tx: [tx.users.get(u.id) for u in users]) == [
            u if u is winner else None for u in users
        ]


def _add_user(tx: Transaction, user: User) -> None:
    tx.users.add(user)


class AccountsContract(StoreContract):
    """``tx.accounts``: accounts, their series (made with them) and the claims on org and bank numbers."""

    def test_account_round_trips_every_field(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.accounts.add(account))
        assert run(store, lambda tx: tx.accounts.get(account.id)) == account

    def test_account_with_defaults_round_trips(self, store: Store) -> None:
        account = Account(id=new_id("account"), name="Solo", owner_id="user-1")
        run(store, lambda tx: tx.accounts.add(account))
        assert run(store, lambda tx: tx.accounts.get(account.id)) == account

    def test_saved_account_replaces_the_record(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.accounts.add(account))
        changed = attrs.evolve(account, name="Nytt AS", org_number=None, logo=None, invoice_recipients=())
        run(store, lambda tx: tx.accounts.save(changed))
        assert run(store, lambda tx: tx.accounts.get(account.id)) == changed

    def test_saving_an_unknown_account_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.accounts.save(make_account(make_user())))

    def test_unknown_account_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.accounts.get("nowhere")) is None

    def test_new_account_has_a_series_starting_at_one(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.accounts.add(account))
        assert run(store, lambda tx: tx.invoices.series(account.id)) == Series(account.id)

    def test_account_with_an_id_already_stored_is_refused(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.accounts.add(account))
        run(store, lambda tx: tx.invoices.save_series(Series(account.id, next_sequence=7, last_used=6)))
        with pytest.raises(DuplicateId):
            run(store, lambda tx: tx.accounts.add(attrs.evolve(account, name="Imposter AS")))
        assert run(store, lambda tx: tx.accounts.get(account.id)) == account
        assert run(store, lambda tx: tx.invoices.series(account.id)) == Series(account.id, 7, last_used=6)

    # org and bank number claims

    @pytest.mark.parametrize(("kind", "error"), [("org", OrgNumberTaken), ("bank", BankAccountTaken)])
    def test_number_of_another_owners_account_is_refused(
        self, store: Store, kind: str, error: type[NumberTaken]
    ) -> None:
        run(store, lambda tx: tx.accounts.claim_number(kind, "974760673", "account-1", "owner-1"))
        with pytest.raises(error):
            run(store, lambda tx: tx.accounts.claim_number(kind, "974760673", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.accounts.number_holders(kind, "974760673")) == ["account-1"]

    def test_same_owner_may_reuse_a_number_for_another_account(self, store: Store) -> None:
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-b", "owner-1"))
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-a", "owner-1"))
        assert run(store, lambda tx: tx.accounts.number_holders("org", "974760673")) == [
            "account-a",
            "account-b",
        ]

    def test_claiming_a_held_number_again_for_the_same_account_changes_nothing(self, store: Store) -> None:
        for _ in range(2):
            run(store, lambda tx: tx.accounts.claim_number("bank", "86011117947", "account-1", "owner-1"))
        assert run(store, lambda tx: tx.accounts.number_holders("bank", "86011117947")) == ["account-1"]

    def test_unclaimed_number_has_no_holders(self, store: Store) -> None:
        assert run(store, lambda tx: tx.accounts.number_holders("org", "974760673")) == []

    def test_org_and_bank_numbers_are_claimed_separately(self, store: Store) -> None:
        run(store, lambda tx: tx.accounts.claim_number("org", "12345678903", "account-1", "owner-1"))
        run(store, lambda tx: tx.accounts.claim_number("bank", "12345678903", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.accounts.number_holders("org", "12345678903")) == ["account-1"]
        assert run(store, lambda tx: tx.accounts.number_holders("bank", "12345678903")) == ["account-2"]

    def test_released_number_is_free_for_another_owner(self, store: Store) -> None:
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-1", "owner-1"))
        run(store, lambda tx: tx.accounts.release_number("org", "974760673", "account-1"))
        assert run(store, lambda tx: tx.accounts.number_holders("org", "974760673")) == []
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.accounts.number_holders("org", "974760673")) == ["account-2"]

    def test_number_stays_with_its_owner_while_one_account_still_holds_it(self, store: Store) -> None:
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-1", "owner-1"))
        run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-2", "owner-1"))
        run(store, lambda tx: tx.accounts.release_number("org", "974760673", "account-1"))
        with pytest.raises(OrgNumberTaken):
            run(store, lambda tx: tx.accounts.claim_number("org", "974760673", "account-3", "owner-2"))
        assert run(store, lambda tx: tx.accounts.number_holders("org", "974760673")) == ["account-2"]

    def test_new_number_owner_may_claim_and_the_old_one_may_not(self, store: Store) -> None:
        run(store, lambda tx: tx.accounts.claim_number("bank", "86011117947", "account-1", "owner-1"))
        run(store, lambda tx: tx.accounts.set_number_owner("bank", "86011117947", "owner-2"))
        run(store, lambda tx: tx.accounts.claim_number("bank", "86011117947", "account-2", "owner-2"))
        with pytest.raises(BankAccountTaken):
            run(store, lambda tx: tx.accounts.claim_number("bank", "86011117947", "account-3", "owner-1"))
        assert run(store, lambda tx: tx.accounts.number_holders("bank", "86011117947")) == [
            "account-1",
            "account-2",
        ]

    def test_threads_claiming_one_number_for_other_owners_let_exactly_one_have_it(self, store: Store) -> None:
        racing = range(self.race_threads)
        ended = self.race(
            [outcome(call, OrgNumberTaken) for call in racers(store, _claim_org_number, racing)]
        )
        assert Counter(ended) == Counter({"done": 1, "OrgNumberTaken": len(racing) - 1})
        holders = run(store, lambda tx: tx.accounts.number_holders("org", "974760673"))
        assert holders == [f"account-{ended.index('done')}"]


def _claim_org_number(tx: Transaction, n: int) -> None:
    tx.accounts.claim_number("org", "974760673", f"account-{n}", f"owner-{n}")


class MembershipsContract(StoreContract):
    """``tx.memberships``: roles on accounts; the owner is never removed and ownership moves atomically."""

    def test_membership_is_found_after_adding(self, store: Store) -> None:
        membership = Membership("account-1", "user-1", Role.BILLING)
        run(store, lambda tx: tx.memberships.add(membership))
        assert run(store, lambda tx: tx.memberships.get("account-1", "user-1")) == membership
        assert run(store, lambda tx: tx.memberships.get("account-1", "user-2")) is None

    def test_second_membership_of_a_user_on_an_account_is_refused(self, store: Store) -> None:
        run(store, lambda tx: tx.memberships.add(Membership("account-1", "user-1", Role.MEMBER)))
        with pytest.raises(AlreadyMember):
            run(store, lambda tx: tx.memberships.add(Membership("account-1", "user-1", Role.BILLING)))
        assert run(store, lambda tx: tx.memberships.get("account-1", "user-1")) == Membership(
            "account-1", "user-1", Role.MEMBER
        )

    def test_memberships_of_account_are_in_creation_order(self, store: Store) -> None:
        added = [Membership("account-1", user, role) for user, role in [
            ("user-c", Role.OWNER), ("user-a", Role.MEMBER), ("user-b", Role.BILLING)
        ]]  # fmt: skip
        run(store, lambda tx: add_all(tx.memberships.add, added))
        run(store, lambda tx: tx.memberships.add(Membership("account-2", "user-a", Role.OWNER)))
        assert run(store, lambda tx: tx.memberships.of_account("account-1")) == added

    def test_accounts_of_user_are_in_membership_creation_order(self, store: Store) -> None:
        owner, user = make_user(), make_user()
        first, second, third = (make_account(owner) for _ in range(3))
        run(store, lambda tx: add_all(tx.accounts.add, (first, second, third)))
        joined = [Membership(a.id, user.id, Role.MEMBER) for a in (third, first, second)]
        each(store, lambda tx, membership: tx.memberships.add(membership), joined)
        assert run(store, lambda tx: tx.accounts.of_user(user.id)) == [third, first, second]
        assert run(store, lambda tx: tx.accounts.of_user(owner.id)) == []

    def test_memberships_carry_their_users_name_and_address_and_roles_are_read_with_accounts(
        self, store: Store
    ) -> None:
        owner, member = make_user(), make_user(name="Per")
        first, second = make_account(owner), make_account(owner, org_number=None, bank_account=None)

        def fill(tx: Transaction) -> None:
            add_all(tx.users.add, [owner, member])
            add_all(tx.accounts.add, [first, second])
            tx.memberships.add(Membership(first.id, owner.id, Role.OWNER))
            tx.memberships.add(Membership(second.id, owner.id, Role.OWNER))
            tx.memberships.add(Membership(first.id, member.id, Role.BILLING))

        run(store, fill)
        people = run(store, lambda tx: tx.memberships.of_account(first.id))
        assert [(m.user_id, m.name, m.email) for m in people] == [
            (owner.id, owner.name, owner.email),
            (member.id, "Per", member.email),
        ]
        roles = run(store, lambda tx: tx.accounts.memberships_of(owner.id))
        assert roles == [(first, Role.OWNER), (second, Role.OWNER)]
        assert run(store, lambda tx: tx.accounts.memberships_of(member.id)) == [(first, Role.BILLING)]
        assert run(store, lambda tx: tx.accounts.memberships_of("unknown")) == []

    def test_account_and_membership_are_read_together(self, store: Store) -> None:
        owner, outsider = make_user(), make_user()
        account = make_account(owner)
        run(store, lambda tx: tx.accounts.add(account))
        run(store, lambda tx: tx.memberships.add(Membership(account.id, owner.id, Role.OWNER)))
        assert run(store, lambda tx: tx.memberships.with_account(account.id, owner.id)) == (
            account,
            Membership(account.id, owner.id, Role.OWNER),
        )
        assert run(store, lambda tx: tx.memberships.with_account(account.id, outsider.id)) == (account, None)
        assert run(store, lambda tx: tx.memberships.with_account("nowhere", owner.id)) == (None, None)

    def test_a_recent_answer_is_checked_before_anything_is_written_on_it(self, store: Store) -> None:
        # A store may answer with_account(recent=True) from what it read before; once a row has
        # changed, a unit of work that writes on such an answer raises StaleRead and writes nothing.
        owner, member = make_user(), make_user()
        account = make_account(owner)

        def fill(tx: Transaction) -> None:
            tx.accounts.add(account)
            tx.memberships.add(Membership(account.id, owner.id, Role.OWNER))
            tx.memberships.add(Membership(account.id, member.id, Role.BILLING))

        run(store, fill)

        def issue_on(user_id: str, recent: bool) -> tuple[Account | None, Membership | None, Invoice | None]:
            def work(tx: Transaction) -> tuple[Account | None, Membership | None, Invoice | None]:
                found, membership = tx.memberships.with_account(account.id, user_id, recent=recent)
                made = tx.invoices.add_numbered(make_invoice(account.id)) if membership else None
                return found, membership, made

            return run(store, work)

        def issue_with_retry(user_id: str) -> tuple[Account | None, Membership | None, Invoice | None]:
            try:
                return issue_on(user_id, recent=True)
            except StaleRead:
                assert run(store, lambda tx: tx.invoices.series(account.id)) == series
                return issue_on(user_id, recent=False)

        series = run(store, lambda tx: tx.invoices.series(account.id))
        found, _, made = issue_with_retry(owner.id)  # read, and kept by a store that keeps answers
        assert (found, made and made.sequence) == (account, 1)
        series = run(store, lambda tx: tx.invoices.series(account.id))
        renamed = attrs.evolve(account, name="Renamed AS")
        run(store, lambda tx: tx.accounts.save(renamed))
        found, _, made = issue_with_retry(owner.id)
        assert (found, made and made.sequence) == (renamed, 2)

        assert issue_with_retry(member.id)[1] == Membership(account.id, member.id, Role.BILLING)
        series = run(store, lambda tx: tx.invoices.series(account.id))
        run(store, lambda tx: tx.memberships.remove(account.id, member.id))
        assert issue_with_retry(member.id)[1:] == (None, None)
        assert run(store, lambda tx: tx.invoices.series(account.id)) == series

        # Any other write, and the end of a unit of work that only read, check it too.
        audited = AuditEvent(account.id, T0, owner.id, "checked", account.id, "")

        def audit_on_answer(tx: Transaction) -> Account | None:
            found = tx.memberships.with_account(account.id, owner.id, recent=True)[0]
            tx.audit.add(audited)
            return found

        def only_read(tx: Transaction) -> Account | None:
            return tx.memberships.with_account(account.id, owner.id, recent=True)[0]

        seen: list[Account | None] = []

        def refuse_on_answer(tx: Transaction) -> None:
            seen.append(tx.memberships.with_account(account.id, owner.id, recent=True)[0])
            raise PermissionDenied("refused on the answer")

        run(store, lambda tx: tx.memberships.with_account(account.id, owner.id))  # read (and kept)
        current = attrs.evolve(account, name="Third AS")
        run(store, partial(_save_account, account=current))
        try:
            run(store, refuse_on_answer)
        except StaleRead:  # refused on an answer that had changed: the caller reads again
            pass
        except PermissionDenied:
            assert seen[-1] == current  # refused on the current answer
        run(store, partial(_save_account, account=account))

        for name, work in (("first", audit_on_answer), ("second", only_read)):
            run(store, lambda tx: tx.memberships.with_account(account.id, owner.id))  # read (and kept)
            current = attrs.evolve(account, name=f"{name.title()} AS")
            run(store, partial(_save_account, account=current))
            try:
                assert run(store, work) == current
            except StaleRead:
                if work is audit_on_answer:
                    assert run(store, lambda tx: tx.audit.of_account(account.id)) == []
            else:
                if work is audit_on_answer:
                    assert run(store, lambda tx: tx.audit.of_account(account.id)) == [audited]

    # removal

    def test_removed_membership_is_gone_everywhere(self, store: Store) -> None:
        account, owner, (user,) = self._team(store, 1)
        assert run(store, lambda tx: tx.memberships.remove(account.id, user)) is True
        assert run(store, lambda tx: tx.memberships.get(account.id, user)) is None
        assert run(store, lambda tx: tx.memberships.of_account(account.id)) == [
            Membership(account.id, owner, Role.OWNER)
        ]
        assert run(store, lambda tx: tx.accounts.of_user(user)) == []

    def test_removing_a_missing_membership_removes_nothing(self, store: Store) -> None:
        account, _, (user,) = self._team(store, 1)
        before = run(store, lambda tx: tx.memberships.of_account(account.id))
        assert run(store, lambda tx: tx.memberships.remove("account-1", "user-1")) is False
        assert run(store, lambda tx: tx.memberships.remove(account.id, "user-1")) is False
        assert run(store, lambda tx: tx.memberships.remove(account.id, user)) is True
        assert run(store, lambda tx: tx.memberships.remove(account.id, user)) is False
        assert run(store, lambda tx: tx.memberships.of_account(account.id)) == [before[0]]

    def test_the_owner_is_never_removed(self, store: Store) -> None:
        account, owner, _ = self._team(store, 1)
        before = run(store, lambda tx: tx.memberships.of_account(account.id))
        assert run(store, lambda tx: tx.memberships.remove(account.id, owner)) is False
        assert run(store, lambda tx: tx.memberships.of_account(account.id)) == before
        assert run(store, lambda tx: tx.accounts.of_user(owner)) == [account]

    def test_member_who_left_and_rejoined_is_listed_once_as_the_newest(self, store: Store) -> None:
        owner = make_user()
        first, second = make_account(owner), make_account(owner)
        run(store, lambda tx: add_all(tx.accounts.add, [first, second]))
        joined = [
            Membership(first.id, "user-1", Role.MEMBER),
            Membership(second.id, "user-1", Role.MEMBER),
            Membership(first.id, "user-2", Role.BILLING),
        ]
        each(store, lambda tx, membership: tx.memberships.add(membership), joined)
        assert run(store, lambda tx: tx.memberships.remove(first.id, "user-1")) is True
        run(store, lambda tx: tx.memberships.add(joined[0]))
        assert run(store, lambda tx: tx.memberships.of_account(first.id)) == [joined[2], joined[0]]
        assert run(store, lambda tx: tx.accounts.of_user("user-1")) == [second, first]

    # ownership

    def test_transfer_swaps_the_roles_and_the_accounts_owner(self, store: Store) -> None:
        account, owner, (member, billing) = self._team(store, 2, Role.MEMBER, Role.BILLING)
        assert run(store, lambda tx: tx.memberships.transfer_ownership(account.id, owner, billing)) is True
        assert run(store, lambda tx: tx.memberships.of_account(account.id)) == [
            Membership(account.id, owner, Role.MEMBER),
            Membership(account.id, member, Role.MEMBER),
            Membership(account.id, billing, Role.OWNER),
        ]
        assert run(store, lambda tx: tx.accounts.get(account.id)) == attrs.evolve(account, owner_id=billing)
        # The former owner can now be removed, and the new one cannot.
        assert run(store, lambda tx: tx.memberships.remove(account.id, billing)) is False
        assert run(store, lambda tx: tx.memberships.remove(account.id, owner)) is True
        assert run(store, lambda tx: owners(tx, account.id)) == [billing]

    def test_ownership_moves_on_and_back(self, store: Store) -> None:
        account, owner, (member,) = self._team(store, 1)
        assert run(store, lambda tx: tx.memberships.transfer_ownership(account.id, owner, member)) is True
        assert run(store, lambda tx: tx.memberships.transfer_ownership(account.id, member, owner)) is True
        assert run(store, lambda tx: tx.memberships.of_account(account.id)) == [
            Membership(account.id, owner, Role.OWNER),
            Membership(account.id, member, Role.MEMBER),
        ]
        assert run(store, lambda tx: tx.accounts.get(account.id)) == account

    @pytest.mark.parametrize(
        "case",
        ["from a member", "to a non-member", "to the owner", "from an outsider", "on an unknown account"],
    )
    def test_a_transfer_that_does_not_fit_changes_nothing(self, store: Store, case: str) -> None:
        account, owner, (member, other) = self._team(store, 2)
        outsider = make_user().id
        account_id, from_id, to_id = {
            "from a member": (account.id, member, other),
            "to a non-member": (account.id, owner, outsider),
            "to the owner": (account.id, owner, owner),
            "from an outsider": (account.id, outsider, member),
            "on an unknown account": ("nowhere", owner, member),
        }[case]
        before = run(store, lambda tx: (tx.accounts.get(account.id), tx.memberships.of_account(account.id)))
        assert run(store, lambda tx: tx.memberships.transfer_ownership(account_id, from_id, to_id)) is False
        assert (
            run(store, lambda tx: (tx.accounts.get(account.id), tx.memberships.of_account(account.id)))
            == before
        )

    def test_a_refused_transfer_leaves_the_transaction_usable(self, store: Store) -> None:
        account, owner, (member,) = self._team(store, 1)

        def refused_then_transfer(tx: Transaction) -> None:
            assert tx.memberships.transfer_ownership(account.id, member, owner) is False
            assert tx.memberships.transfer_ownership(account.id, owner, member) is True
            assert owners(tx, account.id) == [member]

        run(store, refused_then_transfer)
        assert run(store, lambda tx: (owners(tx, account.id), tx.accounts.get(account.id))) == (
            [member],
            attrs.evolve(account, owner_id=member),
        )

    def test_threads_transferring_ownership_at_once_leave_exactly_one_owner(self, store: Store) -> None:
        for _ in range(self.race_trials):
            self._race_transfers(store)

    def _race_transfers(self, store: Store) -> None:
        account, owner, members = self._team(store, self.race_threads)

        def transfer(tx: Transaction, to: str) -> bool:
            return tx.memberships.transfer_ownership(account.id, owner, to)

        won = self.race(racers(store, transfer, members))
        assert won.count(True) == 1, f"{won.count(True)} of {len(won)} concurrent transfers succeeded"
        self._check_one_owner(store, account, members[won.index(True)], [owner, *members])

    def test_removals_racing_a_transfer_never_leave_the_account_without_its_owner(self, store: Store) -> None:
        for _ in range(self.race_trials):
            self._race_removals_and_a_transfer(store)

    def _race_removals_and_a_transfer(self, store: Store) -> None:
        account, owner, (member,) = self._team(store, 1)
        transferred, member_removed, owner_removed = self.race(
            [
                in_own_transaction(
                    store, lambda tx: tx.memberships.transfer_ownership(account.id, owner, member)
                ),
                in_own_transaction(store, lambda tx: tx.memberships.remove(account.id, member)),
                in_own_transaction(store, lambda tx: tx.memberships.remove(account.id, owner)),
            ]
        )
        assert not (transferred and member_removed), "the new owner was removed"
        assert not (owner_removed and not transferred), "the owner was removed"
        new_owner = member if transferred else owner
        left = [u for u, removed in ((owner, owner_removed), (member, member_removed)) if not removed]
        self._check_one_owner(store, account, new_owner, left)

    # a team to test on

    @staticmethod
    def _team(store: Store, count: int, *roles: Role) -> tuple[Account, str, list[str]]:
        """An account, its owner and ``count`` other members (with ``roles``, else MEMBER), in the store."""
        owner = make_user()
        account = make_account(owner)
        members = [new_id("user") for _ in range(count)]

        def add(tx: Transaction) -> None:
            tx.accounts.add(account)
            tx.memberships.add(Membership(account.id, owner.id, Role.OWNER))
            for n, user_id in enumerate(members):
                tx.memberships.add(
                    Membership(account.id, user_id, roles[n] if n < len(roles) else Role.MEMBER)
                )

        run(store, add)
        return account, owner.id, members

    @staticmethod
    def _check_one_owner(store: Store, account: Account, owner: str, users: Sequence[str]) -> None:
        def read(tx: Transaction) -> tuple[list[Membership], Account | None]:
            return tx.memberships.of_account(account.id), tx.accounts.get(account.id)

        memberships, stored = run(store, read)
        assert [m.user_id for m in memberships if m.role is Role.OWNER] == [owner]
        assert stored == attrs.evolve(account, owner_id=owner)
        assert sorted(m.user_id for m in memberships) == sorted(users)


class InvitationsContract(StoreContract):
    """``tx.invitations``: found by id or token hash; accepted at most once, never after revocation."""

    def test_invitation_is_found_by_id_and_by_token_hash(self, store: Store) -> None:
        invitation = self._pending(store)
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == invitation
        assert run(store, lambda tx: tx.invitations.by_token_hash(invitation.token_hash)) == invitation
        assert run(store, lambda tx: tx.invitations.by_token_hash("unknown")) is None
        assert run(store, lambda tx: tx.invitations.get("unknown")) is None

    def test_pending_invitations_are_listed_oldest_first_and_addresses_can_be_redacted(
        self, store: Store
    ) -> None:
        owner = make_user()
        account = make_account(owner)
        made = [
            make_invitation(account, owner, created_at=T0 + timedelta(minutes=n), email=f"n{n}@example.no")
            for n in range(3)
        ]
        other = make_invitation(make_account(owner), owner)
        each(store, lambda tx, invitation: tx.invitations.add(invitation), [*reversed(made), other])
        run(store, lambda tx: tx.invitations.revoke(made[1].id))
        assert run(store, lambda tx: tx.invitations.pending_of(account.id)) == [made[0], made[2]]
        run(store, lambda tx: tx.invitations.redact_email("n2@example.no", "(erased)"))
        assert run(store, lambda tx: tx.invitations.get(made[2].id)) == attrs.evolve(
            made[2], email="(erased)"
        )
        assert run(store, lambda tx: tx.invitations.get(made[0].id)) == made[0]

    def test_accepted_invitation_records_who_accepted_it(self, store: Store) -> None:
        invitation = self._pending(store)
        assert run(store, lambda tx: tx.invitations.accept(invitation.id, invitation.token_hash, "user-9"))
        accepted = attrs.evolve(invitation, state=InvitationState.ACCEPTED, accepted_by="user-9")
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == accepted

    def test_an_invitation_is_accepted_only_once(self, store: Store) -> None:
        invitation = self._pending(store)
        accept = self._accept(invitation)
        assert run(store, accept("user-1")) is True
        assert run(store, accept("user-2")) is False
        assert run(store, accept("user-1")) is False
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == attrs.evolve(
            invitation, state=InvitationState.ACCEPTED, accepted_by="user-1"
        )

    def test_an_invitation_is_accepted_only_with_its_token_hash(self, store: Store) -> None:
        invitation = self._pending(store)
        assert run(store, lambda tx: tx.invitations.accept(invitation.id, "another-hash", "user-1")) is False
        other = self._pending(store)
        assert (
            run(store, lambda tx: tx.invitations.accept(invitation.id, other.token_hash, "user-1")) is False
        )
        assert (
            run(store, lambda tx: tx.invitations.accept("unknown", invitation.token_hash, "user-1")) is False
        )
        assert run(store, lambda tx: [tx.invitations.get(i.id) for i in (invitation, other)]) == [
            invitation,
            other,
        ]

    def test_a_revoked_invitation_cannot_be_accepted(self, store: Store) -> None:
        invitation = self._pending(store)
        assert run(store, lambda tx: tx.invitations.revoke(invitation.id)) is True
        revoked = attrs.evolve(invitation, state=InvitationState.REVOKED)
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == revoked
        assert run(store, self._accept(invitation)("user-1")) is False
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == revoked

    def test_only_a_pending_invitation_is_revoked(self, store: Store) -> None:
        accepted, revoked = self._pending(store), self._pending(store)
        run(store, self._accept(accepted)("user-1"))
        run(store, lambda tx: tx.invitations.revoke(revoked.id))
        before = run(store, lambda tx: [tx.invitations.get(i.id) for i in (accepted, revoked)])
        assert run(store, lambda tx: tx.invitations.revoke(accepted.id)) is False
        assert run(store, lambda tx: tx.invitations.revoke(revoked.id)) is False
        assert run(store, lambda tx: tx.invitations.revoke("unknown")) is False
        assert run(store, lambda tx: [tx.invitations.get(i.id) for i in (accepted, revoked)]) == before

    def test_a_renewed_invitation_is_found_and_accepted_by_its_new_token_hash_only(
        self, store: Store
    ) -> None:
        invitation = self._pending(store)
        later = T0 + timedelta(days=14)
        assert run(store, lambda tx: tx.invitations.renew(invitation.id, "renewed", later)) is True
        renewed = attrs.evolve(invitation, token_hash="renewed", expires_at=later)
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == renewed
        assert run(store, lambda tx: tx.invitations.by_token_hash("renewed")) == renewed
        assert run(store, lambda tx: tx.invitations.by_token_hash(invitation.token_hash)) is None
        # The stale token hash no longer accepts it; the new one does.
        assert run(store, self._accept(invitation)("user-1")) is False
        assert run(store, self._accept(renewed)("user-2")) is True
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == attrs.evolve(
            renewed, state=InvitationState.ACCEPTED, accepted_by="user-2"
        )

    def test_only_a_pending_invitation_is_renewed(self, store: Store) -> None:
        accepted, revoked = self._pending(store), self._pending(store)
        run(store, self._accept(accepted)("user-1"))
        run(store, lambda tx: tx.invitations.revoke(revoked.id))
        before = run(store, lambda tx: [tx.invitations.get(i.id) for i in (accepted, revoked)])
        later = T0 + timedelta(days=14)
        assert run(store, lambda tx: tx.invitations.renew(accepted.id, "renewed-1", later)) is False
        assert run(store, lambda tx: tx.invitations.renew(revoked.id, "renewed-2", later)) is False
        assert run(store, lambda tx: tx.invitations.renew("unknown", "renewed-3", later)) is False
        assert run(store, lambda tx: [tx.invitations.get(i.id) for i in (accepted, revoked)]) == before
        assert run(store, lambda tx: [tx.invitations.by_token_hash(f"renewed-{n}") for n in (1, 2, 3)]) == [
            None,
            None,
            None,
        ]

    def test_an_invitation_is_renewed_again_and_again(self, store: Store) -> None:
        invitation = self._pending(store)
        for n in range(3):
            assert run(store, lambda tx: tx.invitations.renew(invitation.id, f"hash-{n}", T0)) is True  # noqa: B023
        assert run(store, lambda tx: [tx.invitations.by_token_hash(f"hash-{n}") for n in range(3)]) == [
            None,
            None,
            attrs.evolve(invitation, token_hash="hash-2", expires_at=T0),
        ]

    def test_threads_accepting_one_invitation_let_exactly_one_in(self, store: Store) -> None:
        for _ in range(self.race_trials):
            self._race_accepts(store)

    def _race_accepts(self, store: Store) -> None:
        invitation = self._pending(store)
        users = [new_id("user") for _ in range(self.race_threads)]

        def accept_and_join(tx: Transaction, user_id: str) -> bool:
            if not tx.invitations.accept(invitation.id, invitation.token_hash, user_id):
                return False
            tx.memberships.add(Membership(invitation.account_id, user_id, invitation.role))
            return True

        won = self.race(racers(store, accept_and_join, users))
        assert won.count(True) == 1, f"{won.count(True)} of {len(won)} concurrent accepts succeeded"
        winner = users[won.index(True)]
        assert run(store, lambda tx: tx.invitations.get(invitation.id)) == attrs.evolve(
            invitation, state=InvitationState.ACCEPTED, accepted_by=winner
        )
        assert run(store, lambda tx: tx.memberships.of_account(invitation.account_id)) == [
            Membership(invitation.account_id, winner, invitation.role)
        ]

    def test_threads_accepting_and_revoking_one_invitation_let_exactly_one_win(self, store: Store) -> None:
        for trial in range(self.race_trials):
            self._race_accepts_and_revokes(store, accepting=1 + trial % (self.race_threads - 1))

    def _race_accepts_and_revokes(self, store: Store, accepting: int) -> None:
        invitation = self._pending(store)
        users = [new_id("user") for _ in range(accepting)]
        calls = racers(store, self._accept_as, [(invitation, u) for u in users])
        calls += [in_own_transaction(store, lambda tx: tx.invitations.revoke(invitation.id))] * (
            self.race_threads - accepting
        )
        won = self.race(calls)
        assert won.count(True) == 1, f"{won.count(True)} of {len(won)} accepts and revokes succeeded"
        stored = run(store, lambda tx: tx.invitations.get(invitation.id))
        if won.index(True) < accepting:
            expected = attrs.evolve(
                invitation, state=InvitationState.ACCEPTED, accepted_by=users[won.index(True)]
            )
        else:
            expected = attrs.evolve(invitation, state=InvitationState.REVOKED)
        assert stored == expected

    def test_threads_accepting_and_renewing_one_invitation_never_accept_a_renewed_one(
        self, store: Store
    ) -> None:
        for _ in range(self.race_trials):
            self._race_accepts_and_renewals(store)

    def _race_accepts_and_renewals(self, store: Store) -> None:
        invitation = self._pending(store)
        half = self.race_threads // 2
        users = [new_id("user") for _ in range(half)]
        hashes = [uuid.uuid4().hex for _ in range(self.race_threads - half)]
        later = T0 + timedelta(days=14)

        def renew(tx: Transaction, token_hash: str) -> bool:
            return tx.invitations.renew(invitation.id, token_hash, later)

        won = self.race(
            racers(store, self._accept_as, [(invitation, u) for u in users]) + racers(store, renew, hashes)
        )
        accepted, renewed = won[:half], won[half:]
        stored = run(store, lambda tx: tx.invitations.get(invitation.id))
        if True in accepted:
            # Accepted with the first token hash: no renewal came before, none after.
            assert accepted.count(True) == 1, f"{accepted.count(True)} concurrent accepts succeeded"
            assert True not in renewed, "an invitation was renewed and accepted with its old token hash"
            winner = users[accepted.index(True)]
            assert stored == attrs.evolve(invitation, state=InvitationState.ACCEPTED, accepted_by=winner)
        else:
            # Renewed (every renewal of a pending invitation succeeds): the last token hash holds.
            assert all(renewed)
            assert stored is not None
            assert stored == attrs.evolve(invitation, token_hash=stored.token_hash, expires_at=later)
            assert stored.token_hash in hashes

    @staticmethod
    def _accept_as(tx: Transaction, invitation_and_user: tuple[Invitation, str]) -> bool:
        invitation, user_id = invitation_and_user
        return tx.invitations.accept(invitation.id, invitation.token_hash, user_id)

    @staticmethod
    def _accept(invitation: Invitation) -> Callable[[str], Callable[[Transaction], bool]]:
        """``accept(user_id)``: what accepts ``invitation`` (with its token hash) as that user."""

        def accept(user_id: str) -> Callable[[Transaction], bool]:
            return lambda tx: tx.invitations.accept(invitation.id, invitation.token_hash, user_id)

        return accept

    @staticmethod
    def _pending(store: Store) -> Invitation:
        """A new pending invitation to a new account, in the store."""
        owner = make_user()
        invitation = make_invitation(make_account(owner), owner)
        run(store, lambda tx: tx.invitations.add(invitation))
        return invitation


class AuditContract(StoreContract):
    """``tx.audit``: each account's trail, in the order written."""

    def test_audit_trail_is_per_account_and_oldest_first(self, store: Store) -> None:
        first = AuditEvent("account-1", T0, "user-1", "invited", "a@example.no", "member")
        other = AuditEvent("account-2", T0, "user-2", "invited", "b@example.no")
        second = AuditEvent("account-1", T0, None, "left", "user-3")
        third = AuditEvent("account-1", T0 - timedelta(days=1), "user-1", "removed", "user-4", "billing")
        each(store, lambda tx, event: tx.audit.add(event), [first, other, second, third])
        assert run(store, lambda tx: tx.audit.of_account("account-1")) == [first, second, third]
        assert run(store, lambda tx: tx.audit.of_account("account-3")) == []

    def test_redacted_targets_name_the_replacement(self, store: Store) -> None:
        named = AuditEvent("account-1", T0, "user-1", "invited", "Per@Example.no", "member")
        other = AuditEvent("account-2", T0, "user-1", "accepted", "per@example.no", "member")
        kept = AuditEvent("account-1", T0, "user-1", "invited", "kari@example.no", "member")
        each(store, lambda tx, event: tx.audit.add(event), [named, other, kept])
        run(store, lambda tx: tx.audit.redact("per@example.no", "user-9"))
        assert run(store, lambda tx: tx.audit.of_account("account-1")) == [
            attrs.evolve(named, target="user-9"),
            kept,
        ]
        assert run(store, lambda tx: tx.audit.of_account("account-2")) == [
            attrs.evolve(other, target="user-9")
        ]

    def test_events_written_in_one_transaction_keep_their_order(self, store: Store) -> None:
        events = [AuditEvent("account-1", T0, "user-1", "removed", f"user-{n}") for n in range(5)]
        run(store, lambda tx: add_all(tx.audit.add, events))
        assert run(store, lambda tx: tx.audit.of_account("account-1")) == events


class IdempotencyContract(StoreContract):
    """``tx.idempotency``: a key is claimed once per scope; later claims get the first call's record."""

    def test_the_first_claim_gets_none_and_later_ones_the_record(self, store: Store) -> None:
        key = new_id("key")
        assert run(store, lambda tx: tx.idempotency.claim(SCOPE, key, "fingerprint-1")) is None
        assert run(store, lambda tx: record(tx.idempotency.claim(SCOPE, key, "fingerprint-1"))) == (
            "fingerprint-1",
            None,
        )
        # Another call with the same key gets the first call's fingerprint: the caller compares.
        assert run(store, lambda tx: record(tx.idempotency.claim(SCOPE, key, "fingerprint-2"))) == (
            "fingerprint-1",
            None,
        )

    def test_a_completed_claim_tells_its_result(self, store: Store) -> None:
        key = new_id("key")

        def claim_and_complete(tx: Transaction) -> None:
            assert tx.idempotency.claim(SCOPE, key, "fingerprint-1") is None
            tx.idempotency.complete(SCOPE, key, "invoice-1")

        run(store, claim_and_complete)
        assert run(store, lambda tx: record(tx.idempotency.claim(SCOPE, key, "fingerprint-2"))) == (
            "fingerprint-1",
            "invoice-1",
        )

    def test_a_claim_is_completed_in_a_later_transaction(self, store: Store) -> None:
        key = new_id("key")
        run(store, lambda tx: tx.idempotency.claim(SCOPE, key, "fingerprint-1"))
        run(store, lambda tx: tx.idempotency.complete(SCOPE, key, "invoice-1"))
        assert run(store, lambda tx: record(tx.idempotency.claim(SCOPE, key, "x"))) == (
            "fingerprint-1",
            "invoice-1",
        )

    def test_keys_are_claimed_per_scope(self, store: Store) -> None:
        key = new_id("key")
        assert run(store, lambda tx: tx.idempotency.claim("invoices.issue", key, "a")) is None
        assert run(store, lambda tx: tx.idempotency.claim("usage", key, "b")) is None
        assert run(store, lambda tx: tx.idempotency.claim("invoices.issue", new_id("key"), "c")) is None
        run(store, lambda tx: tx.idempotency.complete("usage", key, "usage-1"))
        assert run(store, lambda tx: record(tx.idempotency.claim("invoices.issue", key, "x"))) == ("a", None)
        assert run(store, lambda tx: record(tx.idempotency.claim("usage", key, "x"))) == ("b", "usage-1")

    def test_a_claim_is_seen_by_its_own_transaction(self, store: Store) -> None:
        key = new_id("key")

        def claim_twice(tx: Transaction) -> tuple[str, str | None] | None:
            assert tx.idempotency.claim(SCOPE, key, "fingerprint-1") is None
            tx.idempotency.complete(SCOPE, key, "invoice-1")
            return record(tx.idempotency.claim(SCOPE, key, "fingerprint-2"))

        assert run(store, claim_twice) == ("fingerprint-1", "invoice-1")

    def test_a_rolled_back_claim_leaves_the_key_free(self, store: Store) -> None:
        key = new_id("key")
        fails(store, lambda tx: tx.idempotency.claim(SCOPE, key, "fingerprint-1"))
        assert run(store, lambda tx: tx.idempotency.claim(SCOPE, key, "fingerprint-2")) is None
        assert run(store, lambda tx: record(tx.idempotency.claim(SCOPE, key, "x"))) == ("fingerprint-2", None)

    def test_threads_claiming_one_key_let_exactly_one_claim_it(self, store: Store) -> None:
        for _ in range(self.race_trials):
            self._race_claims(store)

    def _race_claims(self, store: Store) -> None:
        key = new_id("key")

        def claim_and_complete(tx: Transaction, n: int) -> tuple[str, str | None] | None:
            found = record(tx.idempotency.claim(SCOPE, key, f"fingerprint-{n}"))
            if found is None:
                tx.idempotency.complete(SCOPE, key, f"result-{n}")
            return found

        found = self.race(racers(store, claim_and_complete, range(self.race_threads)))
        assert found.count(None) == 1, f"{found.count(None)} of {len(found)} concurrent claims got the key"
        winner = found.index(None)
        # A claim that raced the first waited for it to end, and so sees what it made.
        assert [f for f in found if f is not None] == [(f"fingerprint-{winner}", f"result-{winner}")] * (
            len(found) - 1
        )


class InvoicesContract(StoreContract):
    """``tx.invoices``: the series, the one numbering path (``add_numbered``), locks, the ledger."""

    # numbering

    def test_numbers_count_from_one_per_account(self, store: Store) -> None:
        first, second = add_account(store), add_account(store)
        stored = [issue(store, make_invoice(first.id)) for _ in range(3)]
        assert [(i.sequence, i.number) for i in stored] == [(1, "1"), (2, "2"), (3, "3")]
        assert issue(store, make_invoice(second.id)).sequence == 1
        assert run(store, lambda tx: tx.invoices.series(first.id)) == Series(
            first.id, next_sequence=4, last_used=3
        )
        assert run(store, lambda tx: tx.invoices.series(second.id)) == Series(
            second.id, next_sequence=2, last_used=1
        )

    def test_a_numbered_invoice_is_returned_and_stored_with_its_place_in_the_series(
        self, store: Store
    ) -> None:
        account = add_account(store)
        invoice = make_invoice(account.id, sequence=77, number="X-77")  # the store ignores both
        stored = issue(store, invoice)
        assert stored == invoice.numbered(1, "1")
        assert run(store, lambda tx: tx.invoices.get(invoice.id)) == stored

    def test_numbering_continues_from_the_saved_configuration(self, store: Store) -> None:
        account = add_account(store)
        configured = Series(account.id, next_sequence=1000, prefix="2026-", width=6)
        run(store, lambda tx: tx.invoices.save_series(configured))
        assert run(store, lambda tx: tx.invoices.series(account.id)) == configured
        stored = issue(store, make_invoice(account.id))
        assert (stored.sequence, stored.number) == (1000, "2026-001000")
        assert run(store, lambda tx: tx.invoices.series(account.id)) == configured.taken(1000)

    def test_numbers_are_formatted_as_the_series_formats_them(self, store: Store) -> None:
        account = add_account(store)
        series = Series(account.id, next_sequence=98, prefix="FÅ-", width=2)
        run(store, lambda tx: tx.invoices.save_series(series))
        stored = [issue(store, make_invoice(account.id)) for _ in range(3)]
        # Zero-padded to the width, and never cut when the digits outgrow it.
        assert [(i.sequence, i.number) for i in stored] == [(98, "FÅ-98"), (99, "FÅ-99"), (100, "FÅ-100")]
        assert [i.number for i in stored] == [series.format(i.sequence) for i in stored]
        padded = Series(account.id, next_sequence=101, prefix="", width=8, last_used=100)
        run(store, lambda tx: tx.invoices.save_series(padded))
        assert issue(store, make_invoice(account.id)).number == "00000101"
        plain = Series(account.id, next_sequence=10**15, prefix="", width=1, last_used=101)
        run(store, lambda tx: tx.invoices.save_series(plain))
        assert issue(store, make_invoice(account.id)).number == str(10**15)
        assert run(store, lambda tx: [tx.invoices.get(i.id) for i in stored]) == stored

    def test_by_number_finds_every_number_whatever_its_prefix_ends_with(self, store: Store) -> None:
        account = add_account(store)
        made = []
        for series in (
            Series(account.id, next_sequence=1, prefix="2026", width=4),  # "20260001": digits end the prefix
            Series(account.id, next_sequence=7, prefix="", width=1, last_used=1),
            Series(account.id, next_sequence=42, prefix="F-9", width=20, last_used=7),
            Series(account.id, next_sequence=10**15, prefix="Å", width=1, last_used=42),
        ):
            run(store, partial(_save_series, series=series))
            made.append(issue(store, make_invoice(account.id)))
        assert [i.number for i in made] == ["20260001", "7", "F-9" + "0" * 18 + "42", f"Å{10**15}"]

        def by_number(number: str) -> Invoice | None:
            return run(store, lambda tx: tx.invoices.by_number(account.id, number))

        assert [by_number(i.number) for i in made] == made
        for missing in ("2026000", "0001", "20260002", "F-942", "", "٧", "9" * 40, "F-9" + "0" * 30 + "42"):
            assert by_number(missing) is None, missing

    def test_the_series_read_in_a_transaction_is_the_one_it_numbered_from_and_saved(
        self, store: Store
    ) -> None:
        account, other = add_account(store), add_account(store)

        def number_save_number(tx: Transaction) -> None:
            assert numbered(tx, make_invoice(account.id)).sequence == 1
            assert tx.invoices.series(account.id) == Series(account.id).taken(1)
            assert tx.invoices.series(other.id) == Series(other.id)
            configured = Series(account.id, next_sequence=10, prefix="F-", width=4, last_used=1)
            tx.invoices.save_series(configured)
            assert tx.invoices.series(account.id) == configured
            assert tx.invoices.add_numbered(make_invoice(account.id)).number == "F-0010"
            assert tx.invoices.series(account.id) == configured.taken(10)

        run(store, number_save_number)
        assert run(store, lambda tx: tx.invoices.series(account.id)).format(11) == "F-0011"

    def test_a_saved_taken_series_skips_to_the_next_number(self, store: Store) -> None:
        account = add_account(store)
        run(store, lambda tx: tx.invoices.save_series(tx.invoices.series(account.id).taken(41)))
        assert issue(store, make_invoice(account.id)).sequence == 42

    def test_an_account_without_a_series_raises_not_found_and_stores_nothing(self, store: Store) -> None:
        for read in (lambda tx: tx.invoices.series("nowhere"), lambda tx: tx.invoices.lock_series("nowhere")):
            with pytest.raises(NotFound):
                run(store, read)
        invoice = make_invoice("nowhere")
        with pytest.raises(NotFound):
            issue(store, invoice, [make_message(invoice_id=invoice.id)])
        assert run(store, lambda tx: tx.invoices.get(invoice.id)) is None
        assert run(store, lambda tx: tx.outbox.of_invoice(invoice.id)) == []
        assert run(store, lambda tx: list(tx.invoices.of_account("nowhere"))) == []

    def test_a_rolled_back_numbering_gives_its_number_back(self, store: Store) -> None:
        account = add_account(store)
        assert issue(store, make_invoice(account.id)).sequence == 1
        lost = make_invoice(account.id)
        fails(store, lambda tx: numbered(tx, lost, [make_message(invoice_id=lost.id)]))
        assert run(store, lambda tx: tx.invoices.series(account.id)) == Series(account.id).taken(1)
        assert issue(store, make_invoice(account.id)).sequence == 2
        assert run(store, lambda tx: (tx.invoices.get(lost.id), tx.outbox.of_invoice(lost.id))) == (None, [])
        assert [i.sequence for i in run(store, lambda tx: list(tx.invoices.of_account(account.id)))] == [1, 2]

    def test_the_invoices_e_mails_are_queued_with_it(self, store: Store) -> None:
        account = add_account(store)
        for count in (0, 1, 3, 12):  # 12: more e-mails than a store may fit in one statement
            invoice = make_invoice(account.id)
            messages = [make_message(invoice_id=invoice.id) for _ in range(count)]
            stored = issue(store, invoice, messages)
            assert run(store, lambda tx: (tx.invoices.get(invoice.id), tx.outbox.of_invoice(invoice.id))) == (  # noqa: B023
                stored,
                messages,
            )
        assert [i.number for i in run(store, lambda tx: list(tx.invoices.of_account(account.id)))] == [
            "1",
            "2",
            "3",
            "4",
        ]

    @pytest.mark.parametrize("first_write", [True, False], ids=["first write", "after a write"])
    def test_an_e_mail_whose_key_is_queued_already_is_not_queued_again(
        self, store: Store, first_write: bool
    ) -> None:
        # "added as Outbox.add does": a key already queued is skipped, and nothing fails.
        account = add_account(store)
        queued = make_message()
        run(store, lambda tx: tx.outbox.add(queued))
        invoice = make_invoice(account.id)
        fresh = make_message(invoice_id=invoice.id)
        again = make_message(invoice_id=invoice.id, key=queued.key)
        if first_write:
            stored = issue(store, invoice, [again, fresh])
        else:
            stored = run(store, lambda tx: numbered(tx, invoice, [again, fresh]))
        assert run(store, lambda tx: tx.invoices.get(invoice.id)) == stored
        assert run(store, lambda tx: tx.outbox.of_invoice(invoice.id)) == [fresh]
        assert run(store, lambda tx: tx.outbox.get(again.id)) is None

    def test_numbering_after_other_writes_commits_with_them(self, store: Store) -> None:
        account = add_account(store)

        def write_then_number(tx: Transaction) -> list[int]:
            tx.ledger.add(make_ledger_entry(account.id, "customer-1", "10"))
            first = tx.invoices.add_numbered(make_invoice(account.id))
            second = tx.invoices.add_numbered(make_credit_note(first))
            return [first.sequence, second.sequence]

        assert run(store, write_then_number) == [1, 2]
        assert run(store, lambda tx: tx.ledger.balance(account.id, "customer-1", "NOK")) == Decimal(10)
        assert [i.sequence for i in run(store, lambda tx: list(tx.invoices.of_account(account.id)))] == [1, 2]

    # Each example uses a new account, so sharing the test's store is sound; and
    # the suite is meant to run in many subclasses, one per store.
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
    )
    @given(commits=st.lists(st.booleans(), max_size=12), first_write=st.booleans())
    def test_numbering_with_some_units_of_work_failing_leaves_a_gapless_series(
        self, store: Store, commits: list[bool], first_write: bool
    ) -> None:
        # As the first write of its unit of work add_numbered may commit on its own (see the
        # port); after another write it is rolled back with it. Gapless either way.
        account = add_account(store)

        def number(tx: Transaction) -> int:
            invoice = make_invoice(account.id)
            stored = tx.invoices.add_numbered(invoice) if first_write else numbered(tx, invoice)
            return stored.sequence

        issued = 0
        for commit in commits:
            if commit:
                issued = run(store, number)
            else:
                fails(store, number)
                if first_write:  # kept or given back
                    issued = run(store, lambda tx: tx.invoices.series(account.id)).last_used or 0
        invoices = run(store, lambda tx: list(tx.invoices.of_account(account.id)))
        assert [invoice.sequence for invoice in invoices] == list(range(1, issued + 1))
        series = run(store, lambda tx: tx.invoices.series(account.id))
        assert (series.next_sequence, series.last_used) == (issued + 1, issued or None)
        if not first_write:
            assert issued == commits.count(True)

    def test_search_reads_pages_newest_first_with_filters_and_finds_numbers(self, store: Store) -> None:
        account = add_account(store)
        buyer = new_id("account")
        made = []
        for n in range(6):
            at = T0 + timedelta(days=n)
            changes: dict[str, Any] = {
                "issued_at": at,
                "issue_date": at.date(),
                "customer": ("c1", buyer)[n % 2],
            }
            made.append(issue(store, make_invoice(account.id, **changes)))
        newest = list(reversed(made))

        def search(**kw: Any) -> list[Invoice]:
            return run(store, lambda tx: tx.invoices.search(account.id, **kw))

        assert search() == newest
        assert search(limit=2) == newest[:2]
        last = newest[1]
        assert search(before=(last.issue_date, last.issued_at, last.id), limit=3) == newest[2:5]
        assert search(customer="c1") == [i for i in newest if i.customer == "c1"]
        assert search(issued_from=made[1].issue_date, issued_to=made[3].issue_date) == newest[2:5]
        assert search(limit=0) == []
        received = run(store, lambda tx: tx.invoices.search(buyer, received=True))
        assert received == [i for i in newest if i.customer == buyer]
        assert run(store, lambda tx: tx.invoices.search(buyer)) == []
        assert run(store, lambda tx: tx.invoices.by_number(account.id, made[2].number)) == made[2]
        assert run(store, lambda tx: tx.invoices.by_number(account.id, "nope")) is None
        assert run(store, lambda tx: tx.invoices.by_number(buyer, made[2].number)) is None

    def test_threads_numbering_at_once_take_every_number_once(self, store: Store) -> None:
        account = add_account(store)
        series = Series(account.id, prefix="R-", width=3)
        run(store, lambda tx: tx.invoices.save_series(series))
        per_thread = 10

        def number_many(_: int) -> list[Invoice]:
            return [issue(store, make_invoice(account.id)) for _ in range(per_thread)]

        batches = self.race([partial(number_many, n) for n in range(self.race_threads)])
        count = per_thread * self.race_threads
        assert all([i.sequence for i in batch] == sorted(i.sequence for i in batch) for batch in batches)
        taken = sorted((i.sequence, i.number) for batch in batches for i in batch)
        assert taken == [(n, series.format(n)) for n in range(1, count + 1)]
        stored = run(store, lambda tx: list(tx.invoices.of_account(account.id)))
        assert [(i.sequence, i.number) for i in stored] == taken
        assert run(store, lambda tx: tx.invoices.series(account.id)) == series.taken(count)

    # locks

    def test_a_locked_series_is_the_series(self, store: Store) -> None:
        account = add_account(store)
        configured = Series(account.id, next_sequence=5, prefix="F-", width=3, last_used=4)
        run(store, lambda tx: tx.invoices.save_series(configured))

        def lock_then_number(tx: Transaction) -> tuple[Series, Invoice]:
            return tx.invoices.lock_series(account.id), tx.invoices.add_numbered(make_invoice(account.id))

        locked, stored = run(store, lock_then_number)
        assert locked == configured
        assert (stored.sequence, stored.number) == (5, "F-005")

    def test_a_locked_invoice_is_the_invoice(self, store: Store) -> None:
        invoice = issue(store, make_invoice(add_account(store).id))
        assert run(store, lambda tx: tx.invoices.lock(invoice.id)) == invoice
        assert run(store, lambda tx: tx.invoices.lock("unknown")) is None

    def test_a_second_lock_of_an_invoice_waits_for_the_first_to_end(self, store: Store) -> None:
        account = add_account(store)
        invoice = issue(store, make_invoice(account.id))
        entry = make_ledger_entry(account.id, "customer-1", "-1842.85")

        def second(tx: Transaction) -> list[LedgerEntry]:
            assert tx.invoices.lock(invoice.id) == invoice
            return tx.ledger.entries(account.id, "customer-1")

        seen = self._one_after_another(
            store,
            lambda tx: tx.invoices.lock(invoice.id),
            lambda tx: tx.ledger.add(entry),
            second,
        )
        assert seen == [entry], "the second lock did not wait for the first transaction to end"

    def test_a_second_lock_of_a_series_waits_for_the_first_to_end(self, store: Store) -> None:
        account = add_account(store)
        seen = self._one_after_another(
            store,
            lambda tx: tx.invoices.lock_series(account.id),
            lambda tx: tx.invoices.add_numbered(make_invoice(account.id)),
            lambda tx: tx.invoices.lock_series(account.id),
        )
        assert seen == Series(account.id).taken(1), "the second lock did not wait for the first to end"

    def _one_after_another(
        self,
        store: Store,
        lock: Callable[[Transaction], object],
        then: Callable[[Transaction], object],
        second: Callable[[Transaction], T],
    ) -> T:
        """``second``'s result, run while a transaction that did ``lock`` waits, then does ``then``."""
        locked = threading.Event()

        def first(tx: Transaction) -> None:
            lock(tx)
            locked.set()
            time.sleep(0.3)  # long enough for the second to come and wait
            then(tx)

        def after_the_lock() -> T:
            # A store that runs one transaction at a time makes this wait in transaction().
            assert locked.wait(self.race_timeout), "the first transaction did not take its lock"
            return run(store, second)

        _, seen = self.race([in_own_transaction(store, first), after_the_lock])
        return cast("T", seen)

    # invoices

    def test_invoice_round_trips_exactly(self, store: Store) -> None:
        invoice = issue(store, make_invoice(add_account(store).id))
        found = run(store, lambda tx: tx.invoices.get(invoice.id))
        assert found == invoice
        assert found is not None
        # Equal decimals can differ in exponent: "1.50" must not come back as "1.5".
        assert [str(line.quantity) for line in found.lines] == ["1", "1.50", "3"]
        assert [str(line.unit_price) for line in found.lines] == ["199.00", "850.005", "0.10"]
        assert str(found.balance_applied) == "100.00"
        assert found.kind is InvoiceKind.INVOICE
        assert found.issued_at.utcoffset() == timedelta(0)

    def test_line_text_and_vat_categories_round_trip_as_data(self, store: Store) -> None:
        # Lines and VAT groups are written as JSON text: quotes, backslashes, control
        # characters, line separators and text that looks like JSON must come back as given.
        texts = [
            '"}],"vat":[{"rate":"9"',
            'C:\\tmp\\"x"',
            "tab\there\nnew\x01\x1f",
            "\u2028\u2029 ✓ 🧾",
            "null",
        ]
        lines = tuple(
            InvoiceLine(text, Decimal("1"), Decimal("10.00"), Decimal("0.25"), Decimal("10.00"), category)
            for text, category in zip(
                texts, (None, VatCategory.S, VatCategory.Z, VatCategory.E, VatCategory.O), strict=True
            )
        )
        vat = (
            VatGroup(Decimal("0.25"), Decimal("10.00"), Decimal("2.50")),
            VatGroup(Decimal("0.25"), Decimal("10.00"), Decimal("2.50"), VatCategory.S),
            VatGroup(Decimal("0"), Decimal("30.00"), Decimal("0.00"), VatCategory.E),
        )
        invoice = issue(store, make_invoice(add_account(store).id, lines=lines, vat=vat))
        found = run(store, lambda tx: tx.invoices.get(invoice.id))
        assert found == invoice
        assert found is not None
        assert [line.description for line in found.lines] == texts
        assert [line.vat_category for line in found.lines] == [line.vat_category for line in lines]
        assert [group.category for group in found.vat] == [None, VatCategory.S, VatCategory.E]

    def test_invoice_without_period_cycle_customer_or_logo_round_trips(self, store: Store) -> None:
        invoice = make_invoice(
            add_account(store).id,
            period=None,
            cycle=None,
            customer=None,
            subscription_id=None,
            note="",
            seller=Seller("Solo"),
            bill_to=Party("Ola Nordmann"),
        )
        stored = issue(store, invoice)
        assert run(store, lambda tx: tx.invoices.get(invoice.id)) == stored == invoice.numbered(1, "1")

    def test_invoice_with_a_quarterly_cycle_round_trips(self, store: Store) -> None:
        invoice = issue(store, make_invoice(add_account(store).id, cycle=BillingCycle.every(months=3)))
        assert run(store, lambda tx: tx.invoices.get(invoice.id)) == invoice

    def test_unknown_invoice_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.invoices.get("unknown")) is None

    def test_credit_note_round_trips_and_is_listed_for_the_invoice_it_credits(self, store: Store) -> None:
        invoice = issue(store, make_invoice(add_account(store).id))
        first = issue(store, make_credit_note(invoice))
        second = issue(store, make_credit_note(invoice))
        assert (first.sequence, second.sequence) == (2, 3)
        assert run(store, lambda tx: tx.invoices.get(first.id)) == first
        assert run(store, lambda tx: tx.invoices.credit_notes_of(invoice.id)) == [first, second]
        assert run(store, lambda tx: tx.invoices.credit_notes_of(first.id)) == []

    def test_invoices_of_account_are_in_sequence_order(self, store: Store) -> None:
        first, second = add_account(store), add_account(store)

        def interleave(tx: Transaction) -> list[Invoice]:
            tx.audit.add(marker(first.id))
            return [
                tx.invoices.add_numbered(make_invoice(a.id)) for a in (first, second, first, first, second)
            ]

        stored = run(store, interleave)
        assert run(store, lambda tx: list(tx.invoices.of_account(first.id))) == [
            stored[0],
            stored[2],
            stored[3],
        ]
        assert run(store, lambda tx: list(tx.invoices.of_account(second.id))) == [stored[1], stored[4]]
        assert run(store, lambda tx: list(tx.invoices.of_account("account-3"))) == []

    def test_invoices_of_account_is_an_iterator_over_every_invoice(self, store: Store) -> None:
        account = add_account(store)
        count = 1234

        def add_many(tx: Transaction) -> None:
            tx.audit.add(marker(account.id))
            for _ in range(count):
                tx.invoices.add_numbered(make_invoice(account.id, seller=Seller("Solo")))

        run(store, add_many)

        def read(tx: Transaction) -> list[int]:
            invoices = tx.invoices.of_account(account.id)
            assert next(invoices).sequence == 1
            return [invoice.sequence for invoice in invoices]

        assert run(store, read) == list(range(2, count + 1))

    def test_invoices_of_account_cannot_be_iterated_after_its_transaction(self, store: Store) -> None:
        account = add_account(store)
        each(
            store,
            lambda tx, invoice: tx.invoices.add_numbered(invoice),
            [make_invoice(account.id) for _ in "ab"],
        )
        with store.transaction() as tx:
            unread = tx.invoices.of_account(account.id)
            started = tx.invoices.of_account(account.id)
            assert next(started).sequence == 1
        with pytest.raises(RuntimeError):
            next(unread)
        with pytest.raises(RuntimeError):
            next(started)


class LedgerContract(StoreContract):
    """``tx.ledger``: each customer's balance at an account, entries oldest first, exact sums."""

    def test_ledger_is_per_customer_and_oldest_first(self, store: Store) -> None:
        entries = [
            make_ledger_entry("account-1", "customer-1", amount) for amount in ("100.10", "-30.05", "5")
        ]
        other = make_ledger_entry("account-1", "customer-2", "999")
        elsewhere = make_ledger_entry("account-2", "customer-1", "999")
        added = [entries[0], other, entries[1], elsewhere, entries[2]]
        each(store, lambda tx, entry: tx.ledger.add(entry), added)
        assert run(store, lambda tx: tx.ledger.entries("account-1", "customer-1")) == entries
        assert run(store, lambda tx: tx.ledger.entries("account-1", "customer-3")) == []

    def test_balance_is_the_exact_sum_in_one_currency(self, store: Store) -> None:
        amounts = [("0.10", "NOK"), ("0.10", "NOK"), ("0.10", "NOK"), ("-0.05", "NOK"), ("7", "EUR")]
        entries = [make_ledger_entry("account-1", "customer-1", a, currency) for a, currency in amounts]
        each(store, lambda tx, entry: tx.ledger.add(entry), entries)
        run(
            store,
            lambda tx: tx.ledger.add(make_ledger_entry("account-1", "customer-2", "1", "NOK")),
        )
        assert str(run(store, lambda tx: tx.ledger.balance("account-1", "customer-1", "NOK"))) == "0.25"
        assert run(store, lambda tx: tx.ledger.balance("account-1", "customer-1", "EUR")) == Decimal(7)
        assert run(store, lambda tx: tx.ledger.balance("account-1", "customer-1", "SEK")) == Decimal(0)
        assert run(store, lambda tx: tx.ledger.balance("account-9", "customer-1", "NOK")) == Decimal(0)


class PaymentsContract(StoreContract):
    """``tx.payments``: payments per invoice in order, each bank reference once, settling, KID and overdue."""

    def test_payments_round_trip_in_the_order_registered(self, store: Store) -> None:
        account = add_account(store)
        invoice = issue(store, make_invoice(account.id))
        payments = [make_payment(invoice, amount) for amount in ("100.10", "0.05", "1000")]
        each(store, lambda tx, payment: tx.payments.add(payment), payments)
        assert run(store, lambda tx: tx.payments.of_invoice(invoice.id)) == payments
        assert run(store, lambda tx: tx.payments.of_invoice("invoice-none")) == []

    def test_a_bank_reference_is_recorded_once_per_account(self, store: Store) -> None:
        account, other = add_account(store), add_account(store)
        invoice = issue(store, make_invoice(account.id))
        elsewhere = issue(store, make_invoice(other.id))
        first = make_payment(invoice, "10", reference="REF-1")
        assert run(store, lambda tx: tx.payments.add(first)) is True
        assert run(store, lambda tx: tx.payments.add(make_payment(invoice, "20", reference="REF-1"))) is False
        in_other_account = make_payment(elsewhere, "30", reference="REF-1")
        assert run(store, lambda tx: tx.payments.add(in_other_account)) is True
        assert run(store, lambda tx: tx.payments.add(make_payment(invoice, "40"))) is True
        assert run(store, lambda tx: tx.payments.add(make_payment(invoice, "50"))) is True  # no reference
        assert run(store, lambda tx: tx.payments.by_reference(account.id, "REF-1")) == first
        assert run(store, lambda tx: tx.payments.by_reference(account.id, "REF-2")) is None
        amounts = [p.amount for p in run(store, lambda tx: tx.payments.of_invoice(invoice.id))]
        assert amounts == [Decimal("10"), Decimal("40"), Decimal("50")]

    def test_racing_payments_with_one_reference_record_it_once(self, store: Store) -> None:
        for _ in range(self.race_trials):
            account = add_account(store)
            invoice = issue(store, make_invoice(account.id))
            payments = [make_payment(invoice, "10", reference="NETS-1") for _ in range(self.race_threads)]
            added = self.race(racers(store, lambda tx, payment: tx.payments.add(payment), payments))
            assert added.count(True) == 1
            assert len(run(store, partial(_payments_of, invoice.id))) == 1

    def test_settle_sets_paid_credited_and_the_status_and_nothing_else(self, store: Store) -> None:
        account = add_account(store)
        invoice = issue(store, make_invoice(account.id))  # 1742.85 due
        run(store, lambda tx: tx.payments.settle(invoice.id, Decimal("42.85"), Decimal("0")))
        partly = run(store, lambda tx: tx.invoices.get(invoice.id))
        assert partly == attrs.evolve(invoice, paid=Decimal("42.85"))
        assert partly is not None
        assert partly.status is InvoiceStatus.PARTIALLY_PAID
        run(store, lambda tx: tx.payments.settle(invoice.id, Decimal("42.85"), Decimal("1700.00")))
        settled = run(store, lambda tx: tx.invoices.get(invoice.id))
        assert settled is not None
        assert (settled.status, settled.outstanding) == (InvoiceStatus.PAID, Decimal(0))
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.payments.settle("invoice-none", Decimal(1), Decimal(0)))

    def test_invoice_by_sequence_finds_the_accounts_own(self, store: Store) -> None:
        account, other = add_account(store), add_account(store)
        first, second = (issue(store, make_invoice(account.id)) for _ in range(2))
        issue(store, make_invoice(other.id))
        assert run(store, lambda tx: tx.payments.invoice_by_sequence(account.id, second.sequence)) == second
        assert run(store, lambda tx: tx.payments.invoice_by_sequence(account.id, first.sequence)) == first
        assert run(store, lambda tx: tx.payments.invoice_by_sequence(account.id, 99)) is None
        assert run(store, lambda tx: tx.payments.invoice_by_sequence("account-none", 1)) is None

    def test_overdue_is_unpaid_invoices_due_before_the_day_oldest_first(self, store: Store) -> None:
        account = add_account(store)
        due = [date(2026, 2, 14), date(2026, 2, 1), date(2026, 2, 20), date(2026, 2, 1)]
        invoices = [issue(store, make_invoice(account.id, due_date=day)) for day in due]
        run(store, lambda tx: tx.payments.settle(invoices[2].id, invoices[2].amount_due, Decimal(0)))
        issue(store, make_credit_note(invoices[0]))
        issue(store, make_invoice(add_account(store).id, due_date=date(2026, 1, 1)))  # another account's
        found = run(store, lambda tx: tx.payments.overdue(account.id, date(2026, 2, 15)))
        expected = sorted([invoices[0], invoices[1], invoices[3]], key=lambda i: (i.due_date, i.id))
        assert found == expected
        assert run(store, lambda tx: tx.payments.overdue(account.id, date(2026, 2, 14))) == expected[:2]
        first = run(store, lambda tx: tx.payments.overdue(account.id, date(2026, 2, 15), limit=2))
        rest = run(
            store,
            lambda tx: tx.payments.overdue(
                account.id, date(2026, 2, 15), after=(first[-1].due_date, first[-1].id), limit=2
            ),
        )
        assert first + rest == expected
        assert run(store, lambda tx: tx.payments.overdue(account.id, date(2026, 2, 15), limit=0)) == []


def _payments_of(invoice_id: str, tx: Transaction) -> list[Payment]:
    return tx.payments.of_invoice(invoice_id)


def make_payment(invoice: Invoice, amount: str, reference: str | None = None) -> Payment:
    """A payment of ``amount`` applied in full to ``invoice``."""
    return Payment(
        id=new_id("payment"),
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        amount=Decimal(amount),
        currency=invoice.currency,
        paid_on=date(2026, 2, 20),
        recorded_at=T0,
        reference=reference,
        applied=Decimal(amount),
    )


class RemindersContract(StoreContract):
    """``tx.reminders``: an invoice's reminders oldest first, at most one a day."""

    def test_reminders_round_trip_oldest_first_one_a_day(self, store: Store) -> None:
        account = add_account(store)
        invoice = issue(store, make_invoice(account.id))
        later = make_reminder(invoice, date(2026, 3, 20), number=2, fee="70.00")
        first = make_reminder(invoice, date(2026, 3, 1))
        assert run(store, lambda tx: tx.reminders.add(later)) is True
        assert run(store, lambda tx: tx.reminders.add(first)) is True
        assert run(store, lambda tx: tx.reminders.add(make_reminder(invoice, date(2026, 3, 1)))) is False
        assert run(store, lambda tx: tx.reminders.of_invoice(invoice.id)) == [first, later]
        assert run(store, lambda tx: tx.reminders.of_invoice("invoice-none")) == []


def make_reminder(invoice: Invoice, on: date, *, number: int = 1, fee: str = "0") -> Reminder:
    """A reminder of ``invoice`` sent ``on``."""
    return Reminder(
        invoice_id=invoice.id,
        sent_on=on,
        fee=Decimal(fee),
        amount_due=invoice.amount_due + Decimal(fee),
        id=new_id("reminder"),
        account_id=invoice.account_id,
        number=number,
        outstanding=invoice.amount_due,
        fees_before=Decimal(0),
        currency=invoice.currency,
    )


class SubscriptionsContract(StoreContract):
    """``tx.subscriptions``: subscriptions, what is due and locked, usage, and each due date billed once."""

    def test_subscription_round_trips_with_plan_history_and_cursors(self, store: Store) -> None:
        subscription = make_subscription(
            date(2026, 1, 31),
            plans=(PlanChange(date(2026, 1, 31), PRO), PlanChange(date(2026, 3, 15), PRO_YEARLY)),
            fee_anchor=date(2026, 3, 15),
            fee_n=2,
            usage_n=3,
            cancel_at=date(2029, 3, 15),
        )
        run(store, lambda tx: tx.subscriptions.add(subscription))
        found = run(store, lambda tx: tx.subscriptions.get(subscription.id))
        assert found == subscription
        assert found is not None
        assert str(found.plans[1].plan.price) == "1990.50"

    def test_saved_subscription_replaces_the_record(self, store: Store) -> None:
        subscription = make_subscription()
        run(store, lambda tx: tx.subscriptions.add(subscription))
        changed = attrs.evolve(
            subscription,
            fee_n=1,
            usage_n=1,
            plans=(*subscription.plans, PlanChange(date(2026, 2, 1), PRO_YEARLY)),
        )
        run(store, lambda tx: tx.subscriptions.save(changed))
        assert run(store, lambda tx: tx.subscriptions.get(subscription.id)) == changed

    def test_saving_an_unknown_subscription_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.subscriptions.save(make_subscription()))

    def test_unknown_subscription_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.subscriptions.get("unknown")) is None
        assert run(store, lambda tx: tx.subscriptions.lock("unknown")) is None

    def test_locked_subscription_is_returned(self, store: Store) -> None:
        subscription = make_subscription()
        run(store, lambda tx: tx.subscriptions.add(subscription))
        assert run(store, lambda tx: tx.subscriptions.lock(subscription.id)) == subscription
        assert run(store, lambda tx: tx.subscriptions.lock(subscription.id, wait=True)) == subscription
        assert run(store, lambda tx: tx.subscriptions.lock("unknown", wait=True)) is None

    def test_the_next_due_subscription_is_the_first_due_one_by_id_above_the_cursor(
        self, store: Store
    ) -> None:
        day = date(2026, 1, 31)
        due = [make_subscription(id=i) for i in ("sub-a", "Sub-B", "sub-d")]
        later = make_subscription(date(2026, 2, 1), id="sub-C")
        run(store, lambda tx: add_all(tx.subscriptions.add, [*due, later]))

        def walk(tx: Transaction) -> list[str]:
            found: list[str] = []
            while subscription := tx.subscriptions.lock_next_due(day, found[-1] if found else None):
                found.append(subscription.id)
            return found

        assert run(store, walk) == ["Sub-B", "sub-a", "sub-d"]
        assert run(store, lambda tx: tx.subscriptions.lock_next_due(day, "Sub-B")) == due[0]
        assert run(store, lambda tx: tx.subscriptions.lock_next_due(date(2026, 1, 9), None)) is None
        assert run(store, lambda tx: tx.subscriptions.lock_next_due(day, "sub-d")) is None

    def test_the_next_due_subscription_moves_on_once_it_is_billed(self, store: Store) -> None:
        first, second = make_subscription(id="sub-1"), make_subscription(id="sub-2")
        run(store, lambda tx: add_all(tx.subscriptions.add, [first, second]))

        def bill(tx: Transaction) -> str | None:
            subscription = tx.subscriptions.lock_next_due(date(2026, 1, 31), None)
            if subscription is None:
                return None
            tx.subscriptions.save(attrs.evolve(subscription, fee_n=1))
            return subscription.id

        assert [run(store, bill) for _ in range(3)] == ["sub-1", "sub-2", None]

    def test_no_subscriptions_are_listed_for_a_limit_of_zero(self, store: Store) -> None:
        run(store, lambda tx: tx.subscriptions.add(make_subscription()))
        for limit in (0, -1):
            assert run(store, lambda tx: tx.subscriptions.due_ids(date(2030, 1, 1), None, limit)) == []  # noqa: B023

    def test_due_subscriptions_are_those_due_on_or_before_the_day(self, store: Store) -> None:
        early, on_the_day, late = (make_subscription(date(2026, 1, day)) for day in (10, 15, 20))
        ended = make_subscription(date(2026, 1, 1), cancel_at=date(2026, 1, 1))
        run(store, lambda tx: add_all(tx.subscriptions.add, (early, on_the_day, late, ended)))
        due = run(store, lambda tx: tx.subscriptions.due_ids(date(2026, 1, 15), None, 10))
        assert due == sorted([early.id, on_the_day.id])
        assert run(store, lambda tx: tx.subscriptions.due_ids(date(2026, 1, 9), None, 10)) == []

    def test_due_subscriptions_are_paged_in_id_order(self, store: Store) -> None:
        # Upper and lower case: ids compare by code point, as Python compares them.
        ids = ["sub-a", "Sub-B", "sub-C", "sub-d", "SUB-e"]
        run(store, lambda tx: add_all(tx.subscriptions.add, [make_subscription(id=i) for i in ids]))
        day = date(2026, 1, 31)
        pages = [run(store, lambda tx: tx.subscriptions.due_ids(day, None, 2))]
        while pages[-1]:
            with store.transaction() as tx:
                pages.append(tx.subscriptions.due_ids(day, pages[-1][-1], 2))
        assert pages == [["SUB-e", "Sub-B"], ["sub-C", "sub-a"], ["sub-d"], []]

    def test_saved_cursors_move_the_due_date(self, store: Store) -> None:
        subscription = make_subscription(date(2026, 1, 10))
        run(store, lambda tx: tx.subscriptions.add(subscription))
        billed = attrs.evolve(subscription, fee_n=1)  # next: usage on Feb 10, fee on Feb 10
        run(store, lambda tx: tx.subscriptions.save(billed))
        assert run(store, lambda tx: tx.subscriptions.due_ids(date(2026, 2, 9), None, 10)) == []
        assert run(store, lambda tx: tx.subscriptions.due_ids(date(2026, 2, 10), None, 10)) == [
            subscription.id
        ]
        ended = attrs.evolve(billed, cancel_at=date(2026, 1, 10))
        run(store, lambda tx: tx.subscriptions.save(ended))
        assert run(store, lambda tx: tx.subscriptions.due_ids(date(2030, 1, 1), None, 10)) == []

    def test_usage_between_is_half_open_and_in_recorded_order(self, store: Store) -> None:
        days = [date(2026, 2, 15), date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 28)]
        recorded = [make_usage("subscription-1", day) for day in days]
        run(store, lambda tx: add_all(tx.subscriptions.add_usage, recorded))
        run(store, lambda tx: tx.subscriptions.add_usage(make_usage("subscription-2", date(2026, 2, 10))))
        found = run(
            store,
            lambda tx: tx.subscriptions.usage_between("subscription-1", date(2026, 2, 1), date(2026, 3, 1)),
        )
        assert found == [recorded[0], recorded[2], recorded[4]]
        assert str(found[0].quantity) == "2.500"

    def test_second_billing_mark_for_the_same_day_is_refused(self, store: Store) -> None:
        run(store, lambda tx: tx.subscriptions.mark_billed("subscription-1", date(2026, 1, 10), "invoice-1"))
        with pytest.raises(AlreadyBilled):
            run(store, lambda tx: tx.subscriptions.mark_billed("subscription-1", date(2026, 1, 10), None))
        run(store, lambda tx: tx.subscriptions.mark_billed("subscription-1", date(2026, 2, 10), None))
        run(store, lambda tx: tx.subscriptions.mark_billed("subscription-2", date(2026, 1, 10), None))

    def test_threads_marking_one_due_date_billed_let_exactly_one_mark_it(self, store: Store) -> None:
        due = date(2026, 1, 10)

        def mark(tx: Transaction, n: int) -> None:
            tx.subscriptions.mark_billed("subscription-1", due, f"invoice-{n}")

        ended = self.race(
            [outcome(call, AlreadyBilled) for call in racers(store, mark, range(self.race_threads))]
        )
        assert Counter(ended) == Counter({"done": 1, "AlreadyBilled": self.race_threads - 1})
        assert probe(store, _mark_refused("subscription-1", due)) is True


class MeteringContract(StoreContract):
    """``tx.metering``: usage with keys, each ``(subscription, key)`` recorded once, also under races."""

    def test_a_batch_is_recorded_in_order_and_tells_the_keys_it_recorded(self, store: Store) -> None:
        days = [date(2026, 2, 15), date(2026, 2, 1), date(2026, 2, 28)]
        batch = [make_usage("subscription-1", day, key=f"event-{n}") for n, day in enumerate(days)]
        assert run(store, lambda tx: tx.metering.add(batch)) == {
            ("subscription-1", f"event-{n}") for n in range(3)
        }
        found = run(
            store, lambda tx: tx.subscriptions.usage_between("subscription-1", days[1], date(2026, 3, 1))
        )
        assert found == batch
        assert run(store, lambda tx: tx.metering.by_key("subscription-1", "event-1")) == batch[1]

    def test_an_empty_batch_records_nothing(self, store: Store) -> None:
        assert run(store, lambda tx: tx.metering.add([])) == set()

    def test_keys_recorded_before_are_skipped(self, store: Store) -> None:
        first = [make_usage("subscription-1", date(2026, 2, 1), key=k) for k in ("a", "b")]
        run(store, lambda tx: tx.metering.add(first))
        again = [make_usage("subscription-1", date(2026, 2, 2), "other", key=k) for k in ("b", "c", "a")]
        assert run(store, lambda tx: tx.metering.add(again)) == {("subscription-1", "c")}
        found = run(
            store, lambda tx: tx.subscriptions.usage_between("subscription-1", T0.date(), date(2027, 1, 1))
        )
        assert found == [*first, again[1]]
        assert run(store, lambda tx: tx.metering.by_key("subscription-1", "b")) == first[1]

    def test_a_key_twice_in_one_batch_is_recorded_once_the_first_time(self, store: Store) -> None:
        batch = [make_usage("subscription-1", date(2026, 2, day), key="same") for day in (3, 4)]
        assert run(store, lambda tx: tx.metering.add(batch)) == {("subscription-1", "same")}
        assert run(store, lambda tx: tx.metering.by_key("subscription-1", "same")) == batch[0]

    def test_a_transaction_sees_the_keys_it_recorded(self, store: Store) -> None:
        def twice(tx: Transaction) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
            usage = make_usage("subscription-1", date(2026, 2, 1), key="k")
            return tx.metering.add([usage]), tx.metering.add([attrs.evolve(usage, id=new_id("usage"))])

        assert run(store, twice) == ({("subscription-1", "k")}, set())

    def test_keys_are_per_subscription_and_compare_exactly(self, store: Store) -> None:
        keys = ["Key", "key", "kéy", "key ", "k'ey\\", "ключ", "x" * 200]
        batch = [
            make_usage(s, date(2026, 2, 1), key=k) for s in ("subscription-1", "Subscription-1") for k in keys
        ]
        recorded = run(store, lambda tx: tx.metering.add(batch))
        assert recorded == {(u.subscription_id, u.key or "") for u in batch}
        assert run(store, lambda tx: tx.metering.by_key("subscription-1", "KEY")) is None
        assert run(store, lambda tx: tx.metering.by_key("subscription-2", "key")) is None
        assert run(store, lambda tx: tx.metering.by_key("Subscription-1", "kéy")) == batch[len(keys) + 2]

    def test_a_large_batch_round_trips(self, store: Store) -> None:
        batch = [make_usage("subscription-1", date(2026, 2, 1 + n % 28), key=f"e{n}") for n in range(2500)]
        assert len(run(store, lambda tx: tx.metering.add(batch))) == 2500
        found = run(
            store, lambda tx: tx.subscriptions.usage_between("subscription-1", T0.date(), date(2027, 1, 1))
        )
        assert found == batch
        assert run(store, lambda tx: tx.metering.add(batch)) == set()

    def test_keyed_usage_added_alone_is_refused_when_its_key_is_recorded(self, store: Store) -> None:
        run(store, lambda tx: tx.metering.add([make_usage("subscription-1", date(2026, 2, 1), key="k")]))

        def add_twice_then_go_on(tx: Transaction) -> set[tuple[str, str]]:
            with pytest.raises(DuplicateId):
                tx.subscriptions.add_usage(make_usage("subscription-1", date(2026, 2, 2), key="k"))
            tx.subscriptions.add_usage(make_usage("subscription-1", date(2026, 2, 3), key="k2"))
            tx.subscriptions.add_usage(make_usage("subscription-1", date(2026, 2, 3)))  # no key: always
            return tx.metering.add([make_usage("subscription-1", date(2026, 2, 4), key="k2")])

        assert run(store, add_twice_then_go_on) == set()
        found = run(
            store, lambda tx: tx.subscriptions.usage_between("subscription-1", T0.date(), date(2027, 1, 1))
        )
        assert [u.key for u in found] == ["k", "k2", None]

    def test_a_rolled_back_batch_leaves_its_keys_free(self, store: Store) -> None:
        batch = [make_usage("subscription-1", date(2026, 2, 1), key=k) for k in ("a", "b")]
        fails(store, lambda tx: tx.metering.add(batch))
        assert run(store, lambda tx: tx.metering.by_key("subscription-1", "a")) is None
        assert len(run(store, lambda tx: tx.metering.add(batch))) == 2

    def test_threads_recording_overlapping_batches_record_each_key_once(self, store: Store) -> None:
        for trial in range(self.race_trials):
            self._race_batches(store, trial)

    def _race_batches(self, store: Store, trial: int) -> None:
        subscriptions = [f"subscription-{trial}-a", f"subscription-{trial}-b"]

        # Each racer's keys overlap its neighbours'; every other racer sends them in reverse,
        # so two transactions meet the same keys in opposite orders.
        def batch(n: int) -> list[Usage]:
            keys = [f"event-{k}" for k in range(n * 5, n * 5 + 15)]
            if n % 2:
                keys.reverse()
            return [make_usage(s, date(2026, 2, 1), key=k) for k in keys for s in subscriptions]

        def record_batch(tx: Transaction, n: int) -> set[tuple[str, str]]:
            return tx.metering.add(batch(n))

        recorded = self.race(racers(store, record_batch, range(self.race_threads)))
        every = {(u.subscription_id, u.key or "") for n in range(self.race_threads) for u in batch(n)}
        assert sum(len(r) for r in recorded) == len(every), "a key was recorded by two batches"
        assert set().union(*recorded) == every

        def stored(tx: Transaction) -> list[tuple[str, str | None]]:
            return [
                (u.subscription_id, u.key)
                for s in subscriptions
                for u in tx.subscriptions.usage_between(s, T0.date(), date(2027, 1, 1))
            ]

        found = run(store, stored)
        assert len(found) == len(set(found)) == len(every)


class OutboxContract(StoreContract):
    """``tx.outbox``: e-mails queued once per key, claimed by one worker at a time, erased once sent."""

    def test_outbox_message_round_trips(self, store: Store) -> None:
        message = make_message(
            payload=b"\x00From: a@example.no\r\n\xff", attempts=2, last_error="550 no such user"
        )
        assert run(store, lambda tx: tx.outbox.add(message)) is True
        assert run(store, lambda tx: tx.outbox.get(message.id)) == message
        assert run(store, lambda tx: tx.outbox.get("unknown")) is None

    def test_message_with_a_key_already_queued_is_not_added(self, store: Store) -> None:
        first = make_message()
        run(store, lambda tx: tx.outbox.add(first))
        duplicate = make_message(key=first.key, recipient="other@example.no")
        assert run(store, lambda tx: tx.outbox.add(duplicate)) is False
        assert run(store, lambda tx: tx.outbox.get(duplicate.id)) is None
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == [first]

    def test_due_outbox_is_unsent_due_messages_oldest_first(self, store: Store) -> None:
        later = make_message(next_attempt_at=T0 - timedelta(minutes=1))
        earliest = make_message(next_attempt_at=T0 - timedelta(hours=1))
        tie_newer = make_message(id="message-b", next_attempt_at=T0 - timedelta(minutes=5))
        tie_older = make_message(
            id="message-c", next_attempt_at=T0 - timedelta(minutes=5), created_at=T0 - timedelta(days=1)
        )
        tie_id = make_message(id="message-a", next_attempt_at=T0 - timedelta(minutes=5))
        future = make_message(next_attempt_at=T0 + timedelta(seconds=1))
        sent = make_message(next_attempt_at=T0 - timedelta(days=1), sent_at=T0)
        added = [later, earliest, tie_newer, tie_older, tie_id, future, sent]
        each(store, lambda tx, message: tx.outbox.add(message), added)
        expected = [earliest, tie_older, tie_id, tie_newer, later]
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == expected
        assert run(store, lambda tx: tx.outbox.due(T0, 2)) == expected[:2]

    def test_due_outbox_compares_instants_across_utc_offsets(self, store: Store) -> None:
        oslo_summer = timezone(timedelta(hours=2))
        message = make_message(next_attempt_at=datetime(2026, 6, 1, 10, 30, tzinfo=oslo_summer))
        run(store, lambda tx: tx.outbox.add(message))
        found = run(store, lambda tx: tx.outbox.get(message.id))
        assert found == message
        assert found is not None
        assert found.next_attempt_at.utcoffset() is not None
        assert run(store, lambda tx: tx.outbox.due(datetime(2026, 6, 1, 8, 29, tzinfo=UTC), 10)) == []
        assert run(store, lambda tx: tx.outbox.due(datetime(2026, 6, 1, 8, 30, tzinfo=UTC), 10)) == [message]

    def test_sent_message_leaves_the_due_list(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.outbox.add(message))
        failed = attrs.evolve(
            message, attempts=1, last_error="timeout", next_attempt_at=T0 + timedelta(minutes=1)
        )
        run(store, lambda tx: tx.outbox.save(failed))
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == []
        sent = attrs.evolve(failed, attempts=2, last_error=None, sent_at=T0 + timedelta(minutes=1))
        run(store, lambda tx: tx.outbox.save(sent))
        assert run(store, lambda tx: tx.outbox.due(T0 + timedelta(days=1), 10)) == []
        assert run(store, lambda tx: tx.outbox.get(message.id)) == sent

    def test_saving_a_message_changes_its_delivery_state_only(self, store: Store) -> None:
        message = make_message(payload=b"queued", invoice_id="invoice-1")
        run(store, lambda tx: tx.outbox.add(message))
        retried = attrs.evolve(message, next_attempt_at=T0 + timedelta(hours=1), attempts=3, last_error="421")
        changed = attrs.evolve(
            retried,
            key="key:another",
            recipient="other@example.no",
            created_at=T0 + timedelta(days=1),
            invoice_id="invoice-2",
            payload=b"changed",
        )
        run(store, lambda tx: tx.outbox.save(changed))
        assert run(store, lambda tx: tx.outbox.get(message.id)) == retried
        # The key is still the one queued: it is still taken, and the other is free.
        assert run(store, lambda tx: tx.outbox.add(make_message(key=message.key))) is False
        assert run(store, lambda tx: tx.outbox.add(make_message(key="key:another"))) is True

    def test_no_messages_are_listed_or_claimed_for_a_limit_of_zero(self, store: Store) -> None:
        run(store, lambda tx: tx.outbox.add(make_message()))
        for limit in (0, -1):
            assert run(store, lambda tx: tx.outbox.due(T0, limit)) == []  # noqa: B023
            assert run(store, lambda tx: tx.outbox.claim(T0, limit, T0 + timedelta(minutes=5))) == []  # noqa: B023
        assert len(run(store, lambda tx: tx.outbox.due(T0, 10))) == 1

    def test_claimed_messages_are_the_oldest_due_and_are_not_due_until_the_lease_ends(
        self, store: Store
    ) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(minutes=m)) for m in (1, 30, 20, 10)]
        future = make_message(next_attempt_at=T0 + timedelta(seconds=1))
        sent = make_message(next_attempt_at=T0 - timedelta(days=1), sent_at=T0 - timedelta(hours=1))
        run(store, lambda tx: add_all(tx.outbox.add, [*messages, future, sent]))
        lease = T0 + timedelta(minutes=5)

        claimed = run(store, lambda tx: tx.outbox.claim(T0, 3, lease))

        oldest = [messages[1], messages[2], messages[3]]
        assert claimed == [attrs.evolve(m, next_attempt_at=lease) for m in oldest]
        assert run(store, lambda tx: [tx.outbox.get(m.id) for m in oldest]) == claimed
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == [messages[0]]

    def test_claiming_twice_gives_disjoint_messages_until_none_are_left(self, store: Store) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(seconds=s)) for s in range(7)]
        each(store, lambda tx, message: tx.outbox.add(message), messages)
        lease = T0 + timedelta(minutes=5)

        batches = [run(store, lambda tx: tx.outbox.claim(T0, 3, lease)) for _ in range(4)]

        ids = [[m.id for m in batch] for batch in batches]
        assert [len(batch) for batch in ids] == [3, 3, 1, 0]
        assert sorted(i for batch in ids for i in batch) == sorted(m.id for m in messages)

    def test_claimed_messages_fall_due_again_when_the_lease_ends(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.outbox.add(message))
        lease = T0 + timedelta(minutes=5)
        assert [m.id for m in run(store, lambda tx: tx.outbox.claim(T0, 10, lease))] == [message.id]

        just_before = lease - timedelta(microseconds=1)
        assert (
            run(store, lambda tx: tx.outbox.claim(just_before, 10, just_before + timedelta(minutes=5))) == []
        )
        later = lease + timedelta(minutes=5)
        again = run(store, lambda tx: tx.outbox.claim(lease, 10, later))
        assert again == [attrs.evolve(message, next_attempt_at=later)]

    def test_saving_the_outcome_ends_the_claim(self, store: Store) -> None:
        failing, sending = make_message(), make_message()
        run(store, lambda tx: add_all(tx.outbox.add, [failing, sending]))
        lease = T0 + timedelta(hours=1)
        claimed = run(store, lambda tx: tx.outbox.claim(T0, 10, lease))
        retry = T0 + timedelta(minutes=1)
        run(store, lambda tx: tx.outbox.save(attrs.evolve(claimed[0], attempts=1, next_attempt_at=retry)))
        run(store, lambda tx: tx.outbox.save(attrs.evolve(claimed[1], attempts=1, sent_at=T0)))

        assert [
            m.id for m in run(store, lambda tx: tx.outbox.claim(retry, 10, retry + timedelta(hours=1)))
        ] == [claimed[0].id]
        # A sent message is never claimed, however late.
        much_later = T0 + timedelta(days=3650)
        latest = run(store, lambda tx: tx.outbox.claim(much_later, 10, much_later + timedelta(hours=1)))
        assert [m.id for m in latest] == [claimed[0].id]

    def test_a_message_is_claimed_by_id_only_when_it_is_due(self, store: Store) -> None:
        first, second = make_message(), make_message()
        future = make_message(next_attempt_at=T0 + timedelta(minutes=1))
        run(store, lambda tx: add_all(tx.outbox.add, [first, second, future]))
        lease = T0 + timedelta(minutes=5)

        def claim(message_id: str) -> list[str]:
            claimed = run(store, lambda tx: tx.outbox.claim(T0, 10, lease, message_id=message_id))
            return [m.id for m in claimed]

        assert claim(second.id) == [second.id]
        assert claim(second.id) == []  # claimed already
        assert claim(future.id) == []
        assert claim("unknown") == []
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == [first]

    def test_a_rolled_back_claim_leaves_the_messages_due(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.outbox.add(message))
        fails(store, lambda tx: tx.outbox.claim(T0, 10, T0 + timedelta(minutes=5)))
        assert run(store, lambda tx: tx.outbox.due(T0, 10)) == [message]

    def test_threads_claiming_at_once_each_get_other_messages(self, store: Store) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(seconds=s)) for s in range(60)]
        run(store, lambda tx: add_all(tx.outbox.add, messages))

        def claim_until_none_are_left() -> list[str]:
            claimed: list[str] = []
            while batch := run(store, lambda tx: tx.outbox.claim(T0, 4, T0 + timedelta(minutes=5))):
                claimed += [m.id for m in batch]
            return claimed

        claims = self.race([claim_until_none_are_left] * 4)
        claimed = [i for batch in claims for i in batch]
        assert sorted(claimed) == sorted(m.id for m in messages)

    def test_a_sent_message_has_its_payload_erased_in_the_same_write(self, store: Store) -> None:
        # Secrets are not kept: an invitation token lives in the e-mail only.
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.outbox.add(message))
        claimed = run(store, lambda tx: tx.outbox.claim(T0, 10, T0 + timedelta(minutes=5)))
        assert [m.payload for m in claimed] == [message.payload]
        sent = attrs.evolve(claimed[0], attempts=1, sent_at=T0)  # still carrying its payload
        run(store, lambda tx: tx.outbox.save(sent))
        assert run(store, lambda tx: tx.outbox.get(message.id)) == attrs.evolve(sent, payload=None)

    def test_a_failed_attempt_keeps_the_payload_for_the_retry(self, store: Store) -> None:
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.outbox.add(message))
        failed = attrs.evolve(
            message, attempts=1, last_error="421", next_attempt_at=T0 + timedelta(minutes=1)
        )
        run(store, lambda tx: tx.outbox.save(failed))
        assert run(store, lambda tx: tx.outbox.get(message.id)) == failed

    def test_a_dropped_message_is_erased_never_due_and_stays_dropped(self, store: Store) -> None:
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.outbox.add(message))
        dropped = attrs.evolve(message, dropped_at=T0, last_error="not sent: the invitation was revoked")
        run(store, lambda tx: tx.outbox.save(dropped))
        assert run(store, lambda tx: tx.outbox.get(message.id)) == attrs.evolve(dropped, payload=None)
        later = T0 + timedelta(days=1)
        assert run(store, lambda tx: tx.outbox.due(later, 10)) == []
        assert run(store, lambda tx: tx.outbox.claim(later, 10, later + timedelta(minutes=5))) == []
        # A worker that claimed it before the drop records its attempt: the drop stays.
        retry = attrs.evolve(message, attempts=1, last_error="421", next_attempt_at=T0)
        run(store, lambda tx: tx.outbox.save(retry))
        stored = run(store, lambda tx: tx.outbox.get(message.id))
        assert stored == attrs.evolve(retry, payload=None, dropped_at=T0)
        assert run(store, lambda tx: tx.outbox.due(later, 10)) == []

    def test_saving_an_unknown_outbox_message_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.outbox.save(make_message()))

    def test_outbox_of_invoice_lists_its_messages_in_order_queued(self, store: Store) -> None:
        messages = [make_message(invoice_id="invoice-1", recipient=f"{n}@example.no") for n in "cab"]
        other = make_message(invoice_id="invoice-2")
        run(store, lambda tx: add_all(tx.outbox.add, [messages[0], other]))
        run(store, lambda tx: add_all(tx.outbox.add, messages[1:]))
        assert run(store, lambda tx: tx.outbox.of_invoice("invoice-1")) == messages
        assert run(store, lambda tx: tx.outbox.of_invoice("invoice-3")) == []


class EventsContract(StoreContract):
    """``tx.events``: appended in the unit of work of the change, read by position in commit order."""

    def test_appended_events_are_read_in_order_with_growing_positions(self, store: Store) -> None:
        events = [
            Event("invoice.issued", "account-1", T0, {"invoice_id": "i-1", "total": "12.50", "n": 3}),
            Event("user.erased", None, T0 + timedelta(hours=1), {"user_id": "u-1", "erased": True}),
            Event("member.left", "account-2", T0, {"user_id": "u-2", "by": None}),
        ]
        run(store, lambda tx: add_all(tx.events.append, events[:2]))
        run(store, lambda tx: tx.events.append(events[2]))
        read = run(store, lambda tx: tx.events.read(0, 10))
        assert [attrs.evolve(e, position=0) for e in read] == events
        positions = [e.position for e in read]
        assert positions == sorted(set(positions))
        assert positions[0] >= 1
        assert run(store, lambda tx: tx.events.read(positions[0], 1)) == read[1:2]
        assert run(store, lambda tx: tx.events.read(positions[-1], 10)) == []
        assert run(store, lambda tx: tx.events.read(0, 0)) == []

    def test_an_event_of_a_rolled_back_unit_of_work_is_never_read(self, store: Store) -> None:
        fails(store, lambda tx: tx.events.append(Event("member.left", "account-1", T0, {"n": 1})))
        run(store, lambda tx: tx.events.append(Event("member.left", "account-1", T0, {"n": 2})))
        fails(store, lambda tx: tx.events.append(Event("member.left", "account-1", T0, {"n": 3})))
        run(store, lambda tx: tx.events.append(Event("member.left", "account-1", T0, {"n": 4})))
        read = run(store, lambda tx: tx.events.read(0, 10))
        assert [e.data["n"] for e in read] == [2, 4]
        assert read[0].position < read[1].position

    def test_events_given_to_add_numbered_carry_the_number(self, store: Store) -> None:
        account = add_account(store)
        event = Event("invoice.issued", account.id, T0, {"invoice_id": "x"})
        first = run(store, lambda tx: tx.invoices.add_numbered(make_invoice(account.id), (), [event]))

        def after_another_write(tx: Transaction) -> Invoice:
            tx.audit.add(marker(account.id))
            return tx.invoices.add_numbered(make_invoice(account.id), (), [event, event])

        second = run(store, after_another_write)
        read = run(store, lambda tx: tx.events.read(0, 10))
        assert [e.data for e in read] == [
            {"invoice_id": "x", "number": first.number},
            {"invoice_id": "x", "number": second.number},
            {"invoice_id": "x", "number": second.number},
        ]

    def test_threads_appending_while_one_reads_are_read_once_each_in_order(self, store: Store) -> None:
        per_thread = 15
        writers = self.race_threads
        finished = threading.Event()
        seen: list[Event] = []

        def append(n: int) -> int:
            for k in range(per_thread):

                def write(tx: Transaction, k: int = k) -> None:
                    tx.audit.add(marker("account-1"))
                    tx.events.append(Event("member.left", "account-1", T0, {"writer": n, "k": k}))
                    time.sleep(0.001 * (k % 3))  # commit a little later, now and then

                run(store, write)
            return n

        def read() -> int:
            after = 0
            while True:
                done = finished.is_set()
                batch = run(store, partial(_read_events, after))
                seen.extend(batch)
                if batch:
                    after = batch[-1].position
                elif done:
                    return -1

        reader = threading.Thread(target=read)
        reader.start()
        try:
            self.race([partial(append, n) for n in range(writers)])
        finally:
            finished.set()
            reader.join(self.race_timeout)
        everything = run(store, lambda tx: tx.events.read(0, writers * per_thread + 1))
        assert len(everything) == writers * per_thread
        assert [e.position for e in seen] == [e.position for e in everything]
        for n in range(writers):
            assert [e.data["k"] for e in everything if e.data["writer"] == n] == list(range(per_thread))


def _read_events(after: int, tx: Transaction) -> list[Event]:
    return tx.events.read(after, 5)


class TransactionsContract(StoreContract):
    """Units of work: reads see their own writes, refusals change nothing, errors pass through, no nesting."""

    def test_reads_inside_a_transaction_see_its_own_writes(self, store: Store) -> None:
        world = populate(store)

        def write_and_read(tx: Transaction) -> None:
            tx.users.add(world.new_user)
            assert tx.users.by_email(world.new_user.email.upper()) == world.new_user
            tx.accounts.add(world.new_account)
            assert tx.accounts.get(world.new_account.id) == world.new_account
            tx.memberships.add(Membership(world.new_account.id, world.new_user.id, Role.OWNER))
            assert tx.accounts.of_user(world.new_user.id) == [world.new_account]
            tx.accounts.claim_number("org", "123456785", world.new_account.id, world.new_user.id)
            assert tx.accounts.number_holders("org", "123456785") == [world.new_account.id]
            assert tx.invitations.accept(world.invitation.id, world.invitation.token_hash, world.outsider.id)
            assert tx.invitations.get(world.invitation.id) == attrs.evolve(
                world.invitation, state=InvitationState.ACCEPTED, accepted_by=world.outsider.id
            )
            assert tx.memberships.transfer_ownership(world.account.id, world.owner.id, world.member.id)
            assert owners(tx, world.account.id) == [world.member.id]
            assert tx.memberships.with_account(world.account.id, world.member.id) == (
                attrs.evolve(world.account, owner_id=world.member.id),
                Membership(world.account.id, world.member.id, Role.OWNER),
            )
            assert tx.idempotency.claim(SCOPE, world.new_key, "fingerprint-2") is None
            assert record(tx.idempotency.claim(SCOPE, world.new_key, "x")) == ("fingerprint-2", None)
            tx.ledger.add(make_ledger_entry(world.account.id, world.customer, "-0.50"))
            assert tx.ledger.balance(world.account.id, world.customer, "NOK") == Decimal("250.00")
            tx.outbox.save(attrs.evolve(world.message, sent_at=T0))
            assert tx.outbox.due(T0, 10) == []
            credit_note = tx.invoices.add_numbered(make_credit_note(world.invoice))
            assert tx.invoices.get(credit_note.id) == credit_note
            assert [i.sequence for i in tx.invoices.of_account(world.account.id)] == [1, 2]
            assert tx.invoices.credit_notes_of(world.invoice.id) == [credit_note]

        run(store, write_and_read)

    def test_committed_writes_are_seen_by_later_transactions(self, store: Store) -> None:
        world = populate(store)
        state = snapshot(store, world)
        assert state["invoices"] == [world.invoice]
        assert state["accounts of users"] == [[world.account], [world.account], [], []]
        assert state["outbox"] == world.message
        assert state["billed 2026-01-10"] is True
        assert state["billed 2026-02-10"] is False
        assert state["org 974760673 refused to " + world.owner.id] is False
        assert state["org 974760673 refused to " + world.member.id] is True
        assert state[f"idempotency {world.claimed_key}"] == ("fingerprint-1", None)
        assert state[f"idempotency {world.new_key}"] is None

    def test_refused_writes_change_nothing_and_the_transaction_goes_on(self, store: Store) -> None:
        world = populate(store)
        before = snapshot(store, world)
        event = AuditEvent(world.account.id, T0, world.owner.id, "checked", "everything")

        def refused_then_write(tx: Transaction) -> None:
            with pytest.raises(EmailTaken):
                tx.users.add(attrs.evolve(world.new_user, email=world.owner.email.upper()))
            with pytest.raises(AlreadyMember):
                tx.memberships.add(Membership(world.account.id, world.member.id, Role.OWNER))
            with pytest.raises(OrgNumberTaken):
                tx.accounts.claim_number("org", "974760673", world.new_account.id, world.member.id)
            with pytest.raises(AlreadyBilled):
                tx.subscriptions.mark_billed(world.subscription.id, date(2026, 1, 10), None)
            with pytest.raises(DuplicateId):
                tx.accounts.add(attrs.evolve(world.account, name="Imposter AS"))
            assert tx.outbox.add(make_message(key=world.message.key)) is False
            with pytest.raises(NotFound):
                tx.users.save(world.new_user)
            assert tx.invitations.accept(world.invitation.id, "stale-token-hash", world.outsider.id) is False
            assert tx.invitations.revoke("unknown") is False
            assert tx.invitations.renew("unknown", "renewed-token-hash", T0) is False
            assert tx.memberships.remove(world.account.id, world.owner.id) is False
            assert (
                tx.memberships.transfer_ownership(world.account.id, world.owner.id, world.outsider.id)
                is False
            )
            assert (
                tx.memberships.transfer_ownership(world.account.id, world.member.id, world.owner.id) is False
            )
            assert record(tx.idempotency.claim(SCOPE, world.claimed_key, "fingerprint-2")) == (
                "fingerprint-1",
                None,
            )
            tx.audit.add(event)

        run(store, refused_then_write)
        after = snapshot(store, world)
        assert after.pop("audit") == [*cast("list[AuditEvent]", before.pop("audit")), event]
        assert after == before

    def test_error_inside_a_transaction_propagates_unchanged(self, store: Store) -> None:
        error = KeyError("not a tenantbill error")
        with pytest.raises(KeyError) as caught, store.transaction():
            raise error
        assert caught.value is error

    def test_transactions_do_not_nest(self, store: Store) -> None:
        user = make_user()

        def nest(tx: Transaction) -> None:
            with pytest.raises(RuntimeError), store.transaction():
                pass  # pragma: no cover - never entered
            tx.users.add(user)

        run(store, nest)
        assert run(store, lambda tx: tx.users.get(user.id)) == user


class RollbackContract(StoreContract):
    """A unit of work that raises leaves no trace of any write of the port (:data:`WRITES`)."""

    @pytest.mark.parametrize("write", sorted(WRITES))
    def test_failed_transaction_leaves_no_trace_of_its_write(self, store: Store, write: str) -> None:
        world = populate(store)
        before = snapshot(store, world)
        fails(store, lambda tx: WRITES[write](tx, world))
        assert snapshot(store, world) == before
        # The same write, committed, does show: the snapshot would have seen a trace.
        run(store, lambda tx: WRITES[write](tx, world))
        assert snapshot(store, world) != before

    def test_failed_transaction_leaves_no_trace_of_many_writes(self, store: Store) -> None:
        world = populate(store)
        before = snapshot(store, world)
        fails(store, lambda tx: add_all(lambda write: write(tx, world), WRITES.values()))
        assert snapshot(store, world) == before


class StoreConformance(
    UsersContract,
    AccountsContract,
    MembershipsContract,
    InvitationsContract,
    InvoicesContract,
    LedgerContract,
    PaymentsContract,
    RemindersContract,
    SubscriptionsContract,
    MeteringContract,
    OutboxContract,
    IdempotencyContract,
    AuditContract,
    EventsContract,
    TransactionsContract,
    RollbackContract,
):
    """The behaviour every Store must have: every contract class at once. Implement :meth:`make_store`."""
