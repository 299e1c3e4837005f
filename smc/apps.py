from __future__ import annotations

from django.apps import AppConfig


class SmcConfig(AppConfig):
    """The console (views, forms, consumers, URLs) and the project (settings, ASGI, Celery)."""

    name = "smc"
    verbose_name = "Scan Management Console"
    default_auto_field = "django.db.models.BigAutoField"
