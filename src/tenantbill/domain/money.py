"""Amounts of money: exact decimals, ISO 4217 currencies, half-up rounding.

Money is never a float: a float cannot hold ``1.10`` exactly, so every entry
point refuses one with an error that says what to pass instead. Rounding is
half-up (away from zero on a tie) to the currency's minor unit as recorded in
CLDR (via Babel): two digits for NOK and SEK, none for JPY.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

import attrs

from tenantbill.errors import CurrencyMismatch, InvalidInput, InvalidInvoice

__all__ = [
    "Money",
    "currency_digits",
    "minor_unit",
    "normalize_currency",
    "round_money",
    "to_decimal",
]


def normalize_currency(code: object) -> str:
    """Return `code` as an upper-case ISO 4217 code, or raise InvalidInput if unknown."""
    if not isinstance(code, str):
        raise InvalidInput(f"a currency must be an ISO 4217 code such as 'NOK', not {type(code).__name__}")
    return _known_currency(code)


def currency_digits(code: str) -> int:
    """Return how many decimal digits the currency's minor unit has (NOK 2, JPY 0)."""
    return _digits(normalize_currency(code))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` half-up to the minor unit of `currency`."""
    value = _decimal(amount, "amount", InvalidInput)
    return _quantize(value, _quantum(normalize_currency(currency)))


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal exponent (``Decimal("0.01")`` for NOK), for bulk rounding."""
    return _quantum(normalize_currency(currency))


def to_decimal(value: object, what: str) -> Decimal:
    """Return `value` as a finite Decimal, or raise InvalidInvoice naming `what`.

    Accepts a Decimal, an int or a numeric string; refuses floats (which cannot
    represent money exactly), booleans, NaN and infinities.
    """
    return _decimal(value, what, InvalidInvoice)


def _amount(value: Decimal | int | str) -> Decimal:
    return _decimal(value, "amount", InvalidInput)


@attrs.frozen
class Money:
    """An exact amount in one currency; arithmetic across currencies is refused."""

    amount: Decimal = attrs.field(converter=_amount)
    currency: str = attrs.field(converter=normalize_currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return a zero amount in `currency`: the start value of a sum."""
        return cls(Decimal(0), currency)

    def rounded(self) -> Money:
        """Return this amount rounded half-up to the currency's minor unit."""
        return Money(round_money(self.amount, self.currency), self.currency)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other, "add")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._require_same_currency(other, "subtract")
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * _decimal(factor, "factor", InvalidInput), self.currency)

    __rmul__ = __mul__

    def _require_same_currency(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {verb} {self.currency} and {other.currency} amounts: "
                "convert one of them to the other currency first"
            )


def _decimal(value: object, what: str, error: type[InvalidInput]) -> Decimal:
    # Decimal first: it is by far the most common case on the hot paths.
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        raise error(
            f"{what} must be a Decimal, not a float (floats cannot represent money "
            "exactly): use Decimal('1.10')"
        )
    elif isinstance(value, bool):
        raise error(f"{what} must be a Decimal, not a bool")
    elif isinstance(value, int):
        return Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise error(f"{what} must be a decimal number, got {value!r}") from None
    else:
        raise error(f"{what} must be a Decimal, not {type(value).__name__}")
    if not number.is_finite():
        raise error(f"{what} must be a finite number, got {value!r}")
    return number


def _quantize(amount: Decimal, quantum: Decimal) -> Decimal:
    try:
        return amount.quantize(quantum, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        # Only happens when the result needs more digits than the context holds.
        raise InvalidInput(f"amount {amount} is too large to round to {quantum}") from None


@lru_cache(maxsize=1024)
def _known_currency(code: str) -> str:
    # Babel is imported here rather than at module level so that importing
    # tenantbill stays cheap; the cache makes the lookup free after the first call.
    from babel.numbers import list_currencies

    normalized = code.strip().upper()
    if normalized not in list_currencies():
        raise InvalidInput(
            f"unknown currency code {code!r}: use an ISO 4217 code such as 'NOK', 'SEK' or 'EUR'"
        )
    return normalized


@lru_cache(maxsize=512)
def _digits(code: str) -> int:
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(code))


@lru_cache(maxsize=512)
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-currency_digits(currency))
