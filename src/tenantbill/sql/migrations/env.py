"""Alembic's environment for tenantbill's migrations; :mod:`tenantbill.sql.migrate` runs it.

The connection comes from ``config.attributes["connection"]`` (that is how
:func:`~tenantbill.sql.migrate.upgrade` runs it: inside its own transaction,
holding the schema lock), or else from the ``sqlalchemy.url`` option of a
config made by :func:`~tenantbill.sql.migrate.alembic_config`. With
``sql=True`` (Alembic's offline mode) the SQL is printed instead of run.

Only tenantbill's tables are looked at (they carry a ``tenantbill_`` prefix
and may share a database with the host application's tables), and the
revision is kept in a table of its own, ``tenantbill_alembic_version``, apart
from the host application's ``alembic_version``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from tenantbill.sql.migrate import VERSION_TABLE, _include_name, _schema_connection
from tenantbill.sql.schema import metadata


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "include_name": _include_name,
        "compare_type": True,
        # SQLite cannot alter most of a table: later revisions go through a copy.
        "render_as_batch": dialect_name == "sqlite",
    }


def _online(connection: Connection) -> None:
    # With a schema (PostgreSQL), upgrade() has put it first on the transaction's search_path.
    schema = context.config.attributes.get("schema")
    context.configure(connection=connection, version_table_schema=schema, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def _offline(url: str) -> None:
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    given = config.attributes.get("connection")
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        if not url:
            raise RuntimeError("set the sqlalchemy.url option (alembic_config(url)) to print the SQL")
        _offline(url)
    elif given is not None:
        _online(given)
    elif url:
        with _schema_connection(url) as connection:
            _online(connection)
    else:
        raise RuntimeError("no database: pass a connection in config.attributes or set sqlalchemy.url")


_main()
