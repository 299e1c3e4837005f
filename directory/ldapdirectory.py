"""Scan processes in an LDAP directory: OpenLDAP with the OpenDSM schema, or Active Directory.

PROTOCOL.md §6 (schema, container, device queries), DESIGN.md decisions 6–7, and Microsoft's
pages windows-driver-docs-pr/image/ldap-search-for-psps.md and ldap-and-active-directory-queries.md.

Layout, the same on both flavours: container ``CN=PSPs,CN=System,<base>`` (created if missing;
``<base>`` = ``SMC_LDAP_PSP_BASE`` or the server's ``defaultNamingContext``/first naming
context), one ``msImaging-PostScanProcess`` per process named ``CN=<guid>`` (lower-case, no
braces: the GUID never changes, so a rename of the display name is a plain attribute change and
no DN ever needs escaping), ``displayName``, ``msImaging-PSPIdentifier`` = the GUID's 16 bytes in
Windows' own order (``uuid.bytes_le``, as AD shows ``objectGUID``), ``msImaging-PSPString`` = the
published PSP XML, ``serverName`` = the scan server's host name.

Who may read: OpenLDAP — auxiliary class ``openDSMScanProcessAccess`` with the allowed group DNs
in ``openDSMAllowedGroup`` and the slapd ACL of docs/directory.md; AD — a protected DACL written
in the same request (``directory.security``).

Atomicity: every publish is ONE add or ONE modify request carrying all attributes (and the DACL
on AD). The directory applies a request entirely or not at all (RFC 4511 §4.6, §4.7), so a
refused or interrupted publish leaves the previous copy as it was. The only other write is the
idempotent creation of the container.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import ldap
from ldap.controls import RequestControl
from ldap.filter import escape_filter_chars

from directory import security as sd
from directory.base import (
    DirectoryError,
    DirectoryUser,
    GroupRef,
    InvalidCredentials,
    PSPObject,
    PublishedCopy,
    PublishError,
    guid_text,
    normalize_group_id,
)
from directory.identity import identity_for
from directory.ldapconf import LDAPConfig
from directory.ldapgroups import IN_CHAIN
from directory.models import DirectoryIdentity

logger = logging.getLogger(__name__)

PSP_CLASS = "msImaging-PostScanProcess"
PSPS_CLASS = "msImaging-PSPs"
ACCESS_CLASS = "openDSMScanProcessAccess"
ALLOWED_GROUP = "openDSMAllowedGroup"
USER_SID = "openDSMUserSid"
USER_CLASS = "openDSMUser"
SD_FLAGS_OID = "1.2.840.113556.1.4.801"
PSP_ATTRS = ["displayName", "msImaging-PSPIdentifier", "msImaging-PSPString", "serverName"]
UNREACHABLE = (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR)


def binary_filter_value(data: bytes) -> str:
    """Every byte escaped (RFC 4515 §3), the safe way to put a GUID or SID in a filter."""
    return "".join("\\%02x" % b for b in data)


def _first(attrs: dict[str, list[bytes]], name: str) -> bytes | None:
    for key, values in attrs.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _text(attrs: dict[str, list[bytes]], name: str) -> str:
    value = _first(attrs, name)
    return value.decode("utf-8", "replace") if value is not None else ""


def _all_text(attrs: dict[str, list[bytes]], name: str) -> list[str]:
    for key, values in attrs.items():
        if key.lower() == name.lower():
            return [v.decode("utf-8", "replace") for v in values]
    return []


class LDAPDirectory:
    """What both flavours share; subclasses say how groups nest and who may read a PSP."""

    group_class = "groupOfNames"
    container_class = "applicationProcess"

    def __init__(self, config: LDAPConfig) -> None:
        self.config = config
        self._base = config.psp_base

    # --- connections -----------------------------------------------------------------------------
    def connect(self, dn: str, password: str) -> Any:
        conn = ldap.initialize(self.config.uri)
        for option, value in self.config.connection_options().items():
            conn.set_option(option, value)
        try:
            if self.config.start_tls:
                conn.start_tls_s()
            conn.simple_bind_s(dn, password)
        except ldap.INVALID_CREDENTIALS:
            raise InvalidCredentials("the directory refused the credentials of %s" % dn) from None
        except UNREACHABLE as exc:
            raise DirectoryError("the directory %s cannot be reached: %s" % (self.config.uri, exc)) from exc
        except ldap.LDAPError as exc:
            raise DirectoryError("the directory refused to bind %s: %s" % (dn, exc)) from exc
        return conn

    def service(self) -> Any:
        return self.connect(self.config.bind_dn, self.config.bind_password)

    def writer(self) -> Any:
        if self.config.write_bind_dn:
            return self.connect(self.config.write_bind_dn, self.config.write_bind_password)
        return self.service()

    @staticmethod
    def search(conn: Any, base: str, scope: int, filterstr: str, attrs: list[str] | None = None) -> list[Any]:
        try:
            found = conn.search_s(base, scope, filterstr, attrs)
        except ldap.NO_SUCH_OBJECT:
            return []
        return [(dn, a) for dn, a in found if dn is not None]  # AD adds referrals with no DN

    # --- where PSPs live -------------------------------------------------------------------------
    def base(self, conn: Any) -> str:
        if not self._base:
            root = self.search(
                conn, "", ldap.SCOPE_BASE, "(objectClass=*)", ["defaultNamingContext", "namingContexts"]
            )
            attrs = root[0][1] if root else {}
            self._base = _text(attrs, "defaultNamingContext") or _text(attrs, "namingContexts")
            if not self._base:
                raise DirectoryError("the directory names no naming context; set SMC_LDAP_PSP_BASE")
        return self._base

    def container_dn(self, conn: Any) -> str:
        return "CN=PSPs,CN=System,%s" % self.base(conn)

    def ensure_container(self, conn: Any) -> str:
        container = self.container_dn(conn)
        if self.search(conn, container, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"]):
            return container
        system = container.split(",", 1)[1]
        if not self.search(conn, system, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"]):
            self._add_if_missing(
                conn, system, [("objectClass", [b"top", self.container_class.encode()]), ("cn", [b"System"])]
            )
        self._add_if_missing(
            conn, container, [("objectClass", [b"top", PSPS_CLASS.encode()]), ("cn", [b"PSPs"])]
        )
        logger.info("created the PSP container %s", container)
        return container

    @staticmethod
    def _add_if_missing(conn: Any, dn: str, attrs: list[tuple[str, list[bytes]]]) -> None:
        try:
            conn.add_s(dn, attrs)
        except ldap.ALREADY_EXISTS:
            pass

    def find_psp(
        self, conn: Any, guid: str, attrs: list[str] | None = None, controls: list[Any] | None = None
    ) -> Any:
        value = binary_filter_value(uuid.UUID(guid).bytes_le)
        filterstr = "(&(objectClass=%s)(msImaging-PSPIdentifier=%s))" % (PSP_CLASS, value)
        try:
            found = conn.search_ext_s(
                self.container_dn(conn), ldap.SCOPE_ONELEVEL, filterstr, attrs, serverctrls=controls
            )
        except ldap.NO_SUCH_OBJECT:
            return None
        found = [(dn, a) for dn, a in found if dn is not None]
        return found[0] if found else None

    # --- flavour hooks -------------------------------------------------------------------------------
    def access_attributes(self, conn: Any, groups: list[str]) -> list[tuple[str, list[bytes]]]:
        raise NotImplementedError

    def allowed_groups(self, conn: Any, dn: str, attrs: dict[str, list[bytes]]) -> frozenset[str]:
        raise NotImplementedError

    def user_groups(self, conn: Any, dn: str) -> frozenset[str]:
        raise NotImplementedError

    def user_sid(self, conn: Any, dn: str, attrs: dict[str, list[bytes]], username: str) -> str:
        raise NotImplementedError

    def find_sid(self, conn: Any, sid: str) -> str | None:
        raise NotImplementedError

    write_controls: list[Any] = []
    replace_object_classes = False  # AD refuses any change to an object's structural class
    user_extra_attrs: list[str] = []

    # --- the Directory API -------------------------------------------------------------------------
    def publish(self, obj: PSPObject) -> None:
        guid = guid_text(obj.guid)
        try:
            conn = self.writer()
        except DirectoryError as exc:
            raise PublishError(str(exc)) from exc
        try:
            groups = list(dict.fromkeys(obj.allowed_groups))
            missing = [g for g in groups if not self._group_exists(conn, g)]
            if missing:
                raise PublishError("unknown group(s): %s" % "; ".join(missing))
            container = self.ensure_container(conn)
            server = obj.server_name
            attrs: list[tuple[str, list[bytes]]] = [
                ("displayName", [obj.display_name.encode()]),
                ("msImaging-PSPIdentifier", [uuid.UUID(guid).bytes_le]),
                ("msImaging-PSPString", [obj.psp_xml.encode()]),
                *self.access_attributes(conn, groups),
            ]
            existing = self.find_psp(conn, guid, ["serverName"])
            if existing is None:
                entry = [("objectClass", self.psp_object_classes()), ("cn", [guid.encode()])]
                entry += [(name, values) for name, values in attrs if values]
                if server:
                    entry.append(("serverName", [server.encode()]))
                conn.add_ext_s("CN=%s,%s" % (guid, container), entry, serverctrls=self.write_controls)
            else:
                mods = [(ldap.MOD_REPLACE, name, values or None) for name, values in attrs]
                if self.replace_object_classes:
                    mods.append((ldap.MOD_REPLACE, "objectClass", self.psp_object_classes()))
                mods.append((ldap.MOD_REPLACE, "serverName", [server.encode()] if server else None))
                conn.modify_ext_s(existing[0], mods, serverctrls=self.write_controls)
        except PublishError:
            raise
        except DirectoryError as exc:
            raise PublishError(str(exc)) from exc
        except ldap.LDAPError as exc:
            raise PublishError(
                "the directory refused to publish %s: %s" % (obj.display_name, _describe(exc))
            ) from exc
        finally:
            conn.unbind_s()
        logger.info("published %s (%s) version %s", obj.display_name, guid, obj.version)

    def psp_object_classes(self) -> list[bytes]:
        return [b"top", PSP_CLASS.encode()]

    def unpublish(self, guid: str | uuid.UUID) -> None:
        try:
            conn = self.writer()
            try:
                found = self.find_psp(conn, guid_text(guid), ["1.1"])
                if found is not None:
                    conn.delete_s(found[0])
            finally:
                conn.unbind_s()
        except DirectoryError as exc:
            raise PublishError(str(exc)) from exc
        except ldap.LDAPError as exc:
            raise PublishError("the directory refused to unpublish %s: %s" % (guid, _describe(exc))) from exc

    def read_published(self, guid: str | uuid.UUID) -> PublishedCopy | None:
        conn = self.writer()
        try:
            found = self.find_psp(
                conn, guid_text(guid), [*PSP_ATTRS, *self.copy_extra_attrs], self.write_controls
            )
            if found is None:
                return None
            dn, attrs = found
            return PublishedCopy(
                psp_xml=_text(attrs, "msImaging-PSPString"),
                display_name=_text(attrs, "displayName"),
                allowed_groups=self.allowed_groups(conn, dn, attrs),
                guid=guid_text(guid),
                server_name=_text(attrs, "serverName"),
            )
        except ldap.LDAPError as exc:
            raise DirectoryError(
                "could not read the published copy of %s: %s" % (guid, _describe(exc))
            ) from exc
        finally:
            conn.unbind_s()

    copy_extra_attrs: list[str] = []

    def _user_entry(self, conn: Any, filterstr: str) -> tuple[str, dict[str, list[bytes]]] | None:
        attrs = [self.config.user_attr, "displayName", "cn", "mail", *self.user_extra_attrs]
        found = self.search(conn, self.config.user_base, ldap.SCOPE_SUBTREE, filterstr, attrs)
        return found[0] if len(found) == 1 else None

    def _directory_user(self, conn: Any, dn: str, attrs: dict[str, list[bytes]]) -> DirectoryUser:
        username = _text(attrs, self.config.user_attr)
        return DirectoryUser(
            username=username,
            sid=self.user_sid(conn, dn, attrs, username),
            dn=dn,
            display_name=_text(attrs, "displayName") or _text(attrs, "cn") or username,
            email=_text(attrs, "mail"),
            groups=self.user_groups(conn, dn),
        )

    def find_user(self, username: str) -> DirectoryUser | None:
        conn = self.service()
        try:
            entry = self._user_entry(conn, "(%s=%s)" % (self.config.user_attr, escape_filter_chars(username)))
            return self._directory_user(conn, *entry) if entry else None
        finally:
            conn.unbind_s()

    def resolve_sid(self, sid: str) -> DirectoryUser | None:
        conn = self.service()
        try:
            dn = self.find_sid(conn, sid.strip().upper())
            if dn is None:
                return None
            found = self.search(
                conn,
                dn,
                ldap.SCOPE_BASE,
                "(objectClass=*)",
                [self.config.user_attr, "displayName", "cn", "mail", *self.user_extra_attrs],
            )
            return self._directory_user(conn, *found[0]) if found else None
        finally:
            conn.unbind_s()

    def search_groups(self, query: str, limit: int = 20) -> list[GroupRef]:
        conn = self.service()
        try:
            text = escape_filter_chars(query.strip())
            filterstr = "(&(objectClass=%s)(cn=%s))" % (self.group_class, "*%s*" % text if text else "*")
            found = self.search(
                conn, self.config.group_base or self.config.user_base, ldap.SCOPE_SUBTREE, filterstr, ["cn"]
            )
        finally:
            conn.unbind_s()
        refs = sorted(
            (GroupRef(id=dn, name=_text(attrs, "cn") or dn) for dn, attrs in found),
            key=lambda g: g.name.casefold(),
        )
        return refs[:limit]

    def _group_exists(self, conn: Any, id: str) -> bool:
        try:
            return bool(
                self.search(conn, id, ldap.SCOPE_BASE, "(objectClass=%s)" % self.group_class, ["1.1"])
            )
        except (ldap.INVALID_DN_SYNTAX, ldap.PROTOCOL_ERROR):
            return False

    def group_exists(self, id: str) -> bool:
        conn = self.service()
        try:
            return self._group_exists(conn, id)
        finally:
            conn.unbind_s()

    def processes_visible_to(self, username: str, password: str) -> list[str]:
        """GUIDs of the PSPs a device bound as this user finds, by the query the device makes."""
        if not password:
            raise InvalidCredentials("an empty password would be an anonymous bind")
        conn = self.service()
        try:
            entry = self._user_entry(conn, "(%s=%s)" % (self.config.user_attr, escape_filter_chars(username)))
            container = self.container_dn(conn)
        finally:
            conn.unbind_s()
        if entry is None:
            raise InvalidCredentials("no such user: %s" % username)
        user = self.connect(entry[0], password)
        try:
            found = self.search(
                user,
                container,
                ldap.SCOPE_ONELEVEL,
                "(objectClass=%s)" % PSP_CLASS,
                ["msImaging-PSPIdentifier"],
            )
        finally:
            user.unbind_s()
        guids = []
        for _dn, attrs in found:
            raw = _first(attrs, "msImaging-PSPIdentifier")
            if raw is not None and len(raw) == 16:
                guids.append(str(uuid.UUID(bytes_le=raw)))
        return sorted(guids)


def _describe(exc: ldap.LDAPError) -> str:
    args = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    parts = [str(args.get("desc") or type(exc).__name__), str(args.get("info") or "")]
    return ": ".join(p for p in parts if p)


class OpenLDAPDirectory(LDAPDirectory):
    """OpenLDAP with directory/schema/opendsm.schema; groups are groupOfNames, nesting walked here."""

    user_extra_attrs = [USER_SID]
    copy_extra_attrs = [ALLOWED_GROUP]
    replace_object_classes = True  # adds the access class to a PSP another tool created
    max_depth = 32

    def psp_object_classes(self) -> list[bytes]:
        return [b"top", PSP_CLASS.encode(), ACCESS_CLASS.encode()]

    def access_attributes(self, conn: Any, groups: list[str]) -> list[tuple[str, list[bytes]]]:
        # An empty list removes the attribute: nobody may read the PSP.
        return [(ALLOWED_GROUP, [g.encode() for g in groups])]

    def allowed_groups(self, conn: Any, dn: str, attrs: dict[str, list[bytes]]) -> frozenset[str]:
        return frozenset(_all_text(attrs, ALLOWED_GROUP))

    def user_groups(self, conn: Any, dn: str) -> frozenset[str]:
        base = self.config.group_base or self.config.user_base
        seen: dict[str, str] = {}
        frontier = [dn]
        for _ in range(self.max_depth):
            if not frontier:
                break
            members = "".join("(member=%s)" % escape_filter_chars(d) for d in frontier)
            found = self.search(
                conn,
                base,
                ldap.SCOPE_SUBTREE,
                "(&(objectClass=%s)(|%s))" % (self.group_class, members),
                ["1.1"],
            )
            frontier = []
            for group_dn, _attrs in found:
                key = normalize_group_id(group_dn)
                if key not in seen:
                    seen[key] = group_dn
                    frontier.append(group_dn)
        return frozenset(seen.values())

    def user_sid(self, conn: Any, dn: str, attrs: dict[str, list[bytes]], username: str) -> str:
        stored = _text(attrs, USER_SID)
        if stored:
            return stored.upper()
        # No openDSMUserSid on the entry: a stable local identity (DESIGN.md decision 7).
        from django.contrib.auth import get_user_model

        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        sid = identity_for(user, dn)
        self.stamp_sid(dn, sid)
        return sid

    def stamp_sid(self, dn: str, sid: str) -> bool:
        """Write the identifier onto the user's entry (auxiliary class openDSMUser), so a device
        bound to the directory reads the same SID the scan server resolves. Needs write access to
        objectClass and openDSMUserSid (directory/schema/opendsm-acl.conf); without it the database copy
        stays the only one, which the console and scan server use anyway."""
        mods = [
            (ldap.MOD_ADD, "objectClass", [USER_CLASS.encode()]),
            (ldap.MOD_ADD, USER_SID, [sid.encode()]),
        ]
        try:
            conn = self.writer()
        except DirectoryError as exc:
            logger.info("could not stamp %s with its SID: %s", dn, exc)
            return False
        try:
            conn.modify_s(dn, mods)
        except ldap.LDAPError as exc:
            logger.info("could not stamp %s with its SID (%s); the database keeps it", dn, _describe(exc))
            return False
        finally:
            conn.unbind_s()
        logger.info("stamped %s with %s", dn, sid)
        return True

    def find_sid(self, conn: Any, sid: str) -> str | None:
        found = self.search(
            conn,
            self.config.user_base,
            ldap.SCOPE_SUBTREE,
            "(%s=%s)" % (USER_SID, escape_filter_chars(sid)),
            ["1.1"],
        )
        if len(found) == 1:
            return str(found[0][0])
        identity = DirectoryIdentity.objects.filter(sid=sid).exclude(dn="").first()
        return identity.dn if identity is not None else None


class ADDirectory(LDAPDirectory):
    """Active Directory and Samba AD: explicit DACLs, nesting by the in-chain matching rule."""

    group_class = "group"
    container_class = "container"
    user_extra_attrs = ["objectSid"]
    copy_extra_attrs = ["nTSecurityDescriptor"]
    write_controls = [RequestControl(SD_FLAGS_OID, True, sd.sd_flags_control_value())]

    def _sid_of(self, conn: Any, dn: str) -> str:
        if "=" not in dn:  # a write account given as user@REALM
            filterstr = "(|(userPrincipalName=%s)(sAMAccountName=%s))" % (
                escape_filter_chars(dn),
                escape_filter_chars(dn.split("@")[0]),
            )
            found = self.search(conn, self.base(conn), ldap.SCOPE_SUBTREE, filterstr, ["objectSid"])
        else:
            found = self.search(conn, dn, ldap.SCOPE_BASE, "(objectClass=*)", ["objectSid"])
        raw = _first(found[0][1], "objectSid") if found else None
        if raw is None:
            raise PublishError("cannot read the objectSid of %s" % dn)
        return sd.sid_from_bytes(raw)

    def access_attributes(self, conn: Any, groups: list[str]) -> list[tuple[str, list[bytes]]]:
        domain_sid = self._sid_of(conn, self.base(conn))
        writer = self.config.write_bind_dn or self.config.bind_dn
        aces = [
            sd.Ace(sd.SYSTEM_SID, sd.DS_FULL_CONTROL),
            sd.Ace("%s-%d" % (domain_sid, sd.DOMAIN_ADMINS_RID), sd.DS_FULL_CONTROL),
        ]
        writer_sid = self._sid_of(conn, writer)
        if writer_sid not in {a.sid for a in aces}:
            aces.append(sd.Ace(writer_sid, sd.DS_FULL_CONTROL))
        aces += [sd.Ace(self._sid_of(conn, g), sd.DS_READ) for g in groups]
        return [("nTSecurityDescriptor", [sd.build_dacl_descriptor(aces)])]

    def allowed_groups(self, conn: Any, dn: str, attrs: dict[str, list[bytes]]) -> frozenset[str]:
        raw = _first(attrs, "nTSecurityDescriptor")
        if raw is None:
            return frozenset()
        _protected, aces = sd.parse_dacl(raw)
        groups = set()
        for ace_type, ace in aces:
            if ace_type != sd.ACCESS_ALLOWED_ACE_TYPE or ace.mask != sd.DS_READ:
                continue  # full-control ACEs are the administrators', not a grant to use the PSP
            found = self.find_sid(conn, ace.sid, "group")
            groups.add(found or ace.sid)
        return frozenset(groups)

    def user_groups(self, conn: Any, dn: str) -> frozenset[str]:
        rule = "(&(objectClass=group)(member:%s:=%s))" % (IN_CHAIN, escape_filter_chars(dn))
        found = self.search(
            conn, self.config.group_base or self.base(conn), ldap.SCOPE_SUBTREE, rule, ["1.1"]
        )
        return frozenset(group_dn for group_dn, _attrs in found)

    def user_sid(self, conn: Any, dn: str, attrs: dict[str, list[bytes]], username: str) -> str:
        raw = _first(attrs, "objectSid")
        return sd.sid_from_bytes(raw) if raw else ""

    def find_sid(self, conn: Any, sid: str, object_class: str = "user") -> str | None:
        try:
            value = binary_filter_value(sd.sid_to_bytes(sid))
        except ValueError:
            return None
        filterstr = "(&(objectClass=%s)(objectSid=%s))" % (object_class, value)
        found = self.search(conn, self.base(conn), ldap.SCOPE_SUBTREE, filterstr, ["1.1"])
        return str(found[0][0]) if len(found) == 1 else None
