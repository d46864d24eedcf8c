"""Usage events with keys: what a host's metering pipeline sends, each recorded once.

A billing engine sends usage in batches and re-sends a batch when it is not
sure it arrived. Each event carries a key (say, the host's transaction id);
a key already recorded for the subscription is a duplicate and is not
recorded again, so a re-sent batch is never billed twice.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import attrs

from tenantbill.domain.invoices import parse_vat_rate
from tenantbill.domain.money import to_exact_decimal
from tenantbill.domain.subscriptions import Usage, usage_item
from tenantbill.domain.text import one_line
from tenantbill.errors import InvalidInput

__all__ = ["KEY_MAX", "MeteringResult", "UsageEvent", "same_usage", "usage_key"]

KEY_MAX = 200
"""The longest usage key, in characters."""

_ID_MAX = 200


def usage_key(value: object) -> str:
    """A usage event's key: one line of at most 200 characters, or :class:`InvalidInput`."""
    return one_line(value, "a usage event's key", max_length=KEY_MAX)


def _subscription_id(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _ID_MAX or not value.isprintable():
        shown = repr(value) if isinstance(value, str) and len(value) <= _ID_MAX else type(value).__name__
        raise InvalidInput(f"subscription_id must be a subscription's id (short text), got {shown}")
    return value


def _quantity(value: object) -> Decimal:
    return to_exact_decimal(value, "quantity")


def _unit_price(value: object) -> Decimal:
    return to_exact_decimal(value, "unit_price")


def _at(value: object) -> datetime | date:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise InvalidInput(f"at must be an aware instant (with a time zone) or a date, got {value!r}")
        return value
    if isinstance(value, date):
        return value
    raise InvalidInput(f"at must be an aware datetime or a date, got {type(value).__name__}")


def _vat_rate(value: object) -> Decimal | None:
    return None if value is None else parse_vat_rate(value)


@attrs.frozen
class UsageEvent:
    """One metered usage of a subscription, with the key that makes it count once.

    ``key`` is one line of at most 200 characters, unique per subscription
    (the host's event or transaction id). ``at`` is an aware instant
    (billed on its date in the provider's time zone) or a date. ``vat_rate``
    defaults to the rate of the plan in force that day. Every field is
    checked here: a bad one raises :class:`~tenantbill.errors.InvalidInput`.
    """

    key: str = attrs.field(converter=usage_key)
    subscription_id: str = attrs.field(converter=_subscription_id)
    item: str = attrs.field(converter=usage_item)
    quantity: Decimal = attrs.field(converter=_quantity)
    unit_price: Decimal = attrs.field(converter=_unit_price)
    at: datetime | date = attrs.field(converter=_at)
    vat_rate: Decimal | None = attrs.field(default=None, converter=_vat_rate)


@attrs.frozen
class MeteringResult:
    """What ``app.metering.record`` did with a batch.

    ``accepted`` events were recorded; ``duplicates`` were not, because their
    key was recorded for the subscription before (in an earlier batch or
    earlier in this one). ``duplicate_keys`` are the keys of those events, in
    the order of the batch.
    """

    accepted: int
    duplicates: int
    duplicate_keys: tuple[str, ...] = ()


def same_usage(first: Usage, again: Usage, *, same_day: bool) -> bool:
    """Whether ``again`` records what ``first`` recorded (for a retried call with the same key).

    The item, quantity, unit price and VAT rate must be equal, and, with
    ``same_day``, the day (a retry that gave no day means the first call's).
    """
    return (
        first.subscription_id == again.subscription_id
        and first.item == again.item
        and first.quantity == again.quantity
        and first.unit_price == again.unit_price
        and first.vat_rate == again.vat_rate
        and (not same_day or first.on == again.on)
    )
