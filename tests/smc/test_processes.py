"""The real processes: a Celery worker on Redis, the console websocket over channels-redis,
and the scan server's own ASGI app under daphne."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests import services

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.redis


def redis_url() -> str:
    url = os.environ.get("SMC_REDIS_URL")
    if not url:
        pytest.fail("SMC_REDIS_URL is not set: run the suite through scripts/test.sh")
    return url


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "SMC_REDIS_URL": redis_url(), "SMC_DATA_DIR": str(tmp_path)}
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "smc",
            "worker",
            "--pool=solo",
            "-Q",
            "ingest,deliver,devices",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            "-n",
            "test-%s@localhost" % uuid.uuid4().hex[:8],
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        services.stop_process(proc)
        log.close()


def test_a_real_worker_consumes_each_queue(worker: subprocess.Popen[bytes]) -> None:
    from smc.celery import app

    assert not settings.CELERY_TASK_ALWAYS_EAGER, "the test command must set SMC_REDIS_URL"
    for queue in ("ingest", "deliver", "devices"):
        token = uuid.uuid4().hex
        result = app.send_task("smc.tasks.ping", args=[token], queue=queue)
        assert result.get(timeout=60) == "pong:%s" % token
    assert worker.poll() is None


@pytest.mark.django_db(transaction=True)
async def test_websocket_gets_broadcasts_after_commit_and_refuses_anonymous(cast_async: Any) -> None:
    from channels.testing import WebsocketCommunicator
    from django.db import transaction

    from core import broadcast as status
    from smc.asgi import application

    anonymous = WebsocketCommunicator(application, "/ws/jobs/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, code = await anonymous.connect()
    assert not connected

    communicator = WebsocketCommunicator(
        application, "/ws/jobs/", headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cast_async.encode())]
    )
    connected, _ = await communicator.connect()
    assert connected

    from channels.db import database_sync_to_async

    def send_in_transaction() -> None:
        with transaction.atomic():
            status.broadcast("job", "42", "Processing", pages=3)

    await database_sync_to_async(send_in_transaction)()
    message = await communicator.receive_json_from(timeout=10)
    assert message == {"kind": "job", "id": "42", "state": "Processing", "pages": 3}
    await communicator.disconnect()
    from django.db import connections

    # The consumer's queries ran on asgiref's sync thread: close that thread's connection so the
    # test database can be dropped at the end of the session.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def cast_async(transactional_db: None) -> str:
    """A signed-in operator's session cookie (created synchronously for the async test)."""
    from django.test import Client

    from tests.factories import UserFactory

    user = UserFactory(username="wsop", password="wsop-local-pw1!", roles={"operator"})
    client = Client()
    client.force_login(user)
    return "%s=%s" % (settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_scanserver_asgi_serves_health_under_daphne(tmp_path: Path) -> None:
    port = services.free_port()
    env = {
        **os.environ,
        "SMC_DATA_DIR": str(tmp_path),
        "SMC_DATABASE_URL": "sqlite:///%s/scanserver.db" % tmp_path,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "scanserver.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "daphne.log", "wb"),
        start_new_session=True,
    )
    try:
        services.wait_for(lambda: services.port_open(port), "daphne on %d" % port, timeout=30)
        health = httpx.get("http://127.0.0.1:%d/healthz" % port, timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["service"] == "scanserver"
        assert health.json()["checks"]["database"]["ok"] is True
        missing = httpx.get("http://127.0.0.1:%d/ScanServer/nothing" % port, timeout=10)
        assert missing.status_code == 404
        assert proc.poll() is None
    finally:
        services.stop_process(proc)
