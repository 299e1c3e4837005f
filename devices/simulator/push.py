"""The simulated device as a WS-DSP client: scan locally and push the job to a scan server
(PROTOCOL.md §2.3 steps 6-9, §5.1; WDD: createpostscanjobrequest.md, sendimagerequest.md,
sendimagerequest-example.md, endpostscanjobrequest-example.md, cancelpostscanjob.md).

:func:`push_job` runs one DSM push: the sheets are fed through the device's own job machinery
(so WS-DSD subscribers see JobStatusEvent / JobEndStateEvent and injected paper jams apply),
each document goes out as one MTOM ``SendImage`` (a multi-page format is one document, DESIGN.md
decision 4; DocumentId is 1-based), then ``EndPostScanJob``. If anything fails after
``CreatePostScanJob`` the job is withdrawn with ``CancelPostScanJob`` (best effort) and
:class:`PushError` says why. The scan server URL is the WS-DSP endpoint itself (DESIGN.md
decision 1); HTTPS verification is on unless ``verify=False`` (``verify`` may also name a CA
file; with ``True`` the ``SSL_CERT_FILE`` environment variable is honoured, as httpx does).

How the device proves itself (DESIGN.md decision 2) is its :class:`Credentials`: the client
certificate issued at enrollment, presented in the TLS handshake, and/or the enrollment token as
``Authorization: Bearer``. Both are read when a push starts, so a re-enrollment needs no restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from devices.protocols import dsp, jobstatus, mtom, psp, soap, transport, xmlsafe
from devices.protocols.wsscan.ticket import ScanTicket
from devices.simulator import scanner
from devices.simulator.device import NO_IMAGES, DeviceError, JobSettings, ScanDevice

log = logging.getLogger(__name__)


class PushError(Exception):
    """The push did not complete; ``job_token`` is set when the server had created the job."""

    def __init__(self, message: str, job_token: str | None = None) -> None:
        super().__init__(message)
        self.job_token = job_token


def no_token() -> str:
    """The token of a device that has none."""
    return ""


@dataclass(frozen=True)
class Credentials:
    """What the device presents to the scan server: its client certificate (PEM files of the
    certificate and its key; empty for none) and its token (read at each push; '' for none)."""

    client_cert: str = ""
    client_key: str = ""
    token: Callable[[], str] = field(default=no_token)

    def headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": "Bearer %s" % token} if token else {}

    def tls_context(self, verify: bool | str = True) -> ssl.SSLContext:
        """A new TLS client context: ``verify`` (on, off, or a CA file) and the client certificate.

        (httpx 0.28 deprecates its ``cert=`` argument in favour of exactly this.)"""
        try:
            if isinstance(verify, str):
                context = ssl.create_default_context(cafile=verify)
            else:
                context = httpx.create_ssl_context(verify=verify)
        except (OSError, ssl.SSLError) as exc:
            raise PushError("the CA file %s cannot be loaded: %s" % (verify, exc)) from None
        if self.client_cert:
            try:
                context.load_cert_chain(self.client_cert, self.client_key or None)
            except (OSError, ssl.SSLError) as exc:
                raise PushError(
                    "the device's client certificate %s cannot be loaded: %s" % (self.client_cert, exc)
                ) from None
        return context

    def client(self, *, verify: bool | str = True, timeout: float = 60.0, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client presenting these credentials (``kwargs`` go to ``httpx.AsyncClient``)."""
        return httpx.AsyncClient(
            timeout=timeout,
            verify=self.tls_context(verify),
            follow_redirects=False,
            headers=self.headers(),
            **kwargs,
        )


@dataclass(frozen=True)
class SentDocument:
    document_id: int
    format: str
    size: int
    sha256: str
    pages: int


@dataclass(frozen=True)
class PushResult:
    job_token: str
    device_job_id: int
    documents: tuple[SentDocument, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "job_token": self.job_token,
            "device_job_id": self.device_job_id,
            "documents": [d.__dict__ for d in self.documents],
        }


@dataclass(frozen=True)
class PushRequest:
    """What the user chose at the panel: who, which scan process, how many sheets."""

    server_url: str
    user_sid: str
    psp_identifier: uuid.UUID
    instructions: psp.PostScanInstructions
    settings: JobSettings
    sheets: int = 1

    def create_request(self) -> dsp.CreatePostScanJobRequest:
        """The CreatePostScanJob body; raises ProtocolError for a malformed SID."""
        return dsp.CreatePostScanJobRequest(
            user_identifier=self.user_sid, psp_identifier=self.psp_identifier, instructions=self.instructions
        )


def request_from_psp_xml(
    data: bytes,
    *,
    server_url: str,
    user_sid: str,
    sheets: int,
    psp_identifier: uuid.UUID | None = None,
    user_name: str = "",
    input_source: str | None = None,
    format: str | None = None,
) -> PushRequest:
    """A push of the scan process in ``data`` (a ``psp:PostScanProcess`` document).

    The PSP XML does not carry its identifier (that is the directory attribute
    ``msImaging-PSPIdentifier``); without ``psp_identifier`` a stable one is derived from the XML.
    """
    process = psp.from_xml(data)
    ticket = ScanTicket.from_element(xmlsafe.parse(process.scan_ticket))
    settings = scanner.settings_from_ticket(ticket)
    if user_name:
        settings = replace(settings, user=user_name)
    if input_source:
        settings = replace(settings, input_source=input_source)
    if format:
        settings = replace(settings, format=format)
    ident = psp_identifier or uuid.uuid5(
        uuid.NAMESPACE_URL, "opendsm-psp:" + hashlib.sha256(data).hexdigest()
    )
    request = PushRequest(server_url, user_sid, ident, process.instructions, settings, sheets)
    request.create_request()
    return request


def _headers(url: str, operation_action: str) -> soap.Headers:
    return soap.Headers(action=operation_action, to=url)


def _body_of(envelope: soap.Envelope, expected: type) -> object:
    if envelope.body is None:
        raise PushError("the scan server answered with an empty Body")
    try:
        msg = dsp.from_element(envelope.body)
    except ValueError as exc:
        raise PushError("unexpected answer from the scan server: %s" % exc) from None
    if not isinstance(msg, expected):
        raise PushError("expected %s, got %s" % (expected.__name__, type(msg).__name__))
    return msg


async def _call(
    client: httpx.AsyncClient, url: str, message: dsp.Message, parts: list[mtom.Attachment] | None = None
) -> soap.Envelope:
    envelope = soap.build_envelope(_headers(url, message.action), dsp.to_element(message))
    if parts:
        return await transport.post_mtom_async(url, envelope, parts, client=client)
    return await transport.post_soap_async(url, envelope, client=client)


async def push_job(
    device: ScanDevice,
    request: PushRequest,
    *,
    client: httpx.AsyncClient | None = None,
    verify: bool | str = True,
    timeout: float = 60.0,
    credentials: Credentials | None = None,
) -> PushResult:
    """Scan ``request.sheets`` sheets on ``device`` and push them to ``request.server_url``.

    Without ``client``, one is made for this push from ``credentials`` and ``verify``."""
    create = request.create_request()  # checks the SID before any paper moves
    own_client = client is None
    http = client or (credentials or Credentials()).client(verify=verify, timeout=timeout)
    settings = request.settings
    if settings.input_source == "Platen":
        settings = replace(settings, images_to_transfer=1)
    else:
        # The user lays ``sheets`` sheets in the feeder: scan exactly those, whatever was there.
        per_sheet = 2 if settings.input_source == "ADFDuplex" else 1
        settings = replace(settings, images_to_transfer=request.sheets * per_sheet)
        device.load_adf(max(0, request.sheets - device.adf_pages))
    try:
        job = device.create_job(settings)
    except DeviceError as exc:
        if own_client:
            await http.aclose()
        raise PushError("the device cannot scan: %s" % exc.reason) from None
    token: str | None = None
    sent: list[SentDocument] = []
    try:
        answer = _body_of(await _call(http, request.server_url, create), dsp.CreatePostScanJobResponse)
        assert isinstance(answer, dsp.CreatePostScanJobResponse)
        token = answer.job_token
        log.info("push job %s created on %s", token, request.server_url)
        while True:
            try:
                transfer = device.begin_retrieve(job.job_id, job.token)
            except DeviceError as exc:
                if exc.subcode == NO_IMAGES:
                    break
                raise PushError("scanning stopped: %s" % exc.reason, token) from None
            ok = False
            try:
                data = await asyncio.to_thread(transfer.render)
                doc_id = len(sent) + 1
                cid = mtom.new_content_id("doc%d" % doc_id)
                send = dsp.SendImageRequest(
                    job_token=token,
                    document=jobstatus.DocumentDescription(document_id=doc_id, format=transfer.format),
                    image_href="cid:" + cid,
                )
                part = mtom.Attachment(cid, "application/octet-stream", data=data)
                _body_of(await _call(http, request.server_url, send, [part]), dsp.SendImageResponse)
                sent.append(
                    SentDocument(
                        doc_id,
                        transfer.format,
                        len(data),
                        hashlib.sha256(data).hexdigest(),
                        len(transfer.specs),
                    )
                )
                ok = True
            finally:
                device.end_transfer(transfer, ok=ok)
        if not sent:
            raise PushError("the device produced no images", token)
        end = dsp.EndPostScanJobRequest(job_token=token)
        _body_of(await _call(http, request.server_url, end), dsp.EndPostScanJobResponse)
        return PushResult(token, job.job_id, tuple(sent))
    except (soap.SoapFault, transport.TransportError, PushError) as exc:
        if token is not None:
            await _cancel_quietly(http, request.server_url, token)
        if device.get_job(job.job_id).active:
            device.cancel_job(job.job_id)
        if isinstance(exc, PushError):
            raise
        raise PushError("push failed: %s" % exc, token) from exc
    finally:
        if own_client:
            await http.aclose()


async def _cancel_quietly(client: httpx.AsyncClient, url: str, token: str) -> None:
    try:
        await _call(client, url, dsp.CancelPostScanJobRequest(job_token=token))
    except (soap.SoapFault, transport.TransportError, ValueError) as exc:
        log.info("CancelPostScanJob %s failed: %s", token, exc)
