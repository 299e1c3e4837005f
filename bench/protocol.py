"""Throughput of the MTOM path (PROTOCOL.md §4.4 RetrieveImage, §5.1 SendImage).

Builds and parses SendImage requests and RetrieveImage responses carrying one image, N times,
and compares the MB/s with a plain copy of the same bytes from file to file in the same run,
so the ratio says what the protocol layer costs on top of moving the bytes at all. Parsing
spools the image to a temporary file (as the scan server does) with its sha256; the copy does
not hash, so the ratio also includes the hashing.

    .venv/bin/python bench/protocol.py [--size-mb 1] [--reps 200] [--out /work/notes/bench-protocol.txt]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from devices.protocols import mtom, soap  # noqa: E402
from devices.protocols.mtom import Attachment  # noqa: E402
from devices.protocols.namespaces import DSP, WSCN, action, qn  # noqa: E402


def send_image_envelope(cid: str) -> bytes:
    body = etree.Element(qn(DSP, "SendImageRequest"))
    etree.SubElement(body, qn(DSP, "JobToken")).text = "6e1b2c3d-0000-4000-8000-00000000abcd"
    desc = etree.SubElement(body, qn(DSP, "DocumentDescription"))
    etree.SubElement(desc, qn(DSP, "DocumentId")).text = "1"
    etree.SubElement(desc, qn(DSP, "Format")).text = "jfif"
    etree.SubElement(body, qn(DSP, "ImageData")).append(mtom.xop_include(cid))
    headers = soap.Headers(action=action(DSP, "SendImage"), to="https://scan.test:5362/x")
    return soap.build_envelope(headers, body)


REQUEST = soap.parse_envelope(
    soap.build_envelope(soap.Headers(action=action(WSCN, "RetrieveImage")), etree.Element(qn(WSCN, "X")))
)


def retrieve_image_envelope(cid: str) -> bytes:
    body = etree.Element(qn(WSCN, "RetrieveImageResponse"))
    etree.SubElement(body, qn(WSCN, "ScanData")).append(mtom.xop_include(cid))
    return soap.build_response(REQUEST, action(WSCN, "RetrieveImageResponse"), body)


def measure(reps: int, size: int, fn: Callable[[], object]) -> float:
    """MB/s of ``fn`` moving ``size`` bytes, over ``reps`` runs after one warm-up."""
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    elapsed = time.perf_counter() - start
    return reps * size / elapsed / 1e6


def run(size: int, reps: int) -> list[tuple[str, float]]:
    image = os.urandom(size)
    work = Path(tempfile.mkdtemp(prefix="bench-protocol-"))
    try:
        src = work / "image.jpg"
        src.write_bytes(image)
        spool = work / "spool"
        spool.mkdir()
        dst = work / "copy.jpg"

        def copy() -> None:
            shutil.copyfile(src, dst)
            dst.unlink()

        mem_parts = [Attachment("page1@dev", "image/jpeg", image)]
        file_parts = [Attachment("page1@dev", "image/jpeg", path=str(src))]
        send_ctype, send_body = mtom.build_mtom(send_image_envelope("page1@dev"), mem_parts)
        retr_parts = [Attachment("img1@dev", "image/jpeg", image)]
        retr_ctype, retr_body = mtom.build_mtom(retrieve_image_envelope("img1@dev"), retr_parts)

        def send_build() -> bytes:
            return mtom.build_mtom(send_image_envelope("page1@dev"), mem_parts)[1]

        def send_build_streamed() -> int:
            _ctype, chunks = mtom.iter_mtom(send_image_envelope("page1@dev"), file_parts)
            return sum(len(c) for c in chunks)

        def parse(ctype: str, body: bytes, fsync: bool) -> Callable[[], None]:
            def go() -> None:
                msg = mtom.read_soap_http(ctype, io.BytesIO(body), spool, fsync=fsync)
                msg.discard()

            return go

        def retrieve_build() -> bytes:
            return mtom.build_mtom(retrieve_image_envelope("img1@dev"), retr_parts)[1]

        cases: list[tuple[str, Callable[[], object]]] = [
            ("file copy (baseline)", copy),
            ("sha256 of the image alone (reference)", lambda: hashlib.sha256(image).digest()),
            ("SendImage build, in memory", send_build),
            ("SendImage build, streamed from file", send_build_streamed),
            ("SendImage parse, spool + sha256", parse(send_ctype, send_body, False)),
            ("SendImage parse, spool + sha256 + fsync", parse(send_ctype, send_body, True)),
            ("RetrieveImage build, in memory", retrieve_build),
            ("RetrieveImage parse, spool + sha256", parse(retr_ctype, retr_body, False)),
        ]
        rows = [(name, measure(reps, size, fn)) for name, fn in cases]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(rows: list[tuple[str, float]], size: int, reps: int) -> str:
    base = rows[0][1]
    lines = [
        "MTOM throughput: %.1f MB image, %d repetitions (bench/protocol.py)" % (size / 1e6, reps),
        "python %s, lxml %s, %s, %d CPUs, %s"
        % (
            platform.python_version(),
            etree.__version__,
            platform.platform(terse=True),
            os.cpu_count() or 0,
            time.strftime("%Y-%m-%d"),
        ),
        "",
        "| operation | MB/s | ratio to file copy |",
        "|---|---:|---:|",
    ]
    for name, mbps in rows:
        lines.append("| %s | %.0f | %.2f |" % (name, mbps, mbps / base))
    lines.append("")
    lines.append("ratio > 1 means faster than copying the file once; parse rows include sha256 and unlink.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=1.0)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default="/work/notes/bench-protocol.txt", help="also write the table here")
    args = ap.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    text = table(run(size, args.reps), size, args.reps)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
