"""The embedded default's background worker: processing on a thread of the scan server's process.

DESIGN.md: the scan server "accepts, spools, acknowledges — never processes inline". With a broker,
Celery workers process. Without one (the embedded default, ``CELERY_TASK_ALWAYS_EAGER``), sending a
task would run it inside the request that sent it, so the device would wait for the PDF to be built
and delivered before it got its ``EndPostScanJobResponse``. Instead
:func:`scanserver.dispatch.queue_processing` hands the job id to this module's runner and returns: the
device is answered as soon as the job is ``pending`` (durable), and the processing — the same
``scanserver.tasks.process_job`` a Celery worker runs, executed eagerly, so its deliveries run
eagerly after it — happens on the runner's thread.

Decisions:

* **One daemon thread, one FIFO queue per process.** SQLite has one writer at a time, so a second
  worker thread would only wait for the lock; and jobs are processed in the order they arrived.
  The thread starts with the first :func:`submit`, so a process that never queues processing
  never has one. (The console's "Retry" runs ``tasks.retry_job`` eagerly in the console process,
  so a retried job is processed on the console process's own runner.)
* **Nothing is held only in memory.** A queued job is a ``pending`` row. If the process dies with
  items queued, the scan server's startup recovery (:func:`scanserver.reaper.on_startup`, which
  re-queues every pending job through this runner) and the periodic maintenance (``manage.py
  run_maintenance``: the reaper re-queues jobs pending for ``REQUEUE_AFTER`` seconds) pick them up
  again. A job killed in hand stays ``processing`` until ``SMC_SCANSERVER_STUCK_TIMEOUT`` has passed,
  then :func:`scanserver.tasks.recover` resumes it — as after a dead Celery worker; the pipeline's
  steps are idempotent. ``run_maintenance`` is a process of its own and processes what it
  re-queues synchronously (:func:`scanserver.dispatch.processing_inline`).
* **The thread survives everything a job does.** An exception is logged and the next item runs;
  the pipeline itself already writes failures onto the job row. After each item the thread closes
  its database connections, as a Celery worker does between tasks, so no connection (or SQLite
  read snapshot) is held while the queue is idle.
* **Graceful shutdown.** :func:`shutdown` stops taking work, drops what is queued (those jobs stay
  ``pending`` for the next start) and waits a bounded time (:data:`SHUTDOWN_TIMEOUT`) for the item
  in hand. The scan server's ASGI lifespan shutdown calls it — under uvicorn that is the only
  chance: uvicorn re-raises SIGTERM once it has shut down, so the interpreter never runs its exit
  hooks. For servers without lifespan (daphne) an ``atexit`` hook does the same when the
  interpreter exits normally (SIGTERM, Ctrl-C).

``SMC_SCANSERVER_BACKGROUND_TASKS=0`` (:func:`scanserver.conf.background_tasks`) turns the runner
off: processing then runs synchronously in the caller, as eager Celery does.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 30.0


def process_eagerly(job_id: int) -> None:
    """The work of one item: ``scanserver.tasks.process_job`` run eagerly in this thread (looked up
    by name: the task module sits above this one)."""
    from celery import current_app

    result = current_app.tasks["scanserver.tasks.process_job"].apply(args=(job_id,))
    if result.failed():  # only when eager exceptions do not propagate; otherwise apply() raised
        logger.error("processing of job %s failed: %r", job_id, result.result)


class Runner:
    """A single worker thread taking job ids from a FIFO queue (see the module docstring)."""

    def __init__(
        self, work: Callable[[int], object] = process_eagerly, name: str = "scanserver-inprocess"
    ) -> None:
        self._work = work
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[int] = deque()
        self._busy: int | None = None  # the job id in hand
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, job_id: int) -> bool:
        """Queue processing of ``job_id``; False (and the job stays pending) after :meth:`shutdown`."""
        with self._cond:
            if self._pid != os.getpid():  # forked: the parent's thread does not exist here
                self._queue.clear()
                self._thread, self._busy, self._pid = None, None, os.getpid()
            if self._closed:
                logger.warning("shutting down: job %s stays pending for the next start", job_id)
                return False
            if job_id in self._queue:
                return True  # already waiting; processing it twice would only skip the second time
            self._queue.append(job_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    def _next(self) -> int | None:
        with self._cond:
            self._busy = None
            self._cond.notify_all()  # wakes wait_idle() and shutdown()
            while not self._queue and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            self._busy = self._queue.popleft()
            return self._busy

    def _run(self) -> None:
        while (job_id := self._next()) is not None:
            try:
                self._work(job_id)
            except Exception:  # noqa: BLE001 - one job's failure must not stop the ones behind it
                logger.exception("processing of job %s failed on the worker thread", job_id)
            finally:
                try:
                    connections.close_all()
                except Exception:  # noqa: BLE001 - a broken connection is replaced on next use
                    logger.exception("could not close the database connections of the worker thread")

    def pending(self) -> list[int]:
        """The queued job ids, in the order they will run (not the one in hand)."""
        with self._cond:
            return list(self._queue)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and no job is in hand; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self._busy is None, timeout)

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> bool:
        """Stop taking work, drop the queue (those jobs stay pending) and wait up to ``timeout``
        seconds for the job in hand. True when the thread has stopped."""
        with self._cond:
            self._closed = True
            dropped = len(self._queue)
            self._queue.clear()
            in_hand = self._busy
            thread = self._thread
            self._cond.notify_all()
        if dropped:
            logger.info("shutdown: %d queued jobs stay pending; startup recovery resumes them", dropped)
        if thread is None or not thread.is_alive():
            return True
        if thread is threading.current_thread():
            return False  # called by the job in hand: it cannot wait for itself
        if in_hand is not None:
            logger.info("shutdown: waiting up to %.0f s for job %s to finish", timeout, in_hand)
        thread.join(timeout)
        if thread.is_alive():
            logger.warning(
                "shutdown: job %s still running after %.0f s; it will be resumed", in_hand, timeout
            )
            return False
        return True


_runner = Runner()


def submit(job_id: int) -> bool:
    """Queue processing of ``job_id`` on this process's worker thread (started on first use)."""
    return _runner.submit(job_id)


def wait_idle(timeout: float) -> bool:
    """Wait until this process's runner has nothing queued or in hand (tests, tools)."""
    return _runner.wait_idle(timeout)


def shutdown(timeout: float = SHUTDOWN_TIMEOUT) -> bool:
    """Graceful stop of this process's runner: call it on ASGI lifespan shutdown."""
    return _runner.shutdown(timeout)


# Servers without the lifespan protocol (daphne) exit through the interpreter: finish the job in
# hand there too. Daemon threads still run while atexit hooks do.
atexit.register(shutdown)
