"""Bytes of scanned pages, and what a destination folder holds: the pipeline tests' non-model
helpers (the models they need come from ``tests.factories``)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from devices.simulator import pages as simpages


def page_bytes(n: int = 1, fmt: str = "jfif", dpi: int = 100, color: str = "RGB24") -> bytes:
    """A synthetic A4 page from the simulator's renderer (100 dpi keeps tests quick)."""
    spec = simpages.PageSpec(8270, 11690, dpi, dpi, color=color, page_number=n, job_name="test")
    return simpages.render_document([spec], fmt)


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A small PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb)."""
    img = Image.new("1", (width, height), 0)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> dict[str, str]:
    """name → sha256 of the visible files in ``folder`` (temp files start with a dot)."""
    return {
        p.name: sha(p.read_bytes())
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
