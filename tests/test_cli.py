"""The tenantbill command: migrate, run with progress, deliver through SMTP, pdf, demo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import tenantbill as tb
from tenantbill.cli import main
from tenantbill.clock import FixedClock
from tenantbill.sql import SqlStore, migrate
from tenantbill.testing.mailer import SmtpSink


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'billing.db'}"


def populate(url: str) -> tuple[tb.User, tb.Account]:
    store = SqlStore(url)
    app = tb.Tenantbill(store=store, clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)))
    ola, host = app.accounts.sign_up(name="Skyhost AS", email="ola@skyhost.example.no")
    plan = tb.Plan(code="web", name="Web", price=Decimal("149"), vat_rate=Decimal("0.25"))
    for n in range(3):
        owner, customer = app.accounts.sign_up(name=f"Kunde {n} AS", email=f"kunde{n}@example.no")
        app.users.set_invoice_emails(owner.id, enabled=True)
        app.subscriptions.start(owner.id, host.id, customer.id, plan, anchor=date(2026, 1, 1))
    store.close()
    return ola, host


def test_help_names_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    for command in ("migrate", "run", "deliver", "pdf", "demo"):
        assert command in result.output


def test_migrate_creates_the_schema_and_is_idempotent(url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["migrate", url])
    again = runner.invoke(main, ["migrate", url])
    shown = runner.invoke(main, ["migrate", url, "--show"])

    assert first.exit_code == again.exit_code == shown.exit_code == 0, first.output
    assert f"-> {migrate.HEAD}" in first.output
    assert shown.output.startswith(migrate.HEAD)


def test_run_deliver_and_pdf_on_a_database(url: str, tmp_path: Path) -> None:
    ola, host = populate(url)
    runner = CliRunner()

    run = runner.invoke(main, ["run", "--db", url, "--as-of", "2026-01-01"])
    again = runner.invoke(main, ["run", "--db", url, "--as-of", "2026-01-01"])
    assert run.exit_code == 0, run.output
    assert "issued 3 invoice(s)" in run.output
    assert "issued 0 invoice(s)" in again.output

    with SmtpSink() as sink:
        server = f"{sink.host}:{sink.port}"
        sent = runner.invoke(
            main,
            ["deliver", "--db", url, "--smtp", server, "--sender", "Skyhost <faktura@skyhost.example.no>"],
        )
        assert sent.exit_code == 0, sent.output
        assert "sent 3, failed 0" in sent.output
        assert sorted(r.recipients[0] for r in sink.received) == [f"kunde{n}@example.no" for n in range(3)]

    store = SqlStore(url)
    app = tb.Tenantbill(store=store)
    [first, *_] = list(app.invoices.of_account(ola.id, host.id))
    store.close()
    out = tmp_path / "first.pdf"
    printed = runner.invoke(main, ["pdf", "--db", url, first.id, "-o", str(out)])
    assert printed.exit_code == 0, printed.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_errors_are_one_clear_line(url: str, tmp_path: Path) -> None:
    populate(url)
    runner = CliRunner()

    missing = runner.invoke(main, ["pdf", "--db", url, "no-such-invoice", "-o", str(tmp_path / "x.pdf")])
    bad_server = runner.invoke(main, ["deliver", "--db", url, "--smtp", "nowhere", "--sender", "a@b.no"])
    bad_date = runner.invoke(main, ["run", "--db", url, "--as-of", "1st of May"])

    assert missing.exit_code == 1
    assert "no invoice 'no-such-invoice'" in missing.output
    assert bad_server.exit_code == 2
    assert "HOST:PORT" in bad_server.output
    assert bad_date.exit_code == 2
    assert "Traceback" not in missing.output + bad_server.output + bad_date.output


def test_demo_writes_its_pdfs(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "demo")])

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "demo" / "pdf").glob("*.pdf"))
    assert "Du er invitert til Fjordkaffe AS" in result.output  # the account is Norwegian (nb)
