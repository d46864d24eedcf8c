"""Org numbers, bank account numbers and e-mail addresses as validated values.

Uniqueness rules compare these, so each is parsed once, at the boundary, into a
single normal form: ``NO 974 760 673 MVA`` and ``974760673`` are the same org
number, ``NO93 8601 1117 947`` and ``8601.11.17947`` the same bank account,
``Bankgiro 5050-1055`` and ``BG 5050 1055`` the same Swedish Bankgiro number.
Check digits are verified with python-stdnum and e-mail syntax with
email-validator, which never does a DNS lookup here.

>>> OrgNumber.parse("NO 974 760 673 MVA")
OrgNumber(value='974760673', country='NO')
>>> BankAccount.parse("NO93 8601 1117 947") == BankAccount.parse("8601.11.17947")
True

Each prints the way people write it, through python-stdnum's ``format``:

>>> OrgNumber.parse("974760673").display()
'974 760 673'
>>> BankAccount.parse("86011117947").display()
'8601.11.17947'

and a Swedish giro number the way it is printed in Sweden:

>>> BankAccount.parse("PG 2865434").display()
'28 65 43-4'
"""

from __future__ import annotations

import contextlib
import re
from typing import Final, Self

import attrs
import email_validator
import idna
from stdnum import iban, luhn
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.no import kontonr
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr
from stdnum.util import clean, isdigits

from tenantbill.errors import InvalidBankAccount, InvalidEmail, InvalidInput, InvalidOrgNumber

__all__ = [
    "BankAccount",
    "Email",
    "OrgNumber",
    "bank_account_kind",
    "display_bank_account",
    "display_org_number",
    "email_key",
    "giro_name",
]

_ORG_NUMBER_LENGTH = {"NO": 9, "SE": 10}
_COUNTRY_NAME = {"NO": "Norwegian", "SE": "Swedish"}
_NO_ACCOUNT_LENGTH = 11
# Longer text is no account number in any spelling (an IBAN has at most 34 characters);
# refusing it first keeps the work and the error message small.
_MAX_ACCOUNT_TEXT: Final = 100

# Swedish giro numbers end in a Luhn check digit and are named when written down:
# "Bankgiro 5050-1055", "BG: 5050-1055", "Plusgiro 28 65 43-4", "PG 2865434".
_GIRO_NAME: Final = re.compile(r"(BANKGIRO|PLUSGIRO|BG|PG)\s*:?", re.IGNORECASE | re.ASCII)
_GIRO_KIND: Final = {"BANKGIRO": "BANKGIRO", "BG": "BANKGIRO", "PLUSGIRO": "PLUSGIRO", "PG": "PLUSGIRO"}
_GIRO_DIGITS: Final = {"BANKGIRO": (7, 8, "7 or 8"), "PLUSGIRO": (2, 8, "2 to 8")}
# A Bankgiro number is the one written with a dash before its last four digits, so it needs no name.
_BANKGIRO_WRITTEN: Final = re.compile(r"[0-9]{3,4}-[0-9]{4}", re.ASCII)
# What follows "BG" in a Bulgarian IBAN: check digits, the bank's four letters, 14 more characters.
_BULGARIAN_IBAN_REST: Final = 20


@attrs.frozen
class OrgNumber:
    """A Norwegian or Swedish organisation number, reduced to its bare digits.

    ``country`` is ``"NO"`` (9 digits) or ``"SE"`` (10 digits); build one with
    :meth:`parse`, which accepts the forms people type and print on invoices.
    """

    value: str
    country: str

    @classmethod
    def parse(cls, text: object) -> Self:
        """Validate and normalize *text*, or raise :class:`InvalidOrgNumber` naming the rule."""
        return cls(*_parse_org_number(text))

    def __attrs_post_init__(self) -> None:
        if _parse_org_number(self.value) != (self.value, self.country):
            raise InvalidOrgNumber(f"{self!r} is not in normal form; build it with OrgNumber.parse")

    def __str__(self) -> str:
        """Return the bare digits."""
        return self.value

    def display(self) -> str:
        """The number as printed: ``974 760 673`` in Norway, ``556036-0793`` in Sweden."""
        if self.country == "NO":
            return no_orgnr.format(self.value)
        return se_orgnr.format(self.value)


@attrs.frozen
class BankAccount:
    """A bank account: Norwegian domestic digits, a Swedish Bankgiro or Plusgiro number, or an IBAN.

    ``kind`` is ``"NO"``, ``"BANKGIRO"``, ``"PLUSGIRO"`` or ``"IBAN"``. A
    Norwegian IBAN is stored as its 11 domestic digits, so both spellings of one
    account are equal. A giro number is stored with its name in front
    (``BANKGIRO50501055``, ``PLUSGIRO2865434``): the name keeps it apart from
    a Norwegian number and from the other giro's number with the same digits.
    """

    value: str
    kind: str

    @classmethod
    def parse(cls, text: object) -> Self:
        """Validate and normalize *text*, or raise :class:`InvalidBankAccount` naming the rule."""
        return cls(*_parse_bank_account(text))

    def __attrs_post_init__(self) -> None:
        if _parse_bank_account(self.value) != (self.value, self.kind):
            raise InvalidBankAccount(f"{self!r} is not in normal form; build it with BankAccount.parse")

    def __str__(self) -> str:
        """Return the normal form: the domestic digits, the named giro number or the compact IBAN."""
        return self.value

    @property
    def number(self) -> str:
        """The account number alone, as a payment states it: ``value`` without a giro's name."""
        return self.value.removeprefix(self.kind) if self.kind in ("BANKGIRO", "PLUSGIRO") else self.value

    def display(self) -> str:
        """The account as printed, without its kind.

        ``8601.11.17947`` for Norwegian digits, ``5050-1055`` for a Bankgiro
        number, ``28 65 43-4`` for a Plusgiro number, an IBAN in groups of four.
        """
        if self.kind == "NO":
            return kontonr.format(self.value)
        if self.kind == "IBAN":
            return iban.format(self.value)
        return _format_giro(self.kind, self.number)


@attrs.frozen
class Email:
    """A syntactically valid e-mail address that plain SMTP can carry, equal to another regardless of case.

    ``value`` is email-validator's normalized spelling in its ASCII form (an
    internationalized domain as punycode: ``ola@bøker.no`` is
    ``ola@xn--bker-gra.no``), kept for display and sending. Equality and
    hashing use ``key`` (see :func:`email_key`). An address with
    international characters before the ``@`` needs SMTPUTF8 and is refused.
    """

    value: str = attrs.field(eq=False)
    key: str = attrs.field(init=False, repr=False)

    @key.default
    def _key(self) -> str:
        return email_key(self.value)

    @classmethod
    def parse(cls, text: object) -> Self:
        """Validate and normalize *text*, or raise :class:`InvalidEmail` with the reason."""
        return cls(_parse_email(text))

    def __attrs_post_init__(self) -> None:
        if _parse_email(self.value) != self.value:
            raise InvalidEmail(f"{self!r} is not in normal form; build it with Email.parse")

    def __str__(self) -> str:
        """Return the normalized address."""
        return self.value


def _parse_org_number(text: object) -> tuple[str, str]:
    """Return the digits and country of an org number."""
    number = _compact(text, "an org number", InvalidOrgNumber)
    country = number[:2] if number[:2] in _ORG_NUMBER_LENGTH else ""
    number = number.removeprefix(country)
    if country != "SE" and number.endswith("MVA"):
        country, number = "NO", number.removesuffix("MVA")
    if not isdigits(number):
        raise InvalidOrgNumber(f"an org number contains only digits (and spaces, dots, dashes), got {text!r}")
    # Without a country code the length decides; shorter numbers read as Norwegian
    # so that a missing digit is reported against the 9-digit rule.
    country = country or ("NO" if len(number) < _ORG_NUMBER_LENGTH["SE"] else "SE")
    if country == "SE" and len(number) == 12 and number.endswith("01"):
        number = number[:10]  # the Swedish VAT number is the org number followed by 01
    name, length = _COUNTRY_NAME[country], _ORG_NUMBER_LENGTH[country]
    if len(number) != length:
        raise InvalidOrgNumber(f"a {name} org number has {length} digits, got {len(number)}")
    if not (no_orgnr if country == "NO" else se_orgnr).is_valid(number):
        raise InvalidOrgNumber(f"check digit does not match: {number} is not a {name} org number")
    return number, country


def _parse_bank_account(text: object) -> tuple[str, str]:
    """Return the normal form of a bank account (see :class:`BankAccount`), and its kind."""
    written = _text(text, "a bank account number", InvalidBankAccount)
    if len(written) > _MAX_ACCOUNT_TEXT:
        raise InvalidBankAccount(
            f"a bank account number is at most {_MAX_ACCOUNT_TEXT} characters long, got {len(written)}"
        )
    giro = _giro(written)
    if giro is not None:
        return _parse_giro(*giro, written)
    number = _compact(written, "a bank account number", InvalidBankAccount)
    if number[:2].isascii() and number[:2].isalpha():
        number = _validate_iban(number, text)
        if not number.startswith("NO"):
            return number, "IBAN"
        number = number[4:]  # a Norwegian IBAN wraps the domestic number
    if not isdigits(number):
        raise InvalidBankAccount(
            "a bank account number contains only digits (and spaces, dots, dashes),"
            f" or is an IBAN starting with a country code, got {text!r}"
        )
    if len(number) != _NO_ACCOUNT_LENGTH:
        raise InvalidBankAccount(
            f"a Norwegian bank account number has {_NO_ACCOUNT_LENGTH} digits, got {len(number)};"
            " a Swedish Bankgiro or Plusgiro number is given with its name ('Bankgiro 5050-1055',"
            " 'Plusgiro 28 65 43-4'), an account elsewhere (a Swedish bank account, say) as its IBAN"
        )
    if not kontonr.is_valid(number):
        raise InvalidBankAccount(
            f"check digit does not match: {number} is not a Norwegian bank account number"
        )
    return number, "NO"


def _giro(text: str) -> tuple[str, str] | None:
    """The kind and the number (still to be checked) of a giro number as written, or None if it is none.

    ``BG`` also starts a Bulgarian IBAN (``BG80 BNBG 9661 1020 3456 78``):
    what follows it is read as one when it has letters and is that long.
    """
    written = clean(text).strip()  # Unicode dashes, spaces and digits as their ASCII ones
    if _BANKGIRO_WRITTEN.fullmatch(written):
        return "BANKGIRO", clean(written, "-")
    name = _GIRO_NAME.match(written)
    if name is None:
        return None
    number = clean(written[name.end() :], " .-").strip()
    word = name[1].upper()
    if word == "BG" and len(number) >= _BULGARIAN_IBAN_REST and not isdigits(number):
        return None
    return _GIRO_KIND[word], number


def _parse_giro(kind: str, number: str, text: str) -> tuple[str, str]:
    """Return a Bankgiro or Plusgiro number's normal form (its name and digits), and its kind."""
    name = kind.capitalize()
    if not number:
        raise InvalidBankAccount(f"the {name} number is missing after its name, got {text!r}")
    if not isdigits(number):
        raise InvalidBankAccount(
            f"a {name} number contains only digits (and spaces, dots, dashes) after its name, got {text!r}"
        )
    if number.startswith("0"):
        raise InvalidBankAccount(
            f"a {name} number does not start with 0: leave out leading zeros, got {text!r}"
        )
    shortest, longest, lengths = _GIRO_DIGITS[kind]
    if not shortest <= len(number) <= longest:
        raise InvalidBankAccount(f"a {name} number has {lengths} digits, got {len(number)}")
    if not luhn.is_valid(number):
        raise InvalidBankAccount(
            f"check digit does not match: {_format_giro(kind, number)} is not a {name} number"
        )
    return kind + number, kind


def _format_giro(kind: str, digits: str) -> str:
    """A Bankgiro number as ``5050-1055``, a Plusgiro number as ``28 65 43-4`` (pairs, check digit)."""
    if kind == "BANKGIRO":
        return f"{digits[:-4]}-{digits[-4:]}"
    body = digits[:-1]
    pairs = [body[max(end - 2, 0) : end] for end in range(len(body), 0, -2)]
    return f"{' '.join(reversed(pairs))}-{digits[-1]}"


def _validate_iban(number: str, text: object) -> str:
    """Return the compact IBAN after checking its check digits and its country's layout."""
    country = number[:2]
    if not (number.isascii() and number.isalnum() and number[2:4].isdigit()):
        raise InvalidBankAccount(
            f"an IBAN is a country code, two check digits and the account number, got {text!r}"
        )
    # Country checks are left out: Belgium's needs a bank registry that goes stale,
    # and Norway's is made on the domestic digits by the caller.
    try:
        return iban.validate(number, check_country=False)
    except InvalidChecksum:
        raise InvalidBankAccount(f"IBAN check digits do not match in {text!r}") from None
    except InvalidComponent:
        raise InvalidBankAccount(f"IBAN country code {country} is not known") from None
    except ValidationError:
        raise InvalidBankAccount(
            f"an IBAN from {country} has a different length or layout, got {text!r}"
        ) from None


def display_org_number(text: str) -> str:
    """An org number as printed (see :meth:`OrgNumber.display`); text that is not one is shown as given."""
    try:
        return OrgNumber.parse(text).display()
    except InvalidOrgNumber:
        return text


def display_bank_account(text: str) -> str:
    """A bank account as printed (see :meth:`BankAccount.display`); text that is not one is shown as given."""
    try:
        return BankAccount.parse(text).display()
    except InvalidBankAccount:
        return text


def giro_name(text: str) -> str | None:
    """``"Bankgiro"`` or ``"Plusgiro"`` for a Swedish giro number (so called in every language), else None."""
    return _GIRO_NAMES.get(bank_account_kind(text) or "")


_GIRO_NAMES: Final = {"BANKGIRO": "Bankgiro", "PLUSGIRO": "Plusgiro"}


def bank_account_kind(text: str) -> str | None:
    """The :attr:`BankAccount.kind` of a bank account, or None for text that is not one."""
    try:
        return BankAccount.parse(text).kind
    except InvalidBankAccount:
        return None


def email_key(address: str) -> str:
    """What makes two addresses the same user: the address with the local part lower-cased.

    ``address`` is a normalized address (:attr:`Email.value`); the domain is
    lower-cased too (its IDNA form if it is given in Unicode), so the key of
    a spelling that differs only in case is the same. ``str.lower`` and not
    ``casefold``: ``straße@x.no`` and ``strasse@x.no`` are two mailboxes. For
    an ASCII address this is exactly the case-folded address.
    """
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    if not domain.isascii():
        with contextlib.suppress(UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
            domain = idna.encode(domain, uts46=True).decode("ascii")
    return f"{local.lower()}@{domain.lower()}"


def _parse_email(text: object) -> str:
    """Return email-validator's normalized form of an address, in ASCII (punycode domain)."""
    if not isinstance(text, str):
        raise InvalidEmail(f"an e-mail address is given as text, got {text!r} ({type(text).__name__})")
    address = text.strip()
    local = address.rpartition("@")[0]
    if not local.isascii():
        raise InvalidEmail(
            f"{address!r} cannot be used: international characters before the @ need SMTPUTF8 mail, "
            "which tenantbill does not send; use an address with ASCII characters before the @"
        )
    try:
        checked = email_validator.validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except email_validator.EmailNotValidError as error:
        raise InvalidEmail(f"{address!r} is not a valid e-mail address: {error}") from None
    value = checked.ascii_email
    if value is None:  # pragma: no cover - a non-ASCII local part is refused above
        raise InvalidEmail(f"{address!r} cannot be sent over plain SMTP")
    if "=?" in value:
        raise InvalidEmail(
            f"{address!r} cannot be used: '=?' in an address reads as an encoded word in mail headers"
        )
    return value


def _compact(text: object, what: str, error: type[InvalidInput]) -> str:
    """Return *text* upper-cased without spaces, dots and dashes, or raise *error*."""
    number = clean(_text(text, what, error), " .-").strip().upper()
    if not number:
        raise error(f"{what} is empty")
    return number


def _text(text: object, what: str, error: type[InvalidInput]) -> str:
    """Return *text* if it is a ``str``, or raise *error* saying that *what* is given as text."""
    if not isinstance(text, str):
        raise error(f"{what} is given as text, got {text!r} ({type(text).__name__})")
    return text
