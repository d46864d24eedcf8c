"""The ports: what tenantbill needs from the outside world.

Services depend only on these protocols. Anything that satisfies them plugs
in; the conformance suites in :mod:`tenantbill.testing` check that an adapter
behaves exactly like the built-in ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tenantbill.domain.accounts import Account, AuditEvent, Invitation, Membership, User
    from tenantbill.domain.invoices import Invoice, LedgerEntry, Series
    from tenantbill.domain.outbox import OutboxMessage
    from tenantbill.domain.subscriptions import Subscription, Usage

__all__ = ["Clock", "Mailer", "NumberKind", "Store", "Transaction"]

NumberKind = str
"""``"org"`` for organisation numbers, ``"bank"`` for bank account numbers."""


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
        """Insert an account (its series starts at 1)."""
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

    def get_invoice(self, invoice_id: str) -> Invoice | None:
        """The invoice with this id, or ``None``."""
        ...

    def invoices_of_account(self, account_id: str) -> Iterator[Invoice]:
        """The account's invoices and credit notes in sequence order."""
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

    def due_subscription_ids(self, as_of: date, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` ids (ascending, above ``after``) of subscriptions with work due by ``as_of``."""
        ...

    def lock_subscription(self, subscription_id: str) -> Subscription | None:
        """Lock and return the subscription, or ``None`` if another worker holds it."""
        ...

    def add_usage(self, usage: Usage) -> None:
        """Record metered usage or a one-off adjustment."""
        ...

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        """The subscription's usage with ``start <= on < end``, in the order recorded."""
        ...

    def add_billing_mark(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        """Record that the subscription was billed for ``due``; raise ``AlreadyBilled`` if it was."""
        ...

    # the outbox
    def add_outbox(self, message: OutboxMessage) -> bool:
        """Queue a message; ``False`` (and nothing queued) if its key is already in the outbox."""
        ...

    def save_outbox(self, message: OutboxMessage) -> None:
        """Replace a queued message's delivery state."""
        ...

    def get_outbox(self, message_id: str) -> OutboxMessage | None:
        """The outbox entry with this id, or ``None``."""
        ...

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Up to ``limit`` unsent messages whose next attempt is due at ``now``, oldest first."""
        ...

    def outbox_of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        """The messages queued for an invoice."""
        ...
