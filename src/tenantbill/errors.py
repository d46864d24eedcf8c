"""The errors tenantbill raises on purpose.

Every one derives from :class:`TenantbillError` and carries a message a user
can act on. Errors about bad input also derive from :class:`ValueError`, so
callers that already catch ``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "AlreadyBilled",
    "AlreadyMember",
    "BankAccountTaken",
    "ConfigurationError",
    "CurrencyMismatch",
    "DeliveryError",
    "EInvoiceError",
    "EmailTaken",
    "IdempotencyConflict",
    "InvalidBankAccount",
    "InvalidEmail",
    "InvalidInput",
    "InvalidInvoice",
    "InvalidOrgNumber",
    "InvalidPeriod",
    "InvitationAlreadyUsed",
    "InvitationError",
    "InvitationExpired",
    "InvitationRevoked",
    "NotFound",
    "NumberTaken",
    "OrgNumberTaken",
    "OwnerCannotLeave",
    "PermissionDenied",
    "SeriesError",
    "StaleRead",
    "StoreUnavailable",
    "TenantbillError",
    "number_taken",
]


class TenantbillError(Exception):
    """Base class of every error tenantbill raises on purpose."""


class ConfigurationError(TenantbillError):
    """:class:`~tenantbill.Tenantbill` was wired without what a call needs.

    Raised at construction for a real mailer without ``sender=``, and by
    ``app.billing.deliver()`` on an app built without a mailer; the message
    says what to pass.
    """


class InvalidInput(TenantbillError, ValueError):
    """A value given by the caller is malformed or out of range."""


class InvalidOrgNumber(InvalidInput):
    """An organisation number failed validation (length, format or check digit)."""


class InvalidBankAccount(InvalidInput):
    """A bank account number (Norwegian, Bankgiro, Plusgiro) or IBAN failed validation."""


class InvalidEmail(InvalidInput):
    """An e-mail address is not syntactically valid."""


class InvalidInvoice(InvalidInput):
    """An invoice draft, line or credit request breaks an invoicing rule."""


class EInvoiceError(InvalidInvoice):
    """An issued invoice cannot be exported as an EHF / Peppol e-invoice.

    The message names what is missing (the buyer's reference, org number or
    country, a VAT exemption reason, a tax exchange rate, the seller's org
    number or bank account) and where the host collects it. An issued
    invoice never changes: to send it as EHF, credit it and issue it again
    with the missing details.
    """


class IdempotencyConflict(InvalidInput):
    """An idempotency key was used before for a call with other arguments.

    The same key with the same arguments returns what the first call made;
    a key names one call, so other arguments need another key.
    """


class InvalidPeriod(InvalidInput):
    """A billing period or cycle argument is not usable (end before start, n < 0, …)."""


class SeriesError(InvalidInput):
    """An invoice series configuration would reuse or skip numbers."""


class PermissionDenied(TenantbillError):
    """The acting user's role on the account does not allow the action."""


class NotFound(TenantbillError, LookupError):
    """The account, user, invitation, invoice or subscription does not exist (or is not visible)."""


class NumberTaken(TenantbillError):
    """An org or bank account number already belongs to another owner's account."""


class OrgNumberTaken(NumberTaken):
    """The organisation number is used by an account owned by someone else."""


class BankAccountTaken(NumberTaken):
    """The bank account number is used by an account owned by someone else."""


class EmailTaken(TenantbillError):
    """A user with this e-mail address already exists."""


class AlreadyMember(TenantbillError):
    """The user already has a membership on the account."""


class OwnerCannotLeave(TenantbillError):
    """The owner cannot leave or be removed; transfer ownership first."""


class InvitationError(TenantbillError):
    """An invitation cannot be accepted."""


class InvitationExpired(InvitationError):
    """The invitation is past its expiry time."""


class InvitationRevoked(InvitationError):
    """The invitation was revoked by the account owner."""


class InvitationAlreadyUsed(InvitationError):
    """The invitation has already been accepted once."""


class DeliveryError(TenantbillError):
    """A mailer could not send a message (the outbox keeps it for a retry)."""


class CurrencyMismatch(InvalidInput):
    """Amounts in different currencies were combined."""


class AlreadyBilled(TenantbillError):
    """A subscription was already billed for this date (another run got there first)."""


class StoreUnavailable(TenantbillError):
    """The database could not be reached, or failed under the call (see :attr:`retryable`).

    A lost connection, a server that is down or restarting, a database locked
    beyond its busy timeout, a disk I/O error: the message names the database
    and what happened.

    :attr:`retryable` says whether the call may simply be made again. ``True``
    when nothing of it was committed: it failed before its transaction
    committed, which the database then rolls back. ``False`` when the outcome
    is unknown: the connection failed while committing (or while running a
    write that commits on its own), so the change may or may not be stored;
    look before repeating it, or repeat it with the same idempotency key.
    Either way the store itself stays usable: the next call opens a new
    connection once the database is back.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
        """Whether nothing of the failed call was committed, so it may be made again."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_store_unavailable, (str(self), self.retryable))


class StaleRead(TenantbillError):
    """A unit of work answered from what its store had read before, and that has changed since.

    Raised by a store only to a caller that asked for such an answer
    (``memberships.with_account(..., recent=True)``), before anything of the
    unit of work is written: nothing was stored, and the caller runs the unit
    of work again, asking for a fresh read. tenantbill's own calls do so.
    """

    retryable = True
    """Always ``True``: nothing of the unit of work was written."""


def _store_unavailable(message: str, retryable: bool) -> StoreUnavailable:
    """Rebuild a pickled :class:`StoreUnavailable` (it travels between worker processes)."""
    return StoreUnavailable(message, retryable=retryable)


def number_taken(kind: str, number: str, message: str | None = None) -> NumberTaken:
    """The error for ``number`` (kind ``"org"`` or ``"bank"``) held by another owner's account."""
    label, cls = ("org number", OrgNumberTaken) if kind == "org" else ("bank account", BankAccountTaken)
    return cls(
        message
        or f"{label} {number} is already used by an account with another owner; "
        "only the owner of that account can reuse it for a new account"
    )
