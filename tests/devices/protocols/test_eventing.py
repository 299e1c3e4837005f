"""WS-Eventing 2004/08 messages, xs:duration and the event source (eventing.py, eventing_source.py)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import eventing as ev
from devices.protocols import soap
from devices.protocols.errors import ProtocolError
from devices.protocols.eventing_source import (
    Subscription,
    SubscriptionManager,
    identifier_of,
    register_subscription_manager,
)
from devices.protocols.namespaces import WSA, WSA_ANONYMOUS, WSCN, WSE, qn

GOLDEN = Path(__file__).parent / "golden" / "eventing"


SOURCE = "http://127.0.0.1:5357/4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d/scan"
SINK = "http://127.0.0.1:8443/events/9f1c2d3e"
SUB_ID = "urn:uuid:5b6c7d8e-0000-4000-8000-0000000000aa"
SCAN_AVAILABLE = WSCN + "/ScanAvailableEvent"
JOB_END = WSCN + "/JobEndStateEvent"


def ref(local: str, text: str, ns: str = "urn:opendsm:test:refs") -> etree._Element:
    el = etree.Element("{%s}%s" % (ns, local), nsmap={"ref": ns})
    el.text = text
    return el


def wscn(local: str, *children: etree._Element, text: str | None = None) -> etree._Element:
    el = etree.Element(qn(WSCN, local), nsmap={"wscn": WSCN})
    el.extend(children)
    if text is not None:
        el.text = text
    return el


def scan_destinations() -> etree._Element:
    return wscn(
        "ScanDestinations",
        wscn(
            "ScanDestination",
            wscn("ClientDisplayName", text="Invoices to SharePoint"),
            wscn("ClientContext", text="psp:0f8fad5b-d9cb-469f-a165-70867728950e"),
        ),
    )


def destination_responses() -> etree._Element:
    return wscn(
        "DestinationResponses",
        wscn(
            "DestinationResponse",
            wscn("ClientContext", text="psp:0f8fad5b-d9cb-469f-a165-70867728950e"),
            wscn("DestinationToken", text="token-1"),
        ),
    )


def scan_available_event() -> etree._Element:
    return wscn(
        "ScanAvailableEvent",
        wscn("ClientContext", text="psp:0f8fad5b-d9cb-469f-a165-70867728950e"),
        wscn("ScanIdentifier", text="scan-0001"),
    )


NOTIFY_TO = ev.EndpointReference(SINK, ev.Elements.of([ref("Sink", "sink-7")]))
END_TO = ev.EndpointReference(SINK + "/end", ev.Elements.of([ref("Sink", "sink-7-end")]))
SUBSCRIBE = ev.Subscribe(
    notify_to=NOTIFY_TO,
    end_to=END_TO,
    expires=dt.timedelta(hours=1),
    filter_actions=(SCAN_AVAILABLE, JOB_END),
    extensions=ev.Elements.of([scan_destinations()]),
)
MANAGER = ev.EndpointReference(SOURCE, ev.Elements.of([ev.identifier_element(SUB_ID)]))
SUBSCRIBE_RESPONSE = ev.SubscribeResponse(
    MANAGER, dt.timedelta(hours=1), ev.Elements.of([destination_responses()])
)
SUBSCRIPTION_END = ev.SubscriptionEnd(MANAGER, ev.STATUS_SOURCE_SHUTTING_DOWN, "the scanner is shutting down")


def canon(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def body_of(name: str) -> etree._Element:
    body = soap.parse_envelope(golden(name)).body
    assert body is not None
    return body


def mid(n: int) -> str:
    return "urn:uuid:00000000-0000-4000-8000-0000000000%02d" % n


def subscribe_response_message(resp: ev.SubscribeResponse) -> bytes:
    headers = soap.Headers(
        ev.ACTION_SUBSCRIBE_RESPONSE, message_id=mid(32), to=WSA_ANONYMOUS, relates_to=mid(31)
    )
    return soap.build_envelope(headers, ev.subscribe_response_to_element(resp))


BUILT = {
    "subscribe.xml": lambda: ev.build_subscribe(SOURCE, SUBSCRIBE, message_id=mid(31)),
    "subscribe_response.xml": lambda: subscribe_response_message(SUBSCRIBE_RESPONSE),
    "renew.xml": lambda: ev.build_renew(MANAGER, dt.timedelta(minutes=30), message_id=mid(33)),
    "get_status.xml": lambda: ev.build_get_status(MANAGER, message_id=mid(34)),
    "unsubscribe.xml": lambda: ev.build_unsubscribe(MANAGER, message_id=mid(35)),
    "subscription_end.xml": lambda: ev.build_subscription_end(END_TO, SUBSCRIPTION_END, message_id=mid(36)),
    "notification.xml": lambda: ev.build_notification(
        NOTIFY_TO, SCAN_AVAILABLE, scan_available_event(), message_id=mid(37)
    ),
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_build_matches_golden(name: str) -> None:
    assert canon(BUILT[name]()) == canon(golden(name))


def test_subscribe_parse_and_round_trip() -> None:
    parsed = ev.subscribe_from_element(body_of("subscribe.xml"))
    assert parsed == SUBSCRIBE
    assert parsed.extensions.find(qn(WSCN, "ScanDestinations")) is not None
    assert canon(ev.build_subscribe(SOURCE, parsed, message_id=mid(31))) == canon(golden("subscribe.xml"))


def test_subscribe_response_parse_and_round_trip() -> None:
    parsed = ev.parse_subscribe_response(golden("subscribe_response.xml"))
    assert parsed == SUBSCRIBE_RESPONSE
    assert parsed.identifier == SUB_ID
    assert canon(subscribe_response_message(parsed)) == canon(golden("subscribe_response.xml"))


def test_expires_bodies_and_subscription_end_parse() -> None:
    assert ev.expires_from_element(body_of("renew.xml")) == ev.Renew(dt.timedelta(minutes=30))
    end = ev.subscription_end_from_element(body_of("subscription_end.xml"))
    assert end == SUBSCRIPTION_END
    assert canon(ev.build_subscription_end(END_TO, end, message_id=mid(36))) == canon(
        golden("subscription_end.xml")
    )
    resp = ev.expires_body("GetStatusResponse", dt.timedelta(minutes=5))
    assert ev.expires_from_element(resp) == ev.GetStatusResponse(dt.timedelta(minutes=5))


def test_reference_parameters_are_echoed_as_headers() -> None:
    note = soap.parse_envelope(golden("notification.xml"))
    assert note.headers.to == SINK and note.headers.action == SCAN_AVAILABLE
    assert note.headers.reply_to is None  # one-way
    assert [(h.tag, h.text) for h in note.headers.extra] == [("{urn:opendsm:test:refs}Sink", "sink-7")]
    renew = soap.parse_envelope(golden("renew.xml"))
    assert renew.headers.to == SOURCE
    assert identifier_of(renew) == SUB_ID


def test_foreign_subscribe_is_read_by_name() -> None:
    req = ev.subscribe_from_element(body_of("subscribe_foreign.xml"))
    assert req.notify_to == ev.EndpointReference("http://192.0.2.50:5357/sink")
    assert req.end_to is None
    assert req.delivery_mode == ev.DELIVERY_MODE_PUSH
    assert req.expires == dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
    assert req.filter_actions == (SCAN_AVAILABLE,)
    assert req.filter_dialect == ev.DIALECT_ACTION
    (dest,) = req.extensions
    assert dest.tag == qn(WSCN, "ScanDestinations")
    assert dest.findtext("%s/%s" % (qn(WSCN, "ScanDestination"), qn(WSCN, "ClientDisplayName"))) == "PC-042"


def test_malformed_messages_are_refused() -> None:
    no_delivery = etree.Element(qn(WSE, "Subscribe"))
    with pytest.raises(ProtocolError, match="Delivery"):
        ev.subscribe_from_element(no_delivery)
    end = body_of("subscription_end.xml")
    status = end.find(qn(WSE, "Status"))
    assert status is not None
    status.text = WSE + "/Whatever"
    with pytest.raises(ProtocolError, match="status"):
        ev.subscription_end_from_element(end)
    with pytest.raises(ProtocolError, match="Address"):
        ev.epr_from_element(etree.Element(qn(WSE, "NotifyTo")))


def test_elements_have_value_equality() -> None:
    a = ev.Elements.of([ref("Sink", "x")])
    b = ev.Elements.of([etree.fromstring('<q:Sink xmlns:q="urn:opendsm:test:refs">x</q:Sink>')])
    assert a == b and hash(a) == hash(b)  # prefixes do not matter
    assert a != ev.Elements.of([ref("Sink", "y")])
    assert ev.Elements() == ev.Elements.of([]) and not ev.Elements()


# --------------------------------------------------------------------------------------------
# xs:duration, xs:dateTime


@pytest.mark.parametrize(
    "text, value",
    [
        ("PT1H", dt.timedelta(hours=1)),
        ("P1DT2H", dt.timedelta(days=1, hours=2)),
        ("PT30.5S", dt.timedelta(seconds=30.5)),
        ("PT0S", dt.timedelta(0)),
        ("P1D", dt.timedelta(days=1)),
        ("PT1H30M5S", dt.timedelta(hours=1, minutes=30, seconds=5)),
        ("PT90M", dt.timedelta(minutes=90)),
        ("P1Y2M", dt.timedelta(days=365 + 60)),
        (" PT10M ", dt.timedelta(minutes=10)),
    ],
)
def test_parse_duration(text: str, value: dt.timedelta) -> None:
    assert ev.parse_duration(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "-PT1H",
        "PT1H1H",
        "1H",
        "P1W",
        "PT1.5.5S",
        "P1H",
        "PTH",
        "P99999999999D",
        "P20000D",
        "P11Y",
    ],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ev.ExpiryError):
        ev.parse_duration(text)


@pytest.mark.parametrize(
    "value, text",
    [
        (dt.timedelta(hours=1), "PT1H"),
        (dt.timedelta(days=1, hours=2), "P1DT2H"),
        (dt.timedelta(seconds=30.5), "PT30.5S"),
        (dt.timedelta(0), "PT0S"),
        (dt.timedelta(days=2), "P2D"),
        (dt.timedelta(minutes=61, microseconds=250), "PT1H1M0.00025S"),
    ],
)
def test_format_duration(value: dt.timedelta, text: str) -> None:
    assert ev.format_duration(value) == text
    assert ev.parse_duration(text) == value


def test_datetime_expiry() -> None:
    assert ev.parse_expiry("2026-11-25T08:00:00Z") == dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    assert ev.parse_expiry("2026-11-25T10:00:00+02:00") == dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    assert ev.parse_expiry("2026-11-25T08:00:00") == dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)
    assert ev.format_expiry(dt.datetime(2026, 11, 25, 8, tzinfo=dt.UTC)) == "2026-11-25T08:00:00Z"
    for bad in ("tomorrow", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+05:00"):
        with pytest.raises(ev.ExpiryError):
            ev.parse_expiry(bad)
    with pytest.raises(ValueError):
        ev.format_duration(dt.timedelta(seconds=-1))


# --------------------------------------------------------------------------------------------
# SubscriptionManager

T0 = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


def manager(clock: FakeClock, **kwargs: object) -> SubscriptionManager:
    return SubscriptionManager(SOURCE, clock=clock, max_expiry=dt.timedelta(hours=1), **kwargs)  # type: ignore[arg-type]


def request(**changes: object) -> ev.Subscribe:
    values: dict[str, object] = dict(notify_to=NOTIFY_TO, expires=dt.timedelta(minutes=10))
    values.update(changes)
    return ev.Subscribe(**values)  # type: ignore[arg-type]


def fault_of(exc: pytest.ExceptionInfo[soap.SoapFault]) -> tuple[str, str | None]:
    return exc.value.code, exc.value.subcode[1] if exc.value.subcode else None


def test_subscribe_grants_and_caps_expiry() -> None:
    clock = FakeClock()
    m = manager(clock)
    short = m.subscribe(request())
    assert short.expires_at == T0 + dt.timedelta(minutes=10)
    assert m.remaining(short) == dt.timedelta(minutes=10)
    assert m.subscribe(request(expires=dt.timedelta(days=3))).expires_at == T0 + dt.timedelta(hours=1)
    assert m.subscribe(request(expires=None)).expires_at == T0 + dt.timedelta(hours=1)
    assert m.subscribe(request(expires=T0 + dt.timedelta(minutes=5))).expires_at == T0 + dt.timedelta(
        minutes=5
    )
    assert len({s.id for s in m.all()}) == 4
    assert ev.subscription_identifier(m.manager_epr(short)) == short.id


@pytest.mark.parametrize(
    "changes, code, subcode",
    [
        (dict(expires=dt.timedelta(0)), "Sender", "InvalidExpirationTime"),
        (dict(expires=T0 - dt.timedelta(seconds=1)), "Sender", "InvalidExpirationTime"),
        (dict(delivery_mode=WSE + "/DeliveryModes/Pull"), "Sender", "DeliveryModeRequestedUnavailable"),
        (dict(filter_actions=("/a",), filter_dialect=None), "Sender", "FilteringRequestedUnavailable"),
        (
            dict(filter_actions=("x",), filter_dialect="http://www.w3.org/TR/1999/REC-xpath-19991116"),
            "Sender",
            "FilteringRequestedUnavailable",
        ),
        (dict(filter_actions=()), "Sender", "FilteringRequestedUnavailable"),
        (dict(filter_actions=(WSCN + "/NoSuchEvent",)), "Sender", "FilteringRequestedUnavailable"),
        (dict(notify_to=ev.EndpointReference("")), "Sender", "InvalidMessage"),
    ],
)
def test_subscribe_refusals(changes: dict[str, object], code: str, subcode: str) -> None:
    m = manager(FakeClock(), supported_actions=[SCAN_AVAILABLE, JOB_END])
    with pytest.raises(soap.SoapFault) as exc:
        m.subscribe(request(**changes))
    assert fault_of(exc) == (code, subcode)
    assert exc.value.subcode is not None and exc.value.subcode[0] == WSE
    assert m.all() == []


def test_too_many_subscriptions() -> None:
    m = manager(FakeClock(), max_subscriptions=2)
    m.subscribe(request())
    m.subscribe(request())
    with pytest.raises(soap.SoapFault) as exc:
        m.subscribe(request())
    assert fault_of(exc) == ("Receiver", "EventSourceUnableToProcess")


def test_renew_status_unsubscribe_and_expiry() -> None:
    clock = FakeClock()
    m = manager(clock)
    sub = m.subscribe(request())
    clock.advance(minutes=8)
    assert m.get_status(sub.id).expires_at == T0 + dt.timedelta(minutes=10)
    renewed = m.renew(sub.id, dt.timedelta(minutes=30))
    assert renewed.expires_at == T0 + dt.timedelta(minutes=38)
    assert m.remaining(renewed) == dt.timedelta(minutes=30)
    clock.advance(minutes=30)
    assert m.expire() == [renewed]
    for op in (lambda: m.get_status(sub.id), lambda: m.renew(sub.id, None), lambda: m.unsubscribe(sub.id)):
        with pytest.raises(soap.SoapFault) as exc:
            op()
        assert fault_of(exc) == ("Sender", "InvalidMessage")
    other = m.subscribe(request())
    assert m.unsubscribe(other.id) == other
    assert m.all() == []


def test_expired_subscription_is_not_renewable_even_before_expire_runs() -> None:
    clock = FakeClock()
    m = manager(clock)
    sub = m.subscribe(request())
    clock.advance(minutes=10)
    with pytest.raises(soap.SoapFault):
        m.renew(sub.id, dt.timedelta(minutes=5))
    assert m.subscribers_for(SCAN_AVAILABLE) == []


def test_subscribers_for_honours_the_action_filter() -> None:
    clock = FakeClock()
    m = manager(clock)
    everything = m.subscribe(request())
    scans = m.subscribe(request(filter_actions=(SCAN_AVAILABLE,)))
    jobs = m.subscribe(request(filter_actions=(JOB_END,), expires=dt.timedelta(minutes=20)))
    assert m.subscribers_for(SCAN_AVAILABLE) == [everything, scans]
    assert m.subscribers_for(JOB_END) == [everything, jobs]
    assert m.subscribers_for(WSCN + "/ScannerStatusSummaryEvent") == [everything]
    clock.advance(minutes=15)
    assert m.subscribers_for(JOB_END) == [jobs]


def test_subscription_end_for_a_cancelled_subscription() -> None:
    m = manager(FakeClock())
    sub = m.subscribe(request(end_to=END_TO))
    assert m.cancel(sub.id) == sub and m.cancel(sub.id) is None
    end = m.subscription_end(sub, ev.STATUS_DELIVERY_FAILURE, "sink unreachable")
    assert ev.subscription_identifier(end.manager) == sub.id
    parsed = soap.parse_envelope(ev.build_subscription_end(END_TO, end))
    assert parsed.body is not None
    assert ev.subscription_end_from_element(parsed.body) == end
    with pytest.raises(ValueError):
        m.subscription_end(sub, "bogus")


def test_manager_is_thread_safe() -> None:
    clock = FakeClock()
    m = manager(clock, max_subscriptions=10_000)
    ids: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(200):
            sub = m.subscribe(request())
            m.renew(sub.id, dt.timedelta(minutes=1))
            m.subscribers_for(SCAN_AVAILABLE)
            with lock:
                ids.append(sub.id)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1600 == len(m.all())


# --------------------------------------------------------------------------------------------
# Dispatcher glue


def destination_hook(sub: Subscription, req: ev.Subscribe) -> list[etree._Element]:
    dests = req.extensions.find(qn(WSCN, "ScanDestinations"))
    if dests is None:
        return []
    responses = wscn("DestinationResponses")
    for i, dest in enumerate(dests.iterfind(qn(WSCN, "ScanDestination"))):
        context = dest.findtext(qn(WSCN, "ClientContext")) or ""
        responses.append(
            wscn(
                "DestinationResponse",
                wscn("ClientContext", text=context),
                wscn("DestinationToken", text="token-%d" % (i + 1)),
            )
        )
    return [responses]


def test_dispatcher_subscription_lifecycle() -> None:
    clock = FakeClock()
    m = manager(clock)
    d = soap.Dispatcher()
    register_subscription_manager(d, m, destination_hook)

    status, data = d.handle(ev.build_subscribe(SOURCE, SUBSCRIBE, message_id=mid(31)))
    assert status == 200
    resp = ev.parse_subscribe_response(data)
    assert resp.manager.address == SOURCE
    assert resp.expires == dt.timedelta(hours=1)
    assert resp.extensions == ev.Elements.of([destination_responses()])
    assert resp.identifier is not None
    (sub,) = m.all()
    assert sub.id == resp.identifier and sub.actions == {SCAN_AVAILABLE, JOB_END}

    clock.advance(minutes=20)
    status, data = d.handle(ev.build_renew(resp.manager, dt.timedelta(minutes=15)))
    assert status == 200 and ev.parse_expires_response(data, "RenewResponse") == dt.timedelta(minutes=15)
    status, data = d.handle(ev.build_get_status(resp.manager))
    assert status == 200 and ev.parse_expires_response(data, "GetStatusResponse") == dt.timedelta(minutes=15)
    status, data = d.handle(ev.build_unsubscribe(resp.manager))
    assert status == 200
    assert soap.parse_envelope(data).headers.action == ev.ACTION_UNSUBSCRIBE_RESPONSE
    assert m.all() == []

    status, data = d.handle(ev.build_get_status(resp.manager))
    assert status == 400
    fault = soap.fault_from_envelope(soap.parse_envelope(data))
    assert fault is not None and fault.subcode == ev.INVALID_MESSAGE


def test_dispatcher_hook_failures_withdraw_the_subscription() -> None:
    m = manager(FakeClock())
    refusing = soap.Dispatcher()

    def refuse(sub: Subscription, req: ev.Subscribe) -> list[etree._Element]:
        raise soap.SoapFault("Sender", (WSCN, "ClientErrorInvalidDestination"), "no such destination")

    register_subscription_manager(refusing, m, refuse)
    status, data = refusing.handle(ev.build_subscribe(SOURCE, SUBSCRIBE))
    fault = soap.fault_from_envelope(soap.parse_envelope(data))
    assert status == 400 and fault is not None and fault.subcode == (WSCN, "ClientErrorInvalidDestination")
    assert m.all() == []

    crashing = soap.Dispatcher()

    def crash(sub: Subscription, req: ev.Subscribe) -> list[etree._Element]:
        raise RuntimeError("boom")

    register_subscription_manager(crashing, m, crash)
    status, data = crashing.handle(ev.build_subscribe(SOURCE, SUBSCRIBE))
    fault = soap.fault_from_envelope(soap.parse_envelope(data))
    assert status == 500 and fault is not None and fault.subcode == ev.UNABLE_TO_PROCESS
    assert m.all() == []


def test_dispatcher_refusals() -> None:
    m = manager(FakeClock())
    d = soap.Dispatcher()
    register_subscription_manager(d, m)

    def subcode(data: bytes) -> tuple[str, str] | None:
        fault = soap.fault_from_envelope(soap.parse_envelope(data))
        assert fault is not None
        return fault.subcode

    bad_expiry = golden("subscribe.xml").replace(b">PT1H<", b">PT1X<")
    assert subcode(d.handle(bad_expiry)[1]) == ev.INVALID_EXPIRATION_TIME
    no_notify = (
        golden("subscribe_foreign.xml")
        .replace(b"<ev:NotifyTo>", b"<ev:Other>")
        .replace(b"</ev:NotifyTo>", b"</ev:Other>")
    )
    assert subcode(d.handle(no_notify)[1]) == ev.INVALID_MESSAGE
    # Renew without the wse:Identifier header.
    anonymous = ev.EndpointReference(SOURCE)
    assert subcode(d.handle(ev.build_renew(anonymous, None))[1]) == ev.INVALID_MESSAGE
    past = golden("subscribe_foreign.xml")  # expires 2026-11-25T08:00Z == T0: not in the future
    assert subcode(d.handle(past)[1]) == ev.INVALID_EXPIRATION_TIME
    assert m.all() == []


def test_notification_for_each_subscriber() -> None:
    m = manager(FakeClock())
    m.subscribe(request(filter_actions=(SCAN_AVAILABLE,)))
    m.subscribe(request(filter_actions=(JOB_END,)))
    messages = [
        ev.build_notification(s.notify_to, SCAN_AVAILABLE, scan_available_event())
        for s in m.subscribers_for(SCAN_AVAILABLE)
    ]
    assert len(messages) == 1
    env = soap.parse_envelope(messages[0])
    assert env.headers.action == SCAN_AVAILABLE and env.body is not None
    assert env.body.tag == qn(WSCN, "ScanAvailableEvent")
    assert WSA in env.root.nsmap.values()
