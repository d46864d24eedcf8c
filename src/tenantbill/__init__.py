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
    from tenantbill import ports as ports
    from tenantbill.app import (
        Tenantbill as Tenantbill,
    )
    from tenantbill.domain.accounts import (
        Account as Account,
    )
    from tenantbill.domain.accounts import (
        AuditEvent as AuditEvent,
    )
    from tenantbill.domain.accounts import (
        Invitation as Invitation,
    )
    from tenantbill.domain.accounts import (
        InvitationPreview as InvitationPreview,
    )
    from tenantbill.domain.accounts import (
        InvitationState as InvitationState,
    )
    from tenantbill.domain.accounts import (
        IssuedInvitation as IssuedInvitation,
    )
    from tenantbill.domain.accounts import (
        Membership as Membership,
    )
    from tenantbill.domain.accounts import (
        NewUser as NewUser,
    )
    from tenantbill.domain.accounts import (
        Role as Role,
    )
    from tenantbill.domain.accounts import (
        User as User,
    )
    from tenantbill.domain.billing import (
        BillingCycle as BillingCycle,
    )
    from tenantbill.domain.billing import (
        Period as Period,
    )
    from tenantbill.domain.billing import (
        prorate as prorate,
    )
    from tenantbill.domain.events import (
        Event as Event,
    )
    from tenantbill.domain.identity import (
        BankAccount as BankAccount,
    )
    from tenantbill.domain.identity import (
        Email as Email,
    )
    from tenantbill.domain.identity import (
        OrgNumber as OrgNumber,
    )
    from tenantbill.domain.invoices import (
        Invoice as Invoice,
    )
    from tenantbill.domain.invoices import (
        InvoiceDraft as InvoiceDraft,
    )
    from tenantbill.domain.invoices import (
        InvoiceKind as InvoiceKind,
    )
    from tenantbill.domain.invoices import (
        InvoiceLine as InvoiceLine,
    )
    from tenantbill.domain.invoices import (
        InvoiceStatus as InvoiceStatus,
    )
    from tenantbill.domain.invoices import (
        LedgerEntry as LedgerEntry,
    )
    from tenantbill.domain.invoices import (
        Line as Line,
    )
    from tenantbill.domain.invoices import (
        Party as Party,
    )
    from tenantbill.domain.invoices import (
        Seller as Seller,
    )
    from tenantbill.domain.invoices import (
        Series as Series,
    )
    from tenantbill.domain.invoices import (
        VatGroup as VatGroup,
    )
    from tenantbill.domain.metering import (
        MeteringResult as MeteringResult,
    )
    from tenantbill.domain.metering import (
        UsageEvent as UsageEvent,
    )
    from tenantbill.domain.pages import (
        Page as Page,
    )
    from tenantbill.domain.payments import (
        Payment as Payment,
    )
    from tenantbill.domain.payments import (
        Reminder as Reminder,
    )
    from tenantbill.domain.subscriptions import (
        Plan as Plan,
    )
    from tenantbill.domain.subscriptions import (
        Subscription as Subscription,
    )
    from tenantbill.domain.subscriptions import (
        Usage as Usage,
    )
    from tenantbill.domain.vat import (
        VatCategory as VatCategory,
    )
    from tenantbill.render.mail import (
        InvitationTexts as InvitationTexts,
    )

__version__ = "0.1.0.dev0"

_LAZY = {
    "Tenantbill": "tenantbill.app",
    "ports": "tenantbill.ports",
    **dict.fromkeys(
        [
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
        ],
        "tenantbill.domain.accounts",
    ),
    **dict.fromkeys(["BillingCycle", "Period", "prorate"], "tenantbill.domain.billing"),
    **dict.fromkeys(["BankAccount", "Email", "OrgNumber"], "tenantbill.domain.identity"),
    **dict.fromkeys(
        ["Invoice", "InvoiceDraft", "InvoiceKind", "InvoiceLine", "LedgerEntry", "Line", "Party", "VatGroup"],
        "tenantbill.domain.invoices",
    ),
    **dict.fromkeys(["Plan", "Subscription", "Usage"], "tenantbill.domain.subscriptions"),
    **dict.fromkeys(["MeteringResult", "UsageEvent"], "tenantbill.domain.metering"),
    **dict.fromkeys(["InvoiceStatus", "Series", "Seller"], "tenantbill.domain.invoices"),
    **dict.fromkeys(["Payment", "Reminder"], "tenantbill.domain.payments"),
    "VatCategory": "tenantbill.domain.vat",
    "InvitationTexts": "tenantbill.render.mail",
    "Event": "tenantbill.domain.events",
    "Page": "tenantbill.domain.pages",
}

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
