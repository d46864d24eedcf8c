"""Sign-up, further accounts, switching, the invoice setup and the uniqueness of numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)

ORG = "974760673"
OTHER_ORG = "923609016"
SWEDISH_ORG = "5560360793"
BANK = "86011117947"
BANK_IBAN = "NO93 8601 1117 947"
OTHER_BANK = "12345678903"
BANKGIRO = "BANKGIRO50501055"  # Bankgiro 5050-1055
PLUSGIRO = "PLUSGIRO2865434"  # Plusgiro 28 65 43-4
# A 1 × 1 PNG: a logo's header must give its size (a bare signature is refused).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\x10\x89Z\x00\x00\x01\x94\x01\x0f-4\xfc\x05\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(AT))


def join(app: tb.Tenantbill, owner: tb.User, account: tb.Account, email: str) -> tb.User:
    """Invite ``email`` to the account as a MEMBER and accept as a new user."""
    issued = app.access.invite(owner.id, account.id, email=email, role=tb.Role.MEMBER)
    membership = app.access.accept(issued.token, new_user=tb.NewUser(name=email, email=email))
    return app.users.get(membership.user_id)


def sign_up(app: tb.Tenantbill, who: str, **kwargs: Any) -> tuple[tb.User, tb.Account]:
    return app.accounts.sign_up(name=f"{who} AS", email=f"{who.lower()}@example.no", **kwargs)


# Sign-up


def test_sign_up_creates_an_account_owned_by_a_user_with_the_same_name(
    app: tb.Tenantbill,
) -> None:
    user, account = app.accounts.sign_up(name="Fjord Regnskap AS", email="kari@example.no")

    assert user.name == account.name == "Fjord Regnskap AS"
    assert user.email == "kari@example.no"
    assert account.owner_id == user.id
    assert app.users.get(user.id) == user
    assert app.accounts.get(user.id, account.id) == account
    assert app.access.members(user.id, account.id) == [tb.Membership(account.id, user.id, tb.Role.OWNER)]
    assert app.accounts.of_user(user.id) == [account]


def test_sign_up_gives_the_documented_invoice_setup_defaults(app: tb.Tenantbill) -> None:
    _, account = sign_up(app, "Acme")

    assert account.org_number is None
    assert account.bank_account is None
    assert account.address == ""
    assert account.currency == "NOK"
    assert account.locale == "nb"
    assert account.timezone == "Europe/Oslo"
    assert account.payment_terms_days == 14
    assert account.vat_registered is False
    assert account.logo is None
    assert account.invoice_recipients == ()


def test_sign_up_stores_org_and_bank_numbers_in_normal_form(app: tb.Tenantbill) -> None:
    _, norwegian = sign_up(app, "Acme", org_number="NO 974 760 673 MVA", bank_account=BANK_IBAN)
    _, swedish = sign_up(app, "Svea", org_number="556036-0793", bank_account="1234.56.78903")

    assert (norwegian.org_number, norwegian.bank_account) == (ORG, BANK)
    assert (swedish.org_number, swedish.bank_account) == (SWEDISH_ORG, OTHER_BANK)


@pytest.mark.parametrize(
    ("written", "stored"),
    [("Bankgiro 5050-1055", BANKGIRO), ("5050-1055", BANKGIRO), ("PG 28 65 43-4", PLUSGIRO)],
)
def test_sign_up_stores_a_giro_number_with_its_name(app: tb.Tenantbill, written: str, stored: str) -> None:
    _, account = sign_up(app, "Svea", org_number="556036-0793", bank_account=written)

    assert account.bank_account == stored


def test_sign_up_accepts_the_whole_invoice_setup(app: tb.Tenantbill) -> None:
    _, account = sign_up(
        app,
        "Svea",
        address="Storgatan 1, Stockholm",
        currency="sek",
        locale="sv",
        timezone="Europe/Stockholm",
        payment_terms_days=30,
        vat_registered=True,
        logo=PNG,
    )

    assert account.address == "Storgatan 1, Stockholm"
    assert account.currency == "SEK"
    assert account.locale == "sv"
    assert account.timezone == "Europe/Stockholm"
    assert account.payment_terms_days == 30
    assert account.vat_registered is True
    assert account.logo == PNG


def test_sign_up_with_an_address_that_has_a_user_raises_email_taken_in_any_case(
    app: tb.Tenantbill,
) -> None:
    first, _ = app.accounts.sign_up(name="Kari", email="kari@example.no")

    with pytest.raises(tb.EmailTaken, match=r"(?i)kari@example\.no"):
        app.accounts.sign_up(name="Other", email="KARI@Example.NO", org_number=ORG)

    assert [a.name for a in app.accounts.of_user(first.id)] == ["Kari"]
    # the failed sign-up left no claim on its org number
    _, account = sign_up(app, "Acme", org_number=ORG)
    assert account.org_number == ORG


def test_a_failed_sign_up_leaves_neither_user_nor_account(app: tb.Tenantbill) -> None:
    sign_up(app, "Acme", org_number=ORG)

    # the user is inserted first, then the account's number is refused
    with pytest.raises(tb.OrgNumberTaken):
        app.accounts.sign_up(name="Late AS", email="late@example.no", org_number=ORG, bank_account=BANK)

    user, account = app.accounts.sign_up(name="Late AS", email="late@example.no")
    assert app.accounts.of_user(user.id) == [account]
    _, with_bank = sign_up(app, "Third", bank_account=BANK)
    assert with_bank.bank_account == BANK


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"email": "not-an-address"}, tb.InvalidEmail, "not a valid e-mail address"),
        ({"name": "  "}, tb.InvalidInput, "needs a name"),
        ({"org_number": "974760674"}, tb.InvalidOrgNumber, "check digit"),
        ({"org_number": "97476067"}, tb.InvalidOrgNumber, "9 digits, got 8"),
        ({"bank_account": "86011117948"}, tb.InvalidBankAccount, "check digit"),
        ({"bank_account": "Bankgiro 5050-1056"}, tb.InvalidBankAccount, "check digit"),
        (
            {"bank_account": "50501055"},
            tb.InvalidBankAccount,
            "Bankgiro or Plusgiro number is given with its name",
        ),
        ({"currency": "XYZ"}, tb.InvalidInput, "unknown currency"),
        ({"colour": "red"}, tb.InvalidInput, "unknown account field"),
    ],
)
def test_sign_up_with_invalid_input_names_the_problem_and_creates_nothing(
    app: tb.Tenantbill, kwargs: dict[str, Any], error: type[tb.TenantbillError], message: str
) -> None:
    fields: dict[str, Any] = {"name": "Acme AS", "email": "kari@example.no", **kwargs}

    with pytest.raises(error, match=message):
        app.accounts.sign_up(**fields)

    user, account = app.accounts.sign_up(name="Acme AS", email="kari@example.no")
    assert app.accounts.of_user(user.id) == [account]


# More accounts and switching between them


def test_a_user_can_create_more_accounts_and_owns_each(app: tb.Tenantbill) -> None:
    user, first = sign_up(app, "Acme")

    second = app.accounts.create(user.id, name="Acme Utleie", currency="EUR")

    assert second.id != first.id
    assert second.owner_id == user.id
    assert second.currency == "EUR"
    assert app.access.members(user.id, second.id) == [tb.Membership(second.id, user.id, tb.Role.OWNER)]
    assert app.accounts.of_user(user.id) == [first, second]


def test_creating_an_account_for_an_unknown_user_raises_not_found(app: tb.Tenantbill) -> None:
    with pytest.raises(tb.NotFound):
        app.accounts.create("no-such-user", name="Ghost AS")


def test_accounts_of_user_lists_every_account_to_switch_between(app: tb.Tenantbill) -> None:
    accountant, own = sign_up(app, "Revisor")
    client_owner, client = sign_up(app, "Client")
    issued = app.access.invite(client_owner.id, client.id, email=accountant.email)
    app.access.accept(issued.token, user_id=accountant.id)

    assert app.accounts.of_user(accountant.id) == [own, client]
    assert app.accounts.of_user(client_owner.id) == [client]


def test_an_account_disappears_from_the_list_after_leaving_it(app: tb.Tenantbill) -> None:
    owner, account = sign_up(app, "Acme")
    member = join(app, owner, account, "ola@example.no")

    app.access.leave(member.id, account.id)

    assert app.accounts.of_user(member.id) == []
    assert app.accounts.of_user(owner.id) == [account]


def test_an_account_rejoined_after_leaving_is_listed_once_as_the_newest_membership(
    app: tb.Tenantbill,
) -> None:
    ola, own = sign_up(app, "Ola")
    owner, acme = sign_up(app, "Acme")
    other_owner, other = sign_up(app, "Other")
    per = join(app, owner, acme, "per@example.no")
    for account_owner, account in ((owner, acme), (other_owner, other)):
        issued = app.access.invite(account_owner.id, account.id, email=ola.email)
        app.access.accept(issued.token, user_id=ola.id)
    app.access.leave(ola.id, acme.id)

    issued = app.access.invite(owner.id, acme.id, email=ola.email)
    app.access.accept(issued.token, user_id=ola.id)

    assert app.accounts.of_user(ola.id) == [own, other, acme]
    assert [m.user_id for m in app.access.members(owner.id, acme.id)] == [
        owner.id,
        per.id,
        ola.id,
    ]


# Updating the invoice setup


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("name", "  Acme Holding AS ", "Acme Holding AS"),
        ("address", "Storgata 1\n0155 Oslo", "Storgata 1\n0155 Oslo"),
        ("org_number", "923 609 016", OTHER_ORG),
        ("bank_account", "1234.56.78903", OTHER_BANK),
        ("currency", "sek", "SEK"),
        ("locale", "en-GB", "en_GB"),
        ("timezone", "Europe/Stockholm", "Europe/Stockholm"),
        ("payment_terms_days", 30, 30),
        ("vat_registered", True, True),
        ("logo", PNG, PNG),
    ],
)
def test_update_changes_the_given_field_and_leaves_the_rest_unchanged(
    app: tb.Tenantbill, field: str, value: object, stored: object
) -> None:
    owner, before = sign_up(app, "Acme", org_number=ORG, bank_account=BANK, address="Old road 1")

    updated = app.accounts.update(owner.id, before.id, **{field: value})

    assert getattr(updated, field) == stored
    assert attrs.evolve(updated, **{field: getattr(before, field)}) == before
    assert app.accounts.get(owner.id, before.id) == updated


def test_update_with_nothing_changes_nothing(app: tb.Tenantbill) -> None:
    owner, before = sign_up(app, "Acme", org_number=ORG, bank_account=BANK, logo=PNG)

    assert app.accounts.update(owner.id, before.id) == before
    assert app.accounts.get(owner.id, before.id) == before


def test_update_with_none_clears_the_optional_fields(app: tb.Tenantbill) -> None:
    owner, account = sign_up(app, "Acme", org_number=ORG, bank_account=BANK, address="Storgata 1", logo=PNG)

    updated = app.accounts.update(
        owner.id, account.id, org_number=None, bank_account=None, address=None, logo=None
    )

    assert (updated.org_number, updated.bank_account, updated.address, updated.logo) == (
        None,
        None,
        "",
        None,
    )
    assert app.accounts.get(owner.id, account.id) == updated


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": ""}, tb.InvalidInput, "needs a name"),
        ({"name": None}, tb.InvalidInput, "needs a name"),
        ({"name": "x" * 201}, tb.InvalidInput, "at most 200"),
        ({"address": 5}, tb.InvalidInput, "address must be text"),
        ({"org_number": "974760674"}, tb.InvalidOrgNumber, "check digit does not match"),
        ({"org_number": "97476067"}, tb.InvalidOrgNumber, "has 9 digits, got 8"),
        ({"org_number": "ABC"}, tb.InvalidOrgNumber, "digits"),
        ({"bank_account": "86011117948"}, tb.InvalidBankAccount, "check digit"),
        ({"bank_account": "NO93 8601 1117 948"}, tb.InvalidBankAccount, "IBAN"),
        ({"bank_account": "Plusgiro 28 65 43-5"}, tb.InvalidBankAccount, "is not a Plusgiro number"),
        ({"currency": "XYZ"}, tb.InvalidInput, "unknown currency code 'XYZ'"),
        ({"locale": "xx"}, tb.InvalidInput, "unknown locale 'xx'"),
        ({"timezone": "Mars/Olympus"}, tb.InvalidInput, "unknown time zone 'Mars/Olympus'"),
        ({"payment_terms_days": -1}, tb.InvalidInput, "payment_terms_days"),
        ({"payment_terms_days": 366}, tb.InvalidInput, "payment_terms_days"),
        ({"payment_terms_days": "14"}, tb.InvalidInput, "payment_terms_days"),
        ({"payment_terms_days": True}, tb.InvalidInput, "payment_terms_days"),
        ({"vat_registered": "yes"}, tb.InvalidInput, "vat_registered must be True or False"),
        ({"logo": b"GIF89a"}, tb.InvalidInput, "PNG or JPEG"),
        ({"logo": "logo.png"}, tb.InvalidInput, "PNG or JPEG"),
        ({"colour": "red"}, tb.InvalidInput, "unknown account field.*colour"),
        # one bad value spoils the whole update: the valid name is not saved either
        ({"name": "New AS", "org_number": "123"}, tb.InvalidOrgNumber, "9 digits"),
        ({"name": "New AS", "timezone": "Oslo"}, tb.InvalidInput, "time zone"),
    ],
)
def test_an_invalid_update_raises_a_tenantbill_error_naming_the_rule_and_changes_nothing(
    app: tb.Tenantbill, kwargs: dict[str, Any], error: type[tb.TenantbillError], message: str
) -> None:
    owner, before = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)

    with pytest.raises(error, match=message):
        app.accounts.update(owner.id, before.id, **kwargs)

    assert issubclass(error, tb.TenantbillError)
    assert app.accounts.get(owner.id, before.id) == before


def test_update_of_an_unknown_account_is_denied_without_revealing_it(app: tb.Tenantbill) -> None:
    owner, _ = sign_up(app, "Acme")

    with pytest.raises(tb.PermissionDenied):
        app.accounts.update(owner.id, "no-such-account", name="X")


# Invoice recipients and the e-mail opt-in


def test_invoice_recipients_are_validated_normalized_and_deduplicated_ignoring_case(
    app: tb.Tenantbill,
) -> None:
    owner, account = sign_up(app, "Acme")

    updated = app.accounts.set_invoice_recipients(
        owner.id,
        account.id,
        ["Regnskap@Example.no", "revisor@example.com", "regnskap@example.NO"],
    )

    assert len(updated.invoice_recipients) == 2
    assert [r.casefold() for r in updated.invoice_recipients] == [
        "regnskap@example.no",
        "revisor@example.com",
    ]
    assert app.accounts.get(owner.id, account.id).invoice_recipients == updated.invoice_recipients


def test_invoice_recipients_can_be_cleared(app: tb.Tenantbill) -> None:
    owner, account = sign_up(app, "Acme")
    app.accounts.set_invoice_recipients(owner.id, account.id, ["regnskap@example.no"])

    assert app.accounts.set_invoice_recipients(owner.id, account.id, []).invoice_recipients == ()


@pytest.mark.parametrize(
    "recipients",
    [
        ["regnskap@example.no", "not an address"],
        ["regnskap@example.no", "a@b"],
        "regnskap@example.no",
    ],
)
def test_an_invalid_invoice_recipient_is_refused_and_changes_nothing(
    app: tb.Tenantbill, recipients: Any
) -> None:
    owner, account = sign_up(app, "Acme")
    app.accounts.set_invoice_recipients(owner.id, account.id, ["revisor@example.com"])

    with pytest.raises(tb.InvalidEmail):
        app.accounts.set_invoice_recipients(owner.id, account.id, recipients)

    assert app.accounts.get(owner.id, account.id).invoice_recipients == ("revisor@example.com",)


def test_invoice_emails_are_off_by_default_and_a_user_can_opt_in_and_out(
    app: tb.Tenantbill,
) -> None:
    owner, account = sign_up(app, "Acme")
    member = join(app, owner, account, "ola@example.no")
    assert owner.invoice_emails is False
    assert member.invoice_emails is False

    assert app.users.set_invoice_emails(member.id, enabled=True).invoice_emails is True
    assert app.users.get(member.id).invoice_emails is True
    assert app.users.get(owner.id).invoice_emails is False

    app.users.set_invoice_emails(member.id, enabled=False)
    assert app.users.get(member.id).invoice_emails is False


def test_invoice_email_opt_in_needs_a_boolean_and_a_known_user(app: tb.Tenantbill) -> None:
    owner, _ = sign_up(app, "Acme")

    with pytest.raises(tb.InvalidInput):
        app.users.set_invoice_emails(owner.id, enabled="yes")  # type: ignore[arg-type]
    with pytest.raises(tb.NotFound):
        app.users.set_invoice_emails("no-such-user", enabled=True)
    assert app.users.get(owner.id).invoice_emails is False


# Uniqueness of org numbers and bank account numbers


def test_two_owners_cannot_share_an_org_number(app: tb.Tenantbill) -> None:
    sign_up(app, "Acme", org_number=ORG)

    with pytest.raises(tb.OrgNumberTaken, match=ORG):
        sign_up(app, "Copycat", org_number="NO 974 760 673 MVA")


def test_two_owners_cannot_share_a_bank_account(app: tb.Tenantbill) -> None:
    sign_up(app, "Acme", bank_account=BANK)

    with pytest.raises(tb.BankAccountTaken, match=BANK):
        sign_up(app, "Copycat", bank_account="8601.11.17947")


@pytest.mark.parametrize(("first", "second"), [(BANK, BANK_IBAN), (BANK_IBAN, BANK)])
def test_a_norwegian_iban_collides_with_its_domestic_number(
    app: tb.Tenantbill, first: str, second: str
) -> None:
    sign_up(app, "Acme", bank_account=first)

    with pytest.raises(tb.BankAccountTaken):
        sign_up(app, "Copycat", bank_account=second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Bankgiro 5050-1055", "5050-1055"),
        ("BG 5050 1055", "bankgiro: 50501055"),
        ("Plusgiro 28 65 43-4", "PG 2865434"),
    ],
)
def test_a_giro_number_collides_with_itself_in_another_spelling(
    app: tb.Tenantbill, first: str, second: str
) -> None:
    sign_up(app, "Svea", bank_account=first)

    with pytest.raises(tb.BankAccountTaken):
        sign_up(app, "Copycat", bank_account=second)


def test_a_bankgiro_and_a_plusgiro_number_with_the_same_digits_belong_to_two_owners(
    app: tb.Tenantbill,
) -> None:
    _, bankgiro = sign_up(app, "Svea", bank_account="Bankgiro 286-5434")
    _, plusgiro = sign_up(app, "Norrland", bank_account="Plusgiro 28 65 43-4")

    assert (bankgiro.bank_account, plusgiro.bank_account) == ("BANKGIRO2865434", PLUSGIRO)


def test_the_owner_may_reuse_their_numbers_for_a_new_account(app: tb.Tenantbill) -> None:
    owner, first = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)

    second = app.accounts.create(owner.id, name="Acme avd. Bergen", org_number=ORG, bank_account=BANK_IBAN)

    assert (second.org_number, second.bank_account) == (first.org_number, first.bank_account)


def test_a_member_cannot_reuse_the_owners_number_for_an_account_of_their_own(
    app: tb.Tenantbill,
) -> None:
    owner, account = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)
    member = join(app, owner, account, "ola@example.no")

    with pytest.raises(tb.OrgNumberTaken):
        app.accounts.create(member.id, name="Ola AS", org_number=ORG)
    with pytest.raises(tb.BankAccountTaken):
        app.accounts.create(member.id, name="Ola AS", bank_account=BANK)
    assert app.accounts.of_user(member.id) == [account]


@pytest.mark.parametrize(
    ("field", "error"),
    [("org_number", tb.OrgNumberTaken), ("bank_account", tb.BankAccountTaken)],
)
def test_updating_to_another_owners_number_is_refused_and_changes_nothing(
    app: tb.Tenantbill, field: str, error: type[tb.NumberTaken]
) -> None:
    sign_up(app, "Acme", org_number=ORG, bank_account=BANK)
    other, before = sign_up(app, "Other", org_number=OTHER_ORG, bank_account=OTHER_BANK)
    taken = {"org_number": ORG, "bank_account": BANK}[field]

    with pytest.raises(error):
        app.accounts.update(other.id, before.id, name="Renamed", **{field: taken})

    assert app.accounts.get(other.id, before.id) == before
    # the refused update did not release the account's own number either
    with pytest.raises(error):
        sign_up(app, "Third", **{field: getattr(before, field)})


def test_updating_to_a_number_of_the_same_owners_other_account_is_allowed(
    app: tb.Tenantbill,
) -> None:
    owner, _ = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)
    second = app.accounts.create(owner.id, name="Acme 2")

    updated = app.accounts.update(owner.id, second.id, org_number=ORG, bank_account=BANK)

    assert (updated.org_number, updated.bank_account) == (ORG, BANK)


def test_numbers_are_checked_against_the_accounts_owner_not_the_acting_member(
    app: tb.Tenantbill,
) -> None:
    owner, _ = sign_up(app, "Acme", org_number=ORG)
    second = app.accounts.create(owner.id, name="Acme 2")
    member, _ = sign_up(app, "Per", org_number=OTHER_ORG)
    issued = app.access.invite(owner.id, second.id, email=member.email)
    app.access.accept(issued.token, user_id=member.id)

    # the owner's number may go on the owner's other account, whoever types it in
    assert app.accounts.update(member.id, second.id, org_number=ORG).org_number == ORG
    # the member's own number may not: the account belongs to someone else
    with pytest.raises(tb.OrgNumberTaken):
        app.accounts.update(member.id, second.id, org_number=OTHER_ORG)


def test_clearing_a_number_frees_it_for_other_owners(app: tb.Tenantbill) -> None:
    owner, account = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)

    app.accounts.update(owner.id, account.id, org_number=None, bank_account=None)

    _, other = sign_up(app, "Other", org_number=ORG, bank_account=BANK)
    assert (other.org_number, other.bank_account) == (ORG, BANK)


def test_changing_a_number_frees_the_old_one(app: tb.Tenantbill) -> None:
    owner, account = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)

    app.accounts.update(owner.id, account.id, org_number=OTHER_ORG, bank_account=OTHER_BANK)

    _, other = sign_up(app, "Other", org_number=ORG, bank_account=BANK)
    assert (other.org_number, other.bank_account) == (ORG, BANK)
    with pytest.raises(tb.OrgNumberTaken):
        sign_up(app, "Third", org_number=OTHER_ORG)


def test_a_number_stays_taken_while_any_account_of_its_owner_holds_it(
    app: tb.Tenantbill,
) -> None:
    owner, first = sign_up(app, "Acme", org_number=ORG)
    second = app.accounts.create(owner.id, name="Acme 2", org_number=ORG)

    app.accounts.update(owner.id, first.id, org_number=None)
    with pytest.raises(tb.OrgNumberTaken):
        sign_up(app, "Other", org_number=ORG)

    app.accounts.update(owner.id, second.id, org_number=None)
    _, other = sign_up(app, "Other", org_number=ORG)
    assert other.org_number == ORG


@pytest.mark.parametrize(
    ("numbers", "error"),
    [
        ({"org_number": ORG}, tb.OrgNumberTaken),
        ({"bank_account": BANK}, tb.BankAccountTaken),
    ],
)
def test_transferring_one_of_two_accounts_sharing_a_number_is_refused(
    app: tb.Tenantbill, numbers: dict[str, str], error: type[tb.NumberTaken]
) -> None:
    owner, first = sign_up(app, "Acme", **numbers)
    app.accounts.create(owner.id, name="Acme 2", **numbers)
    member = join(app, owner, first, "ola@example.no")

    with pytest.raises(error) as refused:
        app.access.transfer_ownership(owner.id, first.id, member.id)

    # One sentence that says what to do (not the generic "already used" text around it).
    assert str(refused.value).startswith("cannot transfer: the ")
    assert str(refused.value).endswith("first")
    assert "already used" not in str(refused.value)
    assert app.accounts.get(owner.id, first.id).owner_id == owner.id
    assert app.access.members(owner.id, first.id) == [
        tb.Membership(first.id, owner.id, tb.Role.OWNER),
        tb.Membership(first.id, member.id, tb.Role.MEMBER),
    ]


def test_transferring_the_only_account_with_a_number_moves_the_number_to_the_new_owner(
    app: tb.Tenantbill,
) -> None:
    owner, account = sign_up(app, "Acme", org_number=ORG, bank_account=BANK)
    member = join(app, owner, account, "ola@example.no")

    app.access.transfer_ownership(owner.id, account.id, member.id)

    with pytest.raises(tb.OrgNumberTaken):
        app.accounts.create(owner.id, name="Acme again", org_number=ORG)
    with pytest.raises(tb.BankAccountTaken):
        app.accounts.create(owner.id, name="Acme again", bank_account=BANK)
    reused = app.accounts.create(member.id, name="Ola AS", org_number=ORG, bank_account=BANK)
    assert reused.owner_id == member.id
    with pytest.raises(tb.OrgNumberTaken):
        sign_up(app, "Stranger", org_number=ORG)
