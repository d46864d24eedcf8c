"""Racing calls never break an invariant the store keeps (DOMAIN.md, "Trust boundaries", item 4).

An invitation is accepted at most once and never after revocation; an account
has exactly one OWNER; an invoice is credited at most up to its total; an
idempotency key is claimed once; invoice numbers are gapless and unique.

- Store level, in processes (spawned, as separate workers would be) on an
  SQLite file and on PostgreSQL: the port's atomic operations raced by
  :data:`PROCESSES` workers, each race several times. The conformance kit
  (``tenantbill.testing.store``) races the same operations with threads on
  every store.
- Store level on PostgreSQL, threads that have each read the state in their
  transaction before any of them writes: the race a read-then-write loses.
- Service level, threads on memory, SQLite and PostgreSQL: users accepting one
  invitation token, a revocation racing acceptances, two full credit notes of
  one invoice, concurrent ownership transfers.

Every race lets its racers go together (a barrier) and is bounded in time.
On PostgreSQL, a read in one statement and a write in another lose these
races: one token accepted by 6 of 8 users, an invoice credited twice, two
owners of one account.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import pytest

import tenantbill as tb
from support import fresh_postgres_database, in_processes
from tenantbill.clock import FixedClock
from tenantbill.domain.accounts import Account, Invitation, InvitationState, Membership, Role
from tenantbill.errors import OrgNumberTaken
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store, Transaction
from tenantbill.sql import SqlStore
from tenantbill.testing.store import make_invoice, race

T = TypeVar("T")

PG_URL = os.environ.get("TENANTBILL_PG_URL")
AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
TIMEOUT = 30.0
"""Seconds any one race may take before the test fails as hung."""
PROCESSES = 4
TRIALS = 5
NUMBERS_PER_PROCESS = 20
THREADS = 8
SCOPE = "races"


# Store level, in processes. The parent stores what every trial needs, under
# ids the workers can name (``accept-3``: the account and invitation of the
# accept race's fourth trial); the workers race; the parent reads the outcome.


def prepare(url: str) -> None:
    store = SqlStore(url)

    def fill(tx: Transaction) -> None:
        for trial in range(TRIALS):
            for race_name in ("accept", "revoke"):
                account_id = f"{race_name}-{trial}"
                tx.accounts.add(Account(id=account_id, name="Acme AS", owner_id="owner"))
                tx.invitations.add(invitation(account_id))
            account_id = f"transfer-{trial}"
            tx.accounts.add(Account(id=account_id, name="Acme AS", owner_id="owner"))
            tx.memberships.add(Membership(account_id, "owner", Role.OWNER))
            for index in range(PROCESSES):
                tx.memberships.add(Membership(account_id, f"racer-{index}", Role.MEMBER))
        tx.accounts.add(Account(id="numbering", name="Acme AS", owner_id="owner"))

    try:
        with store.transaction() as tx:
            fill(tx)
    finally:
        store.close()


def invitation(account_id: str) -> Invitation:
    return Invitation(
        id=f"invitation-{account_id}",
        account_id=account_id,
        email="ny@example.no",
        role=Role.MEMBER,
        token_hash=f"hash-{account_id}",
        invited_by="owner",
        created_at=AT,
        expires_at=AT + timedelta(days=7),
    )


def racer(url: str, index: int, barrier: Any) -> dict[str, Any]:
    """One worker: every race, every trial, waiting for the others before each."""
    store = SqlStore(url)
    me = f"racer-{index}"
    outcomes: dict[str, Any] = {"accept": [], "revoke": [], "transfer": [], "claim": [], "number": []}

    def accept(tx: Transaction, account_id: str) -> bool:
        if not tx.invitations.accept(f"invitation-{account_id}", f"hash-{account_id}", me):
            return False
        tx.memberships.add(Membership(account_id, me, Role.MEMBER))
        return True

    def claim(tx: Transaction, key: str) -> tuple[str, str | None] | None:
        found = tx.idempotency.claim(SCOPE, key, f"fingerprint-{index}")
        if found is None:
            tx.idempotency.complete(SCOPE, key, f"result-{index}")
            return None
        return found.fingerprint, found.result

    try:
        with store.transaction() as tx:
            tx.accounts.get("numbering")  # connected before the first race
        for trial in range(TRIALS):
            barrier.wait(TIMEOUT)
            with store.transaction() as tx:
                outcomes["accept"].append(accept(tx, f"accept-{trial}"))
            barrier.wait(TIMEOUT)
            with store.transaction() as tx:
                if index % 2:
                    outcomes["revoke"].append(tx.invitations.revoke(f"invitation-revoke-{trial}"))
                else:
                    outcomes["revoke"].append(accept(tx, f"revoke-{trial}"))
            barrier.wait(TIMEOUT)
            with store.transaction() as tx:
                outcomes["transfer"].append(
                    tx.memberships.transfer_ownership(f"transfer-{trial}", "owner", me)
                )
            barrier.wait(TIMEOUT)
            with store.transaction() as tx:
                outcomes["claim"].append(claim(tx, f"key-{trial}"))
            barrier.wait(TIMEOUT)
            try:
                with store.transaction() as tx:
                    tx.accounts.claim_number("org", f"org-{trial}", f"account-{index}", f"owner-{index}")
            except OrgNumberTaken:
                outcomes["number"].append(False)
            else:
                outcomes["number"].append(True)
        barrier.wait(TIMEOUT)
        numbers = []
        for _ in range(NUMBERS_PER_PROCESS):
            with store.transaction() as tx:
                stored = tx.invoices.add_numbered(make_invoice("numbering"))
            numbers.append((stored.sequence, stored.number))
        outcomes["numbers"] = numbers
        return outcomes
    finally:
        store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def raced(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SqlStore, list[dict[str, Any]]]]:
    """A database the workers raced on (a store on it), and what each worker saw."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('races') / 'tb.db'}"
        yield race_in(url)
        return
    if PG_URL is None:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    with fresh_postgres_database(PG_URL) as url:
        store, outcomes = race_in(url)
        try:
            yield store, outcomes
        finally:
            store.close()


def race_in(url: str) -> tuple[SqlStore, list[dict[str, Any]]]:
    prepare(url)
    barrier = multiprocessing.get_context("spawn").Barrier(PROCESSES)
    outcomes = in_processes(racer, [(url, index, barrier) for index in range(PROCESSES)])
    return SqlStore(url), outcomes


def by_trial(outcomes: list[dict[str, Any]], race_name: str) -> list[list[Any]]:
    """Each trial's outcomes of the race, one per worker (in worker order)."""
    return [[worker[race_name][trial] for worker in outcomes] for trial in range(TRIALS)]


def read(store: Store, action: Callable[[Transaction], T]) -> T:
    with store.transaction() as tx:
        return action(tx)


def test_processes_accepting_one_invitation_let_exactly_one_in(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    store, outcomes = raced
    for trial, won in enumerate(by_trial(outcomes, "accept")):
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of {PROCESSES} accepts succeeded"
        winner = f"racer-{won.index(True)}"
        account_id = f"accept-{trial}"
        stored = read(store, lambda tx: tx.invitations.get(f"invitation-{account_id}"))  # noqa: B023
        assert stored is not None
        assert (stored.state, stored.accepted_by) == (InvitationState.ACCEPTED, winner)
        members = read(store, lambda tx: tx.memberships.of_account(account_id))  # noqa: B023
        assert members == [Membership(account_id, winner, Role.MEMBER)]


def test_processes_accepting_and_revoking_one_invitation_let_exactly_one_win(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    store, outcomes = raced
    for trial, won in enumerate(by_trial(outcomes, "revoke")):
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} accepts and revokes succeeded"
        account_id = f"revoke-{trial}"
        stored = read(store, lambda tx: tx.invitations.get(f"invitation-{account_id}"))  # noqa: B023
        members = read(store, lambda tx: tx.memberships.of_account(account_id))  # noqa: B023
        assert stored is not None
        if won.index(True) % 2:  # an odd worker revoked
            assert (stored.state, members) == (InvitationState.REVOKED, [])
        else:
            winner = f"racer-{won.index(True)}"
            assert (stored.state, stored.accepted_by) == (InvitationState.ACCEPTED, winner)
            assert members == [Membership(account_id, winner, Role.MEMBER)]


def test_processes_transferring_ownership_at_once_leave_exactly_one_owner(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    store, outcomes = raced
    for trial, won in enumerate(by_trial(outcomes, "transfer")):
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of {PROCESSES} transfers succeeded"
        winner = f"racer-{won.index(True)}"
        account_id = f"transfer-{trial}"
        members = read(store, lambda tx: tx.memberships.of_account(account_id))  # noqa: B023
        assert [m.user_id for m in members if m.role is Role.OWNER] == [winner]
        assert len(members) == PROCESSES + 1
        account = read(store, lambda tx: tx.accounts.get(account_id))  # noqa: B023
        assert account is not None
        assert account.owner_id == winner


def test_processes_claiming_one_idempotency_key_let_exactly_one_claim_it(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    _, outcomes = raced
    for trial, found in enumerate(by_trial(outcomes, "claim")):
        assert found.count(None) == 1, f"trial {trial}: {found.count(None)} of {PROCESSES} claims got the key"
        winner = found.index(None)
        first = (f"fingerprint-{winner}", f"result-{winner}")
        assert [tuple(f) for f in found if f is not None] == [first] * (PROCESSES - 1)


def test_processes_claiming_one_org_number_for_other_owners_let_exactly_one_have_it(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    store, outcomes = raced
    for trial, won in enumerate(by_trial(outcomes, "number")):
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of {PROCESSES} owners got the number"
        holders = read(store, lambda tx: tx.accounts.number_holders("org", f"org-{trial}"))  # noqa: B023
        assert holders == [f"account-{won.index(True)}"]


def test_processes_numbering_on_one_account_take_every_number_once(
    raced: tuple[SqlStore, list[dict[str, Any]]],
) -> None:
    store, outcomes = raced
    count = PROCESSES * NUMBERS_PER_PROCESS
    taken = sorted(tuple(n) for worker in outcomes for n in worker["numbers"])
    assert taken == [(n, str(n)) for n in range(1, count + 1)]
    stored = read(store, lambda tx: [(i.sequence, i.number) for i in tx.invoices.of_account("numbering")])
    assert stored == taken


# Store level on PostgreSQL: every racer has read the state in its transaction
# (as a service does before it decides) when they are let go to write. Only
# PostgreSQL runs such transactions side by side; SQLite and memory take them
# one at a time, so there the barrier inside would never open.


@pytest.fixture
def pg_store() -> Iterator[SqlStore]:
    if PG_URL is None:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    with fresh_postgres_database(PG_URL) as url:
        store = SqlStore(url)
        try:
            yield store
        finally:
            store.close()


def read_then_race(
    store: Store, read_first: Callable[[Transaction], object], writes: Sequence[Callable[[Transaction], T]]
) -> list[T]:
    """Each write in a transaction of its own that ran ``read_first`` before all were let go."""
    together = threading.Barrier(len(writes))

    def call(write: Callable[[Transaction], T]) -> Callable[[], T]:
        def in_transaction() -> T:
            with store.transaction() as tx:
                read_first(tx)
                together.wait(TIMEOUT)
                return write(tx)

        return in_transaction

    return race([call(write) for write in writes], TIMEOUT)


def test_accepts_that_all_read_the_invitation_as_pending_let_exactly_one_in(pg_store: SqlStore) -> None:
    for trial in range(TRIALS):
        account_id = f"account-{trial}"
        with pg_store.transaction() as tx:
            tx.invitations.add(invitation(account_id))

        def pending(tx: Transaction) -> None:
            found = tx.invitations.by_token_hash(f"hash-{account_id}")  # noqa: B023
            assert found is not None
            assert found.state is InvitationState.PENDING

        def accept_as(user_id: str) -> Callable[[Transaction], bool]:
            return lambda tx: tx.invitations.accept(f"invitation-{account_id}", f"hash-{account_id}", user_id)  # noqa: B023

        won = read_then_race(pg_store, pending, [accept_as(f"user-{n}") for n in range(THREADS)])
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of {THREADS} accepts succeeded"


def test_transfers_that_all_read_the_owner_leave_exactly_one_owner(pg_store: SqlStore) -> None:
    for trial in range(TRIALS):
        account_id = f"account-{trial}"
        members = [f"user-{n}" for n in range(THREADS)]
        with pg_store.transaction() as tx:
            tx.accounts.add(Account(id=account_id, name="Acme AS", owner_id="owner"))
            tx.memberships.add(Membership(account_id, "owner", Role.OWNER))
            for user_id in members:
                tx.memberships.add(Membership(account_id, user_id, Role.MEMBER))

        def owned(tx: Transaction) -> None:
            assert tx.memberships.get(account_id, "owner") == Membership(account_id, "owner", Role.OWNER)  # noqa: B023

        def transfer_to(user_id: str) -> Callable[[Transaction], bool]:
            return lambda tx: tx.memberships.transfer_ownership(account_id, "owner", user_id)  # noqa: B023

        won = read_then_race(pg_store, owned, [transfer_to(m) for m in members])
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of {THREADS} transfers succeeded"
        with pg_store.transaction() as tx:
            owners = [m.user_id for m in tx.memberships.of_account(account_id) if m.role is Role.OWNER]
            account = tx.accounts.get(account_id)
        assert owners == [members[won.index(True)]]
        assert account is not None
        assert account.owner_id == owners[0]


# Service level, threads, on every store (conftest.py's store fixture).


NEW_ACCEPTS = 30
"""Invitations raced for in the acceptance test; with :data:`THREADS` users each."""


def app_on(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))


def accept_new(app: tb.Tenantbill, token: str, email: str) -> tb.Membership:
    """Accept the invitation as a new user with this address."""
    return app.access.accept(token, new_user=tb.NewUser(name="Racer", email=email))


def attempt(call: Callable[[], T]) -> Callable[[], T | str]:
    """``call``, or the name of the :class:`tenantbill.TenantbillError` it raised."""

    def made() -> T | str:
        try:
            return call()
        except tb.TenantbillError as error:
            return type(error).__name__

    return made


def team(app: tb.Tenantbill, name: str, members: int) -> tuple[tb.User, tb.Account, list[tb.User]]:
    """A new account with its owner and ``members`` MEMBERs who accepted their invitations."""
    owner, account = app.accounts.sign_up(name=f"{name} AS", email=f"{name}@example.no")
    joined = []
    for n in range(members):
        email = f"{name}-member-{n}@example.no"
        issued = app.access.invite(owner.id, account.id, email=email)
        membership = app.access.accept(issued.token, new_user=tb.NewUser(name=f"Member {n}", email=email))
        joined.append(app.users.get(membership.user_id))
    return owner, account, joined


def test_users_racing_to_accept_one_invitation_token_make_one_member(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "host", 0)
    winners: list[str] = []
    for trial in range(NEW_ACCEPTS):
        issued = app.access.invite(owner.id, account.id, email=f"invitee-{trial}@example.no")
        emails = [f"trial-{trial}-user-{n}@example.no" for n in range(THREADS)]
        ended = race([attempt(partial(accept_new, app, issued.token, e)) for e in emails], TIMEOUT)
        accepted = [e for e, outcome in zip(emails, ended, strict=True) if isinstance(outcome, tb.Membership)]
        assert len(accepted) == 1, (
            f"trial {trial}: {len(accepted)} of {THREADS} users accepted one token: {ended}"
        )
        assert {o for o in ended if not isinstance(o, tb.Membership)} <= {"InvitationAlreadyUsed"}
        winners.append(accepted[0])
        with store.transaction() as tx:
            # A losing acceptance leaves no user behind.
            assert [tx.users.by_email(e) is not None for e in emails].count(True) == 1
    members = app.access.members(owner.id, account.id)
    assert len(members) == 1 + NEW_ACCEPTS
    with store.transaction() as tx:
        assert sorted(tx.users.get(m.user_id).email for m in members[1:]) == sorted(winners)  # type: ignore[union-attr]


def test_a_revocation_racing_acceptances_lets_exactly_one_win(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "host", 0)
    joined = 0
    for trial in range(10):
        issued = app.access.invite(owner.id, account.id, email=f"invitee-{trial}@example.no")
        emails = [f"trial-{trial}-user-{n}@example.no" for n in range(3)]
        revoke = attempt(partial(app.access.revoke, owner.id, issued.invitation.id))
        ended = race([revoke, *(attempt(partial(accept_new, app, issued.token, e)) for e in emails)], TIMEOUT)
        won = [not isinstance(o, str) for o in ended]
        assert won.count(True) == 1, f"trial {trial}: {won.count(True)} of revoke and 3 accepts won: {ended}"
        with store.transaction() as tx:
            stored = tx.invitations.get(issued.invitation.id)
        assert stored is not None
        if won[0]:
            assert stored.state is InvitationState.REVOKED
        else:
            assert stored.state is InvitationState.ACCEPTED
            joined += 1
        members = app.access.members(owner.id, account.id)
        assert len(members) == 1 + joined, f"trial {trial}: {ended}"


def test_two_full_credit_notes_of_one_invoice_credit_it_once(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "seller", 0)
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"),
        lines=[tb.Line(description="Drift", quantity=Decimal(1), unit_price=Decimal("1000.00"))],
        customer="kunde-1",
    )
    invoices = [app.invoices.issue(owner.id, account.id, draft) for _ in range(10)]
    assert app.invoices.balance(owner.id, account.id, "kunde-1") == 0
    for invoice in invoices:  # paid: what a credit note gives back goes to the customer's balance
        app.payments.register(
            owner.id, account.id, amount=invoice.total, paid_on=date(2026, 1, 20), invoice_id=invoice.id
        )
    for invoice in invoices:
        credit = attempt(partial(app.invoices.credit, owner.id, invoice.id, reason="Feil kunde"))
        ended = race([credit, credit], TIMEOUT)
        notes = [o for o in ended if isinstance(o, tb.Invoice)]
        assert len(notes) == 1, f"{invoice.number} was credited {len(notes)} times at once: {ended}"
        assert [o for o in ended if isinstance(o, str)] == ["InvalidInvoice"]
        assert notes[0].total == -invoice.total
        with store.transaction() as tx:
            assert tx.invoices.credit_notes_of(invoice.id) == notes
    credited = sum((invoice.total for invoice in invoices), Decimal(0))
    assert app.invoices.balance(owner.id, account.id, "kunde-1") == credited
    # The credit is used once, by the next invoice.
    after = app.invoices.issue(owner.id, account.id, draft)
    assert after.balance_applied == min(credited, after.total)


def test_concurrent_ownership_transfers_leave_exactly_one_owner(store: Store) -> None:
    app = app_on(store)
    for trial in range(10):
        owner, account, members = team(app, f"team-{trial}", 3)
        transfers = [partial(app.access.transfer_ownership, owner.id, account.id, m.id) for m in members]
        ended = race([attempt(transfer) for transfer in transfers], TIMEOUT)
        won = [isinstance(o, tb.Membership) for o in ended]
        assert won.count(True) == 1, (
            f"trial {trial}: {won.count(True)} of {len(members)} transfers succeeded: {ended}"
        )
        assert {o for o in ended if isinstance(o, str)} <= {"PermissionDenied"}
        new_owner = members[won.index(True)]
        people = app.access.members(new_owner.id, account.id)
        assert [m.user_id for m in people if m.role is Role.OWNER] == [new_owner.id]
        assert app.accounts.get(new_owner.id, account.id).owner_id == new_owner.id
        # The former owner is an ordinary member now: the new owner can remove them.
        app.access.remove(new_owner.id, account.id, owner.id)
        assert {m.user_id for m in app.access.members(new_owner.id, account.id)} == {m.id for m in members}


def _invoice_of(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, customer: str | None = None
) -> tb.Invoice:
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"),
        lines=[tb.Line(description="Drift", quantity=Decimal(1), unit_price=Decimal("1000.00"))],
        customer=customer,
    )
    return app.invoices.issue(owner.id, account.id, draft)


def test_racing_payments_of_one_invoice_all_count_and_none_is_lost(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "payee", 0)
    for trial in range(3):
        invoice = _invoice_of(app, owner, account, customer=f"kunde-{trial}")
        pay = partial(
            app.payments.register,
            owner.id,
            account.id,
            amount=Decimal(150),
            paid_on=AT.date(),
            invoice_id=invoice.id,
        )
        payments = race([pay] * THREADS, TIMEOUT)  # 8 × 150 = 1200 for 1000 due
        after = app.invoices.get(owner.id, invoice.id)
        assert after.paid == Decimal("1000.00")
        assert after.status is tb.InvoiceStatus.PAID
        assert sum((p.applied for p in payments), Decimal(0)) == Decimal("1000.00")
        assert sum((p.to_balance for p in payments), Decimal(0)) == Decimal("200.00")
        assert app.invoices.balance(owner.id, account.id, f"kunde-{trial}") == Decimal("200.00")


def test_racing_registrations_of_one_bank_reference_record_one_payment(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "statement", 0)
    for trial in range(TRIALS):
        invoice = _invoice_of(app, owner, account)
        pay = partial(
            app.payments.register,
            owner.id,
            account.id,
            amount=Decimal(100),
            paid_on=AT.date(),
            invoice_id=invoice.id,
            reference=f"NETS-{trial}",
        )
        payments = race([pay] * THREADS, TIMEOUT)
        assert len({p.id for p in payments}) == 1
        assert app.invoices.get(owner.id, invoice.id).paid == Decimal(100)


def test_a_credit_racing_a_payment_never_gives_more_than_was_paid(store: Store) -> None:
    app = app_on(store)
    owner, account, _ = team(app, "racing-credit", 0)
    for _ in range(TRIALS):
        invoice = _invoice_of(app, owner, account, customer="kunde-2")
        pay = partial(
            app.payments.register,
            owner.id,
            account.id,
            amount=Decimal(400),
            paid_on=AT.date(),
            invoice_id=invoice.id,
        )
        credit = partial(app.invoices.credit, owner.id, invoice.id, reason="Feil")
        race([pay, credit], TIMEOUT)
        after = app.invoices.get(owner.id, invoice.id)
        assert after.status is tb.InvoiceStatus.CREDITED
        assert after.outstanding == 0
    # Each time the customer paid 400 of 1000, and the whole invoice was credited: 400 comes back once.
    assert app.invoices.balance(owner.id, account.id, "kunde-2") == Decimal(400) * TRIALS


def test_usage_racing_the_run_that_bills_its_period_is_billed_or_refused_never_lost(store: Store) -> None:
    app = tb.Tenantbill(
        store=store, mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    )
    provider_owner, provider, _ = team(app, "host", 0)
    customer_owner, customer, _ = team(app, "shop", 0)
    plan = tb.Plan(code="web", name="Web", price=Decimal("100"), vat_rate=Decimal("0.25"))
    for trial in range(12):
        # A subscription whose January usage period the run bills on 1 February.
        sub = app.subscriptions.start(
            customer_owner.id, provider.id, customer.id, plan, anchor=date(2026, 1, 1)
        )
        record_usage = partial(
            app.subscriptions.record_usage,
            provider_owner.id,
            sub.id,
            item=f"Ekstra {trial}",
            quantity=Decimal(2),
            unit_price=Decimal("50"),
            at=date(2026, 1, 31),
        )

        def late(call: Callable[[], T], seconds: float) -> Callable[[], T]:
            return lambda: (time.sleep(seconds), call())[1]

        # Started a little later each trial, so that some land while the run is billing the period.
        record = attempt(late(record_usage, trial * 0.004))
        usage, report = race([record, partial(app.billing.run, date(2026, 2, 1))], TIMEOUT)
        assert not isinstance(report, str)
        assert report.issued == 2
        with store.transaction() as tx:
            recorded = tx.subscriptions.usage_between(sub.id, date(2026, 1, 1), date(2026, 2, 1))
            invoices = [i for i in tx.invoices.of_account(provider.id) if i.subscription_id == sub.id]
        billed = [line for i in invoices for line in i.lines if line.description == f"Ekstra {trial}"]
        if usage == "InvalidInput":  # the run came first: refused, not recorded
            assert recorded == []
            assert billed == []
        else:  # recorded first: on the invoice of its period
            assert recorded == [usage]
            assert [line.quantity for line in billed] == [Decimal(2)]
    # Once billed, the period takes no more usage.
    with pytest.raises(tb.InvalidInput, match="billed already"):
        app.subscriptions.record_usage(
            provider_owner.id,
            sub.id,
            item="Sent",
            quantity=Decimal(1),
            unit_price=Decimal(1),
            at=date(2026, 1, 31),
        )
