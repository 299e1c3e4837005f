"""End to end, one test per destination: the simulated device pushes over WS-DSP (its enrollment
token in the Authorization header) to the real scan-server ASGI app in-process, on the embedded
default: EndPostScanJob is answered with the job pending, and the scan server's in-process worker
thread (scanserver.inprocess) builds the PDF and delivers it — eager Celery on that thread — to a
REAL server the test starts (tests/scanserver/servers.py); ``World.push`` waits for that thread.
Each test checks the bytes that arrived against the OutputDocument's sha256, the Delivery receipt
and the job's end state and reason ([MS-BDSRR] §2.2.5.7). The process is published the console's
way (``ScanProcessFactory(published=True)``: scanprocesses.authoring.publish).

Also: two destinations with one down and ContinueOnError=true, and the WSD pull path (scan to
computer: ScanAvailableEvent → RetrieveImage) to the folder."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.simulator import push
from devices.simulator.run import SimulatorConfig, SimulatorThread, make_device
from scanprocesses import authoring as sp
from scanserver import delivery, inprocess
from tests import services
from tests.devices.simulator.panelworld import small_ticket
from tests.factories import (
    DeliveryState,
    DeviceFactory,
    GroupFactory,
    JobSource,
    JobState,
    ScanJob,
    ScanProcessFactory,
    ScanServerFactory,
    UserFactory,
)
from tests.scanserver import endpoint_helpers, servers
from tests.scanserver import test_ingest_wsd as wsd
from tests.scanserver.endpoint_helpers import BASE, asgi_client, close_server_connections

SUCCESS = "PostScanJobCompletedSuccessfully"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class World:
    server: Any
    device: Any
    token: str
    alice: Any
    alice_sid: str

    @property
    def url(self) -> str:
        return "%s/ScanServer/%s" % (BASE, self.server.guid)

    def process(self, name: str, specs: list[sp.DestinationSpec], **fields: Any) -> Any:
        return ScanProcessFactory(
            display_name=name,
            ticket_xml=sp.ticket_to_xml(small_ticket(name)),
            scan_server=self.server,
            document_root_name="Scan",
            allowed_groups=["scanners"],
            destinations=specs,
            published=True,
            **fields,
        )

    def push(self, process: Any, sheets: int = 2) -> tuple[ScanJob, push.PushResult]:
        """The simulator scans ``sheets`` sheets and pushes them; returns the job after processing."""
        device = make_device(SimulatorConfig(adf_pages=5), 0)
        request = push.request_from_psp_xml(
            process.published_version.psp_xml.encode(),
            server_url=self.url,
            user_sid=self.alice_sid,
            sheets=sheets,
            psp_identifier=process.guid,
        )

        async def go() -> push.PushResult:
            async with asgi_client(self.token) as client:
                return await push.push_job(device, request, client=client)

        result = asyncio.run(go())
        # EndPostScanJob was answered once the job was pending; the worker thread does the rest.
        assert inprocess.wait_idle(60), "the scan server's worker thread is still busy"
        return ScanJob.objects.get(token=result.job_token), result


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    from directory.identity import identity_for

    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_GUID = ""
    settings.SCANSERVER_DELIVERY_BACKOFF = 0
    settings.SCANSERVER_DELIVERY_MAX_ATTEMPTS = 1
    from smc.celery import app

    # The project's app, made default and current: another test module may have created its own
    # Celery app (test_crash_worker), and shared tasks resolve to the current one in each thread
    # (the ASGI app runs the on-commit processing in its own thread).
    app.set_default()
    app.set_current()
    conf = app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    server = ScanServerFactory(name="scan01", fqdn="scan.test", port=5362)
    device = DeviceFactory(name="MFP 1")
    token = device.issue_token()
    device.save(update_fields=["token_hash"])
    alice = UserFactory(username="alice", password="x", groups=[GroupFactory(name="scanners")])
    try:
        yield World(server, device, token, alice, identity_for(alice))
    finally:
        inprocess.wait_idle(60)  # nothing of this test may still run when its tables are flushed
        conf.task_always_eager, conf.task_eager_propagates = saved
        close_server_connections()


def assert_delivered(job: ScanJob, result: push.PushResult, arrived: bytes) -> dict[str, Any]:
    """Completed successfully, one PDF from the pushed pages, and the bytes that arrived are it."""
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED, (job.error, [d.last_error for d in job.deliveries.all()])
    assert job.state_reasons == [SUCCESS]
    assert [p.sha256 for p in job.pages.order_by("document_id")] == [d.sha256 for d in result.documents]
    (output,) = job.outputs.all()
    assert output.name.endswith(".pdf") and arrived.startswith(b"%PDF")
    assert sha(arrived) == output.sha256 and len(arrived) == output.size
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.DELIVERED and d.attempts == 1
    (r,) = d.receipt
    assert r["sha256"] == output.sha256 and r["size"] == output.size and r["name"] == output.name
    return r


# --------------------------------------------------------------------------- one per destination


def test_push_to_local_folder(world: World, tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    process = world.process("To folder", [sp.DestinationSpec("folder", {"path": str(scans)})])
    job, result = world.push(process)
    (pdf,) = scans.iterdir()
    r = assert_delivered(job, result, pdf.read_bytes())
    assert r["verified"] is True and Path(r["where"]) == pdf


def test_push_to_smb_share(world: World, tmp_path: Path) -> None:
    with servers.smbd(tmp_path / "smb") as samba:
        process = world.process(
            "To share",
            [
                sp.DestinationSpec(
                    "smb",
                    {"uncs": [samba.unc + "\\in"], "port": samba.port},
                    servers.SMB_USER,
                    servers.SMB_PASSWORD,
                )
            ],
        )
        job, result = world.push(process)
        (pdf,) = (samba.share_dir / "in").iterdir()
        r = assert_delivered(job, result, pdf.read_bytes())
    assert r["verified"] is True and r["where"] == samba.unc + "\\in\\" + pdf.name


def test_push_to_email_with_starttls_and_auth(world: World, tmp_path: Path) -> None:
    with servers.smtp(tmp_path / "smtp") as mail:
        config = {
            "addresses": ["team@example.test"],
            "smtp_host": "127.0.0.1",
            "smtp_port": mail.port,
            "starttls": True,
            "ca_file": str(mail.ca_file),
            "from": "scanner@example.test",
        }
        process = world.process("To mail", [sp.DestinationSpec("email", config, "mailer", "mail-pw-1!")])
        job, result = world.push(process)
        assert mail.logins == ["mailer"]
        ((rcpts, message),) = mail.messages
    assert rcpts == ["team@example.test"]
    (attachment,) = list(message.iter_attachments())
    r = assert_delivered(job, result, attachment.get_content())
    assert attachment.get_filename() == r["name"]


def test_push_to_sharepoint_webdav(world: World, tmp_path: Path) -> None:
    with servers.webdav(tmp_path / "dav") as dav:
        site = dav.url + "sites/team/Shared Documents/"
        process = world.process(
            "To SharePoint", [sp.DestinationSpec("webdav", {"site_urls": [site]}, dav.user, dav.password)]
        )
        job, result = world.push(process)
        (pdf,) = (dav.root / "sites" / "team" / "Shared Documents").iterdir()
        r = assert_delivered(job, result, pdf.read_bytes())
    assert r["verified"] is True and r["where"].endswith(pdf.name.replace(" ", "%20"))


def test_push_to_http_webhook(world: World) -> None:
    with servers.receiver() as hook:
        process = world.process("To webhook", [sp.DestinationSpec("http", {"url": hook.url}, "", hook.token)])
        job, result = world.push(process)
        (item,) = hook.received
    r = assert_delivered(job, result, item["content"])
    assert item["metadata"]["job"] == str(job.token) and item["filename"] == r["name"]


# --------------------------------------------------------------------------- one down, ContinueOnError


def test_one_destination_down_with_continue_on_error_delivers_the_other(world: World, tmp_path: Path) -> None:
    """The webhook is down (nothing listens); the folder after it is still delivered. With
    ContinueOnError=true the pipeline holds the job for an operator once the failed delivery is
    past its retry limit (here 1 attempt); the operator gives up on it → CompletedWithErrors."""
    scans = tmp_path / "scans"
    down = "http://127.0.0.1:%d/hook" % services.free_port()
    process = world.process(
        "Two places",
        [
            sp.DestinationSpec("http", {"url": down}, "", "token"),
            sp.DestinationSpec("folder", {"path": str(scans)}),
        ],
        continue_on_error=True,
    )
    assert process.published_version is not None
    job, _result = world.push(process)
    failed, delivered = job.deliveries.order_by("position")
    assert failed.state == DeliveryState.FAILED and failed.filter_state_reason == "UnknownError"
    assert delivered.state == DeliveryState.DELIVERED
    (output,) = job.outputs.all()
    (pdf,) = scans.iterdir()
    assert sha(pdf.read_bytes()) == output.sha256 == delivered.receipt[0]["sha256"]
    job.refresh_from_db()
    assert job.state == JobState.NEEDS_ATTENTION and "filter 1 (http)" in job.error

    assert delivery.cancel_failed(job.pk) == JobState.COMPLETED
    job.refresh_from_db()
    assert job.state_reasons == ["PostScanJobCompletedWithErrors"]


# --------------------------------------------------------------------------- WSD pull to the folder


def test_wsd_scan_to_computer_pulls_and_delivers_to_the_folder(world: World, tmp_path: Path) -> None:
    from devices.enrollment import enroll

    scans = tmp_path / "scans"
    process = world.process("WSD to folder", [sp.DestinationSpec("folder", {"path": str(scans)})])
    capture, port = wsd._Capture, services.free_port()  # the event capture of test_ingest_wsd
    capture.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", port), capture)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sim = SimulatorThread(
        SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=2, retrieve_timeout=30)
    )
    try:
        with sim as simulation:
            device_server = simulation.devices[0].server
            enroll(device_server.device_url, server=world.server)
            legacy = endpoint_helpers.World(
                world.server, world.device, world.token, process, world.alice_sid, ""
            )
            wsd.subscribe(legacy, device_server, "http://127.0.0.1:%d/sink" % port)
            answer = httpx.post(
                device_server.control_url + "/scan-available", json={"destination": "Invoices"}, timeout=10
            )
            assert answer.status_code == 200, answer.text
            services.wait_for(lambda: bool(capture.received), "the ScanAvailableEvent")
            assert wsd.deliver(legacy, capture.received[0]).status_code == 202
            services.wait_for(
                lambda: ScanJob.objects.filter(
                    state__in=[JobState.COMPLETED, JobState.NEEDS_ATTENTION, JobState.ABORTED]
                ).exists(),
                "the pull, the PDF and the delivery",
                timeout=60,
            )
    finally:
        httpd.shutdown()
    job = ScanJob.objects.get()
    assert job.source == JobSource.WSD and job.process == process
    assert [p.document_id for p in job.pages.order_by("document_id")] == [1, 2]
    (pdf,) = scans.iterdir()
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED, job.error
    assert job.state_reasons == [SUCCESS]
    (output,) = job.outputs.all()
    assert sha(pdf.read_bytes()) == output.sha256
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.DELIVERED and d.receipt[0]["sha256"] == output.sha256
