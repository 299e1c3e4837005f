"""SOAP 1.2 envelope, WS-Addressing headers, faults and dispatch (devices/protocols/soap.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import soap
from devices.protocols.namespaces import (
    DSP,
    SOAP12,
    WSA,
    WSA_ANONYMOUS,
    WSA_FAULT_ACTION,
    WSCN,
    WSE,
    action,
    qn,
)
from devices.protocols.soap import Dispatcher, Envelope, Headers, SoapFault

GOLDEN = Path(__file__).parent / "golden" / "soap"
CREATE = action(DSP, "CreatePostScanJob")
REQ_ID = "urn:uuid:11111111-2222-4333-8444-555555555555"


def canon(data: bytes) -> bytes:
    """C14N of trusted test XML with formatting whitespace and comments removed."""
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def create_body() -> etree._Element:
    body = etree.Element(qn(DSP, "CreatePostScanJobRequest"))
    etree.SubElement(body, qn(DSP, "UserIdentifier")).text = "S-1-5-21-1-2-3-1105"
    etree.SubElement(body, qn(DSP, "PSP_Identifier")).text = "0f8fad5b-d9cb-469f-a165-70867728950e"
    return body


def identifier() -> etree._Element:
    el = etree.Element(qn(WSE, "Identifier"))
    el.text = "urn:uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
    return el


def create_headers() -> Headers:
    return Headers(
        action=CREATE,
        message_id=REQ_ID,
        to="https://scan01.example.test:5362/ScanServer/7d4f2a9e-0000-4000-8000-000000000001",
        extra=(identifier(),),
    )


# ---------------------------------------------------------------------------- building


def test_request_matches_golden_and_round_trips() -> None:
    built = soap.build_envelope(create_headers(), create_body())
    assert built.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert canon(built) == canon(golden("create_post_scan_job_request.xml"))
    env = soap.parse_envelope(built)
    rebuilt = soap.build_envelope(env.headers, env.body)
    assert canon(rebuilt) == canon(built)


def test_conventional_prefixes_declared_once_on_envelope() -> None:
    built = soap.build_envelope(create_headers(), create_body())
    root = etree.fromstring(built)
    assert root.nsmap == {"soap": SOAP12, "wsa": WSA, "dsp": DSP, "wse": WSE}
    assert built.count(b"xmlns:dsp=") == 1


def test_request_defaults_reply_to_anonymous_and_fresh_message_id() -> None:
    env = soap.parse_envelope(soap.build_envelope(Headers(action=CREATE), None))
    assert env.headers.reply_to == WSA_ANONYMOUS
    assert env.headers.message_id.startswith("urn:uuid:")
    assert Headers(action=CREATE).message_id != Headers(action=CREATE).message_id
    assert env.body is None


def test_no_reply_to_suppresses_element() -> None:
    built = soap.build_envelope(Headers(action=CREATE, reply_to=soap.NO_REPLY_TO), None)
    assert b"ReplyTo" not in built


def test_build_does_not_move_caller_elements() -> None:
    body = create_body()
    ident = identifier()
    headers = Headers(action=CREATE, extra=(ident,))
    soap.build_envelope(headers, body)
    soap.build_envelope(headers, body)
    assert body.getparent() is None and ident.getparent() is None


def test_qname_text_keeps_its_namespace_declaration() -> None:
    body = etree.Element(qn(WSCN, "GetScannerElementsRequest"), nsmap={"wscn": WSCN})
    names = etree.SubElement(body, qn(WSCN, "RequestedElements"))
    etree.SubElement(names, qn(WSCN, "Name")).text = "wscn:ScannerDescription"
    env = soap.parse_envelope(soap.build_envelope(Headers(action="x"), body))
    name = env.body.find(".//" + qn(WSCN, "Name"))  # type: ignore[union-attr]
    assert name.nsmap["wscn"] == WSCN


def test_response_matches_golden() -> None:
    request = soap.parse_envelope(golden("create_post_scan_job_request.xml"))
    body = etree.Element(qn(DSP, "CreatePostScanJobResponse"))
    etree.SubElement(body, qn(DSP, "JobToken")).text = "6e1b2c3d-0000-4000-8000-00000000abcd"
    built = soap.build_response(request, CREATE + "Response", body)
    # The message id is fresh on every response; pin it to compare with the golden file.
    env = soap.parse_envelope(built)
    assert env.headers.relates_to == REQ_ID
    assert env.headers.to == WSA_ANONYMOUS
    assert env.headers.reply_to is None
    pinned = soap.build_envelope(
        Headers(
            action=env.headers.action,
            message_id="urn:uuid:99999999-8888-4777-8666-555555555555",
            to=env.headers.to,
            relates_to=env.headers.relates_to,
        ),
        env.body,
    )
    assert canon(pinned) == canon(golden("create_post_scan_job_response.xml"))


# ---------------------------------------------------------------------------- parsing


def test_parse_golden_request_fields() -> None:
    env = soap.parse_envelope(golden("create_post_scan_job_request.xml"))
    assert env.version == "1.2"
    assert env.headers.action == CREATE
    assert env.headers.message_id == REQ_ID
    assert env.headers.to.endswith("/ScanServer/7d4f2a9e-0000-4000-8000-000000000001")  # type: ignore[union-attr]
    assert [e.tag for e in env.headers.extra] == [qn(WSE, "Identifier")]
    assert len(env.header_elements) == 5
    assert env.body is not None and env.body.tag == qn(DSP, "CreatePostScanJobRequest")
    assert env.root.tag == qn(SOAP12, "Envelope")


def test_parse_soap11_with_other_prefixes_and_order() -> None:
    env = soap.parse_envelope(golden("soap11_get_scanner_elements.xml"))
    assert env.version == "1.1"
    assert env.headers.action == action(WSCN, "GetScannerElements")
    assert env.headers.message_id == "urn:uuid:01010101-0000-4000-8000-000000000011"
    assert env.headers.to == "http://192.0.2.10:5358/WSDScanner"
    assert env.headers.reply_to is None
    assert env.body is not None and env.body.tag == qn(WSCN, "GetScannerElementsRequest")


def test_parse_without_header_and_with_whitespace_body() -> None:
    data = b'<Envelope xmlns="%s"><Body>\n  <x xmlns="urn:x"/>\n</Body></Envelope>' % SOAP12.encode()
    env = soap.parse_envelope(data)
    assert env.headers.action == "" and env.headers.message_id == ""
    assert env.body is not None and env.body.tag == "{urn:x}x"


@pytest.mark.parametrize(
    "data, words",
    [
        (b"<a/>", "not a SOAP envelope"),
        (b'<Envelope xmlns="urn:other"><Body/></Envelope>', "not a SOAP envelope"),
        (b'<Envelope xmlns="%s"><Header/></Envelope>' % SOAP12.encode(), "no Body"),
        (
            b'<Envelope xmlns="%s"><Body/><Body/></Envelope>' % SOAP12.encode(),
            "more than one Body",
        ),
        (b"<Envelope", "malformed"),
        (b"", "empty"),
    ],
)
def test_parse_refusals_are_sender_faults(data: bytes, words: str) -> None:
    with pytest.raises(SoapFault) as info:
        soap.parse_envelope(data)
    assert info.value.code == "Sender"
    assert info.value.subcode == soap.INVALID_MESSAGE
    assert words in info.value.reason
    assert info.value.http_status == 400


def test_duplicate_action_header_is_refused() -> None:
    data = (
        b'<s:Envelope xmlns:s="%s" xmlns:a="%s"><s:Header><a:Action>x</a:Action><a:Action>y</a:Action>'
        b"</s:Header><s:Body/></s:Envelope>" % (SOAP12.encode(), WSA.encode())
    )
    with pytest.raises(SoapFault) as info:
        soap.parse_envelope(data)
    assert info.value.subcode == soap.INVALID_HEADER


# ---------------------------------------------------------------------------- faults


def test_fault_matches_golden_and_round_trips() -> None:
    fault = SoapFault(
        "Sender",
        (WSCN, "ClientErrorNoImagesAvailable"),
        "The server has no images available to acquire.",
    )
    built = soap.build_fault(fault, relates_to=REQ_ID)
    env = soap.parse_envelope(built)
    assert env.headers.action == WSA_FAULT_ACTION
    assert env.headers.to == WSA_ANONYMOUS and env.headers.reply_to is None
    pinned = soap.build_envelope(
        Headers(
            action=WSA_FAULT_ACTION,
            message_id="urn:uuid:fa000000-0000-4000-8000-000000000001",
            to=WSA_ANONYMOUS,
            relates_to=REQ_ID,
        ),
        env.body,
    )
    assert canon(pinned) == canon(golden("fault_no_images.xml"))
    back = soap.fault_from_envelope(env)
    assert back is not None
    assert (back.code, back.subcode, back.reason) == (
        fault.code,
        fault.subcode,
        fault.reason,
    )


def test_fault_from_golden_with_any_prefix() -> None:
    text = golden("fault_no_images.xml").replace(b"wscn:", b"q:").replace(b"xmlns:wscn", b"xmlns:q")
    fault = soap.fault_from_envelope(soap.parse_envelope(text))
    assert fault is not None and fault.subcode == (WSCN, "ClientErrorNoImagesAvailable")


def test_fault_subcode_outside_nsmap_and_detail() -> None:
    detail = etree.Element("{urn:vendor}Why")
    detail.text = "because"
    built = soap.build_fault(SoapFault("Receiver", ("urn:vendor", "Jam"), "paper jam", detail))
    fault = soap.fault_from_envelope(soap.parse_envelope(built))
    assert fault is not None
    assert fault.code == "Receiver" and fault.subcode == ("urn:vendor", "Jam")
    assert fault.detail is not None and fault.detail.text == "because"
    assert fault.http_status == 500


def test_soap11_fault_is_understood() -> None:
    fault = soap.fault_from_envelope(soap.parse_envelope(golden("soap11_fault.xml")))
    assert fault is not None
    assert fault.code == "Sender"
    assert fault.subcode == (WSCN, "ClientErrorJobIdNotFound")
    assert fault.reason == "no such job"


def test_non_fault_gives_none() -> None:
    assert soap.fault_from_envelope(soap.parse_envelope(golden("create_post_scan_job_request.xml"))) is None


def test_fault_reason_with_control_characters_is_still_sent() -> None:
    built = soap.build_fault(SoapFault("Sender", None, "bad \x00\x01 input"))
    fault = soap.fault_from_envelope(soap.parse_envelope(built))
    assert fault is not None and fault.reason == "bad \ufffd\ufffd input"


def test_unknown_fault_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        SoapFault("Client", None, "1.1 names are not codes")


# ---------------------------------------------------------------------------- dispatch


def make_dispatcher(calls: list[Envelope]) -> Dispatcher:
    def create(env: Envelope) -> etree._Element:
        calls.append(env)
        out = etree.Element(qn(DSP, "CreatePostScanJobResponse"))
        etree.SubElement(out, qn(DSP, "JobToken")).text = "tok"
        return out

    def notify(env: Envelope) -> None:
        calls.append(env)

    def custom(env: Envelope) -> tuple[str, etree._Element | None]:
        return "urn:custom/Answer", None

    def no_images(env: Envelope) -> etree._Element:
        raise SoapFault("Sender", (WSCN, "ClientErrorNoImagesAvailable"), "no images")

    def broken(env: Envelope) -> etree._Element:
        raise RuntimeError("secret path /srv/x")

    def wrong_type(env: Envelope) -> etree._Element:
        return "not xml"  # type: ignore[return-value]

    d = Dispatcher()
    d.register(CREATE, create)
    d.register_all(
        {
            "urn:t/Notify": notify,
            "urn:t/Custom": custom,
            "urn:t/NoImages": no_images,
            "urn:t/Broken": broken,
            "urn:t/Wrong": wrong_type,
        }
    )
    return d


def request(act: str, mid: str = REQ_ID) -> bytes:
    return soap.build_envelope(Headers(action=act, message_id=mid), etree.Element("{urn:t}Req"))


def test_dispatch_calls_handler_and_answers_with_response_action() -> None:
    calls: list[Envelope] = []
    status, body = make_dispatcher(calls).handle(golden("create_post_scan_job_request.xml"))
    assert status == 200
    env = soap.parse_envelope(body)
    assert env.headers.action == CREATE + "Response"
    assert env.headers.relates_to == REQ_ID
    assert env.body is not None and env.body.findtext(qn(DSP, "JobToken")) == "tok"
    assert len(calls) == 1 and calls[0].body.tag == qn(DSP, "CreatePostScanJobRequest")  # type: ignore[union-attr]


def test_dispatch_one_way_gives_202_empty() -> None:
    calls: list[Envelope] = []
    assert make_dispatcher(calls).handle(request("urn:t/Notify")) == (202, b"")
    assert len(calls) == 1


def test_dispatch_tuple_result_sets_action_and_empty_body() -> None:
    status, body = make_dispatcher([]).handle(request("urn:t/Custom"))
    env = soap.parse_envelope(body)
    assert status == 200 and env.headers.action == "urn:custom/Answer"
    assert env.body is None


def test_dispatch_unknown_action_is_action_not_supported() -> None:
    status, body = make_dispatcher([]).handle(request("urn:t/Nope"))
    env = soap.parse_envelope(body)
    fault = soap.fault_from_envelope(env)
    assert status == 400
    assert env.headers.action == WSA_FAULT_ACTION and env.headers.relates_to == REQ_ID
    assert fault is not None and fault.subcode == soap.ACTION_NOT_SUPPORTED and "urn:t/Nope" in fault.reason


def test_dispatch_handler_fault_keeps_subcode() -> None:
    status, body = make_dispatcher([]).handle(request("urn:t/NoImages"))
    fault = soap.fault_from_envelope(soap.parse_envelope(body))
    assert status == 400
    assert fault is not None and fault.subcode == (WSCN, "ClientErrorNoImagesAvailable")


@pytest.mark.parametrize("act", ["urn:t/Broken", "urn:t/Wrong"])
def test_dispatch_crash_is_internal_error_without_traceback(
    act: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="devices.protocols.soap"):
        status, body = make_dispatcher([]).handle(request(act))
    fault = soap.fault_from_envelope(soap.parse_envelope(body))
    assert status == 500
    assert fault is not None and fault.code == "Receiver" and fault.subcode == soap.INTERNAL_ERROR
    assert b"secret" not in body and b"Traceback" not in body
    assert any(r.exc_info for r in caplog.records)


def test_dispatch_garbage_never_raises() -> None:
    status, body = make_dispatcher([]).handle(b"\xff\xfe garbage")
    fault = soap.fault_from_envelope(soap.parse_envelope(body))
    assert status == 400 and fault is not None and fault.subcode == soap.INVALID_MESSAGE


def test_dispatch_missing_action_is_header_required() -> None:
    data = b'<Envelope xmlns="%s"><Body/></Envelope>' % SOAP12.encode()
    status, body = make_dispatcher([]).handle(data)
    fault = soap.fault_from_envelope(soap.parse_envelope(body))
    assert status == 400 and fault is not None and fault.subcode == soap.HEADER_REQUIRED


def test_dispatch_soap11_uses_http_soapaction_and_answers_12() -> None:
    data = (
        golden("soap11_get_scanner_elements.xml")
        .replace(b"<a:Action>", b"<a:X>")
        .replace(b"</a:Action>", b"</a:X>")
    )
    d = Dispatcher()
    d.register(
        action(WSCN, "GetScannerElements"),
        lambda env: etree.Element(qn(WSCN, "GetScannerElementsResponse")),
    )
    status, body = d.handle(data, soap_action='"{}"'.format(action(WSCN, "GetScannerElements")))
    env = soap.parse_envelope(body)
    assert status == 200 and env.version == "1.2"
    assert env.headers.relates_to == "urn:uuid:01010101-0000-4000-8000-000000000011"


def test_register_twice_is_refused() -> None:
    d = Dispatcher()
    d.register("urn:a", lambda env: None)
    with pytest.raises(ValueError):
        d.register("urn:a", lambda env: None)
    assert d.actions == frozenset({"urn:a"})


def test_fault_survives_pickling() -> None:
    import pickle

    fault = pickle.loads(pickle.dumps(SoapFault("Sender", (WSCN, "InvalidArgs"), "bad ticket")))
    assert (fault.code, fault.subcode, fault.reason, fault.http_status) == (
        "Sender",
        (WSCN, "InvalidArgs"),
        "bad ticket",
        400,
    )
