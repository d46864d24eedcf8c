"""Subscriptions and the billing run: bill every period that is due, exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import cast

import attrs

from tenantbill.domain import subscriptions
from tenantbill.domain.accounts import Account, Membership
from tenantbill.domain.billing import local_date
from tenantbill.domain.invoices import Invoice
from tenantbill.domain.metering import same_usage, usage_key
from tenantbill.domain.money import to_exact_decimal
from tenantbill.domain.policy import Action, allowed, check
from tenantbill.domain.subscriptions import Plan, Subscription, Usage, usage_item
from tenantbill.errors import (
    AlreadyBilled,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
    TenantbillError,
)
from tenantbill.ports import Transaction
from tenantbill.services.base import Context, authorize, is_id, load_account, new_id, shown
from tenantbill.services.delivery import LEASE, DeliveryReport, MessageBuilder, deliver
from tenantbill.services.events import record
from tenantbill.services.invoices import draft_recipients, issue_in

__all__ = ["BillingReport", "BillingService", "SubscriptionService"]

_PERIODS_PER_TRANSACTION = 12
"""How many due periods of one subscription are billed in one transaction."""

_SUBSCRIPTIONS_PER_TRANSACTION = 25
"""How many subscriptions a run takes and bills in one transaction (one commit, not one each)."""

_PAGE = 500


_LATEST_ZONE = "Etc/GMT-14"
"""The time zone whose calendar is furthest ahead (UTC+14): with ``now``, no provider's date is later."""


def _instant(value: object) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"now must be an aware instant (a datetime with a time zone), got {value!r}")
    return value


def _day(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{what} must be a date (a calendar day), got {value!r}")
    return value


def _plan(value: object) -> Plan:
    if not isinstance(value, Plan):
        raise InvalidInput("plan must be a tenantbill.Plan")
    return value


class SubscriptionService:
    """Start subscriptions, record usage, change plans and cancel."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def start(
        self,
        actor_id: str,
        provider_id: str,
        customer_account_id: str,
        plan: Plan,
        *,
        anchor: date,
    ) -> Subscription:
        """Subscribe a customer account to a plan of the provider account, from ``anchor``.

        Starting is the customer's consent to be billed by the provider, so the
        actor is an OWNER or BILLING user of the *customer* account. When the
        provider is the platform account named at wiring
        (``Tenantbill(platform_account_id=...)``), which every account accepts
        as biller, a user who may manage customers on the platform account may
        start it instead. Anyone else gets :class:`PermissionDenied`.
        ``anchor`` may be in the past: the next run bills every period due
        since then.
        """
        plan = _plan(plan)
        anchor = _day(anchor, "anchor")
        with self._ctx.store.transaction() as tx:
            customer_side = _membership(tx, actor_id, customer_account_id)
            if allowed(customer_side, Action.SUBSCRIBE):
                provider = _denied_unless_exists(tx, provider_id, "subscribe to")
            elif provider_id is not None and provider_id == self._ctx.platform_account_id:
                authorize(tx, actor_id, provider_id, Action.MANAGE_CUSTOMERS)
                provider = load_account(tx, provider_id)
                load_account(tx, customer_account_id)
            else:
                provider_side = _membership(tx, actor_id, provider_id)
                if allowed(provider_side, Action.MANAGE_CUSTOMERS):
                    raise PermissionDenied(
                        f"account {customer_account_id} has not consented to be billed by this "
                        "account: its owner or billing user starts the subscription (subscribing "
                        "is consent); only the platform account may start one for a customer"
                    )
                check(customer_side, Action.SUBSCRIBE, account_id=str(customer_account_id))
                raise AssertionError("unreachable")  # pragma: no cover
            subscription = subscriptions.subscribe(
                id=new_id(),
                provider_id=provider.id,
                customer_id=customer_account_id,
                plan=plan,
                anchor=anchor,
            )
            tx.subscriptions.add(subscription)
            record(
                tx,
                self._ctx,
                "subscription.started",
                provider.id,
                subscription_id=subscription.id,
                provider_id=provider.id,
                customer_id=subscription.customer_id,
                plan=plan.code,
                anchor=anchor.isoformat(),
            )
            return subscription

    def get(self, actor_id: str, subscription_id: str) -> Subscription:
        """The subscription, for members of the provider or of the customer account.

        An id the actor may not see gets :class:`PermissionDenied` whether or
        not it exists.
        """
        with self._ctx.store.transaction() as tx:
            return _visible(tx, actor_id, subscription_id, Action.VIEW_INVOICES)

    def of_account(self, actor_id: str, account_id: str) -> list[Subscription]:
        """The account's subscriptions, as provider or as customer, oldest first."""
        with self._ctx.store.transaction() as tx:
            authorize(tx, actor_id, account_id, Action.VIEW_INVOICES)
            return tx.subscriptions.of_account(account_id)

    def record_usage(
        self,
        actor_id: str,
        subscription_id: str,
        *,
        item: str,
        quantity: Decimal,
        unit_price: Decimal,
        at: datetime | date | None = None,
        vat_rate: Decimal | None = None,
        idempotency_key: str | None = None,
    ) -> Usage:
        """Record metered usage or an add-on; billed in arrears with the monthly period it falls in.

        The actor may manage customers on the provider account (usage is the
        provider's to meter). ``at`` is an aware instant (converted to the
        provider's calendar) or a date; it defaults to now. The VAT rate
        defaults to the plan's. Usage that would never be billed is refused
        with :class:`InvalidInput`: dated before the subscription started, in
        a monthly usage period billed already, or after the subscription ended.

        With ``idempotency_key`` (one line, at most 200 characters) a retried
        call records nothing new: the same key with the same item, quantity,
        unit price, VAT rate and day (when ``at`` is given) returns the usage
        the first call recorded, and with other arguments raises
        :class:`IdempotencyConflict`. The key is the usage's key, shared with
        ``app.metering.record``: a key is recorded once per subscription by
        either. Of concurrent calls with one key, one records it.
        """
        item = usage_item(item)
        qty = to_exact_decimal(quantity, "quantity")
        price = to_exact_decimal(unit_price, "unit_price")
        key = None if idempotency_key is None else usage_key(idempotency_key)
        with self._ctx.store.transaction() as tx:
            subscription = _visible(
                tx, actor_id, subscription_id, Action.MANAGE_CUSTOMERS, provider_only=True
            )
            # Locked as the billing run locks it: a run billing its period waits for this usage,
            # or this call sees the period billed and refuses the usage (never recorded unbilled).
            subscription = _load(tx, subscription.id, lock=True)
            provider = load_account(tx, subscription.provider_id)

            def record(on: date) -> Usage:
                return subscriptions.usage_record(
                    subscription,
                    id=new_id(),
                    on=on,
                    item=item,
                    quantity=qty,
                    unit_price=price,
                    vat_rate=vat_rate,
                    recorded_at=self._ctx.now(),
                    key=key,
                )

            usage = record(self._on(at, provider.timezone))
            if key is None:
                tx.subscriptions.add_usage(usage)
                return usage
            if tx.metering.add([usage]):
                return usage
            first = tx.metering.by_key(subscription.id, key)
            assert first is not None  # recorded by a transaction that has committed
            # A retry without ``at`` means the first call's day.
            again = usage if at is not None else record(first.on)
            if not same_usage(first, again, same_day=True):
                raise IdempotencyConflict(
                    f"the idempotency key {key!r} was used for other usage of this subscription; "
                    "use a new key for new usage"
                )
            return first

    def change_plan(
        self, actor_id: str, subscription_id: str, new_plan: Plan, *, at: datetime | date | None = None
    ) -> Subscription:
        """Move to another plan from ``at``, prorated by days.

        Allowed to a user who may manage customers on the provider account,
        and to the customer's OWNER or BILLING user (who chose the plan).

        On the same cycle: a credit for the unused part of the current period
        on the old plan and a charge for the rest of it on the new plan, both
        billed with the next monthly usage invoice; later periods bill the new
        plan. On another cycle the fee periods restart at ``at`` (the new
        plan's first period is billed in advance from that day) and the unused
        part of the old period is credited.
        """
        new_plan = _plan(new_plan)
        with self._ctx.store.transaction() as tx:
            _visible(tx, actor_id, subscription_id, Action.MANAGE_CUSTOMERS)
            subscription = _load(tx, subscription_id, lock=True)
            provider = load_account(tx, subscription.provider_id)
            change = subscriptions.change_plan(subscription, new_plan, self._on(at, provider.timezone))
            for adjustment in change.adjustments:
                tx.subscriptions.add_usage(adjustment.usage(id=new_id(), recorded_at=self._ctx.now()))
            tx.subscriptions.save(change.subscription)
            return change.subscription

    def cancel(
        self, actor_id: str, subscription_id: str, *, at: datetime | date | None = None
    ) -> Subscription:
        """End the subscription at the end of the fee period that contains ``at`` (default: now).

        Allowed to a user who may manage customers on the provider account,
        and to the customer's OWNER or BILLING user.
        """
        with self._ctx.store.transaction() as tx:
            _visible(tx, actor_id, subscription_id, Action.MANAGE_CUSTOMERS)
            subscription = _load(tx, subscription_id, lock=True)
            provider = load_account(tx, subscription.provider_id)
            changed = subscriptions.cancel(subscription, self._on(at, provider.timezone))
            tx.subscriptions.save(changed)
            record(
                tx,
                self._ctx,
                "subscription.cancelled",
                provider.id,
                subscription_id=changed.id,
                provider_id=provider.id,
                customer_id=changed.customer_id,
                ends=None if changed.cancel_at is None else changed.cancel_at.isoformat(),
                cancelled_by=actor_id,
            )
            return changed

    def _on(self, at: datetime | date | None, timezone: str) -> date:
        if at is None:
            return local_date(self._ctx.now(), timezone)
        if isinstance(at, datetime):
            return local_date(at, timezone)
        return _day(at, "at")


def _membership(tx: Transaction, actor_id: object, account_id: object) -> Membership | None:
    if not is_id(actor_id) or not is_id(account_id):
        return None
    return tx.memberships.get(account_id, actor_id)


def _denied_unless_exists(tx: Transaction, account_id: object, verb: str) -> Account:
    account = tx.accounts.get(account_id) if is_id(account_id) else None
    if account is None:
        raise PermissionDenied(f"you cannot {verb} account {shown(account_id)}: there is no such account")
    return account


def _visible(
    tx: Transaction, actor_id: str, subscription_id: str, action: Action, *, provider_only: bool = False
) -> Subscription:
    """The subscription if the actor may do ``action`` on it; else :class:`PermissionDenied`.

    ``action`` is asked of the actor's membership on the provider account; on
    the customer account, viewing needs VIEW_INVOICES and a change SUBSCRIBE
    (the customer's OWNER or BILLING user), unless ``provider_only``. Unknown
    and foreign ids are refused alike, so ids cannot be probed.
    """
    subscription = tx.subscriptions.get(subscription_id) if is_id(subscription_id) else None
    if subscription is not None:
        if allowed(_membership(tx, actor_id, subscription.provider_id), action):
            return subscription
        customer_action = Action.VIEW_INVOICES if action is Action.VIEW_INVOICES else Action.SUBSCRIBE
        if not provider_only and allowed(
            _membership(tx, actor_id, subscription.customer_id), customer_action
        ):
            return subscription
    raise PermissionDenied(
        f"you cannot {action.value} on subscription {shown(subscription_id)}: it does not exist or "
        "belongs to accounts where your role does not allow it"
    )


def _load(tx: Transaction, subscription_id: str, *, lock: bool = False) -> Subscription:
    """The subscription, or :class:`NotFound`.

    With ``lock``, for a change that saves it: locked until the transaction
    ends (waiting for a billing run that holds it), so neither overwrites the
    other's change.
    """
    if not is_id(subscription_id):
        subscription = None
    elif lock:
        subscription = tx.subscriptions.lock(subscription_id, wait=True)
    else:
        subscription = tx.subscriptions.get(subscription_id)
    if subscription is None:
        raise NotFound(f"there is no subscription {shown(subscription_id)}")
    return subscription


@attrs.frozen
class BillingReport:
    """What one billing run did.

    ``issued`` and ``invoice_ids`` are the invoices this run issued. When
    several runs work at once, each invoice is reported by the run that issued
    it, so the runs' ``issued`` add up to what was billed. ``already_billed``
    counts the subscriptions this run found billed by another run after it
    had seen them due (their period marked billed, or moved past ``as_of``,
    by the time this run had them locked): zero when a run works alone on a
    consistent store.
    """

    as_of: date
    issued: int = 0
    invoice_ids: tuple[str, ...] = ()
    already_billed: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    """The subscriptions that could not be billed, with the reason: ``(subscription_id, message)``.

    One failing subscription does not stop the run: the others are billed,
    and the failed one is tried again by the next run.
    """

    @property
    def invoices(self) -> tuple[str, ...]:
        """The ids of the invoices this run issued (the same as :attr:`invoice_ids`)."""
        return self.invoice_ids


@attrs.define
class _Seen:
    """What one billing transaction has read already: accounts, and the recipients of each customer.

    A batch bills many subscriptions of one provider, often two invoices of
    one customer: reading the provider, the customer and its recipients once
    per transaction rather than once per invoice saves several queries each.
    Within the transaction they do not change behind the run's back any more
    than between two reads of it.
    """

    accounts: dict[str, Account] = attrs.Factory(dict)
    recipients: dict[str, list[str]] = attrs.Factory(dict)

    def account(self, tx: Transaction, account_id: str) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = load_account(tx, account_id)
        return account

    def reading(self, tx: Transaction) -> Transaction:
        """``tx`` for reads only, whose ``accounts.get`` answers from the accounts read already.

        For :func:`draft_recipients`, which reads the customer's account that
        the run has just read for its locale.
        """
        return cast(Transaction, _SeenReads(tx, self))


class _SeenAccounts:
    """``tx.accounts`` that answers ``get`` from :class:`_Seen` (read-only use)."""

    def __init__(self, tx: Transaction, seen: _Seen) -> None:
        self._tx = tx
        self._seen = seen

    def get(self, account_id: str) -> Account | None:
        account = self._seen.accounts.get(account_id)
        return account if account is not None else self._tx.accounts.get(account_id)

    def __getattr__(self, name: str) -> object:
        return getattr(self._tx.accounts, name)


class _SeenReads:
    """A transaction whose ``accounts`` is :class:`_SeenAccounts`; everything else is ``tx``'s."""

    def __init__(self, tx: Transaction, seen: _Seen) -> None:
        self._tx = tx
        self.accounts = _SeenAccounts(tx, seen)

    def __getattr__(self, name: str) -> object:
        return getattr(self._tx, name)


@attrs.define
class _Tally:
    """What a run has done so far."""

    as_of: date  # the last day billed (with ``now``: the latest local date anywhere)
    now: datetime | None = None  # with it, each provider's own local date is billed
    progress: Callable[[int, int], None] | None = None
    total: int = 0
    issued: list[str] = attrs.Factory(list)
    already_billed: int = 0
    # Subscriptions whose next period was found marked billed, or that failed: not tried again.
    stuck: set[str] = attrs.Factory(set)
    failed: list[tuple[str, str]] = attrs.Factory(list)
    handled: set[str] = attrs.Factory(set)

    def day_for(self, tx: Transaction, seen: _Seen, subscription: Subscription) -> date:
        """The day billed up to for this subscription: ``as_of``, or ``now`` in its provider's calendar."""
        if self.now is None:
            return self.as_of
        return local_date(self.now, seen.account(tx, subscription.provider_id).timezone)

    def done(self, *subscription_ids: str) -> None:
        self.handled.update(subscription_ids)
        if self.progress is not None:
            self.progress(min(len(self.handled), self.total), self.total)

    def fail(self, subscription_id: str, error: TenantbillError) -> None:
        self.failed.append((subscription_id, str(error)))
        self.stuck.add(subscription_id)


class BillingService:
    """The billing run and the delivery of queued invoice e-mails."""

    def __init__(self, ctx: Context, invoice_builder: MessageBuilder) -> None:
        self._ctx = ctx
        self._builder = invoice_builder

    def run(
        self,
        as_of: date | None = None,
        *,
        now: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> BillingReport:
        """Bill everything due on or before ``as_of``; safe to re-run (nothing is billed twice).

        Give ``as_of`` (a day, the same for every account) or ``now`` (an
        aware instant): then each provider is billed up to its own local date
        at that instant, as its time zone says. ``progress(done, total)`` is
        called as subscriptions are handled (for a progress bar).

        One subscription that cannot be billed (say, a customer whose stored
        details no longer make a valid invoice) does not stop the run: it is
        reported in :attr:`BillingReport.failed` with the reason, and the
        others are billed. A store that is unavailable does stop it.

        Subscriptions are billed a batch at a time, each batch in one
        transaction (up to 25 subscriptions, and up to 12 periods of each: a
        subscription catching up on more goes on in transactions of its own),
        so a run that stops half-way can be run again to finish the rest.

        Several runs may work at once, in threads or processes (or machines)
        sharing the store: they bill each (subscription, due date) once between
        them, numbered without gaps. Each run takes the next due subscription
        that no other transaction holds, locks it and bills what it owes,
        together with the next few in the same transaction. At the end it goes
        over what is still due (subscriptions another transaction held when it
        came by), waiting for their locks. So when a run returns, everything
        that was due by ``as_of`` when it started has been billed, by it or by
        another run.
        """
        if (as_of is None) == (now is None):
            raise InvalidInput("give the day to bill up to (as_of=) or the instant (now=), not both")
        if now is not None:
            instant = _instant(now)
            tally = _Tally(as_of=local_date(instant, _LATEST_ZONE), now=instant, progress=progress)
        else:
            tally = _Tally(as_of=_day(as_of, "as_of"), progress=progress)
        if progress is not None:
            tally.total = self._count_due(tally.as_of)
            progress(0, tally.total)
        after: str | None = None
        while (last := self._bill_next(after, tally)) is not None:
            after = last
        after = None
        while True:
            with self._ctx.store.transaction() as tx:
                page = tx.subscriptions.due_ids(tally.as_of, after, _PAGE)
            if not page:
                break
            for subscription_id in page:
                if subscription_id not in tally.stuck:
                    self._bill(subscription_id, tally, wait=True)
            after = page[-1]
        return BillingReport(
            as_of=tally.as_of,
            issued=len(tally.issued),
            invoice_ids=tuple(tally.issued),
            already_billed=tally.already_billed,
            failed=tuple(tally.failed),
        )

    def _count_due(self, as_of: date) -> int:
        total, after = 0, None
        while True:
            with self._ctx.store.transaction() as tx:
                page = tx.subscriptions.due_ids(as_of, after, _PAGE)
            if not page:
                return total
            total += len(page)
            after = page[-1]

    def deliver(self, *, lease: timedelta = LEASE) -> DeliveryReport:
        """Send the queued e-mails through the mailer; failures stay queued and are retried later.

        Several workers may deliver at once: each claims a batch of messages
        for ``lease`` (which must cover sending one batch), so each message is
        sent by one of them; a worker that dies leaves its claimed messages
        to be sent again when the lease ends.
        """
        return deliver(self._ctx, self._builder, lease=lease)

    def _bill_next(self, after: str | None, tally: _Tally) -> str | None:
        """Take the next due subscriptions above ``after`` that nobody holds and bill them together.

        Up to ``_SUBSCRIPTIONS_PER_TRANSACTION`` subscriptions of one provider
        are locked and billed in one transaction, which saves a commit per
        subscription.
        Returns the id of the last one taken (where the next batch starts), or
        ``None`` when none is left. If one of them turns out to be billed
        already (another run got there first), the batch is rolled back and
        its subscriptions are billed one at a time.
        """
        taken: list[str] = []
        issued: list[Invoice] = []
        unfinished: list[str] = []
        try:
            with self._ctx.store.transaction() as tx:
                seen = _Seen()
                cursor, provider = after, None
                while len(taken) < _SUBSCRIPTIONS_PER_TRANSACTION:
                    subscription = tx.subscriptions.lock_next_due(tally.as_of, cursor)
                    if subscription is None:
                        break
                    if provider is not None and subscription.provider_id != provider:
                        # One provider's series per transaction: two runs batching the
                        # same providers in another order would wait on each other.
                        # This one is left for the next batch (unlocked at commit).
                        break
                    cursor, provider = subscription.id, subscription.provider_id
                    taken.append(subscription.id)
                    if subscription.id in tally.stuck:
                        continue
                    day = tally.day_for(tx, seen, subscription)
                    if not subscription.is_due(day):
                        continue  # not yet, in its provider's calendar
                    invoices, more = self._bill_period(tx, subscription, day, seen)
                    issued.extend(invoices)
                    if more:
                        unfinished.append(subscription.id)
        except AlreadyBilled:
            for subscription_id in taken:
                self._bill(subscription_id, tally, wait=False)
            return taken[-1]
        except StoreUnavailable:
            raise
        except TenantbillError:
            # One of them cannot be billed: the batch is rolled back, and each is
            # billed on its own, so only the failing one is left out (and reported).
            for subscription_id in taken:
                self._bill(subscription_id, tally, wait=False)
            return taken[-1]
        if not taken:
            return None
        tally.issued.extend(invoice.id for invoice in issued)
        tally.done(*taken)
        for subscription_id in unfinished:
            self._bill(subscription_id, tally, wait=False)
        return taken[-1]

    def _bill(self, subscription_id: str, tally: _Tally, *, wait: bool) -> None:
        """Bill every period of the subscription still due by ``as_of``, a few per transaction.

        Without ``wait``, stop if another transaction holds the subscription:
        a run that took it over bills the rest (and the end of this run checks).
        """
        first = True
        tally.done(subscription_id)
        while True:
            try:
                with self._ctx.store.transaction() as tx:
                    subscription = tx.subscriptions.lock(subscription_id, wait=wait)
                    if subscription is None:
                        return
                    seen = _Seen()
                    day = tally.day_for(tx, seen, subscription)
                    if not subscription.is_due(day):
                        if first and subscription.is_due(tally.as_of) and tally.now is None:
                            tally.already_billed += 1  # seen due, but another run billed it
                        return
                    invoices, more = self._bill_period(tx, subscription, day, seen)
            except AlreadyBilled:
                tally.already_billed += 1
                tally.stuck.add(subscription_id)
                return
            except StoreUnavailable:
                raise
            except TenantbillError as error:
                tally.fail(subscription_id, error)
                return
            first = False
            tally.issued.extend(invoice.id for invoice in invoices)
            if not more:
                return

    def _bill_period(
        self, tx: Transaction, subscription: Subscription, as_of: date, seen: _Seen
    ) -> tuple[list[Invoice], bool]:
        """Bill the subscription's due periods (at most ``_PERIODS_PER_TRANSACTION``).

        Returns the invoices issued and whether more is due. Billing a
        subscription's periods together saves a commit per period when it is
        catching up, or has a fee and a usage invoice due on the same run.
        """
        invoices: list[Invoice] = []
        more = True
        for _ in range(_PERIODS_PER_TRANSACTION):
            due = subscription.next_due
            assert due is not None
            invoice, subscription = self._bill_due(tx, subscription, due, seen)
            if invoice is not None:
                invoices.append(invoice)
            if not subscription.is_due(as_of):
                more = False
                break
        # Saved once for the periods billed: each period's mark is written as it is billed,
        # and nothing in this transaction reads the subscription's row in between.
        tx.subscriptions.save(subscription)
        return invoices, more

    def _bill_due(
        self, tx: Transaction, sub: Subscription, due: date, seen: _Seen
    ) -> tuple[Invoice | None, Subscription]:
        """Bill what ``sub`` owes on ``due``: an invoice, or a credit on the customer's balance."""
        usage_period = sub.usage_billed_on(due)
        usage = (
            tx.subscriptions.usage_between(sub.id, usage_period.start, usage_period.end)
            if usage_period is not None
            else []
        )
        # The invoice is in the customer's locale, and so are the dates in its lines.
        customer = seen.account(tx, sub.customer_id)
        billing = subscriptions.bill_due(sub, due, usage, locale=customer.locale)
        invoice = None
        if billing.credit:
            tx.ledger.add(billing.adjustment(id=new_id(), at=self._ctx.now()))
        if billing.lines:
            provider = seen.account(tx, sub.provider_id)
            draft = billing.draft(customer)
            # The draft's party has no addresses of its own: the recipients are the customer's.
            recipients = seen.recipients.get(customer.id)
            if recipients is None:
                recipients = seen.recipients[customer.id] = draft_recipients(seen.reading(tx), draft)
            invoice = issue_in(
                tx,
                self._ctx,
                provider,
                draft,
                locale=customer.locale,
                subscription_id=sub.id,
                recipients=recipients,
            )
        tx.subscriptions.mark_billed(sub.id, due, None if invoice is None else invoice.id)
        return invoice, billing.subscription  # saved by the caller, once for its periods
