"""The job lifecycle as invariants, and the recovery that enforces them after a crash.

A job's path, with its commit boundaries (the named pause points of :mod:`core.testhooks`)::

    ingest (pages spooled, job pending) -> queue (process_job message) -> claim (processing)
    -> build (OutputDocument rows) -> plan (Delivery rows) -> each delivery (sending -> delivered,
    the job's settle in the same transaction) -> settle (end state) -> events (job_changed)

A worker may die between any two of these. The invariants the system keeps whatever it died at:

(a) **A job whose deliveries are all terminal is settled.** The delivery that makes them all
    terminal settles the job in its own transaction (:func:`scanserver.delivery.send`); a job left
    ``processing`` with no delivery ``pending`` or ``sending`` all the same (a worker of an older
    release, a delivery changed by hand) is settled by :func:`settle_finished` — ``settle`` is
    idempotent, so running it again changes nothing.
(b) **A delivery left ``sending`` is re-sent or found already there.** A dead worker's
    ``sending`` delivery goes back to ``pending`` (:func:`scanserver.delivery.recover_stuck`) and
    is sent again; destinations recognise their own documents (the folder kinds by sha256), so a
    re-send after "in the destination, not yet recorded" places nothing twice.
(c) **A job never loops between states.** Each resume after a dead worker is counted on the row
    (``ScanJob.resumes``); past ``SMC_SCANSERVER_MAX_RESUMES`` the job is held with the reason
    instead of being resumed again (:func:`resume`). A delivery counts its attempts, and a
    ``sending`` one recovered after its last attempt fails for good instead of being re-sent.
(d) **Every job reaches an end state within ``SMC_SCANSERVER_JOB_DEADLINE`` seconds** of the start
    of its run (EndPostScanJob, or an operator's retry): a job still ``pending`` or ``processing``
    past it is held (``needs_attention``) with the reason (:func:`enforce_deadline`), never left
    processing. Held is the end of the machine's part: an operator retries or cancels it. (A job
    still ``receiving`` has its own, shorter bound: ``PostScanJobTimedOut``, :mod:`scanserver.reaper`.)

The periodic recovery (``scanserver.tasks.recover``, also run at worker start) applies, in order:
:func:`enforce_deadline`, :func:`settle_finished`, the resume of jobs left processing before their
deliveries were planned (``pipeline.resume_stuck``, through :func:`resume`), the recovery of
deliveries left sending, :func:`stale_pending` (jobs whose queue message was lost), and sending
whatever is due. Every step takes row locks and re-checks the state, so two recoveries at once, or a
recovery racing a live worker, change nothing twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from scanserver import conf, delivery
from scanserver.models import DeliveryState, JobState, ScanJob

log = logging.getLogger(__name__)

UNFINISHED = (DeliveryState.PENDING, DeliveryState.SENDING)


def resume(job: ScanJob) -> bool:
    """Under the caller's lock on ``job`` (``processing``): back to ``pending`` for another run, or,
    when it has been resumed ``SMC_SCANSERVER_MAX_RESUMES`` times already, held with the reason
    (invariant c). True when resumed (the caller queues it)."""
    limit = conf.max_resumes()
    if job.resumes >= limit:
        log.error("job %s was resumed %d times; holding it", job.token, job.resumes)
        job.hold(
            "the job stopped its worker %d times (SMC_SCANSERVER_MAX_RESUMES); held instead of "
            "resumed again" % (job.resumes + 1)
        )
        return False
    job.resume()
    return True


def settle_finished(older_than: float) -> list[int]:
    """Settle every job ``processing`` with deliveries none of which is pending or sending, idle for
    more than ``older_than`` seconds (invariant a). Returns the ids of the jobs that moved."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    candidates = (
        ScanJob.objects.filter(state=JobState.PROCESSING, last_activity_at__lte=cutoff)
        .filter(deliveries__isnull=False)
        .exclude(deliveries__state__in=UNFINISHED)
        .distinct()
    )
    moved: list[int] = []
    for job_id in candidates.values_list("pk", flat=True):
        if delivery.settle(job_id) != JobState.PROCESSING:
            log.warning("job %s had every delivery done but was still processing; settled", job_id)
            moved.append(job_id)
    return moved


def enforce_deadline(now: datetime | None = None) -> list[int]:
    """Hold every job still ``pending`` or ``processing`` past ``SMC_SCANSERVER_JOB_DEADLINE``
    (invariant d). Returns their ids."""
    now = now or timezone.now()
    deadline = conf.job_deadline()
    cutoff = now - timedelta(seconds=deadline)
    late = ScanJob.objects.annotate(run_start=Coalesce("run_started_at", "ended_at", "created_at")).filter(
        Q(state=JobState.PENDING) | Q(state=JobState.PROCESSING), run_start__lt=cutoff
    )
    held: list[int] = []
    for job_id in late.values_list("pk", flat=True):
        with transaction.atomic():
            job = ScanJob.objects.select_for_update().get(pk=job_id)
            start = job.run_started_at or job.ended_at or job.created_at
            if job.state not in (JobState.PENDING, JobState.PROCESSING) or start >= cutoff:
                continue
            log.error("job %s did not reach an end state within %d s; holding it", job.token, deadline)
            job.hold(
                "the job did not reach an end state within %d s (SMC_SCANSERVER_JOB_DEADLINE); "
                "it was %s" % (deadline, job.state)
            )
        held.append(job_id)
    return held


def stale_pending(older_than: float) -> list[int]:
    """Ids of jobs ``pending`` for more than ``older_than`` seconds: their queue message may have
    died with a worker (claiming is idempotent, so queueing one twice does no harm)."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    return list(
        ScanJob.objects.filter(state=JobState.PENDING, last_activity_at__lte=cutoff).values_list(
            "pk", flat=True
        )
    )
