"""The audit log: one append-only row per change anybody made.

The table keeps the name it had in ``smc`` (migration ``core 0001``).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class ImmutableError(Exception):
    """A published version cannot be changed."""


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=255, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="diff or other facts")

    class Meta:
        db_table = "smc_auditevent"
        ordering = ["-at"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableError("audit events are append-only")
        super().save(*args, **kwargs)
