"""E-invoices: EHF 3.0 UBL documents per second, without and with the invoice PDF embedded.

Targets (docs/performance.md), measured side by side in the same run:

- the export itself, ``ubl(document_of(invoice))`` (map, check against the
  rules, write the XML), makes >= 1 000 documents/s;
- the export with the PDF embedded (render the PDF, then map, check, base64
  and write) runs at >= 0.8x the rate of rendering the PDF alone: embedding
  costs little next to the PDF it carries.

Also shown: ``app.invoices.ubl`` against ``app.invoices.pdf`` on the
in-memory store (load, authorize, render, export), as a host calls them.

The invoices are issued through the app (8 lines, two VAT rates, a KID, a
buyer reference) for 50 rotating customers with different names and
addresses. Each rate is the median of several repetitions of ``200 x scale``
documents (PDF paths: ``50 x scale``); the ways alternate so that they see
the same machine noise, and each is warmed up first (fonts, caches). The
ratio of the export with the PDF to the PDF alone is the median of one ratio
per repetition, its two sides timed one right after the other (which goes
first alternates).

Run ``python benchmarks/bench_ubl.py [scale]`` to print a table.
"""

from __future__ import annotations

import statistics
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from common import each, print_table, timed

import tenantbill as tb
from tenantbill.clock import FixedClock
from tenantbill.domain.einvoice import document_of
from tenantbill.memory import MemoryMailer, MemoryStore
from tenantbill.render.pdf import render_invoice
from tenantbill.render.ubl import ubl

DOCUMENTS = 200
PDF_DOCUMENTS = 50
REPETITIONS = 11
CUSTOMERS = 50

T = TypeVar("T")

_FIRST_NAMES = ["Åse", "Bjørn", "Kåre", "Mette", "Øystein", "Ingrid", "Håkon", "Sølvi", "Jørn", "Tove"]
_STREETS = ["Kirkeveien", "Storgata", "Bryggen", "Løkkeveien", "Åsveien", "Fjordgata", "Dronningens gate"]
_TOWNS = ["0368 Oslo", "5003 Bergen", "7011 Trondheim", "4006 Stavanger", "9008 Tromsø"]
_PRODUCTS = [
    "Webhotell Proff – blåbær.no",
    "E-post, 5 kontoer",
    "Ekstra lagring 50 GB",
    "SSL-sertifikat for nettbutikk",
    "Daglig sikkerhetskopi",
    "Domene blåbær.no (årlig)",
    "Support, timepris",
    "Overføring utover kvote",
]


def run(scale: int = 1) -> list[dict[str, object]]:
    """Measure the export rates on ``200 x scale`` documents (PDF paths: ``50 x scale``); return rows."""
    app, owner, invoices = _issued()
    count, pdf_count = DOCUMENTS * scale, PDF_DOCUMENTS * scale

    def export(invoice: tb.Invoice) -> bytes:
        return ubl(document_of(invoice))

    def export_with_pdf(invoice: tb.Invoice) -> bytes:
        return ubl(document_of(invoice, pdf=render_invoice(invoice)))

    def app_ubl(invoice: tb.Invoice) -> bytes:
        return app.invoices.ubl(owner, invoice.id)

    def app_pdf(invoice: tb.Invoice) -> bytes:
        return app.invoices.pdf(owner, invoice.id)

    for invoice in invoices:  # warm-up: fonts, caches
        export_with_pdf(invoice)
        app_ubl(invoice)

    bare: list[float] = []
    embedded: list[float] = []
    pdf_alone: list[float] = []
    via_app: list[float] = []
    pdf_via_app: list[float] = []
    for repetition in range(REPETITIONS):
        bare.append(timed(lambda: each(export, invoices, count)))
        # The two ways of the ratio run next to each other, in turn first: each
        # repetition gives one ratio, taken on the same few moments of the machine.
        pair = [
            (embedded, lambda: each(export_with_pdf, invoices, pdf_count)),
            (pdf_alone, lambda: each(render_invoice, invoices, pdf_count)),
        ]
        for times, work in pair if repetition % 2 == 0 else reversed(pair):
            times.append(timed(work))
        via_app.append(timed(lambda: each(app_ubl, invoices, pdf_count)))
        pdf_via_app.append(timed(lambda: each(app_pdf, invoices, pdf_count)))

    bare_rate = count / statistics.median(bare)
    embedded_rate = pdf_count / statistics.median(embedded)
    pdf_rate = pdf_count / statistics.median(pdf_alone)
    ratio = statistics.median(alone / both for both, alone in zip(embedded, pdf_alone, strict=True))
    app_rate = pdf_count / statistics.median(via_app)
    app_pdf_rate = pdf_count / statistics.median(pdf_via_app)
    size = len(export(invoices[0]))
    return [
        {
            "name": "ubl(document_of(invoice)), no PDF",
            "value": bare_rate,
            "unit": "documents/s",
            "target": ">= 1000",
        },
        {"name": "ubl with the PDF rendered and embedded", "value": embedded_rate, "unit": "documents/s"},
        {"name": "render_invoice alone", "value": pdf_rate, "unit": "invoices/s"},
        {
            "name": "ubl with PDF / render_invoice alone (median of the paired ratios)",
            "value": ratio,
            "unit": "×",
            "target": ">= 0.8",
        },
        {"name": "app.invoices.ubl (memory store)", "value": app_rate, "unit": "documents/s"},
        {"name": "app.invoices.pdf (memory store)", "value": app_pdf_rate, "unit": "invoices/s"},
        {"name": "app.invoices.ubl / app.invoices.pdf", "value": app_rate / app_pdf_rate, "unit": "×"},
        {"name": "UBL size without the PDF, 8 lines", "value": size, "unit": "bytes"},
    ]


def _issued() -> tuple[tb.Tenantbill, str, list[tb.Invoice]]:
    """An app on the memory store and one issued invoice per customer."""
    app = tb.Tenantbill(
        store=MemoryStore(), mailer=MemoryMailer(), clock=FixedClock(datetime(2026, 3, 1, 6, tzinfo=UTC))
    )
    owner, account = app.accounts.sign_up(
        name="Blåfjell Hosting AS",
        email="bench@example.com",
        org_number="974760673",
        bank_account="86011117947",
        address="Storgata 1\n0155 Oslo",
        vat_registered=True,
        kid="mod10",
    )
    lines = [
        tb.Line(
            description=product,
            quantity=Decimal(index % 3 + 1),
            unit_price=Decimal("149.00") + 25 * index,
            vat_rate=Decimal("0.25") if index % 4 else Decimal("0.15"),
        )
        for index, product in enumerate(_PRODUCTS)
    ]
    invoices = []
    for customer in range(CUSTOMERS):
        first = _FIRST_NAMES[customer % len(_FIRST_NAMES)]
        party = tb.Party(
            name=f"{first} Ærlig {customer} AS",
            address=f"{_STREETS[customer % len(_STREETS)]} {customer + 1}\n{_TOWNS[customer % len(_TOWNS)]}",
            org_number="923609016",
            reference=f"{first} {customer}",
        )
        draft = tb.InvoiceDraft(
            bill_to=party,
            lines=lines,
            customer=f"kunde-{customer}",
            note="Takk for at du er kunde hos oss. Spørsmål om fakturaen? Svar på e-posten.",
        )
        invoices.append(app.invoices.issue(owner.id, account.id, draft))
    return app, owner.id, invoices


if __name__ == "__main__":
    print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
