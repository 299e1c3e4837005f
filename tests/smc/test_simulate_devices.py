"""``manage.py simulate_devices`` (smc): the simulator's command line with the console injected —
the panels sign users in with the console's directory, the control subcommands still work."""

from __future__ import annotations

import json
import sys
from io import StringIO
from pathlib import Path

import httpx
from django.core.management import call_command

from devices.simulator.device import Identity
from tests import services
from tests.devices.simulator.simhelpers import start_simulator_process


def test_the_management_command_runs_devices_whose_panel_uses_the_console_directory(tmp_path: Path) -> None:
    proc, devices = start_simulator_process(
        [sys.executable, "manage.py", "simulate_devices", "--count", "2", "--base-port", "0"]
        + ["--no-discovery", "--seed", "command-test", "--adf-pages", "4"],
        tmp_path / "simulator.log",
    )
    try:
        assert [d["endpoint"] for d in devices] == [
            Identity.from_seed("command-test", i).endpoint for i in range(2)
        ]
        page = httpx.get(devices[1]["panel_url"], timeout=10)
        assert page.status_code == 200
        assert "Signs in with the embedded directory, as a DSM device does." in page.text
        out = StringIO()
        call_command("simulate_devices", "status", "--control", devices[1]["control_url"], stdout=out)
        status = json.loads(out.getvalue())
        assert status["endpoint"] == devices[1]["endpoint"] and status["adf_pages"] == 4
    finally:
        services.stop_process(proc)


def test_without_ldap_the_panels_use_the_embedded_directory_and_the_registered_servers() -> None:
    from django.conf import settings

    from smc.simulation import EmbeddedPanelDirectory, panel_services, resolve_server

    assert not settings.LDAP.enabled
    services = panel_services()
    directory = services.directory_for("urn:uuid:5a3c1e0e-3d0b-4e0f-9d1e-2b8f6f0c0a11")
    assert isinstance(directory, EmbeddedPanelDirectory)
    assert directory.device_endpoint == "urn:uuid:5a3c1e0e-3d0b-4e0f-9d1e-2b8f6f0c0a11"
    assert services.resolve_server is resolve_server
