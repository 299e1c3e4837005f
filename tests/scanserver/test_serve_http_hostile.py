"""HTTP-level hostile input against a real ``manage.py runscanserver`` (uvicorn, plain HTTP on
127.0.0.1): broken request lines, oversized and malformed headers, lying Content-Lengths, a
client that stops mid-body, a spoofed X-Forwarded-Proto. Each gets a 4xx or a closed connection,
nothing is left in the spool's incoming directory, and the same process answers ``/healthz``
afterwards. (The SOAP/MTOM corpus runs against the ASGI app in test_endpoint_hostile.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Server:
    def __init__(self, tmp: Path, plain_http: bool) -> None:
        self.port = services.free_port()
        self.spool = tmp / "spool"
        env = {**os.environ, "SMC_DATA_DIR": str(tmp), "SMC_SPOOL_DIR": str(self.spool)}
        env["SMC_DATABASE_URL"] = ""  # the embedded default: SQLite in the data dir
        env.pop("SMC_REDIS_URL", None)
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
        registered = subprocess.run(
            [
                *manage,
                "register_scan_server",
                "hostile",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--plain-http",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=60,
            capture_output=True,
            text=True,
        ).stdout
        self.guid = registered.split("SMC_SCANSERVER_GUID=", 1)[1].split()[0]
        if plain_http:
            env["SMC_SCANSERVER_ALLOW_PLAIN_HTTP"] = "1"
        else:
            env.pop("SMC_SCANSERVER_ALLOW_PLAIN_HTTP", None)
        self.log = tmp / "scanserver.log"
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runscanserver", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            start_new_session=True,
        )
        services.wait_for(lambda: services.port_open(self.port), "scan server", timeout=30)

    def raw(self, data: bytes, *, read: bool = True) -> bytes:
        """Send ``data`` on a fresh connection; what came back before the server closed or went quiet."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(data)
            if not read:
                return b""
            sock.shutdown(socket.SHUT_WR)
            out = b""
            try:
                while chunk := sock.recv(65536):
                    out += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            return out

    def healthy(self) -> bool:
        answer = httpx.get("http://127.0.0.1:%d/healthz" % self.port, timeout=10)
        return answer.status_code == 200 and answer.json()["service"] == "scanserver"

    def stop(self) -> None:
        services.stop_process(self.proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("hostile"), plain_http=True)  # one process for all of them
    try:
        yield srv
    finally:
        srv.stop()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


GUID = str(uuid.uuid4())
POST = "POST /ScanServer/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % GUID


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        pytest.param(b"GARBAGE\r\n\r\n", {400, 0}, id="not-http"),
        pytest.param(b"POST /ScanServer/x HTTP/9.9\r\n\r\n", {400, 505, 0}, id="bad-version"),
        pytest.param(
            (POST + "X-Big: %s\r\n\r\n" % ("a" * 200_000)).encode(), {400, 413, 431, 0}, id="200kb-header"
        ),
        pytest.param(
            (POST + "".join("X-%d: y\r\n" % n for n in range(20_000)) + "\r\n").encode(),
            {400, 404, 413, 431, 0},
            id="20000-headers",
        ),
        pytest.param((POST + "Content-Length: -5\r\n\r\n").encode(), {400, 0}, id="negative-length"),
        pytest.param(
            (POST + "Content-Length: 5\r\nContent-Length: 9\r\n\r\nhello").encode(),
            {400, 404, 0},
            id="two-lengths",
        ),
        pytest.param(
            (POST + "Transfer-Encoding: chunked\r\n\r\nzz\r\nnonsense\r\n").encode(),
            {400, 404, 0},
            id="bad-chunk",
        ),
        pytest.param(b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", {404, 400}, id="traversal-path"),
        pytest.param(
            b"POST /ScanServer/..%2F..%2Fetc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            {404, 400},
            id="encoded-traversal",
        ),
    ],
)
def test_garbage_gets_a_4xx_or_a_closed_connection_and_the_server_stays_up(
    server: Server, request_bytes: bytes, expected: set[int]
) -> None:
    answer = server.raw(request_bytes)
    assert status_of(answer) in expected, answer[:200]
    assert server.healthy()


def test_a_body_cut_short_leaves_nothing_behind(server: Server) -> None:
    # To the registered server, so the body is streamed into the spool before the client vanishes.
    head = "POST /ScanServer/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % server.guid
    head += 'Content-Type: multipart/related; type="application/xop+xml"; boundary=b\r\n'
    head += "Content-Length: 10000000\r\n\r\n"
    root = b"--b\r\nContent-Type: application/xop+xml\r\n\r\n<x/>\r\n"
    part = b"--b\r\nContent-Type: image/jpeg\r\nContent-ID: <p>\r\n\r\n" + b"\xff" * 2_000_000
    server.raw(head.encode() + root + part, read=False)
    incoming = server.spool / "incoming"
    services.wait_for(lambda: "went away mid-request" in server.log.read_text(), "the server to notice", 20)
    assert not any(incoming.glob("mtom-*.part")), "the half-received part is deleted"
    assert server.healthy()


def test_a_forwarded_proto_header_does_not_turn_plain_http_into_https(tmp_path: Path) -> None:
    srv = Server(tmp_path, plain_http=False)
    try:
        answer = srv.raw(
            (
                "POST /ScanServer/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
                "X-Forwarded-For: 10.0.0.1\r\nContent-Length: 0\r\n\r\n" % GUID
            ).encode()
        )
        assert status_of(answer) == 403 and b"HTTPS only" in answer
        assert "refused plain-HTTP request" in srv.log.read_text()
    finally:
        srv.stop()
