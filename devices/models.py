"""The fleet registry: scan servers, enrolled scanners, their groups, subscriptions and events.

A ``Device`` is identified by its WS-Discovery endpoint reference (a stable ``urn:uuid``); its
capabilities are kept both as the raw ScannerConfiguration XML the device sent and as a parsed
summary the console filters on. The credential a device presents to the scan server (DESIGN.md
decision 2) is stored only as a hash.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from django.db import models
from django.utils import timezone


class ScanServer(models.Model):
    """A DSM scan server: ``https://<fqdn>:<port>/ScanServer/<guid>`` (DESIGN.md decision 1)."""

    guid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=128, unique=True)
    fqdn = models.CharField(max_length=255, help_text="host name devices use (psp:ScanRepository)")
    port = models.PositiveIntegerField(default=5362)
    use_tls = models.BooleanField(default=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, default="Idle")

    class Meta:
        db_table = "scanserver_scanserver"  # its name before it moved here (devices 0006)
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def endpoint_url(self) -> str:
        scheme = "https" if self.use_tls else "http"
        return "%s://%s:%d/ScanServer/%s" % (scheme, self.fqdn, self.port, self.guid)


class DeviceGroup(models.Model):
    name = models.CharField(max_length=128, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeviceState(models.TextChoices):
    """WS-Scan ScannerState plus what the registry itself knows (unknown, offline)."""

    UNKNOWN = "unknown", "Unknown"
    IDLE = "Idle", "Idle"
    PROCESSING = "Processing", "Processing"
    STOPPED = "Stopped", "Stopped"
    OFFLINE = "offline", "Offline"


class Device(models.Model):
    endpoint_reference = models.CharField(
        max_length=255, unique=True, help_text="WS-Discovery EPR address (urn:uuid)"
    )
    name = models.CharField(max_length=255)
    xaddrs = models.JSONField(default=list, blank=True)
    scan_service_url = models.URLField(max_length=1024, blank=True)
    manufacturer = models.CharField(max_length=255, blank=True)
    model_name = models.CharField(max_length=255, blank=True)
    serial_number = models.CharField(max_length=255, blank=True)
    firmware_version = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=255, blank=True)
    capabilities_xml = models.TextField(blank=True, help_text="wscn:ScannerConfiguration as received")
    capabilities = models.JSONField(default=dict, blank=True, help_text="parsed summary of the configuration")
    state = models.CharField(max_length=16, choices=DeviceState.choices, default=DeviceState.UNKNOWN)
    state_reasons = models.JSONField(default=list, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    group = models.ForeignKey(
        DeviceGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    scan_server = models.ForeignKey(
        ScanServer, null=True, blank=True, on_delete=models.SET_NULL, related_name="devices"
    )
    enabled = models.BooleanField(default=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    # Indexed: every request to the scan server looks its device up by one of these two.
    token_hash = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="sha256 of the device's bearer token"
    )
    certificate_sha256 = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="client certificate fingerprint"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def issue_token(self) -> str:
        """Make a new bearer token, keep its hash, return the token (shown once)."""
        token = secrets.token_urlsafe(32)
        self.token_hash = hashlib.sha256(token.encode()).hexdigest()
        return token

    def token_matches(self, token: str) -> bool:
        if not self.token_hash or not token:
            return False
        return secrets.compare_digest(self.token_hash, hashlib.sha256(token.encode()).hexdigest())

    @classmethod
    def for_token(cls, token: str) -> Device | None:
        if not token:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        return cls.objects.filter(token_hash=digest, enabled=True).first()

    def seen(self, **fields: Any) -> None:
        self.last_seen = timezone.now()
        for key, value in fields.items():
            setattr(self, key, value)
        self.save(update_fields=["last_seen", *fields])


class SubscriptionKind(models.TextChoices):
    STATUS = "status", "Status and job events"
    SCAN_AVAILABLE = "scan_available", "ScanAvailableEvent (scan to computer)"


class Subscription(models.Model):
    """A WS-Eventing subscription the scan server or console holds at a device."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="subscriptions")
    kind = models.CharField(max_length=32, choices=SubscriptionKind.choices)
    identifier = models.CharField(max_length=255, blank=True)
    manager_url = models.URLField(max_length=1024, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    destinations = models.JSONField(
        default=list, blank=True, help_text="[{client_context, display_name, token, process}]"
    )
    sink_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="secret reference parameter of our NotifyTo; events echoing it are from this subscription",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        unique_together = [("device", "kind")]


class DeviceEvent(models.Model):
    """Something a device did or was refused. ``device`` is empty for a caller that could not be
    identified (no or unknown credential); ``peer`` is the address the request came from."""

    device = models.ForeignKey(Device, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    peer = models.CharField(max_length=128, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
