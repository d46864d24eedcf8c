"""tenantbill inside the host's transaction: what ``app.within(connection)`` runs on.

:class:`HostTransactionStore` is a :class:`~tenantbill.ports.Store` whose
units of work run on the host's open SQLAlchemy ``Connection``, each in a
``SAVEPOINT`` of the host's transaction:

- a call that succeeds releases its savepoint: its writes are part of the
  host's transaction, committed when the host commits, gone if it rolls back;
- a call that fails (a refused call, a driver error) rolls back to its
  savepoint: it changed nothing, and the host's transaction stays usable;
- tenantbill never commits or rolls back the host's transaction.

The store's statements are the same compiled ones; the rules that keep the
invariants still apply. On PostgreSQL the row locks, ``ON CONFLICT`` waits
and ``SKIP LOCKED`` claims run in the host's transaction (so locks are held
until the host commits), and issuing is numbered inside it, never
autocommitted. On SQLite the write lock is taken with ``BEGIN IMMEDIATE``
when the host's transaction has not begun at the driver yet (pysqlite begins
lazily; a savepoint outside a transaction would commit at its release).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import URL

from tenantbill.errors import InvalidInput
from tenantbill.ports import Transaction
from tenantbill.sql.core import statements_for
from tenantbill.sql.schema import metadata
from tenantbill.sql.store import _SCHEMA_LOCK_KEY, create_tables

if TYPE_CHECKING:
    from tenantbill.sql.store import SqlStore

__all__ = ["HostTransactionStore"]

_SECURE_DELETE = "tenantbill.secure_delete"
"""Set in a host's SQLite connection's ``info`` once ``secure_delete`` is on for it."""


class HostTransactionStore:
    """A :class:`~tenantbill.ports.Store` whose transactions are SAVEPOINTs in the host's open transaction.

    Made by :meth:`tenantbill.sql.SqlStore.within` (and so by
    :meth:`tenantbill.Tenantbill.within`). Use it on the thread that owns the
    connection, while its transaction is open.
    """

    def __init__(self, store: SqlStore, connection: Connection) -> None:
        if not isinstance(connection, Connection):
            raise InvalidInput(
                "within() takes the host's SQLAlchemy Connection (from engine.begin() or engine.connect(); "
                f"with an ORM Session, session.connection()), not {type(connection).__name__}"
            )
        if connection.closed or connection.invalidated:
            raise InvalidInput("within() needs an open connection: this one is closed")
        engine = store._engine
        if (
            connection.dialect.name != engine.dialect.name
            or connection.dialect.driver != engine.dialect.driver
        ):
            raise InvalidInput(
                f"the connection is to {connection.dialect.name}+{connection.dialect.driver}, and the store "
                f"is on {engine.dialect.name}+{engine.dialect.driver}: give the store the host's engine"
            )
        if not _same_database(connection, store):
            raise InvalidInput(
                "the connection is to another database than the store's: make the store with the "
                "host's engine, SqlStore(engine)"
            )
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            raise InvalidInput(
                "the connection is in AUTOCOMMIT mode: tenantbill's writes could not share its transaction"
            )
        self._store = store
        self._connection = connection

    def __repr__(self) -> str:
        return f"<{self._store!r} within the host's transaction>"

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A SAVEPOINT in the host's transaction: released when the block ends, rolled back if it raises."""
        store, connection = self._store, self._connection
        try:
            pooled = connection.connection
            driver: Any = pooled.driver_connection
            if connection.dialect.name == "sqlite":
                _join_sqlite(pooled, driver)
            elif driver.autocommit:
                raise InvalidInput(
                    "the connection's driver is in autocommit mode: tenantbill's writes could not "
                    "share its transaction"
                )
            statements = store._statements or self._ready()
            savepoint = connection.begin_nested()
            cursor = pooled.cursor()
        except InvalidInput:
            raise
        except Exception as error:
            if "statements in progress" in str(error):  # SQLite: a result of the host's still open
                raise InvalidInput(
                    "SQLite cannot open a savepoint while a result is still being read on this "
                    "connection: fetch it (.scalar_one(), .all()) before calling tenantbill"
                ) from error
            store._reraise(error, "beginning a savepoint in the host's transaction", True)
        # Begun already (the host's transaction): every statement runs in it, and issuing on
        # PostgreSQL takes the in-transaction path (no statement that commits on its own).
        tx = store.unit_of_work_class(cursor, statements, store._log, None, store._unavailable)
        try:
            try:
                yield tx
                tx.flush_events()
            finally:
                tx.closed = True
                cursor.close()
        except BaseException as error:
            # This call changed nothing; the host's transaction goes on. (If the connection
            # is lost, the rollback fails too, and so will the host's commit.)
            with contextlib.suppress(Exception):
                savepoint.rollback()
            if isinstance(error, tx.driver_errors):  # not from the unit of work's statements
                store._reraise(error, "running a statement", True)
            raise
        try:
            savepoint.commit()  # RELEASE SAVEPOINT: part of the host's transaction now
        except Exception as error:
            store._reraise(error, "releasing a savepoint", True)
        if tx.erased and hasattr(store, "_checkpoint_due"):
            store._checkpoint_due = True  # SQLite: the store checkpoints the WAL after its next transaction

    def _ready(self) -> Any:
        """The store's statements, once its tables are there: if they are missing, created now.

        In the host's transaction (a savepoint), not on a connection of the
        store's own: the host's transaction may hold SQLite's write lock, which
        that connection would wait for. The statements are kept by the store
        only once the tables are found, committed, by a later call.
        """
        store, connection = self._store, self._connection
        existing = set(inspect(connection).get_table_names(schema=store.schema))
        statements = statements_for(store.statements_class, store._engine.dialect, store.schema)
        if all(name in existing for name in metadata.tables):
            store._statements = statements
            return statements
        with connection.begin_nested():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                if store.schema is not None:  # a plain name (check_schema): nothing to quote
                    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {store.schema}"))
            create_tables(connection, store.schema)
        return statements


def _join_sqlite(pooled: Any, driver: Any) -> None:
    """The host's SQLite connection made ready: ``secure_delete`` on; the write lock, if nothing began."""
    if not pooled.info.get(_SECURE_DELETE):
        driver.execute("PRAGMA secure_delete=ON")  # an erased payload is zeroed in the file
        pooled.info[_SECURE_DELETE] = True
    if not driver.in_transaction:
        # pysqlite begins lazily: a SAVEPOINT now would begin a transaction that its RELEASE commits.
        driver.execute("BEGIN IMMEDIATE")


def _same_database(connection: Connection, store: SqlStore) -> bool:
    """Whether ``connection`` is to the database of ``store`` (as far as the URLs tell)."""
    engine = store._engine
    if connection.engine.pool is engine.pool:
        return True
    mine, theirs = engine.url, connection.engine.url
    if engine.dialect.name == "sqlite":
        return _sqlite_file(mine) is not None and _sqlite_file(mine) == _sqlite_file(theirs)
    return (mine.host or "localhost", mine.port or 5432, mine.database) == (
        theirs.host or "localhost",
        theirs.port or 5432,
        theirs.database,
    )


def _sqlite_file(url: URL) -> str | None:
    if url.database in (None, "", ":memory:"):
        return None
    return os.path.realpath(url.database)
