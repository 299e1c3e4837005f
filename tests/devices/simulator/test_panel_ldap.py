"""The panel's LDAP sign-in against a real slapd with OpenDSM's schema and ACL (DIR's layout):
bound as the user, the panel lists what the directory lets that user read, then OpenDSM's
device-group rule (scanprocesses.availability.may_use, injected by smc.simulation); the SID is
openDSMUserSid or the local identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import pytest

from devices.simulator.panel_directory import BadCredentials, DirectoryUnavailable
from devices.simulator.panel_ldap import LDAPPanelDirectory, PanelLDAPConfig
from tests import services
from tests.conftest import GROUPS_BASE, PASSWORDS, ldap_config, use_directory

ROOT = Path(__file__).resolve().parents[3]
WRITER_DN = "cn=smc-writer,ou=services,dc=example,dc=test"
WRITER_PW = "smc-writer-pw1!"
CONTAINER = "cn=PSPs,cn=System,%s" % services.SUFFIX
ADMINS = "cn=opendsm-admins,%s" % GROUPS_BASE
OPERATORS = "cn=opendsm-operators,%s" % GROUPS_BASE
ALL = "cn=all-scanners,%s" % GROUPS_BASE
ENDPOINT = "urn:uuid:5a3c1e0e-3d0b-4e0f-9d1e-2b8f6f0c0a11"


@pytest.fixture(scope="module")
def psp_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Slapd]:
    acl = (ROOT / "directory" / "schema" / "opendsm-acl.conf").read_text()
    acl = acl.replace("BASE_DN", services.SUFFIX).replace("WRITER_DN", WRITER_DN)
    server = services.start_slapd(
        tmp_path_factory.mktemp("panel-slapd"),
        extra_schemas=(ROOT / "directory" / "schema" / "opendsm.schema",),
        extra_acl=acl,
    )
    try:
        server.ldapmodify((services.HERE / "ldap" / "psp-directory.ldif").read_text())
        yield server
    finally:
        server.stop()


@pytest.fixture
def published(psp_slapd: services.Slapd, settings: Any, transactional_db: None) -> Any:
    from directory.ldapdirectory import OpenLDAPDirectory
    from scanprocesses.authoring import psp_object
    from tests.factories import DeviceFactory, DeviceGroupFactory, ScanProcessFactory

    root = ldap.initialize(psp_slapd.uri)
    root.simple_bind_s(services.ROOT_DN, services.ROOT_PW)
    try:
        for dn, _attrs in root.search_s(CONTAINER, ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["1.1"]):
            root.delete_s(dn)
    except ldap.NO_SUCH_OBJECT:
        pass
    root.unbind_s()
    config = ldap_config(psp_slapd, write_bind_dn=WRITER_DN, write_bind_password=WRITER_PW)
    use_directory(settings, config)
    DeviceFactory(endpoint_reference=ENDPOINT, name="Lobby MFP")
    basement = DeviceGroupFactory(name="Basement")
    directory = OpenLDAPDirectory(config)
    for name, groups in (
        ("P-admins", [ADMINS]),
        ("P-all", [ALL]),
        ("P-ops", [OPERATORS]),
        ("P-basement", [ALL]),
    ):
        process = ScanProcessFactory(display_name=name, allowed_groups=groups, version="published")
        if name == "P-basement":
            process.allowed_device_groups.set([basement])
        directory.publish(psp_object(process, process.published_version))
    return config


def panel_directory(config: Any) -> LDAPPanelDirectory:
    from smc.simulation import django_availability, ldap_sid_fallback, panel_ldap_config

    return LDAPPanelDirectory(
        panel_ldap_config(config), availability=django_availability(ENDPOINT), sid_fallback=ldap_sid_fallback
    )


@pytest.mark.ldap
def test_alice_sees_what_the_directory_shows_her_minus_the_device_group_rule(published: Any) -> None:
    from tests.factories import ScanProcess

    user = panel_directory(published).sign_in("alice", PASSWORDS["alice"])
    assert user.sid == "S-1-5-21-1-2-3-1104"  # openDSMUserSid, read bound as alice
    assert [p.display_name for p in user.processes] == ["P-admins", "P-all"]
    for item in user.processes:
        process = ScanProcess.objects.get(guid=item.guid)
        assert item.psp_xml.decode() == process.published_version.psp_xml
    # Without OpenDSM's rule the directory's own answer includes the device-group-bound process.
    from smc.simulation import panel_ldap_config

    bare = LDAPPanelDirectory(panel_ldap_config(published)).sign_in("alice", PASSWORDS["alice"])
    assert [p.display_name for p in bare.processes] == ["P-admins", "P-all", "P-basement"]


@pytest.mark.ldap
def test_other_users_and_a_wrong_password(published: Any) -> None:
    from directory.backends import get_directory

    directory = panel_directory(published)
    oscar = directory.sign_in("oscar", PASSWORDS["oscar"])
    assert [p.display_name for p in oscar.processes] == ["P-all", "P-ops"]
    found = get_directory().find_user("oscar")
    assert found is not None and oscar.sid == found.sid  # no openDSMUserSid: the local identity
    assert directory.sign_in("nora", PASSWORDS["nora"]).processes == ()
    with pytest.raises(BadCredentials):
        directory.sign_in("alice", "wrong")
    with pytest.raises(BadCredentials):
        directory.sign_in("nobody", "whatever")
    with pytest.raises(BadCredentials):
        directory.sign_in("alice", "")  # never an anonymous bind


@pytest.mark.ldap
def test_for_device_picks_ldap_when_the_directory_is_configured(published: Any) -> None:
    from smc.simulation import panel_services

    directory = panel_services().directory_for(ENDPOINT)
    assert isinstance(directory, LDAPPanelDirectory)


@pytest.mark.ldap
def test_the_command_line_without_django_signs_in_with_its_ldap_options(
    published: Any, tmp_path: Path
) -> None:
    """``python -m devices.simulator --ldap-*``: the same bound-as-user sign-in, without OpenDSM's rule."""
    from devices.simulator import run
    from devices.simulator.panel_ldap import services_from_args

    password = tmp_path / "bind-password"
    password.write_text(published.bind_password + "\n")
    args = run.build_parser().parse_args(
        [
            "--ldap-uri",
            published.uri,
            "--ldap-flavor",
            "openldap",
            "--ldap-user-base",
            published.user_base,
            "--ldap-user-attr",
            published.user_attr,
            "--ldap-bind-dn",
            published.bind_dn,
            "--ldap-bind-password-file",
            str(password),
        ]
    )
    services = services_from_args(args)
    assert services is not None and services.resolve_server is None
    directory = services.directory_for(ENDPOINT)
    assert directory.description == published.uri
    user = directory.sign_in("alice", PASSWORDS["alice"])
    assert user.sid == "S-1-5-21-1-2-3-1104"
    assert [p.display_name for p in user.processes] == ["P-admins", "P-all", "P-basement"]
    with pytest.raises(BadCredentials):
        directory.sign_in("alice", "wrong")


def test_unreachable_directory_is_a_message() -> None:
    config = PanelLDAPConfig(
        uri="ldap://127.0.0.1:%d" % services.free_port(),
        flavor="openldap",
        bind_dn="cn=reader,dc=example,dc=test",
        bind_password="x",
        user_base="dc=example,dc=test",
        user_attr="uid",
        timeout=1,
    )
    with pytest.raises(DirectoryUnavailable, match="cannot be reached"):
        LDAPPanelDirectory(config).sign_in("alice", "secret")
