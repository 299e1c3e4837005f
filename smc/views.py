"""Console pages. Each view fetches through an access check, calls one domain function and
renders (STYLE.md habit 7)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import health
from core.roles import requires
from smc.forms import LoginForm


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        context["ldap_enabled"] = settings.LDAP.enabled
        return context


@requires("view")
def dashboard(request: HttpRequest) -> HttpResponse:
    from smc.views_jobs import dashboard_context

    context = dashboard_context()
    if request.headers.get("HX-Request"):
        return render(request, "smc/_dashboard_jobs.html", context)
    return render(request, "smc/dashboard.html", {"checks": health.run_all(), **context})


@requires("audit")
def audit(request: HttpRequest) -> HttpResponse:
    from smc.views_audit import audit_log

    return audit_log(request)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Machine-readable health: 200 when every dependency answers, 503 otherwise."""
    checks = health.run_all()
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "degraded", "checks": {c.name: c.as_dict() for c in checks}}
    return JsonResponse(body, status=200 if ok else 503)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else "You do not have access to this page."
    return render(request, "403.html", {"reason": reason}, status=403)
