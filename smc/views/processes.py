"""Scan-process pages: list, detail, editor, publish, versions, diff, rollback, import/export, dry run.

Reading needs the ``view`` capability (admins, operators, auditors); every change needs
``manage`` (admins). Each view fetches, calls one domain function in ``scanprocesses.authoring`` and
renders or redirects (STYLE.md habit 7).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime
from typing import Any, cast

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from core import audit
from core.roles import requires
from devices.models import ScanServer
from scanprocesses import authoring as scanprocesses
from scanprocesses import naming, ticketeditor
from scanprocesses.models import (
    DEFAULT_NAMING_TEMPLATE,
    OutputFormat,
    ProcessState,
    ScanProcess,
    ScanProcessVersion,
)
from smc.forms.destinations import BaseDestinationFormSet, DestinationForm, DestinationFormSet
from smc.forms.processes import ConfirmForm, ImportForm, ProcessForm
from smc.forms.ticket import MUST_HONOR, TicketForm, size_text

PAGE_SIZE = 25
SORTS = {
    "name": "display_name",
    "-name": "-display_name",
    "state": "state",
    "-state": "-state",
    "updated": "updated_at",
    "-updated": "-updated_at",
    "server": "scan_server__name",
    "-server": "-scan_server__name",
}


def _process(guid: str) -> ScanProcess:
    return get_object_or_404(
        ScanProcess.objects.select_related("scan_server", "published_version"), guid=guid
    )


@requires("view")
def process_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    state = request.GET.get("state", "")
    server = request.GET.get("server", "")
    sort = request.GET.get("sort", "name")
    processes = ScanProcess.objects.select_related("scan_server", "published_version").annotate(
        destination_count=Count("destinations", distinct=True)
    )
    if q:
        processes = processes.filter(Q(display_name__icontains=q) | Q(description__icontains=q))
    if state:
        processes = processes.filter(state=state)
    if server:
        try:
            processes = processes.filter(scan_server__guid=uuid.UUID(server))
        except ValueError:
            processes = processes.none()
    processes = processes.order_by(SORTS.get(sort, "display_name"), "pk")
    page = Paginator(processes, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "q": q,
        "state": state,
        "server": server,
        "sort": sort,
        "states": ProcessState.choices,
        "servers": ScanServer.objects.all(),
        "query": query.urlencode(),
        "total": ScanProcess.objects.count(),
    }
    template = "smc/processes/_table.html" if request.headers.get("HX-Request") else "smc/processes/list.html"
    return render(request, template, context)


@requires("view")
def process_detail(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    try:
        problems: list[str] = []
        xml = scanprocesses.psp_xml(process).decode("utf-8")
    except scanprocesses.ProcessError as exc:
        problems, xml = [str(exc)], ""
    drift = None
    if process.state == ProcessState.PUBLISHED:
        drift = scanprocesses.drift(process)
    ticket_text = _ticket_summary(process)
    return render(
        request,
        "smc/processes/detail.html",
        {
            "process": process,
            "destinations": [
                (d, scanprocesses._destination_text(d)) for d in process.destinations.order_by("position")
            ],
            "versions": process.versions.order_by("-number")[:5],
            "problems": problems,
            "psp_xml": scanprocesses.pretty_xml(xml) if xml else "",
            "unpublished_changes": process.state == ProcessState.PUBLISHED
            and scanprocesses.has_unpublished_changes(process),
            "drift": drift,
            "ticket": ticket_text,
            "events": audit.for_object(process, 10),
            "in_use": process.jobs.exists(),
        },
    )


def _ticket_summary(process: ScanProcess) -> list[tuple[str, str]]:
    try:
        ticket = scanprocesses.ticket_of(process)
    except scanprocesses.ProcessError as exc:
        return [("Problem", str(exc))]
    initial = TicketForm.initial_for(ticket)
    dp = ticket.document_parameters
    rows = []
    for key, label in (
        ("format", "Format"),
        ("input_source", "Input source"),
        ("content_type", "Content type"),
        ("front_color", "Colour (front)"),
        ("resolution", "Resolution (dpi)"),
        ("rotation", "Rotation"),
        ("exposure_mode", "Exposure"),
    ):
        value = initial.get(key)
        if value not in (None, ""):
            rows.append((label, str(value)))
    if dp is not None and dp.input_size is not None:
        if dp.input_size.input_media_size is not None:
            size = dp.input_size.input_media_size
            rows.append(("Input size", size_text(size.width, size.height)))
        elif dp.input_size.document_size_auto_detect:
            rows.append(("Input size", "auto-detect"))
    if initial.get("input_source") == "ADFDuplex":
        if initial.get("back_same"):
            rows.append(("Back side", "same as front"))
        else:
            own = [
                str(initial[k]) for k in ("back_color", "back_resolution") if initial.get(k) not in (None, "")
            ]
            rows.append(("Back side", ", ".join(own) or "device defaults"))
    honoured = [path for key, path in MUST_HONOR.items() if initial.get("mh_" + key)]
    if honoured:
        rows.append(("MustHonor", ", ".join(honoured)))
    return rows


# --------------------------------------------------------------------------- editor


def _posted_group_ids(data: QueryDict | None, process: ScanProcess | None) -> list[int]:
    if data is not None:
        return [int(v) for v in data.getlist("allowed_device_groups") if v.isdigit()]
    if process is not None and process.pk:
        return list(process.allowed_device_groups.values_list("pk", flat=True))
    return []


def _editor(request: HttpRequest, process: ScanProcess | None) -> HttpResponse:
    creating = process is None
    instance = process or ScanProcess()
    data: QueryDict | None = request.POST if request.method == "POST" else None
    devices = ticketeditor.devices_for(_posted_group_ids(data, process))
    choices = ticketeditor.editor_choices(devices)
    if data is not None and "_add_destination" in data:
        data = data.copy()
        data["dest-TOTAL_FORMS"] = str(int(data.get("dest-TOTAL_FORMS", "0") or 0) + 1)
    if data is None:
        ticket = scanprocesses.ticket_of(instance) if instance.ticket_xml else scanprocesses.default_ticket()
        form = ProcessForm(process=instance) if not creating else ProcessForm(initial=_new_initial())
        tform = TicketForm(initial=TicketForm.initial_for(ticket), choices=choices)
        initial = (
            [DestinationForm.initial_for(d) for d in instance.destinations.order_by("position")]
            if instance.pk
            else []
        )
        dforms = DestinationFormSet(prefix="dest", initial=initial)
    else:
        form = ProcessForm(data, process=instance)
        tform = TicketForm(data, choices=choices)
        initial = (
            [DestinationForm.initial_for(d) for d in instance.destinations.order_by("position")]
            if instance.pk
            else []
        )
        dforms = DestinationFormSet(data, prefix="dest", initial=initial)
        if "_add_destination" not in data and form.is_valid() and tform.is_valid() and dforms.is_valid():
            form.apply(instance)
            instance.ticket_xml = scanprocesses.ticket_to_xml(tform.ticket)
            try:
                scanprocesses.save_process(
                    instance,
                    cast(BaseDestinationFormSet, dforms).specs(),
                    [g.pk for g in form.cleaned_data["allowed_device_groups"]],
                    request.user,
                )
            except scanprocesses.ProcessError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Saved %s." % instance.display_name)
                return redirect("process_detail", guid=instance.guid)
    warnings = []
    if tform.is_bound and tform.is_valid():
        warnings = ticketeditor.device_warnings(tform.ticket, devices)
    elif not tform.is_bound:
        warnings = ticketeditor.device_warnings(
            scanprocesses.ticket_of(instance) if instance.ticket_xml else scanprocesses.default_ticket(),
            devices,
        )
    return render(
        request,
        "smc/processes/form.html",
        {
            "process": None if creating else instance,
            "form": form,
            "tform": tform,
            "dforms": dforms,
            "choices": choices,
            "device_warnings": warnings,
            "devices": devices,
            "ocr_missing": not (shutil.which("tesseract") and shutil.which("ocrmypdf")),
            "preview": _preview(
                form["naming_template"].value() or "", form["document_root_name"].value() or ""
            ),
        },
        status=200 if data is None or "_add_destination" in (data or {}) else 400,
    )


def _new_initial() -> dict[str, Any]:
    return {
        "document_root_name": "Scan",
        "naming_template": DEFAULT_NAMING_TEMPLATE,
        "continue_on_error": True,
        "output_format": OutputFormat.PDF,
        "scan_server": ScanServer.objects.filter(enabled=True).values_list("pk", flat=True).first(),
    }


@requires("manage")
def process_create(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@requires("manage")
def process_edit(request: HttpRequest, guid: str) -> HttpResponse:
    return _editor(request, _process(guid))


def _preview(template: str, root: str) -> dict[str, Any]:
    try:
        name = naming.render_name(
            template,
            root=root or "Scan",
            user="alice",
            device="MFP-2F-East",
            when=datetime(2026, 3, 14, 9, 26, 53),
            job="1042",
            seq=1,
            ext="pdf",
        )
        return {"ok": True, "name": name}
    except naming.NamingError as exc:
        return {"ok": False, "name": "", "error": str(exc)}


@require_GET
@requires("view")
def naming_preview(request: HttpRequest) -> HttpResponse:
    preview = _preview(request.GET.get("naming_template", ""), request.GET.get("document_root_name", ""))
    return render(request, "smc/processes/_naming_preview.html", {"preview": preview})


@require_GET
@requires("manage")
def group_search(request: HttpRequest) -> HttpResponse:
    from directory.backends import get_directory
    from directory.base import DirectoryError

    q = request.GET.get("q", "").strip()
    groups, error = [], ""
    if q:
        try:
            groups = get_directory().search_groups(q, limit=15)
        except DirectoryError as exc:
            error = str(exc)
    return render(request, "smc/processes/_group_results.html", {"groups": groups, "q": q, "error": error})


# --------------------------------------------------------------------------- actions


def _confirm(
    request: HttpRequest, process: ScanProcess, action: str, title: str, text: str, button: str
) -> HttpResponse:
    return render(
        request,
        "smc/processes/confirm.html",
        {
            "process": process,
            "action": action,
            "title": title,
            "text": text,
            "button": button,
            "form": ConfirmForm(),
        },
    )


@requires("manage")
def process_publish(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    if request.method != "POST":
        return _confirm(
            request,
            process,
            "process_publish",
            "Publish %s" % process.display_name,
            "A new immutable version is written to the directory; devices see it at their next refresh.",
            "Publish",
        )
    form = ConfirmForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        version = scanprocesses.publish(process, request.user, comment)
    except scanprocesses.ProcessError as exc:
        messages.error(request, "Not published: %s" % exc)
    else:
        messages.success(request, "Published version %d." % version.number)
    return redirect("process_detail", guid=process.guid)


@requires("manage")
def process_unpublish(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    if request.method != "POST":
        return _confirm(
            request,
            process,
            "process_unpublish",
            "Unpublish %s" % process.display_name,
            "The process is removed from the directory; devices stop offering it.",
            "Unpublish",
        )
    form = ConfirmForm(request.POST)
    try:
        scanprocesses.unpublish(
            process, request.user, form.cleaned_data["comment"] if form.is_valid() else ""
        )
    except scanprocesses.ProcessError as exc:
        messages.error(request, "Not unpublished: %s" % exc)
    else:
        messages.success(request, "Unpublished.")
    return redirect("process_detail", guid=process.guid)


@requires("manage")
def process_delete(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    if request.method != "POST":
        in_use = process.jobs.count()
        text = (
            "%d scan jobs reference this process, so it cannot be deleted. Archive it instead." % in_use
            if in_use
            else "The process, its versions and its directory copy are deleted. This cannot be undone."
        )
        return render(
            request,
            "smc/processes/confirm.html",
            {
                "process": process,
                "action": "process_delete",
                "title": "Delete %s" % process.display_name,
                "text": text,
                "button": "Delete",
                "danger": True,
                "blocked": bool(in_use),
            },
        )
    try:
        scanprocesses.delete(process, request.user)
    except scanprocesses.ProcessError as exc:
        messages.error(request, "Not deleted: %s" % exc)
        return redirect("process_detail", guid=process.guid)
    messages.success(request, "Deleted %s." % process.display_name)
    return redirect("scan_processes")


@require_POST
@requires("manage")
def process_archive(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    try:
        if process.state == ProcessState.ARCHIVED:
            scanprocesses.restore(process, request.user)
            messages.success(request, "Restored from the archive.")
        else:
            scanprocesses.archive(process, request.user)
            messages.success(request, "Archived.")
    except Exception as exc:  # noqa: BLE001 - directory and state errors become a message
        messages.error(request, "Not changed: %s" % exc)
    return redirect("process_detail", guid=process.guid)


@require_POST
@requires("manage")
def process_clone(request: HttpRequest, guid: str) -> HttpResponse:
    copy = scanprocesses.clone(_process(guid), request.user)
    messages.success(request, "Cloned as %s (a draft)." % copy.display_name)
    return redirect("process_edit", guid=copy.guid)


@requires("view")
def process_versions(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    versions = list(process.versions.order_by("-number"))
    by_number = {v.number: v for v in versions}
    lines: list[scanprocesses.DiffLine] = []
    a = b = None
    if len(versions) >= 2 or request.GET.get("a"):
        try:
            a = by_number.get(int(request.GET.get("a", versions[1].number if len(versions) > 1 else 0)))
            b = by_number.get(int(request.GET.get("b", versions[0].number)))
        except (ValueError, IndexError):
            a = b = None
        if a is not None and b is not None:
            lines = scanprocesses.diff(a, b)
    return render(
        request,
        "smc/processes/versions.html",
        {"process": process, "versions": versions, "a": a, "b": b, "lines": lines},
    )


@require_POST
@requires("manage")
def process_rollback(request: HttpRequest, guid: str, number: int) -> HttpResponse:
    process = _process(guid)
    version = get_object_or_404(ScanProcessVersion, process=process, number=number)
    try:
        scanprocesses.rollback(process, version, request.user)
    except scanprocesses.ProcessError as exc:
        messages.error(request, "Not rolled back: %s" % exc)
    else:
        messages.success(request, "Restored the settings of version %d; publish to make them live." % number)
    return redirect("process_detail", guid=process.guid)


@requires("view")
def process_export(request: HttpRequest, guid: str) -> HttpResponse:
    process = _process(guid)
    version_number = request.GET.get("version")
    if version_number:
        version = process.versions.filter(number=version_number).first() if version_number.isdigit() else None
        if version is None:
            raise Http404("no such version")
        body = version.psp_xml.encode("utf-8")
    else:
        try:
            body = scanprocesses.psp_xml(process)
        except scanprocesses.ProcessError as exc:
            messages.error(request, "Cannot export: %s" % exc)
            return redirect("process_detail", guid=process.guid)
    response = HttpResponse(body, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="scan-process-%s.xml"' % process.guid
    return response


@requires("manage")
def process_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > scanprocesses.MAX_IMPORT_BYTES:
            error = "The file is %d bytes, over the limit of %d." % (
                upload.size,
                scanprocesses.MAX_IMPORT_BYTES,
            )
        else:
            try:
                process, warnings = scanprocesses.import_process(
                    upload.read(scanprocesses.MAX_IMPORT_BYTES + 1),
                    request.user,
                    form.cleaned_data["display_name"],
                )
            except scanprocesses.ProcessError as exc:
                error = "Import refused: %s" % exc
            else:
                for warning in warnings:
                    messages.warning(request, warning)
                messages.success(request, "Imported %s as a draft." % process.display_name)
                return redirect("process_detail", guid=process.guid)
    status = 400 if request.method == "POST" else 200
    return render(request, "smc/processes/import.html", {"form": form, "error": error}, status=status)


@require_POST
@requires("manage")
def process_dry_run(request: HttpRequest, guid: str) -> HttpResponse:
    """ValidateScanTicket on every device of the process, then a test write (and removal) or
    test message per destination; every failure is a row, never an error page."""
    process = _process(guid)
    devices = ticketeditor.devices_for(process.allowed_device_groups.values_list("pk", flat=True))
    rows: list[ticketeditor.DryRunRow] = []
    error = ""
    try:
        rows = ticketeditor.dry_run(scanprocesses.ticket_of(process), devices)
    except scanprocesses.ProcessError as exc:
        error = str(exc)
    # Each destination once, with its stored credential, from this process (see the
    # limitation in scanprocesses.ticketeditor: in a split deployment the scan server should do this).
    destination_rows = ticketeditor.try_destinations(process.destinations.order_by("position", "pk"))
    return render(
        request,
        "smc/processes/dry_run.html",
        {
            "process": process,
            "rows": rows,
            "error": error,
            "devices": devices,
            "destination_rows": destination_rows,
        },
    )


@require_POST
@requires("manage")
def process_adopt_directory(request: HttpRequest, guid: str) -> HttpResponse:
    """Drift: take the directory's copy as a new edit of the process (credentials kept by position)."""
    from directory.backends import get_directory
    from directory.base import DirectoryError

    process = _process(guid)
    try:
        copy = get_directory().read_published(str(process.guid))
    except DirectoryError as exc:
        messages.error(request, "Directory unreachable: %s" % exc)
        return redirect("process_detail", guid=process.guid)
    if copy is None:
        messages.error(request, "The directory holds no copy to import.")
        return redirect("process_detail", guid=process.guid)
    try:
        scanprocesses.adopt(process, copy.psp_xml, request.user)
    except scanprocesses.ProcessError as exc:
        messages.error(request, "Not imported: %s" % exc)
    else:
        messages.success(
            request, "Imported the directory's copy as an edit; publish to make it the new version."
        )
    return redirect("process_detail", guid=process.guid)
