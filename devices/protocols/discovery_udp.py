"""WS-Discovery 2005/04 over SOAP-over-UDP multicast, with asyncio (PROTOCOL.md §7.1).

:class:`DiscoveryResponder` is the device side (Hello on start, Bye on stop, unicast
ProbeMatches/ResolveMatches to the sender), :class:`DiscoveryClient` the console side (multicast
Probe/Resolve, collects the unicast replies, reports Hello/Bye). Messages and matching rules are
in :mod:`devices.protocols.discovery`.

Network hygiene (RECIPES.md "Multicast and test hosts"): every socket is pinned to ONE
explicitly given IPv4 interface address — ``IP_MULTICAST_IF`` and ``IP_ADD_MEMBERSHIP`` name it,
never INADDR_ANY — and multicast TTL is 1 (0 on loopback) so nothing is routed beyond the
link. The group listener binds the group address itself (not 0.0.0.0) and sets
``IP_MULTICAST_ALL`` off, so it sees only datagrams for the group it joined on that interface.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from devices.protocols import discovery as wsd
from devices.protocols import soap
from devices.protocols.namespaces import WSD_MULTICAST_V4, WSD_PORT

log = logging.getLogger(__name__)

# Linux value; the socket module does not export it on Python 3.11.
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
# SOAP-over-UDP: one datagram carries one envelope; larger ones are not ours to handle.
MAX_DATAGRAM = 32 * 1024
# The spec's APP_MAX_DELAY: a reply to a multicast message waits a random 0..500 ms.
APP_MAX_DELAY = 0.5

Address = tuple[str, int]


def _check_interface(interface: str) -> str:
    addr = ipaddress.IPv4Address(interface)
    if addr.is_unspecified or addr.is_multicast:
        raise ValueError("interface must be one concrete IPv4 address, not %s" % interface)
    return str(addr)


def _default_ttl(interface: str) -> int:
    return 0 if ipaddress.IPv4Address(interface).is_loopback else 1


def _pin_sender(sock: socket.socket, interface: str, ttl: int) -> None:
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)


def group_socket(interface: str, group: str = WSD_MULTICAST_V4, port: int = WSD_PORT) -> socket.socket:
    """A socket receiving ``group:port`` datagrams that arrive on ``interface`` only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
        sock.bind((group, port))
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        _pin_sender(sock, interface, _default_ttl(interface))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def unicast_socket(interface: str, ttl: int | None = None) -> socket.socket:
    """A socket on ``interface``:ephemeral that sends multicast through ``interface`` only."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        _pin_sender(sock, interface, _default_ttl(interface) if ttl is None else ttl)
        sock.bind((interface, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: Callable[[bytes, Address], None]) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self._handler(data, (addr[0], addr[1]))
        except Exception:  # a bad datagram must never stop the listener
            log.exception("discovery datagram from %s failed", addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("discovery socket error: %s", exc)


class MessageIdCache:
    """Remembers recent MessageIDs so a repeated (or replayed) datagram is handled once."""

    def __init__(self, size: int = 1024) -> None:
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size

    def seen(self, message_id: str | None) -> bool:
        """True when ``message_id`` was seen before; records it otherwise."""
        if not message_id:
            return False
        if message_id in self._seen:
            self._seen.move_to_end(message_id)
            return True
        self._seen[message_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return False


def _parse(data: bytes, addr: Address) -> wsd.DiscoveryMessage | None:
    if len(data) > MAX_DATAGRAM:
        log.info("dropping %d-byte discovery datagram from %s", len(data), addr[0])
        return None
    try:
        return wsd.parse_message(data)
    except (soap.SoapFault, ValueError) as exc:
        log.debug("dropping discovery datagram from %s: %s", addr[0], exc)
        return None


class _Endpoint:
    """Shared socket plumbing: one group listener, one unicast sender/receiver."""

    def __init__(self, interface: str, port: int, group: str, ttl: int | None) -> None:
        self.interface = _check_interface(interface)
        self.port = port
        self.group = group
        self.ttl = ttl
        self._transports: list[asyncio.DatagramTransport] = []
        self._unicast: asyncio.DatagramTransport | None = None
        self._dedup = MessageIdCache()

    async def _open(self, *, listen_group: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            uni, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self._on_unicast), sock=unicast_socket(self.interface, self.ttl)
            )
            self._unicast = uni
            self._transports.append(uni)
            if listen_group:
                grp, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self._on_group),
                    sock=group_socket(self.interface, self.group, self.port),
                )
                self._transports.append(grp)
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        for t in self._transports:
            t.close()
        self._transports.clear()
        self._unicast = None

    @property
    def local_address(self) -> Address | None:
        if self._unicast is None:
            return None
        host, port = self._unicast.get_extra_info("sockname")[:2]
        return host, port

    def _send(self, data: bytes, addr: Address) -> None:
        if self._unicast is None or self._unicast.is_closing():
            log.debug("discovery endpoint closed; not sending to %s", addr)
            return
        self._unicast.sendto(data, addr)

    def _send_multicast(self, data: bytes) -> None:
        self._send(data, (self.group, self.port))

    def _on_group(self, data: bytes, addr: Address) -> None:
        raise NotImplementedError

    def _on_unicast(self, data: bytes, addr: Address) -> None:
        raise NotImplementedError


class DiscoveryResponder(_Endpoint):
    """The device side of WS-Discovery for one :class:`~discovery.TargetService`.

    ``max_reply_delay`` is the upper bound of the random delay before answering a multicast
    Probe/Resolve (the spec's 0.5 s; tests pass 0). Use ``async with`` or start()/stop().
    """

    def __init__(
        self,
        target: wsd.TargetService,
        interface: str = "127.0.0.1",
        *,
        port: int = WSD_PORT,
        group: str = WSD_MULTICAST_V4,
        max_reply_delay: float = APP_MAX_DELAY,
        ttl: int | None = None,
        instance_id: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(interface, port, group, ttl)
        self.target = target
        self.max_reply_delay = max_reply_delay
        # InstanceId must grow across restarts of the device; seconds since the epoch do.
        self.sequencer = wsd.AppSequencer(int(time.time()) if instance_id is None else instance_id)
        self._rng = rng or random.Random()
        self._pending: set[asyncio.TimerHandle] = set()
        self._running = False

    async def start(self) -> None:
        await self._open(listen_group=True)
        self._running = True
        self._send_multicast(wsd.build_message(self.target.hello(), app_sequence=self.sequencer.next()))
        log.info("discovery responder for %s on %s", self.target.address, self.interface)

    async def stop(self) -> None:
        if self._running:
            self._running = False
            for handle in self._pending:
                handle.cancel()
            self._pending.clear()
            self._send_multicast(
                wsd.build_message(wsd.Bye(self.target.address), app_sequence=self.sequencer.next())
            )
            # Let the event loop flush the Bye before the transport closes.
            await asyncio.sleep(0)
        self._close()

    async def announce(self, target: wsd.TargetService | None = None) -> None:
        """Send a Hello again, e.g. after XAddrs or MetadataVersion changed."""
        if target is not None:
            self.target = target
        self._send_multicast(wsd.build_message(self.target.hello(), app_sequence=self.sequencer.next()))

    async def __aenter__(self) -> DiscoveryResponder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_group(self, data: bytes, addr: Address) -> None:
        self._answer(data, addr, delayed=True)

    def _on_unicast(self, data: bytes, addr: Address) -> None:
        # A unicast (directed) Probe over UDP is answered at once: no multicast storm to avoid.
        self._answer(data, addr, delayed=False)

    def _answer(self, data: bytes, addr: Address, *, delayed: bool) -> None:
        if not self._running:
            return
        msg = _parse(data, addr)
        if msg is None or self._dedup.seen(msg.message_id):
            return
        reply = self._reply_for(msg)
        if reply is None:
            return
        delay = self._rng.uniform(0.0, self.max_reply_delay) if delayed and self.max_reply_delay > 0 else 0.0
        if delay <= 0:
            self._send(reply, addr)
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._pending.discard(handle)
            self._send(reply, addr)

        handle = loop.call_later(delay, fire)
        self._pending.add(handle)

    def _reply_for(self, msg: wsd.DiscoveryMessage) -> bytes | None:
        body = msg.body
        if not msg.message_id:
            return None  # nothing to relate a reply to
        if isinstance(body, wsd.Probe):
            if not wsd.target_matches(body, self.target):
                return None
            matches = wsd.ProbeMatches((self.target.probe_match(),))
            return wsd.build_message(matches, relates_to=msg.message_id, app_sequence=self.sequencer.next())
        if isinstance(body, wsd.Resolve):
            if body.address != self.target.address:
                return None
            resolved = wsd.ResolveMatches((self.target.resolve_match(),))
            return wsd.build_message(resolved, relates_to=msg.message_id, app_sequence=self.sequencer.next())
        return None


class DiscoveryClient(_Endpoint):
    """The console side: multicast Probe/Resolve and Hello/Bye notifications.

    ``on_hello``/``on_bye`` are called from the event loop for each distinct Hello/Bye heard on
    the group; without either, no group socket is opened (probing needs only the unicast one).
    """

    def __init__(
        self,
        interface: str = "127.0.0.1",
        *,
        port: int = WSD_PORT,
        group: str = WSD_MULTICAST_V4,
        ttl: int | None = None,
        on_hello: Callable[[wsd.Hello], object] | None = None,
        on_bye: Callable[[wsd.Bye], object] | None = None,
    ) -> None:
        super().__init__(interface, port, group, ttl)
        self.on_hello = on_hello
        self.on_bye = on_bye
        self._waiters: dict[str, Callable[[wsd.DiscoveryMessage], None]] = {}

    async def start(self) -> None:
        await self._open(listen_group=self.on_hello is not None or self.on_bye is not None)

    async def stop(self) -> None:
        self._waiters.clear()
        self._close()

    async def __aenter__(self) -> DiscoveryClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def probe(
        self,
        types: tuple[str, ...] = (),
        scopes: tuple[str, ...] = (),
        timeout: float = 2.0,
        *,
        match_by: str | None = None,
        max_results: int | None = None,
    ) -> list[wsd.ProbeMatch]:
        """Multicast a Probe and collect the distinct matches (by EPR address) for ``timeout``.

        Returns early once ``max_results`` distinct endpoints answered.
        """
        message_id = soap.new_message_id()
        found: dict[str, wsd.ProbeMatch] = {}
        done = asyncio.get_running_loop().create_future()

        def collect(msg: wsd.DiscoveryMessage) -> None:
            if not isinstance(msg.body, wsd.ProbeMatches):
                return
            for m in msg.body.matches:
                found.setdefault(m.address, m)
            if max_results is not None and len(found) >= max_results and not done.done():
                done.set_result(None)

        self._waiters[message_id] = collect
        try:
            probe = wsd.Probe(tuple(types), tuple(scopes), match_by)
            self._send_multicast(wsd.build_message(probe, message_id=message_id))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done, timeout)
        finally:
            self._waiters.pop(message_id, None)
        return list(found.values())

    async def resolve(self, address: str, timeout: float = 2.0) -> wsd.ResolveMatch | None:
        """Multicast a Resolve for ``address`` and return the first ResolveMatch for it."""
        message_id = soap.new_message_id()
        result: asyncio.Future[wsd.ResolveMatch] = asyncio.get_running_loop().create_future()

        def collect(msg: wsd.DiscoveryMessage) -> None:
            if isinstance(msg.body, wsd.ResolveMatches) and not result.done():
                for m in msg.body.matches:
                    if m.address == address:
                        result.set_result(m)
                        return

        self._waiters[message_id] = collect
        try:
            self._send_multicast(wsd.build_message(wsd.Resolve(address), message_id=message_id))
            try:
                return await asyncio.wait_for(result, timeout)
            except TimeoutError:
                return None
        finally:
            self._waiters.pop(message_id, None)

    def _on_unicast(self, data: bytes, addr: Address) -> None:
        msg = _parse(data, addr)
        if msg is None or self._dedup.seen(msg.message_id):
            return
        waiter = self._waiters.get(msg.relates_to or "")
        if waiter is not None:
            waiter(msg)
        else:
            log.debug("unsolicited discovery reply from %s", addr[0])

    def _on_group(self, data: bytes, addr: Address) -> None:
        msg = _parse(data, addr)
        if msg is None or self._dedup.seen(msg.message_id):
            return
        if isinstance(msg.body, wsd.Hello) and self.on_hello is not None:
            self.on_hello(msg.body)
        elif isinstance(msg.body, wsd.Bye) and self.on_bye is not None:
            self.on_bye(msg.body)
