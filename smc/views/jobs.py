"""Jobs: the operator's list and detail pages over the scan server's job rows, retry and cancel.

The job list re-fetches its table fragment when the websocket says something changed, and polls
every 10 s without it (STYLE.md habit 6: the database is the truth, the socket a hint).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import requires
from scanserver.models import IllegalTransition, JobState, ScanJob

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
SORTS = {
    "newest": "-created_at",
    "oldest": "created_at",
    "state": "state",
    "user": "user_name",
    "pages": "-images_received",
}


def filtered_jobs(params: Any) -> QuerySet[ScanJob]:
    jobs = ScanJob.objects.select_related("device", "process", "server")
    state = params.get("state", "")
    if state in JobState.values:
        jobs = jobs.filter(state=state)
    query = params.get("q", "").strip()[:100]
    if query:
        jobs = jobs.filter(
            Q(user_name__icontains=query)
            | Q(psp_display_name__icontains=query)
            | Q(device__name__icontains=query)
            | Q(token__icontains=query)
            | Q(error__icontains=query)
            | Q(warnings__icontains=query)
        )
    return jobs.order_by(SORTS.get(params.get("sort", ""), "-created_at"), "-pk")


def _job_list_context(request: HttpRequest) -> dict[str, Any]:
    paginator = Paginator(filtered_jobs(request.GET), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    counts = dict(ScanJob.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "page": page,
        "states": [(value, label, counts.get(value, 0)) for value, label in JobState.choices],
        "sorts": list(SORTS),
        "filters": {k: request.GET.get(k, "") for k in ("q", "state", "sort")},
        "query": query.urlencode(),
    }


@requires("view")
def jobs(request: HttpRequest) -> HttpResponse:
    context = _job_list_context(request)
    if request.headers.get("HX-Request"):
        return render(request, "smc/jobs/_table.html", context)
    return render(request, "smc/jobs/list.html", context)


@requires("view")
def job_detail(request: HttpRequest, token: str) -> HttpResponse:
    job = get_object_or_404(ScanJob.objects.select_related("device", "process", "server"), token=token)
    context = {
        "job": job,
        "pages": job.pages.all(),
        "outputs": job.outputs.all(),
        "deliveries": job.deliveries.all(),
        "can_retry": job.state == JobState.NEEDS_ATTENTION,
        "can_cancel": not job.is_terminal,
    }
    if request.headers.get("HX-Request"):
        return render(request, "smc/jobs/_detail.html", context)
    return render(request, "smc/jobs/detail.html", context)


@require_POST
@requires("operate")
def job_retry(request: HttpRequest, token: str) -> HttpResponse:
    job = get_object_or_404(ScanJob, token=token)
    try:
        from scanserver import tasks

        tasks.retry_job.delay(job.pk)
    except (ImportError, AttributeError):
        messages.error(request, "Retrying is not available: the processing pipeline is not installed.")
    except IllegalTransition as exc:
        messages.error(request, str(exc))
    else:
        logger.info("%s asked to retry %s", request.user, job)
        messages.success(request, "Retry queued for the failed deliveries of this job.")
    return redirect("job_detail", token=job.token)


@require_POST
@requires("operate")
def job_cancel(request: HttpRequest, token: str) -> HttpResponse:
    job = get_object_or_404(ScanJob, token=token)
    if request.POST.get("confirm") != "yes":
        return render(request, "smc/jobs/confirm_cancel.html", {"job": job})
    try:
        job.cancel()
    except IllegalTransition:
        messages.error(
            request, "This job has already ended (%s); nothing was changed." % job.get_state_display()
        )
    else:
        logger.info("%s canceled %s", request.user, job)
        messages.success(request, "Job canceled. Pages already received are kept.")
    return redirect("job_detail", token=job.token)
