"""The ``tenantbill`` command: what an operator runs from a shell or from cron.

Installed with the ``cli`` extra (``pip install 'tenantbill[cli]'``). Every
command that works on a database takes ``--db URL`` (a SQLAlchemy URL, as for
:class:`~tenantbill.sql.SqlStore`), or reads it from ``$TENANTBILL_DATABASE_URL``.
These are host calls: they act for the operator, not for a signed-in user.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

__all__ = ["main"]

_DB = click.option(
    "--db",
    "url",
    envvar="TENANTBILL_DATABASE_URL",
    required=True,
    metavar="URL",
    help="Database URL, e.g. sqlite:///billing.db or postgresql+psycopg://user@host/db "
    "[env: TENANTBILL_DATABASE_URL].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tenantbill")
def main() -> None:
    """Operate tenantbill: migrate the database, run the month end, deliver e-mails, print a PDF."""


@main.command()
@click.argument("url", envvar="TENANTBILL_DATABASE_URL")
@click.option("--to", "revision", default="head", show_default=True, help="Target schema revision.")
@click.option("--show", is_flag=True, help="Print the current revision and change nothing.")
def migrate(url: str, revision: str, show: bool) -> None:
    """Create or upgrade tenantbill's tables in the database at URL.

    Safe to run again, and from several processes at once.
    """
    from tenantbill.sql import migrate as migrations

    before = _guarded(migrations.current, url)
    if show:
        click.echo(f"{before or 'none'} (this tenantbill: {migrations.HEAD})")
        return
    _guarded(migrations.upgrade, url, revision)
    click.echo(f"tenantbill schema: {before or 'none'} -> {_guarded(migrations.current, url)}")


@main.command()
@_DB
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Bill what is due on or before this day (YYYY-MM-DD). Default: today in each provider's time zone.",
)
def run(url: str, as_of: datetime | None) -> None:
    """Bill what is due: the month-end run, with a progress bar.

    Idempotent: running it again for the same day bills nothing twice. The
    invoice e-mails are queued; `tenantbill deliver` sends them.
    """
    app = _app(url)
    day: date | None = None if as_of is None else as_of.date()
    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:  # the total is known at the first call
            stderr = sys.stderr
            length = total if total > 0 else 1
            bar: Any = click.progressbar(length=length, label="billing", show_pos=True, file=stderr)
            bars.append(bar.__enter__())
        bars[0].update(done - bars[0].pos)

    try:
        report = _guarded(_run_billing, app, day, progress)
    finally:
        if bars:
            bars[0].__exit__(None, None, None)
    click.echo(f"issued {report.issued} invoice(s)")
    for subscription_id, error in getattr(report, "failed", ()):
        click.echo(f"failed: subscription {subscription_id}: {error}", err=True)
    if getattr(report, "failed", ()):
        raise SystemExit(1)


@main.command()
@_DB
@click.option("--smtp", "server", required=True, metavar="HOST:PORT", help="The SMTP server to send through.")
@click.option("--sender", required=True, help='The From of every e-mail, e.g. "Acme <faktura@acme.no>".')
@click.option("--starttls", is_flag=True, help="Upgrade the connection with STARTTLS (usually port 587).")
@click.option("--ssl", "use_ssl", is_flag=True, help="Connect with implicit TLS (usually port 465).")
@click.option(
    "--user",
    "username",
    envvar="TENANTBILL_SMTP_USER",
    help="Log in as this user [env: TENANTBILL_SMTP_USER].",
)
@click.option(
    "--password",
    envvar="TENANTBILL_SMTP_PASSWORD",
    help="The SMTP password; prefer the environment variable [env: TENANTBILL_SMTP_PASSWORD].",
)
def deliver(
    url: str,
    server: str,
    sender: str,
    starttls: bool,
    use_ssl: bool,
    username: str | None,
    password: str | None,
) -> None:
    """Send the queued e-mails; failures are retried on the next run.

    Invoice and invitation e-mails are queued by the calls that make them;
    this is the one place that talks to the mail server. Run it every few
    minutes (cron, a systemd timer).
    """
    from tenantbill.smtp import SmtpMailer

    host, _, port = server.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(
            "give the server as HOST:PORT, e.g. smtp.example.no:587", param_hint="--smtp"
        )
    mailer = _guarded(
        SmtpMailer, host, int(port), username=username, password=password, starttls=starttls, ssl=use_ssl
    )
    app = _app(url, mailer=mailer, sender=sender)
    report = _guarded(app.billing.deliver)
    click.echo(f"sent {report.sent}, failed {report.failed}")
    if report.failed:
        raise SystemExit(1)


@main.command()
@_DB
@click.argument("invoice_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The PDF file to write.",
)
@click.option("--locale", help="Print in this locale (nb, sv, en); default: the invoice's own.")
def pdf(url: str, invoice_id: str, output: Path, locale: str | None) -> None:
    """Write the PDF of the invoice or credit note INVOICE_ID."""
    from tenantbill.render.pdf import render_invoice
    from tenantbill.sql import SqlStore

    store = _guarded(SqlStore, url)
    try:
        with store.transaction() as tx:
            invoice = _guarded(tx.invoices.get, invoice_id)
    finally:
        store.close()
    if invoice is None:
        raise click.ClickException(f"there is no invoice {invoice_id!r} in that database")
    output.write_bytes(_guarded(render_invoice, invoice, locale=locale))
    click.echo(f"wrote {invoice.number} to {output}")


@main.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"), show_default=True
)
def demo(out: Path) -> None:
    """Run the demo: sign-ups to a month end on a fresh SQLite database.

    The PDFs are written to OUT/pdf and the e-mails that would go out are listed.
    """
    from tenantbill.demo import run as run_demo

    raise SystemExit(run_demo(out))


def _app(url: str, **kwargs: Any) -> Any:
    import tenantbill as tb
    from tenantbill.sql import SqlStore

    return tb.Tenantbill(store=_guarded(SqlStore, url), **kwargs)


def _run_billing(app: Any, day: date | None, progress: Any) -> Any:
    if day is None:
        from tenantbill.clock import SystemClock

        return app.billing.run(now=SystemClock().now(), progress=progress)
    return app.billing.run(as_of=day, progress=progress)


def _guarded(function: Any, *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, with tenantbill's errors shown as a one-line message."""
    from tenantbill.errors import TenantbillError

    try:
        return function(*args, **kwargs)
    except TenantbillError as error:
        raise click.ClickException(str(error)) from None
