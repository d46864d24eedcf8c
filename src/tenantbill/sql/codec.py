"""Rows to values and back: the one place that knows how a value is laid out in the tables.

Flat values map field by field onto columns. The nested parts of an invoice
(seller, buyer, lines, VAT, period, cycle) and a subscription's plan history
are JSON with decimals as exact strings and dates in ISO form, so a value read
back compares equal to the value written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from tenantbill.domain.accounts import (
    Account,
    AuditEvent,
    Invitation,
    InvitationState,
    Membership,
    Role,
    User,
)
from tenantbill.domain.billing import BillingCycle, Period
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LedgerEntry,
    Party,
    Seller,
    Series,
    VatGroup,
)
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.subscriptions import Plan, PlanChange, Subscription, Usage

__all__ = [
    "account_from_row",
    "account_values",
    "audit_from_row",
    "audit_values",
    "invitation_from_row",
    "invitation_values",
    "invoice_from_row",
    "invoice_values",
    "ledger_from_row",
    "ledger_values",
    "membership_from_row",
    "outbox_from_row",
    "outbox_values",
    "series_from_row",
    "series_values",
    "subscription_from_row",
    "subscription_values",
    "usage_from_row",
    "usage_values",
    "user_from_row",
    "user_values",
]

Row = Any  # a SQLAlchemy Row: columns by attribute
Values = dict[str, Any]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


# users, accounts, memberships, invitations, audit


def user_values(user: User) -> Values:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_key": user.email.casefold(),
        "invoice_emails": user.invoice_emails,
    }


def user_from_row(row: Row) -> User:
    return User(id=row.id, name=row.name, email=row.email, invoice_emails=row.invoice_emails)


def account_values(account: Account) -> Values:
    return {
        "id": account.id,
        "name": account.name,
        "owner_id": account.owner_id,
        "org_number": account.org_number,
        "bank_account": account.bank_account,
        "address": account.address,
        "currency": account.currency,
        "locale": account.locale,
        "timezone": account.timezone,
        "payment_terms_days": account.payment_terms_days,
        "vat_registered": account.vat_registered,
        "logo": account.logo,
        "invoice_recipients": _dumps(list(account.invoice_recipients)),
    }


def account_from_row(row: Row) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        org_number=row.org_number,
        bank_account=row.bank_account,
        address=row.address,
        currency=row.currency,
        locale=row.locale,
        timezone=row.timezone,
        payment_terms_days=row.payment_terms_days,
        vat_registered=row.vat_registered,
        logo=row.logo,
        invoice_recipients=tuple(_loads(row.invoice_recipients)),
    )


def membership_from_row(row: Row) -> Membership:
    return Membership(account_id=row.account_id, user_id=row.user_id, role=Role(row.role))


def invitation_values(invitation: Invitation) -> Values:
    return {
        "id": invitation.id,
        "account_id": invitation.account_id,
        "email": invitation.email,
        "role": invitation.role.value,
        "token_hash": invitation.token_hash,
        "invited_by": invitation.invited_by,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
        "state": invitation.state.value,
        "accepted_by": invitation.accepted_by,
    }


def invitation_from_row(row: Row) -> Invitation:
    return Invitation(
        id=row.id,
        account_id=row.account_id,
        email=row.email,
        role=Role(row.role),
        token_hash=row.token_hash,
        invited_by=row.invited_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=InvitationState(row.state),
        accepted_by=row.accepted_by,
    )


def audit_values(event: AuditEvent) -> Values:
    return {
        "account_id": event.account_id,
        "at": event.at,
        "actor_id": event.actor_id,
        "action": event.action,
        "target": event.target,
        "detail": event.detail,
    }


def audit_from_row(row: Row) -> AuditEvent:
    return AuditEvent(
        account_id=row.account_id,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        target=row.target,
        detail=row.detail,
    )


# series, invoices, ledger


def series_values(series: Series) -> Values:
    return {
        "account_id": series.account_id,
        "next_sequence": series.next_sequence,
        "prefix": series.prefix,
        "width": series.width,
        "last_used": series.last_used,
    }


def series_from_row(row: Row) -> Series:
    return Series(
        account_id=row.account_id,
        next_sequence=row.next_sequence,
        prefix=row.prefix,
        width=row.width,
        last_used=row.last_used,
    )


def invoice_values(invoice: Invoice, logo_digest: str | None) -> Values:
    """The columns of an invoice; the seller's logo goes to the blobs under ``logo_digest``."""
    seller, bill_to = invoice.seller, invoice.bill_to
    body = {
        "seller": {
            "name": seller.name,
            "address": seller.address,
            "org_number": seller.org_number,
            "bank_account": seller.bank_account,
            "vat_registered": seller.vat_registered,
        },
        "bill_to": {
            "name": bill_to.name,
            "address": bill_to.address,
            "org_number": bill_to.org_number,
            "emails": list(bill_to.emails),
        },
        "lines": [
            {
                "description": line.description,
                "quantity": str(line.quantity),
                "unit_price": str(line.unit_price),
                "vat_rate": str(line.vat_rate),
                "amount": str(line.amount),
            }
            for line in invoice.lines
        ],
        "vat": [
            {"rate": str(group.rate), "base": str(group.base), "vat": str(group.vat)}
            for group in invoice.vat
        ],
        "period": _period_value(invoice.period),
        "cycle": None if invoice.cycle is None else invoice.cycle.months,
        "credited_lines": list(invoice.credited_lines),
    }
    return {
        "id": invoice.id,
        "account_id": invoice.account_id,
        "sequence": invoice.sequence,
        "number": invoice.number,
        "kind": invoice.kind.value,
        "issued_at": invoice.issued_at,
        "issue_date": invoice.issue_date,
        "due_date": invoice.due_date,
        "currency": invoice.currency,
        "locale": invoice.locale,
        "net_total": invoice.net_total,
        "vat_total": invoice.vat_total,
        "total": invoice.total,
        "balance_applied": invoice.balance_applied,
        "amount_due": invoice.amount_due,
        "customer": invoice.customer,
        "credits_invoice_id": invoice.credits_invoice_id,
        "credits_number": invoice.credits_number,
        "subscription_id": invoice.subscription_id,
        "note": invoice.note,
        "seller_logo": logo_digest,
        "body": _dumps(body),
    }


def invoice_from_row(row: Row, logo: bytes | None) -> Invoice:
    body = _loads(row.body)
    seller, bill_to = body["seller"], body["bill_to"]
    cycle = body["cycle"]
    return Invoice(
        id=row.id,
        account_id=row.account_id,
        sequence=row.sequence,
        number=row.number,
        kind=InvoiceKind(row.kind),
        issued_at=row.issued_at,
        issue_date=row.issue_date,
        due_date=row.due_date,
        seller=Seller(
            name=seller["name"],
            address=seller["address"],
            org_number=seller["org_number"],
            bank_account=seller["bank_account"],
            vat_registered=seller["vat_registered"],
            logo=logo,
        ),
        bill_to=Party(
            name=bill_to["name"],
            address=bill_to["address"],
            org_number=bill_to["org_number"],
            emails=tuple(bill_to["emails"]),
        ),
        currency=row.currency,
        locale=row.locale,
        lines=tuple(
            InvoiceLine(
                description=line["description"],
                quantity=Decimal(line["quantity"]),
                unit_price=Decimal(line["unit_price"]),
                vat_rate=Decimal(line["vat_rate"]),
                amount=Decimal(line["amount"]),
            )
            for line in body["lines"]
        ),
        vat=tuple(
            VatGroup(rate=Decimal(group["rate"]), base=Decimal(group["base"]), vat=Decimal(group["vat"]))
            for group in body["vat"]
        ),
        net_total=row.net_total,
        vat_total=row.vat_total,
        total=row.total,
        balance_applied=row.balance_applied,
        amount_due=row.amount_due,
        period=_period_from(body["period"]),
        cycle=None if cycle is None else BillingCycle(cycle),
        customer=row.customer,
        credits_invoice_id=row.credits_invoice_id,
        credits_number=row.credits_number,
        credited_lines=tuple(body["credited_lines"]),
        note=row.note,
        subscription_id=row.subscription_id,
    )


def ledger_values(entry: LedgerEntry) -> Values:
    return {
        "id": entry.id,
        "account_id": entry.account_id,
        "customer": entry.customer,
        "at": entry.at,
        "amount": entry.amount,
        "currency": entry.currency,
        "kind": entry.kind,
        "invoice_id": entry.invoice_id,
        "memo": entry.memo,
    }


def ledger_from_row(row: Row) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        account_id=row.account_id,
        customer=row.customer,
        at=row.at,
        amount=row.amount,
        currency=row.currency,
        kind=row.kind,
        invoice_id=row.invoice_id,
        memo=row.memo,
    )


# subscriptions and usage


def subscription_values(subscription: Subscription) -> Values:
    plans = [
        {
            "on": change.on.isoformat(),
            "code": change.plan.code,
            "name": change.plan.name,
            "price": str(change.plan.price),
            "currency": change.plan.currency,
            "months": change.plan.cycle.months,
            "vat_rate": str(change.plan.vat_rate),
        }
        for change in subscription.plans
    ]
    return {
        "id": subscription.id,
        "provider_id": subscription.provider_id,
        "customer_id": subscription.customer_id,
        "anchor": subscription.anchor,
        "fee_anchor": subscription.fee_anchor,
        "fee_n": subscription.fee_n,
        "usage_n": subscription.usage_n,
        "cancel_at": subscription.cancel_at,
        "next_due": subscription.next_due,
        "plans": _dumps(plans),
    }


def subscription_from_row(row: Row) -> Subscription:
    return Subscription(
        id=row.id,
        provider_id=row.provider_id,
        customer_id=row.customer_id,
        anchor=row.anchor,
        plans=tuple(_plan_change(change) for change in _loads(row.plans)),
        fee_anchor=row.fee_anchor,
        fee_n=row.fee_n,
        usage_n=row.usage_n,
        cancel_at=row.cancel_at,
    )


def usage_values(usage: Usage) -> Values:
    return {
        "id": usage.id,
        "subscription_id": usage.subscription_id,
        "on": usage.on,
        "item": usage.item,
        "quantity": usage.quantity,
        "unit_price": usage.unit_price,
        "vat_rate": usage.vat_rate,
        "recorded_at": usage.recorded_at,
    }


def usage_from_row(row: Row) -> Usage:
    return Usage(
        id=row.id,
        subscription_id=row.subscription_id,
        on=row.on,
        item=row.item,
        quantity=row.quantity,
        unit_price=row.unit_price,
        vat_rate=row.vat_rate,
        recorded_at=row.recorded_at,
    )


# outbox


def outbox_values(message: OutboxMessage) -> Values:
    return {
        "id": message.id,
        "key": message.key,
        "recipient": message.recipient,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
        "invoice_id": message.invoice_id,
        "payload": message.payload,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "sent_at": message.sent_at,
    }


def outbox_from_row(row: Row) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        key=row.key,
        recipient=row.recipient,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        invoice_id=row.invoice_id,
        payload=row.payload,
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=row.sent_at,
    )


# nested parts


def _period_value(period: Period | None) -> list[str] | None:
    return None if period is None else [period.start.isoformat(), period.end.isoformat()]


def _period_from(value: list[str] | None) -> Period | None:
    if value is None:
        return None
    start, end = value
    return Period(date.fromisoformat(start), date.fromisoformat(end))


def _plan_change(value: Mapping[str, Any]) -> PlanChange:
    plan = Plan(
        code=value["code"],
        name=value["name"],
        price=Decimal(value["price"]),
        currency=value["currency"],
        cycle=BillingCycle(value["months"]),
        vat_rate=Decimal(value["vat_rate"]),
    )
    return PlanChange(on=date.fromisoformat(value["on"]), plan=plan)
