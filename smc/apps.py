from __future__ import annotations

from django.apps import AppConfig


class SmcConfig(AppConfig):
    name = "smc"
    verbose_name = "Scan Management Console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the directory error signal (login page messages).
        from smc import ldapauth  # noqa: F401
