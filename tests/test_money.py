"""Money: exact decimals, currencies and their minor units, half-up rounding."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tenantbill.domain.money import (
    Money,
    currency_digits,
    normalize_currency,
    round_money,
    to_decimal,
)
from tenantbill.errors import CurrencyMismatch, InvalidInput, InvalidInvoice

amounts = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)
currencies = st.sampled_from(["NOK", "SEK", "EUR", "USD", "JPY", "ISK", "KWD"])


# Currencies and minor units


@pytest.mark.parametrize(("code", "digits"), [("NOK", 2), ("SEK", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_a_currency_has_the_minor_unit_digits_of_cldr(code: str, digits: int) -> None:
    assert currency_digits(code) == digits


def test_currency_codes_are_accepted_in_any_case_and_normalized_to_upper_case() -> None:
    assert normalize_currency("nok") == "NOK"
    assert normalize_currency(" sek ") == "SEK"
    assert currency_digits("jpy") == 0


def test_an_unknown_currency_code_is_refused_with_its_name() -> None:
    with pytest.raises(InvalidInput, match="unknown currency code 'XYZ'"):
        currency_digits("XYZ")


@pytest.mark.parametrize("code", [None, 578, b"NOK", ["NOK"]])
def test_a_currency_that_is_not_a_string_is_refused(code: object) -> None:
    with pytest.raises(InvalidInput, match="ISO 4217"):
        normalize_currency(code)


# Rounding


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("0.125", "NOK", "0.13"),
        ("0.124", "NOK", "0.12"),
        ("-0.125", "NOK", "-0.13"),
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("1.0005", "KWD", "1.001"),
        ("10", "SEK", "10.00"),
    ],
)
def test_amounts_round_half_up_to_the_currency_minor_unit(amount: str, currency: str, expected: str) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == Decimal(expected).as_tuple().exponent


def test_a_yen_amount_rounds_to_whole_yen() -> None:
    assert str(round_money(Decimal("1234.49"), "JPY")) == "1234"


def test_rounding_an_absurdly_large_amount_is_an_error_not_a_crash() -> None:
    with pytest.raises(InvalidInput, match="too large"):
        round_money(Decimal("1e40"), "NOK")


@given(amounts, currencies)
def test_rounding_moves_an_amount_by_at_most_half_a_minor_unit(amount: Decimal, currency: str) -> None:
    digits = currency_digits(currency)
    rounded = round_money(amount, currency)
    assert rounded.as_tuple().exponent == -digits
    assert abs(rounded - amount) <= Decimal(1).scaleb(-digits) / 2


# Decimals from user input


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("1.10"), Decimal("1.10")), (3, Decimal(3)), ("2.50", Decimal("2.50"))],
)
def test_decimals_ints_and_numeric_strings_are_accepted_as_decimals(value: object, expected: Decimal) -> None:
    assert to_decimal(value, "price") == expected


def test_a_float_is_refused_with_a_hint_to_use_decimal() -> None:
    with pytest.raises(InvalidInvoice, match=r"price must be a Decimal, not a float") as caught:
        to_decimal(1.1, "price")
    assert "Decimal('1.10')" in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "nan",
        "inf",
        "1,5",
        "",
        True,
        None,
    ],
)
def test_non_finite_values_garbage_and_booleans_are_not_decimals(value: object) -> None:
    with pytest.raises(InvalidInvoice, match="quantity"):
        to_decimal(value, "quantity")


# Money values


def test_money_of_one_currency_adds_subtracts_and_negates() -> None:
    a = Money(Decimal("10.50"), "NOK")
    b = Money(Decimal("2.25"), "NOK")
    assert a + b == Money(Decimal("12.75"), "NOK")
    assert a - b == Money(Decimal("8.25"), "NOK")
    assert -a == Money(Decimal("-10.50"), "NOK")


def test_money_is_multiplied_by_a_decimal_or_an_int_and_then_rounded() -> None:
    price = Money(Decimal("99.99"), "NOK")
    assert price * Decimal("0.25") == Money(Decimal("24.9975"), "NOK")
    assert (price * Decimal("0.25")).rounded() == Money(Decimal("25.00"), "NOK")
    assert 3 * price == Money(Decimal("299.97"), "NOK")


def test_money_zero_is_the_start_of_a_sum() -> None:
    lines = [Money(Decimal("100"), "SEK"), Money(Decimal("50.50"), "SEK")]
    assert sum(lines, Money.zero("SEK")) == Money(Decimal("150.50"), "SEK")


def test_amounts_in_different_currencies_cannot_be_combined() -> None:
    nok = Money(Decimal("10"), "NOK")
    sek = Money(Decimal("10"), "SEK")
    with pytest.raises(CurrencyMismatch, match="cannot add NOK and SEK"):
        nok + sek
    with pytest.raises(CurrencyMismatch, match="cannot subtract NOK and SEK"):
        nok - sek


def test_money_cannot_hold_a_float_amount() -> None:
    with pytest.raises(InvalidInput, match="not a float"):
        Money(0.1, "NOK")  # type: ignore[arg-type]


def test_money_cannot_be_multiplied_by_a_float() -> None:
    with pytest.raises(InvalidInput, match="not a float"):
        Money(Decimal("1"), "NOK") * 1.5  # type: ignore[operator]


def test_money_needs_a_known_currency_and_normalizes_it() -> None:
    assert Money(Decimal("1"), "nok").currency == "NOK"
    with pytest.raises(InvalidInput, match="unknown currency code"):
        Money(Decimal("1"), "KRONER")


def test_money_is_immutable() -> None:
    money = Money(Decimal("1"), "NOK")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        money.amount = Decimal("2")  # type: ignore[misc]


@given(st.lists(amounts, max_size=20), currencies)
def test_a_sum_of_money_is_the_money_of_the_sum(values: list[Decimal], currency: str) -> None:
    total = sum((Money(value, currency) for value in values), Money.zero(currency))
    assert total == Money(sum(values, Decimal(0)), currency)
