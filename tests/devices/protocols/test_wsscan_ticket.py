"""Invalid WS-Scan values are refused with a ProtocolError (a ValueError) that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSCN
from devices.protocols.wsscan import messages
from devices.protocols.wsscan.events import JobEndState, ScanDestinations
from devices.protocols.wsscan.ticket import (
    DocumentParameters,
    Exposure,
    ExposureSettings,
    JobDescription,
    Resolution,
    ScanTicket,
)

GOLDEN = Path(__file__).parent / "golden" / "wsscan"


def _ticket_with(old: str, new: str) -> bytes:
    raw = (GOLDEN / "scan_ticket.xml").read_text()
    assert old in raw
    return raw.replace(old, new, 1).encode()


def test_protocol_error_is_a_value_error() -> None:
    assert issubclass(ProtocolError, ValueError)


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("<wscn:Rotation>0<", "<wscn:Rotation>45<", "Rotation 45"),
        ("<wscn:Width>300</wscn:Width>", "<wscn:Width>-300</wscn:Width>", "Resolution Width"),
        ("<wscn:Width>300</wscn:Width>", "<wscn:Width>3.5</wscn:Width>", "Width must be an integer"),
        (">pdf-a<", ">gif<", "Format 'gif'"),
        (">ADFDuplex<", ">Tray9<", "InputSource 'Tray9'"),
        (">RGB24<", ">RGB23<", "ColorProcessing 'RGB23'"),
        (">Mixed<", ">Comic<", "ContentType 'Comic'"),
        (
            "<wscn:CompressionQualityFactor>85<",
            "<wscn:CompressionQualityFactor>101<",
            "CompressionQualityFactor",
        ),
        ("<wscn:ScalingWidth>100<", "<wscn:ScalingWidth>0<", "ScalingWidth"),
        ("<wscn:Brightness>100<", "<wscn:Brightness>5000<", "Brightness"),
        ('wscn:MustHonor="true">pdf-a', 'wscn:MustHonor="maybe">pdf-a', "MustHonor"),
        ("<wscn:DocumentSizeAutoDetect>false<", "<wscn:DocumentSizeAutoDetect>nope<", "boolean"),
        ("<wscn:JobName>Invoices batch</wscn:JobName>", "", "JobName"),
    ],
)
def test_invalid_ticket_values(old: str, new: str, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        ScanTicket.from_element(xmlsafe.parse(_ticket_with(old, new)))


def test_vendor_extension_tokens_are_accepted() -> None:
    el = xmlsafe.parse(_ticket_with(">ADFDuplex<", ">acme:Carrier<"))
    dp = ScanTicket.from_element(el).document_parameters
    assert dp is not None and dp.input_source == "acme:Carrier"
    assert DocumentParameters(format="image/jpeg").format == "image/jpeg"


@pytest.mark.parametrize("job_id", ["seven", "7.0", "", "0", "-1"])
def test_non_integer_or_non_positive_job_id(job_id: str) -> None:
    raw = (GOLDEN / "cancel_job_request.xml").read_text().replace(">7<", ">%s<" % job_id).encode()
    with pytest.raises(ProtocolError, match="JobId"):
        messages.CancelJobRequest.from_element(xmlsafe.parse(raw))


def test_constructors_validate_too() -> None:
    with pytest.raises(ProtocolError, match="Rotation 45 is not one of 0, 90, 180, 270"):
        DocumentParameters(rotation=45)
    with pytest.raises(ProtocolError, match="Resolution Width"):
        Resolution(width=-1)
    with pytest.raises(ProtocolError, match="exactly one"):
        Exposure(auto_exposure=True, settings=ExposureSettings(brightness=1))
    with pytest.raises(ProtocolError, match="JobCompletedState"):
        JobEndState(job_id=1, job_completed_state="Processing")
    with pytest.raises(ProtocolError, match="at least one"):
        ScanDestinations(destinations=())
    with pytest.raises(ProtocolError, match="cid:"):
        messages.RetrieveImageResponse(href="http://evil.example/img")
    with pytest.raises(ProtocolError, match="not a ticket element"):
        DocumentParameters().with_flag("Nonsense", must_honor=True)


def test_missing_required_children_are_named() -> None:
    el = etree.Element("{%s}RetrieveImageRequest" % WSCN)
    etree.SubElement(el, "{%s}JobId" % WSCN).text = "3"
    with pytest.raises(ProtocolError, match="RetrieveImageRequest lacks its required JobToken"):
        messages.RetrieveImageRequest.from_element(el)


def test_flags_round_trip_and_equality_ignores_order() -> None:
    a = DocumentParameters(format="jfif", input_source="ADF").with_flag("InputSource", must_honor=True)
    a = a.with_flag("Format", override=True)
    b = DocumentParameters(format="jfif", input_source="ADF").with_flag("Format", override=True)
    b = b.with_flag("InputSource", must_honor=True)
    assert a == b
    ticket = ScanTicket(JobDescription("j", "u"), a)
    assert ScanTicket.from_element(xmlsafe.parse(etree.tostring(ticket.to_element()))) == ticket
    assert a.must_honor("InputSource") and not a.must_honor("Format")


def test_unqualified_must_honor_is_accepted() -> None:
    el = xmlsafe.parse(_ticket_with('wscn:MustHonor="true">pdf-a', 'MustHonor="true">pdf-a'))
    dp = ScanTicket.from_element(el).document_parameters
    assert dp is not None and dp.must_honor("Format")


def test_ticket_under_another_tag() -> None:
    ticket = ScanTicket.from_element(xmlsafe.parse((GOLDEN / "scan_ticket.xml").read_bytes()))
    psp = "http://schemas.microsoft.com/windows/2008/02/imaging/postscan/psp"
    el = ticket.to_element("{%s}ScanTicket" % psp)
    assert el.prefix == "psp" and el[0].tag == "{%s}JobDescription" % WSCN
    assert ScanTicket.from_element(el) == ticket
