"""The folder destination's file modes and its temporaries (``scanprocesses.destinations.folder``):
delivered files and the folders it creates get the configured modes, existing folders keep theirs,
and a ``.part`` left by a killed delivery is removed by a later delivery to the same folder, while
one that is in flight is not."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from scanprocesses.destinations import Credentials
from scanprocesses.destinations import folder as folder_kind


@dataclass(frozen=True)
class Built:
    name: str
    path: str
    sha256: str
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class Job:
    user_name: str = "alice"
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    user_sid: str = ""
    document_root_name: str = "scan"


@dataclass(frozen=True)
class Attempt:
    pk: int = 1
    job: Job = field(default_factory=Job)


def built(spool: Path, name: str, data: bytes) -> Built:
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / ("%s.built" % uuid.uuid4().hex)
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return Built(name=name, path=str(path), sha256=hashlib.sha256(data).hexdigest())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.fixture(params=["hard-link", "copy"])
def spool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A spool on the destination's file system (delivered by hard link) or on another one
    (/dev/shm, a tmpfs: delivered by copy)."""
    if request.param == "hard-link":
        yield tmp_path / "spool"
        return
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to copy from")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        yield Path(other)


def test_delivered_files_and_created_folders_get_the_default_modes(spool: Path, tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    os.chmod(root, 0o700)  # an existing folder keeps its mode
    doc = built(spool, "scan.pdf", b"%PDF-1.7 delivered")
    config = {"path": str(root), "subfolder": "dept/inbox", "per_user": True}

    [receipt] = folder_kind.deliver(Attempt(), [doc], config, Credentials())

    final = Path(receipt["where"])
    assert final == root / "dept" / "inbox" / "alice" / "scan.pdf"
    assert final.read_bytes() == b"%PDF-1.7 delivered"
    assert mode(final) == 0o640
    for created in (root / "dept", root / "dept" / "inbox", root / "dept" / "inbox" / "alice"):
        assert mode(created) == 0o750, created
    assert mode(root) == 0o700
    assert parts(final.parent) == []


def test_created_folders_keep_the_setgid_bit_of_a_setgid_share(tmp_path: Path) -> None:
    share = tmp_path / "share"
    share.mkdir()
    os.chmod(share, 0o2770)
    doc = built(tmp_path / "spool", "scan.pdf", b"%PDF-1.7 group")
    [receipt] = folder_kind.deliver(Attempt(), [doc], {"path": str(share), "subfolder": "a/b"}, Credentials())
    for created in (share / "a", share / "a" / "b"):
        assert stat.S_IMODE(created.stat().st_mode) == 0o2750, created
        assert created.stat().st_gid == share.stat().st_gid
    assert mode(Path(receipt["where"])) == 0o640


def test_the_modes_come_from_the_settings(spool: Path, tmp_path: Path, settings: Any) -> None:
    settings.SCANSERVER_DELIVERED_FILE_MODE = 0o604
    settings.SCANSERVER_DELIVERED_DIR_MODE = 0o711
    old_umask = os.umask(0o077)  # the modes are set, not left to the umask
    try:
        doc = built(spool, "scan.pdf", b"%PDF-1.7 custom")
        [receipt] = folder_kind.deliver(Attempt(), [doc], {"path": str(tmp_path / "new")}, Credentials())
    finally:
        os.umask(old_umask)
    assert mode(Path(receipt["where"])) == 0o604
    assert mode(tmp_path / "new") == 0o711


def test_a_part_left_by_a_killed_delivery_goes_with_the_next_one(
    spool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "share"
    target.mkdir()
    # What a kill between making the temporary and removing it leaves: the temporary itself,
    # made the way deliver makes it (a link to the built document, or a copy of it).
    first = built(spool, "first.pdf", b"%PDF-1.7 first")
    source = Path(first.path)
    leftover = folder_kind._link_to_temp(source, target) or folder_kind._copy_to_temp(source, target)
    assert parts(target) == [leftover.name]
    unrelated = target / "notes.part"  # not one of ours: never touched
    unrelated.write_text("mine")

    # Right away it may be another delivery's, in flight: a delivery leaves it alone.
    second = built(spool, "second.pdf", b"%PDF-1.7 second")
    folder_kind.deliver(Attempt(), [second], {"path": str(target)}, Credentials())
    assert leftover.exists()

    # An hour later it is stale: the next delivery to the folder removes it.
    later = time.time() + folder_kind.STALE_PART_SECONDS + 1
    monkeypatch.setattr(folder_kind, "time", SimpleNamespace(time=lambda: later))
    third = built(spool, "third.pdf", b"%PDF-1.7 third")
    folder_kind.deliver(Attempt(), [third], {"path": str(target)}, Credentials())
    assert not leftover.exists()
    assert parts(target) == ["notes.part"]
    assert sorted(p.name for p in target.iterdir()) == ["notes.part", "second.pdf", "third.pdf"]
    assert source.exists()  # removing the stale link does not touch the built document
