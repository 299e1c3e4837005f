"""Scan process authoring: the model ⇄ PSP XML, saving with audit, publishing, versions, drift.

Implements PROTOCOL.md §3.1–3.3 on the console side (WDD:postscanprocess.md,
WDD:scan-process-schema.md) and DESIGN.md decisions 3 and 5. The console's ``ScanProcess`` row
is the editable draft; :func:`publish` turns it into an immutable ``ScanProcessVersion`` holding
the canonical ``psp:PostScanProcess`` (``devices.protocols.psp``) and writes that to the directory
in the same transaction, so a directory failure leaves neither a version row nor a state change.

Filters: filter *i* of the PSP is the process's destination at position *i*. Each destination
kind maps itself to and from its filter (``to_filter``/``from_filter`` of its module in
:mod:`scanprocesses.destinations`, which also documents its ``config`` keys): file share,
SharePoint and e-mail destinations use the Microsoft dialects; local-folder and HTTP-webhook
destinations use OpenDSM dialects (:data:`DIALECT_FOLDER`, :data:`DIALECT_HTTP`) whose
instructions are small ``odsm`` elements. Credentials (SMB/WebDAV passwords, webhook tokens)
never enter the PSP XML: they stay sealed in ``ProcessDestination.secret`` and the scan server
finds them by the filter's position.

OpenDSM's processing settings (naming template, output format, OCR) travel as the root extension
``odsmp:Processing`` (namespace :data:`PROCESSING_NS`) so they are part of each published version.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from lxml import etree

from core import audit, secretbox
from devices.protocols import psp, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import qn
from devices.protocols.wsscan import ticket as tk
from devices.protocols.xmlfields import canonical, foreign_bytes
from directory.base import DirectoryError, PSPObject, PublishError, normalize_group_id
from scanprocesses import destinations as kinds
from scanprocesses import naming
from scanprocesses.models import (
    DEFAULT_NAMING_TEMPLATE,
    OutputFormat,
    ProcessDestination,
    ProcessState,
    ScanProcess,
    ScanProcessVersion,
)

log = logging.getLogger(__name__)

DIALECT_FOLDER = psp.DIALECT_FOLDER
DIALECT_HTTP = psp.DIALECT_HTTP
PROCESSING_NS = "urn:opendsm:2026:processing"
DEFAULT_JOB_USER = "OpenDSM"
MAX_IMPORT_BYTES = 4 * psp.MAX_PSP_CHARS

# Fields copied verbatim into a version's settings snapshot (and restored by rollback).
SNAPSHOT_FIELDS: tuple[str, ...] = (
    "display_name",
    "description",
    "ticket_xml",
    "document_root_name",
    "continue_on_error",
    "naming_template",
    "output_format",
    "ocr",
    "allow_device_file_name_change",
    "allow_device_file_path_change",
    "locked_settings",
    "allowed_groups",
)


class ProcessError(Exception):
    """The scan process cannot be built, saved or published as asked; the message says why."""


class ProcessInUse(ProcessError):
    """Jobs reference the process: it can be archived, not deleted."""


class ImportRefused(ProcessError):
    """The uploaded PSP XML was refused (malformed, hostile, too large, not a scan process)."""


# --------------------------------------------------------------------------- ticket


def default_ticket(job_name: str = "Scan") -> tk.ScanTicket:
    return tk.ScanTicket(
        job_description=tk.JobDescription(job_name[:255] or "Scan", DEFAULT_JOB_USER),
        document_parameters=tk.DocumentParameters(
            format="pdf-a",
            input_source="ADF",
            content_type="Auto",
            input_size=tk.InputSize(document_size_auto_detect=True),
            media_sides=tk.MediaSides(
                front=tk.MediaSide(color_processing="RGB24", resolution=tk.Resolution(300))
            ),
        ),
    )


def ticket_to_xml(ticket: tk.ScanTicket) -> str:
    return canonical(ticket.to_element()).decode("utf-8")


def ticket_of(process: ScanProcess) -> tk.ScanTicket:
    """The process's ticket; an empty or unreadable ``ticket_xml`` is a :class:`ProcessError`."""
    if not process.ticket_xml.strip():
        return default_ticket(process.display_name)
    try:
        root = xmlsafe.parse(process.ticket_xml.encode("utf-8"))
        return tk.ScanTicket.from_element(root)
    except (xmlsafe.XMLRefused, ProtocolError) as exc:
        raise ProcessError("the scan ticket is not valid: %s" % exc) from None


# --------------------------------------------------------------------------- destinations ⇄ filters


def destination_filter(dest: ProcessDestination) -> psp.AnyFilter:
    """The PSP filter for one destination (no credential ever goes in)."""
    try:
        return kinds.to_filter(dest.kind, dest.config or {}, has_secret=bool(dest.secret))
    except kinds.DeliveryError as exc:  # an unknown kind
        raise ProcessError(str(exc)) from None


@dataclass
class DestinationSpec:
    """One destination as a form or an import describes it. ``password`` None/"" keeps the stored
    credential of ``existing_id`` (when that row belongs to the same process), ``clear`` drops it."""

    kind: str
    config: dict[str, Any]
    username: str = ""
    password: str | None = None
    existing_id: int | None = None
    clear: bool = False


def filter_destination(item: psp.AnyFilter) -> DestinationSpec | None:
    """The destination a PSP filter describes, or None for a dialect OpenDSM cannot deliver."""
    found = kinds.from_filter(item)
    return None if found is None else DestinationSpec(*found)


# --------------------------------------------------------------------------- model ⇄ PSP


def _processing_extension(process: ScanProcess) -> bytes:
    root = etree.Element(qn(PROCESSING_NS, "Processing"), nsmap={"odsmp": PROCESSING_NS})
    etree.SubElement(root, qn(PROCESSING_NS, "NamingTemplate")).text = process.naming_template
    etree.SubElement(root, qn(PROCESSING_NS, "OutputFormat")).text = process.output_format
    etree.SubElement(root, qn(PROCESSING_NS, "OCR")).text = "true" if process.ocr else "false"
    return foreign_bytes(root)


def to_psp(process: ScanProcess) -> psp.PostScanProcess:
    """The process as a ``PostScanProcess``; a process that cannot be published raises ProcessError."""
    if process.scan_server is None:
        raise ProcessError("assign a scan server: psp:ScanRepository is the scan server's host name")
    destinations = list(process.destinations.order_by("position", "pk"))
    if not destinations:
        raise ProcessError("add at least one destination: a scan process needs one filter or more")
    ticket = ticket_of(process)
    try:
        return psp.PostScanProcess(
            scan_repository=process.scan_server.fqdn,
            scan_ticket=canonical(ticket.to_element()),
            instructions=psp.PostScanInstructions(
                document_root_name=process.document_root_name,
                filters=tuple(destination_filter(d) for d in destinations),
                continue_on_error=process.continue_on_error,
                allow_device_file_name_change=process.allow_device_file_name_change,
                allow_device_file_path_change=process.allow_device_file_path_change,
            ),
            locked_settings=frozenset(process.locked_settings or ()),
            extensions=(_processing_extension(process),),
        )
    except ProtocolError as exc:
        raise ProcessError(str(exc)) from None


def psp_xml(process: ScanProcess) -> bytes:
    """Canonical PSP bytes, exactly what :func:`publish` writes to the directory."""
    return psp.to_xml(to_psp(process))


def published_instructions(version: ScanProcessVersion) -> psp.PostScanInstructions:
    """The instructions of a published version (what the scan server compares jobs against)."""
    return psp.from_xml(version.psp_xml.encode("utf-8")).instructions


@dataclass
class Imported:
    process: ScanProcess
    destinations: list[DestinationSpec]
    warnings: list[str] = field(default_factory=list)


def _processing_from(extensions: Iterable[bytes]) -> dict[str, str]:
    for data in extensions:
        root = xmlsafe.parse(data)
        if root.tag == qn(PROCESSING_NS, "Processing"):
            return {etree.QName(c).localname: (c.text or "").strip() for c in root if isinstance(c.tag, str)}
    return {}


def from_psp(xml: bytes | str, display_name: str = "") -> Imported:
    """An unsaved process and its destinations from PSP XML; hostile or invalid XML is ImportRefused."""
    from devices.models import ScanServer

    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(raw) > MAX_IMPORT_BYTES:
        raise ImportRefused("the file is %d bytes, over the limit of %d" % (len(raw), MAX_IMPORT_BYTES))
    try:
        parsed = psp.from_xml(raw)
        ticket = tk.ScanTicket.from_element(xmlsafe.parse(parsed.scan_ticket))
        processing = _processing_from(parsed.extensions)
    except xmlsafe.XMLRefused as exc:
        raise ImportRefused("the XML was refused: %s" % exc) from None
    except ProtocolError as exc:
        raise ImportRefused("not a valid scan process: %s" % exc) from None
    warnings: list[str] = []
    server = ScanServer.objects.filter(fqdn__iexact=parsed.scan_repository).first()
    if server is None:
        warnings.append(
            "no scan server is registered for %s; choose one before publishing" % parsed.scan_repository
        )
    instr = parsed.instructions
    unknown_locked = sorted(set(parsed.locked_settings) - set(psp.LOCKABLE_SETTINGS))
    if unknown_locked:
        warnings.append("ignored unknown locked settings: %s" % ", ".join(unknown_locked))
    fmt = processing.get("OutputFormat", OutputFormat.PDF)
    default_template = DEFAULT_NAMING_TEMPLATE
    template = processing.get("NamingTemplate") or default_template
    if naming.validate_template(template):
        warnings.append("the naming template %r is unsafe and was replaced by the default" % template)
        template = default_template
    process = ScanProcess(
        display_name=(display_name or ticket.job_description.job_name or "Imported scan process")[:255],
        ticket_xml=ticket_to_xml(ticket),
        scan_server=server,
        document_root_name=instr.document_root_name,
        continue_on_error=bool(instr.continue_on_error),
        allow_device_file_name_change=bool(instr.allow_device_file_name_change),
        allow_device_file_path_change=bool(instr.allow_device_file_path_change),
        locked_settings=sorted(set(parsed.locked_settings) & set(psp.LOCKABLE_SETTINGS)),
        naming_template=str(template),
        output_format=fmt if fmt in OutputFormat.values else OutputFormat.PDF,
        ocr=processing.get("OCR") == "true",
    )
    destinations: list[DestinationSpec] = []
    for item in instr.filters:
        spec = filter_destination(item)
        if spec is None:
            warnings.append("dropped a filter of unknown dialect %s" % item.dialect)
        else:
            destinations.append(spec)
    if any(kinds.get(d.kind).NEEDS_CREDENTIAL for d in destinations):
        warnings.append("credentials are never part of PSP XML: enter them on the edit page")
    return Imported(process=process, destinations=destinations, warnings=warnings)


# --------------------------------------------------------------------------- describe / snapshot


def destination_text(d: ProcessDestination) -> str:
    """One destination in a line: its kind, every setting, and whether a credential is stored."""
    try:
        target = kinds.describe(d.kind, d.config or {})
    except kinds.DeliveryError:  # an unknown kind: say what is stored
        target = str(d.config or {})
    extra = ""
    if d.username:
        extra += " as %s" % d.username
    if d.secret:
        extra += " (credential stored)"
    return "%s: %s%s" % (kinds.label(d.kind), target, extra)


_destination_text = destination_text  # the console's name for it (smc.views_processes)


def describe(process: ScanProcess) -> dict[str, Any]:
    """Readable values of every setting, for audit diffs (secrets appear only as a marker)."""
    values: dict[str, Any] = {f: getattr(process, f) for f in SNAPSHOT_FIELDS}
    values["scan_server"] = str(process.scan_server) if process.scan_server_id else None
    if process.pk is not None:
        dests = list(process.destinations.order_by("position", "pk"))
        values["allowed_device_groups"] = sorted(g.name for g in process.allowed_device_groups.all())
        values["destinations"] = [destination_text(d) for d in dests]
        values["secret"] = [d.secret for d in dests]
    return values


def snapshot(process: ScanProcess) -> dict[str, Any]:
    """Everything :func:`rollback` needs to restore the process as it is now."""
    values: dict[str, Any] = {f: getattr(process, f) for f in SNAPSHOT_FIELDS}
    values["scan_server"] = str(process.scan_server_id) if process.scan_server_id else None
    values["allowed_device_groups"] = sorted(process.allowed_device_groups.values_list("pk", flat=True))
    values["destinations"] = [
        {"kind": d.kind, "config": d.config, "username": d.username, "secret": d.secret}
        for d in process.destinations.order_by("position", "pk")
    ]
    return values


# --------------------------------------------------------------------------- save / clone / delete


def check_process(process: ScanProcess) -> list[str]:
    problems = ["naming template: %s" % p for p in naming.validate_template(process.naming_template)]
    if not process.document_root_name.strip():
        problems.append("DocumentRootName must not be empty")
    try:
        ticket_of(process)
    except ProcessError as exc:
        problems.append(str(exc))
    unknown = sorted(set(process.locked_settings or ()) - set(psp.LOCKABLE_SETTINGS))
    if unknown:
        problems.append("unknown locked settings: %s" % ", ".join(unknown))
    return problems


def _write_destinations(process: ScanProcess, specs: Sequence[DestinationSpec]) -> None:
    """Make the process's destinations ``specs``, in order. A spec naming one of its rows
    (``existing_id``) updates that row in place, so the jobs' deliveries that link to it
    (``scanserver.Delivery.destination``) stay linked; rows no spec names are deleted (those
    deliveries keep their own copy of kind and target, and lose only the link)."""
    old = {d.pk: d for d in process.destinations.all()}
    keep: set[int] = set()
    new_rows = []
    for position, spec in enumerate(specs):
        if spec.kind not in dict(kinds.CHOICES):
            raise ProcessError("unknown destination kind %r" % spec.kind)
        kept = old.get(spec.existing_id) if spec.existing_id is not None else None
        if kept is not None and kept.pk in keep:
            kept = None  # the same row named twice: the second is a new destination
        if spec.password:
            secret = secretbox.seal(spec.password)
        elif kept is not None and not spec.clear:
            secret = kept.secret
        else:
            secret = ""
        values = {
            "kind": spec.kind,
            "position": position,
            "config": spec.config,
            "username": spec.username,
            "secret": secret,
        }
        if kept is not None:
            keep.add(kept.pk)
            for name, value in values.items():
                setattr(kept, name, value)
            kept.save(update_fields=list(values))
        else:
            new_rows.append(ProcessDestination(process=process, **values))
    process.destinations.exclude(pk__in=keep).delete()
    ProcessDestination.objects.bulk_create(new_rows)


def save_process(
    process: ScanProcess,
    destinations: Sequence[DestinationSpec],
    device_group_ids: Iterable[int],
    actor: Any,
    action: str | None = None,
    extra_detail: dict[str, Any] | None = None,
) -> ScanProcess:
    """Create or update ``process`` with its destinations and device groups, audited as one change."""
    problems = check_process(process)
    if problems:
        raise ProcessError("; ".join(problems))
    with transaction.atomic():
        creating = process.pk is None
        before = {} if creating else describe(ScanProcess.objects.get(pk=process.pk))
        if creating:
            process.created_by = audit.actor_name(actor)
        process.save()
        process.allowed_device_groups.set(list(device_group_ids))
        _write_destinations(process, destinations)
        detail: dict[str, Any] = {"changes": audit.field_diff(before, describe(process))}
        detail.update(extra_detail or {})
        audit.record(actor, action or ("create" if creating else "edit"), process, detail)
    return process


def import_process(xml: bytes | str, actor: Any, display_name: str = "") -> tuple[ScanProcess, list[str]]:
    imported = from_psp(xml, display_name)
    if ScanProcess.objects.filter(display_name=imported.process.display_name).exists():
        raise ImportRefused("a scan process named %r already exists" % imported.process.display_name)
    process = save_process(
        imported.process,
        imported.destinations,
        [],
        actor,
        action="import",
        extra_detail={"warnings": imported.warnings},
    )
    return process, imported.warnings


def adopt(process: ScanProcess, xml: bytes | str, actor: Any) -> ScanProcess:
    """Take PSP XML (the directory's copy after drift) as a new edit of ``process``.

    Destinations keep their stored credentials where the kind at the same position is unchanged.
    """
    imported = from_psp(xml, process.display_name)
    for name in (
        "ticket_xml",
        "document_root_name",
        "continue_on_error",
        "allow_device_file_name_change",
        "allow_device_file_path_change",
        "locked_settings",
        "naming_template",
        "output_format",
        "ocr",
    ):
        setattr(process, name, getattr(imported.process, name))
    if imported.process.scan_server is not None:
        process.scan_server = imported.process.scan_server
    old = list(process.destinations.order_by("position", "pk"))
    for index, spec in enumerate(imported.destinations):
        if index < len(old) and old[index].kind == spec.kind:
            spec.existing_id, spec.username = old[index].pk, old[index].username
    groups = list(process.allowed_device_groups.values_list("pk", flat=True))
    return save_process(
        process,
        imported.destinations,
        groups,
        actor,
        "import",
        {"source": "directory", "warnings": imported.warnings},
    )


def clone(process: ScanProcess, actor: Any, display_name: str = "") -> ScanProcess:
    name = display_name or _free_name("Copy of %s" % process.display_name)
    copy = ScanProcess(**{f: getattr(process, f) for f in SNAPSHOT_FIELDS})
    copy.display_name = name[:255]
    copy.scan_server = process.scan_server
    specs = [
        DestinationSpec(d.kind, dict(d.config), d.username, existing_id=None)
        for d in process.destinations.order_by("position", "pk")
    ]
    with transaction.atomic():
        saved = save_process(
            copy,
            specs,
            process.allowed_device_groups.values_list("pk", flat=True),
            actor,
            "clone",
            {"source": str(process.guid)},
        )
        # Credentials are copied sealed, never unsealed.
        for src, dst in zip(
            process.destinations.order_by("position", "pk"),
            saved.destinations.order_by("position"),
            strict=True,
        ):
            if src.secret:
                ProcessDestination.objects.filter(pk=dst.pk).update(secret=src.secret)
    return saved


def _free_name(base: str) -> str:
    name, n = base[:255], 2
    while ScanProcess.objects.filter(display_name=name).exists():
        name = "%s (%d)" % (base[:240], n)
        n += 1
    return name


def delete(process: ScanProcess, actor: Any) -> None:
    """Delete a process no job references (its directory copy first); else ProcessInUse."""
    if process.jobs.exists():
        raise ProcessInUse("%d scan jobs reference this process: archive it instead" % process.jobs.count())
    from directory.backends import get_directory

    with transaction.atomic():
        if process.state == ProcessState.PUBLISHED:
            get_directory().unpublish(process.guid)
        audit.record(actor, "delete", process, {"guid": str(process.guid), "state": process.state})
        process.delete()


def archive(process: ScanProcess, actor: Any) -> None:
    from directory.backends import get_directory

    with transaction.atomic():
        before = process.state
        if process.state == ProcessState.PUBLISHED:
            get_directory().unpublish(process.guid)
        process.archive()
        audit.record(actor, "archive", process, {"changes": {"state": [before, process.state]}})


def restore(process: ScanProcess, actor: Any) -> None:
    with transaction.atomic():
        process.restore()
        audit.record(actor, "restore", process, {"changes": {"state": ["archived", process.state]}})


# --------------------------------------------------------------------------- publish / versions


def _directory_error(exc: Exception) -> ProcessError:
    return ProcessError("the directory refused the change: %s" % exc)


def psp_object(process: ScanProcess, version: ScanProcessVersion) -> PSPObject:
    """What the directory publishes for ``version`` of ``process``: the version's PSP XML, and the
    display name and allowed groups as the version recorded them (``settings_snapshot``), else as
    the process has them. A version of another process is a :class:`ProcessError`."""
    if version.process_id != process.pk:
        raise ProcessError("version %s belongs to another process" % version.pk)
    snap = version.settings_snapshot if isinstance(version.settings_snapshot, dict) else {}
    return PSPObject(
        guid=str(process.guid),
        display_name=str(snap.get("display_name", process.display_name)),
        psp_xml=version.psp_xml,
        allowed_groups=tuple(snap.get("allowed_groups", process.allowed_groups)),
        server_name=process.scan_server.fqdn if process.scan_server else "",
        version=version.number,
    )


def publish(process: ScanProcess, actor: Any, comment: str = "") -> ScanProcessVersion:
    """Build the canonical XML, store a new immutable version and write it to the directory.

    All or nothing: if the directory refuses (``PublishError``), the version row and the state
    change are rolled back with the transaction and ProcessError is raised.
    """
    from directory.backends import get_directory

    if process.state == ProcessState.ARCHIVED:
        raise ProcessError("an archived process cannot be published; restore it first")
    xml = psp_xml(process)
    try:
        with transaction.atomic():
            locked = ScanProcess.objects.select_for_update().get(pk=process.pk)
            last = locked.versions.order_by("-number").first()
            version = ScanProcessVersion.objects.create(
                process=locked,
                number=(last.number + 1) if last else 1,
                psp_xml=xml.decode("utf-8"),
                settings_snapshot=snapshot(locked),
                created_by=audit.actor_name(actor),
                comment=comment[:500],
            )
            before = locked.state
            get_directory().publish(psp_object(locked, version))
            locked.mark_published(version)
            audit.record(
                actor,
                "publish",
                locked,
                {"version": version.number, "comment": comment, "changes": {"state": [before, locked.state]}},
            )
    except PublishError as exc:
        log.warning("publishing %s failed: %s", process.guid, exc)
        raise _directory_error(exc) from None
    process.refresh_from_db()
    return version


def unpublish(process: ScanProcess, actor: Any, comment: str = "") -> None:
    from directory.backends import get_directory

    if process.state != ProcessState.PUBLISHED:
        raise ProcessError("the process is not published")
    try:
        with transaction.atomic():
            get_directory().unpublish(process.guid)
            process.mark_unpublished()
            audit.record(
                actor,
                "unpublish",
                process,
                {"comment": comment, "changes": {"state": ["published", "unpublished"]}},
            )
    except PublishError as exc:
        process.refresh_from_db()
        raise _directory_error(exc) from None


def rollback(process: ScanProcess, version: ScanProcessVersion, actor: Any) -> ScanProcess:
    """Restore the process fields from ``version``; the result is an unpublished edit."""
    if version.process_id != process.pk:
        raise ProcessError("version %s belongs to another process" % version.pk)
    from devices.models import DeviceGroup, ScanServer

    snap = version.settings_snapshot
    for f in SNAPSHOT_FIELDS:
        if f in snap:
            setattr(process, f, snap[f])
    server_id = snap.get("scan_server")
    process.scan_server = ScanServer.objects.filter(pk=server_id).first() if server_id else None
    groups = DeviceGroup.objects.filter(pk__in=snap.get("allowed_device_groups", [])).values_list(
        "pk", flat=True
    )
    specs = [
        DestinationSpec(d["kind"], d.get("config", {}), d.get("username", ""))
        for d in snap.get("destinations", [])
    ]
    with transaction.atomic():
        save_process(process, specs, groups, actor, "rollback", {"version": version.number})
        # Sealed credentials come back as they were in the version, without being unsealed.
        for dest, d in zip(
            process.destinations.order_by("position"), snap.get("destinations", []), strict=False
        ):
            ProcessDestination.objects.filter(pk=dest.pk).update(secret=d.get("secret", ""))
    return process


def has_unpublished_changes(process: ScanProcess) -> bool:
    version = process.published_version
    if version is None:
        return True
    try:
        return psp_xml(process).decode("utf-8") != version.psp_xml
    except ProcessError:
        return True


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "hunk" | "same"
    text: str


def pretty_xml(xml: str) -> str:
    root = xmlsafe.parse(xml.encode("utf-8"), xmlsafe.Limits(max_bytes=MAX_IMPORT_BYTES))
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode")


def diff_xml(a: str, b: str, label_a: str = "a", label_b: str = "b") -> list[DiffLine]:
    lines = difflib.unified_diff(
        pretty_xml(a).splitlines(), pretty_xml(b).splitlines(), label_a, label_b, lineterm="", n=3
    )
    out = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line[:1] == "+"
            else "del"
            if line[:1] == "-"
            else "same"
        )
        out.append(DiffLine(kind, line))
    return out


def diff(version_a: ScanProcessVersion, version_b: ScanProcessVersion) -> list[DiffLine]:
    """Readable line diff of two versions' pretty-printed PSP XML (empty when equal)."""
    return diff_xml(version_a.psp_xml, version_b.psp_xml, "v%d" % version_a.number, "v%d" % version_b.number)


# --------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Drift:
    status: str  # in_sync | missing | changed | unreadable | unexpected | unreachable | not_published
    message: str
    lines: tuple[DiffLine, ...] = ()

    @property
    def drifted(self) -> bool:
        # "unreachable" is not drift: nothing is known about the directory's copy.
        return self.status not in ("in_sync", "not_published", "unreachable")


def drift(process: ScanProcess) -> Drift:
    """Compare the directory's copy with the last published version."""
    from directory.backends import get_directory

    try:
        copy = get_directory().read_published(str(process.guid))
    except DirectoryError as exc:
        log.warning("drift of %s not checked: %s", process.guid, exc)
        return Drift("unreachable", "Directory unreachable: %s" % exc)
    version = process.published_version if process.state == ProcessState.PUBLISHED else None
    if version is None:
        if copy is not None:
            return Drift("unexpected", "The directory still holds a copy of this unpublished process.")
        return Drift("not_published", "Not published.")
    if copy is None:
        return Drift("missing", "The directory has no copy of the published version %d." % version.number)
    try:
        theirs = psp.to_xml(psp.from_xml(copy.psp_xml)).decode("utf-8")
    except (xmlsafe.XMLRefused, ProtocolError) as exc:
        return Drift("unreadable", "The directory's copy cannot be read: %s" % exc)
    lines = tuple(diff_xml(version.psp_xml, theirs, "v%d" % version.number, "directory"))
    differences = []
    if lines:
        differences.append("scan process XML")
    if copy.display_name != version.settings_snapshot.get("display_name", process.display_name):
        differences.append("display name")
    # The directory hands back DNs in its own case and spacing (AD does): compare normalized.
    theirs_groups = {normalize_group_id(g) for g in copy.allowed_groups}
    ours_groups = {normalize_group_id(g) for g in version.settings_snapshot.get("allowed_groups", [])}
    if theirs_groups != ours_groups:
        differences.append("allowed groups")
    if differences:
        return Drift("changed", "The directory's copy differs in: %s." % ", ".join(differences), lines)
    return Drift("in_sync", "The directory holds published version %d." % version.number)
