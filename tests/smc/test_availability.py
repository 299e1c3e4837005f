"""scanprocesses.availability: the one answer to "may user U use process P on device D"."""

from __future__ import annotations

from typing import Any

import pytest

from devices.models import Device, DeviceGroup
from directory.base import DirectoryUser
from scanprocesses.availability import may_use, usable_processes
from scanprocesses.models import ProcessState
from tests.smc.directory_cases import make_process

FINANCE_DN = "CN=Scan Finance,CN=Users,DC=example,DC=test"


def user(name: str, *groups: str) -> DirectoryUser:
    return DirectoryUser(name, "S-1-5-21-1-2-3-1001", "", name, "", frozenset(groups))


@pytest.fixture
def floors(db: None) -> dict[str, Any]:
    first, second = (
        DeviceGroup.objects.create(name="First floor"),
        DeviceGroup.objects.create(name="Second floor"),
    )
    return {
        "first": Device.objects.create(endpoint_reference="urn:uuid:1", name="MFP-1", group=first),
        "second": Device.objects.create(endpoint_reference="urn:uuid:2", name="MFP-2", group=second),
        "loose": Device.objects.create(endpoint_reference="urn:uuid:3", name="MFP-3"),
        "first_group": first,
    }


def test_groups_decide(floors: dict[str, Any]) -> None:
    process = make_process("Invoices", ["Finance", FINANCE_DN])
    decision = may_use(user("alice", "Finance"), process, None)
    assert decision.allowed and bool(decision) and "Finance" in decision.reason
    # DNs compare without regard to case or spacing.
    assert may_use(user("alice", "cn=scan finance, cn=users,dc=EXAMPLE,dc=test"), process, floors["first"])
    refused = may_use(user("nora", "Staff"), process, None)
    assert not refused and "none of the groups" in refused.reason and "nora" in refused.reason


def test_unpublished_and_groupless_processes_are_refused(floors: dict[str, Any]) -> None:
    draft = make_process("Draft", ["Finance"], publish=False)
    assert "not published" in may_use(user("alice", "Finance"), draft, None).reason
    withdrawn = make_process("Withdrawn", ["Finance"])
    withdrawn.state = ProcessState.UNPUBLISHED
    withdrawn.save()
    assert not may_use(user("alice", "Finance"), withdrawn, None)
    nobody = make_process("Nobody", [])
    assert "allows no group" in may_use(user("alice", "Finance"), nobody, None).reason


def test_device_groups_restrict(floors: dict[str, Any]) -> None:
    process = make_process("First floor only", ["Finance"])
    process.allowed_device_groups.add(floors["first_group"])
    alice = user("alice", "Finance")
    assert may_use(alice, process, floors["first"]).allowed
    on_second = may_use(alice, process, floors["second"])
    assert not on_second and "Second floor" in on_second.reason
    loose = may_use(alice, process, floors["loose"])
    assert not loose and "in no group" in loose.reason
    assert may_use(alice, process, None).allowed  # no device: the group rule alone
    anywhere = make_process("Anywhere", ["Finance"])
    assert may_use(alice, anywhere, floors["loose"]).allowed


def test_usable_processes(floors: dict[str, Any]) -> None:
    first_only = make_process("B first floor", ["Finance"])
    first_only.allowed_device_groups.add(floors["first_group"])
    make_process("A everyone", ["Finance", "Staff"])
    make_process("C staff", ["Staff"])
    make_process("D draft", ["Finance"], publish=False)
    alice = user("alice", "Finance")
    assert [p.display_name for p in usable_processes(alice, floors["first"])] == [
        "A everyone",
        "B first floor",
    ]
    assert [p.display_name for p in usable_processes(alice, floors["second"])] == ["A everyone"]
    assert [p.display_name for p in usable_processes(user("sam", "staff"), None)] == ["A everyone", "C staff"]
    assert usable_processes(user("nora"), None) == []
