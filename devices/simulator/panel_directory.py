"""Sign-in at the simulated device's front panel, as a DSM device does it (PROTOCOL.md §2.3 steps 1–4).

Microsoft's pages windows-driver-docs-pr/image/ldap-bind.md, ldap-search-for-psps.md and
active-directory.md describe what a DSM device does when a user walks up to it: bind to the
directory as that user, read the user's SID (for ``dsp:UserIdentifier``), search one level under
``CN=PSPs,CN=System,<naming context>`` for ``msImaging-PostScanProcess`` objects — bound as the
user, so only the processes the directory lets that user read come back — and read the chosen
one's ``msImaging-PSPString``.

Two implementations behind one small interface (:class:`PanelDirectory`), both answering
:meth:`~PanelDirectory.sign_in` with a :class:`PanelUser` (user name, SID, usable processes as
``(guid, display name, PSP XML)``):

* :class:`LDAPPanelDirectory` — the real thing, with python-ldap only (no Django needed): find
  the user's DN with the service account (or bind with the AD ``userPrincipalName`` when there is
  no service account), bind as the user, read ``objectSid`` (AD) or ``openDSMUserSid`` (the
  SID-form attribute of ``directory/schema/opendsm.schema``), one-level search for the PSPs.
* :class:`EmbeddedPanelDirectory` — no LDAP: Django's ``authenticate()``, the user's SID from
  ``directory.backends.get_directory()`` and ``scanprocesses.availability.usable_processes(user, device)``.

Both apply OpenDSM's device-group rule through ``scanprocesses.availability.may_use`` when Django is set up
(the embedded one through ``usable_processes``, which calls it; the LDAP one through
:func:`django_availability`). Every call blocks: the panel runs it in a worker thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from directory.ldapconf import LDAPConfig

log = logging.getLogger(__name__)

PSP_CLASS = "msImaging-PostScanProcess"
USER_SID_ATTR = "openDSMUserSid"  # directory/schema/opendsm.schema (OpenLDAP)
MAX_USERNAME = 256
MAX_PASSWORD = 1024


class PanelSignInError(Exception):
    """Sign-in failed; the message is shown on the panel as it is."""


class BadCredentials(PanelSignInError):
    pass


class DirectoryUnavailable(PanelSignInError):
    pass


@dataclass(frozen=True)
class PanelProcess:
    guid: str
    display_name: str
    psp_xml: bytes


@dataclass(frozen=True)
class PanelUser:
    username: str
    sid: str
    display_name: str
    processes: tuple[PanelProcess, ...]

    def process(self, guid: str) -> PanelProcess | None:
        return next((p for p in self.processes if p.guid == guid), None)


class PanelDirectory(Protocol):
    #: Shown on the panel: "embedded directory" or the LDAP URI.
    description: str

    def sign_in(self, username: str, password: str) -> PanelUser: ...


#: ``(username, processes the directory showed) -> processes the device may offer``.
Availability = Callable[[str, list[PanelProcess]], list[PanelProcess]]


def check_credentials_shape(username: str, password: str) -> None:
    """Refuse what no directory should see: empty (an anonymous bind!), huge or NUL-laden values."""
    if not username.strip() or not password:
        raise BadCredentials("Enter your user name and password.")
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD or "\0" in username + password:
        raise BadCredentials("User name or password refused.")


# --------------------------------------------------------------------------- Django helpers


def _close_connections() -> None:
    # The panel calls in worker threads; a connection left open there would outlive the call.
    from django.db import connections

    connections.close_all()


def _device_row(endpoint: str) -> Any:
    from devices.models import Device

    return Device.objects.filter(endpoint_reference=endpoint).select_related("group").first()


def django_availability(device_endpoint: str) -> Availability:
    """The OpenDSM rule (``scanprocesses.availability.may_use``) for processes an LDAP directory showed.

    A process the directory shows but the database does not know is dropped: the scan server would
    refuse its jobs ("no scan process").
    """

    def filter_processes(username: str, shown: list[PanelProcess]) -> list[PanelProcess]:
        from directory.backends import get_directory
        from scanprocesses.availability import may_use
        from scanprocesses.models import ScanProcess

        try:
            user = get_directory().find_user(username)
            if user is None:
                return []
            device = _device_row(device_endpoint)
            rows = {
                str(p.guid): p
                for p in ScanProcess.objects.filter(guid__in=[s.guid for s in shown]).prefetch_related(
                    "allowed_device_groups"
                )
            }
            kept = []
            for item in shown:
                row = rows.get(item.guid)
                decision = may_use(user, row, device) if row is not None else None
                if decision:
                    kept.append(item)
                else:
                    log.info(
                        "panel: %s hidden from %s: %s",
                        item.display_name,
                        username,
                        decision and decision.reason,
                    )
            return kept
        finally:
            _close_connections()

    return filter_processes


def django_server_resolver(fqdn: str) -> str | None:
    """The WS-DSP endpoint URL of the registered scan server called ``fqdn`` (psp:ScanRepository)."""
    from devices.models import ScanServer

    try:
        server = ScanServer.objects.filter(fqdn__iexact=fqdn.strip()).order_by("pk").first()
        return server.endpoint_url if server is not None else None
    finally:
        _close_connections()


# --------------------------------------------------------------------------- embedded


class EmbeddedPanelDirectory:
    """Users and processes in the OpenDSM database (no ``SMC_LDAP_URI``)."""

    description = "embedded directory"

    def __init__(self, device_endpoint: str) -> None:
        self.device_endpoint = device_endpoint

    def sign_in(self, username: str, password: str) -> PanelUser:
        check_credentials_shape(username, password)
        from django.contrib.auth import authenticate
        from django.db import DatabaseError

        from directory.backends import get_directory
        from directory.base import DirectoryError
        from scanprocesses.availability import usable_processes

        try:
            account = authenticate(username=username, password=password)
            if account is None or not account.is_active:
                raise BadCredentials("User name or password refused.")
            user = get_directory().find_user(account.get_username())
            if user is None:
                raise BadCredentials("User name or password refused.")
            device = _device_row(self.device_endpoint)
            processes = tuple(
                PanelProcess(str(p.guid), p.display_name, p.published_version.psp_xml.encode("utf-8"))
                for p in usable_processes(user, device)
                if p.published_version is not None
            )
            return PanelUser(user.username, user.sid, user.display_name or user.username, processes)
        except (DatabaseError, DirectoryError) as exc:
            log.warning("panel sign-in: the directory failed: %s", exc)
            raise DirectoryUnavailable("The directory cannot be reached; try again later.") from None
        finally:
            _close_connections()


# --------------------------------------------------------------------------- LDAP


def _first(attrs: dict[str, list[bytes]], name: str) -> bytes | None:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _text(attrs: dict[str, list[bytes]], name: str) -> str:
    value = _first(attrs, name)
    return value.decode("utf-8", "replace") if value is not None else ""


class LDAPPanelDirectory:
    """A DSM device's view of AD or OpenLDAP (``settings.LDAP`` / the ``SMC_LDAP_*`` variables)."""

    def __init__(
        self,
        config: LDAPConfig,
        *,
        availability: Availability | None = None,
        sid_fallback: Callable[[str], str] | None = None,
    ) -> None:
        self.config = config
        self.availability = availability
        self.sid_fallback = sid_fallback
        self.description = config.uri

    def _connect(self) -> Any:
        import ldap

        conn = ldap.initialize(self.config.uri)
        for option, value in self.config.connection_options().items():
            conn.set_option(option, value)
        if self.config.start_tls:
            conn.start_tls_s()
        return conn

    def _find_dn(self, username: str) -> str | None:
        """The user's DN, found with the service account; None when there is none configured."""
        import ldap
        from ldap.filter import escape_filter_chars

        if not self.config.bind_dn:
            return None
        conn = self._connect()
        try:
            conn.simple_bind_s(self.config.bind_dn, self.config.bind_password)
            value = escape_filter_chars(username)
            filterstr = "(%s=%s)" % (self.config.user_attr, value)
            if self.config.flavor == "ad" and "@" in username:
                filterstr = "(|%s(userPrincipalName=%s))" % (filterstr, value)
            found = conn.search_s(self.config.user_base, ldap.SCOPE_SUBTREE, filterstr, ["1.1"])
        finally:
            conn.unbind_s()
        dns = [dn for dn, _attrs in found if dn]
        if len(dns) != 1:
            raise BadCredentials("User name or password refused.")
        return str(dns[0])

    def sign_in(self, username: str, password: str) -> PanelUser:
        import ldap

        check_credentials_shape(username, password)
        try:
            return self._sign_in(username.strip(), password)
        except ldap.INVALID_CREDENTIALS:
            raise BadCredentials("User name or password refused.") from None
        except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR) as exc:
            log.warning("panel sign-in: %s unreachable: %s", self.config.uri, exc)
            raise DirectoryUnavailable("The directory cannot be reached; try again later.") from None
        except ldap.LDAPError as exc:
            log.warning("panel sign-in: directory error: %s", exc)
            raise DirectoryUnavailable("The directory refused the request; ask your administrator.") from None

    def _sign_in(self, username: str, password: str) -> PanelUser:
        import ldap

        dn = self._find_dn(username)
        if dn is None and not ("@" in username and self.config.flavor == "ad"):
            raise DirectoryUnavailable(
                "This device needs a service account (SMC_LDAP_BIND_DN) or an AD user@domain sign-in."
            )
        conn = self._connect()
        try:
            # WDD:ldap-bind.md: bind as the user; AD takes a userPrincipalName as the bind name.
            conn.simple_bind_s(dn or username, password)
            attrs_wanted = ["objectSid", USER_SID_ATTR, "displayName", "cn", self.config.user_attr]
            if dn is None:
                from ldap.filter import escape_filter_chars

                found = conn.search_s(
                    self.config.user_base,
                    ldap.SCOPE_SUBTREE,
                    "(userPrincipalName=%s)" % escape_filter_chars(username),
                    attrs_wanted,
                )
            else:
                found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs_wanted)
            found = [(d, a) for d, a in found if d]
            if len(found) != 1:
                raise BadCredentials("User name or password refused.")
            attrs = found[0][1]
            name = _text(attrs, self.config.user_attr) or username
            sid = self._sid(attrs, name)
            processes = self._processes(conn)
        finally:
            conn.unbind_s()
        shown = list(processes)
        usable = self.availability(name, shown) if self.availability is not None else shown
        display = _text(attrs, "displayName") or _text(attrs, "cn") or name
        return PanelUser(name, sid, display, tuple(usable))

    def _sid(self, attrs: dict[str, list[bytes]], username: str) -> str:
        raw = _first(attrs, "objectSid")
        if raw:
            from directory.security import sid_from_bytes

            return sid_from_bytes(raw)
        text = _text(attrs, USER_SID_ATTR).strip().upper()
        if text:
            return text
        if self.sid_fallback is not None:
            return self.sid_fallback(username)
        raise DirectoryUnavailable("The directory holds no SID for %s; ask your administrator." % username)

    def _base(self, conn: Any) -> str:
        import ldap

        if self.config.psp_base:
            return self.config.psp_base
        root = conn.search_s(
            "", ldap.SCOPE_BASE, "(objectClass=*)", ["defaultNamingContext", "namingContexts"]
        )
        attrs = root[0][1] if root else {}
        base = _text(attrs, "defaultNamingContext") or _text(attrs, "namingContexts")
        if not base:
            raise DirectoryUnavailable("The directory names no naming context; set SMC_LDAP_PSP_BASE.")
        return base

    def _processes(self, conn: Any) -> list[PanelProcess]:
        """WDD:ldap-search-for-psps.md: one level under CN=PSPs,CN=System, bound as the user."""
        import ldap

        container = "CN=PSPs,CN=System,%s" % self._base(conn)
        try:
            found = conn.search_s(
                container,
                ldap.SCOPE_ONELEVEL,
                "(objectClass=%s)" % PSP_CLASS,
                ["displayName", "msImaging-PSPIdentifier", "msImaging-PSPString"],
            )
        except ldap.NO_SUCH_OBJECT:
            return []
        out = []
        for dn, attrs in found:
            raw_id = _first(attrs, "msImaging-PSPIdentifier") if dn else None
            xml = _first(attrs, "msImaging-PSPString") if dn else None
            if raw_id is None or len(raw_id) != 16 or not xml:
                continue  # not usable by a device: no identifier or no process XML
            out.append(PanelProcess(str(uuid.UUID(bytes_le=raw_id)), _text(attrs, "displayName") or dn, xml))
        return sorted(out, key=lambda p: p.display_name.casefold())


def ldap_sid_fallback(username: str) -> str:
    """OpenLDAP users without ``openDSMUserSid`` get the stable local identity the scan server
    resolves (``directory.backends``, DESIGN.md decision 7)."""
    from directory.backends import get_directory

    try:
        user = get_directory().find_user(username)
    finally:
        _close_connections()
    if user is None or not user.sid:
        raise DirectoryUnavailable("The directory holds no SID for %s; ask your administrator." % username)
    return user.sid


# --------------------------------------------------------------------------- choosing


def django_ready() -> bool:
    try:
        from django.apps import apps
        from django.conf import settings

        return bool(settings.configured) and apps.ready
    except Exception:  # noqa: BLE001 - Django missing or misconfigured: the panel runs without it
        return False


def for_device(device_endpoint: str) -> tuple[PanelDirectory | None, str]:
    """The directory a panel of device ``device_endpoint`` signs users in with, or (None, why not).

    With Django set up (``manage.py simulate_devices``): LDAP when ``settings.LDAP`` is enabled, else
    the embedded directory, both filtered by ``may_use``. Without Django (``python -m
    devices.simulator``): LDAP-only from the ``SMC_LDAP_*`` variables, with no device-group rule
    and no scan-server lookup (pass ``--scan-server-url``); with no ``SMC_LDAP_URI`` the panel is off.
    """
    if django_ready():
        from django.conf import settings

        config = settings.LDAP
        if config.enabled:
            return (
                LDAPPanelDirectory(
                    config,
                    availability=django_availability(device_endpoint),
                    sid_fallback=ldap_sid_fallback if config.flavor == "openldap" else None,
                ),
                "",
            )
        return EmbeddedPanelDirectory(device_endpoint), ""
    import os

    if not os.environ.get("SMC_LDAP_URI"):
        return None, (
            "The front panel needs a directory: run the simulator with `manage.py simulate_devices` "
            "(embedded or LDAP directory) or set SMC_LDAP_URI (LDAP only)."
        )
    from core.env import Env
    from directory.ldapconf import ldap_settings

    return LDAPPanelDirectory(ldap_settings(Env())), ""
