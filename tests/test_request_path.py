"""Calls in a request path never talk to the mail server: they queue, and deliver() sends.

A listener stands in for the SMTP server and counts the connections it gets:
none while users invite, accept, re-send, issue and credit; at least one when
the background job delivers (PERFORMANCE.md, wave 2).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.ports import Store
from tenantbill.smtp import SmtpMailer

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class CountingListener:
    """A TCP server on 127.0.0.1 that counts connections and closes each at once."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


def test_invite_accept_resend_issue_and_credit_open_no_connection_to_the_mail_server(
    store: Store, listener: CountingListener
) -> None:
    mailer = SmtpMailer("127.0.0.1", listener.port, timeout=2)
    app = tb.Tenantbill(
        store=store, mailer=mailer, clock=FixedClock(NOW), sender="Acme <faktura@acme.example.no>"
    )
    owner, account = app.accounts.sign_up(name="Acme AS", email="ola@acme.example.no")

    first = app.access.invite(owner.id, account.id, email="per@example.no")
    app.access.accept(first.token, new_user=tb.NewUser(name="Per", email="per@example.no"))
    second = app.access.invite(owner.id, account.id, email="kari@example.no", role=tb.Role.BILLING)
    app.access.resend(owner.id, second.invitation.id)
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=("kunde@example.no",)),
        lines=[tb.Line(description="Time", quantity=Decimal(1), unit_price=Decimal(100))],
    )
    invoice = app.invoices.issue(owner.id, account.id, draft)
    app.invoices.credit(owner.id, invoice.id, reason="Feil pris")

    assert listener.connections == 0

    report = app.billing.deliver()  # the background job: this one talks to the server

    assert listener.connections > 0
    assert report.failed == 3  # the listener is no SMTP server: the invitation, the invoice, the credit note
