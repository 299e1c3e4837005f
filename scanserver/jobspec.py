"""What a job says to do: the settings of its published version (or of its process), and the
``PostScanInstructions`` its device sent.

The pipeline (building documents) and the deliveries both read a job through these functions, so
neither has to call into the other (STYLE.md habit 19).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scanserver.models import ScanJob

REASON_PROCESSING_FAILED = "PostScanJobProcessingFailed"
DEFAULT_TEMPLATE = "{root}-{date:%Y%m%d-%H%M%S}-{seq}"


class JobRefused(Exception):
    """A page of the job cannot be processed; the message names the page and the reason."""


@dataclass(frozen=True)
class Processing:
    """What the job's process version says to build."""

    output_format: str
    ocr: bool
    naming_template: str
    root: str
    continue_on_error: bool


def processing_of(job: ScanJob) -> Processing:
    snap: dict[str, Any] = {}
    if job.process_version is not None:
        snap = dict(job.process_version.settings_snapshot or {})
    process = job.process

    def pick(key: str, default: Any) -> Any:
        if key in snap:
            return snap[key]
        if process is not None:
            return getattr(process, key)
        return default

    root = job.document_root_name or str(pick("document_root_name", "Scan"))
    continue_on_error = bool(pick("continue_on_error", True))
    instructions = instructions_of(job)
    if instructions is not None:
        if instructions.continue_on_error is not None:
            continue_on_error = instructions.continue_on_error
        root = job.document_root_name or instructions.document_root_name or root
    return Processing(
        output_format=str(pick("output_format", "pdf")),
        ocr=bool(pick("ocr", False)),
        naming_template=str(pick("naming_template", DEFAULT_TEMPLATE)) or DEFAULT_TEMPLATE,
        root=root,
        continue_on_error=continue_on_error,
    )


def instructions_of(job: ScanJob) -> Any:
    """The job's ``PostScanInstructions`` (as the device sent them), or None for a WSD job."""
    if not job.instructions_xml.strip():
        return None
    from devices.protocols import psp, xmlsafe

    return psp.instructions_from_element(xmlsafe.parse(job.instructions_xml.encode("utf-8")))
