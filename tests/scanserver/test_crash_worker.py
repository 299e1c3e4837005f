"""A real ``celery -A smc worker`` on a throwaway Redis, SIGKILLed mid-processing and
mid-delivery; after restarts and the recovery task every page is delivered exactly once.

``SMC_PIPELINE_TEST_DELAY`` slows building (per page) and delivering (per document) in the worker
so the kill lands inside a step. The output format is JPEG per page, which the pipeline copies
byte for byte, so "exactly once" is checked file by file against the pages' own sha256.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from tests import services
from tests.factories import (
    Delivery,
    DeliveryState,
    JobState,
    OutputDocument,
    ScanJob,
    ScanJobFactory,
    ScanProcessFactory,
)
from tests.scanserver.scanfiles import files_in, page_bytes, sha

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PAGES = 6


@pytest.fixture
def redis_url() -> Iterator[str]:
    base = Path(tempfile.mkdtemp(prefix="opendsm-crash-redis-"))
    port = services.free_port()
    proc = subprocess.Popen(
        [
            services.which("redis-server"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        cwd=base,
    )
    try:
        services.wait_for(lambda: services.port_open(port), "redis on port %d" % port)
        yield "redis://127.0.0.1:%d/0" % port
    finally:
        services.stop_process(proc)
        shutil.rmtree(base, ignore_errors=True)


def _database_url() -> str:
    s = connection.settings_dict
    return "postgres://%s@%s:%s/%s" % (
        s["USER"] or "postgres",
        s["HOST"] or "127.0.0.1",
        s["PORT"] or 5432,
        s["NAME"],
    )


class Workers:
    def __init__(self, redis_url: str, logdir: Path) -> None:
        self.redis_url = redis_url
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, delay: str = "", extra: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            SMC_DATABASE_URL=_database_url(),
            SMC_REDIS_URL=self.redis_url,
            SMC_DATA_DIR=str(settings.DATA_DIR),
            SMC_SPOOL_DIR=str(settings.SCANSERVER_SPOOL_DIR),
            SMC_PIPELINE_TEST_DELAY=delay,
            SMC_DELIVERY_BACKOFF="0",
        )
        env.update(extra or {})
        if settings.SECRET_KEY:  # the same key, so the worker can unseal destination secrets
            env["SMC_SECRET_KEY"] = settings.SECRET_KEY
        log = (self.logdir / ("%s.log" % name)).open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "smc",
                "worker",
                "-Q",
                "ingest,deliver",
                "--pool=solo",
                "-n",
                "%s@127.0.0.1" % name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            services.stop_process(proc)


@pytest.fixture
def workers(redis_url: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(redis_url, tmp_path)
    try:
        yield w
    finally:
        w.stop_all()


def wait(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def send(redis_url: str, task: str, *args: Any) -> None:
    app = Celery("crash-test", broker=redis_url)
    queue = "deliver" if task.endswith("deliver") else "ingest"
    app.send_task(task, args=list(args), queue=queue)
    app.close()


def test_worker_killed_mid_processing_and_mid_delivery_delivers_every_page_once(
    workers: Workers, redis_url: str, tmp_path: Path
) -> None:
    scans = tmp_path / "scans"
    blobs = [page_bytes(n, dpi=40) for n in range(1, PAGES + 1)]
    process = ScanProcessFactory(
        pipeline=True, destinations=[{"kind": "folder", "config": {"path": str(scans)}}], output_format="jpeg"
    )
    job = ScanJobFactory(process=process, pages=blobs)

    # 1. kill during building (0.4 s per page)
    first = workers.start("crash-a", "build=0.4,deliver=0.4")
    send(redis_url, "scanserver.tasks.process_job", job.pk)
    wait(lambda: OutputDocument.objects.filter(job=job).count() >= 2, "two outputs built")
    workers.kill(first)
    job.refresh_from_db()
    assert job.state == JobState.PROCESSING
    built = OutputDocument.objects.filter(job=job).count()
    assert 2 <= built < PAGES
    assert not Delivery.objects.filter(job=job).exists()

    # 2. restart, recover; kill during delivery (0.4 s per document)
    second = workers.start("crash-b", "build=0.4,deliver=0.4")
    send(redis_url, "scanserver.tasks.recover", 0)
    wait(lambda: scans.is_dir() and len(files_in(scans)) >= 2, "two documents delivered")
    workers.kill(second)
    (delivery,) = Delivery.objects.filter(job=job)
    assert delivery.state == DeliveryState.SENDING
    assert 2 <= len(files_in(scans)) < PAGES

    # 3. restart without delays, recover: the job completes
    workers.start("crash-c")
    send(redis_url, "scanserver.tasks.recover", 0)
    wait(lambda: ScanJob.objects.get(pk=job.pk).state == JobState.COMPLETED, "the job to complete")

    delivered = files_in(scans)
    assert len(delivered) == PAGES
    assert sorted(delivered.values()) == sorted(sha(b) for b in blobs)  # each page once, byte for byte
    assert OutputDocument.objects.filter(job=job).count() == PAGES
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.DELIVERED and len(delivery.receipt) == PAGES
