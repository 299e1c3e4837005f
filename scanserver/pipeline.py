"""Processing a received scan job: idempotent steps over its rows (DESIGN.md "Durable before
acknowledged").

A job arrives ``pending`` with its ``ScanPage`` rows (spooled files with sha256). The steps:

1. :func:`check_pages` — every spooled file is present, has the sha256 it was received with, and
   passes :func:`scanserver.imaging.inspect_page` (sniffed format, pixel limit). A refused page
   aborts the job with the reason (``PostScanJobProcessingFailed``); the spool is kept as it is.
2. :func:`build_outputs` — the documents of the process's output format, named with
   :mod:`scanprocesses.naming`, written to temp + ``os.replace`` under ``<spool>/out/<job token>/``,
   one ``OutputDocument`` row each (unique per job and name). Names are rendered from values that
   do not change between runs (the job's end time, not "now"), so a re-run after a crash finds
   the same names and reuses complete files instead of producing a second set.
3. :func:`scanserver.delivery.plan_deliveries` — one ``Delivery`` per filter of the job's
   instructions (filter *i* is the process destination at position *i*), keyed by position and
   linked to the ``ProcessDestination`` it came from while that row exists (the rule for which
   settings a delivery sends with is in :mod:`scanserver.delivery`).
4. deliveries run as their own tasks (``scanserver.tasks.deliver``).

Every step may run again after a crash: it neither duplicates nor loses anything. Warnings (OCR
or PDF/A unavailable or failed: a plain document was delivered instead) go to
``ScanJob.warnings`` (:meth:`ScanJob.add_warning`, never twice the same), never to
``ScanJob.error``, which holds only why a job failed; a job with warnings ends
``PostScanJobCompletedWithWarnings``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from core.testhooks import test_pause
from scanprocesses import naming
from scanserver import conf, delivery, imaging, ocr, recovery
from scanserver.jobspec import REASON_PROCESSING_FAILED, JobRefused, Processing, processing_of
from scanserver.models import Delivery, JobState, OutputDocument, ScanJob, ScanPage

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- settings / hooks


def output_dir(job: ScanJob) -> Path:
    return conf.spool_dir() / "out" / str(job.token)


# --------------------------------------------------------------------------- warnings


def add_warning(job: ScanJob, text: str) -> None:
    """Record a non-fatal problem on the job (once) and log it the first time."""
    if job.add_warning(text):
        log.warning("job %s: %s", job.token, text)


# --------------------------------------------------------------------------- step 1: pages


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_pages(job: ScanJob) -> list[tuple[ScanPage, imaging.PageInfo]]:
    """Every page of the job, checked, in DocumentId order. Raises :class:`JobRefused`."""
    pages = list(ScanPage.objects.filter(job=job).order_by("document_id"))
    if not pages:
        raise JobRefused("the job has no pages")
    limit = imaging.max_pixels()
    checked: list[tuple[ScanPage, imaging.PageInfo]] = []
    for page in pages:
        path = Path(page.spool_path)
        if not path.is_file():
            raise JobRefused("document %d: the spooled file %s is missing" % (page.document_id, path))
        if sha256_file(path) != page.sha256:
            raise JobRefused("document %d: the spooled file no longer has its sha256" % page.document_id)
        try:
            info = imaging.inspect_page(path, limit)
        except imaging.PageRefused as exc:
            raise JobRefused("document %d refused: %s" % (page.document_id, exc)) from None
        if page.width != info.width or page.height != info.height:
            ScanPage.objects.filter(pk=page.pk).update(width=info.width, height=info.height)
        checked.append((page, info))
    return checked


# --------------------------------------------------------------------------- step 2: outputs


@dataclass(frozen=True)
class PlannedOutput:
    name: str
    kind: str  # pdf | pdfa | tiff | jpeg | png
    pages: tuple[tuple[Path, imaging.PageInfo], ...]
    frame: int = 0
    page_count: int = 1


def _render(job: ScanJob, proc: Processing, seq: int, ext: str) -> str:
    when: datetime = job.ended_at or job.created_at
    device = job.device.name if job.device is not None and hasattr(job.device, "name") else ""
    return naming.render_name(
        proc.naming_template,
        root=proc.root,
        user=job.user_name.split("\\")[-1],
        device=str(device),
        when=timezone.localtime(when),
        job=job.pk,
        seq=seq,
        ext=ext,
    )


def plan_outputs(
    job: ScanJob, proc: Processing, checked: Sequence[tuple[ScanPage, imaging.PageInfo]]
) -> list[PlannedOutput]:
    """The documents to build, with deterministic unique names."""
    kind = proc.output_format if proc.output_format in imaging.EXTENSIONS else "pdf"
    ext = imaging.EXTENSIONS[kind]
    sources = tuple((Path(p.spool_path), info) for p, info in checked)
    taken: set[str] = set()

    def claim(name: str) -> str:
        chosen = naming.unique_name(lambda n: n in taken, name)
        taken.add(chosen)
        return chosen

    if kind in ("pdf", "pdfa", "tiff"):
        total = sum(info.frames for _, info in sources)
        return [PlannedOutput(claim(_render(job, proc, 1, ext)), kind, sources, page_count=total)]
    planned = []
    seq = 0
    for path, info in sources:
        for frame in range(info.frames):
            seq += 1
            planned.append(PlannedOutput(claim(_render(job, proc, seq, ext)), kind, ((path, info),), frame))
    return planned


def _existing_ok(row: OutputDocument) -> bool:
    path = Path(row.path)
    return path.is_file() and path.stat().st_size == row.size


def _build_one(job: ScanJob, proc: Processing, plan: PlannedOutput, final: Path) -> tuple[int, str | None]:
    """Write ``plan`` to ``final`` (atomically); ``(page count, sha256 when known from the write)``."""
    for _ in plan.pages:
        test_pause("build")
    if plan.kind in ("jpeg", "png"):
        path, info = plan.pages[0]
        imaging.write_page_image(path, info, plan.kind, final, plan.frame)
        return 1, None
    if plan.kind == "tiff":
        if proc.ocr:
            add_warning(job, "OCR applies to PDF output only; the TIFF has no text layer")
        return imaging.write_tiff(plan.pages, final), None
    want_pdfa = plan.kind == "pdfa"
    if not (proc.ocr or want_pdfa):
        return imaging.build_pdf(plan.pages, final)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
        plain = Path(tmp) / "plain.pdf"
        count = imaging.write_pdf(plan.pages, plain)
        dpi = plan.pages[0][1].dpi[0]
        try:
            ocr.convert(plain, Path(tmp) / "out.pdf", ocr=proc.ocr, pdfa=want_pdfa, dpi=dpi)
            done = Path(tmp) / "out.pdf"
        except ocr.Unavailable as exc:
            add_warning(job, "%s; delivered a plain PDF instead" % exc)
            done = plain
        except ocr.Failed as exc:
            add_warning(job, "OCR/PDF-A conversion failed (%s); delivered a plain PDF instead" % exc)
            done = plain
        with done.open("rb") as src, imaging.atomic_output(final) as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
    return count, None


def build_outputs(job: ScanJob, checked: Sequence[tuple[ScanPage, imaging.PageInfo]]) -> list[OutputDocument]:
    """The job's OutputDocument rows, building whatever is missing or incomplete."""
    proc = processing_of(job)
    folder = output_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    existing = {row.name: row for row in OutputDocument.objects.filter(job=job)}
    rows: list[OutputDocument] = []
    for plan in plan_outputs(job, proc, checked):
        row = existing.get(plan.name)
        if row is not None and _existing_ok(row):
            rows.append(row)
            continue
        final = folder / plan.name
        if final.resolve().parent != folder.resolve():  # names are single components; belt and braces
            raise JobRefused("output name %r leaves the output folder" % plan.name)
        count, digest = _build_one(job, proc, plan, final)
        size = final.stat().st_size
        digest = digest or sha256_file(final)
        row, _ = OutputDocument.objects.update_or_create(
            job=job,
            name=plan.name,
            defaults={
                "path": str(final),
                "content_type": imaging.CONTENT_TYPES[plan.kind],
                "sha256": digest,
                "size": size,
                "pages": count,
            },
        )
        log.info("job %s: built %s (%d pages, %d bytes)", job.token, plan.name, count, size)
        rows.append(row)
    stale = set(existing) - {r.name for r in rows}
    if stale:  # planned differently before (e.g. the process changed between runs): keep only ours
        OutputDocument.objects.filter(job=job).filter(name__in=stale).delete()
    return rows


# --------------------------------------------------------------------------- the job


def claim(job_id: int) -> ScanJob | None:
    """Move a pending job to processing; None when it is not pending (already claimed or done)."""
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != JobState.PENDING:
            return None
        job.start_processing()
    return job


def process(job_id: int) -> ScanJob | None:
    """Steps 1–3 for one job; returns the job (in processing, with its deliveries planned), or None
    when there is nothing to do. Refusals abort the job; unexpected errors hold it for a retry."""
    job = claim(job_id)
    if job is None:
        log.info("job %s is not pending; nothing to process", job_id)
        return None
    test_pause("claimed")
    started = time.monotonic()
    try:
        checked = check_pages(job)
        build_outputs(job, checked)
        test_pause("built")
        delivery.plan_deliveries(job)
    except JobRefused as exc:
        log.warning("job %s refused: %s", job.token, exc)
        with transaction.atomic():
            job.refresh_from_db()
            job.abort(REASON_PROCESSING_FAILED, str(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - any other failure keeps the job for a retry, with the error
        log.exception("job %s: processing failed", job.token)
        with transaction.atomic():
            job.refresh_from_db()
            if job.state == JobState.PROCESSING:
                job.hold("processing failed: %s: %s" % (type(exc).__name__, exc))
        return None
    log.info("job %s: processed in %.2f s", job.token, time.monotonic() - started)
    return job


def resume_stuck(older_than: float) -> list[int]:
    """Jobs a dead worker left ``processing`` before their deliveries were planned (more than
    ``older_than`` seconds ago) go back to ``pending`` — their steps are idempotent; returns their
    ids for re-queueing. Jobs with deliveries are recovered per delivery
    (:func:`scanserver.delivery.recover_stuck`)."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    candidates = ScanJob.objects.filter(
        state=JobState.PROCESSING, last_activity_at__lte=cutoff, deliveries=None
    )
    ids: list[int] = []
    for job_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            job = ScanJob.objects.select_for_update().get(pk=job_id)
            if job.state != JobState.PROCESSING or Delivery.objects.filter(job=job).exists():
                continue
            log.warning("job %s was left processing; resuming it", job.token)
            if not recovery.resume(job):
                continue  # resumed too often: held (scanserver.recovery, invariant c)
        ids.append(job_id)
    return ids


def remove_outputs(job: ScanJob) -> None:
    """Delete the built documents of a finished job (the spool cleanup calls this)."""
    shutil.rmtree(output_dir(job), ignore_errors=True)
    if os.path.isdir(output_dir(job)):
        log.warning("could not remove %s", output_dir(job))
