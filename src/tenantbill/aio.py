"""tenantbill for asyncio hosts: the same calls, as coroutines that never block the event loop.

``AsyncTenantbill`` wraps a :class:`~tenantbill.Tenantbill`: every call of
its services runs in a worker thread (:func:`asyncio.to_thread`), so a slow
database or a billing run does not stop the event loop from serving other
requests::

    from tenantbill.aio import AsyncTenantbill

    app = AsyncTenantbill(store=SqlStore(url), mailer=SmtpMailer(...), sender="Acme <faktura@acme.no>")

    async def issue(request):
        invoice = await app.invoices.issue(request.user_id, account_id, draft, idempotency_key=key)

The arguments are those of :class:`~tenantbill.Tenantbill`; ``app.sync`` is
the wrapped application, for code that runs in a thread already. The stores
that ship with tenantbill are safe to use from several threads at once (the
SQL store keeps a pool of connections; the in-memory store one lock), and at
most ``max_workers`` calls run at the same time (default: 8), so a burst of
requests waits for a free worker rather than opening a connection each.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tenantbill.app import Tenantbill

__all__ = ["AsyncTenantbill"]

_SERVICES = (
    "accounts",
    "access",
    "users",
    "invoices",
    "payments",
    "subscriptions",
    "metering",
    "billing",
    "events",
)


class AsyncTenantbill:
    """The services of a :class:`~tenantbill.Tenantbill` as coroutines: ``await app.invoices.issue(...)``."""

    def __init__(self, *args: Any, max_workers: int = 8, **kwargs: Any) -> None:
        self.sync = Tenantbill(*args, **kwargs)
        """The wrapped, blocking application."""
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tenantbill")
        for name in _SERVICES:
            setattr(self, name, _AsyncService(getattr(self.sync, name), self._executor))

    def close(self) -> None:
        """Stop the worker threads (calls already running finish first)."""
        self._executor.shutdown(wait=True)

    # The services, for type checkers: each attribute is an _AsyncService.
    accounts: _AsyncService
    access: _AsyncService
    users: _AsyncService
    invoices: _AsyncService
    payments: _AsyncService
    subscriptions: _AsyncService
    metering: _AsyncService
    billing: _AsyncService
    events: _AsyncService


class _AsyncService:
    """One service whose methods return awaitables that run the call in a worker thread."""

    def __init__(self, service: object, executor: ThreadPoolExecutor) -> None:
        self._service = service
        self._executor = executor

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._service, name)
        if name.startswith("_") or not callable(method):
            raise AttributeError(name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(method, *args, **kwargs))

        return call

    def __repr__(self) -> str:
        return f"<async {type(self._service).__name__}>"
