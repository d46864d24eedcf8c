"""Metering: batches of usage events with keys, each key recorded once per subscription.

``app.metering.record`` is a host call: it takes no actor and checks no role,
like the billing run. It is for the host's own metering pipeline (a queue
consumer, a collector), never for input an end user sends unchecked: whoever
can call it can put usage on any subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

from tenantbill.domain import subscriptions
from tenantbill.domain.billing import local_date
from tenantbill.domain.metering import MeteringResult, UsageEvent, usage_key
from tenantbill.domain.subscriptions import Subscription, Usage
from tenantbill.errors import InvalidInput, NotFound
from tenantbill.services.base import Context, load_account, new_id, shown

__all__ = ["MAX_BATCH", "MeteringService"]

MAX_BATCH = 10_000
"""The most events one call records (in one transaction): send more as several batches."""


def _named(index: int, key: object) -> str:
    """How an error names an event: its place in the batch and, if it has a usable one, its key."""
    try:
        return f"event {index} (key {usage_key(key)!r})"
    except InvalidInput:
        return f"event {index}"


def _event(index: int, value: object) -> UsageEvent:
    if isinstance(value, UsageEvent):
        return value
    if isinstance(value, Mapping):
        try:
            fields = {str(name): field for name, field in value.items()}
            return UsageEvent(**fields)
        except InvalidInput as error:
            raise InvalidInput(f"{_named(index, value.get('key'))}: {error}") from None
        except TypeError:
            raise InvalidInput(
                f"{_named(index, value.get('key'))}: an event has the fields key, subscription_id, item, "
                "quantity, unit_price, at and optionally vat_rate"
            ) from None
    raise InvalidInput(f"event {index} must be a tenantbill.UsageEvent, got {type(value).__name__}")


def _batch(events: object) -> list[UsageEvent]:
    """Every event checked, before anything is recorded; :class:`InvalidInput` names the first bad one."""
    if isinstance(events, (str, bytes, bytearray, Mapping)) or not isinstance(events, Iterable):
        raise InvalidInput(f"events must be a list of tenantbill.UsageEvent, got {type(events).__name__}")
    batch: list[UsageEvent] = []
    for index, value in enumerate(events):
        if index >= MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} events are recorded at once: send them in batches")
        batch.append(_event(index, value))
    return batch


class MeteringService:
    """Record usage events in batches: ``app.metering``."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def record(self, events: Iterable[UsageEvent]) -> MeteringResult:
        """Record a batch of usage events, each key once per subscription; what was recorded.

        A host call: no actor, no role is checked. Call it from the host's
        metering pipeline only, never with an end user's input unchecked.

        Every event is checked first, and the batch is recorded in one
        transaction, so a bad event records nothing: an event that is not a
        :class:`~tenantbill.UsageEvent` (or a mapping of its fields) or has a
        bad field raises :class:`~tenantbill.errors.InvalidInput`, an unknown
        subscription :class:`~tenantbill.errors.NotFound`, usage dated before
        its subscription started, in a usage period billed already or after
        the subscription ended ``InvalidInput``; each message names the
        event's place in the batch and its key. At most :data:`MAX_BATCH`
        events per call.

        An event whose key was recorded for its subscription before (in an
        earlier batch, by ``record_usage(..., idempotency_key=...)``, or
        earlier in this batch) is a duplicate and is not recorded: re-sending
        a batch records nothing new. Of concurrent batches with the same keys,
        each key is recorded by exactly one.
        """
        batch = _batch(events)
        if not batch:
            return MeteringResult(accepted=0, duplicates=0)
        recorded_at = self._ctx.now()
        with self._ctx.store.transaction() as tx:
            # Each subscription locked as the billing run locks it (in one order: no deadlock
            # between batches), so a run billing a period waits for the batch, or the batch
            # sees the period billed and refuses usage in it.
            found: dict[str, tuple[Subscription, str]] = {}
            for subscription_id in sorted({event.subscription_id for event in batch}):
                subscription = tx.subscriptions.lock(subscription_id, wait=True)
                if subscription is not None:
                    provider = load_account(tx, subscription.provider_id)
                    found[subscription_id] = (subscription, provider.timezone)
            usages: list[Usage] = []
            for index, event in enumerate(batch):
                known = found.get(event.subscription_id)
                if known is None:
                    raise NotFound(
                        f"{_named(index, event.key)}: there is no subscription {shown(event.subscription_id)}"
                    )
                subscription, timezone = known
                at = event.at
                on: date = local_date(at, timezone) if isinstance(at, datetime) else at
                try:
                    usage = subscriptions.usage_record(
                        subscription,
                        id=new_id(),
                        on=on,
                        item=event.item,
                        quantity=event.quantity,
                        unit_price=event.unit_price,
                        vat_rate=event.vat_rate,
                        recorded_at=recorded_at,
                        key=event.key,
                    )
                except InvalidInput as error:
                    raise InvalidInput(f"{_named(index, event.key)}: {error}") from None
                usages.append(usage)
            new = tx.metering.add(usages)
        duplicate_keys: list[str] = []
        for usage in usages:
            pair = (usage.subscription_id, usage.key or "")
            if pair in new:
                new.discard(pair)  # a second event with the key in this batch is a duplicate
            else:
                duplicate_keys.append(pair[1])
        duplicates = len(duplicate_keys)
        return MeteringResult(
            accepted=len(usages) - duplicates, duplicates=duplicates, duplicate_keys=tuple(duplicate_keys)
        )
