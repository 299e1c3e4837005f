"""Synthetic scanned pages for the simulated device (PROTOCOL.md §3.3 ScanTicket, §4.4 RetrieveImage).

A page is drawn directly at its final pixel size (ticket size in 1/1000 inch × resolution in dpi)
with a handful of primitives — a frame, a header band, a few grey "text lines", large labels
and an optional QR code — so a 300 dpi A4 page costs milliseconds to draw; the encoder is the
only real cost, and each format uses its fast setting (PNG ``compress_level=1``, uncompressed or
G4 TIFF).

Colour modes (WDD:colorprocessing.md) map onto Pillow modes; Pillow cannot hold 48/64-bit
colour, so ``RGB48``/``RGBa64`` pages are produced as 24/32-bit and the nearest supported depth
is what the file says. ``Grayscale4`` is 8-bit grey with 16 levels.

Formats (WDD:format.md): ``jfif``/``exif`` (JPEG), ``png``, ``dib`` (BMP), ``jpeg2k``,
``tiff-single-*`` and ``tiff-multi-*`` (uncompressed, g4, g3mh, jpeg-tn2), and ``pdf-a``. The
``pdf-a`` output is made with **img2pdf** (each page embedded losslessly as JPEG, or PNG/Flate
for bilevel pages); it is a plain PDF and **not a validated PDF/A** file.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import img2pdf
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

#: Formats that hold every page of a job in one file (one RetrieveImage / one SendImage).
MULTI_PAGE_FORMATS = frozenset(
    {"tiff-multi-uncompressed", "tiff-multi-g4", "tiff-multi-g3mh", "tiff-multi-jpeg-tn2", "pdf-a"}
)

_TIFF_COMPRESSION = {
    "uncompressed": "raw",
    "g4": "group4",
    "g3mh": "group3",
    "jpeg-tn2": "tiff_jpeg",
}

# The wscn:Format tokens the simulator can render (a subset of wsscan.ticket.FORMATS: no jbig or
# xps), in the order the device advertises them: its preference, jfif first.
SUPPORTED_FORMATS: tuple[str, ...] = (
    "jfif",
    "exif",
    "png",
    "dib",
    "jpeg2k",
    "tiff-single-uncompressed",
    "tiff-single-g4",
    "tiff-single-g3mh",
    "tiff-single-jpeg-tn2",
    "tiff-multi-uncompressed",
    "tiff-multi-g4",
    "tiff-multi-g3mh",
    "tiff-multi-jpeg-tn2",
    "pdf-a",
)

SUPPORTED_COLOR_MODES: tuple[str, ...] = (
    "BlackAndWhite1",
    "Grayscale4",
    "Grayscale8",
    "Grayscale16",
    "RGB24",
    "RGB48",
    "RGBa32",
    "RGBa64",
)

_MIME = {
    "jfif": "image/jpeg",
    "exif": "image/jpeg",
    "png": "image/png",
    "dib": "image/bmp",
    "jpeg2k": "image/jp2",
    "pdf-a": "application/pdf",
}


class UnsupportedFormat(ValueError):
    """The format or colour mode is not one :mod:`pages` can produce."""


@dataclass(frozen=True)
class PageSpec:
    """Everything printed on one synthetic page; sizes in 1/1000 inch, resolution in dpi."""

    width_mils: int
    height_mils: int
    dpi_x: int
    dpi_y: int
    color: str = "RGB24"
    page_number: int = 1
    side: str = "front"
    job_name: str = ""
    user: str = ""
    device_name: str = ""
    timestamp: datetime | None = None
    qr: bool = False

    @property
    def pixel_size(self) -> tuple[int, int]:
        return pixel_size(self.width_mils, self.height_mils, self.dpi_x, self.dpi_y)


def pixel_size(width_mils: int, height_mils: int, dpi_x: int, dpi_y: int) -> tuple[int, int]:
    """Pixels of a region of ``width_mils`` × ``height_mils`` thousandths of an inch."""
    return max(1, round(width_mils * dpi_x / 1000)), max(1, round(height_mils * dpi_y / 1000))


def mime_type(fmt: str) -> str:
    if fmt.startswith("tiff-"):
        return "image/tiff"
    try:
        return _MIME[fmt]
    except KeyError:
        raise UnsupportedFormat("format %r is not supported" % fmt) from None


def bytes_per_line(pixels_per_line: int, color: str) -> int:
    """Uncompressed line length for ImageInformation (WDD:imageinformation.md)."""
    bits = {
        "BlackAndWhite1": 1,
        "Grayscale4": 4,
        "Grayscale8": 8,
        "Grayscale16": 16,
        "RGB24": 24,
        "RGB48": 48,
        "RGBa32": 32,
        "RGBa64": 64,
    }.get(color, 24)
    return (pixels_per_line * bits + 7) // 8


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, size))


def render_page(spec: PageSpec) -> Image.Image:
    """Draw one page at its final pixel size, in the Pillow mode of ``spec.color``."""
    if spec.color not in SUPPORTED_COLOR_MODES:
        raise UnsupportedFormat("colour mode %r is not supported" % spec.color)
    width, height = spec.pixel_size
    colour = spec.color.startswith("RGB")
    img = Image.new("RGB" if colour else "L", (width, height), "white")
    draw = ImageDraw.Draw(img)
    unit = max(1, min(width, height) // 60)  # layout grid that scales with the page
    ink = (20, 40, 120) if colour else 0
    grey = (170, 170, 170) if colour else 170
    draw.rectangle((unit, unit, width - 1 - unit, height - 1 - unit), outline=ink, width=max(1, unit // 3))
    band_h = unit * 6
    draw.rectangle(
        (2 * unit, 2 * unit, width - 2 * unit, 2 * unit + band_h), fill=(200, 220, 255) if colour else 220
    )
    big = _font(unit * 5)
    small = _font(unit * 2)
    side = "" if spec.side == "front" else " (back)"
    draw.text((3 * unit, 2 * unit + unit // 2), "Page %d%s" % (spec.page_number, side), fill=ink, font=big)
    stamp = (spec.timestamp or datetime.now().astimezone()).isoformat(timespec="seconds")
    lines = [
        "Job: %s" % (spec.job_name or "-"),
        "User: %s" % (spec.user or "-"),
        "Device: %s" % (spec.device_name or "-"),
        "Scanned: %s" % stamp,
        "%d x %d px, %d x %d dpi, %s" % (width, height, spec.dpi_x, spec.dpi_y, spec.color),
    ]
    y = 2 * unit + band_h + 2 * unit
    for line in lines:
        draw.text((3 * unit, y), line, fill=ink, font=small)
        y += unit * 3
    # A few grey bars stand in for body text: cheap, and they give OCR/compression something to see.
    y += unit * 2
    bar = max(1, unit)
    while y < height - 12 * unit:
        draw.rectangle((3 * unit, y, width - 3 * unit - (y * 7 % (width // 3 + 1)), y + bar), fill=grey)
        y += bar * 3
    if spec.qr:
        _paste_qr(img, spec, unit)
    return _to_mode(img, spec.color)


def _paste_qr(img: Image.Image, spec: PageSpec, unit: int) -> None:
    import qrcode  # imported lazily: only pages that ask for a code pay for it

    text = "opendsm:job=%s;page=%d;user=%s" % (spec.job_name, spec.page_number, spec.user)
    code = qrcode.QRCode(border=1, box_size=max(1, unit // 2))
    code.add_data(text)
    code.make(fit=True)
    qr_img = code.make_image().get_image().convert(img.mode)
    x = img.width - qr_img.width - 3 * unit
    y = img.height - qr_img.height - 3 * unit
    if x > 0 and y > 0:
        img.paste(qr_img, (x, y))


def _to_mode(img: Image.Image, color: str) -> Image.Image:
    if color == "BlackAndWhite1":
        return img.convert("1", dither=Image.Dither.NONE)
    if color == "Grayscale4":
        return img.point(lambda v: (v // 17) * 17)
    if color == "Grayscale16":
        return img.convert("I;16")
    if color in ("RGBa32", "RGBa64"):
        return img.convert("RGBA")
    return img


def _for_jpeg(img: Image.Image) -> Image.Image:
    if img.mode in ("1", "I;16"):
        return img.convert("L")
    if img.mode == "RGBA":
        return img.convert("RGB")
    return img


def _tiff_page(img: Image.Image, compression: str) -> Image.Image:
    if compression in ("group4", "group3"):
        return img if img.mode == "1" else img.convert("L").convert("1", dither=Image.Dither.NONE)
    if compression == "tiff_jpeg":
        return _for_jpeg(img)
    return img


def encode(pages: Sequence[Image.Image], fmt: str, dpi: tuple[int, int], quality: int = 85) -> bytes:
    """Encode ``pages`` as one file in WS-Scan format ``fmt``.

    Single-page formats take exactly one page; multi-page formats (:data:`MULTI_PAGE_FORMATS`)
    take one or more.
    """
    if not pages:
        raise ValueError("no pages to encode")
    if fmt not in SUPPORTED_FORMATS:
        raise UnsupportedFormat("format %r is not supported" % fmt)
    if fmt not in MULTI_PAGE_FORMATS and len(pages) != 1:
        raise ValueError("format %s holds one page, got %d" % (fmt, len(pages)))
    quality = min(95, max(5, quality))
    out = io.BytesIO()
    first = pages[0]
    if fmt in ("jfif", "exif"):
        _for_jpeg(first).save(out, "JPEG", quality=quality, dpi=dpi)
    elif fmt == "png":
        first.save(out, "PNG", compress_level=1, dpi=dpi)
    elif fmt == "dib":
        (first.convert("L") if first.mode == "I;16" else first).save(out, "BMP")
    elif fmt == "jpeg2k":
        img = first.convert("L") if first.mode in ("1", "I;16") else first
        img.save(out, "JPEG2000", quality_mode="rates", quality_layers=[20])
    elif fmt.startswith("tiff-"):
        kind, _, comp_name = fmt[len("tiff-") :].partition("-")
        compression = _TIFF_COMPRESSION[comp_name]
        converted = [_tiff_page(p, compression) for p in pages]
        extra: dict[str, object] = {"compression": compression, "dpi": dpi}
        if compression == "tiff_jpeg":
            extra["quality"] = quality
        if kind == "multi" and len(converted) > 1:
            converted[0].save(out, "TIFF", save_all=True, append_images=converted[1:], **extra)
        else:
            converted[0].save(out, "TIFF", **extra)
    elif fmt == "pdf-a":
        return _pdf(pages, dpi, quality)
    return out.getvalue()


def _pdf(pages: Sequence[Image.Image], dpi: tuple[int, int], quality: int) -> bytes:
    # img2pdf embeds JPEG/PNG streams as they are (no re-encoding), which keeps this fast.
    blobs: list[bytes] = []
    for page in pages:
        buf = io.BytesIO()
        if page.mode == "1":
            page.save(buf, "PNG", dpi=dpi)
        else:
            _for_jpeg(page).save(buf, "JPEG", quality=quality, dpi=dpi)
        blobs.append(buf.getvalue())
    result = img2pdf.convert(blobs)
    assert result is not None
    return bytes(result)


def render_document(specs: Sequence[PageSpec], fmt: str, quality: int = 85) -> bytes:
    """Render and encode one document (a single page, or all pages for a multi-page format)."""
    if not specs:
        raise ValueError("no pages to render")
    images = [render_page(s) for s in specs]
    return encode(images, fmt, (specs[0].dpi_x, specs[0].dpi_y), quality)
