"""CRASH TEST: a real scan server (``manage.py runscanserver`` with TLS, as in production) SIGKILLed
in the middle of a SendImage stream. After a restart every page acknowledged before the kill is there
exactly once, the interrupted one is not half-present, and the device resends it and finishes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from devices.protocols import dsp, soap
from tests import services
from tests.factories import JobState, ScanJob, ScanPage
from tests.scanserver.endpoint_helpers import World, create_request, envelope, make_world, send_image_body

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class ScanServerProcess:
    def __init__(self, tmp: Path, world: World) -> None:
        self.tmp = tmp
        self.tls = services.make_tls(tmp / "tls")
        self.port = services.free_port()
        self.spool = tmp / "spool"
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "SMC_DATA_DIR": str(tmp),
            "SMC_SPOOL_DIR": str(self.spool),
            "SMC_DATABASE_URL": "postgres://%s@%s:%s/%s"
            % (db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]),
            "SMC_SCANSERVER_GUID": str(world.server.guid),
        }
        self.env.pop("SMC_SCANSERVER_ALLOW_PLAIN_HTTP", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = "https://127.0.0.1:%d/ScanServer/%s" % (self.port, world.server.guid)

    def start(self) -> None:
        command = [sys.executable, "manage.py", "runscanserver", "--host", "127.0.0.1", "--port"]
        command += [str(self.port), "--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "scanserver.log", "ab"),
            start_new_session=True,
        )
        services.wait_for(lambda: services.port_open(self.port), "scan server on %d" % self.port, timeout=30)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            services.stop_process(self.proc)


@pytest.fixture
def server(transactional_db: None, tmp_path: Path) -> Iterator[tuple[ScanServerProcess, World]]:
    world = make_world()
    proc = ScanServerProcess(tmp_path, world)
    try:
        yield proc, world
    finally:
        proc.stop()


def post(srv: ScanServerProcess, token: str, body: bytes, ctype: str = soap.CONTENT_TYPE) -> httpx.Response:
    return httpx.post(
        srv.url,
        content=body,
        headers={"Content-Type": ctype, "Authorization": "Bearer " + token},
        verify=ssl.create_default_context(cafile=str(srv.tls.ca_cert)),
        timeout=60,
    )


def open_tls(srv: ScanServerProcess) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(srv.tls.ca_cert))
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def request_head(srv: ScanServerProcess, token: str, ctype: str, length: int) -> bytes:
    path = srv.url.split(str(srv.port), 1)[1]
    return (
        "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
        "Authorization: Bearer %s\r\n\r\n" % (path, srv.port, ctype, length, token)
    ).encode()


def answered(tls: ssl.SSLSocket) -> bool:
    try:
        return bool(tls.recv(1))
    except (TimeoutError, ssl.SSLWantReadError):
        return False


def stored_ids(job: Any) -> list[int]:
    return list(
        ScanPage.objects.filter(job=job).values_list("document_id", flat=True).order_by("document_id")
    )


def page(n: int) -> bytes:
    return hashlib.sha256(b"page %d" % n).digest() * (40_000 + n)  # ~1.3 MB, distinct per page


def test_sigkill_mid_send_image_loses_nothing_acknowledged(server: tuple[ScanServerProcess, World]) -> None:
    srv, world = server
    srv.start()
    created = post(srv, world.token, envelope(srv.url, create_request(world)))
    assert created.status_code == 200, created.text
    body_el = soap.parse_envelope(created.content).body
    assert body_el is not None
    answer = dsp.from_element(body_el)
    assert isinstance(answer, dsp.CreatePostScanJobResponse)
    token = answer.job_token
    for n in (1, 2):
        ctype, body = send_image_body(srv.url, token, n, page(n))
        assert post(srv, world.token, body, ctype).status_code == 200

    # Page 3: the headers and half the body, then SIGKILL while the device is still sending (the
    # server streams the body into a temporary part in the spool's incoming directory as it comes).
    ctype, body = send_image_body(srv.url, token, 3, page(3))
    tls = open_tls(srv)
    try:
        tls.sendall(request_head(srv, world.token, ctype, len(body)) + body[: len(body) // 2])
        srv.kill()
    finally:
        tls.close()

    job = ScanJob.objects.get(token=token)
    job_dir = srv.spool / str(job.token)
    assert sorted(p.name for p in job_dir.iterdir()) == ["1.jpg", "2.jpg"], "page 3 must not be half-present"
    assert stored_ids(job) == [1, 2]

    srv.start()
    ctype, body = send_image_body(srv.url, token, 3, page(3))
    assert post(srv, world.token, body, ctype).status_code == 200
    # Page 4, large: the whole body goes out; SIGKILL as soon as the application is spooling it
    # (or, if it was quicker, as soon as it answered). Either way nothing half-done may remain.
    big = hashlib.sha256(b"page 4").digest() * 2_000_000  # 64 MB
    ctype, body = send_image_body(srv.url, token, 4, big)
    tls = open_tls(srv)
    try:
        tls.sendall(request_head(srv, world.token, ctype, len(body)) + body)
        tls.settimeout(0.01)
        incoming = srv.spool / "incoming"
        while not any(incoming.glob("mtom-*.part")) and not answered(tls):
            pass
        srv.kill()
    finally:
        tls.close()
    page4 = ScanPage.objects.filter(job=job, document_id=4).first()
    if page4 is not None:  # committed before the kill: then it is whole
        assert hashlib.sha256(Path(page4.spool_path).read_bytes()).hexdigest() == page4.sha256
    srv.start()
    assert post(srv, world.token, body, ctype).status_code == 200

    # The device did not see page 2's answer? Resending it is harmless.
    ctype, body = send_image_body(srv.url, token, 2, page(2))
    assert post(srv, world.token, body, ctype).status_code == 200
    ended = post(srv, world.token, envelope(srv.url, dsp.EndPostScanJobRequest(job_token=token)))
    assert ended.status_code == 200, ended.text

    job.refresh_from_db()
    assert job.state == JobState.PENDING and job.images_received == 4
    pages: list[Any] = list(ScanPage.objects.filter(job=job).order_by("document_id"))
    assert [p.document_id for p in pages] == [1, 2, 3, 4]
    for p in pages:
        data = Path(p.spool_path).read_bytes()
        assert data == (big if p.document_id == 4 else page(p.document_id))
        assert hashlib.sha256(data).hexdigest() == p.sha256
    assert sorted(p.name for p in job_dir.iterdir()) == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
