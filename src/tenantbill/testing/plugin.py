"""The tenantbill pytest plugin: fixtures for host applications' test suites.

Installed with the package (a ``pytest11`` entry point), so a host's tests can
ask for these fixtures without any set-up:

``tenantbill_clock``
    a :class:`~tenantbill.clock.FixedClock` at 2026-01-15 09:00 UTC; move it
    with ``advance(days=…)`` or ``set(datetime)``.
``tenantbill_mailer``
    a :class:`~tenantbill.memory.MemoryMailer`; what was sent is in ``.sent``.
``tenantbill_app``
    a :class:`~tenantbill.Tenantbill` on a fresh in-memory store, that clock
    and that mailer.
``tenantbill_factory``
    a :class:`~tenantbill.testing.factories.Factory` making signed-up accounts
    in ``tenantbill_app``.
``tenantbill_account``
    one signed-up account (``.owner``, ``.account``, ``.member(role)``).
``tenantbill_team``
    one signed-up account with a user of each role (``.owner``, ``.member``,
    ``.billing``), the members joined through real invitations.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tenantbill.app import Tenantbill
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.testing.factories import Factory, SignedUp, Team

__all__ = [
    "START",
    "tenantbill_account",
    "tenantbill_app",
    "tenantbill_clock",
    "tenantbill_factory",
    "tenantbill_mailer",
    "tenantbill_team",
]

START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
"""Where ``tenantbill_clock`` stands when a test begins."""


@pytest.fixture
def tenantbill_clock() -> FixedClock:
    """A clock standing at 2026-01-15 09:00 UTC; move it with ``advance()`` or ``set()``."""
    return FixedClock(START)


@pytest.fixture
def tenantbill_mailer() -> MemoryMailer:
    """A mailer that keeps what it sends in ``.sent``."""
    return MemoryMailer()


@pytest.fixture
def tenantbill_app(tenantbill_clock: FixedClock, tenantbill_mailer: MemoryMailer) -> Tenantbill:
    """A :class:`Tenantbill` on a fresh in-memory store, the movable clock and the memory mailer."""
    return Tenantbill(store=MemoryStore(), mailer=tenantbill_mailer, clock=tenantbill_clock)


@pytest.fixture
def tenantbill_factory(tenantbill_app: Tenantbill) -> Factory:
    """Makes signed-up accounts and teams in ``tenantbill_app``."""
    return Factory(tenantbill_app)


@pytest.fixture
def tenantbill_account(tenantbill_factory: Factory) -> SignedUp:
    """A freshly signed-up account and its owner."""
    return tenantbill_factory.account()


@pytest.fixture
def tenantbill_team(tenantbill_factory: Factory) -> Team:
    """A signed-up account with an owner, a MEMBER and a BILLING user."""
    return tenantbill_factory.team()
