"""Optional OCR (searchable PDF) and PDF/A conversion with OCRmyPDF + Tesseract.

``ocrmypdf -l <lang> --image-dpi N --output-type pdfa|pdf [--ocr-engine none] in.pdf out.pdf``
runs in a subprocess (the same interpreter's ``ocrmypdf`` package), so a crash or a runaway
Ghostscript cannot take the worker with it, and a time limit applies. When OCRmyPDF, Tesseract
(for OCR) or Ghostscript (for PDF/A) is not installed, :class:`Unavailable` says which; the
pipeline then delivers the plain PDF and the job ends with a warning (decision recorded in
``scanserver.imaging``).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600


class Unavailable(Exception):
    """A tool the conversion needs is not installed; the message names it."""


class Failed(Exception):
    """OCRmyPDF ran and failed; the message carries the end of its output."""


def missing(ocr: bool, pdfa: bool) -> str | None:
    """What is missing for this conversion, as a sentence, or None when everything is there."""
    if importlib.util.find_spec("ocrmypdf") is None:
        return "OCRmyPDF is not installed"
    if ocr and not shutil.which("tesseract"):
        return "Tesseract is not installed (no OCR)"
    if pdfa and not shutil.which("gs"):
        return "Ghostscript is not installed (no PDF/A)"
    return None


def language() -> str:
    return str(getattr(settings, "SCANSERVER_OCR_LANGUAGE", "eng") or "eng")


def convert(
    src: Path, dst: Path, *, ocr: bool, pdfa: bool, dpi: int = 300, timeout: int | None = None
) -> None:
    """``src`` (an image PDF) → ``dst`` with a text layer (``ocr``) and/or as PDF/A-2b (``pdfa``)."""
    problem = missing(ocr, pdfa)
    if problem:
        raise Unavailable(problem)
    cmd = [
        sys.executable,
        "-m",
        "ocrmypdf",
        "-l",
        language(),
        "--image-dpi",
        str(int(dpi)),
        "--output-type",
        "pdfa" if pdfa else "pdf",
        "--jobs",
        "1",
        "--quiet",
    ]
    if pdfa:
        cmd += ["--pdfa-image-compression", "lossless"]
    if not ocr:
        cmd += ["--ocr-engine", "none"]
    cmd += [str(src), str(dst)]
    try:
        done = subprocess.run(
            cmd,
            capture_output=True,
            timeout=timeout or int(getattr(settings, "SCANSERVER_OCR_TIMEOUT", DEFAULT_TIMEOUT)),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Failed("timed out") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()[-3:]
        raise Failed("ocrmypdf exit %d: %s" % (done.returncode, " | ".join(tail)))
    log.info("ocrmypdf %s -> %s (ocr=%s, pdfa=%s)", src.name, dst.name, ocr, pdfa)
