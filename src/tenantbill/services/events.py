"""Events: recorded by the services in the transaction of each change, read by the host (``app.events``)."""

from __future__ import annotations

from typing import Any

from tenantbill.domain.events import Event
from tenantbill.errors import InvalidInput
from tenantbill.ports import Transaction
from tenantbill.services.base import Context

__all__ = ["EventService", "record"]

READ_AT_MOST = 1000
"""The most events one read returns."""


def record(tx: Transaction, ctx: Context, type: str, account_id: str | None, **data: Any) -> None:
    """Append an event to the unit of work, as its last write (see ``Events.append``)."""
    tx.events.append(Event(type=type, account_id=account_id, at=ctx.now(), data=data))


class EventService:
    """What happened, in commit order: a host call (no actor), to forward to webhooks or a queue.

    Never pass an end user's input to it unchecked: it reads every account's events.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def read(self, after: int | None = None, limit: int = 500) -> list[Event]:
        """Up to ``limit`` (1 to 1000) events with a position above ``after`` (from the start: ``None``).

        In position order, which is the order their transactions committed.
        Remember the last position you handled and pass it as ``after`` next
        time: no event is skipped, none is returned twice. Positions may have
        gaps (a transaction that rolled back).
        """
        if after is None:
            after = 0
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise InvalidInput(f"after is a position (a whole number >= 0) or None, got {after!r:.40}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= READ_AT_MOST:
            raise InvalidInput(f"limit is a whole number from 1 to {READ_AT_MOST}, got {limit!r:.40}")
        after = min(after, 2**63 - 1)  # a position is a 64-bit number in the database
        with self._ctx.store.transaction() as tx:
            return tx.events.read(after, limit)
