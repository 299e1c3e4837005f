"""Front-panel sign-in against AD or OpenLDAP, as a DSM device does it (PROTOCOL.md §2.3 steps 1–4).

Microsoft's pages windows-driver-docs-pr/image/ldap-bind.md, ldap-search-for-psps.md and
active-directory.md describe what a DSM device does when a user walks up to it: bind to the
directory as that user, read the user's SID (for ``dsp:UserIdentifier``), search one level under
``CN=PSPs,CN=System,<naming context>`` for ``msImaging-PostScanProcess`` objects — bound as the
user, so only the processes the directory lets that user read come back — and read the chosen
one's ``msImaging-PSPString``.

:class:`LDAPPanelDirectory` does that with python-ldap only: find the user's DN with the service
account (or bind with the AD ``userPrincipalName`` when there is no service account), bind as the
user, read ``objectSid`` (AD) or ``openDSMUserSid`` (the SID-form attribute of
``directory/schema/opendsm.schema``), one-level search for the PSPs. Its :class:`PanelLDAPConfig`
is passed in: ``manage.py simulate_devices`` copies the console's LDAP settings into one (and adds
OpenDSM's device-group rule as ``availability``), ``python -m devices.simulator`` builds it from
the ``--ldap-*`` options (:func:`add_arguments`, :func:`services_from_args`).
"""

from __future__ import annotations

import argparse
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.simulator.panel_directory import (
    Availability,
    BadCredentials,
    DirectoryUnavailable,
    PanelProcess,
    PanelServices,
    PanelUser,
    check_credentials_shape,
)

log = logging.getLogger(__name__)

PSP_CLASS = "msImaging-PostScanProcess"
USER_SID_ATTR = "openDSMUserSid"  # directory/schema/opendsm.schema (OpenLDAP)
FLAVORS = ("ad", "openldap")


@dataclass(frozen=True)
class PanelLDAPConfig:
    """Where and how a device reaches the directory (the fields of the console's ``SMC_LDAP_*``)."""

    uri: str
    user_base: str
    flavor: str = "ad"
    #: The service account that finds a user's DN; '' for none (AD users then sign in as user@domain).
    bind_dn: str = ""
    bind_password: str = ""
    #: Default: ``sAMAccountName`` on AD, ``uid`` on OpenLDAP.
    user_attr: str = ""
    #: The naming context holding ``CN=System``; '' for the server's ``defaultNamingContext``.
    psp_base: str = ""
    start_tls: bool = False
    ca_file: str = ""
    timeout: int = 5

    @property
    def login_attr(self) -> str:
        return self.user_attr or ("sAMAccountName" if self.flavor == "ad" else "uid")

    def problems(self) -> list[str]:
        """What is wrong with this configuration, in words for the command line."""
        problems = []
        if not self.uri.startswith(("ldap://", "ldaps://")):
            problems.append("--ldap-uri must be an ldap:// or ldaps:// URL")
        if "=" not in self.user_base:
            problems.append("--ldap-user-base must be a distinguished name (e.g. DC=example,DC=test)")
        if self.psp_base and "=" not in self.psp_base:
            problems.append("--ldap-psp-base must be a distinguished name")
        if self.flavor not in FLAVORS:
            problems.append("--ldap-flavor must be ad or openldap")
        if not 1 <= self.timeout <= 120:
            problems.append("--ldap-timeout must be between 1 and 120 seconds")
        return problems

    def connection_options(self) -> dict[Any, Any]:
        import ldap

        tls = self.uri.startswith("ldaps://") or self.start_tls
        options: dict[Any, Any] = {
            ldap.OPT_REFERRALS: 0,
            ldap.OPT_NETWORK_TIMEOUT: self.timeout,
            ldap.OPT_TIMEOUT: self.timeout,
            ldap.OPT_PROTOCOL_VERSION: 3,
        }
        if tls:
            options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        if tls and self.ca_file:
            options[ldap.OPT_X_TLS_CACERTFILE] = self.ca_file
        if tls:
            options[ldap.OPT_X_TLS_NEWCTX] = 0  # last: libldap builds its TLS context from the above
        return options


def sid_text(data: bytes) -> str:
    """A binary ``objectSid`` (MS-DTYP 2.4.2.2) as ``S-1-5-21-…``; ValueError when malformed."""
    if len(data) < 8 or data[0] != 1 or len(data) != 8 + 4 * data[1]:
        raise ValueError("not a binary SID")
    parts = [str(int.from_bytes(data[2:8], "big"))]
    parts += [str(n) for n in struct.unpack("<%dI" % data[1], data[8:])]
    return "S-1-" + "-".join(parts)


def _first(attrs: dict[str, list[bytes]], name: str) -> bytes | None:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _text(attrs: dict[str, list[bytes]], name: str) -> str:
    value = _first(attrs, name)
    return value.decode("utf-8", "replace") if value is not None else ""


class LDAPPanelDirectory:
    """A DSM device's view of AD or OpenLDAP.

    ``availability`` filters what the directory showed (OpenDSM's device-group rule, injected by
    ``manage.py simulate_devices``; None: everything shown is offered). ``sid_fallback`` gives the
    SID of a user whose entry holds none (None: such a user cannot sign in).
    """

    def __init__(
        self,
        config: PanelLDAPConfig,
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
            filterstr = "(%s=%s)" % (self.config.login_attr, value)
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
                "This device needs a service account (an LDAP bind DN) or an AD user@domain sign-in."
            )
        conn = self._connect()
        try:
            # WDD:ldap-bind.md: bind as the user; AD takes a userPrincipalName as the bind name.
            conn.simple_bind_s(dn or username, password)
            attrs_wanted = ["objectSid", USER_SID_ATTR, "displayName", "cn", self.config.login_attr]
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
            name = _text(attrs, self.config.login_attr) or username
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
            return sid_text(raw)
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
            raise DirectoryUnavailable("The directory names no naming context; configure the PSP base.")
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


# ---- python -m devices.simulator ---------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--ldap-*`` options of ``python -m devices.simulator`` (the Django command has settings)."""
    group = parser.add_argument_group("front panel directory (python -m devices.simulator only)")
    group.add_argument("--ldap-uri", default="", help="panel: sign users in here (ldap:// or ldaps://)")
    group.add_argument("--ldap-flavor", default="ad", choices=FLAVORS)
    group.add_argument("--ldap-user-base", default="", help="the DN users are found under")
    group.add_argument("--ldap-user-attr", default="", help="default: sAMAccountName (AD), uid (OpenLDAP)")
    group.add_argument("--ldap-bind-dn", default="", help="the service account that finds users' DNs")
    group.add_argument(
        "--ldap-bind-password-file", type=Path, help="a file holding the service account's password"
    )
    group.add_argument("--ldap-psp-base", default="", help="default: the server's defaultNamingContext")
    group.add_argument("--ldap-start-tls", action="store_true")
    group.add_argument("--ldap-ca-file", default="", help="the CA certificate(s) to trust (PEM)")
    group.add_argument("--ldap-timeout", type=int, default=5, help="seconds")


def config_from_args(args: argparse.Namespace) -> PanelLDAPConfig | None:
    """The LDAP configuration the options name; None without ``--ldap-uri``; SystemExit when bad."""
    if not args.ldap_uri:
        return None
    password = ""
    if args.ldap_bind_password_file is not None:
        try:
            password = args.ldap_bind_password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit("--ldap-bind-password-file: %s" % exc) from None
    config = PanelLDAPConfig(
        uri=args.ldap_uri,
        user_base=args.ldap_user_base,
        flavor=args.ldap_flavor,
        bind_dn=args.ldap_bind_dn,
        bind_password=password,
        user_attr=args.ldap_user_attr,
        psp_base=args.ldap_psp_base,
        start_tls=args.ldap_start_tls,
        ca_file=args.ldap_ca_file,
        timeout=args.ldap_timeout,
    )
    problems = config.problems()
    if problems:
        raise SystemExit("; ".join(problems))
    return config


def services_from_args(args: argparse.Namespace) -> PanelServices | None:
    """LDAP only, with no device-group rule and no scan-server lookup (pass ``--scan-server-url``)."""
    config = config_from_args(args)
    if config is None:
        return None
    directory = LDAPPanelDirectory(config)
    return PanelServices(directory_for=lambda _endpoint: directory)
