"""Rows to values and back: the one place that knows how a value is laid out in the tables.

Flat values map field by field onto columns, in the order the columns are
declared in :mod:`tenantbill.sql.schema`. The nested parts of an invoice
(seller, buyer, lines, VAT, period, cycle) and a subscription's plan history
are JSON, with decimals as exact strings and dates in ISO form, so a value read
back is equal to the value written. Dates, instants and flags differ per
backend and go through a :class:`Formats`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import attrs

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
from tenantbill.domain.events import Event, event_data_from, event_data_text
from tenantbill.domain.identity import email_key
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LedgerEntry,
    Seller,
    Series,
    VatGroup,
    stored_party,
)
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.payments import Payment, Reminder
from tenantbill.domain.subscriptions import Plan, PlanChange, Subscription, Usage
from tenantbill.domain.vat import VatCategory
from tenantbill.errors import InvalidInput

__all__ = ["POSTGRESQL", "SQLITE", "Formats"]

Row = tuple[Any, ...]
Values = dict[str, Any]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_string: Callable[[str], str] = json.encoder.encode_basestring
"""A string as JSON text, as ``_dumps`` writes it (C-accelerated)."""
_loads = json.loads


def _utc(instant: datetime) -> datetime:
    if instant.utcoffset() is None:
        raise InvalidInput(f"{instant} has no time zone: the store keeps aware instants only")
    return instant.astimezone(UTC)


def _utc_text(instant: datetime) -> str:
    return _utc(instant).isoformat(timespec="microseconds")


def _same(value: Any) -> Any:
    return value


_NUMBER_MARK = "\x00number\x00"
"""Where the number goes in an event's JSON text (see ``Formats.event_values_around_number``)."""
_NUMBER_MARK_JSON = json.dumps(_NUMBER_MARK)


def _json_member(key: str, value: Any) -> str:
    """``"key":value`` as :func:`~tenantbill.domain.events.event_data_text` writes a member."""
    return f"{json.dumps(key)}:{json.dumps(value, sort_keys=True, separators=(',', ':'))}"


@attrs.frozen
class Formats:
    """How a backend stores dates, instants and flags, and how they come back."""

    day: Callable[[date], Any]
    day_from: Callable[[Any], date]
    instant: Callable[[datetime], Any]
    instant_from: Callable[[Any], datetime]
    flag_from: Callable[[Any], bool]

    def maybe_day(self, value: date | None) -> Any:
        return None if value is None else self.day(value)

    def maybe_day_from(self, value: Any) -> date | None:
        return None if value is None else self.day_from(value)

    def maybe_instant(self, value: datetime | None) -> Any:
        return None if value is None else self.instant(value)

    def maybe_instant_from(self, value: Any) -> datetime | None:
        return None if value is None else self.instant_from(value)

    # users, accounts, memberships, invitations, audit

    def user_values(self, user: User) -> Values:
        return {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "email_key": email_key(user.email),
            "invoice_emails": user.invoice_emails,
        }

    def user_from(self, row: Row) -> User:
        id, name, email, _email_key, invoice_emails = row
        return User(id=id, name=name, email=email, invoice_emails=self.flag_from(invoice_emails))

    def account_values(self, account: Account) -> Values:
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
            "settings": _dumps(
                {
                    "kid": account.kid,
                    "country": account.country,
                    "business_register": account.business_register,
                    "reminder_fee_agreed": account.reminder_fee_agreed,
                    "late_interest_rate": _maybe_text(account.late_interest_rate),
                    "buyer_reference": account.buyer_reference,
                }
            ),
        }

    def account_from(self, row: Row) -> Account:
        (
            id,
            name,
            owner_id,
            org_number,
            bank_account,
            address,
            currency,
            locale,
            timezone,
            payment_terms_days,
            vat_registered,
            logo,
            invoice_recipients,
            settings,
        ) = row
        extra = _loads(settings)
        return Account(
            id=id,
            name=name,
            owner_id=owner_id,
            org_number=org_number,
            bank_account=bank_account,
            address=address,
            currency=currency,
            locale=locale,
            timezone=timezone,
            payment_terms_days=payment_terms_days,
            vat_registered=self.flag_from(vat_registered),
            logo=None if logo is None else bytes(logo),
            invoice_recipients=tuple(_loads(invoice_recipients)),
            kid=extra.get("kid"),
            country=extra.get("country"),
            business_register=extra.get("business_register", True),
            reminder_fee_agreed=extra.get("reminder_fee_agreed", False),
            late_interest_rate=_maybe_decimal(extra.get("late_interest_rate")),
            buyer_reference=extra.get("buyer_reference"),
        )

    def membership_values(self, membership: Membership) -> Values:
        return {
            "account_id": membership.account_id,
            "user_id": membership.user_id,
            "role": membership.role.value,
        }

    def membership_from(self, row: Row) -> Membership:
        _ordinal, account_id, user_id, role = row
        return Membership(account_id=account_id, user_id=user_id, role=Role(role))

    def invitation_values(self, invitation: Invitation) -> Values:
        return {
            "id": invitation.id,
            "account_id": invitation.account_id,
            "email": invitation.email,
            "role": invitation.role.value,
            "token_hash": invitation.token_hash,
            "invited_by": invitation.invited_by,
            "created_at": self.instant(invitation.created_at),
            "expires_at": self.instant(invitation.expires_at),
            "state": invitation.state.value,
            "accepted_by": invitation.accepted_by,
        }

    def invitation_from(self, row: Row) -> Invitation:
        (
            id,
            account_id,
            email,
            role,
            token_hash,
            invited_by,
            created_at,
            expires_at,
            state,
            accepted_by,
        ) = row
        return Invitation(
            id=id,
            account_id=account_id,
            email=email,
            role=Role(role),
            token_hash=token_hash,
            invited_by=invited_by,
            created_at=self.instant_from(created_at),
            expires_at=self.instant_from(expires_at),
            state=InvitationState(state),
            accepted_by=accepted_by,
        )

    def audit_values(self, event: AuditEvent) -> Values:
        return {
            "account_id": event.account_id,
            "at": self.instant(event.at),
            "actor_id": event.actor_id,
            "action": event.action,
            "target": event.target,
            "detail": event.detail,
        }

    def audit_from(self, row: Row) -> AuditEvent:
        _ordinal, account_id, at, actor_id, action, target, detail = row
        return AuditEvent(
            account_id=account_id,
            at=self.instant_from(at),
            actor_id=actor_id,
            action=action,
            target=target,
            detail=detail,
        )

    def event_values(self, event: Event, number: str | None = None) -> Values:
        """The columns of an event; with ``number``, its data gets ``"number"`` (an invoice just numbered)."""
        data = event.data if number is None else {**event.data, "number": number}
        return {
            "type": event.type,
            "account_id": event.account_id,
            "at": self.instant(event.at),
            "data": event_data_text(data),
        }

    def event_values_around_number(self, event: Event) -> Values:
        """The columns of an event whose data gets the number of an invoice being numbered, on the server.

        The JSON text of the data with ``"number"`` (keys sorted, as
        :meth:`event_values` writes it) comes in two parts, ``data_head`` up
        to the number's value and ``data_tail`` after it: the server puts the
        number's JSON string between them.
        """
        text = event_data_text({**event.data, "number": _NUMBER_MARK})
        head, _, tail = text.partition(_NUMBER_MARK_JSON)
        if _NUMBER_MARK_JSON in tail:  # the mark's text is in a value too: member by member instead
            data = {key: value for key, value in event.data.items() if key != "number"}
            head = "{" + "".join(f"{_json_member(k, v)}," for k, v in sorted(data.items()) if k < "number")
            head += '"number":'
            tail = "".join(f",{_json_member(k, v)}" for k, v in sorted(data.items()) if k > "number") + "}"
        return {
            "type": event.type,
            "account_id": event.account_id,
            "at": self.instant(event.at),
            "data_head": head,
            "data_tail": tail,
        }

    def event_from(self, row: Row) -> Event:
        position, type, account_id, at, data = row
        at = self.instant_from(at)
        return Event(type=type, account_id=account_id, at=at, data=event_data_from(data), position=position)

    # series, invoices, ledger

    def series_values(self, series: Series) -> Values:
        return {
            "account_id": series.account_id,
            "next_sequence": series.next_sequence,
            "prefix": series.prefix,
            "width": series.width,
            "last_used": series.last_used,
        }

    def series_from(self, row: Row) -> Series:
        account_id, next_sequence, prefix, width, last_used = row
        return Series(
            account_id=account_id,
            next_sequence=next_sequence,
            prefix=prefix,
            width=width,
            last_used=last_used,
        )

    def invoice_values(self, invoice: Invoice, logo_digest: str | None) -> Values:
        """The columns of an invoice; its seller's logo is stored apart, under ``logo_digest``."""
        seller, bill_to = invoice.seller, invoice.bill_to
        # The body's JSON text is put together from its parts: the lines and the VAT as
        # text of their own (one f-string each), the rest through the encoder.
        rest = _dumps(
            {
                "seller": {
                    "name": seller.name,
                    "address": seller.address,
                    "org_number": seller.org_number,
                    "bank_account": seller.bank_account,
                    "vat_registered": seller.vat_registered,
                    "country": seller.country,
                    "business_register": seller.business_register,
                },
                "bill_to": {
                    "name": bill_to.name,
                    "address": bill_to.address,
                    "org_number": bill_to.org_number,
                    "emails": list(bill_to.emails),
                    "reference": bill_to.reference,
                    "country": bill_to.country,
                },
                "kid_method": invoice.kid_method,
                "vat_exemption_reason": invoice.vat_exemption_reason,
                "tax_exchange_rate": _maybe_text(invoice.tax_exchange_rate),
                "period": _period_value(invoice.period),
                "cycle": None if invoice.cycle is None else invoice.cycle.months,
                "credited_lines": list(invoice.credited_lines),
            }
        )
        lines = ",".join(
            [
                f'{{"description":{_string(line.description)},"quantity":"{line.quantity}",'
                f'"unit_price":"{line.unit_price}","vat_rate":"{line.vat_rate}","amount":"{line.amount}",'
                f'"category":{_CATEGORY_JSON[line.vat_category]}}}'
                for line in invoice.lines
            ]
        )
        vat = ",".join(
            [
                f'{{"rate":"{group.rate}","base":"{group.base}","vat":"{group.vat}",'
                f'"category":{_CATEGORY_JSON[group.category]}}}'
                for group in invoice.vat
            ]
        )
        body = f'{{"lines":[{lines}],"vat":[{vat}],{rest[1:]}'
        return {
            "id": invoice.id,
            "account_id": invoice.account_id,
            "sequence": invoice.sequence,
            "number": invoice.number,
            "kind": invoice.kind._value_,
            "issued_at": self.instant(invoice.issued_at),
            "issue_date": self.day(invoice.issue_date),
            "due_date": self.day(invoice.due_date),
            "currency": invoice.currency,
            "locale": invoice.locale,
            "net_total": str(invoice.net_total),
            "vat_total": str(invoice.vat_total),
            "total": str(invoice.total),
            "balance_applied": str(invoice.balance_applied),
            "amount_due": str(invoice.amount_due),
            "customer": invoice.customer,
            "credits_invoice_id": invoice.credits_invoice_id,
            "credits_number": invoice.credits_number,
            "subscription_id": invoice.subscription_id,
            "note": invoice.note,
            "seller_logo": logo_digest,
            "body": body,
            "paid": str(invoice.paid),
            "credited": str(invoice.credited),
            "status": invoice.status._value_,
        }

    def invoice_from(self, row: Row) -> Invoice:
        """An invoice from its columns followed by its seller's logo."""
        (
            id,
            account_id,
            sequence,
            number,
            kind,
            issued_at,
            issue_date,
            due_date,
            currency,
            locale,
            net_total,
            vat_total,
            total,
            balance_applied,
            amount_due,
            customer,
            credits_invoice_id,
            credits_number,
            subscription_id,
            note,
            _seller_logo,
            body,
            paid,
            credited,
            _status,
            logo,
        ) = row
        parts = _loads(body)
        seller, bill_to, cycle = parts["seller"], parts["bill_to"], parts["cycle"]
        return Invoice(
            id=id,
            account_id=account_id,
            sequence=sequence,
            number=number,
            kind=InvoiceKind(kind),
            issued_at=self.instant_from(issued_at),
            issue_date=self.day_from(issue_date),
            due_date=self.day_from(due_date),
            seller=Seller(
                name=seller["name"],
                address=seller["address"],
                org_number=seller["org_number"],
                bank_account=seller["bank_account"],
                vat_registered=seller["vat_registered"],
                logo=None if logo is None else bytes(logo),
                country=seller.get("country", "NO"),
                business_register=seller.get("business_register", True),
            ),
            bill_to=stored_party(
                bill_to["name"],
                bill_to["address"],
                bill_to["org_number"],
                tuple(bill_to["emails"]),
                bill_to.get("reference"),
                bill_to.get("country"),
            ),
            currency=currency,
            locale=locale,
            lines=tuple(
                InvoiceLine(
                    description=line["description"],
                    quantity=Decimal(line["quantity"]),
                    unit_price=Decimal(line["unit_price"]),
                    vat_rate=Decimal(line["vat_rate"]),
                    amount=Decimal(line["amount"]),
                    vat_category=_category_from(line.get("category")),
                )
                for line in parts["lines"]
            ),
            vat=tuple(
                VatGroup(
                    rate=Decimal(group["rate"]),
                    base=Decimal(group["base"]),
                    vat=Decimal(group["vat"]),
                    category=_category_from(group.get("category")),
                )
                for group in parts["vat"]
            ),
            net_total=Decimal(net_total),
            vat_total=Decimal(vat_total),
            total=Decimal(total),
            balance_applied=Decimal(balance_applied),
            amount_due=Decimal(amount_due),
            period=_period_from(parts["period"]),
            cycle=None if cycle is None else BillingCycle(cycle),
            customer=customer,
            credits_invoice_id=credits_invoice_id,
            credits_number=credits_number,
            credited_lines=tuple(parts["credited_lines"]),
            note=note,
            subscription_id=subscription_id,
            kid_method=parts.get("kid_method"),
            vat_exemption_reason=parts.get("vat_exemption_reason"),
            tax_exchange_rate=_maybe_decimal(parts.get("tax_exchange_rate")),
            paid=Decimal(paid),
            credited=Decimal(credited),
        )

    def ledger_values(self, entry: LedgerEntry) -> Values:
        return {
            "id": entry.id,
            "account_id": entry.account_id,
            "customer": entry.customer,
            "at": self.instant(entry.at),
            "amount": str(entry.amount),
            "currency": entry.currency,
            "kind": entry.kind,
            "invoice_id": entry.invoice_id,
            "memo": entry.memo,
        }

    def ledger_from(self, row: Row) -> LedgerEntry:
        _ordinal, id, account_id, customer, at, amount, currency, kind, invoice_id, memo = row
        return LedgerEntry(
            id=id,
            account_id=account_id,
            customer=customer,
            at=self.instant_from(at),
            amount=Decimal(amount),
            currency=currency,
            kind=kind,
            invoice_id=invoice_id,
            memo=memo,
        )

    # payments and reminders

    def payment_values(self, payment: Payment) -> Values:
        return {
            "id": payment.id,
            "account_id": payment.account_id,
            "invoice_id": payment.invoice_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "paid_on": self.day(payment.paid_on),
            "recorded_at": self.instant(payment.recorded_at),
            "reference": payment.reference,
            "kid": payment.kid,
            "applied": str(payment.applied),
            "fees": str(payment.fees),
            "to_balance": str(payment.to_balance),
            "unapplied": str(payment.unapplied),
        }

    def payment_from(self, row: Row) -> Payment:
        (
            _ordinal,
            id,
            account_id,
            invoice_id,
            amount,
            currency,
            paid_on,
            recorded_at,
            reference,
            kid,
            *parts,
        ) = row
        applied, fees, to_balance, unapplied = (Decimal(part) for part in parts)
        return Payment(
            id=id,
            account_id=account_id,
            invoice_id=invoice_id,
            amount=Decimal(amount),
            currency=currency,
            paid_on=self.day_from(paid_on),
            recorded_at=self.instant_from(recorded_at),
            reference=reference,
            kid=kid,
            applied=applied,
            fees=fees,
            to_balance=to_balance,
            unapplied=unapplied,
        )

    def reminder_values(self, reminder: Reminder) -> Values:
        return {
            "id": reminder.id,
            "account_id": reminder.account_id,
            "invoice_id": reminder.invoice_id,
            "number": reminder.number,
            "sent_on": self.day(reminder.sent_on),
            "fee": str(reminder.fee),
            "amount_due": str(reminder.amount_due),
            "outstanding": str(reminder.outstanding),
            "fees_before": str(reminder.fees_before),
            "currency": reminder.currency,
        }

    def reminder_from(self, row: Row) -> Reminder:
        id, account_id, invoice_id, number, sent_on, fee, amount_due, outstanding, fees_before, currency = row
        return Reminder(
            invoice_id=invoice_id,
            sent_on=self.day_from(sent_on),
            fee=Decimal(fee),
            amount_due=Decimal(amount_due),
            id=id,
            account_id=account_id,
            number=number,
            outstanding=Decimal(outstanding),
            fees_before=Decimal(fees_before),
            currency=currency,
        )

    # subscriptions and usage

    def subscription_values(self, subscription: Subscription) -> Values:
        return {
            "id": subscription.id,
            "provider_id": subscription.provider_id,
            "customer_id": subscription.customer_id,
            "anchor": self.day(subscription.anchor),
            "fee_anchor": self.day(subscription.fee_anchor),
            "fee_n": subscription.fee_n,
            "usage_n": subscription.usage_n,
            "cancel_at": self.maybe_day(subscription.cancel_at),
            "next_due": self.maybe_day(subscription.next_due),
            "plans": _plans_text(subscription.plans),
        }

    def subscription_from(self, row: Row) -> Subscription:
        id, provider_id, customer_id, anchor, fee_anchor, fee_n, usage_n, cancel_at, _next_due, plans = row
        return Subscription(
            id=id,
            provider_id=provider_id,
            customer_id=customer_id,
            anchor=self.day_from(anchor),
            plans=_plans_from(plans),
            fee_anchor=self.day_from(fee_anchor),
            fee_n=fee_n,
            usage_n=usage_n,
            cancel_at=self.maybe_day_from(cancel_at),
        )

    def usage_values(self, usage: Usage) -> Values:
        return {
            "id": usage.id,
            "subscription_id": usage.subscription_id,
            "on": self.day(usage.on),
            "item": usage.item,
            "quantity": str(usage.quantity),
            "unit_price": str(usage.unit_price),
            "vat_rate": str(usage.vat_rate),
            "recorded_at": self.instant(usage.recorded_at),
            "key": usage.key,
        }

    def usage_from(self, row: Row) -> Usage:
        _ordinal, id, subscription_id, on, item, quantity, unit_price, vat_rate, recorded_at, key = row
        return Usage(
            id=id,
            subscription_id=subscription_id,
            on=self.day_from(on),
            item=item,
            quantity=Decimal(quantity),
            unit_price=Decimal(unit_price),
            vat_rate=Decimal(vat_rate),
            recorded_at=self.instant_from(recorded_at),
            key=key,
        )

    # outbox

    def outbox_values(self, message: OutboxMessage) -> Values:
        return {
            "id": message.id,
            "key": message.key,
            "recipient": message.recipient,
            "created_at": self.instant(message.created_at),
            "next_attempt_at": self.instant(message.next_attempt_at),
            "invoice_id": message.invoice_id,
            "payload": message.payload,
            "attempts": message.attempts,
            "last_error": message.last_error,
            "sent_at": self.maybe_instant(message.sent_at),
            "dropped_at": self.maybe_instant(message.dropped_at),
        }

    def outbox_from(self, row: Row) -> OutboxMessage:
        (
            _ordinal,
            id,
            key,
            recipient,
            created_at,
            next_attempt_at,
            invoice_id,
            payload,
            attempts,
            last_error,
            sent_at,
            dropped_at,
        ) = row
        return OutboxMessage(
            id=id,
            key=key,
            recipient=recipient,
            created_at=self.instant_from(created_at),
            next_attempt_at=self.instant_from(next_attempt_at),
            invoice_id=invoice_id,
            payload=None if payload is None else bytes(payload),
            attempts=attempts,
            last_error=last_error,
            sent_at=self.maybe_instant_from(sent_at),
            dropped_at=self.maybe_instant_from(dropped_at),
        )


SQLITE = Formats(
    day=date.isoformat,
    day_from=date.fromisoformat,
    instant=_utc_text,
    instant_from=datetime.fromisoformat,
    flag_from=bool,
)
"""SQLite: dates and instants as ISO text, flags as 0 and 1."""

POSTGRESQL = Formats(day=_same, day_from=_same, instant=_utc, instant_from=_utc, flag_from=_same)
"""PostgreSQL: the driver converts dates, instants and flags itself."""


# nested parts


_CATEGORY_JSON: dict[VatCategory | None, str] = {
    None: "null",
    **{category: f'"{category._value_}"' for category in VatCategory},
}
"""Each VAT category as JSON text (its code, plain letters), and ``null`` for none."""


def _category_from(code: str | None) -> VatCategory | None:
    return None if code is None else VatCategory(code)


def _maybe_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _maybe_decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _period_value(period: Period | None) -> list[str] | None:
    return None if period is None else [period.start.isoformat(), period.end.isoformat()]


def _period_from(value: list[str] | None) -> Period | None:
    if value is None:
        return None
    start, end = value
    return Period(date.fromisoformat(start), date.fromisoformat(end))


# A billing run reads and saves thousands of subscriptions on the same few plans: a plan
# history (an immutable value) is decoded once per distinct text, and the text of a history
# decoded here is not encoded again. The encoding is cached by identity, not equality:
# Decimal("149") == Decimal("149.00"), but they are stored as written.
_PLANS_CACHED = 1024
_plans_texts: dict[int, tuple[tuple[PlanChange, ...], str]] = {}


def _plans_text(plans: tuple[PlanChange, ...]) -> str:
    """A subscription's plan history as the JSON text stored in ``plans``."""
    known = _plans_texts.get(id(plans))
    if known is not None and known[0] is plans:
        return known[1]
    text = _dumps(
        [
            {
                "on": change.on.isoformat(),
                "code": change.plan.code,
                "name": change.plan.name,
                "price": str(change.plan.price),
                "currency": change.plan.currency,
                "months": change.plan.cycle.months,
                "vat_rate": str(change.plan.vat_rate),
            }
            for change in plans
        ]
    )
    _remember(plans, text)
    return text


@functools.lru_cache(maxsize=_PLANS_CACHED)
def _plans_from(text: str) -> tuple[PlanChange, ...]:
    """A subscription's plan history from its stored JSON text (shared: its values are immutable)."""
    plans = tuple(_plan_change(change) for change in _loads(text))
    _remember(plans, text)
    return plans


def _remember(plans: tuple[PlanChange, ...], text: str) -> None:
    if len(_plans_texts) >= _PLANS_CACHED:
        _plans_texts.clear()
    _plans_texts[id(plans)] = (plans, text)  # holds ``plans``, so its id is not reused meanwhile


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
