"""The audit page: every recorded change, filtered by user, object, action and date range."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core import audit
from core.roles import requires
from smc.forms.audit import AuditFilterForm


@requires("audit")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    filters = audit.AuditFilter()
    if form.is_bound and form.is_valid():
        filters = audit.AuditFilter(**form.cleaned_data)
    page = audit.search(filters, request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "smc/audit/list.html",
        {"form": form, "page": page, "query": query.urlencode(), "choices": audit.choices()},
        status=200 if not form.is_bound or form.is_valid() else 400,
    )
