"""Random sequences of access changes never break the ownership and uniqueness invariants."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
# A small pool, so that accounts of different owners keep reaching for the same numbers.
ORGS = ("974760673", "923609016", "985815534")
BANKS = ("86011117947", "12345678903", "NO9386011117947")
KEEP = "keep"  # leave the field out of update()

orgs = st.none() | st.sampled_from(ORGS)
banks = st.none() | st.sampled_from(BANKS)
roles = st.sampled_from([tb.Role.MEMBER, tb.Role.BILLING])


class AccessRules(RuleBasedStateMachine):
    """Sign-ups, invitations, removals, transfers and number changes in any order."""

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.clock = FixedClock(AT)
        self.app = tb.Tenantbill(store=self.store, mailer=MemoryMailer(), clock=self.clock)
        self.users: list[tb.User] = []
        self.account_ids: list[str] = []
        self.invitations: list[tb.IssuedInvitation] = []
        self.serial = 0
        self.invites_by_non_owners: list[tuple[str, str]] = []

    def _email(self) -> str:
        self.serial += 1
        return f"user{self.serial}@example.com"

    def _someone(self, data: st.DataObject, account_id: str) -> tb.User:
        """Usually a member of the account (so that calls can succeed), sometimes anyone."""
        with self.store.transaction() as tx:
            member_ids = {m.user_id for m in tx.memberships.of_account(account_id)}
        members = [u for u in self.users if u.id in member_ids]
        return data.draw(st.sampled_from(members) | st.sampled_from(self.users))

    def _not_the_owner(self, data: st.DataObject, account_id: str) -> tb.User:
        """Usually a MEMBER or BILLING user of the account, sometimes anyone."""
        with self.store.transaction() as tx:
            member_ids = {
                m.user_id for m in tx.memberships.of_account(account_id) if m.role is not tb.Role.OWNER
            }
        others = [u for u in self.users if u.id in member_ids] or self.users
        return data.draw(st.sampled_from(others) | st.sampled_from(self.users))

    def _owner_of(self, account_id: str) -> str:
        with self.store.transaction() as tx:
            account = tx.accounts.get(account_id)
        assert account is not None
        return account.owner_id

    @initialize(org=orgs, bank=banks)
    def first_sign_up(self, org: str | None, bank: str | None) -> None:
        self.sign_up(org, bank)

    @rule(org=orgs, bank=banks)
    def sign_up(self, org: str | None, bank: str | None) -> None:
        email = self._email()
        try:
            user, account = self.app.accounts.sign_up(
                name=f"Company {self.serial}", email=email, org_number=org, bank_account=bank
            )
        except tb.TenantbillError:
            return
        self.users.append(user)
        self.account_ids.append(account.id)

    @rule(data=st.data(), org=orgs, bank=banks)
    def create(self, data: st.DataObject, org: str | None, bank: str | None) -> None:
        actor = data.draw(st.sampled_from(self.users))
        try:
            account = self.app.accounts.create(actor.id, name="More AS", org_number=org, bank_account=bank)
        except tb.TenantbillError:
            return
        self.account_ids.append(account.id)

    @rule(data=st.data(), role=roles, fresh=st.booleans())
    def invite(self, data: st.DataObject, role: tb.Role, fresh: bool) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        actor = self._someone(data, account_id)
        email = self._email() if fresh else data.draw(st.sampled_from(self.users)).email
        was_owner = self._owner_of(account_id) == actor.id
        try:
            issued = self.app.access.invite(actor.id, account_id, email=email, role=role)
        except tb.TenantbillError:
            return
        if not was_owner:
            self.invites_by_non_owners.append((actor.id, account_id))
        self.invitations.append(issued)

    @rule(data=st.data(), role=roles, as_new_user=st.booleans())
    def owner_invites_and_invitee_accepts(
        self, data: st.DataObject, role: tb.Role, as_new_user: bool
    ) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        invitee = None if as_new_user else data.draw(st.sampled_from(self.users))
        email = self._email() if invitee is None else invitee.email
        try:
            issued = self.app.access.invite(self._owner_of(account_id), account_id, email=email, role=role)
        except tb.TenantbillError:
            return
        self.invitations.append(issued)
        self._accept(issued, invitee)

    @precondition(lambda self: self.invitations)
    @rule(data=st.data(), as_new_user=st.booleans())
    def accept(self, data: st.DataObject, as_new_user: bool) -> None:
        issued = data.draw(st.sampled_from(self.invitations))
        self._accept(issued, None if as_new_user else data.draw(st.sampled_from(self.users)))

    def _accept(self, issued: tb.IssuedInvitation, user: tb.User | None) -> None:
        """Accept as ``user``, or as a new user with the invited address if ``None``."""
        try:
            if user is None:
                new_user = tb.NewUser(name="Invitee", email=issued.invitation.email)
                membership = self.app.access.accept(issued.token, new_user=new_user)
                self.users.append(self.app.users.get(membership.user_id))
            else:
                self.app.access.accept(issued.token, user_id=user.id)
        except tb.TenantbillError:
            return

    @precondition(lambda self: self.invitations)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        issued = data.draw(st.sampled_from(self.invitations))
        actor = self._someone(data, issued.invitation.account_id)
        try:
            self.app.access.revoke(actor.id, issued.invitation.id)
        except tb.TenantbillError:
            return

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        actor = self._someone(data, account_id)
        target = self._not_the_owner(data, account_id)
        try:
            self.app.access.remove(actor.id, account_id, target.id)
        except tb.TenantbillError:
            return

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        actor = self._not_the_owner(data, account_id)
        try:
            self.app.access.leave(actor.id, account_id)
        except tb.TenantbillError:
            return

    @rule(data=st.data())
    def transfer_ownership(self, data: st.DataObject) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        actor = self._someone(data, account_id)
        target = self._not_the_owner(data, account_id)
        try:
            self.app.access.transfer_ownership(actor.id, account_id, target.id)
        except tb.TenantbillError:
            return

    @rule(
        data=st.data(),
        org=st.sampled_from((*ORGS, None, KEEP)),
        bank=st.sampled_from((*BANKS, None, KEEP)),
    )
    def update_numbers(self, data: st.DataObject, org: str | None, bank: str | None) -> None:
        account_id = data.draw(st.sampled_from(self.account_ids))
        actor = self._someone(data, account_id)
        changes: dict[str, Any] = {}
        if org != KEEP:
            changes["org_number"] = org
        if bank != KEEP:
            changes["bank_account"] = bank
        try:
            self.app.accounts.update(actor.id, account_id, **changes)
        except tb.TenantbillError:
            return

    @rule(hours=st.integers(min_value=1, max_value=72))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    def _accounts(self) -> list[tuple[tb.Account, list[tb.Membership]]]:
        with self.store.transaction() as tx:
            found = [(tx.accounts.get(a), tx.memberships.of_account(a)) for a in self.account_ids]
        return [(account, members) for account, members in found if account is not None]

    @invariant()
    def every_account_has_exactly_one_owner_and_it_is_the_accounts_owner(self) -> None:
        for account, members in self._accounts():
            owners = [m.user_id for m in members if m.role is tb.Role.OWNER]
            assert owners == [account.owner_id]
            assert len({m.user_id for m in members}) == len(members)

    @invariant()
    def nobody_but_the_owner_ever_invited(self) -> None:
        assert self.invites_by_non_owners == []

    @invariant()
    def all_accounts_with_a_number_have_the_same_owner(self) -> None:
        accounts = [account for account, _ in self._accounts()]
        for field in ("org_number", "bank_account"):
            holders: dict[str, set[str]] = {}
            for account in accounts:
                number = getattr(account, field)
                if number is not None:
                    holders.setdefault(number, set()).add(account.owner_id)
            assert all(len(owners) == 1 for owners in holders.values()), holders

    @invariant()
    def the_stores_claims_match_the_accounts_numbers(self) -> None:
        accounts = [account for account, _ in self._accounts()]
        with self.store.transaction() as tx:
            for kind, field, pool in (("org", "org_number", ORGS), ("bank", "bank_account", BANKS)):
                for number in {tb.BankAccount.parse(n).value if kind == "bank" else n for n in pool}:
                    expected = sorted(a.id for a in accounts if getattr(a, field) == number)
                    assert sorted(tx.accounts.number_holders(kind, number)) == expected


TestAccessRules = AccessRules.TestCase
TestAccessRules.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
