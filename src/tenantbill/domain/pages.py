"""Pages of a listing, and the opaque cursors that continue them (keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Generic, TypeVar

import attrs

from tenantbill.errors import InvalidInput

__all__ = [
    "MAX_LIMIT",
    "Page",
    "check_limit",
    "due_cursor",
    "invoice_cursor",
    "read_due_cursor",
    "read_invoice_cursor",
]

T = TypeVar("T")

MAX_LIMIT = 500
"""The most items one page holds."""

_CURSOR_MAX = 400
_PREFIX = "i1."


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing: ``items``, and ``next_cursor`` for the next page (``None`` at the end).

    A page is also a sequence of its items: ``len(page)``, ``for item in page``, ``page[0]``.
    """

    items: tuple[T, ...]
    next_cursor: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


def check_limit(limit: object, most: int = MAX_LIMIT) -> int:
    """``limit`` if it is a whole number from 1 to ``most``; else :class:`InvalidInput`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise InvalidInput(f"limit is a whole number from 1 to {most}, got {limit!r:.40}")
    return limit


def invoice_cursor(direction: str, issue_date: date, issued_at: datetime, invoice_id: str) -> str:
    """The cursor of the page that follows the invoice with this key."""
    payload = json.dumps([direction, issue_date.isoformat(), issued_at.isoformat(), invoice_id])
    return _PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def read_invoice_cursor(cursor: object, direction: str) -> tuple[date, datetime, str]:
    """The key a cursor continues after, if ``cursor`` is one this listing made; else :class:`InvalidInput`.

    A cursor only says where a page starts; the filters and the actor's
    rights are checked again on every page, so a forged cursor shows
    nothing the call would not show anyway.
    """
    refused = InvalidInput(
        "cursor is not one this listing made: pass the next_cursor of the previous page unchanged"
    )
    if not isinstance(cursor, str) or len(cursor) > _CURSOR_MAX or not cursor.startswith(_PREFIX):
        raise refused
    body = cursor[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        value = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise refused from None
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value)):
        raise refused
    made_for, day, instant, invoice_id = value
    if made_for != direction:
        raise InvalidInput(f"this cursor continues the {made_for!r:.20} listing, not the {direction!r} one")
    try:
        issue_date = date.fromisoformat(day)
        issued_at = datetime.fromisoformat(instant)
    except ValueError:
        raise refused from None
    plausible_id = 0 < len(invoice_id) <= 64 and invoice_id.isascii() and invoice_id.isprintable()
    if issued_at.tzinfo is None or not plausible_id:
        raise refused
    return issue_date, issued_at, invoice_id


# Overdue invoices page by (due date, id): the same cursor, with a fixed instant.
_NO_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)


def due_cursor(due_date: date, invoice_id: str) -> str:
    """The cursor of the page of overdue invoices that follows the one with this due date and id."""
    return invoice_cursor("overdue", due_date, _NO_INSTANT, invoice_id)


def read_due_cursor(cursor: object) -> tuple[date, str]:
    """The ``(due_date, id)`` a cursor of :func:`due_cursor` continues after; else :class:`InvalidInput`."""
    day, _, invoice_id = read_invoice_cursor(cursor, "overdue")
    return day, invoice_id
