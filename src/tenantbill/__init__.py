"""tenantbill: the core of a multi-tenant invoicing product.

Accounts and users with memberships, one permission policy, gapless
per-account invoice numbering, billing cycles, invoice PDFs and e-mails, with
storage and mail behind pluggable ports. Names are loaded on first use, so
``import tenantbill`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tenantbill import errors
from tenantbill.errors import *

if TYPE_CHECKING:
    from tenantbill import ports
    from tenantbill.app import Tenantbill
    from tenantbill.domain.accounts import (
        Account,
        AuditEvent,
        Invitation,
        InvitationState,
        IssuedInvitation,
        Membership,
        NewUser,
        Role,
        User,
    )
    from tenantbill.domain.billing import BillingCycle, Period, prorate
    from tenantbill.domain.identity import BankAccount, Email, OrgNumber
    from tenantbill.domain.invoices import (
        Invoice,
        InvoiceDraft,
        InvoiceKind,
        InvoiceLine,
        LedgerEntry,
        Line,
        Party,
        Seller,
        Series,
        VatGroup,
    )
    from tenantbill.domain.subscriptions import Plan, Subscription, Usage

__version__ = "0.1.0.dev0"

_LAZY = {
    "Tenantbill": "tenantbill.app",
    "ports": "tenantbill.ports",
    **dict.fromkeys(
        ["Account", "AuditEvent", "Invitation", "InvitationState", "IssuedInvitation",
         "Membership", "NewUser", "Role", "User"],
        "tenantbill.domain.accounts",
    ),
    **dict.fromkeys(["BillingCycle", "Period", "prorate"], "tenantbill.domain.billing"),
    **dict.fromkeys(["BankAccount", "Email", "OrgNumber"], "tenantbill.domain.identity"),
    **dict.fromkeys(
        ["Invoice", "InvoiceDraft", "InvoiceKind", "InvoiceLine", "LedgerEntry", "Line", "Party",
         "VatGroup"],
        "tenantbill.domain.invoices",
    ),
    **dict.fromkeys(["Plan", "Subscription", "Usage"], "tenantbill.domain.subscriptions"),
    **dict.fromkeys(["Series", "Seller"], "tenantbill.domain.invoices"),
}  # fmt: skip

__all__ = [*errors.__all__, *sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tenantbill' has no attribute {name!r}")
    if name == "ports":
        return importlib.import_module(module)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
