"""WS-DSC / [MS-BDSRR] bodies (devices/protocols/dsc.py): golden samples, canonical bytes, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import dsc, dsp, jobstatus
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import DSC, EMLF, FSF, SPF

GOLDEN = Path(__file__).parent / "golden" / "dsc"
GOLDEN_FILES = sorted(GOLDEN.glob("*.xml"))
VARIANTS = sorted((GOLDEN / "variants").glob("*.xml"))
TOKEN = "5B0B7A1E-3C52-4F6B-9E0B-6A1C2D3E4F50"


def canonical_file(path: Path) -> bytes:
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n")


def test_one_golden_sample_per_message_type() -> None:
    parsed = {type(dsc.from_xml(p.read_bytes())) for p in GOLDEN_FILES}
    assert parsed == set(dsc.MESSAGE_TYPES)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_parses_to_its_canonical_bytes(path: Path) -> None:
    assert dsc.to_xml(dsc.from_xml(path.read_bytes())) == canonical_file(path)


@pytest.mark.parametrize("path", GOLDEN_FILES + VARIANTS, ids=lambda p: p.name)
def test_build_parse_build_is_byte_stable(path: Path) -> None:
    first = dsc.to_xml(dsc.from_xml(path.read_bytes()))
    assert dsc.to_xml(dsc.from_xml(first)) == first


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.name)
def test_variants_equal_their_golden(path: Path) -> None:
    golden = GOLDEN / (path.name.split("--")[0] + ".xml")
    assert dsc.to_xml(dsc.from_xml(path.read_bytes())) == canonical_file(golden)


def test_repository_elements_are_typed() -> None:
    msg = dsc.from_xml((GOLDEN / "get_repository_elements_response.xml").read_bytes())
    assert isinstance(msg, dsc.GetRepositoryElementsResponse)
    config, status = msg.elements
    assert config.name == dsc.NAME_REPOSITORY_CONFIGURATION and config.valid
    assert isinstance(config.content, dsc.RepositoryConfiguration)
    assert [f.dialect for f in config.content.filters] == [FSF, SPF, EMLF]
    assert status.content == dsc.RepositoryStatus(state=dsc.REPOSITORY_STATE_IDLE, reasons=("None",))
    data = dsc.to_xml(msg)
    assert b'dsc:Name="dsc:RepositoryConfiguration" dsc:Valid="true"' in data
    assert b">ftr:fileshare</dsc:Dialect>" in data


def test_requested_names_are_qnames() -> None:
    msg = dsc.from_xml((GOLDEN / "get_post_scan_job_elements_request.xml").read_bytes())
    assert msg == dsc.GetPostScanJobElementsRequest(
        job_token=TOKEN, requested=(dsc.NAME_JOB_STATUS, dsc.NAME_JOB_DESCRIPTION, dsc.NAME_DOCUMENTS)
    )
    foreign = dsc.GetRepositoryElementsRequest(requested=("{urn:vendor}Extra", dsc.NAME_REPOSITORY_STATUS))
    data = dsc.to_xml(foreign)
    assert b'xmlns:ns0="urn:vendor"' in data and b">ns0:Extra<" in data
    assert dsc.from_xml(data) == foreign


def test_job_elements_and_summaries_are_typed() -> None:
    msg = dsc.from_xml((GOLDEN / "get_post_scan_job_elements_response.xml").read_bytes())
    assert isinstance(msg, dsc.GetPostScanJobElementsResponse)
    status, description, documents, unknown = msg.elements
    assert isinstance(status.content, jobstatus.JobStatus) and status.content.images_received == 2
    assert description.content == jobstatus.JobDescription(
        psp_identifier="C4F199C7-6876-4549-A86E-A85035952448",
        psp_display_name="Invoices to finance",
        user_name="alice@EXAMPLE.TEST",
    )
    assert isinstance(documents.content, jobstatus.Documents)
    assert [d.document_id for d in documents.content.documents] == [1, 2]
    assert unknown.valid is False and unknown.content is None
    history = dsc.from_xml((GOLDEN / "get_job_history_response.xml").read_bytes())
    assert isinstance(history, dsc.GetJobHistoryResponse)
    assert [j.state for j in history.jobs] == [jobstatus.JOB_STATE_COMPLETED, jobstatus.JOB_STATE_CANCELED]


def test_dsp_and_dsc_share_the_job_status_shape() -> None:
    """The same XML in either namespace parses to equal dataclasses (one implementation, two namespaces)."""
    from_dsc = dsc.from_xml((GOLDEN / "post_scan_job_status_event.xml").read_bytes())
    from_dsp = dsp.from_xml((GOLDEN.parent / "dsp" / "post_scan_job_status_event.xml").read_bytes())
    assert isinstance(from_dsc, dsc.PostScanJobStatusEvent) and isinstance(
        from_dsp, dsp.PostScanJobStatusEvent
    )
    assert from_dsc.status == from_dsp.status
    converted = dsc.to_xml(dsc.PostScanJobStatusEvent(status=from_dsp.status))
    assert converted == canonical_file(GOLDEN / "post_scan_job_status_event.xml")


def test_dialect_helpers_accept_both_forms() -> None:
    assert dsc.dialect_qname(FSF) == "ftr:fileshare"
    assert dsc.dialect_qname("urn:vendor:x") == "urn:vendor:x"
    assert dsc.dialect_uri("ftr:email") == EMLF
    assert dsc.dialect_uri(SPF) == SPF


def test_actions_faults_and_constants() -> None:
    assert dsc.TYPE_BY_ACTION[DSC + "/GetJobHistory"] is dsc.GetJobHistoryRequest
    assert dsc.GetRepositoryElementsResponse.action == DSC + "/GetRepositoryElementsResponse"
    assert dsc.RepositoryStatusSummaryEvent.action == DSC + "/RepositoryStatusSummaryEvent"
    assert len(set(dsc.ACTIONS)) == len(dsc.MESSAGE_TYPES)
    assert dsc.FAULT_JOB_TOKEN_NOT_FOUND == (DSC, "ClientErrorJobTokenNotFound")
    assert dsc.FAULT_JOB_TOKEN_NOT_FOUND in dsc.FAULT_SENDER
    assert dsc.FAULT_SERVER_ERROR_TEMPORARY not in dsc.FAULT_SENDER
    assert "Pending-Held" in dsc.JOB_STATES and "CompletedWithWarnings" in dsc.FILTER_STATES
    assert "FileShareAccessDenied" in dsc.FILTER_STATE_REASONS
    detail = dsc.fault_detail_job_token("nope")
    assert detail.tag == "{%s}JobToken" % DSC and detail.text == "nope"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<dsc:CancelPostScanJobRequest xmlns:dsc="%s"/>' % DSC.encode(),
            "missing its required dsc:JobToken",
        ),
        (
            b'<dsc:GetPostScanJobElementsRequest xmlns:dsc="%s"><dsc:JobToken>t</dsc:JobToken>'
            b"<dsc:RequestedElements/></dsc:GetPostScanJobElementsRequest>" % DSC.encode(),
            "must name at least one element",
        ),
        (
            b'<dsc:GetRepositoryElementsRequest xmlns:dsc="%s"><dsc:RequestedElements>'
            b"<dsc:Name>zz:Thing</dsc:Name></dsc:RequestedElements></dsc:GetRepositoryElementsRequest>"
            % DSC.encode(),
            "undeclared prefix",
        ),
        (
            (GOLDEN / "get_active_jobs_response.xml")
            .read_bytes()
            .replace(b"<dsc:ImagesReceived>2<", b"<dsc:ImagesReceived>-1<"),
            "dsc:ImagesReceived must be at least 0",
        ),
        (
            (GOLDEN / "post_scan_job_status_event.xml")
            .read_bytes()
            .replace(b"2026-03-02T09:15:00Z", b"yesterday"),
            "dsc:JobCreatedTime must be an xs:dateTime",
        ),
        (
            (GOLDEN / "get_post_scan_job_elements_response.xml")
            .read_bytes()
            .replace(b' dsc:Name="dsc:JobStatus"', b""),
            "dsc:ElementData is missing its Name attribute",
        ),
        (b'<dsc:GetScannerElementsRequest xmlns:dsc="%s"/>' % DSC.encode(), "not a WS-DSC message"),
    ],
)
def test_invalid_messages_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        dsc.from_xml(data)
