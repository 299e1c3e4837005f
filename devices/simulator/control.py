"""JSON control API of a simulated device: the "front panel" and the fault injector for tests
and the command line. OpenDSM's own interface, not part of any Microsoft protocol.

Served by each device's :class:`~devices.simulator.server.DeviceServer` under ``/_control`` and
answering loopback callers only (403 otherwise). Every answer is JSON; errors are
``{"error": "..."}`` with a 4xx status. The server mounts these routes, so this module knows it
only as a :class:`ControlledServer` (what the handlers read), never by import.

=======================  ======================================================================
``GET  /status``         identity, URLs, paper, scanner state, conditions, jobs, panel destinations
``POST /adf``            ``{"pages": N}`` adds sheets; ``{"empty": true}`` empties the ADF
``POST /platen``         ``{"loaded": bool}``
``POST /fault``          ``{"kind": "jam", "after_images": N}`` | ``{"kind": "cover-open"}`` |
                         ``{"kind": "clear", "name": "MediaJam"?}`` |
                         ``{"kind": "slow", "bytes_per_second": N|null}`` |
                         ``{"kind": "drop", "transfers": N}``
``POST /scan-available`` ``{"destination": NAME, "input_source": "ADF"?}`` raises ScanAvailableEvent
``POST /push``           ``{"server": URL, "psp_xml": "<...>", "user_sid": "S-1-5-21-...",
                         "pages": N, "psp_id": GUID?, "user_name": str?, "format": str?,
                         "input_source": str?, "verify": bool?}`` runs a WS-DSP push,
                         presenting the device's credentials (``--client-cert``, the token file)
=======================  ======================================================================
"""

from __future__ import annotations

import ipaddress
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from devices.protocols.errors import ProtocolError
from devices.protocols.xmlsafe import XMLRefused
from devices.simulator import push
from devices.simulator.device import Job, ScanDevice
from devices.simulator.events import EventSource

log = logging.getLogger(__name__)

PREFIX = "/_control"


class ControlledServer(Protocol):
    """What the control API reads of the device server that mounts it (a ``DeviceServer``)."""

    device: ScanDevice
    events: EventSource | None

    @property
    def device_url(self) -> str: ...

    @property
    def scan_url(self) -> str: ...

    @property
    def control_url(self) -> str: ...


#: Where a DeviceServer puts itself in its aiohttp application.
SERVER_KEY: web.AppKey[ControlledServer] = web.AppKey("device_server")
#: What the device presents to a scan server (``run.start`` sets it; absent: nothing).
CREDENTIALS_KEY: web.AppKey[push.Credentials] = web.AppKey("device_credentials", push.Credentials)
MAX_CONTROL_BODY = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "/status", _guard(status))
    app.router.add_post(PREFIX + "/adf", _guard(adf))
    app.router.add_post(PREFIX + "/platen", _guard(platen))
    app.router.add_post(PREFIX + "/fault", _guard(fault))
    app.router.add_post(PREFIX + "/scan-available", _guard(scan_available))
    app.router.add_post(PREFIX + "/push", _guard(push_route))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _guard(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not _is_loopback(request.remote):
            return _error(403, "the control API answers loopback callers only")
        try:
            return await handler(request)
        except _BadRequest as exc:
            return _error(400, str(exc))

    return guarded


class _BadRequest(Exception):
    pass


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_CONTROL_BODY:
        raise _BadRequest("body too large")
    try:
        raw = await request.read()
        data = json.loads(raw or b"{}")
    except (ValueError, web.HTTPRequestEntityTooLarge):
        raise _BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object")
    return data


def _int(data: dict[str, Any], key: str, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _BadRequest("%s must be an integer >= %d" % (key, minimum))
    return value


def _server(request: web.Request) -> ControlledServer:
    return request.app[SERVER_KEY]


def _job_json(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.job_id,
        "name": job.settings.job_name,
        "user": job.settings.user,
        "state": job.state,
        "reasons": list(job.reasons),
        "images": job.images_done,
        "format": job.settings.format,
        "input_source": job.settings.input_source,
    }


def status_json(server: ControlledServer) -> dict[str, Any]:
    device = server.device
    ident = device.identity
    summary = device.status_summary()
    return {
        "endpoint": ident.endpoint,
        "name": ident.name,
        "manufacturer": ident.manufacturer,
        "model": ident.model,
        "serial": ident.serial,
        "urls": {"device": server.device_url, "scan": server.scan_url, "control": server.control_url},
        "adf_pages": device.adf_pages,
        "platen_loaded": device.platen_loaded,
        "state": summary.state,
        "reasons": list(summary.reasons),
        "conditions": [
            {"id": c.condition_id, "name": c.name, "component": c.component} for c in device.conditions
        ],
        "active_jobs": [_job_json(j) for j in device.active_jobs],
        "history": [_job_json(j) for j in device.job_history],
        "destinations": [d.display_name for d in server.events.destinations()] if server.events else [],
        "subscriptions": len(server.events.manager.all()) if server.events else 0,
    }


async def status(request: web.Request) -> web.StreamResponse:
    return web.json_response(status_json(_server(request)))


async def adf(request: web.Request) -> web.StreamResponse:
    data = await _json(request)
    device = _server(request).device
    if data.get("empty"):
        device.empty_adf()
    else:
        device.load_adf(_int(data, "pages", minimum=0))
    return web.json_response({"adf_pages": device.adf_pages})


async def platen(request: web.Request) -> web.StreamResponse:
    data = await _json(request)
    loaded = data.get("loaded")
    if not isinstance(loaded, bool):
        raise _BadRequest("loaded must be true or false")
    _server(request).device.set_platen(loaded)
    return web.json_response({"platen_loaded": loaded})


async def fault(request: web.Request) -> web.StreamResponse:
    data = await _json(request)
    device = _server(request).device
    kind = data.get("kind")
    if kind == "jam":
        device.paper_jam(after_images=_int(data, "after_images", 0))
    elif kind == "cover-open":
        device.cover_open()
    elif kind == "clear":
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise _BadRequest("name must be a string")
        device.clear_condition(name)
    elif kind == "slow":
        bps = data.get("bytes_per_second")
        if bps is not None and (not isinstance(bps, int) or isinstance(bps, bool) or bps <= 0):
            raise _BadRequest("bytes_per_second must be a positive integer or null")
        device.slow_transfer(bps)
    elif kind == "drop":
        device.drop_connection(_int(data, "transfers", 1))
    else:
        raise _BadRequest("kind must be one of jam, cover-open, clear, slow, drop")
    return web.json_response(status_json(_server(request)))


async def scan_available(request: web.Request) -> web.StreamResponse:
    data = await _json(request)
    destination = data.get("destination")
    source = data.get("input_source", "ADF")
    if not isinstance(destination, str) or not destination:
        raise _BadRequest("destination must be a non-empty string")
    if source not in ("Platen", "ADF", "ADFDuplex"):
        raise _BadRequest("input_source must be Platen, ADF or ADFDuplex")
    server = _server(request)
    assert server.events is not None
    shown = [d for d in server.events.destinations() if d.display_name == destination]
    if not shown:
        return _error(404, "no subscriber registered the destination %r" % destination)
    event = server.device.request_scan(destination, source)
    return web.json_response({"scan_identifier": event.scan_identifier, "subscribers": len(shown)})


async def push_route(request: web.Request) -> web.StreamResponse:
    data = await _json(request)
    for key in ("server", "psp_xml", "user_sid"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise _BadRequest("%s must be a non-empty string" % key)
    try:
        psp_id = uuid.UUID(data["psp_id"]) if data.get("psp_id") else None
        req = push.request_from_psp_xml(
            data["psp_xml"].encode("utf-8"),
            server_url=data["server"],
            user_sid=data["user_sid"],
            sheets=_int(data, "pages", 1, minimum=1),
            psp_identifier=psp_id,
            user_name=str(data.get("user_name") or ""),
            input_source=data.get("input_source") or None,
            format=data.get("format") or None,
        )
    except (ProtocolError, XMLRefused, ValueError) as exc:
        raise _BadRequest("bad push request: %s" % exc) from None
    try:
        result = await push.push_job(
            _server(request).device,
            req,
            verify=bool(data.get("verify", True)),
            credentials=request.app.get(CREDENTIALS_KEY),
        )
    except push.PushError as exc:
        return web.json_response({"error": str(exc), "job_token": exc.job_token}, status=502)
    return web.json_response(result.as_json())
