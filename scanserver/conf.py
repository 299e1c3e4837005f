"""The scan server's settings, read in one place with their defaults.

Each value is ``settings.<NAME>`` when the project settings define it, else the ``SMC_*``
environment variable named beside it (parsed strictly by ``core.env``), else the default. The
lead may move these into ``smc/settings.py``; callers keep calling these functions.

=================================  ====================================  ==========================
setting                            environment variable                  default
=================================  ====================================  ==========================
SCANSERVER_SPOOL_DIR               SMC_SPOOL_DIR                         <data dir>/spool
SCANSERVER_ALLOW_PLAIN_HTTP        SMC_SCANSERVER_ALLOW_PLAIN_HTTP       false
SCANSERVER_GUID                    SMC_SCANSERVER_GUID                   the single ScanServer row
SCANSERVER_JOB_TIMEOUT             SMC_SCANSERVER_JOB_TIMEOUT            600 s (BDSRR §2.2.5.11)
SCANSERVER_STUCK_TIMEOUT           SMC_SCANSERVER_STUCK_TIMEOUT          1800 s in processing
SCANSERVER_MAX_PART_BYTES          SMC_SCANSERVER_MAX_PART_BYTES         512 MiB per document
SCANSERVER_CONSOLE_TOKEN           SMC_SCANSERVER_CONSOLE_TOKEN          "" (WS-DSC refused)
SCANSERVER_BACKGROUND_TASKS        SMC_SCANSERVER_BACKGROUND_TASKS       true (see below)
SCANSERVER_THREADS                 SMC_SCANSERVER_THREADS                8 (1 on SQLite: one writer)
=================================  ====================================  ==========================

``SCANSERVER_BACKGROUND_TASKS`` matters only without a broker (the embedded default, Celery
``task_always_eager``): on, a process that queues processing hands it to its in-process worker
thread (:mod:`scanserver.inprocess`) and returns at once; off, the processing runs synchronously
in the caller, as eager Celery does — the scan server then answers ``EndPostScanJob`` only after
the job was processed and delivered. With a broker it has no effect: workers process.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from core.env import Env
from devices.protocols import mtom

_env = Env()
MIB = 1024 * 1024


def spool_dir() -> Path:
    return Path(settings.SCANSERVER_SPOOL_DIR)


def incoming_dir() -> Path:
    """Where MTOM parts land while they stream in: inside the spool, so ``os.replace`` is atomic."""
    path = spool_dir() / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def allow_plain_http() -> bool:
    return bool(getattr(settings, "SCANSERVER_ALLOW_PLAIN_HTTP", False))


def server_guid() -> str:
    return str(getattr(settings, "SCANSERVER_GUID", "") or _env.text("SMC_SCANSERVER_GUID", ""))


def job_timeout() -> int:
    value = getattr(settings, "SCANSERVER_JOB_TIMEOUT", None)
    return int(value) if value is not None else _env.number("SMC_SCANSERVER_JOB_TIMEOUT", 600, minimum=1)


def stuck_timeout() -> int:
    value = getattr(settings, "SCANSERVER_STUCK_TIMEOUT", None)
    return int(value) if value is not None else _env.number("SMC_SCANSERVER_STUCK_TIMEOUT", 1800, minimum=1)


def max_part_bytes() -> int:
    value = getattr(settings, "SCANSERVER_MAX_PART_BYTES", None)
    if value is not None:
        return int(value)
    return _env.number("SMC_SCANSERVER_MAX_PART_BYTES", 512 * MIB, minimum=1)


def console_token() -> str:
    return str(
        getattr(settings, "SCANSERVER_CONSOLE_TOKEN", "") or _env.text("SMC_SCANSERVER_CONSOLE_TOKEN", "")
    )


def background_tasks() -> bool:
    value = getattr(settings, "SCANSERVER_BACKGROUND_TASKS", None)
    return bool(value) if value is not None else _env.flag("SMC_SCANSERVER_BACKGROUND_TASKS", True)


def mtom_limits() -> mtom.MtomLimits:
    """Streaming limits of a request: one document per SendImage up to the part limit, root ≤ 1 MiB."""
    part = max_part_bytes()
    return mtom.MtomLimits(max_root_bytes=MIB, max_part_bytes=part, max_total_bytes=part + 2 * MIB)


def threads() -> int:
    """Threads per scan-server process doing the synchronous work of requests (each holds a
    database connection, so processes × threads must stay under the server's connection limit)."""
    value = getattr(settings, "SCANSERVER_THREADS", None)
    if value is None:
        value = _env.number("SMC_SCANSERVER_THREADS", 0, minimum=1, maximum=64)
    if not value:
        value = 1 if str(settings.DATABASES["default"]["ENGINE"]).endswith("sqlite3") else 8
    return max(1, int(value))
