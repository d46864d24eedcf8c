"""The permission policy: the role table of DOMAIN.md, in the policy and through every service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.policy import Action, allowed, check
from tenantbill.memory import MemoryMailer, MemoryStore

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
OWNER, MEMBER, BILLING = tb.Role.OWNER, tb.Role.MEMBER, tb.Role.BILLING
ROLES = (OWNER, MEMBER, BILLING)

# DOMAIN.md, "Roles and the permission policy", written out again here on
# purpose: the test must not read the table it checks back from the code.
# Columns: OWNER, MEMBER, BILLING.
EXPECTED: dict[Action, tuple[bool, bool, bool]] = {
    Action.VIEW_ACCOUNT: (True, True, True),
    Action.VIEW_INVOICES: (True, True, True),  # BILLING: "view/receive invoices only"
    Action.ISSUE_INVOICES: (True, True, False),
    Action.MANAGE_CUSTOMERS: (True, True, False),  # customers, drafts
    Action.EDIT_COMPANY_DETAILS: (True, True, True),
    Action.EDIT_INVOICE_SETUP: (True, True, False),
    Action.MANAGE_INVITATIONS: (True, False, False),
    Action.REMOVE_MEMBER: (True, False, False),
    Action.LEAVE: (False, True, True),  # the owner transfers first
    Action.TRANSFER_OWNERSHIP: (True, False, False),
    Action.RECEIVE_INVOICE_EMAILS: (True, True, True),
    Action.VIEW_MEMBERS: (True, True, True),
    Action.VIEW_AUDIT: (True, False, False),
    # Trust boundaries: the owner or billing user of the customer account consents to be billed.
    Action.SUBSCRIBE: (True, False, True),
    Action.REGISTER_PAYMENTS: (True, True, True),  # API.md "Getting paid": payments and reminders
}


def expected(role: tb.Role, action: Action) -> bool:
    return EXPECTED[action][ROLES.index(role)]


# The policy function


def test_the_expected_table_covers_every_action_of_the_policy() -> None:
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_each_role_is_allowed_exactly_the_actions_of_the_table(role: tb.Role, action: Action) -> None:
    membership = tb.Membership("acc-1", "user-1", role)

    assert allowed(membership, action) is expected(role, action)
    if expected(role, action):
        check(membership, action, account_id="acc-1")
    else:
        with pytest.raises(tb.PermissionDenied, match=role.value.upper()):
            check(membership, action, account_id="acc-1")


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_a_user_without_membership_is_denied_everything(action: Action) -> None:
    assert allowed(None, action) is False
    with pytest.raises(tb.PermissionDenied, match="not a member"):
        check(None, action, account_id="acc-1")


# Through the services


@attrs.frozen
class World:
    """An account with a user of each role, a spare member to act on and a pending invitation."""

    app: tb.Tenantbill
    mailer: MemoryMailer
    account: tb.Account
    users: dict[tb.Role, tb.User]
    spare: tb.User
    pending: tb.IssuedInvitation

    @property
    def owner(self) -> tb.User:
        return self.users[OWNER]

    def state(self) -> tuple[Any, ...]:
        """What a denied call must leave unchanged (read by the owner)."""
        owner, account = self.owner.id, self.account.id
        return (
            self.app.accounts.get(owner, account),
            self.app.access.members(owner, account),
            self.app.access.audit(owner, account),
            len(self.mailer.sent),
        )


def make_world(app: tb.Tenantbill, prefix: str = "") -> World:
    assert isinstance(app.mailer, MemoryMailer)
    owner, account = app.accounts.sign_up(
        name=f"{prefix}Acme AS",
        email=f"{prefix}owner@example.no",
        org_number=None,
        bank_account=None,
    )
    users = {OWNER: owner}
    for role in (MEMBER, BILLING, MEMBER):
        email = f"{prefix}{role.value}-{len(users)}@example.no"
        issued = app.access.invite(owner.id, account.id, email=email, role=role)
        joined = app.access.accept(issued.token, new_user=tb.NewUser(name=email, email=email))
        user = app.users.get(joined.user_id)
        if role in users:
            spare = user
        else:
            users[role] = user
    pending = app.access.invite(owner.id, account.id, email=f"{prefix}later@example.no")
    return World(app=app, mailer=app.mailer, account=account, users=users, spare=spare, pending=pending)


@pytest.fixture
def app() -> tb.Tenantbill:
    return tb.Tenantbill(store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(AT))


@pytest.fixture
def world(app: tb.Tenantbill) -> World:
    return make_world(app)


Call = Callable[[World, str], object]

# Every service call on an account, with the action of the table it stands for.
CALLS: dict[str, tuple[Action, Call]] = {
    "get": (Action.VIEW_ACCOUNT, lambda w, actor: w.app.accounts.get(actor, w.account.id)),
    "update name": (
        Action.EDIT_COMPANY_DETAILS,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, name="Renamed AS"),
    ),
    "update address": (
        Action.EDIT_COMPANY_DETAILS,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, address="Storgata 1"),
    ),
    "update org number": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, org_number="974760673"),
    ),
    "update bank account": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, bank_account="86011117947"),
    ),
    "update vat": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, vat_registered=True),
    ),
    "update currency": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, currency="EUR"),
    ),
    "update payment terms": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, payment_terms_days=30),
    ),
    "update name and vat": (
        Action.EDIT_INVOICE_SETUP,
        lambda w, actor: w.app.accounts.update(actor, w.account.id, name="Renamed AS", vat_registered=True),
    ),
    "invite": (
        Action.MANAGE_INVITATIONS,
        lambda w, actor: w.app.access.invite(actor, w.account.id, email="new@example.no", role=BILLING),
    ),
    "revoke": (
        Action.MANAGE_INVITATIONS,
        lambda w, actor: w.app.access.revoke(actor, w.pending.invitation.id),
    ),
    "resend": (
        Action.MANAGE_INVITATIONS,
        lambda w, actor: w.app.access.resend(actor, w.pending.invitation.id),
    ),
    "remove another member": (
        Action.REMOVE_MEMBER,
        lambda w, actor: w.app.access.remove(actor, w.account.id, w.spare.id),
    ),
    "leave": (Action.LEAVE, lambda w, actor: w.app.access.leave(actor, w.account.id)),
    "transfer ownership": (
        Action.TRANSFER_OWNERSHIP,
        lambda w, actor: w.app.access.transfer_ownership(actor, w.account.id, w.spare.id),
    ),
    "members": (Action.VIEW_MEMBERS, lambda w, actor: w.app.access.members(actor, w.account.id)),
    "audit": (Action.VIEW_AUDIT, lambda w, actor: w.app.access.audit(actor, w.account.id)),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_each_service_call_is_allowed_or_denied_exactly_as_the_table_says(
    world: World, role: tb.Role, call: str
) -> None:
    action, run = CALLS[call]
    actor = world.users[role].id
    before = world.state()

    if role is OWNER and action is Action.LEAVE:
        with pytest.raises(tb.OwnerCannotLeave):
            run(world, actor)
        assert world.state() == before
    elif expected(role, action):
        run(world, actor)
    else:
        with pytest.raises(tb.PermissionDenied):
            run(world, actor)
        assert world.state() == before


def test_the_table_of_the_services_names_every_action_on_accounts_and_access() -> None:
    # invoices and customers are the invoicing services' business; receiving
    # e-mails is not a call
    covered = {action for action, _ in CALLS.values()}
    assert covered == set(Action) - {
        Action.VIEW_INVOICES,
        Action.ISSUE_INVOICES,
        Action.MANAGE_CUSTOMERS,
        Action.RECEIVE_INVOICE_EMAILS,
        Action.SUBSCRIBE,  # tests/test_consent.py
        Action.REGISTER_PAYMENTS,  # tests/test_payments.py, tests/test_reminders.py
    }


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_a_user_of_one_account_can_do_nothing_on_another(
    app: tb.Tenantbill, role: tb.Role, call: str
) -> None:
    mine = make_world(app, prefix="a-")
    theirs = make_world(app, prefix="b-")
    _, run = CALLS[call]
    before = theirs.state()

    with pytest.raises(tb.PermissionDenied):
        run(theirs, mine.users[role].id)

    assert theirs.state() == before


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_an_unknown_account_is_denied_like_a_foreign_one(world: World, role: tb.Role) -> None:
    actor = world.users[role].id

    with pytest.raises(tb.PermissionDenied):
        world.app.accounts.get(actor, "no-such-account")
    with pytest.raises(tb.PermissionDenied):
        world.app.access.members(actor, "no-such-account")


@pytest.mark.parametrize("role", [MEMBER, BILLING], ids=lambda r: r.name)
def test_a_member_or_billing_user_cannot_remove_the_owner(world: World, role: tb.Role) -> None:
    before = world.state()

    with pytest.raises(tb.PermissionDenied):
        world.app.access.remove(world.users[role].id, world.account.id, world.owner.id)

    assert world.state() == before


def test_the_owner_cannot_remove_themselves(world: World) -> None:
    before = world.state()

    with pytest.raises(tb.OwnerCannotLeave, match="transfer ownership"):
        world.app.access.remove(world.owner.id, world.account.id, world.owner.id)

    assert world.state() == before


def test_the_owner_cannot_leave(world: World) -> None:
    before = world.state()

    with pytest.raises(tb.OwnerCannotLeave, match="transfer ownership"):
        world.app.access.leave(world.owner.id, world.account.id)

    assert world.state() == before
