"""A service call that fails half-way leaves the store exactly as it was, on every store.

The stores are ``conftest.py``'s: memory, an SQLite file and PostgreSQL.

Each call runs against a store whose transactions break on their N-th write
(N = 1, 2, … until the call gets through). After every broken attempt the whole
observable state (users, accounts, memberships, number claims, invitations,
audit trail, outbox, series and the mail sent) must equal the state before it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store, Transaction
from tenantbill.testing import store as store_kit

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ORG, OTHER_ORG = "974760673", "923609016"
BANK, OTHER_BANK = "86011117947", "12345678903"
NUMBERS = (("org", ORG), ("org", OTHER_ORG), ("bank", BANK), ("bank", OTHER_BANK))
NEW_EMAILS = ("new@example.no", "fresh@example.no", "invitee@example.no")
WRITES = frozenset(
    {
        "users.add", "users.save",
        "accounts.add", "accounts.save", "accounts.claim_number", "accounts.release_number",
        "accounts.set_number_owner",
        "memberships.add", "memberships.remove", "memberships.transfer_ownership",
        "invitations.add", "invitations.accept", "invitations.revoke", "invitations.renew",
        "invoices.save_series", "invoices.add_numbered", "ledger.add",
        "subscriptions.add", "subscriptions.save", "subscriptions.add_usage", "subscriptions.mark_billed",
        "metering.add",
        "outbox.add", "outbox.save", "outbox.claim",
        "idempotency.claim", "idempotency.complete",
        "audit.add",
        "users.erase", "invitations.redact_email", "audit.redact", "events.append",
        "payments.add", "payments.settle", "reminders.add",
    }
)  # fmt: skip
"""Every write of the port, as ``"repository.method"`` (the kit's rollback table has one of each)."""
MAX_WRITES = 20


class Boom(Exception):
    """The failure injected into a write; deliberately not a TenantbillError."""


class BreakingStore:
    """Wraps a store so that the ``fail_at``-th write of the armed period raises :class:`Boom`."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.fail_at: int | None = None
        self.writes = 0
        self.seen: list[str] = []

    def arm(self, fail_at: int) -> None:
        self.fail_at, self.writes, self.seen = fail_at, 0, []

    def disarm(self) -> None:
        self.fail_at = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.inner.transaction() as tx:
            yield BreakingTransaction(tx, self)


class BreakingTransaction:
    """A transaction whose repositories count their writes, and raise when the count is reached."""

    def __init__(self, tx: Transaction, store: BreakingStore) -> None:
        self._tx = tx
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return BreakingRepository(getattr(self._tx, name), name, self._store)


class BreakingRepository:
    """One repository of a :class:`BreakingTransaction`."""

    def __init__(self, repository: Any, name: str, store: BreakingStore) -> None:
        self._repository = repository
        self._name = name
        self._store = store

    def __getattr__(self, method_name: str) -> Any:
        method = getattr(self._repository, method_name)
        name = f"{self._name}.{method_name}"
        if name not in WRITES:
            return method

        def write(*args: Any, **kwargs: Any) -> Any:
            store = self._store
            if store.fail_at is not None:
                store.writes += 1
                store.seen.append(name)
                if store.writes == store.fail_at:
                    raise Boom(f"write {store.writes} ({name}) fails")
            return method(*args, **kwargs)

        return write


# A world to break calls in


@attrs.define
class World:
    app: tb.Tenantbill
    store: BreakingStore
    mailer: MemoryMailer
    owner: tb.User
    account: tb.Account
    second: tb.Account  # the owner's other account, same org number
    member: tb.User
    billing: tb.User
    outsider: tb.User
    pending: tb.IssuedInvitation
    tokens: list[str] = attrs.Factory(list)


def build_world(store: Store) -> World:
    breaking = BreakingStore(store)
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=breaking, mailer=mailer, clock=FixedClock(AT))
    owner, account = app.accounts.sign_up(
        name="Acme AS", email="kari@example.no", org_number=ORG, bank_account=BANK
    )
    second = app.accounts.create(owner.id, name="Acme Bergen", org_number=ORG)
    outsider, _ = app.accounts.sign_up(name="Ola AS", email="ola@example.com")

    def join(email: str, role: tb.Role) -> tb.User:
        issued = app.access.invite(owner.id, account.id, email=email, role=role)
        joined = app.access.accept(issued.token, new_user=tb.NewUser(name=email, email=email))
        return app.users.get(joined.user_id)

    member = join("per@example.no", tb.Role.MEMBER)
    billing = join("bob@example.no", tb.Role.BILLING)
    pending = app.access.invite(owner.id, account.id, email="invitee@example.no")
    return World(
        app=app,
        store=breaking,
        mailer=mailer,
        owner=owner,
        account=account,
        second=second,
        member=member,
        billing=billing,
        outsider=outsider,
        pending=pending,
        tokens=[pending.token],
    )


def snapshot(world: World) -> dict[str, Any]:
    """Everything a user or the store can observe, read outside any broken transaction."""
    app = world.app
    users = [world.owner, world.member, world.billing, world.outsider]
    account_ids = [world.account.id, world.second.id]
    emails = [u.email for u in users] + list(NEW_EMAILS)
    with world.store.inner.transaction() as tx:
        owners = [(tx.accounts.get(a) or world.account).owner_id for a in account_ids]
    state: dict[str, Any] = {
        "api.accounts": [app.accounts.get(o, a) for o, a in zip(owners, account_ids, strict=True)],
        "api.members": [app.access.members(o, a) for o, a in zip(owners, account_ids, strict=True)],
        "api.audit": [app.access.audit(o, a) for o, a in zip(owners, account_ids, strict=True)],
        "api.users": [app.users.get(u.id) for u in users],
        "mail": [(m["To"], m["Subject"], str(m.get_content())) for m in world.mailer.sent],
    }
    with world.store.inner.transaction() as tx:
        by_email = {e: tx.users.by_email(e) for e in emails}
        state["users"] = by_email
        state["user_accounts"] = {e: tx.accounts.of_user(u.id) for e, u in by_email.items() if u is not None}
        state["accounts"] = [tx.accounts.get(a) for a in account_ids]
        state["memberships"] = [tx.memberships.of_account(a) for a in account_ids]
        state["series"] = [tx.invoices.series(a) for a in account_ids]
        state["invoices"] = [list(tx.invoices.of_account(a)) for a in account_ids]
        state["audit"] = [tx.audit.of_account(a) for a in account_ids]
        state["invitations"] = tx.invitations.get(world.pending.invitation.id)
        state["tokens"] = [tx.invitations.by_token_hash(hash_of(t)) for t in world.tokens]
        state["holders"] = {n: tx.accounts.number_holders(*n) for n in NUMBERS}
        state["outbox"] = tx.outbox.due(AT + timedelta(days=3650), 10_000)
    state["claimable"] = claimable(world.store.inner, [u.id for u in users])
    return state


def hash_of(token: str) -> str:
    from tenantbill.services.access import hash_token

    return hash_token(token)


class _Probe(Exception):
    pass


def claimable(store: Store, user_ids: list[str]) -> dict[tuple[str, str], list[bool]]:
    """For each number, which users could claim it: reveals the recorded owner of the number.

    Each probe claims in a transaction that is then abandoned, so nothing stays.
    """
    result: dict[tuple[str, str], list[bool]] = {}
    for kind, number in NUMBERS:
        row = result.setdefault((kind, number), [])
        for user_id in [*user_ids, "somebody-else"]:
            try:
                with store.transaction() as tx:
                    try:
                        tx.accounts.claim_number(kind, number, "probe-account", user_id)
                    except tb.NumberTaken:
                        row.append(False)
                    else:
                        row.append(True)
                    raise _Probe
            except _Probe:
                pass
    return result


# The calls to break, each given the world


def new_user(email: str) -> tb.NewUser:
    return tb.NewUser(name="Nina Ny", email=email)


DRAFT = tb.InvoiceDraft(
    bill_to=tb.Party(name="Kunde AS", address="Storgata 1, 0155 Oslo", emails=("kunde@example.no",)),
    lines=[
        tb.Line(
            description="Consulting",
            quantity=Decimal("3"),
            unit_price=Decimal("1200.00"),
            vat_rate=Decimal("0.25"),
        )
    ],
)


def credit_last_invoice(world: World) -> object:
    [invoice] = world.app.invoices.of_account(world.owner.id, world.account.id)
    return world.app.invoices.credit(world.owner.id, invoice.id, reason="Wrong customer")


CALLS: dict[str, Callable[[World], object]] = {
    "sign_up": lambda w: w.app.accounts.sign_up(
        name="New AS", email="new@example.no", org_number=OTHER_ORG, bank_account=OTHER_BANK
    ),
    "create": lambda w: w.app.accounts.create(
        w.owner.id, name="Acme Trondheim", org_number=ORG, bank_account=OTHER_BANK
    ),
    "update numbers": lambda w: w.app.accounts.update(
        w.owner.id, w.account.id, name="Acme Holding", org_number=OTHER_ORG, bank_account=None
    ),
    "update setup": lambda w: w.app.accounts.update(
        w.member.id, w.account.id, currency="EUR", vat_registered=True, address="Storgata 1"
    ),
    "set_invoice_recipients": lambda w: w.app.accounts.set_invoice_recipients(
        w.owner.id, w.account.id, ["regnskap@example.no", "revisor@example.com"]
    ),
    "set_invoice_emails": lambda w: w.app.users.set_invoice_emails(w.member.id, enabled=True),
    "invite": lambda w: w.app.access.invite(
        w.owner.id, w.account.id, email="fresh@example.no", role=tb.Role.BILLING
    ),
    "resend": lambda w: w.app.access.resend(w.owner.id, w.pending.invitation.id),
    "revoke": lambda w: w.app.access.revoke(w.owner.id, w.pending.invitation.id),
    "accept as existing user": lambda w: w.app.access.accept(w.pending.token, user_id=w.outsider.id),
    "accept as new user": lambda w: w.app.access.accept(
        w.pending.token, new_user=new_user("invitee@example.no")
    ),
    "remove": lambda w: w.app.access.remove(w.owner.id, w.account.id, w.billing.id),
    "leave": lambda w: w.app.access.leave(w.member.id, w.account.id),
    "transfer_ownership": lambda w: w.app.access.transfer_ownership(w.owner.id, w.account.id, w.member.id),
    "configure_series": lambda w: w.app.invoices.configure_series(
        w.member.id, w.account.id, start=1001, prefix="F-", width=6
    ),
    "issue": lambda w: w.app.invoices.issue(w.member.id, w.account.id, DRAFT),
    "credit": credit_last_invoice,
}


EXPECTED_WRITES: dict[str, set[str]] = {
    # The atomic operation each call must go through: a read then a plain write races.
    "resend": {"invitations.renew"},
    "revoke": {"invitations.revoke"},
    "accept as existing user": {"invitations.accept", "memberships.add"},
    "accept as new user": {"invitations.accept", "memberships.add", "users.add"},
    "remove": {"memberships.remove"},
    "leave": {"memberships.remove"},
    "transfer_ownership": {"memberships.transfer_ownership"},
    "issue": {"invoices.add_numbered"},
    "credit": {"invoices.add_numbered"},
}


def prepare(world: World, call: str) -> None:
    """Set-up a call needs before it is broken (not part of what is broken)."""
    if call == "transfer_ownership":
        # the account must be the only one with its numbers, or the transfer is refused
        world.app.accounts.update(world.owner.id, world.account.id, org_number=OTHER_ORG)
    if call == "credit":
        world.app.invoices.issue(world.owner.id, world.account.id, DRAFT)


@pytest.mark.parametrize("call", list(CALLS))
def test_a_call_failing_at_any_write_changes_nothing(store: Store, call: str) -> None:
    world = build_world(store)
    prepare(world, call)
    before = snapshot(world)

    for fail_at in range(1, MAX_WRITES + 1):
        world.store.arm(fail_at)
        try:
            result = CALLS[call](world)
        except Boom:
            world.store.disarm()
            assert snapshot(world) == before, f"{call} failing at write {fail_at} left changes"
            continue
        world.store.disarm()
        break
    else:
        pytest.fail(f"{call} still failed after {MAX_WRITES} writes")

    assert fail_at > 1, f"{call} made no write, so this test broke nothing"
    assert set(world.store.seen) >= EXPECTED_WRITES.get(call, set()), world.store.seen
    assert result is not None or call in {"revoke", "remove", "leave"}
    assert snapshot(world) != before, f"{call} succeeded but changed nothing"


def test_the_breaking_store_breaks_a_write_and_passes_reads() -> None:
    store = BreakingStore(MemoryStore())
    store.arm(1)
    with store.transaction() as tx:
        assert tx.users.get("nobody") is None
        with pytest.raises(Boom):
            tx.users.add(tb.User(id="u1", name="U", email=f"{secrets.token_hex(4)}@example.no"))


def test_the_breaking_store_knows_every_write_of_the_port() -> None:
    assert set(store_kit.WRITES) == WRITES
