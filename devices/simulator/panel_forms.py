"""What the user may change at the panel, and the checks on what the panel's form sends back.

PROTOCOL.md §2.3 step 5 (WDD:scan-job-execution.md; [MS-BDSRR] spx extensions): the user may
override the ticket settings the scan process leaves unlocked (OpenDSM's ``odsm:LockedSettings``
extension, ``devices.protocols.psp.LOCKABLE_SETTINGS``) and, when the process says so
(``spx:AllowDeviceFileNameChange``), the document's root name. Everything here is pure: the
HTTP layer (:mod:`devices.simulator.panel`) passes the form as a mapping of strings and gets a
:class:`ScanChoice` or a :class:`PanelInputError` whose message the panel shows.

A form is hostile until checked: every value must be one the device offers, a locked setting must
keep the process's value (a tampered POST is refused, not silently corrected), the page count is
bounded by the ADF, and a file name is one safe path component.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from devices.protocols import psp, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.wsscan.ticket import ScanTicket
from devices.simulator import scanner
from devices.simulator.device import INPUT_SOURCES, JobSettings, ScanDevice
from devices.simulator.panel_directory import PanelProcess

# (ticket setting name, form field, label) of what the panel offers to change.
FIELDS: tuple[tuple[str, str, str], ...] = (
    (psp.SETTING_INPUT_SOURCE, "input_source", "Paper source"),
    (psp.SETTING_COLOR_PROCESSING, "color", "Colour"),
    (psp.SETTING_RESOLUTION, "resolution", "Resolution (dpi)"),
    (psp.SETTING_FORMAT, "format", "Image format sent"),
    (psp.SETTING_COMPRESSION_QUALITY_FACTOR, "quality", "Compression quality (0-100)"),
)
SOURCE_LABELS = {"Platen": "Platen (glass)", "ADF": "Feeder (ADF)", "ADFDuplex": "Feeder, both sides"}
FORBIDDEN_NAME_CHARS = frozenset('/\\:*?"<>|')
MAX_FIELD = 300


class PanelInputError(Exception):
    """The form asked for something the panel will not do; the message says what and why."""


@dataclass(frozen=True)
class ProcessView:
    """A process as the panel shows it: the ticket's values and what may change."""

    process: PanelProcess
    parsed: psp.PostScanProcess
    settings: JobSettings

    @property
    def locked(self) -> frozenset[str]:
        return self.parsed.locked_settings

    @property
    def allow_name_change(self) -> bool:
        return bool(self.parsed.instructions.allow_device_file_name_change)

    @property
    def document_root_name(self) -> str:
        return self.parsed.instructions.document_root_name

    @property
    def scan_repository(self) -> str:
        return self.parsed.scan_repository

    def value(self, field: str) -> str:
        s = self.settings
        return {
            "input_source": s.input_source,
            "color": s.color,
            "resolution": str(s.dpi_x),
            "format": s.format,
            "quality": str(s.quality),
        }[field]


def view_process(process: PanelProcess) -> ProcessView:
    """Parse the process's PSP XML (from the directory: untrusted) into what the panel shows."""
    try:
        parsed = psp.from_xml(process.psp_xml)
        ticket = ScanTicket.from_element(xmlsafe.parse(parsed.scan_ticket))
    except (ProtocolError, xmlsafe.XMLRefused, ValueError) as exc:
        raise PanelInputError(
            "The scan process “%s” cannot be used: %s" % (process.display_name, exc)
        ) from None
    settings = scanner.settings_from_ticket(ticket)
    if not settings.job_name:
        settings = replace(settings, job_name=process.display_name[:255])
    return ProcessView(process, parsed, settings)


def choices(view: ProcessView, device: ScanDevice, field: str) -> tuple[str, ...]:
    """The values the device offers for ``field`` (quality is free text, checked on submit)."""
    caps = device.capabilities
    if field == "input_source":
        return tuple(s for s in INPUT_SOURCES if s != "ADFDuplex" or caps.adf_duplex)
    if field == "color":
        return caps.color_modes
    if field == "resolution":
        return tuple(str(r) for r in caps.resolutions)
    if field == "format":
        return caps.formats
    return ()


@dataclass(frozen=True)
class ScanChoice:
    """A checked request to scan: what to push, with which settings, how many sheets."""

    process: PanelProcess
    psp_identifier: uuid.UUID
    scan_repository: str
    instructions: psp.PostScanInstructions
    settings: JobSettings
    sheets: int


def _text(form: Mapping[str, object], name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise PanelInputError("The field %s is not valid." % name)
    return value.strip()


def _int(text: str, label: str, low: int, high: int) -> int:
    if not text.isdigit() or len(text) > 6 or not low <= int(text) <= high:
        raise PanelInputError("%s must be a whole number from %d to %d." % (label, low, high))
    return int(text)


def check_document_name(value: str) -> str:
    """One safe file-name component: no separators, no traversal, no control characters."""
    name = value.strip()
    if not name:
        raise PanelInputError("Enter a file name.")
    if len(name) > psp.MAX_STRING:
        raise PanelInputError("The file name is longer than %d characters." % psp.MAX_STRING)
    if (
        name.startswith(".")
        or any(c in FORBIDDEN_NAME_CHARS for c in name)
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise PanelInputError(
            'The file name may not start with a dot nor contain / \\ : * ? " < > | or control characters.'
        )
    return name


def parse_scan_form(form: Mapping[str, object], view: ProcessView, device: ScanDevice) -> ScanChoice:
    """The :class:`ScanChoice` the form asks for; :class:`PanelInputError` for anything refused."""
    settings = view.settings
    for setting, field, label in FIELDS:
        submitted = _text(form, field)
        if submitted is None or submitted == "":
            continue
        if setting in view.locked:
            if submitted != view.value(field):
                raise PanelInputError(
                    "%s is locked by the scan process “%s” and cannot be changed."
                    % (label, view.process.display_name)
                )
            continue
        if field == "quality":
            settings = replace(settings, quality=_int(submitted, label, 0, 100))
            continue
        if submitted not in choices(view, device, field):
            raise PanelInputError("%s: %r is not offered by this device." % (label, submitted[:40]))
        if field == "input_source":
            settings = replace(settings, input_source=submitted)
        elif field == "color":
            settings = replace(settings, color=submitted)
        elif field == "resolution":
            settings = replace(settings, dpi_x=int(submitted), dpi_y=int(submitted))
        elif field == "format":
            settings = replace(settings, format=submitted)
    capacity = device.capabilities.adf_capacity
    sheets_text = _text(form, "sheets") or "1"
    sheets = 1 if settings.input_source == "Platen" else _int(sheets_text, "Pages", 1, capacity)
    if settings.input_source == "Platen" and sheets_text != "1":
        _int(sheets_text, "Pages", 1, capacity)  # still refuse nonsense, then scan the one sheet
    instructions = view.parsed.instructions
    name = _text(form, "document_name")
    if name is not None and name != instructions.document_root_name:
        if not view.allow_name_change:
            raise PanelInputError(
                "The scan process “%s” does not let you change the file name." % view.process.display_name
            )
        instructions = replace(instructions, document_root_name=check_document_name(name))
    try:
        ident = uuid.UUID(view.process.guid)
    except ValueError:
        raise PanelInputError("The scan process has no valid identifier.") from None
    return ScanChoice(view.process, ident, view.scan_repository, instructions, settings, sheets)
