"""Sign-up, accounts and their invoice setup, users' preferences."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from tenantbill.domain.accounts import Account, AuditEvent, Membership, Role, User
from tenantbill.domain.identity import BankAccount, Email, OrgNumber, email_key
from tenantbill.domain.policy import Action
from tenantbill.domain.setup import UNSET, validate_setup
from tenantbill.errors import InvalidEmail, InvalidInput, NotFound, OwnerCannotLeave
from tenantbill.ports import Transaction
from tenantbill.services.base import Context, authorize, is_id, load_account, new_id, shown

__all__ = ["AccountService", "UserService", "claim_numbers", "create_user"]

_SETUP_FIELDS = (
    "address",
    "currency",
    "locale",
    "timezone",
    "payment_terms_days",
    "vat_registered",
    "logo",
    "kid",
    "country",
    "business_register",
    "reminder_fee_agreed",
    "late_interest_rate",
    "buyer_reference",
)
_INVOICE_SETUP = frozenset(
    {
        "org_number",
        "bank_account",
        "currency",
        "locale",
        "timezone",
        "payment_terms_days",
        "vat_registered",
        "logo",
        "kid",
        "country",
        "business_register",
        "reminder_fee_agreed",
        "late_interest_rate",
    }
)


def _parse_numbers(org_number: object, bank_account: object) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    if org_number is not UNSET:
        changes["org_number"] = None if org_number is None else OrgNumber.parse(org_number).value
    if bank_account is not UNSET:
        changes["bank_account"] = None if bank_account is None else BankAccount.parse(bank_account).value
    return changes


def claim_numbers(tx: Transaction, account: Account) -> None:
    """Claim the account's org and bank numbers for its owner (raises if taken)."""
    if account.org_number is not None:
        tx.accounts.claim_number("org", account.org_number, account.id, account.owner_id)
    if account.bank_account is not None:
        tx.accounts.claim_number("bank", account.bank_account, account.id, account.owner_id)


def create_user(tx: Transaction, name: object, email: object) -> User:
    """Insert a new user (raises ``EmailTaken`` if the address has one)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("a user needs a name (non-empty text)")
    user = User(id=new_id(), name=name.strip(), email=Email.parse(email).value)
    tx.users.add(user)
    return user


class AccountService:
    """Accounts: sign-up, creation, switching, invoice setup and invoice recipients."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def sign_up(
        self,
        *,
        name: str,
        email: str,
        org_number: str | None = None,
        bank_account: str | None = None,
        **setup: Any,
    ) -> tuple[User, Account]:
        """Create an account and its owner, a user with the same name, in one transaction."""
        fields = validate_setup(name=name, **_only_setup(setup))
        numbers = _parse_numbers(org_number, bank_account)
        with self._ctx.store.transaction() as tx:
            user = create_user(tx, fields["name"], email)
            account = self._insert(tx, user.id, fields, numbers)
        return user, account

    def create(
        self,
        actor_id: str,
        *,
        name: str,
        org_number: str | None = None,
        bank_account: str | None = None,
        **setup: Any,
    ) -> Account:
        """Create another account owned by ``actor_id`` (its own setup and number series)."""
        fields = validate_setup(name=name, **_only_setup(setup))
        numbers = _parse_numbers(org_number, bank_account)
        with self._ctx.store.transaction() as tx:
            if not is_id(actor_id) or tx.users.get(actor_id) is None:
                raise NotFound(f"there is no user {shown(actor_id)}")
            return self._insert(tx, actor_id, fields, numbers)

    def _insert(
        self, tx: Transaction, owner_id: str, fields: dict[str, Any], numbers: dict[str, str | None]
    ) -> Account:
        account = Account(id=new_id(), owner_id=owner_id, **{**fields, **numbers})
        tx.accounts.add(account)
        tx.memberships.add(Membership(account.id, owner_id, Role.OWNER))
        claim_numbers(tx, account)
        return account

    def get(self, actor_id: str, account_id: str) -> Account:
        """The account, if the actor is a member of it."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_ACCOUNT)
            return load_account(tx, account_id)

    def of_user(self, user_id: str) -> list[Account]:
        """Every account the user belongs to, for switching between them."""
        with self._ctx.store.transaction() as tx:
            return tx.accounts.of_user(user_id) if is_id(user_id) else []

    def memberships_of(self, user_id: str) -> list[tuple[Account, Role]]:
        """Every account the user belongs to with the user's role there, oldest first: the account switcher.

        The acting user is the user itself.
        """
        with self._ctx.store.transaction() as tx:
            return tx.accounts.memberships_of(user_id) if is_id(user_id) else []

    def update(
        self,
        actor_id: str,
        account_id: str,
        *,
        name: Any = UNSET,
        org_number: Any = UNSET,
        bank_account: Any = UNSET,
        **setup: Any,
    ) -> Account:
        """Change company details or invoice setup; a keyword left out is unchanged.

        Company details (name, address) need EDIT_COMPANY_DETAILS; the invoice
        setup (numbers, currency, locale, VAT, terms, logo) EDIT_INVOICE_SETUP.
        ``None`` clears an optional field.
        """
        fields = validate_setup(name=name, **_only_setup(setup))
        numbers = _parse_numbers(org_number, bank_account)
        changes = {**fields, **numbers}
        with self._ctx.store.transaction() as tx:
            action = (
                Action.EDIT_INVOICE_SETUP if _INVOICE_SETUP & changes.keys() else Action.EDIT_COMPANY_DETAILS
            )
            authorize(tx, actor_id, account_id, action)
            old = load_account(tx, account_id)
            new = attrs.evolve(old, **changes)
            _reclaim(tx, old, new)
            tx.accounts.save(new)
            changed = sorted(key for key, value in changes.items() if getattr(old, key) != value)
            if changed:
                kind = "invoice_setup_changed" if _INVOICE_SETUP & set(changed) else "details_changed"
                tx.audit.add(
                    AuditEvent(account_id, self._ctx.now(), actor_id, kind, account_id, ", ".join(changed))
                )
            return new

    def set_invoice_recipients(self, actor_id: str, account_id: str, emails: Iterable[str]) -> Account:
        """Set the extra addresses (an accountant, say) that receive every invoice e-mail."""
        if isinstance(emails, str):
            raise InvalidEmail("give a list of addresses, not one string")
        parsed = {Email.parse(e).key: Email.parse(e).value for e in emails}
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.EDIT_COMPANY_DETAILS)
            old = load_account(tx, account_id)
            account = attrs.evolve(old, invoice_recipients=tuple(parsed.values()))
            tx.accounts.save(account)
            if account.invoice_recipients != old.invoice_recipients:
                detail = ", ".join(account.invoice_recipients)
                now = self._ctx.now()
                tx.audit.add(
                    AuditEvent(account_id, now, actor_id, "invoice_recipients_changed", account_id, detail)
                )
            return account


def _only_setup(setup: dict[str, Any]) -> dict[str, Any]:
    unknown = setup.keys() - set(_SETUP_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown account field(s): {', '.join(sorted(unknown))}")
    return setup


def _reclaim(tx: Transaction, old: Account, new: Account) -> None:
    for kind, before, after in (
        ("org", old.org_number, new.org_number),
        ("bank", old.bank_account, new.bank_account),
    ):
        if before == after:
            continue
        if before is not None:
            tx.accounts.release_number(kind, before, old.id)
        if after is not None:
            tx.accounts.claim_number(kind, after, new.id, new.owner_id)


ERASED_NAME = "(erased)"
"""The name an erased user is shown with (see :meth:`UserService.erase`)."""


class UserService:
    """Users' own preferences, finding a user by address (host call) and erasing one's personal data."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, user_id: str) -> User:
        """The user, or :class:`NotFound`."""
        with self._ctx.store.transaction() as tx:
            user = tx.users.get(user_id) if is_id(user_id) else None
            if user is None:
                raise NotFound(f"there is no user {shown(user_id)}")
            return user

    def set_invoice_emails(self, user_id: str, *, enabled: bool) -> User:
        """Opt in to (or out of) automatic invoice e-mails; off by default."""
        if not isinstance(enabled, bool):
            raise InvalidInput("enabled must be True or False")
        with self._ctx.store.transaction() as tx:
            user = tx.users.get(user_id) if is_id(user_id) else None
            if user is None:
                raise NotFound(f"there is no user {shown(user_id)}")
            user = attrs.evolve(user, invoice_emails=enabled)
            tx.users.save(user)
            return user

    def by_email(self, email: str) -> User | None:
        """The user with this address (any case), or ``None``: a host call, say to link a host's login.

        An address that is not valid raises :class:`InvalidEmail`. A host
        must not let end users look up others by address through it.
        """
        address = Email.parse(email).value
        with self._ctx.store.transaction() as tx:
            return tx.users.by_email(address)

    def erase(self, user_id: str) -> User:
        """Erase the user's personal data (GDPR), as the user: what is left is the id.

        The name becomes ``"(erased)"`` and the address is removed (and free
        for a new user), invoice e-mails are off, every membership ends, and
        audit records and invitations that named the address name the id or
        ``"(erased)"`` instead. Invoices keep the names and addresses they
        were issued with (an issued invoice is a record the seller must keep).
        An owner must transfer each account first (:class:`OwnerCannotLeave`).
        Erasing an erased user changes nothing.
        """
        from tenantbill.services.events import record

        with self._ctx.store.transaction() as tx:
            user = tx.users.get(user_id) if is_id(user_id) else None
            if user is None:
                raise NotFound(f"there is no user {shown(user_id)}")
            if not user.email:
                return user
            rows = tx.accounts.memberships_of(user.id)
            owned = [account for account, role in rows if role is Role.OWNER]
            if owned:
                names = ", ".join(repr(a.name) for a in owned[:3]) + (", …" if len(owned) > 3 else "")
                raise OwnerCannotLeave(
                    f"you own {len(owned)} account(s) ({names}): transfer ownership of each to another "
                    "member before erasing your data"
                )
            now = self._ctx.now()
            for account, _role in rows:
                if not tx.memberships.remove(account.id, user.id):  # became the owner meanwhile
                    raise OwnerCannotLeave("you became an owner meanwhile: transfer ownership first")
                tx.audit.add(AuditEvent(account.id, now, user.id, "left", user.id, "erased"))
            key = email_key(user.email)
            tx.invitations.redact_email(key, ERASED_NAME)
            tx.audit.redact(key, user.id)
            tx.users.erase(user.id, ERASED_NAME)
            for account, _role in rows:
                record(tx, self._ctx, "member.left", account.id, user_id=user.id, erased=True)
            record(tx, self._ctx, "user.erased", None, user_id=user.id)
            return attrs.evolve(user, name=ERASED_NAME, email="", invoice_emails=False)
