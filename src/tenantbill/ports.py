"""The ports: what tenantbill needs from the outside world.

Services depend only on these protocols. Anything that satisfies them plugs
in; the conformance suites in :mod:`tenantbill.testing` check that an adapter
behaves exactly like the built-in ones.

Conventions every :class:`Transaction` method follows:

- **Instants are aware.** Every ``datetime`` given to a store carries a UTC
  offset (any offset; stores compare instants, not wall-clock text) and
  every one it returns is aware. A naive ``datetime`` is a caller's bug; a
  store may refuse it with :class:`~tenantbill.errors.InvalidInput`.
- **Limits are counts.** A ``limit`` is ``>= 0``; ``0`` (or, defensively, a
  negative number) returns nothing.
- **Refusals leave the transaction usable.** A method that refuses a write
  (``EmailTaken``, ``AlreadyMember``, ``NumberTaken``, ``AlreadyBilled``,
  :class:`DuplicateId`, an outbox key already queued) changes nothing and
  the transaction goes on: a SQL store must not let the database abort it.
- **Workers may share one store.** Everything above holds between threads
  and, for a store that several processes can open (the SQL store), between
  processes: the SQL store keeps it with the database's locks, the in-memory
  store (one process) with its one lock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from tenantbill.errors import TenantbillError

if TYPE_CHECKING:
    from tenantbill.domain.accounts import Account, AuditEvent, Invitation, Membership, Role, User
    from tenantbill.domain.events import Event
    from tenantbill.domain.invoices import Invoice, LedgerEntry, Series
    from tenantbill.domain.outbox import OutboxMessage
    from tenantbill.domain.payments import Payment, Reminder
    from tenantbill.domain.subscriptions import Subscription, Usage

__all__ = [
    "Accounts",
    "Audit",
    "Clock",
    "DuplicateId",
    "Events",
    "Idempotency",
    "IdempotencyRecord",
    "Invitations",
    "InvoiceKey",
    "Invoices",
    "Ledger",
    "Mailer",
    "Memberships",
    "Metering",
    "NumberKind",
    "Outbox",
    "Payments",
    "Reminders",
    "Store",
    "Subscriptions",
    "Transaction",
    "UnitOfWork",
    "Users",
]

NumberKind = str
"""``"org"`` for organisation numbers, ``"bank"`` for bank account numbers."""

InvoiceKey = tuple[date, datetime, str]
"""Where an invoice sorts in :meth:`Invoices.search`: ``(issue_date, issued_at, id)``, newest last."""


class DuplicateId(TenantbillError, ValueError):
    """A record with this id is already stored (:meth:`Transaction.add_account`).

    Ids are random, so this is a caller's bug, never a user's mistake: the
    write is refused, nothing changes and the transaction can go on. Every
    store raises this same error; a SQL store does not let the database's
    own unique-violation error escape.
    """


@runtime_checkable
class Clock(Protocol):
    """Tells the current instant (aware, UTC)."""

    def now(self) -> datetime:
        """The current instant as an aware datetime."""
        ...


@runtime_checkable
class Mailer(Protocol):
    """Sends one e-mail. Recipients are the message's To/Cc/Bcc headers.

    Any exception means the attempt failed; the outbox keeps the message and
    retries it later.
    """

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise."""
        ...


@runtime_checkable
class Store(Protocol):
    """Persistent state, changed only inside a :class:`Transaction`."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Open a unit of work: committed when the block ends, rolled back if it raises.

        Transactions that write are serialized with respect to the rows they
        touch; a rolled-back transaction leaves no trace.
        """
        ...


class Users(Protocol):
    """People who log in: one user per e-mail address."""

    def add(self, user: User) -> None:
        """Insert a user; raise ``EmailTaken`` if the address (case-insensitive) exists."""
        ...

    def save(self, user: User) -> None:
        """Replace an existing user's record (same id, same address)."""
        ...

    def get(self, user_id: str) -> User | None:
        """The user with this id, or ``None``."""
        ...

    def by_email(self, email: str) -> User | None:
        """The user with this address (compared case-insensitively), or ``None``."""
        ...

    def erase(self, user_id: str, name: str) -> bool:
        """Replace the user's personal data: ``name`` for the name, no address, invoice e-mails off.

        The address is freed (:meth:`by_email` no longer finds it; a new user
        may take it) and the record keeps only its id. Whether there was such
        a user.
        """
        ...


class Accounts(Protocol):
    """Accounts (tenants) and the claims on their org and bank numbers."""

    def add(self, account: Account) -> None:
        """Insert an account (its series starts at 1); raise :class:`DuplicateId` if the id exists."""
        ...

    def save(self, account: Account) -> None:
        """Replace an existing account's record."""
        ...

    def get(self, account_id: str) -> Account | None:
        """The account with this id, or ``None``."""
        ...

    def of_user(self, user_id: str) -> list[Account]:
        """Every account the user is a member of, oldest membership first."""
        ...

    def memberships_of(self, user_id: str) -> list[tuple[Account, Role]]:
        """Every account the user is a member of, with the user's role there, oldest membership first."""
        ...

    def claim_number(self, kind: NumberKind, number: str, account_id: str, owner_id: str) -> None:
        """Record that ``account_id`` (owned by ``owner_id``) uses ``number``.

        Atomic: raises ``OrgNumberTaken`` (kind ``"org"``) or
        ``BankAccountTaken`` (kind ``"bank"``) if the number is held by an
        account of another owner, including one being claimed concurrently.
        """
        ...

    def release_number(self, kind: NumberKind, number: str, account_id: str) -> None:
        """Drop ``account_id``'s claim on ``number``."""
        ...

    def number_holders(self, kind: NumberKind, number: str) -> list[str]:
        """Ids of the accounts that hold a claim on ``number``."""
        ...

    def set_number_owner(self, kind: NumberKind, number: str, owner_id: str) -> None:
        """Change the owner recorded for ``number`` (on transfer of its only account)."""
        ...


class Memberships(Protocol):
    """Who has which role on which account."""

    def add(self, membership: Membership) -> None:
        """Insert a membership; raise ``AlreadyMember`` if the user already has one there."""
        ...

    def remove(self, account_id: str, user_id: str) -> bool:
        """Delete a membership that is not the owner's; whether one was deleted (atomic).

        The owner's membership is never deleted: ownership moves with
        :meth:`transfer_ownership` only.
        """
        ...

    def transfer_ownership(self, account_id: str, from_user_id: str, to_user_id: str) -> bool:
        """Make ``to_user_id`` (a member) the owner and ``from_user_id`` (the owner) a MEMBER.

        Atomic, together with the account's ``owner_id``: returns ``False``
        and changes nothing unless ``from_user_id`` is the owner and
        ``to_user_id`` another member at that moment, so an account has
        exactly one OWNER whatever runs concurrently.
        """
        ...

    def get(self, account_id: str, user_id: str) -> Membership | None:
        """The user's membership on the account, or ``None``."""
        ...

    def with_account(
        self, account_id: str, user_id: str, *, recent: bool = False
    ) -> tuple[Account | None, Membership | None]:
        """The account and the user's membership on it (each ``None`` if there is none), in one read.

        With ``recent=True`` the store may answer with what it read before
        (a store that does not keep such answers reads, as without it). It
        must then make sure, in this unit of work and before it writes
        anything or ends (also when it ends with a
        :class:`~tenantbill.errors.TenantbillError`), that neither row has
        changed since; if one has, it raises
        :class:`~tenantbill.errors.StaleRead` and writes nothing, and the
        caller runs the unit of work again without ``recent``.
        """
        ...

    def of_account(self, account_id: str) -> list[Membership]:
        """Every membership on the account, in the order they were created.

        Each carries its user's ``name`` and ``email`` (read with it, in one read).
        """
        ...


class Invitations(Protocol):
    """Invitations to an account, found by id or by the hash of their token."""

    def add(self, invitation: Invitation) -> None:
        """Insert an invitation."""
        ...

    def get(self, invitation_id: str) -> Invitation | None:
        """The invitation with this id, or ``None``."""
        ...

    def accept(self, invitation_id: str, token_hash: str, user_id: str) -> bool:
        """Mark the invitation accepted by ``user_id``, if it is still pending with this token hash.

        Atomic: of any number of concurrent calls for one invitation at most
        one returns ``True``; ``False`` (nothing changed) when it was accepted,
        revoked or re-sent with a new token meanwhile.
        """
        ...

    def revoke(self, invitation_id: str) -> bool:
        """Mark the invitation revoked if it is still pending; whether it was (atomic, as :meth:`accept`)."""
        ...

    def renew(self, invitation_id: str, token_hash: str, expires_at: datetime) -> bool:
        """Give a pending invitation a new token hash and expiry; whether it was pending (atomic)."""
        ...

    def by_token_hash(self, token_hash: str) -> Invitation | None:
        """The invitation whose token hashes to ``token_hash``, or ``None``."""
        ...

    def pending_of(self, account_id: str) -> list[Invitation]:
        """The account's pending invitations (expired ones included), oldest first."""
        ...

    def redact_email(self, email_key: str, replacement: str) -> None:
        """Replace the address of every invitation sent to ``email_key`` (a lower-cased address)."""
        ...


class Invoices(Protocol):
    """The number series, invoices and credit notes."""

    def series(self, account_id: str) -> Series:
        """The account's series (created with the account)."""
        ...

    def save_series(self, series: Series) -> None:
        """Replace the account's series configuration."""
        ...

    def lock_series(self, account_id: str) -> Series:
        """The account's series, locked until the transaction ends (another ``add_numbered`` waits).

        For reads that must not change before the number is taken, such as a
        customer's balance applied to the invoice.
        """
        ...

    def add_numbered(
        self, invoice: Invoice, messages: Sequence[OutboxMessage] = (), events: Sequence[Event] = ()
    ) -> Invoice:
        """Number ``invoice`` from its account's series, insert it, queue ``messages``; returns it as stored.

        ``events`` are appended with it, as :meth:`Events.append` does, each
        with the number the invoice got as ``data["number"]`` (an
        ``"invoice.issued"`` event says which number was issued).

        The one way an invoice or credit note gets its number. The store takes
        the series' next sequence (``Series.taken``) and formats the number
        with ``Series.format`` (the invoice's own ``sequence`` and ``number``
        are ignored); ``messages`` are the invoice's new outbox entries, added
        as :meth:`Outbox.add` does. Raises ``NotFound`` if the account has no
        series. Numbers are gapless: a rolled-back transaction gives its
        number back.

        The series stays locked until the transaction ends, so a store may do
        this in as few round trips as it can. When it is the unit of work's
        first write, a store may run it as one statement that commits on its
        own (the SQL store on PostgreSQL does); so call it as the unit of
        work's last write.
        """
        ...

    def get(self, invoice_id: str) -> Invoice | None:
        """The invoice with this id, or ``None``."""
        ...

    def lock(self, invoice_id: str) -> Invoice | None:
        """The invoice, locked until the transaction ends (another ``lock`` of it waits), or ``None``.

        Crediting locks the invoice it credits, so that two credit notes of
        one invoice are made one after the other and never credit more than
        its total.
        """
        ...

    def of_account(self, account_id: str) -> Iterator[Invoice]:
        """The account's invoices and credit notes in sequence order.

        The iterator reads lazily (a SQL store a page at a time), so it is
        valid only inside the transaction that made it: iterate it there, or
        make a list there. Iterating it after the transaction ended raises
        ``RuntimeError``.
        """
        ...

    def credit_notes_of(self, invoice_id: str) -> list[Invoice]:
        """The credit notes that credit ``invoice_id``."""
        ...

    def search(
        self,
        account_id: str,
        *,
        received: bool = False,
        customer: str | None = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        before: InvoiceKey | None = None,
        limit: int = 50,
        status: str | None = None,
        overdue_on: date | None = None,
    ) -> list[Invoice]:
        """Up to ``limit`` invoices and credit notes, newest first (by :data:`InvoiceKey`, descending).

        Those the account issued, or with ``received`` those billed to it
        (``customer == account_id``) by any account. ``customer`` keeps the
        ones billed to that customer key; ``issued_from`` and ``issued_to``
        bound the issue date (both inclusive); ``before`` keeps those that
        sort before that key (the last one of the previous page); ``status``
        keeps those whose :attr:`Invoice.status` has that value (``"open"``,
        ``"paid"``, …); ``overdue_on`` keeps the invoices overdue on that day
        (open or partly paid, due before it). A store reads one page from an
        index, however many invoices there are.
        """
        ...

    def by_number(self, account_id: str, number: str) -> Invoice | None:
        """The account's invoice or credit note with this number (the newest, if a new prefix made two)."""
        ...


class Payments(Protocol):
    """Payments, and what payments and credit notes have settled on each invoice."""

    def add(self, payment: Payment) -> bool:
        """Insert ``payment``; ``False`` (nothing written) if the account has one with its ``reference``.

        References are unique per account whatever races (a unique index): a
        bank statement imported twice records each payment once.
        """
        ...

    def by_reference(self, account_id: str, reference: str) -> Payment | None:
        """The account's payment with this bank reference, or ``None``."""
        ...

    def of_invoice(self, invoice_id: str) -> list[Payment]:
        """The payments of an invoice, in the order they were registered."""
        ...

    def settle(self, invoice_id: str, paid: Decimal, credited: Decimal) -> None:
        """Set what payments (``paid``) and credit notes (``credited``) have settled on the invoice.

        Only the invoice's :attr:`~Invoice.paid` and :attr:`~Invoice.credited`
        (and the status they make) change. Call it with the invoice locked
        (:meth:`Invoices.lock`) in this transaction.
        """
        ...

    def invoice_by_sequence(self, account_id: str, sequence: int) -> Invoice | None:
        """The account's invoice or credit note with this sequence (a KID names it), or ``None``."""
        ...

    def overdue(
        self, account_id: str, as_of: date, *, after: tuple[date, str] | None = None, limit: int = 100
    ) -> list[Invoice]:
        """Up to ``limit`` invoices overdue on ``as_of`` (open or partly paid, due before it).

        Oldest due date first, by ``(due_date, id)``; ``after`` keeps those
        that sort after that key (the last of the previous page). Credit
        notes are never overdue.
        """
        ...


class Reminders(Protocol):
    """The payment reminders sent."""

    def add(self, reminder: Reminder) -> bool:
        """Insert ``reminder``; ``False`` (nothing written) if the invoice has one sent on the same day."""
        ...

    def of_invoice(self, invoice_id: str) -> list[Reminder]:
        """The reminders of an invoice, oldest first."""
        ...


class Ledger(Protocol):
    """Each customer's balance at an account: prepayments, goodwill, credit notes, credit applied."""

    def add(self, entry: LedgerEntry) -> None:
        """Append an entry to a customer's balance ledger."""
        ...

    def entries(self, account_id: str, customer_key: str) -> list[LedgerEntry]:
        """The ledger of ``customer_key`` at ``account_id``, oldest first."""
        ...

    def balance(self, account_id: str, customer_key: str, currency: str) -> Decimal:
        """The sum of the ledger entries in ``currency``."""
        ...


class Subscriptions(Protocol):
    """Subscriptions, their usage and what the billing run has billed."""

    def add(self, subscription: Subscription) -> None:
        """Insert a subscription."""
        ...

    def save(self, subscription: Subscription) -> None:
        """Replace an existing subscription's record."""
        ...

    def get(self, subscription_id: str) -> Subscription | None:
        """The subscription with this id, or ``None``."""
        ...

    def of_account(self, account_id: str) -> list[Subscription]:
        """The subscriptions the account provides or is the customer of, in order of id."""
        ...

    def exists_between(self, provider_id: str, customer_id: str) -> bool:
        """Whether any subscription (ended ones included) bills ``customer_id`` for ``provider_id``."""
        ...

    def due_ids(self, as_of: date, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` ids (ascending, above ``after``) of subscriptions with work due by ``as_of``.

        A plain read, without locks: several workers may list the same ids.
        Whoever bills one must :meth:`lock_subscription` it and check again.
        """
        ...

    def lock_next_due(self, as_of: date, after: str | None) -> Subscription | None:
        """Lock and return the first subscription (by id, above ``after``) with work due by ``as_of``.

        Only subscriptions no other transaction holds are considered: one
        being billed by another worker is skipped, not waited for (on
        PostgreSQL: ``FOR UPDATE SKIP LOCKED``). ``None`` if there is none.
        The lock lasts until the transaction ends. This is how billing workers
        share a run: each takes the next subscription nobody is working on.
        """
        ...

    def lock(self, subscription_id: str, *, wait: bool = False) -> Subscription | None:
        """Lock the subscription until the transaction ends and return it as committed now.

        ``None`` if there is no such subscription or, with ``wait=False``,
        if another transaction holds its lock (on PostgreSQL: ``FOR UPDATE
        SKIP LOCKED``). That other transaction is working on it: the caller
        moves on, and comes back with ``wait=True`` to wait for the lock if
        it must be sure. A store whose write transactions are serialized
        anyway (SQLite, memory) never finds it held.
        """
        ...

    def add_usage(self, usage: Usage) -> None:
        """Record metered usage or a one-off adjustment.

        A usage with a ``key`` already recorded for its subscription raises
        :class:`DuplicateId` (and changes nothing); record keyed usage with
        :meth:`Metering.add` instead, which skips such keys.
        """
        ...

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        """The subscription's usage with ``start <= on < end``, in the order recorded."""
        ...

    def mark_billed(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        """Record that the subscription was billed for ``due``; raise ``AlreadyBilled`` if it was.

        Atomic, also against a concurrent mark of the same (subscription, due)
        in another process; the refusal leaves the transaction usable.
        """
        ...


class Metering(Protocol):
    """Keyed usage: each ``(subscription_id, key)`` is recorded at most once, also under races."""

    def add(self, usages: Sequence[Usage]) -> set[tuple[str, str]]:
        """Record every usage whose ``(subscription_id, key)`` is not recorded yet; those pairs.

        Every usage has a ``key``. One whose key is recorded for its
        subscription (by an earlier call, a concurrent transaction that
        committed, or earlier in ``usages``) is skipped, not refused: the
        returned set holds the pairs recorded now, so ``len(usages) -
        len(result)`` were duplicates. Atomic per key: of concurrent
        transactions recording one key, exactly one records it (a later one
        waits for an earlier one to end, then skips it if it committed).
        Recorded usage is read back by :meth:`Subscriptions.usage_between`,
        in the order of ``usages``. Meant for batches: a store writes them
        in as few round trips as it can.
        """
        ...

    def by_key(self, subscription_id: str, key: str) -> Usage | None:
        """The usage recorded with ``key`` for the subscription, or ``None``."""
        ...


class Outbox(Protocol):
    """E-mails queued in the transaction of the change they report, and their delivery state."""

    def add(self, message: OutboxMessage) -> bool:
        """Queue a message; ``False`` (and nothing queued) if its key is already in the outbox."""
        ...

    def save(self, message: OutboxMessage) -> None:
        """Replace a queued message's delivery state, and with it any claim on it.

        The delivery state is ``next_attempt_at``, ``attempts``,
        ``last_error``, ``sent_at`` and ``dropped_at``. Saving a message as
        sent (``sent_at``) or dropped (``dropped_at``) erases its stored
        ``payload`` in the same write (it may hold a secret, such as an
        invitation token); a drop, once stored, stays. Otherwise the message
        is immutable once queued: its ``key`` (the idempotency key the
        outbox is unique on), ``recipient``, ``created_at``, ``invoice_id``
        and ``payload`` stay as they were added, whatever ``message`` says.
        Raises ``NotFound`` if there is no message with its id.
        """
        ...

    def get(self, message_id: str) -> OutboxMessage | None:
        """The outbox entry with this id, or ``None``."""
        ...

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Up to ``limit`` unsent messages whose next attempt is due at ``now``, oldest first.

        A plain read: it claims nothing. Claimed messages are not due until
        their lease ends (see :meth:`claim_outbox`).
        """
        ...

    def claim(
        self, now: datetime, limit: int, lease_until: datetime, *, message_id: str | None = None
    ) -> list[OutboxMessage]:
        """Take up to ``limit`` due, unsent messages for this worker until ``lease_until``.

        Atomically, also against other processes, the oldest messages due at
        ``now`` (as :meth:`due_outbox` orders them) get ``next_attempt_at =
        lease_until`` and are returned as stored now, in that order. A
        message claimed (and not yet released) is not due, so no other claim
        takes it until the lease ends; a message claimed by a concurrent
        transaction is skipped, not waited for. The worker then sends each and
        records the outcome with :meth:`save_outbox`, which ends the claim.
        If the worker dies instead, its messages fall due again at
        ``lease_until`` (at least once delivery). Sent messages are never
        claimed. With ``message_id``, only that message is considered.
        """
        ...

    def of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        """The messages queued for an invoice."""
        ...


class Audit(Protocol):
    """The audit trail of each account."""

    def add(self, event: AuditEvent) -> None:
        """Append an event to the account's audit trail."""
        ...

    def of_account(self, account_id: str) -> list[AuditEvent]:
        """The account's audit trail, oldest first."""
        ...

    def redact(self, target_key: str, replacement: str) -> None:
        """Replace the target of every record whose target, lower-cased, is ``target_key`` (an address)."""
        ...


class Events(Protocol):
    """What happened, in the order it committed: the feed a host forwards to webhooks or a queue."""

    def append(self, event: Event) -> None:
        """Record ``event`` in this unit of work; it is read only once the unit of work commits.

        The store gives it the next position (the event's own is ignored).
        Positions grow in commit order: once an event at position ``p`` can
        be read, every event that will ever be read below ``p`` can be read
        too, so a reader that remembers the last position it saw misses none.
        Append as late as the unit of work allows: a store may serialize
        appends until the unit of work ends (the SQL store on PostgreSQL does).
        """
        ...

    def read(self, after: int, limit: int) -> list[Event]:
        """Up to ``limit`` committed events with a position above ``after``, in position order."""
        ...


class IdempotencyRecord(Protocol):
    """A claimed idempotency key: what the first call was (``fingerprint``) and what it made (``result``)."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def result(self) -> str | None: ...


class Idempotency(Protocol):
    """Keys that make a call happen once: an issue's idempotency key, a usage event's key."""

    def claim(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """Claim ``key`` in ``scope`` for a call whose arguments hash to ``fingerprint``.

        ``None`` when this transaction claimed it now (a concurrent claim of
        the same key waits until this transaction ends, then sees it); else
        the record of the call that claimed it first. Atomic: of concurrent
        claims of one key, exactly one gets ``None``.
        """
        ...

    def complete(self, scope: str, key: str, result: str) -> None:
        """Record what the call that claimed ``key`` made (an id)."""
        ...


class Transaction(Protocol):
    """One unit of work on a :class:`Store`: its repositories. Reads see the transaction's own writes.

    Each repository is a small protocol of its own, with its own conformance
    test class in :mod:`tenantbill.testing.store`, so an adapter can be
    written and checked one repository at a time.
    """

    @property
    def users(self) -> Users:
        """The users repository of this unit of work."""
        ...

    @property
    def accounts(self) -> Accounts:
        """The accounts repository of this unit of work."""
        ...

    @property
    def memberships(self) -> Memberships:
        """The memberships repository of this unit of work."""
        ...

    @property
    def invitations(self) -> Invitations:
        """The invitations repository of this unit of work."""
        ...

    @property
    def invoices(self) -> Invoices:
        """The invoices repository of this unit of work."""
        ...

    @property
    def ledger(self) -> Ledger:
        """The customers' balance ledger of this unit of work."""
        ...

    @property
    def payments(self) -> Payments:
        """The payments of this unit of work."""
        ...

    @property
    def reminders(self) -> Reminders:
        """The payment reminders of this unit of work."""
        ...

    @property
    def subscriptions(self) -> Subscriptions:
        """The subscriptions repository of this unit of work."""
        ...

    @property
    def metering(self) -> Metering:
        """The keyed usage of this unit of work."""
        ...

    @property
    def outbox(self) -> Outbox:
        """The outbox repository of this unit of work."""
        ...

    @property
    def idempotency(self) -> Idempotency:
        """The idempotency keys of this unit of work."""
        ...

    @property
    def audit(self) -> Audit:
        """The audit repository of this unit of work."""
        ...

    @property
    def events(self) -> Events:
        """The events of this unit of work."""
        ...


UnitOfWork = Transaction
"""The unit of work of a :class:`Store` (another name for :class:`Transaction`)."""
