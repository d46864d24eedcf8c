"""Secrets are not kept: once an invitation e-mail is sent, no store holds its token in clear text.

Checked where the bytes are: the memory store's objects; the SQLite file and
its WAL, byte for byte; every text and binary column of every PostgreSQL
table (when ``TENANTBILL_PG_URL`` names a server: ``python3 dev.py test``
starts one). Each test first finds the token where it must be before the
e-mail is sent, so that it can fail.
"""

from __future__ import annotations

import email.policy
import os
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import attrs
import pytest

import tenantbill as tb
from support import fresh_postgres_database
from tenantbill.clock import FixedClock
from tenantbill.domain.outbox import OutboxMessage, invitation_key
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.ports import Store
from tenantbill.services.delivery import outbox_id

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get("TENANTBILL_PG_URL")
NO_SERVER = "no PostgreSQL server: set TENANTBILL_PG_URL (python3 dev.py test starts one) to run these"
BACKENDS = [
    "memory",
    "sqlite",
    pytest.param(
        "postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=NO_SERVER)]
    ),
]


class SwitchableMailer:
    """A :class:`MemoryMailer` that can be down (every send raises), so messages stay queued."""

    def __init__(self) -> None:
        self.inner = MemoryMailer()
        self.down = False

    def send(self, message: EmailMessage) -> None:
        if self.down:
            raise ConnectionError("421 service not available")
        self.inner.send(message)

    @property
    def sent(self) -> list[EmailMessage]:
        return self.inner.sent


@dataclass
class World:
    kind: str
    store: Store
    url: str | None
    directory: Path
    clock: FixedClock
    mailer: SwitchableMailer
    app: tb.Tenantbill
    owner: tb.User
    account: tb.Account

    def invite(self, address: str = "ola@example.no") -> tb.IssuedInvitation:
        return self.app.access.invite(self.owner.id, self.account.id, email=address)

    def message(self, issued: tb.IssuedInvitation) -> OutboxMessage:
        invitation = issued.invitation
        key = invitation_key(invitation.id, invitation.token_hash)
        with self.store.transaction() as tx:
            message = tx.outbox.get(outbox_id(key))
        assert message is not None
        return message

    def traces(self, needles: list[bytes]) -> list[str]:
        """Where the store holds any of ``needles``: empty when it holds none."""
        if self.kind == "memory":
            assert isinstance(self.store, MemoryStore)
            return [where for where, value in _walk(self.store._tables, "memory") if _holds(value, needles)]
        if self.kind == "sqlite":
            found = []
            for name in ("tb.db", "tb.db-wal"):
                path = self.directory / name
                if path.exists() and any(needle in path.read_bytes() for needle in needles):
                    found.append(name)
            return found
        assert self.url is not None
        return _postgres_traces(self.url, needles)


def _walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _walk(getattr(value, field.name), f"{where}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key, f"{where}[key]")
            yield from _walk(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _walk(item, f"{where}[]")
    else:
        yield where, value


def _holds(value: Any, needles: list[bytes]) -> bool:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return any(needle in bytes(value) for needle in needles)
    return any(needle in repr(value).encode() for needle in needles)


def _postgres_traces(url: str, needles: list[bytes]) -> list[str]:
    """Every text and binary column of every table (found by reflection) that holds a needle."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.NullPool)
    found = []
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            for table in inspector.get_table_names():
                for column in inspector.get_columns(table):
                    if not isinstance(column["type"], (sa.String, sa.LargeBinary)):
                        continue
                    rows = connection.execute(sa.text(f'SELECT "{column["name"]}" FROM "{table}"'))
                    if any(value is not None and _holds(value, needles) for (value,) in rows):
                        found.append(f"{table}.{column['name']}")
    finally:
        engine.dispose()
    return found


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with _store(request.param, tmp_path) as (store, url):
        clock = FixedClock(AT)
        mailer = SwitchableMailer()
        app = tb.Tenantbill(store=store, mailer=mailer, clock=clock, sender="Acme AS <faktura@example.no>")
        owner, account = app.accounts.sign_up(name="Acme AS", email="kari@example.no")
        yield World(request.param, store, url, tmp_path, clock, mailer, app, owner, account)


@pytest.fixture
def down(world: World) -> World:
    """The world with its mailer down: invitation e-mails stay queued."""
    world.mailer.down = True
    return world


@contextmanager
def _store(kind: str, directory: Path) -> Iterator[tuple[Store, str | None]]:
    """A fresh store of ``kind``, and its URL (``None`` in memory)."""
    if kind == "memory":
        yield MemoryStore(), None
        return
    from tenantbill.sql import SqlStore

    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{directory / 'tb.db'}"
        else:
            assert PG_URL is not None
            url = stack.enter_context(fresh_postgres_database(PG_URL))
        store = SqlStore(url)
        stack.callback(store.close)
        yield store, url


def body_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    content: str = body.get_content()  # type: ignore[attr-defined]
    return content


def needles(token: str, payload: bytes) -> list[bytes]:
    """The token, and the lines of the queued e-mail's body that hold it (all, if the body is encoded)."""
    _, _, body = payload.partition(b"\r\n\r\n")
    lines = [line for line in body.splitlines() if token.encode() in line]
    return [token.encode(), *(lines or [line for line in body.splitlines() if len(line) >= 16])]


def queued(world: World, issued: tb.IssuedInvitation) -> list[bytes]:
    """The traces of a queued invitation e-mail, checked to be in the store (so a test can fail)."""
    message = world.message(issued)
    assert message.payload is not None
    assert not message.done
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.payload)
    assert isinstance(parsed, EmailMessage)
    assert issued.token in body_text(parsed)
    found = needles(issued.token, message.payload)
    assert world.traces(found) != []
    return found


def test_an_invitation_token_is_in_no_store_once_its_email_is_sent(down: World) -> None:
    world = down
    issued = world.invite()  # queued: the request does not wait for the mail server
    assert world.app.billing.deliver().failed == 1  # the server is down: the e-mail stays queued
    traces = queued(world, issued)
    world.mailer.down = False
    world.clock.advance(minutes=5)  # past the back-off

    report = world.app.billing.deliver()

    assert (report.sent, report.failed, report.dropped) == (1, 0, 0)
    assert world.traces(traces) == []
    message = world.message(issued)
    assert message.sent
    assert message.payload is None
    assert message.attempts == 2
    # The token lives in the e-mail, and it works.
    [sent] = world.mailer.sent
    assert issued.token in body_text(sent)
    membership = world.app.access.accept(
        issued.token, new_user=tb.NewUser(name="Ola", email="ola@example.no")
    )
    assert membership.account_id == world.account.id


def test_an_email_sent_at_once_leaves_no_token_behind(world: World) -> None:
    issued = world.invite()
    world.app.billing.deliver()
    [sent] = world.mailer.sent
    assert issued.token in body_text(sent)
    assert world.message(issued).payload is None
    assert world.traces([issued.token.encode()]) == []


def test_a_failed_send_keeps_the_payload_for_the_retry_which_then_erases_it(down: World) -> None:
    world = down
    issued = world.invite()
    queued(world, issued)
    assert world.app.billing.deliver().failed == 1  # down
    world.clock.advance(minutes=5)
    report = world.app.billing.deliver()  # still down
    assert (report.sent, report.failed) == (0, 1)
    message = world.message(issued)
    assert message.payload is not None
    assert message.attempts == 2
    traces = queued(world, issued)

    world.mailer.down = False
    world.clock.advance(hours=1)
    assert world.app.billing.deliver().sent == 1
    assert world.traces(traces) == []
    [sent] = world.mailer.sent
    assert issued.token in body_text(sent)


def test_a_revoked_invitations_email_is_not_sent_and_its_payload_is_erased(down: World) -> None:
    world = down
    issued = world.invite()
    traces = queued(world, issued)

    world.app.access.revoke(world.owner.id, issued.invitation.id)

    message = world.message(issued)
    assert message.dropped
    assert not message.sent
    assert message.payload is None
    assert message.last_error == "not sent: the invitation was revoked"
    assert world.traces(traces) == []
    world.mailer.down = False
    world.clock.advance(days=1)
    report = world.app.billing.deliver()
    assert (report.sent, report.failed, report.dropped) == (0, 0, 0)
    assert world.mailer.sent == []


def test_a_resent_invitation_drops_the_email_with_the_old_token(down: World) -> None:
    world = down
    first = world.invite()
    old = queued(world, first)

    again = world.app.access.resend(world.owner.id, first.invitation.id)

    assert world.message(first).dropped
    assert old[0] == first.token.encode()
    assert world.traces([first.token.encode()]) == []
    world.mailer.down = False
    world.clock.advance(minutes=5)
    assert world.app.billing.deliver().sent == 1
    [sent] = world.mailer.sent
    assert again.token in body_text(sent)
    assert first.token not in body_text(sent)
    assert world.traces([first.token.encode(), again.token.encode()]) == []


def test_an_accepted_invitations_queued_email_is_dropped(down: World) -> None:
    world = down
    issued = world.invite()
    traces = queued(world, issued)
    world.app.access.accept(issued.token, new_user=tb.NewUser(name="Ola", email="ola@example.no"))
    assert world.message(issued).dropped
    assert world.traces(traces) == []


def test_an_expired_invitations_email_is_dropped_when_delivery_claims_it(down: World) -> None:
    world = down
    issued = world.invite()
    traces = queued(world, issued)
    world.mailer.down = False
    world.clock.advance(days=30)  # past the invitation's expiry

    report = world.app.billing.deliver()

    assert (report.sent, report.failed, report.dropped) == (0, 0, 1)
    message = world.message(issued)
    assert message.dropped
    assert message.last_error == "not sent: the invitation expired"
    assert world.mailer.sent == []
    assert world.traces(traces) == []


def test_on_sqlite_a_reader_holding_the_wal_delays_the_scrub_until_the_next_transaction(
    tmp_path: Path,
) -> None:
    with _store("sqlite", tmp_path) as (store, _):
        clock = FixedClock(AT)
        mailer = SwitchableMailer()
        mailer.down = True
        app = tb.Tenantbill(store=store, mailer=mailer, clock=clock, sender="Acme AS <faktura@example.no>")
        owner, account = app.accounts.sign_up(name="Acme AS", email="kari@example.no")
        world = World("sqlite", store, None, tmp_path, clock, mailer, app, owner, account)
        issued = world.invite()
        traces = queued(world, issued)
        mailer.down = False
        clock.advance(minutes=5)
        reader = sqlite3.connect(tmp_path / "tb.db", isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM tenantbill_outbox").fetchone()  # holds a snapshot
            assert app.billing.deliver().sent == 1
            assert world.message(issued).payload is None  # erased in the database at once
            reader.execute("COMMIT")
        finally:
            reader.close()
        # The old page image may have stayed in the WAL for the reader; the next transaction scrubs it.
        world.message(issued)
        assert world.traces(traces) == []


def test_many_sent_invitations_leave_no_token_behind(down: World) -> None:
    # On SQLite, erased rows share pages with live ones: without secure_delete
    # about half of these tokens stay in the file's free space.
    world = down
    tokens = [world.invite(f"person{n}@example.no").token.encode() for n in range(40)]
    assert world.traces(tokens[:1]) != []
    world.mailer.down = False
    world.clock.advance(minutes=5)
    assert world.app.billing.deliver().sent == len(tokens)
    assert world.traces(tokens) == []
