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

import functools
import re
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from sqlalchemy import Connection, Engine, MetaData, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tenantbill.errors import InvalidInput, StoreUnavailable
from tenantbill.ports import Transaction
from tenantbill.sql.core import Statements, UnitOfWork, statements_for
from tenantbill.sql.schema import metadata

if TYPE_CHECKING:
    from tenantbill.ports import Store

__all__ = ["SqlStore"]

# Any constant will do: it names the advisory lock that serializes schema creation (PostgreSQL).
_SCHEMA_LOCK_KEY = 0x7E4A_B111

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A PostgreSQL schema name tenantbill accepts: a plain lower-case identifier (no quoting needed)."""

_DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}
"""The DB-API driver tenantbill runs its compiled statements on, by database."""


class SqlStore:
    """A store in a SQL database: ``SqlStore("sqlite:///tenantbill.db")``.

    Also ``"sqlite://"`` (in memory, for tests) and
    ``"postgresql+psycopg://user:password@host/db"``. The tables are created on
    first use. ``echo=True`` logs every statement. A SQLite URL may set the
    busy timeout in seconds (default 30): ``"sqlite:///tenantbill.db?timeout=5"``.

    Instead of a URL, the host application's own SQLAlchemy ``Engine`` (with
    the ``pysqlite`` or ``psycopg`` driver): tenantbill then takes its
    connections from the host's pool, leaves the engine's settings and events
    alone (it sets what it needs on each connection it uses, and puts it back
    before returning it), and :meth:`close` does not dispose of it. See the
    "Embedding" page for what that means on each database.

    ``schema="billing"`` (PostgreSQL only) keeps tenantbill's tables in that
    schema, created if missing; every statement names it, so nothing depends
    on a connection's ``search_path``. Give the same schema to
    :func:`tenantbill.sql.migrate.upgrade`.

    A call that finds the database unavailable raises
    :class:`~tenantbill.errors.StoreUnavailable`.
    """

    statements_class: ClassVar[type[Statements]]
    """The dialect's statements (set by the subclass)."""
    unit_of_work_class: ClassVar[type[UnitOfWork]]
    """The dialect's unit of work (set by the subclass)."""

    def __new__(cls, url: str | Engine, *, schema: str | None = None, echo: bool = False) -> SqlStore:
        if cls is not SqlStore:
            return super().__new__(cls)
        # The dialect's store, chosen once here (as pathlib.Path() makes a PosixPath).
        backend = _engine_backend(url) if isinstance(url, Engine) else _url_backend(url)
        if backend == "sqlite":
            from tenantbill.sql.sqlite import SqliteStore

            return super().__new__(SqliteStore)
        if backend == "postgresql":
            from tenantbill.sql.postgres import PostgresStore

            return super().__new__(PostgresStore)
        raise InvalidInput(f"SqlStore works with SQLite and PostgreSQL, not {backend!r} ({url!r})")

    def __init__(self, url: str | Engine, *, schema: str | None = None, echo: bool = False) -> None:
        self._schema = check_schema(schema)
        # The host's engine: borrowed, never disposed, its settings left as they are.
        self._borrowed = isinstance(url, Engine)
        self._engine: Engine = url if isinstance(url, Engine) else self._make_engine(url, echo=echo)
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
        """Close the store's database connections; the store can no longer be used.

        A host's engine (``SqlStore(engine)``) is left open: it is the host's to dispose of.
        """
        if not self._borrowed:
            self._engine.dispose()

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema tenantbill's tables are in, or ``None`` (the connection's default)."""
        return self._schema

    def within(self, connection: Connection) -> Store:
        """This store, running every transaction inside the host's open ``connection`` transaction.

        Each unit of work is a SAVEPOINT: a refused call rolls back to it and
        leaves the host's transaction usable; nothing is committed until the
        host commits. :meth:`tenantbill.Tenantbill.within` is the usual way in.
        """
        from tenantbill.sql.within import HostTransactionStore

        return HostTransactionStore(self, connection)

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
            self._statements = statements_for(self.statements_class, self._engine.dialect, self._schema)
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


def create_tables(connection: Connection, schema: str | None = None) -> None:
    """Create the missing tables on ``connection``, in its transaction (begun by the caller).

    With ``schema`` (PostgreSQL), in that schema, which must exist.
    """
    existing = set(inspect(connection).get_table_names(schema=schema))
    fresh = not any(table in existing for table in metadata.tables)
    # (Tables put in the schema, not a schema_translate_map: that would stay set on a host's connection.)
    tables_in(schema).create_all(connection)
    if fresh:
        # Record the schema's revision, so migrations later start from the right place.
        from tenantbill.sql import migrate

        migrate.stamp_created(connection, schema=schema)


@functools.cache
def tables_in(schema: str | None) -> MetaData:
    """tenantbill's tables (:data:`tenantbill.sql.schema.metadata`), in ``schema`` if one is given."""
    if schema is None:
        return metadata
    target = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(target, schema=schema)
    return target


def first_line(error: BaseException) -> str:
    """The first line of a driver's message (psycopg adds lines of context), without the full stop."""
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(error).__name__


def check_schema(schema: object) -> str | None:
    """``schema`` if it is a name tenantbill accepts for its PostgreSQL schema; else :class:`InvalidInput`."""
    if schema is None:
        return None
    if (
        not isinstance(schema, str)
        or not _SCHEMA_NAME.fullmatch(schema)
        or schema.startswith("pg_")
        or schema == "information_schema"
    ):
        raise InvalidInput(
            "schema must be a plain PostgreSQL name: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63 characters, not pg_… or information_schema "
            f"(got {schema!r:.80})"
        )
    return schema


def _url_backend(url: object) -> str:
    if not isinstance(url, str):
        raise InvalidInput(
            f"SqlStore takes a database URL or a SQLAlchemy Engine, not {type(url).__name__} "
            "(tenantbill needs a blocking driver: an AsyncEngine will not do)"
        )
    return make_url(url).get_backend_name()


def _engine_backend(engine: Engine) -> str:
    """The database of a host's ``engine``, if tenantbill can run its statements on its driver."""
    backend = engine.dialect.name
    driver = _DRIVERS.get(backend)
    if driver is None:
        raise InvalidInput(f"SqlStore works with SQLite and PostgreSQL, not {backend!r}")
    if engine.dialect.is_async:
        raise InvalidInput(
            f"SqlStore needs a blocking driver, and this engine's is asyncio's ({engine.dialect.driver}): "
            f"give it an Engine made with a {backend}+{driver}:// URL (in an asyncio host, "
            "use tenantbill.aio.AsyncTenantbill on it)"
        )
    if engine.dialect.driver != driver:
        raise InvalidInput(
            f"SqlStore runs on {backend} through the {driver} driver, and this engine uses "
            f"{engine.dialect.driver!r}: make it with a {backend}+{driver}:// URL"
        )
    return backend
