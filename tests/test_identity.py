"""Org numbers, bank accounts and e-mail addresses parse into one comparable form."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import iban, luhn
from stdnum.no import kontonr
from stdnum.no import orgnr as no_orgnr

from tenantbill.domain.identity import BankAccount, Email, OrgNumber
from tenantbill.errors import InvalidBankAccount, InvalidEmail, InvalidOrgNumber

DIGITS = "0123456789"


# Org numbers


@pytest.mark.parametrize(
    "text",
    [
        "974760673",
        "974 760 673",
        "974.760.673",
        "974-760-673",
        "NO 974 760 673 MVA",
        "974760673MVA",
        "NO974760673",
        "no 974 760 673 mva",
        " 974760673 ",
    ],
)
def test_norwegian_org_number_normalizes_to_its_nine_digits(text: str) -> None:
    org = OrgNumber.parse(text)

    assert org == OrgNumber(value="974760673", country="NO")
    assert str(org) == "974760673"


@pytest.mark.parametrize(
    "text",
    [
        "5560360793",
        "556036-0793",
        "556036 0793",
        "SE556036079301",
        "SE 556036-0793 01",
        "SE5560360793",
    ],
)
def test_swedish_org_number_normalizes_to_its_ten_digits(text: str) -> None:
    assert OrgNumber.parse(text) == OrgNumber(value="5560360793", country="SE")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("97476067", "a Norwegian org number has 9 digits, got 8"),
        ("NO 974 760 673 3", "a Norwegian org number has 9 digits, got 10"),
        ("55603607", "a Norwegian org number has 9 digits, got 8"),
        ("556036-07931", "a Swedish org number has 10 digits, got 11"),
        ("SE974760673", "a Swedish org number has 10 digits, got 9"),
        ("974760674", "check digit does not match"),
        ("556036-0794", "check digit does not match"),
        ("abc", "an org number contains only digits (and spaces, dots, dashes), got 'abc'"),
        ("97476067x", "contains only digits"),
        ("SE 556036-0793 MVA", "contains only digits"),
        ("", "an org number is empty"),
        (" - ", "an org number is empty"),
    ],
)
def test_malformed_org_number_is_refused_with_the_rule_it_breaks(text: str, message: str) -> None:
    with pytest.raises(InvalidOrgNumber) as caught:
        OrgNumber.parse(text)

    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "type_name"), [(None, "NoneType"), (974760673.0, "float"), (974760673, "int")]
)
def test_org_number_that_is_not_text_is_refused_as_invalid(value: object, type_name: str) -> None:
    with pytest.raises(InvalidOrgNumber, match=f"given as text.*{type_name}"):
        OrgNumber.parse(value)


def test_org_number_cannot_be_built_in_a_form_parse_would_not_return() -> None:
    with pytest.raises(InvalidOrgNumber, match="not in normal form"):
        OrgNumber(value="974760673", country="SE")


def _wrap(digits: str, separators: list[str], wrapper: str) -> str:
    spaced = "".join(d + s for d, s in zip(digits, separators, strict=False)) + digits[-1]
    return wrapper.format(spaced)


@given(
    base=st.text(DIGITS, min_size=8, max_size=8),
    separators=st.lists(st.sampled_from(["", " ", ".", "-"]), min_size=8, max_size=8),
    wrapper=st.sampled_from(["{}", "NO {}", "{} MVA", "NO {} MVA", "NO{}MVA", "no {} mva"]),
)
def test_any_valid_norwegian_org_number_parses_to_its_digits_however_written(
    base: str, separators: list[str], wrapper: str
) -> None:
    check_digits = [d for d in DIGITS if no_orgnr.is_valid(base + d)]
    assume(check_digits)  # for about one base in eleven no check digit exists
    digits = base + check_digits[0]

    assert OrgNumber.parse(_wrap(digits, separators, wrapper)) == OrgNumber(digits, "NO")


@given(
    base=st.text(DIGITS, min_size=9, max_size=9),
    separators=st.lists(st.sampled_from(["", " ", "-"]), min_size=9, max_size=9),
    wrapper=st.sampled_from(["{}", "SE {}", "SE{}01", "SE {} 01"]),
)
def test_any_valid_swedish_org_number_parses_to_its_digits_however_written(
    base: str, separators: list[str], wrapper: str
) -> None:
    digits = base + luhn.calc_check_digit(base)

    assert OrgNumber.parse(_wrap(digits, separators, wrapper)) == OrgNumber(digits, "SE")


def test_wrong_check_digit_is_refused_for_every_other_digit() -> None:
    wrong = [d for d in DIGITS if d != "3"]

    for digit in wrong:
        with pytest.raises(InvalidOrgNumber, match="check digit does not match"):
            OrgNumber.parse("97476067" + digit)


# Bank accounts


@pytest.mark.parametrize("text", ["86011117947", "8601.11.17947", "8601 11 17947", " 8601.11.17947 "])
def test_norwegian_domestic_account_normalizes_to_eleven_digits(text: str) -> None:
    account = BankAccount.parse(text)

    assert account == BankAccount(value="86011117947", kind="NO")
    assert str(account) == "86011117947"


def test_norwegian_iban_normalizes_to_domestic_digits() -> None:
    assert BankAccount.parse("NO93 8601 1117 947") == BankAccount.parse("8601.11.17947")
    assert BankAccount.parse("no9386011117947").value == "86011117947"


@given(base=st.text(DIGITS, min_size=10, max_size=10))
def test_any_norwegian_account_equals_its_iban(base: str) -> None:
    check_digits = [d for d in DIGITS if kontonr.is_valid(base + d)]
    assume(check_digits)
    domestic = base + check_digits[0]

    assert BankAccount.parse(kontonr.to_iban(domestic)) == BankAccount.parse(domestic)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("SE45 5000 0000 0583 9825 7466", "SE4550000000058398257466"),
        ("se4550000000058398257466", "SE4550000000058398257466"),
        ("GB82 WEST 1234 5698 7654 32", "GB82WEST12345698765432"),
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ],
)
def test_foreign_iban_normalizes_to_compact_upper_case(text: str, value: str) -> None:
    assert BankAccount.parse(text) == BankAccount(value=value, kind="IBAN")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("8601.11.1794", "a Norwegian bank account number has 11 digits, got 10; a Swedish Bankgiro"),
        ("8601.11.179470", "a Norwegian bank account number has 11 digits, got 12; a Swedish Bankgiro"),
        ("50501055", "is given with its name ('Bankgiro 5050-1055', 'Plusgiro 28 65 43-4')"),
        ("5050 - 1055", "an account elsewhere (a Swedish bank account, say) as its IBAN"),
        ("8601.11.17948", "check digit does not match"),
        ("NO94 8601 1117 947", "IBAN check digits do not match"),
        ("SE46 5000 0000 0583 9825 7466", "IBAN check digits do not match"),
        ("NO93 8601 1117 948", "IBAN check digits do not match"),
        ("NO93 8601 1117 94/", "an IBAN is a country code, two check digits"),
        ("8601/11/17947", "contains only digits"),
        ("", "a bank account number is empty"),
    ],
)
def test_malformed_bank_account_is_refused_with_the_rule_it_breaks(text: str, message: str) -> None:
    with pytest.raises(InvalidBankAccount) as caught:
        BankAccount.parse(text)

    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("country", "message"),
    [
        ("XX", "IBAN country code XX is not known"),
        ("NO", "an IBAN from NO has a different length or layout"),
    ],
)
def test_iban_with_right_check_digits_but_wrong_country_or_layout_is_refused(
    country: str, message: str
) -> None:
    body = country + "00" + "8601111794"  # one digit short of a Norwegian account
    text = country + iban.calc_check_digits(body) + body[4:]

    with pytest.raises(InvalidBankAccount, match=message):
        BankAccount.parse(text)


def test_norwegian_iban_with_valid_iban_digits_but_bad_account_digits_is_refused() -> None:
    text = kontonr.to_iban("86011117948")  # IBAN check digits computed over a bad number

    with pytest.raises(InvalidBankAccount, match="check digit does not match"):
        BankAccount.parse(text)


@pytest.mark.parametrize("value", [None, 86011117947, 8601.1117947])
def test_bank_account_that_is_not_text_is_refused_as_invalid(value: object) -> None:
    with pytest.raises(InvalidBankAccount, match="given as text"):
        BankAccount.parse(value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("NO9386011117947", "IBAN"),
        ("BANKGIRO50501055", "PLUSGIRO"),
        ("BG50501055", "BANKGIRO"),
        ("BANKGIRO 5050-1055", "BANKGIRO"),
    ],
)
def test_bank_account_cannot_be_built_in_a_form_parse_would_not_return(value: str, kind: str) -> None:
    with pytest.raises(InvalidBankAccount, match="not in normal form"):
        BankAccount(value=value, kind=kind)


# Swedish Bankgiro and Plusgiro numbers

BANKGIRO = ["5050-1055", "5402-9681", "505-1057"]
PLUSGIRO = ["28 65 43-4", "4 36 14-7", "1-8"]


@pytest.mark.parametrize("written", BANKGIRO + PLUSGIRO)
def test_the_giro_numbers_used_here_have_a_valid_luhn_check_digit(written: str) -> None:
    assert luhn.is_valid(written.replace(" ", "").replace("-", ""))


@pytest.mark.parametrize(
    "text",
    [
        "Bankgiro 5050-1055",
        "BG 5050-1055",
        "bankgiro: 5050-1055",
        "5050-1055",
        " 5050-1055 ",
        "BG5050-1055",
        "bg 50501055",
        "BG: 5050 1055",
        "Bankgiro 5050\u20131055",  # an en dash, as a word processor writes it
        "BANKGIRO50501055",
    ],
)
def test_bankgiro_number_normalizes_to_its_name_and_digits(text: str) -> None:
    account = BankAccount.parse(text)

    assert account == BankAccount(value="BANKGIRO50501055", kind="BANKGIRO")
    assert str(account) == "BANKGIRO50501055"
    assert account.number == "50501055"


def test_a_seven_digit_bankgiro_number_is_written_with_three_digits_before_the_dash() -> None:
    assert BankAccount.parse("505-1057") == BankAccount(value="BANKGIRO5051057", kind="BANKGIRO")


@pytest.mark.parametrize(
    "text",
    [
        "Plusgiro 28 65 43-4",
        "PG 28 65 43-4",
        "plusgiro: 2865434",
        "PG286543-4",
        "pg 28.65.43-4",
        "PLUSGIRO2865434",
    ],
)
def test_plusgiro_number_normalizes_to_its_name_and_digits(text: str) -> None:
    account = BankAccount.parse(text)

    assert account == BankAccount(value="PLUSGIRO2865434", kind="PLUSGIRO")
    assert account.number == "2865434"


def test_a_bankgiro_and_a_plusgiro_number_with_the_same_digits_are_two_accounts() -> None:
    bankgiro, plusgiro = BankAccount.parse("Bankgiro 286-5434"), BankAccount.parse("Plusgiro 28 65 43-4")

    assert bankgiro.number == plusgiro.number == "2865434"
    assert bankgiro != plusgiro
    assert len({bankgiro.value, plusgiro.value}) == 2


@pytest.mark.parametrize(
    "text", ["BG80 BNBG 9661 1020 3456 78", "BG80BNBG96611020345678", "bg80 bnbg 9661 1020 3456 78"]
)
def test_a_bulgarian_iban_is_still_an_iban(text: str) -> None:
    assert BankAccount.parse(text) == BankAccount(value="BG80BNBG96611020345678", kind="IBAN")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Bankgiro 50501055", "5050-1055"),
        ("BG 5051057", "505-1057"),
        ("Plusgiro 2865434", "28 65 43-4"),
        ("PG 436147", "4 36 14-7"),
        ("PG 18", "1-8"),
        ("PG 12345674", "1 23 45 67-4"),
    ],
)
def test_a_giro_number_is_displayed_as_it_is_written_in_sweden(text: str, shown: str) -> None:
    assert BankAccount.parse(text).display() == shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Bankgiro 5050-1056", "check digit does not match: 5050-1056 is not a Bankgiro number"),
        ("505-1055", "check digit does not match: 505-1055 is not a Bankgiro number"),
        ("PG 4 36 14-2", "check digit does not match: 4 36 14-2 is not a Plusgiro number"),
        ("BG 5050-10555", "a Bankgiro number has 7 or 8 digits, got 9"),
        ("Bankgiro 50-1055", "a Bankgiro number has 7 or 8 digits, got 6"),
        ("Plusgiro 1", "a Plusgiro number has 2 to 8 digits, got 1"),
        ("PG 1234 5678 9", "a Plusgiro number has 2 to 8 digits, got 9"),
        (
            "Bankgiro 5050-105X",
            "a Bankgiro number contains only digits (and spaces, dots, dashes) after its name",
        ),
        ("Bankgiro nr 5050-1055", "a Bankgiro number contains only digits"),
        ("Bankgiro 5050\x001055", "a Bankgiro number contains only digits"),
        ("PG 28/65/43-4", "a Plusgiro number contains only digits"),
        ("Bankgiro 0505-1057", "a Bankgiro number does not start with 0: leave out leading zeros"),
        ("BG", "the Bankgiro number is missing after its name"),
        ("Plusgiro: ", "the Plusgiro number is missing after its name"),
        ("BG80 BNBG 9661 1020 3456 79", "IBAN check digits do not match"),
        ("5050-1055\x00", "contains only digits"),
    ],
)
def test_malformed_giro_number_is_refused_with_the_rule_it_breaks(text: str, message: str) -> None:
    with pytest.raises(InvalidBankAccount) as caught:
        BankAccount.parse(text)

    assert message in str(caught.value)


@pytest.mark.parametrize("text", ["5" * 101, "Bankgiro " + "5" * 10**6, "BG 5050-1055" + " " * 100])
def test_a_huge_bank_account_text_is_refused_without_being_echoed(text: str) -> None:
    with pytest.raises(InvalidBankAccount, match="at most 100 characters long") as caught:
        BankAccount.parse(text)

    assert len(str(caught.value)) < 100


@pytest.mark.parametrize("value", [None, 50501055, b"5050-1055", ["5050-1055"]])
def test_giro_number_that_is_not_text_is_refused_as_invalid(value: object) -> None:
    with pytest.raises(InvalidBankAccount, match="given as text"):
        BankAccount.parse(value)


def _bankgiro_spellings(digits: str) -> list[str]:
    dashed = f"{digits[:-4]}-{digits[-4:]}"
    return [
        dashed,
        f"Bankgiro {dashed}",
        f"BG {dashed}",
        f"bankgiro: {digits}",
        f"bg{digits}",
        f"BG: {dashed}",
    ]


def _plusgiro_spellings(digits: str) -> list[str]:
    dashed = f"{digits[:-1]}-{digits[-1]}"
    return [f"Plusgiro {dashed}", f"PG {digits}", f"plusgiro: {dashed}", f"pg{digits}", f"PG: {dashed}"]


# A giro number without its check digit: 1 to 7 digits, the first not 0.
GIRO_BASE = st.tuples(st.sampled_from("123456789"), st.text(DIGITS, max_size=6)).map("".join)


@given(base=GIRO_BASE, data=st.data())
def test_any_two_spellings_of_a_giro_number_are_the_same_account_and_round_trip(
    base: str, data: st.DataObject
) -> None:
    digits = base + luhn.calc_check_digit(base)
    kind = "BANKGIRO" if len(digits) in (7, 8) and data.draw(st.booleans(), label="bankgiro") else "PLUSGIRO"
    spellings = _bankgiro_spellings(digits) if kind == "BANKGIRO" else _plusgiro_spellings(digits)
    first, second = (data.draw(st.sampled_from(spellings), label=label) for label in ("first", "second"))

    account = BankAccount.parse(first)

    assert account == BankAccount.parse(second) == BankAccount(kind + digits, kind)
    assert (account.kind, account.number) == (kind, digits)
    assert BankAccount.parse(str(account)) == account
    assert BankAccount.parse(f"{kind} {account.display()}") == account
    assert account.display().replace(" ", "").replace("-", "") == digits


@given(base=GIRO_BASE.filter(lambda base: len(base) >= 6), kind=st.sampled_from(["Bankgiro", "Plusgiro"]))
def test_a_giro_number_with_any_other_check_digit_is_refused(base: str, kind: str) -> None:
    right = luhn.calc_check_digit(base)

    for digit in DIGITS.replace(right, ""):
        with pytest.raises(InvalidBankAccount, match=f"check digit does not match.*{kind} number"):
            BankAccount.parse(f"{kind} {base}{digit}")


# E-mail addresses


def test_email_domain_is_normalized_and_local_part_kept() -> None:
    email = Email.parse("  Ola.Nordmann@Example.NO ")

    assert email.value == "Ola.Nordmann@example.no"
    assert str(email) == "Ola.Nordmann@example.no"


def test_emails_differing_only_in_case_are_equal() -> None:
    assert Email.parse("Ola@Example.no") == Email.parse("ola@example.no")
    assert len({Email.parse("OLA@EXAMPLE.NO"), Email.parse("ola@example.no")}) == 1


def test_email_keeps_an_international_domain_as_punycode_and_refuses_an_smtputf8_local_part() -> None:
    assert Email.parse("ola@bøker.no").value == "ola@xn--bker-gra.no"
    with pytest.raises(InvalidEmail, match="SMTPUTF8"):
        Email.parse("Åse@bøker.no")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ola.example.no", "must have an @-sign"),
        ("ola@example", "It should have a period"),
        ("ola..nordmann@example.no", "two periods in a row"),
        ("ola nordmann@example.no", "invalid characters"),
        ("", "must have an @-sign"),
    ],
)
def test_invalid_email_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        Email.parse(text)

    assert "not a valid e-mail address" in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize("value", [None, 42, 1.5, b"ola@example.no"])
def test_email_that_is_not_text_is_refused_as_invalid(value: object) -> None:
    with pytest.raises(InvalidEmail, match="given as text"):
        Email.parse(value)


def test_email_cannot_be_built_in_a_form_parse_would_not_return() -> None:
    with pytest.raises(InvalidEmail, match="not in normal form"):
        Email("ola@EXAMPLE.no")


# Any input at all


ANYTHING = st.one_of(
    st.text(),
    st.text("0123456789 .-NOSEMVAIBANnosemva@", max_size=30),
    st.from_regex(r"\A[A-Za-z]{2}[0-9]{2}[0-9A-Za-z ]{0,30}\Z"),
    st.from_regex(r"\A\s?(?i:bankgiro|plusgiro|bg|pg)?\s?:?\s?[0-9 .:-]{0,14}[0-9A-Za-z]{0,22}\Z"),
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(),
)


@given(ANYTHING)
def test_org_number_parse_raises_only_invalid_org_number_and_round_trips(value: object) -> None:
    try:
        parsed = OrgNumber.parse(value)
    except InvalidOrgNumber:
        return
    assert OrgNumber.parse(str(parsed)) == parsed


@given(ANYTHING)
def test_bank_account_parse_raises_only_invalid_bank_account_and_round_trips(value: object) -> None:
    try:
        parsed = BankAccount.parse(value)
    except InvalidBankAccount:
        return
    assert BankAccount.parse(str(parsed)) == parsed


@given(ANYTHING)
def test_email_parse_raises_only_invalid_email_and_round_trips(value: object) -> None:
    try:
        parsed = Email.parse(value)
    except InvalidEmail:
        return
    assert Email.parse(str(parsed)) == parsed
