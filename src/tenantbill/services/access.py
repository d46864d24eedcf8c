"""Memberships and invitations: who has access to an account, and how it changes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from email.message import EmailMessage
from typing import NoReturn

import attrs

from tenantbill.domain.accounts import (
    AuditEvent,
    Invitation,
    InvitationPreview,
    InvitationState,
    IssuedInvitation,
    Membership,
    NewUser,
    Role,
)
from tenantbill.domain.identity import Email
from tenantbill.domain.outbox import invitation_key
from tenantbill.domain.policy import Action, check
from tenantbill.errors import (
    AlreadyMember,
    InvalidInput,
    InvitationAlreadyUsed,
    InvitationExpired,
    InvitationRevoked,
    NotFound,
    OwnerCannotLeave,
    PermissionDenied,
    number_taken,
)
from tenantbill.ports import Transaction
from tenantbill.services.accounts import create_user
from tenantbill.services.base import Context, authorize, is_id, load_account, new_id, shown
from tenantbill.services.delivery import drop_queued, queue_message
from tenantbill.services.events import record

__all__ = ["AccessService", "hash_token"]


def hash_token(token: str) -> str:
    """The stored form of an invitation token (SHA-256; the token has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


class AccessService:
    """Invitations, memberships, leaving, removal and ownership transfer, with an audit trail."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def invite(
        self, actor_id: str, account_id: str, *, email: str, role: Role = Role.MEMBER
    ) -> IssuedInvitation:
        """Invite an address with a role (owner only); the token is returned once and its e-mail queued.

        The call talks to no mail server: the e-mail goes out with the next
        ``app.billing.deliver()`` (a background job), so a slow or unreachable
        SMTP server never holds up the request.
        """
        if role not in (Role.MEMBER, Role.BILLING):
            raise InvalidInput(
                "an invitation offers the MEMBER or BILLING role; use transfer_ownership for OWNER"
            )
        address = Email.parse(email).value
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.MANAGE_INVITATIONS)
            existing = tx.users.by_email(address)
            if existing is not None and tx.memberships.get(account_id, existing.id) is not None:
                raise AlreadyMember(f"{address} is already a member of this account")
            now = self._ctx.now()
            token = secrets.token_urlsafe(32)
            invitation = Invitation(
                id=new_id(),
                account_id=account_id,
                email=address,
                role=role,
                token_hash=hash_token(token),
                invited_by=actor_id,
                created_at=now,
                expires_at=now + self._ctx.invitation_ttl,
            )
            tx.invitations.add(invitation)
            key = invitation_key(invitation.id, invitation.token_hash)
            self._queue_invitation(tx, invitation, token, key)
            _audit(tx, invitation.account_id, actor_id, "invited", address, role.value, now)
        return IssuedInvitation(invitation=invitation, token=token)

    def resend(self, actor_id: str, invitation_id: str) -> IssuedInvitation:
        """Queue a pending invitation's e-mail again, with a new token and a new expiry.

        The old token stops working, and the old e-mail, if still queued, is dropped.
        """
        with self._ctx.store.transaction() as tx:
            old = _invitation_for(tx, actor_id, invitation_id)
            _require_pending(old)
            now = self._ctx.now()
            token = secrets.token_urlsafe(32)
            invitation = attrs.evolve(
                old, token_hash=hash_token(token), expires_at=now + self._ctx.invitation_ttl
            )
            if not tx.invitations.renew(invitation.id, invitation.token_hash, invitation.expires_at):
                _refuse_not_pending(tx, old.id)
            _drop_email(tx, self._ctx, old, "a new invitation e-mail replaced it")
            key = invitation_key(invitation.id, invitation.token_hash)
            self._queue_invitation(tx, invitation, token, key)
            _audit(tx, old.account_id, actor_id, "resent", old.email, "", now)
        return IssuedInvitation(invitation=invitation, token=token)

    def revoke(self, actor_id: str, invitation_id: str) -> Invitation:
        """Withdraw a pending invitation (owner only); its token can no longer be accepted.

        Its e-mail, if not sent yet, is dropped: never sent, and its copy of the token erased.
        """
        with self._ctx.store.transaction() as tx:
            invitation = _invitation_for(tx, actor_id, invitation_id)
            _require_pending(invitation)
            if not tx.invitations.revoke(invitation.id):
                _refuse_not_pending(tx, invitation.id)
            invitation = attrs.evolve(invitation, state=InvitationState.REVOKED)
            _drop_email(tx, self._ctx, invitation, "the invitation was revoked")
            _audit(
                tx,
                invitation.account_id,
                actor_id,
                "revoked",
                invitation.email,
                "",
                self._ctx.now(),
            )
            return invitation

    def accept(
        self, token: str, *, user_id: str | None = None, new_user: NewUser | None = None
    ) -> Membership:
        """Accept an invitation as an existing user, or create the user while accepting."""
        if (user_id is None) == (new_user is None):
            raise InvalidInput("accept with exactly one of user_id= (an existing user) or new_user=")
        if not isinstance(token, str) or not token:
            raise NotFound("this invitation link is not valid")
        token_hash = hash_token(token)
        with self._ctx.store.transaction() as tx:
            invitation = tx.invitations.by_token_hash(token_hash)
            if invitation is None or not hmac.compare_digest(invitation.token_hash, token_hash):
                raise NotFound("this invitation link is not valid (it may have been re-sent with a new one)")
            _require_pending(invitation)
            now = self._ctx.now()
            if now >= invitation.expires_at:
                raise InvitationExpired(
                    f"this invitation expired at {invitation.expires_at:%Y-%m-%d %H:%M} UTC; "
                    "ask the account owner to send it again"
                )
            if new_user is not None:
                if not isinstance(new_user, NewUser):
                    raise InvalidInput("new_user must be a tenantbill.NewUser")
                user = create_user(tx, new_user.name, new_user.email)
            else:
                found = tx.users.get(user_id) if is_id(user_id) else None
                if found is None:
                    raise NotFound(f"there is no user {shown(user_id)}")
                user = found
            # Accepting first: of concurrent accepts exactly one gets here (the others are refused
            # and roll back any user they created).
            if not tx.invitations.accept(invitation.id, token_hash, user.id):
                _refuse_not_pending(tx, invitation.id)
            membership = Membership(invitation.account_id, user.id, invitation.role, user.name, user.email)
            tx.memberships.add(membership)
            _drop_email(tx, self._ctx, invitation, "the invitation was accepted")
            _audit(
                tx,
                invitation.account_id,
                user.id,
                "accepted",
                user.email,
                invitation.role.value,
                now,
            )
            record(
                tx,
                self._ctx,
                "invitation.accepted",
                invitation.account_id,
                invitation_id=invitation.id,
                user_id=user.id,
                role=invitation.role.value,
            )
            return membership

    def remove(self, actor_id: str, account_id: str, user_id: str) -> None:
        """Remove another member (owner only). The owner cannot be removed."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.REMOVE_MEMBER)
            target = tx.memberships.get(account_id, user_id) if is_id(user_id) else None
            if target is None:
                raise NotFound(f"user {shown(user_id)} is not a member of this account")
            if target.role is Role.OWNER:
                raise OwnerCannotLeave(
                    "the owner cannot be removed; transfer ownership to another member first"
                )
            if not tx.memberships.remove(account_id, user_id):  # became the owner meanwhile
                raise OwnerCannotLeave(
                    "the owner cannot be removed; transfer ownership to another member first"
                )
            _audit(tx, account_id, actor_id, "removed", user_id, target.role.value, self._ctx.now())
            record(tx, self._ctx, "member.removed", account_id, user_id=user_id, removed_by=actor_id)

    def leave(self, actor_id: str, account_id: str) -> None:
        """Leave an account. The owner cannot leave; transfer ownership first."""
        with self._ctx.store.transaction() as tx:
            membership = tx.memberships.get(account_id, actor_id) if is_id(actor_id) else None
            if membership is not None and membership.role is Role.OWNER:
                raise OwnerCannotLeave(
                    "the owner cannot leave the account; transfer ownership to another member first"
                )
            authorize(tx, actor_id, account_id, Action.LEAVE)
            if not tx.memberships.remove(account_id, actor_id):  # became the owner meanwhile
                raise OwnerCannotLeave(
                    "the owner cannot leave the account; transfer ownership to another member first"
                )
            _audit(tx, account_id, actor_id, "left", actor_id, "", self._ctx.now())
            record(tx, self._ctx, "member.left", account_id, user_id=actor_id)

    def transfer_ownership(self, actor_id: str, account_id: str, to_user_id: str) -> Membership:
        """Make another member the owner; the former owner stays on as a MEMBER.

        Refused if the account shares an org or bank number with another
        account of the same owner: the number would then have two owners.
        """
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.TRANSFER_OWNERSHIP)
            target = tx.memberships.get(account_id, to_user_id) if is_id(to_user_id) else None
            if target is None:
                raise NotFound(f"user {shown(to_user_id)} is not a member of this account; invite them first")
            if target.role is Role.OWNER:
                raise InvalidInput("that user already owns the account")
            if not tx.memberships.transfer_ownership(account_id, actor_id, to_user_id):
                # Another call changed the account's people first (a concurrent transfer, say).
                raise PermissionDenied(
                    "ownership changed while this call ran: you are no longer the owner, or that "
                    "user is no longer a member; reload the account's members and try again"
                )
            account = load_account(tx, account_id)
            _move_number_claims(tx, account.id, account.org_number, account.bank_account, to_user_id)
            user = tx.users.get(to_user_id)
            new_owner = Membership(
                account_id,
                to_user_id,
                Role.OWNER,
                None if user is None else user.name,
                None if user is None else user.email,
            )
            _audit(tx, account_id, actor_id, "ownership_transferred", to_user_id, "", self._ctx.now())
            record(
                tx,
                self._ctx,
                "ownership.transferred",
                account_id,
                from_user_id=actor_id,
                to_user_id=to_user_id,
            )
            return new_owner

    def members(self, actor_id: str, account_id: str) -> list[Membership]:
        """Everyone with access to the account, with their roles, names and e-mail addresses."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_MEMBERS)
            return tx.memberships.of_account(account_id)

    def invitations(self, actor_id: str, account_id: str) -> list[Invitation]:
        """The account's pending invitations, oldest first (owner only), expired ones included.

        Tokens are never stored, so none is shown (``token_hash`` is blank
        too); an expired one can be sent again with :meth:`resend`.
        """
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.MANAGE_INVITATIONS)
            return [attrs.evolve(i, token_hash="") for i in tx.invitations.pending_of(account_id)]

    def preview(self, token: str) -> InvitationPreview:
        """What an invitation link offers: the account's name, the role, the address and the expiry.

        For the page that accepts it; no login needed (the token is the
        secret). A token that is not valid, used, revoked or expired raises
        the same error :meth:`accept` would.
        """
        if not isinstance(token, str) or not token or len(token) > 200 or not token.isascii():
            raise NotFound("this invitation link is not valid")
        token_hash = hash_token(token)
        with self._ctx.store.transaction() as tx:
            invitation = tx.invitations.by_token_hash(token_hash)
            if invitation is None or not hmac.compare_digest(invitation.token_hash, token_hash):
                raise NotFound("this invitation link is not valid (it may have been re-sent with a new one)")
            _require_pending(invitation)
            if self._ctx.now() >= invitation.expires_at:
                raise InvitationExpired(
                    f"this invitation expired at {invitation.expires_at:%Y-%m-%d %H:%M} UTC; "
                    "ask the account owner to send it again"
                )
            account = load_account(tx, invitation.account_id)
            return InvitationPreview(
                account_name=account.name,
                role=invitation.role,
                email=invitation.email,
                expires_at=invitation.expires_at,
            )

    def audit(self, actor_id: str, account_id: str) -> list[AuditEvent]:
        """The account's access changes, oldest first (owner only)."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_AUDIT)
            return tx.audit.of_account(account_id)

    def _queue_invitation(self, tx: Transaction, invitation: Invitation, token: str, key: str) -> str:
        """Queue the invitation's e-mail in the account's language, with the accept link if the host gave one.

        Its ``Date`` is when this token was issued: the invitation's creation
        (``invite``), or the ``resend`` that made a new token (whose expiry
        was set one ``invitation_ttl`` later).
        """
        from tenantbill.render.mail import invitation_message

        account = load_account(tx, invitation.account_id)
        message: EmailMessage = invitation_message(
            account_name=account.name,
            role=invitation.role,
            recipient=invitation.email,
            sender=self._ctx.from_address,
            token=token,
            created_at=max(invitation.created_at, invitation.expires_at - self._ctx.invitation_ttl),
            expires_at=invitation.expires_at,
            locale=account.locale,
            invite_url=self._ctx.invite_url,
            texts=self._ctx.invitation_texts,
        )
        return queue_message(tx, self._ctx, key=key, recipient=invitation.email, message=message)


def _invitation_for(tx: Transaction, actor_id: str, invitation_id: str) -> Invitation:
    """The invitation, if the actor may manage the invitations of its account.

    An unknown id and another account's invitation get the same
    :class:`PermissionDenied`, so invitation ids cannot be probed.
    """
    invitation = tx.invitations.get(invitation_id) if is_id(invitation_id) else None
    membership = None
    if invitation is not None and is_id(actor_id):
        membership = tx.memberships.get(invitation.account_id, actor_id)
    if invitation is None or membership is None:
        raise PermissionDenied(
            f"you cannot manage invitation {shown(invitation_id)}: it does not exist or belongs to an "
            "account you are not a member of"
        )
    check(membership, Action.MANAGE_INVITATIONS, account_id=invitation.account_id)
    return invitation


def _drop_email(tx: Transaction, ctx: Context, invitation: Invitation, reason: str) -> None:
    """Drop the invitation's e-mail for its current token if it has not gone out (its token then dies)."""
    drop_queued(tx, ctx, invitation_key(invitation.id, invitation.token_hash), reason)


def _refuse_not_pending(tx: Transaction, invitation_id: str) -> NoReturn:
    """Raise why the invitation is no longer pending (another call changed it first)."""
    now = tx.invitations.get(invitation_id)
    if now is not None:
        _require_pending(now)
    raise NotFound("this invitation link is not valid (it may have been re-sent with a new one)")


def _require_pending(invitation: Invitation) -> None:
    if invitation.state is InvitationState.ACCEPTED:
        raise InvitationAlreadyUsed("this invitation has already been accepted; each can be used once")
    if invitation.state is InvitationState.REVOKED:
        raise InvitationRevoked("this invitation was revoked by the account owner")


def _move_number_claims(
    tx: Transaction, account_id: str, org: str | None, bank: str | None, new_owner: str
) -> None:
    for kind, number, label in (("org", org, "org number"), ("bank", bank, "bank account")):
        if number is None:
            continue
        others = [a for a in tx.accounts.number_holders(kind, number) if a != account_id]
        if others:
            raise number_taken(
                kind,
                number,
                f"cannot transfer: the {label} {number} is also used by another account of the "
                "same owner, and two owners may not share a number; change one account's "
                f"{label} first",
            )
        tx.accounts.set_number_owner(kind, number, new_owner)


def _audit(
    tx: Transaction,
    account_id: str,
    actor_id: str,
    action: str,
    target: str,
    detail: str,
    now: datetime,
) -> None:
    tx.audit.add(AuditEvent(account_id, now, actor_id, action, target, detail))
