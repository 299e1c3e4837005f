from __future__ import annotations

from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """AD/LDAP and the embedded directory: sign-in, groups, SIDs, published PSP objects."""

    name = "directory"
    verbose_name = "Directory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the directory error signal (login page messages).
        from directory import ldapauth  # noqa: F401
