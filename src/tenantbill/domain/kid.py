"""Payment references: Norwegian KID (MOD10 or MOD11) and Swedish OCR (Bankgirot).

A payer types the reference into the bank, the bank checks its last digit, and
the payee's bank file carries it back, so a payment finds its invoice without
anyone reading a free-text message. The check digit method is the one agreed
with the bank: MOD10 (Luhn) or MOD11 for a KID, Luhn plus a length digit for
an OCR reference.

``make_kid`` lays a reference out as a fixed-width customer part, a
fixed-width sequence part and the check digit(s)::

    CCCCCC SSSSSSS K        mod10 / mod11: 14 characters
    CCCCCC SSSSSSS L K      ocr: 15 digits, L = length mod 10 = 5

``C`` is the customer number (:func:`customer_number`, zero-padded to 6
digits; 0 when the invoice has no customer), ``S`` the invoice's sequence in
the account's series (zero-padded to 7 digits, wider past 9 999 999). Because
the sequence part is the whole tail, two invoices with different sequences
never get the same reference, whatever their customer numbers.

>>> make_kid("mod10", customer_number=1001, sequence=42)
'00100100000429'
>>> validate_kid("0010 0100 0004 29", "mod10")
'00100100000429'
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Final, Literal

from tenantbill.errors import InvalidInput

__all__ = [
    "KidMethod",
    "customer_number",
    "invoice_kid",
    "is_valid_kid",
    "luhn_check_digit",
    "make_kid",
    "mod11_check_digit",
    "ocr_length_digit",
    "sequence_of",
    "validate_kid",
]

KidMethod = Literal["mod10", "mod11", "ocr"]

MIN_LENGTH: Final = 2
MAX_LENGTH: Final = 25
CUSTOMER_WIDTH: Final = 6
SEQUENCE_WIDTH: Final = 7

_METHODS: Final = ("mod10", "mod11", "ocr")
_MOD11_WEIGHTS: Final = (2, 3, 4, 5, 6, 7)
_CUSTOMER_LIMIT: Final = 10**CUSTOMER_WIDTH
_DIGITS: Final = frozenset("0123456789")


def luhn_check_digit(digits: str) -> str:
    """The MOD10 (Luhn) check digit to append to *digits*."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # the digit next to the check digit is doubled
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def mod11_check_digit(digits: str) -> str:
    """The MOD11 check character to append to *digits*: ``0``-``9``, or ``-`` for a check value of 10."""
    total = sum(int(char) * _MOD11_WEIGHTS[position % 6] for position, char in enumerate(reversed(digits)))
    check = (11 - total % 11) % 11
    return "-" if check == 10 else str(check)


def ocr_length_digit(digits: str) -> str:
    """The Bankgirot length digit for *digits*: the full length, counting it and the check digit, mod 10."""
    return str((len(digits) + 2) % 10)


def make_kid(method: KidMethod, *, customer_number: int | None, sequence: int) -> str:
    """A reference for the invoice with *sequence*, unique in its account (layout in the module doc)."""
    method = _method(method)
    customer = 0 if customer_number is None else customer_number
    if isinstance(customer, bool) or not isinstance(customer, int) or not 0 <= customer < _CUSTOMER_LIMIT:
        raise InvalidInput(
            f"a KID's customer number is a whole number from 0 to {_CUSTOMER_LIMIT - 1}, got {customer!r}"
        )
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise InvalidInput(f"a KID's invoice sequence is a whole number of at least 0, got {sequence!r}")
    base = f"{customer:0{CUSTOMER_WIDTH}d}{sequence:0{SEQUENCE_WIDTH}d}"
    checks = 2 if method == "ocr" else 1
    if len(base) + checks > MAX_LENGTH:
        raise InvalidInput(f"invoice sequence {sequence} is too large for a {MAX_LENGTH}-character KID")
    return _with_check(base, method)


def invoice_kid(method: str, customer: str | None, sequence: int) -> str:
    """The reference of the invoice with ``sequence`` to ``customer`` (a key, or ``None``)."""
    if type(method) is str and type(sequence) is int and (customer is None or type(customer) is str):
        return _invoice_kid(method, customer, sequence)
    return _invoice_kid.__wrapped__(method, customer, sequence)  # unhashable: the checks say what is wrong


@lru_cache(maxsize=1024)
def _invoice_kid(method: str, customer: str | None, sequence: int) -> str:
    """:func:`invoice_kid`, remembered: an invoice's PDF, e-mail and e-invoice each state its KID."""
    number = None if customer is None or not customer.strip() else customer_number(customer)
    return make_kid(_method(method), customer_number=number, sequence=sequence)


def sequence_of(value: str, method: str) -> int | None:
    """The invoice sequence a reference made by :func:`make_kid` carries, or ``None`` if it is not one.

    Spaces are ignored; the check digit must match.
    """
    if not is_valid_kid(value, _method(method)):
        return None
    digits = value.replace(" ", "")
    body = digits[: -2 if method == "ocr" else -1]
    if method == "ocr" and digits[-2] != ocr_length_digit(body):
        return None
    sequence = body[CUSTOMER_WIDTH:]
    if len(body) < CUSTOMER_WIDTH + SEQUENCE_WIDTH or not sequence.isdigit():
        return None
    return int(sequence)


def validate_kid(value: object, method: KidMethod) -> str:
    """Return *value* without spaces if it is a valid *method* reference, else raise :class:`InvalidInput`.

    An OCR reference's length digit is optional (the payee's Bankgiro agreement
    decides), so only its Luhn check digit is verified here.
    """
    method = _method(method)
    if not isinstance(value, str):
        raise InvalidInput(f"a KID is given as text, got {value!r} ({type(value).__name__})")
    kid = value.replace(" ", "")
    name = "an OCR reference" if method == "ocr" else "a KID"
    if not MIN_LENGTH <= len(kid) <= MAX_LENGTH:
        raise InvalidInput(f"{name} has {MIN_LENGTH} to {MAX_LENGTH} digits, got {len(kid)}")
    body, check = kid[:-1], kid[-1]
    allowed_check = _DIGITS | {"-"} if method == "mod11" else _DIGITS
    if not (set(body) <= _DIGITS and check in allowed_check):
        ending = "digits, the last may be '-'" if method == "mod11" else "digits"
        raise InvalidInput(f"{name} ({method}) contains only {ending}, got {value!r}")
    expected = mod11_check_digit(body) if method == "mod11" else luhn_check_digit(body)
    if check != expected:
        raise InvalidInput(f"check digit does not match: {kid} is not a valid {method} {name[2:]}")
    return kid


def is_valid_kid(value: object, method: KidMethod) -> bool:
    """Whether *value* passes :func:`validate_kid`."""
    try:
        validate_kid(value, method)
    except InvalidInput:
        return False
    return True


def customer_number(key: str) -> int:
    """A stable number from 0 to 999 999 for an opaque customer key, for the KID's customer part.

    A key of at most 6 digits is its own number; any other key is hashed
    (BLAKE2b), so different keys may share a number. That is harmless: the
    KID is unique through its sequence part, and the customer part only helps
    a person reading the bank statement.
    """
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"a customer key is non-empty text, got {key!r}")
    if key.isascii() and key.isdigit() and len(key) <= CUSTOMER_WIDTH:
        return int(key)
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _CUSTOMER_LIMIT


def _with_check(base: str, method: str) -> str:
    if method == "mod11":
        return base + mod11_check_digit(base)
    if method == "ocr":
        base += ocr_length_digit(base)
    return base + luhn_check_digit(base)


def _method(method: object) -> KidMethod:
    if method == "mod10" or method == "mod11" or method == "ocr":
        return method
    raise InvalidInput(f"a KID method is one of {', '.join(_METHODS)}, got {method!r}")
