"""WS-Scan event bodies and the ScanAvailableEvent subscription extensions (PROTOCOL.md §4.7;
WDD: scannerelementschangeevent.md, elementchanges.md, scannerstatussummaryevent.md,
scannerstatusconditionevent.md, scannerstatusconditionclearedevent.md, jobstatusevent.md,
jobendstateevent.md, jobendstate.md, scanavailableevent.md, scandestinations.md,
destinationresponses.md).

Every event takes a ``ns`` argument for its outer element and first-level wrapper: WS-DSD
devices write ``dsd:JobEndStateEvent/dsd:JobEndState/wscn:JobId`` (see ``devices.protocols.dsd``);
parsing accepts either namespace there. ``ScanDestinations`` and ``DestinationResponses`` are
the extension elements the eventing module embeds in Subscribe / SubscribeResponse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from lxml import etree

from devices.protocols import xmlfields as x
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import DSD, WSCN, qn
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan.elements import (
    SCANNER_STATE_REASONS,
    SCANNER_STATES,
    DeviceCondition,
    ScannerConfiguration,
    ScannerDescription,
    build_reasons,
    state_reasons_from,
)
from devices.protocols.wsscan.messages import JOB_COMPLETED_STATES, JOB_STATE_REASONS, JobStatus
from devices.protocols.wsscan.ticket import ScanTicket

# Namespaces accepted for an event's outer element and its first-level wrapper.
EVENT_NAMESPACES: tuple[str, ...] = (WSCN, DSD)


def _outer(ns: str, local: str) -> etree._Element:
    return x.new_wscn(qn(ns, local))


def _wrapper(el: etree._Element, local: str, nss: Iterable[str] = EVENT_NAMESPACES) -> etree._Element:
    return x.require_local(el, local, nss)


@dataclass(frozen=True)
class ScannerElementsChangeEvent:
    """ElementChanges carries the complete new version of each changed section."""

    ACTION: ClassVar[str] = a.ACTION_SCANNER_ELEMENTS_CHANGE_EVENT
    description: ScannerDescription | None = None
    configuration: ScannerConfiguration | None = None
    default_ticket: ScanTicket | None = None

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "ScannerElementsChangeEvent")
        changes = x.sub_local(el, "ElementChanges", ns=ns)
        if self.description is not None:
            changes.append(self.description.to_element())
        if self.configuration is not None:
            changes.append(self.configuration.to_element())
        if self.default_ticket is not None:
            changes.append(self.default_ticket.to_element(qn(WSCN, "DefaultScanTicket")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerElementsChangeEvent:
        changes = _wrapper(el, "ElementChanges")
        desc = x.child_local(changes, "ScannerDescription")
        conf = x.child_local(changes, "ScannerConfiguration")
        ticket = x.child_local(changes, "DefaultScanTicket")
        return cls(
            description=None if desc is None else ScannerDescription.from_element(desc),
            configuration=None if conf is None else ScannerConfiguration.from_element(conf),
            default_ticket=None if ticket is None else ScanTicket.from_element(ticket),
        )


@dataclass(frozen=True)
class ScannerStatusSummaryEvent:
    ACTION: ClassVar[str] = a.ACTION_SCANNER_STATUS_SUMMARY_EVENT
    scanner_state: str
    scanner_state_reasons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        x.check_token(self.scanner_state, SCANNER_STATES, "ScannerState")
        for r in self.scanner_state_reasons:
            x.check_token(r, SCANNER_STATE_REASONS, "ScannerStateReason")

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "ScannerStatusSummaryEvent")
        summary = x.sub_local(el, "StatusSummary", ns=ns)
        x.sub_local(summary, "ScannerState", self.scanner_state)
        build_reasons(summary, "ScannerStateReasons", "ScannerStateReason", self.scanner_state_reasons)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerStatusSummaryEvent:
        summary = _wrapper(el, "StatusSummary")
        return cls(
            scanner_state=x.req_text(summary, "ScannerState"),
            scanner_state_reasons=state_reasons_from(
                summary, SCANNER_STATE_REASONS, "ScannerStateReasons", "ScannerStateReason"
            ),
        )


@dataclass(frozen=True)
class ScannerStatusConditionEvent:
    ACTION: ClassVar[str] = a.ACTION_SCANNER_STATUS_CONDITION_EVENT
    condition: DeviceCondition

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "ScannerStatusConditionEvent")
        el.append(self.condition.to_element(qn(ns, "DeviceCondition")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerStatusConditionEvent:
        return cls(condition=DeviceCondition.from_element(_wrapper(el, "DeviceCondition")))


@dataclass(frozen=True)
class ScannerStatusConditionClearedEvent:
    ACTION: ClassVar[str] = a.ACTION_SCANNER_STATUS_CONDITION_CLEARED_EVENT
    condition_id: int
    clear_time: datetime

    def __post_init__(self) -> None:
        x.check_bounds(self.condition_id, 1, 2147483648, "ConditionId")

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "ScannerStatusConditionClearedEvent")
        cleared = x.sub_local(el, "DeviceConditionCleared", ns=ns)
        x.sub_local(cleared, "ConditionId", str(self.condition_id))
        x.sub_datetime(cleared, "ConditionClearTime", self.clear_time)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerStatusConditionClearedEvent:
        cleared = _wrapper(el, "DeviceConditionCleared")
        return cls(
            condition_id=x.req_int(cleared, "ConditionId"),
            clear_time=x.datetime_of(x.require_local(cleared, "ConditionClearTime")),
        )


@dataclass(frozen=True)
class JobStatusEvent:
    ACTION: ClassVar[str] = a.ACTION_JOB_STATUS_EVENT
    status: JobStatus

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "JobStatusEvent")
        el.append(self.status.to_element(qn(ns, "JobStatus")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> JobStatusEvent:
        return cls(status=JobStatus.from_element(_wrapper(el, "JobStatus")))


@dataclass(frozen=True)
class JobEndState:
    job_id: int
    job_completed_state: str
    job_completed_state_reasons: tuple[str, ...] = ()
    job_name: str = ""
    job_originating_user_name: str = ""
    scans_completed: int = 0
    job_completed_time: datetime | None = None

    def __post_init__(self) -> None:
        x.check_bounds(self.job_id, 1, None, "JobId")
        x.check_token(self.job_completed_state, JOB_COMPLETED_STATES, "JobCompletedState")
        for r in self.job_completed_state_reasons:
            x.check_token(r, JOB_STATE_REASONS, "JobStateReason")
        x.check_bounds(self.scans_completed, 0, None, "ScansCompleted")

    def to_element(self, tag: str = qn(WSCN, "JobEndState")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_local(el, "JobId", str(self.job_id))
        x.sub_local(el, "JobCompletedState", self.job_completed_state)
        build_reasons(el, "JobCompletedStateReasons", "JobStateReason", self.job_completed_state_reasons)
        x.sub_local(el, "JobName", self.job_name)
        x.sub_local(el, "JobOriginatingUserName", self.job_originating_user_name)
        x.sub_local(el, "ScansCompleted", str(self.scans_completed))
        x.sub_datetime(el, "JobCompletedTime", self.job_completed_time)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> JobEndState:
        return cls(
            job_id=x.req_int(el, "JobId"),
            job_completed_state=x.req_text(el, "JobCompletedState"),
            job_completed_state_reasons=state_reasons_from(
                el, JOB_STATE_REASONS, "JobCompletedStateReasons", "JobStateReason"
            ),
            job_name=x.opt_text(el, "JobName") or "",
            job_originating_user_name=x.opt_text(el, "JobOriginatingUserName") or "",
            scans_completed=x.opt_int(el, "ScansCompleted") or 0,
            job_completed_time=x.opt_datetime(el, "JobCompletedTime"),
        )


@dataclass(frozen=True)
class JobEndStateEvent:
    ACTION: ClassVar[str] = a.ACTION_JOB_END_STATE_EVENT
    end_state: JobEndState

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "JobEndStateEvent")
        el.append(self.end_state.to_element(qn(ns, "JobEndState")))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> JobEndStateEvent:
        return cls(end_state=JobEndState.from_element(_wrapper(el, "JobEndState")))


@dataclass(frozen=True)
class ScanAvailableEvent:
    ACTION: ClassVar[str] = a.ACTION_SCAN_AVAILABLE_EVENT
    client_context: str
    scan_identifier: str

    def to_element(self, ns: str = WSCN) -> etree._Element:
        el = _outer(ns, "ScanAvailableEvent")
        x.sub_local(el, "ClientContext", self.client_context)
        x.sub_local(el, "ScanIdentifier", self.scan_identifier)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScanAvailableEvent:
        return cls(
            client_context=x.req_text(el, "ClientContext", EVENT_NAMESPACES),
            scan_identifier=x.req_text(el, "ScanIdentifier", EVENT_NAMESPACES),
        )


Event = (
    ScannerElementsChangeEvent
    | ScannerStatusSummaryEvent
    | ScannerStatusConditionEvent
    | ScannerStatusConditionClearedEvent
    | JobStatusEvent
    | JobEndStateEvent
    | ScanAvailableEvent
)
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ScannerElementsChangeEvent,
        ScannerStatusSummaryEvent,
        ScannerStatusConditionEvent,
        ScannerStatusConditionClearedEvent,
        JobStatusEvent,
        JobEndStateEvent,
        ScanAvailableEvent,
    )
}


def parse_event(el: etree._Element) -> Event:
    """Parse any WS-Scan or WS-DSD event body (outer element in wscn or dsd)."""
    if not isinstance(el.tag, str):
        raise ProtocolError("not an event element")
    q = etree.QName(el)
    cls = EVENT_TYPES.get(q.localname) if q.namespace in EVENT_NAMESPACES else None
    if cls is None:
        raise ProtocolError("%s is not a WS-Scan event body" % el.tag)
    return cls.from_element(el)


# -- Subscribe / SubscribeResponse extensions ---------------------------------------------


@dataclass(frozen=True)
class ScanDestination:
    client_display_name: str
    client_context: str

    def __post_init__(self) -> None:
        if not self.client_display_name or not self.client_context:
            raise ProtocolError("ScanDestination needs a ClientDisplayName and a ClientContext")


@dataclass(frozen=True)
class ScanDestinations:
    destinations: tuple[ScanDestination, ...]

    def __post_init__(self) -> None:
        if not self.destinations:
            raise ProtocolError("ScanDestinations must hold at least one ScanDestination")

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "ScanDestinations"))
        for d in self.destinations:
            dest = x.sub_local(el, "ScanDestination")
            x.sub_local(dest, "ClientDisplayName", d.client_display_name)
            x.sub_local(dest, "ClientContext", d.client_context)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScanDestinations:
        found = []
        for dest in x.children_local(el, "ScanDestination"):
            # The WDD example writes ClientDisplayString; the schema says ClientDisplayName.
            name = x.opt_text(dest, "ClientDisplayName") or x.opt_text(dest, "ClientDisplayString")
            if name is None:
                raise ProtocolError("ScanDestination lacks its required ClientDisplayName element")
            found.append(
                ScanDestination(client_display_name=name, client_context=x.req_text(dest, "ClientContext"))
            )
        return cls(destinations=tuple(found))


@dataclass(frozen=True)
class DestinationResponse:
    client_context: str
    destination_token: str


@dataclass(frozen=True)
class DestinationResponses:
    responses: tuple[DestinationResponse, ...]

    def to_element(self) -> etree._Element:
        el = x.new_wscn(qn(WSCN, "DestinationResponses"))
        for r in self.responses:
            resp = x.sub_local(el, "DestinationResponse")
            x.sub_local(resp, "ClientContext", r.client_context)
            x.sub_local(resp, "DestinationToken", r.destination_token)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> DestinationResponses:
        return cls(
            responses=tuple(
                DestinationResponse(
                    client_context=x.req_text(r, "ClientContext"),
                    destination_token=x.req_text(r, "DestinationToken"),
                )
                for r in x.children_local(el, "DestinationResponse")
            )
        )

    def token_for(self, client_context: str) -> str | None:
        for r in self.responses:
            if r.client_context == client_context:
                return r.destination_token
        return None


def find_scan_destinations(parent: etree._Element) -> ScanDestinations | None:
    """The ScanDestinations extension among the children of a ``wse:Subscribe``, if any."""
    found = x.child_local(parent, "ScanDestinations")
    return None if found is None else ScanDestinations.from_element(found)


def find_destination_responses(parent: etree._Element) -> DestinationResponses | None:
    """The DestinationResponses extension among the children of a ``wse:SubscribeResponse``."""
    found = x.child_local(parent, "DestinationResponses")
    return None if found is None else DestinationResponses.from_element(found)
