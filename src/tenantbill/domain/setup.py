"""Validation of an account's invoice setup (currency, locale, time zone, terms, logo)."""

from __future__ import annotations

from typing import Any

from tenantbill.errors import InvalidInput

__all__ = ["UNSET", "validate_setup"]

UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()
"""Marks a keyword that was left out (unchanged), as opposed to ``None`` (cleared)."""

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("an account needs a name (non-empty text)")
    if len(value) > 200:
        raise InvalidInput("an account name has at most 200 characters")
    return value.strip()


def _address(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"address must be text, got {type(value).__name__}")
    return value.strip()


def _currency(value: object) -> str:
    from tenantbill.domain.money import normalize_currency

    return normalize_currency(value)


def _locale(value: object) -> str:
    import babel

    if not isinstance(value, str):
        raise InvalidInput(f"locale must be a code such as 'nb', 'sv' or 'en', got {value!r}")
    try:
        return str(babel.Locale.parse(value.replace("-", "_")))
    except (ValueError, babel.UnknownLocaleError):
        raise InvalidInput(f"unknown locale {value!r}: use a code such as 'nb', 'sv' or 'en'") from None


def _timezone(value: object) -> str:
    import zoneinfo

    if not isinstance(value, str):
        raise InvalidInput(f"timezone must be an IANA name such as 'Europe/Oslo', got {value!r}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {value!r}: use an IANA name such as 'Europe/Oslo'") from None
    return value


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
    if not isinstance(value, bytes) or not value.startswith(_IMAGE_MAGIC):
        raise InvalidInput("logo must be the bytes of a PNG or JPEG image (or None)")
    if len(value) > 2_000_000:
        raise InvalidInput("logo is larger than 2 MB; use a smaller image")
    return value


_VALIDATORS = {
    "name": _name,
    "address": _address,
    "currency": _currency,
    "locale": _locale,
    "timezone": _timezone,
    "payment_terms_days": _terms,
    "vat_registered": _vat_registered,
    "logo": _logo,
}


def validate_setup(**fields: Any) -> dict[str, Any]:
    """The given setup fields, validated and normalized; ``UNSET`` ones are dropped."""
    return {key: _VALIDATORS[key](value) for key, value in fields.items() if value is not UNSET}
