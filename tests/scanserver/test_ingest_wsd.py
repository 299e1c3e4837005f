"""WSD scan to computer against the simulator: subscribe with a ScanDestination, the device's
ScanAvailableEvent reaches the sink, the server pulls every image into the spool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.enrollment import enroll
from devices.protocols import eventing, soap, transport
from devices.protocols.wsscan import events as ev
from devices.simulator.run import SimulatorConfig, SimulatorThread
from scanserver import eventsink
from tests import services
from tests.factories import JobSource, JobState, ScanJob, Subscription, SubscriptionFactory, SubscriptionKind
from tests.scanserver.endpoint_helpers import World, asgi_client, close_server_connections, make_world


class _Capture(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        type(self).received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def setup(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[tuple[World, Any, str]]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_GUID = ""
    world = make_world()
    sim = SimulatorThread(
        SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=3, retrieve_timeout=30)
    )
    port = services.free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Capture)
    _Capture.received = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with sim as simulation:
        server = simulation.devices[0].server
        device = enroll(server.device_url, server=world.server).device
        yield world, server, "http://127.0.0.1:%d/sink" % port
        del device
    httpd.shutdown()
    close_server_connections()


def subscribe(world: World, device_server: Any, capture_url: str) -> Subscription:
    from tests.factories import Device

    device = Device.objects.get(scan_service_url=device_server.scan_url)
    key = eventsink.new_sink_key()
    dest = ev.ScanDestinations((ev.ScanDestination("Invoices", "ctx-invoices"),))
    req = eventing.Subscribe(
        notify_to=eventsink.notify_to(capture_url, key),
        filter_actions=(ev.ScanAvailableEvent.ACTION,),
        extensions=eventing.Elements.of([dest.to_element()]),
    )
    reply = transport.post_soap(device_server.scan_url, eventing.build_subscribe(device_server.scan_url, req))
    assert reply.body is not None
    responses = ev.find_destination_responses(reply.body)
    assert responses is not None
    return SubscriptionFactory(
        device=device,
        kind=SubscriptionKind.SCAN_AVAILABLE,
        sink_key=key,
        destinations=[
            {
                "client_context": "ctx-invoices",
                "display_name": "Invoices",
                "token": responses.token_for("ctx-invoices"),
                "process": str(world.process.guid),
            }
        ],
    )


def deliver(world: World, event: bytes) -> httpx.Response:
    url = world.url + "/events"

    async def go() -> httpx.Response:
        async with asgi_client() as client:
            return await client.post(url, content=event, headers={"Content-Type": soap.CONTENT_TYPE})

    return asyncio.run(go())


def test_scan_available_event_pulls_every_image(setup: tuple[World, Any, str]) -> None:
    world, device_server, capture_url = setup
    subscribe(world, device_server, capture_url)
    answer = httpx.post(
        device_server.control_url + "/scan-available", json={"destination": "Invoices"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    services.wait_for(lambda: bool(_Capture.received), "the ScanAvailableEvent")

    resp = deliver(world, _Capture.received[0])
    assert resp.status_code == 202, resp.text
    services.wait_for(
        lambda: ScanJob.objects.filter(state__in=[JobState.PENDING, JobState.ABORTED]).exists(),
        "the pull to finish",
        timeout=60,
    )
    job = ScanJob.objects.get()
    assert job.state == JobState.PENDING, job.error
    assert job.source == JobSource.WSD and job.process == world.process
    pages = list(job.pages.order_by("document_id"))
    assert [p.document_id for p in pages] == [1, 2, 3]
    import hashlib

    for p in pages:
        assert hashlib.sha256(Path(p.spool_path).read_bytes()).hexdigest() == p.sha256


def test_events_without_our_key_are_refused(setup: tuple[World, Any, str]) -> None:
    world, device_server, capture_url = setup
    subscribe(world, device_server, capture_url)
    forged = soap.build_envelope(
        soap.Headers(action=ev.ScanAvailableEvent.ACTION, to=world.url + "/events"),
        ev.ScanAvailableEvent("ctx-invoices", "scan-1").to_element(),
    )
    resp = deliver(world, forged)
    assert resp.status_code == 400 and "does not belong" in resp.text
    assert not ScanJob.objects.exists()
