from __future__ import annotations

from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """AD/LDAP and the embedded directory: sign-in, groups, SIDs, published PSP objects."""

    name = "directory"
    verbose_name = "Directory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import health
        from directory import health as directory_health
        from directory import ldapauth  # noqa: F401  (connects the directory error signal: login page messages)

        # core is below the directory and cannot ask it; the directory tells core how to check it.
        health.register("directory", directory_health.probe)
