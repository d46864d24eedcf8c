"""Org numbers, bank account numbers and e-mail addresses as validated values.

Uniqueness rules compare these, so each is parsed once, at the boundary, into a
single normal form: ``NO 974 760 673 MVA`` and ``974760673`` are the same org
number, ``NO93 8601 1117 947`` and ``8601.11.17947`` the same bank account.
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
"""

from __future__ import annotations

import contextlib
from typing import Self

import attrs
import email_validator
import idna
from stdnum import iban
from stdnum.exceptions import InvalidChecksum, InvalidComponent, ValidationError
from stdnum.no import kontonr
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr
from stdnum.util import clean, isdigits

from tenantbill.errors import InvalidBankAccount, InvalidEmail, InvalidInput, InvalidOrgNumber

__all__ = ["BankAccount", "Email", "OrgNumber", "display_bank_account", "display_org_number", "email_key"]

_ORG_NUMBER_LENGTH = {"NO": 9, "SE": 10}
_COUNTRY_NAME = {"NO": "Norwegian", "SE": "Swedish"}
_NO_ACCOUNT_LENGTH = 11


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
    """A bank account: Norwegian domestic digits (``kind="NO"``) or any other IBAN.

    A Norwegian IBAN is stored as its 11 domestic digits, so both spellings of one
    account are equal.
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
        """Return the domestic digits or the compact IBAN."""
        return self.value

    def display(self) -> str:
        """The account as printed: ``8601.11.17947`` for Norwegian digits, an IBAN in groups of four."""
        return kontonr.format(self.value) if self.kind == "NO" else iban.format(self.value)


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
    """Return the digits or compact IBAN of a bank account, and its kind."""
    number = _compact(text, "a bank account number", InvalidBankAccount)
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
            " an account elsewhere (a Swedish one, say) is given as its IBAN"
        )
    if not kontonr.is_valid(number):
        raise InvalidBankAccount(
            f"check digit does not match: {number} is not a Norwegian bank account number"
        )
    return number, "NO"


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
    if not isinstance(text, str):
        raise error(f"{what} is given as text, got {text!r} ({type(text).__name__})")
    number = clean(text, " .-").strip().upper()
    if not number:
        raise error(f"{what} is empty")
    return number
