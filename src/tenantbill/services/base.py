"""What every service shares: the ports, the settings, ids and the acting user's membership."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, TypeGuard

import attrs

from tenantbill.domain.accounts import Account, Membership
from tenantbill.domain.payments import DEFAULT_INKASSOSATS
from tenantbill.domain.policy import Action, check
from tenantbill.errors import NotFound, PermissionDenied
from tenantbill.ports import Clock, Mailer, Store, Transaction

if TYPE_CHECKING:
    from tenantbill.render.mail import InvitationTexts

__all__ = [
    "PLACEHOLDER_SENDER",
    "Context",
    "authorize",
    "authorized_account",
    "is_id",
    "load_account",
    "new_id",
    "shown",
]


_MAX_ID = 64


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can be an id: short printable ASCII text.

    Ids are made by :func:`new_id`; anything else (wrong types, NUL, lone
    surrogates, huge strings) cannot name a record, and is answered like an
    unknown id without asking the store.
    """
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID and value.isascii() and value.isprintable()


def shown(value: object) -> str:
    """An id as error messages quote it: ``repr`` of a plausible id, never a caller's whole input."""
    return repr(value) if is_id(value) else "(not an id)"


def new_id() -> str:
    """A fresh identifier: 32 hex digits, the milliseconds since 1970 (48 bits) then 80 random bits.

    As a UUIDv7 does: ids made later sort later, so a table's and an index's
    new rows go at the end of their B-tree instead of all over it, and 80
    random bits still cannot be guessed.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


PLACEHOLDER_SENDER = "tenantbill <no-reply@tenantbill.invalid>"
"""The From of messages built by an app with no ``sender=`` (only with the in-memory mailer, or none)."""


@attrs.frozen
class Context:
    """The ports and settings a service works with.

    ``mailer`` is ``None`` when the app was built without one: calls queue
    their e-mails, and delivering refuses. ``sender`` is ``None`` when none
    was given (allowed only with the in-memory mailer or no mailer).
    ``invite_url`` is the validated link template of invitation e-mails
    (``{token}`` once) and ``invitation_texts`` the host's texts by language.
    ``inkassosats`` is the Norwegian figure reminder fees are limited by.
    """

    store: Store
    mailer: Mailer | None
    clock: Clock
    invitation_ttl: timedelta
    sender: str | None
    platform_account_id: str | None = None
    invite_url: str | None = None
    invitation_texts: Mapping[str, InvitationTexts] = attrs.field(factory=dict)
    inkassosats: Decimal = DEFAULT_INKASSOSATS

    @property
    def from_address(self) -> str:
        """The From of the messages built here: the sender, or else :data:`PLACEHOLDER_SENDER`."""
        return PLACEHOLDER_SENDER if self.sender is None else self.sender

    def now(self) -> datetime:
        """The current instant from the clock."""
        return self.clock.now()


def load_account(tx: Transaction, account_id: str) -> Account:
    """The account, or :class:`NotFound`."""
    account = tx.accounts.get(account_id) if is_id(account_id) else None
    if account is None:
        raise NotFound(f"there is no account {shown(account_id)}")
    return account


def _named(account_id: object) -> str:
    return account_id if is_id(account_id) else "(not an id)"


def authorize(tx: Transaction, actor_id: str, account_id: str, action: Action) -> Membership:
    """The actor's membership on the account if the policy allows ``action``; else raise.

    A user with no membership gets :class:`PermissionDenied` whether or not the
    account exists, so ids of other tenants' accounts cannot be probed.
    """
    membership = tx.memberships.get(account_id, actor_id) if is_id(actor_id) and is_id(account_id) else None
    check(membership, action, account_id=_named(account_id))
    if membership is None:  # pragma: no cover - check() raised already
        raise PermissionDenied(f"you are not a member of account {account_id}")
    return membership


def authorized_account(
    tx: Transaction, actor_id: str, account_id: str, action: Action, *, recent: bool = False
) -> Account:
    """The account, if the actor's membership allows ``action`` on it; else raise, as :func:`authorize`.

    One read for both (the hot path of issuing); with ``recent``, an answer
    the store may have kept (see ``Memberships.with_account``: the caller
    runs the unit of work again on :class:`~tenantbill.errors.StaleRead`).
    """
    if not is_id(actor_id) or not is_id(account_id):
        check(None, action, account_id=_named(account_id))
    account, membership = tx.memberships.with_account(account_id, actor_id, recent=recent)
    check(membership, action, account_id=account_id)
    if account is None:  # pragma: no cover - a membership has its account
        raise NotFound(f"there is no account {shown(account_id)}")
    return account
