"""The embedded default's in-process worker (scanserver.inprocess): processing runs on a worker
thread of the scan server's process, never inside the request that carried EndPostScanJob.

* the runner on its own: FIFO on one thread, survives a failing item, graceful shutdown;
* ``dispatch.queue_processing`` in this process (eager Celery, the PostgreSQL test database): with
  background tasks on, ``process_job`` runs on the worker thread; off, in the caller;
* a real scan server (``manage.py runscanserver``) on the README's embedded defaults — SQLite, no
  Redis, ``demo_setup``'s data — with devices pushing concurrently: every EndPostScanJob is answered
  while its job is still pending or processing, the jobs complete later in arrival order with their
  PDFs in the folder; SIGKILL with jobs pending → restart → they complete; SIGTERM mid-job → the
  job in hand finishes, the queued one waits for the next start.

``SMC_PIPELINE_TEST_DELAY`` slows building (seconds per page) so that processing visibly outlasts
the answer to the device; with processing inline, the answer would come only after the delivery.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scanserver import dispatch, inprocess
from tests import services
from tests.factories import JobState, ScanJob, ScanJobFactory, ScanProcessFactory
from tests.scanserver.scanfiles import files_in, page_bytes

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = ("completed", "canceled", "aborted", "needs_attention")


# --------------------------------------------------------------------------- the runner


def test_runner_processes_in_arrival_order_on_its_thread_and_survives_a_failure() -> None:
    seen: list[tuple[int, str]] = []

    def work(job_id: int) -> None:
        seen.append((job_id, threading.current_thread().name))
        if job_id == 2:
            raise RuntimeError("a broken job")

    runner = inprocess.Runner(work, name="test-runner")
    try:
        assert all(runner.submit(n) for n in (1, 2, 3, 4))
        assert runner.wait_idle(30)
        assert [job for job, _ in seen] == [1, 2, 3, 4]
        assert {name for _, name in seen} == {"test-runner"}
        assert runner.submit(5) and runner.wait_idle(30)  # still there after the failure
        assert seen[-1] == (5, "test-runner")
    finally:
        assert runner.shutdown(10)


def test_shutdown_finishes_the_job_in_hand_and_takes_no_more() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []
    stopped: list[bool] = []

    def work(job_id: int) -> None:
        seen.append(job_id)
        if job_id == 1:
            started.set()
            release.wait(30)

    runner = inprocess.Runner(work, name="test-runner")
    for n in (1, 2, 3):
        runner.submit(n)
    assert started.wait(30)
    stopper = threading.Thread(target=lambda: stopped.append(runner.shutdown(30)))
    stopper.start()
    services.wait_for(lambda: not runner.submit(4), "the runner to refuse new work")
    assert runner.pending() == []  # 2 and 3 were dropped: their rows stay pending for recovery
    assert stopper.is_alive()  # still waiting for job 1
    release.set()
    stopper.join(30)
    assert stopped == [True] and seen == [1]


# --------------------------------------------------------------------------- queue_processing here


@pytest.fixture
def eager(settings: Any, transactional_db: None) -> Iterator[list[tuple[int, str]]]:
    """The embedded default in this process: eager Celery; records who ran process_job where."""
    from celery.signals import task_prerun

    from smc.celery import app

    runs: list[tuple[int, str]] = []

    def record(sender: Any = None, args: Any = None, **kwargs: Any) -> None:
        if sender is not None and sender.name == "scanserver.tasks.process_job":
            runs.append((int(args[0]), threading.current_thread().name))

    app.set_default()
    app.set_current()
    conf = app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    settings.SCANSERVER_DELIVERY_BACKOFF = 0
    task_prerun.connect(record, weak=False)
    try:
        yield runs
    finally:
        task_prerun.disconnect(record)
        assert inprocess.wait_idle(60)
        conf.task_always_eager, conf.task_eager_propagates = saved


def folder_process(root: Path) -> Any:
    return ScanProcessFactory(pipeline=True, destinations=[{"kind": "folder", "config": {"path": str(root)}}])


def test_queued_jobs_are_processed_on_the_worker_thread_in_order(
    eager: list[tuple[int, str]], tmp_path: Path
) -> None:
    process = folder_process(tmp_path / "scans")
    jobs = [ScanJobFactory(process=process, pages=[page_bytes(n, dpi=30)]) for n in (1, 2, 3)]
    for job in jobs:
        dispatch.queue_processing(job.pk)
    assert inprocess.wait_idle(60)
    assert eager == [(job.pk, "scanserver-inprocess") for job in jobs]
    assert [ScanJob.objects.get(pk=job.pk).state for job in jobs] == [JobState.COMPLETED] * 3
    assert len(files_in(tmp_path / "scans")) == 3


def test_with_background_tasks_off_processing_runs_in_the_caller(
    eager: list[tuple[int, str]], settings: Any, tmp_path: Path
) -> None:
    settings.SCANSERVER_BACKGROUND_TASKS = False
    job = ScanJobFactory(process=folder_process(tmp_path), pages=[page_bytes(1, dpi=30)])
    dispatch.queue_processing(job.pk)
    assert eager == [(job.pk, threading.current_thread().name)]
    assert ScanJob.objects.get(pk=job.pk).state == JobState.COMPLETED


def test_maintenance_processes_inline_even_with_background_tasks_on(
    eager: list[tuple[int, str]], tmp_path: Path
) -> None:
    job = ScanJobFactory(process=folder_process(tmp_path), pages=[page_bytes(1, dpi=30)])
    with dispatch.processing_inline():
        dispatch.queue_processing(job.pk)
    assert eager == [(job.pk, threading.current_thread().name)]
    assert ScanJob.objects.get(pk=job.pk).state == JobState.COMPLETED


def test_run_maintenance_processes_what_it_requeues_before_it_returns(
    eager: list[tuple[int, str]], tmp_path: Path
) -> None:
    """A job pending for longer than the reaper's REQUEUE_AFTER (its hand-over was lost) is
    processed by ``run_maintenance --once`` itself, not left on a thread the command abandons."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from scanserver import reaper

    job = ScanJobFactory(process=folder_process(tmp_path), pages=[page_bytes(1, dpi=30)])
    stale = timezone.now() - timedelta(seconds=reaper.REQUEUE_AFTER + 60)
    ScanJob.objects.filter(pk=job.pk).update(last_activity_at=stale)
    call_command("run_maintenance", "--once")
    assert eager == [(job.pk, threading.current_thread().name)]
    assert ScanJob.objects.get(pk=job.pk).state == JobState.COMPLETED


# --------------------------------------------------------------------------- a real scan server


@dataclass
class Demo:
    """The README's embedded installation: migrated SQLite, demo_setup, the env of its processes."""

    data: Path
    port: int
    env: dict[str, str]
    url: str
    psp_xml: bytes
    psp_id: uuid.UUID
    user_sid: str
    tokens: list[str]

    @property
    def scans(self) -> Path:
        return self.data / "scans"

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return done.stdout.decode()

    def states(self) -> dict[str, tuple[str, Any, Any]]:
        """token hex → (state, ended_at, completed_at), read from the SQLite file as it is."""
        db = sqlite3.connect("file:%s?mode=ro" % (self.data / "opendsm.sqlite3"), uri=True, timeout=30)
        try:
            rows = db.execute(
                "SELECT token, state, ended_at, completed_at FROM scanserver_scanjob"
            ).fetchall()
        finally:
            db.close()
        return {
            uuid.UUID(str(token)).hex: (state, ended, completed) for token, state, ended, completed in rows
        }

    def state_of(self, tokens: list[str]) -> list[str]:
        now = self.states()
        return [now[uuid.UUID(t).hex][0] for t in tokens]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("embedded")
    port = services.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMC_") and k != "DJANGO_SETTINGS_MODULE"}
    # No SMC_DATABASE_URL, no SMC_REDIS_URL: SQLite, in-memory channels, eager Celery.
    env.update(SMC_DATA_DIR=str(data), SMC_SCANSERVER_ALLOW_PLAIN_HTTP="1", SMC_LOG_LEVEL="info")
    demo = Demo(data, port, env, "", b"", uuid.UUID(int=0), "", [])
    demo.manage("migrate", "--noinput")
    demo.manage(
        "demo_setup",
        "--scan-server-port",
        str(port),
        "--devices",
        "3",
        "--password-file",
        str(data / "demo-password"),
        "--tokens-file",
        str(data / "tokens.json"),
        "--scans-dir",
        str(data / "scans"),
    )
    code = (
        "import json;from django.contrib.auth.models import User;from devices.models import ScanServer;"
        "from directory.identity import identity_for;from scanprocesses.models import ScanProcess;"
        "p=ScanProcess.objects.get(display_name='Scan to folder');"
        "print(json.dumps({'url':ScanServer.objects.get().endpoint_url,'guid':str(p.guid),"
        "'psp':p.published_version.psp_xml,'sid':identity_for(User.objects.get(username='demo'))}))"
    )
    facts = json.loads(demo.manage("shell", "-c", code).strip().splitlines()[-1])
    from devices.simulator.device import Identity

    tokens = json.loads((data / "tokens.json").read_text())
    demo.url, demo.psp_xml, demo.psp_id = facts["url"], facts["psp"].encode(), uuid.UUID(facts["guid"])
    demo.user_sid = facts["sid"]
    demo.tokens = [tokens[Identity.from_seed("opendsm", i).endpoint] for i in range(3)]
    return demo


SERVERS = {
    # The production command: uvicorn, with the ASGI lifespan (startup recovery at start).
    "runscanserver": ["manage.py", "runscanserver", "--port", "{port}"],
    # What scripts/run.sh starts today: daphne, no lifespan (startup recovery on the first request).
    "daphne": ["-m", "daphne", "-b", "127.0.0.1", "-p", "{port}", "scanserver.asgi:application"],
}


class ScanServerProcess:
    """The scan server as its own process on the demo's port and database."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = demo.data / "scanserver.log"

    def start(self, build_delay: float = 0.0, server: str = "runscanserver") -> None:
        env = dict(self.demo.env, SMC_PIPELINE_TEST_DELAY="build=%s" % build_delay if build_delay else "")
        command = [arg.format(port=self.demo.port) for arg in SERVERS[server]]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        services.wait_for(lambda: services.port_open(self.demo.port), "the scan server", timeout=30)

    def signal(self, sig: int, timeout: float = 90) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            services.stop_process(self.proc, timeout=60)
            self.proc = None


@pytest.fixture
def scan_server(demo: Demo) -> Iterator[ScanServerProcess]:
    server = ScanServerProcess(demo)
    try:
        yield server
    finally:
        server.stop()
    assert "database is locked" not in server.log.read_text(errors="replace")


def push_all(demo: Demo, devices: list[int], sheets: int = 2) -> list[str]:
    """Devices ``devices`` scan and push at the same time; returns the job tokens once every
    EndPostScanJob is answered (push_job raises unless the answer is EndPostScanJobResponse)."""
    from devices.simulator import push
    from devices.simulator.run import SimulatorConfig, make_device

    async def one(index: int) -> str:
        request = push.request_from_psp_xml(
            demo.psp_xml,
            server_url=demo.url,
            user_sid=demo.user_sid,
            sheets=sheets,
            psp_identifier=demo.psp_id,
        )
        device = make_device(SimulatorConfig(adf_pages=10), index)
        headers = {"Authorization": "Bearer " + demo.tokens[index]}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            result = await push.push_job(device, request, client=client)
        return result.job_token

    async def all_of() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in devices)))

    return asyncio.run(all_of())


def wait_ended(demo: Demo, tokens: list[str], timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = demo.state_of(tokens)
        if all(s in TERMINAL for s in states):
            return states
        time.sleep(0.2)
    raise AssertionError("jobs did not end: %s" % demo.state_of(tokens))


@pytest.mark.slow
def test_end_post_scan_job_is_answered_before_processing_and_jobs_complete_in_order(
    demo: Demo, scan_server: ScanServerProcess
) -> None:
    before = set(files_in(demo.scans)) if demo.scans.is_dir() else set()
    scan_server.start(build_delay=2)
    tokens = push_all(demo, [0, 1, 2])
    # Every device has its answer; building one job takes at least 4 s (2 pages × 2 s), so with
    # processing inside the request the first answers would only have come after completion.
    assert all(s in ("pending", "processing") for s in demo.state_of(tokens)), demo.state_of(tokens)
    assert wait_ended(demo, tokens) == ["completed"] * 3
    states = demo.states()
    rows = [states[uuid.UUID(t).hex] for t in tokens]
    by_end = sorted(range(3), key=lambda i: rows[i][1])
    by_completion = sorted(range(3), key=lambda i: rows[i][2])
    assert by_completion == by_end  # one worker thread: processed in the order they arrived
    new = set(files_in(demo.scans)) - before
    assert len(new) == 3 and all(name.endswith(".pdf") for name in new)
    assert all((demo.scans / name).read_bytes().startswith(b"%PDF-") for name in new)


@pytest.mark.slow
def test_sigkill_with_jobs_pending_then_restart_completes_them(
    demo: Demo, scan_server: ScanServerProcess
) -> None:
    before = set(files_in(demo.scans)) if demo.scans.is_dir() else set()
    scan_server.start(build_delay=3)
    tokens = push_all(demo, [0, 1, 2])
    scan_server.signal(signal.SIGKILL)
    states = demo.state_of(tokens)
    # The worker had at most the first job in hand (6 s of building); the others were queued only
    # in memory, and the kill lost that queue.
    assert sorted(states).count("pending") >= 2 and set(states) <= {"pending", "processing"}, states
    if "processing" in states:
        # What run_maintenance's recover does once the job has been idle SMC_SCANSERVER_STUCK_TIMEOUT.
        demo.manage("shell", "-c", "from scanserver import pipeline; pipeline.resume_stuck(0)")
    scan_server.start()  # lifespan startup: every pending job is queued again
    assert wait_ended(demo, tokens) == ["completed"] * 3
    new = set(files_in(demo.scans)) - before
    assert len(new) == 3, new  # each job delivered once, nothing half-built left behind


@pytest.mark.slow
@pytest.mark.parametrize(
    "server",
    [
        "daphne",  # interpreter exit: inprocess's atexit hook
        # uvicorn re-raises SIGTERM after the lifespan shutdown, so atexit never runs there:
        # scanserver.asgi's lifespan shutdown calls inprocess.shutdown().
        "runscanserver",
    ],
)
def test_sigterm_finishes_the_job_in_hand_and_the_next_start_does_the_rest(
    demo: Demo, scan_server: ScanServerProcess, server: str
) -> None:
    scan_server.start(build_delay=2, server=server)
    first, second = push_all(demo, [0]) + push_all(demo, [1])
    services.wait_for(lambda: demo.state_of([first]) == ["processing"], "the first job in hand", timeout=30)
    assert demo.state_of([second]) == ["pending"]
    scan_server.signal(signal.SIGTERM)  # waits for the process to exit
    assert demo.state_of([first, second]) == ["completed", "pending"]
    scan_server.start()  # runscanserver: its lifespan startup queues the pending job again
    assert wait_ended(demo, [second]) == ["completed"]
