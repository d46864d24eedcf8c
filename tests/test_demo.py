"""The demo's month of getting paid: paid, partly paid and overdue invoices, reminders, valid EHF files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tenantbill.demo import run
from test_ubl import assert_valid


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert run(out) == 0
    return out


def test_every_invoice_and_credit_note_of_the_demo_is_a_valid_ehf_document(demo: Path) -> None:
    pdfs = sorted(p.stem for p in (demo / "pdf").glob("*.pdf"))
    files = sorted((demo / "ehf").glob("*.xml"))
    assert [p.stem for p in files] == pdfs
    kinds = set()
    for path in files:
        root = assert_valid(path.read_bytes())
        kinds.add(root.tag.rsplit("}", 1)[1])
    assert kinds == {"Invoice", "CreditNote"}


def test_the_demo_month_ends_with_paid_partly_paid_and_overdue_invoices(demo: Path) -> None:
    with closing(sqlite3.connect(demo / "tenantbill.db")) as db:
        statuses = {status for (status,) in db.execute("SELECT status FROM tenantbill_invoices")}
        fees = [fee for (fee,) in db.execute("SELECT fee FROM tenantbill_reminders")]
        payments = db.execute("SELECT count(*) FROM tenantbill_payments").fetchone()[0]
    assert {"paid", "partially_paid", "open", "credited"} <= statuses
    assert fees
    assert any(float(fee) > 0 for fee in fees)  # a fee where the law allows one
    assert payments == 2  # the bank file imported twice is recorded once
