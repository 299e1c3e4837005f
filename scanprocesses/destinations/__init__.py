"""Delivery destinations: one module per kind, the same small interface in each.

``deliver(delivery, outputs, config, credentials) -> list[Receipt]`` sends every output document of
a job to the destination and returns one receipt per document (where it went, size, sha256, and
``verified`` when the destination let us read the bytes back). ``test_write(config, credentials)
-> str`` is the console's dry run: it writes and removes a test file (or sends a test message)
and says what it did.

A failure raises :class:`DeliveryError` with the dsc ``FilterStateReason`` ([MS-BDSRR] §2.2.5.7,
``devices.protocols.jobstatus.FILTER_REASON_*``) and whether trying again later can help; the
pipeline (``scanserver.delivery``) turns that into a retry or a give-up.

Re-delivery after a crash must not duplicate: the file destinations look for a document already
present under its name with the same sha256 and count it as delivered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from devices.protocols import jobstatus

if TYPE_CHECKING:
    from scanserver.models import Delivery, OutputDocument

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


class Destination(Protocol):
    def deliver(
        self,
        delivery: Delivery,
        outputs: Sequence[OutputDocument],
        config: dict[str, Any],
        credentials: Credentials,
    ) -> list[Receipt]: ...

    def test_write(self, config: dict[str, Any], credentials: Credentials) -> str: ...


def sha256_file(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def receipt(name: str, where: str, size: int, sha256: str, verified: bool, **extra: Any) -> Receipt:
    return {"name": name, "where": where, "size": size, "sha256": sha256, "verified": verified, **extra}


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


def get(kind: str) -> ModuleType:
    """The destination module for a ``DestinationKind`` value."""
    from importlib import import_module

    if kind not in ("folder", "smb", "email", "webdav", "http"):
        raise DeliveryError("unknown destination kind %r" % kind, INVALID_ARGS, retryable=False)
    return import_module("scanprocesses.destinations.%s" % kind)
