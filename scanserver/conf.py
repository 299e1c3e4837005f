"""The scan server's settings, read in one place with their defaults.

Each value is ``settings.<NAME>``, parsed once from the ``SMC_*`` environment variable named beside
it in ``smc/settings.py`` (strictly, by ``core.env``); nothing here reads the environment. These
functions only give the settings their types and derived values.

=================================  ====================================  ==========================
setting                            environment variable                  default
=================================  ====================================  ==========================
SCANSERVER_SPOOL_DIR               SMC_SPOOL_DIR                         <data dir>/spool
SCANSERVER_ALLOW_PLAIN_HTTP        SMC_SCANSERVER_ALLOW_PLAIN_HTTP       false
SCANSERVER_GUID                    SMC_SCANSERVER_GUID                   the single ScanServer row
SCANSERVER_JOB_TIMEOUT             SMC_SCANSERVER_JOB_TIMEOUT            600 s (BDSRR §2.2.5.11)
SCANSERVER_STUCK_TIMEOUT           SMC_SCANSERVER_STUCK_TIMEOUT          1800 s in processing
SCANSERVER_JOB_DEADLINE            SMC_SCANSERVER_JOB_DEADLINE           21600 s to an end state
SCANSERVER_MAX_RESUMES             SMC_SCANSERVER_MAX_RESUMES            5 resumes after a crash
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

from devices.protocols import mtom

MIB = 1024 * 1024


def spool_dir() -> Path:
    return Path(settings.SCANSERVER_SPOOL_DIR)


def incoming_dir() -> Path:
    """Where MTOM parts land while they stream in: inside the spool, so ``os.replace`` is atomic."""
    path = spool_dir() / "incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


def allow_plain_http() -> bool:
    return bool(settings.SCANSERVER_ALLOW_PLAIN_HTTP)


def server_guid() -> str:
    return str(settings.SCANSERVER_GUID or "")


def job_timeout() -> int:
    return int(settings.SCANSERVER_JOB_TIMEOUT)


def stuck_timeout() -> int:
    return int(settings.SCANSERVER_STUCK_TIMEOUT)


def job_deadline() -> int:
    """Seconds from the start of a job's run (EndPostScanJob, or an operator's retry) to its end
    state; past it the recovery holds the job (:mod:`scanserver.recovery`)."""
    return int(settings.SCANSERVER_JOB_DEADLINE)


def max_resumes() -> int:
    """How often a job may be resumed after a dead worker before it is held instead."""
    return int(settings.SCANSERVER_MAX_RESUMES)


def max_part_bytes() -> int:
    return int(settings.SCANSERVER_MAX_PART_BYTES)


def console_token() -> str:
    return str(settings.SCANSERVER_CONSOLE_TOKEN or "")


def background_tasks() -> bool:
    return bool(settings.SCANSERVER_BACKGROUND_TASKS)


def mtom_limits() -> mtom.MtomLimits:
    """Streaming limits of a request: one document per SendImage up to the part limit, root ≤ 1 MiB."""
    part = max_part_bytes()
    return mtom.MtomLimits(max_root_bytes=MIB, max_part_bytes=part, max_total_bytes=part + 2 * MIB)


def threads() -> int:
    """Threads per scan-server process doing the synchronous work of requests (each holds a
    database connection, so processes × threads must stay under the server's connection limit).
    ``SMC_SCANSERVER_THREADS``; 0 (the default) means 1 on SQLite (one writer) and 8 otherwise."""
    value = int(settings.SCANSERVER_THREADS or 0)
    if not value:
        value = 1 if str(settings.DATABASES["default"]["ENGINE"]).endswith("sqlite3") else 8
    return max(1, value)
