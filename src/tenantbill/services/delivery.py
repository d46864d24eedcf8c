"""The outbox path every e-mail takes: queued in a transaction, sent after commit.

A message is written to the outbox in the same transaction as the change it
reports (an issued invoice, an invitation), so it cannot be lost. Delivery
sends it through the :class:`~tenantbill.ports.Mailer` and then marks it sent;
a failed send stays queued with its error and is retried after a back-off. A
crash between sending and marking means the message is sent again on the next
run (at least once); its ``Message-ID`` is derived from the idempotency key,
so the receiving side can drop the duplicate.

Several workers (threads, processes, machines) may deliver at once: each
*claims* a small batch with :meth:`~tenantbill.ports.Transaction.claim_outbox`,
which moves the batch's next attempt to the end of a lease, so no other
worker takes those messages while it sends them. A worker that stops with an
exception gives its unsent claims back at once; one that is killed leaves
them to fall due again when the lease ends (at least once, same Message-ID).
A worker that finds its lease over before it sends a message leaves the
message to whoever claims it next.

Secrets are not kept: once a message is sent, the store erases its payload
(the bytes of an invitation e-mail, which hold the token) in the same write.
A queued invitation e-mail whose invitation was revoked, accepted, replaced
by a newer one or has expired is *dropped* instead: never sent, payload
erased. :class:`~tenantbill.services.access.AccessService` drops it in the
transaction that changes the invitation, and delivery checks again when it
claims a message (a message claimed just before a revocation may still go
out, with a token that no longer works).
"""

from __future__ import annotations

import email.policy
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses

import attrs

from tenantbill.domain.accounts import Account
from tenantbill.domain.invoices import Invoice
from tenantbill.domain.outbox import (
    LEASE,
    OutboxMessage,
    invitation_of_key,
    invitation_withdrawn,
    reminder_of_key,
)
from tenantbill.domain.payments import Reminder
from tenantbill.errors import ConfigurationError, InvalidInput
from tenantbill.ports import Mailer, Transaction
from tenantbill.render.headers import mailbox, parse_mailbox
from tenantbill.services.base import PLACEHOLDER_SENDER, Context

__all__ = [
    "LEASE",
    "NO_MAILER",
    "DeliveryReport",
    "MessageBuilder",
    "Reminding",
    "deliver",
    "deliver_now",
    "drop_queued",
    "message_id",
    "outbox_id",
    "queue_message",
]

MessageBuilder = Callable[[OutboxMessage, Invoice, "Reminding | None"], EmailMessage]
"""Builds the e-mail of an invoice outbox entry at delivery time.

It is given the entry, its invoice and, for a payment reminder's e-mail
(key ``reminder:<id>:<address>``), what was read for it with the claim.
"""


@attrs.frozen
class Reminding:
    """What a payment reminder's e-mail is built from besides its invoice, read with the claim.

    ``reminder`` is ``None`` if the store has no reminder of the entry's key;
    ``account`` is the issuing account (its late-payment interest), ``None``
    if it is not in the store.
    """

    reminder: Reminder | None
    account: Account | None


Loaded = tuple[OutboxMessage, Invoice | None, Reminding | None]
"""A claimed message with what it is built from."""

RECORD_EVERY = 25
"""Outcomes written per transaction: a crash re-sends at most this many (same Message-ID)."""

_BATCH = 50
"""Messages claimed at a time: small, so that several workers share the queue evenly."""


NO_MAILER = (
    "this Tenantbill has no mailer, so it cannot deliver: e-mails stay queued. Build the app that "
    "delivers with one, e.g. Tenantbill(store=..., mailer=SmtpMailer('smtp.example.com', 587, "
    "username=..., password=...), sender='Acme <faktura@acme.no>') (tenantbill.smtp), or run "
    "`tenantbill deliver --db URL --smtp HOST:PORT --sender ...`; tests use tenantbill.memory.MemoryMailer()"
)


@attrs.frozen
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()
    dropped: int = 0
    """Messages not sent because what they announced was withdrawn (e.g. a revoked invitation)."""


def message_id(key: str, sender: str) -> str:
    """A stable ``Message-ID`` for an idempotency key, on the domain of ``sender`` (RFC 5322).

    ``sender`` is the message's From (``Name <address>`` or an address): the
    same message always has the same id, and the id's right-hand side is a
    domain the sender controls, as receivers expect.
    """
    _, address = parse_mailbox(sender, "sender")
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{address.rpartition('@')[2]}>"


def outbox_id(key: str) -> str:
    """The id :func:`queue_message` gives the message it queues with ``key``: found again from the key."""
    return hashlib.sha256(b"tenantbill outbox:" + key.encode()).hexdigest()[:32]


def queue_message(tx: Transaction, ctx: Context, *, key: str, recipient: str, message: EmailMessage) -> str:
    """Put a ready message in the outbox (inside the caller's transaction); returns its id.

    The id derives from ``key`` (:func:`outbox_id`), so :func:`drop_queued`
    finds the message from its key alone. The payload is erased once the
    message is sent or dropped.
    """
    now = ctx.now()
    entry = OutboxMessage(
        id=outbox_id(key),
        key=key,
        recipient=recipient,
        created_at=now,
        next_attempt_at=now,
        payload=message.as_bytes(policy=email.policy.SMTP),
    )
    tx.outbox.add(entry)
    return entry.id


def _with_sender(payload: bytes, sender: str | None) -> bytes:
    """``payload`` with a placeholder From (queued by an app with no ``sender=``) replaced by ``sender``.

    An app without a mailer queues invitation e-mails with the placeholder;
    the worker that delivers them has a real sender, which goes out instead.
    """
    if sender is None or not payload.startswith(_PLACEHOLDER_FROM):
        return payload
    value = mailbox("From", *parse_mailbox(sender, "sender")).replace("\n", "\r\n")
    return b"From: " + value.encode("ascii") + payload[len(_PLACEHOLDER_FROM) - 2 :]


_PLACEHOLDER_FROM = f"From: {PLACEHOLDER_SENDER}\r\n".encode("ascii")


def _sender_of(message: EmailMessage, fallback: str) -> str:
    """The From address of ``message`` (its Message-ID's domain), or ``fallback`` if there is not one."""
    raw = [str(value) for name, value in message.raw_items() if name.lower() == "from"]
    found = [address for _, address in getaddresses(raw) if "@" in address]
    return found[0] if len(found) == 1 else fallback


def _build(
    ctx: Context,
    entry: OutboxMessage,
    invoice: Invoice | None,
    reminding: Reminding | None,
    builder: MessageBuilder | None,
) -> EmailMessage:
    if entry.payload is not None:
        payload = _with_sender(entry.payload, ctx.sender)
        message = BytesParser(policy=email.policy.default).parsebytes(payload)
        assert isinstance(message, EmailMessage)
    elif invoice is not None and builder is not None:
        message = builder(entry, invoice, reminding)
    else:  # pragma: no cover - an invoice entry always has its invoice and a builder
        raise RuntimeError(f"outbox entry {entry.id} has neither a payload nor an invoice")
    present = {name.lower() for name, _ in message.raw_items()}
    if "x-tenantbill-key" not in present:  # the builder may have set both already
        if "message-id" in present:
            del message["Message-ID"]
        message["Message-ID"] = message_id(entry.key, _sender_of(message, ctx.from_address))
        message["X-Tenantbill-Key"] = entry.key
    return message


def drop_queued(tx: Transaction, ctx: Context, key: str, reason: str) -> bool:
    """Drop the unsent message :func:`queue_message` queued with ``key``: never sent, payload erased.

    In the caller's transaction; ``reason`` goes in the message's
    ``last_error`` ("not sent: <reason>"). False if there is no such
    message or it is sent or dropped already.
    """
    entry = tx.outbox.get(outbox_id(key))
    if entry is None or entry.key != key or entry.done:
        return False
    tx.outbox.save(entry.withdrawn(reason, ctx.now()))
    return True


def _withdrawn(tx: Transaction, entry: OutboxMessage, now: datetime) -> str | None:
    """Why the message must not be sent any more, or ``None``: invitation e-mails need a live invitation."""
    invitation_id = invitation_of_key(entry.key)
    if invitation_id is None:
        return None
    return invitation_withdrawn(tx.invitations.get(invitation_id), now)


def _load_batch(tx: Transaction, entries: list[OutboxMessage], now: datetime) -> tuple[list[Loaded], int]:
    """The claimed messages to send, each with what it is built from; those withdrawn are dropped (counted).

    An invoice e-mail gets its invoice; a payment reminder's e-mail also its
    reminder and the issuing account, all read here in the claim's
    transaction (each invoice's reminders and each account once a batch).
    """
    invoices: dict[str, Invoice | None] = {}
    reminders: dict[str, Reminder] = {}
    reminded: set[str] = set()
    accounts: dict[str, Account | None] = {}
    loaded: list[Loaded] = []
    for entry in entries:
        reason = _withdrawn(tx, entry, now)
        if reason is not None:
            tx.outbox.save(entry.withdrawn(reason, now))
            continue
        invoice_id = entry.invoice_id
        if invoice_id is None:
            loaded.append((entry, None, None))
            continue
        if invoice_id in invoices:
            invoice = invoices[invoice_id]
        else:
            invoice = invoices[invoice_id] = tx.invoices.get(invoice_id)
        reminder_id = reminder_of_key(entry.key)
        if reminder_id is None or invoice is None:
            loaded.append((entry, invoice, None))
            continue
        if invoice_id not in reminded:
            reminded.add(invoice_id)
            reminders.update((reminder.id, reminder) for reminder in tx.reminders.of_invoice(invoice_id))
        account_id = invoice.account_id
        if account_id in accounts:
            account = accounts[account_id]
        else:
            account = accounts[account_id] = tx.accounts.get(account_id)
        loaded.append((entry, invoice, Reminding(reminders.get(reminder_id), account)))
    return loaded, len(entries) - len(loaded)


def _attempt(mailer: Mailer, build: Callable[[], EmailMessage]) -> str | None:
    try:
        message = build()
    except Exception as error:
        return f"could not build the message: {type(error).__name__}: {error}"
    try:
        mailer.send(message)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _record(ctx: Context, outcomes: list[tuple[OutboxMessage, str | None]]) -> None:
    """Write the outcome of several attempts in one transaction."""
    now = ctx.now()
    with ctx.store.transaction() as tx:
        _save_outcomes(tx, outcomes, now)


def _save_outcomes(tx: Transaction, outcomes: list[tuple[OutboxMessage, str | None]], now: datetime) -> None:
    """Write the outcome of several attempts in the caller's transaction."""
    for entry, error in outcomes:
        tx.outbox.save(entry.after_attempt(error, now))


def deliver(
    ctx: Context, invoice_builder: MessageBuilder | None = None, *, lease: timedelta = LEASE
) -> DeliveryReport:
    """Send every queued message that is due; failures stay queued with a back-off.

    Raises :class:`~tenantbill.errors.ConfigurationError` if the app has no
    mailer (nothing is claimed or reported sent). Claims the due messages a
    batch at a time (see the module's docstring),
    so any number of workers may call this at once: each message is sent by
    one of them. Messages that fail are not due again before their back-off
    has passed, so one call tries each message at most once.
    """
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise InvalidInput("lease must be a positive timedelta")
    mailer = ctx.mailer
    if mailer is None:
        raise ConfigurationError(NO_MAILER)
    sent = failed = dropped = 0
    errors: list[str] = []
    # The last outcomes of a batch are written in the transaction that claims the next batch
    # (one commit for both); at most RECORD_EVERY are ever sent but not yet recorded.
    unrecorded: list[tuple[OutboxMessage, str | None]] = []
    while True:
        now = ctx.now()
        try:
            with ctx.store.transaction() as tx:
                _save_outcomes(tx, unrecorded, now)
                claimed = tx.outbox.claim(now, _BATCH, now + lease)
                loaded, withdrawn = _load_batch(tx, claimed, now)
        except BaseException:
            _release(ctx, [entry for entry, _ in unrecorded])
            raise
        sent, failed = _tally(unrecorded, sent, failed, errors)
        unrecorded = []
        if not claimed:
            return DeliveryReport(sent=sent, failed=failed, errors=tuple(errors), dropped=dropped)
        dropped += withdrawn
        recorded = 0
        pending: list[tuple[OutboxMessage, str | None]] = []
        try:
            for entry, invoice, reminding in loaded:
                if entry.is_due(ctx.now()):
                    # Due again, so the lease is over: another worker may have claimed the rest.
                    break
                pending.append(
                    (
                        entry,
                        _attempt(
                            mailer,
                            lambda: _build(ctx, entry, invoice, reminding, invoice_builder),  # noqa: B023
                        ),
                    )
                )
                if len(pending) == RECORD_EVERY:
                    _record(ctx, pending)
                    sent, failed = _tally(pending, sent, failed, errors)
                    recorded, pending = recorded + len(pending), []
        except BaseException:
            # Sent but not recorded messages go back too: sent again later (at least once).
            _release(ctx, [entry for entry, _, _ in loaded[recorded:]])
            raise
        unrecorded = pending


def _tally(
    outcomes: list[tuple[OutboxMessage, str | None]], sent: int, failed: int, errors: list[str]
) -> tuple[int, int]:
    """``sent`` and ``failed`` with ``outcomes`` counted in; each failure's line added to ``errors``."""
    failures = [f"{entry.recipient}: {error}" for entry, error in outcomes if error is not None]
    errors.extend(failures)
    return sent + len(outcomes) - len(failures), failed + len(failures)


def _release(ctx: Context, claimed: list[OutboxMessage]) -> None:
    """Give back claims not acted on, so the messages are due at once rather than when the lease ends.

    Only claims whose lease still runs are ours to give back. Best effort: the
    caller is on its way out with an exception, which must not be replaced by
    one from here (if the store is what failed, the lease ends anyway).
    """
    try:
        now = ctx.now()
        mine = [entry for entry in claimed if not entry.is_due(now)]
        if mine:
            with ctx.store.transaction() as tx:
                for entry in mine:
                    tx.outbox.save(entry.released(now))
    except Exception:
        return


def deliver_now(ctx: Context, outbox_id: str) -> None:
    """Try to send one just-queued message at once (best effort).

    Called after the change that queued it has committed, so nothing here may
    fail the caller: if sending or recording fails, the message stays queued
    for :func:`deliver`. The message is claimed first, so a :func:`deliver`
    running at the same time does not send it too.
    """
    mailer = ctx.mailer
    if mailer is None:
        return  # nothing can be sent here; deliver() on an app with a mailer sends it
    try:
        now = ctx.now()
        with ctx.store.transaction() as tx:
            entry = tx.outbox.get(outbox_id)
            if entry is None or entry.done or entry.payload is None:
                return
            claimed = tx.outbox.claim(now, 1, now + LEASE, message_id=outbox_id)
            loaded, _ = _load_batch(tx, claimed, now)
        if not loaded:
            return  # another worker has it, it is waiting for a retry, or it was withdrawn
        [(entry, _, _)] = loaded
        try:
            _record(ctx, [(entry, _attempt(mailer, lambda: _build(ctx, entry, None, None, None)))])
        except BaseException:
            _release(ctx, claimed)
            raise
    except Exception:
        return
