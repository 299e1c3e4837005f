"""Synthetic page rendering: real pixel sizes, Pillow modes and file magic of every format."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from devices.simulator import pages

SMALL = dict(width_mils=8268, height_mils=11693, dpi_x=50, dpi_y=50)  # A4 at 50 dpi = 413 x 585

MAGIC = {
    "jfif": b"\xff\xd8\xff",
    "exif": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
    "dib": b"BM",
    "jpeg2k": b"\x00\x00\x00\x0cjP  ",
    "pdf-a": b"%PDF-",
}


def spec(**kw: object) -> pages.PageSpec:
    values: dict[str, object] = dict(SMALL, job_name="Invoices", user="alice")
    values.update(kw)
    return pages.PageSpec(**values)  # type: ignore[arg-type]


def test_pixel_size_follows_ticket_units() -> None:
    assert pages.pixel_size(8500, 11000, 300, 300) == (2550, 3300)
    assert pages.pixel_size(8268, 11693, 50, 100) == (413, 1169)


@pytest.mark.parametrize(
    ("color", "mode"),
    [
        ("BlackAndWhite1", "1"),
        ("Grayscale4", "L"),
        ("Grayscale8", "L"),
        ("Grayscale16", "I;16"),
        ("RGB24", "RGB"),
        ("RGBa32", "RGBA"),
    ],
)
def test_render_page_size_and_mode(color: str, mode: str) -> None:
    img = pages.render_page(spec(color=color))
    assert img.size == (413, 585)
    assert img.mode == mode
    # The page is not blank: the frame and labels put dark pixels on it.
    darkest = img.convert("L").getextrema()[0]
    assert isinstance(darkest, int) and darkest < 100


def test_grayscale4_has_sixteen_levels_at_most() -> None:
    img = pages.render_page(spec(color="Grayscale4"))
    colours = img.getcolors(maxcolors=256)
    assert colours is not None and len(colours) <= 16


def test_qr_code_changes_the_page() -> None:
    plain = pages.render_page(spec(dpi_x=100, dpi_y=100))
    with_qr = pages.render_page(spec(dpi_x=100, dpi_y=100, qr=True))
    assert plain.tobytes() != with_qr.tobytes()


@pytest.mark.parametrize("fmt", [f for f in pages.SUPPORTED_FORMATS if f not in pages.MULTI_PAGE_FORMATS])
def test_single_page_formats_decode_at_ticket_size(fmt: str) -> None:
    data = pages.render_document([spec(color="RGB24")], fmt)
    if fmt.startswith("tiff-"):
        assert data[:4] in (b"II*\x00", b"MM\x00*")
    else:
        assert data.startswith(MAGIC[fmt])
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (413, 585)
        if fmt in ("tiff-single-g4", "tiff-single-g3mh"):
            assert img.mode == "1"
    assert pages.mime_type(fmt) in ("image/jpeg", "image/png", "image/bmp", "image/jp2", "image/tiff")


@pytest.mark.parametrize("fmt", ["tiff-multi-uncompressed", "tiff-multi-g4", "tiff-multi-jpeg-tn2"])
def test_multi_page_tiff_holds_every_page(fmt: str) -> None:
    data = pages.render_document([spec(page_number=n) for n in (1, 2, 3)], fmt)
    with Image.open(io.BytesIO(data)) as img:
        assert getattr(img, "n_frames", 1) == 3
        for frame in range(3):
            img.seek(frame)
            assert img.size == (413, 585)


def test_pdf_has_one_page_per_image() -> None:
    data = pages.render_document([spec(page_number=n) for n in (1, 2)], "pdf-a")
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", data)) == 2
    assert pages.mime_type("pdf-a") == "application/pdf"


def test_jpeg_records_the_resolution() -> None:
    data = pages.render_document([spec(dpi_x=75, dpi_y=75)], "jfif")
    with Image.open(io.BytesIO(data)) as img:
        assert img.info["dpi"] == pytest.approx((75, 75))


def test_single_page_format_refuses_two_pages() -> None:
    with pytest.raises(ValueError):
        pages.render_document([spec(), spec()], "png")


def test_unsupported_format_and_colour() -> None:
    with pytest.raises(pages.UnsupportedFormat):
        pages.render_document([spec()], "xps")
    with pytest.raises(pages.UnsupportedFormat):
        pages.render_page(spec(color="CMYK32"))


def test_bytes_per_line() -> None:
    assert pages.bytes_per_line(2550, "RGB24") == 7650
    assert pages.bytes_per_line(2550, "BlackAndWhite1") == 319


def test_rendered_formats_are_ws_scan_formats() -> None:
    from devices.protocols.wsscan import ticket

    assert set(pages.SUPPORTED_FORMATS) <= set(ticket.FORMATS)
    assert pages.SUPPORTED_FORMATS[0] == "jfif"
