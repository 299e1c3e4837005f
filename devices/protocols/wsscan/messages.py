"""WS-Scan operation bodies (PROTOCOL.md §4.1-4.6; WDD: getscannerelementsrequest.md,
validatescanticketrequest.md, validationinfo.md, imageinformation.md, createscanjobrequest.md,
createscanjobresponse.md, retrieveimagerequest.md, retrieveimageresponse.md, canceljobrequest.md,
getjobelementsrequest.md, getactivejobsrequest.md, getjobhistoryrequest.md, jobstatus.md,
jobsummary.md, documents.md).

Each class builds and parses the element that goes inside ``soap:Body``; ``ACTION`` is the
``wsa:Action`` of the message. The envelope is ``devices.protocols.soap``'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from lxml import etree

from devices.protocols import xmlfields as x
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import NSMAP, WSCN, XOP, qn
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan.elements import (
    ScannerElement,
    build_reasons,
    scanner_element_from_element,
    scanner_element_to_element,
    state_reasons_from,
)
from devices.protocols.wsscan.ticket import DocumentParameters, ScanTicket

JOB_STATES: tuple[str, ...] = (
    "Aborted",
    "Canceled",
    "Completed",
    "Creating",
    "Held",
    "Pending",
    "Processing",
    "Started",
    "Terminating",
)
JOB_COMPLETED_STATES: tuple[str, ...] = ("Aborted", "Canceled", "Completed", "Terminating")
JOB_STATE_REASONS: tuple[str, ...] = (
    "InvalidScanTicket",
    "DocumentFormatError",
    "ImageTransferError",
    "JobCanceledAtDevice",
    "JobCompletedWithErrors",
    "JobCompletedWithWarnings",
    "JobScanning",
    "JobScanningAndTransferring",
    "JobTimedOut",
    "JobTransferring",
    "None",
    "ScannerStopped",
)

# RequestedElements names (Clark notation).
NAME_SCANNER_DESCRIPTION = qn(WSCN, "ScannerDescription")
NAME_SCANNER_CONFIGURATION = qn(WSCN, "ScannerConfiguration")
NAME_SCANNER_STATUS = qn(WSCN, "ScannerStatus")
NAME_DEFAULT_SCAN_TICKET = qn(WSCN, "DefaultScanTicket")
NAME_JOB_STATUS = qn(WSCN, "JobStatus")
NAME_SCAN_TICKET = qn(WSCN, "ScanTicket")
NAME_DOCUMENTS = qn(WSCN, "Documents")
SCANNER_ELEMENT_NAMES: tuple[str, ...] = (
    NAME_SCANNER_DESCRIPTION,
    NAME_SCANNER_CONFIGURATION,
    NAME_SCANNER_STATUS,
    NAME_DEFAULT_SCAN_TICKET,
)
JOB_ELEMENT_NAMES: tuple[str, ...] = (NAME_JOB_STATUS, NAME_SCAN_TICKET, NAME_DOCUMENTS)


def _job_id(el: etree._Element, local: str = "JobId") -> int:
    value = x.req_int(el, local)
    x.check_bounds(value, 1, None, local)
    return value


def _check_job_id(value: int) -> None:
    x.check_bounds(value, 1, None, "JobId")


def _requested_names(el: etree._Element) -> tuple[str, ...]:
    req = x.require_local(el, "RequestedElements")
    names = tuple(x.qname_of(n) for n in x.children_local(req, "Name"))
    if not names:
        raise ProtocolError("RequestedElements must name at least one element")
    return names


def _build_requested(parent: etree._Element, names: tuple[str, ...]) -> None:
    req = x.sub_local(parent, "RequestedElements")
    for name in names:
        x.qname_element(req, "Name", name)


# -- shared job/image structures ------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    pixels_per_line: int
    number_of_lines: int
    bytes_per_line: int

    def __post_init__(self) -> None:
        x.check_bounds(self.pixels_per_line, 0, None, "PixelsPerLine")
        x.check_bounds(self.number_of_lines, 0, None, "NumberOfLines")
        x.check_bounds(self.bytes_per_line, 0, None, "BytesPerLine")

    def build(self, parent: etree._Element, local: str) -> None:
        el = x.sub_local(parent, local)
        x.sub_local(el, "PixelsPerLine", str(self.pixels_per_line))
        x.sub_local(el, "NumberOfLines", str(self.number_of_lines))
        x.sub_local(el, "BytesPerLine", str(self.bytes_per_line))

    @classmethod
    def from_element(cls, el: etree._Element) -> ImageInfo:
        return cls(
            pixels_per_line=x.req_int(el, "PixelsPerLine"),
            number_of_lines=x.req_int(el, "NumberOfLines"),
            bytes_per_line=x.req_int(el, "BytesPerLine"),
        )


@dataclass(frozen=True)
class ImageInformation:
    front: ImageInfo
    back: ImageInfo | None = None

    def to_element(self, tag: str = qn(WSCN, "ImageInformation")) -> etree._Element:
        el = x.new_wscn(tag)
        self.front.build(el, "MediaFrontImageInfo")
        if self.back is not None:
            self.back.build(el, "MediaBackImageInfo")
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ImageInformation:
        back = x.child_local(el, "MediaBackImageInfo")
        return cls(
            front=ImageInfo.from_element(x.require_local(el, "MediaFrontImageInfo")),
            back=None if back is None else ImageInfo.from_element(back),
        )


@dataclass(frozen=True)
class ValidationInfo:
    valid_ticket: bool
    image_information: ImageInformation | None = None
    valid_scan_ticket: ScanTicket | None = None

    def to_element(self, tag: str = qn(WSCN, "ValidationInfo")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_local(el, "ValidTicket", x.format_bool(self.valid_ticket))
        if self.image_information is not None:
            el.append(self.image_information.to_element())
        if self.valid_scan_ticket is not None:
            el.append(self.valid_scan_ticket.to_element(qn(WSCN, "ValidScanTicket")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ValidationInfo:
        info = x.child_local(el, "ImageInformation")
        valid = x.child_local(el, "ValidScanTicket")
        return cls(
            valid_ticket=x.bool_of(x.require_local(el, "ValidTicket")),
            image_information=None if info is None else ImageInformation.from_element(info),
            valid_scan_ticket=None if valid is None else ScanTicket.from_element(valid),
        )


@dataclass(frozen=True)
class JobStatus:
    job_id: int
    job_state: str
    scans_completed: int = 0
    job_state_reasons: tuple[str, ...] = ()
    job_created_time: datetime | None = None
    job_completed_time: datetime | None = None

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        x.check_token(self.job_state, JOB_STATES, "JobState")
        for r in self.job_state_reasons:
            x.check_token(r, JOB_STATE_REASONS, "JobStateReason")
        x.check_bounds(self.scans_completed, 0, None, "ScansCompleted")

    def to_element(self, tag: str = qn(WSCN, "JobStatus")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_local(el, "JobId", str(self.job_id))
        x.sub_local(el, "JobState", self.job_state)
        build_reasons(el, "JobStateReasons", "JobStateReason", self.job_state_reasons)
        x.sub_local(el, "ScansCompleted", str(self.scans_completed))
        x.sub_datetime(el, "JobCreatedTime", self.job_created_time)
        x.sub_datetime(el, "JobCompletedTime", self.job_completed_time)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> JobStatus:
        return cls(
            job_id=_job_id(el),
            job_state=x.req_text(el, "JobState"),
            job_state_reasons=state_reasons_from(el, JOB_STATE_REASONS, "JobStateReasons", "JobStateReason"),
            scans_completed=x.opt_int(el, "ScansCompleted") or 0,
            job_created_time=x.opt_datetime(el, "JobCreatedTime"),
            job_completed_time=x.opt_datetime(el, "JobCompletedTime"),
        )


@dataclass(frozen=True)
class JobSummary:
    job_id: int
    job_name: str
    job_originating_user_name: str
    job_state: str
    job_state_reasons: tuple[str, ...] = ()
    scans_completed: int = 0

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        x.check_token(self.job_state, JOB_STATES, "JobState")
        for r in self.job_state_reasons:
            x.check_token(r, JOB_STATE_REASONS, "JobStateReason")
        x.check_bounds(self.scans_completed, 0, None, "ScansCompleted")

    def build(self, parent: etree._Element) -> None:
        el = x.sub_local(parent, "JobSummary")
        x.sub_local(el, "JobId", str(self.job_id))
        x.sub_local(el, "JobName", self.job_name)
        x.sub_local(el, "JobOriginatingUserName", self.job_originating_user_name)
        x.sub_local(el, "JobState", self.job_state)
        build_reasons(el, "JobStateReasons", "JobStateReason", self.job_state_reasons)
        x.sub_local(el, "ScansCompleted", str(self.scans_completed))

    @classmethod
    def from_element(cls, el: etree._Element) -> JobSummary:
        return cls(
            job_id=_job_id(el),
            job_name=x.opt_text(el, "JobName") or "",
            job_originating_user_name=x.opt_text(el, "JobOriginatingUserName") or "",
            job_state=x.req_text(el, "JobState"),
            job_state_reasons=state_reasons_from(el, JOB_STATE_REASONS, "JobStateReasons", "JobStateReason"),
            scans_completed=x.opt_int(el, "ScansCompleted") or 0,
        )


@dataclass(frozen=True)
class Documents:
    final_parameters: DocumentParameters
    document_names: tuple[str, ...] = ()

    def to_element(self, tag: str = qn(WSCN, "Documents")) -> etree._Element:
        el = x.new_wscn(tag)
        el.append(self.final_parameters.to_element(qn(WSCN, "DocumentFinalParameters")))
        for name in self.document_names:
            desc = x.sub_local(x.sub_local(el, "Document"), "DocumentDescription")
            x.sub_local(desc, "DocumentName", name)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> Documents:
        names = []
        for doc in x.children_local(el, "Document"):
            desc = x.require_local(doc, "DocumentDescription")
            names.append(x.req_text(desc, "DocumentName"))
        return cls(
            final_parameters=DocumentParameters.from_element(x.require_local(el, "DocumentFinalParameters")),
            document_names=tuple(names),
        )


JobElement = JobStatus | ScanTicket | Documents


@dataclass(frozen=True)
class ElementData:
    """One ``ElementData`` of ScannerElements / JobElements. ``name`` is a Clark name; an
    unknown name comes back with ``valid=False`` and no content; a vendor section we cannot
    read parses with ``content=None``."""

    name: str
    valid: bool
    content: ScannerElement | JobElement | None = None

    def build(self, parent: etree._Element) -> None:
        ns = etree.QName(self.name).namespace
        nsmap = {}
        if ns is not None and ns not in parent.nsmap.values():
            known = {uri: p for p, uri in NSMAP.items()}
            nsmap[known.get(ns, "ns0")] = ns
        el = etree.SubElement(parent, qn(WSCN, "ElementData"), nsmap=nsmap)  # type: ignore[arg-type]
        q = etree.QName(self.name)
        prefix = next((p for p, uri in el.nsmap.items() if uri == q.namespace and p), None)
        el.set("Name", q.localname if prefix is None else "%s:%s" % (prefix, q.localname))
        el.set("Valid", x.format_bool(self.valid))
        if self.content is not None:
            if isinstance(self.content, JobStatus | Documents):
                el.append(self.content.to_element())
            elif isinstance(self.content, ScanTicket) and self.name == NAME_SCAN_TICKET:
                el.append(self.content.to_element())
            else:
                el.append(scanner_element_to_element(self.content))

    @classmethod
    def from_element(cls, el: etree._Element) -> ElementData:
        raw_name = x.attr(el, "Name")
        if raw_name is None:
            raise ProtocolError("ElementData lacks its Name attribute")
        prefix, sep, local = raw_name.strip().rpartition(":")
        ns = el.nsmap.get(prefix or None) if sep else el.nsmap.get(None)
        if sep and ns is None:
            raise ProtocolError("ElementData Name %r uses an undeclared prefix" % raw_name)
        name = qn(ns, local) if ns else local
        raw_valid = x.attr(el, "Valid")
        valid = True if raw_valid is None else x.parse_bool_strict(raw_valid, "ElementData Valid")
        content: ScannerElement | JobElement | None = None
        for c in el:
            if not isinstance(c.tag, str):
                continue
            if c.tag == qn(WSCN, "JobStatus"):
                content = JobStatus.from_element(c)
            elif c.tag == qn(WSCN, "ScanTicket"):
                content = ScanTicket.from_element(c)
            elif c.tag == qn(WSCN, "Documents"):
                content = Documents.from_element(c)
            else:
                content = scanner_element_from_element(c)
            if content is not None:
                break
        return cls(name=name, valid=valid, content=content)


def _elements_list(el: etree._Element, wrapper: str) -> tuple[ElementData, ...]:
    return tuple(
        ElementData.from_element(d) for d in x.children_local(x.require_local(el, wrapper), "ElementData")
    )


# -- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GetScannerElementsRequest:
    ACTION: ClassVar[str] = a.ACTION_GET_SCANNER_ELEMENTS
    names: tuple[str, ...] = SCANNER_ELEMENT_NAMES

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetScannerElementsRequest"))
        _build_requested(el, self.names)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetScannerElementsRequest:
        return cls(names=_requested_names(el))


@dataclass(frozen=True)
class GetScannerElementsResponse:
    ACTION: ClassVar[str] = a.ACTION_GET_SCANNER_ELEMENTS_RESPONSE
    elements: tuple[ElementData, ...] = ()

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetScannerElementsResponse"))
        wrapper = x.sub_local(el, "ScannerElements")
        for data in self.elements:
            data.build(wrapper)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetScannerElementsResponse:
        return cls(elements=_elements_list(el, "ScannerElements"))

    def get(self, name: str) -> ScannerElement | JobElement | None:
        """The content of the section ``name`` (Clark name), if it came back valid."""
        for data in self.elements:
            if data.name == name and data.valid:
                return data.content
        return None


@dataclass(frozen=True)
class ValidateScanTicketRequest:
    ACTION: ClassVar[str] = a.ACTION_VALIDATE_SCAN_TICKET
    ticket: ScanTicket

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "ValidateScanTicketRequest"))
        el.append(self.ticket.to_element())
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ValidateScanTicketRequest:
        return cls(ticket=ScanTicket.from_element(x.require_local(el, "ScanTicket")))


@dataclass(frozen=True)
class ValidateScanTicketResponse:
    ACTION: ClassVar[str] = a.ACTION_VALIDATE_SCAN_TICKET_RESPONSE
    validation_info: ValidationInfo

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "ValidateScanTicketResponse"))
        el.append(self.validation_info.to_element())
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ValidateScanTicketResponse:
        return cls(validation_info=ValidationInfo.from_element(x.require_local(el, "ValidationInfo")))


@dataclass(frozen=True)
class CreateScanJobRequest:
    """Pull mode: ticket only. Push mode (after ScanAvailableEvent): also ``scan_identifier``
    from the event and ``destination_token`` from the SubscribeResponse."""

    ACTION: ClassVar[str] = a.ACTION_CREATE_SCAN_JOB
    ticket: ScanTicket
    scan_identifier: str | None = None
    destination_token: str | None = None

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "CreateScanJobRequest"))
        x.sub_text(el, "ScanIdentifier", self.scan_identifier)
        x.sub_text(el, "DestinationToken", self.destination_token)
        el.append(self.ticket.to_element())
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> CreateScanJobRequest:
        return cls(
            ticket=ScanTicket.from_element(x.require_local(el, "ScanTicket")),
            scan_identifier=x.opt_text(el, "ScanIdentifier"),
            destination_token=x.opt_text(el, "DestinationToken"),
        )


@dataclass(frozen=True)
class CreateScanJobResponse:
    ACTION: ClassVar[str] = a.ACTION_CREATE_SCAN_JOB_RESPONSE
    job_id: int
    job_token: str
    image_information: ImageInformation
    document_final_parameters: DocumentParameters

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)
        if not self.job_token:
            raise ProtocolError("JobToken must not be empty")

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "CreateScanJobResponse"))
        x.sub_local(el, "JobId", str(self.job_id))
        x.sub_local(el, "JobToken", self.job_token)
        el.append(self.image_information.to_element())
        el.append(self.document_final_parameters.to_element(qn(WSCN, "DocumentFinalParameters")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> CreateScanJobResponse:
        # Some devices misspell the element (WDD example: DocumentFinalParamters); accept both.
        final = x.child_local(el, "DocumentFinalParameters")
        if final is None:
            final = x.require_local(el, "DocumentFinalParamters")
        return cls(
            job_id=_job_id(el),
            job_token=x.req_text(el, "JobToken"),
            image_information=ImageInformation.from_element(x.require_local(el, "ImageInformation")),
            document_final_parameters=DocumentParameters.from_element(final),
        )


@dataclass(frozen=True)
class RetrieveImageRequest:
    ACTION: ClassVar[str] = a.ACTION_RETRIEVE_IMAGE
    job_id: int
    job_token: str
    document_name: str

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "RetrieveImageRequest"))
        x.sub_local(el, "JobId", str(self.job_id))
        x.sub_local(el, "JobToken", self.job_token)
        x.sub_local(x.sub_local(el, "DocumentDescription"), "DocumentName", self.document_name)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> RetrieveImageRequest:
        return cls(
            job_id=_job_id(el),
            job_token=x.req_text(el, "JobToken"),
            document_name=x.req_text(x.require_local(el, "DocumentDescription"), "DocumentName"),
        )


@dataclass(frozen=True)
class RetrieveImageResponse:
    """``href`` is the xop:Include reference, e.g. ``cid:img1@device``; the bytes travel in
    the MTOM part that the transport matches by Content-ID."""

    ACTION: ClassVar[str] = a.ACTION_RETRIEVE_IMAGE_RESPONSE
    href: str

    def __post_init__(self) -> None:
        if not self.href.startswith("cid:") or len(self.href) <= 4:
            raise ProtocolError("ScanData xop:Include href must be a cid: URI, got %r" % self.href)

    @property
    def content_id(self) -> str:
        """The Content-ID the href points at, without ``cid:`` (URL-escapes are undone)."""
        from urllib.parse import unquote

        return unquote(self.href[4:])

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "RetrieveImageResponse"))
        data = x.sub_local(el, "ScanData")
        etree.SubElement(data, qn(XOP, "Include"), nsmap={"xop": XOP}, href=self.href)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> RetrieveImageResponse:
        data = x.require_local(el, "ScanData")
        include = x.child_local(data, "Include", (XOP,))
        if include is None or not include.get("href"):
            raise ProtocolError("ScanData lacks an xop:Include with an href")
        return cls(href=include.get("href", "").strip())


@dataclass(frozen=True)
class CancelJobRequest:
    ACTION: ClassVar[str] = a.ACTION_CANCEL_JOB
    job_id: int

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "CancelJobRequest"))
        x.sub_local(el, "JobId", str(self.job_id))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> CancelJobRequest:
        return cls(job_id=_job_id(el))


@dataclass(frozen=True)
class CancelJobResponse:
    ACTION: ClassVar[str] = a.ACTION_CANCEL_JOB_RESPONSE

    def to_element(self) -> etree._Element:
        return x.new_wscn(qn(WSCN, "CancelJobResponse"))

    @classmethod
    def from_element(cls, el: etree._Element) -> CancelJobResponse:
        return cls()


@dataclass(frozen=True)
class GetJobElementsRequest:
    ACTION: ClassVar[str] = a.ACTION_GET_JOB_ELEMENTS
    job_id: int
    names: tuple[str, ...] = JOB_ELEMENT_NAMES

    def __post_init__(self) -> None:
        _check_job_id(self.job_id)

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetJobElementsRequest"))
        x.sub_local(el, "JobId", str(self.job_id))
        _build_requested(el, self.names)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetJobElementsRequest:
        return cls(job_id=_job_id(el), names=_requested_names(el))


@dataclass(frozen=True)
class GetJobElementsResponse:
    ACTION: ClassVar[str] = a.ACTION_GET_JOB_ELEMENTS_RESPONSE
    elements: tuple[ElementData, ...] = ()

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetJobElementsResponse"))
        wrapper = x.sub_local(el, "JobElements")
        for data in self.elements:
            data.build(wrapper)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetJobElementsResponse:
        return cls(elements=_elements_list(el, "JobElements"))


def _summaries(el: etree._Element, wrapper: str) -> tuple[JobSummary, ...]:
    found = x.child_local(el, wrapper)
    if found is None:
        return ()
    return tuple(JobSummary.from_element(s) for s in x.children_local(found, "JobSummary"))


@dataclass(frozen=True)
class GetActiveJobsRequest:
    ACTION: ClassVar[str] = a.ACTION_GET_ACTIVE_JOBS

    def to_element(self) -> etree._Element:
        return x.new_wscn(qn(WSCN, "GetActiveJobsRequest"))

    @classmethod
    def from_element(cls, el: etree._Element) -> GetActiveJobsRequest:
        return cls()


@dataclass(frozen=True)
class GetActiveJobsResponse:
    ACTION: ClassVar[str] = a.ACTION_GET_ACTIVE_JOBS_RESPONSE
    jobs: tuple[JobSummary, ...] = ()

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetActiveJobsResponse"))
        wrapper = x.sub_local(el, "ActiveJobs")
        for job in self.jobs:
            job.build(wrapper)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetActiveJobsResponse:
        return cls(jobs=_summaries(el, "ActiveJobs"))


@dataclass(frozen=True)
class GetJobHistoryRequest:
    ACTION: ClassVar[str] = a.ACTION_GET_JOB_HISTORY

    def to_element(self) -> etree._Element:
        return x.new_wscn(qn(WSCN, "GetJobHistoryRequest"))

    @classmethod
    def from_element(cls, el: etree._Element) -> GetJobHistoryRequest:
        return cls()


@dataclass(frozen=True)
class GetJobHistoryResponse:
    ACTION: ClassVar[str] = a.ACTION_GET_JOB_HISTORY_RESPONSE
    jobs: tuple[JobSummary, ...] = ()

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "GetJobHistoryResponse"))
        wrapper = x.sub_local(el, "JobHistory")
        for job in self.jobs:
            job.build(wrapper)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> GetJobHistoryResponse:
        return cls(jobs=_summaries(el, "JobHistory"))


Message = (
    GetScannerElementsRequest
    | GetScannerElementsResponse
    | ValidateScanTicketRequest
    | ValidateScanTicketResponse
    | CreateScanJobRequest
    | CreateScanJobResponse
    | RetrieveImageRequest
    | RetrieveImageResponse
    | CancelJobRequest
    | CancelJobResponse
    | GetJobElementsRequest
    | GetJobElementsResponse
    | GetActiveJobsRequest
    | GetActiveJobsResponse
    | GetJobHistoryRequest
    | GetJobHistoryResponse
)
MESSAGE_TYPES: dict[str, type[Message]] = {
    qn(WSCN, cls.__name__): cls
    for cls in (
        GetScannerElementsRequest,
        GetScannerElementsResponse,
        ValidateScanTicketRequest,
        ValidateScanTicketResponse,
        CreateScanJobRequest,
        CreateScanJobResponse,
        RetrieveImageRequest,
        RetrieveImageResponse,
        CancelJobRequest,
        CancelJobResponse,
        GetJobElementsRequest,
        GetJobElementsResponse,
        GetActiveJobsRequest,
        GetActiveJobsResponse,
        GetJobHistoryRequest,
        GetJobHistoryResponse,
    )
}


def parse_message(el: etree._Element) -> Message:
    """Parse any WS-Scan operation body by its element name."""
    cls = MESSAGE_TYPES.get(el.tag) if isinstance(el.tag, str) else None
    if cls is None:
        raise ProtocolError("%s is not a WS-Scan operation body" % el.tag)
    return cls.from_element(el)
