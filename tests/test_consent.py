"""Trust between accounts: nobody is billed, or e-mailed, by another account without consenting.

DOMAIN.md, "Trust boundaries" 1, and API.md, "Subscriptions with consent" and
"Two doors": every subscription call is an actor call checked by the policy,
and an id the actor may not see is refused the same way whether it exists.
Runs on memory, SQLite and PostgreSQL (the ``store`` fixture of conftest.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, Team

D = Decimal
NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
SENDER = "Fakturaservice <faktura@tenantbill.example.no>"
PLAN = tb.Plan(code="pro", name="Pro", price=D("300"), vat_rate=D("0.25"))


@attrs.frozen
class World:
    app: tb.Tenantbill
    mailer: MemoryMailer
    seller: Team  # account A, with a MEMBER and a BILLING user
    buyer: Team  # account B, likewise; every user of B opted in to invoice e-mails
    factory: Factory

    def state(self) -> tuple[object, ...]:
        """What B's people could see or receive: B's subscriptions and everything queued or sent."""
        with self.app.store.transaction() as tx:
            subscriptions = tx.subscriptions.of_account(self.buyer.account.id)
            invoices = list(tx.invoices.of_account(self.seller.account.id))
            queued = [entry.recipient for invoice in invoices for entry in tx.outbox.of_invoice(invoice.id)]
        return (subscriptions, [invoice.id for invoice in invoices], queued, len(self.mailer.sent))


def make_world(store: Store, *, platform: bool = False) -> World:
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(NOW), sender=SENDER)
    factory = Factory(app)
    seller = factory.team(name="Selger AS")
    buyer = factory.team(name="Kjøper AS", address="Storgata 1\n0155 Oslo", org_number="974760673")
    for user in (buyer.owner, buyer.member, buyer.billing):
        app.users.set_invoice_emails(user.id, enabled=True)
    app.accounts.set_invoice_recipients(buyer.owner.id, buyer.account.id, ["regnskap@byraa.example.no"])
    if platform:
        app = tb.Tenantbill(
            store=store, mailer=mailer, clock=FixedClock(NOW), platform_account_id=seller.account.id
        )
    app.billing.deliver()
    mailer.sent.clear()
    return World(app, mailer, seller, buyer, factory)


@pytest.fixture
def world(store: Store) -> World:
    return make_world(store)


def draft_to(customer: str, name: str = "Kjøper AS") -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name=name),
        lines=[tb.Line(description="Konsulenttime", quantity=D(1), unit_price=D("1000"), vat_rate=D("0.25"))],
        customer=customer,
    )


# Billing another account


@pytest.mark.parametrize("role", [tb.Role.OWNER, tb.Role.MEMBER])
def test_an_invoice_to_another_account_without_its_consent_is_refused(world: World, role: tb.Role) -> None:
    before = world.state()

    with pytest.raises(tb.PermissionDenied, match="has not consented"):
        world.app.invoices.issue(
            world.seller.user(role).id, world.seller.account.id, draft_to(world.buyer.account.id)
        )

    world.app.billing.deliver()
    assert world.state() == before
    assert world.mailer.sent == []
    # The refused call took no number: the next invoice is still number 1.
    invoice = world.app.invoices.issue(world.seller.owner.id, world.seller.account.id, draft_to("kunde-17"))
    assert invoice.sequence == 1


def test_a_customer_key_that_is_no_account_is_an_opaque_label(world: World) -> None:
    invoice = world.app.invoices.issue(world.seller.owner.id, world.seller.account.id, draft_to("kunde-17"))

    world.app.billing.deliver()
    assert invoice.customer == "kunde-17"
    assert world.mailer.sent == []


@pytest.mark.parametrize("role", [tb.Role.MEMBER, tb.Role.OWNER])
def test_a_subscription_started_by_the_provider_side_is_refused(world: World, role: tb.Role) -> None:
    before = world.state()

    with pytest.raises(tb.PermissionDenied, match="has not consented"):
        world.app.subscriptions.start(
            world.seller.user(role).id,
            world.seller.account.id,
            world.buyer.account.id,
            PLAN,
            anchor=date(2026, 1, 1),
        )

    assert world.app.billing.run(as_of=date(2026, 3, 1)).issued == 0
    assert world.state() == before


def test_a_member_of_the_customer_cannot_consent_for_it(world: World) -> None:
    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.start(
            world.buyer.member.id,
            world.seller.account.id,
            world.buyer.account.id,
            PLAN,
            anchor=date(2026, 1, 1),
        )


def test_an_outsider_cannot_subscribe_another_account(world: World, store: Store) -> None:
    stranger = world.factory.account(name="Fremmed AS")

    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.start(
            stranger.owner.id, world.seller.account.id, world.buyer.account.id, PLAN, anchor=date(2026, 1, 1)
        )
    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.start(
            stranger.owner.id, stranger.account.id, world.buyer.account.id, PLAN, anchor=date(2026, 1, 1)
        )


@pytest.mark.parametrize("role", [tb.Role.OWNER, tb.Role.BILLING])
def test_the_customers_owner_or_billing_user_subscribing_is_consent(world: World, role: tb.Role) -> None:
    sub = world.app.subscriptions.start(
        world.buyer.user(role).id,
        world.seller.account.id,
        world.buyer.account.id,
        PLAN,
        anchor=date(2026, 1, 1),
    )
    assert (sub.provider_id, sub.customer_id) == (world.seller.account.id, world.buyer.account.id)

    [invoice_id] = world.app.billing.run(as_of=date(2026, 1, 1)).invoice_ids
    one_off = world.app.invoices.issue(
        world.seller.member.id, world.seller.account.id, draft_to(world.buyer.account.id)
    )
    world.app.billing.deliver()

    for invoice in (world.app.invoices.get(world.buyer.billing.id, invoice_id), one_off):
        assert invoice.customer == world.buyer.account.id
        assert world.app.invoices.get(world.buyer.owner.id, invoice.id) == invoice
    recipients = sorted({str(m["To"]) for m in world.mailer.sent})
    assert recipients == sorted(
        {u.email for u in (world.buyer.owner, world.buyer.member, world.buyer.billing)}
        | {"regnskap@byraa.example.no"}
    )


def test_the_platform_account_may_bill_every_account(store: Store) -> None:
    world = make_world(store, platform=True)

    sub = world.app.subscriptions.start(
        world.seller.member.id, world.seller.account.id, world.buyer.account.id, PLAN, anchor=date(2026, 1, 1)
    )
    invoice = world.app.invoices.issue(
        world.seller.member.id, world.seller.account.id, draft_to(world.buyer.account.id)
    )

    assert sub.customer_id == invoice.customer == world.buyer.account.id
    # Still the policy's say on the platform side: BILLING users do not manage customers.
    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.start(
            world.seller.billing.id,
            world.seller.account.id,
            world.buyer.account.id,
            PLAN,
            anchor=date(2026, 1, 1),
        )


def test_consent_to_one_provider_is_not_consent_to_another(world: World) -> None:
    world.app.subscriptions.start(
        world.buyer.owner.id, world.seller.account.id, world.buyer.account.id, PLAN, anchor=date(2026, 1, 1)
    )
    other = world.factory.account(name="Annen AS")

    with pytest.raises(tb.PermissionDenied, match="has not consented"):
        world.app.invoices.issue(other.owner.id, other.account.id, draft_to(world.buyer.account.id))


# Reading and changing subscriptions


@pytest.fixture
def subscribed(world: World) -> tuple[World, tb.Subscription]:
    sub = world.app.subscriptions.start(
        world.buyer.owner.id, world.seller.account.id, world.buyer.account.id, PLAN, anchor=date(2026, 1, 1)
    )
    return world, sub


def test_both_sides_see_the_subscription_and_nobody_else(
    subscribed: tuple[World, tb.Subscription],
) -> None:
    world, sub = subscribed
    stranger = world.factory.account(name="Fremmed AS")

    for team in (world.seller, world.buyer):
        for role in tb.Role:
            assert world.app.subscriptions.get(team.user(role).id, sub.id) == sub
        assert world.app.subscriptions.of_account(team.owner.id, team.account.id) == [sub]
    assert world.app.subscriptions.of_account(stranger.owner.id, stranger.account.id) == []
    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.of_account(stranger.owner.id, world.buyer.account.id)


def test_an_unknown_subscription_is_denied_like_another_tenants(
    subscribed: tuple[World, tb.Subscription],
) -> None:
    world, sub = subscribed
    stranger = world.factory.account(name="Fremmed AS")
    calls = {
        "get": lambda actor, sid: world.app.subscriptions.get(actor, sid),
        "record_usage": lambda actor, sid: world.app.subscriptions.record_usage(
            actor, sid, item="sms", quantity=D(1), unit_price=D(1), at=date(2026, 1, 5)
        ),
        "change_plan": lambda actor, sid: world.app.subscriptions.change_plan(
            actor, sid, attrs.evolve(PLAN, price=D("600")), at=date(2026, 1, 1)
        ),
        "cancel": lambda actor, sid: world.app.subscriptions.cancel(actor, sid, at=date(2026, 1, 5)),
    }
    for name, call in calls.items():
        with pytest.raises(tb.PermissionDenied) as foreign:
            call(stranger.owner.id, sub.id)
        with pytest.raises(tb.PermissionDenied) as unknown:
            call(stranger.owner.id, "no-such-subscription")
        assert str(foreign.value).replace(repr(sub.id), "ID") == str(unknown.value).replace(
            "'no-such-subscription'", "ID"
        ), name
    assert world.app.subscriptions.get(world.seller.owner.id, sub.id) == sub


def test_usage_is_recorded_by_the_provider_only(subscribed: tuple[World, tb.Subscription]) -> None:
    world, sub = subscribed

    for actor in (world.buyer.owner, world.buyer.billing, world.seller.billing):
        with pytest.raises(tb.PermissionDenied):
            world.app.subscriptions.record_usage(
                actor.id, sub.id, item="sms", quantity=D(1), unit_price=D(1), at=date(2026, 1, 5)
            )
    usage = world.app.subscriptions.record_usage(
        world.seller.member.id, sub.id, item="sms", quantity=D(3), unit_price=D(1), at=date(2026, 1, 5)
    )
    assert usage.quantity == D(3)


def test_the_customers_owner_or_billing_user_may_change_or_cancel_but_not_a_member(
    subscribed: tuple[World, tb.Subscription],
) -> None:
    world, sub = subscribed
    bigger = attrs.evolve(PLAN, code="max", name="Max", price=D("600"))

    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.change_plan(world.buyer.member.id, sub.id, bigger, at=date(2026, 1, 1))
    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.cancel(world.buyer.member.id, sub.id, at=date(2026, 1, 5))

    changed = world.app.subscriptions.change_plan(world.buyer.billing.id, sub.id, bigger, at=date(2026, 1, 1))
    assert changed.plan == bigger
    cancelled = world.app.subscriptions.cancel(world.buyer.owner.id, sub.id, at=date(2026, 1, 5))
    assert cancelled.cancel_at == date(2026, 2, 1)


def test_the_provider_may_change_or_cancel(subscribed: tuple[World, tb.Subscription]) -> None:
    world, sub = subscribed
    bigger = attrs.evolve(PLAN, code="max", name="Max", price=D("600"))

    with pytest.raises(tb.PermissionDenied):
        world.app.subscriptions.cancel(world.seller.billing.id, sub.id, at=date(2026, 1, 5))
    assert (
        world.app.subscriptions.change_plan(world.seller.member.id, sub.id, bigger, at=date(2026, 1, 1)).plan
        == bigger
    )
    assert world.app.subscriptions.cancel(
        world.seller.owner.id, sub.id, at=date(2026, 1, 5)
    ).cancel_at == date(2026, 2, 1)


# Existence oracles and the audit trail


def test_invoices_and_invitations_of_other_tenants_are_denied_like_unknown_ones(world: World) -> None:
    invoice = world.app.invoices.issue(world.seller.owner.id, world.seller.account.id, draft_to("kunde-17"))
    invitation = world.app.access.invite(
        world.seller.owner.id, world.seller.account.id, email="ny@example.no"
    )
    outsider = world.buyer.owner.id

    answers = []
    for call, real in (
        (lambda i: world.app.invoices.get(outsider, i), invoice.id),
        (lambda i: world.app.invoices.pdf(outsider, i), invoice.id),
        (lambda i: world.app.invoices.credit(outsider, i, reason="x"), invoice.id),
        (lambda i: world.app.access.revoke(outsider, i), invitation.invitation.id),
        (lambda i: world.app.access.resend(outsider, i), invitation.invitation.id),
    ):
        for value in (real, "no-such-id"):
            with pytest.raises(tb.PermissionDenied) as denied:
                call(value)
            answers.append(str(denied.value).replace(repr(value), "ID"))
    assert answers[0::2] == answers[1::2]


def test_changes_of_company_details_and_invoice_setup_are_audited(world: World) -> None:
    owner, account = world.seller.owner, world.seller.account
    world.app.accounts.update(world.seller.billing.id, account.id, name="Selger Norge AS")
    world.app.accounts.update(owner.id, account.id, payment_terms_days=30, vat_registered=True)
    world.app.accounts.update(owner.id, account.id, payment_terms_days=30)  # no change, no entry
    world.app.invoices.configure_series(world.seller.member.id, account.id, start=1001, prefix="F-")
    world.app.accounts.set_invoice_recipients(owner.id, account.id, ["regnskap@selger.example.no"])

    trail = [(e.actor_id, e.action, e.detail) for e in world.app.access.audit(owner.id, account.id)]
    assert trail[-4:] == [
        (world.seller.billing.id, "details_changed", "name"),
        (owner.id, "invoice_setup_changed", "payment_terms_days, vat_registered"),
        (world.seller.member.id, "series_configured", "next=1001, prefix='F-', width=0"),
        (owner.id, "invoice_recipients_changed", "regnskap@selger.example.no"),
    ]
