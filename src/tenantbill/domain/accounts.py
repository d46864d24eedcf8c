"""Accounts, users, memberships, invitations and the audit trail: immutable values."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import attrs

from tenantbill.domain.text import NAME_MAX, one_line
from tenantbill.errors import InvalidEmail, InvalidInput

__all__ = [
    "Account",
    "AuditEvent",
    "Invitation",
    "InvitationPreview",
    "InvitationState",
    "IssuedInvitation",
    "Membership",
    "NewUser",
    "Role",
    "User",
]


class Role(enum.Enum):
    """A member's role on an account; the policy maps each role to capabilities."""

    OWNER = "owner"
    MEMBER = "member"
    BILLING = "billing"


@attrs.frozen
class User:
    """A login: a person with a name and an e-mail address (one user per address)."""

    id: str
    name: str
    email: str
    invoice_emails: bool = False


_EMAIL_MAX = 320
"""The longest e-mail address SMTP allows (64 for the local part, @, 255 for the domain)."""


def _user_name(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput("a user needs a name (non-empty text)")
    return one_line(value, "a user's name", max_length=NAME_MAX)


def _new_email(value: object) -> str:
    # Only what every address must be; the syntax is checked (and the address
    # normalized) where the user is created, so the message names the rule.
    return one_line(value, "a user's e-mail address", max_length=_EMAIL_MAX, error=InvalidEmail)


@attrs.frozen
class NewUser:
    """The details of a user created while accepting an invitation.

    The name is one line of at most 200 characters (stripped); the e-mail
    address is text of at most 320 characters, checked in full when the user
    is created.
    """

    name: str = attrs.field(converter=_user_name)
    email: str = attrs.field(converter=_new_email)


@attrs.frozen
class Account:
    """A tenant that issues invoices, with its invoice setup.

    ``org_number`` and ``bank_account`` are in normal form (see
    :class:`~tenantbill.domain.identity.OrgNumber` and
    :class:`~tenantbill.domain.identity.BankAccount`: bare digits, a named
    giro number such as ``BANKGIRO50501055``, or a compact IBAN), or ``None``.

    Getting paid: ``kid`` is how payment references are made (``"mod10"``,
    ``"mod11"``, Swedish ``"ocr"``, or ``None`` for none); ``country`` the
    ISO country (``None``: see :attr:`country_code`); ``business_register``
    whether a Norwegian seller is in Foretaksregisteret (printed and sent in
    e-invoices); ``reminder_fee_agreed`` whether a Swedish customer agreed to
    a reminder fee in advance (the law's condition for charging one);
    ``late_interest_rate`` the yearly late-payment interest printed on
    reminders (shown, never charged by tenantbill). ``buyer_reference`` is
    the reference this account wants on invoices billed to it (its "your
    reference", EHF's BuyerReference), put on the invoices of its
    subscriptions.
    """

    id: str
    name: str
    owner_id: str
    org_number: str | None = None
    bank_account: str | None = None
    address: str = ""
    currency: str = "NOK"
    locale: str = "nb"
    timezone: str = "Europe/Oslo"
    payment_terms_days: int = 14
    vat_registered: bool = False
    logo: bytes | None = attrs.field(default=None, repr=False)
    invoice_recipients: tuple[str, ...] = ()
    kid: str | None = None
    country: str | None = None
    business_register: bool = True
    reminder_fee_agreed: bool = False
    late_interest_rate: Decimal | None = None
    buyer_reference: str | None = None

    @property
    def country_code(self) -> str:
        """The account's ISO country: as set, else ``SE`` when Swedish (SEK or ``sv``), else ``NO``."""
        if self.country is not None:
            return self.country
        return "SE" if self.currency == "SEK" or self.locale.startswith("sv") else "NO"


@attrs.frozen
class Membership:
    """A user's access to an account, with a role.

    ``name`` and ``email`` are the user's, filled in where memberships are
    listed for people to read (``app.access.members``) and in what
    ``app.access.accept`` and ``transfer_ownership`` return; ``None`` where a
    call does not look them up (a store's own reads). They are not part of equality: a membership is its
    account, its user and its role.
    """

    account_id: str
    user_id: str
    role: Role
    name: str | None = attrs.field(default=None, eq=False)
    email: str | None = attrs.field(default=None, eq=False)


class InvitationState(enum.Enum):
    """Where an invitation is in its life: pending until accepted or revoked."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


@attrs.frozen
class Invitation:
    """A stored invitation. Holds only a hash of the token, never the token itself."""

    id: str
    account_id: str
    email: str
    role: Role
    token_hash: str = attrs.field(repr=False)
    invited_by: str
    created_at: datetime
    expires_at: datetime
    state: InvitationState = InvitationState.PENDING
    accepted_by: str | None = None


@attrs.frozen
class InvitationPreview:
    """What an invitation link offers, for the page that accepts it (``app.access.preview``)."""

    account_name: str
    role: Role
    email: str
    """The address the invitation was sent to."""
    expires_at: datetime


@attrs.frozen
class IssuedInvitation:
    """What :meth:`AccessService.invite` returns: the record and its secret token, shown once."""

    invitation: Invitation
    token: str = attrs.field(repr=False)


@attrs.frozen
class AuditEvent:
    """One change of access on an account: who did what to whom, and when."""

    account_id: str
    at: datetime
    actor_id: str | None
    action: str
    target: str
    detail: str = ""
