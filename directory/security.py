"""Windows SIDs and self-relative security descriptors, as Active Directory stores them.

Pure byte layouts from [MS-DTYP] §2.4.2.2 (SID), §2.4.4.2 (ACCESS_ALLOWED_ACE), §2.4.5 (ACL) and
§2.4.6 (SECURITY_DESCRIPTOR, self-relative form), with the directory-service access rights of
[MS-ADTS] §5.1.3.2. ``directory.ldapdirectory`` writes the descriptor built here into a PSP object's
``nTSecurityDescriptor`` (DESIGN.md decision 6): read for the allowed groups only, a protected
DACL so that the container's inheritable ACEs (Authenticated Users read) never come back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Directory-service access rights ([MS-ADTS] §5.1.3.2) and standard rights ([MS-DTYP] §2.4.3).
RIGHT_DS_CREATE_CHILD = 0x00000001
RIGHT_DS_DELETE_CHILD = 0x00000002
RIGHT_DS_LIST_CONTENTS = 0x00000004
RIGHT_DS_WRITE_PROPERTY_EXTENDED = 0x00000008
RIGHT_DS_READ_PROPERTY = 0x00000010
RIGHT_DS_WRITE_PROPERTY = 0x00000020
RIGHT_DS_DELETE_TREE = 0x00000040
RIGHT_DS_LIST_OBJECT = 0x00000080
RIGHT_DS_CONTROL_ACCESS = 0x00000100
DELETE = 0x00010000
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
WRITE_OWNER = 0x00080000

#: What Windows' "Read" permission on a directory object grants (the GENERIC_READ mapping).
DS_READ = READ_CONTROL | RIGHT_DS_LIST_CONTENTS | RIGHT_DS_READ_PROPERTY | RIGHT_DS_LIST_OBJECT
#: "Full control" (the GENERIC_ALL mapping for directory objects).
DS_FULL_CONTROL = 0x000F01FF

ACCESS_ALLOWED_ACE_TYPE = 0x00
ACL_REVISION = 2
SE_DACL_PRESENT = 0x0004
SE_DACL_PROTECTED = 0x1000
SE_SELF_RELATIVE = 0x8000

SYSTEM_SID = "S-1-5-18"
DOMAIN_ADMINS_RID = 512

#: LDAP_SERVER_SD_FLAGS_OID control value selecting the DACL only ([MS-ADTS] §3.1.1.3.4.1.11).
DACL_SECURITY_INFORMATION = 0x4


def sid_to_bytes(sid: str) -> bytes:
    """``S-1-5-21-…`` → the binary form stored in ``objectSid``."""
    parts = sid.strip().upper().split("-")
    if len(parts) < 3 or parts[0] != "S" or parts[1] != "1":
        raise ValueError("not a SID: %r" % sid)
    try:
        authority = int(parts[2])
        subs = [int(p) for p in parts[3:]]
    except ValueError:
        raise ValueError("not a SID: %r" % sid) from None
    if len(subs) > 15 or authority >= 1 << 48 or any(not 0 <= s < 1 << 32 for s in subs):
        raise ValueError("not a SID: %r" % sid)
    return (
        struct.pack("<BB", 1, len(subs))
        + authority.to_bytes(6, "big")
        + b"".join(struct.pack("<I", s) for s in subs)
    )


def sid_from_bytes(data: bytes) -> str:
    """The binary ``objectSid`` → ``S-1-5-21-…``; raises ValueError on a malformed value."""
    if len(data) < 8 or data[0] != 1 or len(data) != 8 + 4 * data[1]:
        raise ValueError("not a binary SID")
    authority = int.from_bytes(data[2:8], "big")
    subs = struct.unpack("<%dI" % data[1], data[8:])
    return "S-1-%d%s" % (authority, "".join("-%d" % s for s in subs))


def _sid_length(data: bytes, offset: int) -> int:
    return 8 + 4 * data[offset + 1]


@dataclass(frozen=True)
class Ace:
    sid: str
    mask: int


def build_dacl_descriptor(aces: list[Ace] | tuple[Ace, ...]) -> bytes:
    """A self-relative SECURITY_DESCRIPTOR carrying only a protected DACL of ACCESS_ALLOWED ACEs.

    Owner, group and SACL offsets are zero: written with the SD-flags control set to DACL only,
    the directory keeps the object's existing (or default) owner and group.
    """
    body = b""
    for ace in aces:
        sid = sid_to_bytes(ace.sid)
        body += struct.pack("<BBHI", ACCESS_ALLOWED_ACE_TYPE, 0, 8 + len(sid), ace.mask) + sid
    acl = struct.pack("<BBHHH", ACL_REVISION, 0, 8 + len(body), len(aces), 0) + body
    control = SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_SELF_RELATIVE
    header = struct.pack("<BBHIIII", 1, 0, control, 0, 0, 0, 20)
    return header + acl


def parse_dacl(descriptor: bytes) -> tuple[bool, list[tuple[int, Ace]]]:
    """(DACL protected?, [(ACE type, Ace)]) of a self-relative descriptor; object ACEs skipped."""
    if len(descriptor) < 20:
        raise ValueError("security descriptor too short")
    _rev, _sbz, control, _owner, _group, _sacl, dacl_at = struct.unpack("<BBHIIII", descriptor[:20])
    if not control & SE_DACL_PRESENT or not dacl_at:
        return bool(control & SE_DACL_PROTECTED), []
    _arev, _s1, _size, count, _s2 = struct.unpack("<BBHHH", descriptor[dacl_at : dacl_at + 8])
    offset, aces = dacl_at + 8, []
    for _ in range(count):
        ace_type, _flags, size = struct.unpack("<BBH", descriptor[offset : offset + 4])
        if ace_type in (0x00, 0x01):  # ACCESS_ALLOWED / ACCESS_DENIED: mask then SID
            (mask,) = struct.unpack("<I", descriptor[offset + 4 : offset + 8])
            sid_at = offset + 8
            sid = sid_from_bytes(descriptor[sid_at : sid_at + _sid_length(descriptor, sid_at)])
            aces.append((ace_type, Ace(sid, mask)))
        offset += size
    return bool(control & SE_DACL_PROTECTED), aces


def sd_flags_control_value(flags: int = DACL_SECURITY_INFORMATION) -> bytes:
    """BER ``SEQUENCE { INTEGER flags }`` for the LDAP_SERVER_SD_FLAGS_OID control."""
    number = flags.to_bytes(max(1, (flags.bit_length() + 8) // 8), "big")
    integer = b"\x02" + bytes([len(number)]) + number
    return b"\x30" + bytes([len(integer)]) + integer
