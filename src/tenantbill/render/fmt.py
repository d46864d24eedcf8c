"""Dates, numbers, percentages and money written the way a locale writes them.

Everything goes through Babel (CLDR data), with the parsed ``Locale`` and the
number patterns cached, because an invoice formats dozens of values:

>>> from decimal import Decimal
>>> format_money(Decimal("1990"), "NOK", "nb")
'1\\xa0990,00\\xa0NOK'
>>> format_money(Decimal("1990"), "NOK", "en")
'NOK\\xa01,990.00'
>>> format_date(date(2026, 3, 1), "nb"), format_date(date(2026, 3, 1), "sv")
('01.03.2026', '2026-03-01')
>>> format_date(date(2026, 3, 1), "en")
'1 Mar 2026'
>>> format_period(date(2026, 3, 1), date(2026, 3, 31), "nb")
'01.03.2026–31.03.2026'

Decisions an accountant relies on:

- Money carries the ISO 4217 code, never a symbol: "kr" is Norwegian, Swedish
  and Danish alike. The code sits where the locale puts its currency sign,
  separated from the digits by a no-break space (CLDR's currency spacing).
- Amounts show the currency's minor unit ("199,00"); a unit price with more
  precision keeps its extra digits ("0,125").
- Dates use the pattern of the locale's invoice catalogue (Norwegian
  "01.03.2026", Swedish ISO "2026-03-01", English "1 Mar 2026", unambiguous on
  both sides of the Atlantic); a locale without a catalogue uses CLDR's medium
  date.
- Formatting a number never fails: it is done in a decimal context wide
  enough for any amount tenantbill accepts (and many more digits), and a
  value no invoice can hold (NaN, 1E+100000) is written plainly ("NaN",
  "1E+100000") rather than raising, so a stored invoice always renders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Context, Decimal, localcontext
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision, parse_pattern
from babel.numbers import format_percent as babel_format_percent

from tenantbill.errors import InvalidInput
from tenantbill.render.labels import CATALOGUES, resolve_locale

__all__ = [
    "format_amount",
    "format_date",
    "format_money",
    "format_number",
    "format_percent",
    "format_period",
    "locale_of",
]

_NBSP = "\xa0"
_MAX_DIGITS = 6
_MAX_EXPONENT = 60
"""Numbers beyond 10^±60 are written plainly: no amount tenantbill accepts comes near."""
_WIDE = Context(prec=2 * _MAX_EXPONENT + 20)


def _robust(value: Decimal, format_: Callable[[], str], plain: Callable[[str], str] = str) -> str:
    """``format_()`` computed in a wide decimal context; ``plain(str(value))`` if it cannot be."""
    if not isinstance(value, Decimal):
        value = Decimal(value)
    if not value.is_finite() or not -_MAX_EXPONENT < value.adjusted() < _MAX_EXPONENT:
        return plain(str(value))
    try:
        with localcontext(_WIDE):
            return format_()
    except InvalidInput:
        raise
    except (ArithmeticError, ValueError):
        return plain(str(value))


def _text(value: Decimal) -> str:
    """The exact text of a number: the cache key of its formatting (1.5 and 1.50 print differently)."""
    return str(value if isinstance(value, Decimal) else Decimal(value))


# A month-end run prints the same few amounts, rates and dates thousands of times.


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """``amount`` with its ISO currency code, placed and spaced as ``locale`` does."""
    return _format_money(_text(amount), currency, locale)


@lru_cache(maxsize=4096)
def _format_money(text: str, currency: str, locale: str) -> str:
    amount = Decimal(text)
    return _robust(
        amount,
        lambda: format_currency(
            amount,
            currency,
            format=_money_pattern(locale),
            locale=locale_of(locale),
            decimal_quantization=False,
        ),
        lambda text: f"{text}{_NBSP}{currency}",
    )


def format_amount(amount: Decimal, currency: str, locale: str) -> str:
    """``amount`` as a number with (at least) the currency's minor-unit digits, no code."""
    return format_number(amount, locale, min_digits=_currency_digits(currency))


def format_number(value: Decimal, locale: str, *, min_digits: int = 0, max_digits: int = _MAX_DIGITS) -> str:
    """``value`` with the locale's decimal sign and grouping: quantities, rates, prices."""
    return _format_number(_text(value), locale, min_digits, max_digits)


@lru_cache(maxsize=4096)
def _format_number(text: str, locale: str, min_digits: int, max_digits: int) -> str:
    value = Decimal(text)
    return _robust(
        value,
        lambda: format_decimal(
            value,
            format=_number_pattern(locale, min_digits, max(min_digits, max_digits)),
            locale=locale_of(locale),
            decimal_quantization=False,
        ),
    )


def format_percent(rate: Decimal, locale: str) -> str:
    """A VAT rate given as a fraction (``Decimal("0.25")``) as a percentage: "25 %", "25%"."""
    return _format_percent(_text(rate), locale)


@lru_cache(maxsize=256)
def _format_percent(text: str, locale: str) -> str:
    rate = Decimal(text)
    return _robust(
        rate,
        lambda: babel_format_percent(rate, locale=locale_of(locale), decimal_quantization=False),
        lambda text: f"{text} × 100 %",
    )


@lru_cache(maxsize=2048)
def format_date(d: date, locale: str) -> str:
    """``d`` as the locale writes dates on invoices: "01.03.2026", "2026-03-01", "1 Mar 2026"."""
    return babel_format_date(d, _date_pattern(locale), locale=locale_of(locale))


def format_period(first_day: date, last_day: date, locale: str) -> str:
    """A period from its first to its last day: "01.03.2026–31.03.2026", "1 Mar 2026 – 31 Mar 2026"."""
    first, last = format_date(first_day, locale), format_date(last_day, locale)
    # An en dash joins numeric dates; dates written with spaces read better with a spaced dash.
    return f"{first} – {last}" if " " in first else f"{first}–{last}"


@lru_cache(maxsize=64)
def locale_of(locale: str) -> Locale:
    """The Babel ``Locale`` for ``"nb"``, ``"nb_NO"`` or ``"nb-NO"``; InvalidInput if unknown."""
    try:
        return Locale.parse(locale.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError, AttributeError):
        raise InvalidInput(f"unknown locale {locale!r}: use a code such as 'nb', 'sv' or 'en_GB'") from None


@lru_cache(maxsize=256)
def _number_pattern(locale: str, min_digits: int, max_digits: int) -> Any:
    integer = _positive(locale_of(locale).decimal_formats[None].pattern).split(".")[0]
    fraction = "0" * min_digits + "#" * (max_digits - min_digits)
    return parse_pattern(f"{integer}.{fraction}" if fraction else integer)


@lru_cache(maxsize=64)
def _money_pattern(locale: str) -> Any:
    pattern = _positive(locale_of(locale).currency_formats["standard"].pattern)
    if "¤¤" not in pattern:
        pattern = pattern.replace("¤", "¤¤")
    # CLDR's currency spacing: a code made of letters never touches the digits.
    pattern = pattern.replace("¤¤#", f"¤¤{_NBSP}#").replace("0¤¤", f"0{_NBSP}¤¤")
    return parse_pattern(pattern)


@lru_cache(maxsize=64)
def _date_pattern(locale: str) -> str:
    try:
        return CATALOGUES[resolve_locale(locale)].date_pattern
    except InvalidInput:
        return "medium"


@lru_cache(maxsize=512)
def _currency_digits(currency: str) -> int:
    return int(get_currency_precision(currency.upper()))


def _positive(pattern: str) -> str:
    """The positive part of a CLDR number pattern (before any ``;negative`` part)."""
    return pattern.split(";", 1)[0]
