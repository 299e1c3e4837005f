from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared plumbing: settings helpers, the broadcaster, the secret box, health, roles, audit."""

    name = "core"
    verbose_name = "OpenDSM core"
    default_auto_field = "django.db.models.BigAutoField"
