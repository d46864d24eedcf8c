"""Safe defaults: no silent in-memory mailer, and no placeholder sender in real mail."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.errors import ConfigurationError, InvalidEmail, TenantbillError
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store
from tenantbill.smtp import SmtpMailer

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
SENDER = "Skyhost AS <faktura@skyhost.example.no>"


class ListMailer:
    """A mailer of the host's own: anything with ``send`` plugs in."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def queue_an_invoice_and_an_invitation(app: tb.Tenantbill) -> None:
    owner, account = app.accounts.sign_up(name="Skyhost AS", email="ola@skyhost.example.no")
    draft = tb.InvoiceDraft(
        bill_to=tb.Party(name="Fjordkaffe AS", emails=("kari@fjordkaffe.example.no",)),
        lines=[
            tb.Line(description="Web", quantity=Decimal(1), unit_price=Decimal(149), vat_rate=Decimal("0.25"))
        ],
    )
    app.invoices.issue(owner.id, account.id, draft)
    app.access.invite(owner.id, account.id, email="per@skyhost.example.no")


def queued(store: Store) -> int:
    with store.transaction() as tx:
        return len(tx.outbox.due(AT, 100))


def test_configuration_error_is_a_tenantbill_error() -> None:
    assert issubclass(ConfigurationError, TenantbillError)
    assert tb.ConfigurationError is ConfigurationError


# No mailer: everything works and queues; delivering refuses


def test_without_a_mailer_calls_queue_and_deliver_refuses_saying_how_to_wire_one(store: Store) -> None:
    app = tb.Tenantbill(store=store, clock=FixedClock(AT))
    assert app.mailer is None
    queue_an_invoice_and_an_invitation(app)  # request-path calls work: they only queue
    assert queued(store) == 2

    with pytest.raises(ConfigurationError) as raised:
        app.billing.deliver()

    message = str(raised.value)
    assert "no mailer" in message
    assert "mailer=SmtpMailer(" in message
    assert "sender=" in message
    assert queued(store) == 2  # nothing claimed, nothing reported sent


def test_what_an_app_without_a_mailer_queued_is_sent_by_one_with_a_mailer(store: Store) -> None:
    queue_an_invoice_and_an_invitation(tb.Tenantbill(store=store, clock=FixedClock(AT)))
    mailer = ListMailer()
    worker = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(AT), sender=SENDER)

    report = worker.billing.deliver()

    assert report.sent == 2, report.errors
    assert {str(message["From"]) for message in mailer.sent} == {SENDER}
    assert all(str(message["Message-ID"]).endswith("@skyhost.example.no>") for message in mailer.sent)


def test_the_async_app_without_a_mailer_refuses_to_deliver_too() -> None:
    import asyncio

    from tenantbill.aio import AsyncTenantbill

    async def main() -> None:
        app = AsyncTenantbill(store=MemoryStore(), clock=FixedClock(AT))
        with pytest.raises(ConfigurationError):
            await app.billing.deliver()

    asyncio.run(main())


# The sender


@pytest.mark.parametrize(
    "mailer", [ListMailer(), SmtpMailer("smtp.example.com", 587, starttls=True)], ids=["own", "smtp"]
)
def test_real_mail_needs_a_sender(mailer: tb.ports.Mailer) -> None:
    with pytest.raises(ConfigurationError, match=r"real mail needs a sender: Tenantbill\(\.\.\., sender="):
        tb.Tenantbill(store=MemoryStore(), mailer=mailer)


def test_with_a_sender_real_mail_goes_out_from_it() -> None:
    mailer = ListMailer()
    app = tb.Tenantbill(store=MemoryStore(), mailer=mailer, clock=FixedClock(AT), sender=SENDER)
    queue_an_invoice_and_an_invitation(app)

    assert app.billing.deliver().sent == 2
    for message in mailer.sent:
        assert message["From"] == SENDER
        assert "tenantbill.invalid" not in message.as_string()


def test_the_memory_mailer_may_go_without_a_sender() -> None:
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=MemoryStore(), mailer=mailer, clock=FixedClock(AT))
    queue_an_invoice_and_an_invitation(app)

    assert app.billing.deliver().sent == 2
    for message in mailer.sent:
        assert message["From"].addresses[0].domain == "tenantbill.invalid"  # a placeholder, never real mail
        assert str(message["Message-ID"]).endswith("@tenantbill.invalid>")


@pytest.mark.parametrize(
    "sender",
    [
        "not an address",
        "faktura@acme.no, someone@example.net",
        "Acme <faktura@acme.no>\r\nBcc: someone@example.net",
        "Åse <åse@acme.no>",
        "",
    ],
)
def test_a_sender_that_is_not_one_address_is_refused_at_wiring(sender: str) -> None:
    with pytest.raises(InvalidEmail):
        tb.Tenantbill(store=MemoryStore(), mailer=ListMailer(), sender=sender)


def test_a_sender_that_is_not_text_is_refused_at_wiring() -> None:
    with pytest.raises(InvalidEmail, match="sender must be text"):
        tb.Tenantbill(store=MemoryStore(), mailer=MemoryMailer(), sender=b"faktura@acme.no")  # type: ignore[arg-type]
