"""The tenantbill demo: a small invoicing platform's month end on the embedded SQLite store.

A provider account signs up, a few customers sign up, an invitation is
accepted, a billing user opts in to invoice e-mails, monthly and yearly
subscriptions record usage, and the month-end run issues the invoices and
delivers the e-mails (to an in-memory mailer, so nothing leaves the machine).
Then a month of getting paid: payments found by KID (one paid in full, one in
part), a credit note, and a reminder run that sends reminders with the fees
Norwegian law allows. Every invoice and credit note is written as a PDF and as
an EHF e-invoice. Run it again and it starts afresh.

    tenantbill demo [--out DIR]        (or: python examples/demo.py [--out DIR])
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.memory import MemoryMailer
from tenantbill.sql import SqlStore

__all__ = ["main", "run"]


def progress(text: str) -> None:
    print(f"  {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m tenantbill.demo [--out DIR]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the database and PDFs")
    args = parser.parse_args(argv)
    return run(args.out)


def run(out: Path) -> int:
    """Run the demo, writing its SQLite database and the PDFs under ``out``."""
    pdf_dir = out / "pdf"
    pdf_dir.mkdir(parents=True, exist_ok=True)
    for old in [*pdf_dir.glob("*.pdf"), *out.glob("tenantbill.db*")]:
        old.unlink()

    clock = FixedClock(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    mailer = MemoryMailer()
    app = tb.Tenantbill(store=SqlStore(f"sqlite:///{out / 'tenantbill.db'}"), mailer=mailer, clock=clock)

    print("1. Sign-ups")
    ola, platform = app.accounts.sign_up(
        name="Skyhost AS",
        email="ola@skyhost.example.no",
        org_number="NO 974 760 673 MVA",
        bank_account="8601.11.17947",
        address="Storgata 1\n0155 Oslo",
        vat_registered=True,
    )
    app.invoices.configure_series(ola.id, platform.id, start=1001)
    app.accounts.update(ola.id, platform.id, kid="mod10", late_interest_rate=Decimal("0.1275"))
    progress(f"{platform.name} (org {platform.org_number}) owned by {ola.name}; KID on every invoice")
    customers = []
    for name, email, org, locale, reference in [
        ("Fjordkaffe AS", "post@fjordkaffe.example.no", "923609016", "nb", "Kari Regnskap"),
        ("Ålands Design AB", "info@alandsdesign.example.com", "5560360793", "sv", "Inköp 42"),
        ("Northwind Nordic AS", "billing@northwind.example.com", "914778271", "en", "PO 7731"),
    ]:
        owner, account = app.accounts.sign_up(
            name=name,
            email=email,
            org_number=org,
            locale=locale,
            address=f"{name}\nMain street 2",
            buyer_reference=reference,  # what they want on invoices to them (EHF BuyerReference)
        )
        app.users.set_invoice_emails(owner.id, enabled=True)
        customers.append((owner, account))
        progress(f"{account.name} signed up ({locale}); its owner opted in to invoice e-mails")

    print("2. An invitation")
    kaffe_owner, kaffe = customers[0]
    issued = app.access.invite(
        kaffe_owner.id, kaffe.id, email="regnskap@fjordkaffe.example.no", role=tb.Role.BILLING
    )
    progress(
        f"invitation queued for {issued.invitation.email} (expires {issued.invitation.expires_at:%Y-%m-%d})"
    )
    # The background job sends what the calls queued (a request never waits for the mail server).
    progress(f"delivery job: {app.billing.deliver().sent} e-mail sent (the invitation)")
    membership = app.access.accept(
        issued.token, new_user=tb.NewUser(name="Kari Regnskap", email=issued.invitation.email)
    )
    app.users.set_invoice_emails(membership.user_id, enabled=True)
    progress("accepted as a BILLING user, who opted in to invoice e-mails")
    app.accounts.set_invoice_recipients(kaffe_owner.id, kaffe.id, ["bokforing@revisor.example.no"])
    progress("the accountant bokforing@revisor.example.no gets every invoice too")

    print("3. Subscriptions and usage")
    monthly = tb.Plan(
        code="web",
        name="Web hosting",
        price=Decimal("149"),
        cycle=tb.BillingCycle.MONTHLY,
        vat_rate=Decimal("0.25"),
    )
    yearly = tb.Plan(
        code="pro",
        name="Pro hosting (yearly)",
        price=Decimal("2990"),
        cycle=tb.BillingCycle.YEARLY,
        vat_rate=Decimal("0.25"),
    )
    subs = [
        # Each customer's owner subscribes: that is its consent to be billed by the platform.
        app.subscriptions.start(kaffe_owner.id, platform.id, kaffe.id, monthly, anchor=date(2026, 1, 1)),
        app.subscriptions.start(
            customers[1][0].id, platform.id, customers[1][1].id, yearly, anchor=date(2026, 1, 1)
        ),
        app.subscriptions.start(
            customers[2][0].id, platform.id, customers[2][1].id, monthly, anchor=date(2026, 1, 1)
        ),
    ]
    for sub, item, qty in [(subs[0], "Extra site", "2"), (subs[1], "Extra storage (10 GB)", "3")]:
        app.subscriptions.record_usage(
            ola.id, sub.id, item=item, quantity=Decimal(qty), unit_price=Decimal("50"), at=date(2026, 1, 20)
        )
        progress(f"{qty} × {item} recorded")

    print("4. Month-end runs")
    for run_date in (date(2026, 1, 1), date(2026, 2, 1)):
        clock.set(datetime(run_date.year, run_date.month, run_date.day, 6, 0, tzinfo=UTC))
        report = app.billing.run(as_of=run_date)
        progress(f"billing run for {run_date}: {report.issued} invoice(s) issued")
        delivered = app.billing.deliver()
        progress(f"delivered {delivered.sent} e-mail(s), {delivered.failed} failed")

    print("5. Getting paid")
    billed = list(app.invoices.of_account(ola.id, platform.id))
    by_customer = {account.id: [i for i in billed if i.customer == account.id] for _, account in customers}
    kaffe_jan, kaffe_feb = by_customer[kaffe.id]
    aland_year = by_customer[customers[1][1].id][0]
    clock.set(datetime(2026, 2, 10, 9, 0, tzinfo=UTC))
    # Bank files: payments found by their KID, each bank reference recorded once.
    for invoice, amount, ref in [
        (kaffe_jan, kaffe_jan.amount_due, "NETS-0210-1"),
        (aland_year, Decimal("1500"), "NETS-0210-2"),
    ]:
        app.payments.register(
            ola.id, platform.id, amount=amount, paid_on=date(2026, 2, 10), kid=invoice.kid, reference=ref
        )
    app.payments.register(  # the same bank file imported twice: recorded once
        ola.id,
        platform.id,
        amount=kaffe_jan.amount_due,
        paid_on=date(2026, 2, 10),
        kid=kaffe_jan.kid,
        reference="NETS-0210-1",
    )
    note = app.invoices.credit(
        ola.id, kaffe_feb.id, reason="The extra site was never set up", lines=[len(kaffe_feb.lines) - 1]
    )
    progress(f"credit note {note.number} for part of invoice {kaffe_feb.number}")
    clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    sent = app.invoices.remind_overdue(ola.id, platform.id, on=date(2026, 3, 2))
    numbers = {invoice.id: invoice.number for invoice in billed}
    for reminder in sent:
        progress(
            f"reminder {reminder.number} of invoice {numbers[reminder.invoice_id]}: fee {reminder.fee} "
            f"{reminder.currency}, {reminder.amount_due} {reminder.currency} due now"
        )
    progress(f"delivered {app.billing.deliver().sent} reminder e-mail(s)")
    for invoice in app.invoices.of_account(ola.id, platform.id):
        progress(
            f"{invoice.number}  {invoice.bill_to.name:<20} {invoice.status.value:<15} "
            f"{invoice.outstanding:>10} {invoice.currency} still due"
        )

    print("6. PDFs and EHF e-invoices")
    ehf_dir = out / "ehf"
    ehf_dir.mkdir(parents=True, exist_ok=True)
    for old in ehf_dir.glob("*.xml"):
        old.unlink()
    invoices = list(app.invoices.of_account(ola.id, platform.id))
    for i, invoice in enumerate(invoices, 1):
        (pdf_dir / f"{invoice.number}.pdf").write_bytes(app.invoices.pdf(ola.id, invoice.id))
        (ehf_dir / f"{invoice.number}.xml").write_bytes(app.invoices.ubl(ola.id, invoice.id))
        progress(
            f"[{i}/{len(invoices)}] {invoice.number}  {invoice.bill_to.name:<18} "
            f"{invoice.total:>10} {invoice.currency}  due {invoice.due_date}"
        )

    print("7. E-mails that went out")
    for message in mailer.sent:
        attachments = [part.get_filename() for part in message.iter_attachments()]
        progress(f"to {message['To']:<36} {message['Subject']}  {', '.join(a for a in attachments if a)}")

    print(f"\nDone. The PDFs are in {pdf_dir.resolve()}, the e-invoices in {ehf_dir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
