"""Issuing invoices and credit notes, the number series, the balance ledger and PDFs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

from tenantbill.domain.accounts import Account, AuditEvent, Membership
from tenantbill.domain.billing import local_date
from tenantbill.domain.events import Event
from tenantbill.domain.identity import email_key
from tenantbill.domain.invoices import (
    Invoice,
    InvoiceDraft,
    InvoiceStatus,
    LedgerEntry,
    Party,
    Series,
    apply_balance,
    balance_entry,
    build_credit_note,
    build_invoice,
    credit_reason,
)
from tenantbill.domain.keys import fingerprint, idempotency_key_of
from tenantbill.domain.money import normalize_currency, round_money, to_decimal
from tenantbill.domain.outbox import OutboxMessage, reminder_key
from tenantbill.domain.pages import (
    Page,
    check_limit,
    due_cursor,
    invoice_cursor,
    read_due_cursor,
    read_invoice_cursor,
)
from tenantbill.domain.payments import Reminder, credit_settlement
from tenantbill.domain.policy import Action, allowed, check
from tenantbill.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidInvoice,
    NotFound,
    PermissionDenied,
    StaleRead,
    StoreUnavailable,
    TenantbillError,
)
from tenantbill.ports import IdempotencyRecord, Transaction
from tenantbill.services.base import (
    Context,
    authorize,
    authorized_account,
    is_id,
    load_account,
    new_id,
)
from tenantbill.services.payments import (
    check_day,
    due_for_reminder,
    locked_invoice,
    remind_in,
)
from tenantbill.services.payments import (
    hidden_invoice as _hidden_invoice,
)

__all__ = ["InvoiceService", "draft_recipients", "invoice_recipients", "issue_in"]


def issue_in(
    tx: Transaction,
    ctx: Context,
    account: Account,
    draft: InvoiceDraft,
    *,
    locale: str | None = None,
    subscription_id: str | None = None,
    recipients: list[str] | None = None,
) -> Invoice:
    """Issue ``draft`` inside the caller's transaction: number it, apply balance, store it, queue its e-mails.

    The number is taken from the account's series in this transaction, so if
    anything later fails and the transaction rolls back, the number is unused.
    ``recipients``, if given, are the draft's (as :func:`draft_recipients`
    finds them in this transaction); otherwise they are read here.
    """
    invoice, found = _prepare(
        tx, ctx, account, draft, locale=locale, subscription_id=subscription_id, recipients=recipients
    )
    return _finish(tx, ctx, invoice, found)


def _prepare(
    tx: Transaction,
    ctx: Context,
    account: Account,
    draft: InvoiceDraft,
    *,
    locale: str | None = None,
    subscription_id: str | None = None,
    recipients: list[str] | None = None,
) -> tuple[Invoice, list[str]]:
    """The invoice, not numbered and with no credit applied yet; and its recipients.

    This is the work done before the number is taken: taking it locks the
    account's series until the transaction ends.
    """
    if not isinstance(draft, InvoiceDraft):
        raise InvalidInvoice("issue() takes a tenantbill.InvoiceDraft")
    invoice = build_invoice(
        draft, account, id=new_id(), now=ctx.now(), locale=locale, subscription_id=subscription_id
    )
    if recipients is None:
        require_consent(tx, ctx, account.id, draft.customer)
        recipients = draft_recipients(tx, draft)
    return invoice, recipients


def require_consent(tx: Transaction, ctx: Context, biller_id: str, customer: str | None) -> None:
    """Refuse to bill another account that has not consented to be billed by ``biller_id``.

    A customer key that is no account's id is an opaque label, and an account
    may bill itself. Another account consents by subscribing to the biller's
    plan (its owner or billing user starts the subscription); the platform
    account named at wiring is accepted as biller by every account.
    """
    if customer is None or customer == biller_id or biller_id == ctx.platform_account_id:
        return
    if tx.accounts.get(customer) is None or tx.subscriptions.exists_between(biller_id, customer):
        return
    raise PermissionDenied(
        f"account {customer} has not consented to be billed by this account: invoices to "
        "another account need its consent (its owner or billing user subscribes to your plan); "
        "to bill someone who is not a tenant, use a customer key that is not an account id"
    )


def _finish(tx: Transaction, ctx: Context, invoice: Invoice, recipients: list[str]) -> Invoice:
    """Apply the customer's credit, then number and store the prepared invoice and queue its e-mails."""
    customer = invoice.draws_credit_from
    if customer is not None:
        # Locking the series serializes every issuer's read of the customer's
        # balance until the invoice is stored, so a credit is applied once.
        tx.invoices.lock_series(invoice.account_id)
        invoice = apply_balance(invoice, tx.ledger.balance(invoice.account_id, customer, invoice.currency))
    return _store(tx, ctx, invoice, recipients)


def _store(
    tx: Transaction,
    ctx: Context,
    prepared: Invoice,
    recipients: list[str],
    *,
    credit: Decimal | None = None,
) -> Invoice:
    """Number and store an invoice or credit note, queue its e-mails and move the customer's balance.

    ``credit`` is what a credit note puts on the customer's balance (see :func:`balance_entry`).
    """
    invoice = tx.invoices.add_numbered(
        prepared, _messages(ctx, prepared, recipients), [_event(ctx, prepared)]
    )
    if invoice.moves_balance and credit != 0:
        tx.ledger.add(balance_entry(invoice, id=new_id(), at=ctx.now(), credit=credit))
    return invoice


def _event(ctx: Context, invoice: Invoice) -> Event:
    """The event of an invoice being issued (``"invoice.issued"``) or a credit note (``"invoice.credited"``).

    The store adds the number it gives (``data["number"]``).
    """
    data = {
        "invoice_id": invoice.id,
        "kind": invoice.kind.value,
        "customer": invoice.customer,
        "subscription_id": invoice.subscription_id,
        "currency": invoice.currency,
        "total": str(invoice.total),
        "amount_due": str(invoice.amount_due),
    }
    if invoice.credits_invoice_id is not None:
        data["credits_invoice_id"] = invoice.credits_invoice_id
        return Event("invoice.credited", invoice.account_id, ctx.now(), data)
    return Event("invoice.issued", invoice.account_id, ctx.now(), data)


def invoice_recipients(tx: Transaction, invoice: Invoice) -> list[str]:
    """Who receives an invoice e-mail, each address once (compared case-insensitively).

    The party's own addresses; and when the invoice is billed to an account,
    that account's members whose role receives invoices and who opted in, and
    the account's extra invoice recipients.
    """
    return _recipients(tx, invoice.bill_to, invoice.customer)


def draft_recipients(tx: Transaction, draft: InvoiceDraft) -> list[str]:
    """Who would receive the e-mail of an invoice issued from ``draft`` (see :func:`invoice_recipients`)."""
    return _recipients(tx, draft.bill_to, draft.customer)


def _recipients(tx: Transaction, bill_to: Party, customer_id: str | None) -> list[str]:
    addresses = list(bill_to.emails)
    customer = tx.accounts.get(customer_id) if customer_id else None
    if customer is not None:
        for membership in tx.memberships.of_account(customer.id):
            user = tx.users.get(membership.user_id)
            if (
                user is not None
                and user.invoice_emails
                and allowed(membership, Action.RECEIVE_INVOICE_EMAILS)
            ):
                addresses.append(user.email)
        addresses.extend(customer.invoice_recipients)
    unique: dict[str, str] = {}
    for address in addresses:  # every source was validated and normalized when it was stored
        unique.setdefault(email_key(address), address)
    return list(unique.values())


def _messages(ctx: Context, invoice: Invoice, recipients: list[str]) -> list[OutboxMessage]:
    """The outbox entries of ``invoice``: one per recipient, keyed by (invoice, address)."""
    now = ctx.now()
    return [
        OutboxMessage(
            id=new_id(),
            key=f"invoice:{invoice.id}:{email_key(address)}",
            recipient=address,
            created_at=now,
            next_attempt_at=now,
            invoice_id=invoice.id,
        )
        for address in recipients
    ]


def _issued_before(tx: Transaction, first: IdempotencyRecord, print_: str, key: str) -> Invoice:
    """The invoice the first call with ``key`` issued, if this call asks for the same."""
    if first.fingerprint != print_:
        raise IdempotencyConflict(
            f"the idempotency key {key!r} was used for another draft on this account; "
            "use a new key for a new invoice"
        )
    invoice = tx.invoices.get(first.result) if first.result is not None else None
    if invoice is None:  # pragma: no cover - a key is completed in the transaction that claims it
        raise IdempotencyConflict(f"the call with idempotency key {key!r} did not finish; use a new key")
    return invoice


_REMINDER_PAGE = 200
_REMINDERS_PER_TRANSACTION = 50


def queue_reminder(
    tx: Transaction, ctx: Context, account: Account, invoice: Invoice, reminder: Reminder
) -> None:
    """Queue the reminder e-mail to each of the invoice's recipients.

    Like an invoice e-mail, it is built when it is delivered, from the stored
    invoice and reminder (key ``reminder:<reminder id>:<address>``): the
    reminder PDF is rendered then, not here, and the outbox holds no copy.
    """
    now = ctx.now()
    for address in invoice_recipients(tx, invoice):
        tx.outbox.add(
            OutboxMessage(
                id=new_id(),
                key=reminder_key(reminder.id, email_key(address)),
                recipient=address,
                created_at=now,
                next_attempt_at=now,
                invoice_id=invoice.id,
            )
        )


_STATUS_VALUES = (*(status.value for status in InvoiceStatus), "overdue")


def _status_filter(status: object) -> str | None:
    if status is None:
        return None
    if isinstance(status, InvoiceStatus):
        return status.value
    if isinstance(status, str) and status in _STATUS_VALUES:
        return status
    raise InvalidInput(
        f"status is one of {', '.join(_STATUS_VALUES)} (or a tenantbill.InvoiceStatus), got {status!r:.40}"
    )


def _viewer(tx: Transaction, actor_id: str, invoice: Invoice) -> Membership:
    """The actor may see an invoice as a member of the issuing or of the billed account."""
    for account_id in (invoice.account_id, invoice.customer):
        membership = tx.memberships.get(account_id, actor_id) if account_id and is_id(actor_id) else None
        if allowed(membership, Action.VIEW_INVOICES):
            assert membership is not None
            return membership
    raise _hidden_invoice(invoice.id)


class InvoiceService:
    """Invoices: the series, issuing, credit notes, the balance ledger and PDFs."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def configure_series(
        self,
        actor_id: str,
        account_id: str,
        *,
        start: int | None = None,
        prefix: str | None = None,
        width: int | None = None,
    ) -> Series:
        """Set the next number to allocate and the display format (prefix, zero padding).

        ``start`` must be above every number already used; the format changes
        only how numbers are printed, never the sequence.
        """
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.EDIT_INVOICE_SETUP)
            old = tx.invoices.series(account_id)
            series = old.reconfigured(start=start, prefix=prefix, width=width)
            tx.invoices.save_series(series)
            if series != old:
                detail = f"next={series.next_sequence}, prefix={series.prefix!r}, width={series.width}"
                tx.audit.add(
                    AuditEvent(account_id, self._ctx.now(), actor_id, "series_configured", account_id, detail)
                )
            return series

    def series(self, actor_id: str, account_id: str) -> Series:
        """The account's series: the next sequence and the display format."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            return tx.invoices.series(account_id)

    def issue(
        self, actor_id: str, account_id: str, draft: InvoiceDraft, *, idempotency_key: str | None = None
    ) -> Invoice:
        """Issue a draft: it gets the next number of the account's series and is stored for good.

        With ``idempotency_key`` (say, the host's order id or an HTTP
        request's key) a retried call issues nothing new: the same key with an
        equal draft returns the invoice the first call issued, and with
        another draft raises :class:`IdempotencyConflict`. Keys are per
        account; of concurrent calls with one key, one issues and the others
        wait for it and return its invoice.
        """
        key = None if idempotency_key is None else idempotency_key_of(idempotency_key)
        try:
            return self._issue(actor_id, account_id, draft, key, recent=True)
        except StaleRead:  # the account or the membership changed since the store read them: nothing written
            return self._issue(actor_id, account_id, draft, key, recent=False)

    def _issue(
        self, actor_id: str, account_id: str, draft: InvoiceDraft, key: str | None, *, recent: bool
    ) -> Invoice:
        with self._ctx.store.transaction() as tx:
            account = authorized_account(tx, actor_id, account_id, Action.ISSUE_INVOICES, recent=recent)
            fields, recipients = _prepare(tx, self._ctx, account, draft)
            if key is None:
                return _finish(tx, self._ctx, fields, recipients)
            scope, print_ = f"issue:{account.id}", fingerprint(draft)
            first = tx.idempotency.claim(scope, key, print_)
            if first is not None:
                return _issued_before(tx, first, print_, key)
            invoice = _finish(tx, self._ctx, fields, recipients)
            tx.idempotency.complete(scope, key, invoice.id)
            return invoice

    def credit(
        self,
        actor_id: str,
        invoice_id: str,
        *,
        reason: str,
        lines: Sequence[int] | None = None,
    ) -> Invoice:
        """Issue a credit note for the whole invoice, or for some of its lines (by index).

        The credit note is numbered in the same series, references the
        invoice, and carries negative amounts. Each line can be credited once;
        crediting what is already credited raises :class:`InvalidInvoice`.

        The credit first lowers what is still to pay on the invoice (its
        :attr:`~Invoice.credited`); an invoice credited in full is CREDITED.
        What the invoice no longer owed (it was paid, or paid from the
        customer's balance) goes to the customer's balance when the invoice
        has a customer key, for their next invoice.
        """
        reason = credit_reason(reason)
        with self._ctx.store.transaction() as tx:
            original = self._load(tx, invoice_id)
            membership = tx.memberships.get(original.account_id, actor_id) if is_id(actor_id) else None
            if membership is None:
                raise _hidden_invoice(invoice_id)
            check(membership, Action.ISSUE_INVOICES, account_id=original.account_id)
            # Locked until the credit note is stored: two credits of one invoice take turns, so
            # the second sees the first and an invoice is never credited beyond its total.
            locked = tx.invoices.lock(original.id)
            assert locked is not None  # invoices are never deleted
            original = locked
            prepared = build_credit_note(
                original,
                load_account(tx, original.account_id),
                prior_notes=tx.invoices.credit_notes_of(original.id),
                lines=lines,
                reason=reason,
                id=new_id(),
                now=self._ctx.now(),
            )
            settles, beyond = credit_settlement(original, prepared)
            tx.payments.settle(original.id, original.paid, original.credited + settles + beyond)
            recipients = invoice_recipients(tx, prepared)
            return _store(tx, self._ctx, prepared, recipients, credit=beyond)

    def get(self, actor_id: str, invoice_id: str) -> Invoice:
        """An invoice, for members of the issuing account or of the billed account."""
        with self._ctx.store.transaction() as tx:
            invoice = self._load(tx, invoice_id)
            _viewer(tx, actor_id, invoice)
            return invoice

    def of_account(self, actor_id: str, account_id: str) -> Iterator[Invoice]:
        """The account's invoices and credit notes in number order, read in one transaction.

        For an account with many invoices, page through them with :meth:`search`.
        """
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            invoices = list(tx.invoices.of_account(account_id))
        return iter(invoices)

    def search(
        self,
        actor_id: str,
        account_id: str,
        *,
        direction: str = "issued",
        status: InvoiceStatus | str | None = None,
        customer: str | None = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Invoice]:
        """A page of invoices and credit notes, newest first, and the cursor of the next page.

        ``direction="issued"``: those the account issued; ``"received"``: those
        other accounts billed to it (its members see them as the policy lets
        them see invoices). ``customer`` keeps those issued to one customer
        key (``"issued"`` only); ``issued_from`` and ``issued_to`` bound the
        issue date, both inclusive. ``limit`` is 1 to 500. Pass the page's
        ``next_cursor`` as ``cursor`` for the next page (``None``: the last
        page); it is opaque, and one not made by this listing raises
        :class:`InvalidInput`. Each page is read from an index, however many
        invoices there are. ``status`` keeps those with that
        :class:`~tenantbill.InvoiceStatus` (or its value, ``"open"``,
        ``"partially_paid"``, ``"paid"``, ``"credited"``), or ``"overdue"``:
        open or partly paid and due before today in the account's time zone.
        """
        if direction not in ("issued", "received"):
            raise InvalidInput(f"direction is 'issued' or 'received', got {direction!r:.40}")
        wanted = _status_filter(status)
        if customer is not None:
            if direction == "received":
                raise InvalidInput("customer filters the invoices an account issued (direction='issued')")
            if not isinstance(customer, str) or not 0 < len(customer) <= 200 or not customer.isprintable():
                raise InvalidInput("customer is a customer key (text of at most 200 characters)")
        for name, day in (("issued_from", issued_from), ("issued_to", issued_to)):
            if day is not None and (isinstance(day, datetime) or not isinstance(day, date)):
                raise InvalidInput(f"{name} is a date (datetime.date), got {type(day).__name__}")
        if issued_from is not None and issued_to is not None and issued_from > issued_to:
            raise InvalidInput(f"issued_from ({issued_from}) is after issued_to ({issued_to})")
        limit = check_limit(limit)
        before = None if cursor is None else read_invoice_cursor(cursor, direction)
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            overdue_on = None
            if wanted == "overdue":
                owner = load_account(tx, account_id)
                overdue_on, wanted = local_date(self._ctx.now(), owner.timezone), None
            found = tx.invoices.search(
                account_id,
                received=direction == "received",
                customer=customer,
                issued_from=issued_from,
                issued_to=issued_to,
                before=before,
                limit=limit + 1,  # one more tells whether there is a next page
                status=wanted,
                overdue_on=overdue_on,
            )
        items = tuple(found[:limit])
        next_cursor = None
        if len(found) > limit:
            last = items[-1]
            next_cursor = invoice_cursor(direction, last.issue_date, last.issued_at, last.id)
        return Page(items, next_cursor)

    def by_number(self, actor_id: str, account_id: str, number: str) -> Invoice:
        """The account's invoice or credit note with this number (``"F-001001"``), or :class:`NotFound`."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            if not isinstance(number, str) or not 0 < len(number) <= 64 or not number.isprintable():
                raise NotFound(f"account {account_id} has no invoice numbered {number!r:.70}")
            invoice = tx.invoices.by_number(account_id, number)
            if invoice is None:
                raise NotFound(f"account {account_id} has no invoice numbered {number!r}")
            return invoice

    def pdf(self, actor_id: str, invoice_id: str, locale: str | None = None) -> bytes:
        """The invoice as a PDF, in ``locale`` or the invoice's own locale."""
        from tenantbill.render.pdf import render_invoice

        invoice = self.get(actor_id, invoice_id)
        return render_invoice(invoice, locale=locale)

    def overdue(
        self,
        actor_id: str,
        account_id: str,
        *,
        as_of: date | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Invoice]:
        """A page of the account's overdue invoices on ``as_of``, oldest due date first.

        Overdue: open or partly paid, and due before ``as_of`` (default: today
        in the account's time zone). Credit notes are never overdue. ``limit``
        is 1 to 500; pass the page's ``next_cursor`` as ``cursor`` for the next.
        """
        day = None if as_of is None else check_day(as_of, "as_of")
        limit = check_limit(limit)
        after = None if cursor is None else read_due_cursor(cursor)
        with self._ctx.store.transaction() as tx:
            account = authorized_account(tx, actor_id, account_id, Action.VIEW_INVOICES)
            day = day or local_date(self._ctx.now(), account.timezone)
            found = tx.payments.overdue(account_id, day, after=after, limit=limit + 1)
        items = tuple(found[:limit])
        next_cursor = due_cursor(items[-1].due_date, items[-1].id) if len(found) > limit else None
        return Page(items, next_cursor)

    def remind(self, actor_id: str, invoice_id: str, *, on: date | None = None, fee: bool = True) -> Reminder:
        """Send a payment reminder of an overdue invoice: an e-mail with the reminder PDF; returns it.

        ``on`` is the reminder's date (default: today in the account's time
        zone). With ``fee`` the reminder carries the fee the law allows on
        that day (see the "Getting paid" page; 0 when none may be charged).
        A second reminder of the invoice on the same day is the first one:
        nothing more is sent. Raises :class:`InvalidInvoice` for a credit
        note, an invoice with nothing left to pay, or one not yet overdue.
        OWNER, MEMBER and BILLING users may remind.
        """
        day = None if on is None else check_day(on, "on")
        if not isinstance(fee, bool):
            raise InvalidInput(f"fee is True or False, got {fee!r:.40}")
        with self._ctx.store.transaction() as tx:
            invoice = locked_invoice(tx, actor_id, invoice_id, Action.REGISTER_PAYMENTS)
            account = load_account(tx, invoice.account_id)
            day = day or local_date(self._ctx.now(), account.timezone)
            reminder, _ = remind_in(
                tx, self._ctx, invoice, on=day, fee=fee, queue=queue_reminder, account=account
            )
            return reminder

    def remind_overdue(
        self, actor_id: str, account_id: str, *, on: date | None = None, fee: bool = True
    ) -> list[Reminder]:
        """The reminder run: remind of every invoice of the account overdue on ``on``; the reminders sent.

        An invoice is reminded when it has had no reminder, or its last one
        is at least 14 days old (:data:`~tenantbill.services.payments.REMIND_AGAIN_AFTER_DAYS`),
        so the run may be started every day: running it again on the same
        day sends nothing new. Invoices are reminded a few at a time, each
        locked, in one transaction; if one of them cannot be reminded (it was
        paid meanwhile, say), that batch is done again one invoice at a time,
        so only that one is left out. The e-mails are queued: delivering them
        (``app.billing.deliver()``) renders the reminder PDFs.
        """
        day = None if on is None else check_day(on, "on")
        if not isinstance(fee, bool):
            raise InvalidInput(f"fee is True or False, got {fee!r:.40}")
        with self._ctx.store.transaction() as tx:
            account = authorized_account(tx, actor_id, account_id, Action.REGISTER_PAYMENTS)
        day = day or local_date(self._ctx.now(), account.timezone)
        sent: list[Reminder] = []
        after: tuple[date, str] | None = None
        while True:
            with self._ctx.store.transaction() as tx:
                page = tx.payments.overdue(account_id, day, after=after, limit=_REMINDER_PAGE)
            ids = [invoice.id for invoice in page]
            for at in range(0, len(ids), _REMINDERS_PER_TRANSACTION):
                batch = ids[at : at + _REMINDERS_PER_TRANSACTION]
                try:
                    sent += self._remind_batch(batch, day, fee)
                except StoreUnavailable:
                    raise
                except TenantbillError:
                    for invoice_id in batch:  # the batch was rolled back: one at a time
                        with contextlib.suppress(TenantbillError):
                            sent += self._remind_batch([invoice_id], day, fee)
            if len(page) < _REMINDER_PAGE:
                return sent
            after = (page[-1].due_date, page[-1].id)

    def _remind_batch(self, invoice_ids: list[str], day: date, fee: bool) -> list[Reminder]:
        """Remind of these invoices, those still due a reminder on ``day``, in one transaction."""
        sent = []
        account: Account | None = None  # read once: the invoices are all the run's account's
        with self._ctx.store.transaction() as tx:
            for invoice_id in invoice_ids:
                invoice = tx.invoices.lock(invoice_id)
                assert invoice is not None  # invoices are never deleted
                earlier = tx.reminders.of_invoice(invoice_id)
                if not invoice.is_overdue(day) or not due_for_reminder(earlier, day):
                    continue
                if account is None or account.id != invoice.account_id:
                    account = load_account(tx, invoice.account_id)
                reminder, new = remind_in(
                    tx,
                    self._ctx,
                    invoice,
                    on=day,
                    fee=fee,
                    queue=queue_reminder,
                    earlier=earlier,
                    account=account,
                )
                if new:
                    sent.append(reminder)
        return sent

    def ubl(self, actor_id: str, invoice_id: str) -> bytes:
        """The invoice or credit note as EHF 3.0 / Peppol BIS Billing 3.0 UBL, its PDF embedded.

        Who may have the PDF may have this. Raises
        :class:`~tenantbill.errors.EInvoiceError` naming what the invoice lacks
        (see :func:`tenantbill.domain.einvoice.document_of`).
        """
        from tenantbill.services.einvoices import invoice_ubl

        return invoice_ubl(self._ctx, actor_id, invoice_id)

    def add_credit(
        self,
        actor_id: str,
        account_id: str,
        customer: str,
        amount: Decimal,
        *,
        currency: str | None = None,
        kind: str = "prepayment",
        memo: str = "",
    ) -> LedgerEntry:
        """Put credit (a prepayment or goodwill) on a customer's balance; the next invoice uses it."""
        if kind not in ("prepayment", "goodwill"):
            raise InvalidInput("kind is 'prepayment' or 'goodwill'")
        value = to_decimal(amount, "amount")
        if value <= 0:
            raise InvalidInput(f"a credit must be a positive amount, got {value}")
        if not isinstance(customer, str) or not customer:
            raise InvalidInput(
                "customer is the key of the billed customer (for platform billing, its account id)"
            )
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.ISSUE_INVOICES)
            account = load_account(tx, account_id)
            code = normalize_currency(currency or account.currency)
            entry = LedgerEntry(
                id=new_id(),
                account_id=account_id,
                customer=customer,
                at=self._ctx.now(),
                amount=round_money(value, code),
                currency=code,
                kind=kind,
                memo=memo,
            )
            tx.ledger.add(entry)
            return entry

    def balance(
        self, actor_id: str, account_id: str, customer: str, *, currency: str | None = None
    ) -> Decimal:
        """The customer's credit left at the account, in ``currency`` (the account's by default)."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            code = normalize_currency(currency or load_account(tx, account_id).currency)
            return tx.ledger.balance(account_id, customer, code)

    def ledger(self, actor_id: str, account_id: str, customer: str) -> list[LedgerEntry]:
        """The customer's balance movements at the account, oldest first."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            return tx.ledger.entries(account_id, customer)

    @staticmethod
    def _load(tx: Transaction, invoice_id: str) -> Invoice:
        invoice = tx.invoices.get(invoice_id) if is_id(invoice_id) else None
        if invoice is None:
            raise _hidden_invoice(invoice_id)
        return invoice
