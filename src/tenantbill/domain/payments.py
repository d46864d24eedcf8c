"""Getting paid: payments against invoices, what they settle, and reminders with the fees the law allows.

Pure rules over immutable values. An issued invoice's amounts never change:
a payment or a credit note only moves :attr:`Invoice.paid` and
:attr:`Invoice.credited`, from which its status and what is still due
follow (:attr:`Invoice.status`, :attr:`Invoice.outstanding`).

Reminder fees (see ``docs/getting-paid.md`` for the sources):

* **Norway** (inkassoloven § 10, inkassoforskriften § 1-2): a fee of at most
  one tenth of the *inkassosats*, only when at least 14 days have passed since
  the due date, for at most two reminders of one claim.
* **Sweden** (lag (1981:739) om ersättning för inkassokostnader m.m., 5 §):
  a fee of at most 60 SEK, only if it was agreed when the debt arose
  (:attr:`Account.reminder_fee_agreed`); at most two fees here too.

A fee is charged in the currency the law names (NOK or SEK) and only on an
invoice in that currency; a reminder of an invoice in another currency has
no fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

import attrs

from tenantbill.domain.accounts import Account
from tenantbill.domain.invoices import Invoice, InvoiceStatus
from tenantbill.domain.money import minor_unit
from tenantbill.errors import InvalidInvoice

__all__ = [
    "DEFAULT_INKASSOSATS",
    "FEE_DAYS_AFTER_DUE",
    "MAX_FEES",
    "REMINDER_PAYMENT_DAYS",
    "SWEDISH_FEE_CAP",
    "Payment",
    "Reminder",
    "Settlement",
    "credit_settlement",
    "reminder_due_date",
    "reminder_fee",
    "settle_payment",
]

_ZERO: Final = Decimal(0)

DEFAULT_INKASSOSATS: Final = Decimal("700")
"""The Norwegian *inkassosats* in NOK: 700 kr, fixed in inkassoforskriften § 1-1 from 1 January 2017
and unchanged since (the 2018 and 2023 rates were the same); pass ``Tenantbill(inkassosats=...)``
when the Ministry of Justice sets a new one."""

SWEDISH_FEE_CAP: Final = Decimal("60")
"""The largest Swedish reminder fee (påminnelseavgift), SEK."""

FEE_DAYS_AFTER_DUE: Final = 14
"""A Norwegian reminder fee may be charged from this many days after the due date."""

MAX_FEES: Final = 2
"""At most this many reminders of one invoice carry a fee."""

REMINDER_PAYMENT_DAYS: Final = 14
"""A reminder asks for payment within this many days of the day it is sent (its new due date).

Fourteen days is the customary term for a reminder in Norway and Sweden;
printed on the reminder as its new due date.
"""


@attrs.frozen
class Payment:
    """Money received for an invoice, as registered.

    ``amount`` is what came in. ``applied`` settled the invoice,
    ``fees`` paid reminder fees, ``to_balance`` went to the customer's balance
    (an overpayment on an invoice with a customer key) and ``unapplied`` is
    what is left over on an invoice without one. The four add up to ``amount``.
    """

    id: str
    account_id: str
    invoice_id: str
    amount: Decimal
    currency: str
    paid_on: date
    recorded_at: datetime
    reference: str | None = None
    kid: str | None = None
    applied: Decimal = _ZERO
    fees: Decimal = _ZERO
    to_balance: Decimal = _ZERO
    unapplied: Decimal = _ZERO


@attrs.frozen
class Reminder:
    """A payment reminder (purring) sent for an overdue invoice.

    ``fee`` is this reminder's fee (0 when none may be charged) and
    ``amount_due`` what the customer owes on the day: what is left of the
    invoice plus the reminder fees not yet paid, this one's included.
    """

    invoice_id: str
    sent_on: date
    fee: Decimal
    amount_due: Decimal
    id: str = ""
    account_id: str = ""
    number: int = 1
    outstanding: Decimal = _ZERO
    fees_before: Decimal = _ZERO
    currency: str = ""


def reminder_due_date(reminder: Reminder) -> date:
    """The day a reminder asks to be paid by: :data:`REMINDER_PAYMENT_DAYS` after it is sent."""
    return reminder.sent_on + timedelta(days=REMINDER_PAYMENT_DAYS)


@attrs.frozen
class Settlement:
    """How an amount divides over an invoice: what it settles, what pays fees, what is left over."""

    applied: Decimal
    fees: Decimal
    excess: Decimal


def settle_payment(invoice: Invoice, amount: Decimal, *, fees_unpaid: Decimal = _ZERO) -> Settlement:
    """Divide a payment: the invoice's outstanding first, then unpaid reminder fees, then the excess.

    Raises :class:`InvalidInvoice` for a credit note or an amount that is not above 0.
    """
    if invoice.is_credit_note:
        raise InvalidInvoice(f"{invoice.number} is a credit note: payments are registered against invoices")
    if amount <= 0:
        raise InvalidInvoice(f"a payment's amount is above 0, got {amount}")
    applied = min(amount, invoice.outstanding)
    fees = min(amount - applied, max(_ZERO, fees_unpaid))
    return Settlement(applied=applied, fees=fees, excess=amount - applied - fees)


def credit_settlement(original: Invoice, note: Invoice) -> tuple[Decimal, Decimal]:
    """What a credit note of ``original`` settles on it, and what goes beyond (to the customer's balance).

    The credit first lowers what is still to pay on the invoice; the rest is
    money the customer already paid (or had applied from their balance), which
    goes back on their balance when the invoice has a customer key.
    """
    amount = -note.total
    settles = min(amount, original.outstanding)
    return settles, amount - settles


def reminder_fee(
    invoice: Invoice,
    account: Account,
    *,
    on: date,
    earlier_fees: Sequence[Decimal],
    inkassosats: Decimal = DEFAULT_INKASSOSATS,
) -> Decimal:
    """The fee a reminder sent ``on`` this day may carry by the account's country's law (0 when none)."""
    if sum(1 for fee in earlier_fees if fee > 0) >= MAX_FEES:
        return _ZERO
    country = account.country_code
    if country == "NO" and invoice.currency == "NOK":
        if on < invoice.due_date + timedelta(days=FEE_DAYS_AFTER_DUE):
            return _ZERO
        return (inkassosats / 10).quantize(minor_unit("NOK"), rounding=ROUND_HALF_UP)
    if country == "SE" and invoice.currency == "SEK" and account.reminder_fee_agreed:
        return SWEDISH_FEE_CAP
    return _ZERO


def check_remindable(invoice: Invoice, on: date) -> None:
    """Refuse a reminder of a credit note, of an invoice with nothing left to pay, or before it is overdue."""
    if invoice.is_credit_note:
        raise InvalidInvoice(f"{invoice.number} is a credit note: credit notes are never reminded")
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.CREDITED):
        raise InvalidInvoice(
            f"invoice {invoice.number} is {invoice.status.value}: there is nothing to remind of"
        )
    if not invoice.is_overdue(on):
        raise InvalidInvoice(
            f"invoice {invoice.number} is due {invoice.due_date.isoformat()}: a reminder may be sent "
            "only after the due date"
        )
