"""Getting paid: registering payments, overdue invoices and reminders.

Each call works in one transaction with the invoice locked
(``tx.invoices.lock``), so payments, credit notes and reminders of one
invoice take turns and each sees what the one before did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

import attrs

from tenantbill.domain.accounts import Account
from tenantbill.domain.billing import local_date
from tenantbill.domain.events import Event
from tenantbill.domain.invoices import Invoice, InvoiceStatus, LedgerEntry
from tenantbill.domain.kid import sequence_of
from tenantbill.domain.money import to_decimal
from tenantbill.domain.payments import (
    Payment,
    Reminder,
    check_remindable,
    reminder_fee,
    settle_payment,
)
from tenantbill.domain.policy import Action, allowed
from tenantbill.domain.text import NAME_MAX, optional_one_line
from tenantbill.errors import InvalidInput, NotFound, PermissionDenied
from tenantbill.ports import Transaction
from tenantbill.services.base import Context, authorize, is_id, load_account, new_id, shown

__all__ = [
    "REMIND_AGAIN_AFTER_DAYS",
    "PaymentService",
    "ReminderBuilder",
    "check_day",
    "hidden_invoice",
    "locked_invoice",
    "remind_in",
]

REMIND_AGAIN_AFTER_DAYS: Final = 14
"""A reminder run reminds an invoice again once this many days have passed since its last reminder."""

_KID_METHODS: Final = ("mod10", "mod11", "ocr")

ReminderBuilder = Callable[[Transaction, Context, Account, Invoice, Reminder], None]
"""Queues the e-mails of a reminder in the caller's transaction (see ``services.invoices``)."""


def hidden_invoice(invoice_id: object) -> PermissionDenied:
    """The one answer for an invoice id the actor may not use, whether or not it exists."""
    return PermissionDenied(
        f"you cannot use invoice {shown(invoice_id)}: it does not exist or belongs to an account "
        "where your role does not allow it"
    )


def _amount(value: object) -> Decimal:
    amount = to_decimal(value, "amount", error=InvalidInput)
    if amount <= 0:
        raise InvalidInput(f"a payment's amount is above 0, got {amount}")
    return amount


def check_day(value: object, name: str) -> date:
    """``value`` if it is a date (not a datetime); else :class:`InvalidInput` naming ``name``."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{name} is a date (datetime.date), got {type(value).__name__}")
    return value


def _reference(value: object) -> str | None:
    return optional_one_line(value, "the payment's bank reference", max_length=NAME_MAX)


def locked_invoice(tx: Transaction, actor_id: str, invoice_id: str, action: Action) -> Invoice:
    """The invoice, locked, if the actor's role on the issuing account allows ``action``; else hidden."""
    found = tx.invoices.get(invoice_id) if is_id(invoice_id) else None
    membership = None
    if found is not None and is_id(actor_id):
        membership = tx.memberships.get(found.account_id, actor_id)
    if found is None or not allowed(membership, action):
        raise hidden_invoice(invoice_id)
    locked = tx.invoices.lock(found.id)
    assert locked is not None  # invoices are never deleted
    return locked


def _fees_unpaid(tx: Transaction, invoice_id: str, reminders: Sequence[Reminder] | None = None) -> Decimal:
    """Reminder fees charged on the invoice and not paid yet (``reminders``: its reminders, if read)."""
    if reminders is None:
        reminders = tx.reminders.of_invoice(invoice_id)
    charged = sum((reminder.fee for reminder in reminders), Decimal(0))
    paid = sum((payment.fees for payment in tx.payments.of_invoice(invoice_id)), Decimal(0))
    return charged - paid


def _by_kid(tx: Transaction, account: Account, kid: object) -> Invoice:
    if not isinstance(kid, str):
        raise InvalidInput(f"kid is the payment reference as text, got {type(kid).__name__}")
    wanted = kid.replace(" ", "")
    # The account's method first; then the others, for invoices issued before the setting changed.
    methods = sorted(_KID_METHODS, key=lambda method: method != account.kid)
    for method in methods:
        sequence = sequence_of(wanted, method)
        invoice = None if sequence is None else tx.payments.invoice_by_sequence(account.id, sequence)
        if invoice is not None and invoice.kid == wanted:
            return invoice
    if account.kid is None:
        raise InvalidInput(
            f"account {account.id} makes no KID (set one with accounts.update(..., kid='mod10')); "
            "register the payment with invoice_id="
        )
    raise NotFound(f"no invoice of this account has the KID {kid[:30]!r}")


class PaymentService:
    """Payments: register them against an invoice (by id or KID) and list an invoice's payments."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def register(
        self,
        actor_id: str,
        account_id: str,
        *,
        amount: Decimal | int | str,
        paid_on: date,
        invoice_id: str | None = None,
        kid: str | None = None,
        reference: str | None = None,
    ) -> Payment:
        """Register money received for one of the account's invoices, found by ``invoice_id`` or ``kid``.

        The payment settles what is still due on the invoice, then reminder
        fees not yet paid; what is left over goes to the customer's balance
        (used by their next invoice) when the invoice has a customer key, and
        otherwise stays on the payment as ``unapplied``. The invoice's own
        amounts never change: its :attr:`~Invoice.paid`, and so its status, do.

        ``reference`` is the bank's reference of the payment: registering the
        same reference again (a bank file imported twice) returns the payment
        registered the first time and records nothing. OWNER, MEMBER and
        BILLING users may register payments. Raises :class:`InvalidInput` for
        an amount that is not above 0, both or neither of ``invoice_id`` and
        ``kid``, or a credit note; :class:`NotFound` for a KID that names no
        invoice of the account.
        """
        amount = _amount(amount)
        paid_on = check_day(paid_on, "paid_on")
        reference = _reference(reference)
        if (invoice_id is None) == (kid is None):
            raise InvalidInput("give the invoice the payment is for: invoice_id= or kid= (one of them)")
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.REGISTER_PAYMENTS)
            account = load_account(tx, account_id)
            if reference is not None:
                earlier = tx.payments.by_reference(account_id, reference)
                if earlier is not None:
                    return earlier
            if kid is not None:
                found: Invoice | None = _by_kid(tx, account, kid)
            else:
                found = tx.invoices.get(invoice_id) if is_id(invoice_id) else None
            if found is None or found.account_id != account_id:
                raise hidden_invoice(invoice_id)
            invoice = tx.invoices.lock(found.id)
            assert invoice is not None
            if invoice.is_credit_note:
                raise InvalidInput(
                    f"{invoice.number} is a credit note: payments are registered against invoices"
                )
            settlement = settle_payment(invoice, amount, fees_unpaid=_fees_unpaid(tx, invoice.id))
            to_balance = settlement.excess if invoice.customer is not None else Decimal(0)
            now = self._ctx.now()
            payment = Payment(
                id=new_id(),
                account_id=account_id,
                invoice_id=invoice.id,
                amount=amount,
                currency=invoice.currency,
                paid_on=paid_on,
                recorded_at=now,
                reference=reference,
                kid=invoice.kid if kid is not None else None,
                applied=settlement.applied,
                fees=settlement.fees,
                to_balance=to_balance,
                unapplied=settlement.excess - to_balance,
            )
            if not tx.payments.add(payment):
                # The same reference was registered meanwhile (the store waited for it to commit).
                raced = tx.payments.by_reference(account_id, reference or "")
                assert raced is not None
                return raced
            tx.payments.settle(invoice.id, invoice.paid + settlement.applied, invoice.credited)
            if to_balance > 0:
                assert invoice.customer is not None
                tx.ledger.add(
                    LedgerEntry(
                        id=new_id(),
                        account_id=account_id,
                        customer=invoice.customer,
                        at=now,
                        amount=to_balance,
                        currency=invoice.currency,
                        kind="overpayment",
                        invoice_id=invoice.id,
                        memo=f"overpayment of invoice {invoice.number}",
                    )
                )
            paid = attrs.evolve(invoice, paid=invoice.paid + settlement.applied)
            data = {
                "payment_id": payment.id,
                "invoice_id": invoice.id,
                "number": invoice.number,
                "amount": str(amount),
                "currency": invoice.currency,
                "applied": str(settlement.applied),
                "status": paid.status.value,
            }
            tx.events.append(Event("payment.registered", account_id, now, data))
            if paid.status is InvoiceStatus.PAID and invoice.status is not InvoiceStatus.PAID:
                tx.events.append(
                    Event(
                        "invoice.paid", account_id, now, {"invoice_id": invoice.id, "number": invoice.number}
                    )
                )
            return payment

    def of_invoice(self, actor_id: str, invoice_id: str) -> list[Payment]:
        """The payments registered for an invoice, oldest first (members of the issuing account)."""
        with self._ctx.store.transaction() as tx:
            invoice = tx.invoices.get(invoice_id) if is_id(invoice_id) else None
            membership = (
                tx.memberships.get(invoice.account_id, actor_id) if invoice and is_id(actor_id) else None
            )
            if invoice is None or not allowed(membership, Action.VIEW_INVOICES):
                raise hidden_invoice(invoice_id)
            return tx.payments.of_invoice(invoice.id)


def remind_in(
    tx: Transaction,
    ctx: Context,
    invoice: Invoice,
    *,
    on: date,
    fee: bool,
    queue: ReminderBuilder,
    earlier: Sequence[Reminder] | None = None,
    account: Account | None = None,
) -> tuple[Reminder, bool]:
    """Remind of a locked, overdue invoice on ``on``, in the caller's transaction; and whether it is new.

    A second reminder of one invoice on one day is the first one (nothing new
    is sent). The fee is what the law lets this reminder carry
    (:func:`~tenantbill.domain.payments.reminder_fee`) when ``fee`` is true.
    ``earlier`` (the invoice's reminders) and ``account`` (the issuing
    account) are read here unless the caller read them in this transaction.
    """
    check_remindable(invoice, on)
    if earlier is None:
        earlier = tx.reminders.of_invoice(invoice.id)
    for sent in earlier:
        if sent.sent_on == on:
            return sent, False
    if account is None or account.id != invoice.account_id:
        account = load_account(tx, invoice.account_id)
    charge = Decimal(0)
    if fee:
        charge = reminder_fee(
            invoice, account, on=on, earlier_fees=[r.fee for r in earlier], inkassosats=ctx.inkassosats
        )
    fees_before = _fees_unpaid(tx, invoice.id, earlier)
    reminder = Reminder(
        invoice_id=invoice.id,
        sent_on=on,
        fee=charge,
        amount_due=invoice.outstanding + fees_before + charge,
        id=new_id(),
        account_id=invoice.account_id,
        number=len(earlier) + 1,
        outstanding=invoice.outstanding,
        fees_before=fees_before,
        currency=invoice.currency,
    )
    if not tx.reminders.add(reminder):  # pragma: no cover - the invoice is locked: no one else adds one
        return next(r for r in tx.reminders.of_invoice(invoice.id) if r.sent_on == on), False
    queue(tx, ctx, account, invoice, reminder)
    data = {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "reminder": reminder.number,
        "fee": str(charge),
        "amount_due": str(reminder.amount_due),
        "currency": invoice.currency,
    }
    tx.events.append(Event("invoice.reminded", invoice.account_id, ctx.now(), data))
    return reminder, True


def due_for_reminder(reminders: Sequence[Reminder], on: date) -> bool:
    """Whether a reminder run on ``on`` reminds an invoice with these earlier reminders."""
    if not reminders:
        return True
    last = max(reminder.sent_on for reminder in reminders)
    return on >= last + timedelta(days=REMIND_AGAIN_AFTER_DAYS)


def today_of(ctx: Context, account: Account) -> date:
    """Today in the account's time zone."""
    return local_date(ctx.now(), account.timezone)
