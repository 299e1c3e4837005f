"""Reachability checks behind ``/healthz``: database, broker, directory.

Each check returns a :class:`Check` and never raises: a broken dependency is a fact to report,
not a reason for the health page itself to fail.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _timed(name: str, func: object) -> Check:
    start = time.monotonic()
    try:
        detail = func()  # type: ignore[operator]
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


def check_directory() -> Check:
    def run() -> str:
        config = settings.LDAP
        if not config.enabled:
            return "database (embedded default)"
        import ldap

        conn = ldap.initialize(config.uri)
        for option, value in config.connection_options().items():
            conn.set_option(option, value)
        if config.start_tls:
            conn.start_tls_s()
        try:
            if config.bind_dn:
                conn.simple_bind_s(config.bind_dn, config.bind_password)
            conn.search_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
        finally:
            conn.unbind_s()
        return config.uri

    return _timed("directory", run)


def run_all() -> list[Check]:
    return [check_database(), check_broker(), check_directory()]
