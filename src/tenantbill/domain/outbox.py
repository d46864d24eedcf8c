"""The outbox: e-mails recorded in the issuing transaction and delivered after commit."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from tenantbill.domain.accounts import Invitation, InvitationState

__all__ = [
    "LEASE",
    "OutboxMessage",
    "backoff",
    "invitation_key",
    "invitation_of_key",
    "invitation_withdrawn",
    "reminder_key",
    "reminder_of_key",
]

LEASE = timedelta(minutes=10)
"""How long a delivery worker's claim on its batch lasts by default: the batch must be sent within it."""

_ERROR_MAX = 500


@attrs.frozen
class OutboxMessage:
    """One queued e-mail to one recipient.

    ``key`` is the idempotency key (for invoice e-mails ``invoice:<id>:<address>``):
    the outbox holds at most one message per key, and the key travels in the
    message's headers so a receiving system can drop a duplicate delivery.
    Invoice e-mails are built at delivery time from the stored invoice
    (``invoice_id``); other messages carry their bytes in ``payload``.

    A message ends *sent* (``sent_at``) or *dropped* (``dropped_at``: not
    sent and never will be, because what it announced was withdrawn, such as
    a revoked invitation; ``last_error`` says why). Either way the store
    erases its ``payload`` in the same write: the outbox is a queue, not an
    archive, and a payload may hold a secret (an invitation token) that must
    live in the e-mail only.
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
    dropped_at: datetime | None = None

    @property
    def sent(self) -> bool:
        """Whether the message has been delivered."""
        return self.sent_at is not None

    @property
    def dropped(self) -> bool:
        """Whether the message was given up unsent (it is then never sent)."""
        return self.dropped_at is not None

    @property
    def done(self) -> bool:
        """Whether the message has left the queue, sent or dropped: its payload is then erased."""
        return self.sent_at is not None or self.dropped_at is not None

    def is_due(self, now: datetime) -> bool:
        """Whether a worker may take it at ``now``: still queued, and its next attempt has come.

        A claimed message is due again when the claim's lease ends.
        """
        return self.sent_at is None and self.dropped_at is None and self.next_attempt_at <= now

    def after_attempt(self, error: str | None, now: datetime) -> OutboxMessage:
        """The message after one try at ``now``: sent, or queued again with ``error`` after a back-off.

        The store erases the payload of a sent message with the write that records it.
        """
        attempts = self.attempts + 1
        if error is None:
            return attrs.evolve(self, attempts=attempts, sent_at=now, last_error=None, payload=None)
        return attrs.evolve(
            self, attempts=attempts, last_error=error[:_ERROR_MAX], next_attempt_at=now + backoff(attempts)
        )

    def withdrawn(self, reason: str, now: datetime) -> OutboxMessage:
        """The message dropped at ``now``: never sent, payload erased, ``reason`` kept as its last error."""
        return attrs.evolve(self, dropped_at=now, payload=None, last_error=f"not sent: {reason}"[:_ERROR_MAX])

    def released(self, now: datetime) -> OutboxMessage:
        """The message given back unsent by the worker that claimed it: due again at ``now``."""
        return attrs.evolve(self, next_attempt_at=now)


def backoff(attempts: int) -> timedelta:
    """How long to wait before the next try after ``attempts`` failures: 1 min doubling, at most 6 h."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


_INVITATION = "invitation:"


def invitation_key(invitation_id: str, token_hash: str) -> str:
    """The idempotency key of the e-mail that carries an invitation's current token.

    It names the token by a prefix of its hash (never the token), so a
    message queued for a token that has since been replaced, revoked or used
    can be found again and dropped.
    """
    return f"{_INVITATION}{invitation_id}:{token_hash[:16]}"


def invitation_of_key(key: str) -> str | None:
    """The id of the invitation an outbox key belongs to, or ``None`` for other messages."""
    return _id_in_key(_INVITATION, key)


_REMINDER = "reminder:"


def reminder_key(reminder_id: str, address_key: str) -> str:
    """The idempotency key of a payment reminder's e-mail to one address (``address_key``, lower case)."""
    return f"{_REMINDER}{reminder_id}:{address_key}"


def reminder_of_key(key: str) -> str | None:
    """The id of the payment reminder an outbox key belongs to, or ``None`` for other messages."""
    return _id_in_key(_REMINDER, key)


def _id_in_key(prefix: str, key: str) -> str | None:
    """The id between ``prefix`` and the next ``:`` of an outbox key, or ``None`` if it is not one such."""
    if not key.startswith(prefix):
        return None
    found, colon, _ = key[len(prefix) :].partition(":")
    return found if colon and found else None


def invitation_withdrawn(invitation: Invitation | None, now: datetime) -> str | None:
    """Why an invitation's e-mail must not be sent at ``now``, or ``None`` while the invitation is live."""
    if invitation is None:
        return "the invitation no longer exists"
    if invitation.state is InvitationState.REVOKED:
        return "the invitation was revoked"
    if invitation.state is InvitationState.ACCEPTED:
        return "the invitation was accepted"
    if now >= invitation.expires_at:
        return "the invitation expired"
    return None
