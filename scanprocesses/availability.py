"""May user U use scan process P on device D — the one answer, for console, scan server and panel.

DESIGN.md decision 6 and PROTOCOL.md §6 ("which scan processes are available to a user"): the
directory shows a PSP to a user through the process's allowed groups (nested membership
counts); OpenDSM adds one restriction of its own, the device groups a process may be used from.
The rules, in order, each with the reason shown to people when it fails:

1. the process is published (state ``published`` with a published version);
2. the user's groups (nested closure, ``DirectoryUser.groups``) meet ``process.allowed_groups``;
3. if the process names device groups, the device is in one of them (no device: not checked,
   e.g. the console asking "which processes could this user use anywhere").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from directory.base import DirectoryUser, normalize_group_id

if TYPE_CHECKING:
    from devices.models import Device
    from scanprocesses.models import ScanProcess


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _device_group_ids(process: ScanProcess) -> set[int]:
    # Uses a prefetched relation when the caller prefetched it (usable_processes does).
    return {group.pk for group in process.allowed_device_groups.all()}


def may_use(user: DirectoryUser, process: ScanProcess, device: Device | None) -> Decision:
    from scanprocesses.models import ProcessState

    if process.state != ProcessState.PUBLISHED or process.published_version_id is None:
        return Decision(False, "“%s” is not published" % process.display_name)
    allowed = {normalize_group_id(g) for g in process.allowed_groups}
    if not allowed:
        return Decision(False, "“%s” allows no group" % process.display_name)
    mine = {normalize_group_id(g) for g in user.groups}
    if not allowed & mine:
        return Decision(
            False, "%s is in none of the groups allowed to use “%s”" % (user.username, process.display_name)
        )
    device_groups = _device_group_ids(process)
    if device and device_groups:
        if device.group_id is None:
            return Decision(
                False,
                "“%s” may only be used from certain device groups and %s is in no group"
                % (process.display_name, device.name),
            )
        if device.group_id not in device_groups:
            return Decision(
                False,
                "“%s” may not be used from devices of group “%s”" % (process.display_name, device.group),
            )
    matched = sorted(g for g in process.allowed_groups if normalize_group_id(g) in mine)
    where = " on %s" % device.name if device is not None else ""
    return Decision(
        True,
        "%s may use “%s”%s through %s" % (user.username, process.display_name, where, ", ".join(matched)),
    )


def usable_processes(user: DirectoryUser, device: Device | None) -> list[ScanProcess]:
    """The published processes ``user`` may use on ``device``, ordered by display name."""
    from scanprocesses.models import ProcessState, ScanProcess

    candidates = (
        ScanProcess.objects.filter(state=ProcessState.PUBLISHED)
        .exclude(published_version=None)
        .select_related("published_version")
        .prefetch_related("allowed_device_groups")
        .order_by("display_name")
    )
    return [process for process in candidates if may_use(user, process, device)]
