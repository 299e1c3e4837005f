"""Job events made by another process (a Celery worker, another replica) reach this scan-server
process's WS-Eventing subscribers through the shared channel layer (real Redis)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devices.protocols import dsp, eventing, soap
from scanserver import events
from tests import services
from tests.factories import ScanJob, ScanJobFactory, ScanServerFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


class _Sink(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        type(self).received.append(self.rfile.read(length))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", services.free_port()), _Sink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield "http://127.0.0.1:%d/events" % httpd.server_address[1]
    finally:
        httpd.shutdown()
        for sub in events.manager().all():
            events.manager().cancel(sub.id)


@pytest.fixture
def relay() -> Iterator[None]:
    from channels_redis.core import RedisChannelLayer

    url = os.environ.get("SMC_REDIS_URL")
    if not url:
        pytest.fail("SMC_REDIS_URL is not set: run the suite through scripts/test.sh")
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    layer = RedisChannelLayer(hosts=[{"address": url, "socket_timeout": 30}])  # as smc/settings.py
    task = loop.create_task(events.relay(layer, stop))
    thread = threading.Thread(target=loop.run_until_complete, args=(task,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        from asgiref.sync import sync_to_async
        from django.db import connections

        # The relay's queries ran on asgiref's sync thread: close that connection too.
        loop.run_until_complete(sync_to_async(connections.close_all, thread_sensitive=True)())
        loop.close()


def broadcast_from_another_process(job: ScanJob) -> None:
    code = (
        "import django; django.setup()\n"
        "from scanserver.models import ScanJob\n"
        "job = ScanJob(pk=%d, token=%r, state='canceled', state_reasons=['PostScanJobCanceled'])\n"
        "job.announce()\n" % (job.pk, str(job.token))
    )
    from django.db import connection

    db = connection.settings_dict
    url = "postgres://%s@%s:%s/%s" % (db["USER"], db["HOST"], db["PORT"], db["NAME"])  # the test database
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smc.settings", "SMC_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True
    )


def test_a_workers_job_events_reach_this_processs_subscribers(sink: str, relay: None) -> None:
    wanted = (dsp.PostScanJobEndStateEvent.action,)
    events.manager().subscribe(
        eventing.Subscribe(notify_to=eventing.EndpointReference(sink), filter_actions=wanted)
    )
    job = ScanJobFactory(psp_display_name="Relay")
    job.cancel()
    broadcast_from_another_process(job)
    services.wait_for(lambda: len(_Sink.received) >= 1, "the relayed end-state event", timeout=15)
    envelope = soap.parse_envelope(_Sink.received[0])
    assert envelope.headers.action == dsp.PostScanJobEndStateEvent.action
    assert envelope.body is not None
    parsed = dsp.from_element(envelope.body)
    assert isinstance(parsed, dsp.PostScanJobEndStateEvent)
    assert parsed.end_state.job_token == str(job.token).upper()
    assert parsed.end_state.completed_state == "Canceled"


def test_own_broadcasts_are_not_relayed_twice(sink: str, relay: None) -> None:
    wanted = (dsp.PostScanJobEndStateEvent.action,)
    events.manager().subscribe(
        eventing.Subscribe(notify_to=eventing.EndpointReference(sink), filter_actions=wanted)
    )
    job = ScanJobFactory(psp_display_name="Relay")
    job.cancel()
    services.wait_for(lambda: len(_Sink.received) >= 1, "the direct end-state event", timeout=15)
    broadcast_from_another_process(ScanJob(pk=-1, token=job.token))  # an unrelated id: ignored
    import time

    time.sleep(2)  # give a wrongly relayed duplicate the time to arrive
    assert len(_Sink.received) == 1


def test_repository_status_summary_follows_idle_and_processing(sink: str) -> None:
    from devices.protocols import dsc

    wanted = (dsc.RepositoryStatusSummaryEvent.action,)
    events.manager().subscribe(
        eventing.Subscribe(notify_to=eventing.EndpointReference(sink), filter_actions=wanted)
    )
    server = ScanServerFactory(name="summary", fqdn="127.0.0.1")
    job = ScanJobFactory(server=server)
    job.end_transfer()  # pending: the repository is Processing
    services.wait_for(lambda: len(_Sink.received) >= 1, "the first summary", timeout=15)
    job.start_processing()
    job.complete()
    services.wait_for(lambda: len(_Sink.received) >= 2, "two summaries", timeout=15)
    import time

    time.sleep(1)  # a wrongly repeated summary would arrive now
    states = []
    for data in _Sink.received:
        envelope = soap.parse_envelope(data)
        assert (
            envelope.headers.action == dsc.RepositoryStatusSummaryEvent.action and envelope.body is not None
        )
        parsed = dsc.from_element(envelope.body)
        assert isinstance(parsed, dsc.RepositoryStatusSummaryEvent)
        states.append(parsed.state)
    assert states == ["Processing", "Idle"]
