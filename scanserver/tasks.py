"""Celery tasks of the scan server's pipeline (queues ``ingest`` and ``deliver``).

Why asynchronous: the scan server acknowledges ``EndPostScanJob`` as soon as the pages are
durable (DESIGN.md); decoding, building PDFs, OCR and talking to file shares, mail and web
servers take seconds to minutes and must survive restarts, so they run in workers.

Tasks take ids and are idempotent (they claim rows with ``SELECT ... FOR UPDATE`` and skip work
that is already done), so a message delivered twice — ``acks_late`` re-delivers after a worker
dies — does nothing twice.

Retries of a delivery are not Celery's ``self.retry``: the policy (``max_attempts``, exponential
``backoff``) lives in :mod:`scanserver.delivery` and is written onto the row
(``attempts``, ``next_attempt_at``, ``last_error``). With a broker the next attempt is sent with
a countdown; in the embedded default (``CELERY_TASK_ALWAYS_EAGER``) a countdown would run
immediately and recurse, so nothing is sent and :func:`deliver_due` — run periodically (beat, or
the embedded runner's timer, e.g. every 30 s) — sends what is due. ``deliver_due`` also picks up
anything whose message was lost, and :func:`recover` resumes the work of a dead worker.

Where the work runs (a broker's workers, or the embedded default's worker thread) is decided in
:mod:`scanserver.dispatch`; every place that wants a job processed calls
``dispatch.queue_processing``.

One job's path reads top to bottom: ``process_job`` runs the pipeline once (check the pages,
build and name the documents, plan the deliveries), settles the job if nothing is left to send
(a re-run after a crash whose deliveries were all delivered), then sends what is due;
``deliver`` sends one delivery, whose success and the job's end state commit together.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from core.testhooks import test_pause
from scanserver import conf, delivery, dispatch, pipeline, reaper, recovery
from scanserver.models import Delivery, JobState, ScanJob

log = logging.getLogger(__name__)


def _kick(job_id: int) -> None:
    job = ScanJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    for item in delivery.due(job):
        dispatch.send_delivery(item.pk)


@shared_task(
    name="scanserver.tasks.process_job",
    queue="ingest",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=5,
)
def process_job(job_id: int) -> str:
    """Check the pages, build the documents, plan the deliveries, then send what is due."""
    test_pause("queued")
    job = pipeline.process(job_id)
    if job is None:
        return "skipped"
    test_pause("planned")
    # Every delivery may already be done (a re-run after a crash between the last delivery and
    # the job's end state): settle first, then send whatever is still due.
    if delivery.settle(job.pk) == JobState.PROCESSING:
        _kick(job.pk)
    return "processed"


@shared_task(
    name="scanserver.tasks.deliver",
    queue="deliver",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=5,
    max_retries=5,
)
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery; schedules the next attempt or the next filter."""
    outcome = delivery.send(delivery_id)
    test_pause("sent")
    if outcome is None:
        # Not pending: someone else has it, or it is done. A retried message of a delivery that
        # was delivered still settles its job (idempotent), so no job waits for a lost settle.
        job_id = Delivery.objects.filter(pk=delivery_id).values_list("job_id", flat=True).first()
        if job_id is not None:
            delivery.settle(job_id)
        return "skipped"
    if outcome.retry_in is not None:
        dispatch.send_delivery(delivery_id, outcome.retry_in)
    else:
        job_id = Delivery.objects.values_list("job_id", flat=True).get(pk=delivery_id)
        _kick(job_id)  # ContinueOnError=false: the next filter starts after this one
    return outcome.state


@shared_task(name="scanserver.tasks.deliver_due", queue="deliver", acks_late=True)
def deliver_due() -> int:
    """Periodic: send every delivery whose time has come (retries in eager mode, lost messages)."""
    ids = delivery.due_everywhere()
    for delivery_id in ids:
        dispatch.send_delivery(delivery_id)
    return len(ids)


@shared_task(name="scanserver.tasks.retry_job", queue="ingest", acks_late=True)
def retry_job(job_id: int) -> bool:
    """An operator's retry of a job that needs attention (re-runs the idempotent steps)."""
    if not delivery.retry_job(job_id):
        return False
    dispatch.queue_processing(job_id)
    return True


@shared_task(name="scanserver.tasks.recover", queue="ingest", acks_late=True)
def recover(older_than: float | None = None) -> dict[str, int]:
    """Periodic (and at worker start): resume jobs and deliveries a dead worker left behind, and
    enforce the lifecycle invariants (:mod:`scanserver.recovery`)."""
    if older_than is None:
        older_than = float(conf.stuck_timeout())
    held = recovery.enforce_deadline()
    settled = recovery.settle_finished(older_than)
    jobs = pipeline.resume_stuck(older_than)
    stuck = delivery.recover_stuck(older_than)
    for job_id in dict.fromkeys([*jobs, *recovery.stale_pending(older_than)]):
        dispatch.queue_processing(job_id)
    sent = deliver_due()
    return {
        "held": len(held),
        "settled": len(settled),
        "jobs": len(jobs),
        "deliveries": len(stuck),
        "sent": int(sent),
    }


@shared_task(name="scanserver.tasks.reap", queue="ingest", acks_late=True)
def reap() -> dict[str, list[str] | int]:
    """Periodic: every job reaches a terminal state — no EndPostScanJob in time means
    PostScanJobTimedOut; processing with no sign of life is resumed (scanserver.reaper)."""
    report = reaper.reap()
    return {
        "timed_out": report.timed_out,
        "resumed": report.resumed,
        "requeued": report.requeued,
        "swept": report.swept,
    }
