"""The console's side of the simulated devices' front panels: what ``manage.py simulate_devices``
injects into :mod:`devices.simulator` (which imports nothing of OpenDSM but ``devices.protocols``).

:func:`panel_services` gives every device's panel

* a directory (:func:`directory_for`): with LDAP configured (``settings.LDAP``), the simulator's
  own :class:`~devices.simulator.panel_ldap.LDAPPanelDirectory` — bound as the user, like a DSM
  device — with OpenDSM's device-group rule (:func:`django_availability`) and, on OpenLDAP, the
  local identity as the SID of users whose entry holds none (:func:`ldap_sid_fallback`); otherwise
  :class:`EmbeddedPanelDirectory`: Django's ``authenticate()``, the SID from
  ``directory.backends.get_directory()`` and ``scanprocesses.availability.usable_processes``;
* the scan-server lookup (:func:`resolve_server`): a PSP's ``psp:ScanRepository`` FQDN to the
  registered ScanServer's WS-DSP URL.

Every call blocks and runs in a panel's worker thread, so each closes its database connections.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import DatabaseError, connections

from devices.models import Device, ScanServer
from devices.simulator.panel_directory import (
    Availability,
    BadCredentials,
    DirectoryUnavailable,
    PanelDirectory,
    PanelProcess,
    PanelServices,
    PanelUser,
    check_credentials_shape,
)
from devices.simulator.panel_ldap import LDAPPanelDirectory, PanelLDAPConfig
from directory.backends import get_directory
from directory.base import DirectoryError
from directory.ldapconf import LDAPConfig
from scanprocesses.availability import may_use, usable_processes
from scanprocesses.models import ScanProcess

log = logging.getLogger(__name__)


def _close_connections() -> None:
    # The panel calls in worker threads; a connection left open there would outlive the call.
    connections.close_all()


def _device_row(endpoint: str) -> Device | None:
    return Device.objects.filter(endpoint_reference=endpoint).select_related("group").first()


def django_availability(device_endpoint: str) -> Availability:
    """The OpenDSM rule (``scanprocesses.availability.may_use``) for processes an LDAP directory showed.

    A process the directory shows but the database does not know is dropped: the scan server would
    refuse its jobs ("no scan process").
    """

    def filter_processes(username: str, shown: list[PanelProcess]) -> list[PanelProcess]:
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


def resolve_server(fqdn: str) -> str | None:
    """The WS-DSP endpoint URL of the registered scan server called ``fqdn`` (psp:ScanRepository)."""
    try:
        server = ScanServer.objects.filter(fqdn__iexact=fqdn.strip()).order_by("pk").first()
        return server.endpoint_url if server is not None else None
    finally:
        _close_connections()


class EmbeddedPanelDirectory:
    """Users and processes in the OpenDSM database (no ``SMC_LDAP_URI``)."""

    description = "embedded directory"

    def __init__(self, device_endpoint: str) -> None:
        self.device_endpoint = device_endpoint

    def sign_in(self, username: str, password: str) -> PanelUser:
        check_credentials_shape(username, password)
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


def ldap_sid_fallback(username: str) -> str:
    """OpenLDAP users without ``openDSMUserSid`` get the stable local identity the scan server
    resolves (``directory.backends``, DESIGN.md decision 7)."""
    try:
        user = get_directory().find_user(username)
    finally:
        _close_connections()
    if user is None or not user.sid:
        raise DirectoryUnavailable("The directory holds no SID for %s; ask your administrator." % username)
    return user.sid


def panel_ldap_config(config: LDAPConfig) -> PanelLDAPConfig:
    """The part of the console's LDAP settings a device uses to sign users in."""
    return PanelLDAPConfig(
        uri=config.uri,
        user_base=config.user_base,
        flavor=config.flavor,
        bind_dn=config.bind_dn,
        bind_password=config.bind_password,
        user_attr=config.user_attr,
        psp_base=config.psp_base,
        start_tls=config.start_tls,
        ca_file=config.ca_file,
        timeout=config.timeout,
    )


def directory_for(device_endpoint: str) -> PanelDirectory:
    """The directory the panel of device ``device_endpoint`` signs users in with: LDAP when
    ``settings.LDAP`` is enabled, else the embedded one; both apply ``may_use``."""
    config: LDAPConfig = settings.LDAP
    if config.enabled:
        return LDAPPanelDirectory(
            panel_ldap_config(config),
            availability=django_availability(device_endpoint),
            sid_fallback=ldap_sid_fallback if config.flavor == "openldap" else None,
        )
    return EmbeddedPanelDirectory(device_endpoint)


def panel_services() -> PanelServices:
    """What ``manage.py simulate_devices`` passes to ``devices.simulator.run``."""
    return PanelServices(directory_for=directory_for, resolve_server=resolve_server)
