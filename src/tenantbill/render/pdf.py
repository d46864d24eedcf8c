"""Invoice and credit-note PDFs: A4, an embedded Unicode font, byte-identical, fast.

>>> pdf = render_invoice(invoice)                 # in the invoice's own locale
>>> pdf = render_invoice(invoice, locale="en")    # or another supported one

The layout is our own, on fixed column widths (no ``table()``): seller and
logo, title, buyer and invoice facts, the lines, VAT per rate and the totals,
then the payment details and the note. Lines that do not fit flow onto further
pages, each with the table header repeated, and every page is numbered "1/2".
Labels come from :mod:`tenantbill.render.labels`, numbers and dates from
:mod:`tenantbill.render.fmt`.

Why this module does more than call fpdf2
-----------------------------------------
A month-end run renders thousands of invoices. fpdf2's ordinary way with a
TrueType font costs ~100 ms per document (``add_font()`` parses the file with
fontTools, ``output()`` subsets and re-saves it), and its ``cell()`` costs
~40 µs per text through its fragment machinery. Here:

- each font file is parsed once per process; every document gets a cheap
  per-document font object that shares the parsed metrics;
- text is written with identity CIDs (a character's CID is its code point), so
  what is embedded for a font (subset program, CID-to-glyph map, ToUnicode
  map, widths) depends only on which characters are used. It is built for
  aligned runs of 32 code points and cached per set of runs (bounded,
  thread-safe LRU): invoices in one script share one embedding, whatever the
  customer's name. The subset is unhinted, which halves its size;
- single lines of text go through fpdf2's ``text()``, with alignment, fitting
  and wrapping done here from the shared metrics: a tenth of ``cell()``'s cost.

User text
---------
Text is normalized to NFC; control and format characters are dropped (tabs
and line breaks become spaces), lone surrogates become U+FFFD, and every
field is wrapped, or shortened with "…", to its column, so no input can break
the PDF or run into another column. Amounts and identifiers are shrunk to fit
instead, never cut.

Missing glyphs: DejaVu Sans has no CJK. Rather than a fallback font (none is
shipped, and a CJK font weighs tens of megabytes), a character without a glyph
is drawn as the replacement character "�", so the gap is visible, while the
ToUnicode map keeps the real character: copying or searching the PDF still
finds "山田太郎". Characters beyond the Basic Multilingual Plane (emoji) cannot
be identity CIDs and become U+FFFD in the text layer too.

Determinism
-----------
The same invoice renders to the same bytes, in any process: the creation date
is the issue date, producer and object order are fixed, the subset tag is a
hash of the embedded runs, and the trailer ``/ID`` is fpdf2's MD5 of the
content.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from fontTools.subset import Options, Subsetter  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import TTFFont
from fpdf.image_datastructures import ImageCache
from fpdf.image_parsing import preload_image
from fpdf.output import OutputProducer
from fpdf.syntax import PDFObject

from tenantbill.domain.invoices import Invoice, InvoiceLine, Seller
from tenantbill.domain.setup import LOGO_MAX_PIXELS, LOGO_MAX_SIDE, image_size
from tenantbill.errors import InvalidInput
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

# Fonts: one family in two weights, shipped with the package.
_FONT_DIR: Final = Path(__file__).parent / "fonts"
_FAMILY: Final = "dejavu"
_FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_PLACEHOLDER: Final = 0xFFFD
_EMBEDDINGS_PER_FACE: Final = 128
_CHUNK: Final = 32  # code points are embedded in aligned runs of this many
_ELLIPSIS: Final = "…"

_PNG: Final = b"\x89PNG\r\n\x1a\n"
_JPEG: Final = b"\xff\xd8\xff"
_LOGOS_KEPT: Final = 32

_PRODUCER: Final = "tenantbill"

_K = TypeVar("_K")
_V = TypeVar("_V")


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


# Fonts ---------------------------------------------------------------------------------------


class _Lru(Generic[_K, _V]):
    """A small thread-safe LRU map: the per-process caches of fonts and logos."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        """The value kept for ``key``, if any (and mark it recently used)."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: _K, value: _V) -> _V:
        """Keep ``value`` for ``key``, forgetting the least recently used beyond the size."""
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


class _UsedCodes(dict[int, int]):
    """A document's characters in one font; fpdf2 calls ``pick(code)`` for every one it draws.

    The code a character is written with is its own code point (identity CIDs),
    so the mapping is the identity; it records which characters to embed.
    """

    pick = dict.__getitem__

    def __missing__(self, code: int) -> int | None:
        if 0x20 <= code <= 0xFFFF and not 0xD800 <= code <= 0xDFFF:
            self[code] = code
            return code
        return None


class _DocumentFont(TTFFont):
    """One document's handle on a shared :class:`_Face`: fpdf2 state per document, metrics shared."""

    __slots__ = ("face",)

    face: _Face
    subset: Any

    def encode_text(self, text: str) -> str:
        """The ``Tj`` operator for ``text``: UTF-16 code units are the CIDs."""
        used = self.subset
        new = set(map(ord, text)).difference(used)
        if new and None in [used.pick(code) for code in new]:
            text = "".join(char for char in text if ord(char) in used)
        return f"({self.escape_text(text)}) Tj"

    def get_text_width(self, text: str, font_size_pt: float, text_shaping_params: Any) -> tuple[int, float]:
        """The number of characters and the width in points (no shaping: none is needed)."""
        return len(text), sum(map(self.cw.__getitem__, map(ord, text))) * font_size_pt * 0.001


class _Face:
    """A font file parsed once per process; builds and caches what each character set embeds."""

    def __init__(self, style: str) -> None:
        path = _FONT_DIR / _FONT_FILES[style]
        self.style = style
        self.data = path.read_bytes()
        self.template = TTFFont(FPDF(), path, _FAMILY + style, style)
        self.template.close()
        self.cmap: dict[int, str] = self.template.cmap
        placeholder_width = self.template.cw[_PLACEHOLDER]
        self.widths: defaultdict[int, float] = defaultdict(lambda: placeholder_width, self.template.cw)
        self._embeddings: _Lru[frozenset[int], _Embedding] = _Lru(_EMBEDDINGS_PER_FACE)

    def document_font(self, index: int) -> _DocumentFont:
        """A fresh per-document font object numbered ``index`` (fpdf2's ``/F<index>``)."""
        font = _DocumentFont.__new__(_DocumentFont)
        template = self.template
        for name in TTFFont.__slots__:
            if hasattr(template, name):
                setattr(font, name, getattr(template, name))
        font.face = self
        font.i = index
        font.cw = self.widths
        font.subset = _UsedCodes()
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.color_font = None
        font._hbfont = None
        return font

    def width(self, text: str, size: float) -> float:
        """The width of ``text`` at ``size`` points, in millimetres."""
        return sum(map(self.widths.__getitem__, map(ord, text))) * size * _PT / 1000

    def embedding(self, codes: Iterable[int]) -> _Embedding:
        """What to embed for a document using ``codes``: cached per set of chunks used."""
        chunks = frozenset(code // _CHUNK for code in codes)
        # Built outside any lock: two threads may both build a new set once, harmlessly.
        return self._embeddings.get(chunks) or self._embeddings.put(chunks, _Embedding.build(self, chunks))


@cache
def _face(style: str) -> _Face:
    return _Face(style)


class _Embedding:
    """The font objects of one character set, ready to write: subset program, maps, widths."""

    __slots__ = ("base_font", "cid_to_gid", "descriptor", "font_file", "to_unicode", "widths")

    def __init__(
        self,
        base_font: str,
        font_file: str,
        cid_to_gid: str,
        to_unicode: str,
        widths: str,
        descriptor: str,
    ) -> None:
        self.base_font = base_font
        self.font_file = font_file
        self.cid_to_gid = cid_to_gid
        self.to_unicode = to_unicode
        self.widths = widths
        self.descriptor = descriptor

    @classmethod
    def build(cls, face: _Face, chunks: frozenset[int]) -> _Embedding:
        """Subset the font to the ``chunks`` and prepare the streams (tens of milliseconds)."""
        codes = [
            code
            for chunk in sorted(chunks)
            for code in range(chunk * _CHUNK, (chunk + 1) * _CHUNK)
            if not 0xD800 <= code <= 0xDFFF
        ]
        placeholder = face.cmap[_PLACEHOLDER]
        glyph_names = {face.cmap.get(code, placeholder) for code in codes}
        font = TTFont(BytesIO(face.data), recalcTimestamp=False, lazy=True)
        # Hinting is dropped: viewers rasterize well without it, and it is half the bytes.
        options = Options(notdef_outline=True, recommended_glyphs=True, hinting=False)
        options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "kern"]
        subsetter = Subsetter(options)
        subsetter.populate(glyphs=sorted(glyph_names))
        subsetter.subset(font)
        program = BytesIO()
        font.save(program)
        new_gid = {name: font.getGlyphID(name) for name in glyph_names}
        font.close()

        cid_to_gid = bytearray(2 * (codes[-1] + 1))
        for code in codes:
            gid = new_gid[face.cmap.get(code, placeholder)]
            cid_to_gid[2 * code] = gid >> 8
            cid_to_gid[2 * code + 1] = gid & 0xFF

        digest = hashlib.sha1(repr(sorted(chunks)).encode()).digest()
        tag = "".join(chr(65 + byte % 26) for byte in digest[:6])
        desc = face.template.desc
        return cls(
            base_font=f"{tag}+{face.template.name}",
            font_file=_stream(program.getvalue(), f"/Length1 {len(program.getvalue())}"),
            cid_to_gid=_stream(bytes(cid_to_gid)),
            to_unicode=_stream(_to_unicode_cmap(codes)),
            widths=_widths_array(codes, face.widths),
            descriptor=(
                f"/Ascent {desc.ascent} /Descent {desc.descent} /CapHeight {desc.cap_height}"
                f" /Flags {desc.flags.value} /FontBBox {desc.font_b_box}"
                f" /ItalicAngle {desc.italic_angle} /StemV {desc.stem_v}"
                f" /MissingWidth {desc.missing_width}"
            ),
        )


def _stream(data: bytes, extra: str = "") -> str:
    """A compressed PDF stream (dictionary and body) as text, one char per byte."""
    packed = zlib.compress(data, 9)
    head = f"<</Filter /FlateDecode /Length {len(packed)}{' ' if extra else ''}{extra}>>"
    return f"{head}\nstream\n{packed.decode('latin-1')}\nendstream"


def _to_unicode_cmap(codes: Sequence[int]) -> bytes:
    """The ToUnicode CMap of identity CIDs: one ``bfrange`` per 256-code block in use."""
    blocks = sorted({code >> 8 for code in codes})
    ranges = "".join(f"<{b:02X}00> <{b:02X}FF> <{b:02X}00>\n" for b in blocks)
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{len(blocks)} beginbfrange\n{ranges}endbfrange\n"
        "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode("ascii")


def _widths_array(codes: Sequence[int], widths: dict[int, float]) -> str:
    """The CIDFont ``/W`` array: runs of consecutive codes with their widths."""
    parts: list[str] = []
    run: list[str] = []
    start = previous = -2
    for code in codes:
        if code != previous + 1 and run:
            parts.append(f"{start} [{' '.join(run)}]")
            run = []
        if not run:
            start = code
        run.append(str(round(widths[code])))
        previous = code
    if run:
        parts.append(f"{start} [{' '.join(run)}]")
    return f"[{' '.join(parts)}]"


class _RawObject(PDFObject):
    """A PDF object whose text is prepared by :class:`_Producer` (no dictionary building)."""

    def __init__(self) -> None:
        super().__init__()
        self.text = ""

    def serialize(self, obj_dict: Any = None, _security_handler: Any = None) -> str:
        """The object as ``N 0 obj … endobj``."""
        return f"{self.id} 0 obj\n{self.text}\nendobj"


class _Producer(OutputProducer):
    """fpdf2's PDF writer, with fonts written from the shared embedding cache."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        objects: dict[int, Any] = {}
        for font in sorted(self.fpdf.fonts.values(), key=lambda font: font.i):
            if not isinstance(font, _DocumentFont) or not font.subset:
                continue
            embedding = font.face.embedding(font.subset)
            type0, cid_font, descriptor, program, cid_to_gid, to_unicode = (_RawObject() for _ in range(6))
            for obj in (type0, cid_font, descriptor, program, cid_to_gid, to_unicode):
                self._add_pdf_obj(obj, "fonts")
            name = embedding.base_font
            type0.text = (
                f"<</Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H"
                f" /DescendantFonts [{cid_font.id} 0 R] /ToUnicode {to_unicode.id} 0 R>>"
            )
            cid_font.text = (
                f"<</Type /Font /Subtype /CIDFontType2 /BaseFont /{name}"
                " /CIDSystemInfo <</Registry (Adobe) /Ordering (Identity) /Supplement 0>>"
                f" /FontDescriptor {descriptor.id} 0 R /DW {font.desc.missing_width}"
                f" /W {embedding.widths} /CIDToGIDMap {cid_to_gid.id} 0 R>>"
            )
            descriptor.text = (
                f"<</Type /FontDescriptor /FontName /{name} {embedding.descriptor}"
                f" /FontFile2 {program.id} 0 R>>"
            )
            program.text = embedding.font_file
            cid_to_gid.text = embedding.cid_to_gid
            to_unicode.text = embedding.to_unicode
            objects[font.i] = type0
        return objects


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
            clean = chr(_PLACEHOLDER)
        elif category == "Zs" and code not in _face("").cmap:
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
        self.regular = _face("")
        self.bold = _face("B")
        self.title = labels.credit_note if invoice.is_credit_note else labels.invoice
        pdf = FPDF(unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.c_margin = 0
        pdf.set_margins(_LEFT, _TOP, _PAGE_W - _RIGHT)
        pdf.fonts[_FAMILY] = self.regular.document_font(1)
        pdf.fonts[_FAMILY + "B"] = self.bold.document_font(2)
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
        return bytes(pdf.output(output_producer_class=_Producer))

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
        if (size, bold) != self._style:
            self.pdf.set_font(_FAMILY, "B" if bold else "", size)
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
        cache = self.pdf.image_cache
        copy = type(info)(info)
        copy.update(i=1, usages=0)
        cache.images[name] = copy
        cache.icc_profiles.update(icc_profiles)
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


def _fit(face: _Face, text: str, width: float, size: float) -> tuple[str, float]:
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


def _wrap(face: _Face, text: str, width: float, size: float, max_lines: int) -> list[str]:
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


def _split_long(face: _Face, words: Iterable[str], width: float, size: float) -> Iterator[str]:
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


def _org_number(value: str) -> str:
    """A Norwegian org number as "974 760 673", a Swedish one as "556036-0793"."""
    digits = _digits(value)
    if len(digits) == 9 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:6]}-{digits[6:]}"
    return _clean(value)


def _is_iban(value: str) -> bool:
    digits = _digits(value)
    return len(digits) > 4 and digits[:2].isalpha() and digits[2:4].isdigit()


def _bank_account(value: str) -> str:
    """A Norwegian account as "8601.11.17947", an IBAN in groups of four."""
    digits = _digits(value)
    if len(digits) == 11 and digits.isdigit():
        return f"{digits[:4]}.{digits[4:6]}.{digits[6:]}"
    if _is_iban(value):
        return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return _clean(value)


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
_LOGOS: Final[_Lru[str, _Logo | bool]] = _Lru(_LOGOS_KEPT)


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
