"""The one check for text a person types: names, addresses, descriptions, notes.

Every field of user text passes through :func:`one_line` or :func:`multi_line`
before anything stores, prints or sends it. Both refuse, with a message that
names the field and the character:

- a value that is not a ``str`` (an ``int``, ``bytes``, ``None`` where text is
  required);
- NUL (U+0000), which PostgreSQL cannot store and C libraries read as the end;
- lone surrogates (U+D800–U+DFFF on their own), which are not text: they
  cannot be encoded as UTF-8, so no database, PDF or e-mail can hold them;
- U+FFFE and U+FFFF, which are not characters and which XML (an e-invoice)
  cannot hold;
- control characters (Unicode category Cc). A multi-line field (an address, a
  description, a note) keeps TAB, LF and CR; a one-line field (a name, a code,
  a prefix) refuses those and every other line break too (U+0085, U+2028,
  U+2029), since a name is printed in headers and single-line boxes;
- text longer than the field's limit (counted in characters after surrounding
  whitespace is stripped).

Anything else is accepted as data, exactly as typed (stripped of surrounding
whitespace): any script, emoji, and sequences that look like markup or
encoded words (``=?utf-8?q?…?=``). Making such text safe where it goes out is
the job of the renderer and the mailer, which encode it; nothing here decodes
or rewrites it.

>>> one_line("  Fjord & Fjell AS ", "the account's name")
'Fjord & Fjell AS'
>>> one_line("Acme\\r\\nBcc: x@example.com", "the name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tenantbill.errors.InvalidInput: the name is one line of text: it cannot contain a line break (U+000D ...)
"""

from __future__ import annotations

import re

from tenantbill.errors import InvalidInput

__all__ = [
    "ADDRESS_MAX",
    "CODE_MAX",
    "DESCRIPTION_MAX",
    "NAME_MAX",
    "NOTE_MAX",
    "multi_line",
    "one_line",
    "optional_one_line",
]

NAME_MAX = 200
"""The longest name (of an account, a user, a party, a plan), in characters."""
ADDRESS_MAX = 1000
"""The longest postal address, in characters (several lines)."""
DESCRIPTION_MAX = 1000
"""The longest description of an invoice line, in characters."""
NOTE_MAX = 1000
"""The longest note on an invoice or reason for a credit note, in characters."""
CODE_MAX = 64
"""The longest code or key (a plan code, a customer key, an org number as typed)."""

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_MULTI_LINE_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ONE_LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")

_CONTROL_NAMES = {
    0x00: "NUL",
    0x09: "tab",
    0x0A: "line feed",
    0x0B: "vertical tab",
    0x0C: "form feed",
    0x0D: "carriage return",
    0x1B: "escape",
    0x7F: "delete",
    0x85: "next line",
    0x2028: "line separator",
    0x2029: "paragraph separator",
}
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def one_line(
    value: object,
    what: str,
    *,
    max_length: int = NAME_MAX,
    required: bool = True,
    error: type[InvalidInput] = InvalidInput,
) -> str:
    """``value`` as one line of text, stripped, or ``error`` saying what to fix.

    ``what`` names the field in the message ("the account's name"). With
    ``required`` the text must not be empty (after stripping).
    """
    return _check(value, what, max_length, required, error, _ONE_LINE_BAD, one_line=True)


def optional_one_line(
    value: object,
    what: str,
    *,
    max_length: int = NAME_MAX,
    error: type[InvalidInput] = InvalidInput,
) -> str | None:
    """Like :func:`one_line` for an optional field: ``None`` (or blank text) gives ``None``."""
    if value is None:
        return None
    text = _check(value, what, max_length, False, error, _ONE_LINE_BAD, one_line=True)
    return text or None


def multi_line(
    value: object,
    what: str,
    *,
    max_length: int = ADDRESS_MAX,
    required: bool = False,
    error: type[InvalidInput] = InvalidInput,
) -> str:
    """``value`` as text that may span lines (TAB, LF and CR allowed), stripped.

    ``None`` is the empty text unless ``required``.
    """
    if value is None and not required:
        return ""
    return _check(value, what, max_length, required, error, _MULTI_LINE_BAD, one_line=False)


def _check(
    value: object,
    what: str,
    max_length: int,
    required: bool,
    error: type[InvalidInput],
    bad: re.Pattern[str],
    *,
    one_line: bool,
) -> str:
    if not isinstance(value, str):
        raise error(f"{what} must be text (a str), got {type(value).__name__}")
    found = bad.search(value)
    if found is not None:
        raise error(_refusal(what, found.group(), found.start(), one_line=one_line))
    text = str(value).strip()
    if required and not text:
        raise error(f"{what} must not be empty")
    if len(text) > max_length:
        raise error(f"{what} has at most {max_length} characters, got {len(text)}: shorten it")
    return text


def _refusal(what: str, char: str, position: int, *, one_line: bool) -> str:
    code = ord(char)
    label = f"U+{code:04X}"
    if 0xD800 <= code <= 0xDFFF:
        return (
            f"{what} contains a lone surrogate ({label}) at position {position}, which is not a "
            "character: the text was decoded wrongly; send it as proper Unicode (UTF-8)"
        )
    if code in (0xFFFE, 0xFFFF):
        return (
            f"{what} contains {label} at position {position}, which is not a character (a "
            "byte-order mark read the wrong way round, say) and which XML, and so an e-invoice, "
            "cannot hold: remove it"
        )
    name = _CONTROL_NAMES.get(code, "control character")
    if code == 0:
        return f"{what} contains a NUL character ({label} {name}) at position {position}: remove it"
    if one_line and char in _LINE_BREAKS:
        return f"{what} is one line of text: it cannot contain a line break ({label} {name})"
    return (
        f"{what} contains a control character ({label} {name}) at position {position}, "
        "which cannot be printed: remove it"
    )
