"""WS-DSD: event bodies in dsd with wscn content, parsed from either namespace (PROTOCOL.md §4)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import dsd, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import DSD, WSCN
from devices.protocols.wsscan import actions
from devices.protocols.wsscan.events import JobEndStateEvent, ScanAvailableEvent, parse_event

GOLDEN = Path(__file__).parent / "golden"
DSD_FILES = sorted(p.name for p in (GOLDEN / "dsd").glob("*.xml"))


def canonical(el: etree._Element) -> bytes:
    el = copy.deepcopy(el)
    for node in el.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(el, method="c14n", exclusive=True)


@pytest.mark.parametrize("name", DSD_FILES)
def test_dsd_golden_round_trip(name: str) -> None:
    el = xmlsafe.parse((GOLDEN / "dsd" / name).read_bytes())
    assert etree.QName(el).namespace == DSD and etree.QName(el[0]).namespace == DSD
    event = dsd.parse_dsd_event(el)
    assert canonical(dsd.event_to_element(event)) == canonical(el)
    # The same event in the plain WS-Scan form parses to the same dataclass.
    wscn_el = xmlsafe.parse((GOLDEN / "wsscan" / name).read_bytes())
    assert dsd.parse_dsd_event(wscn_el) == event
    assert dsd.event_action(event) == type(event).ACTION
    assert dsd.event_action(event).startswith(WSCN + "/")


def test_every_dsd_event_has_a_golden_sample() -> None:
    stems = {n.removesuffix(".xml") for n in DSD_FILES}
    assert len(stems) >= 5
    assert {"job_end_state_event", "scanner_status_condition_event"} <= stems


def test_dsd_operation_set() -> None:
    assert set(dsd.DSD_OPERATIONS) == {
        actions.ACTION_GET_SCANNER_ELEMENTS,
        actions.ACTION_VALIDATE_SCAN_TICKET,
        actions.ACTION_GET_JOB_ELEMENTS,
        actions.ACTION_GET_ACTIVE_JOBS,
        actions.ACTION_GET_JOB_HISTORY,
    }
    assert dsd.DSD_OPERATIONS[actions.ACTION_GET_JOB_HISTORY] == WSCN + "/GetJobHistoryResponse"
    assert not dsd.is_dsd_operation(actions.ACTION_CREATE_SCAN_JOB)
    assert actions.ACTION_SCAN_AVAILABLE_EVENT not in dsd.DSD_EVENT_ACTIONS
    assert len(dsd.DSD_EVENT_ACTIONS) == 6


def test_scan_available_is_not_a_dsd_event() -> None:
    event = ScanAvailableEvent(client_context="c", scan_identifier="s")
    with pytest.raises(ProtocolError, match="not a WS-DSD event"):
        dsd.event_to_element(event)
    with pytest.raises(ProtocolError, match="not a WS-DSD event"):
        dsd.parse_dsd_event(event.to_element())


def test_mixed_namespaces_and_foreign_prefixes() -> None:
    raw = (GOLDEN / "dsd" / "job_end_state_event.xml").read_text()
    # Outer element in dsd under another prefix, wrapper left in wscn: still the same event.
    mixed = (
        raw.replace("dsd:JobEndState>", "wscn:JobEndState>")
        .replace("dsd:", "d:")
        .replace("xmlns:dsd=", "xmlns:d=")
    )
    event = parse_event(xmlsafe.parse(mixed.encode()))
    assert isinstance(event, JobEndStateEvent)
    assert event.end_state.job_id == 7 and event.end_state.job_completed_state == "Completed"
    assert event.end_state.job_originating_user_name == "EXAMPLE\\alice"


def test_unknown_event_and_bad_content() -> None:
    with pytest.raises(ProtocolError, match="not a WS-Scan event"):
        parse_event(etree.Element("{%s}PrinterEvent" % DSD))
    raw = (GOLDEN / "dsd" / "scanner_status_condition_event.xml").read_text().replace('Id="1543"', 'Id="x"')
    with pytest.raises(ProtocolError, match="Id must be an integer"):
        dsd.parse_dsd_event(xmlsafe.parse(raw.encode()))
