"""Validation of an account's invoice setup (currency, locale, time zone, terms, logo)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tenantbill.domain.text import ADDRESS_MAX, NAME_MAX, multi_line, one_line
from tenantbill.errors import InvalidInput

__all__ = [
    "LOGO_MAX_BYTES",
    "LOGO_MAX_PIXELS",
    "LOGO_MAX_SIDE",
    "UNSET",
    "check_interest_rate",
    "image_size",
    "validate_setup",
]

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()
"""Marks a keyword that was left out (unchanged), as opposed to ``None`` (cleared)."""

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"

LOGO_MAX_BYTES = 2_000_000
"""The largest logo file accepted, in bytes."""
LOGO_MAX_SIDE = 4000
"""The widest and tallest logo accepted, in pixels."""
LOGO_MAX_PIXELS = 16_000_000
"""The most pixels a logo may have (width × height): what decoding it costs in memory."""


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("an account needs a name (non-empty text)")
    return one_line(value, "an account name", max_length=NAME_MAX)


def _address(value: object) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"address must be text, got {type(value).__name__}")
    return multi_line(value, "the account's address", max_length=ADDRESS_MAX)


def _currency(value: object) -> str:
    from tenantbill.domain.money import normalize_currency

    return normalize_currency(value)


def _locale(value: object) -> str:
    import babel

    from tenantbill.render.labels import supported_locales

    if not isinstance(value, str):
        raise InvalidInput(f"locale must be a code such as 'nb', 'sv' or 'en', got {type(value).__name__}")
    code = one_line(value, "locale", max_length=35)
    try:
        parsed = str(babel.Locale.parse(code.replace("-", "_")))
    except (ValueError, TypeError, babel.UnknownLocaleError):
        raise InvalidInput(f"unknown locale {value!r}: use one of {supported_locales()}") from None
    try:
        _has_labels(parsed)
    except InvalidInput:
        raise InvalidInput(
            f"invoices cannot be written in locale {value!r} yet (no invoice labels): "
            f"use one of {supported_locales()}"
        ) from None
    return parsed


def _has_labels(locale: str) -> None:
    from tenantbill.render.labels import resolve_locale

    resolve_locale(locale)


def _timezone(value: object) -> str:
    import zoneinfo

    if not isinstance(value, str):
        raise InvalidInput(f"timezone must be an IANA name such as 'Europe/Oslo', got {type(value).__name__}")
    name = one_line(value, "the time zone", max_length=64)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        raise InvalidInput(f"unknown time zone {value!r}: use an IANA name such as 'Europe/Oslo'") from None
    return name


def _terms(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
        raise InvalidInput(f"payment_terms_days is a whole number of days from 0 to 365, got {value!r}")
    return value


def _vat_registered(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"vat_registered must be True or False, got {value!r}")
    return value


def _logo(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, bytes) or not value.startswith((_PNG, _JPEG)):
        raise InvalidInput("logo must be the bytes of a PNG or JPEG image (or None)")
    if len(value) > LOGO_MAX_BYTES:
        raise InvalidInput("logo is larger than 2 MB; use a smaller image")
    size = image_size(value)
    if size is None:
        kind = "PNG" if value.startswith(_PNG) else "JPEG"
        raise InvalidInput(
            f"logo is not a readable {kind} image (its header does not give a width and height); "
            "save it again as PNG or JPEG"
        )
    width, height = size
    if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE or width * height > LOGO_MAX_PIXELS:
        raise InvalidInput(
            f"logo is {width}×{height} pixels; the limit is {LOGO_MAX_SIDE}×{LOGO_MAX_SIDE} "
            f"({LOGO_MAX_PIXELS // 1_000_000} megapixels): scale it down (it is printed "
            "at most 55 × 22 mm, where 1000 pixels across is plenty)"
        )
    return value


def image_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) in pixels of a PNG or JPEG, read from its header without decoding.

    ``None`` when ``data`` is neither, or its header is cut short or malformed.
    """
    if data.startswith(_PNG):
        return _png_size(data)
    if data.startswith(_JPEG):
        return _jpeg_size(data)
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    # The first chunk is IHDR: length 13, type, then width and height as 4-byte big-endian.
    if len(data) < 24 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (width, height) if width > 0 and height > 0 else None


# Start-of-frame markers carry the frame's size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    # Walk the marker segments after SOI until a start-of-frame: each segment is
    # FF, the marker (any number of FF fill bytes before it), a 2-byte length.
    at, end = 2, len(data)
    while at < end:
        if data[at] != 0xFF:
            return None
        while at < end and data[at] == 0xFF:
            at += 1
        if at >= end:
            return None
        marker = data[at]
        at += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA) or at + 2 > end:  # end of image, or image data before any frame
            return None
        length = int.from_bytes(data[at : at + 2], "big")
        if length < 2:
            return None
        if marker in _SOF:
            if length < 7 or at + 7 > end:
                return None
            height = int.from_bytes(data[at + 3 : at + 5], "big")
            width = int.from_bytes(data[at + 5 : at + 7], "big")
            return (width, height) if width > 0 and height > 0 else None
        at += length
    return None


def _kid(value: object) -> str | None:
    if value is None:
        return None
    if value not in ("mod10", "mod11", "ocr"):
        raise InvalidInput(
            f"kid is 'mod10' or 'mod11' (Norwegian KID), 'ocr' (Swedish OCR) or None, got {value!r}"
        )
    return str(value)


def _country(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() or not value.isalpha():
        raise InvalidInput(f"country is a two-letter ISO code such as 'NO' or 'SE' (or None), got {value!r}")
    import babel

    code = value.upper()
    if code not in babel.Locale("en").territories:
        raise InvalidInput(f"unknown country code {value!r}: use an ISO 3166 code such as 'NO' or 'SE'")
    return code


def _flag(name: str) -> Any:
    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"{name} must be True or False, got {value!r}")
        return value

    return check


def _buyer_reference(value: object) -> str | None:
    if value is None:
        return None
    return one_line(value, "the buyer reference", max_length=NAME_MAX) or None


def check_interest_rate(value: object) -> Decimal | None:
    """A yearly late-payment interest rate as a Decimal fraction in [0, 1), or ``None``; else InvalidInput."""
    if value is None:
        return None
    from tenantbill.domain.money import to_decimal

    rate = to_decimal(value, "late_interest_rate", error=InvalidInput)
    if not Decimal(0) <= rate < 1:
        raise InvalidInput(
            "late_interest_rate is a yearly rate as a fraction in [0, 1) "
            f"(12.5 % is Decimal('0.125')), got {rate}"
        )
    return rate


_VALIDATORS = {
    "name": _name,
    "address": _address,
    "currency": _currency,
    "locale": _locale,
    "timezone": _timezone,
    "payment_terms_days": _terms,
    "vat_registered": _vat_registered,
    "logo": _logo,
    "kid": _kid,
    "country": _country,
    "business_register": _flag("business_register"),
    "reminder_fee_agreed": _flag("reminder_fee_agreed"),
    "late_interest_rate": check_interest_rate,
    "buyer_reference": _buyer_reference,
}


def validate_setup(**fields: Any) -> dict[str, Any]:
    """The given setup fields, validated and normalized; ``UNSET`` ones are dropped."""
    return {key: _VALIDATORS[key](value) for key, value in fields.items() if value is not UNSET}
