"""Checking received pages and building the documents a scan process asks for.

DESIGN.md "Hostile input is normal input": a page is identified by its magic bytes (the format
the device declared in ``SendImage`` is never trusted), and its pixel count is read from the file
header and checked against ``SCANSERVER_MAX_PIXELS`` *before* anything is decoded, so a
decompression bomb is refused with a reason and never expanded in memory.

Outputs (``scanprocesses.models.OutputFormat``):

* ``pdf`` — img2pdf: JPEG pages are embedded as they are (lossless passthrough, no decode),
  PNG/TIFF G4 likewise where img2pdf can; other formats are re-encoded losslessly (PNG) first.
  img2pdf holds a whole document in memory, so long jobs are built in chunks of
  ``PDF_CHUNK_PAGES`` pages and the chunks joined with pikepdf (qpdf copies the streams from the
  chunk files), which keeps memory flat in the job size.
* ``pdfa`` — the PDF above converted by ``ocrmypdf --output-type pdfa`` (without OCR unless asked):
  PDF/A-2b. When ocrmypdf/Ghostscript is not installed the plain PDF is delivered and the job
  records the warning "PDF/A not available" (decision: a scan is never lost for want of a
  converter; the job ends CompletedWithWarnings).
* ``tiff`` — one multi-page TIFF: bilevel pages CCITT G4, others LZW (lossless).
* ``jpeg`` / ``png`` — one file per page; JPEG pages are copied byte for byte.

Every file is written to a temporary name in the target directory, fsync'd and renamed
(``os.replace``), so a crash never leaves a half-written output under its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import img2pdf
from django.conf import settings
from PIL import Image, ImageFile

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 150_000_000  # > A3 at 1200 dpi (14032 × 9921 ≈ 139 Mpx)
DEFAULT_MAX_FRAMES = 2000
PDF_CHUNK_PAGES = 100
DEFAULT_DPI = 300

#: Magic bytes → our format name. TIFF little/big endian, BigTIFF refused (Pillow cannot read it).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2"),
    (b"\xff\x4f\xff\x51", "jp2"),
    (b"%PDF-", "pdf"),
)
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF", "bmp": "BMP", "jp2": "JPEG2000"}
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "pdfa": "application/pdf",
    "tiff": "image/tiff",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
EXTENSIONS = {"pdf": "pdf", "pdfa": "pdf", "tiff": "tif", "jpeg": "jpg", "png": "png"}


class PageRefused(Exception):
    """A received page cannot be used; ``str(exc)`` is the reason shown to the operator."""


def max_pixels() -> int:
    """``SMC_SCANSERVER_MAX_PIXELS``, parsed in settings."""
    return int(settings.SCANSERVER_MAX_PIXELS)


def max_frames() -> int:
    value = getattr(settings, "SCANSERVER_MAX_FRAMES", None)
    return int(value) if value is not None else DEFAULT_MAX_FRAMES


def sniff(head: bytes) -> str | None:
    """The format named by the first bytes of a file, or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


@dataclass(frozen=True)
class PageInfo:
    """What the header of a checked page says (nothing here needed a full decode)."""

    format: str  # jpeg | png | tiff | bmp | jp2 | pdf
    width: int
    height: int
    mode: str
    frames: int
    dpi: tuple[int, int]

    @property
    def pixels(self) -> int:
        return self.width * self.height


@contextlib.contextmanager
def open_image(path: Path, fmt: str, limit: int | None = None) -> Iterator[Image.Image]:
    """``Image.open`` restricted to the sniffed format, with Pillow's own bomb check at ``limit``.

    Pillow only checks ``Image.MAX_IMAGE_PIXELS`` (a process-wide value) when it opens a file, and
    raises only above twice that; the explicit check in :func:`inspect_page` is what refuses.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path, formats=[_PIL_FORMAT[fmt]])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PageRefused("the image is larger than the pixel limit (%s)" % exc) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise PageRefused("the %s data cannot be read: %s" % (fmt.upper(), exc)) from None
    try:
        yield img
    finally:
        img.close()


def _dpi(img: Image.Image) -> tuple[int, int]:
    raw = img.info.get("dpi")
    try:
        x, y = (round(float(v)) for v in raw) if raw else (0, 0)
    except (TypeError, ValueError):
        x, y = 0, 0
    if x <= 1 or y <= 1:
        return DEFAULT_DPI, DEFAULT_DPI
    return x, y


def inspect_page(path: Path, limit: int | None = None) -> PageInfo:
    """Sniff and check one spooled page without decoding its pixels.

    Raises :class:`PageRefused` for an unknown format, a truncated JPEG, too many pixels (any
    frame) or too many frames.
    """
    limit = max_pixels() if limit is None else limit
    with path.open("rb") as fh:
        head = fh.read(16)
        fmt = sniff(head)
        if fmt is None:
            raise PageRefused("unknown image format (first bytes %s)" % head[:8].hex())
        if fmt == "pdf":
            raise PageRefused("PDF pages are not accepted as scanned images")
        if fmt == "jpeg":
            # A JPEG cut short by a broken transfer has no EOI marker; cheap to check, and
            # passthrough into the PDF would otherwise deliver a half page.
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64))
            if b"\xff\xd9" not in fh.read():
                raise PageRefused("the JPEG data is truncated (no end-of-image marker)")
    with open_image(path, fmt, limit) as img:
        frames = int(getattr(img, "n_frames", 1) or 1)
        if frames > max_frames():
            raise PageRefused("the file holds %d frames; the limit is %d" % (frames, max_frames()))
        width, height = img.size
        mode = img.mode
        for index in range(frames):
            if index:
                img.seek(index)
            w, h = img.size
            if w * h > limit:
                raise PageRefused(
                    "frame %d is %d × %d = %d pixels; the limit is %d" % (index + 1, w, h, w * h, limit)
                )
            if w == 0 or h == 0:
                raise PageRefused("frame %d has no pixels" % (index + 1))
        dpi = _dpi(img)
    return PageInfo(format=fmt, width=width, height=height, mode=mode, frames=frames, dpi=dpi)


# --------------------------------------------------------------------------- atomic output


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[BinaryIO]:
    """A binary file that appears as ``final`` (fsync'd, renamed) only if the block succeeds."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % final.name[:40], suffix=".part", dir=final.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield cast(BinaryIO, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(final.parent)


def _fsync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------- page sources


def _needs_reencode(path: Path, info: PageInfo) -> bool:
    """img2pdf takes JPEG, PNG (no alpha, no 16-bit), TIFF and JPEG 2000 directly."""
    if info.format == "jpeg":
        return False
    if info.format == "bmp":
        return True
    if info.mode in ("RGBA", "LA", "PA", "I;16", "I;16B", "I", "F") or (
        info.format == "png" and info.mode == "P"
    ):
        return True
    return False


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA", "P"):
        return img.convert("RGB")
    if img.mode in ("I;16", "I;16B", "I", "F"):
        return img.point(lambda v: v / 256).convert("L") if img.mode != "F" else img.convert("L")
    return img


def _png_bytes(img: Image.Image, dpi: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    _flatten(img).save(out, "PNG", compress_level=1, dpi=dpi)
    return out.getvalue()


def pdf_sources(pages: Sequence[tuple[Path, PageInfo]]) -> Iterator[str | bytes]:
    """Each page as img2pdf input: the spool path where img2pdf can embed it, else PNG bytes."""
    for path, info in pages:
        if not _needs_reencode(path, info):
            yield str(path)
            continue
        with open_image(path, info.format) as img:
            for index in range(info.frames):
                img.seek(index)
                yield _png_bytes(img, info.dpi)


class _HashingWriter(io.RawIOBase):
    """A write-only, non-seekable stream that hashes what passes through, so a built document is
    not read back just to learn its sha256 (img2pdf/pikepdf then write strictly in sequence)."""

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self.fh = fh
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.fh.write(view)
        return view.nbytes


def _img2pdf(pages: Sequence[tuple[Path, PageInfo]], out: BinaryIO | _HashingWriter) -> None:
    img2pdf.convert(*list(pdf_sources(pages)), outputstream=out, rotation=img2pdf.Rotation.ifvalid)


def write_pdf(pages: Sequence[tuple[Path, PageInfo]], final: Path, chunk: int = PDF_CHUNK_PAGES) -> int:
    """Build one PDF of ``pages`` at ``final``; returns the page count of the PDF."""
    return build_pdf(pages, final, chunk)[0]


def build_pdf(
    pages: Sequence[tuple[Path, PageInfo]], final: Path, chunk: int = PDF_CHUNK_PAGES
) -> tuple[int, str]:
    """Build one PDF of ``pages`` at ``final``; ``(page count, sha256 of the file)``."""
    if not pages:
        raise ValueError("no pages to put in a PDF")
    if len(pages) <= chunk:
        with atomic_output(final) as fh:
            writer = _HashingWriter(fh)
            _img2pdf(pages, writer)
        return _count_pdf_pages(final), writer.digest.hexdigest()
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".chunks-") as tmp:
        parts: list[Path] = []
        for start in range(0, len(pages), chunk):
            part = Path(tmp) / ("%06d.pdf" % start)
            with part.open("wb") as fh:
                _img2pdf(pages[start : start + chunk], fh)
            parts.append(part)
        joined = Path(tmp) / "joined.pdf"  # same file system as final: the rename is atomic
        _join(parts, joined)
        digest = hashlib.sha256()
        with joined.open("rb+") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
            os.fsync(fh.fileno())
        os.replace(joined, final)
    _fsync_dir(final.parent)
    return _count_pdf_pages(final), digest.hexdigest()


def _join(parts: Sequence[Path], out: Path) -> None:
    """Concatenate PDFs with the qpdf CLI when present (it copies page streams from the input files
    as it writes, so memory stays flat); pikepdf in-process otherwise (holds the streams)."""
    qpdf = shutil.which("qpdf")
    if qpdf:
        subprocess.run(
            [qpdf, "--empty", "--pages", *[str(p) for p in parts], "--", str(out)],
            check=True,
            capture_output=True,
        )
        return
    import pikepdf

    with pikepdf.Pdf.new() as pdf:
        opened = [pikepdf.Pdf.open(p) for p in parts]
        try:
            for src in opened:
                pdf.pages.extend(src.pages)
            pdf.save(out)
        finally:
            for src in opened:
                src.close()


def _count_pdf_pages(path: Path) -> int:
    import pikepdf

    with pikepdf.Pdf.open(path) as pdf:
        return len(pdf.pages)


def write_tiff(pages: Sequence[tuple[Path, PageInfo]], final: Path) -> int:
    """One multi-page TIFF; bilevel pages CCITT G4, the others LZW. Returns the page count.

    Frames are appended one at a time (``AppendingTiffWriter``), so one decoded page is in memory
    at a time whatever the job size.
    """
    from PIL import TiffImagePlugin

    count = 0
    with atomic_output(final) as fh, TiffImagePlugin.AppendingTiffWriter(fh, new=True) as tf:
        for path, info in pages:
            with open_image(path, info.format) as img:
                for index in range(info.frames):
                    img.seek(index)
                    frame = img if img.mode == "1" else _flatten(img)
                    frame.save(tf, "TIFF", compression=_tiff_compression(frame), dpi=info.dpi)
                    tf.newFrame()
                    count += 1
    return count


def _tiff_compression(img: Image.Image) -> str:
    return "group4" if img.mode == "1" else "tiff_lzw"


def write_page_image(path: Path, info: PageInfo, fmt: str, final: Path, frame: int = 0) -> None:
    """One page as ``fmt`` (``jpeg``/``png``); a JPEG page to JPEG is copied byte for byte."""
    if fmt == "jpeg" and info.format == "jpeg" and info.frames == 1:
        with path.open("rb") as src, atomic_output(final) as fh:
            while block := src.read(1 << 20):
                fh.write(block)
        return
    with open_image(path, info.format) as img:
        img.seek(frame)
        flat = _flatten(img)
        with atomic_output(final) as fh:
            if fmt == "jpeg":
                (flat.convert("L") if flat.mode == "1" else flat).save(fh, "JPEG", quality=90, dpi=info.dpi)
            else:
                flat.save(fh, "PNG", compress_level=6, dpi=info.dpi)


# Truncated files must raise rather than be silently padded with grey when we do decode.
ImageFile.LOAD_TRUNCATED_IMAGES = False
