"""The permission policy: the one place that decides who may do what.

Each role maps to a set of capabilities; a new role is a new row in
:data:`CAPABILITIES`, not new ``if`` statements in the services.
"""

from __future__ import annotations

import enum

from tenantbill.domain.accounts import Membership, Role
from tenantbill.errors import PermissionDenied

__all__ = ["CAPABILITIES", "Action", "allowed", "check"]


class Action(enum.Enum):
    """Everything a user can do on an account."""

    VIEW_ACCOUNT = "view the account"
    VIEW_INVOICES = "view invoices"
    ISSUE_INVOICES = "issue and credit invoices"
    MANAGE_CUSTOMERS = "edit customers, drafts and subscriptions"
    EDIT_COMPANY_DETAILS = "change company details"
    EDIT_INVOICE_SETUP = "change the invoice setup"
    MANAGE_INVITATIONS = "invite, revoke or resend invitations"
    REMOVE_MEMBER = "remove a member"
    LEAVE = "leave the account"
    TRANSFER_OWNERSHIP = "transfer ownership"
    RECEIVE_INVOICE_EMAILS = "receive invoice e-mails"
    VIEW_MEMBERS = "view members"
    VIEW_AUDIT = "view the audit trail"
    SUBSCRIBE = "subscribe to another account's plans (consent to be billed by it)"
    REGISTER_PAYMENTS = "register payments and send payment reminders"


_EVERYONE = frozenset(
    {
        Action.VIEW_ACCOUNT,
        Action.VIEW_INVOICES,
        Action.EDIT_COMPANY_DETAILS,
        Action.RECEIVE_INVOICE_EMAILS,
        Action.VIEW_MEMBERS,
        Action.REGISTER_PAYMENTS,
    }
)
_FULL_ACCESS = _EVERYONE | {
    Action.ISSUE_INVOICES,
    Action.MANAGE_CUSTOMERS,
    Action.EDIT_INVOICE_SETUP,
}

CAPABILITIES: dict[Role, frozenset[Action]] = {
    Role.OWNER: _FULL_ACCESS
    | {
        Action.MANAGE_INVITATIONS,
        Action.REMOVE_MEMBER,
        Action.TRANSFER_OWNERSHIP,
        Action.VIEW_AUDIT,
        Action.SUBSCRIBE,
    },
    Role.MEMBER: _FULL_ACCESS | {Action.LEAVE},
    Role.BILLING: _EVERYONE | {Action.LEAVE, Action.SUBSCRIBE},
}
"""The capability table of DOMAIN.md: role → the actions it allows."""


def allowed(membership: Membership | None, action: Action) -> bool:
    """Whether a membership (``None``: the user has none on the account) allows ``action``."""
    return membership is not None and action in CAPABILITIES[membership.role]


def check(membership: Membership | None, action: Action, *, account_id: str) -> None:
    """Raise :class:`PermissionDenied` unless ``membership`` allows ``action``."""
    if allowed(membership, action):
        return
    if membership is None:
        raise PermissionDenied(f"you are not a member of account {account_id}, so you cannot {action.value}")
    raise PermissionDenied(
        f"a user with the {membership.role.value.upper()} role cannot {action.value} on account {account_id}"
    )
