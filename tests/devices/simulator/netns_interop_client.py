"""Runs inside the client test namespace: finds scanners with the independent `wsdiscovery`
package (a third-party WS-Discovery 2005/04 implementation), reads each device's DPWS metadata
with OpenDSM's own client, and prints one JSON line: [{epr, xaddrs, types, scan_url}]."""

from __future__ import annotations

import json
import sys

import httpx
from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery

from devices.protocols import metadata
from devices.protocols.namespaces import WSCN


def main() -> None:
    wsd = ThreadedWSDiscovery()
    wsd.start()
    try:
        found = wsd.searchServices(types=[QName(WSCN, "ScanDeviceType")], timeout=float(sys.argv[1]))
    finally:
        wsd.stop()
    result = []
    for service in found:
        xaddr = service.getXAddrs()[0]
        reply = httpx.post(
            xaddr,
            content=metadata.build_get(service.getEPR()),
            headers={"Content-Type": "application/soap+xml; charset=utf-8"},
            timeout=10,
        )
        described = metadata.parse_get_response(reply.content)
        result.append(
            {
                "epr": service.getEPR(),
                "xaddrs": service.getXAddrs(),
                "types": sorted(str(t) for t in service.getTypes()),
                "scan_url": metadata.scan_service_url(described),
            }
        )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
