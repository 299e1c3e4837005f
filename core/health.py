"""Reachability checks behind ``/healthz``: the database and the broker, and whatever the layers
above register (the directory app registers ``directory`` in ``DirectoryConfig.ready``).

Each check returns a :class:`Check` and never raises: a broken dependency is a fact to report,
not a reason for the health page itself to fail. A registered probe returns a detail text or
raises; :func:`run_all` times it and turns a failure into a ``Check`` like the built-in ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

#: Probes registered by name (:func:`register`), run after the database and broker, in order.
_probes: dict[str, Callable[[], str]] = {}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def register(name: str, probe: Callable[[], str]) -> None:
    """Add the check ``name`` to :func:`run_all`; registering a name again replaces its probe."""
    _probes[name] = probe


def _timed(name: str, func: Callable[[], str]) -> Check:
    start = time.monotonic()
    try:
        detail = func()
        ok = True
    except Exception as exc:  # noqa: BLE001 - any failure is reported, none is raised
        logger.warning("health check %s failed: %s", name, exc)
        ok, detail = False, "%s: %s" % (type(exc).__name__, exc)
    return Check(name, ok, str(detail), round((time.monotonic() - start) * 1000, 1))


def check_database() -> Check:
    def run() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor

    return _timed("database", run)


def check_broker() -> Check:
    def run() -> str:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return "in-process (embedded default)"
        import redis

        client = redis.Redis.from_url(str(settings.REDIS_URL), socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "redis"

    return _timed("broker", run)


def run_all() -> list[Check]:
    return [check_database(), check_broker(), *(_timed(name, probe) for name, probe in _probes.items())]
