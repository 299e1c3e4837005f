"""DPWS 2006/02 metadata over WS-Transfer Get (devices/protocols/metadata.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import metadata as md
from devices.protocols import soap
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSA, WSA_ANONYMOUS, WSCN, WSDP, qn

GOLDEN = Path(__file__).parent / "golden" / "metadata"
EPR = "urn:uuid:4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
GET_ID = "urn:uuid:00000000-0000-4000-8000-000000000021"
SCAN_URL = "http://127.0.0.1:5357/4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d/scan"
PRINT_NS = "http://schemas.microsoft.com/windows/2006/08/wdp/print"

METADATA = md.DeviceMetadata(
    md.ThisDevice("OpenDSM Simulated Scanner (floor 2)", "1.4.2", "SIM-0001"),
    md.ThisModel(
        manufacturer="OpenDSM Project",
        model_name="DSM Simulator",
        manufacturer_url="https://opendsm.example/",
        model_number="SIM-1",
        model_url="https://opendsm.example/models/sim-1",
        presentation_url="http://127.0.0.1:8080/",
        device_category=("Scanners",),
    ),
    md.Host(EPR, (qn(WSDP, "Device"), qn(WSCN, "ScanDeviceType"))),
    (
        md.HostedService(
            (SCAN_URL,),
            (md.SCANNER_SERVICE_TYPE,),
            "uri:4a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d/ScannerService",
            md.SCANNER_SERVICE_COMPATIBLE_ID,
        ),
    ),
)


def canon(data: bytes | etree._Element) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True, remove_comments=True)
    root = etree.fromstring(data, parser) if isinstance(data, bytes) else data
    return etree.tostring(root, method="c14n")


def with_message_id(data: bytes, message_id: str) -> bytes:
    root = etree.fromstring(data)
    mid = root.find(".//%s" % qn(WSA, "MessageID"))
    assert mid is not None
    mid.text = message_id
    return etree.tostring(root)


def test_get_matches_golden() -> None:
    assert canon(md.build_get(EPR, message_id=GET_ID)) == canon((GOLDEN / "get.xml").read_bytes())
    env = soap.parse_envelope((GOLDEN / "get.xml").read_bytes())
    assert env.headers.action == md.ACTION_GET
    assert env.headers.to == EPR
    assert env.headers.reply_to == WSA_ANONYMOUS
    assert env.body is None


def test_get_response_matches_golden() -> None:
    request = soap.parse_envelope((GOLDEN / "get.xml").read_bytes())
    built = md.build_get_response(request, METADATA)
    expected = (GOLDEN / "get_response.xml").read_bytes()
    assert canon(with_message_id(built, "urn:uuid:00000000-0000-4000-8000-000000000022")) == canon(expected)


def test_get_response_parse_and_round_trip() -> None:
    parsed = md.parse_get_response((GOLDEN / "get_response.xml").read_bytes())
    assert parsed == METADATA
    request = soap.parse_envelope((GOLDEN / "get.xml").read_bytes())
    rebuilt = with_message_id(
        md.build_get_response(request, parsed), "urn:uuid:00000000-0000-4000-8000-000000000022"
    )
    assert canon(rebuilt) == canon((GOLDEN / "get_response.xml").read_bytes())
    assert md.scan_service_url(parsed) == SCAN_URL


def test_foreign_metadata_is_read_by_name_not_order_or_prefix() -> None:
    parsed = md.parse_get_response((GOLDEN / "get_response_foreign.xml").read_bytes())
    assert parsed.this_device == md.ThisDevice("Floor 2 MFP", "", "XC123456")
    assert parsed.this_model == md.ThisModel(
        manufacturer="Example Corp.",
        model_name="Example MFP 9000",
        presentation_url="http://192.0.2.10/",
        device_category=("Printers", "Scanners"),
    )
    assert parsed.host == md.Host(
        "urn:uuid:16a65700-007c-1000-bb49-00a0d5123456",
        (qn(WSDP, "Device"), qn(PRINT_NS, "PrintDeviceType")),
        "uri:host",
    )
    printer, scanner = parsed.hosted
    assert printer.types == (qn(PRINT_NS, "PrinterServiceType"),) and not md.is_scan_service(printer)
    assert scanner.types == (md.SCANNER_SERVICE_TYPE,)
    assert scanner.hardware_id == "VEN_0001&DEV_0002"
    # The urn: address cannot take a POST; the console needs the HTTP one.
    assert md.scan_service_url(parsed) == "http://192.0.2.10:5358/WSDScanner"


def test_scan_service_found_by_compatible_id_when_type_prefix_is_broken() -> None:
    svc = md.HostedService(("https://192.0.2.1/scan",), (), "uri:x", md.SCANNER_SERVICE_COMPATIBLE_ID)
    assert md.scan_service_url(md.DeviceMetadata(hosted=(svc,))) == "https://192.0.2.1/scan"


def test_device_without_scan_service() -> None:
    printer = md.HostedService(("http://192.0.2.1/print",), (qn(PRINT_NS, "PrinterServiceType"),), "uri:p")
    assert md.scan_service_url(md.DeviceMetadata(hosted=(printer,))) is None
    assert md.scan_service_url(md.DeviceMetadata()) is None


def test_dispatcher_answers_get() -> None:
    dispatcher = soap.Dispatcher()
    dispatcher.register(md.ACTION_GET, md.get_handler(METADATA))
    status, body = dispatcher.handle(md.build_get(EPR, message_id=GET_ID))
    assert status == 200
    env = soap.parse_envelope(body)
    assert env.headers.action == md.ACTION_GET_RESPONSE
    assert env.headers.relates_to == GET_ID
    assert md.parse_get_response(body) == METADATA


def test_fault_reply_is_raised() -> None:
    fault = soap.build_fault(soap.SoapFault("Sender", (WSA, "ActionNotSupported"), "no"), GET_ID)
    with pytest.raises(soap.SoapFault) as info:
        md.parse_get_response(fault)
    assert info.value.subcode == (WSA, "ActionNotSupported")


def test_wrong_body_is_refused() -> None:
    data = md.build_get(EPR)  # empty body
    with pytest.raises(ProtocolError, match="empty Body"):
        md.parse_get_response(data)
    with pytest.raises(ProtocolError, match="mex:Metadata"):
        md.metadata_from_element(etree.Element(qn(WSDP, "ThisDevice")))
