from __future__ import annotations

from django.apps import AppConfig


class ScanserverConfig(AppConfig):
    name = "scanserver"
    verbose_name = "Scan server"
    default_auto_field = "django.db.models.BigAutoField"
