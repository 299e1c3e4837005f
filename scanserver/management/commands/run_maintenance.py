"""The periodic work of the scan server, for installations without ``celery beat``.

Every ``--every`` seconds: end jobs whose device never sent EndPostScanJob and resume jobs whose
worker vanished (``scanserver.reaper.reap``), resume stuck processing and deliveries
(``scanserver.tasks.recover``), and send deliveries whose retry time has come
(``scanserver.tasks.deliver_due``). The embedded default (``scripts/run.sh``) runs this; with
Redis, ``celery -A smc beat`` runs the same tasks from ``CELERY_BEAT_SCHEDULE``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

logger = logging.getLogger(__name__)


def run_once() -> dict[str, Any]:
    """One round. Without a broker, this process processes what it re-queues itself, now
    (``dispatch.processing_inline``): it is the embedded default's worker for recovered jobs, and a
    ``--once`` run must not exit with work left on a thread."""
    from scanserver import dispatch, reaper, tasks

    with dispatch.processing_inline():
        summary: dict[str, Any] = {"reaped": str(reaper.reap())}
        summary["recovered"] = tasks.recover.apply().get()
        summary["due"] = tasks.deliver_due.apply().get()
    return summary


class Command(BaseCommand):
    help = "Run the scan server's periodic work (reaper, recovery, due deliveries) in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=30.0, help="seconds between rounds (default 30)")
        parser.add_argument("--once", action="store_true", help="one round, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        every = max(1.0, float(options["every"]))
        while True:
            try:
                summary = run_once()
                logger.info("maintenance round: %s", summary)
            except Exception:  # noqa: BLE001 - a failed round is logged; the next one runs anyway
                logger.exception("maintenance round failed")
            if options["once"]:
                return
            time.sleep(every)
