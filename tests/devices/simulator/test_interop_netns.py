"""Independent clients find and scan the simulator across two network namespaces.

Host A runs ``python -m devices.simulator`` on its veth address; host B runs the third-party
`wsdiscovery` package (WS-Discovery multicast Probe, answered by ProbeMatches), reads the DPWS
metadata, then scans with sane-airscan through `scanimage`. The namespaces have no route out, so
every packet stays on the veth pair; they are deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests import services
from tests.devices.protocols.test_discovery_netns import IP, Hosts, hosts  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[3]
CLIENT = Path(__file__).with_name("netns_interop_client.py")
pytestmark = pytest.mark.netns


def in_ns(ns: str, *command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.update(kwargs.pop("env", {}))  # type: ignore[call-overload]
    return subprocess.run(
        [IP, "netns", "exec", ns, *command], env=env, capture_output=True, text=True, **kwargs
    )


def test_third_party_clients_discover_and_scan_across_namespaces(hosts: Hosts, tmp_path: Path) -> None:  # noqa: F811
    simulator = subprocess.Popen(
        [
            IP,
            "netns",
            "exec",
            hosts.ns_a,
            sys.executable,
            "-m",
            "devices.simulator",
            "--count",
            "2",
            "--host",
            hosts.addr_a,
            "--interface",
            hosts.addr_a,
            "--base-port",
            "8700",
            "--adf-pages",
            "2",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "simulator.log", "wb"),
        start_new_session=True,
    )
    try:
        ready = [hosts.addr_a, "8701"]
        services.wait_for(
            lambda: (
                in_ns(
                    hosts.ns_a,
                    sys.executable,
                    "-c",
                    "import socket; socket.create_connection((%r, %s), 1)" % tuple(ready),
                    timeout=10,
                ).returncode
                == 0
            ),
            "the simulated devices in namespace A",
            timeout=30,
        )
        probe = in_ns(hosts.ns_b, sys.executable, str(CLIENT), "4", timeout=60)
        assert probe.returncode == 0, probe.stderr
        found = json.loads(probe.stdout.strip().splitlines()[-1])
        assert sorted(d["xaddrs"][0] for d in found) == [
            "http://%s:8700/device" % hosts.addr_a,
            "http://%s:8701/device" % hosts.addr_a,
        ]
        for device in found:
            assert "http://schemas.microsoft.com/windows/2006/08/wdp/scan:ScanDeviceType" in device["types"]
            assert device["scan_url"].startswith("http://%s:870" % hosts.addr_a)

        if shutil.which("scanimage") is None:
            pytest.skip("sane-utils/sane-airscan missing: discovery part passed")
        sane = tmp_path / "sane"
        sane.mkdir()
        (sane / "dll.conf").write_text("airscan\n")
        (sane / "airscan.conf").write_text(
            '[devices]\n"Found" = %s, WSD\n\n[options]\ndiscovery = disable\n' % found[0]["scan_url"]
        )
        out = tmp_path / "scan.png"
        scan = in_ns(
            hosts.ns_b,
            "scanimage",
            "-d",
            "airscan:w0:Found",
            "--source",
            "ADF",
            "--resolution",
            "75",
            "--format=png",
            "-o",
            str(out),
            env={"SANE_CONFIG_DIR": str(sane)},
            timeout=60,
        )
        assert scan.returncode == 0, scan.stderr
        with Image.open(out) as image:
            assert image.width > 500 and image.height > 700
    finally:
        services.stop_process(simulator)
