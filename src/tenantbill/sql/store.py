"""SqlStore: the :class:`~tenantbill.ports.Store` on SQLAlchemy Core, for SQLite and PostgreSQL.

It behaves exactly like :class:`~tenantbill.memory.MemoryStore` (the same
conformance suite runs on both); what differs is how the guarantees are kept.

- SQLite (:mod:`tenantbill.sql.sqlite`): every transaction starts with
  ``BEGIN IMMEDIATE``, so transactions are serialized across threads and
  processes and a race can never produce a duplicate.
- PostgreSQL (:mod:`tenantbill.sql.postgres`): READ COMMITTED, with row locks,
  ``INSERT … ON CONFLICT`` and ``SKIP LOCKED`` claims; a connection rests in
  autocommit mode and a transaction begins at its first write; issuing an
  invoice as the first write is one statement that commits on its own.

What both share (the compiled statements, the unit of work and its
repositories) is in :mod:`tenantbill.sql.core`. ``SqlStore(url)`` makes the
store of the URL's database, :class:`~tenantbill.sql.sqlite.SqliteStore` or
:class:`~tenantbill.sql.postgres.PostgresStore`: the dialect is decided once,
there, and nothing on the hot path asks which database it is on.

When the database is unavailable (a lost connection, a server restarting, a
lock held beyond the busy timeout, an I/O error), a call raises
:class:`~tenantbill.errors.StoreUnavailable`, which says whether it may be
retried; the store stays usable, and the next call reconnects.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any, ClassVar, NoReturn

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tenantbill.errors import InvalidInput, StoreUnavailable
from tenantbill.ports import Transaction
from tenantbill.sql.core import Statements, statements_for
from tenantbill.sql.schema import metadata

__all__ = ["SqlStore"]

# Any constant will do: it names the advisory lock that serializes schema creation (PostgreSQL).
_SCHEMA_LOCK_KEY = 0x7E4A_B111


class SqlStore:
    """A store in a SQL database: ``SqlStore("sqlite:///tenantbill.db")``.

    Also ``"sqlite://"`` (in memory, for tests) and
    ``"postgresql+psycopg://user:password@host/db"``. The tables are created on
    first use. ``echo=True`` logs every statement. A SQLite URL may set the
    busy timeout in seconds (default 30): ``"sqlite:///tenantbill.db?timeout=5"``.

    A call that finds the database unavailable raises
    :class:`~tenantbill.errors.StoreUnavailable`.
    """

    statements_class: ClassVar[type[Statements]]
    """The dialect's statements (set by the subclass)."""

    def __new__(cls, url: str, *, echo: bool = False) -> SqlStore:
        if cls is not SqlStore:
            return super().__new__(cls)
        # The dialect's store, chosen once here (as pathlib.Path() makes a PosixPath).
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            from tenantbill.sql.sqlite import SqliteStore

            return super().__new__(SqliteStore)
        if backend == "postgresql":
            from tenantbill.sql.postgres import PostgresStore

            return super().__new__(PostgresStore)
        raise InvalidInput(f"SqlStore works with SQLite and PostgreSQL, not {backend!r} ({url!r})")

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self._engine: Engine = self._make_engine(url, echo=echo)
        # With echo=True, the statements run on the driver's cursor are logged
        # where SQLAlchemy logs its own.
        self._log: Any = self._engine.logger if echo else None
        self._statements: Statements | None = None
        self._setup_lock = threading.Lock()
        self._open = threading.local()

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Open a transaction: committed when the block ends, rolled back if it raises."""
        raise NotImplementedError  # SqliteStore.transaction, PostgresStore.transaction

    def close(self) -> None:
        """Close the store's database connections; the store can no longer be used."""
        self._engine.dispose()

    # ---------------------------------------------------------------- for the dialects

    def _make_engine(self, url: str, *, echo: bool) -> Engine:
        raise NotImplementedError

    def _serialized(self) -> AbstractContextManager[Any]:
        """Held while a transaction runs: SQLite's lock on this process's threads; nothing on PostgreSQL."""
        raise NotImplementedError

    def _create_tables(self, connection: Connection) -> None:
        """Create the missing tables, in one transaction that keeps other processes from doing it at once."""
        raise NotImplementedError

    def _describe(self) -> str:
        """The database, for messages: ``"PostgreSQL at db.example.com:5432/tenantbill"``."""
        raise NotImplementedError

    def _failure(self, error: BaseException) -> str | None:
        """What ``error`` (the driver's) says happened, if it means the database is unavailable."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared

    def _set_up(self) -> Statements:
        """Create the tables if they are missing, and compile the statements."""
        with self._setup_lock, self._serialized():
            if self._statements is not None:
                return self._statements
            try:
                with self._engine.connect() as connection:
                    self._create_tables(connection)
            except Exception as error:
                self._reraise(error, "creating the tables", True)  # creating what is missing is repeatable
            self._statements = statements_for(self.statements_class, self._engine.dialect)
            return self._statements

    def _checkout(self) -> Any:
        """A connection from the pool (the DB-API one, without SQLAlchemy's ``Connection`` around it)."""
        try:
            return self._engine.raw_connection()
        except Exception as error:
            self._reraise(error, "connecting", True)

    def _reraise(self, error: BaseException, doing: str, retryable: bool) -> NoReturn:
        """Raise ``error`` as :class:`StoreUnavailable` if it says the database is unavailable, else as is."""
        unavailable = self._unavailable(error, doing, retryable)
        if unavailable is None:
            raise error
        raise unavailable from error

    @staticmethod
    def _roll_back(connection: Any) -> None:
        """Roll back after a failure, which stays the error raised: a connection that cannot is dropped."""
        try:
            connection.rollback()
        except Exception:
            connection.invalidate()  # broken: not to be reused

    def _unavailable(self, error: BaseException, doing: str, retryable: bool) -> StoreUnavailable | None:
        """The :class:`StoreUnavailable` to raise for the driver's ``error``; ``None`` if it is another kind.

        ``retryable``: whether nothing of the call can have been committed.
        """
        cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        what = self._failure(cause)
        if what is None:
            return None
        if retryable:
            advice = (
                "Nothing was committed: the call can be retried once the database is back "
                "(after a pause; the store reconnects by itself)."
            )
        else:
            advice = (
                "The outcome is unknown: the change may or may not have been committed. "
                "Check before repeating it, or repeat it with the same idempotency key."
            )
        return StoreUnavailable(
            f"{self._describe()} failed while {doing}: {what}. {advice}", retryable=retryable
        )


def create_tables(connection: Connection) -> None:
    """Create the missing tables on ``connection``, in its transaction (begun by the caller)."""
    existing = set(inspect(connection).get_table_names())
    fresh = not any(table in existing for table in metadata.tables)
    metadata.create_all(connection)
    if fresh:
        # Record the schema's revision, so migrations later start from the right place.
        from tenantbill.sql import migrate

        migrate.stamp_created(connection)


def first_line(error: BaseException) -> str:
    """The first line of a driver's message (psycopg adds lines of context), without the full stop."""
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(error).__name__
