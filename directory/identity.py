"""Users' SID-form identifiers (DESIGN.md decision 7): ``S-1-5-21-<directory id>-<1000 + user pk>``
for users the directory gives no objectSid, kept in ``DirectoryIdentity`` so they never change."""

from __future__ import annotations

import hashlib

from django.conf import settings

from directory.models import DirectoryIdentity

#: First relative identifier handed to embedded users: below 1000 Windows keeps well-known RIDs.
RID_BASE = 1000


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
    identity, created = DirectoryIdentity.objects.get_or_create(
        user=user,
        defaults={"sid": local_sid(user.pk), "dn": dn},  # type: ignore[attr-defined]
    )
    if not created and dn and identity.dn != dn:
        identity.dn = dn
        identity.save(update_fields=["dn"])
    return identity.sid
