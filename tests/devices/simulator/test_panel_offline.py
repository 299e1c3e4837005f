"""The panel without a directory (``python -m devices.simulator`` with no Django and no SMC_LDAP_URI):
it says it is switched off and why, and refuses non-loopback callers — no Django needed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devices.simulator import panel, panel_directory
from devices.simulator.device import Identity, ScanDevice
from devices.simulator.server import DeviceServer


def test_without_django_or_ldap_the_panel_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(panel_directory, "django_ready", lambda: False)
    monkeypatch.delenv("SMC_LDAP_URI", raising=False)
    directory, why = panel_directory.for_device("urn:uuid:00000000-0000-0000-0000-000000000001")
    assert directory is None
    assert "manage.py simulate_devices" in why and "SMC_LDAP_URI" in why


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
