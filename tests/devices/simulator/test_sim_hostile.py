"""(f) The shared hostile corpus against the simulated device's HTTP endpoints: every entry gets a
SOAP fault or a 4xx, never a 2xx, no spooled file is left behind, and the device keeps serving."""

from __future__ import annotations

import os

import httpx
import pytest
from simhelpers import call

from devices.protocols import soap
from devices.protocols.wsscan import messages as m
from devices.simulator.run import SimulatorThread
from tests.devices.protocols.hostile_corpus import (
    ENVELOPE_REASONS,
    HOSTILE_ENVELOPES,
    HOSTILE_MTOM,
    MTOM_REASONS,
)

# Entries whose refusal depends on the endpoint's own size limits (the device caps a request at
# 1 MiB at the HTTP layer, so these may get 413 before any parser sees them).
SIZE_DEPENDENT = {"big_5mb_envelope", "mtom_part_over_limit", "mtom_root_over_limit", "mtom_too_many_parts"}
PATHS = ("/scan", "/device", "/StableWSDiscoveryEndpoint/schemas-xmlsoap-org_ws_2005_04_discovery")


def check_refusal(resp: httpx.Response, name: str, reasons: dict[str, str]) -> None:
    assert not 200 <= resp.status_code < 300, name
    assert 400 <= resp.status_code < 600, name
    if resp.status_code == 413:
        assert name in SIZE_DEPENDENT, "%s refused with 413" % name
        return
    fault = soap.fault_from_envelope(soap.parse_envelope(resp.content))
    assert fault is not None, name
    if name in reasons and name not in SIZE_DEPENDENT:
        assert reasons[name].lower() in fault.reason.lower(), (name, fault.reason)


@pytest.mark.parametrize("path", PATHS)
def test_hostile_corpus_is_refused_and_the_device_stays_up(simthread: SimulatorThread, path: str) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    url = server.base_url + path
    with httpx.Client(timeout=30) as client:
        for name, data in HOSTILE_ENVELOPES:
            resp = client.post(url, content=data, headers={"Content-Type": soap.CONTENT_TYPE})
            check_refusal(resp, name, ENVELOPE_REASONS)
        for name, content_type, body in HOSTILE_MTOM:
            resp = client.post(url, content=body, headers={"Content-Type": content_type})
            check_refusal(resp, name, MTOM_REASONS)
    assert os.listdir(server._spool.name) == []
    env = call(server.scan_url, m.GetScannerElementsRequest((m.NAME_SCANNER_STATUS,)))
    assert env.body is not None


def test_oversized_and_odd_requests(simthread: SimulatorThread) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    with httpx.Client(timeout=30) as client:
        big = client.post(
            server.scan_url, content=b"<" * (2 * 1024 * 1024), headers={"Content-Type": soap.CONTENT_TYPE}
        )
        assert big.status_code == 413
        assert (
            client.post(server.scan_url, content=b"hello", headers={"Content-Type": "text/plain"}).status_code
            == 400
        )
        assert client.get(server.scan_url).status_code == 405
        control = client.post(server.control_url + "/fault", content=b"[1, 2]")
        assert control.status_code == 400 and "error" in control.json()
        assert client.post(server.control_url + "/adf", json={"pages": -1}).status_code == 400
        assert client.post(server.control_url + "/fault", json={"kind": "meteor"}).status_code == 400
    call(server.scan_url, m.GetActiveJobsRequest())
