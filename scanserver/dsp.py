"""The work behind each WS-DSP operation (device → scan server), as plain synchronous functions.

PROTOCOL.md §5.1 (WDD:distributed-scan-processing-web-service-protocol-summary.md and the
operation pages it lists). The ASGI endpoint only reads and validates the protocol and calls
these with the authenticated :class:`Caller`; tests call them directly. Each function either
returns what the response needs or raises :class:`~devices.protocols.soap.SoapFault`
(``dsp:InvalidArgs``, ``dsp:ClientErrorJobTokenNotFound``) or :class:`scanserver.access.Refused`.
Jobs are looked up by token *and* caller: a device sees only the jobs it created, so a guessed
token gets the same "not found" as a wrong one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from devices.models import Device, ScanServer
from devices.protocols import dsp, jobstatus, mtom, psp, soap
from scanserver import access, dispatch, events, ingest, wire
from scanserver.models import JobSource, JobState, ScanJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who is calling: the scan server addressed, and the device or console that proved itself."""

    server: ScanServer
    device: Device | None = None
    console: bool = False
    peer: str = ""


def invalid_args(reason: str, ns_fault: tuple[str, str] = dsp.FAULT_INVALID_ARGS) -> soap.SoapFault:
    return soap.SoapFault.sender(ns_fault, reason)


def token_not_found(token: str, ns_fault: tuple[str, str] = dsp.FAULT_JOB_TOKEN_NOT_FOUND) -> soap.SoapFault:
    return soap.SoapFault.sender(ns_fault, "no such job: %s" % token[:80])


def caller_jobs(caller: Caller, token: str) -> QuerySet[ScanJob] | None:
    """The caller's jobs with ``token`` (at most one), or ``None`` when the token is not a GUID."""
    try:
        parsed = uuid.UUID(token.strip())
    except ValueError:
        return None
    jobs = ScanJob.objects.filter(token=parsed, server=caller.server)
    if not caller.console:
        jobs = jobs.filter(device=caller.device) if caller.device is not None else jobs.none()
    return jobs


def find_job(
    caller: Caller, token: str, *, ns_fault: tuple[str, str] = dsp.FAULT_JOB_TOKEN_NOT_FOUND
) -> ScanJob:
    """The caller's job with ``token``; a ClientErrorJobTokenNotFound fault otherwise."""
    jobs = caller_jobs(caller, token)
    job = jobs.first() if jobs is not None else None
    if job is None:
        raise token_not_found(token, ns_fault)
    return job


def _require_device(caller: Caller) -> Device:
    if caller.device is None:
        raise access.not_enrolled(caller.peer)
    return caller.device


# --------------------------------------------------------------------------------------------
# operations


def create_post_scan_job(caller: Caller, req: dsp.CreatePostScanJobRequest) -> ScanJob:
    """Admit the job (access.admit_create) and create it in ``receiving``."""
    device = _require_device(caller)
    wire.check_create(req)
    admission = access.admit_create(device, caller.server, req)
    wire.check_job_names(admission.user_name, admission.process.display_name)
    with transaction.atomic():
        job = ScanJob.objects.create(
            source=JobSource.DSP,
            server=caller.server,
            device=device,
            user_sid=req.user_identifier,
            user_name=admission.user_name,
            process=admission.process,
            process_version=admission.version,
            psp_identifier=dsp.format_guid(req.psp_identifier),
            psp_display_name=admission.process.display_name,
            instructions_xml=psp.instructions_to_xml(req.instructions).decode(),
            document_root_name=req.instructions.document_root_name,
            state_reasons=["None"],
        )
        job.announce()
    logger.info(
        "job %s created for %s on %s (process %r)",
        job.token,
        job.user_name,
        device.name,
        job.psp_display_name,
    )
    return job


def send_image(caller: Caller, req: dsp.SendImageRequest, part: mtom.SpooledPart) -> ingest.Stored:
    """Store one document durably; only after this returns may SendImageResponse go out.

    Whatever it raises, the temporary file of ``part`` is gone and nothing of it is in the spool.
    """
    try:
        wire.check_document(req.document.document_id, req.document.format, part)
    except soap.SoapFault:
        part.path.unlink(missing_ok=True)
        raise
    jobs = caller_jobs(caller, req.job_token)
    if jobs is None:
        part.path.unlink(missing_ok=True)
        raise token_not_found(req.job_token)
    try:
        stored = ingest.store_document(jobs, req.document.document_id, req.document.format, part)
    except ingest.JobNotFound:
        raise token_not_found(req.job_token) from None
    except ingest.DocumentConflict as exc:
        raise invalid_args(str(exc)) from None
    except ingest.JobNotReceiving as exc:
        raise invalid_args(str(exc)) from None
    if stored.created and _progress_due(stored.job):
        stored.job.announce()
    return stored


# Page-by-page progress reaches the console and subscribers at most this often per job (the
# first page always); state changes (created, ended, processed) are always sent at once.
PROGRESS_INTERVAL = 1.0
_last_progress: dict[int, float] = {}
_progress_lock = threading.Lock()


def _progress_due(job: ScanJob) -> bool:
    now = time.monotonic()
    with _progress_lock:
        if len(_last_progress) > 10_000:  # jobs end: start over (at worst one extra event each)
            _last_progress.clear()
        last = _last_progress.get(job.pk)
        if job.images_received > 1 and last is not None and now - last < PROGRESS_INTERVAL:
            return False
        _last_progress[job.pk] = now
        return True


def end_post_scan_job(caller: Caller, token: str) -> ScanJob:
    """All documents are here: ``pending``, then queue processing after commit (idempotent)."""
    job = find_job(caller, token)
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job.pk)
        if job.state != JobState.RECEIVING:
            if job.state in (JobState.CANCELED, JobState.ABORTED):
                raise invalid_args("job %s was %s: %s" % (token, job.state, job.error or job.state_reasons))
            logger.info("job %s: EndPostScanJob repeated, acknowledged again", job.token)
            return job
        empty = not job.pages.exists()
        if empty:
            job.abort(jobstatus.REASON_SEND_IMAGE_FAILED, "EndPostScanJob arrived before any document")
        else:
            job.end_transfer()
            # Not processed inside this request (unless SMC_SCANSERVER_BACKGROUND_TASKS is off).
            dispatch.queue_processing(job.pk)
    if empty:
        # Raised after the commit: the aborted state is the record the console shows.
        raise invalid_args("job %s has no documents; it is aborted" % token)
    logger.info("job %s: transfer ended with %d documents", job.token, job.images_received)
    return job


def cancel_post_scan_job(
    caller: Caller, token: str, *, ns_fault: tuple[str, str] = dsp.FAULT_JOB_TOKEN_NOT_FOUND
) -> ScanJob:
    """Cancel a job that has not finished (best effort while processing; idempotent)."""
    job = find_job(caller, token, ns_fault=ns_fault)
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job.pk)
        if job.state == JobState.CANCELED:
            return job
        if job.is_terminal:
            fault = (ns_fault[0], "OperationFailed")
            raise soap.SoapFault.receiver(fault, "job %s already ended (%s)" % (token, job.state))
        job.cancel()
    logger.info("job %s canceled by %s", job.token, "the console" if caller.console else caller.device)
    return job


def job_elements(job: ScanJob, requested: tuple[str, ...], ns: str) -> tuple[jobstatus.ElementData, ...]:
    """ElementData in request order for JobStatus, JobDescription, Documents (others: Valid=false)."""
    out = []
    for name in requested:
        local = name.rpartition("}")[2]
        namespace = name[1:].partition("}")[0] if name.startswith("{") else ""
        content: object
        if namespace != ns:
            out.append(jobstatus.ElementData(name=name, valid=False))
            continue
        if local == "JobStatus":
            content = events.job_status(job)
        elif local == "JobDescription":
            content = jobstatus.JobDescription(
                psp_identifier=job.psp_identifier,
                psp_display_name=job.psp_display_name,
                user_name=job.user_name,
            )
        elif local == "Documents":
            content = jobstatus.Documents(
                documents=tuple(
                    jobstatus.DocumentDescription(document_id=p.document_id, format=p.format or "unknown")
                    for p in job.pages.order_by("document_id")
                )
            )
        else:
            out.append(jobstatus.ElementData(name=name, valid=False))
            continue
        out.append(jobstatus.ElementData(name=name, valid=True, content=content))
    return tuple(out)


def get_post_scan_job_elements(
    caller: Caller, req: dsp.GetPostScanJobElementsRequest
) -> dsp.GetPostScanJobElementsResponse:
    job = find_job(caller, req.job_token)
    return dsp.GetPostScanJobElementsResponse(elements=job_elements(job, req.requested, dsp.NS))
