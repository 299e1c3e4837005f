"""Helpers of the simulator's end-to-end tests: a WS-Scan client over real HTTP, an event sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree

from devices.protocols import soap, transport
from devices.protocols.wsscan import messages as m
from devices.protocols.wsscan import ticket as tk
from devices.simulator.run import SimulatorThread


def call(url: str, message: Any) -> soap.Envelope:
    """POST a WS-Scan request dataclass to ``url``; a fault is raised as SoapFault."""
    envelope = soap.build_envelope(soap.Headers(action=message.ACTION, to=url), message.to_element())
    return transport.post_soap(url, envelope, timeout=10)


def make_ticket(
    *,
    fmt: str = "png",
    source: str = "ADF",
    dpi: int = 50,
    color: str = "Grayscale8",
    size: tuple[int, int] = (8500, 11000),
    images: int | None = None,
    name: str = "E2E",
    user: str = "alice",
) -> tk.ScanTicket:
    return tk.ScanTicket(
        job_description=tk.JobDescription(name, user),
        document_parameters=tk.DocumentParameters(
            format=fmt,
            images_to_transfer=images,
            input_source=source,
            input_size=tk.InputSize(input_media_size=tk.Size(*size)),
            media_sides=tk.MediaSides(
                front=tk.MediaSide(color_processing=color, resolution=tk.Resolution(dpi, dpi))
            ),
        ),
    )


def create_job(url: str, ticket: tk.ScanTicket, **kw: Any) -> m.CreateScanJobResponse:
    env = call(url, m.CreateScanJobRequest(ticket=ticket, **kw))
    assert env.body is not None
    return m.CreateScanJobResponse.from_element(env.body)


def retrieve(url: str, job: m.CreateScanJobResponse, spool: Path) -> tuple[bytes, str]:
    """One RetrieveImage: (image bytes, part content type)."""
    req = m.RetrieveImageRequest(job.job_id, job.job_token, "doc")
    envelope = soap.build_envelope(soap.Headers(action=req.ACTION, to=url), req.to_element())
    msg = transport.post_soap_receive_mtom(url, envelope, spool, timeout=10)
    assert msg.envelope.body is not None
    response = m.RetrieveImageResponse.from_element(msg.envelope.body)
    part = msg.parts[response.content_id]
    data = part.path.read_bytes()
    msg.discard()
    return data, part.content_type


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (the deadline only guards hangs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s" % what)


@dataclass(frozen=True)
class Received:
    action: str
    body: etree._Element
    headers: soap.Headers


class Sink:
    """An aiohttp WS-Eventing sink on the simulator's loop that records every notification."""

    def __init__(self, simthread: SimulatorThread) -> None:
        self.simthread = simthread
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        env = soap.parse_envelope(await request.read())
        assert env.body is not None
        with self._lock:
            self.received.append(Received(env.headers.action, env.body, env.headers))
        return web.Response(status=202)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/sink", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = "http://127.0.0.1:%d/sink" % self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> Sink:
        self.simthread.call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.simthread.call(self._stop())

    def of(self, action_suffix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.action.endswith("/" + action_suffix)]


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, "http://127.0.0.1:%d" % runner.addresses[0][1]


def start_simulator_process(command: list[str], log: Path) -> tuple[Any, list[dict[str, Any]]]:
    """Start a simulator command line (its own session; stop it with ``services.stop_process``) and
    read the devices it prints once they listen."""
    import json
    import subprocess

    root = Path(__file__).resolve().parents[3]
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            command, cwd=root, start_new_session=True, stdout=subprocess.PIPE, stderr=stderr
        )
    assert proc.stdout is not None
    lines: list[bytes] = []
    for line in proc.stdout:  # serve() prints one indented JSON document, closed by "}" alone
        lines.append(line)
        if line.rstrip() == b"}":
            break
    else:
        proc.wait(10)
        raise AssertionError("the simulator stopped: %s" % log.read_text())
    return proc, json.loads(b"".join(lines))["devices"]
