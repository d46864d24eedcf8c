"""In-memory backends: a real :class:`~tenantbill.ports.Store` and a recording mailer.

``MemoryStore`` has the same semantics as the SQL store: transactions are
serialized by one lock, and a transaction that raises is undone from its undo
log, so a failed call leaves the store exactly as it was. Use it in tests and
demos; state lives only as long as the object.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

import attrs

from tenantbill._lazy import repository
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
from tenantbill.domain.events import Event
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
from tenantbill.domain.keys import KeyRecord
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.payments import Payment, Reminder
from tenantbill.domain.subscriptions import Subscription, Usage
from tenantbill.domain.vat import VatCategory
from tenantbill.errors import (
    AlreadyBilled,
    AlreadyMember,
    DeliveryError,
    EmailTaken,
    NotFound,
    number_taken,
)
from tenantbill.ports import DuplicateId, InvoiceKey

__all__ = ["MemoryMailer", "MemoryStore"]

_MISSING: Any = object()


class MemoryStore:
    """A store in the process's memory with real, serialized, undoable transactions."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables: defaultdict[str, dict[Any, Any]] = defaultdict(dict)
        self._undo: list[Callable[[], None]] | None = None
        # Every subscription id, sorted: the billing run walks them in order.
        self._subscription_ids: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        """Open a transaction; undone if the block raises, kept otherwise."""
        with self._lock:
            if self._undo is not None:
                raise RuntimeError("MemoryStore transactions do not nest")
            self._undo = []
            tx = _MemoryTransaction(self)
            try:
                yield tx
            except BaseException:
                for undo in reversed(self._undo):
                    undo()
                raise
            finally:
                tx.closed = True
                self._undo = None

    # primitive operations, each recorded in the undo log
    def _table(self, name: str) -> dict[Any, Any]:
        return self._tables[name]

    def _put(self, name: str, key: Any, value: Any) -> None:
        table = self._table(name)
        old = table.get(key, _MISSING)
        table[key] = value
        assert self._undo is not None
        self._undo.append(lambda: _restore(table, key, old))

    def _delete(self, name: str, key: Any) -> None:
        table = self._table(name)
        if key not in table:
            return
        old = table.pop(key)
        assert self._undo is not None
        self._undo.append(lambda: _restore(table, key, old))

    def _append(self, name: str, key: Any, value: Any) -> None:
        """Append to a list value; undone by popping."""
        table = self._table(name)
        items = table.get(key)
        if items is None:
            items = table[key] = []
        items.append(value)
        assert self._undo is not None
        self._undo.append(items.pop)

    def _get(self, name: str, key: Any) -> Any:
        return self._table(name).get(key)

    def _index_subscription(self, subscription_id: str) -> None:
        ids = self._subscription_ids
        at = bisect.bisect_left(ids, subscription_id)
        if at < len(ids) and ids[at] == subscription_id:
            return
        ids.insert(at, subscription_id)
        assert self._undo is not None
        self._undo.append(lambda: ids.remove(subscription_id))


def _row_key(row: _InvoiceRow) -> InvoiceKey:
    return (row[_ISSUE_DATE], row[_ISSUED_AT], row[_ID])


_InvoiceRow = tuple[Any, ...]
"""How the store keeps an invoice: a tuple of plain values (see :func:`_pack_invoice`)."""

# The places in an invoice row of the fields the repository reads without making the invoice.
_ID, _ACCOUNT_ID, _SEQUENCE, _NUMBER, _ISSUED_AT, _ISSUE_DATE, _DUE_DATE, _CUSTOMER = 0, 1, 2, 3, 5, 6, 7, 21
_PAID = 28  # then credited: the last two, the only ones that change (payments.settle)
_LINE_WIDTH = 6
_VAT_WIDTH = 4


def _code(category: VatCategory | None) -> str | None:
    return None if category is None else category._value_  # not .value: a descriptor, slower


def _category(code: str | None) -> VatCategory | None:
    return None if code is None else VatCategory(code)


def _pack_invoice(invoice: Invoice) -> _InvoiceRow:
    """An invoice as tuples of plain values (text, numbers, dates, ``None``), in field order.

    Such tuples are untracked by the garbage collector after its first passes
    over them, so a store holding many invoices adds nothing to its full
    collections (an :class:`Invoice` is some fifteen tracked objects: itself,
    its lines, VAT groups and seller). Nested values are flat tuples, one level
    deep. :func:`_unpack_invoice` makes the invoice again.
    """
    seller, party, period, cycle = invoice.seller, invoice.bill_to, invoice.period, invoice.cycle
    lines: list[Any] = []
    for line in invoice.lines:
        category = line.vat_category
        lines += (
            line.description,
            line.quantity,
            line.unit_price,
            line.vat_rate,
            line.amount,
            None if category is None else category._value_,
        )
    vat: list[Any] = []
    for group in invoice.vat:
        vat += (group.rate, group.base, group.vat, _code(group.category))
    return (
        invoice.id,
        invoice.account_id,
        invoice.sequence,
        invoice.number,
        invoice.kind.value,
        invoice.issued_at,
        invoice.issue_date,
        invoice.due_date,
        (
            seller.name,
            seller.address,
            seller.org_number,
            seller.bank_account,
            seller.vat_registered,
            seller.country,
            seller.business_register,
        ),
        seller.logo,
        (party.name, party.address, party.org_number, party.reference, party.country),
        party.emails,
        invoice.currency,
        invoice.locale,
        tuple(lines),
        tuple(vat),
        (invoice.net_total, invoice.vat_total, invoice.total, invoice.balance_applied, invoice.amount_due),
        None if period is None else (period.start, period.end),
        None if cycle is None else cycle.months,
        invoice.credits_invoice_id,
        invoice.credits_number,
        invoice.customer,
        invoice.credited_lines,
        invoice.note,
        invoice.subscription_id,
        invoice.kid_method,
        invoice.vat_exemption_reason,
        invoice.tax_exchange_rate,
        invoice.paid,
        invoice.credited,
    )


def _unpack_invoice(row: _InvoiceRow) -> Invoice:
    """The invoice :func:`_pack_invoice` made ``row`` of (equal to it, not the same object)."""
    (
        id_,
        account_id,
        sequence,
        number,
        kind,
        issued_at,
        issue_date,
        due_date,
        seller,
        logo,
        party,
        emails,
        currency,
        locale,
        lines,
        vat,
        totals,
        period,
        months,
        credits_invoice_id,
        credits_number,
        customer,
        credited_lines,
        note,
        subscription_id,
        kid_method,
        vat_exemption_reason,
        tax_exchange_rate,
        paid,
        credited,
    ) = row
    net_total, vat_total, total, balance_applied, amount_due = totals
    seller_name, seller_address, seller_org_number, bank_account, vat_registered, country, register = seller
    party_name, party_address, party_org_number, reference, party_country = party
    return Invoice(
        id=id_,
        account_id=account_id,
        sequence=sequence,
        number=number,
        kind=InvoiceKind(kind),
        issued_at=issued_at,
        issue_date=issue_date,
        due_date=due_date,
        seller=Seller(
            seller_name,
            seller_address,
            seller_org_number,
            bank_account,
            vat_registered,
            logo,
            country,
            register,
        ),
        bill_to=stored_party(party_name, party_address, party_org_number, emails, reference, party_country),
        currency=currency,
        locale=locale,
        lines=tuple(
            InvoiceLine(
                lines[at],
                lines[at + 1],
                lines[at + 2],
                lines[at + 3],
                lines[at + 4],
                _category(lines[at + 5]),
            )
            for at in range(0, len(lines), _LINE_WIDTH)
        ),
        vat=tuple(
            VatGroup(vat[at], vat[at + 1], vat[at + 2], _category(vat[at + 3]))
            for at in range(0, len(vat), _VAT_WIDTH)
        ),
        net_total=net_total,
        vat_total=vat_total,
        total=total,
        balance_applied=balance_applied,
        amount_due=amount_due,
        period=None if period is None else Period(*period),
        cycle=None if months is None else BillingCycle(months),
        customer=customer,
        credits_invoice_id=credits_invoice_id,
        credits_number=credits_number,
        credited_lines=credited_lines,
        note=note,
        subscription_id=subscription_id,
        kid_method=kid_method,
        vat_exemption_reason=vat_exemption_reason,
        tax_exchange_rate=tax_exchange_rate,
        paid=paid,
        credited=credited,
    )


def _restore(table: dict[Any, Any], key: Any, old: Any) -> None:
    if old is _MISSING:
        table.pop(key, None)
    else:
        table[key] = old


class _MemoryTransaction:
    """The unit of work of a :class:`MemoryStore` (see :class:`tenantbill.ports.Transaction`)."""

    def __init__(self, store: MemoryStore) -> None:
        self._s = store
        self.closed = False

    @repository
    def users(self) -> _MemoryUsers:
        return _MemoryUsers(self)

    @repository
    def accounts(self) -> _MemoryAccounts:
        return _MemoryAccounts(self)

    @repository
    def memberships(self) -> _MemoryMemberships:
        return _MemoryMemberships(self)

    @repository
    def invitations(self) -> _MemoryInvitations:
        return _MemoryInvitations(self)

    @repository
    def invoices(self) -> _MemoryInvoices:
        return _MemoryInvoices(self)

    @repository
    def ledger(self) -> _MemoryLedger:
        return _MemoryLedger(self)

    @repository
    def payments(self) -> _MemoryPayments:
        return _MemoryPayments(self)

    @repository
    def reminders(self) -> _MemoryReminders:
        return _MemoryReminders(self)

    @repository
    def subscriptions(self) -> _MemorySubscriptions:
        return _MemorySubscriptions(self)

    @repository
    def metering(self) -> _MemoryMetering:
        return _MemoryMetering(self)

    @repository
    def outbox(self) -> _MemoryOutbox:
        return _MemoryOutbox(self)

    @repository
    def idempotency(self) -> _MemoryIdempotency:
        return _MemoryIdempotency(self)

    @repository
    def audit(self) -> _MemoryAudit:
        return _MemoryAudit(self)

    @repository
    def events(self) -> _MemoryEvents:
        return _MemoryEvents(self)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(
                "invoices_of_account() was iterated after its transaction ended; "
                "iterate it inside the transaction (or make a list there)"
            )

    def _require(self, table: str, key: Any, what: str) -> Any:
        value = self._s._get(table, key)
        if value is None:
            raise NotFound(f"no {what} {key!r}")
        return value


class _MemoryPart:
    """A repository of a :class:`_MemoryTransaction`: it works on the transaction's store."""

    __slots__ = ("_s", "_tx")

    def __init__(self, tx: _MemoryTransaction) -> None:
        self._tx = tx
        self._s = tx._s


class _MemoryUsers(_MemoryPart):
    """The ``users`` repository of a transaction (see :class:`tenantbill.ports.Users`)."""

    __slots__ = ()

    def add(self, user: User) -> None:
        key = email_key(user.email)
        if self._s._get("user_email", key) is not None:
            raise EmailTaken(f"a user with the e-mail address {user.email} already exists")
        self._s._put("users", user.id, user)
        self._s._put("user_email", key, user.id)

    def save(self, user: User) -> None:
        self._tx._require("users", user.id, "user")
        self._s._put("users", user.id, user)

    def get(self, user_id: str) -> User | None:
        user: User | None = self._s._get("users", user_id)
        return user

    def by_email(self, email: str) -> User | None:
        user_id = self._s._get("user_email", email_key(email))
        return None if user_id is None else self.get(user_id)

    def erase(self, user_id: str, name: str) -> bool:
        user = self.get(user_id)
        if user is None:
            return False
        if user.email:
            self._s._delete("user_email", email_key(user.email))
        self._s._put("users", user_id, attrs.evolve(user, name=name, email="", invoice_emails=False))
        return True


class _MemoryAccounts(_MemoryPart):
    """The ``accounts`` repository of a transaction (see :class:`tenantbill.ports.Accounts`)."""

    __slots__ = ()

    def add(self, account: Account) -> None:
        if self._s._get("accounts", account.id) is not None:
            raise DuplicateId(f"an account with the id {account.id!r} already exists")
        self._s._put("accounts", account.id, account)
        self._s._put("series", account.id, Series(account_id=account.id))

    def save(self, account: Account) -> None:
        self._tx._require("accounts", account.id, "account")
        self._s._put("accounts", account.id, account)

    def get(self, account_id: str) -> Account | None:
        account: Account | None = self._s._get("accounts", account_id)
        return account

    def of_user(self, user_id: str) -> list[Account]:
        ids = self._s._get("user_accounts", user_id) or []
        accounts = (self.get(i) for i in ids)
        return [a for a in accounts if a is not None]

    def memberships_of(self, user_id: str) -> list[tuple[Account, Role]]:
        found = []
        for account in self.of_user(user_id):
            membership = self._tx.memberships.get(account.id, user_id)
            if membership is not None:
                found.append((account, membership.role))
        return found

    def claim_number(self, kind: str, number: str, account_id: str, owner_id: str) -> None:
        owner = self._s._get("number_owner", (kind, number))
        if owner is not None and owner != owner_id:
            raise number_taken(kind, number)
        self._s._put("number_owner", (kind, number), owner_id)
        self._s._put("number_claims", (kind, number, account_id), True)

    def release_number(self, kind: str, number: str, account_id: str) -> None:
        self._s._delete("number_claims", (kind, number, account_id))
        if not self.number_holders(kind, number):
            self._s._delete("number_owner", (kind, number))

    def number_holders(self, kind: str, number: str) -> list[str]:
        claims = self._s._table("number_claims")
        return sorted(a for (k, n, a) in claims if k == kind and n == number)

    def set_number_owner(self, kind: str, number: str, owner_id: str) -> None:
        self._s._put("number_owner", (kind, number), owner_id)


class _MemoryMemberships(_MemoryPart):
    """The ``memberships`` repository of a transaction (see :class:`tenantbill.ports.Memberships`)."""

    __slots__ = ()

    def add(self, membership: Membership) -> None:
        key = (membership.account_id, membership.user_id)
        if self._s._get("memberships", key) is not None:
            raise AlreadyMember(f"user {membership.user_id} is already a member of this account")
        self._s._put("memberships", key, membership)
        self._s._append("account_members", membership.account_id, membership.user_id)
        self._s._append("user_accounts", membership.user_id, membership.account_id)

    def remove(self, account_id: str, user_id: str) -> bool:
        found = self.get(account_id, user_id)
        if found is None or found.role is Role.OWNER:
            return False
        self._s._delete("memberships", (account_id, user_id))
        members = self._s._get("account_members", account_id) or []
        self._s._put("account_members", account_id, [u for u in members if u != user_id])
        accounts = self._s._get("user_accounts", user_id) or []
        self._s._put("user_accounts", user_id, [a for a in accounts if a != account_id])
        return True

    def transfer_ownership(self, account_id: str, from_user_id: str, to_user_id: str) -> bool:
        owner, heir = self.get(account_id, from_user_id), self.get(account_id, to_user_id)
        account = self._tx.accounts.get(account_id)
        if owner is None or heir is None or account is None or from_user_id == to_user_id:
            return False
        if owner.role is not Role.OWNER:
            return False
        self._s._put("memberships", (account_id, from_user_id), attrs.evolve(owner, role=Role.MEMBER))
        self._s._put("memberships", (account_id, to_user_id), attrs.evolve(heir, role=Role.OWNER))
        self._s._put("accounts", account_id, attrs.evolve(account, owner_id=to_user_id))
        return True

    def get(self, account_id: str, user_id: str) -> Membership | None:
        membership: Membership | None = self._s._get("memberships", (account_id, user_id))
        return membership

    def with_account(
        self, account_id: str, user_id: str, *, recent: bool = False
    ) -> tuple[Account | None, Membership | None]:
        return self._tx.accounts.get(account_id), self.get(account_id, user_id)

    def of_account(self, account_id: str) -> list[Membership]:
        user_ids = self._s._get("account_members", account_id) or []
        found = []
        for user_id in user_ids:
            membership = self.get(account_id, user_id)
            if membership is not None:
                user = self._tx.users.get(user_id)
                if user is not None:
                    membership = attrs.evolve(membership, name=user.name, email=user.email or None)
                found.append(membership)
        return found


class _MemoryInvitations(_MemoryPart):
    """The ``invitations`` repository of a transaction (see :class:`tenantbill.ports.Invitations`)."""

    __slots__ = ()

    def add(self, invitation: Invitation) -> None:
        self._s._put("invitations", invitation.id, invitation)
        self._s._put("invitation_token", invitation.token_hash, invitation.id)

    def accept(self, invitation_id: str, token_hash: str, user_id: str) -> bool:
        found = self._pending(invitation_id)
        if found is None or found.token_hash != token_hash:
            return False
        accepted = attrs.evolve(found, state=InvitationState.ACCEPTED, accepted_by=user_id)
        self._s._put("invitations", invitation_id, accepted)
        return True

    def revoke(self, invitation_id: str) -> bool:
        found = self._pending(invitation_id)
        if found is None:
            return False
        self._s._put("invitations", invitation_id, attrs.evolve(found, state=InvitationState.REVOKED))
        return True

    def renew(self, invitation_id: str, token_hash: str, expires_at: datetime) -> bool:
        found = self._pending(invitation_id)
        if found is None:
            return False
        self._s._delete("invitation_token", found.token_hash)
        self.add(attrs.evolve(found, token_hash=token_hash, expires_at=expires_at))
        return True

    def _pending(self, invitation_id: str) -> Invitation | None:
        found: Invitation | None = self._s._get("invitations", invitation_id)
        return found if found is not None and found.state is InvitationState.PENDING else None

    def get(self, invitation_id: str) -> Invitation | None:
        invitation: Invitation | None = self._s._get("invitations", invitation_id)
        return invitation

    def by_token_hash(self, token_hash: str) -> Invitation | None:
        invitation_id = self._s._get("invitation_token", token_hash)
        return None if invitation_id is None else self.get(invitation_id)

    def pending_of(self, account_id: str) -> list[Invitation]:
        pending = (
            i
            for i in self._s._table("invitations").values()
            if i.account_id == account_id and i.state is InvitationState.PENDING
        )
        return sorted(pending, key=lambda i: (i.created_at, i.id))

    def redact_email(self, email_key_: str, replacement: str) -> None:
        for invitation in list(self._s._table("invitations").values()):
            if invitation.email.lower() == email_key_:
                self._s._put("invitations", invitation.id, attrs.evolve(invitation, email=replacement))


class _MemoryInvoices(_MemoryPart):
    """The ``invoices`` repository of a transaction (see :class:`tenantbill.ports.Invoices`)."""

    __slots__ = ()

    def series(self, account_id: str) -> Series:
        series: Series = self._tx._require("series", account_id, "invoice series")
        return series

    def save_series(self, series: Series) -> None:
        self._s._put("series", series.account_id, series)

    def _allocate_sequence(self, account_id: str) -> int:
        series = self.series(account_id)
        self.save_series(series.taken(series.next_sequence))
        return series.next_sequence

    def _add(self, invoice: Invoice) -> None:
        self._s._put("invoices", invoice.id, _pack_invoice(invoice))
        self._s._append("account_invoices", invoice.account_id, invoice.id)
        if invoice.credits_invoice_id is not None:
            self._s._append("credit_notes", invoice.credits_invoice_id, invoice.id)

    def lock_series(self, account_id: str) -> Series:
        return self.series(account_id)  # transactions are serialized by the store's lock

    def add_numbered(
        self, invoice: Invoice, messages: Sequence[OutboxMessage] = (), events: Sequence[Event] = ()
    ) -> Invoice:
        sequence = self._allocate_sequence(invoice.account_id)
        number = self.series(invoice.account_id).format(sequence)
        numbered = invoice.numbered(sequence, number)
        self._add(numbered)
        outbox = self._tx.outbox
        for message in messages:
            outbox.add(message)
        if events:
            log = self._tx.events
            for event in events:
                log.append_numbered(event, number)
        return numbered

    def get(self, invoice_id: str) -> Invoice | None:
        row: _InvoiceRow | None = self._s._get("invoices", invoice_id)
        return None if row is None else _unpack_invoice(row)

    def lock(self, invoice_id: str) -> Invoice | None:
        return self.get(invoice_id)  # transactions are serialized by the store's lock

    def of_account(self, account_id: str) -> Iterator[Invoice]:
        # A generator, like the SQL store's: it reads when iterated, inside the transaction only.
        self._tx._check_open()
        ids = list(self._s._get("account_invoices", account_id) or [])
        rows: list[_InvoiceRow] = [self._s._get("invoices", i) for i in ids]
        for row in sorted(rows, key=lambda row: row[_SEQUENCE]):
            self._tx._check_open()
            yield _unpack_invoice(row)

    def credit_notes_of(self, invoice_id: str) -> list[Invoice]:
        ids = self._s._get("credit_notes", invoice_id) or []
        return [_unpack_invoice(self._s._get("invoices", i)) for i in ids]

    def search(
        self,
        account_id: str,
        *,
        received: bool = False,
        customer: str | None = None,
        issued_from: date | None = None,
        issued_to: date | None = None,
        before: InvoiceKey | None = None,
        limit: int = 50,
        status: str | None = None,
        overdue_on: date | None = None,
    ) -> list[Invoice]:
        # A scan of the stored rows: the in-memory store keeps no index (the SQL stores read a
        # page from one). Only the invoices of the page are made from their rows.
        rows: list[_InvoiceRow] = list(self._s._table("invoices").values())
        if received:
            found = [r for r in rows if r[_CUSTOMER] == account_id]
        else:
            found = [r for r in rows if r[_ACCOUNT_ID] == account_id]
            if customer is not None:
                found = [r for r in found if r[_CUSTOMER] == customer]
        if issued_from is not None:
            found = [r for r in found if r[_ISSUE_DATE] >= issued_from]
        if issued_to is not None:
            found = [r for r in found if r[_ISSUE_DATE] <= issued_to]
        if before is not None:
            found = [r for r in found if _row_key(r) < before]
        found.sort(key=_row_key, reverse=True)
        if status is None and overdue_on is None:
            return [_unpack_invoice(row) for row in found[: max(limit, 0)]]
        # By status: the status follows from the amounts, so each candidate is made to be judged.
        invoices = (_unpack_invoice(row) for row in found)
        if status is not None:
            invoices = (i for i in invoices if i.status.value == status)
        if overdue_on is not None:
            invoices = (i for i in invoices if not i.is_credit_note and i.is_overdue(overdue_on))
        return list(itertools.islice(invoices, max(limit, 0)))

    def by_number(self, account_id: str, number: str) -> Invoice | None:
        ids = self._s._get("account_invoices", account_id) or []
        rows: list[_InvoiceRow] = [self._s._get("invoices", i) for i in ids]
        found = max((r for r in rows if r[_NUMBER] == number), key=lambda r: r[_SEQUENCE], default=None)
        return None if found is None else _unpack_invoice(found)


class _MemoryLedger(_MemoryPart):
    """The ``ledger`` repository of a transaction (see :class:`tenantbill.ports.Ledger`)."""

    __slots__ = ()

    def add(self, entry: LedgerEntry) -> None:
        self._s._append("ledger", (entry.account_id, entry.customer), entry)

    def entries(self, account_id: str, customer_key: str) -> list[LedgerEntry]:
        return list(self._s._get("ledger", (account_id, customer_key)) or [])

    def balance(self, account_id: str, customer_key: str, currency: str) -> Decimal:
        entries = self.entries(account_id, customer_key)
        return sum((e.amount for e in entries if e.currency == currency), Decimal(0))


class _MemorySubscriptions(_MemoryPart):
    """The ``subscriptions`` repository of a transaction (see :class:`tenantbill.ports.Subscriptions`)."""

    __slots__ = ()

    def add(self, subscription: Subscription) -> None:
        self._s._put("subscriptions", subscription.id, subscription)
        self._s._index_subscription(subscription.id)

    def save(self, subscription: Subscription) -> None:
        self._tx._require("subscriptions", subscription.id, "subscription")
        self._s._put("subscriptions", subscription.id, subscription)

    def get(self, subscription_id: str) -> Subscription | None:
        subscription: Subscription | None = self._s._get("subscriptions", subscription_id)
        return subscription

    def of_account(self, account_id: str) -> list[Subscription]:
        table = self._s._table("subscriptions")
        return [
            s
            for s in (table[i] for i in self._s._subscription_ids)
            if account_id in (s.provider_id, s.customer_id)
        ]

    def exists_between(self, provider_id: str, customer_id: str) -> bool:
        return any(
            s.provider_id == provider_id and s.customer_id == customer_id
            for s in self._s._table("subscriptions").values()
        )

    def due_ids(self, as_of: date, after: str | None, limit: int) -> list[str]:
        due = sorted(
            s.id
            for s in self._s._table("subscriptions").values()
            if (after is None or s.id > after) and s.next_due is not None and s.next_due <= as_of
        )
        return due[: max(limit, 0)]

    def lock_next_due(self, as_of: date, after: str | None) -> Subscription | None:
        # Transactions are serialized by the store's lock: nobody else holds any.
        ids = self._s._subscription_ids
        subscriptions = self._s._table("subscriptions")
        for at in range(0 if after is None else bisect.bisect_right(ids, after), len(ids)):
            subscription: Subscription = subscriptions[ids[at]]
            due = subscription.next_due
            if due is not None and due <= as_of:
                return subscription
        return None

    def lock(self, subscription_id: str, *, wait: bool = False) -> Subscription | None:
        # Transactions are serialized by the store's lock: nobody else can hold this one.
        return self.get(subscription_id)

    def add_usage(self, usage: Usage) -> None:
        if usage.key is not None:
            if self._s._get("usage_keys", (usage.subscription_id, usage.key)) is not None:
                raise DuplicateId(f"usage with the key {usage.key!r} is already recorded")
            self._s._put("usage_keys", (usage.subscription_id, usage.key), usage)
        self._s._append("usage", usage.subscription_id, usage)

    def usage_between(self, subscription_id: str, start: date, end: date) -> list[Usage]:
        usages: list[Usage] = self._s._get("usage", subscription_id) or []
        return [u for u in usages if start <= u.on < end]

    def mark_billed(self, subscription_id: str, due: date, invoice_id: str | None) -> None:
        if self._s._get("billing_marks", (subscription_id, due)) is not None:
            raise AlreadyBilled(f"subscription {subscription_id} is already billed for {due}")
        self._s._put("billing_marks", (subscription_id, due), invoice_id or "")


class _MemoryMetering(_MemoryPart):
    """The ``metering`` repository of a transaction (see :class:`tenantbill.ports.Metering`)."""

    __slots__ = ()

    def add(self, usages: Sequence[Usage]) -> set[tuple[str, str]]:
        recorded: set[tuple[str, str]] = set()
        subscriptions = self._tx.subscriptions
        for usage in usages:
            if usage.key is None:
                raise ValueError("metering.add records usage with a key only")
            pair = (usage.subscription_id, usage.key)
            if self._s._get("usage_keys", pair) is None:
                subscriptions.add_usage(usage)
                recorded.add(pair)
        return recorded

    def by_key(self, subscription_id: str, key: str) -> Usage | None:
        usage: Usage | None = self._s._get("usage_keys", (subscription_id, key))
        return usage


class _MemoryOutbox(_MemoryPart):
    """The ``outbox`` repository of a transaction (see :class:`tenantbill.ports.Outbox`)."""

    __slots__ = ()

    def add(self, message: OutboxMessage) -> bool:
        if self._s._get("outbox_keys", message.key) is not None:
            return False
        self._s._put("outbox", message.id, message)
        self._s._put("outbox_keys", message.key, message.id)
        if message.invoice_id is not None:
            self._s._append("invoice_outbox", message.invoice_id, message.id)
        return True

    def save(self, message: OutboxMessage) -> None:
        stored: OutboxMessage = self._tx._require("outbox", message.id, "outbox message")
        # Only the delivery state changes: the key and the content stay as queued,
        # but a sent or dropped message's payload is erased, and a drop is kept.
        saved = attrs.evolve(
            stored,
            next_attempt_at=message.next_attempt_at,
            attempts=message.attempts,
            last_error=message.last_error,
            sent_at=message.sent_at,
            dropped_at=stored.dropped_at or message.dropped_at,
        )
        if saved.done:
            saved = attrs.evolve(saved, payload=None)
        self._s._put("outbox", message.id, saved)

    def get(self, message_id: str) -> OutboxMessage | None:
        message: OutboxMessage | None = self._s._get("outbox", message_id)
        return message

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        pending = (m for m in self._s._table("outbox").values() if not m.done)
        due = sorted(
            (m for m in pending if m.next_attempt_at <= now),
            key=lambda m: (m.next_attempt_at, m.created_at, m.id),
        )
        return due[: max(limit, 0)]

    def claim(
        self, now: datetime, limit: int, lease_until: datetime, *, message_id: str | None = None
    ) -> list[OutboxMessage]:
        # Serialized by the store's lock: no other transaction can claim in between.
        if message_id is None:
            due = self.due(now, limit)
        else:
            message = self.get(message_id)
            due = []
            if message is not None and not message.done and message.next_attempt_at <= now:
                due = [message][: max(limit, 0)]
        claimed = [attrs.evolve(m, next_attempt_at=lease_until) for m in due]
        for message in claimed:
            self._s._put("outbox", message.id, message)
        return claimed

    def of_invoice(self, invoice_id: str) -> list[OutboxMessage]:
        ids = self._s._get("invoice_outbox", invoice_id) or []
        return [self._s._get("outbox", i) for i in ids]


class _MemoryIdempotency(_MemoryPart):
    """The ``idempotency`` repository of a transaction (see :class:`tenantbill.ports.Idempotency`)."""

    __slots__ = ()

    def claim(self, scope: str, key: str, fingerprint: str) -> KeyRecord | None:
        found: KeyRecord | None = self._s._get("idempotency", (scope, key))
        if found is None:
            self._s._put("idempotency", (scope, key), KeyRecord(fingerprint))
        return found

    def complete(self, scope: str, key: str, result: str) -> None:
        found: KeyRecord = self._tx._require("idempotency", (scope, key), "idempotency key")
        self._s._put("idempotency", (scope, key), attrs.evolve(found, result=result))


class _MemoryAudit(_MemoryPart):
    """The ``audit`` repository of a transaction (see :class:`tenantbill.ports.Audit`)."""

    __slots__ = ()

    def add(self, event: AuditEvent) -> None:
        self._s._append("audit", event.account_id, event)

    def of_account(self, account_id: str) -> list[AuditEvent]:
        return list(self._s._get("audit", account_id) or [])

    def redact(self, target_key: str, replacement: str) -> None:
        for account_id, events in list(self._s._table("audit").items()):
            if any(e.target.lower() == target_key for e in events):
                redacted = [
                    attrs.evolve(e, target=replacement) if e.target.lower() == target_key else e
                    for e in events
                ]
                self._s._put("audit", account_id, redacted)


class _MemoryEvents(_MemoryPart):
    """The ``events`` repository of a transaction (see :class:`tenantbill.ports.Events`).

    Transactions are serialized by the store's lock, so positions are taken in commit order.
    The log keeps each event as a tuple of plain values (its type, account, time, data as
    flat key/value pairs, and an invoice's number), which the garbage collector stops
    tracking, and makes the :class:`Event` with its position when it is read.
    """

    __slots__ = ()

    def append(self, event: Event) -> None:
        self._s._append("events", None, _pack_event(event, None))

    def append_numbered(self, event: Event, number: str) -> None:
        """Append the event of an invoice numbered ``number``."""
        self._s._append("events", None, _pack_event(event, number))

    def read(self, after: int, limit: int) -> list[Event]:
        start = max(after, 0)  # positions are 1, 2, 3, …: the event at position p is log[p - 1]
        logged = self._log()[start : start + max(limit, 0)]
        return [
            Event(type_, account_id, at, _event_data(pairs, number), start + offset + 1)
            for offset, (type_, account_id, at, pairs, number) in enumerate(logged)
        ]

    def _log(self) -> list[_EventRow]:
        logged: list[_EventRow] = self._s._get("events", None) or []
        return logged


_EventRow = tuple[str, str | None, datetime, tuple[Any, ...], str | None]
"""How the store keeps an event: type, account, time, data as (key, value, key, value, …), number."""


def _pack_event(event: Event, number: str | None) -> _EventRow:
    pairs: list[Any] = []
    for item in event.data.items():
        pairs += item
    return (event.type, event.account_id, event.at, tuple(pairs), number)


def _event_data(pairs: tuple[Any, ...], number: str | None) -> dict[str, Any]:
    """An event's data from its stored pairs, with the invoice's number if it has one."""
    data = dict(zip(pairs[::2], pairs[1::2], strict=True))
    if number is not None:
        data["number"] = number
    return data


class _MemoryPayments(_MemoryPart):
    """The ``payments`` repository of a transaction (see :class:`tenantbill.ports.Payments`)."""

    __slots__ = ()

    def add(self, payment: Payment) -> bool:
        if payment.reference is not None:
            key = (payment.account_id, payment.reference)
            if self._s._get("payment_references", key) is not None:
                return False
            self._s._put("payment_references", key, payment.id)
        self._s._put("payments", payment.id, payment)
        self._s._append("invoice_payments", payment.invoice_id, payment.id)
        return True

    def by_reference(self, account_id: str, reference: str) -> Payment | None:
        payment_id = self._s._get("payment_references", (account_id, reference))
        payment: Payment | None = None if payment_id is None else self._s._get("payments", payment_id)
        return payment

    def of_invoice(self, invoice_id: str) -> list[Payment]:
        return [self._s._get("payments", i) for i in self._s._get("invoice_payments", invoice_id) or []]

    def settle(self, invoice_id: str, paid: Decimal, credited: Decimal) -> None:
        row: _InvoiceRow = self._tx._require("invoices", invoice_id, "invoice")
        self._s._put("invoices", invoice_id, (*row[:_PAID], paid, credited))

    def invoice_by_sequence(self, account_id: str, sequence: int) -> Invoice | None:
        # An account's invoices are listed in the order they were numbered: by sequence.
        ids = self._s._get("account_invoices", account_id) or []
        table = self._s._table("invoices")
        at = bisect.bisect_left(ids, sequence, key=lambda i: table[i][_SEQUENCE])
        if at < len(ids) and table[ids[at]][_SEQUENCE] == sequence:
            return _unpack_invoice(table[ids[at]])
        return None

    def overdue(
        self, account_id: str, as_of: date, *, after: tuple[date, str] | None = None, limit: int = 100
    ) -> list[Invoice]:
        table = self._s._table("invoices")
        rows = (table[i] for i in self._s._get("account_invoices", account_id) or [])
        found = [
            invoice
            for invoice in (_unpack_invoice(row) for row in rows if row[_DUE_DATE] < as_of)
            if not invoice.is_credit_note
            and invoice.is_overdue(as_of)
            and (after is None or (invoice.due_date, invoice.id) > after)
        ]
        found.sort(key=lambda invoice: (invoice.due_date, invoice.id))
        return found[: max(limit, 0)]


class _MemoryReminders(_MemoryPart):
    """The ``reminders`` repository of a transaction (see :class:`tenantbill.ports.Reminders`)."""

    __slots__ = ()

    def add(self, reminder: Reminder) -> bool:
        sent = self._s._get("reminders", reminder.invoice_id) or []
        if any(earlier.sent_on == reminder.sent_on for earlier in sent):
            return False
        self._s._append("reminders", reminder.invoice_id, reminder)
        return True

    def of_invoice(self, invoice_id: str) -> list[Reminder]:
        return sorted(self._s._get("reminders", invoice_id) or [], key=lambda reminder: reminder.sent_on)


_RECIPIENT_FIELDS = frozenset({"to", "cc", "bcc"})


class MemoryMailer:
    """A mailer that keeps every message it is given in :attr:`sent`.

    With ``keep=False`` it only counts them (:attr:`count`), for long runs
    where holding every message would dominate memory.
    """

    def __init__(self, *, keep: bool = True) -> None:
        self.sent: list[EmailMessage] = []
        """The messages delivered so far, in order."""
        self.count = 0
        """How many messages were delivered."""
        self._keep = keep

    def send(self, message: EmailMessage) -> None:
        """Record ``message`` as delivered; a message with no recipients is refused like SMTP refuses it."""
        fields = [str(value) for name, value in message.raw_items() if name.lower() in _RECIPIENT_FIELDS]
        if not any(address for _, address in getaddresses(fields)):
            raise DeliveryError("the message has no recipients; set its To, Cc or Bcc header before sending")
        self.count += 1
        if self._keep:
            self.sent.append(message)
