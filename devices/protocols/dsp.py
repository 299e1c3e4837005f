"""WS-DSP (Distributed Scan Processing, device → scan server) SOAP bodies ⇄ frozen dataclasses.

Implements PROTOCOL.md §5.1: CreatePostScanJob, SendImage, EndPostScanJob, CancelPostScanJob,
GetPostScanJobElements and the PostScanJobStatusEvent / PostScanJobEndStateEvent events
(WDD:distributed-scan-processing-web-service-protocol-summary.md, WDD:createpostscanjobrequest*.md,
WDD:sendimagerequest*.md, WDD:endpostscanjob*-example.md, WDD:cancelpostscanjob*.md,
WDD:getpostscanjobelements.md, WDD:postscanjobstatusevent*.md, WDD:postscanjobendstateevent-*.md) and the
fault subcodes of WDD:common-distributed-scan-processing-web-service-operation-error-codes.md.

Only what goes inside ``soap:Body`` is built here (``devices.protocols.soap`` wraps it). Job shapes
shared with WS-DSC live in ``jobstatus``; the PostScanInstructions content in ``psp``.
Decisions where the pages are silent (PROTOCOL.md §10.3): the request of GetPostScanJobElements is
written ``dsp:GetPostScanJobElementsRequest`` (the singular ``...ElementRequest`` of the docs is
accepted), ElementData's ``Name``/``Valid`` attributes are written unqualified, and an unknown job
token gets ``dsp:ClientErrorJobTokenNotFound`` by analogy with WS-DSC.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from lxml import etree

from devices.protocols import jobstatus, psp, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.jobstatus import (
    DocumentDescription,
    ElementData,
    JobDescription,
    JobStatus,
    PostScanJobEndState,
)
from devices.protocols.jobstatus import (
    Documents as Documents,  # re-exported: the content of a Documents ElementData
)
from devices.protocols.namespaces import DSP, PSP, WSA, XOP, action, qn
from devices.protocols.xmlfields import (
    Element,
    canonical,
    check_length,
    child,
    label,
    require,
    required_text,
    sub,
)

NS = DSP

# Fault subcodes as (namespace, local name); FAULT_SENDER ones go with soap:Sender, others soap:Receiver.
FAULT_ACTION_NOT_SUPPORTED = (WSA, "ActionNotSupported")
FAULT_INVALID_ARGS = (DSP, "InvalidArgs")
FAULT_OPERATION_FAILED = (DSP, "OperationFailed")
FAULT_SERVER_ERROR_TEMPORARY = (DSP, "ServerErrorTemporaryError")
FAULT_SERVER_ERROR_INTERNAL = (DSP, "ServerErrorInternalError")
# Not confirmed for dsp (PROTOCOL.md §10.3); WS-DSC defines it for the same situation.
FAULT_JOB_TOKEN_NOT_FOUND = (DSP, "ClientErrorJobTokenNotFound")
FAULT_SENDER = frozenset({FAULT_ACTION_NOT_SUPPORTED, FAULT_INVALID_ARGS, FAULT_JOB_TOKEN_NOT_FOUND})

# Requestable job elements (Clark names), by analogy with dsc:RequestedJobElementsType.
NAME_JOB_STATUS = qn(DSP, "JobStatus")
NAME_JOB_DESCRIPTION = qn(DSP, "JobDescription")
NAME_DOCUMENTS = qn(DSP, "Documents")

MAX_TOKEN = 255
_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)


def parse_guid(value: str, tag: str) -> uuid.UUID:
    """A GUID in any usual spelling (braces, ``urn:uuid:``, any case)."""
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ProtocolError("%s must be a GUID, not %r" % (label(tag), value[:60])) from None


def format_guid(value: uuid.UUID) -> str:
    """Upper-case, no braces — the spelling of WDD:createpostscanjobrequest-example.md."""
    return str(value).upper()


def _check_token(token: str) -> None:
    if not token.strip():
        raise ProtocolError("dsp:JobToken must not be empty")
    check_length(token, MAX_TOKEN, qn(DSP, "JobToken"))


@dataclass(frozen=True, kw_only=True)
class CreatePostScanJobRequest:
    element: ClassVar[str] = "CreatePostScanJobRequest"
    action: ClassVar[str] = action(DSP, "CreatePostScanJob")
    user_identifier: str
    psp_identifier: uuid.UUID
    instructions: psp.PostScanInstructions

    def __post_init__(self) -> None:
        if not _SID.match(self.user_identifier):
            raise ProtocolError(
                "dsp:UserIdentifier must be a SID (S-1-...), not %r" % self.user_identifier[:80]
            )


@dataclass(frozen=True, kw_only=True)
class CreatePostScanJobResponse:
    element: ClassVar[str] = "CreatePostScanJobResponse"
    action: ClassVar[str] = action(DSP, "CreatePostScanJobResponse")
    job_token: str

    def __post_init__(self) -> None:
        _check_token(self.job_token)


@dataclass(frozen=True, kw_only=True)
class SendImageRequest:
    """``image_href`` is the ``xop:Include/@href`` (``cid:...``) naming the MTOM part with the bytes."""

    element: ClassVar[str] = "SendImageRequest"
    action: ClassVar[str] = action(DSP, "SendImage")
    job_token: str
    document: DocumentDescription
    image_href: str

    def __post_init__(self) -> None:
        _check_token(self.job_token)
        if not self.image_href.strip():
            raise ProtocolError("dsp:ImageData needs an xop:Include with an href")


@dataclass(frozen=True, kw_only=True)
class SendImageResponse:
    element: ClassVar[str] = "SendImageResponse"
    action: ClassVar[str] = action(DSP, "SendImageResponse")


@dataclass(frozen=True, kw_only=True)
class EndPostScanJobRequest:
    element: ClassVar[str] = "EndPostScanJobRequest"
    action: ClassVar[str] = action(DSP, "EndPostScanJob")
    job_token: str

    def __post_init__(self) -> None:
        _check_token(self.job_token)


@dataclass(frozen=True, kw_only=True)
class EndPostScanJobResponse:
    element: ClassVar[str] = "EndPostScanJobResponse"
    action: ClassVar[str] = action(DSP, "EndPostScanJobResponse")


@dataclass(frozen=True, kw_only=True)
class CancelPostScanJobRequest:
    element: ClassVar[str] = "CancelPostScanJobRequest"
    action: ClassVar[str] = action(DSP, "CancelPostScanJob")
    job_token: str

    def __post_init__(self) -> None:
        _check_token(self.job_token)


@dataclass(frozen=True, kw_only=True)
class CancelPostScanJobResponse:
    element: ClassVar[str] = "CancelPostScanJobResponse"
    action: ClassVar[str] = action(DSP, "CancelPostScanJobResponse")


@dataclass(frozen=True, kw_only=True)
class GetPostScanJobElementsRequest:
    """``requested`` holds Clark names such as :data:`NAME_JOB_STATUS`."""

    element: ClassVar[str] = "GetPostScanJobElementsRequest"
    action: ClassVar[str] = action(DSP, "GetPostScanJobElements")
    job_token: str
    requested: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_token(self.job_token)
        if not self.requested:
            raise ProtocolError("dsp:RequestedElements must name at least one element")


@dataclass(frozen=True, kw_only=True)
class GetPostScanJobElementsResponse:
    """Each ElementData's content is a JobStatus, JobDescription, Documents, raw bytes or None."""

    element: ClassVar[str] = "GetPostScanJobElementsResponse"
    action: ClassVar[str] = action(DSP, "GetPostScanJobElementsResponse")
    elements: tuple[ElementData, ...]


@dataclass(frozen=True, kw_only=True)
class PostScanJobStatusEvent:
    element: ClassVar[str] = "PostScanJobStatusEvent"
    action: ClassVar[str] = action(DSP, "PostScanJobStatusEvent")
    status: JobStatus


@dataclass(frozen=True, kw_only=True)
class PostScanJobEndStateEvent:
    element: ClassVar[str] = "PostScanJobEndStateEvent"
    action: ClassVar[str] = action(DSP, "PostScanJobEndStateEvent")
    end_state: PostScanJobEndState


Message = (
    CreatePostScanJobRequest
    | CreatePostScanJobResponse
    | SendImageRequest
    | SendImageResponse
    | EndPostScanJobRequest
    | EndPostScanJobResponse
    | CancelPostScanJobRequest
    | CancelPostScanJobResponse
    | GetPostScanJobElementsRequest
    | GetPostScanJobElementsResponse
    | PostScanJobStatusEvent
    | PostScanJobEndStateEvent
)
MESSAGE_TYPES: tuple[type[Message], ...] = (
    CreatePostScanJobRequest,
    CreatePostScanJobResponse,
    SendImageRequest,
    SendImageResponse,
    EndPostScanJobRequest,
    EndPostScanJobResponse,
    CancelPostScanJobRequest,
    CancelPostScanJobResponse,
    GetPostScanJobElementsRequest,
    GetPostScanJobElementsResponse,
    PostScanJobStatusEvent,
    PostScanJobEndStateEvent,
)
# Action URI → body element type, for the server's dispatch on wsa:Action.
TYPE_BY_ACTION: dict[str, type[Message]] = {t.action: t for t in MESSAGE_TYPES}
ACTIONS: tuple[str, ...] = tuple(TYPE_BY_ACTION)


# --------------------------------------------------------------------------- build


def _job_content(el: Element, content: object) -> None:
    jobstatus.build_job_content(el, DSP, content)


def to_element(msg: Message) -> Element:
    """The ``soap:Body`` child for ``msg``."""
    nsmap = {"dsp": DSP, "psp": PSP} if isinstance(msg, CreatePostScanJobRequest) else {"dsp": DSP}
    root = etree.Element(qn(DSP, msg.element), nsmap=nsmap)  # type: ignore[arg-type]
    if isinstance(msg, CreatePostScanJobRequest):
        sub(root, qn(DSP, "UserIdentifier"), msg.user_identifier)
        sub(root, qn(DSP, "PSP_Identifier"), format_guid(msg.psp_identifier))
        psp.fill_instructions(sub(root, qn(DSP, "PostScanInstructions")), msg.instructions)
    elif isinstance(msg, SendImageRequest):
        sub(root, qn(DSP, "JobToken"), msg.job_token)
        jobstatus.build_document_description(root, DSP, msg.document)
        image = sub(root, qn(DSP, "ImageData"))
        sub(image, qn(XOP, "Include"), nsmap={"xop": XOP}).set("href", msg.image_href)
    elif isinstance(msg, GetPostScanJobElementsRequest):
        sub(root, qn(DSP, "JobToken"), msg.job_token)
        jobstatus.build_requested(root, DSP, msg.requested)
    elif isinstance(msg, GetPostScanJobElementsResponse):
        holder = sub(root, qn(DSP, "JobElements"))
        for data in msg.elements:
            jobstatus.build_element_data(holder, DSP, data, qualified=False, build_content=_job_content)
    elif isinstance(msg, PostScanJobStatusEvent):
        jobstatus.build_job_status(root, DSP, msg.status)
    elif isinstance(msg, PostScanJobEndStateEvent):
        jobstatus.build_end_state(root, DSP, msg.end_state)
    elif isinstance(msg, CreatePostScanJobResponse | EndPostScanJobRequest | CancelPostScanJobRequest):
        sub(root, qn(DSP, "JobToken"), msg.job_token)
    return root


def to_xml(msg: Message) -> bytes:
    """Canonical bytes of the body element (C14N, fixed prefixes, no whitespace)."""
    return canonical(to_element(msg))


# --------------------------------------------------------------------------- parse


def _token(el: Element) -> str:
    return required_text(el, qn(DSP, "JobToken"), MAX_TOKEN)


def _create(el: Element) -> CreatePostScanJobRequest:
    instructions = child(el, qn(DSP, "PostScanInstructions"))
    if instructions is None:
        instructions = require(el, qn(PSP, "PostScanInstructions"))
    return CreatePostScanJobRequest(
        user_identifier=required_text(el, qn(DSP, "UserIdentifier"), MAX_TOKEN),
        psp_identifier=parse_guid(required_text(el, qn(DSP, "PSP_Identifier")), qn(DSP, "PSP_Identifier")),
        instructions=psp.instructions_from_element(instructions),
    )


def _send_image(el: Element) -> SendImageRequest:
    image = require(el, qn(DSP, "ImageData"))
    include = child(image, qn(XOP, "Include"))
    if include is None:
        raise ProtocolError("dsp:ImageData must carry an xop:Include (MTOM); inline image data is refused")
    return SendImageRequest(
        job_token=_token(el),
        document=jobstatus.parse_document_description(require(el, qn(DSP, "DocumentDescription")), DSP),
        image_href=(include.get("href") or "").strip(),
    )


def _elements_response(el: Element) -> GetPostScanJobElementsResponse:
    holder = require(el, qn(DSP, "JobElements"))
    return GetPostScanJobElementsResponse(
        elements=tuple(
            jobstatus.parse_element_data(d, DSP, lambda c: jobstatus.parse_job_content(c, DSP))
            for d in holder
            if d.tag == qn(DSP, "ElementData")
        )
    )


def _elements_request(el: Element) -> GetPostScanJobElementsRequest:
    return GetPostScanJobElementsRequest(
        job_token=_token(el),
        requested=jobstatus.parse_requested(require(el, qn(DSP, "RequestedElements")), DSP),
    )


_PARSERS: dict[str, Callable[[Element], Message]] = {
    "CreatePostScanJobRequest": _create,
    "CreatePostScanJobResponse": lambda el: CreatePostScanJobResponse(job_token=_token(el)),
    "SendImageRequest": _send_image,
    "SendImageResponse": lambda el: SendImageResponse(),
    "EndPostScanJobRequest": lambda el: EndPostScanJobRequest(job_token=_token(el)),
    "EndPostScanJobResponse": lambda el: EndPostScanJobResponse(),
    "CancelPostScanJobRequest": lambda el: CancelPostScanJobRequest(job_token=_token(el)),
    "CancelPostScanJobResponse": lambda el: CancelPostScanJobResponse(),
    "GetPostScanJobElementsRequest": _elements_request,
    "GetPostScanJobElementRequest": _elements_request,  # the docs' singular spelling
    "GetPostScanJobElementsResponse": _elements_response,
    "GetPostScanJobElementResponse": _elements_response,
    "PostScanJobStatusEvent": lambda el: PostScanJobStatusEvent(
        status=jobstatus.parse_job_status(require(el, qn(DSP, "JobStatus")), DSP)
    ),
    "PostScanJobEndStateEvent": lambda el: PostScanJobEndStateEvent(
        end_state=jobstatus.parse_end_state(require(el, qn(DSP, "PostScanJobEndState")), DSP)
    ),
}


def from_element(el: Element) -> Message:
    """Parse a ``soap:Body`` child in the dsp namespace; anything else is a ProtocolError."""
    qname = etree.QName(el)
    parser = _PARSERS.get(qname.localname) if qname.namespace == DSP else None
    if parser is None:
        raise ProtocolError("%s is not a WS-DSP message" % label(str(el.tag)))
    return parser(el)


def from_xml(data: bytes) -> Message:
    return from_element(xmlsafe.parse(data))


def job_description(psp_identifier: uuid.UUID, display_name: str, user_name: str) -> JobDescription:
    """A JobDescription with the PSP identifier spelled as on the wire."""
    return JobDescription(
        psp_identifier=format_guid(psp_identifier), psp_display_name=display_name, user_name=user_name
    )
