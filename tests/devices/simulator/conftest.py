"""Fixtures of the simulator tests: simulated devices running in a background event loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devices.simulator.run import SimulatorConfig, SimulatorThread


@pytest.fixture
def simthread() -> Iterator[SimulatorThread]:
    """One device on a free 127.0.0.1 port, no discovery, empty ADF, 5 s retrieve deadline."""
    thread = SimulatorThread(
        SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=0, retrieve_timeout=5.0)
    )
    with thread:
        yield thread
