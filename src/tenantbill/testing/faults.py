"""A store that fails on purpose: for testing that a failed call leaves nothing behind.

Wrap any :class:`~tenantbill.ports.Store` and choose which calls of which
repository methods, named ``"<repository>.<method>"``, raise
:class:`InjectedFault`. The fault is raised inside the real transaction, as a
database error would be, so the real store rolls back::

    store = FaultyStore(MemoryStore())
    app = Tenantbill(store=store, mailer=MemoryMailer())
    store.fail("outbox.add", 1)                  # the next outbox.add raises
    store.fail("invoices.add_numbered", 1, after=True)  # raises once the numbered invoice is written

Every method of every repository can fail this way, the one numbering path
``invoices.add_numbered`` included. Faults hit the calls tenantbill's services
make; what an adapter does inside one of its own methods (``add_numbered``
queueing the invoice's e-mails, say) is part of that call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tenantbill.ports import Store, Transaction

__all__ = ["FaultyStore", "InjectedFault"]


class InjectedFault(Exception):
    """The failure a test plants in the store."""


class FaultyStore:
    """A real store whose chosen calls of chosen methods raise :class:`InjectedFault`.

    The fault is raised inside the transaction, like a database error would be,
    so the real store rolls the transaction back.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._failing: dict[str, set[int]] = {}
        self._after: dict[str, bool] = {}
        self._calls: Counter[str] = Counter()

    def fail(self, method: str, *calls: int, after: bool = False) -> None:
        """Make these calls of ``method`` (``"invoices.add_numbered"``; 1 is the next call) raise.

        No calls: stop failing.

        With ``after``, the call is made first and the fault raised once it
        has done its work (a number taken, a row written), as when the
        database fails later in the same transaction.
        """
        self._calls[method] = 0
        self._failing[method] = set(calls)
        self._after[method] = after

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A transaction of the wrapped store whose chosen calls fail."""
        with self._store.transaction() as tx:
            yield _FaultyTransaction(tx, self)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls[name] += 1
            failing = self._calls[name] in self._failing[name]
            if failing and not self._after[name]:
                raise InjectedFault(f"{name} failed (call {self._calls[name]})")
            result = method(*args, **kwargs)
            if failing:
                raise InjectedFault(f"the transaction failed after {name} (call {self._calls[name]})")
            return result

        return call


class _FaultyTransaction:
    """A transaction whose chosen methods fail."""

    def __init__(self, tx: Transaction, store: FaultyStore) -> None:
        self._tx = tx
        self._store = store

    def __getattr__(self, name: str) -> Any:
        repository = getattr(self._tx, name)
        prefix = f"{name}."
        if any(method.startswith(prefix) for method in self._store._failing):
            return _FaultyRepository(repository, prefix, self._store)
        return repository


class _FaultyRepository:
    """A repository whose chosen methods fail."""

    def __init__(self, repository: Any, prefix: str, store: FaultyStore) -> None:
        self._repository = repository
        self._prefix = prefix
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._repository, name)
        method = self._prefix + name
        if method in self._store._failing:
            return self._store._wrap(method, attribute)
        return attribute
