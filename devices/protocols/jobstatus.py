"""PostScan job shapes shared by WS-DSP and WS-DSC, one implementation parameterised by namespace.

The WS-DSP event and job-element pages (WDD:postscanjobstatusevent-jobstatus.md,
WDD:postscanjobendstateevent-postscanjobendstate.md, WDD:getpostscanjobelementsresponse-jobelements*.md)
mirror the ``dsc`` types of [MS-BDSRR] §2.2.4 (JobStatusType, FilterStatusType, JobSummaryType,
JobDescriptionType, DocumentDescriptionType, PostScanJobEndState) and the GetPostScanJobElements
request/response shapes of §3.2.4.3 — PROTOCOL.md §5.1, §5.2 and §10.3. Every builder and parser
here takes the service namespace (``DSP`` or ``DSC``).

``ElementData`` names are QNames; OpenDSM represents them in Clark notation (``{ns}JobStatus``).
In ``dsc`` the ``Name``/``Valid`` attributes are namespace-qualified ([MS-BDSRR] §3.2.4.3.3.3);
for ``dsp`` the pages show them unqualified. Both forms are accepted on input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import NSMAP, qn
from devices.protocols.psp import MAX_STRING, dialect_uri
from devices.protocols.xmlfields import (
    Element,
    check_length,
    check_range,
    child,
    children,
    foreign_bytes,
    foreign_element,
    format_datetime,
    label,
    parse_bool,
    parse_datetime,
    parse_int,
    qname_text,
    require,
    required_text,
    sub,
    text_of,
    tokens,
)

_PREFIX_OF = {uri: prefix for prefix, uri in NSMAP.items()}

# dsc:JobStateWKVType ([MS-BDSRR] §2.2.5.12); dsp uses the same values.
JOB_STATE_ABORTED = "Aborted"
JOB_STATE_CANCELED = "Canceled"
JOB_STATE_COMPLETED = "Completed"
JOB_STATE_CREATING = "Creating"
JOB_STATE_PENDING = "Pending"
JOB_STATE_PENDING_HELD = "Pending-Held"
JOB_STATE_PROCESSING = "Processing"
JOB_STATE_STARTED = "Started"
JOB_STATE_TERMINATING = "Terminating"  # Windows never returns it ([MS-BDSRR] note <9>)
JOB_STATES = (
    JOB_STATE_ABORTED,
    JOB_STATE_CANCELED,
    JOB_STATE_COMPLETED,
    JOB_STATE_CREATING,
    JOB_STATE_PENDING,
    JOB_STATE_PENDING_HELD,
    JOB_STATE_PROCESSING,
    JOB_STATE_STARTED,
    JOB_STATE_TERMINATING,
)

# dsc:JobStateReasonWKVType ([MS-BDSRR] §2.2.5.11); the WS-DSP JobStateReason page lists the same
# values except PostScanJobTimedOut.
REASON_NONE = "None"
REASON_TIMED_OUT = "PostScanJobTimedOut"
REASON_NO_VALID_INSTRUCTIONS = "NoValidPostScanInstructionsFound"
REASON_CREATE_FAILED = "CreatePostScanJobFailed"
REASON_SEND_IMAGE_FAILED = "SendImageFailed"
REASON_CANCELED = "PostScanJobCanceled"
REASON_PROCESSING_FAILED = "PostScanJobProcessingFailed"
REASON_COMPLETED_SUCCESSFULLY = "PostScanJobCompletedSuccessfully"
REASON_COMPLETED_WITH_ERRORS = "PostScanJobCompletedWithErrors"
REASON_COMPLETED_WITH_WARNINGS = "PostScanJobCompletedWithWarnings"
JOB_STATE_REASONS = (
    REASON_NONE,
    REASON_TIMED_OUT,
    REASON_NO_VALID_INSTRUCTIONS,
    REASON_CREATE_FAILED,
    REASON_SEND_IMAGE_FAILED,
    REASON_CANCELED,
    REASON_PROCESSING_FAILED,
    REASON_COMPLETED_SUCCESSFULLY,
    REASON_COMPLETED_WITH_ERRORS,
    REASON_COMPLETED_WITH_WARNINGS,
)

# dsc:FilterStateWKVType ([MS-BDSRR] §2.2.5.6).
FILTER_STATE_PENDING = "Pending"
FILTER_STATE_PROCESSING = "Processing"
FILTER_STATE_CANCELED = "Canceled"
FILTER_STATE_COMPLETED_SUCCESSFULLY = "CompletedSuccessfully"
FILTER_STATE_COMPLETED_WITH_ERRORS = "CompletedWithErrors"
FILTER_STATE_COMPLETED_WITH_WARNINGS = "CompletedWithWarnings"
FILTER_STATES = (
    FILTER_STATE_PENDING,
    FILTER_STATE_PROCESSING,
    FILTER_STATE_CANCELED,
    FILTER_STATE_COMPLETED_SUCCESSFULLY,
    FILTER_STATE_COMPLETED_WITH_ERRORS,
    FILTER_STATE_COMPLETED_WITH_WARNINGS,
)

# dsc:FilterStateReasonWKVType ([MS-BDSRR] §2.2.5.7).
FILTER_REASON_INVALID_ARGS = "InvalidArgs"
FILTER_REASON_OUT_OF_DISK_SPACE = "OutOfDiskSpace"
FILTER_REASON_SERVER_OUT_OF_MEMORY = "ServerOutOfMemory"
FILTER_REASON_UNKNOWN_ERROR = "UnknownError"
FILTER_REASON_FILESHARE_ACCESS_DENIED = "FileShareAccessDenied"
FILTER_REASON_FILESHARE_OUT_OF_DISK_SPACE = "FileShareOutOfDiskSpace"
FILTER_REASON_SHAREPOINT_ACCESS_DENIED = "SharePointAccessDenied"
FILTER_REASON_SHAREPOINT_OUT_OF_DISK_SPACE = "SharePointOutOfDiskSpace"
FILTER_REASON_INVALID_SMTP_SERVER = "InvalidSMTPServer"
FILTER_REASON_UNABLE_TO_SEND_EMAIL = "UnableToSendEmail"
FILTER_STATE_REASONS = (
    FILTER_REASON_INVALID_ARGS,
    FILTER_REASON_OUT_OF_DISK_SPACE,
    FILTER_REASON_SERVER_OUT_OF_MEMORY,
    FILTER_REASON_UNKNOWN_ERROR,
    FILTER_REASON_FILESHARE_ACCESS_DENIED,
    FILTER_REASON_FILESHARE_OUT_OF_DISK_SPACE,
    FILTER_REASON_SHAREPOINT_ACCESS_DENIED,
    FILTER_REASON_SHAREPOINT_OUT_OF_DISK_SPACE,
    FILTER_REASON_INVALID_SMTP_SERVER,
    FILTER_REASON_UNABLE_TO_SEND_EMAIL,
)


def _token(value: str, tag: str) -> str:
    if not value:
        raise ProtocolError("%s must not be empty" % label(tag))
    check_length(value, MAX_STRING, tag)
    return value


@dataclass(frozen=True, kw_only=True)
class FilterStatus:
    """``FilterStatus``: one filter's dialect URI, state and reasons."""

    dialect: str
    state: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class JobStatus:
    """``JobStatus`` ([MS-BDSRR] §2.2.4.21)."""

    job_token: str
    state: str
    state_reasons: tuple[str, ...] = ()
    filter_statuses: tuple[FilterStatus, ...] = ()
    images_received: int = 0
    created_time: datetime | None = None
    completed_time: datetime | None = None

    def __post_init__(self) -> None:
        check_range(self.images_received, "ImagesReceived", minimum=0)


@dataclass(frozen=True, kw_only=True)
class JobDescription:
    """``JobDescription``: which process, under which name, for which user."""

    psp_identifier: str
    psp_display_name: str
    user_name: str


@dataclass(frozen=True, kw_only=True)
class JobSummary:
    """``JobSummary`` ([MS-BDSRR] §2.2.4.22), an entry of ActiveJobs / JobHistory."""

    job_token: str
    psp_identifier: str
    psp_display_name: str
    user_name: str
    state: str
    state_reasons: tuple[str, ...] = ()
    filter_statuses: tuple[FilterStatus, ...] = ()
    images_received: int = 0

    def __post_init__(self) -> None:
        check_range(self.images_received, "ImagesReceived", minimum=0)


@dataclass(frozen=True, kw_only=True)
class PostScanJobEndState:
    """``PostScanJobEndState`` of a PostScanJobEndStateEvent ([MS-BDSRR] §3.2.4.9)."""

    job_token: str
    psp_identifier: str
    psp_display_name: str
    user_name: str
    completed_state: str
    completed_state_reasons: tuple[str, ...] = ()
    filter_statuses: tuple[FilterStatus, ...] = ()
    images_received: int = 0
    completed_time: datetime | None = None

    def __post_init__(self) -> None:
        check_range(self.images_received, "ImagesReceived", minimum=0)


@dataclass(frozen=True, kw_only=True)
class DocumentDescription:
    """``DocumentDescription``: 1-based DocumentId unique per job (DESIGN.md decision 4) and wscn Format."""

    document_id: int
    format: str

    def __post_init__(self) -> None:
        check_range(self.document_id, "DocumentId", minimum=1)
        _token(self.format, "Format")


@dataclass(frozen=True, kw_only=True)
class Documents:
    """``Documents``: the scan documents of a job."""

    documents: tuple[DocumentDescription, ...] = ()


# Content of an ElementData: one of the typed shapes, foreign XML kept verbatim, or nothing.
ElementContent = object


@dataclass(frozen=True, kw_only=True)
class ElementData:
    """``ElementData[@Name,@Valid]``; ``name`` in Clark notation, ``content`` typed or raw bytes."""

    name: str
    valid: bool
    content: ElementContent = None


# --------------------------------------------------------------------------- builders


def _reasons(parent: Element, ns: str, list_tag: str, item_tag: str, reasons: tuple[str, ...]) -> None:
    if reasons:
        holder = sub(parent, qn(ns, list_tag))
        for reason in reasons:
            sub(holder, qn(ns, item_tag), reason)


def build_filter_statuses(parent: Element, ns: str, tag: str, statuses: tuple[FilterStatus, ...]) -> None:
    holder = sub(parent, qn(ns, tag))
    for status in statuses:
        el = sub(holder, qn(ns, "FilterStatus"))
        sub(el, qn(ns, "Dialect"), status.dialect)
        sub(el, qn(ns, "FilterState"), status.state)
        _reasons(el, ns, "FilterStateReasons", "FilterStateReason", status.reasons)


def build_job_status(parent: Element, ns: str, status: JobStatus) -> Element:
    el = sub(parent, qn(ns, "JobStatus"))
    sub(el, qn(ns, "JobToken"), status.job_token)
    sub(el, qn(ns, "JobState"), status.state)
    _reasons(el, ns, "JobStateReasons", "JobStateReason", status.state_reasons)
    build_filter_statuses(el, ns, "FilterStatuses", status.filter_statuses)
    sub(el, qn(ns, "ImagesReceived"), str(status.images_received))
    if status.created_time is not None:
        sub(el, qn(ns, "JobCreatedTime"), format_datetime(status.created_time))
    if status.completed_time is not None:
        sub(el, qn(ns, "JobCompletedTime"), format_datetime(status.completed_time))
    return el


def _describe(el: Element, ns: str, psp_identifier: str, display_name: str, user_name: str) -> None:
    sub(el, qn(ns, "PSP_Identifier"), psp_identifier)
    sub(el, qn(ns, "PSP_DisplayName"), display_name)
    sub(el, qn(ns, "JobOriginatingUserName"), user_name)


def build_job_description(parent: Element, ns: str, description: JobDescription) -> Element:
    el = sub(parent, qn(ns, "JobDescription"))
    _describe(el, ns, description.psp_identifier, description.psp_display_name, description.user_name)
    return el


def build_job_summary(parent: Element, ns: str, summary: JobSummary) -> Element:
    el = sub(parent, qn(ns, "JobSummary"))
    sub(el, qn(ns, "JobToken"), summary.job_token)
    _describe(el, ns, summary.psp_identifier, summary.psp_display_name, summary.user_name)
    sub(el, qn(ns, "JobState"), summary.state)
    _reasons(el, ns, "JobStateReasons", "JobStateReason", summary.state_reasons)
    build_filter_statuses(el, ns, "FilterStatuses", summary.filter_statuses)
    sub(el, qn(ns, "ImagesReceived"), str(summary.images_received))
    return el


def build_end_state(parent: Element, ns: str, end: PostScanJobEndState) -> Element:
    el = sub(parent, qn(ns, "PostScanJobEndState"))
    sub(el, qn(ns, "JobToken"), end.job_token)
    _describe(el, ns, end.psp_identifier, end.psp_display_name, end.user_name)
    sub(el, qn(ns, "JobCompletedState"), end.completed_state)
    _reasons(el, ns, "JobCompletedStateReasons", "JobStateReason", end.completed_state_reasons)
    build_filter_statuses(el, ns, "FilterCompletedStatuses", end.filter_statuses)
    sub(el, qn(ns, "ImagesReceived"), str(end.images_received))
    if end.completed_time is not None:
        sub(el, qn(ns, "JobCompletedTime"), format_datetime(end.completed_time))
    return el


def build_document_description(parent: Element, ns: str, doc: DocumentDescription) -> Element:
    el = sub(parent, qn(ns, "DocumentDescription"))
    sub(el, qn(ns, "DocumentId"), str(doc.document_id))
    sub(el, qn(ns, "Format"), doc.format)
    return el


def build_documents(parent: Element, ns: str, documents: Documents) -> Element:
    el = sub(parent, qn(ns, "Documents"))
    for doc in documents.documents:
        build_document_description(sub(el, qn(ns, "Document")), ns, doc)
    return el


def qname_value(el: Element, clark: str) -> str:
    """``{ns}local`` as ``prefix:local`` using a prefix in scope at ``el``."""
    qname = etree.QName(clark)
    if not qname.namespace:
        return qname.localname
    for prefix, uri in (el.nsmap or {}).items():
        if uri == qname.namespace and prefix is not None:
            return "%s:%s" % (prefix, qname.localname)
    raise ProtocolError("no namespace prefix in scope for %s" % clark)


def _scope_for(ns: str, names: list[str]) -> dict[str, str] | None:
    """Declarations needed for QName values outside the service namespace (unknown requested names)."""
    extra: dict[str, str] = {}
    for clark in names:
        uri = etree.QName(clark).namespace
        if uri and uri != ns:
            prefix = _PREFIX_OF.get(uri) or "ns%d" % len(extra)
            extra.setdefault(prefix, uri)
    return extra or None


def build_requested(parent: Element, ns: str, names: tuple[str, ...]) -> Element:
    el = sub(parent, qn(ns, "RequestedElements"), nsmap=_scope_for(ns, list(names)))
    for clark in names:
        name = sub(el, qn(ns, "Name"))
        name.text = qname_value(name, clark)
    return el


def build_element_data(
    parent: Element,
    ns: str,
    data: ElementData,
    qualified: bool,
    build_content: Callable[[Element, ElementContent], None],
) -> Element:
    el = sub(parent, qn(ns, "ElementData"), nsmap=_scope_for(ns, [data.name]))
    el.set(qn(ns, "Name") if qualified else "Name", qname_value(el, data.name))
    el.set(qn(ns, "Valid") if qualified else "Valid", "true" if data.valid else "false")
    if isinstance(data.content, bytes):
        el.append(foreign_element(data.content))
    elif data.content is not None:
        build_content(el, data.content)
    return el


def build_job_content(el: Element, ns: str, content: ElementContent) -> None:
    """Content of a job ElementData: JobStatus, JobDescription or Documents."""
    if isinstance(content, JobStatus):
        build_job_status(el, ns, content)
    elif isinstance(content, JobDescription):
        build_job_description(el, ns, content)
    elif isinstance(content, Documents):
        build_documents(el, ns, content)
    else:
        raise TypeError("unsupported job element content %r" % (content,))


# --------------------------------------------------------------------------- parsers


def _int(el: Element, tag: str, minimum: int) -> int:
    return parse_int(text_of(require(el, tag)), tag, minimum=minimum)


def _time(el: Element, tag: str) -> datetime | None:
    found = child(el, tag)
    if found is None or not text_of(found):
        return None
    return parse_datetime(text_of(found), tag)


def _token_text(el: Element, tag: str) -> str:
    return required_text(el, tag, MAX_STRING)


def parse_filter_statuses(el: Element | None, ns: str) -> tuple[FilterStatus, ...]:
    if el is None:
        return ()
    statuses = []
    for status in children(el, qn(ns, "FilterStatus")):
        dialect_el = require(status, qn(ns, "Dialect"))
        statuses.append(
            FilterStatus(
                dialect=dialect_uri(text_of(dialect_el), dialect_el),
                state=_token_text(status, qn(ns, "FilterState")),
                reasons=tokens(child(status, qn(ns, "FilterStateReasons")), qn(ns, "FilterStateReason")),
            )
        )
    return tuple(statuses)


def parse_job_status(el: Element, ns: str) -> JobStatus:
    return JobStatus(
        job_token=_token_text(el, qn(ns, "JobToken")),
        state=_token_text(el, qn(ns, "JobState")),
        state_reasons=tokens(child(el, qn(ns, "JobStateReasons")), qn(ns, "JobStateReason")),
        filter_statuses=parse_filter_statuses(child(el, qn(ns, "FilterStatuses")), ns),
        images_received=_int(el, qn(ns, "ImagesReceived"), 0),
        created_time=_time(el, qn(ns, "JobCreatedTime")),
        completed_time=_time(el, qn(ns, "JobCompletedTime")),
    )


def parse_job_description(el: Element, ns: str) -> JobDescription:
    return JobDescription(
        psp_identifier=_token_text(el, qn(ns, "PSP_Identifier")),
        psp_display_name=required_text(el, qn(ns, "PSP_DisplayName"), MAX_STRING),
        user_name=required_text(el, qn(ns, "JobOriginatingUserName"), MAX_STRING),
    )


def parse_job_summary(el: Element, ns: str) -> JobSummary:
    description = parse_job_description(el, ns)
    return JobSummary(
        job_token=_token_text(el, qn(ns, "JobToken")),
        psp_identifier=description.psp_identifier,
        psp_display_name=description.psp_display_name,
        user_name=description.user_name,
        state=_token_text(el, qn(ns, "JobState")),
        state_reasons=tokens(child(el, qn(ns, "JobStateReasons")), qn(ns, "JobStateReason")),
        filter_statuses=parse_filter_statuses(child(el, qn(ns, "FilterStatuses")), ns),
        images_received=_int(el, qn(ns, "ImagesReceived"), 0),
    )


def parse_end_state(el: Element, ns: str) -> PostScanJobEndState:
    description = parse_job_description(el, ns)
    return PostScanJobEndState(
        job_token=_token_text(el, qn(ns, "JobToken")),
        psp_identifier=description.psp_identifier,
        psp_display_name=description.psp_display_name,
        user_name=description.user_name,
        completed_state=_token_text(el, qn(ns, "JobCompletedState")),
        completed_state_reasons=tokens(
            child(el, qn(ns, "JobCompletedStateReasons")), qn(ns, "JobStateReason")
        ),
        filter_statuses=parse_filter_statuses(child(el, qn(ns, "FilterCompletedStatuses")), ns),
        images_received=_int(el, qn(ns, "ImagesReceived"), 0),
        completed_time=_time(el, qn(ns, "JobCompletedTime")),
    )


def parse_document_description(el: Element, ns: str) -> DocumentDescription:
    return DocumentDescription(
        document_id=_int(el, qn(ns, "DocumentId"), 1),
        format=_token_text(el, qn(ns, "Format")),
    )


def parse_documents(el: Element, ns: str) -> Documents:
    return Documents(
        documents=tuple(
            parse_document_description(require(d, qn(ns, "DocumentDescription")), ns)
            for d in children(el, qn(ns, "Document"))
        )
    )


def _qualify(ns: str, name: str) -> str:
    """A bare requested name (no prefix, no default namespace) is taken to be in the service namespace."""
    return name if name.startswith("{") else qn(ns, name)


def parse_requested(el: Element, ns: str) -> tuple[str, ...]:
    names = []
    for name in children(el, qn(ns, "Name")):
        value = text_of(name)
        if value:
            names.append(_qualify(ns, qname_text(name, value)))
    return tuple(names)


def parse_element_data(
    el: Element, ns: str, parse_content: Callable[[Element], ElementContent | None]
) -> ElementData:
    raw_name = el.get(qn(ns, "Name"), el.get("Name"))
    if raw_name is None or not raw_name.strip():
        raise ProtocolError("%s is missing its Name attribute" % label(el.tag))
    raw_valid = el.get(qn(ns, "Valid"), el.get("Valid"))
    valid = True if raw_valid is None else parse_bool(raw_valid, qn(ns, "Valid"))
    content: ElementContent = None
    for c in el:
        if not isinstance(c.tag, str):
            continue
        content = parse_content(c)
        if content is None:
            content = foreign_bytes(c)
        break
    return ElementData(name=_qualify(ns, qname_text(el, raw_name)), valid=valid, content=content)


def parse_job_content(c: Element, ns: str) -> ElementContent | None:
    if c.tag == qn(ns, "JobStatus"):
        return parse_job_status(c, ns)
    if c.tag == qn(ns, "JobDescription"):
        return parse_job_description(c, ns)
    if c.tag == qn(ns, "Documents"):
        return parse_documents(c, ns)
    return None
