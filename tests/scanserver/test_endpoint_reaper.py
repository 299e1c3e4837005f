"""Always terminal: the reaper times out silent jobs, resumes stuck ones, re-queues pending ones;
and job changes reach WS-Eventing subscribers of the endpoint."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.utils import timezone

from devices.protocols import dsc, dsp, eventing, soap
from scanserver import events, reaper
from tests import services
from tests.factories import JobState, ScanJob, ScanJobFactory
from tests.scanserver.endpoint_helpers import (
    CONSOLE_TOKEN,
    World,
    asgi_client,
    close_server_connections,
    make_world,
)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_CONSOLE_TOKEN = CONSOLE_TOKEN
    settings.SCANSERVER_GUID = ""
    settings.SCANSERVER_JOB_TIMEOUT = 600
    settings.SCANSERVER_STUCK_TIMEOUT = 1800
    yield make_world()
    close_server_connections()


def _job(world: World, state: str, idle: timedelta) -> ScanJob:
    job = ScanJobFactory(server=world.server, device=world.device)
    if state in (JobState.PENDING, JobState.PROCESSING):
        job.end_transfer()
    if state == JobState.PROCESSING:
        job.start_processing()
    ScanJob.objects.filter(pk=job.pk).update(last_activity_at=timezone.now() - idle)
    job.refresh_from_db()
    return job


def test_reaper_times_out_resumes_and_requeues(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[int] = []
    monkeypatch.setattr(reaper.dispatch, "queue_processing", queued.append)
    silent = _job(world, JobState.RECEIVING, timedelta(minutes=11))
    talking = _job(world, JobState.RECEIVING, timedelta(minutes=9))
    stuck = _job(world, JobState.PROCESSING, timedelta(minutes=31))
    busy = _job(world, JobState.PROCESSING, timedelta(minutes=5))
    waiting = _job(world, JobState.PENDING, timedelta(minutes=6))

    report = reaper.reap()

    states = {j.pk: ScanJob.objects.get(pk=j.pk) for j in (silent, talking, stuck, busy, waiting)}
    assert states[silent.pk].state == JobState.ABORTED
    assert states[silent.pk].state_reasons == ["PostScanJobTimedOut"]
    assert states[talking.pk].state == JobState.RECEIVING
    assert states[stuck.pk].state == JobState.PENDING
    assert states[busy.pk].state == JobState.PROCESSING
    assert sorted(queued) == sorted([stuck.pk, waiting.pk])
    assert report.timed_out == [str(silent.token)] and report.resumed == [str(stuck.token)]

    out = io.StringIO()
    call_command("reap_jobs", stdout=out)
    assert "timed out 0" in out.getvalue()


def test_startup_requeues_every_pending_job(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[int] = []
    monkeypatch.setattr(reaper.dispatch, "queue_processing", queued.append)
    fresh = _job(world, JobState.PENDING, timedelta(seconds=1))
    assert reaper.on_startup().requeued == [str(fresh.token)] and queued == [fresh.pk]


def test_register_scan_server_prints_the_endpoint(world: World) -> None:
    out = io.StringIO()
    call_command("register_scan_server", "scan01", "scan.example.test", "--port", "5362", stdout=out)
    world.server.refresh_from_db()
    assert world.server.fqdn == "scan.example.test"
    assert "https://scan.example.test:5362/ScanServer/%s" % world.server.guid in out.getvalue()


class _Sink(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(self.rfile.read(length))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_subscribers_get_status_and_end_state_events(world: World) -> None:
    port = services.free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
    _Sink.received = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        sink = "http://127.0.0.1:%d/events" % port
        wanted = (dsc.PostScanJobEndStateEvent.action, dsp.PostScanJobStatusEvent.action)
        sub = eventing.Subscribe(notify_to=eventing.EndpointReference(sink), filter_actions=wanted)

        async def subscribe() -> httpx.Response:
            async with asgi_client(CONSOLE_TOKEN) as client:
                return await client.post(
                    world.url,
                    content=eventing.build_subscribe(world.url, sub),
                    headers={"Content-Type": soap.CONTENT_TYPE},
                )

        assert asyncio.run(subscribe()).status_code == 200
        job = _job(world, JobState.PENDING, timedelta(0))
        # Every transition announces itself: the move to pending sent its status event first.
        services.wait_for(lambda: len(_Sink.received) >= 1, "the pending job's status event", timeout=10)
        _Sink.received.clear()
        job.cancel()
        services.wait_for(lambda: len(_Sink.received) >= 2, "two events at the sink", timeout=10)
        bodies = [soap.parse_envelope(b) for b in _Sink.received]
        actions = sorted(e.headers.action for e in bodies)
        assert actions == sorted(wanted)
        end = next(e for e in bodies if e.headers.action == dsc.PostScanJobEndStateEvent.action)
        assert end.body is not None
        parsed = dsc.from_element(end.body)
        assert isinstance(parsed, dsc.PostScanJobEndStateEvent)
        assert parsed.end_state.completed_state == "Canceled"
        assert parsed.end_state.job_token == str(job.token).upper()
    finally:
        httpd.shutdown()
        for s in events.manager().all():
            events.manager().cancel(s.id)
