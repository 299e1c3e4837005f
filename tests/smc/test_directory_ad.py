"""Scan processes in Active Directory, against a real Samba AD domain controller.

The key proof (test_each_user_sees_exactly_their_processes): bound AS EACH USER, the one-level
search a DSM device makes under CN=PSPs,CN=System returns exactly the processes whose allowed
groups contain the user (nested groups included) — the work of the explicit, protected DACL
OpenDSM writes on every PSP object (DESIGN.md decision 6).
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import ldap
import pytest

from directory import security as sd
from directory.base import PublishError, normalize_group_id
from directory.ldapconf import LDAPConfig
from directory.ldapdirectory import SD_FLAGS_OID, ADDirectory
from scanprocesses import availability
from scanprocesses.models import ScanProcessVersion
from tests import samba
from tests.factories import ScanProcessFactory, ScanProcessVersionFactory, psp_of
from tests.samba import BASE, group_dn, password, samba_dc, user_dn  # noqa: F401 (fixture)

pytestmark = [pytest.mark.samba, pytest.mark.slow]

CONTAINER = "CN=PSPs,CN=System,%s" % BASE
FINANCE, HELPERS, EVERYONE = group_dn("Scan Finance"), group_dn("Scan Helpers"), group_dn("Scan Everyone")
AUTHENTICATED_USERS = "S-1-5-11"


def admin() -> Any:
    conn = ldap.initialize(samba.SambaDC.uri)
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.simple_bind_s(samba.ADMIN_DN, samba.ADMIN_PW)
    return conn


@pytest.fixture
def config(samba_dc: samba.SambaDC, db: None) -> LDAPConfig:  # noqa: F811
    conn = admin()
    for dn, _attrs in conn.search_s(CONTAINER, ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["1.1"]):
        if dn is not None:
            conn.delete_s(dn)
    conn.unbind_s()
    return LDAPConfig(
        uri=samba_dc.uri,
        flavor="ad",
        bind_dn=user_dn("smcreader"),
        bind_password=password("smcreader"),
        user_base="CN=Users,%s" % BASE,
        group_base="CN=Users,%s" % BASE,
        admin_group=group_dn("Domain Admins"),
        write_bind_dn=samba.ADMIN_DN,
        write_bind_password=samba.ADMIN_PW,
        timeout=5,
    )


def dacl_of(guid: Any) -> tuple[bool, list[tuple[int, sd.Ace]]]:
    conn = admin()
    control = ldap.controls.RequestControl(SD_FLAGS_OID, True, sd.sd_flags_control_value())
    [(_dn, attrs)] = conn.search_ext_s(
        "CN=%s,%s" % (guid, CONTAINER),
        ldap.SCOPE_BASE,
        "(objectClass=*)",
        ["nTSecurityDescriptor"],
        serverctrls=[control],
    )
    conn.unbind_s()
    return sd.parse_dacl(attrs["nTSecurityDescriptor"][0])


def sid_of(dn: str) -> str:
    conn = admin()
    [(_dn, attrs)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["objectSid"])
    conn.unbind_s()
    return sd.sid_from_bytes(attrs["objectSid"][0])


def test_publish_read_back_republish_unpublish(config: LDAPConfig) -> None:
    from devices.models import ScanServer

    server = ScanServer.objects.create(name="s1", fqdn="scan1.example.test")
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=[FINANCE], version="published", scan_server=server
    )
    d = ADDirectory(config)
    d.publish(psp_of(process))
    copy = d.read_published(process.guid)
    assert copy is not None and copy.psp_xml == process.published_version.psp_xml
    assert copy.display_name == "Invoices" and copy.server_name == "scan1.example.test"
    assert {normalize_group_id(g) for g in copy.allowed_groups} == {normalize_group_id(FINANCE)}
    # The DACL: protected, read for the allowed group only, no Authenticated Users anywhere.
    protected, aces = dacl_of(process.guid)
    assert protected
    readers = {ace.sid for _t, ace in aces if ace.mask == sd.DS_READ}
    assert readers == {sid_of(FINANCE)}
    assert AUTHENTICATED_USERS not in {ace.sid for _t, ace in aces}
    assert {ace.sid for _t, ace in aces if ace.mask == sd.DS_FULL_CONTROL} >= {
        sd.SYSTEM_SID,
        sid_of(samba.ADMIN_DN),
    }
    conn = admin()
    [(_dn, attrs)] = conn.search_s("CN=%s,%s" % (process.guid, CONTAINER), ldap.SCOPE_BASE, "(objectClass=*)")
    assert attrs["msImaging-PSPIdentifier"] == [uuid.UUID(str(process.guid)).bytes_le]
    conn.unbind_s()
    # Republish with other groups: one request replaces the attributes and the DACL.
    process.display_name, process.allowed_groups, process.scan_server = (
        "Invoices 2",
        [HELPERS, EVERYONE],
        None,
    )
    process.save()
    second = ScanProcessVersionFactory(process=process, document_root_name="Second")
    d.publish(psp_of(process, second))
    copy = d.read_published(process.guid)
    assert copy is not None and copy.psp_xml == second.psp_xml and copy.display_name == "Invoices 2"
    assert {normalize_group_id(g) for g in copy.allowed_groups} == {
        normalize_group_id(HELPERS),
        normalize_group_id(EVERYONE),
    }
    assert copy.server_name == ""
    assert {ace.sid for _t, ace in dacl_of(process.guid)[1] if ace.mask == sd.DS_READ} == {
        sid_of(HELPERS),
        sid_of(EVERYONE),
    }
    d.unpublish(process.guid)
    assert d.read_published(process.guid) is None


def test_drift_is_visible(config: LDAPConfig) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=[FINANCE], version="published")
    d = ADDirectory(config)
    d.publish(psp_of(process))
    tampered = process.published_version.psp_xml.replace("Scan", "Tampered")
    conn = admin()
    conn.modify_s(
        "CN=%s,%s" % (process.guid, CONTAINER),
        [(ldap.MOD_REPLACE, "msImaging-PSPString", [tampered.encode()])],
    )
    conn.unbind_s()
    copy = d.read_published(process.guid)
    assert copy is not None and copy.psp_xml == tampered != process.published_version.psp_xml


def test_failed_write_leaves_the_previous_copy(config: LDAPConfig) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=[FINANCE], version="published")
    d = ADDirectory(config)
    d.publish(psp_of(process))
    before = d.read_published(process.guid)
    dacl_before = dacl_of(process.guid)
    # One modify request with a new name, a new DACL and a PSP over AD's rangeUpper (524288):
    # the DC refuses it whole.
    process.display_name, process.allowed_groups = "Renamed", [EVERYONE]
    process.save()
    huge = ScanProcessVersion.objects.create(
        process=process, number=2, psp_xml=process.published_version.psp_xml + "<!--%s-->" % ("x" * 600_000)
    )
    with pytest.raises(PublishError):
        d.publish(psp_of(process, huge))
    assert d.read_published(process.guid) == before
    assert dacl_of(process.guid) == dacl_before
    with pytest.raises(PublishError, match="Nobody"):
        other = ScanProcessFactory(
            display_name="Other", allowed_groups=[group_dn("Nobody")], version="published"
        )
        d.publish(psp_of(other))


def test_users_groups_and_sids(config: LDAPConfig) -> None:
    d = ADDirectory(config)
    nick = d.find_user("nick")
    assert nick is not None and normalize_group_id(nick.dn) == normalize_group_id(user_dn("nick"))
    assert {normalize_group_id(g) for g in nick.groups} >= {
        normalize_group_id(g) for g in (HELPERS, FINANCE, EVERYONE)
    }
    assert nick.sid == sid_of(user_dn("nick"))
    assert d.resolve_sid(nick.sid) == nick
    assert d.resolve_sid(sid_of(FINANCE)) is None  # a group is not a user
    assert d.resolve_sid("S-1-5-21-1-2-3-4") is None and d.resolve_sid("garbage") is None
    bob = d.find_user("bob")
    assert bob is not None and normalize_group_id(EVERYONE) in {normalize_group_id(g) for g in bob.groups}
    assert normalize_group_id(FINANCE) not in {normalize_group_id(g) for g in bob.groups}
    assert [g.name for g in d.search_groups("Scan")] == ["Scan Everyone", "Scan Finance", "Scan Helpers"]
    assert d.group_exists(FINANCE) and not d.group_exists(group_dn("Nobody"))
    assert not d.group_exists(user_dn("alice"))


EXPECTED = {
    "alice": {"P-finance", "P-everyone"},
    "nick": {"P-finance", "P-everyone", "P-helpers"},
    "bob": {"P-everyone"},
    "nora": set(),
}


def ldapsearch_as(user: str) -> set[str]:
    result = subprocess.run(
        [
            "ldapsearch",
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            samba.SambaDC.uri,
            "-D",
            user_dn(user),
            "-w",
            password(user),
            "-b",
            CONTAINER,
            "-s",
            "one",
            "(objectClass=msImaging-PostScanProcess)",
            "displayName",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith("displayName: ")}


def test_each_user_sees_exactly_their_processes(config: LDAPConfig) -> None:
    d = ADDirectory(config)
    processes = {
        name: ScanProcessFactory(display_name=name, allowed_groups=groups, version="published")
        for name, groups in (
            ("P-finance", [FINANCE]),
            ("P-everyone", [EVERYONE]),
            ("P-helpers", [HELPERS]),
            ("P-none", []),
        )
    }
    for process in processes.values():
        d.publish(psp_of(process))
    guid_of = {name: str(p.guid) for name, p in processes.items()}
    for user, expected in EXPECTED.items():
        assert ldapsearch_as(user) == expected, user
        assert d.processes_visible_to(user, password(user)) == sorted(guid_of[n] for n in expected), user
        found = d.find_user(user)
        assert found is not None
        assert {p.display_name for p in availability.usable_processes(found, None)} == expected, user
