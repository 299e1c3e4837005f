"""The one directory module: where scan processes are published and users and groups are found.

PROTOCOL.md §6 and DESIGN.md decisions 6–7; Microsoft's "LDAP and Active Directory queries"
pages (windows-driver-docs-pr/image/ldap-*.md) describe what a DSM device does with it: bind as
the user, one-level search of ``CN=PSPs,CN=System,<naming context>`` for
``msImaging-PostScanProcess`` objects, read ``msImaging-PSPString`` of the chosen one.

Three implementations behind one API, chosen by :func:`get_directory` from ``settings.LDAP``:

* :class:`EmbeddedDirectory` (no ``SMC_LDAP_URI``): the database is the directory. Users are
  Django users, groups are Django groups (Django has no nested groups, so neither does this
  directory), a published copy is a ``PublishedPSP`` row (its own table: the directory never
  reads or writes a scan process). SIDs are ``S-1-5-21-<directory id>-<1000 + user pk>`` kept
  in ``DirectoryIdentity`` (``directory.identity``).
* ``directory.ldapdirectory.OpenLDAPDirectory``: the ``directory/schema/opendsm.schema`` classes, allowed
  group DNs in ``openDSMAllowedGroup`` and a slapd ``set`` ACL that shows a PSP to a bound
  user only through those groups (nested included).
* ``directory.ldapdirectory.ADDirectory`` (Active Directory, Samba AD): an explicit protected DACL on
  each PSP object granting read to the allowed groups only.

The protocol, the data it takes and returns (``PSPObject``, ``PublishedCopy``, ``DirectoryUser``,
``GroupRef``) and its errors live in ``directory.base``; group identifiers compare through
``directory.base.normalize_group_id``.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from directory import ldapdirectory
from directory.base import (
    Directory,
    DirectoryUser,
    GroupRef,
    InvalidCredentials,
    PSPObject,
    PublishedCopy,
    PublishError,
    guid_text,
    normalize_group_id,
)
from directory.identity import RID_BASE, directory_id, identity_for
from directory.models import DirectoryIdentity, PublishedPSP

logger = logging.getLogger(__name__)


def get_directory() -> Directory:
    """The directory configured in ``settings.LDAP`` (a new, cheap object on every call)."""
    config = settings.LDAP
    if not config.enabled:
        return EmbeddedDirectory()
    if config.flavor == "ad":
        return ldapdirectory.ADDirectory(config)
    return ldapdirectory.OpenLDAPDirectory(config)


class EmbeddedDirectory:
    """The database as the directory (no ``SMC_LDAP_URI``): published copies are ``PublishedPSP``
    rows, users and groups are Django's (``allowed_groups`` are Django group names)."""

    def publish(self, obj: PSPObject) -> None:
        missing = [g for g in dict.fromkeys(obj.allowed_groups) if not self.group_exists(g)]
        if missing:
            raise PublishError("unknown group(s): %s" % ", ".join(missing))
        PublishedPSP.objects.update_or_create(
            guid=guid_text(obj.guid),
            defaults={
                "display_name": obj.display_name,
                "psp_xml": obj.psp_xml,
                "allowed_groups": list(dict.fromkeys(obj.allowed_groups)),
                "server_name": obj.server_name,
                "published_at": timezone.now(),
            },
        )
        logger.info("published %s (%s) version %s", obj.display_name, obj.guid, obj.version)

    def unpublish(self, guid: str | uuid.UUID) -> None:
        PublishedPSP.objects.filter(guid=guid_text(guid)).delete()

    def read_published(self, guid: str | uuid.UUID) -> PublishedCopy | None:
        row = PublishedPSP.objects.filter(guid=guid_text(guid)).first()
        return _copy(row) if row is not None else None

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
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        return self._user(user) if user is not None else None

    def resolve_sid(self, sid: str) -> DirectoryUser | None:
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
        names = Group.objects.filter(name__icontains=query.strip()).order_by("name")[:limit]
        return [GroupRef(id=g.name, name=g.name) for g in names]

    def group_exists(self, id: str) -> bool:
        return Group.objects.filter(name=id).exists()

    def processes_visible_to(self, username: str, password: str) -> list[str]:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None or not password or not user.check_password(password):
            raise InvalidCredentials("user name or password refused")
        groups = {normalize_group_id(g) for g in user.groups.values_list("name", flat=True)}
        return [
            str(row.guid)
            for row in PublishedPSP.objects.order_by("display_name")
            if groups & {normalize_group_id(g) for g in row.allowed_groups}
        ]


def _copy(row: PublishedPSP) -> PublishedCopy:
    return PublishedCopy(
        psp_xml=row.psp_xml,
        display_name=row.display_name,
        allowed_groups=frozenset(row.allowed_groups),
        guid=str(row.guid),
        server_name=row.server_name,
    )
