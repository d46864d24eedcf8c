"""Invoice and credit-note PDFs: A4, an embedded Unicode font, byte-identical, fast.

>>> pdf = render_invoice(invoice)                 # in the invoice's own locale
>>> pdf = render_invoice(invoice, locale="en")    # or another supported one

The layout is our own, on fixed column widths (no ``table()``): seller and
logo, title, buyer and invoice facts, the lines, VAT per rate and the totals,
then the payment details and the note. Lines that do not fit flow onto further
pages, each with the table header repeated, and every page is numbered "1/2".
Labels come from :mod:`tenantbill.render.labels`, numbers and dates from
:mod:`tenantbill.render.fmt`.

Two ways through fpdf2
----------------------
A month-end run renders thousands of invoices. fpdf2's ordinary way with a
TrueType font costs ~100 ms per document (``add_font()`` parses the file with
fontTools, ``output()`` subsets and re-saves it), and its ``cell()`` costs
~40 µs per text through its fragment machinery. So:

- this module uses fpdf2's public API only. Single lines of text go through
  ``text()``, with alignment, fitting and wrapping done here from metrics
  parsed once per process (:mod:`tenantbill.render._fonts`): a tenth of
  ``cell()``'s cost;
- the font work (a per-document font object sharing the parsed font, identity
  CIDs, subsets cached per set of characters) and the reuse of a parsed logo
  need fpdf2's internals; they live alone in
  :mod:`tenantbill.render._fpdf_fast`, which loads only under the fpdf2
  versions it was tested with. Under any other version, or with the
  environment variable ``TENANTBILL_PDF_FAST=0``, documents are made with
  ``add_font()`` and a plain ``output()`` instead: the same layout and text
  (but see missing glyphs below), about 5 invoices a second instead of 250.

User text
---------
Text is normalized to NFC; control and format characters are dropped (tabs
and line breaks become spaces), lone surrogates become U+FFFD, and every
field is wrapped, or shortened with "…", to its column, so no input can break
the PDF or run into another column. Amounts and identifiers are shrunk to fit
instead, never cut.

Missing glyphs: DejaVu Sans has no CJK. Rather than a fallback font (none is
shipped, and a CJK font weighs tens of megabytes), a character without a glyph
is drawn as the replacement character "�", so the gap is visible. On the fast
path the ToUnicode map keeps the real character: copying or searching the PDF
still finds "山田太郎" (on the public-API path the text layer has "�" too).
Characters beyond the Basic Multilingual Plane (emoji) cannot be identity CIDs
and become U+FFFD in the text layer on either path.

Determinism
-----------
The same invoice renders to the same bytes, in any process: the creation date
is the issue date, producer and object order are fixed, the subset tag is a
hash of the embedded runs (fpdf2's own tag is fixed too), and the trailer
``/ID`` is fpdf2's MD5 of the content.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from typing import Any, Final, Protocol

from fpdf import FPDF
from fpdf.image_datastructures import ImageCache
from fpdf.image_parsing import preload_image

from tenantbill.domain.identity import display_bank_account, display_org_number
from tenantbill.domain.invoices import Invoice, InvoiceLine, Seller
from tenantbill.domain.setup import LOGO_MAX_PIXELS, LOGO_MAX_SIDE, image_size
from tenantbill.errors import InvalidInput
from tenantbill.render._fonts import FAMILY, PLACEHOLDER, Face, Lru, face
from tenantbill.render.fmt import (
    format_amount,
    format_date,
    format_money,
    format_number,
    format_percent,
    locale_of,
)
from tenantbill.render.labels import Labels, labels_for

__all__ = ["render_invoice"]

_log = logging.getLogger(__name__)

# Page geometry, in millimetres from the top-left corner of an A4 page.
_PAGE_W: Final = 210.0
_PAGE_H: Final = 297.0
_LEFT: Final = 18.0
_RIGHT: Final = 192.0
_WIDTH: Final = _RIGHT - _LEFT
_TOP: Final = 15.0
_BOTTOM: Final = _PAGE_H - 23.0  # content stays above this line; the footer lives below it
_FOOTER_Y: Final = _PAGE_H - 17.0
_PT: Final = 25.4 / 72  # one point in millimetres

# The lines table: (x, width, alignment); text is inset by _PAD inside each column.
_DESCRIPTION: Final = (18.0, 86.0, "L")
_QUANTITY: Final = (104.0, 16.0, "R")
_UNIT_PRICE: Final = (120.0, 28.0, "R")
_VAT_RATE: Final = (148.0, 16.0, "R")
_AMOUNT: Final = (164.0, 28.0, "R")
_COLUMNS: Final = (_DESCRIPTION, _QUANTITY, _UNIT_PRICE, _VAT_RATE, _AMOUNT)
_PAD: Final = 1.5
_ROW_LINE: Final = 4.4  # height of one text line in a table row
_ROW_PAD: Final = 1.3  # space above and below the text of a row
_HEADER_H: Final = 7.0
_MAX_DESCRIPTION_LINES: Final = 4
_MAX_NOTE_LINES: Final = 12

_INK: Final = (25, 25, 25)
_MUTED: Final = (105, 105, 105)
_RULE: Final = (205, 205, 205)
_SHADE: Final = (241, 241, 241)
_UNSET: Final = (-1, -1, -1)

_ELLIPSIS: Final = "…"

_PNG: Final = b"\x89PNG\r\n\x1a\n"
_JPEG: Final = b"\xff\xd8\xff"
_LOGOS_KEPT: Final = 32

_PRODUCER: Final = "tenantbill"


def render_invoice(invoice: Invoice, *, locale: str | None = None) -> bytes:
    """The invoice (or credit note) as a PDF, in ``locale`` or else the invoice's own locale.

    Raises InvalidInput for a locale without a label catalogue.
    """
    if not isinstance(invoice, Invoice):
        raise InvalidInput(f"render_invoice needs a tenantbill Invoice, got {type(invoice).__name__}")
    chosen = invoice.locale if locale is None else locale
    labels = labels_for(chosen)
    return _InvoiceWriter(invoice, labels, _number_locale(chosen, labels)).render()


def _number_locale(locale: str, labels: Labels) -> str:
    """The locale to format numbers in: the one asked for if Babel knows it, else its language."""
    try:
        locale_of(locale)
    except InvalidInput:
        return labels.language
    return locale


# The two ways through fpdf2 -------------------------------------------------------------------


_FAST_SWITCH: Final = "TENANTBILL_PDF_FAST"


class _Backend(Protocol):
    """How a document gets its fonts, a parsed logo and its bytes: the fast path or the public API."""

    @property
    def name(self) -> str: ...

    @property
    def keeps_missing_glyphs(self) -> bool:
        """Whether a character without a glyph may be drawn as is (else: as the placeholder)."""
        ...

    def add_fonts(self, pdf: FPDF) -> None:
        """Give ``pdf`` the family's regular ("") and bold ("B") face."""

    def reuse_image(self, pdf: FPDF, name: str, info: Any, icc_profiles: dict[bytes, int]) -> None:
        """Offer ``pdf`` an image already parsed by ``preload_image()`` (or do nothing)."""

    def output(self, pdf: FPDF) -> bytes:
        """The finished document."""


class _PublicBackend:
    """fpdf2's public API only: ``add_font()`` per document and a plain ``output()``."""

    name: Final = "public"
    keeps_missing_glyphs: Final = False

    def add_fonts(self, pdf: FPDF) -> None:
        """Give ``pdf`` the family's regular ("") and bold ("B") face."""
        for style, shared in (("", face("")), ("B", face("B"))):
            pdf.add_font(FAMILY, style, shared.path)

    def reuse_image(self, pdf: FPDF, name: str, info: Any, icc_profiles: dict[bytes, int]) -> None:
        """Nothing: ``image()`` decodes the logo itself."""

    def output(self, pdf: FPDF) -> bytes:
        """The finished document."""
        return bytes(pdf.output())


_PUBLIC: Final = _PublicBackend()


def _choose_backend() -> _Backend:
    """The fast path if this fpdf2 is a version it was tested with and it is not switched off."""
    if os.environ.get(_FAST_SWITCH, "").strip().lower() in {"0", "false", "no", "off"}:
        return _PUBLIC
    try:
        from tenantbill.render._fpdf_fast import FAST
    except ImportError as error:  # its version guard, or internals it needs gone
        _log.warning("%s: rendering PDFs through fpdf2's public API (slower)", error)
        return _PUBLIC
    return FAST


_backend: _Backend = _choose_backend()


# User text -----------------------------------------------------------------------------------


class _CleanChars(dict[int, str]):
    """``str.translate`` table, filled on first sight of each character (bounded)."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        category = unicodedata.category(char)
        if category in ("Zl", "Zp") or char in "\t\n\v\f\r\x1c\x1d\x1e\x85":
            clean = " "
        elif category in ("Cc", "Cf"):
            clean = ""
        elif category == "Cs" or code > 0xFFFF:
            clean = chr(PLACEHOLDER)
        elif category == "Zs" and code not in face("").cmap:
            clean = " "
        else:
            clean = char
        if len(self) < 8192:
            self[code] = clean
        return clean


_CLEAN = _CleanChars()


def _clean(text: str) -> str:
    """One line of user text that is safe to draw (see the module docstring)."""
    if text.isascii() and text.isprintable():
        return text.strip()
    return unicodedata.normalize("NFC", text).translate(_CLEAN).strip()


def _lines(text: str) -> list[str]:
    """The non-empty lines of a multi-line field (an address, a note), each cleaned."""
    return [line for line in map(_clean, text.splitlines()) if line]


# Layout --------------------------------------------------------------------------------------


class _InvoiceWriter:
    """Draws one invoice onto a fresh fpdf2 document; positions in mm from the top-left."""

    def __init__(self, invoice: Invoice, labels: Labels, locale: str) -> None:
        self.invoice = invoice
        self.labels = labels
        self.locale = locale
        self.regular = face("")
        self.bold = face("B")
        self.title = labels.credit_note if invoice.is_credit_note else labels.invoice
        pdf = FPDF(unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(_LEFT, _TOP, _PAGE_W - _RIGHT)
        self.backend = _backend
        self.backend.add_fonts(pdf)
        self.pdf = pdf
        self._style: tuple[float, bool] = (0.0, False)
        self._color: tuple[int, int, int] = _UNSET

    def render(self) -> bytes:
        """The finished PDF."""
        invoice, pdf = self.invoice, self.pdf
        issued = datetime(
            invoice.issue_date.year, invoice.issue_date.month, invoice.issue_date.day, tzinfo=UTC
        )
        pdf.set_creation_date(issued)
        pdf.set_producer(_PRODUCER)
        pdf.set_creator(_PRODUCER)
        pdf.set_title(f"{self.title} {_clean(invoice.number)}")
        pdf.set_author(_clean(invoice.seller.name) or _PRODUCER)
        pdf.set_lang(self.labels.language)

        pdf.add_page()
        y = self._header()
        rows = [self._row(line) for line in invoice.lines]
        closing = self._closing()
        pages = _paginate(y + _HEADER_H, [height for height, _ in rows], closing.height)
        total_pages = pages[-1][0] if pages else 1
        self._footer(1, total_pages)
        self._table_header(y)
        y += _HEADER_H
        page = 1
        for (row_page, row_y), (height, cells) in zip(pages, rows, strict=False):
            if row_page != page:
                page = row_page
                y = self._new_page(page, total_pages)
                self._table_header(y)
            self._draw_row(row_y, height, cells)
            y = row_y + height
        closing_page, closing_y = pages[-1]
        if closing_page != page:
            y = self._new_page(closing_page, total_pages)
            closing_y = y
        closing.draw(self, closing_y)
        return self.backend.output(pdf)

    # Drawing primitives ----------------------------------------------------------------------

    def text(
        self,
        x: float,
        y: float,
        w: float,
        text: str,
        *,
        size: float = 9.0,
        bold: bool = False,
        align: str = "L",
        color: tuple[int, int, int] = _INK,
        h: float = 4.6,
    ) -> None:
        """One line of text in the box (x, y, w, h), shortened with … to fit its width."""
        face = self.bold if bold else self.regular
        text, width = _fit(face, text, w, size)
        self._draw(x, y, w, h, text, width, size, bold, align, color)

    def number(
        self,
        x: float,
        y: float,
        w: float,
        text: str,
        *,
        size: float = 9.0,
        bold: bool = False,
        color: tuple[int, int, int] = _INK,
        h: float = 4.6,
    ) -> None:
        """A number right-aligned in the box, in a smaller size if need be: digits are never cut."""
        face = self.bold if bold else self.regular
        width = face.width(text, size)
        if width > w:
            size, width = size * w / width, w
        self._draw(x, y, w, h, text, width, size, bold, "R", color)

    def rule(self, x1: float, y: float, x2: float, *, color: tuple[int, int, int] = _RULE) -> None:
        """A thin horizontal line."""
        self.pdf.set_draw_color(*color)
        self.pdf.line(x1, y, x2, y)

    def _draw(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        text: str,
        width: float,
        size: float,
        bold: bool,
        align: str,
        color: tuple[int, int, int],
    ) -> None:
        # fpdf2's text() is a tenth of the cost of cell(): the box logic (alignment,
        # baseline) is done here, with widths from the shared font metrics.
        if not text:
            return
        if not self.backend.keeps_missing_glyphs:
            text = (self.bold if bold else self.regular).drawable(text)
        if (size, bold) != self._style:
            self.pdf.set_font(FAMILY, "B" if bold else "", size)
            self._style = (size, bold)
        if color != self._color:
            # With fill and text colour equal, text() need not wrap each text in q … Q.
            self.pdf.set_text_color(*color)
            self.pdf.set_fill_color(*color)
            self._color = color
        if align == "R":
            x += w - width
        elif align == "C":
            x += (w - width) / 2
        self.pdf.text(x, y + h / 2 + 0.3 * size * _PT, text)

    def _shade(self, x: float, y: float, w: float, h: float) -> None:
        """A filled background rectangle."""
        self.pdf.set_fill_color(*_SHADE)
        self._color = _SHADE
        self.pdf.rect(x, y, w, h, style="F")

    # Page 1 header ---------------------------------------------------------------------------

    def _header(self) -> float:
        """Seller, logo, title, buyer and the invoice facts; returns where the table starts."""
        invoice, labels = self.invoice, self.labels
        seller = invoice.seller
        logo_bottom = self._logo(seller.logo) if seller.logo else _TOP
        seller_w = _WIDTH - 62 if seller.logo else _WIDTH * 0.62
        y = _TOP
        for line in _wrap(self.bold, _clean(seller.name), seller_w, 13.0, 2):
            self.text(_LEFT, y, seller_w, line, size=13.0, bold=True, h=6.0)
            y += 6.0
        y += 0.5
        for line in [*_lines(seller.address)[:5], *_seller_ids(seller, labels)]:
            self.text(_LEFT, y, seller_w, line, size=8.5, color=_MUTED, h=4.0)
            y += 4.0

        y = max(y, logo_bottom) + 7.0
        self.text(_LEFT, y, _WIDTH, self.title, size=20.0, bold=True, h=9.0)
        y += 9.0
        if invoice.is_credit_note and invoice.credits_number:
            credited = labels.credits_invoice.format(number=_clean(invoice.credits_number))
            self.text(_LEFT, y, _WIDTH, credited, size=10.0, h=5.5)
            y += 5.5
        y += 5.0
        return max(self._buyer(y), self._facts(y)) + 8.0

    def _logo(self, logo: bytes) -> float:
        """Draw the seller's logo top-right within 55 × 22 mm; returns its bottom edge."""
        placed = _logo_info(logo)
        if placed is None:
            return _TOP
        name, info, icc_profiles = placed
        self.backend.reuse_image(self.pdf, name, info, icc_profiles)
        pixels_w, pixels_h = float(info["w"]), float(info["h"])
        scale = min(55.0 / pixels_w, 22.0 / pixels_h)
        w, h = pixels_w * scale, pixels_h * scale
        self.pdf.image(BytesIO(logo), x=_RIGHT - w, y=_TOP, w=w, h=h)
        return _TOP + h

    def _buyer(self, y: float) -> float:
        buyer, labels = self.invoice.bill_to, self.labels
        width = 78.0
        self.text(_LEFT, y, width, labels.bill_to, size=8.0, color=_MUTED, h=4.2)
        y += 4.6
        for line in _wrap(self.bold, _clean(buyer.name), width, 10.0, 2):
            self.text(_LEFT, y, width, line, size=10.0, bold=True, h=5.0)
            y += 5.0
        lines = _lines(buyer.address)[:5]
        if buyer.org_number:
            lines.append(f"{labels.org_number} {_org_number(buyer.org_number)}")
        for line in lines:
            self.text(_LEFT, y, width, line, size=9.0, h=4.4)
            y += 4.4
        return y

    def _facts(self, y: float) -> float:
        """The invoice's number, dates, cycle, period and bank account, as label-value rows."""
        invoice, labels, locale = self.invoice, self.labels, self.locale
        number_label = labels.credit_note_number if invoice.is_credit_note else labels.invoice_number
        rows = [
            (number_label, _clean(invoice.number)),
            (
                labels.credit_date if invoice.is_credit_note else labels.issue_date,
                format_date(invoice.issue_date, locale),
            ),
        ]
        if not invoice.is_credit_note:
            rows.append((labels.due_date, format_date(invoice.due_date, locale)))
        if invoice.cycle is not None:
            rows.append((labels.cycle, labels.cycle_name(invoice.cycle.name, invoice.cycle.months)))
        if invoice.period is not None:
            rows.append((labels.period, _period(invoice.period.start, invoice.period.last_day, locale)))
        account = invoice.seller.bank_account
        if account:
            is_iban = _is_iban(account)
            rows.append((labels.iban if is_iban else labels.bank_account, _bank_account(account)))
        x, label_w = 100.0, 34.0
        for label, value in rows:
            self.text(x, y, label_w, label, size=8.5, color=_MUTED, h=5.0)
            # A value is shrunk rather than cut: a shortened IBAN or number is useless.
            self.number(x + label_w, y, _RIGHT - x - label_w, value, h=5.0)
            y += 5.0
        return y

    # The lines table -------------------------------------------------------------------------

    def _table_header(self, y: float) -> None:
        labels = self.labels
        self._shade(_LEFT, y, _WIDTH, _HEADER_H)
        titles = (labels.description, labels.quantity, labels.unit_price, labels.vat_rate, labels.amount)
        for (x, w, align), title in zip(_COLUMNS, titles, strict=True):
            self.text(x + _PAD, y, w - 2 * _PAD, title, size=8.0, bold=True, align=align, h=_HEADER_H)

    def _row(self, line: InvoiceLine) -> tuple[float, tuple[list[str], str, str, str, str]]:
        """A table row's height and its texts: description lines, quantity, price, VAT, amount."""
        locale, currency = self.locale, self.invoice.currency
        description = _wrap(
            self.regular,
            _clean(line.description),
            _DESCRIPTION[1] - 2 * _PAD,
            9.0,
            _MAX_DESCRIPTION_LINES,
        )
        cells = (
            description,
            format_number(line.quantity, locale),
            format_amount(line.unit_price, currency, locale),
            _percent(line.vat_rate, locale),
            format_amount(line.amount, currency, locale),
        )
        return len(description) * _ROW_LINE + 2 * _ROW_PAD, cells

    def _draw_row(self, y: float, height: float, cells: tuple[list[str], str, str, str, str]) -> None:
        description, *numbers = cells
        x, w, _ = _DESCRIPTION
        line_y = y + _ROW_PAD
        for text in description:
            self.text(x + _PAD, line_y, w - 2 * _PAD, text, h=_ROW_LINE)
            line_y += _ROW_LINE
        for (x, w, _), text in zip(_COLUMNS[1:], numbers, strict=True):
            self.number(x + _PAD, y + _ROW_PAD, w - 2 * _PAD, text, h=_ROW_LINE)
        self.rule(_LEFT, y + height, _RIGHT)

    # Totals, payment, note -------------------------------------------------------------------

    def _closing(self) -> _Closing:
        invoice, labels, locale = self.invoice, self.labels, self.locale
        currency = invoice.currency

        def amount(value: Decimal) -> str:
            return format_amount(value, currency, locale)

        totals: list[tuple[str, str, bool]] = [(labels.net_total, amount(invoice.net_total), False)]
        if invoice.vat_total or any(group.rate for group in invoice.vat):
            for group in invoice.vat:
                label = labels.vat_line.format(rate=_percent(group.rate, locale), base=amount(group.base))
                totals.append((label, amount(group.vat), False))
            totals.append((labels.vat_total, amount(invoice.vat_total), False))
        total_label = labels.credit_total if invoice.is_credit_note else labels.total
        totals.append((total_label, amount(invoice.total), True))
        if invoice.balance_applied or not invoice.is_credit_note:
            applied = -invoice.balance_applied if invoice.balance_applied else invoice.balance_applied
            totals.append((labels.balance_applied, amount(applied), False))
        if invoice.is_credit_note:
            due = (labels.amount_credited, format_money(abs(invoice.amount_due), currency, locale))
        else:
            due = (labels.amount_due, format_money(invoice.amount_due, currency, locale))

        payment: list[str] = []
        account = invoice.seller.bank_account
        if account and not invoice.is_credit_note and _is_positive(invoice.amount_due):
            text = labels.payment.format(
                account=_bank_account(account),
                due=format_date(invoice.due_date, locale),
                number=_clean(invoice.number),
            )
            payment = _wrap(self.regular, text, _WIDTH, 9.0, 3)
        note: list[str] = []
        for paragraph in _lines(invoice.note):
            note.extend(_wrap(self.regular, paragraph, _WIDTH, 9.0, _MAX_NOTE_LINES))
        if len(note) > _MAX_NOTE_LINES:
            note = note[:_MAX_NOTE_LINES]
            note[-1] = _fit(self.regular, note[-1] + " " + _ELLIPSIS, _WIDTH, 9.0)[0]
        return _Closing(totals, due, payment, note)

    # Pages -----------------------------------------------------------------------------------

    def _new_page(self, page: int, pages: int) -> float:
        """Start page ``page`` with its running title and footer; returns where content starts."""
        self.pdf.add_page()
        self._style = (0.0, False)
        self._color = _UNSET
        title = self.labels.continued.format(title=self.title, number=_clean(self.invoice.number))
        self.text(_LEFT, _TOP, _WIDTH, title, size=10.0, bold=True, h=5.5)
        self._footer(page, pages)
        return _TOP + 10.0

    def _footer(self, page: int, pages: int) -> None:
        invoice = self.invoice
        parts = [_clean(invoice.seller.name), *_seller_ids(invoice.seller, self.labels)[:1]]
        if invoice.seller.bank_account:
            parts.append(_bank_account(invoice.seller.bank_account))
        self.rule(_LEFT, _FOOTER_Y - 1.5, _RIGHT)
        self.text(_LEFT, _FOOTER_Y, _WIDTH - 30, " · ".join(parts), size=7.5, color=_MUTED, h=4.0)
        label = self.labels.page.format(page=page, pages=pages)
        self.text(_RIGHT - 30, _FOOTER_Y, 30, label, size=7.5, color=_MUTED, align="R", h=4.0)


class _Closing:
    """The block after the lines: totals, amount to pay, payment details and the note."""

    _TOTAL_ROW = 5.0
    _DUE_ROW = 7.5

    def __init__(
        self,
        totals: list[tuple[str, str, bool]],
        due: tuple[str, str],
        payment: list[str],
        note: list[str],
    ) -> None:
        self.totals = totals
        self.due = due
        self.payment = payment
        self.note = note
        height = 3.0 + len(totals) * self._TOTAL_ROW + 1.5 + self._DUE_ROW
        if payment:
            height += 5.0 + len(payment) * 4.6
        if note:
            height += 5.0 + 5.0 + len(note) * 4.6
        self.height = height

    def draw(self, writer: _InvoiceWriter, y: float) -> None:
        """Draw the block with its top at ``y``."""
        label_x, label_w = 96.0, 66.0
        value_x, value_w = 162.0, _RIGHT - 162.0 - _PAD
        y += 3.0
        for label, value, strong in self.totals:
            writer.text(label_x, y, label_w, label, bold=strong, align="R", h=self._TOTAL_ROW)
            writer.number(value_x, y, value_w, value, bold=strong, h=self._TOTAL_ROW)
            y += self._TOTAL_ROW
        y += 1.0
        writer.rule(label_x + 20, y, _RIGHT, color=_INK)
        y += 0.5
        label, value = self.due
        due_x = value_x - 14.0
        writer.text(
            label_x, y, due_x - 3.0 - label_x, label, size=11.0, bold=True, align="R", h=self._DUE_ROW
        )
        writer.number(due_x, y, _RIGHT - _PAD - due_x, value, size=11.0, bold=True, h=self._DUE_ROW)
        y += self._DUE_ROW
        if self.payment:
            y += 5.0
            for line in self.payment:
                writer.text(_LEFT, y, _WIDTH, line, h=4.6)
                y += 4.6
        if self.note:
            y += 5.0
            writer.text(_LEFT, y, _WIDTH, writer.labels.note, size=8.5, bold=True, h=5.0)
            y += 5.0
            for line in self.note:
                writer.text(_LEFT, y, _WIDTH, line, h=4.6)
                y += 4.6


def _paginate(top: float, heights: Sequence[float], closing: float) -> list[tuple[int, float]]:
    """Where each row goes, then where the closing block goes: (page, y) pairs.

    Rows never split; a row that does not fit starts a new page under the
    running title and a repeated table header. The closing block moves to a
    page of its own when it does not fit under the last row.
    """
    placed: list[tuple[int, float]] = []
    page, y = 1, top
    next_top = _TOP + 10.0 + _HEADER_H
    for height in heights:
        if y + height > _BOTTOM and y > next_top:
            page, y = page + 1, next_top
        placed.append((page, y))
        y += height
    if y + closing > _BOTTOM:
        page, y = page + 1, _TOP + 10.0
    placed.append((page, y))
    return placed


# Text fitting --------------------------------------------------------------------------------


def _fit(face: Face, text: str, width: float, size: float) -> tuple[str, float]:
    """``text`` and its width if it fits in ``width`` mm, else its longest prefix that fits + …"""
    used = face.width(text, size)
    if used <= width:
        return text, used
    scale = size * _PT / 1000
    limit = width / scale - face.widths[ord(_ELLIPSIS)]
    total = 0.0
    for index, char in enumerate(text):
        total += face.widths[ord(char)]
        if total > limit:
            shortened = text[:index].rstrip() + _ELLIPSIS
            return shortened, face.width(shortened, size)
    return text, used


def _wrap(face: Face, text: str, width: float, size: float, max_lines: int) -> list[str]:
    """``text`` broken into lines of at most ``width`` mm (words longer than that are split).

    At most ``max_lines`` lines; the last one ends with … when text was left out.
    """
    if face.width(text, size) <= width:
        return [text]
    words = list(_split_long(face, text.split(" "), width, size))
    space = face.width(" ", size)
    lines: list[str] = []
    current, used = "", 0.0
    for index, word in enumerate(words):
        word_width = face.width(word, size)
        if not current:
            current, used = word, word_width
            continue
        if used + space + word_width <= width:
            current, used = f"{current} {word}", used + space + word_width
            continue
        if len(lines) == max_lines - 1:
            return [*lines, _fit(face, " ".join([current, *words[index:]]), width, size)[0]]
        lines.append(current)
        current, used = word, word_width
    return [*lines, current]


def _split_long(face: Face, words: Iterable[str], width: float, size: float) -> Iterator[str]:
    """The words, with any word wider than ``width`` split into pieces that fit."""
    limit = width * 1000 / (size * _PT)
    for word in words:
        if not word:
            continue
        if face.width(word, size) <= width:
            yield word
            continue
        piece, used = "", 0.0
        for char in word:
            char_width = face.widths[ord(char)]
            if used + char_width > limit and piece:
                yield piece
                piece, used = "", 0.0
            piece += char
            used += char_width
        if piece:
            yield piece


# Numbers printed the way people read them ----------------------------------------------------


def _is_positive(value: Decimal) -> bool:
    """``value > 0``, false for NaN (which a comparison would raise on) instead of an error."""
    return not value.is_nan() and value > 0


@lru_cache(maxsize=256)
def _percent(rate: Decimal, locale: str) -> str:
    """A VAT rate as the locale writes percentages (the few rates in use repeat on every line)."""
    return format_percent(rate, locale)


def _period(start: date, last_day: date, locale: str) -> str:
    first, last = format_date(start, locale), format_date(last_day, locale)
    # An en dash joins numeric dates; dates written with spaces read better with spaced dash.
    return f"{first} – {last}" if " " in first else f"{first}–{last}"


def _digits(value: str) -> str:
    return "".join(char for char in value if char.isalnum()).upper()


@functools.lru_cache(maxsize=1024)
def _org_number(value: str) -> str:
    """An org number as people write it ("974 760 673", "556036-0793"), by python-stdnum's format."""
    return _clean(display_org_number(value))


def _is_iban(value: str) -> bool:
    digits = _digits(value)
    return len(digits) > 4 and digits[:2].isalpha() and digits[2:4].isdigit()


@functools.lru_cache(maxsize=1024)
def _bank_account(value: str) -> str:
    """A Norwegian account as "8601.11.17947", an IBAN in groups of four, by python-stdnum's format."""
    return _clean(display_bank_account(value))


def _seller_ids(seller: Seller, labels: Labels) -> list[str]:
    """The seller's legal identification lines: org number (with MVA), register, VAT number."""
    if not seller.org_number:
        return []
    digits = _digits(seller.org_number)
    formatted = _org_number(seller.org_number)
    if len(digits) == 9 and digits.isdigit():
        # Norway: "MVA" after the org number marks a VAT-registered seller, and a
        # company names the register of business enterprises.
        mva = " MVA" if seller.vat_registered else ""
        return [f"{labels.org_number} {formatted}{mva}", "Foretaksregisteret"]
    lines = [f"{labels.org_number} {formatted}"]
    if seller.vat_registered and len(digits) == 10 and digits.isdigit():
        lines.append(f"{labels.vat_number} SE{digits}01")
    return lines


# Logos ---------------------------------------------------------------------------------------


_Logo = tuple[str, Any, dict[bytes, int]]
_LOGOS: Final[Lru[str, _Logo | bool]] = Lru(_LOGOS_KEPT)


def _logo_info(logo: bytes) -> _Logo | None:
    """fpdf2's parsed image for ``logo`` (PNG or JPEG only), parsed once per distinct logo.

    The size is read from the header first: a logo whose header gives no size,
    or more pixels than a new logo may have, is left out without decoding it
    (a 9000 × 9000 image would cost close to a gigabyte to decode).
    """
    if not isinstance(logo, bytes | bytearray) or not bytes(logo[:8]).startswith((_PNG, _JPEG)):
        return None
    key = hashlib.sha256(logo).hexdigest()
    parsed = _LOGOS.get(key)
    if parsed is None and not _decodable(bytes(logo)):
        parsed = False
        _LOGOS.put(key, parsed)
    if parsed is None:
        try:
            cache = ImageCache()
            name, _, info = preload_image(cache, BytesIO(logo))
            parsed = (name, info, dict(cache.icc_profiles))
        except Exception:  # a broken logo must not stop the invoice
            _log.warning("the seller's logo could not be read as PNG or JPEG; rendering without it")
            parsed = False
        _LOGOS.put(key, parsed)
    return parsed if isinstance(parsed, tuple) else None


def _decodable(logo: bytes) -> bool:
    """Whether the logo's header gives a size within the limits for logos (checked without decoding)."""
    size = image_size(logo)
    if size is None:
        _log.warning("the seller's logo has no readable PNG or JPEG header; rendering without it")
        return False
    width, height = size
    if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE or width * height > LOGO_MAX_PIXELS:
        _log.warning(
            "the seller's logo is %d×%d pixels, too large to decode; rendering without it", width, height
        )
        return False
    return True
