"""Devices proving themselves with the client certificate issued at enrollment (DESIGN.md
decision 2), against a real ``manage.py runscanserver`` (uvicorn, TLS, ``--device-ca`` = the
enrollment CA) on 127.0.0.1 and a real simulated device that was enrolled over WSD.

The server certificate comes from the throwaway openssl CA of ``tests.services.make_tls``; device
certificates come from ``devices.pki`` (the CA in the test's ``SMC_DATA_DIR``) or, for the
negative case, from a second CA made the same way.
"""

from __future__ import annotations

import io
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection

from devices import pki
from devices.enrollment import enroll
from devices.protocols import dsp, soap
from devices.simulator import push, run
from devices.simulator.run import SimulatorConfig, SimulatorThread
from scanserver import access
from tests import services
from tests.factories import Device, DeviceEvent, ScanJob
from tests.scanserver.endpoint_helpers import World, create_request, envelope, make_world, psp_bytes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SEED = "device-certificates"


class ScanServerProcess:
    """``manage.py runscanserver`` with TLS and the device CA, against the test database."""

    def __init__(self, tmp: Path, world: World, device_ca: Path) -> None:
        self.tmp = tmp
        self.tls = services.make_tls(tmp / "tls")
        self.port = services.free_port()
        self.device_ca = device_ca
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "SMC_DATA_DIR": str(tmp / "server-data"),
            "SMC_SPOOL_DIR": str(tmp / "spool"),
            "SMC_DATABASE_URL": "postgres://%s@%s:%s/%s"
            % (db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]),
            "SMC_SCANSERVER_GUID": str(world.server.guid),
        }
        self.env.pop("SMC_SCANSERVER_ALLOW_PLAIN_HTTP", None)
        self.url = "https://127.0.0.1:%d/ScanServer/%s" % (self.port, world.server.guid)
        self.log = tmp / "runscanserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "manage.py",
            "runscanserver",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tls-cert",
            str(self.tls.cert),
            "--tls-key",
            str(self.tls.key),
            "--device-ca",
            str(self.device_ca),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        services.wait_for(self.ready, "runscanserver on %d" % self.port, timeout=30)

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("runscanserver exited: %s" % self.log.read_text())
        return services.port_open(self.port)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None:
            services.stop_process(self.proc)


@dataclass
class Enrolled:
    device: Device
    cert: Path
    key: Path
    endpoint: str


def write_credential(directory: Path, issued: pki.IssuedCertificate) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "device.crt", directory / "device.key"
    cert.write_text(issued.certificate_pem)
    key.write_text(issued.key_pem)
    key.chmod(0o600)
    return cert, key


def enroll_simulated(tmp: Path, name: str, *, seed: str = SEED) -> Enrolled:
    """Run the simulated device, enroll it over WSD with a new certificate, write the files."""
    with SimulatorThread(SimulatorConfig(count=1, seed=seed, base_port=0, discovery=False)) as sim:
        result = enroll(sim.devices[0].server.device_url, issue_certificate=True)
        endpoint = sim.devices[0].device.identity.endpoint
    assert result.certificate is not None
    cert, key = write_credential(tmp / name, result.certificate)
    return Enrolled(result.device, cert, key, endpoint)


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"  # where devices.pki keeps the enrollment CA
    return settings.DATA_DIR


@pytest.fixture
def server(
    transactional_db: None, data_dir: Path, tmp_path: Path
) -> Iterator[tuple[ScanServerProcess, World]]:
    world = make_world()
    proc = ScanServerProcess(tmp_path, world, pki.ca_certificate_path())
    try:
        proc.start()
        yield proc, world
    finally:
        proc.stop()


def post(
    srv: ScanServerProcess, body: bytes, *, cert: Path | None = None, key: Path | None = None, token: str = ""
) -> httpx.Response:
    """One POST of a SOAP envelope, presenting the certificate and/or token given (or nothing)."""
    credentials = push.Credentials(str(cert or ""), str(key or ""), lambda: token)
    with httpx.Client(
        verify=credentials.tls_context(str(srv.tls.ca_cert)), headers=credentials.headers(), timeout=30
    ) as client:
        return client.post(srv.url, content=body, headers={"Content-Type": soap.CONTENT_TYPE})


def create(srv: ScanServerProcess, world: World, **credential: Any) -> httpx.Response:
    return post(srv, envelope(srv.url, create_request(world)), **credential)


def fault(resp: httpx.Response) -> soap.SoapFault:
    found = soap.fault_from_envelope(soap.parse_envelope(resp.content))
    assert found is not None, resp.text
    return found


def job_token(resp: httpx.Response) -> str:
    assert resp.status_code == 200, resp.text
    body = soap.parse_envelope(resp.content).body
    assert body is not None
    answer = dsp.from_element(body)
    assert isinstance(answer, dsp.CreatePostScanJobResponse)
    return answer.job_token


def unknown_callers() -> int:
    return DeviceEvent.objects.filter(device=None, kind="device_unknown").count()


# --------------------------------------------------------------------------------------------


def test_a_device_pushes_with_its_issued_certificate_and_no_token(
    server: tuple[ScanServerProcess, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, world = server
    enrolled = enroll_simulated(tmp_path, "mfp")
    assert enrolled.device.certificate_sha256 == pki.certificate_sha256(enrolled.cert.read_text())
    # The same simulated device (same seed, same urn:uuid) restarted with its certificate and no
    # token file; it trusts the scan server's CA through SSL_CERT_FILE, as a deployment would.
    monkeypatch.setenv("SSL_CERT_FILE", str(srv.tls.ca_cert))
    config = SimulatorConfig(
        count=1,
        seed=SEED,
        base_port=0,
        discovery=False,
        adf_pages=5,
        client_cert=str(enrolled.cert),
        client_key=str(enrolled.key),
    )
    psp_file = tmp_path / "process.xml"
    psp_file.write_bytes(psp_bytes())
    with SimulatorThread(config) as sim:
        out = io.StringIO()
        status = run.main(
            [
                "push",
                "--control",
                sim.devices[0].server.control_url,
                "--server",
                srv.url,
                "--psp-xml",
                str(psp_file),
                "--psp-id",
                str(world.process.guid),
                "--user-sid",
                world.alice_sid,
                "--pages",
                "2",
            ],
            out=out,
        )
    answer = json.loads(out.getvalue())
    assert status == 0, (answer, srv.log.read_text())
    job = ScanJob.objects.get(token=answer["job_token"])
    assert job.device == enrolled.device and job.device != world.device
    assert job.user_name == "alice" and job.images_received == 2 and job.ended_at is not None
    assert sorted(job.pages.values_list("sha256", flat=True)) == sorted(
        d["sha256"] for d in answer["documents"]
    )


def test_a_certificate_of_the_right_ca_but_no_enrolled_device_is_refused(
    server: tuple[ScanServerProcess, World], tmp_path: Path
) -> None:
    srv, world = server
    enrolled = enroll_simulated(tmp_path, "first")
    assert job_token(create(srv, world, cert=enrolled.cert, key=enrolled.key))

    # Re-enrolled since: a new fingerprint, so the old certificate no longer names a device.
    again = enroll_simulated(tmp_path, "second")
    assert again.device.pk == enrolled.device.pk
    assert again.device.certificate_sha256 != enrolled.device.certificate_sha256
    # Never enrolled at all: issued by the same CA for a device the registry does not have.
    stranger = write_credential(
        tmp_path / "stranger", pki.issue_device_certificate("Stranger", "urn:uuid:0000-stranger")
    )
    jobs = ScanJob.objects.count()
    for cert, key in ((enrolled.cert, enrolled.key), stranger):
        refused = create(srv, world, cert=cert, key=key)
        assert refused.status_code >= 400
        got = fault(refused)
        assert got.subcode == access.FAULT_NOT_ENROLLED and "not an enrolled device" in got.reason
    assert ScanJob.objects.count() == jobs
    events = DeviceEvent.objects.filter(device=None, kind="device_unknown")
    assert events.count() == 2 and all(e.detail["operation"] == "CreatePostScanJob" for e in events)
    assert job_token(create(srv, world, cert=again.cert, key=again.key)), "the new certificate works"


def handshake_tls12(srv: ScanServerProcess, cert: Path, key: Path) -> bytes:
    """A TLS 1.2 handshake with this client certificate, then GET /healthz; the first bytes back.

    (TLS 1.2, because in TLS 1.3 the client's handshake ends before the server has looked at
    the client's certificate: a refusal then shows only as a connection closed unanswered.)"""
    context = ssl.create_default_context(cafile=str(srv.tls.ca_cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    with (
        socket.create_connection(("127.0.0.1", srv.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return tls.recv(9)


def test_a_certificate_of_another_ca_fails_the_handshake_and_the_server_carries_on(
    server: tuple[ScanServerProcess, World], tmp_path: Path
) -> None:
    srv, world = server
    enrolled = enroll_simulated(tmp_path, "mfp")
    assert handshake_tls12(srv, enrolled.cert, enrolled.key) == b"HTTP/1.1 "
    # Another CA's certificate — even with its fingerprint recorded for the device: the
    # handshake refuses it before any request is read, so the registry is never asked.
    other = pki.issue_device_certificate("MFP", enrolled.endpoint, directory=tmp_path / "other-ca")
    Device.objects.filter(pk=enrolled.device.pk).update(certificate_sha256=other.sha256)
    cert, key = write_credential(tmp_path / "other", other)
    before = (unknown_callers(), ScanJob.objects.count())
    with pytest.raises(ssl.SSLError):
        handshake_tls12(srv, cert, key)
    with pytest.raises(httpx.TransportError):  # TLS 1.3: closed without an answer
        create(srv, world, cert=cert, key=key)
    assert (unknown_callers(), ScanJob.objects.count()) == before
    assert srv.alive()
    assert job_token(create(srv, world, token=world.token)), "the server answers the next good request"
    refusals = [line for line in srv.log.read_text().splitlines() if "refused a TLS connection" in line]
    assert refusals and "certificate verify failed" in refusals[0], "the refusal is in the server log"


def test_the_bearer_token_still_works_without_a_certificate(server: tuple[ScanServerProcess, World]) -> None:
    srv, world = server
    job = ScanJob.objects.get(token=job_token(create(srv, world, token=world.token)))
    assert job.device == world.device
    nothing = create(srv, world)
    assert fault(nothing).subcode == access.FAULT_NOT_ENROLLED


def test_a_disabled_devices_certificate_is_refused(
    server: tuple[ScanServerProcess, World], tmp_path: Path
) -> None:
    srv, world = server
    enrolled = enroll_simulated(tmp_path, "mfp")
    assert job_token(create(srv, world, cert=enrolled.cert, key=enrolled.key))
    Device.objects.filter(pk=enrolled.device.pk).update(enabled=False)
    refused = create(srv, world, cert=enrolled.cert, key=enrolled.key)
    assert fault(refused).subcode == access.FAULT_NOT_ENROLLED
    assert unknown_callers() == 1
