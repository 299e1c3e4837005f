"""The embedded directory (no SMC_LDAP_URI): the database plays Active Directory's part."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from directory import backends as directory
from directory.backends import EmbeddedDirectory
from directory.base import GroupRef, InvalidCredentials, PSPObject, PublishError
from directory.identity import directory_id
from directory.models import DirectoryIdentity, PublishedPSP
from scanprocesses.models import ProcessState
from tests.factories import ScanProcessFactory, ScanProcessVersionFactory, psp_of


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    finance, everyone = Group.objects.create(name="Finance"), Group.objects.create(name="Everyone")
    users = {}
    for name, groups in (("alice", [finance, everyone]), ("bob", [everyone]), ("nora", [])):
        user = User.objects.create_user(name, "%s@example.test" % name, "%s-pw1!" % name)
        user.groups.set(groups)
        users[name] = user
    return users


def test_get_directory_is_embedded_without_ldap(settings: Any) -> None:
    assert isinstance(directory.get_directory(), EmbeddedDirectory)


def published(name: str, groups: list[str]) -> Any:
    """A process published in the database and in the embedded directory."""
    process = ScanProcessFactory(display_name=name, allowed_groups=groups, version="published")
    EmbeddedDirectory().publish(psp_of(process))
    return process


def test_publish_read_back_and_unpublish(people: dict[str, Any]) -> None:
    from devices.models import ScanServer

    server = ScanServer.objects.create(name="s1", fqdn="scan1.example.test")
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=["Finance"], version="draft", scan_server=server
    )
    version = process.versions.get()
    d = EmbeddedDirectory()
    assert d.read_published(process.guid) is None
    d.publish(psp_of(process, version))
    # The directory wrote its own row and nothing of the process: its state is the model's.
    row = PublishedPSP.objects.get(guid=process.guid)
    assert (row.display_name, row.psp_xml, row.allowed_groups, row.server_name) == (
        "Invoices",
        version.psp_xml,
        ["Finance"],
        "scan1.example.test",
    )
    process.refresh_from_db()
    assert process.state == ProcessState.DRAFT and process.published_version is None
    copy = d.read_published(str(process.guid))
    assert copy is not None
    assert copy.psp_xml == version.psp_xml
    assert copy.display_name == "Invoices" and copy.allowed_groups == {"Finance"}
    assert copy.guid == str(process.guid) and copy.server_name == "scan1.example.test"
    d.unpublish(process.guid)
    assert d.read_published(process.guid) is None
    assert not PublishedPSP.objects.filter(guid=process.guid).exists()
    process.refresh_from_db()
    assert process.state == ProcessState.DRAFT
    d.unpublish(str(process.guid))  # already gone: no error


def test_publish_refuses_unknown_group(people: dict[str, Any]) -> None:
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=["Finance", "Nobody"], version="draft"
    )
    d = EmbeddedDirectory()
    with pytest.raises(PublishError, match="Nobody"):
        d.publish(psp_of(process, process.versions.get()))
    assert d.read_published(process.guid) is None and not PublishedPSP.objects.exists()
    # A plain object names everything the directory writes; no process needs to exist.
    obj = PSPObject(guid=str(process.guid), display_name="Bare", psp_xml="<x/>", allowed_groups=("Nobody",))
    with pytest.raises(PublishError, match="Nobody"):
        d.publish(obj)
    assert not PublishedPSP.objects.exists()


def test_published_copy_is_the_version_not_the_draft(people: dict[str, Any]) -> None:
    process = published("Invoices", ["Finance"])
    first = process.published_version
    process.allowed_groups = ["Everyone"]
    process.save()
    second = ScanProcessVersionFactory(process=process, document_root_name="Changed")
    copy = EmbeddedDirectory().read_published(process.guid)
    assert copy is not None and copy.psp_xml == first.psp_xml and copy.allowed_groups == {"Finance"}
    EmbeddedDirectory().publish(psp_of(process, second))
    copy = EmbeddedDirectory().read_published(process.guid)
    assert copy is not None and "Changed" in copy.psp_xml and copy.allowed_groups == {"Everyone"}
    assert PublishedPSP.objects.filter(guid=process.guid).count() == 1


def test_users_sids_groups(people: dict[str, Any], settings: Any) -> None:
    d = EmbeddedDirectory()
    alice = d.find_user("alice")
    assert alice is not None and alice.groups == {"Finance", "Everyone"}
    assert alice.email == "alice@example.test"
    prefix = "S-1-5-21-%s-" % directory_id()
    assert alice.sid == prefix + str(1000 + people["alice"].pk)
    assert DirectoryIdentity.objects.get(user=people["alice"]).sid == alice.sid
    assert d.find_user("alice") == alice  # stable
    assert d.resolve_sid(alice.sid) == alice
    # A SID of our form for a user not seen yet resolves by its RID, and is then stored.
    bob_sid = prefix + str(1000 + people["bob"].pk)
    bob = d.resolve_sid(bob_sid)
    assert bob is not None and bob.username == "bob" and bob.sid == bob_sid
    assert d.resolve_sid(prefix + "999999") is None
    assert d.resolve_sid("S-1-5-21-1-2-3-%d" % (1000 + people["nora"].pk)) is None
    assert d.find_user("nobody") is None
    # The directory id is stable for a secret key and changes with it.
    settings.SECRET_KEY = "another key"
    assert directory_id() != prefix[9:-1]


def test_groups_search_and_exists(people: dict[str, Any]) -> None:
    d = EmbeddedDirectory()
    assert [g.id for g in d.search_groups("e")] == ["Everyone", "Finance"]
    assert [g.name for g in d.search_groups("fin")] == ["Finance"]
    assert d.search_groups("e", limit=1) == [GroupRef("Everyone", "Everyone")]
    assert d.group_exists("Finance") and not d.group_exists("finance-typo")


def test_processes_visible_to(people: dict[str, Any]) -> None:
    p1 = published("Finance only", ["Finance"])
    p2 = published("Everybody", ["Everyone"])
    published("Nobody", [])
    ScanProcessFactory(
        display_name="Published in the database only", allowed_groups=["Everyone"], version="published"
    )
    ScanProcessFactory(display_name="Draft", allowed_groups=["Everyone"], version="draft")
    d = EmbeddedDirectory()
    assert sorted(d.processes_visible_to("alice", "alice-pw1!")) == sorted([str(p1.guid), str(p2.guid)])
    assert d.processes_visible_to("bob", "bob-pw1!") == [str(p2.guid)]
    assert d.processes_visible_to("nora", "nora-pw1!") == []
    for user, password in (("alice", "wrong"), ("alice", ""), ("ghost", "x")):
        with pytest.raises(InvalidCredentials):
            d.processes_visible_to(user, password)
