"""Factories for tests: signed-up accounts and their members, made through the public API.

Every object is created the way a real user would create it (sign-up,
invitation e-mailed, invitation accepted), so a test that uses a factory
exercises the same rules as production code and cannot build a state the
library would refuse.

>>> from datetime import datetime, timezone
>>> from tenantbill import Role, Tenantbill
>>> from tenantbill.clock import FixedClock
>>> from tenantbill.memory import MemoryMailer, MemoryStore
>>> app = Tenantbill(store=MemoryStore(), mailer=MemoryMailer(),
...                  clock=FixedClock(datetime(2026, 1, 15, tzinfo=timezone.utc)))
>>> acme = Factory(app).account(name="Acme AS")
>>> bookkeeper = acme.member(Role.BILLING)
>>> [m.role.name for m in app.access.members(acme.owner.id, acme.account.id)]
['OWNER', 'BILLING']
"""

from __future__ import annotations

import itertools
from typing import Any

import attrs

from tenantbill.app import Tenantbill
from tenantbill.domain.accounts import Account, NewUser, Role, User

__all__ = ["Factory", "SignedUp", "Team"]


@attrs.frozen
class SignedUp:
    """An account fresh from sign-up: the app it lives in, its owner and the account."""

    app: Tenantbill = attrs.field(repr=False)
    owner: User
    account: Account
    _factory: Factory = attrs.field(repr=False)

    def member(self, role: Role = Role.MEMBER, *, name: str | None = None, email: str | None = None) -> User:
        """Invite a new user with ``role`` (sent by the owner) and accept it; returns the user."""
        n = self._factory.next_number()
        name = name or f"{role.value.capitalize()} {n}"
        email = email or f"{role.value}-{n}@example.com"
        issued = self.app.access.invite(self.owner.id, self.account.id, email=email, role=role)
        membership = self.app.access.accept(issued.token, new_user=NewUser(name=name, email=email))
        return self.app.users.get(membership.user_id)

    def current(self) -> Account:
        """The account as it is stored now (``account`` is the value at sign-up)."""
        return self.app.accounts.get(self.owner.id, self.account.id)


@attrs.frozen
class Team:
    """A signed-up account with one user of each role: ``owner``, ``member`` and ``billing``."""

    signed_up: SignedUp
    member: User
    billing: User

    @property
    def app(self) -> Tenantbill:
        """The app the team lives in."""
        return self.signed_up.app

    @property
    def owner(self) -> User:
        """The user who signed up and owns the account."""
        return self.signed_up.owner

    @property
    def account(self) -> Account:
        """The account, as it was at sign-up."""
        return self.signed_up.account

    def user(self, role: Role) -> User:
        """The team's user with ``role``."""
        return {Role.OWNER: self.owner, Role.MEMBER: self.member, Role.BILLING: self.billing}[role]


class Factory:
    """Makes signed-up accounts and teams in one app, with unique names and addresses.

    Names are ``Company 1``, ``Company 2``, … and addresses ``owner-1@example.com``,
    … unless given; every keyword of :meth:`AccountService.sign_up` passes through.
    """

    def __init__(self, app: Tenantbill) -> None:
        self.app = app
        self._numbers = itertools.count(1)

    def next_number(self) -> int:
        """A number not handed out before by this factory (for unique names and addresses)."""
        return next(self._numbers)

    def account(self, *, name: str | None = None, email: str | None = None, **setup: Any) -> SignedUp:
        """Sign up a new account and its owner; ``setup`` is passed to ``sign_up`` as is."""
        n = self.next_number()
        owner, account = self.app.accounts.sign_up(
            name=name or f"Company {n}", email=email or f"owner-{n}@example.com", **setup
        )
        return SignedUp(app=self.app, owner=owner, account=account, factory=self)

    def team(self, **setup: Any) -> Team:
        """A signed-up account with a MEMBER and a BILLING user, both joined by invitation."""
        signed_up = self.account(**setup)
        return Team(
            signed_up=signed_up,
            member=signed_up.member(Role.MEMBER),
            billing=signed_up.member(Role.BILLING),
        )
