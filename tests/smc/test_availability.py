"""scanprocesses.availability: the one answer to "may user U use process P on device D"."""

from __future__ import annotations

from typing import Any

import pytest

from directory.base import DirectoryUser
from scanprocesses.availability import may_use, usable_processes
from tests.factories import DeviceFactory, DeviceGroupFactory, ProcessState, ScanProcessFactory

FINANCE_DN = "CN=Scan Finance,CN=Users,DC=example,DC=test"


def user(name: str, *groups: str) -> DirectoryUser:
    return DirectoryUser(name, "S-1-5-21-1-2-3-1001", "", name, "", frozenset(groups))


@pytest.fixture
def floors(db: None) -> dict[str, Any]:
    first, second = (
        DeviceGroupFactory(name="First floor"),
        DeviceGroupFactory(name="Second floor"),
    )
    return {
        "first": DeviceFactory(name="MFP-1", group=first),
        "second": DeviceFactory(name="MFP-2", group=second),
        "loose": DeviceFactory(name="MFP-3"),
        "first_group": first,
    }


def test_groups_decide(floors: dict[str, Any]) -> None:
    process = ScanProcessFactory(
        display_name="Invoices", allowed_groups=["Finance", FINANCE_DN], version="published"
    )
    decision = may_use(user("alice", "Finance"), process, None)
    assert decision.allowed and bool(decision) and "Finance" in decision.reason
    # DNs compare without regard to case or spacing.
    assert may_use(user("alice", "cn=scan finance, cn=users,dc=EXAMPLE,dc=test"), process, floors["first"])
    refused = may_use(user("nora", "Staff"), process, None)
    assert not refused and "none of the groups" in refused.reason and "nora" in refused.reason


def test_unpublished_and_groupless_processes_are_refused(floors: dict[str, Any]) -> None:
    draft = ScanProcessFactory(display_name="Draft", allowed_groups=["Finance"], version="draft")
    assert "not published" in may_use(user("alice", "Finance"), draft, None).reason
    withdrawn = ScanProcessFactory(display_name="Withdrawn", allowed_groups=["Finance"], version="published")
    withdrawn.state = ProcessState.UNPUBLISHED
    withdrawn.save()
    assert not may_use(user("alice", "Finance"), withdrawn, None)
    nobody = ScanProcessFactory(display_name="Nobody", allowed_groups=[], version="published")
    assert "allows no group" in may_use(user("alice", "Finance"), nobody, None).reason


def test_device_groups_restrict(floors: dict[str, Any]) -> None:
    process = ScanProcessFactory(
        display_name="First floor only", allowed_groups=["Finance"], version="published"
    )
    process.allowed_device_groups.add(floors["first_group"])
    alice = user("alice", "Finance")
    assert may_use(alice, process, floors["first"]).allowed
    on_second = may_use(alice, process, floors["second"])
    assert not on_second and "Second floor" in on_second.reason
    loose = may_use(alice, process, floors["loose"])
    assert not loose and "in no group" in loose.reason
    assert may_use(alice, process, None).allowed  # no device: the group rule alone
    anywhere = ScanProcessFactory(display_name="Anywhere", allowed_groups=["Finance"], version="published")
    assert may_use(alice, anywhere, floors["loose"]).allowed


def test_usable_processes(floors: dict[str, Any]) -> None:
    first_only = ScanProcessFactory(
        display_name="B first floor", allowed_groups=["Finance"], version="published"
    )
    first_only.allowed_device_groups.add(floors["first_group"])
    ScanProcessFactory(display_name="A everyone", allowed_groups=["Finance", "Staff"], version="published")
    ScanProcessFactory(display_name="C staff", allowed_groups=["Staff"], version="published")
    ScanProcessFactory(display_name="D draft", allowed_groups=["Finance"], version="draft")
    alice = user("alice", "Finance")
    assert [p.display_name for p in usable_processes(alice, floors["first"])] == [
        "A everyone",
        "B first floor",
    ]
    assert [p.display_name for p in usable_processes(alice, floors["second"])] == ["A everyone"]
    assert [p.display_name for p in usable_processes(user("sam", "staff"), None)] == ["A everyone", "C staff"]
    assert usable_processes(user("nora"), None) == []
