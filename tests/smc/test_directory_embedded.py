"""The embedded directory (no SMC_LDAP_URI): the database plays Active Directory's part."""

from __future__ import annotations

from typing import Any

import pytest

from directory import backends as directory
from directory.backends import EmbeddedDirectory, InvalidCredentials, PublishError
from tests.factories import (
    DirectoryIdentity,
    GroupFactory,
    ProcessState,
    ScanProcessFactory,
    ScanProcessVersionFactory,
    UserFactory,
)


@pytest.fixture
def people(db: None) -> dict[str, Any]:
    finance, everyone = GroupFactory(name="Finance"), GroupFactory(name="Everyone")
    return {
        name: UserFactory(username=name, groups=groups)
        for name, groups in (("alice", [finance, everyone]), ("bob", [everyone]), ("nora", []))
    }


def test_get_directory_is_embedded_without_ldap(settings: Any) -> None:
    assert isinstance(directory.get_directory(), EmbeddedDirectory)


def test_publish_read_back_and_unpublish(people: dict[str, Any]) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=["Finance"], version="draft")
    version = process.versions.get()
    d = EmbeddedDirectory()
    assert d.read_published(process.guid) is None
    d.publish(process, version)
    process.refresh_from_db()
    assert process.state == ProcessState.PUBLISHED and process.published_version == version
    copy = d.read_published(str(process.guid))
    assert copy is not None
    assert copy.psp_xml == version.psp_xml
    assert copy.display_name == "Invoices" and copy.allowed_groups == {"Finance"}
    d.unpublish(process)
    assert d.read_published(process.guid) is None
    assert process.state == ProcessState.UNPUBLISHED


def test_publish_refuses_unknown_group_and_foreign_version(people: dict[str, Any]) -> None:
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=["Finance", "Nobody"], version="draft"
    )
    other = ScanProcessFactory(display_name="Other", allowed_groups=["Finance"], version="draft")
    d = EmbeddedDirectory()
    with pytest.raises(PublishError, match="Nobody"):
        d.publish(process, process.versions.get())
    with pytest.raises(PublishError):
        d.publish(process, other.versions.get())
    process.refresh_from_db()
    assert process.state == ProcessState.DRAFT and d.read_published(process.guid) is None


def test_published_copy_is_the_version_not_the_draft(people: dict[str, Any]) -> None:
    process = ScanProcessFactory(display_name="Invoices", allowed_groups=["Finance"], version="published")
    first = process.published_version
    process.allowed_groups = ["Everyone"]
    process.save()
    second = ScanProcessVersionFactory(process=process, document_root_name="Changed")
    copy = EmbeddedDirectory().read_published(process.guid)
    assert copy is not None and copy.psp_xml == first.psp_xml and copy.allowed_groups == {"Finance"}
    EmbeddedDirectory().publish(process, second)
    copy = EmbeddedDirectory().read_published(process.guid)
    assert copy is not None and "Changed" in copy.psp_xml and copy.allowed_groups == {"Everyone"}


def test_users_sids_groups(people: dict[str, Any], settings: Any) -> None:
    d = EmbeddedDirectory()
    alice = d.find_user("alice")
    assert alice is not None and alice.groups == {"Finance", "Everyone"}
    assert alice.email == "alice@example.test"
    prefix = "S-1-5-21-%s-" % directory.directory_id()
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
    assert directory.directory_id() != prefix[9:-1]


def test_groups_search_and_exists(people: dict[str, Any]) -> None:
    d = EmbeddedDirectory()
    assert [g.id for g in d.search_groups("e")] == ["Everyone", "Finance"]
    assert [g.name for g in d.search_groups("fin")] == ["Finance"]
    assert d.search_groups("e", limit=1) == [directory.GroupRef("Everyone", "Everyone")]
    assert d.group_exists("Finance") and not d.group_exists("finance-typo")


def test_processes_visible_to(people: dict[str, Any]) -> None:
    p1 = ScanProcessFactory(display_name="Finance only", allowed_groups=["Finance"], version="published")
    p2 = ScanProcessFactory(display_name="Everybody", allowed_groups=["Everyone"], version="published")
    ScanProcessFactory(display_name="Nobody", allowed_groups=[], version="published")
    ScanProcessFactory(display_name="Draft", allowed_groups=["Everyone"], version="draft")
    d = EmbeddedDirectory()
    assert sorted(d.processes_visible_to("alice", "alice-pw1!")) == sorted([str(p1.guid), str(p2.guid)])
    assert d.processes_visible_to("bob", "bob-pw1!") == [str(p2.guid)]
    assert d.processes_visible_to("nora", "nora-pw1!") == []
    for user, password in (("alice", "wrong"), ("alice", ""), ("ghost", "x")):
        with pytest.raises(InvalidCredentials):
            d.processes_visible_to(user, password)
