"""Putting a received document into the spool: durable before acknowledged (DESIGN.md rules).

One function, :func:`store_document`, serves both ways a scan arrives (WS-DSP ``SendImage`` and
the WS-Scan ``RetrieveImage`` pull): the MTOM reader has already written the part to a temporary
file inside the spool with its sha256 and fsync'd it; here it is renamed (``os.replace``, atomic
on one file system) to ``<spool>/<job token>/<document id>.<ext>``, the directory is fsync'd so
the rename survives a power cut, and the ``ScanPage`` row is committed. Only then may the caller
answer the device. A crash before the rename leaves only a temporary file (swept by the reaper);
a crash between the rename and the commit leaves a file without a row, which the device's resend
overwrites. The final path is built only from the job's UUID, an integer and a fixed extension
table, so nothing a device sends can steer it out of the spool.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from devices.protocols import mtom
from scanserver import conf, wire
from scanserver.models import JobState, ScanJob, ScanPage

logger = logging.getLogger(__name__)

# wscn:Format tokens (WDD:format-for-documentparameters-element.md) → file extension.
EXTENSIONS = {
    "dib": "bmp",
    "exif": "jpg",
    "jbig": "jbig",
    "jfif": "jpg",
    "jpeg2k": "jp2",
    "pdf-a": "pdf",
    "png": "png",
    "tiff-single-uncompressed": "tif",
    "tiff-single-g4": "tif",
    "tiff-single-g3mh": "tif",
    "tiff-single-jpeg-tn2": "tif",
    "tiff-multi-uncompressed": "tif",
    "tiff-multi-g4": "tif",
    "tiff-multi-g3mh": "tif",
    "tiff-multi-jpeg-tn2": "tif",
    "xps": "xps",
}
UNKNOWN_EXTENSION = "bin"
STALE_INCOMING_SECONDS = 3600


class DocumentConflict(Exception):
    """The DocumentId was already received with other bytes; the message says both digests."""


class JobNotFound(Exception):
    """No job matched (a wrong or foreign token); the caller turns it into its fault."""


class JobNotReceiving(Exception):
    """The job no longer takes documents (ended, canceled, aborted)."""


@dataclass(frozen=True)
class Stored:
    page: ScanPage
    created: bool  # False: an identical resend, acknowledged again
    job: ScanJob  # as locked while storing (images_received counts this document)


def extension_for(fmt: str) -> str:
    return EXTENSIONS.get(fmt.strip().lower(), UNKNOWN_EXTENSION)


def job_dir(job: ScanJob) -> Path:
    return conf.spool_dir() / str(job.token)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        # The new directory entry itself must survive a crash, not just the files in it.
        _fsync_dir(path.parent)


def store_document(
    job: int | QuerySet[ScanJob], document_id: int, fmt: str, part: mtom.SpooledPart
) -> Stored:
    """Move ``part`` into the job's spool directory and commit its ScanPage row.

    ``job`` is the job's id, or a queryset that selects the job (``dsp.send_image`` passes the
    caller's job by token, device and server, so finding and locking it is one query). Raises
    :class:`JobNotFound`, :class:`JobNotReceiving` or :class:`DocumentConflict`, or a Sender
    :class:`~devices.protocols.soap.SoapFault` when a value does not fit its column
    (:func:`scanserver.wire.check_document`, checked before anything is written); in every case the
    temporary file of ``part`` is gone when this returns or raises, and a failure leaves no file
    of this document in the spool.
    """
    jobs = ScanJob.objects.filter(pk=job) if isinstance(job, int) else job
    try:
        wire.check_document(document_id, fmt, part)
        return _store(jobs, document_id, fmt, part)
    finally:
        part.path.unlink(missing_ok=True)


def _forget(moved: Path | None) -> None:
    """Remove a document moved into the spool whose row was not committed (no orphan files)."""
    if moved is not None:
        moved.unlink(missing_ok=True)
        logger.warning("%s removed from the spool: its row was not committed", moved)


def _store(jobs: QuerySet[ScanJob], document_id: int, fmt: str, part: mtom.SpooledPart) -> Stored:
    # One transaction with the job row locked: the resend check, the state check, the rename and
    # the row (the order of the durable steps — file renamed and directory fsync'd, then the row
    # committed — is what makes a crash at any point safe; see the module docstring).
    # Queries per new document: lock the job (and look for the document), insert the page, count it.
    job_id: int | None = None
    moved: Path | None = None  # the final file, until its row is committed
    try:
        with transaction.atomic():
            # The job, locked, and whether this DocumentId is already here: one query.
            seen = ScanPage.objects.filter(job=OuterRef("pk"), document_id=document_id).values("pk")[:1]
            job = jobs.select_for_update(of=("self",)).annotate(seen_page=Subquery(seen)).first()
            if job is None:
                raise JobNotFound()
            job_id = job.pk
            existing = ScanPage.objects.get(pk=job.seen_page) if job.seen_page is not None else None
            if existing is not None:
                if existing.sha256 == part.sha256:
                    logger.info(
                        "job %s: document %d resent with the same bytes, acknowledged again",
                        job.token,
                        document_id,
                    )
                    return Stored(existing, False, job)
                raise DocumentConflict(
                    "DocumentId %d was already received with sha256 %s; this one has %s"
                    % (document_id, existing.sha256, part.sha256)
                )
            if job.state != JobState.RECEIVING:
                raise JobNotReceiving("job %s is %s and takes no more documents" % (job.token, job.state))
            directory = job_dir(job)
            _ensure_dir(directory)
            final = directory / ("%d.%s" % (document_id, extension_for(fmt)))
            os.replace(part.path, final)
            moved = final
            _fsync_dir(directory)
            page = ScanPage.objects.create(
                job=job,
                document_id=document_id,
                format=fmt,
                content_type=part.content_type,
                spool_path=str(final),
                sha256=part.sha256,
                size=part.size,
            )
            # The row is locked and the page is new (unique per job and DocumentId): +1 is exact.
            job.images_received += 1
            job.last_activity_at = timezone.now()
            ScanJob.objects.filter(pk=job.pk).update(
                images_received=F("images_received") + 1, last_activity_at=job.last_activity_at
            )
        moved = None
    except IntegrityError:
        winner = ScanPage.objects.select_related("job").filter(job_id=job_id, document_id=document_id).first()
        if winner is None:
            # Not a race: a constraint refused the row, so the file must not stay as an orphan.
            _forget(moved)
            raise
        # Two resends of one document raced; the winner's row decides.
        if winner.sha256 != part.sha256:
            raise DocumentConflict(
                "DocumentId %d was received twice with different bytes" % document_id
            ) from None
        return Stored(winner, False, winner.job)
    except BaseException:
        _forget(moved)
        raise
    logger.info(
        "job %s: document %d stored (%d bytes, sha256 %s)", job.token, document_id, part.size, part.sha256
    )
    return Stored(page, True, job)


def sweep_incoming(older_than: float = STALE_INCOMING_SECONDS) -> int:
    """Delete temporary parts left by interrupted uploads (a crash mid-stream); returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    for path in conf.incoming_dir().glob("mtom-*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
