"""Running the scan server: uvicorn (httptools parser, uvloop) serving ``scanserver.asgi``.

Why not daphne, which serves the console: daphne (Twisted) reads a whole request body — spooling
bodies over 100 KB to a temporary file — before the application sees a byte, and it does not tell
the application which client certificate the TLS peer presented. A scanned page is the request
body here, and a device may prove itself with its certificate (DESIGN.md decision 2), so the scan
server runs on uvicorn, which hands the body over chunk by chunk as it arrives (paused at 64 KiB
until the MTOM reader takes it), with :class:`TlsHttpProtocol` adding the ASGI TLS extension
(``scope["extensions"]["tls"]``, asgiref's "TLS Extension" spec) that uvicorn itself does not fill.

What the extension carries: ``client_cert_chain`` — the peer's certificate as PEM, the first and
only element (Python before 3.13 cannot read back the rest of a verified chain), or empty when the
device sent none; ``tls_version`` as the TLS protocol number (0x0304 for TLS 1.3); ``server_cert``,
``client_cert_name``, ``client_cert_error`` and ``cipher_suite`` are ``None`` (the ssl module does
not give them cheaply, and a certificate that fails verification never completes the handshake,
so an application never sees an error to report). It is built once per connection.

Client certificates are asked for (``CERT_OPTIONAL``) only when a device CA file is given: a device
that presents one must chain to that CA or the handshake fails; a device that presents none goes on
to bearer-token authentication. ``scanserver.access`` maps the certificate's SHA-256 fingerprint
to the enrolled device.

``X-Forwarded-*`` headers are ignored unless ``--proxy-headers`` is given: otherwise any local
process could claim ``https`` and slip past the plain-HTTP refusal.

Supervision: with ``--workers N`` uvicorn's master binds the port and spawns N worker processes
that share it. A worker outlives a master killed with SIGKILL (nobody tells it), keeps serving on
the inherited socket and keeps a restarted master from binding ("Address already in use"). So each
worker, as it loads the app (:class:`SupervisedConfig`), asks Linux to send it SIGTERM when the
master dies (``prctl(PR_SET_PDEATHSIG)``) and watches its parent pid as a fallback (other systems,
or a death before the ``prctl``); SIGTERM is uvicorn's graceful shutdown, which closes the
listening socket first, and a worker still alive :data:`ORPHAN_GRACE` seconds later exits hard.
The listening socket has SO_REUSEADDR (uvicorn's default), so a new master binds at once, even
with old connections in TIME_WAIT.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger(__name__)

APP = "scanserver.asgi:application"
PROTOCOL = "scanserver.serve:TlsHttpProtocol"
DEFAULT_PORT = 5362

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_POLL = 0.5  # seconds between parent-pid checks
ORPHAN_GRACE = 10.0  # seconds an orphaned worker gets to finish in-flight requests

# ssl.SSLObject.version() → the protocol number the ASGI TLS extension asks for.
TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI ``tls`` extension for a connection, or ``None`` for plain HTTP (as the spec says)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class LoggedHandshake(ssl.SSLObject):
    """An SSLObject that logs why a TLS handshake was refused (an untrusted device certificate,
    no shared protocol version...). asyncio and uvloop drop failed handshakes silently outside
    debug mode, and an admin enrolling a device needs to see why it cannot connect. The peer's
    address is not known at this layer; the reason is (e.g. "certificate verify failed: unable to
    get local issuer certificate")."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message
            logger.warning("refused a TLS connection: client certificate verify failed: %s", reason)
            raise
        except ssl.SSLError as exc:
            logger.warning("refused a TLS connection: %s", exc.reason or exc)
            raise


def ssl_context(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's ``ssl_context_factory``: its own context, handing out :class:`LoggedHandshake`."""
    context = default()
    context.sslobject_class = LoggedHandshake
    return context


class TlsHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the ASGI TLS extension in every request's scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: Any) -> None:  # asyncio calls this after the TLS handshake
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[typeddict-unknown-key,dict-item]


def _set_parent_death_signal(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``; False where there is no such call (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
            return False
    except (OSError, AttributeError) as exc:
        logger.warning("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
        return False
    return True


def _watch_master(master_pid: int, poll: float, grace: float) -> None:
    """The fallback: once the parent is no longer ``master_pid`` (reparented), SIGTERM ourselves,
    and leave for good if the graceful shutdown has not ended the process ``grace`` seconds later."""
    while os.getppid() == master_pid:
        time.sleep(poll)
    logger.warning("scan server master %d is gone; worker %d stops", master_pid, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    logger.error("worker %d still running %.0fs after its master died; exiting", os.getpid(), grace)
    os._exit(1)


def die_with_master(master_pid: int, poll: float = ORPHAN_POLL, grace: float = ORPHAN_GRACE) -> None:
    """Make this worker process stop when ``master_pid`` (its parent) dies.

    The death signal is delivered when the parent *thread* that spawned us exits; uvicorn spawns
    (and respawns) workers from the master's main thread, which lives as long as the master."""
    _set_parent_death_signal(signal.SIGTERM)
    # Armed now; a master that died before this line is caught by the watch at its first check.
    threading.Thread(
        target=_watch_master, args=(master_pid, poll, grace), name="master-watch", daemon=True
    ).start()


class SupervisedConfig(Config):
    """uvicorn's Config, remembering the master's pid; a worker process (spawned with a pickled
    copy) arms :func:`die_with_master` when it loads the app, before it serves a request."""

    def __init__(self, app: str, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.master_pid = os.getpid()

    def load(self) -> None:
        if os.getpid() != self.master_pid:  # a worker: the master does not load the app itself
            die_with_master(self.master_pid)
        super().load()


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    certfile: Path | None = None
    keyfile: Path | None = None
    device_ca: Path | None = None
    workers: int = 1
    proxy_headers: bool = False
    access_log: bool = False


def check(options: Options) -> list[str]:
    """What is wrong with ``options`` (an empty list when it can run), in words an admin can act on."""
    problems = []
    if (options.certfile is None) != (options.keyfile is None):
        problems.append("give both --tls-cert and --tls-key (or neither, for plain HTTP)")
    if options.device_ca is not None and options.certfile is None:
        problems.append("--device-ca needs TLS: give --tls-cert and --tls-key too")
    for label, path in (
        ("--tls-cert", options.certfile),
        ("--tls-key", options.keyfile),
        ("--device-ca", options.device_ca),
    ):
        if path is not None and not path.is_file():
            problems.append("%s %s: no such file" % (label, path))
    if options.workers < 1:
        problems.append("--workers must be at least 1")
    if not 0 < options.port < 65536:
        problems.append("--port must be 1..65535")
    return problems


def uvicorn_config(options: Options) -> dict[str, Any]:
    """The keyword arguments for ``uvicorn.run`` (also used by tests and the benchmark)."""
    kwargs: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "http": PROTOCOL,
        "loop": "uvloop",
        "lifespan": "on",
        "workers": options.workers,
        "proxy_headers": options.proxy_headers,
        "server_header": False,
        "access_log": options.access_log,
        "log_config": None,  # Django's LOGGING decides
    }
    if options.certfile is not None:
        kwargs["ssl_certfile"] = str(options.certfile)
        kwargs["ssl_keyfile"] = str(options.keyfile)
        kwargs["ssl_context_factory"] = ssl_context
    if options.device_ca is not None:
        kwargs["ssl_ca_certs"] = str(options.device_ca)
        kwargs["ssl_cert_reqs"] = ssl.CERT_OPTIONAL
    return kwargs


def run(options: Options) -> None:
    import uvicorn

    problems = check(options)
    if problems:
        raise ValueError("; ".join(problems))
    logger.info(
        "scan server on %s://%s:%d (%d worker%s%s)",
        "https" if options.certfile else "http",
        options.host,
        options.port,
        options.workers,
        "" if options.workers == 1 else "s",
        ", device certificates from %s" % options.device_ca if options.device_ca else "",
    )
    # uvicorn.run, with SupervisedConfig in place of its Config.
    config = SupervisedConfig(APP, **uvicorn_config(options))
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config=config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
