"""Issuing on PostgreSQL answers "which account, which role" from what the store read before.

``app.invoices.issue`` asks ``memberships.with_account(..., recent=True)``:
the PostgreSQL store answers from the rows it read last time, with their
versions (``xmin``), and the one statement that numbers the invoice checks
that both rows are still those versions. These tests change the rows from
*another* store (another process's pool, as in production) and check that
issuing never acts on the old ones: a renamed account is on the next
invoice, a removed member can no longer issue, and nothing is numbered on a
stale answer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import tenantbill as tb
from support import fresh_postgres_database
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
PG_URL = os.environ.get("TENANTBILL_PG_URL")
SKIP_REASON = "set TENANTBILL_PG_URL (python3 dev.py test starts a server)"
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=SKIP_REASON)]

DRAFT = tb.InvoiceDraft(
    bill_to=tb.Party(name="Kunde AS"),
    lines=[tb.Line(description="Drift", quantity=Decimal(1), unit_price=Decimal(300))],
)


@pytest.fixture
def url() -> Iterator[str]:
    assert PG_URL is not None
    with fresh_postgres_database(PG_URL) as url:
        yield url


@pytest.fixture
def apps(url: str) -> Iterator[tuple[tb.Tenantbill, tb.Tenantbill]]:
    """Two applications on one database, each with its own store (its own pool and what it keeps)."""
    from tenantbill.sql import SqlStore

    made = [tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer(), clock=FixedClock(AT)) for _ in "ab"]
    try:
        yield made[0], made[1]
    finally:
        for app in made:
            app.store.close()  # type: ignore[attr-defined]


def member(app: tb.Tenantbill, owner_id: str, account_id: str, role: tb.Role) -> str:
    issued = app.access.invite(owner_id, account_id, email="per@acme.no", role=role)
    return app.access.accept(issued.token, new_user=tb.NewUser(name="Per", email="per@acme.no")).user_id


def test_an_account_renamed_elsewhere_is_on_the_next_invoice(
    apps: tuple[tb.Tenantbill, tb.Tenantbill],
) -> None:
    a, b = apps
    owner, account = a.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    assert a.invoices.issue(owner.id, account.id, DRAFT).seller.name == "Acme AS"  # read, and kept by a
    b.accounts.update(owner.id, account.id, name="Acme Holding AS")
    second = a.invoices.issue(owner.id, account.id, DRAFT)
    assert (second.seller.name, second.sequence) == ("Acme Holding AS", 2)
    assert a.invoices.issue(owner.id, account.id, DRAFT).sequence == 3


def test_a_member_removed_elsewhere_can_no_longer_issue(apps: tuple[tb.Tenantbill, tb.Tenantbill]) -> None:
    a, b = apps
    owner, account = a.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    per = member(a, owner.id, account.id, tb.Role.MEMBER)
    assert a.invoices.issue(per, account.id, DRAFT).sequence == 1  # read, and kept by a
    b.access.remove(owner.id, account.id, per)
    with pytest.raises(tb.PermissionDenied):
        a.invoices.issue(per, account.id, DRAFT)
    assert [i.sequence for i in a.invoices.search(owner.id, account.id)] == [1]
    assert a.invoices.series(owner.id, account.id).next_sequence == 2


def test_a_member_given_the_right_elsewhere_can_issue_at_once(
    apps: tuple[tb.Tenantbill, tb.Tenantbill],
) -> None:
    # A refusal on a kept answer is checked too: the BILLING role kept by a is not the last word.
    a, b = apps
    owner, account = a.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    per = member(a, owner.id, account.id, tb.Role.BILLING)
    with pytest.raises(tb.PermissionDenied):
        a.invoices.issue(per, account.id, DRAFT)  # read, and kept by a
    b.access.transfer_ownership(owner.id, account.id, per)
    assert a.invoices.issue(per, account.id, DRAFT).sequence == 1
    with pytest.raises(tb.PermissionDenied):  # and the former owner is now a MEMBER: still allowed
        a.invoices.issue(per + "x", account.id, DRAFT)
    assert a.invoices.issue(owner.id, account.id, DRAFT).sequence == 2


def test_a_stale_answer_numbers_nothing(apps: tuple[tb.Tenantbill, tb.Tenantbill]) -> None:
    # The store's side of it: the answer given is the one kept, and the issue on it raises
    # StaleRead without taking a number; asked again without recent, it reads.
    a, b = apps
    owner, account = a.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    a.invoices.issue(owner.id, account.id, DRAFT)
    b.accounts.update(owner.id, account.id, name="Acme Holding AS")
    invoice = a.invoices.issue(owner.id, account.id, DRAFT)  # reads anew: the answer kept is now this one
    b.accounts.update(owner.id, account.id, name="Acme Group AS")
    names: list[str] = []

    def issue_on_kept_answer() -> None:
        with a.store.transaction() as tx:
            kept, _ = tx.memberships.with_account(account.id, owner.id, recent=True)
            names.append(kept.name if kept else "")
            tx.invoices.add_numbered(_copy(invoice))

    with pytest.raises(tb.StaleRead):
        issue_on_kept_answer()
    with a.store.transaction() as tx:
        fresh, _ = tx.memberships.with_account(account.id, owner.id, recent=True)
        names.append(fresh.name if fresh else "")
    assert names == ["Acme Holding AS", "Acme Group AS"]
    assert a.invoices.series(owner.id, account.id).next_sequence == 3


def _copy(invoice: tb.Invoice) -> tb.Invoice:
    """A new invoice like ``invoice`` (its own id), to be numbered."""
    import attrs

    from tenantbill.services.base import new_id

    return attrs.evolve(invoice, id=new_id())


def test_racing_a_removal_no_invoice_is_issued_after_it(apps: tuple[tb.Tenantbill, tb.Tenantbill]) -> None:
    a, b = apps
    owner, account = a.accounts.sign_up(name="Acme AS", email="kari@acme.no")
    per = member(a, owner.id, account.id, tb.Role.MEMBER)
    stop, issued, refused = threading.Event(), [], []

    def issue_until_refused() -> None:
        while not stop.is_set():
            try:
                issued.append(a.invoices.issue(per, account.id, DRAFT).sequence)
            except tb.PermissionDenied:
                refused.append(True)
                return

    threads = [threading.Thread(target=issue_until_refused) for _ in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(issued) < 20 and time.monotonic() < deadline:
        time.sleep(0.001)
    b.access.remove(owner.id, account.id, per)
    removed_at = len(issued)
    for thread in threads:
        thread.join(timeout=30)
    stop.set()
    assert len(refused) == 4
    # At most the calls in flight when the removal committed got through (one per thread).
    assert len(issued) <= removed_at + 4
    numbers = sorted(i.sequence for i in a.invoices.search(owner.id, account.id, limit=500))
    assert numbers == sorted(issued) == list(range(1, len(issued) + 1))
