"""The one directory module: where scan processes are published and users and groups are found.

PROTOCOL.md §6 and DESIGN.md decisions 6–7; Microsoft's "LDAP and Active Directory queries"
pages (windows-driver-docs-pr/image/ldap-*.md) describe what a DSM device does with it: bind as
the user, one-level search of ``CN=PSPs,CN=System,<naming context>`` for
``msImaging-PostScanProcess`` objects, read ``msImaging-PSPString`` of the chosen one.

Three implementations behind one API, chosen by :func:`get_directory` from ``settings.LDAP``:

* :class:`EmbeddedDirectory` (no ``SMC_LDAP_URI``): the database is the directory. Users are
  Django users, groups are Django groups (Django has no nested groups, so neither does this
  directory), a published copy is the process's ``published_version`` while its state is
  ``published``. SIDs are ``S-1-5-21-<directory id>-<1000 + user pk>`` kept in
  ``DirectoryIdentity``.
* ``directory.ldapdirectory.OpenLDAPDirectory``: the ``directory/schema/opendsm.schema`` classes, allowed
  group DNs in ``openDSMAllowedGroup`` and a slapd ``set`` ACL that shows a PSP to a bound
  user only through those groups (nested included).
* ``directory.ldapdirectory.ADDirectory`` (Active Directory, Samba AD): an explicit protected DACL on
  each PSP object granting read to the allowed groups only.

Group identifiers (``ScanProcess.allowed_groups``, ``DirectoryUser.groups``, ``GroupRef.id``) are
group DNs with a directory and Django group names without one; compare them through
:func:`normalize_group_id`.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from scanprocesses.models import ScanProcess, ScanProcessVersion

logger = logging.getLogger(__name__)

#: First relative identifier handed to embedded users: below 1000 Windows keeps well-known RIDs.
RID_BASE = 1000


class DirectoryError(Exception):
    """The directory could not do what was asked; the message is fit for an administrator."""


class PublishError(DirectoryError):
    """Publishing or unpublishing failed; the directory holds the previous copy unchanged."""


class InvalidCredentials(DirectoryError):
    """The user name or password was refused."""


@dataclass(frozen=True)
class DirectoryUser:
    username: str
    sid: str
    dn: str
    display_name: str
    email: str
    groups: frozenset[str]  # nested closure, same identifier form as ScanProcess.allowed_groups


@dataclass(frozen=True)
class GroupRef:
    id: str
    name: str


@dataclass(frozen=True)
class PublishedCopy:
    """What the directory holds for one process: the bytes a device will read, and who may."""

    psp_xml: str
    display_name: str
    allowed_groups: frozenset[str]
    guid: str = ""
    server_name: str = ""


class Directory(Protocol):
    def publish(self, process: ScanProcess, version: ScanProcessVersion) -> None: ...
    def unpublish(self, process: ScanProcess) -> None: ...
    def read_published(self, guid: str | uuid.UUID) -> PublishedCopy | None: ...
    def resolve_sid(self, sid: str) -> DirectoryUser | None: ...
    def find_user(self, username: str) -> DirectoryUser | None: ...
    def search_groups(self, query: str, limit: int = 20) -> list[GroupRef]: ...
    def group_exists(self, id: str) -> bool: ...
    def processes_visible_to(self, username: str, password: str) -> list[str]: ...


def get_directory() -> Directory:
    """The directory configured in ``settings.LDAP`` (a new, cheap object on every call)."""
    config = settings.LDAP
    if not config.enabled:
        return EmbeddedDirectory()
    from directory import ldapdirectory as directory_ldap

    if config.flavor == "ad":
        return directory_ldap.ADDirectory(config)
    return directory_ldap.OpenLDAPDirectory(config)


def normalize_group_id(value: str) -> str:
    """A comparable form of a group identifier: DNs lose case and spacing, names lose case."""
    import ldap.dn

    text = value.strip()
    if "=" in text:
        try:
            rdns = ldap.dn.str2dn(text)
        except ldap.DECODING_ERROR:
            return text.casefold()
        return ",".join(
            "+".join("%s=%s" % (attr.casefold(), val.strip().casefold()) for attr, val, _flags in rdn)
            for rdn in rdns
        )
    return text.casefold()


def guid_text(value: str | uuid.UUID) -> str:
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def directory_id() -> str:
    """The three sub-authorities of this installation's SID prefix (``S-1-5-21-a-b-c``).

    ``settings.SMC_DIRECTORY_ID`` (``"a-b-c"``) if set, else derived from SECRET_KEY. Identities
    already handed out are stored, so a later change only affects users seen afterwards.
    """
    explicit = str(getattr(settings, "SMC_DIRECTORY_ID", "") or "")
    if explicit:
        return explicit
    digest = hashlib.sha256(b"opendsm-directory-id\0" + settings.SECRET_KEY.encode()).digest()
    return "-".join(str(int.from_bytes(digest[i : i + 4], "big")) for i in (0, 4, 8))


def local_sid(user_pk: int) -> str:
    return "S-1-5-21-%s-%d" % (directory_id(), RID_BASE + user_pk)


def identity_for(user: object, dn: str = "") -> str:
    """The stored SID of a Django user, created on first use (DESIGN.md decision 7)."""
    from directory.models import DirectoryIdentity

    identity, created = DirectoryIdentity.objects.get_or_create(
        user=user,
        defaults={"sid": local_sid(user.pk), "dn": dn},  # type: ignore[attr-defined]
    )
    if not created and dn and identity.dn != dn:
        identity.dn = dn
        identity.save(update_fields=["dn"])
    return identity.sid


class EmbeddedDirectory:
    """The database as the directory (no ``SMC_LDAP_URI``).

    Relies on these ``ScanProcess`` fields (owned by the console): ``state``,
    ``published_version``, ``allowed_groups`` (Django group names) and, when present in the
    version's ``settings_snapshot``, ``display_name``/``allowed_groups`` as published.
    """

    def publish(self, process: ScanProcess, version: ScanProcessVersion) -> None:
        from scanprocesses.models import ProcessState

        if version.process_id != process.pk:
            raise PublishError("version %s belongs to another process" % version.pk)
        missing = [g for g in process.allowed_groups if not self.group_exists(g)]
        if missing:
            raise PublishError("unknown group(s): %s" % ", ".join(missing))
        process.published_version = version
        process.state = ProcessState.PUBLISHED
        process.save(update_fields=["published_version", "state", "updated_at"])

    def unpublish(self, process: ScanProcess) -> None:
        from scanprocesses.models import ProcessState

        if process.state == ProcessState.PUBLISHED:
            process.state = ProcessState.UNPUBLISHED
            process.save(update_fields=["state", "updated_at"])

    def read_published(self, guid: str | uuid.UUID) -> PublishedCopy | None:
        from scanprocesses.models import ProcessState, ScanProcess

        process = (
            ScanProcess.objects.filter(guid=guid_text(guid), state=ProcessState.PUBLISHED)
            .select_related("published_version", "scan_server")
            .first()
        )
        if process is None or process.published_version is None:
            return None
        version = process.published_version
        snapshot = version.settings_snapshot if isinstance(version.settings_snapshot, dict) else {}
        return PublishedCopy(
            psp_xml=version.psp_xml,
            display_name=str(snapshot.get("display_name", process.display_name)),
            allowed_groups=frozenset(snapshot.get("allowed_groups", process.allowed_groups)),
            guid=str(process.guid),
            server_name=process.scan_server.fqdn if process.scan_server else "",
        )

    def _user(self, user: object) -> DirectoryUser:
        return DirectoryUser(
            username=user.get_username(),  # type: ignore[attr-defined]
            sid=identity_for(user),
            dn="",
            display_name=user.get_full_name() or user.get_username(),  # type: ignore[attr-defined]
            email=user.email or "",  # type: ignore[attr-defined]
            groups=frozenset(user.groups.values_list("name", flat=True)),  # type: ignore[attr-defined]
        )

    def find_user(self, username: str) -> DirectoryUser | None:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(username=username, is_active=True).first()
        return self._user(user) if user is not None else None

    def resolve_sid(self, sid: str) -> DirectoryUser | None:
        from django.contrib.auth import get_user_model

        from directory.models import DirectoryIdentity

        identity = DirectoryIdentity.objects.filter(sid=sid.upper()).select_related("user").first()
        if identity is not None:
            return self._user(identity.user) if identity.user.is_active else None
        # Not stored yet: a SID of our own form names its user by RID.
        prefix = "S-1-5-21-%s-" % directory_id()
        rid = sid.upper()[len(prefix) :] if sid.upper().startswith(prefix) else ""
        if not rid.isdigit() or int(rid) <= RID_BASE:
            return None
        user = get_user_model().objects.filter(pk=int(rid) - RID_BASE, is_active=True).first()
        if user is None or identity_for(user) != sid.upper():
            return None
        return self._user(user)

    def search_groups(self, query: str, limit: int = 20) -> list[GroupRef]:
        from django.contrib.auth.models import Group

        names = Group.objects.filter(name__icontains=query.strip()).order_by("name")[:limit]
        return [GroupRef(id=g.name, name=g.name) for g in names]

    def group_exists(self, id: str) -> bool:
        from django.contrib.auth.models import Group

        return Group.objects.filter(name=id).exists()

    def processes_visible_to(self, username: str, password: str) -> list[str]:
        from django.contrib.auth import get_user_model

        from scanprocesses.models import ProcessState, ScanProcess

        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None or not password or not user.check_password(password):
            raise InvalidCredentials("user name or password refused")
        groups = {normalize_group_id(g) for g in user.groups.values_list("name", flat=True)}
        visible = []
        for process in ScanProcess.objects.filter(state=ProcessState.PUBLISHED).exclude(
            published_version=None
        ):
            copy = self.read_published(process.guid)
            if copy is not None and groups & {normalize_group_id(g) for g in copy.allowed_groups}:
                visible.append(str(process.guid))
        return visible
