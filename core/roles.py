"""Console roles and what each may do.

Three roles, each a Django group the directory backend keeps in step with the user's directory
groups at every sign-in (a local superuser is an administrator):

=========  ============================================================
admin      everything: devices, scan processes, publishing, scan servers
operator   view everything but the audit log; retry and cancel jobs
auditor    read-only, including the audit log
=========  ============================================================

Views ask for a *capability*, never a role, so that the table below is the one place where a
role's rights are written down.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

ROLES = ("admin", "operator", "auditor")
GROUP_NAMES = {
    "admin": "OpenDSM administrators",
    "operator": "OpenDSM operators",
    "auditor": "OpenDSM auditors",
}
ROLE_LABELS = {"admin": "Administrator", "operator": "Operator", "auditor": "Auditor"}

CAPABILITIES: dict[str, frozenset[str]] = {
    "view": frozenset({"admin", "operator", "auditor"}),
    "operate": frozenset({"admin", "operator"}),
    "manage": frozenset({"admin"}),
    "audit": frozenset({"admin", "auditor"}),
}

# (url name, label, capability needed to see it)
MENU = (
    ("dashboard", "Dashboard", "view"),
    ("devices", "Devices", "view"),
    ("scan_processes", "Scan processes", "view"),
    ("jobs", "Jobs", "view"),
    ("scan_servers", "Scan servers", "view"),
    ("audit", "Audit", "audit"),
)


def user_roles(user: Any) -> frozenset[str]:
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_smc_roles", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    names = set(user.groups.filter(name__in=GROUP_NAMES.values()).values_list("name", flat=True))
    roles = {role for role, group in GROUP_NAMES.items() if group in names}
    if user.is_superuser:
        roles.add("admin")
    result = frozenset(roles)
    user._smc_roles = result
    return result


def can(user: Any, capability: str) -> bool:
    return bool(user_roles(user) & CAPABILITIES[capability])


def set_roles(user: Any, roles: set[str] | frozenset[str]) -> None:
    """Make ``user``'s role groups exactly ``roles`` (other groups are left alone)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError("unknown roles: %s" % ", ".join(sorted(unknown)))
    wanted = {Group.objects.get_or_create(name=GROUP_NAMES[r])[0] for r in roles}
    current = set(user.groups.filter(name__in=GROUP_NAMES.values()))
    user.groups.remove(*(current - wanted))
    user.groups.add(*(wanted - current))
    if hasattr(user, "_smc_roles"):
        del user._smc_roles


def requires(capability: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: sign-in first, then the capability, else the 403 page."""
    if capability not in CAPABILITIES:
        raise ValueError("unknown capability %r" % capability)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, capability):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def context_processor(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles = user_roles(user)
    menu = [
        {"url_name": name, "label": label}
        for name, label, capability in MENU
        if roles & CAPABILITIES[capability]
    ]
    return {
        "smc_roles": sorted(roles),
        "smc_role_labels": [ROLE_LABELS[r] for r in ROLES if r in roles],
        "smc_menu": menu,
        "smc_can": {cap: bool(roles & allowed) for cap, allowed in CAPABILITIES.items()},
    }
