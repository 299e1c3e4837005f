"""What the directory layer keeps in the database: users' SID-form identifiers, and the embedded
directory's published scan processes.

``DirectoryIdentity`` keeps the table name it had in ``smc`` (migration ``directory 0001``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DirectoryIdentity(models.Model):
    """A user's SID-form identifier (DESIGN.md decision 7): the real objectSid on AD, a stable
    ``S-1-5-21-<directory id>-<rid>`` elsewhere, so WS-DSP's UserIdentifier resolves everywhere."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_identity"
    )
    sid = models.CharField(max_length=184, unique=True)
    dn = models.CharField(max_length=1024, blank=True)

    class Meta:
        db_table = "smc_directoryidentity"


class PublishedPSP(models.Model):
    """The embedded directory's copy of one published scan process (``EmbeddedDirectory``), what
    a ``msImaging-PostScanProcess`` object is in AD: written on publish, deleted on unpublish, and
    never by anything else. ``allowed_groups`` are Django group names."""

    guid = models.UUIDField(unique=True)
    display_name = models.CharField(max_length=255)
    psp_xml = models.TextField(help_text="canonical psp:PostScanProcess of the published version")
    allowed_groups = models.JSONField(default=list, blank=True)
    server_name = models.CharField(max_length=255, blank=True)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_name"]
        verbose_name = "published PSP"
        verbose_name_plural = "published PSPs"

    def __str__(self) -> str:
        return self.display_name
