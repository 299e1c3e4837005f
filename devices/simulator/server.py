"""HTTP face of one simulated device: DPWS metadata, directed probe, WS-Scan / WS-DSD and the
WS-Eventing source, on aiohttp (PROTOCOL.md §4, §7.1 directed probe, §7.2, §7.3, §8).

This layer only reads HTTP, parses with :mod:`devices.protocols.mtom` / :mod:`~devices.protocols.soap`,
dispatches by ``wsa:Action`` through :class:`soap.Dispatcher`, and writes the answer; the device's
behaviour is :class:`~devices.simulator.device.ScanDevice`. One server listens on one port of
127.0.0.1 and serves these paths:

==============================  ===============================================================
``/device``                     the device's XAddr: WS-Transfer Get (DPWS metadata), Probe
``/StableWSDiscoveryEndpoint/…`` directed probe (``discovery.DIRECTED_PROBE_PATH``)
``/scan``                       the hosted scan service: WS-Scan operations, Subscribe, and the
                                subscription manager (Renew, GetStatus, Unsubscribe)
``/_control/…``                 the JSON control API (:mod:`devices.simulator.control`)
``/panel/…``                    the front panel, when mounted (:mod:`devices.simulator.panel`)
==============================  ===============================================================

Hostile input: request bodies are capped (``max_body``, HTTP 413 above it), every byte goes
through the hardened parser, and any refusal is a SOAP fault (400/500) or a 4xx — never a crash.
RetrieveImage answers MTOM (root part first, image next) and honours the transfer faults the
device holds: a throttled write for "slow transfer", a connection cut after half the body for
"drop" (the job then ends Aborted/ImageTransferError, as WDD:retrieveimageresponse.md says).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from devices.protocols import discovery, metadata, mtom, soap
from devices.protocols.errors import ProtocolError
from devices.protocols.eventing_source import SubscriptionManager, register_subscription_manager
from devices.protocols.namespaces import WSCN
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan import messages as m
from devices.protocols.wsscan import validation
from devices.protocols.wsscan.elements import ScannerElement
from devices.protocols.wsscan.ticket import FLAG_PATHS
from devices.simulator import control, scanner
from devices.simulator.device import DeviceError, Job, ScanDevice, Transfer
from devices.simulator.events import SUPPORTED_ACTIONS, EventSource

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # device requests are small SOAP messages
_MTOM_LIMITS = mtom.MtomLimits(
    max_root_bytes=MAX_BODY, max_part_bytes=MAX_BODY, max_parts=4, max_total_bytes=MAX_BODY
)
_SOAP_RESPONSE = {"Content-Type": soap.CONTENT_TYPE}
SEND_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 0
    max_body: int = MAX_BODY
    dsd_events: bool = False
    allow_remote_notify: bool = False
    metadata_version: int = 1


def _fault(exc: DeviceError) -> soap.SoapFault:
    return soap.SoapFault(exc.code, (WSCN, exc.subcode), exc.reason)


def _invalid_args(reason: str) -> soap.SoapFault:
    return soap.SoapFault.sender(a.FAULT_INVALID_ARGS, reason)


def _body(envelope: soap.Envelope, local: str) -> Any:
    if envelope.body is None:
        raise _invalid_args("the request has an empty Body")
    try:
        parsed = m.parse_message(envelope.body)
    except ProtocolError as exc:
        raise _invalid_args(str(exc)) from None
    if type(parsed).__name__ != local:
        raise _invalid_args("expected wscn:%s in the Body" % local)
    return parsed


def isolated_network(route_table: str = "/proc/net/route") -> bool:
    """True when this network namespace has no IPv4 default route: nothing sent here can leave
    the namespace's own links (the veth test hosts). The host's namespace always has one."""
    try:
        with open(route_table) as table:
            next(table, None)
            return not any(line.split()[1] == "00000000" for line in table if len(line.split()) > 1)
    except OSError:
        return False


class DeviceServer:
    """aiohttp application for one :class:`ScanDevice`; ``start()`` binds, ``stop()`` unbinds."""

    def __init__(self, device: ScanDevice, options: ServerOptions | None = None) -> None:
        self.device = device
        self.options = options or ServerOptions()
        if self.options.host not in ("127.0.0.1", "::1", "localhost") and not isolated_network():
            # Network hygiene: the simulator never listens beyond loopback, except inside a
            # network namespace with no default route (the test hosts `ip netns` + veth make).
            raise ValueError(
                "the simulator binds loopback only, not %s (other addresses are allowed only in a "
                "network namespace without a default route)" % self.options.host
            )
        self.port = 0
        self.events: EventSource | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._spool = tempfile.TemporaryDirectory(prefix="simdev-")
        self.device_dispatcher = soap.Dispatcher()
        self.scan_dispatcher = soap.Dispatcher()
        self.app = web.Application(client_max_size=self.options.max_body)
        self.app.router.add_post("/device", self._device_endpoint)
        self.app.router.add_post(discovery.DIRECTED_PROBE_PATH, self._device_endpoint)
        self.app.router.add_post("/scan", self._scan_endpoint)
        self.app[control.SERVER_KEY] = self
        control.add_routes(self.app)

    # ---- addresses ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = self.options.host if ":" not in self.options.host else "[%s]" % self.options.host
        return "http://%s:%d" % (host, self.port)

    @property
    def device_url(self) -> str:
        return self.base_url + "/device"

    @property
    def scan_url(self) -> str:
        return self.base_url + "/scan"

    @property
    def control_url(self) -> str:
        return self.base_url + "/_control"

    def target_service(self) -> discovery.TargetService:
        return discovery.TargetService(
            address=self.device.identity.endpoint,
            xaddrs=(self.device_url,),
            metadata_version=self.options.metadata_version,
        )

    def device_metadata(self) -> metadata.DeviceMetadata:
        ident = self.device.identity
        return metadata.DeviceMetadata(
            this_device=metadata.ThisDevice(ident.name, ident.firmware, ident.serial),
            this_model=metadata.ThisModel(
                manufacturer=ident.manufacturer,
                model_name=ident.model,
                model_number=ident.model_number,
                presentation_url=self.control_url + "/status",
                device_category=("Scanners",),
            ),
            host=metadata.Host(
                ident.endpoint, (discovery.DEVICE_TYPE, discovery.SCAN_DEVICE_TYPE), "urn:opendsm:host"
            ),
            hosted=(
                metadata.HostedService(
                    addresses=(self.scan_url,),
                    types=(metadata.SCANNER_SERVICE_TYPE,),
                    service_id="urn:opendsm:scan",
                    compatible_id=metadata.SCANNER_SERVICE_COMPATIBLE_ID,
                ),
            ),
        )

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port)
        await site.start()
        # With port 0 the OS picks a free port; the runner reports what was bound.
        self.port = int(self._runner.addresses[0][1])
        manager = SubscriptionManager(self.scan_url, supported_actions=SUPPORTED_ACTIONS)
        self.events = EventSource(
            self.device,
            manager,
            dsd_bodies=self.options.dsd_events,
            allow_remote=self.options.allow_remote_notify,
        )
        await self.events.attach()
        self._register()
        self._tasks.append(asyncio.ensure_future(self._housekeeping()))
        log.info("simulated device %s serving on %s", self.device.identity.name, self.base_url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.events is not None:
            await self.events.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._spool.cleanup()

    async def _housekeeping(self) -> None:
        """Abort jobs past their RetrieveImage deadline and drop expired subscriptions."""
        interval = max(0.02, min(1.0, self.device.retrieve_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            self.device.expire_jobs()
            if self.events is not None:
                self.events.manager.expire()

    def _register(self) -> None:
        assert self.events is not None
        self.device_dispatcher.register(metadata.ACTION_GET, self._metadata_get)
        register_subscription_manager(self.scan_dispatcher, self.events.manager, self.events.extension_hook)
        self.scan_dispatcher.register_all(
            {
                a.ACTION_GET_SCANNER_ELEMENTS: self._get_scanner_elements,
                a.ACTION_VALIDATE_SCAN_TICKET: self._validate_scan_ticket,
                a.ACTION_CREATE_SCAN_JOB: self._create_scan_job,
                a.ACTION_CANCEL_JOB: self._cancel_job,
                a.ACTION_GET_JOB_ELEMENTS: self._get_job_elements,
                a.ACTION_GET_ACTIVE_JOBS: self._get_active_jobs,
                a.ACTION_GET_JOB_HISTORY: self._get_job_history,
                # RetrieveImage answers MTOM and is handled at the HTTP level; registering it
                # keeps the Dispatcher from calling it "not supported" if it ever gets there.
                a.ACTION_RETRIEVE_IMAGE: self._retrieve_not_here,
            }
        )

    # ---- HTTP --------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> soap.Envelope | web.Response:
        """The request's envelope, or the response that refuses it."""
        if request.content_length is not None and request.content_length > self.options.max_body:
            return web.Response(status=413, text="request body over %d bytes" % self.options.max_body)
        try:
            data = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="request body over %d bytes" % self.options.max_body)
        try:
            msg = await asyncio.to_thread(
                mtom.read_soap_http,
                request.headers.get("Content-Type", ""),
                data,
                self._spool.name,
                _MTOM_LIMITS,
                fsync=False,
            )
        except soap.SoapFault as fault:
            log.info("refused request to %s: %s", request.path, fault.reason)
            return self._fault_response(fault, None)
        msg.discard()  # no operation of a scanner takes attachments
        return msg.envelope

    def _fault_response(self, fault: soap.SoapFault, relates_to: str | None) -> web.Response:
        return web.Response(
            status=fault.http_status, body=soap.build_fault(fault, relates_to), headers=_SOAP_RESPONSE
        )

    def _answer(self, dispatcher: soap.Dispatcher, envelope: soap.Envelope) -> web.Response:
        status, body = dispatcher.handle_envelope(envelope)
        if status == 202:
            return web.Response(status=202)
        return web.Response(status=status, body=body, headers=_SOAP_RESPONSE)

    async def _device_endpoint(self, request: web.Request) -> web.StreamResponse:
        envelope = await self._read(request)
        if isinstance(envelope, web.Response):
            return envelope
        if envelope.headers.action == discovery.ACTION_PROBE:
            try:
                answer = discovery.handle_directed_probe(envelope, self.target_service())
            except ProtocolError as exc:
                return self._fault_response(_invalid_args(str(exc)), envelope.headers.message_id or None)
            if answer is not None:
                return web.Response(body=answer, headers=_SOAP_RESPONSE)
        return self._answer(self.device_dispatcher, envelope)

    async def _scan_endpoint(self, request: web.Request) -> web.StreamResponse:
        envelope = await self._read(request)
        if isinstance(envelope, web.Response):
            return envelope
        if envelope.headers.action == a.ACTION_RETRIEVE_IMAGE:
            return await self._retrieve_image(request, envelope)
        return self._answer(self.scan_dispatcher, envelope)

    # ---- metadata ----------------------------------------------------------------------

    def _metadata_get(self, envelope: soap.Envelope) -> soap.HandlerResult:
        return metadata.ACTION_GET_RESPONSE, metadata.metadata_to_element(self.device_metadata())

    # ---- WS-Scan -----------------------------------------------------------------------

    def _get_scanner_elements(self, envelope: soap.Envelope) -> soap.HandlerResult:
        req: m.GetScannerElementsRequest = _body(envelope, "GetScannerElementsRequest")
        sections: dict[str, Callable[[], ScannerElement]] = {
            m.NAME_SCANNER_DESCRIPTION: lambda: scanner.description(self.device),
            m.NAME_SCANNER_CONFIGURATION: lambda: scanner.configuration(self.device),
            m.NAME_SCANNER_STATUS: lambda: scanner.status(self.device),
            m.NAME_DEFAULT_SCAN_TICKET: lambda: scanner.default_ticket(self.device),
        }
        out = []
        for name in req.names:
            make = sections.get(name)
            out.append(m.ElementData(name, True, make()) if make else m.ElementData(name, False))
        return m.GetScannerElementsResponse(tuple(out)).to_element()

    def _validate_scan_ticket(self, envelope: soap.Envelope) -> soap.HandlerResult:
        req: m.ValidateScanTicketRequest = _body(envelope, "ValidateScanTicketRequest")
        check = validation.check_ticket(req.ticket, scanner.configuration(self.device))
        settings = self.device.validate(scanner.settings_from_ticket(check.corrected)).settings
        info = m.ValidationInfo(
            valid_ticket=check.valid,
            image_information=m.ImageInformation(m.ImageInfo(*scanner.image_information(settings))),
            valid_scan_ticket=None if check.valid else check.corrected,
        )
        return m.ValidateScanTicketResponse(info).to_element()

    def _create_scan_job(self, envelope: soap.Envelope) -> soap.HandlerResult:
        req: m.CreateScanJobRequest = _body(envelope, "CreateScanJobRequest")
        assert self.events is not None
        if (
            req.destination_token is not None
            and self.events.destination_for_token(req.destination_token) is None
        ):
            raise _invalid_args("unknown DestinationToken")
        check = validation.check_ticket(req.ticket, scanner.configuration(self.device))
        if not check.acceptable:
            bad = ", ".join(p.path for p in check.problems if p.must_honor)
            raise _invalid_args("the ticket asks MustHonor for settings this scanner cannot do: %s" % bad)
        try:
            job = self.device.create_job(
                scanner.settings_from_ticket(check.corrected), scan_identifier=req.scan_identifier
            )
        except DeviceError as exc:
            raise _fault(exc) from None
        final = scanner.document_parameters(job.settings)
        for problem in check.problems:
            if problem.path in FLAG_PATHS:
                final = final.with_flag(problem.path, override=True)
        response = m.CreateScanJobResponse(
            job_id=job.job_id,
            job_token=job.token,
            image_information=m.ImageInformation(m.ImageInfo(*scanner.image_information(job.settings))),
            document_final_parameters=final,
        )
        return response.to_element()

    def _cancel_job(self, envelope: soap.Envelope) -> soap.HandlerResult:
        req: m.CancelJobRequest = _body(envelope, "CancelJobRequest")
        try:
            self.device.cancel_job(req.job_id)
        except DeviceError as exc:
            raise _fault(exc) from None
        return m.CancelJobResponse().to_element()

    def _job_status(self, job: Job) -> m.JobStatus:
        return m.JobStatus(
            job_id=job.job_id,
            job_state=job.state,
            scans_completed=job.images_done,
            job_state_reasons=job.reasons,
            job_created_time=job.created,
            job_completed_time=job.completed,
        )

    def _get_job_elements(self, envelope: soap.Envelope) -> soap.HandlerResult:
        req: m.GetJobElementsRequest = _body(envelope, "GetJobElementsRequest")
        try:
            job = self.device.get_job(req.job_id)
        except DeviceError as exc:
            raise _fault(exc) from None
        out = []
        for name in req.names:
            if name == m.NAME_JOB_STATUS:
                out.append(m.ElementData(name, True, self._job_status(job)))
            elif name == m.NAME_SCAN_TICKET:
                out.append(m.ElementData(name, True, scanner.ticket(job.settings)))
            elif name == m.NAME_DOCUMENTS:
                docs = m.Documents(scanner.document_parameters(job.settings), tuple(job.document_names))
                out.append(m.ElementData(name, True, docs))
            else:
                out.append(m.ElementData(name, False))
        return m.GetJobElementsResponse(tuple(out)).to_element()

    @staticmethod
    def _summary(job: Job) -> m.JobSummary:
        return m.JobSummary(
            job_id=job.job_id,
            job_name=job.settings.job_name,
            job_originating_user_name=job.settings.user,
            job_state=job.state,
            job_state_reasons=job.reasons,
            scans_completed=job.images_done,
        )

    def _get_active_jobs(self, envelope: soap.Envelope) -> soap.HandlerResult:
        return m.GetActiveJobsResponse(tuple(self._summary(j) for j in self.device.active_jobs)).to_element()

    def _get_job_history(self, envelope: soap.Envelope) -> soap.HandlerResult:
        return m.GetJobHistoryResponse(tuple(self._summary(j) for j in self.device.job_history)).to_element()

    def _retrieve_not_here(self, envelope: soap.Envelope) -> soap.HandlerResult:
        raise soap.SoapFault.receiver(
            a.FAULT_SERVER_ERROR_INTERNAL_ERROR, "RetrieveImage is answered over MTOM"
        )

    async def _retrieve_image(self, request: web.Request, envelope: soap.Envelope) -> web.StreamResponse:
        relates = envelope.headers.message_id or None
        try:
            req: m.RetrieveImageRequest = _body(envelope, "RetrieveImageRequest")
            try:
                transfer = self.device.begin_retrieve(req.job_id, req.job_token)
            except DeviceError as exc:
                raise _fault(exc) from None
        except soap.SoapFault as fault:
            return self._fault_response(fault, relates)
        try:
            data = await asyncio.to_thread(transfer.render)
        except Exception:
            log.exception("rendering job %d failed", transfer.job_id)
            self.device.end_transfer(transfer, ok=False)
            internal = soap.SoapFault.receiver(
                a.FAULT_SERVER_ERROR_INTERNAL_ERROR, "the image could not be produced"
            )
            return self._fault_response(internal, relates)
        return await self._send_image(request, envelope, transfer, data)

    async def _send_image(
        self, request: web.Request, envelope: soap.Envelope, transfer: Transfer, data: bytes
    ) -> web.StreamResponse:
        cid = mtom.new_content_id("image")
        root = soap.build_response(
            envelope, a.ACTION_RETRIEVE_IMAGE_RESPONSE, m.RetrieveImageResponse("cid:" + cid).to_element()
        )
        plan = mtom.plan_mtom(root, [mtom.Attachment(cid, transfer.mime_type, data=data)])
        body = plan.body()
        response = web.StreamResponse(status=200, headers={"Content-Type": plan.content_type})
        response.content_length = len(body)
        drop = self.device.take_drop()
        ok = False
        try:
            await response.prepare(request)
            if drop:
                await response.write(body[: len(body) // 2])
                log.info("fault injection: dropping the connection mid-image (job %d)", transfer.job_id)
                if request.transport is not None:
                    request.transport.abort()
                return response
            bps = self.device.slow_transfer_bps
            step = SEND_CHUNK if bps is None else max(1, min(SEND_CHUNK, bps // 10))
            for start in range(0, len(body), step):
                await response.write(body[start : start + step])
                if bps is not None:
                    await asyncio.sleep(step / bps)
            await response.write_eof()
            ok = True
            return response
        except (ConnectionError, asyncio.CancelledError):
            log.info("client went away during RetrieveImage of job %d", transfer.job_id)
            raise
        finally:
            self.device.end_transfer(transfer, ok=ok)


@contextlib.asynccontextmanager
async def serving(device: ScanDevice, options: ServerOptions | None = None):  # type: ignore[no-untyped-def]
    """``async with serving(device) as server:`` — start, yield, always stop."""
    server = DeviceServer(device, options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


__all__ = ["DeviceServer", "ServerOptions", "serving"]
