"""Every job reaches a terminal state, and a restart resumes unfinished work (DESIGN.md rules).

:func:`reap` is run periodically (``manage.py reap_jobs``, or a Celery beat entry calling it):

* a job still ``receiving`` with no activity for ``SMC_SCANSERVER_JOB_TIMEOUT`` seconds (default
  600: "no EndPostScanJob within 10 minutes", [MS-BDSRR] §2.2.5.11) is aborted with
  ``PostScanJobTimedOut``;
* a job ``processing`` with no activity for ``SMC_SCANSERVER_STUCK_TIMEOUT`` seconds lost its
  worker: it goes back to ``pending`` (``resume()``; the pipeline's steps are idempotent) and is
  queued again;
* a job ``pending`` for longer than :data:`REQUEUE_AFTER` seconds is queued again (the message
  to the broker may have been lost with a crash between commit and send);
* a job ``pending`` or ``processing`` past ``SMC_SCANSERVER_JOB_DEADLINE`` is held, and a job
  resumed ``SMC_SCANSERVER_MAX_RESUMES`` times is held instead of resumed again;
* temporary MTOM parts of interrupted uploads are swept.

The invariants these enforce are written down in :mod:`scanserver.recovery`.

:func:`on_startup` (the scan server's first request / ASGI lifespan) re-queues every pending job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from scanserver import conf, dispatch, ingest, recovery
from scanserver.models import JobState, ScanJob

logger = logging.getLogger(__name__)

REQUEUE_AFTER = 300


@dataclass
class Report:
    timed_out: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # past their deadline
    swept: int = 0

    def __str__(self) -> str:
        return "timed out %d, resumed %d, re-queued %d, held %d, swept %d temporary parts" % (
            len(self.timed_out),
            len(self.resumed),
            len(self.requeued),
            len(self.held),
            self.swept,
        )


def _move(job_id: int, expected: str, older_than: datetime, change: str) -> ScanJob | None:
    """Apply ``change`` ("time_out" or "resume") if the job is still ``expected`` and idle."""
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != expected or job.last_activity_at >= older_than:
            return None  # someone else moved it meanwhile
        if change == "resume":
            return job if recovery.resume(job) else None  # held when resumed too often
        getattr(job, change)()
        return job


def reap(now: datetime | None = None) -> Report:
    now = now or timezone.now()
    report = Report()
    report.held = recovery.enforce_deadline(now)
    receiving_cutoff = now - timedelta(seconds=conf.job_timeout())
    for job_id in ScanJob.objects.filter(
        state=JobState.RECEIVING, last_activity_at__lt=receiving_cutoff
    ).values_list("pk", flat=True):
        job = _move(job_id, JobState.RECEIVING, receiving_cutoff, "time_out")
        if job is not None:
            logger.warning("job %s timed out waiting for EndPostScanJob", job.token)
            report.timed_out.append(str(job.token))
    stuck_cutoff = now - timedelta(seconds=conf.stuck_timeout())
    for job_id in ScanJob.objects.filter(
        state=JobState.PROCESSING, last_activity_at__lt=stuck_cutoff
    ).values_list("pk", flat=True):
        job = _move(job_id, JobState.PROCESSING, stuck_cutoff, "resume")
        if job is not None:
            logger.warning("job %s was stuck in processing; resumed", job.token)
            report.resumed.append(str(job.token))
            dispatch.queue_processing(job.pk)  # _move committed already
    pending_cutoff = now - timedelta(seconds=REQUEUE_AFTER)
    for job in ScanJob.objects.filter(state=JobState.PENDING, last_activity_at__lt=pending_cutoff):
        if str(job.token) not in report.resumed:
            dispatch.queue_processing(job.pk)
            report.requeued.append(str(job.token))
    report.swept = ingest.sweep_incoming()
    if report.timed_out or report.resumed or report.requeued or report.held or report.swept:
        logger.info("reaper: %s", report)
    return report


def on_startup() -> Report:
    """Re-queue every pending job and sweep stale temporary parts."""
    report = Report()
    for job in ScanJob.objects.filter(state=JobState.PENDING):
        dispatch.queue_processing(job.pk)
        report.requeued.append(str(job.token))
    report.swept = ingest.sweep_incoming()
    if report.requeued:
        logger.info("startup: re-queued %d pending jobs", len(report.requeued))
    return report
