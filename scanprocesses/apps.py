from __future__ import annotations

from django.apps import AppConfig


class ScanprocessesConfig(AppConfig):
    """Scan processes: models, versions, destinations, naming and availability."""

    name = "scanprocesses"
    verbose_name = "Scan processes"
    default_auto_field = "django.db.models.BigAutoField"
