"""SMB file share destination (psp ``fsf:FileShareConfig``), with smbprotocol.

``config``: ``{"uncs": ["\\\\server\\share\\folder", ...], "port": 445}`` — the device's
instructions may replace ``uncs`` where the process allows it. Credentials are the destination's
username (``DOMAIN\\user`` or ``user``) and password.

Each document is written to a hidden temporary file in the target folder and renamed to its
final name; SMB rename does not replace an existing file, so a taken name fails and the next
`` (n)`` suffix is tried — never an overwrite. A file already there with our sha256 is ours from
an earlier attempt. Every delivered file is read back and its sha256 compared (``verified``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import smbclient
from smbprotocol import exceptions as smbexc

from scanprocesses.destinations import (
    ACCESS_DENIED_FILESHARE,
    INVALID_ARGS,
    OUT_OF_SPACE_FILESHARE,
    UNKNOWN_ERROR,
    Credentials,
    DeliveryError,
    Receipt,
    free_name,
    receipt,
)

if TYPE_CHECKING:
    from scanserver.models import Delivery, OutputDocument

log = logging.getLogger(__name__)

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


def _deliver_one(share: _Share, output: OutputDocument) -> Receipt:
    tmp = ".opendsm-%s.part" % uuid.uuid4().hex
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
    delivery: Delivery, outputs: Sequence[OutputDocument], config: dict[str, Any], credentials: Credentials
) -> list[Receipt]:
    receipts: list[Receipt] = []
    for share in _shares(config, credentials):
        try:
            share.connect()
            share.ensure_folder()
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


def test_write(config: dict[str, Any], credentials: Credentials) -> str:
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
