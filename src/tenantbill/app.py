"""The application object: wires a store, a mailer and a clock into the services."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from tenantbill.clock import SystemClock
from tenantbill.domain.invoices import Invoice
from tenantbill.domain.outbox import OutboxMessage
from tenantbill.errors import InvalidInput
from tenantbill.ports import Clock, Mailer, Store
from tenantbill.services.access import AccessService
from tenantbill.services.accounts import AccountService, UserService
from tenantbill.services.base import Context
from tenantbill.services.billing import BillingService, SubscriptionService
from tenantbill.services.delivery import message_id
from tenantbill.services.events import EventService
from tenantbill.services.invoices import InvoiceService

__all__ = ["Tenantbill"]


class Tenantbill:
    """The entry point: ``app.accounts``, ``app.access``, ``app.users``, ``app.invoices``,
    ``app.subscriptions`` and ``app.billing``.

    ``store`` defaults to a SQLite file ``tenantbill.db`` in the working
    directory; ``mailer`` to one that keeps messages in memory; ``clock`` to the
    system clock. ``invitation_ttl`` is how long an invitation stays valid.

    ``platform_account_id`` names the host's own account, if it bills its
    tenants (the SaaS billing its customers): every account accepts it as
    biller, so a user who may manage customers on it can start subscriptions
    for other accounts and issue invoices to them. Any other account is
    billed by another only with its own consent (its owner or billing user
    subscribes). See the "Security" page.
    """

    def __init__(
        self,
        store: Store | None = None,
        mailer: Mailer | None = None,
        clock: Clock | None = None,
        *,
        invitation_ttl: timedelta = timedelta(days=7),
        sender: str = "tenantbill <no-reply@tenantbill.invalid>",
        platform_account_id: str | None = None,
    ) -> None:
        if not isinstance(invitation_ttl, timedelta) or invitation_ttl <= timedelta(0):
            raise InvalidInput("invitation_ttl must be a positive timedelta")
        if platform_account_id is not None and not isinstance(platform_account_id, str):
            raise InvalidInput("platform_account_id is the id (text) of the account that bills its tenants")
        if store is None:
            from tenantbill.sql import SqlStore

            store = SqlStore("sqlite:///tenantbill.db")
        if mailer is None:
            from tenantbill.memory import MemoryMailer

            mailer = MemoryMailer()
        self.store: Store = store
        self.mailer: Mailer = mailer
        self.clock: Clock = clock or SystemClock()
        self._ctx = Context(
            store=self.store,
            mailer=self.mailer,
            clock=self.clock,
            invitation_ttl=invitation_ttl,
            sender=sender,
            platform_account_id=platform_account_id,
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
        self.billing = BillingService(self._ctx, self._invoice_message)
        """The billing run and the delivery of queued e-mails."""
        self.events = EventService(self._ctx)
        """What happened, in commit order, for webhooks or a queue (a host call: no actor)."""
        self._pdf_cache: tuple[str, bytes] | None = None

    def _invoice_message(self, entry: OutboxMessage, invoice: Invoice) -> EmailMessage:
        """The e-mail of an invoice to one recipient, with the PDF (rendered once per invoice)."""
        from tenantbill.render.mail import invoice_message
        from tenantbill.render.pdf import render_invoice

        cached = self._pdf_cache
        if cached is None or cached[0] != invoice.id:
            cached = self._pdf_cache = (invoice.id, render_invoice(invoice))
        headers = {"Message-ID": message_id(entry.key), "X-Tenantbill-Key": entry.key}
        return invoice_message(
            invoice, recipient=entry.recipient, sender=self._ctx.sender, pdf=cached[1], headers=headers
        )
