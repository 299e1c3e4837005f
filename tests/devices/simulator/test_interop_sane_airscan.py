"""An independent WS-Scan client, sane-airscan (through SANE's scanimage), scans from the simulator.

The client is configured with the device's URL and WS-Discovery switched off, so it sends
nothing but HTTP to 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from devices.simulator.run import SimulatorConfig, SimulatorThread

pytestmark = pytest.mark.skipif(
    shutil.which("scanimage") is None or not Path("/etc/sane.d/airscan.conf").exists(),
    reason="sane-airscan and sane-utils are installed by scripts/setup.sh dev",
)


@pytest.fixture
def airscan(tmp_path: Path) -> Iterator[tuple[dict[str, str], SimulatorThread]]:
    thread = SimulatorThread(SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=3))
    with thread as simulation:
        url = simulation.devices[0].server.scan_url
        config = tmp_path / "sane"
        config.mkdir()
        (config / "dll.conf").write_text("airscan\n")
        (config / "airscan.conf").write_text(
            '[devices]\n"OpenDSM Sim" = %s, WSD\n\n[options]\ndiscovery = disable\n' % url
        )
        env = {**os.environ, "SANE_CONFIG_DIR": str(config)}
        yield env, thread


def scanimage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["scanimage", *args], env=env, capture_output=True, text=True, timeout=120)


def test_scanimage_lists_the_simulated_device(airscan: tuple[dict[str, str], SimulatorThread]) -> None:
    env, _thread = airscan
    listing = scanimage(env, "-L")
    assert "airscan:w0:OpenDSM Sim" in listing.stdout, listing.stdout + listing.stderr


def test_scanimage_scans_from_the_platen(
    airscan: tuple[dict[str, str], SimulatorThread], tmp_path: Path
) -> None:
    env, _thread = airscan
    out = tmp_path / "platen.png"
    result = scanimage(
        env,
        "-d",
        "airscan:w0:OpenDSM Sim",
        "--source",
        "Flatbed",
        "--resolution",
        "75",
        "--format=png",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        # Letter-ish platen at 75 dpi: about 8.5 x 11.7 inches.
        assert 600 <= image.width <= 650 and 820 <= image.height <= 900
        assert image.mode == "RGB"


def test_scanimage_empties_the_adf_in_a_batch(
    airscan: tuple[dict[str, str], SimulatorThread], tmp_path: Path
) -> None:
    env, thread = airscan
    result = scanimage(
        env,
        "-d",
        "airscan:w0:OpenDSM Sim",
        "--source",
        "ADF",
        "--resolution",
        "75",
        "--mode",
        "Gray",
        "--format=png",
        "--batch=%s" % (tmp_path / "page%d.png"),
    )
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == 3, result.stderr
    for page in pages:
        with Image.open(page) as image:
            assert image.mode == "L"
