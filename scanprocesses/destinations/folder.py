"""Local or mounted folder destination (OpenDSM dialect :data:`DIALECT`, ``odsm:FolderConfig``).

``config``: ``{"path": "/srv/scans", "subfolder": "optional/relative", "per_user": false}``.
Every document is written to a temporary file in the target folder, fsync'd (or, on the spool's
file system, hard-linked there from the built document, already fsync'd), then linked to its
final name with ``os.link`` — atomic and never overwriting (a name that is taken fails with
EEXIST and the next `` (n)`` suffix is tried). The target is resolved (symlinks too) and must lie
under the configured root, so neither a subfolder, a user name nor a document name can lead
outside it. A device cannot change the folder (its instructions carry no path).

Modes: a delivered file gets ``settings.SCANSERVER_DELIVERED_FILE_MODE`` (``SMC_DELIVERED_FILE_MODE``,
0640: readable by the folder's group) before it takes its final name, and each folder this module
creates gets ``SCANSERVER_DELIVERED_DIR_MODE`` (0750); folders that exist keep theirs. (A hard link
shares its inode with the built document in the spool, so that file gets the mode too; the spool
directory is the scan server's own.)

Temporaries are ``.opendsm-<random>.part``. A process killed between making one and removing it
leaves it behind; each delivery to a folder first removes those whose inode has not changed for
:data:`STALE_PART_SECONDS` (an hour): linking, writing and chmod all touch the ctime, so one that
another delivery has in flight is never that old.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import posixpath
import stat
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings

from core.testhooks import test_pause
from devices.protocols import psp
from scanprocesses.destinations.base import (
    ACCESS_DENIED_FILESHARE,
    INVALID_ARGS,
    OUT_OF_SPACE_FILESHARE,
    PART_PREFIX,
    PART_SUFFIX,
    STALE_PART_SECONDS,
    TARGETS,
    UNKNOWN_ERROR,
    Credentials,
    Delivery,
    DeliveryError,
    Document,
    Receipt,
    free_name,
    invalid,
    is_part_name,
    odsm_instructions,
    odsm_values,
    one_target,
    part_name,
    receipt,
    sha256_file,
    targets_field,
)

log = logging.getLogger(__name__)

DIALECT = psp.DIALECT_FOLDER
NEEDS_CREDENTIAL = False  # importing a PSP brings no credential; this kind needs none
SERIAL_TESTS = False  # test writes may run alongside others

FIELDS: dict[str, forms.Field] = {
    TARGETS: targets_field("Folder", "a folder path"),
}


def initial(config: dict[str, Any]) -> dict[str, Any]:
    """The form values showing ``config`` (the inverse of :func:`clean_config`)."""
    return {TARGETS: str(config.get("path", ""))}


def clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the form's cleaned ``data``; ValidationError next to the field otherwise."""
    path = one_target(data, "a local folder destination needs exactly one path")
    if not path.startswith("/") or ".." in path.split("/") or "\x00" in path:
        raise invalid("the folder must be an absolute path without '..'")
    return {"path": posixpath.normpath(path)}


def to_filter(config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    return psp.UnknownFilter(
        dialect=DIALECT, raw=odsm_instructions("FolderConfig", [("Path", str(config.get("path", "")))])
    )


def from_filter(item: psp.AnyFilter) -> dict[str, Any]:
    return {"path": odsm_values(item, "FolderConfig").get("Path", "")}


def apply_instructions(config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    return dict(config)  # the folder is the process's: a device does not choose it


def target_text(config: dict[str, Any]) -> str:
    return str(config.get("path", ""))


def describe(config: dict[str, Any]) -> str:
    return target_text(config)


def _error(exc: OSError, what: str) -> DeliveryError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DeliveryError("%s: permission denied (%s)" % (what, exc), ACCESS_DENIED_FILESHARE)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DeliveryError("%s: out of disk space (%s)" % (what, exc), OUT_OF_SPACE_FILESHARE)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return DeliveryError("%s: folder not found (%s)" % (what, exc), ACCESS_DENIED_FILESHARE)
    return DeliveryError("%s: %s" % (what, exc), UNKNOWN_ERROR)


def target_dir(config: dict[str, Any], user: str = "") -> tuple[Path, Path]:
    """``(root, folder)``: the resolved configured root and the folder inside it to write to."""
    raw = str(config.get("path") or "")
    if not raw or not os.path.isabs(raw):
        raise DeliveryError("folder destination needs an absolute 'path'", INVALID_ARGS, retryable=False)
    root = Path(raw).resolve()
    folder = root
    sub = str(config.get("subfolder") or "")
    if sub:
        folder = folder / sub
    if config.get("per_user") and user:
        from scanprocesses.naming import sanitize_component

        folder = folder / (sanitize_component(user).strip(". ") or "_")
    folder = folder.resolve()
    if not folder.is_relative_to(root):
        raise DeliveryError(
            "folder %s lies outside the destination root %s" % (folder, root), INVALID_ARGS, False
        )
    return root, folder


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_folders(folder: Path) -> None:
    """``folder`` and any missing parents, each created with the delivered-folder mode (chmod
    after mkdir: the umask would take bits off the mode given to mkdir)."""
    missing: list[Path] = []
    at = folder
    while not at.exists():
        missing.append(at)
        at = at.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another delivery made it meanwhile: it is not ours to chmod
            continue
        # Keep the setgid bit a folder inherits from a setgid parent (chmod would clear it): it
        # is what gives files and folders below the share's group.
        inherited = path.stat().st_mode & stat.S_ISGID
        os.chmod(path, settings.SCANSERVER_DELIVERED_DIR_MODE | inherited)


def sweep_stale_parts(folder: Path) -> list[str]:
    """Remove the temporaries a killed delivery left in ``folder``; the names removed. Best effort:
    a temporary that cannot be removed is logged and left, never a reason to fail a delivery."""
    cutoff = time.time() - STALE_PART_SECONDS
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_part_name(entry.name):
                continue
            try:
                # ctime, not mtime: a hard link keeps the built document's mtime, but linking
                # (and the chmod after it) sets the ctime to now.
                if (
                    not entry.is_file(follow_symlinks=False)
                    or entry.stat(follow_symlinks=False).st_ctime > cutoff
                ):
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:  # another delivery swept it first
                continue
            except OSError as exc:
                log.warning("cannot remove stale temporary %s: %s", entry.path, exc)
                continue
            removed.append(entry.name)
    if removed:
        log.warning(
            "removed %d stale temporary file(s) from %s: %s", len(removed), folder, ", ".join(removed)
        )
    return removed


def _copy_to_temp(src: Path, folder: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=PART_PREFIX, suffix=PART_SUFFIX, dir=folder)
    try:
        os.fchmod(fd, settings.SCANSERVER_DELIVERED_FILE_MODE)
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            while block := inp.read(1 << 20):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _link_to_temp(src: Path, folder: Path) -> Path | None:
    """A second name for ``src`` in ``folder`` (hard link: no bytes copied, the data is already
    fsync'd by the build), or None when the folder is on another file system or has no links."""
    tmp = folder / part_name()
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK, errno.EACCES):
            return None
        raise
    try:
        os.chmod(tmp, settings.SCANSERVER_DELIVERED_FILE_MODE)
    except OSError:
        os.unlink(tmp)
        raise
    return tmp


def _place(tmp: Path, folder: Path, root: Path, name: str, sha256: str) -> tuple[Path, bool]:
    """Link ``tmp`` under the first free name; ``(final, already_there)``."""

    def exists_with(candidate: str) -> str | None:
        path = folder / candidate
        if not path.exists():
            return None
        try:
            return sha256_file(path)
        except OSError:
            return ""

    for _ in range(100):  # another writer may take a free name between the check and the link
        chosen, already = free_name(name, exists_with, sha256)
        final = (folder / chosen).resolve()
        if final.parent != folder or not final.is_relative_to(root):
            raise DeliveryError("document name %r leaves the destination folder" % name, INVALID_ARGS, False)
        if already:
            return final, True
        try:
            os.link(tmp, final)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # A mounted file system without hard links: fall back to a checked rename.
            if final.exists():
                continue
            os.rename(tmp, final)
        return final, False
    raise DeliveryError("no free file name for %s in %s" % (name, folder), UNKNOWN_ERROR)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def deliver(
    delivery: Delivery, outputs: Sequence[Document], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    root, folder = target_dir(config, delivery.job.user_name)
    receipts: list[Receipt] = []
    try:
        _make_folders(folder)
        sweep_stale_parts(folder)
        for output in outputs:
            test_pause("deliver")
            source = Path(output.path)
            tmp = _link_to_temp(source, folder) or _copy_to_temp(source, folder)
            try:
                final, already = _place(tmp, folder, root, output.name, output.sha256)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            _fsync_dir(folder)
            size = final.stat().st_size
            # A hard link to the built document is its very bytes (hashed when built); anything
            # else (a copy, a file found there) is read back and checked.
            sha = output.sha256 if _same_file(final, source) else sha256_file(final)
            if sha != output.sha256:
                raise DeliveryError(
                    "%s was written but reads back with sha256 %s" % (final, sha), UNKNOWN_ERROR
                )
            log.info("delivered %s to %s%s", output.name, final, " (already there)" if already else "")
            receipts.append(receipt(output.name, str(final), size, sha, True))
    except OSError as exc:
        raise _error(exc, str(folder)) from exc
    return receipts


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
    _root, folder = target_dir(config)
    probe = folder / (".opendsm-test-%s" % uuid.uuid4().hex)
    try:
        _make_folders(folder)
        with probe.open("xb") as fh:
            fh.write(b"OpenDSM destination test\n")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        raise _error(exc, str(folder)) from exc
    return "wrote and removed a test file in %s" % folder
