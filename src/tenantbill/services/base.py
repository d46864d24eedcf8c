"""What every service shares: the ports, the settings, ids and the acting user's membership."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import attrs

from tenantbill.domain.accounts import Account, Membership
from tenantbill.domain.policy import Action, check
from tenantbill.errors import NotFound, PermissionDenied
from tenantbill.ports import Clock, Mailer, Store, Transaction

__all__ = ["Context", "authorize", "authorized_account", "load_account", "new_id"]


def new_id() -> str:
    """A fresh random identifier: 128 bits as 32 hex digits (the shape of a UUID4's hex)."""
    return os.urandom(16).hex()


@attrs.frozen
class Context:
    """The ports and settings a service works with."""

    store: Store
    mailer: Mailer
    clock: Clock
    invitation_ttl: timedelta
    sender: str
    platform_account_id: str | None = None

    def now(self) -> datetime:
        """The current instant from the clock."""
        return self.clock.now()


def load_account(tx: Transaction, account_id: str) -> Account:
    """The account, or :class:`NotFound`."""
    account = tx.get_account(account_id) if isinstance(account_id, str) else None
    if account is None:
        raise NotFound(f"there is no account {account_id!r}")
    return account


def authorize(tx: Transaction, actor_id: str, account_id: str, action: Action) -> Membership:
    """The actor's membership on the account if the policy allows ``action``; else raise.

    A user with no membership gets :class:`PermissionDenied` whether or not the
    account exists, so ids of other tenants' accounts cannot be probed.
    """
    membership = tx.get_membership(account_id, actor_id) if isinstance(actor_id, str) else None
    check(membership, action, account_id=account_id)
    if membership is None:  # pragma: no cover - check() raised already
        raise PermissionDenied(f"you are not a member of account {account_id}")
    return membership


def authorized_account(tx: Transaction, actor_id: str, account_id: str, action: Action) -> Account:
    """The account, if the actor's membership allows ``action`` on it; else raise, as :func:`authorize`.

    One read for both (the hot path of issuing).
    """
    if not isinstance(actor_id, str) or not isinstance(account_id, str):
        check(None, action, account_id=account_id)
    account, membership = tx.account_and_membership(account_id, actor_id)
    check(membership, action, account_id=account_id)
    if account is None:  # pragma: no cover - a membership has its account
        raise NotFound(f"there is no account {account_id!r}")
    return account
