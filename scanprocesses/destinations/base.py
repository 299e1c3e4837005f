"""What every destination kind shares: errors, credentials, receipts, free names, the shapes of
what a delivery is given, and small helpers for the PSP mapping and the form validation.

The kind modules import this module, never each other and never the registry
(:mod:`scanprocesses.destinations`), so the registry can import them lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from django import forms
from django.core.exceptions import ValidationError
from lxml import etree

from devices.protocols import jobstatus, psp, xmlsafe
from devices.protocols.namespaces import ODSM, PSP, qn
from devices.protocols.xmlfields import foreign_bytes

Receipt = dict[str, Any]

ACCESS_DENIED_FILESHARE = jobstatus.FILTER_REASON_FILESHARE_ACCESS_DENIED
OUT_OF_SPACE_FILESHARE = jobstatus.FILTER_REASON_FILESHARE_OUT_OF_DISK_SPACE
ACCESS_DENIED_SHAREPOINT = jobstatus.FILTER_REASON_SHAREPOINT_ACCESS_DENIED
OUT_OF_SPACE_SHAREPOINT = jobstatus.FILTER_REASON_SHAREPOINT_OUT_OF_DISK_SPACE
INVALID_SMTP_SERVER = jobstatus.FILTER_REASON_INVALID_SMTP_SERVER
UNABLE_TO_SEND_EMAIL = jobstatus.FILTER_REASON_UNABLE_TO_SEND_EMAIL
INVALID_ARGS = jobstatus.FILTER_REASON_INVALID_ARGS
UNKNOWN_ERROR = jobstatus.FILTER_REASON_UNKNOWN_ERROR


class DeliveryError(Exception):
    """A delivery failed. ``reason`` is a dsc FilterStateReason; ``retryable`` False means a retry
    cannot help until someone changes the configuration (it still may be retried by hand)."""

    def __init__(self, message: str, reason: str = UNKNOWN_ERROR, retryable: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never print the password in a log or traceback
        return "Credentials(username=%r, password=%s)" % (self.username, "***" if self.password else "''")


# --------------------------------------------------------------------------- what a delivery is given
# The scan server passes its own rows (``scanserver.models.Delivery`` and ``OutputDocument``); these
# Protocols say which of their attributes a destination reads, so this layer never imports them.
# Read-only properties, so that a model's plain attribute (or a frozen dataclass) satisfies them.


class Document(Protocol):
    """One built output document: a file on the spool with its name and checksum."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def pages(self) -> int: ...


class Named(Protocol):
    @property
    def display_name(self) -> str: ...


class Job(Protocol):
    """The scan job a delivery belongs to: who scanned, with which process."""

    @property
    def token(self) -> UUID | str: ...
    @property
    def user_name(self) -> str: ...
    @property
    def user_sid(self) -> str: ...
    @property
    def document_root_name(self) -> str: ...
    @property
    def psp_display_name(self) -> str: ...
    @property
    def psp_identifier(self) -> str: ...
    @property
    def process(self) -> Named | None: ...


class Delivery(Protocol):
    """One delivery attempt's identity: its id (stable over retries) and its job."""

    @property
    def pk(self) -> int: ...
    @property
    def job(self) -> Job: ...


# --------------------------------------------------------------------------- receipts and names


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def receipt(name: str, where: str, size: int, sha256: str, verified: bool, **extra: Any) -> Receipt:
    return {"name": name, "where": where, "size": size, "sha256": sha256, "verified": verified, **extra}


# Temporary files in a destination folder, renamed or linked to the final name when complete. A
# process killed in between leaves one; a later delivery to that folder removes those untouched
# for STALE_PART_SECONDS (one in flight is being written or was just made: never that old).
PART_PREFIX, PART_SUFFIX = ".opendsm-", ".part"
PART_PATTERN = PART_PREFIX + "*" + PART_SUFFIX
STALE_PART_SECONDS = 3600


def part_name() -> str:
    """A fresh temporary file name, hidden (a leading dot) and never a document's."""
    return "%s%s%s" % (PART_PREFIX, uuid4().hex, PART_SUFFIX)


def is_part_name(name: str) -> bool:
    return name.startswith(PART_PREFIX) and name.endswith(PART_SUFFIX)


def free_name(name: str, exists_with: Callable[[str], str | None], sha256: str) -> tuple[str, bool]:
    """The name to write ``name`` under: ``(candidate, already_there)``.

    ``exists_with(candidate)`` returns None when the candidate is free, else the sha256 of the file
    there (or "" if it cannot be read back). A file with our sha256 is ours from an earlier attempt
    (``already_there`` True); any other file keeps its name and we take `` (2)``, `` (3)``...
    """
    from scanprocesses.naming import unique_name

    seen: dict[str, str | None] = {}

    def taken(candidate: str) -> bool:
        seen[candidate] = exists_with(candidate)
        return seen[candidate] is not None and seen[candidate] != sha256

    chosen = unique_name(taken, name)
    return chosen, seen.get(chosen) == sha256


# --------------------------------------------------------------------------- PSP mapping helpers


def strings(config: dict[str, Any], key: str) -> tuple[str, ...]:
    """The non-blank strings of the list ``config[key]``, stripped."""
    return tuple(str(v).strip() for v in config.get(key) or [] if str(v).strip())


def odsm_instructions(local: str, values: Sequence[tuple[str, str]]) -> bytes:
    """``psp:Instructions`` holding ``<odsm:{local}>`` with one child element per value."""
    instructions = etree.Element(qn(PSP, "Instructions"), nsmap={"psp": PSP, "odsm": ODSM})
    config = etree.SubElement(instructions, qn(ODSM, local))
    for name, text in values:
        etree.SubElement(config, qn(ODSM, name)).text = text
    return foreign_bytes(instructions)


def odsm_values(item: psp.AnyFilter, local: str) -> dict[str, str]:
    """The child texts of ``<odsm:{local}>`` in an OpenDSM filter's instructions, by local name."""
    raw = item.raw if isinstance(item, psp.UnknownFilter) else None
    if raw is None:
        return {}
    root = xmlsafe.parse(raw)
    found: dict[str, str] = {}
    for config in root.iter(qn(ODSM, local)):
        for c in config:
            if isinstance(c.tag, str) and etree.QName(c).namespace == ODSM:
                found[etree.QName(c).localname] = (c.text or "").strip()
    return found


# --------------------------------------------------------------------------- form helpers

TARGETS = "targets"  # the form field every kind reads its places from (paths, UNCs, URLs, addresses)


def targets_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label=label, help_text=help_text
    )


def username_field() -> forms.CharField:
    return forms.CharField(required=False, max_length=255, label="User name")


def invalid(message: str, field: str = TARGETS) -> ValidationError:
    """A validation error shown next to ``field`` of the destination form."""
    return ValidationError({field: message})


def lines(text: object) -> list[str]:
    """The non-blank lines of a textarea, stripped."""
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def one_target(data: dict[str, Any], message: str) -> str:
    """The one line of the targets field; ValidationError ``message`` when there is not exactly one."""
    found = lines(data.get(TARGETS))
    if len(found) != 1:
        raise invalid(message)
    return found[0]


def check_http_url(url: str, what: str) -> None:
    """Raise ValidationError (next to the targets) unless ``url`` is an http(s) URL without credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("%s %r is not an http(s) URL" % (what, url))
    if parts.username or parts.password:
        raise invalid("%s must not contain credentials: use the user name and password fields" % what)
