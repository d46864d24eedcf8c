"""The numbering and uniqueness guarantees on a real PostgreSQL server, across processes.

Each test runs in a database of its own, created for it and dropped after, so
the tests never see each other's rows. They need ``TENANTBILL_PG_URL`` (a
server the tests may create databases on); ``python3 dev.py test`` starts a
throwaway one and sets it.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import tenantbill as tb
from support import fresh_postgres_database, in_processes
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer

PG_URL = os.environ.get("TENANTBILL_PG_URL")
SKIP_REASON = "set TENANTBILL_PG_URL (python3 dev.py test starts a server)"
pytestmark = [pytest.mark.postgres, pytest.mark.skipif(PG_URL is None, reason=SKIP_REASON)]

AT = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
ORG = "974760673"
PROCESSES = 8
ISSUES_PER_PROCESS = 1000  # about 15 s on the project's 2-core machine, process start included


@pytest.fixture
def url() -> Iterator[str]:
    assert PG_URL is not None
    with fresh_postgres_database(PG_URL) as url:
        yield url


def app_on(url: str) -> tb.Tenantbill:
    from tenantbill.sql import SqlStore

    return tb.Tenantbill(store=SqlStore(url), mailer=MemoryMailer(), clock=FixedClock(AT))


def close(app: tb.Tenantbill) -> None:
    app.store.close()  # type: ignore[attr-defined]


DRAFT = tb.InvoiceDraft(
    bill_to=tb.Party(name="Kunde AS", address="Storgata 1\n0155 Oslo"),
    lines=[tb.Line(description="Drift – «Pro»", quantity=Decimal(1), unit_price=Decimal(300))],
)


def issue_many(url: str, owner_id: str, account_id: str, count: int) -> tuple[list[int], float]:
    """Issue ``count`` invoices on the account; their sequences, and the seconds it took."""
    app = app_on(url)
    try:
        begin = time.perf_counter()
        sequences = [app.invoices.issue(owner_id, account_id, DRAFT).sequence for _ in range(count)]
        return sequences, time.perf_counter() - begin
    finally:
        close(app)


def sign_up(url: str, i: int) -> str:
    """Sign up racer ``i`` with the shared org number: ``"won"`` or the error's class name."""
    app = app_on(url)
    try:
        app.accounts.sign_up(name=f"Racer {i} AS", email=f"racer{i}@example.no", org_number=ORG)
    except tb.TenantbillError as error:
        return type(error).__name__
    finally:
        close(app)
    return "won"


def test_processes_issuing_on_one_account_number_every_invoice_once_without_gaps(url: str) -> None:
    app = app_on(url)
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")

    results = in_processes(issue_many, [(url, owner.id, account.id, ISSUES_PER_PROCESS)] * PROCESSES)

    total = PROCESSES * ISSUES_PER_PROCESS
    assert all(sequences == sorted(sequences) for sequences, _ in results)
    taken = Counter(n for sequences, _ in results for n in sequences)
    assert max(taken.values()) == 1, "a number was given out twice"
    assert sorted(taken) == list(range(1, total + 1))
    stored = list(app.invoices.of_account(owner.id, account.id))
    assert [i.sequence for i in stored] == list(range(1, total + 1))
    assert len({i.number for i in stored}) == total
    slowest = max(seconds for _, seconds in results)
    print(f"\n{total} invoices by {PROCESSES} processes in {slowest:.1f} s: {total / slowest:.0f}/s")
    close(app)


def test_processes_signing_up_with_one_org_number_let_exactly_one_win(url: str) -> None:
    app = app_on(url)  # the schema exists before the race
    racers = 6

    outcomes = Counter(in_processes(sign_up, [(url, i) for i in range(racers)]))

    assert outcomes == Counter({"won": 1, "OrgNumberTaken": racers - 1})
    with app.store.transaction() as tx:
        [holder] = tx.accounts.number_holders("org", ORG)
        account = tx.accounts.get(holder)
        assert account is not None
        winner = tx.users.get(account.owner_id)
        assert winner is not None
        losers = [tx.users.by_email(f"racer{i}@example.no") for i in range(racers)]
    assert [u for u in losers if u is not None] == [winner], "a losing sign-up left its user"
    close(app)


def test_an_invoice_issued_on_postgresql_is_stored_with_its_e_mails_and_a_customers_credit(url: str) -> None:
    # On PostgreSQL, issuing to a party is one statement (add_numbered as the first write);
    # to a customer with a balance, a transaction that reads the balance under the series lock.
    from tenantbill.sql import SqlStore

    store = SqlStore(url)
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=store, mailer=mailer, clock=FixedClock(AT))
    owner, account = app.accounts.sign_up(name="Plattform AS", email="eier@plattform.no")
    kunde, customer = app.accounts.sign_up(name="Kunde AS", email="eier@kunde.no")
    outsider, _ = app.accounts.sign_up(name="Annen AS", email="eier@annen.no")
    plan = tb.Plan(code="drift", name="Drift", price=Decimal(300))
    app.subscriptions.start(kunde.id, account.id, customer.id, plan, anchor=AT.date())  # consent
    to_party = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS", emails=("a@kunde.no", "B@kunde.no", "b@KUNDE.no")),
        lines=[tb.Line(description="Drift", quantity=Decimal(1), unit_price=Decimal(300))],
    )

    first = app.invoices.issue(owner.id, account.id, to_party)
    app.invoices.add_credit(owner.id, account.id, customer.id, Decimal(100))
    to_customer = tb.InvoiceDraft(
        bill_to=tb.Party(name="Kunde AS"), lines=to_party.lines, customer=customer.id
    )
    second = app.invoices.issue(owner.id, account.id, to_customer)
    with pytest.raises(tb.PermissionDenied):
        app.invoices.issue(outsider.id, account.id, to_party)
    report = app.billing.deliver()

    assert [(first.sequence, first.number), (second.sequence, second.number)] == [(1, "1"), (2, "2")]
    assert app.invoices.get(owner.id, first.id) == first
    assert second.balance_applied == Decimal("100.00")
    assert second.amount_due == second.total - Decimal(100)
    assert [i.id for i in app.invoices.of_account(owner.id, account.id)] == [first.id, second.id]
    assert report.sent == 2  # each address once; the customer account's owner did not opt in
    assert sorted(str(m["To"]) for m in mailer.sent) == ["B@kunde.no", "a@kunde.no"]
    assert {str(m["X-Tenantbill-Key"]).split(":")[1] for m in mailer.sent} == {first.id}
    store.close()
