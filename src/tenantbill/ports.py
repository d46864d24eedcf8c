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
    from tenantbill.domain.accounts import Account, AuditEvent, Invitation, Membership, User
    from tenantbill.domain.invoices import Invoice, LedgerEntry, Series
    from tenantbill.domain.outbox import OutboxMessage
    from tenantbill.domain.subscriptions import Subscription, Usage

__all__ = ["Clock", "DuplicateId", "Mailer", "NumberKind", "OneStatementIssuer", "Store", "Transaction"]

NumberKind = str
"""``"org"`` for organisation numbers, ``"bank"`` for bank account numbers."""


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


@runtime_checkable
class OneStatementIssuer(Protocol):
    """A store that can number, store and queue an invoice in one statement of its own (optional).

    An invoice's number comes from its account's series, which stays locked
    until the issuing transaction commits: that lock is what every issuer on
    the account waits for. A store that can do the whole write (take the
    number, insert the invoice, queue its e-mails) as one statement that
    commits on the server, with no round trip to the client while the series
    is locked, says so with ``issues_in_one_statement``; ``app.invoices.issue``
    then does its reads and checks in one transaction and the write with
    :meth:`issue_invoice`. ``SqlStore`` on PostgreSQL does; a store without
    this capability is used through :class:`Transaction` alone.
    """

    @property
    def issues_in_one_statement(self) -> bool:
        """Whether :meth:`issue_invoice` is one statement that commits on its own."""
        ...

    def issue_invoice(self, invoice: Invoice, messages: Sequence[OutboxMessage]) -> Invoice:
        """In a transaction of its own: number ``invoice`` (as
        :meth:`Transaction.add_invoice_numbered`), store it and queue ``messages``
        (new outbox entries of that invoice); returns the invoice as stored.

        Raises ``NotFound`` if the account has no series; on any failure
        nothing is stored.
        """
        ...


class Transaction(Protocol):
    """One unit of work on a :class:`Store`. Reads see the transaction's own writes."""

    # users
    def add_user(self, user: User) -> None:
        """Insert a user; raise ``EmailTaken`` if the address (case-insensitive) exists."""
        ...

    def save_user(self, user: User) -> None:
        """Replace an existing user's record (same id, same address)."""
        ...

    def get_user(self, user_id: str) -> User | None:
        """The user with this id, or ``None``."""
        ...

    def user_by_email(self, email: str) -> User | None:
        """The user with this address (compared case-insensitively), or ``None``."""
        ...

    # accounts and memberships
    def add_account(self, account: Account) -> None:
        """Insert an account (its series starts at 1); raise :class:`DuplicateId` if the id exists."""
        ...

    def save_account(self, account: Account) -> None:
        """Replace an existing account's record."""
        ...

    def get_account(self, account_id: str) -> Account | None:
        """The account with this id, or ``None``."""
        ...

    def accounts_of_user(self, user_id: str) -> list[Account]:
        """Every account the user is a member of, oldest membership first."""
        ...

    def add_membership(self, membership: Membership) -> None:
        """Insert a membership; raise ``AlreadyMember`` if the user already has one there."""
        ...

    def save_membership(self, membership: Membership) -> None:
        """Change the role of an existing membership."""
        ...

    def remove_membership(self, account_id: str, user_id: str) -> None:
        """Delete a membership (no error if there is none)."""
        ...

    def get_membership(self, account_id: str, user_id: str) -> Membership | None:
        """The user's membership on the account, or ``None``."""
        ...

    def account_and_membership(
        self, account_id: str, user_id: str
    ) -> tuple[Account | None, Membership | None]:
        """The account and the user's membership on it (each ``None`` if there is none), in one read."""
        ...

    def memberships_of_account(self, account_id: str) -> list[Membership]:
        """Every membership on the account, in the order they were created."""
        ...

    # uniqueness claims for org and bank numbers
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

    # invitations
    def add_invitation(self, invitation: Invitation) -> None:
        """Insert an invitation."""
        ...

    def save_invitation(self, invitation: Invitation) -> None:
        """Replace an existing invitation's record."""
        ...

    def get_invitation(self, invitation_id: str) -> Invitation | None:
        """The invitation with this id, or ``None``."""
        ...

    def invitation_by_token_hash(self, token_hash: str) -> Invitation | None:
        """The invitation whose token hashes to ``token_hash``, or ``None``."""
        ...

    # audit trail
    def add_audit(self, event: AuditEvent) -> None:
        """Append an event to the account's audit trail."""
        ...

    def audit_of_account(self, account_id: str) -> list[AuditEvent]:
        """The account's audit trail, oldest first."""
        ...

    # invoice series, invoices and the balance ledger
    def get_series(self, account_id: str) -> Series:
        """The account's series (created with the account)."""
        ...

    def save_series(self, series: Series) -> None:
        """Replace the account's series configuration."""
        ...

    def allocate_sequence(self, account_id: str) -> int:
        """Take the next sequence of the account's series, locking it until the transaction ends."""
        ...

    def add_invoice(self, invoice: Invoice) -> None:
        """Insert an issued invoice or credit note."""
        ...

    def add_invoice_numbered(self, invoice: Invoice) -> Invoice:
        """Number ``invoice`` from its account's series and insert it; returns it as stored.

        The same as ``allocate_sequence(invoice.account_id)``, then
        ``add_invoice`` with that ``sequence`` and its ``number`` formatted by
        the series (the invoice's own ``sequence`` and ``number`` are
        ignored); raises ``NotFound`` if the account has no series. The
        series stays locked until the transaction ends, so a store should do
        this in as few round trips as it can (the SQL store on PostgreSQL: one
        statement).
        """
        ...

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice with this id, or ``None``."""
        ...

    def invoices_of_account(self, account_id: str) -> Iterator[Invoice]:
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

    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        """Append an entry to a customer's balance ledger."""
        ...

    def ledger(self, account_id: str, customer_key: str) -> list[LedgerEntry]:
        """The ledger of ``customer_key`` at ``account_id``, oldest first."""
        ...

    def balance(self, account_id: str, customer_key: str, currency: str) -> Decimal:
        """The sum of the ledger entries in ``currency``."""
        ...

    # subscriptions and usage
    def add_subscription(self, subscription: Subscription) -> None:
        """Insert a subscription."""
        ...

    def save_subscription(self, subscription: Subscription) -> None:
        """Replace an existing subscription's record."""
        ...

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        """The subscription with this id, or ``None``."""
        ...

    def subscriptions_of_account(self, account_id: str) -> list[Subscription]:
        """The subscriptions the account provides or is the customer of, in order of id."""
        ...

    def has_subscription(self, provider_id: str, customer_id: str) -> bool:
        """Whether any subscription (ended ones included) bills ``customer_id`` for ``provider_id``."""
        ...

    def due_subscription_ids(self, as_of: date, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` ids (ascending, above ``after``) of subscriptions with work due by ``as_of``.

        A plain read, without locks: several workers may list the same ids.
        Whoever bills one must :meth:`lock_subscription` it and check again.
        """
        ...

    def lock_next_due_subscription(self, as_of: date, after: str | None) -> Subscription | None:
        """Lock and return the first subscription (by id, above ``after``) with work due by ``as_of``.

        Only subscriptions no other transaction holds are considered: one
        being billed by another worker is skipped, not waited for (on
        PostgreSQL: ``FOR UPDATE SKIP LOCKED``). ``None`` if there is none.
        The lock lasts until the transaction ends. This is how billing workers
        share a run: each takes the next subscription nobody is working on.
        """
        ...

    def lock_subscription(self, subscription_id: str, *, wait: bool = False) -> Subscription | None:
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
        """Record metered usage or a one-off adjustment."""
        ...

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        """The subscription's usage with ``start <= on < end``, in the order recorded."""
        ...

    def add_billing_mark(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        """Record that the subscription was billed for ``due``; raise ``AlreadyBilled`` if it was.

        Atomic, also against a concurrent mark of the same (subscription, due)
        in another process; the refusal leaves the transaction usable.
        """
        ...

    # the outbox
    def add_outbox(self, message: OutboxMessage) -> bool:
        """Queue a message; ``False`` (and nothing queued) if its key is already in the outbox."""
        ...

    def save_outbox(self, message: OutboxMessage) -> None:
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

    def get_outbox(self, message_id: str) -> OutboxMessage | None:
        """The outbox entry with this id, or ``None``."""
        ...

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Up to ``limit`` unsent messages whose next attempt is due at ``now``, oldest first.

        A plain read: it claims nothing. Claimed messages are not due until
        their lease ends (see :meth:`claim_outbox`).
        """
        ...

    def claim_outbox(
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

    def outbox_of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        """The messages queued for an invoice."""
        ...
