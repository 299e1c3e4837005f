"""``manage.py reap_jobs``: end timed-out jobs, resume stuck ones, re-queue pending ones (once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from scanserver import dispatch, reaper


class Command(BaseCommand):
    help = "End scan jobs whose device vanished, resume jobs whose worker vanished, re-queue pending jobs."

    def handle(self, *args: Any, **options: Any) -> None:
        with dispatch.processing_inline():  # without a broker: process re-queued jobs before exiting
            report = reaper.reap()
        self.stdout.write(str(report))
