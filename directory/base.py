"""What every directory implementation shares: the :class:`Directory` protocol, the plain data it
takes and returns, its errors, and group-identifier helpers.

The lowest module of the directory layer: ``directory.backends`` (the embedded directory and
:func:`~directory.backends.get_directory`) and ``directory.ldapdirectory`` (OpenLDAP, AD) both
build on it, and neither imports the other's callers. A directory takes plain data
(:class:`PSPObject`) and writes only to itself: a scan process's state belongs to the scan
process model (``scanprocesses``), which is a layer above and never seen here.

Group identifiers (``PSPObject.allowed_groups``, ``DirectoryUser.groups``, ``GroupRef.id``) are
group DNs with a directory and Django group names without one; compare them through
:func:`normalize_group_id`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import ldap.dn


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
    groups: frozenset[str]  # nested closure, same identifier form as PSPObject.allowed_groups


@dataclass(frozen=True)
class GroupRef:
    id: str
    name: str


@dataclass(frozen=True)
class PSPObject:
    """One scan process as a directory publishes it: the ``msImaging-PostScanProcess`` object.

    ``guid`` names it (``msImaging-PSPIdentifier``, never changes), ``psp_xml`` is the
    published version's canonical PSP (``msImaging-PSPString``), ``allowed_groups`` who may read
    it (in the directory's identifier form), ``server_name`` the scan server's host name ("" for
    none). ``version`` is the version number, for the directory's log only.
    """

    guid: str
    display_name: str
    psp_xml: str
    allowed_groups: tuple[str, ...]
    server_name: str = ""
    version: int = 0


@dataclass(frozen=True)
class PublishedCopy:
    """What the directory holds for one process: the bytes a device will read, and who may."""

    psp_xml: str
    display_name: str
    allowed_groups: frozenset[str]
    guid: str = ""
    server_name: str = ""


class Directory(Protocol):
    def publish(self, obj: PSPObject) -> None: ...
    def unpublish(self, guid: str | uuid.UUID) -> None: ...
    def read_published(self, guid: str | uuid.UUID) -> PublishedCopy | None: ...
    def resolve_sid(self, sid: str) -> DirectoryUser | None: ...
    def find_user(self, username: str) -> DirectoryUser | None: ...
    def search_groups(self, query: str, limit: int = 20) -> list[GroupRef]: ...
    def group_exists(self, id: str) -> bool: ...
    def processes_visible_to(self, username: str, password: str) -> list[str]: ...


def normalize_group_id(value: str) -> str:
    """A comparable form of a group identifier: DNs lose case and spacing, names lose case."""
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
    """The canonical text of a GUID (lower case, no braces); a malformed one raises ValueError."""
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
