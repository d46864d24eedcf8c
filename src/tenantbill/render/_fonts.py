"""The shipped font faces, parsed once per process with fontTools; no fpdf2 here.

A :class:`Face` gives the layout its metrics (character widths in thousandths
of an em, computed and rounded exactly as fpdf2 computes them, so the text is
placed the same way whichever fpdf2 path draws it) and the list of characters
the font has a glyph for.

It also builds what the fast path of :mod:`tenantbill.render._fpdf_fast`
embeds for a set of characters (:class:`Embedding`): with identity CIDs (a
character's CID is its code point), the subset program, CID-to-glyph map,
ToUnicode map and widths depend only on which characters are used. They are
built for aligned runs of :data:`CHUNK` code points and cached per set of runs
(bounded, thread-safe LRU), so invoices in one script share one embedding,
whatever the customer's name. A character without a glyph maps to the
replacement character's glyph, while the ToUnicode map keeps the real
character. The subset is unhinted, which halves its size.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Final, Generic, TypeVar

from fontTools.subset import Options, Subsetter  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

__all__ = ["CHUNK", "FAMILY", "FILES", "PLACEHOLDER", "Embedding", "Face", "Lru", "face"]

FONT_DIR: Final = Path(__file__).parent / "fonts"
FAMILY: Final = "dejavu"
FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
PLACEHOLDER: Final = 0xFFFD
CHUNK: Final = 32  # code points are embedded in aligned runs of this many
_EMBEDDINGS_PER_FACE: Final = 128
_PT: Final = 25.4 / 72  # one point in millimetres

# The PDF font descriptor flags (PDF 32000-1, table 123).
_FIXED_PITCH: Final = 1
_SYMBOLIC: Final = 4
_ITALIC: Final = 64
_FORCE_BOLD: Final = 262144

_K = TypeVar("_K")
_V = TypeVar("_V")


class Lru(Generic[_K, _V]):
    """A small thread-safe LRU map: the per-process caches of embeddings and logos."""

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


class Face:
    """One shipped font file (``style`` "" or "B"), parsed once: metrics, names, embeddings."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.path = FONT_DIR / FILES[style]
        self.data = self.path.read_bytes()
        font = TTFont(BytesIO(self.data), recalcTimestamp=False, lazy=True)
        try:
            scale = 1000 / font["head"].unitsPerEm
            metrics = font["hmtx"].metrics
            self.cmap: dict[int, str] = font.getBestCmap()
            widths = {
                code: round(scale * (0 if metrics[glyph][0] == 65535 else metrics[glyph][0]) + 0.001)
                for code, glyph in self.cmap.items()
            }
            placeholder_width = widths[PLACEHOLDER]
            # A character without a glyph is drawn as the placeholder, so it is as wide.
            self.widths: defaultdict[int, float] = defaultdict(lambda: placeholder_width, widths)
            self.missing_width = round(scale * metrics[".notdef"][0])
            self.name = re.sub("[ ()]", "", font["name"].getBestFullName())
            self.descriptor = _descriptor(font, scale, self.missing_width)
        finally:
            font.close()
        self._embeddings: Lru[frozenset[int], Embedding] = Lru(_EMBEDDINGS_PER_FACE)

    def width(self, text: str, size: float) -> float:
        """The width of ``text`` at ``size`` points, in millimetres."""
        return sum(map(self.widths.__getitem__, map(ord, text))) * size * _PT / 1000

    def drawable(self, text: str) -> str:
        """``text`` with every character the font has no glyph for replaced by the placeholder."""
        cmap = self.cmap
        if all(ord(char) in cmap for char in text):
            return text
        return "".join(char if ord(char) in cmap else chr(PLACEHOLDER) for char in text)

    def embedding(self, codes: Iterable[int]) -> Embedding:
        """What to embed for a document using ``codes``: cached per set of chunks used."""
        chunks = frozenset(code // CHUNK for code in codes)
        # Built outside any lock: two threads may both build a new set once, harmlessly.
        return self._embeddings.get(chunks) or self._embeddings.put(chunks, Embedding.build(self, chunks))


@cache
def face(style: str) -> Face:
    """The shared :class:`Face` of ``style`` ("" regular, "B" bold)."""
    return Face(style)


def _descriptor(font: TTFont, scale: float, missing_width: int) -> str:
    """The font descriptor's entries, computed as fpdf2 computes them for a TrueType font."""
    head, hhea, os2, post = font["head"], font["hhea"], font["OS/2"], font["post"]
    flags = _SYMBOLIC
    if post.isFixedPitch:
        flags |= _FIXED_PITCH
    if post.italicAngle != 0:
        flags |= _ITALIC
    if os2.usWeightClass >= 600:
        flags |= _FORCE_BOLD
    cap_height = getattr(os2, "sCapHeight", hhea.ascent)
    bbox = (
        f"[{head.xMin * scale:.0f} {head.yMin * scale:.0f} {head.xMax * scale:.0f} {head.yMax * scale:.0f}]"
    )
    return (
        f"/Ascent {round(hhea.ascent * scale)} /Descent {round(hhea.descent * scale)}"
        f" /CapHeight {round(cap_height * scale)} /Flags {flags} /FontBBox {bbox}"
        f" /ItalicAngle {int(post.italicAngle)} /StemV {round(50 + int(pow(os2.usWeightClass / 65, 2)))}"
        f" /MissingWidth {missing_width}"
    )


class Embedding:
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
    def build(cls, face: Face, chunks: frozenset[int]) -> Embedding:
        """Subset the font to the ``chunks`` and prepare the streams (tens of milliseconds)."""
        codes = [
            code
            for chunk in sorted(chunks)
            for code in range(chunk * CHUNK, (chunk + 1) * CHUNK)
            if not 0xD800 <= code <= 0xDFFF
        ]
        placeholder = face.cmap[PLACEHOLDER]
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
        return cls(
            base_font=f"{tag}+{face.name}",
            font_file=_stream(program.getvalue(), f"/Length1 {len(program.getvalue())}"),
            cid_to_gid=_stream(bytes(cid_to_gid)),
            to_unicode=_stream(_to_unicode_cmap(codes)),
            widths=_widths_array(codes, face.widths),
            descriptor=face.descriptor,
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
