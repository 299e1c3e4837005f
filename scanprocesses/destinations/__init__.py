"""Delivery destinations: the registry of kinds, and one module per kind.

:data:`KINDS` is the one ordered list of destination kinds (value, label, module). Everything
that needs to know the kinds reads it: the model choices (``ProcessDestination.kind``,
``scanserver.models.Delivery.kind``), the console's destination form (:func:`form_fields`), the
PSP mapping (:func:`to_filter`, :func:`from_filter`, :func:`apply_instructions`), the texts
(:func:`target_text`, :func:`describe`), the dry run (:func:`test_write`) and the deliveries
(:func:`get`). Adding a kind is one module with the parts of :class:`KindModule` and one line here.

Each kind module is a vertical slice (:class:`KindModule`): its form fields and config validation,
its PSP filter mapping, the device's overrides, its texts, ``deliver`` and ``test_write``.
``deliver(delivery, outputs, config, credentials) -> list[Receipt]`` sends every output document
of a job to the destination and returns one receipt per document (where it went, size, sha256,
and ``verified`` when the destination let us read the bytes back). ``test_write(config,
credentials) -> str`` is the console's dry run: it writes and removes a test file (or sends a test
message) and says what it did.

A failure raises :class:`DeliveryError` with the dsc ``FilterStateReason`` ([MS-BDSRR] §2.2.5.7,
``devices.protocols.jobstatus.FILTER_REASON_*``) and whether trying again later can help; the
pipeline (``scanserver.delivery``) turns that into a retry or a give-up.

Re-delivery after a crash must not duplicate: the file destinations look for a document already
present under its name with the same sha256 and count it as delivered.

The kind modules are imported on first use (they pull in smbclient, httpx, smtplib), so the models
can take their choices from here cheaply.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

# What callers of the registry use besides it; the kind modules import ``base`` themselves.
from scanprocesses.destinations.base import (
    INVALID_ARGS,
    TARGETS,
    UNKNOWN_ERROR,
    Credentials,
    Delivery,
    DeliveryError,
    Document,
    Receipt,
    sha256_file,
)

if TYPE_CHECKING:
    from django import forms

    from devices.protocols import psp

__all__ = [
    "CHOICES",
    "INVALID_ARGS",
    "KINDS",
    "TARGETS",
    "UNKNOWN_ERROR",
    "Credentials",
    "Delivery",
    "DeliveryError",
    "Document",
    "Kind",
    "KindModule",
    "Receipt",
    "apply_instructions",
    "describe",
    "form_fields",
    "from_filter",
    "get",
    "label",
    "sha256_file",
    "target_text",
    "test_write",
    "to_filter",
]


@runtime_checkable
class KindModule(Protocol):
    """What every kind module defines (a module satisfies this Protocol)."""

    DIALECT: str  # the psp:Filter dialect URI
    NEEDS_CREDENTIAL: bool  # a destination imported from PSP XML needs a credential entered
    SERIAL_TESTS: bool  # its test writes take turns (one lane), never at the same time
    FIELDS: dict[str, forms.Field]  # its fields of the destination form, by form field name

    def initial(self, config: dict[str, Any]) -> dict[str, Any]: ...

    def clean_config(self, data: dict[str, Any]) -> dict[str, Any]: ...

    def to_filter(self, config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter: ...

    def from_filter(self, item: psp.AnyFilter) -> dict[str, Any]: ...

    def apply_instructions(self, config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]: ...

    def target_text(self, config: dict[str, Any]) -> str: ...

    def describe(self, config: dict[str, Any]) -> str: ...

    def deliver(
        self,
        delivery: Delivery,
        outputs: Sequence[Document],
        config: dict[str, Any],
        credentials: Credentials,
    ) -> list[Receipt]: ...

    def test_write(self, config: dict[str, Any], credentials: Credentials) -> str: ...


@dataclass(frozen=True)
class Kind:
    value: str  # stored in ProcessDestination.kind and Delivery.kind
    label: str
    module_name: str

    @property
    def module(self) -> KindModule:
        return cast(KindModule, import_module(self.module_name))


# The one list of destination kinds, in the order the console offers them.
KINDS: tuple[Kind, ...] = (
    Kind("folder", "Local folder", "scanprocesses.destinations.folder"),
    Kind("smb", "File share (SMB)", "scanprocesses.destinations.smb"),
    Kind("email", "E-mail", "scanprocesses.destinations.email"),
    Kind("webdav", "SharePoint / WebDAV", "scanprocesses.destinations.webdav"),
    Kind("http", "HTTP webhook", "scanprocesses.destinations.http"),
)
CHOICES: tuple[tuple[str, str], ...] = tuple((k.value, k.label) for k in KINDS)
_BY_VALUE = {k.value: k for k in KINDS}


def get(kind: str) -> KindModule:
    """The module of a destination kind; an unknown kind is a non-retryable DeliveryError."""
    found = _BY_VALUE.get(kind)
    if found is None:
        raise DeliveryError("unknown destination kind %r" % kind, INVALID_ARGS, retryable=False)
    return found.module


def label(kind: str) -> str:
    """The kind's label (the kind itself when it is not one of :data:`KINDS`)."""
    found = _BY_VALUE.get(kind)
    return kind if found is None else found.label


# --------------------------------------------------------------------------- PSP mapping


def to_filter(kind: str, config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    """The PSP filter of one destination (never a credential; ``has_secret`` may be said)."""
    return get(kind).to_filter(config, has_secret)


def from_filter(item: psp.AnyFilter) -> tuple[str, dict[str, Any]] | None:
    """``(kind, config)`` a PSP filter describes, or None for a dialect no kind delivers."""
    for k in KINDS:
        module = k.module
        if module.DIALECT == item.dialect:
            return k.value, module.from_filter(item)
    return None


def apply_instructions(kind: str, config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    """``config`` with what the device's filter ``item`` says (where the process allows it, which
    the scan server checked when the job was created). A filter of a Microsoft dialect that is not
    this kind's is a non-retryable DeliveryError."""
    from devices.protocols import psp

    module = get(kind)
    if isinstance(item, psp.Filter) and item.dialect != module.DIALECT:
        raise DeliveryError(
            "the %s filter does not match destination kind %s" % (item.dialect, kind),
            INVALID_ARGS,
            retryable=False,
        )
    return module.apply_instructions(config, item)


# --------------------------------------------------------------------------- texts, dry run, form


def target_text(kind: str, config: dict[str, Any]) -> str:
    """Where a destination sends to, in a line (a delivery's ``target``, the dry run's rows)."""
    return get(kind).target_text(config)


def describe(kind: str, config: dict[str, Any]) -> str:
    """Every setting of a destination in a line, for the console and audit diffs."""
    return get(kind).describe(config)


def test_write(kind: str, config: dict[str, Any], credentials: Credentials) -> str:
    """The dry run of one destination (writes and removes a test file, or sends a test message)."""
    return get(kind).test_write(config, credentials)


def form_fields() -> dict[str, forms.Field]:
    """Fresh copies of every kind's form fields, for one form that offers all kinds. A field that
    several kinds share is offered once (the first kind's); the targets field, which every kind
    reads differently, says what each kind expects."""
    fields: dict[str, forms.Field] = {}
    helps: list[str] = []
    for k in KINDS:
        for name, field in k.module.FIELDS.items():
            fields.setdefault(name, copy.deepcopy(field))
            if name == TARGETS:
                helps.append("%s: %s" % (k.label, field.help_text))
    if TARGETS in fields:
        fields[TARGETS].label = "Targets"
        fields[TARGETS].help_text = "; ".join(helps)
    return fields
