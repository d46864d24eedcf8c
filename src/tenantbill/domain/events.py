"""Events: what happened, recorded in the transaction of the change, read in commit order."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = ["EVENT_TYPES", "Event", "event_data_from", "event_data_text"]

EVENT_TYPES = frozenset(
    {
        "invoice.issued",
        "invoice.credited",
        "invoice.paid",
        "invoice.reminded",
        "payment.registered",
        "invitation.accepted",
        "member.removed",
        "member.left",
        "ownership.transferred",
        "subscription.started",
        "subscription.cancelled",
        "user.erased",
    }
)
"""The types of event tenantbill writes (more may come: a reader skips the types it does not know)."""


_PLAIN = frozenset({str, int, float, bool, type(None)})
_TEXT = frozenset({str})


def _data(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # What a store gives back must equal what it was given: flat data of plain values
    # (what tenantbill writes) is copied as it is; anything else goes through JSON once.
    copy = dict(value)
    if _PLAIN.issuperset(map(type, copy.values())) and _TEXT.issuperset(map(type, copy)):
        return copy
    result: dict[str, Any] = json.loads(event_data_text(copy))
    return result


@attrs.frozen
class Event:
    """One thing that happened: ``type`` (``"invoice.issued"``, …), on ``account_id``, ``at``, with ``data``.

    ``position`` is its place in the store's one sequence of events: it grows
    in the order the events' transactions committed (with gaps where a
    transaction rolled back). ``data`` holds ids and a few plain values
    (text, numbers, ``None``), never personal data beyond an id.
    ``account_id`` is ``None`` for an event about a user (``"user.erased"``).
    An event handed to a store to append has position 0: the store gives it
    its position.
    """

    type: str
    account_id: str | None
    at: datetime
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=_data)
    position: int = 0


def event_data_text(data: Mapping[str, Any]) -> str:
    """``data`` as the JSON text a store keeps (keys sorted)."""
    return _encode(data)


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def event_data_from(text: str) -> dict[str, Any]:
    """The data of an event from its stored JSON text."""
    value: dict[str, Any] = json.loads(text)
    return value
