"""WS-Discovery 2005/04 messages and matching rules (PROTOCOL.md §7.1).

Implements the message side of WS-Discovery (April 2005 member submission, namespace
``http://schemas.xmlsoap.org/ws/2005/04/discovery``) as used by WSD scanners: Hello, Bye,
Probe, ProbeMatches, Resolve and ResolveMatches, with the ``wsd:AppSequence`` header, plus the
Types/Scopes matching rules and the HTTP "directed probe" handler
(``/StableWSDiscoveryEndpoint/schemas-xmlsoap-org_ws_2005_04_discovery``, SA:airscan-wsdd.c).
The UDP multicast transport lives in :mod:`devices.protocols.discovery_udp`.

Types are held as Clark-notation QNames (``{namespace}local``): on input each ``prefix:local``
token is resolved against the element's in-scope namespaces (prefixes never matter); on output
the conventional prefixes of :data:`namespaces.NSMAP` are declared on the Types element.

Scope matching (``MatchBy``): the 2005/04 default is ``.../discovery/rfc2396``, a segment-wise
prefix match on scheme, authority and path (the same rule WS-Discovery 1.1 calls rfc3986; both
URIs are accepted), plus ``.../uuid`` and ``.../strcmp0``. A Probe with an unknown MatchBy
matches nothing (the spec allows a MatchingRuleNotSupported fault; silence is what real
devices do on UDP).
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from devices.protocols import soap
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import (
    NSMAP,
    WSA,
    WSA_ANONYMOUS,
    WSCN,
    WSD,
    WSD_MULTICAST_TO,
    WSDP,
    action,
    qn,
)

log = logging.getLogger(__name__)

ACTION_HELLO = action(WSD, "Hello")
ACTION_BYE = action(WSD, "Bye")
ACTION_PROBE = action(WSD, "Probe")
ACTION_PROBE_MATCHES = action(WSD, "ProbeMatches")
ACTION_RESOLVE = action(WSD, "Resolve")
ACTION_RESOLVE_MATCHES = action(WSD, "ResolveMatches")

MATCH_BY_RFC2396 = WSD + "/rfc2396"
MATCH_BY_RFC3986 = "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01/rfc3986"
MATCH_BY_UUID = WSD + "/uuid"
MATCH_BY_STRCMP0 = WSD + "/strcmp0"

DEVICE_TYPE = qn(WSDP, "Device")
SCAN_DEVICE_TYPE = qn(WSCN, "ScanDeviceType")
SCANNER_DEVICE_TYPES: tuple[str, ...] = (DEVICE_TYPE, SCAN_DEVICE_TYPE)

# Path of the HTTP directed-probe endpoint (SA:airscan-wsdd.c wsdd_send_directed_probe).
DIRECTED_PROBE_PATH = "/StableWSDiscoveryEndpoint/schemas-xmlsoap-org_ws_2005_04_discovery"

_MAX_LIST_TOKENS = 64  # Types/Scopes/XAddrs: far more than any device sends


# --------------------------------------------------------------------------------------------
# Dataclasses
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppSequence:
    """``wsd:AppSequence``: orders a target's multicast messages (instance = boot, number = counter)."""

    instance_id: int
    message_number: int
    sequence_id: str | None = None


@dataclass(frozen=True)
class Hello:
    address: str
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    metadata_version: int = 1


@dataclass(frozen=True)
class Bye:
    address: str


@dataclass(frozen=True)
class Probe:
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    match_by: str | None = None


@dataclass(frozen=True)
class ProbeMatch:
    address: str
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    metadata_version: int = 1


@dataclass(frozen=True)
class ProbeMatches:
    matches: tuple[ProbeMatch, ...] = ()


@dataclass(frozen=True)
class Resolve:
    address: str


@dataclass(frozen=True)
class ResolveMatch:
    address: str
    types: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    metadata_version: int = 1


@dataclass(frozen=True)
class ResolveMatches:
    matches: tuple[ResolveMatch, ...] = ()


DiscoveryBody = Hello | Bye | Probe | ProbeMatches | Resolve | ResolveMatches


@dataclass(frozen=True)
class DiscoveryMessage:
    """A parsed discovery envelope: the addressing headers that matter plus the body."""

    action: str
    message_id: str | None
    relates_to: str | None
    to: str | None
    app_sequence: AppSequence | None
    body: DiscoveryBody


@dataclass(frozen=True)
class TargetService:
    """What a device announces about itself; the responder and the directed probe answer from it."""

    address: str
    types: tuple[str, ...] = SCANNER_DEVICE_TYPES
    scopes: tuple[str, ...] = ()
    xaddrs: tuple[str, ...] = ()
    metadata_version: int = 1

    def hello(self) -> Hello:
        return Hello(self.address, self.types, self.scopes, self.xaddrs, self.metadata_version)

    def probe_match(self) -> ProbeMatch:
        return ProbeMatch(self.address, self.types, self.scopes, self.xaddrs, self.metadata_version)

    def resolve_match(self) -> ResolveMatch:
        return ResolveMatch(self.address, self.types, self.scopes, self.xaddrs, self.metadata_version)


@dataclass
class AppSequencer:
    """Hands out AppSequence headers: one InstanceId per run, MessageNumber strictly increasing."""

    instance_id: int
    sequence_id: str | None = None
    _number: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def next(self) -> AppSequence:
        with self._lock:
            self._number += 1
            return AppSequence(self.instance_id, self._number, self.sequence_id)


# --------------------------------------------------------------------------------------------
# QName lists, URI lists
# --------------------------------------------------------------------------------------------


def _split_qname(clark: str) -> tuple[str, str]:
    if not clark.startswith("{") or "}" not in clark:
        raise ProtocolError("type %r is not a namespace-qualified name" % clark)
    ns, local = clark[1:].split("}", 1)
    return ns, local


def add_qname_list(parent: etree._Element, tag: str, types: Iterable[str]) -> etree._Element:
    """Append ``tag`` holding ``types`` as ``prefix:local`` with the prefixes declared on it."""
    by_uri = {uri: prefix for prefix, uri in NSMAP.items()}
    declared: dict[str, str] = {}
    tokens: list[str] = []
    for clark in types:
        ns, local = _split_qname(clark)
        prefix = declared.get(ns) or by_uri.get(ns) or "t%d" % len(declared)
        declared[ns] = prefix
        tokens.append("%s:%s" % (prefix, local))
    el = etree.SubElement(parent, tag, nsmap={p: ns for ns, p in declared.items()})
    el.text = " ".join(tokens)
    return el


def parse_qname_list(el: etree._Element) -> tuple[str, ...]:
    """Resolve the ``prefix:local`` tokens of ``el`` against its in-scope namespaces."""
    out: list[str] = []
    nsmap = el.nsmap
    for token in (el.text or "").split()[:_MAX_LIST_TOKENS]:
        prefix, _, local = token.rpartition(":")
        ns = nsmap.get(prefix or None)
        if ns is None or not local:
            # An unresolvable prefix cannot name a type we know; dropping it only narrows a match.
            log.debug("dropping unresolvable QName %s", token)
            continue
        out.append(qn(ns, local))
    return tuple(out)


def _uri_list(el: etree._Element | None) -> tuple[str, ...]:
    if el is None:
        return ()
    return tuple((el.text or "").split()[:_MAX_LIST_TOKENS])


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


# --------------------------------------------------------------------------------------------
# Body elements
# --------------------------------------------------------------------------------------------


def _add_epr(parent: etree._Element, address: str) -> None:
    epr = _sub(parent, qn(WSA, "EndpointReference"))
    _sub(epr, qn(WSA, "Address"), address)


def _add_endpoint_fields(
    el: etree._Element,
    address: str,
    types: tuple[str, ...],
    scopes: tuple[str, ...],
    xaddrs: tuple[str, ...],
    metadata_version: int,
) -> None:
    _add_epr(el, address)
    if types:
        add_qname_list(el, qn(WSD, "Types"), types)
    if scopes:
        _sub(el, qn(WSD, "Scopes"), " ".join(scopes))
    if xaddrs:
        _sub(el, qn(WSD, "XAddrs"), " ".join(xaddrs))
    _sub(el, qn(WSD, "MetadataVersion"), str(metadata_version))


def _endpoint_fields(
    el: etree._Element,
) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], int]:
    address = _text(el.find("%s/%s" % (qn(WSA, "EndpointReference"), qn(WSA, "Address"))))
    if not address:
        raise ProtocolError("%s has no wsa:EndpointReference/wsa:Address" % etree.QName(el).localname)
    types_el = el.find(qn(WSD, "Types"))
    types = parse_qname_list(types_el) if types_el is not None else ()
    version_text = _text(el.find(qn(WSD, "MetadataVersion")))
    try:
        metadata_version = int(version_text) if version_text else 0
    except ValueError:
        raise ProtocolError("MetadataVersion %r is not an integer" % version_text[:40]) from None
    if not 0 <= metadata_version <= 0xFFFFFFFF:
        raise ProtocolError("MetadataVersion %d is out of range" % metadata_version)
    return (
        address,
        types,
        _uri_list(el.find(qn(WSD, "Scopes"))),
        _uri_list(el.find(qn(WSD, "XAddrs"))),
        metadata_version,
    )


def body_to_element(body: DiscoveryBody) -> etree._Element:
    """The ``wsd:*`` body element of a discovery message."""
    if isinstance(body, Hello):
        el = etree.Element(qn(WSD, "Hello"), nsmap={"wsd": WSD, "wsa": WSA})
        _add_endpoint_fields(el, body.address, body.types, body.scopes, body.xaddrs, body.metadata_version)
    elif isinstance(body, Bye):
        el = etree.Element(qn(WSD, "Bye"), nsmap={"wsd": WSD, "wsa": WSA})
        _add_epr(el, body.address)
    elif isinstance(body, Probe):
        el = etree.Element(qn(WSD, "Probe"), nsmap={"wsd": WSD})
        if body.types:
            add_qname_list(el, qn(WSD, "Types"), body.types)
        if body.scopes or body.match_by:
            scopes = _sub(el, qn(WSD, "Scopes"), " ".join(body.scopes))
            if body.match_by:
                scopes.set("MatchBy", body.match_by)
    elif isinstance(body, ProbeMatches | ResolveMatches):
        outer, inner = (
            ("ProbeMatches", "ProbeMatch")
            if isinstance(body, ProbeMatches)
            else ("ResolveMatches", "ResolveMatch")
        )
        el = etree.Element(qn(WSD, outer), nsmap={"wsd": WSD, "wsa": WSA})
        for m in body.matches:
            match_el = _sub(el, qn(WSD, inner))
            _add_endpoint_fields(match_el, m.address, m.types, m.scopes, m.xaddrs, m.metadata_version)
    elif isinstance(body, Resolve):
        el = etree.Element(qn(WSD, "Resolve"), nsmap={"wsd": WSD, "wsa": WSA})
        _add_epr(el, body.address)
    else:  # pragma: no cover - the union is closed
        raise TypeError("not a discovery body: %r" % (body,))
    return el


def body_from_element(el: etree._Element) -> DiscoveryBody:
    """Parse a ``wsd:*`` body element; raises :class:`ProtocolError` for anything else."""
    name = el.tag if isinstance(el.tag, str) else ""
    if name == qn(WSD, "Hello"):
        return Hello(*_endpoint_fields(el))
    if name == qn(WSD, "Bye"):
        return Bye(_endpoint_fields(el)[0])
    if name == qn(WSD, "Probe"):
        types_el = el.find(qn(WSD, "Types"))
        scopes_el = el.find(qn(WSD, "Scopes"))
        match_by = scopes_el.get("MatchBy") if scopes_el is not None else None
        return Probe(
            types=parse_qname_list(types_el) if types_el is not None else (),
            scopes=_uri_list(scopes_el),
            match_by=match_by.strip() if match_by else None,
        )
    if name == qn(WSD, "ProbeMatches"):
        return ProbeMatches(
            tuple(ProbeMatch(*_endpoint_fields(m)) for m in el.iterfind(qn(WSD, "ProbeMatch")))
        )
    if name == qn(WSD, "ResolveMatches"):
        return ResolveMatches(
            tuple(ResolveMatch(*_endpoint_fields(m)) for m in el.iterfind(qn(WSD, "ResolveMatch")))
        )
    if name == qn(WSD, "Resolve"):
        return Resolve(_endpoint_fields(el)[0])
    raise ProtocolError("not a WS-Discovery body element: %s" % name)


_ACTIONS: dict[type, str] = {
    Hello: ACTION_HELLO,
    Bye: ACTION_BYE,
    Probe: ACTION_PROBE,
    ProbeMatches: ACTION_PROBE_MATCHES,
    Resolve: ACTION_RESOLVE,
    ResolveMatches: ACTION_RESOLVE_MATCHES,
}


# --------------------------------------------------------------------------------------------
# Envelopes
# --------------------------------------------------------------------------------------------


def app_sequence_element(seq: AppSequence) -> etree._Element:
    el = etree.Element(qn(WSD, "AppSequence"), nsmap={"wsd": WSD})
    el.set("InstanceId", str(seq.instance_id))
    if seq.sequence_id is not None:
        el.set("SequenceId", seq.sequence_id)
    el.set("MessageNumber", str(seq.message_number))
    return el


def parse_app_sequence(el: etree._Element) -> AppSequence:
    try:
        instance_id = int(el.get("InstanceId", ""))
        number = int(el.get("MessageNumber", ""))
    except ValueError:
        raise ProtocolError("AppSequence needs integer InstanceId and MessageNumber") from None
    if instance_id < 0 or number < 0:
        raise ProtocolError("AppSequence numbers must not be negative")
    return AppSequence(instance_id, number, el.get("SequenceId"))


def build_message(
    body: DiscoveryBody,
    *,
    message_id: str | None = None,
    relates_to: str | None = None,
    app_sequence: AppSequence | None = None,
    to: str | None = None,
) -> bytes:
    """A complete SOAP 1.2 envelope for ``body``.

    ``to`` defaults to the multicast URN for Hello, Bye, Probe and Resolve and to the anonymous
    address for the matches (which always answer a request, hence ``relates_to``).
    """
    is_reply = isinstance(body, ProbeMatches | ResolveMatches)
    if is_reply and not relates_to:
        raise ValueError("%s needs relates_to (the request's MessageID)" % type(body).__name__)
    extra = (app_sequence_element(app_sequence),) if app_sequence is not None else ()
    headers = soap.Headers(
        action=_ACTIONS[type(body)],
        message_id=message_id or soap.new_message_id(),
        reply_to=soap.NO_REPLY_TO if isinstance(body, Hello | Bye) else None,
        to=to or (WSA_ANONYMOUS if is_reply else WSD_MULTICAST_TO),
        relates_to=relates_to,
        extra=extra,
    )
    return soap.build_envelope(headers, body_to_element(body))


def message_from_envelope(env: soap.Envelope) -> DiscoveryMessage:
    """Discovery view of an already parsed envelope; the body decides, the Action is kept."""
    body_el = _first_body_child(env)
    if body_el is None:
        raise ProtocolError("discovery message has an empty Body")
    body = body_from_element(body_el)
    seq = None
    for h in env.header_elements:
        if h.tag == qn(WSD, "AppSequence"):
            seq = parse_app_sequence(h)
            break
    hdr = env.headers
    return DiscoveryMessage(
        action=hdr.action or _ACTIONS[type(body)],
        message_id=hdr.message_id,
        relates_to=hdr.relates_to,
        to=hdr.to,
        app_sequence=seq,
        body=body,
    )


def parse_message(data: bytes) -> DiscoveryMessage:
    """Parse untrusted bytes (through the hardened parser) into a :class:`DiscoveryMessage`."""
    return message_from_envelope(soap.parse_envelope(data))


def _first_body_child(env: soap.Envelope) -> etree._Element | None:
    return env.body


# --------------------------------------------------------------------------------------------
# Matching rules
# --------------------------------------------------------------------------------------------


def _segments(path: str) -> list[str] | None:
    segs = [urllib.parse.unquote(s) for s in path.split("/")]
    if any(s in (".", "..") for s in segs):
        return None
    # A trailing slash adds no segment: "http://x/a/" matches like "http://x/a".
    while segs and segs[-1] == "":
        segs.pop()
    return segs


def scope_matches(probe_scope: str, target_scope: str, match_by: str | None = None) -> bool:
    """Does ``probe_scope`` (from a Probe) match ``target_scope`` (a device's) under ``match_by``?"""
    rule = match_by or MATCH_BY_RFC2396
    if rule in (MATCH_BY_RFC2396, MATCH_BY_RFC3986):
        p = urllib.parse.urlsplit(probe_scope)
        t = urllib.parse.urlsplit(target_scope)
        if p.scheme.lower() != t.scheme.lower() or p.netloc.lower() != t.netloc.lower():
            return False
        ps, ts = _segments(p.path), _segments(t.path)
        if ps is None or ts is None:
            return False
        return ts[: len(ps)] == ps
    if rule == MATCH_BY_STRCMP0:
        return probe_scope == target_scope
    if rule == MATCH_BY_UUID:
        try:
            return uuid.UUID(probe_scope) == uuid.UUID(target_scope)
        except ValueError:
            return False
    log.debug("unsupported MatchBy %s", rule)
    return False


def probe_matches(probe: Probe, device_types: Iterable[str], scopes: Iterable[str]) -> bool:
    """WS-Discovery §5.1: every probed type is a device type, every probed scope matches one scope."""
    if not set(probe.types) <= set(device_types):
        return False
    device_scopes = list(scopes)
    return all(any(scope_matches(ps, ds, probe.match_by) for ds in device_scopes) for ps in probe.scopes)


def target_matches(probe: Probe, target: TargetService) -> bool:
    return probe_matches(probe, target.types, target.scopes)


def is_scanner(types: Iterable[str]) -> bool:
    """PROTOCOL.md §8: clients keep only matches whose Types contain ScanDeviceType."""
    return any(t == SCAN_DEVICE_TYPE or t.endswith("}ScanDeviceType") for t in types)


# --------------------------------------------------------------------------------------------
# Directed probe (HTTP)
# --------------------------------------------------------------------------------------------


def build_directed_probe(probe: Probe, *, message_id: str | None = None) -> bytes:
    """A Probe envelope to POST to ``http://<host>:<port>`` + :data:`DIRECTED_PROBE_PATH`."""
    return build_message(probe, message_id=message_id)


def handle_directed_probe(
    envelope: soap.Envelope,
    device_info: TargetService,
    app_sequence: AppSequence | None = None,
) -> bytes | None:
    """Answer a directed (unicast HTTP) Probe: ``None`` when the envelope is not a Probe.

    A directed probe always gets a ProbeMatches, empty when the device does not match, so the
    prober can tell "no match" from "no answer". A malformed Probe raises a Sender
    :class:`soap.SoapFault` for the HTTP server to send back.
    """
    body_el = _first_body_child(envelope)
    if body_el is None or body_el.tag != qn(WSD, "Probe"):
        return None
    try:
        probe = body_from_element(body_el)
    except ProtocolError as exc:
        raise soap.SoapFault("Sender", soap.INVALID_MESSAGE, str(exc)) from None
    assert isinstance(probe, Probe)
    relates_to = envelope.headers.message_id
    if not relates_to:
        raise soap.SoapFault("Sender", soap.HEADER_REQUIRED, "a Probe needs a wsa:MessageID to answer")
    matches = (device_info.probe_match(),) if target_matches(probe, device_info) else ()
    return build_message(ProbeMatches(matches), relates_to=relates_to, app_sequence=app_sequence)


def parse_directed_probe_response(data: bytes, probe_message_id: str | None = None) -> list[ProbeMatch]:
    """The matches of an HTTP directed-probe reply; checks RelatesTo when ``probe_message_id`` is given."""
    msg = parse_message(data)
    if not isinstance(msg.body, ProbeMatches):
        raise ProtocolError("directed probe reply is not a ProbeMatches")
    if probe_message_id is not None and msg.relates_to != probe_message_id:
        raise ProtocolError("directed probe reply relates to another message")
    return list(msg.body.matches)
