"""Scan processes in OpenLDAP: the shipped schema and ACL, against a real slapd.

The key proof (test_each_user_sees_exactly_their_processes): bound AS EACH USER, the one-level
search a DSM device makes under cn=PSPs returns exactly the processes whose allowed groups
contain the user, nested groups included — checked with the ldapsearch CLI, with
processes_visible_to, and against scanprocesses.availability.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import pytest

from directory.backends import get_directory
from directory.base import InvalidCredentials, PublishError, normalize_group_id
from directory.ldapdirectory import OpenLDAPDirectory
from scanprocesses import availability
from scanprocesses.models import ScanProcessVersion
from tests import services
from tests.conftest import GROUPS_BASE, PASSWORDS, ldap_config
from tests.factories import ScanProcessFactory, ScanProcessVersionFactory, psp_of

pytestmark = pytest.mark.ldap

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "directory" / "schema" / "opendsm.schema"
ACL = ROOT / "directory" / "schema" / "opendsm-acl.conf"
WRITER_DN = "cn=smc-writer,ou=services,dc=example,dc=test"
WRITER_PW = "smc-writer-pw1!"
CONTAINER = "cn=PSPs,cn=System,%s" % services.SUFFIX
ADMINS, OPERATORS, AUDITORS = (
    "cn=%s,%s" % (g, GROUPS_BASE) for g in ("opendsm-admins", "opendsm-operators", "opendsm-auditors")
)
HELPERS, ALL = "cn=scan-helpers,%s" % GROUPS_BASE, "cn=all-scanners,%s" % GROUPS_BASE


@pytest.fixture(scope="module")
def psp_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Slapd]:
    acl = ACL.read_text().replace("BASE_DN", services.SUFFIX).replace("WRITER_DN", WRITER_DN)
    server = services.start_slapd(
        tmp_path_factory.mktemp("psp-slapd"), extra_schemas=(SCHEMA,), extra_acl=acl
    )
    try:
        server.ldapmodify((services.HERE / "ldap" / "psp-directory.ldif").read_text())
        yield server
    finally:
        server.stop()


@pytest.fixture
def config(psp_slapd: services.Slapd, db: None) -> Any:
    root = ldap.initialize(psp_slapd.uri)
    root.simple_bind_s(services.ROOT_DN, services.ROOT_PW)
    try:  # every test starts with an empty PSP container (the container itself may stay)
        for dn, _attrs in root.search_s(CONTAINER, ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["1.1"]):
            root.delete_s(dn)
    except ldap.NO_SUCH_OBJECT:
        pass
    root.unbind_s()
    return ldap_config(psp_slapd, write_bind_dn=WRITER_DN, write_bind_password=WRITER_PW)


def root_modify(slapd: services.Slapd, dn: str, mods: list[Any]) -> None:
    root = ldap.initialize(slapd.uri)
    root.simple_bind_s(services.ROOT_DN, services.ROOT_PW)
    root.modify_s(dn, mods)
    root.unbind_s()


def ldapsearch_as(slapd: services.Slapd, user: str, password: str) -> set[str]:
    """The device's query, made by the OpenLDAP command-line client: display names it sees."""
    result = subprocess.run(
        [
            services.which("ldapsearch"),
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            slapd.uri,
            "-D",
            "uid=%s,ou=people,%s" % (user, services.SUFFIX),
            "-w",
            password,
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


def test_get_directory_picks_openldap(settings: Any, config: Any) -> None:
    settings.LDAP = config
    assert isinstance(get_directory(), OpenLDAPDirectory)


def test_publish_read_back_republish_unpublish(config: Any, psp_slapd: services.Slapd) -> None:
    from devices.models import ScanServer

    server = ScanServer.objects.create(name="s1", fqdn="scan1.example.test")
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=[ADMINS], version="published", scan_server=server
    )
    d = OpenLDAPDirectory(config)
    assert d.read_published(process.guid) is None
    d.publish(psp_of(process))
    copy = d.read_published(process.guid)
    assert copy is not None
    assert copy.psp_xml == process.published_version.psp_xml
    assert copy.display_name == "Invoices" and copy.server_name == "scan1.example.test"
    assert copy.allowed_groups == {ADMINS}
    # The entry is named by the GUID and carries it in Windows byte order.
    root = ldap.initialize(psp_slapd.uri)
    root.simple_bind_s(services.ROOT_DN, services.ROOT_PW)
    [(dn, attrs)] = root.search_s(CONTAINER, ldap.SCOPE_ONELEVEL, "(objectClass=*)")
    assert normalize_group_id(dn) == normalize_group_id("CN=%s,%s" % (process.guid, CONTAINER))
    assert attrs["msImaging-PSPIdentifier"] == [uuid.UUID(str(process.guid)).bytes_le]
    # Republish: new version, new name, other groups, no scan server — one entry, all replaced.
    process.display_name, process.allowed_groups, process.scan_server = (
        "Invoices 2",
        [OPERATORS, HELPERS],
        None,
    )
    process.save()
    second = ScanProcessVersionFactory(process=process, document_root_name="Second")
    d.publish(psp_of(process, second))
    copy = d.read_published(str(process.guid))
    assert copy is not None and copy.psp_xml == second.psp_xml and copy.display_name == "Invoices 2"
    assert copy.allowed_groups == {OPERATORS, HELPERS} and copy.server_name == ""
    assert len(root.search_s(CONTAINER, ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["1.1"])) == 1
    root.unbind_s()
    d.unpublish(process.guid)
    assert d.read_published(process.guid) is None
    d.unpublish(process.guid)  # already gone: no error


def test_drift_is_visible(config: Any, psp_slapd: services.Slapd) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=[ADMINS], version="published")
    d = OpenLDAPDirectory(config)
    d.publish(psp_of(process))
    tampered = process.published_version.psp_xml.replace("Scan", "Tampered")
    root_modify(
        psp_slapd,
        "CN=%s,%s" % (process.guid, CONTAINER),
        [(ldap.MOD_REPLACE, "msImaging-PSPString", [tampered.encode()])],
    )
    copy = d.read_published(process.guid)
    assert copy is not None and copy.psp_xml == tampered != process.published_version.psp_xml


def test_failed_writes_leave_the_previous_copy(config: Any, psp_slapd: services.Slapd) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=[ADMINS], version="published")
    d = OpenLDAPDirectory(config)
    d.publish(psp_of(process))
    before = d.read_published(process.guid)
    # One request changes the name, the groups and the PSP; the server refuses the PSP (too
    # long for msImaging-PSPString): nothing of the request is applied.
    process.display_name, process.allowed_groups = "Renamed", [OPERATORS]
    process.save()
    huge = ScanProcessVersion.objects.create(
        process=process, number=2, psp_xml=process.published_version.psp_xml + "<!--%s-->" % ("x" * 600_000)
    )
    with pytest.raises(PublishError, match="(?i)constraint"):
        d.publish(psp_of(process, huge))
    assert d.read_published(process.guid) == before
    # An unknown group is refused before anything is written.
    fresh = ScanProcessFactory(
        display_name="Fresh", allowed_groups=[ADMINS, "cn=ghosts,%s" % GROUPS_BASE], version="published"
    )
    with pytest.raises(PublishError, match="ghosts"):
        d.publish(psp_of(fresh))
    assert d.read_published(fresh.guid) is None
    # No directory at all.
    down = OpenLDAPDirectory(
        ldap_config(psp_slapd, uri="ldap://127.0.0.1:%d/" % services.free_port(), timeout=1)
    )
    with pytest.raises(PublishError, match="cannot be reached"):
        down.publish(psp_of(process))
    assert d.read_published(process.guid) == before


def test_users_groups_and_sids(config: Any) -> None:
    d = OpenLDAPDirectory(config)
    nick = d.find_user("nick")
    assert nick is not None and nick.dn == "uid=nick,ou=people,dc=example,dc=test"
    assert nick.groups == {HELPERS, ADMINS, ALL, "cn=staff,%s" % GROUPS_BASE}
    assert nick.email == "nick@example.test" and nick.display_name == "Nick Nested"
    # nick has no openDSMUserSid: a stable local identity, resolvable back.
    assert nick.sid.startswith("S-1-5-21-") and d.find_user("nick") == nick
    assert d.resolve_sid(nick.sid) == nick
    alice = d.find_user("alice")
    assert alice is not None and alice.sid == "S-1-5-21-1-2-3-1104"
    assert d.resolve_sid("s-1-5-21-1-2-3-1104") == alice
    assert d.resolve_sid("S-1-5-21-1-2-3-9999") is None
    assert d.find_user("ghost") is None and d.find_user("*") is None


def own_entry_sid(slapd: services.Slapd, username: str) -> str | None:
    """What a device bound as the user reads from the user's own entry."""
    conn = ldap.initialize(slapd.uri)
    dn = "uid=%s,ou=people,dc=example,dc=test" % username
    conn.simple_bind_s(dn, PASSWORDS[username])
    try:
        found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["openDSMUserSid"])
    finally:
        conn.unbind_s()
    values = found[0][1].get("openDSMUserSid") if found else None
    return values[0].decode() if values else None


def unstamp(slapd: services.Slapd, username: str) -> None:
    """Start from an entry without openDSMUserSid (an earlier test may have stamped it)."""
    if own_entry_sid(slapd, username) is not None:
        root_modify(
            slapd,
            "uid=%s,ou=people,dc=example,dc=test" % username,
            [(ldap.MOD_DELETE, "openDSMUserSid", None), (ldap.MOD_DELETE, "objectClass", [b"openDSMUser"])],
        )


def test_a_users_sid_is_stamped_on_the_entry_for_devices(config: Any, psp_slapd: services.Slapd) -> None:
    unstamp(psp_slapd, "oscar")
    assert own_entry_sid(psp_slapd, "oscar") is None
    d = OpenLDAPDirectory(config)
    oscar = d.find_user("oscar")
    assert oscar is not None and oscar.sid.startswith("S-1-5-21-")
    assert own_entry_sid(psp_slapd, "oscar") == oscar.sid  # a device bound as oscar reads it
    assert d.find_user("oscar") == oscar and d.resolve_sid(oscar.sid) == oscar


def test_without_write_access_the_sid_stays_in_the_database(psp_slapd: services.Slapd, db: None) -> None:
    unstamp(psp_slapd, "audrey")
    d = OpenLDAPDirectory(ldap_config(psp_slapd))  # the read-only service account
    audrey = d.find_user("audrey")
    assert audrey is not None and audrey.sid.startswith("S-1-5-21-")
    assert own_entry_sid(psp_slapd, "audrey") is None
    assert d.resolve_sid(audrey.sid) == audrey


def test_groups(config: Any) -> None:
    d = OpenLDAPDirectory(config)
    assert [g.name for g in d.search_groups("opendsm")] == [
        "opendsm-admins",
        "opendsm-auditors",
        "opendsm-operators",
    ]
    assert d.search_groups("helpers")[0].id == HELPERS
    assert len(d.search_groups("", limit=2)) == 2
    assert d.search_groups("*)(cn=*") == []
    assert d.group_exists(ADMINS) and d.group_exists(ADMINS.upper())
    assert not d.group_exists("cn=ghosts,%s" % GROUPS_BASE)
    assert not d.group_exists("uid=alice,ou=people,dc=example,dc=test")  # a user, not a group
    assert not d.group_exists("not a dn")


EXPECTED = {
    # user: processes whose allowed groups contain the user (nested membership included)
    "alice": {"P-admins", "P-all"},
    "nick": {"P-admins", "P-helpers", "P-all"},
    "oscar": {"P-ops", "P-all"},
    "audrey": {"P-ops"},
    "nora": set(),
}


def test_each_user_sees_exactly_their_processes(config: Any, psp_slapd: services.Slapd) -> None:
    d = OpenLDAPDirectory(config)
    processes = {
        name: ScanProcessFactory(display_name=name, allowed_groups=groups, version="published")
        for name, groups in (
            ("P-admins", [ADMINS]),
            ("P-ops", [OPERATORS, AUDITORS]),
            ("P-helpers", [HELPERS]),
            ("P-all", [ALL]),
            ("P-none", []),
        )
    }
    for process in processes.values():
        d.publish(psp_of(process))
    guid_of = {name: str(p.guid) for name, p in processes.items()}
    for user, expected in EXPECTED.items():
        assert ldapsearch_as(psp_slapd, user, PASSWORDS[user]) == expected, user
        assert d.processes_visible_to(user, PASSWORDS[user]) == sorted(guid_of[n] for n in expected), user
        found = d.find_user(user)
        assert found is not None
        assert {p.display_name for p in availability.usable_processes(found, None)} == expected, user
    # The reader service account is in no group: it sees no process either.
    with pytest.raises(InvalidCredentials):
        d.processes_visible_to("alice", "wrong")


def _schema_values(ldif: str) -> list[str]:
    unfolded = ldif.replace("\n ", "")
    return [
        line for line in unfolded.splitlines() if line.startswith(("olcAttributeTypes:", "olcObjectClasses:"))
    ]


def test_ldif_variant_matches_the_schema_file(tmp_path: Path) -> None:
    """directory/schema/opendsm.ldif (for cn=config) says what opendsm.schema says, as slaptest reads it."""
    conf = tmp_path / "slapd.conf"
    includes = ["core", "cosine", "inetorgperson"]
    conf.write_text(
        "".join("include /etc/ldap/schema/%s.schema\n" % n for n in includes) + "include %s\n" % SCHEMA
    )
    (tmp_path / "d").mkdir()
    subprocess.run(
        [services.which("slaptest"), "-f", str(conf), "-F", str(tmp_path / "d")],
        check=True,
        capture_output=True,
    )
    converted = (tmp_path / "d" / "cn=config" / "cn=schema" / "cn={3}opendsm.ldif").read_text()
    shipped = (ROOT / "directory" / "schema" / "opendsm.ldif").read_text()
    assert _schema_values(shipped) == _schema_values(converted) != []
    assert "dn: cn=opendsm,cn=schema,cn=config" in shipped
