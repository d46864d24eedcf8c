"""The issuing statement as a prepared statement of libpq's own, run without psycopg's cursor.

Issuing an invoice on PostgreSQL is one statement that commits on its own
(see :mod:`tenantbill.sql.postgres`). When many processes issue at once on
the cores the server uses too, the client's CPU per invoice is what limits
them, and psycopg's cursor (the query conversion, the adapters, the
generators that wait for the answer) is about a quarter of it. So this one
statement goes through psycopg's documented libpq layer
(:attr:`psycopg.Connection.pgconn`) instead: prepared once per connection
under a name of its own, then run with its parameters as text, the server
converting each by the cast the statement puts on it.

The blocking libpq call releases the GIL, as psycopg's own waiting does; a
``KeyboardInterrupt`` arrives once the server has answered, so the outcome of
a statement that commits on its own is always known.

A statement may be run with another before it (``first``): both go in one
pipeline with one ``Sync``, so they are one round trip and one implicit
transaction, and the second takes its snapshot only once the first has
finished. And with one after it (``then``), in a transaction of its own
after a second ``Sync``, still in the same round trip. Issuing uses both: it
waits for the account's advisory lock before the issuing statement starts,
and a transaction after it flushes the issue to disk before the answer (see
:mod:`tenantbill.sql.postgres`). The wait for the answers is on the socket
(the GIL released); an interrupt during it is held until they are in, as
above.

A value of a type not written here, a connection whose encoding is not UTF-8,
or one whose prepared statements the host turned off (psycopg's
``prepare_threshold=None``) leaves the statement to psycopg's cursor, as every
other statement.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import select
import weakref
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq

from tenantbill.sql.core import Sql

__all__ = ["Prepared", "run_prepared"]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


class NotNative(Exception):
    """The statement cannot run here; nothing was sent, and the caller runs it through psycopg's cursor.

    Raised for a value of another type, a connection not in UTF-8 or with prepared statements
    turned off (``prepare_threshold=None``), or a result of other types.
    """


class Prepared:
    """A compiled statement (pyformat, as SQLAlchemy compiles it for psycopg) in libpq's terms.

    ``command``: the text with ``$1``, ``$2``… (a name used twice is one
    parameter, as psycopg makes it); ``names``: the parameter of each number;
    ``name``: the prepared statement's, from a digest of the text.
    """

    __slots__ = ("command", "defaults", "name", "names", "usable")

    def __init__(self, sql: Sql) -> None:
        numbers: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return "%"
            return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

        self.command = _PLACEHOLDER.sub(number, sql.text).encode()
        self.names = tuple(numbers)
        self.defaults = sql.defaults
        # Named after its text: the same name is the same statement, on any store sharing the connection.
        self.name = b"tenantbill_" + hashlib.sha256(self.command).hexdigest()[:24].encode()
        # False if a placeholder was not understood, or once the server has described a
        # result this module does not read: psycopg's cursor runs it.
        self.usable = b"%(" not in self.command

    def parameters(self, values: Mapping[str, Any]) -> list[bytes | None]:
        """Each parameter as text (``None`` for NULL); :class:`NotNative` if one cannot be."""
        defaults = self.defaults
        text: list[bytes | None] = []
        append = text.append
        for name in self.names:
            value = values[name] if name in values else defaults[name]
            kind = type(value)
            if kind is str:  # most of them: inline
                if "\x00" in value:  # as psycopg refuses it: libpq would cut the text short there
                    raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
                append(value.encode())
            elif value is None:
                append(None)
            else:
                write = _WRITERS.get(kind)
                if write is None:
                    raise NotNative(f"{name}: {kind.__name__}")
                append(write(value))
        return text


def _instant(value: datetime) -> bytes:
    if value.utcoffset() is None:  # a naive instant: psycopg's own rules, not guessed here
        raise NotNative("a datetime without a time zone")
    return value.isoformat().encode()


_WRITERS: dict[type, Callable[[Any], bytes]] = {
    bool: lambda value: b"true" if value else b"false",
    int: lambda value: str(value).encode(),
    Decimal: lambda value: str(value).encode(),
    date: lambda value: value.isoformat().encode(),
    datetime: _instant,
}
"""How each type but ``str`` is written as text (exact types: a subclass goes to psycopg)."""

_PREPARED: weakref.WeakKeyDictionary[Any, set[bytes] | None] = weakref.WeakKeyDictionary()
"""The statements prepared on each psycopg connection (``None``: none are, see run_prepared)."""


def run_prepared(
    driver: Any,
    statement: Prepared,
    values: Mapping[str, Any],
    first: Prepared | None = None,
    then: Prepared | None = None,
) -> tuple[Any, ...] | None:
    """Run ``statement`` on ``driver`` (a psycopg connection at rest); its first row, if any.

    ``first``: a statement run just before, with the same ``values``, in the
    same implicit transaction and round trip (its result is not read; if it
    fails, ``statement`` does not run). ``then``: a statement run right
    after, in a transaction of its own but the same round trip, whose answer
    is waited for: if it fails after ``statement`` succeeded, the outcome of
    ``statement`` is reported unknown (``psycopg.OperationalError``, no
    SQLSTATE). Raises :class:`NotNative` before anything is sent if it cannot
    be run here, and psycopg's own error classes for what the server answers.
    """
    prepared = _PREPARED.get(driver, ())
    if prepared is None or not statement.usable:
        raise NotNative("not on this connection, or the result has other types")
    steps = [(step, step.parameters(values)) for step in (first, statement, then) if step is not None]
    if not prepared:
        if driver.info.encoding != "utf-8" or driver.prepare_threshold is None:
            # Not UTF-8; or prepared statements turned off by the host (prepare_threshold=None,
            # as for a pooler in transaction mode that cannot keep them): the cursor runs it.
            _PREPARED[driver] = None
            raise NotNative("the connection is not in UTF-8, or prepared statements are off on it")
        prepared = _PREPARED[driver] = set()
    pgconn = driver.pgconn
    for attempt in (1, 2):
        if statement.name not in prepared:
            _prepare(driver, statement.name, statement.command)
            described = pgconn.describe_prepared(statement.name)
            _check(driver, described)
            if not all(described.ftype(i) in _READ for i in range(described.nfields)):
                statement.usable = False  # (prepared, and never run here)
                raise NotNative("the result has columns other than integers and text")
            prepared.add(statement.name)
        if len(steps) == 1:
            answers = [pgconn.exec_prepared(statement.name, steps[0][1])]
        else:
            for step, _ in steps:
                if step.name not in prepared:
                    _prepare(driver, step.name, step.command)
                    prepared.add(step.name)
            named = [(step.name, parameters) for step, parameters in steps]
            transactions = [named[:-1], named[-1:]] if then is not None else [named]
            answers = [answer for answered in _pipelined(pgconn, transactions) for answer in answered]
        mine = 1 if first is not None else 0
        if attempt == 1 and any(_deallocated(answer) for answer in answers[: mine + 1]):
            # Deallocated since (DEALLOCATE ALL): nothing ran (or ran and rolled back, in the pipeline).
            prepared.difference_update(step.name for step, _ in steps)
            continue
        for answer in answers[:mine]:
            _check(driver, answer)
        result = answers[mine]
        if result.status != pq.ExecStatus.TUPLES_OK:
            _check(driver, result)
        if then is not None:
            after = answers[-1]
            if _deallocated(after):  # the statement committed: only what follows runs again
                prepared.discard(then.name)
                _prepare(driver, then.name, then.command)
                prepared.add(then.name)
                after = pgconn.exec_prepared(then.name, steps[-1][1])
            if after.status not in _DONE:
                failed = (after.error_message or pgconn.error_message).decode("utf-8", "replace").strip()
                raise psycopg.OperationalError(f"the statement committed; what follows it failed: {failed}")
        if result.ntuples == 0:
            return None
        return _row(result)
    raise AssertionError("unreachable")  # pragma: no cover


_DONE = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)


def _prepare(driver: Any, name: bytes, command: bytes) -> None:
    """Prepare ``command`` as ``name`` on ``driver``; one of that name is the same text (a digest of it)."""
    result = driver.pgconn.prepare(name, command)
    if result.error_field(pq.DiagnosticField.SQLSTATE) != b"42P05":  # duplicate_prepared_statement
        _check(driver, result)


def _deallocated(result: Any) -> bool:
    return bool(result.error_field(pq.DiagnosticField.SQLSTATE) == b"26000")


def _pipelined(pgconn: Any, transactions: list[list[tuple[bytes, list[bytes | None]]]]) -> list[list[Any]]:
    """Run prepared statements in one pipeline, a ``Sync`` after each list: the last answer of each.

    The statements of one list are one implicit transaction: if one fails,
    those after it answer ``PIPELINE_ABORTED`` and nothing of them is
    committed; the next list runs all the same. The connection is out of
    pipeline mode again when this returns, unless it was lost.
    """
    pgconn.enter_pipeline_mode()
    try:
        for statements in transactions:
            for name, parameters in statements:
                pgconn.send_query_prepared(name, parameters)
            pgconn.pipeline_sync()
        answers = _answers(pgconn, [len(statements) for statements in transactions])
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            with contextlib.suppress(psycopg.Error):  # answers left unread: the connection was lost
                pgconn.exit_pipeline_mode()
    return answers


def _answers(pgconn: Any, counts: list[int]) -> list[list[Any]]:
    """Send what is buffered and read to the last ``Sync``: the last result of each statement, per ``Sync``.

    ``counts``: how many statements come before each ``Sync``. Waits on the
    socket (releasing the GIL). A ``KeyboardInterrupt`` while waiting is
    raised once every answer is in, so the outcome is known.
    """
    interrupted: KeyboardInterrupt | None = None
    fd = pgconn.socket
    while pgconn.flush():  # 1: more to send; the server may answer meanwhile
        try:
            ready = _wait(fd, select.POLLIN | select.POLLOUT)
        except KeyboardInterrupt as error:
            interrupted, ready = error, 0
        if ready & select.POLLIN:
            pgconn.consume_input()
    answers: list[list[Any]] = [[]]
    last = None
    while len(answers) <= len(counts):
        while pgconn.is_busy():
            try:
                _wait(fd, select.POLLIN)
            except KeyboardInterrupt as error:
                interrupted = error
                continue
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one statement's results
            if last is None:  # nothing more will come: the connection is lost
                raise psycopg.OperationalError(
                    pgconn.error_message.decode("utf-8", "replace").strip()
                    or "the connection to the server was lost"
                )
            answers[-1].append(last)
            last = None
        elif result.status == pq.ExecStatus.PIPELINE_SYNC:
            answers.append([])
        else:
            last = result
    if interrupted is not None:
        raise interrupted
    answers.pop()  # (after the last Sync)
    if [len(answered) for answered in answers] != counts:  # pragma: no cover - as the protocol guarantees
        raise psycopg.OperationalError(f"answers {answers} to {counts} statements in a pipeline")
    return answers


def _wait(fd: int, events: int) -> int:
    """Wait until ``fd`` is ready for ``events`` (the GIL released); what it is ready for."""
    poll = select.poll()
    poll.register(fd, events)
    return sum(ready for _, ready in poll.poll())


def _row(result: Any) -> tuple[Any, ...]:
    """The first row, its integers as ``int`` and the rest as ``str``."""
    row: list[Any] = []
    for column in range(result.nfields):
        value = result.get_value(0, column)
        if value is None:
            row.append(None)
        elif result.ftype(column) in _INTEGERS:
            row.append(int(value))
        else:
            row.append(value.decode())
    return tuple(row)


_INTEGERS = frozenset({20, 21, 23})  # int8, int2, int4
_READ = _INTEGERS | {25, 1043}  # and text, varchar: read as str


def _check(driver: Any, result: Any) -> None:
    """Raise what psycopg would for a failed ``result``."""
    if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
        return
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    message = (result.error_message or driver.pgconn.error_message).decode("utf-8", "replace")
    if sqlstate is None:  # no answer from the server: the connection is lost
        raise psycopg.OperationalError(message.strip() or "the connection to the server was lost")
    raise psycopg.errors.lookup(sqlstate.decode())(message.strip(), info=result, encoding="utf-8")
