"""Scan processes and their immutable published versions.

A ``ScanProcess`` is what an administrator authors: a WS-Scan ticket, the scan server that will
receive the scans, and post-scan instructions (file name, format, OCR, destinations). Published,
it becomes a ``ScanProcessVersion``: the canonical PSP XML (``devices.protocols.psp``) written
to the directory, never changed afterwards. Jobs point at the version they ran with.

The tables keep the names they had when these models lived in ``smc`` (migration
``scanprocesses 0001``): an installation upgrades without copying a row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from core.models import ImmutableError
from scanprocesses import destinations


class ProcessState(models.TextChoices):
    """Legal transitions (``ScanProcess.mark_published`` / ``mark_unpublished`` / ``archive``):
    draft | unpublished | published -> published (publish a new version);
    published -> unpublished; draft | unpublished | published -> archived (archiving a published
    process unpublishes it first); archived -> unpublished (restore)."""

    DRAFT = "draft", "Draft (never published)"
    PUBLISHED = "published", "Published"
    UNPUBLISHED = "unpublished", "Unpublished"
    ARCHIVED = "archived", "Archived"


class OutputFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    PDFA = "pdfa", "PDF/A"
    TIFF = "tiff", "Multi-page TIFF"
    JPEG = "jpeg", "JPEG per page"
    PNG = "png", "PNG per page"


DEFAULT_NAMING_TEMPLATE = "{root}-{date:%Y%m%d-%H%M%S}-{seq}"


class ScanProcess(models.Model):
    guid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="PSP identifier")
    display_name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True)
    ticket_xml = models.TextField(help_text="canonical wscn:ScanTicket")
    scan_server = models.ForeignKey(
        "devices.ScanServer", null=True, blank=True, on_delete=models.PROTECT, related_name="processes"
    )
    document_root_name = models.CharField(max_length=255, default="Scan")
    continue_on_error = models.BooleanField(default=True)
    naming_template = models.CharField(max_length=255, default=DEFAULT_NAMING_TEMPLATE)
    output_format = models.CharField(max_length=8, choices=OutputFormat.choices, default=OutputFormat.PDF)
    ocr = models.BooleanField(default=False)
    allow_device_file_name_change = models.BooleanField(default=False)
    allow_device_file_path_change = models.BooleanField(default=False)
    locked_settings = models.JSONField(
        default=list, blank=True, help_text="ticket settings users may not override"
    )
    allowed_groups = models.JSONField(
        default=list,
        blank=True,
        help_text="directory group identifiers (DNs, or group names in the embedded directory)",
    )
    allowed_device_groups = models.ManyToManyField(
        "devices.DeviceGroup", blank=True, related_name="processes"
    )
    state = models.CharField(
        max_length=16, choices=ProcessState.choices, default=ProcessState.DRAFT, db_index=True
    )
    published_version = models.ForeignKey(
        "ScanProcessVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "smc_scanprocess"
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def _move(self, to: str, **fields: Any) -> None:
        allowed = _PROCESS_TRANSITIONS[self.state]
        if to not in allowed:
            raise IllegalProcessTransition(
                "scan process %s cannot go from %s to %s" % (self.pk, self.state, to)
            )
        self.state = to
        for key, value in fields.items():
            setattr(self, key, value)
        self.save(update_fields=["state", "updated_at", *fields])

    def mark_published(self, version: ScanProcessVersion) -> None:
        self._move(ProcessState.PUBLISHED, published_version=version)

    def mark_unpublished(self) -> None:
        self._move(ProcessState.UNPUBLISHED)

    def archive(self) -> None:
        self._move(ProcessState.ARCHIVED)

    def restore(self) -> None:
        self._move(ProcessState.UNPUBLISHED)


class IllegalProcessTransition(Exception):
    """A state change the scan process state machine does not allow."""


_PROCESS_TRANSITIONS: dict[str, frozenset[str]] = {
    ProcessState.DRAFT: frozenset({ProcessState.PUBLISHED, ProcessState.ARCHIVED}),
    ProcessState.PUBLISHED: frozenset(
        {ProcessState.PUBLISHED, ProcessState.UNPUBLISHED, ProcessState.ARCHIVED}
    ),
    ProcessState.UNPUBLISHED: frozenset({ProcessState.PUBLISHED, ProcessState.ARCHIVED}),
    ProcessState.ARCHIVED: frozenset({ProcessState.UNPUBLISHED}),
}


class ProcessDestination(models.Model):
    """One post-scan destination of a process. ``config`` holds the non-secret settings
    (paths, addresses, URLs); ``secret`` the sealed credential (``core.secretbox``)."""

    KINDS = destinations.CHOICES  # the registry's list (value, label), in the console's order

    process = models.ForeignKey(ScanProcess, on_delete=models.CASCADE, related_name="destinations")
    kind = models.CharField(max_length=16, choices=KINDS)
    position = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    username = models.CharField(max_length=255, blank=True)
    secret = models.TextField(blank=True, help_text="sealed with core.secretbox; never shown back")

    class Meta:
        db_table = "smc_processdestination"
        ordering = ["process", "position", "pk"]


class ScanProcessVersion(models.Model):
    process = models.ForeignKey(ScanProcess, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    psp_xml = models.TextField(help_text="canonical psp:PostScanProcess, as written to the directory")
    settings_snapshot = models.JSONField(
        default=dict, blank=True, help_text="the process fields at publication"
    )
    created_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "smc_scanprocessversion"
        ordering = ["process", "-number"]
        constraints = [models.UniqueConstraint(fields=["process", "number"], name="unique_version_number")]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableError("scan process version %s is immutable" % self.pk)
        super().save(*args, **kwargs)
