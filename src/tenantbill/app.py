"""The application object: wires a store, a mailer and a clock into the services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import TYPE_CHECKING

from tenantbill.clock import SystemClock
from tenantbill.domain.invoices import Invoice
from tenantbill.domain.money import to_decimal
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.domain.payments import DEFAULT_INKASSOSATS
from tenantbill.errors import ConfigurationError, InvalidEmail, InvalidInput, NotFound
from tenantbill.ports import Clock, Mailer, Store
from tenantbill.services.access import AccessService
from tenantbill.services.accounts import AccountService, UserService
from tenantbill.services.base import Context
from tenantbill.services.billing import BillingService, SubscriptionService
from tenantbill.services.delivery import Reminding, message_id
from tenantbill.services.events import EventService
from tenantbill.services.invoices import InvoiceService
from tenantbill.services.metering import MeteringService
from tenantbill.services.payments import PaymentService

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tenantbill.render.mail import InvitationTexts

__all__ = ["Tenantbill"]


class Tenantbill:
    """The entry point: ``app.accounts``, ``app.access``, ``app.users``, ``app.invoices``,
    ``app.payments``, ``app.subscriptions``, ``app.metering``, ``app.billing`` and ``app.events``.

    ``store`` defaults to a SQLite file ``tenantbill.db`` in the working
    directory; ``clock`` to the system clock. ``invitation_ttl`` is how long an
    invitation stays valid.

    ``mailer`` sends the queued e-mails. Without one the app still works and
    queues every e-mail, but ``app.billing.deliver()`` raises
    :class:`~tenantbill.errors.ConfigurationError`: give the app that delivers
    (a worker, ``tenantbill deliver``) a real mailer, or, in tests and demos,
    :class:`~tenantbill.memory.MemoryMailer`. ``sender`` is the From of every
    e-mail, e.g. ``"Acme <faktura@acme.no>"``; the ``Message-ID`` of each
    message is on its domain. Real mail needs one: with any mailer but the
    in-memory one, leaving it out raises ``ConfigurationError``. (Without a
    sender, messages carry a placeholder From on ``tenantbill.invalid``; a
    delivering app with a sender replaces it.)

    ``invite_url`` is the accept link of invitation e-mails, an http(s) URL
    with ``{token}`` once, e.g. ``"https://app.example/invite/{token}"``;
    without it the e-mail shows the invitation code. ``invitation_texts``
    replaces the built-in invitation texts of a language (``"nb"``, ``"sv"``,
    ``"en"``) with :class:`~tenantbill.render.mail.InvitationTexts`; see the
    "E-mails" page for the placeholders. Both are checked here
    (:class:`~tenantbill.errors.InvalidInput`).

    ``platform_account_id`` names the host's own account, if it bills its
    tenants (the SaaS billing its customers): every account accepts it as
    biller, so a user who may manage customers on it can start subscriptions
    for other accounts and issue invoices to them. Any other account is
    billed by another only with its own consent (its owner or billing user
    subscribes). See the "Security" page.

    ``inkassosats`` is the Norwegian *inkassosats* in NOK, which limits
    reminder fees to a tenth of it; the default is the figure in force
    (:data:`~tenantbill.domain.payments.DEFAULT_INKASSOSATS`, see the
    "Getting paid" page for its source).
    """

    def __init__(
        self,
        store: Store | None = None,
        mailer: Mailer | None = None,
        clock: Clock | None = None,
        *,
        invitation_ttl: timedelta = timedelta(days=7),
        sender: str | None = None,
        platform_account_id: str | None = None,
        invite_url: str | None = None,
        invitation_texts: Mapping[str, InvitationTexts] | None = None,
        inkassosats: Decimal | int | str = DEFAULT_INKASSOSATS,
    ) -> None:
        from tenantbill.render.mail import check_invitation_texts, check_invite_url

        if not isinstance(invitation_ttl, timedelta) or invitation_ttl <= timedelta(0):
            raise InvalidInput("invitation_ttl must be a positive timedelta")
        if platform_account_id is not None and not isinstance(platform_account_id, str):
            raise InvalidInput("platform_account_id is the id (text) of the account that bills its tenants")
        if sender is not None:
            _check_sender(sender)
        elif mailer is not None and not _in_memory(mailer):
            raise ConfigurationError(
                f"real mail needs a sender: Tenantbill(..., sender='Acme <faktura@acme.no>'), "
                f"with an address on a domain you send from ({type(mailer).__name__} has none to use)"
            )
        if invite_url is not None:
            invite_url = check_invite_url(invite_url)
        texts = check_invitation_texts(invitation_texts or {}, has_link=invite_url is not None)
        fee_base = to_decimal(inkassosats, "inkassosats", error=InvalidInput)
        if fee_base <= 0:
            raise InvalidInput(
                f"inkassosats is the Norwegian figure in NOK (such as 700), above 0, got {fee_base}"
            )
        if store is None:
            from tenantbill.sql import SqlStore

            store = SqlStore("sqlite:///tenantbill.db")
        self.store: Store = store
        self.mailer: Mailer | None = mailer
        """The mailer that ``app.billing.deliver()`` sends through; ``None`` if the app only queues."""
        self.clock: Clock = clock or SystemClock()
        self._ctx = Context(
            store=self.store,
            mailer=self.mailer,
            clock=self.clock,
            invitation_ttl=invitation_ttl,
            sender=sender,
            platform_account_id=platform_account_id,
            invite_url=invite_url,
            invitation_texts=texts,
            inkassosats=fee_base,
        )
        self.accounts = AccountService(self._ctx)
        """Sign-up, accounts and their invoice setup."""
        self.access = AccessService(self._ctx)
        """Invitations, memberships and ownership."""
        self.users = UserService(self._ctx)
        """Users' own preferences."""
        self.invoices = InvoiceService(self._ctx)
        """The number series, invoices, credit notes, the balance ledger and PDFs."""
        self.subscriptions = SubscriptionService(self._ctx)
        """Plans, usage, plan changes and cancellation."""
        self.metering = MeteringService(self._ctx)
        """Usage events in batches, each key recorded once (a host call: no actor)."""
        self.billing = BillingService(self._ctx, self._invoice_message)
        """The billing run and the delivery of queued e-mails."""
        self.payments = PaymentService(self._ctx)
        """Payments against invoices, by invoice id or KID."""
        self.events = EventService(self._ctx)
        """What happened, in commit order, for webhooks or a queue (a host call: no actor)."""
        self._pdf_cache: tuple[str, bytes] | None = None
        self._reminder_cache: tuple[str, bytes] | None = None

    def _invoice_message(
        self, entry: OutboxMessage, invoice: Invoice, reminding: Reminding | None = None
    ) -> EmailMessage:
        """The e-mail of an invoice to one recipient, with the PDF (rendered once per invoice).

        A payment reminder's entry (key ``reminder:<id>:…``) gets the reminder's e-mail,
        built from what delivery read with the claim (``reminding``).
        """
        from tenantbill.render.mail import invoice_message
        from tenantbill.render.pdf import render_invoice

        if reminding is not None or entry.key.startswith("reminder:"):
            return self._reminder_message(entry, invoice, reminding)
        cached = self._pdf_cache
        if cached is None or cached[0] != invoice.id:
            cached = self._pdf_cache = (invoice.id, render_invoice(invoice))
        sender = self._ctx.from_address
        headers = {"Message-ID": message_id(entry.key, sender), "X-Tenantbill-Key": entry.key}
        return invoice_message(
            invoice, recipient=entry.recipient, sender=sender, pdf=cached[1], headers=headers
        )

    def _reminder_message(
        self, entry: OutboxMessage, invoice: Invoice, reminding: Reminding | None
    ) -> EmailMessage:
        """The e-mail of a payment reminder to one recipient, with its PDF (rendered once per reminder)."""
        from tenantbill.render.mail import reminder_message
        from tenantbill.render.pdf import render_reminder

        reminder = account = None
        if reminding is not None:
            reminder, account = reminding.reminder, reminding.account
        if reminder is None or account is None:
            raise NotFound(f"the reminder of outbox entry {entry.id} is not in the store")
        cached = self._reminder_cache
        if cached is None or cached[0] != reminder.id:
            pdf = render_reminder(invoice, reminder, interest_rate=account.late_interest_rate)
            cached = self._reminder_cache = (reminder.id, pdf)
        sender = self._ctx.from_address
        headers = {"Message-ID": message_id(entry.key, sender), "X-Tenantbill-Key": entry.key}
        return reminder_message(
            invoice,
            reminder,
            recipient=entry.recipient,
            sender=sender,
            pdf=cached[1],
            interest_rate=account.late_interest_rate,
            sent_at=entry.created_at,
            headers=headers,
        )

    def within(self, connection: Connection) -> Tenantbill:
        """This app, with every call run inside the host's open SQLAlchemy ``connection`` transaction.

        ``with engine.begin() as conn: ...; app.within(conn).accounts.sign_up(...)``:
        tenantbill's writes commit when the host's transaction commits and are
        gone if it rolls back. Each call is a SAVEPOINT, so a refused call
        changes nothing and leaves the host's transaction usable. The store must
        be a :class:`~tenantbill.sql.SqlStore` on the same database (best: made
        with the host's engine, ``SqlStore(engine)``); anything else raises
        :class:`~tenantbill.errors.InvalidInput`. The returned app shares this
        one's settings and is meant for the one transaction: make it per request.
        """
        import copy

        import attrs

        bind = getattr(self.store, "within", None)
        if bind is None:
            raise InvalidInput(
                f"within() needs a SqlStore (the host's SQLAlchemy transaction cannot hold "
                f"{type(self.store).__name__}'s writes)"
            )
        store: Store = bind(connection)
        app = copy.copy(self)
        app.store = store
        app._ctx = attrs.evolve(self._ctx, store=store)
        for name, service in vars(self).items():
            if getattr(service, "_ctx", None) is self._ctx:  # each service, on the new context
                rebound = copy.copy(service)
                rebound._ctx = app._ctx
                setattr(app, name, rebound)
        return app


def _in_memory(mailer: Mailer) -> bool:
    """Whether ``mailer`` keeps its messages in memory (tests, demos): a placeholder sender will do."""
    from tenantbill.memory import MemoryMailer

    return isinstance(mailer, MemoryMailer)


def _check_sender(sender: object) -> None:
    """Refuse a ``sender`` that is not one address, optionally with a display name, that mail can carry."""
    from tenantbill.render.headers import mailbox, parse_mailbox

    if not isinstance(sender, str):
        raise InvalidEmail(
            f"sender must be text such as 'Acme <faktura@acme.no>', got {type(sender).__name__}"
        )
    mailbox("From", *parse_mailbox(sender, "sender"))
