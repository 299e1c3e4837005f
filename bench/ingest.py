"""Ingest → spool → PDF → folder, end to end through the real scan server (issue 5).

The scan server runs as it does in production: ``manage.py runscanserver`` (uvicorn, see
``scanserver/serve.py``; ``--server daphne`` runs the old daphne command for comparison) in its
own process on 127.0.0.1 (plain HTTP via ``SMC_SCANSERVER_ALLOW_PLAIN_HTTP=1``), on a throwaway
PostgreSQL database ``opendsm_bench_<pid>`` (created, migrated, dropped afterwards) and a throwaway
data directory. ``manage.py demo_setup`` registers the ScanServer, enrolls the devices (bearer
tokens) and publishes "Scan to folder" for the user ``demo``. N simulated devices then push M pages
each concurrently with the WS-DSP protocol modules over one keep-alive HTTP/1.1 connection each
(:class:`Connection`; CreatePostScanJob, one MTOM SendImage per page, EndPostScanJob); the pages
are 300 dpi A4 colour JPEGs rendered once by ``devices/simulator/pages.py`` and reused, so
rendering is not measured.

Measured:

* pages/s end to end: from the first CreatePostScanJob to the last job's ``completed_at``, with
  the tasks either run eagerly inside the scan server (the embedded default, ``eager``) or by a
  real ``celery -A smc worker`` with 2 processes on Redis (``celery``);
* SendImage ack latency p50/p99 (client side, per request);
* the scan server's peak RSS (``VmHWM`` of the largest of its processes, eager mode, so it includes
  building the PDF) for one small and one large job, each on a fresh scan server;
* img2pdf's per-page time on the same pages in the same run.

    .venv/bin/python bench/ingest.py [--devices 8] [--pages 50] [--small 100] [--big 1000]
        [--modes eager,celery] [--server uvicorn|daphne] [--workers 1] [--servers 1]
        [--redis-db 14] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = "postgres://postgres@127.0.0.1:5432"
APP = "scanserver.asgi:application"
DB_NAME = "opendsm_bench_%d" % os.getpid()


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the process exited with %s" % proc.returncode)
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def cpu_seconds(pid: int, which: slice = slice(11, 15)) -> float:
    """User + system CPU time of a process and its reaped children (``/proc/<pid>/stat``);
    ``which=SYSTEM`` for the system part only."""
    fields = Path("/proc/%d/stat" % pid).read_text().rpartition(")")[2].split()
    return sum(int(v) for v in fields[which]) / os.sysconf("SC_CLK_TCK")


SYSTEM = slice(12, 13)  # stime (the kernel: sockets, file writes, fsync)


def vm_hwm_mib(pid: int) -> float:
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers are children of its supervisor)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def tree_cpu_seconds(pid: int, which: slice = slice(11, 15)) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            total += cpu_seconds(p, which)
        except OSError:
            continue
    return total


def tree_vm_hwm_mib(pid: int) -> float:
    """The largest peak RSS of one process in the tree (each worker is its own process)."""
    values = []
    for p in tree(pid):
        try:
            values.append(vm_hwm_mib(p))
        except OSError:
            continue
    return max(values, default=0.0)


def server_command(server: str, port: int, workers: int) -> list[str]:
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), APP]
    return [sys.executable, "manage.py", "runscanserver", "--port", str(port), "--workers", str(workers)]


@contextmanager
def scan_server(
    env: dict[str, str], port: int, log: Path, server: str = "uvicorn", workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            server_command(server, port, workers),
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    try:
        wait_port(port, proc)
        if workers > 1:
            time.sleep(3.0)  # the port opens with the first worker; let the others start too
        yield proc
    finally:
        stop(proc)


@contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "smc", "worker", "-Q", "ingest,deliver", "-c", "2"]
            + ["--pool", "prefork", "-l", "warning", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    try:
        time.sleep(3.0)  # the worker has no port; give it time to connect to the broker
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited with %s (see %s)" % (proc.returncode, log))
        yield proc
    finally:
        stop(proc)


# --------------------------------------------------------------------------- database


def create_db() -> None:
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % DB_NAME)


def drop_db() -> None:
    import psycopg

    with psycopg.connect(PG + "/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % DB_NAME)


def setup_django(data_dir: Path) -> None:
    os.environ["SMC_DATA_DIR"] = str(data_dir)
    os.environ["SMC_DATABASE_URL"] = "%s/%s" % (PG, DB_NAME)
    os.environ.pop("SMC_REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclass(frozen=True)
class Setup:
    url: str
    tokens: list[str]
    sid: str
    psp_identifier: uuid.UUID
    instructions: Any
    scans: Path


def demo(data_dir: Path, port: int, devices: int) -> Setup:
    import json
    from io import StringIO

    from django.core.management import call_command

    from devices.models import ScanServer
    from devices.protocols import psp
    from directory.backends import get_directory
    from scanprocesses.models import ScanProcess

    scans = data_dir / "scans"
    call_command(
        "demo_setup",
        "--scan-server-port",
        str(port),
        "--devices",
        str(devices),
        "--tokens-file",
        str(data_dir / "tokens.json"),
        "--password-file",
        str(data_dir / "demo-password"),
        "--scans-dir",
        str(scans),
        stdout=StringIO(),
    )
    server = ScanServer.objects.get()
    process = ScanProcess.objects.get(display_name="Scan to folder")
    assert process.published_version is not None
    user = get_directory().find_user("demo")
    assert user is not None
    tokens = list(json.loads((data_dir / "tokens.json").read_text()).values())
    published = psp.from_xml(process.published_version.psp_xml)
    return Setup(server.endpoint_url, tokens, user.sid, process.guid, published.instructions, scans)


# --------------------------------------------------------------------------- the devices


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


class Connection:
    """The load generator's HTTP/1.1 keep-alive connection: one per simulated device.

    httpx cost the devices ~6 ms of CPU per page on the same two cores the scan server runs on,
    so the benchmark measured its own client as much as the server. This sends the same bytes
    (the request line, Host, Content-Type, Content-Length, Authorization, then the envelope or the
    MTOM body built by ``devices.protocols.mtom``) and reads the answer by Content-Length; the
    answer is parsed as SOAP and a fault raises, as ``devices.protocols.transport`` does. It is
    for this benchmark only: no TLS, no chunked answers, no redirects.
    """

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, content_type: str, body: bytes) -> Any:
        from devices.protocols import soap

        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Authorization: Bearer %s\r\n\r\n"
            % (self.path, self.host, self.port, content_type, len(body), self.token)
        )
        self.writer.write(head.encode("latin-1"))
        self.writer.write(body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        if not data:
            if not 200 <= status < 300:
                raise RuntimeError("HTTP %d without a body" % status)
            return None
        envelope = soap.parse_envelope(data)
        fault = soap.fault_from_envelope(envelope)
        if fault is not None:
            raise fault
        if not 200 <= status < 300:
            raise RuntimeError("HTTP %d with a SOAP body that is not a fault" % status)
        return envelope

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def push(
    setup: Setup, token: str, pages: list[bytes], count: int, run: Run, offset: int, url: str
) -> None:
    from devices.protocols import dsp, jobstatus, mtom, soap

    def envelope(msg: Any) -> bytes:
        return soap.build_envelope(soap.Headers(action=msg.action, to=url), dsp.to_element(msg))

    conn = Connection(url, token)
    try:
        create = dsp.CreatePostScanJobRequest(
            user_identifier=setup.sid, psp_identifier=setup.psp_identifier, instructions=setup.instructions
        )
        answer = await conn.post(soap.CONTENT_TYPE, envelope(create))
        assert answer is not None and answer.body is not None
        created = dsp.from_element(answer.body)
        assert isinstance(created, dsp.CreatePostScanJobResponse)
        job = created.job_token
        run.tokens.append(job)
        for n in range(count):
            cid = mtom.new_content_id("doc%d" % (n + 1))
            send = dsp.SendImageRequest(
                job_token=job,
                document=jobstatus.DocumentDescription(document_id=n + 1, format="jfif"),
                image_href="cid:" + cid,
            )
            part = mtom.Attachment(cid, "application/octet-stream", data=pages[(n + offset) % len(pages)])
            content_type, body = mtom.build_mtom(envelope(send), [part])
            t = time.perf_counter()
            await conn.post(content_type, body)
            run.latencies.append(time.perf_counter() - t)
        end = dsp.EndPostScanJobRequest(job_token=job)
        await conn.post(soap.CONTENT_TYPE, envelope(end))
    finally:
        await conn.close()


def wait_done(tokens: list[str], timeout: float) -> tuple[list[str], float]:
    """(states, latest completed_at as a Unix time) once every job is terminal (bounded wait)."""
    from django.db import connection

    from scanserver.models import ScanJob

    wanted = [uuid.UUID(t) for t in tokens]
    terminal = {"completed", "canceled", "aborted", "needs_attention"}
    deadline = time.monotonic() + timeout
    rows: list[tuple[str, Any]] = []
    while time.monotonic() < deadline:
        rows = list(ScanJob.objects.filter(token__in=wanted).values_list("state", "completed_at"))
        connection.close()
        if len(rows) == len(wanted) and all(s in terminal for s, _ in rows):
            break
        time.sleep(0.05)
    done = [c.timestamp() for _, c in rows if c is not None]
    return sorted({str(s) for s, _ in rows}), max(done) if done else float("nan")


def push_all(
    setup: Setup, pages: list[bytes], devices: int, count: int, timeout: float, ports: list[int] | None = None
) -> tuple[Run, float, list[str]]:
    """N devices × ``count`` pages concurrently, device i to ``ports[i % len(ports)]`` (default: the
    registered endpoint); (run, end-to-end seconds, job states)."""
    run = Run()
    base = urlsplit(setup.url)
    urls = [base._replace(netloc="127.0.0.1:%d" % p).geturl() for p in ports or [base.port or 0]]

    async def main() -> None:
        results = await asyncio.gather(
            *(
                push(setup, setup.tokens[i], pages, count, run, i, urls[i % len(urls)])
                for i in range(devices)
            ),
            return_exceptions=True,
        )
        run.errors.extend(repr(r) for r in results if isinstance(r, BaseException))

    start = time.time()
    asyncio.run(main())
    states, last = wait_done(run.tokens, timeout)
    return run, last - start, states


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------- main


def render_pages(count: int) -> list[bytes]:
    from devices.simulator import pages as simpages

    return [
        simpages.render_document(
            [simpages.PageSpec(8270, 11690, 300, 300, color="RGB24", page_number=n + 1)], "jfif"
        )
        for n in range(count)
    ]


def img2pdf_ms(pages: list[bytes], reps: int = 5) -> float:
    import io

    import img2pdf

    t = time.perf_counter()
    for _ in range(reps):
        out = io.BytesIO()
        img2pdf.convert(*pages, outputstream=out, rotation=img2pdf.Rotation.ifvalid)
    return (time.perf_counter() - t) / (reps * len(pages)) * 1000


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--modes", default="eager,celery")
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes on one port")
    parser.add_argument("--servers", type=int, default=1, help="daphne processes, one port each")
    parser.add_argument("--distinct", type=int, default=8, help="distinct pages rendered")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]

    data_dir = Path(tempfile.mkdtemp(prefix="opendsm-bench-"))
    lines: list[str] = []
    rows: list[tuple[str, str]] = []
    create_db()
    try:
        setup_django(data_dir)
        port = free_port()
        setup = demo(data_dir, port, max(args.devices, 1))
        pages = render_pages(args.distinct)
        mean_kib = sum(len(p) for p in pages) / len(pages) / 1024
        env = dict(os.environ, SMC_SCANSERVER_ALLOW_PLAIN_HTTP="1", PYTHONUNBUFFERED="1")
        total = args.devices * args.pages
        for mode in modes:
            menv = dict(env)
            if mode == "celery":
                menv["SMC_REDIS_URL"] = "redis://127.0.0.1:6379/%d" % args.redis_db
            ports = [port] + [free_port() for _ in range(args.servers - 1)]
            with ExitStack() as stack:
                servers = [
                    stack.enter_context(
                        scan_server(
                            menv, p, data_dir / ("server-%s-%d.log" % (mode, p)), args.server, args.workers
                        )
                    )
                    for p in ports
                ]
                if mode == "celery":
                    stack.enter_context(celery_worker(menv, data_dir / "celery.log"))
                for p in ports:  # warm-up: imports, connections, recovery sweep
                    push_all(setup, pages, 1, 2, 120, [p])
                cpu0, own0 = sum(tree_cpu_seconds(d.pid) for d in servers), time.process_time()
                sys0 = sum(tree_cpu_seconds(d.pid, SYSTEM) for d in servers)
                run, seconds, states = push_all(setup, pages, args.devices, args.pages, 900, ports)
                cpu = sum(tree_cpu_seconds(d.pid) for d in servers) - cpu0
                kernel = sum(tree_cpu_seconds(d.pid, SYSTEM) for d in servers) - sys0
                own = time.process_time() - own0
                rss = max(tree_vm_hwm_mib(d.pid) for d in servers)
            label = "eager (tasks in the scan server)" if mode == "eager" else "celery worker -c 2 on Redis"
            label += ", %s" % args.server
            if args.workers > 1:
                label += " --workers %d" % args.workers
            if args.servers > 1:
                label += ", %d processes" % args.servers
            rows.append(
                (
                    "end to end, %s, %d devices × %d pages" % (label, args.devices, args.pages),
                    "%.1f pages/s (%d pages in %.2f s; jobs %s%s)"
                    % (
                        total / seconds,
                        total,
                        seconds,
                        ",".join(states),
                        "; ERRORS %s" % run.errors[:2] if run.errors else "",
                    ),
                )
            )
            rows.append(
                (
                    "SendImage ack latency, %s" % mode,
                    "p50 %.1f ms, p99 %.1f ms (%d requests)"
                    % (
                        percentile(run.latencies, 0.5) * 1000,
                        percentile(run.latencies, 0.99) * 1000,
                        len(run.latencies),
                    ),
                )
            )
            rows.append(("scan server peak RSS (VmHWM) after that run, %s" % mode, "%.0f MiB" % rss))
            rows.append(
                (
                    "CPU per page, %s" % mode,
                    "scan server %.1f ms (of which kernel %.1f ms), devices (this process) %.1f ms"
                    % (cpu / total * 1000, kernel / total * 1000, own / total * 1000),
                )
            )
        for count in (args.small, args.big):
            with scan_server(env, port, data_dir / "server-rss.log", args.server) as proc:
                push_all(setup, pages, 1, 2, 120)
                base = tree_vm_hwm_mib(proc.pid)
                run, seconds, states = push_all(setup, pages, 1, count, 1800)
                rss = tree_vm_hwm_mib(proc.pid)
            rows.append(
                (
                    "scan server peak RSS, one %d-page job (eager)" % count,
                    "%.0f MiB (after warm-up %.0f MiB; %.2f s, %.1f pages/s, %s)"
                    % (rss, base, seconds, count / seconds, ",".join(states)),
                )
            )
        rows.append(("img2pdf alone, same pages, in memory", "%.2f ms per page" % img2pdf_ms(pages)))
        lines = [
            "bench/ingest.py — %s, Python %s, %d CPUs"
            % (platform.platform(), platform.python_version(), os.cpu_count() or 0),
            "path: devices (keep-alive HTTP/1.1) → %s scanserver.asgi (plain HTTP, 127.0.0.1)"
            " → spool → PDF → folder; PostgreSQL %s" % (args.server, DB_NAME),
            "pages: 300 dpi A4 colour JPEG (%d distinct, mean %.0f KiB)" % (len(pages), mean_kib),
            "",
        ]
        width = max(len(k) for k, _ in rows)
        lines += ["%s  %s" % (k.ljust(width), v) for k, v in rows]
        lines += ["", "targets: >= 250 pages/s; RSS <= 200 MB flat in job size"]
    finally:
        from django.db import connections

        connections.close_all()
        drop_db()
        if lines:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print("failed; logs kept in %s" % data_dir, file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
