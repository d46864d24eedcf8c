"""The outbox path every e-mail takes: queued in a transaction, sent after commit.

A message is written to the outbox in the same transaction as the change it
reports (an issued invoice, an invitation), so it cannot be lost. Delivery
sends it through the :class:`~tenantbill.ports.Mailer` and then marks it sent;
a failed send stays queued with its error and is retried after a back-off. A
crash between sending and marking means the message is sent again on the next
run (at least once); its ``Message-ID`` is derived from the idempotency key,
so the receiving side can drop the duplicate.
"""

from __future__ import annotations

import email.policy
import hashlib
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser

import attrs

from tenantbill.domain.invoices import Invoice
from tenantbill.domain.outbox import OutboxMessage, backoff
from tenantbill.ports import Transaction
from tenantbill.services.base import Context, new_id

__all__ = [
    "DeliveryReport",
    "MessageBuilder",
    "deliver",
    "deliver_now",
    "message_id",
    "queue_message",
]

MessageBuilder = Callable[[OutboxMessage, Invoice], EmailMessage]
"""Builds the e-mail of an invoice outbox entry at delivery time."""

_BATCH = 200


@attrs.frozen
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()


def message_id(key: str) -> str:
    """A stable ``Message-ID`` for an idempotency key: the same message always has the same id."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tenantbill>"


def queue_message(tx: Transaction, ctx: Context, *, key: str, recipient: str, message: EmailMessage) -> str:
    """Put a ready message in the outbox (inside the caller's transaction); returns its id."""
    now = ctx.now()
    entry = OutboxMessage(
        id=new_id(),
        key=key,
        recipient=recipient,
        created_at=now,
        next_attempt_at=now,
        payload=message.as_bytes(policy=email.policy.SMTP),
    )
    tx.add_outbox(entry)
    return entry.id


def _build(entry: OutboxMessage, invoice: Invoice | None, builder: MessageBuilder | None) -> EmailMessage:
    if entry.payload is not None:
        message = BytesParser(policy=email.policy.default).parsebytes(entry.payload)
        assert isinstance(message, EmailMessage)
    elif invoice is not None and builder is not None:
        message = builder(entry, invoice)
    else:  # pragma: no cover - an invoice entry always has its invoice and a builder
        raise RuntimeError(f"outbox entry {entry.id} has neither a payload nor an invoice")
    if "Message-ID" in message:
        del message["Message-ID"]
    message["Message-ID"] = message_id(entry.key)
    message["X-Tenantbill-Key"] = entry.key
    return message


def _load_batch(tx: Transaction, entries: list[OutboxMessage]) -> list[tuple[OutboxMessage, Invoice | None]]:
    invoices: dict[str, Invoice | None] = {}
    for entry in entries:
        if entry.invoice_id is not None and entry.invoice_id not in invoices:
            invoices[entry.invoice_id] = tx.get_invoice(entry.invoice_id)
    return [(entry, invoices.get(entry.invoice_id or "")) for entry in entries]


def _attempt(ctx: Context, build: Callable[[], EmailMessage]) -> str | None:
    try:
        message = build()
    except Exception as error:
        return f"could not build the message: {type(error).__name__}: {error}"
    try:
        ctx.mailer.send(message)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _record(ctx: Context, entry: OutboxMessage, error: str | None) -> None:
    now = ctx.now()
    attempts = entry.attempts + 1
    if error is None:
        done = attrs.evolve(entry, attempts=attempts, sent_at=now, last_error=None)
    else:
        done = attrs.evolve(
            entry,
            attempts=attempts,
            last_error=error[:500],
            next_attempt_at=now + backoff(attempts),
        )
    with ctx.store.transaction() as tx:
        tx.save_outbox(done)


def deliver(ctx: Context, invoice_builder: MessageBuilder | None = None) -> DeliveryReport:
    """Send every queued message that is due; failures stay queued with a back-off."""
    sent = failed = 0
    errors: list[str] = []
    skip: set[str] = set()
    while True:
        with ctx.store.transaction() as tx:
            batch = [e for e in tx.due_outbox(ctx.now(), _BATCH + len(skip)) if e.id not in skip]
            loaded = _load_batch(tx, batch[:_BATCH])
        if not loaded:
            return DeliveryReport(sent=sent, failed=failed, errors=tuple(errors))
        for entry, invoice in loaded:
            error = _attempt(ctx, lambda: _build(entry, invoice, invoice_builder))  # noqa: B023
            _record(ctx, entry, error)
            if error is None:
                sent += 1
            else:
                failed += 1
                skip.add(entry.id)
                errors.append(f"{entry.recipient}: {error}")


def deliver_now(ctx: Context, outbox_id: str) -> None:
    """Try to send one just-queued message at once (best effort).

    Called after the change that queued it has committed, so nothing here may
    fail the caller: if sending or recording fails, the message stays queued
    for :func:`deliver`.
    """
    try:
        with ctx.store.transaction() as tx:
            entry = tx.get_outbox(outbox_id)
        if entry is None or entry.sent or entry.payload is None:
            return
        _record(ctx, entry, _attempt(ctx, lambda: _build(entry, None, None)))
    except Exception:
        return
