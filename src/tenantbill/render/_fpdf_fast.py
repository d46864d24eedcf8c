"""The fast path of :mod:`tenantbill.render.pdf`: the one module that reaches into fpdf2's internals.

fpdf2's public way with a TrueType font costs ~100 ms a document:
``add_font()`` parses the font file with fontTools and ``output()`` subsets
and re-saves it. Here, instead:

- each document gets a cheap font object, a :class:`fpdf.fonts.TTFFont`
  whose slots are copied from one template per face and per process, with the
  widths of the shared :class:`~tenantbill.render._fonts.Face`; it is put into
  ``FPDF.fonts`` directly (not through ``add_font()``);
- text is written with identity CIDs (the font object's ``encode_text`` is
  overridden), so what is embedded depends only on the characters used;
- fonts are written by a subclass of fpdf2's ``OutputProducer`` whose
  ``_add_fonts`` writes the cached :class:`~tenantbill.render._fonts.Embedding`
  objects as raw PDF objects;
- a logo parsed once per process is put into the document's image cache.

All of that depends on fpdf2's private details, so this module is guarded by
the fpdf2 versions it was written and tested for: importing it raises
ImportError under any other version (or if the internals it uses are not
there), and :mod:`tenantbill.render.pdf` then renders through fpdf2's public
API alone, slower but correct. To support a new fpdf2 release, run
``tests/test_pdf.py`` under it and widen :data:`TESTED`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

import fpdf

WRITTEN_FOR: Final = "2.8.9"
# The fpdf2 releases tests/test_pdf.py passed under with this module, both ends included.
# 2.8.1 to 2.8.4 are not among them: their font objects lack slots set here (biggest_size_pt,
# color_font, _hbfont), so the public API serves them.
TESTED: Final = ((2, 8, 5), (2, 8, 9))


def supports(version: str) -> bool:
    """Whether fpdf2 ``version`` is one this module was tested with (a pre-release is not)."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version.strip())
    if match is None:
        return False
    release = tuple(int(part) for part in match.groups())
    return TESTED[0] <= release <= TESTED[1]


if not supports(fpdf.__version__):
    raise ImportError(
        f"tenantbill's fast PDF path was written for fpdf2 {TESTED[0][0]}.{TESTED[0][1]}.{TESTED[0][2]}"
        f" to {TESTED[1][0]}.{TESTED[1][1]}.{TESTED[1][2]}; fpdf2 {fpdf.__version__} is installed"
    )

# Internals below: imported only once the version is known to be one of those tested.
from fpdf import FPDF  # noqa: E402
from fpdf.fonts import TTFFont  # noqa: E402
from fpdf.output import OutputProducer  # noqa: E402
from fpdf.syntax import PDFObject  # noqa: E402

from tenantbill.render._fonts import FAMILY, Face, face  # noqa: E402

if not (
    {"i", "cw", "subset", "missing_glyphs", "biggest_size_pt", "color_font", "_hbfont"}
    <= set(TTFFont.__slots__)
    and callable(getattr(TTFFont, "escape_text", None))
    and callable(getattr(OutputProducer, "_add_fonts", None))
    and callable(getattr(OutputProducer, "_add_pdf_obj", None))
):
    raise ImportError(f"fpdf2 {fpdf.__version__} lacks the internals tenantbill's fast PDF path uses")

__all__ = ["FAST", "TESTED", "WRITTEN_FOR", "FastBackend", "supports"]


class FastBackend:
    """The fast path, as :mod:`tenantbill.render.pdf` calls it (see its ``_Backend`` protocol)."""

    name: Final = "fast"
    # Characters without a glyph stay in the text layer (drawn as the placeholder's glyph).
    keeps_missing_glyphs: Final = True

    def add_fonts(self, pdf: FPDF) -> None:
        """Give ``pdf`` the regular and bold face of the family, sharing the parsed fonts."""
        pdf.fonts[FAMILY] = _document_font(face(""), 1)
        pdf.fonts[FAMILY + "B"] = _document_font(face("B"), 2)

    def reuse_image(self, pdf: FPDF, name: str, info: Any, icc_profiles: dict[bytes, int]) -> None:
        """Put an image parsed once per process (``preload_image()``'s result) into ``pdf``'s cache.

        ``pdf.image()`` then finds it there instead of decoding it again. It
        must be the document's first image.
        """
        cache = pdf.image_cache
        copy = type(info)(info)
        copy.update(i=1, usages=0)
        cache.images[name] = copy
        cache.icc_profiles.update(icc_profiles)

    def output(self, pdf: FPDF) -> bytes:
        """The finished PDF, fonts written from the shared embedding cache."""
        return bytes(pdf.output(output_producer_class=_Producer))


FAST: Final = FastBackend()


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
    """One document's handle on a shared :class:`Face`: fpdf2 state per document, metrics shared."""

    __slots__ = ("face",)

    face: Face
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


@cache
def _template(style: str) -> TTFFont:
    """fpdf2's own font object for a face, parsed once per process; documents copy its slots."""
    shared = face(style)
    template = TTFFont(FPDF(), shared.path, FAMILY + style, style)
    template.close()
    return template


def _document_font(shared: Face, index: int) -> _DocumentFont:
    """A fresh per-document font object numbered ``index`` (fpdf2's ``/F<index>``)."""
    font = _DocumentFont.__new__(_DocumentFont)
    template = _template(shared.style)
    for name in TTFFont.__slots__:
        if hasattr(template, name):
            setattr(font, name, getattr(template, name))
    font.face = shared
    font.i = index
    font.cw = shared.widths
    font.subset = _UsedCodes()
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.color_font = None
    font._hbfont = None
    return font


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
                f" /FontDescriptor {descriptor.id} 0 R /DW {font.face.missing_width}"
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
