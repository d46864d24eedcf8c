"""KID (Norway) and OCR (Sweden) payment references: check digits, layout, validation."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.no import kontonr

from tenantbill.domain.kid import (
    customer_number,
    is_valid_kid,
    luhn_check_digit,
    make_kid,
    mod11_check_digit,
    ocr_length_digit,
    validate_kid,
)
from tenantbill.errors import InvalidInput

DIGITS = "0123456789"
METHODS = ["mod10", "mod11", "ocr"]
bases = st.text(DIGITS, min_size=1, max_size=24)


# Known numbers


def test_example_base_gets_its_mod10_and_mod11_check_digit() -> None:
    assert "0001001" + luhn_check_digit("0001001") == "00010017"
    assert "0001001" + mod11_check_digit("0001001") == "00010014"


def test_ocr_length_digit_counts_itself_and_the_check_digit() -> None:
    assert ocr_length_digit("2001") == "6"
    assert validate_kid("200162", "ocr") == "200162"


@pytest.mark.parametrize(
    ("number", "method"),
    [
        ("2345676", "mod10"),  # the MOD10 KID example of Norwegian Wikipedia
        ("79927398713", "mod10"),  # the Luhn example of Wikipedia
        ("86011117947", "mod11"),  # a published Norwegian bank account: the same MOD11
        ("13748136", "mod11"),  # a Danish CVR number: weights 2..7 from the right, as a MOD11 KID
        ("200162", "ocr"),
    ],
)
def test_published_numbers_validate(number: str, method: str) -> None:
    assert validate_kid(number, method) == number  # type: ignore[arg-type]


def test_mod11_check_value_of_ten_is_written_as_a_dash() -> None:
    base = next(str(n) for n in range(10, 1000) if mod11_check_digit(str(n)) == "-")

    assert validate_kid(base + "-", "mod11") == base + "-"
    with pytest.raises(InvalidInput, match="contains only digits"):
        validate_kid(base + "-", "mod10")


def test_spaces_are_ignored_when_validating() -> None:
    assert validate_kid(" 0001 0017 ", "mod10") == "00010017"


@pytest.mark.parametrize(
    ("value", "method", "message"),
    [
        ("1", "mod10", "has 2 to 25 digits, got 1"),
        ("1" * 26, "mod10", "has 2 to 25 digits, got 26"),
        ("00010018", "mod10", "check digit does not match"),
        ("00010015", "mod11", "check digit does not match"),
        ("200163", "ocr", "check digit does not match"),
        ("0001-0017", "mod10", "contains only digits"),
        ("0001001A", "mod11", "contains only digits"),
        ("1-14", "mod11", "contains only digits"),
        ("", "mod10", "has 2 to 25 digits, got 0"),
    ],
)
def test_malformed_kid_is_refused_with_the_rule_it_breaks(value: str, method: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_kid(value, method)  # type: ignore[arg-type]
    assert not is_valid_kid(value, method)  # type: ignore[arg-type]


def test_kid_given_as_a_number_is_refused() -> None:
    with pytest.raises(InvalidInput, match="given as text"):
        validate_kid(10017, "mod10")


def test_unknown_method_is_refused() -> None:
    with pytest.raises(InvalidInput, match="mod10, mod11, ocr"):
        validate_kid("00010017", "mod97")  # type: ignore[arg-type]


# Layout of make_kid


def test_kid_is_customer_part_then_sequence_part_then_check_digit() -> None:
    assert make_kid("mod10", customer_number=1001, sequence=42) == "00100100000429"
    assert make_kid("mod11", customer_number=1001, sequence=42) == "0010010000042" + mod11_check_digit(
        "0010010000042"
    )
    assert make_kid("ocr", customer_number=1001, sequence=42) == "00100100000425" + luhn_check_digit(
        "00100100000425"
    )


def test_invoice_without_a_customer_gets_a_zero_customer_part() -> None:
    assert make_kid("mod10", customer_number=None, sequence=7).startswith("000000000000")


def test_sequence_past_seven_digits_widens_the_kid() -> None:
    assert len(make_kid("mod10", customer_number=1, sequence=12_345_678)) == 15


def test_sequence_that_does_not_fit_in_25_characters_is_refused() -> None:
    assert len(make_kid("mod11", customer_number=1, sequence=10**18 - 1)) == 25
    with pytest.raises(InvalidInput, match="too large"):
        make_kid("mod11", customer_number=1, sequence=10**18)
    with pytest.raises(InvalidInput, match="too large"):
        make_kid("ocr", customer_number=1, sequence=10**17)


@pytest.mark.parametrize("customer", [-1, 1_000_000, True])
def test_customer_number_out_of_range_is_refused(customer: int) -> None:
    with pytest.raises(InvalidInput, match="customer number"):
        make_kid("mod10", customer_number=customer, sequence=1)


@pytest.mark.parametrize("sequence", [-1, False])
def test_negative_sequence_is_refused(sequence: int) -> None:
    with pytest.raises(InvalidInput, match="sequence"):
        make_kid("mod10", customer_number=1, sequence=sequence)


# Customer numbers


def test_short_numeric_customer_key_is_its_own_number() -> None:
    assert customer_number("1001") == 1001
    assert customer_number("000042") == 42


def test_other_customer_keys_hash_to_a_stable_six_digit_number() -> None:
    number = customer_number("acct_01J8ZK3Q")

    assert 0 <= number < 1_000_000
    assert customer_number("acct_01J8ZK3Q") == number  # stable across calls and processes
    assert customer_number("1234567") == customer_number("1234567")


def test_hash_of_a_known_key_never_changes() -> None:
    # A changed hash would change the KID of every invoice issued afterwards.
    assert customer_number("acct_01J8ZK3Q") == 319442
    assert customer_number("kunde-4711") == 205214


@pytest.mark.parametrize("key", ["", "   "])
def test_empty_customer_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="customer key"):
        customer_number(key)


# Properties


@given(bases)
def test_mod10_agrees_with_python_stdnum_luhn(base: str) -> None:
    assert luhn_check_digit(base) == luhn.calc_check_digit(base)


@given(st.text(DIGITS, min_size=10, max_size=10))
def test_mod11_agrees_with_python_stdnum_norwegian_account_check(base: str) -> None:
    check = mod11_check_digit(base)
    assume(check != "-")  # an account number has no check value 10

    assert kontonr.is_valid(base + check)
    assert not kontonr.is_valid(base + str((int(check) + 1) % 10))


@given(st.sampled_from(METHODS), st.integers(0, 999_999) | st.none(), st.integers(0, 10**15))
def test_every_made_kid_validates(method: str, customer: int | None, sequence: int) -> None:
    kid = make_kid(method, customer_number=customer, sequence=sequence)  # type: ignore[arg-type]

    assert 2 <= len(kid) <= 25
    assert validate_kid(kid, method) == kid  # type: ignore[arg-type]


@given(st.integers(0, 10**12))
def test_made_ocr_carries_a_correct_length_digit(sequence: int) -> None:
    ocr = make_kid("ocr", customer_number=12, sequence=sequence)

    assert ocr[-2] == str(len(ocr) % 10)


@given(st.sampled_from(METHODS), st.integers(0, 999_999), st.integers(0, 10**12), st.data())
def test_changing_any_single_digit_is_detected(
    method: str, customer: int, sequence: int, data: st.DataObject
) -> None:
    kid = make_kid(method, customer_number=customer, sequence=sequence)  # type: ignore[arg-type]
    position = data.draw(st.integers(0, len(kid) - 1))
    replacement = data.draw(st.sampled_from([d for d in DIGITS + "-" if d != kid[position]]))
    changed = kid[:position] + replacement + kid[position + 1 :]

    assert not is_valid_kid(changed, method)  # type: ignore[arg-type]


@given(
    st.sampled_from(METHODS),
    st.lists(st.tuples(st.integers(0, 999_999) | st.none(), st.integers(0, 10**16)), min_size=2),
)
def test_distinct_sequences_never_share_a_kid(method: str, invoices: list[tuple[int | None, int]]) -> None:
    by_sequence = {sequence: customer for customer, sequence in invoices}
    kids = {
        make_kid(method, customer_number=customer, sequence=sequence)  # type: ignore[arg-type]
        for sequence, customer in by_sequence.items()
    }

    assert len(kids) == len(by_sequence)
