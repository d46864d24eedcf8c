"""Events: written in the transaction of the change, read in commit order with a position.

On memory, SQLite and PostgreSQL (conftest's ``store``); the race of many
writers and a polling reader runs on PostgreSQL, where positions could be
taken out of commit order.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.events import Event
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def app(store: Store) -> tb.Tenantbill:
    return tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(T0))


def draft(customer: str | None = None) -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde"), customer=customer, lines=[tb.Line("Ting", Decimal(2), Decimal("50"))]
    )


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def test_each_change_records_its_event(app: tb.Tenantbill) -> None:
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    buyer, buyer_account = app.accounts.sign_up(name="Kjøper AS", email="ola@kjoper.no")
    invoice = app.invoices.issue(owner.id, account.id, draft("c1"))
    app.invoices.credit(owner.id, invoice.id, reason="Feil")
    issued = app.access.invite(owner.id, account.id, email="per@acme.no")
    per = app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@acme.no"))
    issued = app.access.invite(owner.id, account.id, email="anne@acme.no")
    anne = app.access.accept(issued.token, new_user=tb.NewUser(name="Anne", email="anne@acme.no"))
    app.access.remove(owner.id, account.id, per.user_id)
    app.access.transfer_ownership(owner.id, account.id, anne.user_id)
    app.access.leave(owner.id, account.id)
    plan = tb.Plan("pro", "Pro", Decimal("100"), "NOK")
    sub = app.subscriptions.start(buyer.id, account.id, buyer_account.id, plan, anchor=date(2026, 3, 1))
    app.subscriptions.cancel(buyer.id, sub.id)
    events = app.events.read()
    assert types(events) == [
        "invoice.issued",
        "invoice.credited",
        "invitation.accepted",
        "invitation.accepted",
        "member.removed",
        "ownership.transferred",
        "member.left",
        "subscription.started",
        "subscription.cancelled",
    ]
    positions = [e.position for e in events]
    assert positions == sorted(set(positions))
    assert positions[0] >= 1
    first, credited = events[0], events[1]
    assert first.account_id == account.id
    assert first.at == T0
    assert first.data["invoice_id"] == invoice.id
    assert first.data["number"] == invoice.number
    assert first.data["total"] == "100.00"
    assert first.data["customer"] == "c1"
    assert credited.data["credits_invoice_id"] == invoice.id
    assert credited.data["number"] != invoice.number
    assert events[2].data == {
        "invitation_id": events[2].data["invitation_id"],
        "user_id": per.user_id,
        "role": "member",
    }
    assert events[5].data == {"from_user_id": owner.id, "to_user_id": anne.user_id}
    assert events[7].data["subscription_id"] == sub.id
    assert events[7].data["customer_id"] == buyer_account.id


def test_the_issued_event_carries_the_number_as_issued_whatever_the_prefix(app: tb.Tenantbill) -> None:
    # On PostgreSQL the number goes into the event's JSON text on the server: quotes, backslashes
    # and letters beyond ASCII in the prefix must come back as they are.
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    app.invoices.configure_series(owner.id, account.id, prefix='Å"\\ø-', width=3)
    invoice = app.invoices.issue(owner.id, account.id, draft("c1"))
    (event,) = [e for e in app.events.read() if e.type == "invoice.issued"]
    assert invoice.number == 'Å"\\ø-001'
    assert event.data["number"] == invoice.number
    assert event.data["invoice_id"] == invoice.id
    assert event.data["customer"] == "c1"


@pytest.mark.parametrize(
    "data",
    [
        {"invoice_id": "i1", "total": "10.00"},
        {},
        {"a": "\x00number\x00", "z": ["\x00number\x00", {"number": 1}]},  # the mark's text in values
        {"number": "ignored", "zz": 'ø"\\'},
    ],
)
def test_event_text_split_around_the_number_is_the_text_with_the_number(data: dict[str, Any]) -> None:
    # PostgreSQL's issuing statement puts the number between the two parts on the server.
    from tenantbill.domain.events import event_data_text
    from tenantbill.sql.codec import POSTGRESQL

    event = Event(type="invoice.issued", account_id="a1", at=T0, data=data)
    values = POSTGRESQL.event_values_around_number(event)
    number = 'Å"\\-001'
    joined = values["data_head"] + json.dumps(number) + values["data_tail"]
    assert joined == event_data_text({**data, "number": number})
    assert json.loads(joined) == {**data, "number": number}


def test_read_pages_by_position(app: tb.Tenantbill) -> None:
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    ids = [app.invoices.issue(owner.id, account.id, draft()).id for _ in range(7)]
    seen: list[Event] = []
    after = None
    while batch := app.events.read(after, limit=3):
        assert len(batch) <= 3
        seen.extend(batch)
        after = batch[-1].position
    assert [e.data["invoice_id"] for e in seen] == ids
    assert app.events.read(after) == []
    assert app.events.read(after=seen[3].position, limit=2) == seen[4:6]


def test_a_call_that_fails_records_no_event(app: tb.Tenantbill) -> None:
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    issued = app.access.invite(owner.id, account.id, email="per@acme.no")
    with pytest.raises(tb.EmailTaken):  # fails after the invitation is marked accepted
        app.access.accept(issued.token, new_user=tb.NewUser(name="Kari", email="kari@acme.no"))
    with pytest.raises(tb.OwnerCannotLeave):
        app.access.leave(owner.id, account.id)
    assert app.events.read() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"after": -1},
        {"after": "5"},
        {"after": True},
        {"after": 1.5},
        {"limit": 0},
        {"limit": 1001},
        {"limit": None},
        {"limit": False},
    ],
    ids=repr,
)
def test_hostile_read_arguments_raise_invalid_input(app: tb.Tenantbill, kwargs: dict[str, Any]) -> None:
    with pytest.raises(tb.InvalidInput):
        app.events.read(**kwargs)


def test_a_huge_position_reads_nothing(app: tb.Tenantbill) -> None:
    owner, account = app.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    app.invoices.issue(owner.id, account.id, draft())
    assert app.events.read(after=10**30) == []


@pytest.mark.postgres
@pytest.mark.skipif(not os.environ.get("TENANTBILL_PG_URL"), reason="needs PostgreSQL (python3 dev.py test)")
def test_postgres_race_a_polling_reader_sees_every_event_once_in_order(postgres_database: str) -> None:
    """Writers on many accounts (one-statement issues, issues in a transaction, accepts) race a reader.

    The reader remembers only the last position it saw, as a forwarder does.
    Had positions been taken out of commit order, it would move past one
    that commits later and never see it.
    """
    from conftest import _emptied
    from tenantbill.sql import SqlStore

    _emptied(postgres_database)
    store = SqlStore(postgres_database)
    app = tb.Tenantbill(store=store, mailer=MemoryMailer())
    writers, per_writer = 8, 25
    sellers = [app.accounts.sign_up(name=f"Selger {n} AS", email=f"s{n}@acme.no") for n in range(writers)]
    done = threading.Event()
    seen: list[Event] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        owner, account = sellers[n]
        try:
            for k in range(per_writer):
                if k % 3 == 0:  # claims a key first: the issue runs in a transaction
                    app.invoices.issue(owner.id, account.id, draft(), idempotency_key=f"k{n}-{k}")
                elif k % 5 == 0:
                    token = app.access.invite(owner.id, account.id, email=f"m{n}-{k}@acme.no").token
                    app.access.accept(token, new_user=tb.NewUser(name="M", email=f"m{n}-{k}@acme.no"))
                else:  # one statement that commits on its own
                    app.invoices.issue(owner.id, account.id, draft())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def read() -> None:
        after = 0
        try:
            while True:
                finished = done.is_set()
                batch = app.events.read(after, limit=7)
                seen.extend(batch)
                if batch:
                    after = batch[-1].position
                elif finished:
                    return
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader.start()
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    reader.join(timeout=60)
    store.close()
    assert not errors, errors
    assert time.monotonic() - started < 180
    every = SqlStore(postgres_database)
    try:
        with every.transaction() as tx:
            committed = tx.events.read(0, 100_000)
    finally:
        every.close()
    assert len(committed) == writers * per_writer
    positions = [e.position for e in seen]
    assert positions == sorted(positions), "the reader saw positions out of order"
    assert len(set(positions)) == len(positions), "the reader saw an event twice"
    assert positions == [e.position for e in committed], "the reader skipped an event"
