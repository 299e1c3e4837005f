"""Shared pieces of the front-panel tests: users, groups and published processes in the embedded
directory, a simulated device with its panel, and the real scan server (its ASGI app in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devices.protocols.wsscan import ticket as tk
from devices.simulator import panel
from devices.simulator.device import Identity, ScanDevice
from devices.simulator.server import DeviceServer, ServerOptions

SEED = "panel-test"
PASSWORD = "demo-Passw0rd!"
GROUP = "Scanning users"


def small_ticket(name: str) -> tk.ScanTicket:
    """Feeder, colour, 50 dpi JPEG pages: quick to render, the scan server makes the PDF."""
    return tk.ScanTicket(
        job_description=tk.JobDescription(name, "OpenDSM"),
        document_parameters=tk.DocumentParameters(
            format="jfif",
            input_source="ADF",
            input_size=tk.InputSize(input_media_size=tk.Size(8268, 11693)),
            media_sides=tk.MediaSides(
                front=tk.MediaSide(color_processing="RGB24", resolution=tk.Resolution(50))
            ),
        ),
    )


@dataclass
class World:
    scans: Path
    token: str
    endpoint: str
    processes: dict[str, Any]


def make_world(tmp_path: Path) -> World:
    """demo (in "Scanning users") and nora (in no group); five processes, two usable by demo here."""
    from scanprocesses import authoring as sp
    from tests.factories import (
        DeviceFactory,
        DeviceGroupFactory,
        GroupFactory,
        ScanProcessFactory,
        ScanServerFactory,
        UserFactory,
    )

    scans = tmp_path / "scans"
    scans.mkdir()
    server = ScanServerFactory(name="scan01", fqdn="scan.test", port=5362, use_tls=True)
    group = GroupFactory(name=GROUP)
    GroupFactory(name="Accounting")
    UserFactory(username="demo", password=PASSWORD, first_name="Demo", last_name="User", groups=[group])
    UserFactory(username="nora", password=PASSWORD)
    endpoint = Identity.from_seed(SEED, 0).endpoint
    device = DeviceFactory(endpoint_reference=endpoint, name="Panel test device", scan_server=server)
    token = device.issue_token()
    device.save(update_fields=["token_hash"])
    basement = DeviceGroupFactory(name="Basement")

    def process(name: str, publish: bool = True, groups: tuple[str, ...] = (GROUP,), **fields: Any) -> Any:
        return ScanProcessFactory(
            display_name=name,
            ticket_xml=sp.ticket_to_xml(small_ticket(name)),
            scan_server=server,
            document_root_name="Scan",
            allowed_groups=list(groups),
            destinations=[sp.DestinationSpec("folder", {"path": str(scans)})],
            published=publish,
            **fields,
        )

    processes = {
        "folder": process("Scan to folder", allow_device_file_name_change=True),
        "locked": process("Locked colour", locked_settings=["ColorProcessing", "Resolution", "InputSource"]),
        "accounting": process("Accounting only", groups=("Accounting",)),
        "draft": process("Draft process", publish=False),
        "basement": process("Basement only"),
    }
    processes["basement"].allowed_device_groups.set([basement])
    return World(scans, token, endpoint, processes)


def scan_server_transport() -> httpx.AsyncBaseTransport:
    from scanserver.asgi import application

    return httpx.ASGITransport(app=application, client=("127.0.0.1", 40000))


@contextlib.contextmanager
def panel_device(world: World, adf_pages: int = 0, **overrides: Any) -> Iterator[DeviceServer]:
    """One simulated device of ``world`` with its panel, pushing to the in-process scan server."""
    from asgiref.sync import sync_to_async
    from django.db import connections

    from smc.simulation import EmbeddedPanelDirectory, resolve_server

    values: dict[str, Any] = dict(
        directory=EmbeddedPanelDirectory(world.endpoint),
        token=lambda: world.token,
        resolve_server=resolve_server,
        transport=scan_server_transport(),
        poll_interval=0.1,
        poll_timeout=60.0,
    )
    values.update(overrides)
    loop = asyncio.new_event_loop()

    def run() -> None:
        # Closed in its own thread: channels-redis hooks loop.close() to flush its layer, which
        # cannot run in a thread that has a running loop (Playwright's, in browser tests).
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="panel-device", daemon=True)
    thread.start()
    device = ScanDevice(Identity.from_seed(SEED, 0), adf_pages=adf_pages, retrieve_timeout=30.0)
    server = DeviceServer(device, ServerOptions())

    async def start() -> None:
        panel.mount(server, panel.PanelOptions(**values))
        await server.start()

    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        yield server
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        # The scan server's worker thread (scanserver.inprocess) finishes what it was handed, and
        # its ORM thread closes its connection, before the test database goes.
        from scanserver import inprocess

        inprocess.wait_idle(60)
        close = sync_to_async(connections.close_all, thread_sensitive=True)
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(30)
        from scanserver import asgi

        asgi.close_pool_connections()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/panel/login", data={"username": username, "password": password})


def process_names(page: str) -> list[str]:
    return re.findall(r'<a href="/panel/process/[^"]+">([^<]+)</a>', page)
