"""Factories for pipeline tests: a scan process with destinations and a pending job with pages.

Jobs are made the way the endpoint leaves them — pages spooled with their sha256, then
``end_transfer()`` — without going through WS-DSP.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
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


def make_process(destinations: Sequence[dict[str, Any]], **fields: Any) -> Any:
    from core import secretbox
    from scanprocesses.models import ProcessDestination, ScanProcess

    values: dict[str, Any] = {
        "display_name": "Process %s" % uuid.uuid4().hex[:8],
        "ticket_xml": "<ticket/>",
        "document_root_name": "Scan",
        "naming_template": "{root}-{job}-{seq}",
        "output_format": "pdf",
    }
    values.update(fields)
    process = ScanProcess.objects.create(**values)
    for position, dest in enumerate(destinations):
        ProcessDestination.objects.create(
            process=process,
            kind=dest["kind"],
            position=position,
            config=dest.get("config", {}),
            username=dest.get("username", ""),
            secret=secretbox.seal(dest.get("password", "")),
        )
    return process


def make_job(process: Any, documents: Sequence[bytes], *, fmt: str = "jfif", **fields: Any) -> Any:
    """A pending job of ``process`` with one ScanPage per document, spooled under the spool dir."""
    from scanserver.models import ScanJob, ScanPage

    job = ScanJob.objects.create(
        process=process,
        user_name=fields.pop("user_name", "EXAMPLE\\alice"),
        user_sid=fields.pop("user_sid", "S-1-5-21-1-2-3-1001"),
        psp_identifier=str(process.guid) if process is not None else "",
        **fields,
    )
    folder = Path(settings.SCANSERVER_SPOOL_DIR) / str(job.token)
    folder.mkdir(parents=True, exist_ok=True)
    for number, data in enumerate(documents, start=1):
        path = folder / ("%04d.bin" % number)
        path.write_bytes(data)
        ScanPage.objects.create(
            job=job,
            document_id=number,
            format=fmt,
            spool_path=str(path),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
    job.images_received = len(documents)
    job.save(update_fields=["images_received"])
    job.end_transfer()
    return job


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_in(folder: Path) -> dict[str, str]:
    """name → sha256 of the visible files in ``folder`` (temp files start with a dot)."""
    return {
        p.name: sha(p.read_bytes())
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }
