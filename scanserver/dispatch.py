"""Handing work to the workers: the one place that decides *where* a job is processed and a
delivery is sent (DESIGN.md "Runtime"; the tasks themselves are in :mod:`scanserver.tasks`).

Every place that wants a job processed calls :func:`queue_processing`, never ``process_job.delay``:
with a broker it sends the message; in the embedded default (eager Celery, no broker) it hands the
job to this process's in-process worker thread (:mod:`scanserver.inprocess`), because an eager
``delay`` would process inside the request that asked — the device would wait for the delivery to
get its ``EndPostScanJobResponse``.

Tasks are named, not imported (``current_app.tasks[name]``): the modules that queue work (the
endpoint, the reaper, the WSD pull) sit below the task module that calls them, so the scan server
has no import cycle.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

from celery import current_app
from django.conf import settings
from django.db import transaction

from scanserver import inprocess

log = logging.getLogger(__name__)

PROCESS_JOB = "scanserver.tasks.process_job"
DELIVER = "scanserver.tasks.deliver"

_inline: contextvars.ContextVar[bool] = contextvars.ContextVar("scanserver_processing_inline", default=False)


def eager() -> bool:
    """No broker: Celery runs a sent task at once, in the sender (the embedded default)."""
    return bool(current_app.conf.task_always_eager)


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
    ``pending`` and the reaper and startup recovery queue it again, so a failure to hand over is
    logged, never raised into the caller (a device's acknowledgement stands)."""

    def hand_over() -> None:
        try:
            if eager() and settings.SCANSERVER_BACKGROUND_TASKS and not _inline.get():
                inprocess.submit(job_id)
            else:
                current_app.tasks[PROCESS_JOB].delay(job_id)
        except Exception:  # noqa: BLE001 - the reaper re-queues pending jobs
            log.exception("could not queue processing of job %s; the reaper will retry", job_id)

    transaction.on_commit(hand_over)


def send_delivery(delivery_id: int, retry_in: float | None = None) -> None:
    """Send now, or (``retry_in`` seconds) as a scheduled retry — never from inside an eager run:
    there a countdown would run at once and recurse, so the periodic ``deliver_due`` sends it."""
    if retry_in is not None and eager():
        return
    current_app.tasks[DELIVER].apply_async((delivery_id,), countdown=retry_in)
