"""Finding things: invoice search and numbers, pending invitations and previews, people and roles,
users by address and erasure; on memory, SQLite and PostgreSQL (conftest's ``store``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 2, 9, tzinfo=UTC))


@pytest.fixture
def app(store: Store, clock: FixedClock) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=clock)


@pytest.fixture
def acme(app: tb.Tenantbill) -> tuple[tb.User, tb.Account]:
    return app.accounts.sign_up(name="Acme AS", email="kari@acme.no")


def draft(customer: str | None = None, name: str = "Kunde") -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name=name), customer=customer, lines=[tb.Line("Ting", Decimal(1), Decimal("100"))]
    )


def issue_many(
    app: tb.Tenantbill, clock: FixedClock, owner: tb.User, account: tb.Account, count: int, **kw: Any
) -> list[tb.Invoice]:
    issued = []
    for n in range(count):
        clock.advance(hours=7)
        issued.append(app.invoices.issue(owner.id, account.id, draft(**kw) if kw else draft(f"c{n % 3}")))
    return issued


def every_page(app: tb.Tenantbill, actor: str, account: str, **kw: Any) -> list[list[tb.Invoice]]:
    pages, cursor = [], None
    while True:
        page = app.invoices.search(actor, account, cursor=cursor, **kw)
        pages.append(list(page.items))
        cursor = page.next_cursor
        if cursor is None:
            return pages


def test_search_pages_newest_first_through_every_invoice_once(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    issued = issue_many(app, clock, owner, account, 11)
    pages = every_page(app, owner.id, account.id, limit=4)
    assert [len(p) for p in pages] == [4, 4, 3]
    assert [i.id for p in pages for i in p] == [i.id for i in reversed(issued)]


def test_a_full_last_page_has_no_next_cursor(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    issue_many(app, clock, owner, account, 4)
    page = app.invoices.search(owner.id, account.id, limit=4)
    assert len(page.items) == 4
    assert page.next_cursor is None
    assert app.invoices.search(owner.id, account.id).items == page.items


def test_search_filters_by_customer_and_issue_dates(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    issued = issue_many(app, clock, owner, account, 9)
    by_c1 = [i.id for p in every_page(app, owner.id, account.id, customer="c1", limit=2) for i in p]
    assert by_c1 == [i.id for i in reversed(issued) if i.customer == "c1"]
    start, end = issued[2].issue_date, issued[5].issue_date
    found = app.invoices.search(owner.id, account.id, issued_from=start, issued_to=end, limit=500).items
    assert {i.id for i in found} == {i.id for i in issued if start <= i.issue_date <= end}
    assert app.invoices.search(owner.id, account.id, issued_from=date(2030, 1, 1)).items == ()


def test_received_invoices_are_those_billed_to_the_account_and_seen_by_its_members(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    buyer, buyer_account = app.accounts.sign_up(name="Kjøper AS", email="ola@kjoper.no")
    plan = tb.Plan("pro", "Pro", Decimal("100"), "NOK")
    app.subscriptions.start(buyer.id, account.id, buyer_account.id, plan, anchor=date(2026, 3, 1))
    sent = issue_many(app, clock, owner, account, 3, customer=buyer_account.id, name="Kjøper AS")
    issue_many(app, clock, owner, account, 2)  # to others
    received = app.invoices.search(buyer.id, buyer_account.id, direction="received").items
    assert [i.id for i in received] == [i.id for i in reversed(sent)]
    assert app.invoices.search(buyer.id, buyer_account.id).items == ()  # it issued none
    with pytest.raises(tb.PermissionDenied):
        app.invoices.search(owner.id, buyer_account.id, direction="received")
    with pytest.raises(tb.PermissionDenied):
        app.invoices.search(buyer.id, account.id)


def test_by_number_finds_the_invoice_and_outsiders_are_denied(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    app.invoices.configure_series(owner.id, account.id, prefix="F-", width=6, start=1001)
    invoice = issue_many(app, clock, owner, account, 2)[1]
    assert invoice.number == "F-001002"
    assert app.invoices.by_number(owner.id, account.id, "F-001002") == invoice
    with pytest.raises(tb.NotFound):
        app.invoices.by_number(owner.id, account.id, "F-009999")
    stranger, _ = app.accounts.sign_up(name="Other AS", email="x@other.no")
    with pytest.raises(tb.PermissionDenied):
        app.invoices.by_number(stranger.id, account.id, "F-001002")
    with pytest.raises(tb.PermissionDenied):
        app.invoices.by_number(owner.id, "no-such-account", "F-001002")


def test_an_unknown_status_is_refused(app: tb.Tenantbill, acme: tuple[tb.User, tb.Account]) -> None:
    owner, account = acme
    with pytest.raises(tb.InvalidInput, match="status"):
        app.invoices.search(owner.id, account.id, status="betalt")


HOSTILE_SEARCH: list[dict[str, Any]] = [
    {"limit": 0},
    {"limit": 501},
    {"limit": True},
    {"limit": "10"},
    {"limit": 2.5},
    {"direction": "sideways"},
    {"direction": None},
    {"cursor": ""},
    {"cursor": "garbage"},
    {"cursor": "i1." + "A" * 1000},
    {"cursor": "i1.!!!!"},
    {"cursor": "i1.bnVsbA"},  # null
    {"cursor": "i1.WyJyZWNlaXZlZCIsICIyMDI2LTAxLTAxIiwgIngiLCAiYSJd"},  # another direction
    {"cursor": "i1.WyJpc3N1ZWQiLCAiMjAyNi0xMy0wMSIsICJ4IiwgImEiXQ"},  # a bad date
    {"cursor": 12},
    {"cursor": "i1.\x00\udcff"},
    {"issued_from": "2026-01-01"},
    {"issued_from": datetime(2026, 1, 1, tzinfo=UTC)},
    {"issued_to": 20260101},
    {"issued_from": date(2026, 2, 1), "issued_to": date(2026, 1, 1)},
    {"customer": ""},
    {"customer": "x" * 10_000},
    {"customer": "\x00"},
    {"customer": 5},
    {"direction": "received", "customer": "c1"},
    {"status": "betalt"},
    {"status": 5},
]


@pytest.mark.parametrize("kwargs", HOSTILE_SEARCH, ids=repr)
def test_hostile_search_arguments_raise_invalid_input(
    app: tb.Tenantbill, acme: tuple[tb.User, tb.Account], kwargs: dict[str, Any]
) -> None:
    owner, account = acme
    with pytest.raises(tb.InvalidInput):
        app.invoices.search(owner.id, account.id, **kwargs)


@pytest.mark.parametrize("bad", [None, "", 5, "\x00", "x" * 10_000, "\udcff", ["id"]], ids=repr)
def test_hostile_ids_and_numbers_raise_only_tenantbill_errors(
    app: tb.Tenantbill, acme: tuple[tb.User, tb.Account], bad: Any
) -> None:
    owner, account = acme
    calls = [
        lambda: app.invoices.search(bad, account.id),
        lambda: app.invoices.search(owner.id, bad),
        lambda: app.invoices.by_number(owner.id, account.id, bad),
        lambda: app.invoices.by_number(bad, account.id, "1"),
        lambda: app.access.invitations(bad, account.id),
        lambda: app.access.invitations(owner.id, bad),
        lambda: app.access.preview(bad),
        lambda: app.users.by_email(bad),
        lambda: app.users.erase(bad),
    ]
    for call in calls:
        with pytest.raises(tb.TenantbillError):
            call()
    assert app.accounts.memberships_of(bad) == []


def test_pending_invitations_are_listed_for_the_owner_without_tokens(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    first = app.access.invite(owner.id, account.id, email="a@acme.no")
    clock.advance(minutes=1)
    second = app.access.invite(owner.id, account.id, email="b@acme.no", role=tb.Role.BILLING)
    revoked = app.access.invite(owner.id, account.id, email="c@acme.no")
    app.access.revoke(owner.id, revoked.invitation.id)
    pending = app.access.invitations(owner.id, account.id)
    assert [i.id for i in pending] == [first.invitation.id, second.invitation.id]
    assert all(i.token_hash == "" for i in pending)
    assert [i.role for i in pending] == [tb.Role.MEMBER, tb.Role.BILLING]
    member = app.access.accept(first.token, new_user=tb.NewUser(name="A", email="a@acme.no"))
    with pytest.raises(tb.PermissionDenied):
        app.access.invitations(member.user_id, account.id)
    assert [i.id for i in app.access.invitations(owner.id, account.id)] == [second.invitation.id]


def test_preview_tells_the_account_role_address_and_expiry_and_refuses_as_accept_does(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    issued = app.access.invite(owner.id, account.id, email="Per@Acme.no", role=tb.Role.BILLING)
    preview = app.access.preview(issued.token)
    assert preview == tb.InvitationPreview(
        account_name="Acme AS",
        role=tb.Role.BILLING,
        email=issued.invitation.email,
        expires_at=issued.invitation.expires_at,
    )
    with pytest.raises(tb.NotFound):
        app.access.preview(issued.token + "x")
    revoked = app.access.invite(owner.id, account.id, email="r@acme.no")
    app.access.revoke(owner.id, revoked.invitation.id)
    with pytest.raises(tb.InvitationRevoked):
        app.access.preview(revoked.token)
    app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@acme.no"))
    with pytest.raises(tb.InvitationAlreadyUsed):
        app.access.preview(issued.token)
    late = app.access.invite(owner.id, account.id, email="late@acme.no")
    clock.advance(days=8)
    with pytest.raises(tb.InvitationExpired):
        app.access.preview(late.token)


def test_members_carry_names_and_addresses_and_memberships_of_gives_roles(
    app: tb.Tenantbill, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    other = app.accounts.create(owner.id, name="Acme Holding AS")
    issued = app.access.invite(owner.id, account.id, email="per@acme.no", role=tb.Role.BILLING)
    per = app.access.accept(issued.token, new_user=tb.NewUser(name="Per Hansen", email="per@acme.no"))
    members = app.access.members(owner.id, account.id)
    assert [(m.user_id, m.role, m.name, m.email) for m in members] == [
        (owner.id, tb.Role.OWNER, owner.name, owner.email),
        (per.user_id, tb.Role.BILLING, "Per Hansen", "per@acme.no"),
    ]
    assert tb.Membership(account.id, per.user_id, tb.Role.BILLING) == members[1]  # still positional
    assert [(a.id, r) for a, r in app.accounts.memberships_of(owner.id)] == [
        (account.id, tb.Role.OWNER),
        (other.id, tb.Role.OWNER),
    ]
    assert [(a.id, r) for a, r in app.accounts.memberships_of(per.user_id)] == [(account.id, tb.Role.BILLING)]
    assert app.accounts.memberships_of("unknown") == []


def test_by_email_finds_a_user_in_any_case(app: tb.Tenantbill, acme: tuple[tb.User, tb.Account]) -> None:
    owner, _ = acme
    assert app.users.by_email("KARI@acme.NO") == owner
    assert app.users.by_email("nobody@acme.no") is None
    with pytest.raises(tb.InvalidEmail):
        app.users.by_email("not an address")


def test_erase_removes_personal_data_and_memberships_and_keeps_invoices(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    issued = app.access.invite(owner.id, account.id, email="per@acme.no")
    per = app.access.accept(issued.token, new_user=tb.NewUser(name="Per Hansen", email="per@acme.no"))
    invoice = app.invoices.issue(
        per.user_id,
        account.id,
        tb.InvoiceDraft(
            bill_to=tb.Party(name="Per Hansen", emails=("per@acme.no",)),
            lines=[tb.Line("Ting", Decimal(1), Decimal("100"))],
        ),
    )
    erased = app.users.erase(per.user_id)
    assert (erased.name, erased.email, erased.invoice_emails) == ("(erased)", "", False)
    assert app.users.get(per.user_id) == erased
    assert app.users.by_email("per@acme.no") is None
    assert [m.user_id for m in app.access.members(owner.id, account.id)] == [owner.id]
    assert app.accounts.memberships_of(per.user_id) == []
    trail = app.access.audit(owner.id, account.id)
    assert all("per@acme.no" not in (e.target + e.detail).lower() for e in trail)
    assert any(e.target == per.user_id for e in trail)
    kept = app.invoices.get(owner.id, invoice.id)
    assert kept.bill_to.name == "Per Hansen"
    assert kept == invoice
    assert app.users.erase(per.user_id) == erased  # again: nothing left to erase
    # The address is free for someone new.
    again = app.access.invite(owner.id, account.id, email="per@acme.no")
    app.access.accept(again.token, new_user=tb.NewUser(name="Per 2", email="per@acme.no"))


def test_an_owner_must_transfer_before_erasing(app: tb.Tenantbill, acme: tuple[tb.User, tb.Account]) -> None:
    owner, account = acme
    with pytest.raises(tb.OwnerCannotLeave):
        app.users.erase(owner.id)
    assert app.users.get(owner.id) == owner
    assert app.access.members(owner.id, account.id)[0].email == owner.email
    with pytest.raises(tb.NotFound):
        app.users.erase("unknown")


def test_search_moves_on_with_time(
    app: tb.Tenantbill, clock: FixedClock, acme: tuple[tb.User, tb.Account]
) -> None:
    owner, account = acme
    first = issue_many(app, clock, owner, account, 3)
    page = app.invoices.search(owner.id, account.id, limit=2)
    clock.advance(days=1)
    newer = issue_many(app, clock, owner, account, 2)
    # The cursor continues where the first page ended, whatever was issued since.
    rest = app.invoices.search(owner.id, account.id, limit=10, cursor=page.next_cursor).items
    assert [i.id for i in rest] == [first[0].id]
    assert [i.id for i in app.invoices.search(owner.id, account.id, limit=2).items] == [
        newer[1].id,
        newer[0].id,
    ]
    assert timedelta(0) < newer[0].issued_at - first[-1].issued_at
