"""Sign-in from the directory: django-auth-ldap plus OpenDSM's role rules.

A user whose password the directory accepts but who is in none of the role groups is refused
with a message saying exactly that; a directory that cannot be reached is reported on the login
page, never as a 500. Roles are re-read from the directory at every sign-in, so removing someone
from a group takes their role away the next time they sign in.
"""

from __future__ import annotations

import logging
from typing import Any

import ldap
from django.conf import settings
from django.dispatch import receiver
from django.http import HttpRequest
from django_auth_ldap.backend import LDAPBackend, ldap_error

from core import roles

logger = logging.getLogger(__name__)

NO_ROLE_MESSAGE = (
    "Your directory account is valid, but it is not a member of any OpenDSM role group "
    "(administrators, operators or auditors). Ask your directory administrator to add you."
)


def note_login_problem(request: HttpRequest | None, message: str) -> None:
    if request is not None:
        request.smc_login_problem = message  # type: ignore[attr-defined]


def roles_for_group_dns(group_dns: set[str] | frozenset[str]) -> set[str]:
    wanted = {role: dn.lower() for role, dn in settings.LDAP.role_groups().items()}
    lowered = {dn.lower() for dn in group_dns}
    return {role for role, dn in wanted.items() if dn in lowered}


class DirectoryBackend(LDAPBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        self._smc_request = request
        return super().authenticate(request, username=username, password=password, **kwargs)

    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> Any:
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is None:
            return None
        try:
            granted = roles_for_group_dns(ldap_user.group_dns)
        except ldap.LDAPError as exc:
            logger.warning("could not read groups of %s: %s", user.username, exc)
            note_login_problem(
                self._smc_request, "The directory could not list your groups; try again shortly."
            )
            return None
        roles.set_roles(user, granted)
        if not granted:
            logger.info("refused sign-in of %s: in no OpenDSM role group", user.username)
            note_login_problem(self._smc_request, NO_ROLE_MESSAGE)
            return None
        logger.info("signed in %s from the directory with roles %s", user.username, ",".join(sorted(granted)))
        return user


def _ldap_detail(exception: Exception | None) -> str:
    """The useful part of a python-ldap error (e.g. "certificate verify failed"), if any."""
    args = getattr(exception, "args", ())
    if args and isinstance(args[0], dict):
        info = str(args[0].get("info") or "")
        if not info or "unknown error" in info:
            info = str(args[0].get("desc") or "")
        return info[:200]
    return ""


@receiver(ldap_error)
def _directory_error(
    sender: Any,
    context: str,
    user: Any,
    request: HttpRequest | None = None,
    exception: Exception | None = None,
    **kwargs: Any,
) -> None:
    if isinstance(exception, ldap.SERVER_DOWN | ldap.TIMEOUT | ldap.CONNECT_ERROR):
        message = (
            "The directory (%s) cannot be reached right now, so sign-in is not possible" % settings.LDAP.uri
        )
        detail = _ldap_detail(exception)
        message += " (%s). " % detail if detail else ". "
        if settings.LDAP.uri.startswith("ldaps://") or settings.LDAP.start_tls:
            message += "Check that the directory's TLS certificate is signed by the CA in SMC_LDAP_CA_FILE. "
        message += "Local accounts still work. If this persists, tell your administrator."
    else:
        message = (
            "The directory refused the request (%s). Tell your administrator." % type(exception).__name__
        )
    note_login_problem(request, message)
