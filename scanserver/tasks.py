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

Every place that wants a job processed calls :func:`queue_processing`, never ``process_job.delay``:
with a broker it sends the message; in the embedded default it hands the job to the process's
in-process worker thread (:mod:`scanserver.inprocess`), because an eager ``delay`` would process
inside the request that asked — the device would wait for the delivery to get its
``EndPostScanJobResponse``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from celery import shared_task
from django.db import OperationalError, transaction

from scanserver import conf, delivery, inprocess, pipeline

log = logging.getLogger(__name__)


def _eager() -> bool:
    return bool(deliver.app.conf.task_always_eager)


def _send(delivery_id: int, retry_in: float | None = None) -> None:
    """Send now, or (``retry_in`` seconds) as a scheduled retry — never from inside an eager run."""
    if retry_in is not None and _eager():
        return  # deliver_due sends it when due (see the module docstring)
    deliver.apply_async((delivery_id,), countdown=retry_in)


_inline: contextvars.ContextVar[bool] = contextvars.ContextVar("scanserver_processing_inline", default=False)


@contextlib.contextmanager
def processing_inline() -> Iterator[None]:
    """Within this block (this thread), :func:`queue_processing` in the embedded default processes
    synchronously instead of handing the job to the in-process worker thread. For processes that
    are themselves the worker: ``manage.py run_maintenance`` and ``reap_jobs``, where a thread of
    their own would be cut off when ``--once`` exits."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def queue_processing(job_id: int) -> None:
    """Have ``job_id`` (a ``pending`` job) processed, once the surrounding transaction commits.

    With a broker: a ``process_job`` message for the workers. Embedded (eager Celery), with
    ``SCANSERVER_BACKGROUND_TASKS`` on (the default) and outside :func:`processing_inline`: queued
    on this process's worker thread, and the caller returns at once. Otherwise: processed now,
    synchronously, by eager Celery. Losing the hand-over loses nothing: the job row stays
    ``pending`` and the reaper and startup recovery queue it again."""
    if _eager() and conf.background_tasks() and not _inline.get():
        transaction.on_commit(lambda: inprocess.submit(job_id))
    else:
        # A message for the workers; with eager Celery (no broker) it runs here, now.
        transaction.on_commit(lambda: process_job.delay(job_id))


def _kick(job_id: int) -> None:
    from scanserver.models import ScanJob

    job = ScanJob.objects.filter(pk=job_id).first()
    if job is None:
        return
    for item in delivery.due(job):
        _send(item.pk)


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
    job = pipeline.process(job_id)
    if job is not None:
        _kick(job.pk)
        return "processed"
    return "skipped"


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
    if outcome is None:
        return "skipped"
    if outcome.retry_in is not None:
        _send(delivery_id, outcome.retry_in)
    else:
        from scanserver.models import Delivery

        job_id = Delivery.objects.values_list("job_id", flat=True).get(pk=delivery_id)
        _kick(job_id)  # ContinueOnError=false: the next filter starts after this one
    return outcome.state


@shared_task(name="scanserver.tasks.deliver_due", queue="deliver", acks_late=True)
def deliver_due() -> int:
    """Periodic: send every delivery whose time has come (retries in eager mode, lost messages)."""
    ids = delivery.due_everywhere()
    for delivery_id in ids:
        _send(delivery_id)
    return len(ids)


@shared_task(name="scanserver.tasks.retry_job", queue="ingest", acks_late=True)
def retry_job(job_id: int) -> bool:
    """An operator's retry of a job that needs attention (re-runs the idempotent steps)."""
    if not delivery.retry_job(job_id):
        return False
    queue_processing(job_id)
    return True


@shared_task(name="scanserver.tasks.recover", queue="ingest", acks_late=True)
def recover(older_than: float | None = None) -> dict[str, int]:
    """Periodic (and at worker start): resume jobs and deliveries a dead worker left behind."""
    if older_than is None:
        older_than = float(conf.stuck_timeout())
    jobs = pipeline.resume_stuck(older_than)
    for job_id in jobs:
        queue_processing(job_id)
    stuck = delivery.recover_stuck(older_than)
    sent = deliver_due()
    return {"jobs": len(jobs), "deliveries": len(stuck), "sent": int(sent)}


@shared_task(name="scanserver.tasks.reap", queue="ingest", acks_late=True)
def reap() -> dict[str, list[str] | int]:
    """Periodic: every job reaches a terminal state — no EndPostScanJob in time means
    PostScanJobTimedOut; processing with no sign of life is resumed (scanserver.reaper)."""
    from scanserver import reaper

    report = reaper.reap()
    return {
        "timed_out": report.timed_out,
        "resumed": report.resumed,
        "requeued": report.requeued,
        "swept": report.swept,
    }
