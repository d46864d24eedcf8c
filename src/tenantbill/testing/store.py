"""The Store conformance suite: what every :class:`~tenantbill.ports.Store` must do.

tenantbill's services rely only on the behaviour checked here, so a store
that passes this suite can replace the built-in ones. The same tests run on
:class:`~tenantbill.memory.MemoryStore` and on
:class:`~tenantbill.sql.SqlStore` (SQLite and PostgreSQL): same results, same
errors, same rollback.

To check your own adapter, subclass :class:`StoreConformance` in your test
suite and say how to build a new, empty store::

    # tests/test_my_store.py
    from tenantbill.testing.store import StoreConformance

    class TestMyStore(StoreConformance):
        def make_store(self):
            return MyStore(...)

        def close_store(self, store):  # optional: release what make_store() took
            store.close()

then run ``pytest tests/test_my_store.py``. Each test gets a store from the
``store`` fixture, which calls :meth:`~StoreConformance.make_store`; when
building the store needs other fixtures, override the fixture itself::

    class TestMyFileStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "data")
            yield store
            store.close()

The store must start empty: some tests read lists that span the whole store
(what is due, what is queued). The suite needs pytest and hypothesis.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar, cast

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
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LedgerEntry,
    Party,
    Seller,
    Series,
    VatGroup,
)
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import Plan, PlanChange, Subscription, Usage
from tenantbill.errors import (
    AlreadyBilled,
    AlreadyMember,
    BankAccountTaken,
    EmailTaken,
    NotFound,
    NumberTaken,
    OrgNumberTaken,
)
from tenantbill.ports import DuplicateId, OneStatementIssuer, Store, Transaction

__all__ = ["StoreConformance"]

T = TypeVar("T")

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


def make_invoice(account_id: str, sequence: int, **changes: Any) -> Invoice:
    lines = (
        InvoiceLine("Hosting – «Pro»", Decimal("1"), Decimal("199.00"), Decimal("0.25"), Decimal("199.00")),
        InvoiceLine("Support", Decimal("1.50"), Decimal("850.005"), Decimal("0.25"), Decimal("1275.01")),
        InvoiceLine("Bøker", Decimal("3"), Decimal("0.10"), Decimal("0.12"), Decimal("0.30")),
    )
    invoice = Invoice(
        id=new_id("invoice"),
        account_id=account_id,
        sequence=sequence,
        number=f"F-{sequence:05d}",
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


def make_credit_note(invoice: Invoice, sequence: int) -> Invoice:
    return attrs.evolve(
        invoice,
        id=new_id("credit"),
        sequence=sequence,
        number=f"F-{sequence:05d}",
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


def make_usage(subscription_id: str, on: date, item: str = "GB") -> Usage:
    return Usage(
        id=new_id("usage"),
        subscription_id=subscription_id,
        on=on,
        item=item,
        quantity=Decimal("2.500"),
        unit_price=Decimal("0.35"),
        vat_rate=Decimal("0.25"),
        recorded_at=T0,
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


def _issuer(store: Store) -> OneStatementIssuer:
    assert isinstance(store, OneStatementIssuer), f"{type(store).__name__} does not offer issue_invoice()"
    return store


def _stored(invoice_id: str, tx: Transaction) -> tuple[Invoice | None, list[OutboxMessage]]:
    return tx.get_invoice(invoice_id), tx.outbox_of_invoice(invoice_id)


def _number(invoice: Invoice, tx: Transaction) -> Invoice:
    return tx.add_invoice_numbered(invoice)


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


def series_or_none(tx: Transaction, account_id: str) -> Series | None:
    try:
        return tx.get_series(account_id)
    except NotFound:
        return None


# a populated store, and everything that can be read back from it


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

    @property
    def customer(self) -> str:
        return self.outsider.id


def populate(store: Store) -> World:
    owner, member, outsider = make_user(), make_user(), make_user()
    account = make_account(owner)
    invitation = make_invitation(account, owner)
    subscription = make_subscription()

    def fill(tx: Transaction) -> World:
        for user in (owner, member, outsider):
            tx.add_user(user)
        tx.add_account(account)
        tx.add_membership(Membership(account.id, owner.id, Role.OWNER))
        tx.add_membership(Membership(account.id, member.id, Role.MEMBER))
        tx.claim_number("org", "974760673", account.id, owner.id)
        tx.claim_number("bank", "86011117947", account.id, owner.id)
        tx.add_invitation(invitation)
        tx.add_audit(AuditEvent(account.id, T0, owner.id, "invited", invitation.email))
        invoice = make_invoice(account.id, tx.allocate_sequence(account.id))
        tx.add_invoice(invoice)
        tx.add_ledger_entry(make_ledger_entry(account.id, outsider.id, "250.50"))
        tx.add_subscription(subscription)
        tx.add_usage(make_usage(subscription.id, date(2026, 1, 20)))
        tx.add_billing_mark(subscription.id, date(2026, 1, 10), invoice.id)
        message = make_message(invoice_id=invoice.id)
        tx.add_outbox(message)
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
        )

    return run(store, fill)


def snapshot(store: Store, w: World) -> dict[str, object]:
    """Everything the protocol can tell about the world's records."""
    users = (w.owner, w.member, w.outsider, w.new_user)
    accounts = (w.account, w.new_account)
    numbers = (("org", "974760673"), ("bank", "86011117947"), ("org", "123456785"))

    def read(tx: Transaction) -> dict[str, object]:
        return {
            "users": [tx.get_user(u.id) for u in users],
            "users by e-mail": [tx.user_by_email(u.email) for u in users],
            "accounts": [tx.get_account(a.id) for a in accounts],
            "accounts of users": [tx.accounts_of_user(u.id) for u in users],
            "memberships": [tx.memberships_of_account(a.id) for a in accounts],
            "holders": [tx.number_holders(kind, number) for kind, number in numbers],
            "invitation": tx.get_invitation(w.invitation.id),
            "invitation by token": tx.invitation_by_token_hash(w.invitation.token_hash),
            "invitation by new token": [
                tx.invitation_by_token_hash(token) for token in ("added-token-hash", "new-token-hash")
            ],
            "audit": tx.audit_of_account(w.account.id),
            "series": [series_or_none(tx, a.id) for a in accounts],
            "invoices": list(tx.invoices_of_account(w.account.id)),
            "credit notes": tx.credit_notes_of(w.invoice.id),
            "ledger": tx.ledger(w.account.id, w.customer),
            "balance": tx.balance(w.account.id, w.customer, "NOK"),
            "subscription": tx.get_subscription(w.subscription.id),
            "due": tx.due_subscription_ids(date(2030, 1, 1), None, 100),
            "usage": tx.usage_between(w.subscription.id, date(2000, 1, 1), date(2100, 1, 1)),
            "outbox": tx.get_outbox(w.message.id),
            "due outbox": tx.due_outbox(T0 + timedelta(days=3650), 100),
            "outbox of invoice": tx.outbox_of_invoice(w.invoice.id),
        }

    state = run(store, read)
    for kind, number in numbers:
        for user in users:
            refused = _claim_refused(kind, number, user.id)
            state[f"{kind} {number} refused to {user.id}"] = probe(store, refused)
    for due in (date(2026, 1, 10), date(2026, 2, 10)):
        state[f"billed {due}"] = probe(store, _mark_refused(w.subscription.id, due))
    state["outbox key taken"] = probe(store, lambda tx: not tx.add_outbox(make_message(key=w.message.key)))
    return state


def _claim_refused(kind: str, number: str, owner_id: str) -> Callable[[Transaction], bool]:
    def refused(tx: Transaction) -> bool:
        try:
            tx.claim_number(kind, number, new_id("account"), owner_id)
        except NumberTaken:
            return True
        return False

    return refused


def _mark_refused(subscription_id: str, due: date) -> Callable[[Transaction], bool]:
    def refused(tx: Transaction) -> bool:
        try:
            tx.add_billing_mark(subscription_id, due, None)
        except AlreadyBilled:
            return True
        return False

    return refused


def _write_cases() -> dict[str, Callable[[Transaction, World], object]]:
    """One of every kind of write, each changing something :func:`snapshot` sees."""
    return {
        "add_user": lambda tx, w: tx.add_user(w.new_user),
        "save_user": lambda tx, w: tx.save_user(attrs.evolve(w.owner, name="Nytt navn", invoice_emails=True)),
        "add_account": lambda tx, w: tx.add_account(w.new_account),
        "save_account": lambda tx, w: tx.save_account(attrs.evolve(w.account, name="Nytt AS", logo=None)),
        "add_membership": lambda tx, w: tx.add_membership(
            Membership(w.account.id, w.outsider.id, Role.BILLING)
        ),
        "save_membership": lambda tx, w: tx.save_membership(
            Membership(w.account.id, w.member.id, Role.BILLING)
        ),
        "remove_membership": lambda tx, w: tx.remove_membership(w.account.id, w.member.id),
        "claim_number": lambda tx, w: tx.claim_number("org", "123456785", w.new_account.id, w.outsider.id),
        "release_number": lambda tx, w: tx.release_number("org", "974760673", w.account.id),
        "set_number_owner": lambda tx, w: tx.set_number_owner("bank", "86011117947", w.member.id),
        "add_invitation": lambda tx, w: tx.add_invitation(
            make_invitation(w.account, w.owner, token_hash="added-token-hash")
        ),
        "save_invitation": lambda tx, w: tx.save_invitation(
            attrs.evolve(w.invitation, token_hash="new-token-hash", state=InvitationState.REVOKED)
        ),
        "add_audit": lambda tx, w: tx.add_audit(AuditEvent(w.account.id, T0, None, "left", w.member.id)),
        "save_series": lambda tx, w: tx.save_series(Series(w.account.id, 1000, "F-", 6, 1)),
        "allocate_sequence": lambda tx, w: tx.allocate_sequence(w.account.id),
        "add_invoice": lambda tx, w: tx.add_invoice(make_credit_note(w.invoice, 2)),
        "add_invoice_numbered": lambda tx, w: tx.add_invoice_numbered(make_invoice(w.account.id, 0)),
        "add_ledger_entry": lambda tx, w: tx.add_ledger_entry(
            make_ledger_entry(w.account.id, w.customer, "-50.25")
        ),
        "add_subscription": lambda tx, w: tx.add_subscription(make_subscription(date(2026, 3, 1))),
        "save_subscription": lambda tx, w: tx.save_subscription(
            attrs.evolve(
                w.subscription,
                fee_n=1,
                usage_n=1,
                plans=(*w.subscription.plans, PlanChange(date(2026, 2, 10), PRO_YEARLY)),
            )
        ),
        "add_usage": lambda tx, w: tx.add_usage(make_usage(w.subscription.id, date(2026, 1, 21))),
        "add_billing_mark": lambda tx, w: tx.add_billing_mark(w.subscription.id, date(2026, 2, 10), None),
        "add_outbox": lambda tx, w: tx.add_outbox(make_message(invoice_id=w.invoice.id)),
        "save_outbox": lambda tx, w: tx.save_outbox(attrs.evolve(w.message, attempts=1, sent_at=T0)),
        "claim_outbox": lambda tx, w: tx.claim_outbox(T0, 10, T0 + timedelta(minutes=10)),
    }


WRITES = _write_cases()


class StoreConformance:
    """The behaviour every Store must have; subclass it and implement :meth:`make_store`."""

    def make_store(self) -> Store:
        """A new, empty store to test."""
        raise NotImplementedError("subclasses of StoreConformance say how to build their store")

    def close_store(self, store: Store) -> None:
        """Release what :meth:`make_store` acquired (nothing by default)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A new, empty store for one test."""
        store = self.make_store()
        yield store
        self.close_store(store)

    # users

    def test_added_user_is_found_by_id_and_by_email(self, store: Store) -> None:
        user = make_user()
        run(store, lambda tx: tx.add_user(user))
        assert run(store, lambda tx: tx.get_user(user.id)) == user
        assert run(store, lambda tx: tx.user_by_email(user.email)) == user

    def test_email_lookup_ignores_case(self, store: Store) -> None:
        user = make_user(email="Kari.Nordmann@Example.NO")
        run(store, lambda tx: tx.add_user(user))
        assert run(store, lambda tx: tx.user_by_email("kari.nordmann@example.no")) == user
        assert run(store, lambda tx: tx.user_by_email("KARI.NORDMANN@EXAMPLE.NO")) == user

    def test_second_user_with_the_same_email_in_other_case_is_refused(self, store: Store) -> None:
        first = make_user(email="kari@example.no")
        run(store, lambda tx: tx.add_user(first))
        with pytest.raises(EmailTaken):
            run(store, lambda tx: tx.add_user(make_user(email="KARI@example.no")))
        assert run(store, lambda tx: tx.user_by_email("kari@example.no")) == first

    def test_unknown_user_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.get_user("nobody")) is None
        assert run(store, lambda tx: tx.user_by_email("nobody@example.no")) is None

    def test_saved_user_replaces_the_record(self, store: Store) -> None:
        user = make_user()
        run(store, lambda tx: tx.add_user(user))
        changed = attrs.evolve(user, name="Kari", invoice_emails=True)
        run(store, lambda tx: tx.save_user(changed))
        assert run(store, lambda tx: tx.get_user(user.id)) == changed
        assert run(store, lambda tx: tx.user_by_email(user.email)) == changed

    def test_saving_an_unknown_user_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_user(make_user()))

    # accounts

    def test_account_round_trips_every_field(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        assert run(store, lambda tx: tx.get_account(account.id)) == account

    def test_account_with_defaults_round_trips(self, store: Store) -> None:
        account = Account(id=new_id("account"), name="Solo", owner_id="user-1")
        run(store, lambda tx: tx.add_account(account))
        assert run(store, lambda tx: tx.get_account(account.id)) == account

    def test_saved_account_replaces_the_record(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        changed = attrs.evolve(account, name="Nytt AS", org_number=None, logo=None, invoice_recipients=())
        run(store, lambda tx: tx.save_account(changed))
        assert run(store, lambda tx: tx.get_account(account.id)) == changed

    def test_saving_an_unknown_account_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_account(make_account(make_user())))

    def test_unknown_account_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.get_account("nowhere")) is None

    def test_new_account_has_a_series_starting_at_one(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        assert run(store, lambda tx: tx.get_series(account.id)) == Series(account.id)

    def test_account_with_an_id_already_stored_is_refused(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        run(store, lambda tx: tx.save_series(Series(account.id, next_sequence=7, last_used=6)))
        with pytest.raises(DuplicateId):
            run(store, lambda tx: tx.add_account(attrs.evolve(account, name="Imposter AS")))
        assert run(store, lambda tx: tx.get_account(account.id)) == account
        assert run(store, lambda tx: tx.get_series(account.id)) == Series(account.id, 7, last_used=6)

    # memberships

    def test_membership_is_found_after_adding(self, store: Store) -> None:
        membership = Membership("account-1", "user-1", Role.BILLING)
        run(store, lambda tx: tx.add_membership(membership))
        assert run(store, lambda tx: tx.get_membership("account-1", "user-1")) == membership
        assert run(store, lambda tx: tx.get_membership("account-1", "user-2")) is None

    def test_second_membership_of_a_user_on_an_account_is_refused(self, store: Store) -> None:
        run(store, lambda tx: tx.add_membership(Membership("account-1", "user-1", Role.MEMBER)))
        with pytest.raises(AlreadyMember):
            run(store, lambda tx: tx.add_membership(Membership("account-1", "user-1", Role.BILLING)))
        assert run(store, lambda tx: tx.get_membership("account-1", "user-1")) == Membership(
            "account-1", "user-1", Role.MEMBER
        )

    def test_memberships_of_account_are_in_creation_order(self, store: Store) -> None:
        added = [Membership("account-1", user, role) for user, role in [
            ("user-c", Role.OWNER), ("user-a", Role.MEMBER), ("user-b", Role.BILLING)
        ]]  # fmt: skip
        run(store, lambda tx: add_all(tx.add_membership, added))
        run(store, lambda tx: tx.add_membership(Membership("account-2", "user-a", Role.OWNER)))
        assert run(store, lambda tx: tx.memberships_of_account("account-1")) == added

    def test_accounts_of_user_are_in_membership_creation_order(self, store: Store) -> None:
        owner, user = make_user(), make_user()
        first, second, third = (make_account(owner) for _ in range(3))
        run(store, lambda tx: add_all(tx.add_account, (first, second, third)))
        joined = [Membership(a.id, user.id, Role.MEMBER) for a in (third, first, second)]
        each(store, lambda tx, membership: tx.add_membership(membership), joined)
        assert run(store, lambda tx: tx.accounts_of_user(user.id)) == [third, first, second]
        assert run(store, lambda tx: tx.accounts_of_user(owner.id)) == []

    def test_saved_membership_has_the_new_role(self, store: Store) -> None:
        run(store, lambda tx: tx.add_membership(Membership("account-1", "user-1", Role.MEMBER)))
        run(store, lambda tx: tx.save_membership(Membership("account-1", "user-1", Role.OWNER)))
        assert run(store, lambda tx: tx.memberships_of_account("account-1")) == [
            Membership("account-1", "user-1", Role.OWNER)
        ]

    def test_saving_an_unknown_membership_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_membership(Membership("account-1", "user-1", Role.OWNER)))

    def test_removed_membership_is_gone_everywhere(self, store: Store) -> None:
        owner, user = make_user(), make_user()
        account = make_account(owner)
        run(store, lambda tx: tx.add_account(account))
        run(store, lambda tx: tx.add_membership(Membership(account.id, owner.id, Role.OWNER)))
        run(store, lambda tx: tx.add_membership(Membership(account.id, user.id, Role.MEMBER)))
        run(store, lambda tx: tx.remove_membership(account.id, user.id))
        assert run(store, lambda tx: tx.get_membership(account.id, user.id)) is None
        assert run(store, lambda tx: tx.memberships_of_account(account.id)) == [
            Membership(account.id, owner.id, Role.OWNER)
        ]
        assert run(store, lambda tx: tx.accounts_of_user(user.id)) == []

    def test_removing_a_missing_membership_is_no_error(self, store: Store) -> None:
        run(store, lambda tx: tx.remove_membership("account-1", "user-1"))

    def test_member_who_left_and_rejoined_is_listed_once_as_the_newest(self, store: Store) -> None:
        owner = make_user()
        first, second = make_account(owner), make_account(owner)
        run(store, lambda tx: add_all(tx.add_account, [first, second]))
        joined = [
            Membership(first.id, "user-1", Role.MEMBER),
            Membership(second.id, "user-1", Role.MEMBER),
            Membership(first.id, "user-2", Role.BILLING),
        ]
        each(store, lambda tx, membership: tx.add_membership(membership), joined)
        run(store, lambda tx: tx.remove_membership(first.id, "user-1"))
        run(store, lambda tx: tx.add_membership(joined[0]))
        assert run(store, lambda tx: tx.memberships_of_account(first.id)) == [joined[2], joined[0]]
        assert run(store, lambda tx: tx.accounts_of_user("user-1")) == [second, first]

    # org and bank number claims

    @pytest.mark.parametrize(("kind", "error"), [("org", OrgNumberTaken), ("bank", BankAccountTaken)])
    def test_number_of_another_owners_account_is_refused(
        self, store: Store, kind: str, error: type[NumberTaken]
    ) -> None:
        run(store, lambda tx: tx.claim_number(kind, "974760673", "account-1", "owner-1"))
        with pytest.raises(error):
            run(store, lambda tx: tx.claim_number(kind, "974760673", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.number_holders(kind, "974760673")) == ["account-1"]

    def test_same_owner_may_reuse_a_number_for_another_account(self, store: Store) -> None:
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-b", "owner-1"))
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-a", "owner-1"))
        assert run(store, lambda tx: tx.number_holders("org", "974760673")) == ["account-a", "account-b"]

    def test_claiming_a_held_number_again_for_the_same_account_changes_nothing(self, store: Store) -> None:
        for _ in range(2):
            run(store, lambda tx: tx.claim_number("bank", "86011117947", "account-1", "owner-1"))
        assert run(store, lambda tx: tx.number_holders("bank", "86011117947")) == ["account-1"]

    def test_unclaimed_number_has_no_holders(self, store: Store) -> None:
        assert run(store, lambda tx: tx.number_holders("org", "974760673")) == []

    def test_org_and_bank_numbers_are_claimed_separately(self, store: Store) -> None:
        run(store, lambda tx: tx.claim_number("org", "12345678903", "account-1", "owner-1"))
        run(store, lambda tx: tx.claim_number("bank", "12345678903", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.number_holders("org", "12345678903")) == ["account-1"]
        assert run(store, lambda tx: tx.number_holders("bank", "12345678903")) == ["account-2"]

    def test_released_number_is_free_for_another_owner(self, store: Store) -> None:
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-1", "owner-1"))
        run(store, lambda tx: tx.release_number("org", "974760673", "account-1"))
        assert run(store, lambda tx: tx.number_holders("org", "974760673")) == []
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-2", "owner-2"))
        assert run(store, lambda tx: tx.number_holders("org", "974760673")) == ["account-2"]

    def test_number_stays_with_its_owner_while_one_account_still_holds_it(self, store: Store) -> None:
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-1", "owner-1"))
        run(store, lambda tx: tx.claim_number("org", "974760673", "account-2", "owner-1"))
        run(store, lambda tx: tx.release_number("org", "974760673", "account-1"))
        with pytest.raises(OrgNumberTaken):
            run(store, lambda tx: tx.claim_number("org", "974760673", "account-3", "owner-2"))
        assert run(store, lambda tx: tx.number_holders("org", "974760673")) == ["account-2"]

    def test_new_number_owner_may_claim_and_the_old_one_may_not(self, store: Store) -> None:
        run(store, lambda tx: tx.claim_number("bank", "86011117947", "account-1", "owner-1"))
        run(store, lambda tx: tx.set_number_owner("bank", "86011117947", "owner-2"))
        run(store, lambda tx: tx.claim_number("bank", "86011117947", "account-2", "owner-2"))
        with pytest.raises(BankAccountTaken):
            run(store, lambda tx: tx.claim_number("bank", "86011117947", "account-3", "owner-1"))
        assert run(store, lambda tx: tx.number_holders("bank", "86011117947")) == ["account-1", "account-2"]

    # invitations

    def test_invitation_is_found_by_id_and_by_token_hash(self, store: Store) -> None:
        invitation = make_invitation(make_account(make_user()), make_user())
        run(store, lambda tx: tx.add_invitation(invitation))
        assert run(store, lambda tx: tx.get_invitation(invitation.id)) == invitation
        assert run(store, lambda tx: tx.invitation_by_token_hash(invitation.token_hash)) == invitation
        assert run(store, lambda tx: tx.invitation_by_token_hash("unknown")) is None
        assert run(store, lambda tx: tx.get_invitation("unknown")) is None

    def test_saved_invitation_is_found_by_its_new_token_hash_only(self, store: Store) -> None:
        invitation = make_invitation(make_account(make_user()), make_user())
        run(store, lambda tx: tx.add_invitation(invitation))
        resent = attrs.evolve(invitation, token_hash="resent", expires_at=T0 + timedelta(days=14))
        run(store, lambda tx: tx.save_invitation(resent))
        assert run(store, lambda tx: tx.invitation_by_token_hash("resent")) == resent
        assert run(store, lambda tx: tx.invitation_by_token_hash(invitation.token_hash)) is None
        accepted = attrs.evolve(resent, state=InvitationState.ACCEPTED, accepted_by="user-9")
        run(store, lambda tx: tx.save_invitation(accepted))
        assert run(store, lambda tx: tx.get_invitation(invitation.id)) == accepted

    def test_saving_an_unknown_invitation_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_invitation(make_invitation(make_account(make_user()), make_user())))

    # audit trail

    def test_audit_trail_is_per_account_and_oldest_first(self, store: Store) -> None:
        first = AuditEvent("account-1", T0, "user-1", "invited", "a@example.no", "member")
        other = AuditEvent("account-2", T0, "user-2", "invited", "b@example.no")
        second = AuditEvent("account-1", T0, None, "left", "user-3")
        third = AuditEvent("account-1", T0 - timedelta(days=1), "user-1", "removed", "user-4", "billing")
        each(store, lambda tx, event: tx.add_audit(event), [first, other, second, third])
        assert run(store, lambda tx: tx.audit_of_account("account-1")) == [first, second, third]
        assert run(store, lambda tx: tx.audit_of_account("account-3")) == []

    # invoice series

    def test_allocation_counts_from_one_per_account(self, store: Store) -> None:
        owner = make_user()
        first, second = make_account(owner), make_account(owner)
        run(store, lambda tx: add_all(tx.add_account, (first, second)))
        assert [run(store, lambda tx: tx.allocate_sequence(first.id)) for _ in range(3)] == [1, 2, 3]
        assert run(store, lambda tx: tx.allocate_sequence(second.id)) == 1
        assert run(store, lambda tx: tx.get_series(first.id)) == Series(
            first.id, next_sequence=4, last_used=3
        )

    def test_allocation_continues_from_the_saved_configuration(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        configured = Series(account.id, next_sequence=1000, prefix="2026-", width=6)
        run(store, lambda tx: tx.save_series(configured))
        assert run(store, lambda tx: tx.get_series(account.id)) == configured
        assert run(store, lambda tx: tx.allocate_sequence(account.id)) == 1000
        assert run(store, lambda tx: tx.get_series(account.id)) == configured.taken(1000)

    def test_the_series_read_in_a_transaction_is_the_one_it_allocated_from_and_saved(
        self, store: Store
    ) -> None:
        account, other = make_account(make_user()), make_account(make_user())
        run(store, lambda tx: add_all(tx.add_account, (account, other)))

        def allocate_save_allocate(tx: Transaction) -> None:
            assert tx.allocate_sequence(account.id) == 1
            assert tx.get_series(account.id) == Series(account.id).taken(1)
            assert tx.get_series(other.id) == Series(other.id)
            configured = Series(account.id, next_sequence=10, prefix="F-", width=4, last_used=1)
            tx.save_series(configured)
            assert tx.get_series(account.id) == configured
            assert tx.allocate_sequence(account.id) == 10
            assert tx.get_series(account.id) == configured.taken(10)

        run(store, allocate_save_allocate)
        assert run(store, lambda tx: tx.get_series(account.id)).format(11) == "F-0011"

    def test_saved_taken_series_skips_to_the_next_number(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        run(store, lambda tx: tx.save_series(tx.get_series(account.id).taken(41)))
        assert run(store, lambda tx: tx.allocate_sequence(account.id)) == 42

    def test_series_of_an_unknown_account_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.get_series("nowhere"))
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.allocate_sequence("nowhere"))

    def test_rolled_back_allocation_is_given_out_again(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        assert run(store, lambda tx: tx.allocate_sequence(account.id)) == 1
        fails(store, lambda tx: tx.allocate_sequence(account.id))
        assert run(store, lambda tx: tx.allocate_sequence(account.id)) == 2
        assert run(store, lambda tx: tx.get_series(account.id).last_used) == 2

    def test_numbered_invoice_takes_the_next_number_in_the_series_format(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        run(store, lambda tx: tx.save_series(Series(account.id, next_sequence=98, prefix="FÅ-", width=3)))
        stored = []
        for invoice in [make_invoice(account.id, 0) for _ in range(3)]:
            numbered = run(store, partial(_number, invoice))
            assert numbered == attrs.evolve(invoice, sequence=numbered.sequence, number=numbered.number)
            stored.append(numbered)
        # Zero-padded to the width, and never cut when the digits outgrow it.
        numbers = [(i.sequence, i.number) for i in stored]
        assert numbers == [(98, "FÅ-098"), (99, "FÅ-099"), (100, "FÅ-100")]
        plain = Series(account.id, next_sequence=101, prefix="", width=1, last_used=100)
        run(store, lambda tx: tx.save_series(plain))
        numbered = run(store, lambda tx: tx.add_invoice_numbered(make_invoice(account.id, 0)))
        assert (numbered.sequence, numbered.number) == (101, "101")
        assert run(store, lambda tx: [tx.get_invoice(i.id) for i in stored]) == stored
        assert run(store, lambda tx: tx.get_series(account.id)).last_used == 101

    def test_numbered_and_allocated_numbers_share_one_series(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))

        def both(tx: Transaction) -> list[int]:
            first = tx.add_invoice_numbered(make_invoice(account.id, 0)).sequence
            second = tx.allocate_sequence(account.id)
            third = tx.add_invoice_numbered(make_invoice(account.id, 0)).sequence
            assert tx.get_series(account.id).last_used == third
            return [first, second, third]

        assert run(store, both) == [1, 2, 3]
        fails(store, lambda tx: tx.add_invoice_numbered(make_invoice(account.id, 0)))
        assert run(store, lambda tx: tx.add_invoice_numbered(make_invoice(account.id, 0))).sequence == 4
        stored = run(store, lambda tx: list(tx.invoices_of_account(account.id)))
        assert [invoice.sequence for invoice in stored] == [1, 3, 4]

    def test_account_and_membership_are_read_together(self, store: Store) -> None:
        owner, outsider = make_user(), make_user()
        account = make_account(owner)
        run(store, lambda tx: tx.add_account(account))
        run(store, lambda tx: tx.add_membership(Membership(account.id, owner.id, Role.OWNER)))
        assert run(store, lambda tx: tx.account_and_membership(account.id, owner.id)) == (
            account,
            Membership(account.id, owner.id, Role.OWNER),
        )
        assert run(store, lambda tx: tx.account_and_membership(account.id, outsider.id)) == (account, None)
        assert run(store, lambda tx: tx.account_and_membership("nowhere", owner.id)) == (None, None)

    # issuing in a transaction of its own (tenantbill.ports.OneStatementIssuer)

    def test_issue_invoice_numbers_stores_and_queues_in_one_go(self, store: Store) -> None:
        issuer = _issuer(store)
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        for count in (0, 1, 3, 12):  # 12: more e-mails than a SQL statement takes (a transaction then)
            invoice = make_invoice(account.id, 0)
            messages = [make_message(invoice_id=invoice.id) for _ in range(count)]
            numbered = issuer.issue_invoice(invoice, messages)
            assert numbered == invoice.numbered(numbered.sequence, numbered.number)
            assert run(store, partial(_stored, invoice.id)) == (numbered, messages)
        numbers = [i.number for i in run(store, lambda tx: list(tx.invoices_of_account(account.id)))]
        assert numbers == ["1", "2", "3", "4"]

    def test_issue_invoice_for_an_unknown_account_stores_nothing(self, store: Store) -> None:
        invoice = make_invoice("nowhere", 0)
        with pytest.raises(NotFound):
            _issuer(store).issue_invoice(invoice, [make_message(invoice_id=invoice.id)])
        assert run(store, lambda tx: tx.get_invoice(invoice.id)) is None
        assert run(store, lambda tx: tx.outbox_of_invoice(invoice.id)) == []

    def test_issue_invoice_from_threads_takes_every_number_once(self, store: Store) -> None:
        issuer = _issuer(store)
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        taken: list[int] = []
        errors: list[BaseException] = []

        def issue() -> None:
            try:
                for _ in range(20):
                    invoice = make_invoice(account.id, 0)
                    taken.append(
                        issuer.issue_invoice(invoice, [make_message(invoice_id=invoice.id)]).sequence
                    )
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=issue) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(taken) == list(range(1, 81))
        stored = run(store, lambda tx: list(tx.invoices_of_account(account.id)))
        assert [invoice.sequence for invoice in stored] == list(range(1, 81))

    def test_numbering_an_invoice_of_an_unknown_account_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.add_invoice_numbered(make_invoice("nowhere", 0)))
        assert run(store, lambda tx: list(tx.invoices_of_account("nowhere"))) == []

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
    @given(commits=st.lists(st.booleans(), max_size=12))
    def test_allocations_with_some_rolled_back_leave_a_gapless_series(
        self, store: Store, commits: list[bool]
    ) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        issued = 0

        def issue(tx: Transaction) -> int:
            sequence = tx.allocate_sequence(account.id)
            tx.add_invoice(make_invoice(account.id, sequence))
            return sequence

        for commit in commits:
            if commit:
                issued += 1
                assert run(store, issue) == issued
            else:
                fails(store, issue)
        invoices = run(store, lambda tx: list(tx.invoices_of_account(account.id)))
        assert [invoice.sequence for invoice in invoices] == list(range(1, issued + 1))
        series = run(store, lambda tx: tx.get_series(account.id))
        assert (series.next_sequence, series.last_used) == (issued + 1, issued or None)

    def test_threads_allocating_at_once_get_distinct_numbers_without_gaps(self, store: Store) -> None:
        account = make_account(make_user())
        run(store, lambda tx: tx.add_account(account))
        taken: list[int] = []
        errors: list[BaseException] = []

        def allocate() -> None:
            try:
                for _ in range(25):
                    taken.append(run(store, lambda tx: tx.allocate_sequence(account.id)))
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=allocate) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(taken) == list(range(1, 101))

    # invoices

    def test_invoice_round_trips_exactly(self, store: Store) -> None:
        invoice = make_invoice("account-1", 1)
        run(store, lambda tx: tx.add_invoice(invoice))
        found = run(store, lambda tx: tx.get_invoice(invoice.id))
        assert found == invoice
        assert found is not None
        # Equal decimals can differ in exponent: "1.50" must not come back as "1.5".
        assert [str(line.quantity) for line in found.lines] == ["1", "1.50", "3"]
        assert [str(line.unit_price) for line in found.lines] == ["199.00", "850.005", "0.10"]
        assert str(found.balance_applied) == "100.00"
        assert found.kind is InvoiceKind.INVOICE
        assert found.issued_at.utcoffset() == timedelta(0)

    def test_invoice_without_period_cycle_customer_or_logo_round_trips(self, store: Store) -> None:
        invoice = make_invoice(
            "account-1",
            7,
            period=None,
            cycle=None,
            customer=None,
            subscription_id=None,
            note="",
            seller=Seller("Solo"),
            bill_to=Party("Ola Nordmann"),
        )
        run(store, lambda tx: tx.add_invoice(invoice))
        assert run(store, lambda tx: tx.get_invoice(invoice.id)) == invoice

    def test_invoice_with_a_quarterly_cycle_round_trips(self, store: Store) -> None:
        invoice = make_invoice("account-1", 1, cycle=BillingCycle.every(months=3))
        run(store, lambda tx: tx.add_invoice(invoice))
        assert run(store, lambda tx: tx.get_invoice(invoice.id)) == invoice

    def test_unknown_invoice_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.get_invoice("unknown")) is None

    def test_credit_note_round_trips_and_is_listed_for_the_invoice_it_credits(self, store: Store) -> None:
        invoice = make_invoice("account-1", 1)
        first, second = make_credit_note(invoice, 2), make_credit_note(invoice, 3)
        run(store, lambda tx: add_all(tx.add_invoice, (invoice, first, second)))
        assert run(store, lambda tx: tx.get_invoice(first.id)) == first
        assert run(store, lambda tx: tx.credit_notes_of(invoice.id)) == [first, second]
        assert run(store, lambda tx: tx.credit_notes_of(first.id)) == []

    def test_invoices_of_account_are_in_sequence_order(self, store: Store) -> None:
        added = [make_invoice("account-1", sequence) for sequence in (3, 1, 2)]
        run(store, lambda tx: add_all(tx.add_invoice, added))
        run(store, lambda tx: tx.add_invoice(make_invoice("account-2", 1)))
        invoices = run(store, lambda tx: list(tx.invoices_of_account("account-1")))
        assert invoices == sorted(added, key=lambda invoice: invoice.sequence)
        assert run(store, lambda tx: list(tx.invoices_of_account("account-3"))) == []

    def test_invoices_of_account_is_an_iterator_over_every_invoice(self, store: Store) -> None:
        count = 1234
        added = [
            make_invoice("account-1", sequence, seller=Seller("Solo")) for sequence in range(count, 0, -1)
        ]
        run(store, lambda tx: add_all(tx.add_invoice, added))

        def read(tx: Transaction) -> list[int]:
            invoices = tx.invoices_of_account("account-1")
            assert next(invoices).sequence == 1
            return [invoice.sequence for invoice in invoices]

        assert run(store, read) == list(range(2, count + 1))

    def test_invoices_of_account_cannot_be_iterated_after_its_transaction(self, store: Store) -> None:
        run(store, lambda tx: add_all(tx.add_invoice, [make_invoice("account-1", n) for n in (1, 2)]))
        with store.transaction() as tx:
            unread = tx.invoices_of_account("account-1")
            started = tx.invoices_of_account("account-1")
            assert next(started).sequence == 1
        with pytest.raises(RuntimeError):
            next(unread)
        with pytest.raises(RuntimeError):
            next(started)

    # ledger

    def test_ledger_is_per_customer_and_oldest_first(self, store: Store) -> None:
        entries = [
            make_ledger_entry("account-1", "customer-1", amount) for amount in ("100.10", "-30.05", "5")
        ]
        other = make_ledger_entry("account-1", "customer-2", "999")
        elsewhere = make_ledger_entry("account-2", "customer-1", "999")
        added = [entries[0], other, entries[1], elsewhere, entries[2]]
        each(store, lambda tx, entry: tx.add_ledger_entry(entry), added)
        assert run(store, lambda tx: tx.ledger("account-1", "customer-1")) == entries
        assert run(store, lambda tx: tx.ledger("account-1", "customer-3")) == []

    def test_balance_is_the_exact_sum_in_one_currency(self, store: Store) -> None:
        amounts = [("0.10", "NOK"), ("0.10", "NOK"), ("0.10", "NOK"), ("-0.05", "NOK"), ("7", "EUR")]
        entries = [make_ledger_entry("account-1", "customer-1", a, currency) for a, currency in amounts]
        each(store, lambda tx, entry: tx.add_ledger_entry(entry), entries)
        run(store, lambda tx: tx.add_ledger_entry(make_ledger_entry("account-1", "customer-2", "1", "NOK")))
        assert str(run(store, lambda tx: tx.balance("account-1", "customer-1", "NOK"))) == "0.25"
        assert run(store, lambda tx: tx.balance("account-1", "customer-1", "EUR")) == Decimal(7)
        assert run(store, lambda tx: tx.balance("account-1", "customer-1", "SEK")) == Decimal(0)
        assert run(store, lambda tx: tx.balance("account-9", "customer-1", "NOK")) == Decimal(0)

    # subscriptions and usage

    def test_subscription_round_trips_with_plan_history_and_cursors(self, store: Store) -> None:
        subscription = make_subscription(
            date(2026, 1, 31),
            plans=(PlanChange(date(2026, 1, 31), PRO), PlanChange(date(2026, 3, 15), PRO_YEARLY)),
            fee_anchor=date(2026, 3, 15),
            fee_n=2,
            usage_n=3,
            cancel_at=date(2029, 3, 15),
        )
        run(store, lambda tx: tx.add_subscription(subscription))
        found = run(store, lambda tx: tx.get_subscription(subscription.id))
        assert found == subscription
        assert found is not None
        assert str(found.plans[1].plan.price) == "1990.50"

    def test_saved_subscription_replaces_the_record(self, store: Store) -> None:
        subscription = make_subscription()
        run(store, lambda tx: tx.add_subscription(subscription))
        changed = attrs.evolve(
            subscription,
            fee_n=1,
            usage_n=1,
            plans=(*subscription.plans, PlanChange(date(2026, 2, 1), PRO_YEARLY)),
        )
        run(store, lambda tx: tx.save_subscription(changed))
        assert run(store, lambda tx: tx.get_subscription(subscription.id)) == changed

    def test_saving_an_unknown_subscription_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_subscription(make_subscription()))

    def test_unknown_subscription_is_none(self, store: Store) -> None:
        assert run(store, lambda tx: tx.get_subscription("unknown")) is None
        assert run(store, lambda tx: tx.lock_subscription("unknown")) is None

    def test_locked_subscription_is_returned(self, store: Store) -> None:
        subscription = make_subscription()
        run(store, lambda tx: tx.add_subscription(subscription))
        assert run(store, lambda tx: tx.lock_subscription(subscription.id)) == subscription
        assert run(store, lambda tx: tx.lock_subscription(subscription.id, wait=True)) == subscription
        assert run(store, lambda tx: tx.lock_subscription("unknown", wait=True)) is None

    def test_the_next_due_subscription_is_the_first_due_one_by_id_above_the_cursor(
        self, store: Store
    ) -> None:
        day = date(2026, 1, 31)
        due = [make_subscription(id=i) for i in ("sub-a", "Sub-B", "sub-d")]
        later = make_subscription(date(2026, 2, 1), id="sub-C")
        run(store, lambda tx: add_all(tx.add_subscription, [*due, later]))

        def walk(tx: Transaction) -> list[str]:
            found: list[str] = []
            while subscription := tx.lock_next_due_subscription(day, found[-1] if found else None):
                found.append(subscription.id)
            return found

        assert run(store, walk) == ["Sub-B", "sub-a", "sub-d"]
        assert run(store, lambda tx: tx.lock_next_due_subscription(day, "Sub-B")) == due[0]
        assert run(store, lambda tx: tx.lock_next_due_subscription(date(2026, 1, 9), None)) is None
        assert run(store, lambda tx: tx.lock_next_due_subscription(day, "sub-d")) is None

    def test_the_next_due_subscription_moves_on_once_it_is_billed(self, store: Store) -> None:
        first, second = make_subscription(id="sub-1"), make_subscription(id="sub-2")
        run(store, lambda tx: add_all(tx.add_subscription, [first, second]))

        def bill(tx: Transaction) -> str | None:
            subscription = tx.lock_next_due_subscription(date(2026, 1, 31), None)
            if subscription is None:
                return None
            tx.save_subscription(attrs.evolve(subscription, fee_n=1))
            return subscription.id

        assert [run(store, bill) for _ in range(3)] == ["sub-1", "sub-2", None]

    def test_no_subscriptions_are_listed_for_a_limit_of_zero(self, store: Store) -> None:
        run(store, lambda tx: tx.add_subscription(make_subscription()))
        for limit in (0, -1):
            assert run(store, lambda tx: tx.due_subscription_ids(date(2030, 1, 1), None, limit)) == []  # noqa: B023

    def test_due_subscriptions_are_those_due_on_or_before_the_day(self, store: Store) -> None:
        early, on_the_day, late = (make_subscription(date(2026, 1, day)) for day in (10, 15, 20))
        ended = make_subscription(date(2026, 1, 1), cancel_at=date(2026, 1, 1))
        run(store, lambda tx: add_all(tx.add_subscription, (early, on_the_day, late, ended)))
        due = run(store, lambda tx: tx.due_subscription_ids(date(2026, 1, 15), None, 10))
        assert due == sorted([early.id, on_the_day.id])
        assert run(store, lambda tx: tx.due_subscription_ids(date(2026, 1, 9), None, 10)) == []

    def test_due_subscriptions_are_paged_in_id_order(self, store: Store) -> None:
        # Upper and lower case: ids compare by code point, as Python compares them.
        ids = ["sub-a", "Sub-B", "sub-C", "sub-d", "SUB-e"]
        run(store, lambda tx: add_all(tx.add_subscription, [make_subscription(id=i) for i in ids]))
        day = date(2026, 1, 31)
        pages = [run(store, lambda tx: tx.due_subscription_ids(day, None, 2))]
        while pages[-1]:
            with store.transaction() as tx:
                pages.append(tx.due_subscription_ids(day, pages[-1][-1], 2))
        assert pages == [["SUB-e", "Sub-B"], ["sub-C", "sub-a"], ["sub-d"], []]

    def test_saved_cursors_move_the_due_date(self, store: Store) -> None:
        subscription = make_subscription(date(2026, 1, 10))
        run(store, lambda tx: tx.add_subscription(subscription))
        billed = attrs.evolve(subscription, fee_n=1)  # next: usage on Feb 10, fee on Feb 10
        run(store, lambda tx: tx.save_subscription(billed))
        assert run(store, lambda tx: tx.due_subscription_ids(date(2026, 2, 9), None, 10)) == []
        assert run(store, lambda tx: tx.due_subscription_ids(date(2026, 2, 10), None, 10)) == [
            subscription.id
        ]
        ended = attrs.evolve(billed, cancel_at=date(2026, 1, 10))
        run(store, lambda tx: tx.save_subscription(ended))
        assert run(store, lambda tx: tx.due_subscription_ids(date(2030, 1, 1), None, 10)) == []

    def test_usage_between_is_half_open_and_in_recorded_order(self, store: Store) -> None:
        days = [date(2026, 2, 15), date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 1), date(2026, 2, 28)]
        recorded = [make_usage("subscription-1", day) for day in days]
        run(store, lambda tx: add_all(tx.add_usage, recorded))
        run(store, lambda tx: tx.add_usage(make_usage("subscription-2", date(2026, 2, 10))))
        found = run(store, lambda tx: tx.usage_between("subscription-1", date(2026, 2, 1), date(2026, 3, 1)))
        assert found == [recorded[0], recorded[2], recorded[4]]
        assert str(found[0].quantity) == "2.500"

    def test_second_billing_mark_for_the_same_day_is_refused(self, store: Store) -> None:
        run(store, lambda tx: tx.add_billing_mark("subscription-1", date(2026, 1, 10), "invoice-1"))
        with pytest.raises(AlreadyBilled):
            run(store, lambda tx: tx.add_billing_mark("subscription-1", date(2026, 1, 10), None))
        run(store, lambda tx: tx.add_billing_mark("subscription-1", date(2026, 2, 10), None))
        run(store, lambda tx: tx.add_billing_mark("subscription-2", date(2026, 1, 10), None))

    # outbox

    def test_outbox_message_round_trips(self, store: Store) -> None:
        message = make_message(
            payload=b"\x00From: a@example.no\r\n\xff", attempts=2, last_error="550 no such user"
        )
        assert run(store, lambda tx: tx.add_outbox(message)) is True
        assert run(store, lambda tx: tx.get_outbox(message.id)) == message
        assert run(store, lambda tx: tx.get_outbox("unknown")) is None

    def test_message_with_a_key_already_queued_is_not_added(self, store: Store) -> None:
        first = make_message()
        run(store, lambda tx: tx.add_outbox(first))
        duplicate = make_message(key=first.key, recipient="other@example.no")
        assert run(store, lambda tx: tx.add_outbox(duplicate)) is False
        assert run(store, lambda tx: tx.get_outbox(duplicate.id)) is None
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == [first]

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
        each(store, lambda tx, message: tx.add_outbox(message), added)
        expected = [earliest, tie_older, tie_id, tie_newer, later]
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == expected
        assert run(store, lambda tx: tx.due_outbox(T0, 2)) == expected[:2]

    def test_due_outbox_compares_instants_across_utc_offsets(self, store: Store) -> None:
        oslo_summer = timezone(timedelta(hours=2))
        message = make_message(next_attempt_at=datetime(2026, 6, 1, 10, 30, tzinfo=oslo_summer))
        run(store, lambda tx: tx.add_outbox(message))
        found = run(store, lambda tx: tx.get_outbox(message.id))
        assert found == message
        assert found is not None
        assert found.next_attempt_at.utcoffset() is not None
        assert run(store, lambda tx: tx.due_outbox(datetime(2026, 6, 1, 8, 29, tzinfo=UTC), 10)) == []
        assert run(store, lambda tx: tx.due_outbox(datetime(2026, 6, 1, 8, 30, tzinfo=UTC), 10)) == [message]

    def test_sent_message_leaves_the_due_list(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.add_outbox(message))
        failed = attrs.evolve(
            message, attempts=1, last_error="timeout", next_attempt_at=T0 + timedelta(minutes=1)
        )
        run(store, lambda tx: tx.save_outbox(failed))
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == []
        sent = attrs.evolve(failed, attempts=2, last_error=None, sent_at=T0 + timedelta(minutes=1))
        run(store, lambda tx: tx.save_outbox(sent))
        assert run(store, lambda tx: tx.due_outbox(T0 + timedelta(days=1), 10)) == []
        assert run(store, lambda tx: tx.get_outbox(message.id)) == sent

    def test_saving_a_message_changes_its_delivery_state_only(self, store: Store) -> None:
        message = make_message(payload=b"queued", invoice_id="invoice-1")
        run(store, lambda tx: tx.add_outbox(message))
        retried = attrs.evolve(message, next_attempt_at=T0 + timedelta(hours=1), attempts=3, last_error="421")
        changed = attrs.evolve(
            retried,
            key="key:another",
            recipient="other@example.no",
            created_at=T0 + timedelta(days=1),
            invoice_id="invoice-2",
            payload=b"changed",
        )
        run(store, lambda tx: tx.save_outbox(changed))
        assert run(store, lambda tx: tx.get_outbox(message.id)) == retried
        # The key is still the one queued: it is still taken, and the other is free.
        assert run(store, lambda tx: tx.add_outbox(make_message(key=message.key))) is False
        assert run(store, lambda tx: tx.add_outbox(make_message(key="key:another"))) is True

    def test_no_messages_are_listed_or_claimed_for_a_limit_of_zero(self, store: Store) -> None:
        run(store, lambda tx: tx.add_outbox(make_message()))
        for limit in (0, -1):
            assert run(store, lambda tx: tx.due_outbox(T0, limit)) == []  # noqa: B023
            assert run(store, lambda tx: tx.claim_outbox(T0, limit, T0 + timedelta(minutes=5))) == []  # noqa: B023
        assert len(run(store, lambda tx: tx.due_outbox(T0, 10))) == 1

    def test_claimed_messages_are_the_oldest_due_and_are_not_due_until_the_lease_ends(
        self, store: Store
    ) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(minutes=m)) for m in (1, 30, 20, 10)]
        future = make_message(next_attempt_at=T0 + timedelta(seconds=1))
        sent = make_message(next_attempt_at=T0 - timedelta(days=1), sent_at=T0 - timedelta(hours=1))
        run(store, lambda tx: add_all(tx.add_outbox, [*messages, future, sent]))
        lease = T0 + timedelta(minutes=5)

        claimed = run(store, lambda tx: tx.claim_outbox(T0, 3, lease))

        oldest = [messages[1], messages[2], messages[3]]
        assert claimed == [attrs.evolve(m, next_attempt_at=lease) for m in oldest]
        assert run(store, lambda tx: [tx.get_outbox(m.id) for m in oldest]) == claimed
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == [messages[0]]

    def test_claiming_twice_gives_disjoint_messages_until_none_are_left(self, store: Store) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(seconds=s)) for s in range(7)]
        each(store, lambda tx, message: tx.add_outbox(message), messages)
        lease = T0 + timedelta(minutes=5)

        batches = [run(store, lambda tx: tx.claim_outbox(T0, 3, lease)) for _ in range(4)]

        ids = [[m.id for m in batch] for batch in batches]
        assert [len(batch) for batch in ids] == [3, 3, 1, 0]
        assert sorted(i for batch in ids for i in batch) == sorted(m.id for m in messages)

    def test_claimed_messages_fall_due_again_when_the_lease_ends(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.add_outbox(message))
        lease = T0 + timedelta(minutes=5)
        assert [m.id for m in run(store, lambda tx: tx.claim_outbox(T0, 10, lease))] == [message.id]

        just_before = lease - timedelta(microseconds=1)
        assert (
            run(store, lambda tx: tx.claim_outbox(just_before, 10, just_before + timedelta(minutes=5))) == []
        )
        later = lease + timedelta(minutes=5)
        again = run(store, lambda tx: tx.claim_outbox(lease, 10, later))
        assert again == [attrs.evolve(message, next_attempt_at=later)]

    def test_saving_the_outcome_ends_the_claim(self, store: Store) -> None:
        failing, sending = make_message(), make_message()
        run(store, lambda tx: add_all(tx.add_outbox, [failing, sending]))
        lease = T0 + timedelta(hours=1)
        claimed = run(store, lambda tx: tx.claim_outbox(T0, 10, lease))
        retry = T0 + timedelta(minutes=1)
        run(store, lambda tx: tx.save_outbox(attrs.evolve(claimed[0], attempts=1, next_attempt_at=retry)))
        run(store, lambda tx: tx.save_outbox(attrs.evolve(claimed[1], attempts=1, sent_at=T0)))

        assert [
            m.id for m in run(store, lambda tx: tx.claim_outbox(retry, 10, retry + timedelta(hours=1)))
        ] == [claimed[0].id]
        # A sent message is never claimed, however late.
        much_later = T0 + timedelta(days=3650)
        latest = run(store, lambda tx: tx.claim_outbox(much_later, 10, much_later + timedelta(hours=1)))
        assert [m.id for m in latest] == [claimed[0].id]

    def test_a_message_is_claimed_by_id_only_when_it_is_due(self, store: Store) -> None:
        first, second = make_message(), make_message()
        future = make_message(next_attempt_at=T0 + timedelta(minutes=1))
        run(store, lambda tx: add_all(tx.add_outbox, [first, second, future]))
        lease = T0 + timedelta(minutes=5)

        def claim(message_id: str) -> list[str]:
            claimed = run(store, lambda tx: tx.claim_outbox(T0, 10, lease, message_id=message_id))
            return [m.id for m in claimed]

        assert claim(second.id) == [second.id]
        assert claim(second.id) == []  # claimed already
        assert claim(future.id) == []
        assert claim("unknown") == []
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == [first]

    def test_a_rolled_back_claim_leaves_the_messages_due(self, store: Store) -> None:
        message = make_message()
        run(store, lambda tx: tx.add_outbox(message))
        fails(store, lambda tx: tx.claim_outbox(T0, 10, T0 + timedelta(minutes=5)))
        assert run(store, lambda tx: tx.due_outbox(T0, 10)) == [message]

    def test_threads_claiming_at_once_each_get_other_messages(self, store: Store) -> None:
        messages = [make_message(next_attempt_at=T0 - timedelta(seconds=s)) for s in range(60)]
        run(store, lambda tx: add_all(tx.add_outbox, messages))
        claims: list[list[str]] = []
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def claim() -> None:
            try:
                start.wait(timeout=30)
                while batch := run(store, lambda tx: tx.claim_outbox(T0, 4, T0 + timedelta(minutes=5))):
                    claims.append([m.id for m in batch])
            except BaseException as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [threading.Thread(target=claim) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        claimed = [i for batch in claims for i in batch]
        assert sorted(claimed) == sorted(m.id for m in messages)

    def test_a_sent_message_has_its_payload_erased_in_the_same_write(self, store: Store) -> None:
        # Secrets are not kept: an invitation token lives in the e-mail only.
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.add_outbox(message))
        claimed = run(store, lambda tx: tx.claim_outbox(T0, 10, T0 + timedelta(minutes=5)))
        assert [m.payload for m in claimed] == [message.payload]
        sent = attrs.evolve(claimed[0], attempts=1, sent_at=T0)  # still carrying its payload
        run(store, lambda tx: tx.save_outbox(sent))
        assert run(store, lambda tx: tx.get_outbox(message.id)) == attrs.evolve(sent, payload=None)

    def test_a_failed_attempt_keeps_the_payload_for_the_retry(self, store: Store) -> None:
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.add_outbox(message))
        failed = attrs.evolve(
            message, attempts=1, last_error="421", next_attempt_at=T0 + timedelta(minutes=1)
        )
        run(store, lambda tx: tx.save_outbox(failed))
        assert run(store, lambda tx: tx.get_outbox(message.id)) == failed

    def test_a_dropped_message_is_erased_never_due_and_stays_dropped(self, store: Store) -> None:
        message = make_message(payload=b"Your invitation code: s3cret")
        run(store, lambda tx: tx.add_outbox(message))
        dropped = attrs.evolve(message, dropped_at=T0, last_error="not sent: the invitation was revoked")
        run(store, lambda tx: tx.save_outbox(dropped))
        assert run(store, lambda tx: tx.get_outbox(message.id)) == attrs.evolve(dropped, payload=None)
        later = T0 + timedelta(days=1)
        assert run(store, lambda tx: tx.due_outbox(later, 10)) == []
        assert run(store, lambda tx: tx.claim_outbox(later, 10, later + timedelta(minutes=5))) == []
        # A worker that claimed it before the drop records its attempt: the drop stays.
        retry = attrs.evolve(message, attempts=1, last_error="421", next_attempt_at=T0)
        run(store, lambda tx: tx.save_outbox(retry))
        stored = run(store, lambda tx: tx.get_outbox(message.id))
        assert stored == attrs.evolve(retry, payload=None, dropped_at=T0)
        assert run(store, lambda tx: tx.due_outbox(later, 10)) == []

    def test_saving_an_unknown_outbox_message_raises_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound):
            run(store, lambda tx: tx.save_outbox(make_message()))

    def test_outbox_of_invoice_lists_its_messages_in_order_queued(self, store: Store) -> None:
        messages = [make_message(invoice_id="invoice-1", recipient=f"{n}@example.no") for n in "cab"]
        other = make_message(invoice_id="invoice-2")
        run(store, lambda tx: add_all(tx.add_outbox, [messages[0], other]))
        run(store, lambda tx: add_all(tx.add_outbox, messages[1:]))
        assert run(store, lambda tx: tx.outbox_of_invoice("invoice-1")) == messages
        assert run(store, lambda tx: tx.outbox_of_invoice("invoice-3")) == []

    # transactions

    def test_reads_inside_a_transaction_see_its_own_writes(self, store: Store) -> None:
        world = populate(store)

        def write_and_read(tx: Transaction) -> None:
            tx.add_user(world.new_user)
            assert tx.user_by_email(world.new_user.email.upper()) == world.new_user
            tx.add_account(world.new_account)
            assert tx.get_account(world.new_account.id) == world.new_account
            tx.add_membership(Membership(world.new_account.id, world.new_user.id, Role.OWNER))
            assert tx.accounts_of_user(world.new_user.id) == [world.new_account]
            tx.claim_number("org", "123456785", world.new_account.id, world.new_user.id)
            assert tx.number_holders("org", "123456785") == [world.new_account.id]
            sequence = tx.allocate_sequence(world.account.id)
            credit_note = make_credit_note(world.invoice, sequence)
            tx.add_invoice(credit_note)
            assert tx.get_invoice(credit_note.id) == credit_note
            assert [i.sequence for i in tx.invoices_of_account(world.account.id)] == [1, 2]
            tx.add_ledger_entry(make_ledger_entry(world.account.id, world.customer, "-0.50"))
            assert tx.balance(world.account.id, world.customer, "NOK") == Decimal("250.00")
            tx.save_outbox(attrs.evolve(world.message, sent_at=T0))
            assert tx.due_outbox(T0, 10) == []

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

    def test_refused_writes_change_nothing_and_the_transaction_goes_on(self, store: Store) -> None:
        world = populate(store)
        before = snapshot(store, world)
        event = AuditEvent(world.account.id, T0, world.owner.id, "checked", "everything")

        def refused_then_write(tx: Transaction) -> None:
            with pytest.raises(EmailTaken):
                tx.add_user(attrs.evolve(world.new_user, email=world.owner.email.upper()))
            with pytest.raises(AlreadyMember):
                tx.add_membership(Membership(world.account.id, world.member.id, Role.OWNER))
            with pytest.raises(OrgNumberTaken):
                tx.claim_number("org", "974760673", world.new_account.id, world.member.id)
            with pytest.raises(AlreadyBilled):
                tx.add_billing_mark(world.subscription.id, date(2026, 1, 10), None)
            with pytest.raises(DuplicateId):
                tx.add_account(attrs.evolve(world.account, name="Imposter AS"))
            assert tx.add_outbox(make_message(key=world.message.key)) is False
            with pytest.raises(NotFound):
                tx.save_user(world.new_user)
            tx.add_audit(event)

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
            tx.add_user(user)

        run(store, nest)
        assert run(store, lambda tx: tx.get_user(user.id)) == user
