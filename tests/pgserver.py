"""A PostgreSQL server of a test's own, to stop, crash and restart: dev.py's ``PostgresServer``.

The shared server (``TENANTBILL_PG_URL``) must stay up for the other tests,
so the tests that take the database away start one of their own. It needs
PostgreSQL's server binaries (``TENANTBILL_PG_BIN``, by default those of
PostgreSQL 15 on Debian); without them the tests skip, saying why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_DEV = Path(__file__).resolve().parents[1] / "dev.py"


def _dev() -> ModuleType:
    """The project's dev.py (stdlib only), loaded from the repository's root."""
    spec = importlib.util.spec_from_file_location("tenantbill_dev", _DEV)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def own_postgres() -> Iterator[Any]:
    """A started ``dev.PostgresServer`` (``.url``, ``.stop(mode)``, ``.start()``, ``.restart(mode)``)."""
    dev = _dev()
    if not (dev.PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL's server binaries are not in {dev.PG_BIN} (set TENANTBILL_PG_BIN)")
    server = dev.PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()
