"""The scan server's processes die together: a real ``manage.py runscanserver --workers 2`` whose
master is SIGKILLed leaves no worker serving, and a new one binds the same port at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie (which holds no socket) waiting for a reaper."""
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def is_worker(pid: int) -> bool:
    try:
        return b"multiprocessing.spawn" in Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return False


# The fallback on its own: a worker that arms only the parent-pid watch (no prctl), prints its pid
# and sleeps, under a master that only waits.
WATCH_ONLY_WORKER = (
    "import os, threading, time\n"
    "from scanserver import serve\n"
    "threading.Thread(target=serve._watch_master, args=(os.getppid(), 0.05, 5.0), daemon=True).start()\n"
    "print(os.getpid(), flush=True)\n"
    "time.sleep(600)\n"
)
WAITING_MASTER = (
    "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', sys.argv[1]])\ntime.sleep(600)\n"
)


def test_the_parent_pid_watch_alone_stops_an_orphaned_worker() -> None:
    master = subprocess.Popen(
        [sys.executable, "-c", WAITING_MASTER, WATCH_ONLY_WORKER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    worker = 0
    try:
        assert master.stdout is not None
        worker = int(master.stdout.readline())
        assert alive(worker)
        os.kill(master.pid, signal.SIGKILL)
        master.wait(10)
        services.wait_for(lambda: not alive(worker), "the orphaned worker to stop", timeout=10)
    finally:
        services.stop_process(master)
        if worker and alive(worker):
            os.kill(worker, signal.SIGKILL)


class ScanServer:
    def __init__(self, tmp: Path, port: int) -> None:
        self.port = port
        self.env = {**os.environ, "SMC_DATA_DIR": str(tmp), "SMC_SPOOL_DIR": str(tmp / "spool")}
        self.env["SMC_DATABASE_URL"] = ""  # the embedded default: SQLite in the data dir
        self.env.pop("SMC_REDIS_URL", None)
        self.log = tmp / "scanserver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, workers: int) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runscanserver", "--port", str(self.port)]
            + ["--workers", str(workers)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            start_new_session=True,
        )
        return self.proc

    def healthy(self) -> bool:
        try:
            answer = httpx.get("http://127.0.0.1:%d/healthz" % self.port, timeout=5)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json()["service"] == "scanserver"


@pytest.fixture
def tmp_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    env = {**os.environ, "SMC_DATA_DIR": str(tmp_path), "SMC_DATABASE_URL": ""}
    env.pop("SMC_REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    yield tmp_path, services.free_port()


def test_workers_die_with_a_killed_master_and_the_port_is_free_at_once(tmp_server: tuple[Path, int]) -> None:
    tmp, port = tmp_server
    first = ScanServer(tmp, port)
    second = ScanServer(tmp, port)
    workers: set[int] = set()
    try:
        master = first.start(workers=2)
        services.wait_for(
            lambda: len({p for p in children(master.pid) if is_worker(p)}) == 2 and first.healthy(),
            "two workers answering /healthz on %d" % port,
            timeout=60,
        )
        workers = {p for p in children(master.pid) if is_worker(p)}
        assert len(workers) == 2

        os.kill(master.pid, signal.SIGKILL)
        master.wait(10)

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(p) for p in workers):
            time.sleep(0.05)
        survivors = [p for p in workers if alive(p)]
        assert not survivors, "workers %s outlived their master (log: %s)" % (
            survivors,
            first.log.read_text(),
        )

        # At once: no waiting for the port beyond the new master's own start-up.
        restarted = second.start(workers=2)
        services.wait_for(
            lambda: restarted.poll() is not None or second.healthy(), "the restarted server", timeout=60
        )
        assert restarted.poll() is None, "restart failed: %s" % first.log.read_text()
        assert "Address already in use" not in first.log.read_text()
        assert second.healthy()
    finally:
        for server in (first, second):
            if server.proc is not None:
                services.stop_process(server.proc)
        for pid in workers:  # never leave a worker behind, even when the test failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
