"""``/healthz``: the machine-readable health of the console's dependencies."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Machine-readable health: 200 when every dependency answers, 503 otherwise."""
    checks = health.run_all()
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "degraded", "checks": {c.name: c.as_dict() for c in checks}}
    return JsonResponse(body, status=200 if ok else 503)
