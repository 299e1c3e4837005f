from __future__ import annotations

from django.apps import AppConfig


class ScanserverConfig(AppConfig):
    name = "scanserver"
    verbose_name = "Scan server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A job's transitions announce themselves (scanserver.models); the WS-Eventing
        # notifications of subscribers follow from that signal.
        from scanserver import (
            events,
            tasks,  # noqa: F401 - registers the Celery tasks dispatch sends by name
        )
        from scanserver.models import job_changed

        job_changed.connect(events.on_job_changed, dispatch_uid="scanserver.events")
