"""Amounts of money: exact decimals, ISO 4217 currencies, half-up rounding.

Money is never a float: a float cannot hold ``1.10`` exactly, so every entry
point refuses one with an error that says what to pass instead. Amounts are
bounded: at most :data:`MAX_INTEGER_DIGITS` (15) digits before the decimal
point and :data:`MAX_DECIMAL_PLACES` (15) after it (trailing zeros aside), so a
line amount, a VAT sum or a total always fits the 28 significant digits of
Python's default decimal context and a ``NUMERIC`` column. Rounding is
half-up (away from zero on a tie) to the currency's minor unit as recorded in
CLDR (via Babel): two digits for NOK and SEK, none for JPY.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache

import attrs

from tenantbill.errors import CurrencyMismatch, InvalidInput, InvalidInvoice

__all__ = [
    "EXACT",
    "MAX_AMOUNT",
    "MAX_DECIMAL_PLACES",
    "MAX_INTEGER_DIGITS",
    "Money",
    "check_amount",
    "currency_digits",
    "minor_unit",
    "normalize_currency",
    "round_money",
    "to_decimal",
]


MAX_INTEGER_DIGITS = 15
"""The most digits an amount, quantity or price may have before the decimal point."""
MAX_AMOUNT = Decimal(10) ** MAX_INTEGER_DIGITS
"""Every amount is strictly smaller than this in absolute value (10^15)."""
MAX_DECIMAL_PLACES = 15
"""The most digits a number may have after the decimal point (trailing zeros aside)."""

EXACT = Context(prec=80, rounding=ROUND_HALF_UP)
"""The context for products of quantities and prices: wide enough that none is rounded.

At most 15 + 15 digits each, a product has at most 60; the default context
keeps 28, which could move a half cent. Round the result with ``quantize``.
"""


def normalize_currency(code: object) -> str:
    """Return `code` as an upper-case ISO 4217 code, or raise InvalidInput if unknown."""
    if not isinstance(code, str):
        raise InvalidInput(f"a currency must be an ISO 4217 code such as 'NOK', not {type(code).__name__}")
    if len(code) > 16:
        raise InvalidInput(
            f"a currency is a three-letter ISO 4217 code such as 'NOK', got {len(code)} characters"
        )
    return _known_currency(code)


def currency_digits(code: str) -> int:
    """Return how many decimal digits the currency's minor unit has (NOK 2, JPY 0)."""
    return _digits(normalize_currency(code))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` half-up to the minor unit of `currency`."""
    value = _decimal(amount, "amount", InvalidInput, exact=False)
    return _quantize(value, _quantum(normalize_currency(currency)))


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal exponent (``Decimal("0.01")`` for NOK), for bulk rounding."""
    return _quantum(normalize_currency(currency))


def to_decimal(value: object, what: str, error: type[InvalidInput] = InvalidInvoice) -> Decimal:
    """Return `value` as a finite Decimal, or raise ``error`` (InvalidInvoice) naming `what`.

    Accepts a Decimal, an int or a numeric string; refuses floats (which cannot
    represent money exactly), booleans, NaN and infinities, and numbers with
    more than 15 digits before the decimal point or 15 after it.
    """
    return _decimal(value, what, error)


def to_exact_decimal(value: object, what: str, error: type[InvalidInput] = InvalidInvoice) -> Decimal:
    """:func:`to_decimal` for quantities and prices, which must be given as a ``Decimal``.

    An int or a string (``1``, ``"1.10"``) is refused too, not only a float:
    a quantity or price is money's exact arithmetic, and a caller that passes
    something else has usually read it from somewhere unparsed.
    """
    number = _decimal(value, what, error)  # a float, a bool, or a bad number: its own message
    if not isinstance(value, Decimal):
        raise error(f"{what} must be a Decimal, not {type(value).__name__}: use Decimal({str(number)!r})")
    return number


def check_amount(value: Decimal, what: str, error: type[InvalidInput] = InvalidInvoice) -> Decimal:
    """``value`` if it has at most 15 digits before the decimal point, else ``error``.

    For amounts computed from others (a line amount, a VAT sum, a total).
    """
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise error(_too_large(what, value))
    return value


def _too_large(what: str, value: object) -> str:
    return (
        f"{what} is too large: at most {MAX_INTEGER_DIGITS} digits before the decimal point "
        f"(below 1 000 000 000 000 000), got {_short(value)}"
    )


def _short(value: object) -> str:
    if isinstance(value, int) and abs(value) >= 10**40:
        return f"a number of about {int(value.bit_length() * 0.30103)} digits"
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}…{text[-10:]} ({len(text)} characters)"


def _amount(value: Decimal | int | str) -> Decimal:
    return _decimal(value, "amount", InvalidInput, exact=False)


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
        return Money(self.amount * _decimal(factor, "factor", InvalidInput, exact=False), self.currency)

    __rmul__ = __mul__

    def _require_same_currency(self, other: Money, verb: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot {verb} {self.currency} and {other.currency} amounts: "
                "convert one of them to the other currency first"
            )


def _decimal(value: object, what: str, error: type[InvalidInput], *, exact: bool = True) -> Decimal:
    """``value`` as a bounded Decimal; ``exact`` also limits it to 15 decimal places.

    Without ``exact`` (values computed by tenantbill, about to be rounded) any
    number of decimal places is accepted.
    """
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
        if abs(value) >= _MAX_INT:
            raise error(_too_large(what, value))
        return Decimal(value)
    elif isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise error(f"{what} must be a decimal number of at most {_MAX_TEXT} characters")
        try:
            number = Decimal(value)
        except (InvalidOperation, ValueError):
            raise error(f"{what} must be a decimal number, got {_short(repr(value))}") from None
    else:
        raise error(f"{what} must be a Decimal, not {type(value).__name__}")
    if not number.is_finite():
        raise error(f"{what} must be a finite number, got {value!r}")
    # Compare exponents before values: 1E+100000 is finite, but comparing or
    # adjusting it is cheap only if nothing expands it to its digits.
    if number.adjusted() >= MAX_INTEGER_DIGITS:
        raise error(_too_large(what, number))
    if exact and number.as_tuple().exponent < -MAX_DECIMAL_PLACES:  # type: ignore[operator]
        number = _fewer_places(number, what, error)
    return number


def _fewer_places(number: Decimal, what: str, error: type[InvalidInput]) -> Decimal:
    """``number`` without trailing zeros past 15 decimal places, or ``error`` if it needs more."""
    if number.is_zero():
        return Decimal(0).copy_sign(number)
    digits = number.as_tuple().digits
    if len(digits) > MAX_INTEGER_DIGITS + MAX_DECIMAL_PLACES + 50:
        raise error(f"{what} has more than {MAX_DECIMAL_PLACES} digits after the decimal point")
    shorter = number.quantize(_SMALLEST, context=_WIDE)
    if shorter != number:
        raise error(
            f"{what} has more than {MAX_DECIMAL_PLACES} digits after the decimal point, "
            f"got {_short(number)}: round it first"
        )
    return shorter


_MAX_INT = 10**MAX_INTEGER_DIGITS
_MAX_TEXT = 100
_SMALLEST = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
_WIDE = Context(prec=MAX_INTEGER_DIGITS + MAX_DECIMAL_PLACES + 10, traps=[InvalidOperation])


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
