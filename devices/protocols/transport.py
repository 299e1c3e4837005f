"""The client side of SOAP over HTTP(S): POST an envelope (plain or MTOM), read the answer.

Implements PROTOCOL.md §4 (SOAP 1.2 over HTTP, ``application/soap+xml``; a fault is a non-2xx
status and/or a body with the WS-Addressing fault action), §4.4 (RetrieveImage answers with
MTOM) and §5.1 (SendImage is sent as MTOM). Microsoft docs:
windows-driver-docs-pr/image/sendimagerequest-example.md, retrieveimageresponse.md.

A SOAP fault in the answer is raised as :class:`~devices.protocols.soap.SoapFault` (whatever the
HTTP status); anything that stops us from getting a SOAP answer at all — connection refused,
TLS failure, timeout, an HTML error page, a malformed body — is a :class:`TransportError`.
Response bodies are read as a stream, bounded by :class:`~devices.protocols.mtom.MtomLimits`.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import TypeAlias

import httpx

from . import mtom, soap
from .mtom import Attachment, MtomLimits, MtomMessage
from .soap import CONTENT_TYPE, Envelope

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
Verify: TypeAlias = bool | str | ssl.SSLContext
Cert: TypeAlias = str | tuple[str, str] | None


class TransportError(Exception):
    """No SOAP answer could be had; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class _Request:
    content_type: str
    content: bytes | None = None
    chunks: Iterator[bytes] | None = None
    length: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type, "Accept": "application/soap+xml, multipart/related"}
        # An explicit length keeps streamed MTOM bodies off chunked transfer coding, which some
        # embedded HTTP servers in scanners do not implement.
        if self.length is not None:
            headers["Content-Length"] = str(self.length)
        return headers


def _plain(envelope: bytes) -> _Request:
    return _Request(CONTENT_TYPE, content=envelope)


def _mtom(envelope: bytes, parts: Sequence[Attachment]) -> _Request:
    plan = mtom.plan_mtom(envelope, parts)
    return _Request(plan.content_type, chunks=plan.chunks(), length=plan.content_length)


def _interpret(status: int, message: MtomMessage) -> MtomMessage:
    fault = soap.fault_from_envelope(message.envelope)
    if fault is not None:
        message.discard()
        raise fault
    if not 200 <= status < 300:
        message.discard()
        raise TransportError("HTTP %d with a SOAP body that is not a fault" % status, status)
    return message


def _unreadable(status: int, exc: soap.SoapFault) -> TransportError:
    return TransportError("HTTP %d: unreadable SOAP answer: %s" % (status, exc.reason), status)


def _no_answer(resp: httpx.Response) -> bool:
    """A 2xx answer to a one-way message that carries no envelope (202 Accepted, empty 200)."""
    ok = 200 <= resp.status_code < 300
    return ok and (
        resp.status_code in (202, 204)
        or resp.headers.get("content-length") == "0"
        or not resp.headers.get("content-type")
    )


def _client_kwargs(timeout: float, verify: Verify, cert: Cert) -> dict[str, object]:
    kwargs: dict[str, object] = {"timeout": timeout, "verify": verify, "follow_redirects": False}
    if cert is not None:
        kwargs["cert"] = cert
    return kwargs


# --------------------------------------------------------------------------------------------
# sync


def _exchange(
    url: str,
    request: _Request,
    *,
    spool_dir: Path | None,
    limits: MtomLimits,
    timeout: float,
    client: httpx.Client | None,
    verify: Verify,
    cert: Cert,
    one_way: bool = False,
) -> MtomMessage | None:
    with ExitStack() as stack:
        if client is not None:
            http = client
        else:
            http = stack.enter_context(httpx.Client(**_client_kwargs(timeout, verify, cert)))  # type: ignore[arg-type]
        if spool_dir is None:
            spool_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soap-")))
        try:
            with http.stream(
                "POST",
                url,
                content=request.content or request.chunks,
                headers=request.headers(),
                timeout=timeout,
            ) as resp:
                status = resp.status_code
                if one_way and _no_answer(resp):
                    return None
                # A missing Content-Type is read as SOAP: liberal in what we accept.
                ctype = resp.headers.get("content-type") or CONTENT_TYPE
                try:
                    message = mtom.read_soap_http(ctype, resp.iter_bytes(), spool_dir, limits)
                except soap.SoapFault as exc:
                    raise _unreadable(status, exc) from None
        except httpx.HTTPError as exc:
            raise TransportError("%s: %s" % (type(exc).__name__, exc)) from exc
        return _interpret(status, message)


def post_soap(
    url: str,
    envelope_bytes: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    verify: Verify = True,
    cert: Cert = None,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
) -> Envelope:
    """POST a request and return the answer's envelope (attachments of an MTOM answer are dropped)."""
    message = _exchange(
        url,
        _plain(envelope_bytes),
        spool_dir=None,
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return dataclasses.replace(message.envelope, attachments={})


def post_one_way(
    url: str,
    envelope_bytes: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    verify: Verify = True,
    cert: Cert = None,
) -> Envelope | None:
    """POST a one-way message (an event): None on 202/empty, the envelope if one came back anyway."""
    message = _exchange(
        url,
        _plain(envelope_bytes),
        spool_dir=None,
        limits=mtom.DEFAULT_MTOM_LIMITS,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
        one_way=True,
    )
    return None if message is None else dataclasses.replace(message.envelope, attachments={})


def post_mtom(
    url: str,
    envelope_bytes: bytes,
    parts: Sequence[Attachment],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    verify: Verify = True,
    cert: Cert = None,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
) -> Envelope:
    """POST an MTOM request (SendImage); file attachments are streamed from disk."""
    message = _exchange(
        url,
        _mtom(envelope_bytes, parts),
        spool_dir=None,
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return dataclasses.replace(message.envelope, attachments={})


def post_soap_receive_mtom(
    url: str,
    envelope_bytes: bytes,
    spool_dir: Path | str,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.Client | None = None,
    verify: Verify = True,
    cert: Cert = None,
) -> MtomMessage:
    """POST a request whose answer carries attachments (RetrieveImage); parts land in ``spool_dir``."""
    message = _exchange(
        url,
        _plain(envelope_bytes),
        spool_dir=Path(spool_dir),
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return message


# --------------------------------------------------------------------------------------------
# async


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # File attachments are read in blocking chunks of mtom.CHUNK: short enough for the loop.
    for chunk in chunks:
        yield chunk


async def _exchange_async(
    url: str,
    request: _Request,
    *,
    spool_dir: Path | None,
    limits: MtomLimits,
    timeout: float,
    client: httpx.AsyncClient | None,
    verify: Verify,
    cert: Cert,
    one_way: bool = False,
) -> MtomMessage | None:
    async with AsyncExitStack() as stack:
        if client is not None:
            http = client
        else:
            http = httpx.AsyncClient(**_client_kwargs(timeout, verify, cert))  # type: ignore[arg-type]
            stack.push_async_callback(http.aclose)
        if spool_dir is None:
            spool_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soap-")))
        content = request.content if request.content is not None else _aiter(request.chunks or iter(()))
        try:
            async with http.stream(
                "POST", url, content=content, headers=request.headers(), timeout=timeout
            ) as resp:
                status = resp.status_code
                if one_way and _no_answer(resp):
                    return None
                # A missing Content-Type is read as SOAP: liberal in what we accept.
                ctype = resp.headers.get("content-type") or CONTENT_TYPE
                try:
                    message = await mtom.read_soap_http_async(ctype, resp.aiter_bytes(), spool_dir, limits)
                except soap.SoapFault as exc:
                    raise _unreadable(status, exc) from None
        except httpx.HTTPError as exc:
            raise TransportError("%s: %s" % (type(exc).__name__, exc)) from exc
        return _interpret(status, message)


async def post_soap_async(
    url: str,
    envelope_bytes: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    verify: Verify = True,
    cert: Cert = None,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
) -> Envelope:
    """Async :func:`post_soap`."""
    message = await _exchange_async(
        url,
        _plain(envelope_bytes),
        spool_dir=None,
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return dataclasses.replace(message.envelope, attachments={})


async def post_one_way_async(
    url: str,
    envelope_bytes: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    verify: Verify = True,
    cert: Cert = None,
) -> Envelope | None:
    """Async :func:`post_one_way`."""
    message = await _exchange_async(
        url,
        _plain(envelope_bytes),
        spool_dir=None,
        limits=mtom.DEFAULT_MTOM_LIMITS,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
        one_way=True,
    )
    return None if message is None else dataclasses.replace(message.envelope, attachments={})


async def post_mtom_async(
    url: str,
    envelope_bytes: bytes,
    parts: Sequence[Attachment],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    verify: Verify = True,
    cert: Cert = None,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
) -> Envelope:
    """Async :func:`post_mtom`."""
    message = await _exchange_async(
        url,
        _mtom(envelope_bytes, parts),
        spool_dir=None,
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return dataclasses.replace(message.envelope, attachments={})


async def post_soap_receive_mtom_async(
    url: str,
    envelope_bytes: bytes,
    spool_dir: Path | str,
    limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    verify: Verify = True,
    cert: Cert = None,
) -> MtomMessage:
    """Async :func:`post_soap_receive_mtom`."""
    message = await _exchange_async(
        url,
        _plain(envelope_bytes),
        spool_dir=Path(spool_dir),
        limits=limits,
        timeout=timeout,
        client=client,
        verify=verify,
        cert=cert,
    )
    assert message is not None
    return message
