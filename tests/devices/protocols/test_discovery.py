"""WS-Discovery 2005/04 messages, matching rules and loopback multicast (discovery.py, discovery_udp.py)."""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from devices.protocols import discovery as wsd
from devices.protocols import soap
from devices.protocols.discovery_udp import (
    DiscoveryClient,
    DiscoveryResponder,
    MessageIdCache,
    group_socket,
    unicast_socket,
)
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSA_ANONYMOUS, WSCN, WSD_MULTICAST_TO, WSD_MULTICAST_V4, WSDP, qn

GOLDEN = Path(__file__).parent / "golden" / "discovery"
EPR = "urn:uuid:4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
TARGET = wsd.TargetService(
    EPR,
    scopes=("http://opendsm.example/location/floor2",),
    xaddrs=("http://127.0.0.1:5357/4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",),
    metadata_version=3,
)
PROBE_ID = "urn:uuid:00000000-0000-4000-8000-00000000000a"
RESOLVE_ID = "urn:uuid:00000000-0000-4000-8000-00000000000b"
INSTANCE = 1764057600
PRINT_TYPE = qn("http://schemas.microsoft.com/windows/2006/02/wdp/print", "PrintDeviceType")


def canon(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


# name, built message, expected parsed (body, message_id, relates_to, app_sequence)
CASES: dict[str, tuple[wsd.DiscoveryBody, dict[str, Any]]] = {
    "hello.xml": (
        TARGET.hello(),
        dict(
            message_id="urn:uuid:00000000-0000-4000-8000-000000000001",
            app_sequence=wsd.AppSequence(INSTANCE, 1),
        ),
    ),
    "bye.xml": (
        wsd.Bye(EPR),
        dict(
            message_id="urn:uuid:00000000-0000-4000-8000-000000000002",
            app_sequence=wsd.AppSequence(INSTANCE, 9),
        ),
    ),
    "probe.xml": (
        wsd.Probe(wsd.SCANNER_DEVICE_TYPES, ("http://opendsm.example/location",)),
        dict(message_id=PROBE_ID),
    ),
    "probe_matches.xml": (
        wsd.ProbeMatches((TARGET.probe_match(),)),
        dict(
            message_id="urn:uuid:00000000-0000-4000-8000-000000000003",
            relates_to=PROBE_ID,
            app_sequence=wsd.AppSequence(INSTANCE, 2),
        ),
    ),
    "resolve.xml": (wsd.Resolve(EPR), dict(message_id=RESOLVE_ID)),
    "resolve_matches.xml": (
        wsd.ResolveMatches((TARGET.resolve_match(),)),
        dict(
            message_id="urn:uuid:00000000-0000-4000-8000-000000000004",
            relates_to=RESOLVE_ID,
            app_sequence=wsd.AppSequence(INSTANCE, 3),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_matches_golden(name: str) -> None:
    body, kwargs = CASES[name]
    assert canon(wsd.build_message(body, **kwargs)) == canon((GOLDEN / name).read_bytes())


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_golden_and_round_trip(name: str) -> None:
    body, kwargs = CASES[name]
    msg = wsd.parse_message((GOLDEN / name).read_bytes())
    assert msg.body == body
    assert msg.message_id == kwargs["message_id"]
    assert msg.relates_to == kwargs.get("relates_to")
    assert msg.app_sequence == kwargs.get("app_sequence")
    assert msg.action == "http://schemas.xmlsoap.org/ws/2005/04/discovery/" + type(body).__name__
    rebuilt = wsd.build_message(
        msg.body, message_id=msg.message_id, relates_to=msg.relates_to, app_sequence=msg.app_sequence
    )
    assert canon(rebuilt) == canon((GOLDEN / name).read_bytes())


def test_addressing_of_multicast_and_replies() -> None:
    hello = wsd.parse_message((GOLDEN / "hello.xml").read_bytes())
    matches = wsd.parse_message((GOLDEN / "probe_matches.xml").read_bytes())
    assert hello.to == WSD_MULTICAST_TO
    assert matches.to == WSA_ANONYMOUS
    # Hello is one-way: no ReplyTo at all.
    env = soap.parse_envelope((GOLDEN / "hello.xml").read_bytes())
    assert env.headers.reply_to is None
    with pytest.raises(ValueError, match="relates_to"):
        wsd.build_message(wsd.ProbeMatches(()))


def test_types_are_written_with_conventional_prefixes() -> None:
    root = etree.fromstring(wsd.build_message(TARGET.hello()))
    types = root.find(".//%s" % qn(wsd.WSD, "Types"))
    assert types is not None
    assert types.text == "wsdp:Device wscn:ScanDeviceType"
    assert types.nsmap["wsdp"] == WSDP and types.nsmap["wscn"] == WSCN


def test_foreign_probe_matches_parse_by_namespace_not_prefix() -> None:
    msg = wsd.parse_message((GOLDEN / "probe_matches_foreign.xml").read_bytes())
    assert msg.relates_to == PROBE_ID
    assert msg.app_sequence == wsd.AppSequence(42, 17, "urn:uuid:seq-1")
    assert isinstance(msg.body, wsd.ProbeMatches)
    (match,) = msg.body.matches
    assert match.address == "urn:uuid:16a65700-007c-1000-bb49-00a0d5123456"
    # "ScanDeviceType" without a prefix resolves against the default namespace of Types.
    assert match.types == (wsd.DEVICE_TYPE, PRINT_TYPE, wsd.SCAN_DEVICE_TYPE)
    assert match.xaddrs == ("http://192.0.2.10:5358/WSDScanner", "https://192.0.2.10:5359/WSDScanner")
    assert match.metadata_version == 12
    assert wsd.is_scanner(match.types)


def test_soap11_probe_with_match_by() -> None:
    msg = wsd.parse_message((GOLDEN / "probe_soap11.xml").read_bytes())
    assert msg.body == wsd.Probe(
        (wsd.SCAN_DEVICE_TYPE,), ("http://opendsm.example/location/floor2",), wsd.MATCH_BY_STRCMP0
    )
    assert isinstance(msg.body, wsd.Probe)
    assert wsd.target_matches(msg.body, TARGET)


def test_unresolvable_type_prefix_is_dropped() -> None:
    el = etree.fromstring(
        '<d:Types xmlns:d="%s" xmlns:w="%s">w:Device nope:Thing</d:Types>' % (wsd.WSD, WSDP)
    )
    assert wsd.parse_qname_list(el) == (wsd.DEVICE_TYPE,)


@pytest.mark.parametrize(
    "xml, reason",
    [
        ("<d:Hello xmlns:d='%s'><d:MetadataVersion>1</d:MetadataVersion></d:Hello>", "EndpointReference"),
        (
            "<d:Hello xmlns:d='%s' xmlns:a='http://schemas.xmlsoap.org/ws/2004/08/addressing'>"
            "<a:EndpointReference><a:Address>urn:x</a:Address></a:EndpointReference>"
            "<d:MetadataVersion>one</d:MetadataVersion></d:Hello>",
            "MetadataVersion",
        ),
        ("<d:Unknown xmlns:d='%s'/>", "not a WS-Discovery body"),
    ],
)
def test_malformed_bodies_are_refused(xml: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        wsd.body_from_element(etree.fromstring(xml % wsd.WSD))


def test_bad_app_sequence_is_refused() -> None:
    data = (GOLDEN / "hello.xml").read_bytes().replace(b'InstanceId="1764057600"', b'InstanceId="x"')
    with pytest.raises(ProtocolError, match="AppSequence"):
        wsd.parse_message(data)


def test_app_sequencer_counts_up() -> None:
    seq = wsd.AppSequencer(7)
    assert [seq.next().message_number for _ in range(3)] == [1, 2, 3]
    assert seq.next().instance_id == 7


# --------------------------------------------------------------------------------------------
# matching rules


@pytest.mark.parametrize(
    "probe_scope, target_scope, expected",
    [
        ("http://example.com/a", "http://example.com/a/b", True),
        ("http://example.com/a", "http://example.com/a", True),
        ("http://example.com/a/", "http://example.com/a/b", True),
        ("HTTP://EXAMPLE.com/a", "http://example.com/a/b", True),
        ("http://example.com/a%20b", "http://example.com/a b/c", True),
        ("http://example.com/a", "http://example.com/ab", False),  # segment-wise, not string prefix
        ("http://example.com/A", "http://example.com/a", False),  # path is case-sensitive
        ("http://example.com/a/b", "http://example.com/a", False),
        ("http://other.com/a", "http://example.com/a", False),
        ("https://example.com/a", "http://example.com/a", False),
        ("http://example.com/a/../b", "http://example.com/b", False),
        ("http://example.com/a?x=1", "http://example.com/a/b?y=2", True),  # query is not compared
    ],
)
def test_rfc2396_scope_rule(probe_scope: str, target_scope: str, expected: bool) -> None:
    assert wsd.scope_matches(probe_scope, target_scope) is expected
    assert wsd.scope_matches(probe_scope, target_scope, wsd.MATCH_BY_RFC3986) is expected


def test_other_scope_rules() -> None:
    assert wsd.scope_matches("urn:x:A", "urn:x:A", wsd.MATCH_BY_STRCMP0)
    assert not wsd.scope_matches("urn:x:A", "urn:x:a", wsd.MATCH_BY_STRCMP0)
    u = uuid.uuid4()
    assert wsd.scope_matches("urn:uuid:%s" % u, str(u).upper(), wsd.MATCH_BY_UUID)
    assert not wsd.scope_matches("urn:uuid:%s" % u, "not-a-uuid", wsd.MATCH_BY_UUID)
    assert not wsd.scope_matches("urn:x", "urn:x", "http://example.com/unknown-rule")


def test_probe_matches_types_and_scopes() -> None:
    types = (wsd.DEVICE_TYPE, wsd.SCAN_DEVICE_TYPE)
    scopes = ("http://opendsm.example/location/floor2", "http://opendsm.example/dept/it")
    assert wsd.probe_matches(wsd.Probe(), types, scopes)
    assert wsd.probe_matches(wsd.Probe((wsd.SCAN_DEVICE_TYPE,)), types, scopes)
    assert wsd.probe_matches(wsd.Probe(types), types, ())
    assert not wsd.probe_matches(wsd.Probe((wsd.SCAN_DEVICE_TYPE, PRINT_TYPE)), types, scopes)
    # Same local name in another namespace is another type.
    assert not wsd.probe_matches(wsd.Probe((qn("urn:other", "ScanDeviceType"),)), types, scopes)
    assert wsd.probe_matches(wsd.Probe(scopes=("http://opendsm.example/location",)), types, scopes)
    assert wsd.probe_matches(
        wsd.Probe(scopes=("http://opendsm.example/location", "http://opendsm.example/dept")), types, scopes
    )
    assert not wsd.probe_matches(
        wsd.Probe(scopes=("http://opendsm.example/location", "http://opendsm.example/site")), types, scopes
    )
    assert not wsd.probe_matches(wsd.Probe(scopes=("http://opendsm.example/location",)), types, ())


# --------------------------------------------------------------------------------------------
# directed probe


def test_directed_probe_answers_with_matches() -> None:
    probe = wsd.build_directed_probe(wsd.Probe((wsd.SCAN_DEVICE_TYPE,)), message_id=PROBE_ID)
    reply = wsd.handle_directed_probe(soap.parse_envelope(probe), TARGET, wsd.AppSequence(1, 5))
    assert reply is not None
    assert wsd.parse_directed_probe_response(reply, PROBE_ID) == [TARGET.probe_match()]
    assert wsd.parse_message(reply).app_sequence == wsd.AppSequence(1, 5)
    with pytest.raises(ProtocolError, match="relates to another"):
        wsd.parse_directed_probe_response(reply, "urn:uuid:other")


def test_directed_probe_without_match_gets_empty_matches() -> None:
    probe = wsd.build_directed_probe(wsd.Probe((PRINT_TYPE,)), message_id=PROBE_ID)
    reply = wsd.handle_directed_probe(soap.parse_envelope(probe), TARGET)
    assert reply is not None
    assert wsd.parse_directed_probe_response(reply, PROBE_ID) == []


def test_directed_probe_ignores_other_messages() -> None:
    hello = soap.parse_envelope((GOLDEN / "hello.xml").read_bytes())
    assert wsd.handle_directed_probe(hello, TARGET) is None


# --------------------------------------------------------------------------------------------
# UDP multicast on loopback


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_target() -> wsd.TargetService:
    # A scope of its own, so a probe finds this target even if other responders share the port.
    tag = uuid.uuid4()
    return wsd.TargetService(
        "urn:uuid:%s" % tag,
        scopes=("http://opendsm.example/test/%s/floor2" % tag,),
        xaddrs=("http://127.0.0.1:5357/dev",),
    )


def test_sockets_are_pinned_to_the_interface() -> None:
    port = free_udp_port()
    grp = group_socket("127.0.0.1", WSD_MULTICAST_V4, port)
    uni = unicast_socket("127.0.0.1")
    try:
        assert grp.getsockname() == (WSD_MULTICAST_V4, port)
        assert uni.getsockname()[0] == "127.0.0.1"
        for s in (grp, uni):
            assert s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == socket.inet_aton("127.0.0.1")
            assert s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
            assert s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1
    finally:
        grp.close()
        uni.close()
    for bad in ("0.0.0.0", "239.255.255.250", "eth0"):
        with pytest.raises(ValueError):
            DiscoveryClient(bad)


def test_loopback_probe_resolve_hello_bye() -> None:
    """On the real port 3702: a client hears Hello, finds the device by Probe and Resolve, hears Bye."""
    target = new_target()
    events: list[object] = []

    async def scenario() -> tuple[list[wsd.ProbeMatch], wsd.ResolveMatch | None, list[wsd.ProbeMatch]]:
        hello_seen = asyncio.Event()

        def on_hello(h: wsd.Hello) -> None:
            if h.address == target.address:
                events.append(h)
                hello_seen.set()

        def on_bye(b: wsd.Bye) -> None:
            if b.address == target.address:
                events.append(b)

        async with DiscoveryClient("127.0.0.1", on_hello=on_hello, on_bye=on_bye) as client:
            responder = DiscoveryResponder(target, "127.0.0.1", max_reply_delay=0)
            await responder.start()
            try:
                await asyncio.wait_for(hello_seen.wait(), 5)
                own_scope = target.scopes[0].rsplit("/", 1)[0]
                found = await client.probe((wsd.SCAN_DEVICE_TYPE,), (own_scope,), timeout=5, max_results=1)
                resolved = await client.resolve(target.address, timeout=5)
                # Another device's type: this responder stays silent.
                none = await client.probe((PRINT_TYPE,), timeout=0.3)
            finally:
                await responder.stop()
            for _ in range(100):
                if any(isinstance(e, wsd.Bye) for e in events):
                    break
                await asyncio.sleep(0.02)
        return found, resolved, none

    found, resolved, none = asyncio.run(scenario())
    assert [m.address for m in found] == [target.address]
    assert found[0].xaddrs == target.xaddrs and found[0].types == target.types
    assert resolved == target.resolve_match()
    assert all(m.address != target.address for m in none)
    assert events == [target.hello(), wsd.Bye(target.address)]


def test_responder_suppresses_duplicate_probes_and_numbers_messages() -> None:
    port = free_udp_port()
    target = new_target()
    probe = wsd.build_message(wsd.Probe((wsd.SCAN_DEVICE_TYPE,)), message_id="urn:uuid:%s" % uuid.uuid4())

    async def scenario() -> list[wsd.DiscoveryMessage]:
        replies: list[wsd.DiscoveryMessage] = []
        loop = asyncio.get_running_loop()
        sender = unicast_socket("127.0.0.1")
        got = asyncio.Event()

        def readable() -> None:
            data = sender.recv(65536)
            replies.append(wsd.parse_message(data))
            got.set()

        loop.add_reader(sender.fileno(), readable)
        responder = DiscoveryResponder(
            target, "127.0.0.1", port=port, max_reply_delay=0.01, instance_id=11, rng=random.Random(1)
        )
        try:
            await responder.start()
            # SOAP-over-UDP repeats datagrams; the same MessageID must be answered once.
            for _ in range(3):
                sender.sendto(probe, (WSD_MULTICAST_V4, port))
            await asyncio.wait_for(got.wait(), 5)
            # A later, distinct probe proves the responder is still answering.
            got.clear()
            sender.sendto(probe.replace(b"urn:uuid:", b"urn:uuid:1", 1), (WSD_MULTICAST_V4, port))
            await asyncio.wait_for(got.wait(), 5)
        finally:
            loop.remove_reader(sender.fileno())
            sender.close()
            await responder.stop()
        return replies

    replies = asyncio.run(scenario())
    assert len(replies) == 2
    assert all(isinstance(r.body, wsd.ProbeMatches) for r in replies)
    seqs = [r.app_sequence for r in replies]
    # Message 1 was the Hello.
    assert seqs == [wsd.AppSequence(11, 2), wsd.AppSequence(11, 3)]


def test_responder_ignores_garbage_and_keeps_working() -> None:
    port = free_udp_port()
    target = new_target()

    async def scenario() -> list[wsd.ProbeMatch]:
        async with DiscoveryResponder(target, "127.0.0.1", port=port, max_reply_delay=0):
            with unicast_socket("127.0.0.1") as junk:
                for data in (b"not xml", b"<a/>", b"<!DOCTYPE x [<!ENTITY e 'x'>]><x>&e;</x>", b"x" * 70000):
                    junk.sendto(data[:60000], (WSD_MULTICAST_V4, port))
            async with DiscoveryClient("127.0.0.1", port=port) as client:
                return await client.probe(timeout=5, max_results=1)

    assert [m.address for m in asyncio.run(scenario())] == [target.address]


def test_message_id_cache_is_bounded() -> None:
    cache = MessageIdCache(size=2)
    assert not cache.seen("a") and not cache.seen("b") and cache.seen("a")
    assert not cache.seen("c")  # evicts "b", the least recently seen
    assert not cache.seen("b")
    assert not cache.seen(None) and not cache.seen(None)


def test_directed_probe_refusals_are_faults() -> None:
    probe = wsd.build_directed_probe(wsd.Probe(), message_id=PROBE_ID)
    env = soap.parse_envelope(probe)
    no_id = soap.Envelope(
        env.version, soap.Headers(env.headers.action, message_id=""), (), env.body, env.root
    )
    with pytest.raises(soap.SoapFault) as info:
        wsd.handle_directed_probe(no_id, TARGET)
    assert info.value.subcode == soap.HEADER_REQUIRED
