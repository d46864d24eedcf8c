"""Create or migrate the tables of :class:`~tenantbill.sql.SqlStore`: ``upgrade(url)``.

>>> from tenantbill.sql.migrate import upgrade
>>> upgrade("postgresql+psycopg://billing@db.internal/billing")  # doctest: +SKIP

The migrations are Alembic revisions shipped inside the package
(``tenantbill/sql/migrations``); no ``alembic.ini`` is needed. Alembic comes
with the ``postgres`` extra (``pip install 'tenantbill[postgres]'``) and is
imported only when a function here needs it.

The revision a database is at is kept in its own table,
``tenantbill_alembic_version``, so tenantbill's tables can share a database
with a host application that has its own Alembic history.

A database whose tables :class:`~tenantbill.sql.SqlStore` created by itself
(on first use) has no revision yet; :func:`upgrade` adopts it: if its tables
already equal the current schema it is marked as at :data:`HEAD`, otherwise as
at :data:`BASELINE` (the schema of the releases before migrations shipped),
and upgraded from there.

``upgrade`` and ``current`` hold the schema lock while they work (an advisory lock
on PostgreSQL, the write lock on SQLite, the same as SqlStore's table creation),
so several processes may call :func:`upgrade` at once: one migrates, the
others then find nothing to do.

From a shell: ``tenantbill-migrate URL`` (or ``python -m tenantbill.sql.migrate URL``;
the URL may also come from ``TENANTBILL_DATABASE_URL``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url

from tenantbill.errors import InvalidInput
from tenantbill.sql.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "BASELINE",
    "HEAD",
    "VERSION_TABLE",
    "alembic_config",
    "current",
    "main",
    "stamp_created",
    "upgrade",
]

HEAD = "0008"
"""The revision that :mod:`tenantbill.sql.schema` (what SqlStore creates) corresponds to."""

BASELINE = "0001"
"""The schema SqlStore created by itself in the releases before migrations shipped."""

VERSION_TABLE = "tenantbill_alembic_version"
"""Where a database's revision is kept (apart from a host application's ``alembic_version``)."""

# The same key as SqlStore's table creation: the two never run at once.
_SCHEMA_LOCK_KEY = 0x7E4A_B111
_BUSY_TIMEOUT_SECONDS = 30.0
_MISSING_ALEMBIC = (
    "tenantbill.sql.migrate needs Alembic, which comes with the postgres extra: "
    "pip install 'tenantbill[postgres]' (or pip install 'alembic>=1.13')"
)

_versions = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),  # as Alembic makes it
)


def upgrade(url: str | Engine, revision: str = "head", *, schema: str | None = None) -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default), creating the tables if none.

    ``url`` is a SQLAlchemy URL, as for :class:`~tenantbill.sql.SqlStore`:
    ``"sqlite:///billing.db"`` or ``"postgresql+psycopg://user:password@host/db"``,
    or the host application's ``Engine`` (used, not disposed). ``schema``
    (PostgreSQL) is the schema of ``SqlStore(..., schema=...)``: the tables and
    the revision table are kept there, and it is created if missing.
    Safe to run again and from several processes at once; a database already
    at ``revision`` is left as it is. Everything runs in one transaction
    (PostgreSQL and SQLite both roll back a failed schema change).
    """
    command = _alembic_command()
    config = alembic_config()
    with _schema_connection(url, schema) as connection:
        config.attributes["connection"] = connection
        config.attributes["schema"] = schema
        if _revision(connection, schema) is None and _has_tables(connection, schema):
            command.stamp(config, HEAD if not _differences(connection, schema) else BASELINE)
        command.upgrade(config, revision)


def current(url: str | Engine, *, schema: str | None = None) -> str | None:
    """The revision the database at ``url`` is at, or ``None`` when it has none (empty, or never migrated)."""
    with _schema_connection(url, schema) as connection:
        return _revision(connection, schema)


def stamp_created(connection: Connection, *, schema: str | None = None) -> None:
    """Record that ``connection``'s database has the tables of :mod:`tenantbill.sql.schema` (:data:`HEAD`).

    For a store that has just created its tables from the schema module (as
    :class:`~tenantbill.sql.SqlStore` does on first use), in the same
    transaction; :func:`upgrade` then starts from there. Needs no Alembic.
    ``schema``: the PostgreSQL schema the tables are in.
    """
    versions = _versions if schema is None else _versions.to_metadata(MetaData(), schema=schema)
    versions.create(connection, checkfirst=True)
    connection.execute(versions.delete())
    connection.execute(versions.insert().values(version_num=HEAD))


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for tenantbill's migrations, for Alembic's own commands.

    For example, to print the SQL of the migrations instead of running them::

        from alembic import command
        command.upgrade(alembic_config("postgresql+psycopg://"), "head", sql=True)

    or, when developing tenantbill, to write the next revision from the
    changes to :mod:`tenantbill.sql.schema`::

        command.revision(alembic_config(url), "add …", autogenerate=True, rev_id="0002")
    """
    _alembic_command()
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations()))
    # Revision files must be importable module names (mypy checks them): r0001_initial.py.
    config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """``tenantbill-migrate [URL] [--to REVISION] [--show]``."""
    parser = argparse.ArgumentParser(
        prog="tenantbill-migrate", description="Create or migrate tenantbill's tables in a database."
    )
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("TENANTBILL_DATABASE_URL"),
        help="SQLAlchemy URL of the database (default: $TENANTBILL_DATABASE_URL)",
    )
    parser.add_argument("--to", default="head", metavar="REVISION", help="target revision (default: head)")
    parser.add_argument("--show", action="store_true", help="print the current revision and change nothing")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("give the database URL, or set TENANTBILL_DATABASE_URL")
    before = current(args.url)
    if args.show:
        print(f"{before or 'none'} (this tenantbill: {HEAD})")
        return 0
    upgrade(args.url, args.to)
    print(f"tenantbill schema: {before or 'none'} -> {current(args.url)}")
    return 0


# the machinery (also used by migrations/env.py)


def _alembic_command() -> Any:
    try:
        from alembic import command
    except ImportError as error:
        raise ImportError(_MISSING_ALEMBIC) from error
    return command


def _migrations() -> Path:
    folder = files("tenantbill.sql.migrations")
    if not isinstance(folder, Path):
        raise RuntimeError(f"tenantbill's migrations must be files on disk to run, not {folder!r}")
    return folder


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # the driver of the postgres extra
        return create_engine(parsed)
    if backend != "sqlite":
        raise InvalidInput(f"tenantbill's tables live in SQLite or PostgreSQL, not {backend!r}")
    engine = create_engine(parsed, connect_args={"timeout": _BUSY_TIMEOUT_SECONDS})

    # As in SqlStore: the driver's own transaction handling is off and every
    # transaction takes the write lock at once, so migrations are serialized
    # with each other and with the store's writers.
    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def _schema_connection(url: str | Engine, schema: str | None = None) -> Iterator[Connection]:
    """A connection in a transaction that holds the schema lock; committed when the block ends.

    With ``schema`` (PostgreSQL): created if missing, and first on the transaction's
    ``search_path``, so the migrations' unqualified names are its tables.
    """
    from tenantbill.sql.store import check_schema

    schema = check_schema(schema)
    engine = url if isinstance(url, Engine) else _engine(url)
    if schema is not None and engine.dialect.name != "postgresql":
        raise InvalidInput(f"only PostgreSQL has schemas: leave schema= out on {engine.dialect.name}")
    try:
        with engine.connect() as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
                if schema is not None:  # a plain name (check_schema): nothing to quote
                    connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
                    connection.execute(text(f"SET LOCAL search_path TO {schema}"))
            else:
                driver: Any = connection.connection.driver_connection
                if not driver.in_transaction:  # a host's engine: pysqlite begins lazily
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
    finally:
        if engine is not url:
            engine.dispose()


def _include_name(name: str | None, type_: str, _parents: Mapping[str, str | None]) -> bool:
    """Only tenantbill's own tables (and what is in them) take part in a comparison."""
    return type_ != "table" or name in metadata.tables


def _revision(connection: Connection, schema: str | None = None) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE, schema=schema):
        return None
    version: str | None = connection.execute(select(_versions.c.version_num)).scalar()
    return version


def _has_tables(connection: Connection, schema: str | None = None) -> bool:
    names = set(inspect(connection).get_table_names(schema=schema))
    return any(name in names for name in metadata.tables)


def _differences(connection: Connection, schema: str | None = None) -> list[Any]:
    """How the tables differ from :mod:`tenantbill.sql.schema` (Alembic's autogenerate comparison)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    target, opts = (
        metadata,
        {"version_table": VERSION_TABLE, "include_name": _include_name, "compare_type": True},
    )
    if schema is not None:
        # The tables of that schema against the schema module's, put in it.
        from tenantbill.sql.store import tables_in

        target = tables_in(schema)

        def in_schema(name: str | None, type_: str, parents: Mapping[str, str | None]) -> bool:
            if type_ == "schema":
                return name == schema
            return _include_name(name, type_, parents)

        opts.update(include_schemas=True, include_name=in_schema, version_table_schema=schema)
    context = MigrationContext.configure(connection, opts=opts)
    differences: list[Any] = compare_metadata(context, target)
    return differences


if __name__ == "__main__":
    sys.exit(main())
