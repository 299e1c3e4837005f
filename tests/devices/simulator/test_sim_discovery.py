"""WS-Discovery of simulated devices on loopback: Hello on start, Probe/Resolve, Bye on stop."""

from __future__ import annotations

import asyncio
import socket

import httpx

from devices.protocols import discovery as wsd
from devices.protocols import soap
from devices.protocols.discovery_udp import DiscoveryClient
from devices.simulator import run


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hello_probe_resolve_bye_on_loopback() -> None:
    port = free_udp_port()
    config = run.SimulatorConfig(
        count=2, base_port=0, seed="disco", discovery_port=port, discovery_delay=0.0, adf_pages=0
    )
    hellos: list[wsd.Hello] = []
    byes: list[wsd.Bye] = []

    async def scenario() -> tuple[list[wsd.ProbeMatch], wsd.ResolveMatch | None, list[str]]:
        async with DiscoveryClient(
            "127.0.0.1", port=port, on_hello=hellos.append, on_bye=byes.append
        ) as client:
            sim = await run.start(config)
            endpoints = [d.device.identity.endpoint for d in sim.devices]
            try:
                for _ in range(100):
                    if len(hellos) >= 2:
                        break
                    await asyncio.sleep(0.02)
                matches = await client.probe((wsd.SCAN_DEVICE_TYPE,), timeout=2.0, max_results=2)
                resolved = await client.resolve(endpoints[1], timeout=2.0)
            finally:
                await sim.stop()
            for _ in range(100):
                if len(byes) >= 2:
                    break
                await asyncio.sleep(0.02)
            return matches, resolved, endpoints

    matches, resolved, endpoints = asyncio.run(scenario())
    assert {h.address for h in hellos} >= set(endpoints)
    assert all(h.xaddrs for h in hellos if h.address in endpoints)
    ours = [mt for mt in matches if mt.address in endpoints]
    assert len(ours) == 2 and all(wsd.is_scanner(mt.types) for mt in ours)
    assert resolved is not None and resolved.xaddrs and resolved.xaddrs[0].endswith("/device")
    assert {b.address for b in byes} >= set(endpoints)


def test_directed_probe_over_http(simthread: run.SimulatorThread) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    probe = wsd.build_directed_probe(wsd.Probe((wsd.SCAN_DEVICE_TYPE,)), message_id="urn:uuid:1234")
    resp = httpx.post(
        server.base_url + wsd.DIRECTED_PROBE_PATH, content=probe, headers={"Content-Type": soap.CONTENT_TYPE}
    )
    assert resp.status_code == 200
    matches = wsd.parse_directed_probe_response(resp.content, "urn:uuid:1234")
    assert [mt.address for mt in matches] == [simthread.simulation.devices[0].device.identity.endpoint]
    assert matches[0].xaddrs == (server.device_url,)
