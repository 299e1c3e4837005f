"""The WS-DSD view of WS-Scan: what a Distributed Scan Management device hosts for the console
(PROTOCOL.md §4 "WS-DSD = the subset..."; WDD: distributed-scan-device-web-service-protocol-summary.md,
ws-dsd-operation-elements.md, the DSD JobEndStateEvent and ScannerStatusConditionEvent examples).

WS-DSD reuses the WS-Scan operations and Action URIs. Its event bodies put the outer element and
its first-level wrapper in the ``dsd`` namespace and everything inside in ``wscn``
(``dsd:JobEndStateEvent/dsd:JobEndState/wscn:JobId``) while the Action stays the wscn one.
"""

from __future__ import annotations

from lxml import etree

from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import DSD
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan.events import (
    Event,
    JobEndStateEvent,
    JobStatusEvent,
    ScannerElementsChangeEvent,
    ScannerStatusConditionClearedEvent,
    ScannerStatusConditionEvent,
    ScannerStatusSummaryEvent,
    parse_event,
)

# Operations a DSM device must host for the console (request action -> response action).
DSD_OPERATIONS: dict[str, str] = {
    req: a.RESPONSE_ACTIONS[req]
    for req in (
        a.ACTION_GET_SCANNER_ELEMENTS,
        a.ACTION_VALIDATE_SCAN_TICKET,
        a.ACTION_GET_JOB_ELEMENTS,
        a.ACTION_GET_ACTIVE_JOBS,
        a.ACTION_GET_JOB_HISTORY,
    )
}
# The consumer pull operations a DSD device may host in addition (sane-airscan, Windows WIA).
WSSCAN_PULL_OPERATIONS: dict[str, str] = {
    req: a.RESPONSE_ACTIONS[req]
    for req in (a.ACTION_CREATE_SCAN_JOB, a.ACTION_RETRIEVE_IMAGE, a.ACTION_CANCEL_JOB)
}
DSD_EVENT_ACTIONS: tuple[str, ...] = (
    a.ACTION_JOB_STATUS_EVENT,
    a.ACTION_JOB_END_STATE_EVENT,
    a.ACTION_SCANNER_ELEMENTS_CHANGE_EVENT,
    a.ACTION_SCANNER_STATUS_SUMMARY_EVENT,
    a.ACTION_SCANNER_STATUS_CONDITION_EVENT,
    a.ACTION_SCANNER_STATUS_CONDITION_CLEARED_EVENT,
)
DsdEvent = (
    JobStatusEvent
    | JobEndStateEvent
    | ScannerElementsChangeEvent
    | ScannerStatusSummaryEvent
    | ScannerStatusConditionEvent
    | ScannerStatusConditionClearedEvent
)
_DSD_EVENT_TYPES = (
    JobStatusEvent,
    JobEndStateEvent,
    ScannerElementsChangeEvent,
    ScannerStatusSummaryEvent,
    ScannerStatusConditionEvent,
    ScannerStatusConditionClearedEvent,
)


def is_dsd_operation(action: str) -> bool:
    return action in DSD_OPERATIONS


def event_to_element(event: Event) -> etree._Element:
    """The DSD body of ``event`` (outer element and wrapper in dsd, content in wscn)."""
    if not isinstance(event, _DSD_EVENT_TYPES):
        raise ProtocolError("%s is not a WS-DSD event" % type(event).__name__)
    return event.to_element(ns=DSD)


def event_action(event: Event) -> str:
    """The wsa:Action of a DSD event: the WS-Scan one, whatever the body namespace."""
    return event.ACTION


def parse_dsd_event(el: etree._Element) -> DsdEvent:
    """Parse a DSD event body, whether the device wrote it in dsd or in wscn."""
    event = parse_event(el)
    if not isinstance(event, _DSD_EVENT_TYPES):
        raise ProtocolError("%s is not a WS-DSD event" % el.tag)
    return event
