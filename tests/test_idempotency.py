"""Idempotency keys: a retried issue returns the first invoice, never a second number.

Runs on memory, SQLite and PostgreSQL (conftest.py's ``store``), including
concurrent retries racing in threads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.ports import Store
from tenantbill.testing.factories import Factory, SignedUp

D = Decimal
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def seller(store: Store) -> SignedUp:
    app = tb.Tenantbill(store=store, mailer=MemoryMailer(), clock=FixedClock(NOW))
    return Factory(app).account(name="Selger AS")


def draft(price: str = "100", *, emails: tuple[str, ...] = ("kunde@example.no",)) -> tb.InvoiceDraft:
    return tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=emails),
        lines=[tb.Line(description="Time", quantity=D(1), unit_price=D(price), vat_rate=D("0.25"))],
    )


def issued(seller: SignedUp) -> list[tb.Invoice]:
    return list(seller.app.invoices.of_account(seller.owner.id, seller.account.id))


def issue(seller: SignedUp, d: tb.InvoiceDraft, key: str | None) -> tb.Invoice:
    return seller.app.invoices.issue(seller.owner.id, seller.account.id, d, idempotency_key=key)


def test_the_same_key_and_draft_returns_the_first_invoice(seller: SignedUp) -> None:
    first = issue(seller, draft(), "order-1234")
    again = issue(seller, draft(), "order-1234")

    assert again == first
    assert [i.sequence for i in issued(seller)] == [1]
    with seller.app.store.transaction() as tx:
        assert len(tx.outbox.of_invoice(first.id)) == 1  # its e-mail queued once


def test_the_same_key_with_another_draft_is_a_conflict(seller: SignedUp) -> None:
    issue(seller, draft(), "order-1234")

    with pytest.raises(tb.IdempotencyConflict, match="another draft"):
        issue(seller, draft("200"), "order-1234")
    assert [i.sequence for i in issued(seller)] == [1]


def test_keys_are_per_account_and_no_key_means_no_deduplication(seller: SignedUp) -> None:
    other = Factory(seller.app).account(name="Annen AS", email="annen@example.no")
    mine = issue(seller, draft(), "order-1")
    theirs = other.app.invoices.issue(other.owner.id, other.account.id, draft(), idempotency_key="order-1")

    assert (mine.account_id, theirs.account_id) == (seller.account.id, other.account.id)
    assert issue(seller, draft(), None).sequence == 2
    assert issue(seller, draft(), None).sequence == 3


def test_a_refused_issue_does_not_use_up_its_key(seller: SignedUp) -> None:
    with pytest.raises(tb.PermissionDenied):
        seller.app.invoices.issue("someone-else", seller.account.id, draft(), idempotency_key="k")

    assert issue(seller, draft(), "k").sequence == 1


@pytest.mark.parametrize("key", ["", "a\nb", "x" * 201, 5, "\x00"])
def test_a_bad_key_is_refused(seller: SignedUp, key: object) -> None:
    with pytest.raises(tb.InvalidInput):
        issue(seller, draft(), key)  # type: ignore[arg-type]
    assert issued(seller) == []


def test_concurrent_retries_with_one_key_issue_one_invoice(seller: SignedUp) -> None:
    racers = 6
    start = threading.Barrier(racers)
    results: list[tb.Invoice] = []
    errors: list[BaseException] = []

    def retry() -> None:
        start.wait()
        try:
            results.append(issue(seller, draft(), "request-42"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=retry) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len({attrs.astuple(i) == attrs.astuple(results[0]) for i in results}) == 1
    assert [i.sequence for i in issued(seller)] == [1]
