"""A real worker SIGKILLed at every commit boundary of a job's path; after a restart and the
recovery task the job is terminal within its deadline, every acknowledged page is in each
destination exactly once, and nothing but the output is left there (scanserver.recovery).

The boundaries, in the order a job passes them (the named pause points of ``core.testhooks``):
ingest (the factory spools the pages and ends the transfer: the job is ``pending``) → queue →
claim → build → built → plan → each delivery (mid-document, in the destination but not recorded,
recorded with the next one not yet sent) → settle → events. The job has two folder destinations
with ContinueOnError false, so its deliveries run one after the other and "between deliveries"
is a boundary of its own. Output is JPEG per page, copied byte for byte: "exactly once" is checked
file by file against the pages' sha256.

The in-database tests at the end show each invariant enforced on its own (no worker needed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from scanserver import delivery as delivery_mod
from scanserver import pipeline, recovery
from tests.factories import (
    Delivery,
    DeliveryFactory,
    DeliveryState,
    JobState,
    OutputDocument,
    ScanJob,
    ScanJobFactory,
    ScanProcessFactory,
)
from tests.scanserver.scanfiles import files_in, page_bytes, sha
from tests.scanserver.test_crash_worker import Workers, redis_url, send, wait, workers

__all__ = ["redis_url", "workers"]  # fixtures, imported for this module's tests

PAGES = 4
DEADLINE = 120  # SMC_SCANSERVER_JOB_DEADLINE of the workers: the bound every job must end within
LONG = 120  # a pause the test always kills the worker inside


@dataclass
class Scene:
    job: ScanJob
    folders: tuple[Path, Path]
    log: Path

    def outputs(self) -> int:
        return OutputDocument.objects.filter(job=self.job).count()

    def deliveries(self) -> list[Delivery]:
        return list(Delivery.objects.filter(job=self.job).order_by("position"))

    def state(self) -> str:
        return str(ScanJob.objects.values_list("state", flat=True).get(pk=self.job.pk))

    def delivered_in(self, index: int) -> int:
        folder = self.folders[index]
        return len(files_in(folder)) if folder.is_dir() else 0


def _states(scene: Scene) -> list[str]:
    return [d.state for d in scene.deliveries()]


@dataclass(frozen=True)
class Boundary:
    name: str
    delay: str  # SMC_PIPELINE_TEST_DELAY of the worker that is killed
    reached: Callable[[Scene], bool]  # true while that worker sits at the boundary


BOUNDARIES = [
    Boundary(
        "queue",
        "queued=%d" % LONG,
        lambda s: s.state() == JobState.PENDING and "process_job[" in s.log.read_text(),
    ),
    Boundary("claim", "claimed=%d" % LONG, lambda s: s.state() == JobState.PROCESSING and s.outputs() == 0),
    Boundary("build", "build=0.5", lambda s: 1 <= s.outputs() < PAGES),
    Boundary("built", "built=%d" % LONG, lambda s: s.outputs() == PAGES and not s.deliveries()),
    Boundary("plan", "planned=%d" % LONG, lambda s: _states(s) == [DeliveryState.PENDING] * 2),
    Boundary("first-delivery-mid-document", "deliver=0.5", lambda s: 1 <= s.delivered_in(0) < PAGES),
    Boundary(
        "first-delivery-placed-not-recorded",
        "delivered=%d" % LONG,
        lambda s: s.delivered_in(0) == PAGES and _states(s)[0] == DeliveryState.SENDING,
    ),
    Boundary(
        "between-deliveries",
        "sent=%d" % LONG,
        lambda s: _states(s) == [DeliveryState.DELIVERED, DeliveryState.PENDING],
    ),
    Boundary(
        "second-delivery-placed-not-recorded",
        "delivered=3",  # the first delivery's pause passes; the test kills inside the second's
        lambda s: s.delivered_in(1) == PAGES and _states(s)[1] == DeliveryState.SENDING,
    ),
    Boundary("settle", "sent=3", lambda s: s.state() == JobState.COMPLETED),
    Boundary("events", "events=1", lambda s: s.state() == JobState.COMPLETED),
]


def _scene(tmp_path: Path, destinations: int = 2) -> tuple[Scene, list[bytes]]:
    folders = (tmp_path / "scans-a", tmp_path / "scans-b")
    blobs = [page_bytes(n, dpi=40) for n in range(1, PAGES + 1)]
    process = ScanProcessFactory(
        pipeline=True,
        continue_on_error=False,
        output_format="jpeg",
        destinations=[{"kind": "folder", "config": {"path": str(f)}} for f in folders[:destinations]],
    )
    job = ScanJobFactory(process=process, pages=blobs)  # ingest: spooled, acknowledged, pending
    return Scene(job, folders, tmp_path / "doomed.log"), blobs


def _assert_end(scene: Scene, blobs: list[bytes], destinations: int = 2) -> None:
    job = ScanJob.objects.get(pk=scene.job.pk)
    assert job.state == JobState.COMPLETED, (job.state, job.error)
    assert job.run_started_at is not None and job.completed_at is not None
    assert job.completed_at - job.run_started_at <= timedelta(seconds=DEADLINE)
    names = sorted(OutputDocument.objects.filter(job=job).values_list("name", flat=True))
    assert len(names) == PAGES
    for folder in scene.folders[:destinations]:
        assert sorted(p.name for p in folder.iterdir()) == names  # nothing but the output, no temp files
        assert sorted(files_in(folder).values()) == sorted(sha(b) for b in blobs)  # each page once
    for item in scene.deliveries():
        assert item.state == DeliveryState.DELIVERED and len(item.receipt) == PAGES


def _worker_env() -> dict[str, str]:
    return {"SMC_SCANSERVER_JOB_DEADLINE": str(DEADLINE)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("boundary", BOUNDARIES, ids=[b.name for b in BOUNDARIES])
def test_worker_killed_at_a_boundary_ends_the_job_with_every_page_delivered_once(
    boundary: Boundary, workers: Workers, redis_url: str, tmp_path: Path
) -> None:
    scene, blobs = _scene(tmp_path)
    doomed = workers.start("doomed", boundary.delay, _worker_env())
    send(redis_url, "scanserver.tasks.process_job", scene.job.pk)
    wait(lambda: boundary.reached(scene), "the worker at %s" % boundary.name, timeout=90)
    workers.kill(doomed)
    assert boundary.reached(scene)  # the kill landed at the boundary, nothing moved past it

    workers.start("after", "", _worker_env())
    send(redis_url, "scanserver.tasks.recover", 0)
    wait(lambda: ScanJob.objects.get(pk=scene.job.pk).is_terminal, "the job to end", timeout=DEADLINE)
    _assert_end(scene, blobs)


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
@pytest.mark.slow
def test_a_job_left_processing_with_its_delivery_recorded_is_settled_by_recovery(
    workers: Workers, redis_url: str, tmp_path: Path
) -> None:
    """The old window (success committed, the settle lost with the worker): the destination has
    every document, the delivery is recorded delivered, the job still processing."""
    scene, blobs = _scene(tmp_path, destinations=1)
    doomed = workers.start("doomed", "delivered=%d" % LONG, _worker_env())
    send(redis_url, "scanserver.tasks.process_job", scene.job.pk)
    wait(lambda: scene.delivered_in(0) == PAGES, "every document in the destination")
    workers.kill(doomed)
    (item,) = scene.deliveries()
    assert item.state == DeliveryState.SENDING
    receipt = [{"name": o.name, "sha256": o.sha256} for o in OutputDocument.objects.filter(job=scene.job)]
    Delivery.objects.filter(pk=item.pk).update(state=DeliveryState.DELIVERED, receipt=receipt)
    assert scene.state() == JobState.PROCESSING

    workers.start("after", "", _worker_env())
    send(redis_url, "scanserver.tasks.recover", 0)
    wait(lambda: scene.state() == JobState.COMPLETED, "recovery to settle the job")
    _assert_end(scene, blobs, destinations=1)


# --------------------------------------------------------------------------- each invariant alone


def _processing_job(tmp_path: Path, **delivery_fields: object) -> ScanJob:
    process = ScanProcessFactory(
        pipeline=True,
        output_format="jpeg",
        destinations=[{"kind": "folder", "config": {"path": str(tmp_path)}}],
    )
    job = ScanJobFactory(process=process, pages=[page_bytes(1, dpi=40)])
    job.start_processing()
    if delivery_fields:
        DeliveryFactory(job=job, kind="folder", target=str(tmp_path), **delivery_fields)
    return job


@pytest.mark.django_db
def test_settle_finished_settles_a_processing_job_whose_deliveries_are_done_once(tmp_path: Path) -> None:
    job = _processing_job(tmp_path, state=DeliveryState.DELIVERED)
    assert recovery.settle_finished(0) == [job.pk]
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert recovery.settle_finished(0) == []  # idempotent
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


@pytest.mark.django_db
def test_settle_finished_leaves_a_job_with_a_delivery_still_to_send(tmp_path: Path) -> None:
    job = _processing_job(tmp_path, state=DeliveryState.PENDING)
    assert recovery.settle_finished(0) == []
    job.refresh_from_db()
    assert job.state == JobState.PROCESSING


@pytest.mark.django_db
@override_settings(SCANSERVER_MAX_RESUMES=2)
def test_a_job_resumed_too_often_is_held_instead_of_looping(tmp_path: Path) -> None:
    job = _processing_job(tmp_path)
    for _ in range(2):
        assert pipeline.resume_stuck(0) == [job.pk]
        job.refresh_from_db()
        assert job.state == JobState.PENDING
        assert pipeline.claim(job.pk) is not None  # a worker takes it again, and dies
    assert pipeline.resume_stuck(0) == []
    job.refresh_from_db()
    assert job.state == JobState.NEEDS_ATTENTION
    assert job.resumes == 2 and "SMC_SCANSERVER_MAX_RESUMES" in job.error
    assert delivery_mod.retry_job(job.pk)  # an operator's retry starts a fresh run
    job.refresh_from_db()
    assert job.state == JobState.PENDING and job.resumes == 0


@pytest.mark.django_db
@override_settings(SCANSERVER_JOB_DEADLINE=60)
def test_a_job_past_its_deadline_is_held_with_the_reason(tmp_path: Path) -> None:
    processing = _processing_job(tmp_path)
    pending = ScanJobFactory(process=processing.process, pages=[page_bytes(2, dpi=40)])
    fresh = ScanJobFactory(process=processing.process, pages=[page_bytes(3, dpi=40)])
    long_ago = timezone.now() - timedelta(seconds=61)
    ScanJob.objects.filter(pk__in=[processing.pk, pending.pk]).update(run_started_at=long_ago)
    assert sorted(recovery.enforce_deadline()) == sorted([processing.pk, pending.pk])
    for job in (processing, pending):
        job.refresh_from_db()
        assert job.state == JobState.NEEDS_ATTENTION and "SMC_SCANSERVER_JOB_DEADLINE" in job.error
    fresh.refresh_from_db()
    assert fresh.state == JobState.PENDING
    assert recovery.enforce_deadline() == []


@pytest.mark.django_db
@override_settings(SCANSERVER_DELIVERY_MAX_ATTEMPTS=2)
def test_a_delivery_left_sending_on_its_last_attempt_fails_instead_of_being_sent_again(
    tmp_path: Path,
) -> None:
    job = _processing_job(tmp_path, state=DeliveryState.SENDING, attempts=2)
    (item,) = Delivery.objects.filter(job=job)
    assert delivery_mod.recover_stuck(0) == []
    item.refresh_from_db()
    job.refresh_from_db()
    assert item.state == DeliveryState.FAILED
    assert job.state == JobState.NEEDS_ATTENTION


@pytest.mark.django_db
def test_a_delivery_left_sending_with_attempts_left_is_sent_again(tmp_path: Path) -> None:
    job = _processing_job(tmp_path, state=DeliveryState.SENDING, attempts=1)
    (item,) = Delivery.objects.filter(job=job)
    assert delivery_mod.recover_stuck(0) == [item.pk]
    item.refresh_from_db()
    assert item.state == DeliveryState.PENDING
    assert delivery_mod.due(job) == [item]
