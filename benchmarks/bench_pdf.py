"""Invoice PDFs: ``render_invoice`` against two ways of using fpdf2 directly.

Targets (docs PERFORMANCE.md), measured side by side in the same run:

- ``render_invoice`` makes invoices at >= 30x the rate of the naive fpdf2 way
  with a Unicode font: a new ``FPDF``, ``add_font()`` of the shipped DejaVu
  Sans (regular and bold), the lines drawn with ``pdf.table()``;
- and at >= 0.6x the rate of a bare page in built-in Helvetica (Latin-1 only,
  nothing embedded) made of plain ``cell()`` calls, no table, no layout.

All three print the same content: a one-page Norwegian invoice with 8 lines,
æøå in names and descriptions, two VAT rates, a balance applied and a note.
The invoices rotate through 50 customers with different names and addresses,
as in a month-end run, so the font cache sees varied text, not one document
over and over. ``render_invoice`` formats its own numbers and dates; the two
references get the finished strings, computed before the clock starts, which
only makes them look faster.

Each rate is the median of several repetitions of ``200 x scale`` documents
(``10 x scale`` for the naive way, which is slow); the three alternate so that
they see the same machine noise. The first render in a process parses the font
files (about 150 ms), so every way is warmed up first.

Run ``python benchmarks/bench_pdf.py [scale]`` to print a table.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from common import each, print_table, timed
from fpdf import FPDF

import tenantbill.render
from tenantbill.domain.billing import BillingCycle, Period
from tenantbill.domain.invoices import Invoice, InvoiceKind, InvoiceLine, Party, Seller, VatGroup
from tenantbill.render import fmt
from tenantbill.render.labels import labels_for
from tenantbill.render.pdf import render_invoice

DOCUMENTS = 200
NAIVE_DOCUMENTS = 10
REPETITIONS = 5
CUSTOMERS = 50

T = TypeVar("T")

FONTS = Path(tenantbill.render.__file__).resolve().parent / "fonts"

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
    """Measure the three rates on ``200 x scale`` documents (naive: ``10 x scale``); return rows."""
    invoices = [sample_invoice(customer) for customer in range(CUSTOMERS)]
    contents = [Content.of(invoice) for invoice in invoices]
    count, naive_count = DOCUMENTS * scale, NAIVE_DOCUMENTS * scale

    for invoice, content in zip(invoices, contents, strict=True):  # warm-up: fonts, caches
        render_invoice(invoice)
        helvetica_page(content)
    naive_table_page(contents[0])

    ours: list[float] = []
    bare: list[float] = []
    naive: list[float] = []
    for _ in range(REPETITIONS):
        ours.append(timed(lambda: each(render_invoice, invoices, count)))
        bare.append(timed(lambda: each(helvetica_page, contents, count)))
        naive.append(timed(lambda: each(naive_table_page, contents, naive_count)))

    ours_rate = count / statistics.median(ours)
    bare_rate = count / statistics.median(bare)
    naive_rate = naive_count / statistics.median(naive)
    return [
        {"name": "render_invoice (DejaVu, full layout)", "value": ours_rate, "unit": "invoices/s"},
        {"name": "naive: add_font() + table()", "value": naive_rate, "unit": "invoices/s"},
        {"name": "bare: Helvetica cell() page", "value": bare_rate, "unit": "invoices/s"},
        {
            "name": "render_invoice / naive",
            "value": ours_rate / naive_rate,
            "unit": "×",
            "target": ">= 30",
        },
        {
            "name": "render_invoice / bare Helvetica",
            "value": ours_rate / bare_rate,
            "unit": "×",
            "target": ">= 0.6",
        },
    ]


def sample_invoice(customer: int = 0) -> Invoice:
    """A one-page, 8-line Norwegian invoice for one of the rotating customers."""
    lines = tuple(
        InvoiceLine(
            description=product,
            quantity=Decimal(index % 3 + 1),
            unit_price=Decimal("149.00") + 25 * index,
            vat_rate=Decimal("0.25") if index % 4 else Decimal("0.15"),
            amount=(index % 3 + 1) * (Decimal("149.00") + 25 * index),
        )
        for index, product in enumerate(_PRODUCTS)
    )
    bases: dict[Decimal, Decimal] = {}
    for line in lines:
        bases[line.vat_rate] = bases.get(line.vat_rate, Decimal(0)) + line.amount
    vat = tuple(
        VatGroup(rate=rate, base=base, vat=(base * rate).quantize(Decimal("0.01")))
        for rate, base in sorted(bases.items())
    )
    net = sum((line.amount for line in lines), Decimal(0))
    vat_total = sum((group.vat for group in vat), Decimal(0))
    balance = Decimal("100.00")
    first = _FIRST_NAMES[customer % len(_FIRST_NAMES)]
    return Invoice(
        id=f"inv-{customer}",
        account_id="platform",
        sequence=1001 + customer,
        number=str(1001 + customer),
        kind=InvoiceKind.INVOICE,
        issued_at=datetime(2026, 3, 1, 6, tzinfo=UTC),
        issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 15),
        seller=Seller(
            name="Blåfjell Hosting AS",
            address="Storgata 1\n0155 Oslo",
            org_number="974760673",
            bank_account="86011117947",
            vat_registered=True,
        ),
        bill_to=Party(
            name=f"{first} Ærlig {customer} AS",
            address=f"{_STREETS[customer % len(_STREETS)]} {customer + 1}\n{_TOWNS[customer % len(_TOWNS)]}",
            org_number="923609016",
        ),
        currency="NOK",
        locale="nb",
        lines=lines,
        vat=vat,
        net_total=net,
        vat_total=vat_total,
        total=net + vat_total,
        balance_applied=balance,
        amount_due=net + vat_total - balance,
        period=Period(date(2026, 3, 1), date(2026, 4, 1)),
        cycle=BillingCycle.MONTHLY,
        note="Takk for at du er kunde hos oss. Spørsmål om fakturaen? Svar på e-posten.",
    )


@dataclass(frozen=True)
class Content:
    """The finished strings of an invoice, for the two reference ways of drawing it."""

    seller: list[str]
    title: str
    buyer: list[str]
    facts: list[tuple[str, str]]
    header: list[str]
    rows: list[list[str]]
    totals: list[tuple[str, str]]
    after: list[str]

    @classmethod
    def of(cls, invoice: Invoice) -> Content:
        """Everything ``render_invoice`` prints for ``invoice``, formatted the same way."""
        labels, locale, currency = labels_for(invoice.locale), invoice.locale, invoice.currency

        def amount(value: Decimal) -> str:
            return fmt.format_amount(value, currency, locale)

        seller, buyer = invoice.seller, invoice.bill_to
        assert invoice.period is not None
        assert invoice.cycle is not None
        period = invoice.period
        totals = [(labels.net_total, amount(invoice.net_total))]
        for group in invoice.vat:
            rate = fmt.format_percent(group.rate, locale)
            totals.append((labels.vat_line.format(rate=rate, base=amount(group.base)), amount(group.vat)))
        totals += [
            (labels.vat_total, amount(invoice.vat_total)),
            (labels.total, amount(invoice.total)),
            (labels.balance_applied, amount(-invoice.balance_applied)),
            (labels.amount_due, fmt.format_money(invoice.amount_due, currency, locale)),
        ]
        return cls(
            seller=[
                seller.name,
                *seller.address.splitlines(),
                "Org.nr. 974 760 673 MVA",
                "Foretaksregisteret",
            ],
            title=labels.invoice,
            buyer=[labels.bill_to, buyer.name, *buyer.address.splitlines(), "Org.nr. 923 609 016"],
            facts=[
                (labels.invoice_number, invoice.number),
                (labels.issue_date, fmt.format_date(invoice.issue_date, locale)),
                (labels.due_date, fmt.format_date(invoice.due_date, locale)),
                (labels.cycle, labels.cycle_name(invoice.cycle.name, invoice.cycle.months)),
                (
                    labels.period,
                    f"{fmt.format_date(period.start, locale)}–{fmt.format_date(period.last_day, locale)}",
                ),
                (labels.bank_account, "8601.11.17947"),
            ],
            header=[labels.description, labels.quantity, labels.unit_price, labels.vat_rate, labels.amount],
            rows=[
                [
                    line.description,
                    fmt.format_number(line.quantity, locale),
                    amount(line.unit_price),
                    fmt.format_percent(line.vat_rate, locale),
                    amount(line.amount),
                ]
                for line in invoice.lines
            ],
            totals=totals,
            after=[
                # the payment block: its heading, three labels, three values and how to pay
                labels.payment_details,
                labels.bank_account,
                labels.due_date,
                labels.amount_due,
                "8601.11.17947",
                fmt.format_date(invoice.due_date, locale),
                fmt.format_money(invoice.amount_due, currency, locale),
                labels.pay_with_number.format(number=invoice.number),
                labels.note,
                invoice.note,
                "Blåfjell Hosting AS · Org.nr. 974 760 673 MVA · 8601.11.17947",
                labels.page.format(page=1, pages=1),
            ],
        )


_WIDTHS = (86, 16, 28, 16, 28)


def helvetica_page(content: Content) -> bytes:
    """The bare reference: built-in Helvetica, one plain ``cell()`` per text, no layout logic."""
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_page()
    pdf.set_font("helvetica", size=9)

    def cell(w: float, text: str, *, new_line: bool = True) -> None:
        latin1 = text.encode("latin-1", "replace").decode("latin-1")
        if new_line:
            pdf.cell(w, 4.6, latin1, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.cell(w, 4.6, latin1)

    for text in [*content.seller, content.title, *content.buyer]:
        cell(0, text)
    for label, value in content.facts:
        cell(40, label, new_line=False)
        cell(50, value)
    for row in [content.header, *content.rows]:
        for width, text in zip(_WIDTHS, row, strict=True):
            cell(width, text, new_line=False)
        pdf.ln()
    for label, value in content.totals:
        cell(140, label, new_line=False)
        cell(34, value)
    for text in content.after:
        cell(0, text)
    return bytes(pdf.output())


def naive_table_page(content: Content) -> bytes:
    """The naive reference: ``add_font()`` of DejaVu Sans for each document, lines via ``table()``."""
    pdf = FPDF(unit="mm", format="A4")
    pdf.add_font("dejavu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("dejavu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("dejavu", "B", 13)
    pdf.cell(0, 6, content.seller[0], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", "", 9)
    for text in [*content.seller[1:], content.title, *content.buyer]:
        pdf.cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
    with pdf.table(col_widths=(40, 50), first_row_as_headings=False) as table:
        for label, value in content.facts:
            table.row([label, value])
    with pdf.table(col_widths=_WIDTHS) as table:
        for row in [content.header, *content.rows]:
            table.row(row)
    with pdf.table(col_widths=(140, 34), first_row_as_headings=False) as table:
        for label, value in content.totals:
            table.row([label, value])
    for text in content.after:
        pdf.cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


if __name__ == "__main__":
    print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
