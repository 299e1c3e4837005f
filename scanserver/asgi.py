"""ASGI entry point of the DSM scan server (its own process; TLS on 5362 in production).

Routes: ``GET /healthz``; ``POST /ScanServer/<server-guid>`` — WS-DSP, WS-DSC, WS-Eventing and
DPWS metadata dispatched on wsa:Action (:mod:`scanserver.endpoint`); ``POST
/ScanServer/<server-guid>/events`` — the WS-Eventing sink for WSD devices' ScanAvailableEvent
(:mod:`scanserver.eventsink`). A plain ASGI callable, so the scan server never loads the
console's pages, sessions or templates.

This module only speaks HTTP: it refuses plain HTTP unless ``SMC_SCANSERVER_ALLOW_PLAIN_HTTP``
is on (403), unknown server GUIDs (404) and other methods (405); it streams the request body
chunk by chunk from ``receive`` through the MTOM reader into the spool's ``incoming`` directory
(a document is never held in memory whole); then it hands the parsed message to the synchronous
work on a pool of threads (:func:`in_thread`; ``SMC_SCANSERVER_THREADS``), each with its own
database connection, so requests of different devices overlap their commits and fsyncs. Which
server row this is is cached for a few seconds (``CACHE_SECONDS``); the caller is checked on
every request.

Production (TLS, one worker per core behind the same database and spool; ``scanserver/serve.py``
says why uvicorn and not daphne, which serves the console)::

    manage.py runscanserver --host <address> --tls-cert /etc/opendsm/tls.crt \
        --tls-key /etc/opendsm/tls.key --device-ca /etc/opendsm/device-ca.crt --workers 2

Development: ``SMC_SCANSERVER_ALLOW_PLAIN_HTTP=1 manage.py runscanserver`` (127.0.0.1:5362). Behind
a TLS-terminating proxy, add ``--proxy-headers`` so ``scope["scheme"]`` is ``https`` for requests
that arrived over TLS (device certificates then need the proxy's own checking).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")
django.setup()

from channels.layers import get_channel_layer  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models.signals import post_delete, post_save  # noqa: E402

from core import health  # noqa: E402
from devices.models import ScanServer  # noqa: E402
from devices.protocols import mtom, soap  # noqa: E402
from scanserver import access, conf, endpoint, events, reaper  # noqa: E402
from scanserver.dsp import Caller  # noqa: E402

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
T = TypeVar("T")
ROUTE = re.compile(r"^/ScanServer/(?P<guid>[0-9A-Fa-f-]{32,40})(?P<events>/events)?/?$")
PLAIN_HTTP_REFUSED = (
    "this scan server accepts HTTPS only; plain HTTP is enabled only with SMC_SCANSERVER_ALLOW_PLAIN_HTTP"
)


async def _send(send: Any, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    await _send(send, status, json.dumps(body).encode(), "application/json")


async def _send_soap(send: Any, status: int, body: bytes) -> None:
    if status == 202 and not body:
        await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    await _send(send, status, body, soap.CONTENT_TYPE)


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        out[name.decode("latin-1").lower()] = value.decode("latin-1")
    return out


class _Body:
    """The request body as an async chunk iterator that remembers whether it reached the end."""

    def __init__(self, receive: Any) -> None:
        self.receive = receive
        self.done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.done:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.done = True
                raise ConnectionError("the client went away mid-request")
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                self.done = True
            if chunk:
                yield chunk

    async def drain(self) -> None:
        """Read what is left of a request we refuse, so the connection can answer cleanly."""
        try:
            async for _ in self.chunks():
                pass
        except ConnectionError:
            pass


def this_server() -> ScanServer | None:
    """The ScanServer row this process serves: ``SMC_SCANSERVER_GUID``, else the only row."""
    guid = conf.server_guid()
    if guid:
        return ScanServer.objects.filter(guid=uuid.UUID(guid)).first()
    rows = list(ScanServer.objects.all()[:2])
    return rows[0] if len(rows) == 1 else None


# This scan server's row is read from the database at most once per CACHE_SECONDS (and again
# whenever a request names another GUID): a device sends one request per page. An admin's change
# to the row (the server disabled) takes effect within that many seconds. The caller's credential
# is looked up on every request, so a device disabled or re-enrolled is refused at once.
CACHE_SECONDS = 5.0
_server_cache: tuple[float, ScanServer | None] | None = None


def _server_for(guid: str) -> ScanServer | None:
    global _server_cache
    try:
        parsed = uuid.UUID(guid)
    except ValueError:
        return None
    now = time.monotonic()
    cached = _server_cache
    if cached is None or now - cached[0] > CACHE_SECONDS or cached[1] is None or cached[1].guid != parsed:
        cached = _server_cache = (now, this_server())
    server = cached[1]
    if server is None or server.guid != parsed or not server.enabled:
        return None
    return server


def forget_cached(*args: Any, **kwargs: Any) -> None:
    """Drop the cached server row (a ScanServer row was saved or deleted in this process)."""
    global _server_cache
    _server_cache = None


post_save.connect(forget_cached, sender=ScanServer, dispatch_uid="scanserver.asgi.forget_cached.save")
post_delete.connect(forget_cached, sender=ScanServer, dispatch_uid="scanserver.asgi.forget_cached.delete")


def _identify(server: ScanServer, headers: dict[str, str], scope: Scope) -> Caller:
    peer = "%s:%s" % tuple(scope.get("client") or ("?", "?"))
    token = access.bearer_token(headers)
    device = access.authenticate_device(headers, scope)
    fingerprint = access.client_cert_sha256(scope)
    if device is None and fingerprint:
        # Refusals name the caller by its peer: say which certificate it presented.
        peer += " (client certificate sha256 %s)" % fingerprint
    return Caller(server=server, device=device, console=endpoint.is_console(token), peer=peer)


def _admission(guid: str, headers: dict[str, str], scope: Scope) -> tuple[bool, Caller | None]:
    """``(known server, caller)``: the database side of admitting a request (one thread hop)."""
    server = _server_for(guid)
    if server is None:
        return (False, None)
    return (True, _identify(server, headers, scope))


# The synchronous work (ORM, spool renames, fsync) runs on a pool of threads, each with its own
# database connection, so one request's commit or fsync does not hold up the others. SQLite (the
# embedded default) has one writer: there the pool has one thread.
_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=conf.threads(), thread_name_prefix="scanserver-db")
    return _executor


def _with_connection(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` on a pool thread; drop that thread's database connection if it broke."""
    try:
        return fn(*args)
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.errors_occurred and not conn.is_usable():
                conn.close()
            conn.errors_occurred = False


def close_pool_connections(timeout: float = 30.0) -> None:
    """Close the database connection of every pool thread (tests, before dropping their database).

    One task per thread, held at a barrier until all have run, so each thread takes exactly one.
    """
    pool = _executor
    if pool is None:
        return
    size = pool._max_workers  # noqa: SLF001 - the pool's own size, fixed at creation
    barrier = threading.Barrier(size, timeout=timeout)

    def close() -> None:
        connections.close_all()
        barrier.wait()

    for future in [pool.submit(close) for _ in range(size)]:
        future.result(timeout)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_pool(), _with_connection, fn, *args)


def _endpoint_url(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host") or "%s:%s" % tuple(scope.get("server") or ("localhost", 5362))
    return "%s://%s%s" % (scope.get("scheme", "http"), host, scope["path"].rstrip("/"))


async def _read_message(headers: dict[str, str], body: _Body) -> mtom.MtomMessage:
    return await mtom.read_soap_http_async(
        headers.get("content-type", ""),
        body.chunks(),
        conf.incoming_dir(),
        conf.mtom_limits(),
        fsync=True,
    )


_recovered = False
_relay_task: asyncio.Task[None] | None = None


def _start_relay() -> None:
    """With a shared channel layer (Redis), relay other processes' job events to our subscribers."""
    global _relay_task
    layer = get_channel_layer()
    if layer is None or "Redis" not in type(layer).__name__:
        return  # the in-memory layer is per process: nothing else could broadcast to it
    _relay_task = asyncio.get_running_loop().create_task(events.relay(layer))


async def _recover_once() -> None:
    """Startup recovery on the first request: daphne does not speak the ASGI lifespan protocol."""
    global _recovered
    if _recovered:
        return
    _recovered = True
    _start_relay()
    try:
        # Restarts resume unfinished work: re-queue pending jobs, sweep half-received parts.
        await in_thread(reaper.on_startup)
    except Exception:  # noqa: BLE001 - a failed sweep must not keep the server down
        logger.exception("startup recovery failed; the reap_jobs task will retry")


async def _scan_server(scope: Scope, receive: Any, send: Any, guid: str, is_events: bool) -> None:
    await _recover_once()
    body = _Body(receive)
    if scope.get("scheme") != "https" and not conf.allow_plain_http():
        await body.drain()
        logger.warning("refused plain-HTTP request to %s from %s", scope["path"], scope.get("client"))
        await _send(send, 403, PLAIN_HTTP_REFUSED.encode(), "text/plain; charset=utf-8")
        return
    headers = _headers(scope)
    known, caller = await in_thread(_admission, guid, headers, scope)
    if not known or caller is None:
        await body.drain()
        await _send_json(send, 404, {"error": "no such scan server", "path": scope["path"]})
        return
    if scope["method"] != "POST":
        await body.drain()
        await _send(send, 405, b"POST SOAP messages here", "text/plain; charset=utf-8")
        return
    try:
        message = await _read_message(headers, body)
    except soap.SoapFault as fault:
        logger.info("refused request from %s: %s", caller.peer, fault.reason)
        await body.drain()
        await _send_soap(send, fault.http_status, soap.build_fault(fault))
        return
    except ConnectionError:
        logger.info("client %s went away mid-request; nothing kept", caller.peer)
        return
    try:
        if is_events:
            from scanserver import eventsink

            status, payload = await in_thread(eventsink.answer, caller, message.envelope)
        else:
            call = endpoint.Call(caller=caller, endpoint_url=_endpoint_url(scope, headers))
            status, payload = await in_thread(endpoint.answer, call, message.envelope)
    finally:
        message.discard()
    await _send_soap(send, status, payload)


async def _shutdown() -> None:
    """Finish the in-process worker's job in hand (embedded default; bounded), then the pool."""
    from scanserver import inprocess

    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, inprocess.shutdown)
    pool = _executor
    if pool is not None:
        await loop.run_in_executor(None, lambda: pool.shutdown(wait=True, cancel_futures=True))


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await _recover_once()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await _shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
        checks = await in_thread(lambda: [health.check_database(), health.check_broker()])
        ok = all(c.ok for c in checks)
        body = {
            "service": "scanserver",
            "status": "ok" if ok else "degraded",
            "checks": {c.name: c.as_dict() for c in checks},
        }
        await _send_json(send, 200 if ok else 503, body)
        return
    match = ROUTE.match(scope["path"])
    if match is not None:
        await _scan_server(scope, receive, send, match.group("guid"), bool(match.group("events")))
        return
    await _send_json(send, 404, {"error": "not found", "path": scope["path"]})
