"""The one broadcaster of job and device events to the console (DESIGN.md "one place per concern").

Events are sent to the ``jobs`` channel group after the surrounding transaction commits: the
database is the truth, a websocket message only tells open pages to re-fetch a fragment.

Callers are the models' own transitions (``ScanJob.announce``), never the code that moves them.
Every message names the process that sent it (:data:`ORIGIN`), so a scan-server process relaying
other processes' job events to its WS-Eventing subscribers can skip its own.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

JOBS_GROUP = "jobs"
EVENT_KINDS = frozenset({"job", "device", "server"})
# Who sent a broadcast (host and process id).
ORIGIN = "%s:%d" % (socket.gethostname(), os.getpid())


def broadcast(kind: str, object_id: str, state: str, **extra: Any) -> None:
    """Queue ``{"kind", "id", "state", ...}`` for the ``jobs`` group once the transaction commits."""
    if kind not in EVENT_KINDS:
        raise ValueError("unknown event kind %r" % kind)
    payload = {
        "type": "smc.event",
        "kind": kind,
        "id": str(object_id),
        "state": state,
        "origin": ORIGIN,
        **extra,
    }

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(JOBS_GROUP, payload)
        except Exception:  # noqa: BLE001 - the page falls back to polling; never fail the caller
            logger.exception("could not broadcast %s %s", kind, object_id)

    transaction.on_commit(send)
