"""Invoice and credit-note PDFs: A4, an embedded Unicode font, byte-identical, fast.

>>> pdf = render_invoice(invoice)                 # in the invoice's own locale
>>> pdf = render_invoice(invoice, locale="en")    # or another supported one
>>> pdf = render_reminder(invoice, reminder, interest_rate=account.late_interest_rate)

The layout is our own, on fixed column widths (no ``table()``): seller and
logo, title, buyer and invoice facts, the lines, VAT per rate and the totals,
then the payment block (bank account, KID, due date, amount to pay) and the
note. Lines that do not fit flow onto further pages, each with the table
header repeated, and every page is numbered "1/2". A payment reminder
(:func:`render_reminder`) has the same header, buyer and payment blocks, with
a short account of the invoice in place of its lines. Labels come from
:mod:`tenantbill.render.labels`, numbers and dates from
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
is the issue date (a reminder's: the day it is sent), producer and object order are fixed, the subset tag is a
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
from typing import Any, ClassVar, Final, Protocol

import attrs
from fpdf import FPDF
from fpdf.drawing import DeviceRGB  # type: ignore[attr-defined]  # fpdf2 2.8 imports it there from drawing_primitives
from fpdf.image_datastructures import ImageCache
from fpdf.image_parsing import preload_image

from tenantbill.domain.identity import display_bank_account, display_org_number, giro_name
from tenantbill.domain.invoices import Invoice, InvoiceLine, Seller
from tenantbill.domain.payments import Reminder, reminder_due_date
from tenantbill.domain.setup import LOGO_MAX_PIXELS, LOGO_MAX_SIDE, check_interest_rate, image_size
from tenantbill.errors import InvalidInput
from tenantbill.render._fonts import FAMILY, PLACEHOLDER, Face, Lru, face
from tenantbill.render.fmt import (
    format_amount,
    format_date,
    format_money,
    format_number,
    format_percent,
    format_period,
    locale_of,
)
from tenantbill.render.labels import Labels, labels_for

__all__ = ["render_invoice", "render_reminder"]

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


def render_reminder(
    invoice: Invoice,
    reminder: Reminder,
    *,
    locale: str | None = None,
    interest_rate: Decimal | None = None,
) -> bytes:
    """The payment reminder (purring) ``reminder`` of ``invoice`` as a PDF, in ``locale`` or the invoice's.

    One page with the invoice's seller and buyer blocks, the reminder's date
    and number, the invoice's number, date and due date, what the invoice
    came to, what was paid and credited, the reminder fees (earlier ones not
    yet paid and this one) and what is due now, then the payment block with
    the new due date (:func:`~tenantbill.domain.payments.reminder_due_date`).
    ``interest_rate`` is the account's yearly late-payment interest as a
    fraction (``Decimal("0.1275")``): when given, a sentence says that
    interest at that rate may be charged (it is shown, never computed).

    Raises InvalidInput for a credit note, a reminder of another invoice, an
    interest rate that is not a fraction from 0 to 1, and a locale without a
    label catalogue.
    """
    if not isinstance(invoice, Invoice):
        raise InvalidInput(f"render_reminder needs a tenantbill Invoice, got {type(invoice).__name__}")
    if not isinstance(reminder, Reminder):
        raise InvalidInput(f"render_reminder needs a tenantbill Reminder, got {type(reminder).__name__}")
    if invoice.is_credit_note:
        raise InvalidInput(f"{invoice.number} is a credit note: credit notes are never reminded")
    if reminder.invoice_id != invoice.id:
        raise InvalidInput(
            f"the reminder is of invoice id {reminder.invoice_id!r}, not of {invoice.id!r} ({invoice.number})"
        )
    rate = check_interest_rate(interest_rate)
    chosen = invoice.locale if locale is None else locale
    labels = labels_for(chosen)
    writer = _ReminderWriter(invoice, reminder, labels, _number_locale(chosen, labels), rate)
    return writer.render()


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
        self.subtitle = (
            labels.credits_invoice.format(number=_clean(invoice.credits_number))
            if invoice.is_credit_note and invoice.credits_number
            else ""
        )
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
        self._begin(invoice.issue_date)
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

    def _begin(self, dated: date) -> None:
        """Set the document's metadata (dated ``dated``, for reproducible bytes) and add page 1."""
        pdf = self.pdf
        pdf.set_creation_date(datetime(dated.year, dated.month, dated.day, tzinfo=UTC))
        pdf.set_producer(_PRODUCER)
        pdf.set_creator(_PRODUCER)
        pdf.set_title(f"{self.title} {_clean(self.invoice.number)}")
        pdf.set_author(_clean(self.invoice.seller.name) or _PRODUCER)
        pdf.set_lang(self.labels.language)
        pdf.add_page()

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
        align: str = "R",
    ) -> None:
        """A number aligned in the box (right by default), smaller if need be: digits are never cut."""
        face = self.bold if bold else self.regular
        width = face.width(text, size)
        if width > w:
            size, width = size * w / width, w
        self._draw(x, y, w, h, text, width, size, bold, align, color)

    def rule(self, x1: float, y: float, x2: float, *, color: tuple[int, int, int] = _RULE) -> None:
        """A thin horizontal line."""
        self.pdf.set_draw_color(_device(color))
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
            device = _device(color)
            self.pdf.set_text_color(device)
            self.pdf.set_fill_color(device)
            self._color = color
        if align == "R":
            x += w - width
        elif align == "C":
            x += (w - width) / 2
        self.pdf.text(x, y + h / 2 + 0.3 * size * _PT, text)

    def _shade(self, x: float, y: float, w: float, h: float) -> None:
        """A filled background rectangle."""
        self.pdf.set_fill_color(_device(_SHADE))
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
        if self.subtitle:
            self.text(_LEFT, y, _WIDTH, self.subtitle, size=10.0, h=5.5)
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
        if buyer.reference:
            lines.append(f"{labels.your_reference}: {_clean(buyer.reference)}")
        for line in lines:
            self.text(_LEFT, y, width, line, size=9.0, h=4.4)
            y += 4.4
        return y

    def _facts(self, y: float) -> float:
        """The document's facts as label-value rows (:meth:`_fact_rows`); returns where they end."""
        x, label_w = 100.0, 34.0
        for label, value in self._fact_rows():
            self.text(x, y, label_w, label, size=8.5, color=_MUTED, h=5.0)
            # A value is shrunk rather than cut: a shortened IBAN or number is useless.
            self.number(x + label_w, y, _RIGHT - x - label_w, value, h=5.0)
            y += 5.0
        return y

    def _fact_rows(self) -> list[tuple[str, str]]:
        """The invoice's number, dates, cycle, period and bank account."""
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
            rows.append((labels.period, format_period(invoice.period.start, invoice.period.last_day, locale)))
        account = invoice.seller.bank_account
        if account:
            rows.append((self._account_label(account), _bank_account(account)))
        return rows

    def _account_label(self, account: str) -> str:
        """What the account is called: a Swedish giro by its name, an IBAN as such, else a bank account."""
        labels = self.labels
        return _giro_name(account) or (labels.iban if _is_iban(account) else labels.bank_account)

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

        payment = None
        if not invoice.is_credit_note and _is_positive(invoice.amount_due):
            payment = self._payment(due[1], invoice.due_date)
        note: list[str] = []
        for paragraph in _lines(invoice.note):
            note.extend(_wrap(self.regular, paragraph, _WIDTH, 9.0, _MAX_NOTE_LINES))
        if len(note) > _MAX_NOTE_LINES:
            note = note[:_MAX_NOTE_LINES]
            note[-1] = _fit(self.regular, note[-1] + " " + _ELLIPSIS, _WIDTH, 9.0)[0]
        return _Closing(totals, due, payment, note)

    def _payment(self, amount: str, due: date, extra: Sequence[str] = ()) -> _Payment | None:
        """The payment block: bank account, KID, due date and ``amount``, with how to pay.

        ``None`` when there is neither a bank account nor a KID to pay with.
        ``extra`` are sentences to add under the instructions.
        """
        invoice, labels = self.invoice, self.labels
        account, kid = invoice.seller.bank_account, _kid(invoice)
        if not account and not kid:
            return None
        fields: list[tuple[str, str, float]] = []
        if account:
            fields.append((self._account_label(account), _bank_account(account), _PAY_ACCOUNT_W))
        if kid:
            fields.append((labels.kid, kid, _PAY_KID_W))
        fields.append((labels.due_date, format_date(due, self.locale), _PAY_DUE_W))
        fields.append((labels.amount_due, amount, 0.0))
        how = labels.pay_with_kid if kid else labels.pay_with_number.format(number=_clean(invoice.number))
        lines: list[str] = []
        for sentence in (how, *extra):
            lines.extend(_wrap(self.regular, sentence, _WIDTH, 9.0, 3))
        return _Payment(labels.payment_details, tuple(fields), tuple(lines))

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
        account = invoice.seller.bank_account
        if account:
            shown, giro = _bank_account(account), _giro_name(account)
            # A giro number alone reads as any number: the footer names it ("Bankgiro 5050-1055").
            parts.append(f"{giro} {shown}" if giro else shown)
        self.rule(_LEFT, _FOOTER_Y - 1.5, _RIGHT)
        self.text(_LEFT, _FOOTER_Y, _WIDTH - 30, " · ".join(parts), size=7.5, color=_MUTED, h=4.0)
        label = self.labels.page.format(page=page, pages=pages)
        self.text(_RIGHT - 30, _FOOTER_Y, 30, label, size=7.5, color=_MUTED, align="R", h=4.0)


class _ReminderWriter(_InvoiceWriter):
    """Draws a payment reminder: the invoice's header, then what is owed on it and how to pay.

    One page: the invoice is summed up in a few rows (its lines are on the
    invoice itself), so there is nothing to flow onto another page.
    """

    def __init__(
        self,
        invoice: Invoice,
        reminder: Reminder,
        labels: Labels,
        locale: str,
        interest_rate: Decimal | None,
    ) -> None:
        super().__init__(invoice, labels, locale)
        self.reminder = reminder
        self.interest_rate = interest_rate
        self.title = labels.reminder
        self.subtitle = labels.reminder_for.format(number=_clean(invoice.number))
        self.currency = reminder.currency or invoice.currency
        self.new_due = reminder_due_date(reminder)

    def render(self) -> bytes:
        """The finished PDF."""
        self._begin(self.reminder.sent_on)
        self._footer(1, 1)
        y = self._header()
        for line in self._intro():
            self.text(_LEFT, y, _WIDTH, line, h=4.6)
            y += 4.6
        y += 5.0
        y = self._summary(y)
        self._closing().draw(self, y)
        return self.backend.output(self.pdf)

    def _fact_rows(self) -> list[tuple[str, str]]:
        """The reminder's date and number, then the invoice's number, date and due dates."""
        invoice, reminder, labels, locale = self.invoice, self.reminder, self.labels, self.locale
        return [
            (labels.reminder_date, format_date(reminder.sent_on, locale)),
            (labels.reminder_number, str(reminder.number)),
            (labels.invoice_number, _clean(invoice.number)),
            (labels.issue_date, format_date(invoice.issue_date, locale)),
            (labels.original_due_date, format_date(invoice.due_date, locale)),
            (labels.new_due_date, format_date(self.new_due, locale)),
        ]

    def _money(self, value: Decimal) -> str:
        return format_money(value, self.currency, self.locale)

    def _amount(self, value: Decimal) -> str:
        return format_amount(value, self.currency, self.locale)

    def _intro(self) -> list[str]:
        text = self.labels.reminder_intro.format(
            number=_clean(self.invoice.number),
            due=format_date(self.invoice.due_date, self.locale),
            amount=self._money(self.reminder.amount_due),
            new_due=format_date(self.new_due, self.locale),
        )
        return _wrap(self.regular, text, _WIDTH, 9.0, 4)

    def _summary(self, y: float) -> float:
        """What the invoice came to, what was paid and credited, and the fees: a two-column table."""
        invoice, reminder, labels = self.invoice, self.reminder, self.labels
        # amount_due is what is left of the invoice plus every unpaid fee, this one's included.
        left = reminder.amount_due - reminder.fees_before - reminder.fee
        rows: list[tuple[str, Decimal, bool]] = [(labels.total, invoice.total, False)]
        if invoice.balance_applied:
            rows.append((labels.balance_applied, -invoice.balance_applied, False))
        if _is_positive(invoice.paid):
            rows.append((labels.paid, -invoice.paid, False))
        if _is_positive(invoice.credited):
            rows.append((labels.credited, -invoice.credited, False))
        rows.append((labels.left_on_invoice, left, True))
        if _is_positive(reminder.fees_before):
            rows.append((labels.earlier_fees, reminder.fees_before, False))
        if _is_positive(reminder.fee):
            rows.append((labels.reminder_fee, reminder.fee, False))

        x, w, _ = _DESCRIPTION
        amount_x, amount_w, _ = _AMOUNT
        self._shade(_LEFT, y, _WIDTH, _HEADER_H)
        self.text(x + _PAD, y, w - 2 * _PAD, labels.description, size=8.0, bold=True, h=_HEADER_H)
        self.text(
            amount_x + _PAD,
            y,
            amount_w - 2 * _PAD,
            labels.amount,
            size=8.0,
            bold=True,
            align="R",
            h=_HEADER_H,
        )
        y += _HEADER_H
        row_h = _ROW_LINE + 2 * _ROW_PAD
        for label, value, strong in rows:
            self.text(x + _PAD, y + _ROW_PAD, _WIDTH - amount_w, label, bold=strong, h=_ROW_LINE)
            self.number(
                amount_x + _PAD,
                y + _ROW_PAD,
                amount_w - 2 * _PAD,
                self._amount(value),
                bold=strong,
                h=_ROW_LINE,
            )
            y += row_h
            self.rule(_LEFT, y, _RIGHT)
        return y

    def _closing(self) -> _Closing:
        """What is due now, the payment block, and the late-payment interest if the account has one."""
        labels, due = self.labels, self._money(self.reminder.amount_due)
        interest: list[str] = []
        if self.interest_rate is not None:
            interest.append(labels.late_interest.format(rate=_percent(self.interest_rate, self.locale)))
        payment = self._payment(due, self.new_due, interest)
        # Without an account or a KID there is no payment block to carry the interest sentence.
        note = (
            []
            if payment
            else [line for text in interest for line in _wrap(self.regular, text, _WIDTH, 9.0, 3)]
        )
        return _Closing([], (labels.amount_due, due), payment, note)


_PAY_ACCOUNT_W: Final = 44.0
_PAY_KID_W: Final = 58.0
_PAY_DUE_W: Final = 32.0
_PAY_AMOUNT_W: Final = 40.0
_PAY_INSET: Final = 3.0


@attrs.frozen
class _Payment:
    """The payment block: a shaded box of (label, value, width) fields, then how to pay.

    The fields run left to right in their widths; the last one, the amount,
    sits at the right edge of the box.
    """

    title: str
    fields: tuple[tuple[str, str, float], ...]
    lines: tuple[str, ...]

    _BOX: ClassVar[float] = 19.0

    @property
    def height(self) -> float:
        return 6.0 + self._BOX + (2.5 + len(self.lines) * 4.6 if self.lines else 0.0)

    def draw(self, writer: _InvoiceWriter, y: float) -> float:
        """Draw the block with its top at ``y``; returns its bottom.

        The values are drawn as one row and the labels as another (one change
        of font and colour each): a reader copying the text gets the labels
        on one line and the values on the next, as the box reads.
        """
        y += 6.0
        writer._shade(_LEFT, y, _WIDTH, self._BOX)
        left = _LEFT + _PAY_INSET
        amount_x = _RIGHT - _PAY_INSET - _PAY_AMOUNT_W
        writer.text(left, y + 1.5, _WIDTH - 2 * _PAY_INSET, self.title, size=8.5, bold=True, h=4.6)
        *fields, (amount_label, amount, _) = self.fields
        x = left
        for label, _, width in fields:
            writer.text(x, y + 7.0, width - 2.0, label, size=7.5, color=_MUTED, h=4.0)
            x += width
        writer.text(amount_x, y + 7.0, _PAY_AMOUNT_W, amount_label, size=7.5, color=_MUTED, align="R", h=4.0)
        x = left
        for _, value, width in fields:
            writer.number(x, y + 11.5, width - 2.0, value, size=10.5, bold=True, h=5.5, align="L")
            x += width
        writer.number(amount_x, y + 11.5, _PAY_AMOUNT_W, amount, size=10.5, bold=True, h=5.5)
        y += self._BOX
        if self.lines:
            y += 2.5
            for line in self.lines:
                writer.text(_LEFT, y, _WIDTH, line, h=4.6)
                y += 4.6
        return y


class _Closing:
    """The block after the lines: totals, amount to pay, the payment block and the note."""

    _TOTAL_ROW = 5.0
    _DUE_ROW = 7.5

    def __init__(
        self,
        totals: list[tuple[str, str, bool]],
        due: tuple[str, str],
        payment: _Payment | None,
        note: list[str],
    ) -> None:
        self.totals = totals
        self.due = due
        self.payment = payment
        self.note = note
        height = 3.0 + len(totals) * self._TOTAL_ROW + 1.5 + self._DUE_ROW
        if payment:
            height += payment.height
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
            y = self.payment.draw(writer, y)
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


@lru_cache(maxsize=16)
def _device(color: tuple[int, int, int]) -> DeviceRGB:
    """fpdf2's colour for ``color``, made once: converting on every change of colour adds up."""
    red, green, blue = color
    return DeviceRGB(red / 255, green / 255, blue / 255)


def _kid(invoice: Invoice) -> str | None:
    """The invoice's payment reference, or ``None``: an invoice whose KID cannot be made still renders."""
    try:
        return invoice.kid
    except InvalidInput as error:
        _log.warning("invoice %s: no KID printed (%s)", invoice.number, error)
        return None


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
    """A Norwegian account as "8601.11.17947", a Bankgiro number as "5050-1055", an IBAN in groups of four."""
    return _clean(display_bank_account(value))


@functools.lru_cache(maxsize=1024)
def _giro_name(value: str) -> str | None:
    return giro_name(value)


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
