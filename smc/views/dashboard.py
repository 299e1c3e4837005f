"""The dashboard: dependency health and the last day's jobs.

The job panel re-fetches its fragment when the websocket says something changed, and polls every
10 s without it (STYLE.md habit 6: the database is the truth, the socket a hint).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core import health
from core.roles import requires
from scanserver.models import JobState, ScanJob


@requires("view")
def dashboard(request: HttpRequest) -> HttpResponse:
    context = dashboard_context()
    if request.headers.get("HX-Request"):
        return render(request, "smc/dashboard/_jobs.html", context)
    return render(request, "smc/dashboard/index.html", {"checks": health.run_all(), **context})


def dashboard_context() -> dict[str, Any]:
    """Job counts by state over the last 24 hours and the latest jobs, for the live dashboard."""
    since = timezone.now() - timedelta(hours=24)
    counts = dict(
        ScanJob.objects.filter(created_at__gte=since)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    return {
        "day_counts": [(value, label, counts.get(value, 0)) for value, label in JobState.choices],
        "attention": ScanJob.objects.filter(state=JobState.NEEDS_ATTENTION).count(),
        "latest": ScanJob.objects.select_related("device").order_by("-created_at")[:10],
    }
