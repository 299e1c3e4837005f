"""Throwaway real servers for the destination tests: Samba smbd, SMTP, WebDAV, an HTTP receiver.

All bind 127.0.0.1 on free ports, live in a temporary directory and are stopped by whoever
started them (context managers; ``stop`` also runs on failure). smbd follows RECIPES.md: private
smb.conf, a system user with an smbpasswd entry, ``smbd -s conf -F`` in its own session (never
``--no-process-group``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pwd
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import services

SMB_USER = "opendsmscan"
SMB_PASSWORD = "Scan-pw-1!"


# --------------------------------------------------------------------------- Samba smbd


@dataclass
class Smbd:
    port: int
    share_dir: Path
    conf: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def unc(self) -> str:
        return "\\\\127.0.0.1\\scans"

    def start(self) -> None:
        smbd = services.which("smbd")
        # smbd -F calls setsid() itself and exits with "Failed to create session" when it is
        # already a session or group leader (start_new_session / process_group), so it is started
        # plainly and becomes the leader of its own session, which stop_process then signals.
        self.proc = subprocess.Popen(
            [smbd, "-s", str(self.conf), "-F", "--debug-stdout", "-d", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proc = self.proc
        services.wait_for(lambda: proc.poll() is not None or os.getpgid(proc.pid) == proc.pid, "smbd setsid")
        if proc.poll() is not None:
            raise RuntimeError("smbd exited with %s; see %s" % (proc.returncode, self.conf.parent / "log"))
        services.wait_for(lambda: services.port_open(self.port), "smbd on port %d" % self.port)

    def stop(self) -> None:
        if self.proc is not None:
            services.stop_process(self.proc)
            self.proc = None


def _ensure_unix_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


@contextlib.contextmanager
def smbd(workdir: Path) -> Iterator[Smbd]:
    port = services.free_port()
    for sub in ("private", "state", "lock", "cache", "pid", "ncalrpc", "log"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    _ensure_unix_user(SMB_USER)
    # The share user must be able to reach the folder: pytest's tmp dirs are root-only (0700),
    # so the share lives in its own directory under the system temp dir.
    share = Path(tempfile.mkdtemp(prefix="opendsm-smb-share-"))
    uid = pwd.getpwnam(SMB_USER).pw_uid
    os.chown(share, uid, -1)
    conf = workdir / "smb.conf"
    conf.write_text(
        "\n".join(
            [
                "[global]",
                "server role = standalone server",
                "interfaces = 127.0.0.1",
                "bind interfaces only = yes",
                "smb ports = %d" % port,
                "disable netbios = yes",
                "server min protocol = SMB2_02",
                "passdb backend = tdbsam:%s" % (workdir / "private" / "passdb.tdb"),
                "private dir = %s" % (workdir / "private"),
                "state directory = %s" % (workdir / "state"),
                "lock directory = %s" % (workdir / "lock"),
                "cache directory = %s" % (workdir / "cache"),
                "pid directory = %s" % (workdir / "pid"),
                "ncalrpc dir = %s" % (workdir / "ncalrpc"),
                "log file = %s" % (workdir / "log" / "smbd.log"),
                "load printers = no",
                "printing = bsd",
                "printcap name = /dev/null",
                "disable spoolss = yes",
                "map to guest = never",
                "",
                "[scans]",
                "path = %s" % share,
                "valid users = %s" % SMB_USER,
                "read only = no",
                "",
            ]
        )
    )
    subprocess.run(
        [services.which("smbpasswd"), "-c", str(conf), "-s", "-a", SMB_USER],
        input=("%s\n%s\n" % (SMB_PASSWORD, SMB_PASSWORD)).encode(),
        check=True,
        capture_output=True,
    )
    server = Smbd(port=port, share_dir=share, conf=conf)
    try:
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):  # drop smbprotocol's cached connections to it
            import smbclient

            smbclient.reset_connection_cache()
        server.stop()
        shutil.rmtree(share, ignore_errors=True)


# --------------------------------------------------------------------------- SMTP (aiosmtpd)


@dataclass
class Smtp:
    port: int
    ca_file: Path
    messages: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    controller: Any = None

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextlib.contextmanager
def smtp(workdir: Path, user: str = "mailer", password: str = "mail-pw-1!") -> Iterator[Smtp]:
    """aiosmtpd with STARTTLS (a cert from tests.services.make_tls) and AUTH required after TLS."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    tls = services.make_tls(workdir / "tls")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls.cert), str(tls.key))
    server = Smtp(port=services.free_port(), ca_file=tls.ca_cert)

    class Handler:
        async def handle_DATA(self, smtp_server: Any, session: Any, envelope: Any) -> str:
            import email
            from email import policy

            message = email.message_from_bytes(envelope.content, policy=policy.default)
            server.messages.append((list(envelope.rcpt_tos), message))
            return "250 OK"

    def authenticator(smtp_server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        if ok:
            server.logins.append(user)
        return AuthResult(success=ok)

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=server.port,
        tls_context=ctx,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        server_hostname="localhost",
    )
    controller.start()
    server.controller = controller
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- WebDAV (wsgidav)


@dataclass
class WebDav:
    port: int
    root: Path
    user: str
    password: str
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/" % self.port

    def start(self) -> None:
        wsgidav = shutil.which("wsgidav", path=str(Path(sys.executable).parent)) or "wsgidav"
        self.proc = subprocess.Popen(
            [wsgidav, "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        services.wait_for(lambda: services.port_open(self.port), "wsgidav on port %d" % self.port)

    def stop(self) -> None:
        if self.proc is not None:
            services.stop_process(self.proc)
            self.proc = None


@contextlib.contextmanager
def webdav(workdir: Path, user: str = "sharepoint", password: str = "dav-pw-1!") -> Iterator[WebDav]:
    root = workdir / "dav"
    root.mkdir(parents=True, exist_ok=True)
    port = services.free_port()
    config = workdir / "wsgidav.json"
    config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": port,
                "server": "cheroot",
                "provider_mapping": {"/": str(root)},
                "simple_dc": {"user_mapping": {"*": {user: {"password": password}}}},
                "http_authenticator": {
                    "domain_controller": None,
                    "accept_basic": True,
                    "accept_digest": False,
                    "default_to_digest": False,
                    "trusted_auth_header": None,
                },
                "verbose": 1,
                "logging": {"enable": False},
                "dir_browser": {"enable": False},
                "lock_storage": True,
            }
        )
    )
    server = WebDav(port=port, root=root, user=user, password=password, config=config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- HTTP receiver (aiohttp)


@dataclass
class Receiver:
    port: int
    token: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    stop_event: Any = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/hook" % self.port


@contextlib.contextmanager
def receiver(token: str = "hook-token-1") -> Iterator[Receiver]:
    """A small aiohttp webhook receiver on a thread: checks the bearer token, stores each part."""
    from aiohttp import web

    state = Receiver(port=services.free_port(), token=token)
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def hook(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer %s" % state.token:
            return web.Response(status=401)
        if state.fail_next > 0:
            state.fail_next -= 1
            return web.Response(status=503)
        reader = await request.multipart()
        item: dict[str, Any] = {"headers": dict(request.headers)}
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "metadata":  # type: ignore[union-attr]
                item["metadata"] = json.loads(data)
            else:
                item["filename"] = part.filename  # type: ignore[union-attr]
                item["content"] = bytes(data)
        state.received.append(item)
        return web.json_response({"sha256": hashlib.sha256(item.get("content", b"")).hexdigest()})

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", state.port).start())
        state.stop_event = asyncio.Event()
        ready.set()
        loop.run_until_complete(state.stop_event.wait())
        loop.run_until_complete(runner.cleanup())
        loop.close()

    state.thread = threading.Thread(target=run, daemon=True)
    state.thread.start()
    ready.wait(10)
    try:
        yield state
    finally:
        if state.stop_event is not None:
            holder["loop"].call_soon_threadsafe(state.stop_event.set)
        state.thread.join(10)
