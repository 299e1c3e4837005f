"""WS-DSP bodies (devices/protocols/dsp.py): golden samples, canonical bytes, validation, actions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import dsp, jobstatus, psp, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import DSP, FSF, SOAP12

GOLDEN = Path(__file__).parent / "golden" / "dsp"
GOLDEN_FILES = sorted(GOLDEN.glob("*.xml"))
VARIANTS = sorted((GOLDEN / "variants").glob("*.xml"))
TOKEN = "5B0B7A1E-3C52-4F6B-9E0B-6A1C2D3E4F50"


def body_of(data: bytes) -> etree._Element:
    """The message element: the root, or the first child of soap:Body for a whole envelope."""
    root = xmlsafe.parse(data)
    if root.tag == "{%s}Envelope" % SOAP12:
        body = root.find("{%s}Body" % SOAP12)
        assert body is not None
        return next(c for c in body if isinstance(c.tag, str))
    return root


def canonical_file(path: Path) -> bytes:
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n")


def test_one_golden_sample_per_message_type() -> None:
    parsed = {type(dsp.from_xml(p.read_bytes())) for p in GOLDEN_FILES}
    assert parsed == set(dsp.MESSAGE_TYPES)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_parses_to_its_canonical_bytes(path: Path) -> None:
    assert dsp.to_xml(dsp.from_xml(path.read_bytes())) == canonical_file(path)


@pytest.mark.parametrize("path", GOLDEN_FILES + VARIANTS, ids=lambda p: p.name)
def test_build_parse_build_is_byte_stable(path: Path) -> None:
    first = dsp.to_xml(dsp.from_element(body_of(path.read_bytes())))
    again = dsp.from_xml(first)
    assert dsp.to_xml(again) == first


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.name)
def test_variants_equal_their_golden(path: Path) -> None:
    golden = GOLDEN / (path.name.split("--")[0] + ".xml")
    assert dsp.to_xml(dsp.from_element(body_of(path.read_bytes()))) == canonical_file(golden)


def test_create_request_is_typed() -> None:
    msg = dsp.from_xml((GOLDEN / "create_post_scan_job_request.xml").read_bytes())
    assert isinstance(msg, dsp.CreatePostScanJobRequest)
    assert msg.user_identifier == "S-1-5-21-917267712-1342860078-1792151419-500"
    assert msg.psp_identifier == uuid.UUID("c4f199c7-6876-4549-a86e-a85035952448")
    assert msg.instructions.document_root_name == "SampleScanJob"
    assert msg.instructions.filters[0] == psp.Filter.of(
        psp.FileShareConfig(share_uncs=("\\\\contoso\\scratch\\_prtlab\\IncomingScans",))
    )
    assert msg.action == DSP + "/CreatePostScanJob"


def test_send_image_and_events_are_typed() -> None:
    image = dsp.from_xml((GOLDEN / "send_image_request.xml").read_bytes())
    assert image == dsp.SendImageRequest(
        job_token=TOKEN,
        document=jobstatus.DocumentDescription(document_id=1, format="pdf-a"),
        image_href="cid:page1@device.example.test",
    )
    event = dsp.from_xml((GOLDEN / "post_scan_job_status_event.xml").read_bytes())
    assert isinstance(event, dsp.PostScanJobStatusEvent)
    assert event.status.completed_time == datetime(2026, 3, 2, 9, 16, 30, 250000, tzinfo=UTC)
    assert event.status.filter_statuses[1].reasons == (jobstatus.FILTER_REASON_INVALID_SMTP_SERVER,)
    end = dsp.from_xml((GOLDEN / "post_scan_job_end_state_event.xml").read_bytes())
    assert isinstance(end, dsp.PostScanJobEndStateEvent)
    assert end.end_state.completed_state_reasons == (jobstatus.REASON_TIMED_OUT,)


def test_job_elements_response_is_typed_and_unqualified() -> None:
    msg = dsp.from_xml((GOLDEN / "get_post_scan_job_elements_response.xml").read_bytes())
    assert isinstance(msg, dsp.GetPostScanJobElementsResponse)
    names = [(d.name, d.valid, type(d.content).__name__) for d in msg.elements]
    assert names == [
        (dsp.NAME_JOB_STATUS, True, "JobStatus"),
        (dsp.NAME_JOB_DESCRIPTION, True, "JobDescription"),
        (dsp.NAME_DOCUMENTS, True, "Documents"),
        ("{%s}Unknown" % DSP, False, "NoneType"),
    ]
    assert b' Name="dsp:JobStatus" Valid="true"' in dsp.to_xml(msg)


def test_job_status_with_qname_dialect_is_normalised_to_the_uri() -> None:
    data = (
        (GOLDEN / "post_scan_job_status_event.xml")
        .read_bytes()
        .replace(
            b"<dsp:Dialect>http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare</dsp:Dialect>",
            b'<dsp:Dialect xmlns:f="http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter">f:fileshare</dsp:Dialect>',
        )
    )
    msg = dsp.from_xml(data)
    assert isinstance(msg, dsp.PostScanJobStatusEvent)
    assert msg.status.filter_statuses[0].dialect == FSF


def test_actions_and_dispatch() -> None:
    assert dsp.TYPE_BY_ACTION[DSP + "/SendImage"] is dsp.SendImageRequest
    assert dsp.TYPE_BY_ACTION[DSP + "/EndPostScanJobResponse"] is dsp.EndPostScanJobResponse
    assert dsp.PostScanJobEndStateEvent.action == DSP + "/PostScanJobEndStateEvent"
    assert len(set(dsp.ACTIONS)) == len(dsp.MESSAGE_TYPES)
    assert dsp.FAULT_JOB_TOKEN_NOT_FOUND == (DSP, "ClientErrorJobTokenNotFound")
    assert (
        dsp.FAULT_INVALID_ARGS in dsp.FAULT_SENDER and dsp.FAULT_SERVER_ERROR_INTERNAL not in dsp.FAULT_SENDER
    )
    assert jobstatus.REASON_TIMED_OUT in jobstatus.JOB_STATE_REASONS


def _create_with(old: bytes, new: bytes) -> bytes:
    data = (GOLDEN / "create_post_scan_job_request.xml").read_bytes()
    assert old in data
    return data.replace(old, new)


def _send_with(old: bytes, new: bytes) -> bytes:
    data = (GOLDEN / "send_image_request.xml").read_bytes()
    assert old in data
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _create_with(b"C4F199C7-6876-4549-A86E-A85035952448", b"not-a-guid"),
            "dsp:PSP_Identifier must be a GUID",
        ),
        (
            _create_with(b"S-1-5-21-917267712-1342860078-1792151419-500", b"alice"),
            "dsp:UserIdentifier must be a SID",
        ),
        (_create_with(b">SampleScanJob<", b"><"), "psp:DocumentRootName must not be empty"),
        (
            _create_with(b">SampleScanJob<", b">" + b"n" * 300 + b"<"),
            "psp:DocumentRootName is 300 characters",
        ),
        (_send_with(b"<dsp:DocumentId>1<", b"<dsp:DocumentId>0<"), "DocumentId must be at least 1, not 0"),
        (_send_with(b"<dsp:DocumentId>1<", b"<dsp:DocumentId>one<"), "dsp:DocumentId must be an integer"),
        (_send_with(b"<dsp:Format>pdf-a</dsp:Format>", b""), "missing its required dsp:Format"),
        (_send_with(b'href="cid:page1@device.example.test"', b'href=""'), "xop:Include with an href"),
        (_send_with(TOKEN.encode(), b""), "dsp:JobToken must not be empty"),
        (b'<dsp:Frobnicate xmlns:dsp="%s"/>' % DSP.encode(), "dsp:Frobnicate is not a WS-DSP message"),
        (b'<x:CreatePostScanJobRequest xmlns:x="urn:other"/>', "is not a WS-DSP message"),
    ],
)
def test_invalid_messages_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        dsp.from_xml(data)


def test_created_request_round_trips_from_dataclasses() -> None:
    instructions = psp.PostScanInstructions(
        document_root_name="Scan",
        filters=(psp.Filter.of(psp.EmailConfig(send_to_scan_user=True)),),
        allow_device_file_name_change=True,
    )
    msg = dsp.CreatePostScanJobRequest(
        user_identifier="S-1-5-21-1-2-3-1105", psp_identifier=uuid.uuid4(), instructions=instructions
    )
    data = dsp.to_xml(msg)
    assert dsp.from_xml(data) == msg
    assert b"<spx:AllowDeviceFileNameChange" in data
