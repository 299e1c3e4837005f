"""``manage.py demo_setup``: what the README's "Try it" relies on, created once and idempotent."""

from __future__ import annotations

import json
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from devices.simulator.device import Identity

pytestmark = pytest.mark.django_db


def run_demo_setup(tmp_path: Path, port: int = 5999, **extra: Any) -> str:
    out = StringIO()
    call_command(
        "demo_setup",
        "--scan-server-port",
        str(port),
        "--password-file",
        str(tmp_path / "demo-password"),
        "--tokens-file",
        str(tmp_path / "tokens.json"),
        "--scans-dir",
        str(tmp_path / "scans"),
        stdout=out,
        **extra,
    )
    return out.getvalue()


def test_demo_setup_creates_everything_once(tmp_path: Path) -> None:
    from django.contrib.auth import authenticate

    from directory.backends import get_directory
    from scanprocesses.availability import usable_processes
    from tests.factories import Device, ProcessState, ScanProcess, ScanServer

    run_demo_setup(tmp_path)
    password = (tmp_path / "demo-password").read_text().strip()
    tokens = json.loads((tmp_path / "tokens.json").read_text())
    assert stat.S_IMODE((tmp_path / "demo-password").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600

    server = ScanServer.objects.get()
    assert server.endpoint_url == "http://127.0.0.1:5999/ScanServer/%s" % server.guid
    endpoints = [Identity.from_seed("opendsm", i).endpoint for i in range(3)]
    assert sorted(tokens) == sorted(endpoints)
    for endpoint in endpoints:
        device = Device.objects.get(endpoint_reference=endpoint)
        assert device.token_matches(tokens[endpoint])
        assert Device.for_token(tokens[endpoint]) == device

    process = ScanProcess.objects.get(display_name="Scan to folder")
    assert process.state == ProcessState.PUBLISHED
    assert process.destinations.get().config == {"path": str((tmp_path / "scans").resolve())}
    user = authenticate(username="demo", password=password)
    assert user is not None
    directory_user = get_directory().find_user("demo")
    assert directory_user is not None
    device = Device.objects.get(endpoint_reference=endpoints[0])
    assert [p.display_name for p in usable_processes(directory_user, device)] == ["Scan to folder"]

    # Again: nothing new, the same password and tokens, no second version.
    out = run_demo_setup(tmp_path)
    assert "password unchanged" in out
    assert (tmp_path / "demo-password").read_text().strip() == password
    assert json.loads((tmp_path / "tokens.json").read_text()) == tokens
    assert ScanServer.objects.count() == 1
    assert Device.objects.count() == 3
    assert process.versions.count() == 1


def test_lost_token_file_reissues_tokens(tmp_path: Path) -> None:
    from tests.factories import Device

    run_demo_setup(tmp_path)
    old = json.loads((tmp_path / "tokens.json").read_text())
    (tmp_path / "tokens.json").unlink()
    run_demo_setup(tmp_path)
    new = json.loads((tmp_path / "tokens.json").read_text())
    for endpoint, token in new.items():
        assert token != old[endpoint]
        assert Device.objects.get(endpoint_reference=endpoint).token_matches(token)
        assert Device.for_token(old[endpoint]) is None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_newcomer_path_demo_setup_panel_scan_pdf(tmp_path: Path) -> None:
    """The README's "Try it": demo_setup, the real scan server (runscanserver, plain HTTP, processing on
    its in-process worker thread as on the embedded defaults), three simulated devices started as
    ``simulate_devices`` starts them (with the console's panel services), sign in at a panel as demo,
    scan, PDF in the folder."""
    import os
    import re
    import subprocess
    import sys
    import time

    import httpx
    from django.db import connection

    from devices.simulator.run import SimulatorConfig, SimulatorThread
    from smc.simulation import panel_services
    from tests import services

    db = connection.settings_dict
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the scan server subprocess needs a database it can share (PostgreSQL)")
    port = services.free_port()
    run_demo_setup(tmp_path, port=port)
    password = (tmp_path / "demo-password").read_text().strip()
    env = dict(os.environ)
    env.pop("SMC_REDIS_URL", None)  # the embedded default: tasks in-process, in-memory channels
    env.update(
        SMC_DATABASE_URL="postgres://%s%s@%s:%s/%s"
        % (db["USER"], ":%s" % db["PASSWORD"] if db["PASSWORD"] else "", db["HOST"], db["PORT"], db["NAME"]),
        SMC_SCANSERVER_ALLOW_PLAIN_HTTP="1",
    )
    with open(tmp_path / "scanserver.log", "wb") as log:
        scan_server = subprocess.Popen(  # as scripts/run.sh starts it
            [sys.executable, "manage.py", "runscanserver", "--host", "127.0.0.1", "--port", str(port)],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    config = SimulatorConfig(
        count=3, base_port=0, discovery=False, adf_pages=10, device_tokens=str(tmp_path / "tokens.json")
    )
    try:
        services.wait_for(lambda: services.port_open(port), "the scan server", timeout=30)
        with (
            SimulatorThread(config, panel_services()) as sim,
            httpx.Client(base_url=sim.devices[1].server.base_url, follow_redirects=True, timeout=30) as http,
        ):
            page = http.post("/panel/login", data={"username": "demo", "password": password}).text
            found = re.search(r'href="/panel/process/([^"]+)">Scan to folder<', page)
            assert found, page
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf
            answer = http.post(
                "/panel/scan",
                data={"csrf": csrf.group(1), "process": found.group(1), "input_source": "ADF", "sheets": "2"},
            )
            job_url = str(answer.url).rstrip("/") + "/status"
            deadline = time.monotonic() + 90
            status = http.get(job_url)
            while status.status_code != 286 and time.monotonic() < deadline:
                time.sleep(0.2)
                status = http.get(job_url)
        assert 'data-testid="job-state">Completed<' in status.text, status.text
        pdfs = list((tmp_path / "scans").glob("*.pdf"))
        assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-")
    finally:
        services.stop_process(scan_server)
