"""WS-Discovery between two network namespaces joined by a veth pair (RECIPES.md "Multicast and test hosts").

The responder runs in one namespace, the listening/probing client in the other; both pin their
sockets to their veth address, so the multicast never touches the host's own interfaces. The
namespaces (and with them the veth pair) are deleted in the fixture's teardown.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

IP = "/usr/sbin/ip"
REPO = Path(__file__).resolve().parents[3]
PEER = Path(__file__).with_name("netns_discovery_peer.py")
TIMEOUT = 15.0

pytestmark = pytest.mark.netns


@dataclass(frozen=True)
class Hosts:
    ns_a: str
    ns_b: str
    addr_a: str
    addr_b: str


def ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True, text=True, timeout=10)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0 or not Path(IP).exists():
        pytest.skip("creating network namespaces needs root and %s" % IP)
    tag = secrets.token_hex(3)
    ns_a, ns_b = "odsm-a-%s" % tag, "odsm-b-%s" % tag
    veth_a, veth_b = "odva%s" % tag, "odvb%s" % tag
    subnet = "10.77.%d" % (secrets.randbelow(254) + 1)
    hosts = Hosts(ns_a, ns_b, subnet + ".1", subnet + ".2")
    try:
        ip("netns", "add", ns_a)
    except subprocess.CalledProcessError as exc:
        pytest.skip("ip netns add is not permitted here: %s" % exc.stderr.strip())
    created = [ns_a]
    try:
        ip("netns", "add", ns_b)
        created.append(ns_b)
        ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        for ns, veth, addr in ((ns_a, veth_a, hosts.addr_a), (ns_b, veth_b, hosts.addr_b)):
            ip("link", "set", veth, "netns", ns)
            ip("-n", ns, "addr", "add", addr + "/24", "dev", veth)
            ip("-n", ns, "link", "set", veth, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield hosts
    finally:
        # Deleting a namespace destroys the veth end inside it, and with it the pair.
        for ns in created:
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=10)


class Peer:
    """A peer process inside a namespace, its stdout read as JSON lines by a thread."""

    def __init__(self, ns: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [IP, "netns", "exec", ns, sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
            env=env,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self.lines.put(json.loads(line))

    def expect(self, event: str) -> dict[str, Any]:
        """The next line whose event is ``event`` (other events before it are skipped)."""
        while True:
            try:
                msg = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("no %r from peer; stderr: %s" % (event, self.stderr())) from None
            if msg["event"] == event:
                return msg

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read() if self.proc.stderr is not None else ""

    def stop(self) -> None:
        self.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def test_probe_and_hello_bye_across_namespaces(hosts: Hosts) -> None:
    epr = "urn:uuid:%s" % uuid.uuid4()
    xaddr = "http://%s:5357/%s" % (hosts.addr_a, epr[9:])
    listener = Peer(hosts.ns_b, "listen", hosts.addr_b)
    responder: Peer | None = None
    try:
        listener.expect("ready")
        responder = Peer(hosts.ns_a, "respond", hosts.addr_a, epr, xaddr)
        responder.expect("ready")
        assert listener.expect("hello") == {"event": "hello", "address": epr, "xaddrs": [xaddr]}

        listener.send("probe")
        matches = listener.expect("matches")["matches"]
        assert matches == [{"address": epr, "xaddrs": [xaddr]}]

        responder.close()
        responder.expect("stopped")
        assert listener.expect("bye") == {"event": "bye", "address": epr}
    finally:
        if responder is not None:
            responder.stop()
        listener.stop()
