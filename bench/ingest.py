"""Ingest → PDF → folder throughput of the scan server's pipeline (scanserver.pipeline/delivery).

N simulated devices push M pages each (300 dpi A4 colour JPEG from the simulator's renderer)
concurrently. The pages go through the spool the way ``scanserver.ingest`` stores them (temp
file, sha256, fsync, ``os.replace``, a ScanPage row) — NOT through the WS-DSP endpoint over HTTP,
so no SendImage ack latency is measured — then each job is processed (check, PDF via img2pdf,
plan) and delivered to a local folder. Separately: the peak RSS of a worker process processing
one 1,000-page job (and a 100-page one, to show whether memory grows with the job), and img2pdf's
per-page time on the same pages.

    .venv/bin/python bench/ingest.py [--devices 8] [--pages 50] [--big 1000]
        [--out /work/notes/bench-ingest.txt]

Uses a throwaway data directory with SQLite (the embedded default) unless SMC_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("SMC_DATA_DIR", str(data_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")
    os.environ.pop("SMC_REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def render_pages(count: int) -> list[bytes]:
    from devices.simulator import pages as simpages

    return [
        simpages.render_document(
            [simpages.PageSpec(8270, 11690, 300, 300, color="RGB24", page_number=n + 1)], "jfif"
        )
        for n in range(count)
    ]


def spool_page(job_id: int, document_id: int, data: bytes) -> None:
    """What scanserver.ingest does with one SendImage part: durable file + row."""
    from django.conf import settings

    from scanserver.models import ScanPage

    folder = Path(settings.SCANSERVER_SPOOL_DIR) / str(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / ("%05d.jpg" % document_id)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    ScanPage.objects.create(
        job_id=job_id,
        document_id=document_id,
        format="jfif",
        spool_path=str(final),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def make_process(target: Path) -> object:
    from smc.models import ProcessDestination, ScanProcess

    process = ScanProcess.objects.create(
        display_name="bench %s" % time.monotonic_ns(), ticket_xml="<t/>", naming_template="{root}-{job}-{seq}"
    )
    ProcessDestination.objects.create(process=process, kind="folder", config={"path": str(target)})
    return process


def run_job(process: object, pages: list[bytes], count: int) -> int:
    from django.db import connection

    from scanserver.models import ScanJob

    job = ScanJob.objects.create(process=process, user_name="bench")
    for n in range(count):
        spool_page(job.pk, n + 1, pages[n % len(pages)])
    job.end_transfer()
    connection.close()
    return job.pk


def process_and_deliver(job_id: int) -> str:
    from scanserver import delivery, pipeline
    from scanserver.models import ScanJob

    pipeline.process(job_id)
    for item in delivery.due(ScanJob.objects.get(pk=job_id)):
        delivery.send(item.pk)
    return ScanJob.objects.get(pk=job_id).state


def child_rss(count: int, data_dir: Path, target: Path) -> tuple[float, float, str]:
    """Process one ``count``-page job in a fresh process; (seconds, peak RSS MiB, state)."""
    code = (
        "import sys,time,resource; sys.path.insert(0,%r); import bench.ingest as b; from pathlib import Path;"
        "b.setup_django(Path(%r)); p=b.render_pages(10); pr=b.make_process(Path(%r));"
        "j=b.run_job(pr,p,%d); import gc; gc.collect();"
        "base=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "t=time.monotonic(); s=b.process_and_deliver(j); d=time.monotonic()-t;"
        "print(d, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, base/1024, s)"
    ) % (str(ROOT), str(data_dir), str(target), count)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    seconds, peak, _base, state = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(peak), state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--out", default="/work/notes/bench-ingest.txt")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="opendsm-bench-"))
    setup_django(data_dir)
    import img2pdf

    pages = render_pages(20)
    mean_kb = sum(len(p) for p in pages) / len(pages) / 1024
    process = make_process(data_dir / "delivered")

    # concurrent ingest into the spool, N devices × M pages
    t0 = time.monotonic()
    with ThreadPoolExecutor(args.devices) as pool:
        job_ids = list(pool.map(lambda _: run_job(process, pages, args.pages), range(args.devices)))
    ingest_s = time.monotonic() - t0
    total = args.devices * args.pages

    # processing + delivery of those jobs (one worker process, sequential)
    t1 = time.monotonic()
    states = [process_and_deliver(j) for j in job_ids]
    process_s = time.monotonic() - t1

    # img2pdf alone on the same pages
    paths = []
    for i, data in enumerate(pages):
        p = data_dir / ("img2pdf-%d.jpg" % i)
        p.write_bytes(data)
        paths.append(str(p))
    reps = 5
    t2 = time.monotonic()
    for _ in range(reps):
        img2pdf.convert(*paths)
    img2pdf_ms = (time.monotonic() - t2) / (reps * len(paths)) * 1000

    small_s, small_rss, small_state = child_rss(100, data_dir, data_dir / "rss-100")
    big_s, big_rss, big_state = child_rss(args.big, data_dir, data_dir / "rss-big")

    lines = [
        "bench/ingest.py — %s, Python %s, %d CPUs"
        % (platform.platform(), platform.python_version(), os.cpu_count() or 0),
        "path: spool + pipeline functions directly"
        " (NOT the WS-DSP endpoint: no SendImage ack latency measured)",
        "pages: 300 dpi A4 colour JPEG from devices/simulator/pages.py, mean %.0f KiB" % mean_kb,
        "",
        "ingest into spool (%d devices × %d pages, threads, fsync each): %.1f pages/s (%d pages in %.2f s)"
        % (args.devices, args.pages, total / ingest_s, total, ingest_s),
        "check + PDF (img2pdf) + deliver to folder, 1 worker: %.1f pages/s (%d jobs, %.2f s; states %s)"
        % (total / process_s, len(job_ids), process_s, sorted(set(states))),
        "end to end (ingest then process), 1 worker: %.1f pages/s" % (total / (ingest_s + process_s)),
        "img2pdf alone: %.2f ms per page (%d pages × %d reps)" % (img2pdf_ms, len(paths), reps),
        "worker peak RSS, 100-page job: %.0f MiB (%.2f s, %s)" % (small_rss, small_s, small_state),
        "worker peak RSS, %d-page job: %.0f MiB (%.2f s, %.1f pages/s, %s)"
        % (args.big, big_rss, big_s, args.big / big_s, big_state),
        "targets: >= 250 pages/s; RSS <= 200 MB flat in job size",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    _ = resource  # imported for the child's code path


if __name__ == "__main__":
    main()
