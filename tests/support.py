"""Helpers shared by the test modules: stores to run on, fresh databases, worker processes."""

from __future__ import annotations

import multiprocessing
import queue
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tenantbill.memory import MemoryStore
from tenantbill.ports import Store


@contextmanager
def open_store(kind: str, directory: Path) -> Iterator[Store]:
    """A fresh store: in memory, or in an SQLite file in ``directory``."""
    if kind == "memory":
        yield MemoryStore()
        return
    from tenantbill.sql import SqlStore

    store = SqlStore(f"sqlite:///{directory / 'tb.db'}")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def fresh_postgres_database(url: str) -> Iterator[str]:
    """A new, empty database on the server of ``url``; dropped (with any connection left) after."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"tenantbill_test_{uuid.uuid4().hex[:16]}"
    admin = sqlalchemy.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def in_processes(function: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """``function(*args)`` for each of ``calls``, each in a new (spawned) process, let go at once."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(calls))
    results: Any = context.Queue()
    processes = [
        context.Process(target=_work, args=(function, args, start, results, index))
        for index, args in enumerate(calls)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = []
        for _ in processes:
            try:
                outcomes.append(results.get(timeout=300))
            except queue.Empty:
                pytest.fail(f"a worker did not report; exit codes {[p.exitcode for p in processes]}")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    outcomes.sort(key=lambda outcome: outcome[0])
    assert [error for _, _, error in outcomes if error is not None] == []
    return [result for _, result, _ in outcomes]


def _work(function: Callable[..., Any], args: tuple[Any, ...], start: Any, results: Any, index: int) -> None:
    try:
        start.wait(timeout=120)
        results.put((index, function(*args), None))
    except BaseException as error:  # reported by the parent
        results.put((index, None, repr(error)))
