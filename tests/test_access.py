"""Invitations, membership changes, ownership transfer and the audit trail."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
TOKEN_LENGTH = len(secrets.token_urlsafe(32))  # 256 bits; at least 128 are required


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AT)


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def app(store: Store, mailer: MemoryMailer, clock: FixedClock) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=mailer, clock=clock)


@pytest.fixture
def acme(app: tb.Tenantbill) -> tuple[tb.User, tb.Account]:
    return app.accounts.sign_up(name="Acme AS", email="kari@example.no")


@pytest.fixture
def owner(acme: tuple[tb.User, tb.Account]) -> tb.User:
    return acme[0]


@pytest.fixture
def account(acme: tuple[tb.User, tb.Account]) -> tb.Account:
    return acme[1]


@pytest.fixture
def outsider(app: tb.Tenantbill) -> tb.User:
    """A user with an account of their own and no access to Acme."""
    user, _ = app.accounts.sign_up(name="Ola Revisor", email="ola@example.com")
    return user


def invite(
    app: tb.Tenantbill,
    owner: tb.User,
    account: tb.Account,
    email: str = "per@example.no",
    role: tb.Role = tb.Role.MEMBER,
) -> tb.IssuedInvitation:
    return app.access.invite(owner.id, account.id, email=email, role=role)


def join(app: tb.Tenantbill, owner: tb.User, account: tb.Account, email: str, role: tb.Role) -> tb.User:
    issued = invite(app, owner, account, email, role)
    membership = app.access.accept(issued.token, new_user=tb.NewUser(name=email, email=email))
    return app.users.get(membership.user_id)


def body(message: Any) -> str:
    return str(message.get_content())


def member_ids(app: tb.Tenantbill, owner: tb.User, account: tb.Account) -> list[str]:
    return [m.user_id for m in app.access.members(owner.id, account.id)]


# Invitations


def test_an_invitation_is_emailed_with_its_token(
    app: tb.Tenantbill, mailer: MemoryMailer, owner: tb.User, account: tb.Account
) -> None:
    issued = invite(app, owner, account, "per@example.no")
    assert mailer.sent == []  # queued: the request never waits for the mail server

    assert app.billing.deliver().sent == 1
    assert len(mailer.sent) == 1
    message = mailer.sent[0]
    assert message["To"] == "per@example.no"
    assert "Acme AS" in message["Subject"]
    assert issued.token in body(message)


def test_an_invitation_token_is_long_random_and_url_safe(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    tokens = [invite(app, owner, account, f"user{i}@example.no").token for i in range(5)]

    assert all(len(token) >= TOKEN_LENGTH for token in tokens)
    assert all(set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
               for token in tokens)  # fmt: skip
    assert len(set(tokens)) == len(tokens)


def test_the_stored_invitation_never_contains_the_plain_token(
    app: tb.Tenantbill, store: Store, owner: tb.User, account: tb.Account
) -> None:
    issued = invite(app, owner, account)
    with store.transaction() as tx:
        stored = tx.invitations.get(issued.invitation.id)

    assert stored is not None
    assert stored == issued.invitation
    for record in (issued.invitation, stored):
        assert issued.token not in repr(record)
        for field in attrs.fields(type(record)):
            assert issued.token not in str(getattr(record, field.name))
    assert issued.token not in repr(issued)


def test_an_invitation_records_who_was_invited_for_what_until_when(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    invitation = invite(app, owner, account, "Per@Example.NO", tb.Role.BILLING).invitation

    assert invitation.account_id == account.id
    assert invitation.email.casefold() == "per@example.no"
    assert invitation.role is tb.Role.BILLING
    assert invitation.invited_by == owner.id
    assert invitation.created_at == AT
    assert invitation.expires_at == AT + timedelta(days=7)
    assert invitation.state is tb.InvitationState.PENDING


def test_accepting_with_an_existing_user_adds_a_membership_with_the_invited_role(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account, outsider.email, tb.Role.BILLING)

    membership = app.access.accept(issued.token, user_id=outsider.id)

    assert membership == tb.Membership(account.id, outsider.id, tb.Role.BILLING)
    assert (membership.name, membership.email) == (outsider.name, outsider.email)
    assert app.access.members(owner.id, account.id)[-1] == membership
    assert account in app.accounts.of_user(outsider.id)
    assert app.accounts.get(outsider.id, account.id) == account


def test_accepting_with_a_new_user_creates_the_user_without_an_account_of_their_own(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    issued = invite(app, owner, account, "per@example.no")

    membership = app.access.accept(
        issued.token, new_user=tb.NewUser(name="Per Hansen", email="per@example.no")
    )

    user = app.users.get(membership.user_id)
    assert (user.name, user.email, user.invoice_emails) == ("Per Hansen", "per@example.no", False)
    assert (membership.name, membership.email) == ("Per Hansen", "per@example.no")
    assert membership.role is tb.Role.MEMBER
    assert app.accounts.of_user(user.id) == [account]


@pytest.mark.parametrize("email", ["ola@example.com", "OLA@EXAMPLE.COM"])
def test_accepting_with_a_new_user_for_a_taken_address_raises_email_taken_and_changes_nothing(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User, email: str
) -> None:
    issued = invite(app, owner, account, "ola@example.com")

    with pytest.raises(tb.EmailTaken):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Ola", email=email))

    assert member_ids(app, owner, account) == [owner.id]
    # the invitation is still usable, by the user who has that address
    app.access.accept(issued.token, user_id=outsider.id)
    assert member_ids(app, owner, account) == [owner.id, outsider.id]


@pytest.mark.parametrize(
    "how",
    [{}, {"user_id": "x", "new_user": tb.NewUser(name="Per", email="per@example.no")}],
    ids=["neither", "both"],
)
def test_accepting_needs_exactly_one_of_an_existing_or_a_new_user(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, how: dict[str, Any]
) -> None:
    issued = invite(app, owner, account)

    with pytest.raises(tb.InvalidInput, match="exactly one"):
        app.access.accept(issued.token, **how)


def test_accepting_as_an_unknown_user_raises_not_found_and_keeps_the_invitation(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)

    with pytest.raises(tb.NotFound):
        app.access.accept(issued.token, user_id="no-such-user")

    app.access.accept(issued.token, user_id=outsider.id)


def test_accepting_with_a_new_user_with_an_invalid_address_changes_nothing(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    issued = invite(app, owner, account)

    with pytest.raises(tb.InvalidEmail):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@"))

    assert member_ids(app, owner, account) == [owner.id]
    app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@example.no"))


@pytest.mark.parametrize("token", ["", "not-a-token", secrets.token_urlsafe(32)])
def test_an_unknown_token_is_not_found(app: tb.Tenantbill, outsider: tb.User, token: str) -> None:
    with pytest.raises(tb.NotFound, match="not valid"):
        app.access.accept(token, user_id=outsider.id)


def test_an_invitation_can_be_accepted_only_once(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)
    first = app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@example.no"))
    members = app.access.members(owner.id, account.id)

    with pytest.raises(tb.InvitationAlreadyUsed, match="already been accepted"):
        app.access.accept(issued.token, user_id=outsider.id)
    with pytest.raises(tb.InvitationAlreadyUsed):
        app.access.accept(issued.token, user_id=first.user_id)
    with pytest.raises(tb.InvitationAlreadyUsed):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Eve", email="eve@example.no"))

    assert app.access.members(owner.id, account.id) == members
    with pytest.raises(tb.EmailTaken):  # Eve was not created either: her address is free
        app.accounts.sign_up(name="Per", email="per@example.no")
    eve, _ = app.accounts.sign_up(name="Eve", email="eve@example.no")
    assert eve.email == "eve@example.no"


def test_an_invitation_works_until_just_before_it_expires(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)
    clock.set(AT + timedelta(days=7, seconds=-1))

    app.access.accept(issued.token, user_id=outsider.id)

    assert outsider.id in member_ids(app, owner, account)


def test_an_expired_invitation_cannot_be_accepted_and_changes_nothing(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)
    clock.advance(days=8)

    with pytest.raises(tb.InvitationExpired, match="expired"):
        app.access.accept(issued.token, user_id=outsider.id)
    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@example.no"))

    assert member_ids(app, owner, account) == [owner.id]
    per, _ = app.accounts.sign_up(name="Per", email="per@example.no")  # no user was left behind
    assert per.name == "Per"


def test_an_invitation_expires_exactly_at_its_expiry_time(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)
    clock.set(issued.invitation.expires_at)

    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, user_id=outsider.id)


def test_the_invitation_lifetime_is_configurable(
    store: Store, mailer: MemoryMailer, clock: FixedClock
) -> None:
    app = tb.Tenantbill(store=store, mailer=mailer, clock=clock, invitation_ttl=timedelta(hours=1))
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@example.no")
    outsider, _ = app.accounts.sign_up(name="Ola", email="ola@example.com")

    issued = invite(app, owner, account)
    assert issued.invitation.expires_at == AT + timedelta(hours=1)
    clock.advance(hours=2)

    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, user_id=outsider.id)


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(days=-1), 7])
def test_the_invitation_lifetime_must_be_a_positive_timedelta(ttl: Any) -> None:
    with pytest.raises(tb.InvalidInput, match="invitation_ttl"):
        tb.Tenantbill(store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(AT), invitation_ttl=ttl)


def test_a_revoked_invitation_cannot_be_accepted_and_changes_nothing(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)

    revoked = app.access.revoke(owner.id, issued.invitation.id)

    assert revoked.state is tb.InvitationState.REVOKED
    with pytest.raises(tb.InvitationRevoked, match="revoked"):
        app.access.accept(issued.token, user_id=outsider.id)
    assert member_ids(app, owner, account) == [owner.id]


def test_only_a_pending_invitation_can_be_revoked_or_resent(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    accepted = invite(app, owner, account, "a@example.no")
    app.access.accept(accepted.token, user_id=outsider.id)
    revoked = invite(app, owner, account, "r@example.no")
    app.access.revoke(owner.id, revoked.invitation.id)

    with pytest.raises(tb.InvitationAlreadyUsed):
        app.access.revoke(owner.id, accepted.invitation.id)
    with pytest.raises(tb.InvitationAlreadyUsed):
        app.access.resend(owner.id, accepted.invitation.id)
    with pytest.raises(tb.InvitationRevoked):
        app.access.revoke(owner.id, revoked.invitation.id)
    with pytest.raises(tb.InvitationRevoked):
        app.access.resend(owner.id, revoked.invitation.id)
    # An unknown id is answered like another account's: ids cannot be probed.
    with pytest.raises(tb.PermissionDenied):
        app.access.revoke(owner.id, "no-such-invitation")


def test_resending_mails_a_new_token_and_the_old_one_stops_working(
    app: tb.Tenantbill,
    mailer: MemoryMailer,
    clock: FixedClock,
    owner: tb.User,
    account: tb.Account,
    outsider: tb.User,
) -> None:
    first = invite(app, owner, account, "per@example.no")
    app.billing.deliver()
    clock.advance(days=3)

    second = app.access.resend(owner.id, first.invitation.id)
    app.billing.deliver()

    assert second.token != first.token
    assert second.invitation.id == first.invitation.id
    assert second.invitation.expires_at == AT + timedelta(days=3 + 7)
    assert len(mailer.sent) == 2
    assert mailer.sent[1]["To"] == "per@example.no"
    assert second.token in body(mailer.sent[1])
    assert first.token not in body(mailer.sent[1])
    with pytest.raises(tb.NotFound):
        app.access.accept(first.token, user_id=outsider.id)
    assert member_ids(app, owner, account) == [owner.id]
    app.access.accept(second.token, user_id=outsider.id)
    assert member_ids(app, owner, account) == [owner.id, outsider.id]


def test_resending_revives_an_expired_invitation(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    first = invite(app, owner, account)
    clock.advance(days=8)

    second = app.access.resend(owner.id, first.invitation.id)

    app.access.accept(second.token, user_id=outsider.id)
    assert outsider.id in member_ids(app, owner, account)


@pytest.mark.parametrize("email", ["ola@example.com", "OLA@example.com", "kari@example.no"])
def test_inviting_an_existing_member_raises_already_member_and_sends_nothing(
    app: tb.Tenantbill,
    mailer: MemoryMailer,
    owner: tb.User,
    account: tb.Account,
    outsider: tb.User,
    email: str,
) -> None:
    app.access.accept(invite(app, owner, account, outsider.email).token, user_id=outsider.id)
    sent = len(mailer.sent)

    with pytest.raises(tb.AlreadyMember):
        invite(app, owner, account, email)

    assert len(mailer.sent) == sent


def test_accepting_as_an_existing_member_raises_already_member_and_keeps_the_invitation(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account, "team@example.no", tb.Role.BILLING)

    with pytest.raises(tb.AlreadyMember):
        app.access.accept(issued.token, user_id=owner.id)

    assert app.access.members(owner.id, account.id) == [tb.Membership(account.id, owner.id, tb.Role.OWNER)]
    app.access.accept(issued.token, user_id=outsider.id)
    assert member_ids(app, owner, account) == [owner.id, outsider.id]


@pytest.mark.parametrize("role", [tb.Role.MEMBER, tb.Role.BILLING])
def test_only_the_owner_can_invite(
    app: tb.Tenantbill, mailer: MemoryMailer, owner: tb.User, account: tb.Account, role: tb.Role
) -> None:
    user = join(app, owner, account, "per@example.no", role)
    sent = len(mailer.sent)

    with pytest.raises(tb.PermissionDenied):
        app.access.invite(user.id, account.id, email="eve@example.no", role=tb.Role.MEMBER)

    assert len(mailer.sent) == sent
    assert [e.action for e in app.access.audit(owner.id, account.id)] == ["invited", "accepted"]


def test_an_invitation_cannot_offer_ownership(
    app: tb.Tenantbill, mailer: MemoryMailer, owner: tb.User, account: tb.Account
) -> None:
    with pytest.raises(tb.InvalidInput, match="transfer_ownership"):
        invite(app, owner, account, role=tb.Role.OWNER)
    assert mailer.sent == []


def test_inviting_an_invalid_address_raises_invalid_email_and_sends_nothing(
    app: tb.Tenantbill, mailer: MemoryMailer, owner: tb.User, account: tb.Account
) -> None:
    with pytest.raises(tb.InvalidEmail):
        invite(app, owner, account, "per@@example.no")
    assert mailer.sent == []


# Removing, leaving and transferring ownership


@pytest.mark.parametrize("role", [tb.Role.MEMBER, tb.Role.BILLING])
def test_a_removed_member_loses_access(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, role: tb.Role
) -> None:
    user = join(app, owner, account, "per@example.no", role)

    app.access.remove(owner.id, account.id, user.id)

    assert member_ids(app, owner, account) == [owner.id]
    assert app.accounts.of_user(user.id) == []
    with pytest.raises(tb.PermissionDenied):
        app.accounts.get(user.id, account.id)


def test_removing_a_non_member_raises_not_found(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    with pytest.raises(tb.NotFound):
        app.access.remove(owner.id, account.id, outsider.id)


@pytest.mark.parametrize("role", [tb.Role.MEMBER, tb.Role.BILLING])
def test_a_member_who_leaves_loses_access(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, role: tb.Role
) -> None:
    user = join(app, owner, account, "per@example.no", role)

    app.access.leave(user.id, account.id)

    assert member_ids(app, owner, account) == [owner.id]
    with pytest.raises(tb.PermissionDenied):
        app.access.members(user.id, account.id)


def test_a_non_member_cannot_leave(app: tb.Tenantbill, account: tb.Account, outsider: tb.User) -> None:
    with pytest.raises(tb.PermissionDenied):
        app.access.leave(outsider.id, account.id)


def test_transferring_ownership_makes_the_former_owner_a_member(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    heir = join(app, owner, account, "per@example.no", tb.Role.MEMBER)

    new_owner = app.access.transfer_ownership(owner.id, account.id, heir.id)

    assert new_owner == tb.Membership(account.id, heir.id, tb.Role.OWNER)
    assert (new_owner.name, new_owner.email) == (heir.name, heir.email)
    assert app.accounts.get(heir.id, account.id).owner_id == heir.id
    assert set(app.access.members(heir.id, account.id)) == {
        tb.Membership(account.id, heir.id, tb.Role.OWNER),
        tb.Membership(account.id, owner.id, tb.Role.MEMBER),
    }
    # the roles follow: the new owner invites, the former owner may leave
    invite(app, heir, account, "eve@example.no")
    with pytest.raises(tb.PermissionDenied):
        invite(app, owner, account, "mallory@example.no")
    with pytest.raises(tb.OwnerCannotLeave):
        app.access.leave(heir.id, account.id)
    app.access.leave(owner.id, account.id)
    assert member_ids(app, heir, account) == [heir.id]


def test_ownership_can_be_transferred_to_a_billing_user(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account
) -> None:
    bookkeeper = join(app, owner, account, "per@example.no", tb.Role.BILLING)

    app.access.transfer_ownership(owner.id, account.id, bookkeeper.id)

    assert app.accounts.get(owner.id, account.id).owner_id == bookkeeper.id


def test_ownership_can_only_go_to_another_member(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    with pytest.raises(tb.NotFound, match="not a member"):
        app.access.transfer_ownership(owner.id, account.id, outsider.id)
    with pytest.raises(tb.InvalidInput):
        app.access.transfer_ownership(owner.id, account.id, owner.id)

    assert app.access.members(owner.id, account.id) == [tb.Membership(account.id, owner.id, tb.Role.OWNER)]
    assert app.accounts.get(owner.id, account.id).owner_id == owner.id


# The audit trail


def test_the_audit_trail_records_who_did_what_to_whom_and_when(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    per = invite(app, owner, account, "per@example.no", tb.Role.BILLING)
    t_invited = clock.now()
    clock.advance(hours=1)
    resent = app.access.resend(owner.id, per.invitation.id)
    t_resent = clock.now()
    clock.advance(hours=1)
    membership = app.access.accept(resent.token, new_user=tb.NewUser(name="Per", email="per@example.no"))
    t_accepted = clock.now()
    clock.advance(hours=1)
    eve = invite(app, owner, account, "eve@example.no")
    t_invited_eve = clock.now()
    app.access.revoke(owner.id, eve.invitation.id)
    clock.advance(hours=1)
    app.access.accept(invite(app, owner, account, outsider.email).token, user_id=outsider.id)
    t_outsider = clock.now()
    clock.advance(hours=1)
    app.access.remove(owner.id, account.id, outsider.id)
    t_removed = clock.now()
    clock.advance(hours=1)
    app.access.transfer_ownership(owner.id, account.id, membership.user_id)
    t_transferred = clock.now()
    clock.advance(hours=1)
    app.access.leave(owner.id, account.id)
    t_left = clock.now()

    trail = [(e.action, e.actor_id, e.target, e.at) for e in app.access.audit(membership.user_id, account.id)]

    per_id = membership.user_id
    assert trail == [
        ("invited", owner.id, "per@example.no", t_invited),
        ("resent", owner.id, "per@example.no", t_resent),
        ("accepted", per_id, "per@example.no", t_accepted),
        ("invited", owner.id, "eve@example.no", t_invited_eve),
        ("revoked", owner.id, "eve@example.no", t_invited_eve),
        ("invited", owner.id, outsider.email, t_outsider),
        ("accepted", outsider.id, outsider.email, t_outsider),
        ("removed", owner.id, outsider.id, t_removed),
        ("ownership_transferred", owner.id, per_id, t_transferred),
        ("left", owner.id, owner.id, t_left),
    ]
    assert all(e.account_id == account.id for e in app.access.audit(per_id, account.id))


def test_the_audit_trail_is_visible_to_the_owner_only(
    app: tb.Tenantbill, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    member = join(app, owner, account, "per@example.no", tb.Role.MEMBER)
    billing = join(app, owner, account, "bob@example.no", tb.Role.BILLING)

    assert len(app.access.audit(owner.id, account.id)) == 4
    for user in (member, billing, outsider):
        with pytest.raises(tb.PermissionDenied):
            app.access.audit(user.id, account.id)

    app.access.transfer_ownership(owner.id, account.id, member.id)
    assert len(app.access.audit(member.id, account.id)) == 5
    with pytest.raises(tb.PermissionDenied):
        app.access.audit(owner.id, account.id)


def test_failed_calls_leave_no_trace_in_the_audit_trail(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, outsider: tb.User
) -> None:
    issued = invite(app, owner, account)
    trail = app.access.audit(owner.id, account.id)

    with pytest.raises(tb.AlreadyMember):
        app.access.accept(issued.token, user_id=owner.id)
    with pytest.raises(tb.OwnerCannotLeave):
        app.access.leave(owner.id, account.id)
    with pytest.raises(tb.PermissionDenied):
        app.access.revoke(outsider.id, issued.invitation.id)
    clock.advance(days=8)
    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, user_id=outsider.id)

    assert app.access.audit(owner.id, account.id) == trail
