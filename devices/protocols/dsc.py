"""WS-DSC = [MS-BDSRR] (console → scan server) SOAP bodies ⇄ frozen dataclasses.

Implements PROTOCOL.md §5.2, [MS-BDSRR] §3.2.4: GetRepositoryElements, CancelPostScanJob,
GetPostScanJobElements, GetActiveJobs, GetJobHistory and the RepositoryStatusSummaryEvent,
PostScanJobStatusEvent and PostScanJobEndStateEvent events, with the fault subcodes of §3.1.4.1.
The job shapes (JobStatus, JobSummary, ...) are shared with WS-DSP in ``jobstatus``.

Notes from the spec: ``ElementData`` carries namespace-qualified ``dsc:Name``/``dsc:Valid``
attributes (§3.2.4.1, §3.2.4.3.3.3); the repository advertises filter dialects as QNames
``ftr:fileshare|sharepoint|email`` (§4.1) while job status uses the dialect URI — both forms are
accepted everywhere, and written as the spec's examples do. The §4.1 example's typo
``GetJobsHistoryRequest`` is accepted on input. RepositoryElementsChangeEvent is not implemented
(Windows never sends it, note <17>).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from lxml import etree

from devices.protocols import jobstatus, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.jobstatus import (
    FILTER_STATE_REASONS as FILTER_STATE_REASONS,
)
from devices.protocols.jobstatus import (
    FILTER_STATES as FILTER_STATES,
)
from devices.protocols.jobstatus import (
    JOB_STATE_REASONS as JOB_STATE_REASONS,
)
from devices.protocols.jobstatus import (
    JOB_STATES as JOB_STATES,
)
from devices.protocols.jobstatus import (
    DocumentDescription as DocumentDescription,
)
from devices.protocols.jobstatus import (
    Documents as Documents,
)
from devices.protocols.jobstatus import (
    ElementData,
    JobStatus,
    JobSummary,
    PostScanJobEndState,
)
from devices.protocols.jobstatus import (
    FilterStatus as FilterStatus,
)
from devices.protocols.jobstatus import (
    JobDescription as JobDescription,
)
from devices.protocols.namespaces import DSC, FTR, WSA, action, qn
from devices.protocols.psp import dialect_local
from devices.protocols.psp import dialect_uri as dialect_uri
from devices.protocols.xmlfields import (
    Element,
    canonical,
    check_length,
    child,
    children,
    foreign_bytes,
    foreign_element,
    label,
    require,
    required_text,
    sub,
    text_of,
    tokens,
)

NS = DSC

FAULT_ACTION_NOT_SUPPORTED = (WSA, "ActionNotSupported")
FAULT_INVALID_ARGS = (DSC, "InvalidArgs")
FAULT_OPERATION_FAILED = (DSC, "OperationFailed")
FAULT_SERVER_ERROR_TEMPORARY = (DSC, "ServerErrorTemporaryError")
FAULT_SERVER_ERROR_INTERNAL = (DSC, "ServerErrorInternalError")
FAULT_JOB_TOKEN_NOT_FOUND = (DSC, "ClientErrorJobTokenNotFound")
FAULT_SENDER = frozenset({FAULT_ACTION_NOT_SUPPORTED, FAULT_INVALID_ARGS, FAULT_JOB_TOKEN_NOT_FOUND})

NAME_REPOSITORY_CONFIGURATION = qn(DSC, "RepositoryConfiguration")
NAME_REPOSITORY_STATUS = qn(DSC, "RepositoryStatus")
NAME_JOB_STATUS = qn(DSC, "JobStatus")
NAME_JOB_DESCRIPTION = qn(DSC, "JobDescription")
NAME_DOCUMENTS = qn(DSC, "Documents")

# dsc:RepositoryStateWKVType / RepositoryStateReasonWKVType.
REPOSITORY_STATE_IDLE = "Idle"
REPOSITORY_STATE_PROCESSING = "Processing"
REPOSITORY_STATE_STOPPED = "Stopped"
REPOSITORY_STATES = (REPOSITORY_STATE_IDLE, REPOSITORY_STATE_PROCESSING, REPOSITORY_STATE_STOPPED)
REPOSITORY_REASON_NONE = "None"

MAX_TOKEN = 255


def dialect_qname(uri: str) -> str:
    """The advertised form of a dialect: ``ftr:fileshare`` for a known URI, else the URI itself."""
    local = dialect_local(uri)
    return "ftr:%s" % local if local else uri


def fault_detail_job_token(job_token: str) -> Element:
    """Detail of a ClientErrorJobTokenNotFound fault: the unknown token ([MS-BDSRR] §3.2.4.2)."""
    el = etree.Element(qn(DSC, "JobToken"), nsmap={"dsc": DSC})
    el.text = job_token
    return el


def _check_token(token: str) -> None:
    if not token.strip():
        raise ProtocolError("dsc:JobToken must not be empty")
    check_length(token, MAX_TOKEN, qn(DSC, "JobToken"))


@dataclass(frozen=True, kw_only=True)
class RepositoryFilter:
    """A filter the repository supports: dialect URI and its ``dsc:FilterConfig`` children verbatim."""

    dialect: str
    config: tuple[bytes, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepositoryConfiguration:
    filters: tuple[RepositoryFilter, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepositoryStatus:
    state: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GetRepositoryElementsRequest:
    element: ClassVar[str] = "GetRepositoryElementsRequest"
    action: ClassVar[str] = action(DSC, "GetRepositoryElements")
    requested: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.requested:
            raise ProtocolError("dsc:RequestedElements must name at least one element")


@dataclass(frozen=True, kw_only=True)
class GetRepositoryElementsResponse:
    """ElementData content: RepositoryConfiguration, RepositoryStatus, raw bytes or None."""

    element: ClassVar[str] = "GetRepositoryElementsResponse"
    action: ClassVar[str] = action(DSC, "GetRepositoryElementsResponse")
    elements: tuple[ElementData, ...]


@dataclass(frozen=True, kw_only=True)
class CancelPostScanJobRequest:
    element: ClassVar[str] = "CancelPostScanJobRequest"
    action: ClassVar[str] = action(DSC, "CancelPostScanJob")
    job_token: str

    def __post_init__(self) -> None:
        _check_token(self.job_token)


@dataclass(frozen=True, kw_only=True)
class CancelPostScanJobResponse:
    element: ClassVar[str] = "CancelPostScanJobResponse"
    action: ClassVar[str] = action(DSC, "CancelPostScanJobResponse")


@dataclass(frozen=True, kw_only=True)
class GetPostScanJobElementsRequest:
    element: ClassVar[str] = "GetPostScanJobElementsRequest"
    action: ClassVar[str] = action(DSC, "GetPostScanJobElements")
    job_token: str
    requested: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_token(self.job_token)
        if not self.requested:
            raise ProtocolError("dsc:RequestedElements must name at least one element")


@dataclass(frozen=True, kw_only=True)
class GetPostScanJobElementsResponse:
    """ElementData content in request order: JobStatus, JobDescription, Documents, raw bytes or None."""

    element: ClassVar[str] = "GetPostScanJobElementsResponse"
    action: ClassVar[str] = action(DSC, "GetPostScanJobElementsResponse")
    elements: tuple[ElementData, ...]


@dataclass(frozen=True, kw_only=True)
class GetActiveJobsRequest:
    element: ClassVar[str] = "GetActiveJobsRequest"
    action: ClassVar[str] = action(DSC, "GetActiveJobs")


@dataclass(frozen=True, kw_only=True)
class GetActiveJobsResponse:
    element: ClassVar[str] = "GetActiveJobsResponse"
    action: ClassVar[str] = action(DSC, "GetActiveJobsResponse")
    jobs: tuple[JobSummary, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GetJobHistoryRequest:
    element: ClassVar[str] = "GetJobHistoryRequest"
    action: ClassVar[str] = action(DSC, "GetJobHistory")


@dataclass(frozen=True, kw_only=True)
class GetJobHistoryResponse:
    element: ClassVar[str] = "GetJobHistoryResponse"
    action: ClassVar[str] = action(DSC, "GetJobHistoryResponse")
    jobs: tuple[JobSummary, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RepositoryStatusSummaryEvent:
    element: ClassVar[str] = "RepositoryStatusSummaryEvent"
    action: ClassVar[str] = action(DSC, "RepositoryStatusSummaryEvent")
    state: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PostScanJobStatusEvent:
    element: ClassVar[str] = "PostScanJobStatusEvent"
    action: ClassVar[str] = action(DSC, "PostScanJobStatusEvent")
    status: JobStatus


@dataclass(frozen=True, kw_only=True)
class PostScanJobEndStateEvent:
    element: ClassVar[str] = "PostScanJobEndStateEvent"
    action: ClassVar[str] = action(DSC, "PostScanJobEndStateEvent")
    end_state: PostScanJobEndState


Message = (
    GetRepositoryElementsRequest
    | GetRepositoryElementsResponse
    | CancelPostScanJobRequest
    | CancelPostScanJobResponse
    | GetPostScanJobElementsRequest
    | GetPostScanJobElementsResponse
    | GetActiveJobsRequest
    | GetActiveJobsResponse
    | GetJobHistoryRequest
    | GetJobHistoryResponse
    | RepositoryStatusSummaryEvent
    | PostScanJobStatusEvent
    | PostScanJobEndStateEvent
)
MESSAGE_TYPES: tuple[type[Message], ...] = (
    GetRepositoryElementsRequest,
    GetRepositoryElementsResponse,
    CancelPostScanJobRequest,
    CancelPostScanJobResponse,
    GetPostScanJobElementsRequest,
    GetPostScanJobElementsResponse,
    GetActiveJobsRequest,
    GetActiveJobsResponse,
    GetJobHistoryRequest,
    GetJobHistoryResponse,
    RepositoryStatusSummaryEvent,
    PostScanJobStatusEvent,
    PostScanJobEndStateEvent,
)
TYPE_BY_ACTION: dict[str, type[Message]] = {t.action: t for t in MESSAGE_TYPES}
ACTIONS: tuple[str, ...] = tuple(TYPE_BY_ACTION)


# --------------------------------------------------------------------------- build


def _repository_status(parent: Element, tag: str, state: str, reasons: tuple[str, ...]) -> None:
    el = sub(parent, qn(DSC, tag))
    sub(el, qn(DSC, "RepositoryState"), state)
    if reasons:
        holder = sub(el, qn(DSC, "RepositoryStateReasons"))
        for reason in reasons:
            sub(holder, qn(DSC, "RepositoryStateReason"), reason)


def _repository_content(el: Element, content: object) -> None:
    if isinstance(content, RepositoryConfiguration):
        config = sub(el, qn(DSC, "RepositoryConfiguration"))
        filters = sub(config, qn(DSC, "Filters"))
        for item in content.filters:
            f = sub(filters, qn(DSC, "Filter"))
            local = dialect_local(item.dialect)
            # Declared on the element, as in the [MS-BDSRR] §4.1 example.
            dialect = sub(f, qn(DSC, "Dialect"), nsmap={"ftr": FTR} if local else None)
            dialect.text = dialect_qname(item.dialect)
            holder = sub(f, qn(DSC, "FilterConfig"))
            for data in item.config:
                holder.append(foreign_element(data))
    elif isinstance(content, RepositoryStatus):
        _repository_status(el, "RepositoryStatus", content.state, content.reasons)
    else:
        raise TypeError("unsupported repository element content %r" % (content,))


def _job_content(el: Element, content: object) -> None:
    jobstatus.build_job_content(el, DSC, content)


def to_element(msg: Message) -> Element:
    """The ``soap:Body`` child for ``msg``."""
    root = etree.Element(qn(DSC, msg.element), nsmap={"dsc": DSC})
    if isinstance(msg, GetRepositoryElementsRequest | GetPostScanJobElementsRequest):
        if isinstance(msg, GetPostScanJobElementsRequest):
            sub(root, qn(DSC, "JobToken"), msg.job_token)
        jobstatus.build_requested(root, DSC, msg.requested)
    elif isinstance(msg, GetRepositoryElementsResponse):
        holder = sub(root, qn(DSC, "RepositoryElements"))
        for data in msg.elements:
            jobstatus.build_element_data(holder, DSC, data, qualified=True, build_content=_repository_content)
    elif isinstance(msg, GetPostScanJobElementsResponse):
        holder = sub(root, qn(DSC, "JobElements"))
        for data in msg.elements:
            jobstatus.build_element_data(holder, DSC, data, qualified=True, build_content=_job_content)
    elif isinstance(msg, CancelPostScanJobRequest):
        sub(root, qn(DSC, "JobToken"), msg.job_token)
    elif isinstance(msg, GetActiveJobsResponse | GetJobHistoryResponse):
        holder = sub(root, qn(DSC, "ActiveJobs" if isinstance(msg, GetActiveJobsResponse) else "JobHistory"))
        for summary in msg.jobs:
            jobstatus.build_job_summary(holder, DSC, summary)
    elif isinstance(msg, RepositoryStatusSummaryEvent):
        _repository_status(root, "StatusSummary", msg.state, msg.reasons)
    elif isinstance(msg, PostScanJobStatusEvent):
        jobstatus.build_job_status(root, DSC, msg.status)
    elif isinstance(msg, PostScanJobEndStateEvent):
        jobstatus.build_end_state(root, DSC, msg.end_state)
    return root


def to_xml(msg: Message) -> bytes:
    """Canonical bytes of the body element (C14N, fixed prefixes, no whitespace)."""
    return canonical(to_element(msg))


# --------------------------------------------------------------------------- parse


def _token(el: Element) -> str:
    return required_text(el, qn(DSC, "JobToken"), MAX_TOKEN)


def _repository_config(el: Element) -> RepositoryConfiguration:
    filters = []
    holder = child(el, qn(DSC, "Filters"))
    for f in children(holder, qn(DSC, "Filter")) if holder is not None else []:
        dialect_el = require(f, qn(DSC, "Dialect"))
        dialect = dialect_uri(text_of(dialect_el), dialect_el)
        if not dialect:
            raise ProtocolError("dsc:Dialect must not be empty")
        config = child(f, qn(DSC, "FilterConfig"))
        raw = () if config is None else tuple(foreign_bytes(c) for c in config if isinstance(c.tag, str))
        filters.append(RepositoryFilter(dialect=dialect, config=raw))
    return RepositoryConfiguration(filters=tuple(filters))


def _repository_status_from(el: Element) -> RepositoryStatus:
    return RepositoryStatus(
        state=required_text(el, qn(DSC, "RepositoryState"), MAX_TOKEN),
        reasons=tokens(child(el, qn(DSC, "RepositoryStateReasons")), qn(DSC, "RepositoryStateReason")),
    )


def _repository_element(c: Element) -> object | None:
    if c.tag == qn(DSC, "RepositoryConfiguration"):
        return _repository_config(c)
    if c.tag == qn(DSC, "RepositoryStatus"):
        return _repository_status_from(c)
    return None


def _element_data(
    el: Element, holder_tag: str, parse: Callable[[Element], object | None]
) -> tuple[ElementData, ...]:
    holder = require(el, qn(DSC, holder_tag))
    return tuple(
        jobstatus.parse_element_data(d, DSC, parse) for d in children(holder, qn(DSC, "ElementData"))
    )


def _summaries(el: Element, tag: str) -> tuple[JobSummary, ...]:
    holder = child(el, qn(DSC, tag))
    if holder is None:
        return ()
    return tuple(jobstatus.parse_job_summary(s, DSC) for s in children(holder, qn(DSC, "JobSummary")))


def _status_summary(el: Element) -> RepositoryStatusSummaryEvent:
    status = _repository_status_from(require(el, qn(DSC, "StatusSummary")))
    return RepositoryStatusSummaryEvent(state=status.state, reasons=status.reasons)


_PARSERS: dict[str, Callable[[Element], Message]] = {
    "GetRepositoryElementsRequest": lambda el: GetRepositoryElementsRequest(
        requested=jobstatus.parse_requested(require(el, qn(DSC, "RequestedElements")), DSC)
    ),
    "GetRepositoryElementsResponse": lambda el: GetRepositoryElementsResponse(
        elements=_element_data(el, "RepositoryElements", _repository_element)
    ),
    "CancelPostScanJobRequest": lambda el: CancelPostScanJobRequest(job_token=_token(el)),
    "CancelPostScanJobResponse": lambda el: CancelPostScanJobResponse(),
    "GetPostScanJobElementsRequest": lambda el: GetPostScanJobElementsRequest(
        job_token=_token(el),
        requested=jobstatus.parse_requested(require(el, qn(DSC, "RequestedElements")), DSC),
    ),
    "GetPostScanJobElementsResponse": lambda el: GetPostScanJobElementsResponse(
        elements=_element_data(el, "JobElements", lambda c: jobstatus.parse_job_content(c, DSC))
    ),
    "GetActiveJobsRequest": lambda el: GetActiveJobsRequest(),
    "GetActiveJobsResponse": lambda el: GetActiveJobsResponse(jobs=_summaries(el, "ActiveJobs")),
    "GetJobHistoryRequest": lambda el: GetJobHistoryRequest(),
    "GetJobsHistoryRequest": lambda el: GetJobHistoryRequest(),  # [MS-BDSRR] §4.1 example's spelling
    "GetJobHistoryResponse": lambda el: GetJobHistoryResponse(jobs=_summaries(el, "JobHistory")),
    "RepositoryStatusSummaryEvent": _status_summary,
    "PostScanJobStatusEvent": lambda el: PostScanJobStatusEvent(
        status=jobstatus.parse_job_status(require(el, qn(DSC, "JobStatus")), DSC)
    ),
    "PostScanJobEndStateEvent": lambda el: PostScanJobEndStateEvent(
        end_state=jobstatus.parse_end_state(require(el, qn(DSC, "PostScanJobEndState")), DSC)
    ),
}


def from_element(el: Element) -> Message:
    """Parse a ``soap:Body`` child in the dsc namespace; anything else is a ProtocolError."""
    qname = etree.QName(el)
    parser = _PARSERS.get(qname.localname) if qname.namespace == DSC else None
    if parser is None:
        raise ProtocolError("%s is not a WS-DSC message" % label(str(el.tag)))
    return parser(el)


def from_xml(data: bytes) -> Message:
    return from_element(xmlsafe.parse(data))
