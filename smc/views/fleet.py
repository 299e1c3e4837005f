"""The fleet pages: devices, one device's events and jobs, refused requests, scan servers."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from core.roles import requires
from devices.models import Device, DeviceEvent, ScanServer

PAGE_SIZE = 25
# DeviceEvent kinds the scan server writes when it refuses a request (scanserver.access).
REFUSAL_KINDS = ("device_unknown", "scan_refused", "console_refused")


@requires("view")
def devices(request: HttpRequest) -> HttpResponse:
    rows = Device.objects.select_related("group", "scan_server").order_by("name")
    query = request.GET.get("q", "").strip()[:100]
    if query:
        rows = rows.filter(
            Q(name__icontains=query) | Q(model_name__icontains=query) | Q(serial_number__icontains=query)
        )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    refusals = DeviceEvent.objects.select_related("device").filter(kind__in=REFUSAL_KINDS)[:15]
    context = {
        "page": page,
        "q": query,
        "query": urlencode({"q": query}) if query else "",
        "refusals": refusals,
    }
    return render(request, "smc/fleet/devices.html", context)


@requires("view")
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    device = get_object_or_404(Device.objects.select_related("group", "scan_server"), pk=pk)
    events = Paginator(device.events.all(), PAGE_SIZE).get_page(request.GET.get("page"))
    jobs = device.scan_jobs.select_related("process").order_by("-created_at")[:10]
    context = {"device": device, "page": events, "jobs": jobs, "query": ""}
    return render(request, "smc/fleet/device.html", context)


@requires("view")
def refusals(request: HttpRequest) -> HttpResponse:
    """Every refused scan-server request, newest first, including callers that were not identified."""
    rows = DeviceEvent.objects.select_related("device").filter(kind__in=REFUSAL_KINDS)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "smc/fleet/refusals.html", {"page": page, "query": ""})


@requires("view")
def scan_servers(request: HttpRequest) -> HttpResponse:
    rows = ScanServer.objects.annotate(
        active=Count("jobs", filter=~Q(jobs__state__in=["completed", "canceled", "aborted"])),
        attention=Count("jobs", filter=Q(jobs__state="needs_attention")),
    ).order_by("name")
    return render(request, "smc/fleet/servers.html", {"servers": rows})
