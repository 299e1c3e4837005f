"""The WS-Eventing sink for WSD "scan to computer" (PROTOCOL.md §4.7, §7.3; DESIGN.md "two ways").

A WSD device cannot present our bearer token, so the sink recognises the sender by WS-Addressing:
the ``NotifyTo`` EPR we give in each Subscribe carries a reference parameter
``odsm:SinkKey`` (a random secret stored on the ``Subscription`` row), and WS-Eventing makes the
device echo it as a header of every notification. An event without a known key is refused.

``ScanAvailableEvent{ClientContext, ScanIdentifier}`` → the destination of that ClientContext in
the subscription (each one names a scan process) → a ``ScanJob`` (source ``wsd``, ``receiving``)
→ :func:`scanserver.wsdpull.start` pulls the pages in the background. The answer to the device
is the one-way 202 at once: the device's 60 s CreateScanJob deadline starts now.
"""

from __future__ import annotations

import logging
import secrets

from django.db import transaction
from lxml import etree

from devices.models import DeviceEvent, Subscription, SubscriptionKind
from devices.protocols import eventing, soap
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import ODSM, qn
from devices.protocols.wsscan import events as ev
from scanprocesses.models import ProcessState, ScanProcess
from scanserver import wire
from scanserver.dsp import Caller
from scanserver.models import JobSource, ScanJob

logger = logging.getLogger(__name__)

SINK_KEY = qn(ODSM, "SinkKey")
INVALID_MESSAGE = (eventing.INVALID_MESSAGE[0], eventing.INVALID_MESSAGE[1])
MAX_SINK_KEY = wire.max_length(Subscription, "sink_key")


def new_sink_key() -> str:
    return secrets.token_urlsafe(24)


def notify_to(sink_url: str, key: str) -> eventing.EndpointReference:
    """The NotifyTo EPR to put in a Subscribe: the sink URL plus our key as a reference parameter."""
    param = etree.Element(SINK_KEY, nsmap={"odsm": ODSM})
    param.text = key
    return eventing.EndpointReference(sink_url, eventing.Elements.of([param]))


def _key_of(envelope: soap.Envelope) -> str:
    for header in envelope.header_elements:
        if header.tag == SINK_KEY:
            return (header.text or "").strip()
    return ""


def _refuse(reason: str) -> soap.SoapFault:
    return soap.SoapFault.sender(INVALID_MESSAGE, reason)


def accept_scan_available(subscription: Subscription, event: ev.ScanAvailableEvent) -> ScanJob:
    """Create the receiving job for one ScanAvailableEvent (the pull is started after commit)."""
    destination = next(
        (d for d in subscription.destinations if d.get("client_context") == event.client_context), None
    )
    if destination is None or not destination.get("token"):
        raise _refuse("unknown ClientContext %r" % event.client_context[:80])
    process = (
        ScanProcess.objects.filter(guid=destination.get("process"), state=ProcessState.PUBLISHED)
        .select_related("published_version")
        .first()
    )
    if process is None or process.published_version is None:
        DeviceEvent.objects.create(
            device=subscription.device,
            kind="scan_refused",
            detail={"reason": "the destination's scan process is not published", "destination": destination},
        )
        raise _refuse("the scan process of destination %r is not published" % destination.get("display_name"))
    from scanserver import wsdpull

    with transaction.atomic():
        job = ScanJob.objects.create(
            source=JobSource.WSD,
            server=subscription.device.scan_server or process.scan_server,
            device=subscription.device,
            process=process,
            process_version=process.published_version,
            psp_identifier=str(process.guid).upper(),
            psp_display_name=process.display_name,
            document_root_name=process.document_root_name,
            user_name=str(destination.get("display_name", ""))[:255],
            state_reasons=["None"],
        )
        job.announce()
        job_id = job.pk
        token = str(destination["token"])
        transaction.on_commit(lambda: wsdpull.start(job_id, event.scan_identifier, token))
    logger.info(
        "ScanAvailableEvent from %s: job %s for %r", subscription.device.name, job.token, process.display_name
    )
    return job


def answer(caller: Caller, envelope: soap.Envelope) -> tuple[int, bytes]:
    """(HTTP status, body) for one notification posted to the sink. Never raises."""
    relates = envelope.headers.message_id or None
    try:
        key = _key_of(envelope)
        # Only a key that fits the column can be ours; a longer one is refused before any query.
        wire.check_str("the odsm:SinkKey header", key, MAX_SINK_KEY, INVALID_MESSAGE)
        subscription = (
            Subscription.objects.select_related("device", "device__scan_server")
            .filter(sink_key=key, kind=SubscriptionKind.SCAN_AVAILABLE, device__enabled=True)
            .first()
            if key
            else None
        )
        if subscription is None:
            logger.warning("event from %s refused: no subscription matches its sink key", caller.peer)
            raise _refuse("OpenDSM: this event does not belong to a subscription of this scan server")
        if envelope.headers.action != ev.ScanAvailableEvent.ACTION or envelope.body is None:
            # Other events are not ours to act upon here; acknowledge them.
            return 202, b""
        try:
            parsed = ev.parse_event(envelope.body)
        except ProtocolError as exc:
            raise _refuse(str(exc)) from None
        if not isinstance(parsed, ev.ScanAvailableEvent):
            raise _refuse("expected a ScanAvailableEvent body")
        accept_scan_available(subscription, parsed)
        return 202, b""
    except soap.SoapFault as fault:
        return fault.http_status, soap.build_fault(fault, relates)
