"""The panel without a directory (``python -m devices.simulator`` with no ``--ldap-uri``, or anything
that starts the simulator without injecting panel services): it says it is switched off and why,
and refuses non-loopback callers — no Django needed."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from devices.simulator import panel, panel_ldap, run
from devices.simulator.device import Identity, ScanDevice
from devices.simulator.server import DeviceServer
from tests import services
from tests.devices.simulator.simhelpers import start_simulator_process


def test_without_django_or_ldap_the_panel_is_off() -> None:
    services = panel_ldap.services_from_args(run.build_parser().parse_args([]))
    assert services is None
    options = panel.options_for("urn:uuid:00000000-0000-0000-0000-000000000001", services)
    assert options.directory is None
    why = options.disabled_reason
    assert "manage.py simulate_devices" in why and "--ldap-uri" in why


def test_the_ldap_options_are_checked() -> None:
    args = run.build_parser().parse_args(["--ldap-uri", "http://directory.test", "--ldap-user-base", "x"])
    with pytest.raises(SystemExit) as refused:
        panel_ldap.services_from_args(args)
    assert str(refused.value) == (
        "--ldap-uri must be an ldap:// or ldaps:// URL; "
        "--ldap-user-base must be a distinguished name (e.g. DC=example,DC=test)"
    )
    with pytest.raises(SystemExit, match="--ldap-bind-password-file"):
        panel_ldap.services_from_args(
            run.build_parser().parse_args(
                ["--ldap-uri", "ldap://127.0.0.1", "--ldap-bind-password-file", "/nonexistent/pw"]
            )
        )


def test_sid_text_reads_a_binary_object_sid() -> None:
    raw = bytes([1, 5, 0, 0, 0, 0, 0, 5]) + b"".join(n.to_bytes(4, "little") for n in (21, 1, 2, 3, 1104))
    assert panel_ldap.sid_text(raw) == "S-1-5-21-1-2-3-1104"
    with pytest.raises(ValueError):
        panel_ldap.sid_text(raw[:-1])


async def test_switched_off_panel_page() -> None:
    server = DeviceServer(ScanDevice(Identity.from_seed("offline", 0)))
    panel.mount(server, panel.PanelOptions(directory=None, disabled_reason="No directory here."))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            page = await http.get("/panel/")
            assert page.status_code == 503
            assert 'data-testid="panel-disabled">No directory here.<' in page.text
            login = await http.post("/panel/login", data={"username": "a", "password": "b"})
            assert login.status_code == 503
            script = await http.get("/panel/static/htmx.min.js")
            assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
            assert b"htmx" in script.content[:2000]
    finally:
        await server.stop()
        await asyncio.sleep(0)


def test_python_m_devices_simulator_serves_a_switched_off_panel(tmp_path: Path) -> None:
    """The command line without Django and without ``--ldap-uri``: the devices run, the panel says why not."""
    proc, devices = start_simulator_process(
        [
            sys.executable,
            "-m",
            "devices.simulator",
            "--base-port",
            "0",
            "--no-discovery",
            "--seed",
            "offline",
        ],
        tmp_path / "simulator.log",
    )
    try:
        assert [d["name"] for d in devices] == [Identity.from_seed("offline", 0).name]
        page = httpx.get(devices[0]["panel_url"], timeout=10)
        assert page.status_code == 503
        assert "manage.py simulate_devices" in page.text and "--ldap-uri" in page.text
    finally:
        services.stop_process(proc)
