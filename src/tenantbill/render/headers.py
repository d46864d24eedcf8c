"""Header fields written from raw user text, so that no text can become structure.

A name a person typed goes into a header only through this module. Line
breaks and other control characters become spaces; then the text is either
written as it is (short, printable ASCII, nothing that reads as an encoded
word) or encoded here as RFC 2047 encoded words, already folded into lines
that fit. The values are stored with the legacy ``compat32`` policy, which
keeps them as given, and every line is short enough that no policy refolds
it on the way out. So :mod:`email` never parses user text as encoded words
and never writes decoded text back into a header: what arrives decodes to
exactly the text the user typed.

Addresses (validated with email-validator when they were stored) are checked
again here and written in their ASCII form (an internationalized domain as
punycode); an address that needs SMTPUTF8 (a non-ASCII local part), that is
not a plain dot-atom address or that contains ``=?`` is refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from email.base64mime import header_encode as _b_word
from email.header import Header
from email.message import EmailMessage
from email.quoprimime import header_encode as _qp_word

import idna

from tenantbill.errors import InvalidEmail, InvalidInput

__all__ = ["add_extra_headers", "addr_spec", "mailbox", "one_line", "parse_mailbox", "unstructured"]

LINE_LIMIT = 78
"""The longest header line (``max_line_length`` of the stdlib policies): longer ones are refolded."""
_ENCODED_WIDTH = 74
"""The width asked of :class:`~email.header.Header` (it may exceed it by a couple of characters)."""

_BREAKS = re.compile("[\\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SURROGATES = re.compile("[\ud800-\udfff]")
# Display names written as they are: atext (RFC 5322) and spaces, without "=" and "?".
_PLAIN_PHRASE = re.compile(r"[A-Za-z0-9 !#$%&'*+/^_`{|}~-]+")
_FIELD_NAME = re.compile(r"[!-9;-~]+")
_NAME_ADDR = re.compile(r"(?P<name>.*)<(?P<addr>[^<>]*)>\s*", re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_LOCAL_MAX = 64
_ADDRESS_MAX = 254

# Fields that carry addresses or that the message writes itself: never given as "extra".
_RESERVED = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "return-path",
        "disposition-notification-to",
    }
)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, line breaks and control characters made one space.

    CR, LF, U+0085, U+2028, U+2029 and the other controls all count; a lone
    surrogate (which no encoding can carry) becomes U+FFFD.
    """
    return _BREAKS.sub(" ", _SURROGATES.sub("\ufffd", text)).strip()


def _is_plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and "=?" not in text


# The characters an encoded word in "Q" writes as they are (RFC 2047, 5 (3)); each other byte is "=XX".
_Q_PLAIN = frozenset(b"-!*+/" + bytes(range(ord("a"), ord("z") + 1)) + bytes(range(ord("A"), ord("Z") + 1)))
_Q_PLAIN |= frozenset(b"0123456789 ")
_CHROME = len("=?utf-8?q??=")


def _q_length(data: bytes) -> int:
    """The length of ``data`` in the "Q" encoding (as :func:`email.quoprimime.header_length`)."""
    return 3 * len(data) - 2 * sum(1 for octet in data if octet in _Q_PLAIN)


def _b_length(octets: int) -> int:
    """The length of ``octets`` bytes in base64 (as :func:`email.base64mime.header_length`)."""
    return -(-octets // 3) * 4


def _encoded_words(name: str, text: str) -> str | None:
    """What ``Header(text, "utf-8", maxlinelen=_ENCODED_WIDTH, header_name=name).encode("\\n")`` gives.

    The standard library measures every prefix of the text again as it grows
    (quadratic, and a third of the cost of a reminder e-mail); this measures
    each character once and makes the same encoded words, cut at the same
    characters: "Q" or base64 as the whole text is shorter in, the first line
    ``len(name) + 2`` shorter, the others one space shorter. ``None`` for what
    it does not cover (empty or unprintable text, text UTF-8 cannot carry, a
    first line with room for no character); the caller then asks the
    standard library.
    """
    if not text or not text.isprintable():
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    q_length, b_length = _q_length(data), _b_length(len(data))
    quoted = b_length >= q_length  # as the stdlib: base64 only if strictly shorter
    room = _ENCODED_WIDTH - (len(name) + 2) - _CHROME
    if (q_length if quoted else b_length) <= room:  # one encoded word (most subjects and names)
        return _qp_word(data, charset="utf-8") if quoted else _b_word(data, charset="utf-8")
    pieces = [character.encode("utf-8") for character in text]
    lines: list[bytes] = []
    start = used = 0
    for at, piece in enumerate(pieces):
        # The encoded length of the line with this character: Q adds up, base64 counts bytes.
        grown = used + (_q_length(piece) if quoted else len(piece))
        if (grown if quoted else _b_length(grown)) > room:
            if at == start:  # nothing fits on the first line: the stdlib starts a new line
                return None
            lines.append(b"".join(pieces[start:at]))
            start = at
            room = _ENCODED_WIDTH - 1 - _CHROME
            grown = _q_length(piece) if quoted else len(piece)
        used = grown
    lines.append(b"".join(pieces[start:]))
    if quoted:
        return "\n ".join(_qp_word(line, charset="utf-8") for line in lines)
    return "\n ".join(_b_word(line, charset="utf-8") for line in lines)


def _encoded(name: str, text: str) -> str:
    """``text`` as RFC 2047 encoded words (UTF-8), folded so each line fits after ``name: ``."""
    value = _encoded_words(name, text)
    if value is None:
        value = Header(text, "utf-8", maxlinelen=_ENCODED_WIDTH, header_name=name).encode(linesep="\n")
    lines = value.split("\n")
    if len(name) + 2 + len(lines[0]) > LINE_LIMIT or any(len(line) > LINE_LIMIT for line in lines[1:]):
        raise AssertionError(f"the {name} header was folded into lines that are too long")  # pragma: no cover
    return value


@functools.lru_cache(maxsize=4096)
def unstructured(name: str, text: str) -> str:
    """The value of the unstructured field ``name`` (such as ``Subject``) that reads ``text``.

    Written as it is when ``text`` (after :func:`one_line`) is printable
    ASCII without ``=?`` and fits on the field's first line; otherwise as
    encoded words, so the stdlib never parses or refolds it.
    """
    value = one_line(text)
    if _is_plain(value) and len(name) + 2 + len(value) <= LINE_LIMIT:
        return value
    return _encoded(name, value)


@functools.lru_cache(maxsize=4096)
def mailbox(name: str, display_name: str, address: str) -> str:
    """The value of the address field ``name``: ``address`` (from :func:`addr_spec`) and a display name.

    The display name is collapsed with :func:`one_line`, and encoded unless
    it is a plain phrase of ASCII letters, digits and spaces that fits: never
    a quoted string, whose encoded words a modern parser would decode.
    """
    display = one_line(display_name)
    if not display:
        return address
    tail = f"<{address}>"
    if _PLAIN_PHRASE.fullmatch(display) and len(name) + 2 + len(display) + 1 + len(tail) <= LINE_LIMIT:
        return f"{display} {tail}"
    words = _encoded(name, display)
    last = words.rsplit("\n", 1)[-1]
    used = len(last) + (len(name) + 2 if "\n" not in words else 0)
    if used + 1 + len(tail) <= LINE_LIMIT:
        return f"{words} {tail}"
    if 1 + len(tail) <= LINE_LIMIT:
        return f"{words}\n {tail}"
    raise InvalidEmail(
        f"the address {address} is too long to be written with a display name; use it without one"
    )


@functools.lru_cache(maxsize=4096)
def addr_spec(value: str, role: str) -> str:
    """``value`` as one address that can be sent over plain SMTP, in its ASCII form.

    The local part must be a dot-atom of ASCII characters, the domain a host
    name (given in Unicode, it is written as punycode; it is lower-cased).
    Raises :class:`~tenantbill.errors.InvalidEmail` naming ``role`` for
    anything else: not one address, a local part that needs SMTPUTF8, or
    text that reads as an encoded word (``=?``).
    """
    problem = f"the {role} must be one e-mail address such as name@example.com, got {value!r}"
    local, at, domain = value.rpartition("@")
    if not at:
        raise InvalidEmail(problem)
    if not local.isascii():
        raise InvalidEmail(
            f"the {role} {value!r} has international characters before the @, which need SMTPUTF8 "
            "mail; tenantbill sends plain SMTP only, so use an ASCII address"
        )
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except (UnicodeError, ValueError):
            raise InvalidEmail(problem) from None
    domain = domain.lower()
    if (
        not _LOCAL_PART.fullmatch(local)
        or len(local) > _LOCAL_MAX
        or len(local) + 1 + len(domain) > _ADDRESS_MAX
        or not all(_LABEL.fullmatch(label) for label in domain.split("."))
    ):
        raise InvalidEmail(problem)
    if "=?" in local:
        raise InvalidEmail(f"the {role} {value!r} contains '=?', which mail readers take for an encoded word")
    return f"{local}@{domain}"


@functools.lru_cache(maxsize=1024)
def parse_mailbox(value: str, role: str) -> tuple[str, str]:
    """The display name and address of ``Name <address>`` or of a bare ``address``.

    The name is everything before the last ``<``, taken as text (a quoted
    string is unquoted, nothing is decoded); the address must pass
    :func:`addr_spec`.
    """
    found = _NAME_ADDR.fullmatch(value)
    if found is None:
        return "", addr_spec(value, role)
    name = found["name"].strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = _QUOTED_PAIR.sub(r"\1", name[1:-1])
    return name, addr_spec(found["addr"].strip(), role)


def add_extra_headers(message: EmailMessage, headers: Mapping[str, str]) -> None:
    """Add ``headers`` (such as ``Message-ID``): each one line of ASCII, none that carries addresses."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise InvalidInput(f"{name!r} cannot be given as an extra header")
        if not isinstance(value, str) or not (value.isascii() and value.isprintable()) or "=?" in value:
            raise InvalidInput(f"header {name} must be one line of ASCII text")
        message[name] = value
