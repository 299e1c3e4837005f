"""One end of the cross-namespace WS-Discovery test (test_discovery_netns.py), run inside a netns.

``respond <interface> <epr> <xaddr>``: run a DiscoveryResponder (Hello now), print ``READY``,
send Bye and exit when stdin closes.
``listen <interface>``: run a DiscoveryClient that prints one JSON line per Hello/Bye heard; each
``probe`` line on stdin multicasts a Probe for wscn:ScanDeviceType and prints the matches;
exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from devices.protocols import discovery as wsd
from devices.protocols.discovery_udp import DiscoveryClient, DiscoveryResponder


def emit(kind: str, **fields: object) -> None:
    print(json.dumps({"event": kind, **fields}), flush=True)


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def respond(interface: str, epr: str, xaddr: str) -> None:
    target = wsd.TargetService(epr, xaddrs=(xaddr,))
    async with DiscoveryResponder(target, interface, max_reply_delay=0.05):
        emit("ready")
        while await read_line():
            pass
    emit("stopped")


async def listen(interface: str) -> None:
    client = DiscoveryClient(
        interface,
        on_hello=lambda h: emit("hello", address=h.address, xaddrs=list(h.xaddrs)),
        on_bye=lambda b: emit("bye", address=b.address),
    )
    async with client:
        emit("ready")
        while line := await read_line():
            if line.strip() == "probe":
                matches = await client.probe((wsd.SCAN_DEVICE_TYPE,), timeout=3, max_results=1)
                emit("matches", matches=[{"address": m.address, "xaddrs": list(m.xaddrs)} for m in matches])


def main(argv: list[str]) -> None:
    if argv[:1] == ["respond"] and len(argv) == 4:
        asyncio.run(respond(argv[1], argv[2], argv[3]))
    elif argv[:1] == ["listen"] and len(argv) == 2:
        asyncio.run(listen(argv[1]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
