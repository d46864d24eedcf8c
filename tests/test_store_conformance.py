"""The Store conformance kit on every store tenantbill ships.

``TestStore`` runs all of it (:class:`StoreConformance`) on memory, an SQLite
file and PostgreSQL (when ``TENANTBILL_PG_URL`` names a server; ``python3
dev.py test`` starts one). On PostgreSQL the tests share one database of
their own, its tables emptied before each test (quicker than a new database
or TRUNCATE).
``TestSqliteMemoryStore`` builds its store the way a third party does, with
``make_store``. The last tests check the kit itself: one class per
repository, each usable alone, and the aggregate equal to all of them.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from support import fresh_postgres_database
from tenantbill import ports
from tenantbill.memory import MemoryStore
from tenantbill.ports import Store
from tenantbill.sql import SqlStore
from tenantbill.sql.schema import metadata
from tenantbill.testing import store as kit
from tenantbill.testing.store import StoreConformance, StoreContract


class TestStore(StoreConformance):
    @pytest.fixture(params=["memory", "sqlite", "postgresql"])
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
        """A new, empty store of each kind."""
        if request.param == "memory":
            yield MemoryStore()
        elif request.param == "sqlite":
            sqlite = SqlStore(f"sqlite:///{tmp_path / 'tb.db'}")
            yield sqlite
            sqlite.close()
        else:
            postgres, engine = request.getfixturevalue("postgres_store")
            with engine.begin() as connection:
                for table in reversed(metadata.sorted_tables):
                    connection.execute(table.delete())
            yield postgres


@pytest.fixture(scope="module")
def postgres_store() -> Iterator[tuple[SqlStore, sqlalchemy.Engine]]:
    """A store on a database of its own, for every PostgreSQL test of the module."""
    url = os.environ.get("TENANTBILL_PG_URL")
    if not url:
        pytest.skip("TENANTBILL_PG_URL is not set: run the suite with `python3 dev.py test`")
    with fresh_postgres_database(url) as database:
        store = SqlStore(database)
        with store.transaction():
            pass  # the store creates its tables
        engine = sqlalchemy.create_engine(database)
        try:
            yield store, engine
        finally:
            engine.dispose()
            store.close()


class TestSqliteMemoryStore(StoreConformance):
    def make_store(self) -> Store:
        return SqlStore("sqlite://")

    def close_store(self, store: Store) -> None:
        assert isinstance(store, SqlStore)
        store.close()


REPOSITORIES = {
    "users": kit.UsersContract,
    "accounts": kit.AccountsContract,
    "memberships": kit.MembershipsContract,
    "invitations": kit.InvitationsContract,
    "invoices": kit.InvoicesContract,
    "ledger": kit.LedgerContract,
    "payments": kit.PaymentsContract,
    "reminders": kit.RemindersContract,
    "subscriptions": kit.SubscriptionsContract,
    "metering": kit.MeteringContract,
    "outbox": kit.OutboxContract,
    "idempotency": kit.IdempotencyContract,
    "audit": kit.AuditContract,
    "events": kit.EventsContract,
}
CROSS_CUTTING = (kit.TransactionsContract, kit.RollbackContract)


def _tests_of(cls: type) -> set[str]:
    return {name for name in vars(cls) if name.startswith("test_")}


def test_every_repository_of_the_unit_of_work_has_its_contract_class() -> None:
    repositories = {
        name for name, member in inspect.getmembers(ports.Transaction) if isinstance(member, property)
    }
    assert repositories == set(REPOSITORIES)


def test_the_aggregate_is_every_contract_class_and_no_test_is_shadowed() -> None:
    classes = [*REPOSITORIES.values(), *CROSS_CUTTING]
    assert set(StoreConformance.__bases__) == set(classes)
    names = [name for cls in classes for name in _tests_of(cls)]
    assert len(names) == len(set(names)), "two contract classes define a test of the same name"
    assert {name for name in dir(StoreConformance) if name.startswith("test_")} == set(names)


@pytest.mark.parametrize("cls", [*REPOSITORIES.values(), *CROSS_CUTTING], ids=lambda cls: cls.__name__)
def test_each_contract_class_stands_alone(cls: type[StoreContract]) -> None:
    assert issubclass(cls, StoreContract)
    assert not cls.__name__.startswith("Test"), "the kit's classes must not be collected where imported"
    assert _tests_of(cls), f"{cls.__name__} has no tests"
    with pytest.raises(NotImplementedError, match=cls.__name__):
        cls().make_store()


def test_every_write_of_the_port_is_in_the_rollback_table() -> None:
    reads = {
        "users.get", "users.by_email",
        "accounts.get", "accounts.of_user", "accounts.number_holders",
        "memberships.get", "memberships.with_account", "memberships.of_account",
        "invitations.get", "invitations.by_token_hash",
        "invoices.series", "invoices.lock_series", "invoices.get", "invoices.lock", "invoices.of_account",
        "invoices.credit_notes_of", "ledger.entries", "ledger.balance",
        "subscriptions.get", "subscriptions.of_account", "subscriptions.exists_between",
        "subscriptions.due_ids", "subscriptions.lock_next_due", "subscriptions.lock",
        "subscriptions.usage_between",
        "metering.by_key",
        "outbox.get", "outbox.due", "outbox.of_invoice",
        "audit.of_account",
        "accounts.memberships_of", "invitations.pending_of", "invoices.search", "invoices.by_number",
        "events.read",
        "payments.by_reference", "payments.of_invoice", "payments.invoice_by_sequence", "payments.overdue",
        "reminders.of_invoice",
    }  # fmt: skip
    methods = {
        f"{repository}.{method}"
        for repository, protocol in port_protocols().items()
        for method in vars(protocol)
        if not method.startswith("_")
    }
    assert methods - reads == set(kit.WRITES)
    assert reads <= methods


def port_protocols() -> dict[str, type]:
    hints = {
        name: member.fget for name, member in vars(ports.Transaction).items() if isinstance(member, property)
    }
    return {name: getattr(ports, fget.__annotations__["return"]) for name, fget in hints.items() if fget}
