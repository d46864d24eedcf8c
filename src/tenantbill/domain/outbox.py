"""The outbox: e-mails recorded in the issuing transaction and delivered after commit."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

__all__ = ["OutboxMessage", "backoff"]


@attrs.frozen
class OutboxMessage:
    """One queued e-mail to one recipient.

    ``key`` is the idempotency key (for invoice e-mails ``invoice:<id>:<address>``):
    the outbox holds at most one message per key, and the key travels in the
    message's headers so a receiving system can drop a duplicate delivery.
    Invoice e-mails are built at delivery time from the stored invoice
    (``invoice_id``); other messages carry their bytes in ``payload``.
    """

    id: str
    key: str
    recipient: str
    created_at: datetime
    next_attempt_at: datetime
    invoice_id: str | None = None
    payload: bytes | None = attrs.field(default=None, repr=False)
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None

    @property
    def sent(self) -> bool:
        """Whether the message has been delivered."""
        return self.sent_at is not None


def backoff(attempts: int) -> timedelta:
    """How long to wait before the next try after ``attempts`` failures: 1 min doubling, at most 6 h."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))
