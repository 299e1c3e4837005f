"""Page checks and document building (scanserver.imaging), on the simulator's synthetic pages."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from scanserver import imaging
from tests.scanserver.scanfiles import bomb_png, page_bytes


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("jfif", "jpeg"), ("png", "png"), ("tiff-single-g4", "tiff"), ("dib", "bmp"), ("jpeg2k", "jp2")],
)
def test_format_is_sniffed_from_magic_bytes(tmp_path: Path, fmt: str, expected: str) -> None:
    color = "BlackAndWhite1" if "g4" in fmt else "RGB24"
    path = write(tmp_path, "page.pdf", page_bytes(fmt=fmt, dpi=50, color=color))  # the name lies
    info = imaging.inspect_page(path, limit=10**8)
    assert info.format == expected
    assert (info.width, info.height) == (414, 584)


def test_unknown_bytes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(imaging.PageRefused, match="unknown image format"):
        imaging.inspect_page(write(tmp_path, "x.jpg", b"GIF89a not a scan"), limit=10**8)


def test_pixel_bomb_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "bomb.png", bomb_png(30000, 30000))
    assert path.stat().st_size < 2_000_000  # 900 Mpx in a small file

    def no_decode(self: Image.Image) -> None:
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decode)
    with pytest.raises(imaging.PageRefused, match="pixel"):
        imaging.inspect_page(path, limit=50_000_000)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    data = page_bytes(dpi=50)
    with pytest.raises(imaging.PageRefused, match="truncated"):
        imaging.inspect_page(write(tmp_path, "cut.jpg", data[: len(data) // 2]), limit=10**8)


def test_pdf_embeds_jpeg_pages_unchanged(tmp_path: Path) -> None:
    blobs = [page_bytes(n, dpi=60) for n in (1, 2, 3)]
    pages = [
        (p, imaging.inspect_page(p, 10**8))
        for p in (write(tmp_path, "%d" % i, b) for i, b in enumerate(blobs))
    ]
    out = tmp_path / "out" / "doc.pdf"
    assert imaging.write_pdf(pages, out) == 3
    with pikepdf.Pdf.open(out) as pdf:
        streams = []
        for page in pdf.pages:
            (image,) = page.get_images().values()
            assert image.Filter == pikepdf.Name.DCTDecode
            streams.append(image.read_raw_bytes())
    assert streams == blobs  # lossless passthrough: the very bytes the device sent
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_long_pdf_is_built_in_chunks_with_every_page_in_order(tmp_path: Path) -> None:
    blobs = [page_bytes(n, dpi=20) for n in range(1, 8)]
    pages = [
        (p, imaging.inspect_page(p, 10**8))
        for p in (write(tmp_path, "%d" % i, b) for i, b in enumerate(blobs))
    ]
    out = tmp_path / "doc.pdf"
    assert imaging.write_pdf(pages, out, chunk=3) == 7
    with pikepdf.Pdf.open(out) as pdf:
        got = [next(iter(page.get_images().values())).read_raw_bytes() for page in pdf.pages]
    assert got == blobs


def test_png_with_alpha_and_bmp_go_into_the_pdf(tmp_path: Path) -> None:
    rgba = page_bytes(fmt="png", dpi=30, color="RGBa32")
    bmp = page_bytes(fmt="dib", dpi=30)
    pages = [
        (p, imaging.inspect_page(p, 10**8)) for p in (write(tmp_path, "a", rgba), write(tmp_path, "b", bmp))
    ]
    out = tmp_path / "doc.pdf"
    assert imaging.write_pdf(pages, out) == 2


def test_multipage_tiff_uses_g4_for_bilevel_pages(tmp_path: Path) -> None:
    mono = write(tmp_path, "m", page_bytes(fmt="png", dpi=50, color="BlackAndWhite1"))
    colour = write(tmp_path, "c", page_bytes(fmt="jfif", dpi=50))
    pages = [(p, imaging.inspect_page(p, 10**8)) for p in (mono, colour, mono)]
    out = tmp_path / "doc.tif"
    assert imaging.write_tiff(pages, out) == 3
    with Image.open(out) as img:
        assert img.n_frames == 3
        compressions = []
        for i in range(3):
            img.seek(i)
            compressions.append(img.info.get("compression"))
    assert compressions == ["group4", "tiff_lzw", "group4"]


def test_jpeg_page_output_is_a_byte_copy_and_png_decodes(tmp_path: Path) -> None:
    data = page_bytes(dpi=40)
    src = write(tmp_path, "p", data)
    info = imaging.inspect_page(src, 10**8)
    imaging.write_page_image(src, info, "jpeg", tmp_path / "o.jpg")
    assert (tmp_path / "o.jpg").read_bytes() == data
    imaging.write_page_image(src, info, "png", tmp_path / "o.png")
    with Image.open(io.BytesIO((tmp_path / "o.png").read_bytes())) as img:
        assert img.format == "PNG" and img.size == (info.width, info.height)
