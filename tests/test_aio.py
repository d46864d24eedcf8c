"""AsyncTenantbill: the same calls as coroutines, and the event loop keeps serving while they run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import tenantbill as tb
from tenantbill.aio import AsyncTenantbill
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store, Transaction

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class SlowStore:
    """A real store whose every transaction takes ``delay`` seconds longer (a slow database)."""

    def __init__(self, store: Store, delay: float) -> None:
        self._store = store
        self.delay = delay

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._store.transaction() as tx:
            time.sleep(self.delay)
            yield tx


def draft() -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"),
        lines=[tb.Line(description="Time", quantity=Decimal(1), unit_price=Decimal(100))],
    )


def test_the_calls_are_coroutines_with_the_same_results_and_errors() -> None:
    async def main() -> None:
        app = AsyncTenantbill(store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(NOW))
        try:
            owner, account = await app.accounts.sign_up(name="Acme AS", email="ola@acme.example.no")
            invoice = await app.invoices.issue(owner.id, account.id, draft())
            assert await app.invoices.get(owner.id, invoice.id) == invoice
            assert app.sync.invoices.get(owner.id, invoice.id) == invoice
            with pytest.raises(tb.PermissionDenied):
                await app.invoices.issue("somebody", account.id, draft())
            payment = await app.payments.register(
                owner.id, account.id, amount=Decimal(100), paid_on=NOW.date(), invoice_id=invoice.id
            )
            assert await app.payments.of_invoice(owner.id, invoice.id) == [payment]
            assert [e.type for e in await app.events.read()][-2:] == ["payment.registered", "invoice.paid"]
            with pytest.raises(AttributeError):
                app.invoices._ctx  # noqa: B018 - private names are not offered
        finally:
            app.close()

    asyncio.run(main())


def test_a_slow_call_does_not_block_the_event_loop_of_an_asyncio_server() -> None:
    async def main() -> None:
        store = SlowStore(MemoryStore(), delay=0)
        app = AsyncTenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))
        owner, account = await app.accounts.sign_up(name="Acme AS", email="ola@acme.example.no")
        store.delay = 0.5

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = (await reader.readline()).decode().strip()
            if request == "issue":
                invoice = await app.invoices.issue(owner.id, account.id, draft())
                writer.write(f"issued {invoice.number}\n".encode())
            else:
                writer.write(b"pong\n")
            await writer.drain()
            writer.close()

        async def ask(port: int, line: str) -> tuple[str, float]:
            began = time.perf_counter()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{line}\n".encode())
            await writer.drain()
            answer = (await reader.readline()).decode().strip()
            writer.close()
            return answer, time.perf_counter() - began

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            slow = asyncio.create_task(ask(port, "issue"))
            await asyncio.sleep(0.05)  # the issue is under way, in its worker thread
            pong, _ = await ask(port, "ping")
            answered_while_issuing = not slow.done()
            issued, _ = await slow
        finally:
            server.close()
            await server.wait_closed()
            app.close()

        assert pong == "pong"
        assert answered_while_issuing, "the concurrent request waited for the slow call"
        assert issued == "issued 1"

    asyncio.run(main())
