"""What the directory layer keeps in the database: users' SID-form identifiers.

The table keeps the name it had in ``smc`` (migration ``directory 0001``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
