"""The work behind each WS-DSC operation ([MS-BDSRR] §3.2.4; console → scan server), synchronous.

PROTOCOL.md §5.2. GetRepositoryElements advertises the filter dialects this server can run —
the three Microsoft ones (``ftr:fileshare``, ``ftr:sharepoint``, ``ftr:email``) and OpenDSM's own
(:data:`DIALECT_FOLDER`, :data:`DIALECT_HTTP`, in the project namespace since the spec reserves
only the ``ftr`` names) — and the repository state derived from the jobs: Processing while any
job is pending or processing, else Idle, Stopped when the server row is disabled. GetJobHistory
returns at most :data:`HISTORY_LIMIT` finished jobs, newest first.
"""

from __future__ import annotations

from devices.protocols import dsc, jobstatus, psp
from scanserver import events
from scanserver.dsp import Caller, cancel_post_scan_job, find_job, job_elements
from scanserver.models import DSC_JOB_STATE, TERMINAL_JOB_STATES, JobState, ScanJob

DIALECT_FOLDER = psp.DIALECT_FOLDER
DIALECT_HTTP = psp.DIALECT_HTTP
DIALECTS = (psp.DIALECT_FILESHARE, psp.DIALECT_SHAREPOINT, psp.DIALECT_EMAIL, DIALECT_FOLDER, DIALECT_HTTP)
HISTORY_LIMIT = 100
ACTIVE_LIMIT = 1000


def repository_status(caller: Caller) -> dsc.RepositoryStatus:
    return events.server_status(caller.server)


def get_repository_elements(
    caller: Caller, req: dsc.GetRepositoryElementsRequest
) -> dsc.GetRepositoryElementsResponse:
    out = []
    for name in req.requested:
        if name == dsc.NAME_REPOSITORY_CONFIGURATION:
            config = dsc.RepositoryConfiguration(
                filters=tuple(dsc.RepositoryFilter(dialect=d) for d in DIALECTS)
            )
            out.append(jobstatus.ElementData(name=name, valid=True, content=config))
        elif name == dsc.NAME_REPOSITORY_STATUS:
            out.append(jobstatus.ElementData(name=name, valid=True, content=repository_status(caller)))
        else:
            out.append(jobstatus.ElementData(name=name, valid=False))
    return dsc.GetRepositoryElementsResponse(elements=tuple(out))


def summary(job: ScanJob) -> jobstatus.JobSummary:
    return jobstatus.JobSummary(
        job_token=str(job.token).upper(),
        psp_identifier=job.psp_identifier or "-",
        psp_display_name=job.psp_display_name or "-",
        user_name=job.user_name or job.user_sid or "-",
        state=DSC_JOB_STATE[JobState(job.state)],
        state_reasons=tuple(job.state_reasons or ("None",)),
        filter_statuses=events.filter_statuses(job),
        images_received=job.images_received,
    )


def get_active_jobs(caller: Caller) -> dsc.GetActiveJobsResponse:
    jobs = (
        ScanJob.objects.filter(server=caller.server)
        .exclude(state__in=TERMINAL_JOB_STATES)
        .prefetch_related("deliveries")
        .order_by("created_at")[:ACTIVE_LIMIT]
    )
    return dsc.GetActiveJobsResponse(jobs=tuple(summary(j) for j in jobs))


def get_job_history(caller: Caller) -> dsc.GetJobHistoryResponse:
    jobs = (
        ScanJob.objects.filter(server=caller.server, state__in=TERMINAL_JOB_STATES)
        .prefetch_related("deliveries")
        .order_by("-completed_at", "-created_at")[:HISTORY_LIMIT]
    )
    return dsc.GetJobHistoryResponse(jobs=tuple(summary(j) for j in jobs))


def get_post_scan_job_elements(
    caller: Caller, req: dsc.GetPostScanJobElementsRequest
) -> dsc.GetPostScanJobElementsResponse:
    job = find_job(caller, req.job_token, ns_fault=dsc.FAULT_JOB_TOKEN_NOT_FOUND)
    return dsc.GetPostScanJobElementsResponse(elements=job_elements(job, req.requested, dsc.NS))


def cancel(caller: Caller, token: str) -> ScanJob:
    return cancel_post_scan_job(caller, token, ns_fault=dsc.FAULT_JOB_TOKEN_NOT_FOUND)
