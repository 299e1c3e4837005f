"""ASGI entry point of the DSM scan server (its own process, TLS on 5362 in production).

For now it answers ``GET /healthz``; the WS-DSP / WS-DSC endpoint ``/ScanServer/<guid>`` joins it
with the scan-server issue. It is a plain ASGI callable so that the scan server never loads the
console's pages, sessions or templates.
"""

from __future__ import annotations

import json
import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")
django.setup()

from asgiref.sync import sync_to_async  # noqa: E402

from smc import health  # noqa: E402

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def application(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz" and scope["method"] in ("GET", "HEAD"):
        checks = await sync_to_async(lambda: [health.check_database(), health.check_broker()])()
        ok = all(c.ok for c in checks)
        body = {
            "service": "scanserver",
            "status": "ok" if ok else "degraded",
            "checks": {c.name: c.as_dict() for c in checks},
        }
        await _send_json(send, 200 if ok else 503, body)
        return
    await _send_json(send, 404, {"error": "not found", "path": scope["path"]})
