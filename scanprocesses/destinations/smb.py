"""SMB file share destination (psp ``fsf:FileShareConfig``), with smbprotocol.

``config``: ``{"uncs": ["\\\\server\\share\\folder", ...], "port": 445}`` — the device's
instructions (``fsf:ShareUNC``) may replace ``uncs`` where the process allows it. Credentials are
the destination's username (``DOMAIN\\user`` or ``user``) and password.

Each document is written to a hidden temporary file in the target folder and renamed to its
final name; SMB rename does not replace an existing file, so a taken name fails and the next
`` (n)`` suffix is tried — never an overwrite. A file already there with our sha256 is ours from
an earlier attempt. Every delivered file is read back and its sha256 compared (``verified``).
A temporary a killed delivery left behind is removed by the next delivery to that folder once it
has been untouched for an hour (``base.STALE_PART_SECONDS``, by the server's clock).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import smbclient
from django import forms
from smbprotocol import exceptions as smbexc

from devices.protocols import psp
from scanprocesses.destinations.base import (
    ACCESS_DENIED_FILESHARE,
    INVALID_ARGS,
    OUT_OF_SPACE_FILESHARE,
    PART_PATTERN,
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
    lines,
    part_name,
    receipt,
    strings,
    targets_field,
    username_field,
)

log = logging.getLogger(__name__)

DIALECT = psp.DIALECT_FILESHARE
NEEDS_CREDENTIAL = True  # a PSP never carries the password: it is entered on the edit page
# Test writes take turns, each from a fresh connection (see :func:`test_write`).
SERIAL_TESTS = True

FIELDS: dict[str, forms.Field] = {
    TARGETS: targets_field("Share UNCs", "share UNCs (one per line)"),
    "username": username_field(),
}

_UNC = re.compile(r"^\\\\[^\\/:*?\"<>|]+\\[^\\/:*?\"<>|]+(\\[^\\/:*?\"<>|]+)*\\?$")


def initial(config: dict[str, Any]) -> dict[str, Any]:
    """The form values showing ``config`` (the inverse of :func:`clean_config`)."""
    return {TARGETS: "\n".join(config.get("uncs", []))}


def clean_config(data: dict[str, Any]) -> dict[str, Any]:
    """The config of the form's cleaned ``data``; ValidationError next to the field otherwise."""
    uncs = lines(data.get(TARGETS))
    if not uncs:
        raise invalid("a file share destination needs at least one UNC path")
    for unc in uncs:
        if not _UNC.match(unc) or "\\..\\" in unc + "\\" or unc.endswith("\\.."):
            raise invalid("%r is not a UNC path like \\\\server\\share\\folder" % unc)
        if len(unc) > psp.MAX_STRING:
            raise invalid("UNC path longer than %d characters" % psp.MAX_STRING)
    return {"uncs": uncs}


def to_filter(config: dict[str, Any], has_secret: bool = False) -> psp.AnyFilter:
    return psp.Filter.of(psp.FileShareConfig(share_uncs=strings(config, "uncs")))


def from_filter(item: psp.AnyFilter) -> dict[str, Any]:
    if not (isinstance(item, psp.Filter) and isinstance(item.instructions, psp.FileShareConfig)):
        raise TypeError("not a file share filter: %s" % item.dialect)
    return {"uncs": list(item.instructions.share_uncs)}


def apply_instructions(config: dict[str, Any], item: psp.AnyFilter) -> dict[str, Any]:
    """``config`` with the shares the device's filter names (already checked against the process)."""
    out = dict(config)
    if isinstance(item, psp.Filter) and isinstance(item.instructions, psp.FileShareConfig):
        out["uncs"] = list(item.instructions.share_uncs)
    return out


def target_text(config: dict[str, Any]) -> str:
    return "; ".join(config.get("uncs") or [])


def describe(config: dict[str, Any]) -> str:
    return ", ".join(strings(config, "uncs"))


CONNECT_TIMEOUT = 15
_DENIED = (
    "STATUS_ACCESS_DENIED",
    "STATUS_LOGON_FAILURE",
    "STATUS_ACCOUNT_DISABLED",
    "STATUS_BAD_NETWORK_NAME",
)
_FULL = ("STATUS_DISK_FULL", "STATUS_QUOTA_EXCEEDED")


def split_unc(unc: str) -> tuple[str, str, list[str]]:
    """``\\\\server\\share\\a\\b`` → ``("server", "share", ["a", "b"])``; refuses ``..`` parts."""
    parts = [p for p in unc.replace("/", "\\").split("\\") if p]
    if len(parts) < 2 or not unc.replace("/", "\\").startswith("\\\\"):
        raise DeliveryError("%r is not a UNC path (\\\\server\\share[\\folder])" % unc, INVALID_ARGS, False)
    if any(p in (".", "..") for p in parts):
        raise DeliveryError("UNC path %r contains . or .." % unc, INVALID_ARGS, False)
    return parts[0], parts[1], parts[2:]


def _error(exc: Exception, where: str) -> DeliveryError:
    text = "%s: %s" % (where, exc)
    status = type(exc).__name__
    name = getattr(exc, "status", None)
    label = str(name) if name is not None else ""
    if isinstance(exc, smbexc.SMBAuthenticationError) or any(s in text or s in label for s in _DENIED):
        return DeliveryError(text, ACCESS_DENIED_FILESHARE)
    if any(s in text or s in label for s in _FULL):
        return DeliveryError(text, OUT_OF_SPACE_FILESHARE)
    log.debug("smb error %s: %s", status, text)
    return DeliveryError(text, UNKNOWN_ERROR)


# smbclient's default connection cache is keyed by server and user name only, so a session made
# with one password would serve a later call with another (a wrong password would "work", and two
# processes with the same user but different passwords would share a login). Each credential
# gets its own cache instead.
_CACHES: dict[tuple[str, int, str, str], dict[str, Any]] = {}
_CACHES_LOCK = threading.Lock()


def _cache_for(server: str, port: int, credentials: Credentials) -> dict[str, Any]:
    secret = hashlib.sha256((credentials.password or "").encode()).hexdigest()
    key = (server.lower(), port, credentials.username or "", secret)
    with _CACHES_LOCK:
        return _CACHES.setdefault(key, {})


class _Share:
    def __init__(self, unc: str, port: int, credentials: Credentials) -> None:
        self.server, self.share, self.folders = split_unc(unc)
        self.port = port
        self.cache = _cache_for(self.server, port, credentials)
        self.kwargs: dict[str, Any] = {
            "port": port,
            "username": credentials.username or None,
            "password": credentials.password or None,
            "connection_timeout": CONNECT_TIMEOUT,
            "connection_cache": self.cache,
        }

    def path(self, *names: str) -> str:
        return "\\\\" + "\\".join([self.server, self.share, *self.folders, *names])

    def connect(self) -> None:
        smbclient.register_session(
            self.server,
            username=self.kwargs["username"],
            password=self.kwargs["password"],
            port=self.port,
            connection_timeout=CONNECT_TIMEOUT,
            connection_cache=self.cache,
        )

    def ensure_folder(self) -> None:
        for depth in range(1, len(self.folders) + 1):
            path = "\\\\" + "\\".join([self.server, self.share, *self.folders[:depth]])
            try:
                smbclient.mkdir(path, **self.kwargs)
            except (smbexc.SMBOSError, OSError) as exc:
                if getattr(exc, "errno", None) != errno.EEXIST:
                    raise

    def sweep_stale_parts(self) -> list[str]:
        """Remove temporaries left by killed deliveries (best effort, as the folder kind does).
        The times are the server's: a file being written has a fresh write time, one just
        renamed a fresh change time."""
        cutoff = time.time() - STALE_PART_SECONDS
        removed = []
        try:
            for entry in smbclient.scandir(self.path(), search_pattern=PART_PATTERN, **self.kwargs):
                if not is_part_name(entry.name) or not entry.is_file():
                    continue
                info = entry.stat()
                if max(info.st_mtime, info.st_chgtime) > cutoff:
                    continue
                try:
                    smbclient.remove(self.path(entry.name), **self.kwargs)
                except (smbexc.SMBOSError, OSError) as exc:
                    if getattr(exc, "errno", None) != errno.ENOENT:
                        log.warning("cannot remove stale temporary %s: %s", self.path(entry.name), exc)
                    continue
                removed.append(entry.name)
        except (smbexc.SMBOSError, OSError) as exc:
            log.warning("cannot list %s for stale temporaries: %s", self.path(), exc)
        if removed:
            log.warning(
                "removed %d stale temporary file(s) from %s: %s",
                len(removed),
                self.path(),
                ", ".join(removed),
            )
        return removed

    def sha256_of(self, name: str) -> str | None:
        try:
            digest = hashlib.sha256()
            with smbclient.open_file(self.path(name), mode="rb", **self.kwargs) as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            return digest.hexdigest()
        except (smbexc.SMBOSError, OSError) as exc:
            if getattr(exc, "errno", None) == errno.ENOENT:
                return None
            raise


def _deliver_one(share: _Share, output: Document) -> Receipt:
    tmp = part_name()
    with (
        open(output.path, "rb") as src,
        smbclient.open_file(share.path(tmp), mode="xb", **share.kwargs) as out,
    ):
        while block := src.read(1 << 20):
            out.write(block)
    try:
        for _ in range(100):
            chosen, already = free_name(output.name, share.sha256_of, output.sha256)
            if already:
                break
            try:
                smbclient.rename(share.path(tmp), share.path(chosen), **share.kwargs)
                break
            except (smbexc.SMBOSError, OSError) as exc:
                if getattr(exc, "errno", None) == errno.EEXIST:
                    continue  # taken between our check and the rename: next suffix
                raise
        else:
            raise DeliveryError("no free file name for %s" % output.name, UNKNOWN_ERROR)
    finally:
        try:
            smbclient.remove(share.path(tmp), **share.kwargs)
        except (smbexc.SMBOSError, OSError):
            pass  # renamed away (the normal case)
    digest = share.sha256_of(chosen)
    if digest != output.sha256:
        raise DeliveryError("%s reads back with sha256 %s" % (share.path(chosen), digest), UNKNOWN_ERROR)
    size = smbclient.stat(share.path(chosen), **share.kwargs).st_size
    log.info("delivered %s to %s%s", output.name, share.path(chosen), " (already there)" if already else "")
    return receipt(output.name, share.path(chosen), size, output.sha256, True)


def _shares(config: dict[str, Any], credentials: Credentials) -> list[_Share]:
    uncs = [str(u) for u in config.get("uncs") or [] if str(u).strip()]
    if not uncs:
        raise DeliveryError("the file share destination has no UNC path", INVALID_ARGS, False)
    port = int(config.get("port") or 445)
    return [_Share(unc, port, credentials) for unc in uncs]


def deliver(
    delivery: Delivery, outputs: Sequence[Document], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    receipts: list[Receipt] = []
    for share in _shares(config, credentials):
        try:
            share.connect()
            share.ensure_folder()
            share.sweep_stale_parts()
            for output in outputs:
                receipts.append(_deliver_one(share, output))
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - smbprotocol raises many types; all are mapped
            _forget(share)
            raise _error(exc, share.path()) from exc
    return receipts


def _forget(share: _Share) -> None:
    """Drop cached connections so the next attempt reconnects (the server may have restarted)."""
    try:
        smbclient.delete_session(share.server, port=share.port, connection_cache=share.cache)
    except Exception:  # noqa: BLE001 - nothing to drop
        pass
    smbclient.reset_connection_cache(connection_cache=share.cache)


def _forget_default_sessions(config: dict[str, Any]) -> None:
    """Close smbclient's process-wide cached connection to every server of ``config``: it re-uses
    a session by *username* alone, so a wrong password tried after a good one would pass on it,
    and two sessions set up at once on one connection break each other. (In the embedded
    single-process deployment this also drops a connection a delivery to the same server may be
    using; that delivery is retried.)"""
    port = int(config.get("port") or 445)
    for unc in config.get("uncs") or []:
        try:
            server = split_unc(str(unc))[0]
            smbclient.delete_session(server, port=port)
        except Exception as exc:  # noqa: BLE001 - bad UNC, no session: the test write decides
            log.debug("closing the SMB session for %s failed: %s", unc, exc)


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
    """Write and remove a test file in every share, each from a fresh connection."""
    _forget_default_sessions(config)
    try:
        return _test_write(config, credentials)
    finally:
        _forget_default_sessions(config)


def _test_write(config: dict[str, Any], credentials: Credentials) -> str:
    done = []
    for share in _shares(config, credentials):
        name = ".opendsm-test-%s" % uuid.uuid4().hex
        try:
            share.connect()
            share.ensure_folder()
            with smbclient.open_file(share.path(name), mode="xb", **share.kwargs) as fh:
                fh.write(b"OpenDSM destination test\n")
            smbclient.remove(share.path(name), **share.kwargs)
        except Exception as exc:  # noqa: BLE001
            _forget(share)
            raise _error(exc, share.path()) from exc
        done.append(share.path())
    return "wrote and removed a test file in %s" % ", ".join(done)
