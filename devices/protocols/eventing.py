"""WS-Eventing 2004/08 messages and xs:duration (PROTOCOL.md §7.3).

Messages (namespace ``http://schemas.xmlsoap.org/ws/2004/08/eventing``): Subscribe,
SubscribeResponse, Renew/RenewResponse, GetStatus/GetStatusResponse, Unsubscribe/
UnsubscribeResponse and SubscriptionEnd, as frozen dataclasses ⇄ lxml elements, plus the
notification envelope (one-way POST to NotifyTo, echoing its reference parameters as header
blocks, as WS-Addressing 2004/08 §2.3 requires). Filters use the DPWS Action dialect
(``http://schemas.xmlsoap.org/ws/2006/02/devprof/Action``: space-separated action URIs); extension
children of Subscribe / SubscribeResponse (``wscn:ScanDestinations`` /
``wscn:DestinationResponses``, WDD:scanavailableevent.md) are kept as elements.

The event source's state (``SubscriptionManager``) and its Dispatcher glue are in
:mod:`devices.protocols.eventing_source`, which also documents the faults it raises. The fault
subcodes (all in the wse namespace, WS-Eventing 2004/08 §4) are defined here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lxml import etree

from devices.protocols import soap
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSA, WSDP, WSE, action, qn

log = logging.getLogger(__name__)

ACTION_SUBSCRIBE = action(WSE, "Subscribe")
ACTION_SUBSCRIBE_RESPONSE = action(WSE, "SubscribeResponse")
ACTION_RENEW = action(WSE, "Renew")
ACTION_RENEW_RESPONSE = action(WSE, "RenewResponse")
ACTION_GET_STATUS = action(WSE, "GetStatus")
ACTION_GET_STATUS_RESPONSE = action(WSE, "GetStatusResponse")
ACTION_UNSUBSCRIBE = action(WSE, "Unsubscribe")
ACTION_UNSUBSCRIBE_RESPONSE = action(WSE, "UnsubscribeResponse")
ACTION_SUBSCRIPTION_END = action(WSE, "SubscriptionEnd")

DELIVERY_MODE_PUSH = WSE + "/DeliveryModes/Push"
DIALECT_ACTION = WSDP + "/Action"

STATUS_DELIVERY_FAILURE = WSE + "/DeliveryFailure"
STATUS_SOURCE_SHUTTING_DOWN = WSE + "/SourceShuttingDown"
STATUS_SOURCE_CANCELLING = WSE + "/SourceCancelling"
END_STATUSES = frozenset({STATUS_DELIVERY_FAILURE, STATUS_SOURCE_SHUTTING_DOWN, STATUS_SOURCE_CANCELLING})

DELIVERY_MODE_UNAVAILABLE = (WSE, "DeliveryModeRequestedUnavailable")
INVALID_EXPIRATION_TIME = (WSE, "InvalidExpirationTime")
UNSUPPORTED_EXPIRATION_TYPE = (WSE, "UnsupportedExpirationType")
FILTERING_NOT_SUPPORTED = (WSE, "FilteringNotSupported")
FILTERING_UNAVAILABLE = (WSE, "FilteringRequestedUnavailable")
UNABLE_TO_PROCESS = (WSE, "EventSourceUnableToProcess")
INVALID_MESSAGE = (WSE, "InvalidMessage")

IDENTIFIER = qn(WSE, "Identifier")

# Longer than any sane subscription; anything beyond is a typo or an attack on our arithmetic.
MAX_DURATION = dt.timedelta(days=3660)
MAX_FILTER_ACTIONS = 256

Expiry = dt.timedelta | dt.datetime


class ExpiryError(ProtocolError):
    """An Expires value that is not a usable xs:duration or xs:dateTime."""


# --------------------------------------------------------------------------------------------
# xs:duration and xs:dateTime


_DURATION = re.compile(
    r"^P(?!$)(?:(\d{1,10})Y)?(?:(\d{1,10})M)?(?:(\d{1,10})D)?"
    r"(?:T(?=\d)(?:(\d{1,10})H)?(?:(\d{1,10})M)?(?:(\d{1,10}(?:\.\d{1,9})?)S)?)?$"
)


def parse_duration(text: str) -> dt.timedelta:
    """Parse a non-negative xs:duration (``PT1H``, ``P1DT2H``, ``PT30.5S``).

    A year counts 365 days and a month 30 (an expiry needs no calendar). Negative, empty or
    larger-than-:data:`MAX_DURATION` values raise :class:`ProtocolError`.
    """
    m = _DURATION.match(text.strip())
    if not m:
        raise ExpiryError("%r is not a non-negative xs:duration" % text[:40])
    years, months, days, hours, minutes = (int(g) if g else 0 for g in m.groups()[:5])
    seconds = float(m.group(6)) if m.group(6) else 0.0
    total_days = years * 365 + months * 30 + days
    if total_days > MAX_DURATION.days + 1:
        raise ExpiryError("duration %s is too long" % text[:40])
    value = dt.timedelta(days=total_days, hours=hours, minutes=minutes, seconds=seconds)
    if value > MAX_DURATION:
        raise ExpiryError("duration %s is too long" % text[:40])
    return value


def format_duration(value: dt.timedelta) -> str:
    """The xs:duration of a non-negative timedelta: days, then hours/minutes/seconds."""
    if value < dt.timedelta(0):
        raise ValueError("negative durations are not written")
    days = value.days
    secs = value.seconds
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P%dD" % days if days else "P"
    time = ""
    if hours:
        time += "%dH" % hours
    if minutes:
        time += "%dM" % minutes
    if seconds or value.microseconds:
        if value.microseconds:
            time += ("%d.%06d" % (seconds, value.microseconds)).rstrip("0") + "S"
        else:
            time += "%dS" % seconds
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"


def parse_datetime(text: str) -> dt.datetime:
    """Parse an xs:dateTime; a value without a zone is taken as UTC. Returns an aware datetime."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ExpiryError("%r is not an xs:dateTime" % text[:40]) from None


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = value.astimezone(dt.UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_expiry(text: str) -> Expiry:
    """``wse:Expires`` content: a duration (starts with P) or an absolute dateTime."""
    text = text.strip()
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    return parse_datetime(text)


def format_expiry(value: Expiry) -> str:
    return format_duration(value) if isinstance(value, dt.timedelta) else format_datetime(value)


# --------------------------------------------------------------------------------------------
# Value types


XmlKey = tuple[object, ...]


def _key(el: etree._Element) -> XmlKey:
    """The information of ``el`` without prefixes and indentation: what equality compares."""
    text = (el.text or "").strip()
    children = tuple(_key(c) for c in el if isinstance(c.tag, str))
    tails = tuple((c.tail or "").strip() for c in el if isinstance(c.tag, str))
    return (el.tag, tuple(sorted(el.attrib.items())), text, children, tails)


@dataclass(frozen=True, eq=False)
class Elements:
    """An immutable run of XML elements (reference parameters, extensions) with value equality.

    Two runs are equal when their elements carry the same names, attributes and non-blank text:
    prefixes and indentation do not count, so a parsed copy equals the built one.
    """

    items: tuple[etree._Element, ...] = ()

    @classmethod
    def of(cls, elements: Iterable[etree._Element]) -> Elements:
        return cls(tuple(_detached(e) for e in elements))

    def __iter__(self) -> Iterator[etree._Element]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def key(self) -> tuple[XmlKey, ...]:
        return tuple(_key(e) for e in self.items)

    def find(self, tag: str) -> etree._Element | None:
        return next((e for e in self.items if e.tag == tag), None)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Elements) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return "Elements(%s)" % ", ".join(etree.QName(e).localname for e in self.items)


def _detached(el: etree._Element) -> etree._Element:
    import copy

    dup = copy.deepcopy(el)
    dup.tail = None
    return dup


@dataclass(frozen=True)
class EndpointReference:
    address: str
    reference_parameters: Elements = Elements()


@dataclass(frozen=True)
class Subscribe:
    notify_to: EndpointReference
    end_to: EndpointReference | None = None
    expires: Expiry | None = None
    # None: no filter (every event). A tuple: the Filter's tokens, for any dialect.
    filter_actions: tuple[str, ...] | None = None
    filter_dialect: str | None = DIALECT_ACTION
    delivery_mode: str = DELIVERY_MODE_PUSH
    extensions: Elements = Elements()


@dataclass(frozen=True)
class SubscribeResponse:
    manager: EndpointReference
    expires: Expiry | None = None
    extensions: Elements = Elements()

    @property
    def identifier(self) -> str | None:
        return subscription_identifier(self.manager)


@dataclass(frozen=True)
class Renew:
    expires: Expiry | None = None


@dataclass(frozen=True)
class RenewResponse:
    expires: Expiry | None = None


@dataclass(frozen=True)
class GetStatus:
    pass


@dataclass(frozen=True)
class GetStatusResponse:
    expires: Expiry | None = None


@dataclass(frozen=True)
class Unsubscribe:
    pass


@dataclass(frozen=True)
class SubscriptionEnd:
    manager: EndpointReference
    status: str
    reason: str | None = None


def identifier_element(identifier: str) -> etree._Element:
    el = etree.Element(IDENTIFIER, nsmap={"wse": WSE})
    el.text = identifier
    return el


def subscription_identifier(epr: EndpointReference) -> str | None:
    el = epr.reference_parameters.find(IDENTIFIER)
    return (el.text or "").strip() if el is not None else None


# --------------------------------------------------------------------------------------------
# Elements


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def epr_to_element(parent: etree._Element, tag: str, epr: EndpointReference) -> etree._Element:
    el = _sub(parent, tag)
    _sub(el, qn(WSA, "Address"), epr.address)
    if epr.reference_parameters:
        params = _sub(el, qn(WSA, "ReferenceParameters"))
        for p in epr.reference_parameters:
            params.append(_detached(p))
    return el


def epr_from_element(el: etree._Element) -> EndpointReference:
    address = (el.findtext(qn(WSA, "Address")) or "").strip()
    if not address:
        raise ProtocolError("%s has no wsa:Address" % etree.QName(el).localname)
    params = el.find(qn(WSA, "ReferenceParameters"))
    items = [c for c in params if isinstance(c.tag, str)] if params is not None else []
    return EndpointReference(address, Elements.of(items))


def _root(local: str) -> etree._Element:
    return etree.Element(qn(WSE, local), nsmap={"wse": WSE, "wsa": WSA})


def _expires_el(parent: etree._Element, expires: Expiry | None) -> None:
    if expires is not None:
        _sub(parent, qn(WSE, "Expires"), format_expiry(expires))


def expires_of(el: etree._Element) -> Expiry | None:
    text = el.findtext(qn(WSE, "Expires"))
    return parse_expiry(text) if text is not None and text.strip() else None


def _extensions_of(el: etree._Element, known: set[str]) -> Elements:
    return Elements.of(c for c in el if isinstance(c.tag, str) and c.tag not in known)


def subscribe_to_element(req: Subscribe) -> etree._Element:
    root = _root("Subscribe")
    if req.end_to is not None:
        epr_to_element(root, qn(WSE, "EndTo"), req.end_to)
    delivery = _sub(root, qn(WSE, "Delivery"))
    delivery.set("Mode", req.delivery_mode)
    epr_to_element(delivery, qn(WSE, "NotifyTo"), req.notify_to)
    _expires_el(root, req.expires)
    if req.filter_actions is not None:
        flt = _sub(root, qn(WSE, "Filter"), " ".join(req.filter_actions))
        if req.filter_dialect:
            flt.set("Dialect", req.filter_dialect)
    for ext in req.extensions:
        root.append(_detached(ext))
    return root


_SUBSCRIBE_KNOWN = {qn(WSE, n) for n in ("EndTo", "Delivery", "Expires", "Filter")}


def subscribe_from_element(el: etree._Element) -> Subscribe:
    if el.tag != qn(WSE, "Subscribe"):
        raise ProtocolError("expected wse:Subscribe, found %s" % el.tag)
    delivery = el.find(qn(WSE, "Delivery"))
    if delivery is None:
        raise ProtocolError("Subscribe has no wse:Delivery")
    notify = delivery.find(qn(WSE, "NotifyTo"))
    if notify is None:
        raise ProtocolError("Subscribe has no wse:Delivery/wse:NotifyTo")
    end_to = el.find(qn(WSE, "EndTo"))
    flt = el.find(qn(WSE, "Filter"))
    filter_actions = None
    dialect = None
    if flt is not None:
        filter_actions = tuple((flt.text or "").split()[: MAX_FILTER_ACTIONS + 1])
        dialect = (flt.get("Dialect") or "").strip() or None
    return Subscribe(
        notify_to=epr_from_element(notify),
        end_to=epr_from_element(end_to) if end_to is not None else None,
        expires=expires_of(el),
        filter_actions=filter_actions,
        filter_dialect=dialect,
        # 2004/08: a Delivery without Mode means Push.
        delivery_mode=(delivery.get("Mode") or DELIVERY_MODE_PUSH).strip(),
        extensions=_extensions_of(el, _SUBSCRIBE_KNOWN),
    )


def subscribe_response_to_element(resp: SubscribeResponse) -> etree._Element:
    root = _root("SubscribeResponse")
    epr_to_element(root, qn(WSE, "SubscriptionManager"), resp.manager)
    _expires_el(root, resp.expires)
    for ext in resp.extensions:
        root.append(_detached(ext))
    return root


def subscribe_response_from_element(el: etree._Element) -> SubscribeResponse:
    if el.tag != qn(WSE, "SubscribeResponse"):
        raise ProtocolError("expected wse:SubscribeResponse, found %s" % el.tag)
    manager = el.find(qn(WSE, "SubscriptionManager"))
    if manager is None:
        raise ProtocolError("SubscribeResponse has no wse:SubscriptionManager")
    known = {qn(WSE, "SubscriptionManager"), qn(WSE, "Expires")}
    return SubscribeResponse(epr_from_element(manager), expires_of(el), _extensions_of(el, known))


def expires_body(local: str, expires: Expiry | None) -> etree._Element:
    """``wse:Renew``/``RenewResponse``/``GetStatusResponse``: an element with an optional Expires."""
    root = _root(local)
    _expires_el(root, expires)
    return root


def empty_body(local: str) -> etree._Element:
    """``wse:GetStatus``/``wse:Unsubscribe`` (and ``UnsubscribeResponse`` when one is wanted)."""
    return _root(local)


_EXPIRES_BODIES: dict[str, type[Renew] | type[RenewResponse] | type[GetStatusResponse]] = {
    "Renew": Renew,
    "RenewResponse": RenewResponse,
    "GetStatusResponse": GetStatusResponse,
}


def expires_from_element(el: etree._Element) -> Renew | RenewResponse | GetStatusResponse:
    q = etree.QName(el)
    if q.namespace != WSE or q.localname not in _EXPIRES_BODIES:
        raise ProtocolError("expected wse:Renew, RenewResponse or GetStatusResponse, found %s" % el.tag)
    return _EXPIRES_BODIES[q.localname](expires_of(el))


def subscription_end_to_element(end: SubscriptionEnd) -> etree._Element:
    root = _root("SubscriptionEnd")
    epr_to_element(root, qn(WSE, "SubscriptionManager"), end.manager)
    _sub(root, qn(WSE, "Status"), end.status)
    if end.reason:
        reason = _sub(root, qn(WSE, "Reason"), end.reason)
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return root


def subscription_end_from_element(el: etree._Element) -> SubscriptionEnd:
    if el.tag != qn(WSE, "SubscriptionEnd"):
        raise ProtocolError("expected wse:SubscriptionEnd, found %s" % el.tag)
    manager = el.find(qn(WSE, "SubscriptionManager"))
    if manager is None:
        raise ProtocolError("SubscriptionEnd has no wse:SubscriptionManager")
    status = (el.findtext(qn(WSE, "Status")) or "").strip()
    if status not in END_STATUSES:
        raise ProtocolError("unknown SubscriptionEnd status %r" % status[:100])
    reason = (el.findtext(qn(WSE, "Reason")) or "").strip() or None
    return SubscriptionEnd(epr_from_element(manager), status, reason)


# --------------------------------------------------------------------------------------------
# Envelopes


def _headers_to(
    epr: EndpointReference, action_uri: str, message_id: str | None, *, one_way: bool
) -> soap.Headers:
    # WS-Addressing 2004/08 §2.3: each reference parameter becomes a header block of the message.
    return soap.Headers(
        action=action_uri,
        message_id=message_id or soap.new_message_id(),
        to=epr.address,
        reply_to=soap.NO_REPLY_TO if one_way else None,
        extra=tuple(epr.reference_parameters),
    )


def build_subscribe(to: str, req: Subscribe, *, message_id: str | None = None) -> bytes:
    """A Subscribe request to the event source at ``to`` (the hosted service's address)."""
    return soap.build_envelope(
        _headers_to(EndpointReference(to), ACTION_SUBSCRIBE, message_id, one_way=False),
        subscribe_to_element(req),
    )


def build_renew(
    manager: EndpointReference, expires: Expiry | None, *, message_id: str | None = None
) -> bytes:
    headers = _headers_to(manager, ACTION_RENEW, message_id, one_way=False)
    return soap.build_envelope(headers, expires_body("Renew", expires))


def build_get_status(manager: EndpointReference, *, message_id: str | None = None) -> bytes:
    headers = _headers_to(manager, ACTION_GET_STATUS, message_id, one_way=False)
    return soap.build_envelope(headers, empty_body("GetStatus"))


def build_unsubscribe(manager: EndpointReference, *, message_id: str | None = None) -> bytes:
    headers = _headers_to(manager, ACTION_UNSUBSCRIBE, message_id, one_way=False)
    return soap.build_envelope(headers, empty_body("Unsubscribe"))


def build_subscription_end(
    end_to: EndpointReference, end: SubscriptionEnd, *, message_id: str | None = None
) -> bytes:
    headers = _headers_to(end_to, ACTION_SUBSCRIPTION_END, message_id, one_way=True)
    return soap.build_envelope(headers, subscription_end_to_element(end))


def build_notification(
    notify_to: EndpointReference, action_uri: str, body: etree._Element, *, message_id: str | None = None
) -> bytes:
    """A one-way event message to ``notify_to`` with Action ``action_uri`` (PROTOCOL.md §4.7)."""
    return soap.build_envelope(_headers_to(notify_to, action_uri, message_id, one_way=True), body)


def _reply_body(data: bytes, expected: str) -> etree._Element:
    env = soap.parse_envelope(data)
    fault = soap.fault_from_envelope(env)
    if fault is not None:
        raise fault
    if env.body is None or env.body.tag != qn(WSE, expected):
        raise ProtocolError("expected wse:%s in the reply" % expected)
    return env.body


def parse_subscribe_response(data: bytes) -> SubscribeResponse:
    """A SubscribeResponse from untrusted bytes; a fault reply is raised as :class:`soap.SoapFault`."""
    return subscribe_response_from_element(_reply_body(data, "SubscribeResponse"))


def parse_expires_response(data: bytes, expected: str) -> Expiry | None:
    """The Expires of a RenewResponse or GetStatusResponse (``expected`` is the local name)."""
    return expires_of(_reply_body(data, expected))
