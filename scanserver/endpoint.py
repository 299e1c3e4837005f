"""The scan server's one SOAP endpoint: WS-DSP, WS-DSC, WS-Eventing and DPWS metadata by wsa:Action.

DESIGN.md decision 1: ``https://<fqdn>:5362/ScanServer/<server-guid>`` answers every service;
PROTOCOL.md §5.1, §5.2, §7.2, §7.3. :func:`answer` runs synchronously (in the ORM's thread, via
``sync_to_async`` from :mod:`scanserver.asgi`): it checks who may call which action, then hands
the envelope to one :class:`~devices.protocols.soap.Dispatcher` whose handlers translate between
the wire dataclasses and the work functions of :mod:`scanserver.dsp` / :mod:`scanserver.dsc`.

Who may call what:

* WS-DSP actions — an enrolled device (:func:`scanserver.access.authenticate_device`);
* WS-DSC actions — the console, with ``Authorization: Bearer <SMC_SCANSERVER_CONSOLE_TOKEN>``;
* WS-Eventing Subscribe/Renew/GetStatus/Unsubscribe — either of them;
* the DPWS metadata ``Get`` — anyone who reached the endpoint (it lists only public addresses).

DPWS hosted-service types are not named by the Microsoft docs (PROTOCOL.md §10.1); we publish
``dsp:DistributedScanProcessingServiceType`` and ``dsc:RepositoryConfigurationServiceType`` (the
portType name of [MS-BDSRR] §6.1), both at the endpoint address.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from devices.protocols import dsc, dsp, metadata, mtom, soap
from devices.protocols.errors import ProtocolError
from devices.protocols.eventing import ACTION_GET_STATUS, ACTION_RENEW, ACTION_SUBSCRIBE, ACTION_UNSUBSCRIBE
from devices.protocols.eventing_source import register_subscription_manager
from devices.protocols.namespaces import DSC, DSP, WSE, qn
from scanserver import access, conf, events
from scanserver import dsc as dsc_work
from scanserver import dsp as dsp_work
from scanserver.dsp import Caller

logger = logging.getLogger(__name__)

DSP_SERVICE_TYPE = qn(DSP, "DistributedScanProcessingServiceType")
DSC_SERVICE_TYPE = qn(DSC, "RepositoryConfigurationServiceType")
EVENTING_ACTIONS = frozenset({ACTION_SUBSCRIBE, ACTION_RENEW, ACTION_GET_STATUS, ACTION_UNSUBSCRIBE})


@dataclass(frozen=True)
class Call:
    """One request: who (``caller``) and where it was addressed (``endpoint_url``)."""

    caller: Caller
    endpoint_url: str


_CURRENT: contextvars.ContextVar[Call] = contextvars.ContextVar("scanserver_call")


def current() -> Call:
    return _CURRENT.get()


# --------------------------------------------------------------------------------------------
# handlers: envelope → dataclass → work function → body


def _parse(
    envelope: soap.Envelope, parse: Callable[[etree._Element], object], fault: tuple[str, str]
) -> object:
    if envelope.body is None:
        raise soap.SoapFault.sender(fault, "the request has an empty Body")
    try:
        return parse(envelope.body)
    except ProtocolError as exc:
        raise soap.SoapFault.sender(fault, str(exc)) from None


def _dsp_request(envelope: soap.Envelope, expected: type) -> object:
    msg = _parse(envelope, dsp.from_element, dsp.FAULT_INVALID_ARGS)
    if not isinstance(msg, expected):
        raise soap.SoapFault.sender(
            dsp.FAULT_INVALID_ARGS,
            "expected dsp:%s in the Body" % getattr(expected, "element", expected.__name__),
        )
    return msg


def _dsc_request(envelope: soap.Envelope, expected: type) -> object:
    msg = _parse(envelope, dsc.from_element, dsc.FAULT_INVALID_ARGS)
    if not isinstance(msg, expected):
        raise soap.SoapFault.sender(
            dsc.FAULT_INVALID_ARGS,
            "expected dsc:%s in the Body" % getattr(expected, "element", expected.__name__),
        )
    return msg


def _create(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsp_request(envelope, dsp.CreatePostScanJobRequest)
    assert isinstance(req, dsp.CreatePostScanJobRequest)
    job = dsp_work.create_post_scan_job(current().caller, req)
    return dsp.to_element(dsp.CreatePostScanJobResponse(job_token=dsp.format_guid(job.token)))


def _send_image(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsp_request(envelope, dsp.SendImageRequest)
    assert isinstance(req, dsp.SendImageRequest)
    assert envelope.body is not None
    image = envelope.body.find(qn(DSP, "ImageData"))
    cid = mtom.xop_href_cid(image) if image is not None else None
    part = envelope.attachments.get(cid) if cid else None
    if part is None:
        raise soap.SoapFault.sender(
            dsp.FAULT_INVALID_ARGS, "dsp:ImageData names no MIME part of this message"
        )
    dsp_work.send_image(current().caller, req, part)
    return dsp.to_element(dsp.SendImageResponse())


def _end(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsp_request(envelope, dsp.EndPostScanJobRequest)
    assert isinstance(req, dsp.EndPostScanJobRequest)
    dsp_work.end_post_scan_job(current().caller, req.job_token)
    return dsp.to_element(dsp.EndPostScanJobResponse())


def _cancel(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsp_request(envelope, dsp.CancelPostScanJobRequest)
    assert isinstance(req, dsp.CancelPostScanJobRequest)
    dsp_work.cancel_post_scan_job(current().caller, req.job_token)
    return dsp.to_element(dsp.CancelPostScanJobResponse())


def _dsp_elements(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsp_request(envelope, dsp.GetPostScanJobElementsRequest)
    assert isinstance(req, dsp.GetPostScanJobElementsRequest)
    response = dsp_work.get_post_scan_job_elements(current().caller, req)
    return response.action, dsp.to_element(response)


def _repository(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsc_request(envelope, dsc.GetRepositoryElementsRequest)
    assert isinstance(req, dsc.GetRepositoryElementsRequest)
    return dsc.to_element(dsc_work.get_repository_elements(current().caller, req))


def _dsc_cancel(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsc_request(envelope, dsc.CancelPostScanJobRequest)
    assert isinstance(req, dsc.CancelPostScanJobRequest)
    dsc_work.cancel(current().caller, req.job_token)
    return dsc.to_element(dsc.CancelPostScanJobResponse())


def _dsc_elements(envelope: soap.Envelope) -> soap.HandlerResult:
    req = _dsc_request(envelope, dsc.GetPostScanJobElementsRequest)
    assert isinstance(req, dsc.GetPostScanJobElementsRequest)
    return dsc.to_element(dsc_work.get_post_scan_job_elements(current().caller, req))


def _active(envelope: soap.Envelope) -> soap.HandlerResult:
    return dsc.to_element(dsc_work.get_active_jobs(current().caller))


def _history(envelope: soap.Envelope) -> soap.HandlerResult:
    return dsc.to_element(dsc_work.get_job_history(current().caller))


def server_metadata(call: Call) -> metadata.DeviceMetadata:
    server = call.caller.server
    return metadata.DeviceMetadata(
        this_device=metadata.ThisDevice(friendly_name=server.name),
        this_model=metadata.ThisModel(manufacturer="OpenDSM", model_name="OpenDSM scan server"),
        host=metadata.Host(
            address="urn:uuid:%s" % server.guid, types=(), service_id="urn:opendsm:scanserver"
        ),
        hosted=(
            metadata.HostedService(
                addresses=(call.endpoint_url,),
                types=(DSP_SERVICE_TYPE,),
                service_id="urn:opendsm:scanserver:dsp",
            ),
            metadata.HostedService(
                addresses=(call.endpoint_url,),
                types=(DSC_SERVICE_TYPE,),
                service_id="urn:opendsm:scanserver:dsc",
            ),
        ),
    )


def _metadata(envelope: soap.Envelope) -> soap.HandlerResult:
    return metadata.ACTION_GET_RESPONSE, metadata.metadata_to_element(server_metadata(current()))


def _wrap_refusals(handler: soap.Handler) -> soap.Handler:
    def wrapped(envelope: soap.Envelope) -> soap.HandlerResult:
        try:
            return handler(envelope)
        except access.Refused as exc:
            call = current()
            operation = envelope.headers.action.rpartition("/")[2]
            access.record_refusal(call.caller.device, exc, operation, call.caller.peer)
            raise exc.fault from None

    return wrapped


def _build_dispatcher() -> soap.Dispatcher:
    d = soap.Dispatcher()
    handlers: dict[str, soap.Handler] = {
        dsp.CreatePostScanJobRequest.action: _create,
        dsp.SendImageRequest.action: _send_image,
        dsp.EndPostScanJobRequest.action: _end,
        dsp.CancelPostScanJobRequest.action: _cancel,
        dsp.GetPostScanJobElementsRequest.action: _dsp_elements,
        dsc.GetRepositoryElementsRequest.action: _repository,
        dsc.CancelPostScanJobRequest.action: _dsc_cancel,
        dsc.GetPostScanJobElementsRequest.action: _dsc_elements,
        dsc.GetActiveJobsRequest.action: _active,
        dsc.GetJobHistoryRequest.action: _history,
        metadata.ACTION_GET: _metadata,
    }
    d.register_all({action: _wrap_refusals(handler) for action, handler in handlers.items()})
    register_subscription_manager(d, events.manager())
    return d


DISPATCHER = _build_dispatcher()


# --------------------------------------------------------------------------------------------
# the entry point


def is_console(token: str) -> bool:
    expected = conf.console_token()
    return bool(expected and token) and hmac.compare_digest(expected.encode(), token.encode())


def _authorise(call: Call, action: str) -> None:
    caller = call.caller
    if action.startswith(DSP + "/"):
        if caller.device is None:
            raise access.not_enrolled(caller.peer)
    elif action.startswith(DSC + "/"):
        if not caller.console:
            raise access.refused(
                access.FAULT_ACCESS_DENIED,
                "console_refused",
                "OpenDSM: WS-DSC needs the console's token (SMC_SCANSERVER_CONSOLE_TOKEN)",
            )
    elif action.startswith(WSE + "/") and caller.device is None and not caller.console:
        raise access.not_enrolled(caller.peer)


def answer(call: Call, envelope: soap.Envelope) -> tuple[int, bytes]:
    """(HTTP status, response bytes) for one parsed request. Never raises."""
    relates = envelope.headers.message_id or None
    try:
        _authorise(call, envelope.headers.action)
    except access.Refused as exc:
        access.record_refusal(
            call.caller.device, exc, envelope.headers.action.rpartition("/")[2] or "request", call.caller.peer
        )
        return exc.fault.http_status, soap.build_fault(exc.fault, relates)
    events.manager(call.endpoint_url)
    token = _CURRENT.set(call)
    try:
        return DISPATCHER.handle_envelope(envelope)
    finally:
        _CURRENT.reset(token)
