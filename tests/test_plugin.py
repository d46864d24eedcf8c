"""The pytest plugin's fixtures and the factories, as a host application's tests use them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.testing.factories import Factory, SignedUp, Team
from tenantbill.testing.plugin import START

pytest_plugins = ["pytester"]


def test_the_app_fixture_runs_on_the_clock_and_mailer_fixtures(
    tenantbill_app: tb.Tenantbill, tenantbill_clock: FixedClock, tenantbill_mailer: MemoryMailer
) -> None:
    owner, account = tenantbill_app.accounts.sign_up(name="Acme AS", email="kari@example.no")

    issued = tenantbill_app.access.invite(owner.id, account.id, email="per@example.no")
    tenantbill_app.billing.deliver()

    assert issued.invitation.created_at == START == tenantbill_clock.now()
    assert [m["To"] for m in tenantbill_mailer.sent] == ["per@example.no"]


def test_the_clock_fixture_moves_forward_and_can_be_set(
    tenantbill_app: tb.Tenantbill, tenantbill_clock: FixedClock
) -> None:
    assert tenantbill_clock.advance(days=2) == START + timedelta(days=2)
    tenantbill_clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    assert tenantbill_clock.now() == datetime(2026, 6, 1, tzinfo=UTC)
    with pytest.raises(tb.InvalidInput):
        tenantbill_clock.advance(days=-1)


def test_moving_the_clock_expires_an_invitation(
    tenantbill_account: SignedUp, tenantbill_clock: FixedClock
) -> None:
    app, owner, account = tenantbill_account.app, tenantbill_account.owner, tenantbill_account.account
    issued = app.access.invite(owner.id, account.id, email="per@example.no")

    tenantbill_clock.advance(days=8)

    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@example.no"))


def test_the_factory_signs_up_accounts_with_unique_owners(
    tenantbill_factory: Factory, tenantbill_app: tb.Tenantbill
) -> None:
    first = tenantbill_factory.account()
    second = tenantbill_factory.account(name="Svea AB", org_number="556036-0793", currency="SEK")

    assert first.app is tenantbill_app
    assert first.owner.email != second.owner.email
    assert first.account.owner_id == first.owner.id
    assert first.owner.name == first.account.name
    assert (second.account.name, second.account.org_number, second.account.currency) == (
        "Svea AB",
        "5560360793",
        "SEK",
    )
    assert tenantbill_app.accounts.of_user(second.owner.id) == [second.account]


@pytest.mark.parametrize("role", [tb.Role.MEMBER, tb.Role.BILLING])
def test_a_signed_up_account_adds_members_through_real_invitations(
    tenantbill_account: SignedUp, tenantbill_mailer: MemoryMailer, role: tb.Role
) -> None:
    user = tenantbill_account.member(role)

    app, account = tenantbill_account.app, tenantbill_account.account
    assert tb.Membership(account.id, user.id, role) in app.access.members(user.id, account.id)
    # Accepted before any delivery: its e-mail was dropped, never to be sent with a used token.
    assert app.billing.deliver().sent == 0
    assert tenantbill_mailer.sent == []
    assert [e.action for e in app.access.audit(tenantbill_account.owner.id, account.id)] == [
        "invited",
        "accepted",
    ]


def test_a_member_can_be_given_a_name_and_address(tenantbill_account: SignedUp) -> None:
    user = tenantbill_account.member(name="Per Hansen", email="per@example.no")

    assert (user.name, user.email) == ("Per Hansen", "per@example.no")


def test_the_current_account_reflects_later_changes(tenantbill_account: SignedUp) -> None:
    app = tenantbill_account.app
    app.accounts.update(tenantbill_account.owner.id, tenantbill_account.account.id, name="New AS")

    assert tenantbill_account.current().name == "New AS"
    assert tenantbill_account.account.name != "New AS"


def test_the_team_has_one_user_of_each_role(tenantbill_team: Team) -> None:
    app, account = tenantbill_team.app, tenantbill_team.account

    assert app.access.members(tenantbill_team.owner.id, account.id) == [
        tb.Membership(account.id, tenantbill_team.owner.id, tb.Role.OWNER),
        tb.Membership(account.id, tenantbill_team.member.id, tb.Role.MEMBER),
        tb.Membership(account.id, tenantbill_team.billing.id, tb.Role.BILLING),
    ]
    assert {role: tenantbill_team.user(role) for role in tb.Role} == {
        tb.Role.OWNER: tenantbill_team.owner,
        tb.Role.MEMBER: tenantbill_team.member,
        tb.Role.BILLING: tenantbill_team.billing,
    }


def test_each_test_gets_a_fresh_app(tenantbill_factory: Factory) -> None:
    # the same name and address as in the tests above: nothing is left over from them
    assert tenantbill_factory.account().owner.email == "owner-1@example.com"


HOST_TESTS = """
import pytest
import tenantbill as tb


def test_billing_users_cannot_invite(tenantbill_team):
    app, team = tenantbill_team.app, tenantbill_team
    with pytest.raises(tb.PermissionDenied):
        app.access.invite(team.billing.id, team.account.id, email="x@example.com")


def test_invitations_expire_after_a_week(tenantbill_account, tenantbill_clock, tenantbill_mailer):
    app, owner, account = tenantbill_account.app, tenantbill_account.owner, tenantbill_account.account
    issued = app.access.invite(owner.id, account.id, email="per@example.no")
    app.billing.deliver()
    assert issued.token in tenantbill_mailer.sent[0].get_content()
    tenantbill_clock.advance(days=8)
    with pytest.raises(tb.InvitationExpired):
        app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@example.no"))


def test_factory_accounts_are_separate_tenants(tenantbill_factory):
    a, b = tenantbill_factory.account(), tenantbill_factory.account()
    with pytest.raises(tb.PermissionDenied):
        a.app.accounts.get(a.owner.id, b.account.id)
"""


def test_a_host_projects_tests_can_use_the_fixtures_without_any_set_up(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_host=HOST_TESTS)

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(passed=3)


def test_the_plugin_lists_its_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")

    result = pytester.runpytest("--fixtures", "-p", "no:cacheprovider")

    for name in (
        "tenantbill_app",
        "tenantbill_clock",
        "tenantbill_mailer",
        "tenantbill_factory",
        "tenantbill_account",
        "tenantbill_team",
    ):
        result.stdout.fnmatch_lines([f"{name}*"])
