"""Deliveries and the process destinations they came from (``Delivery.destination``).

The rule under test is in the docstring of :mod:`scanserver.delivery`: a job with a published
version delivers with that version's copy of each destination, whatever happens to the process
afterwards; the link to the live ``ProcessDestination`` is history, set to null (never cascaded)
when the row goes away. Processes are published the console's way
(``ScanProcessFactory(published=True)`` calls ``scanprocesses.authoring.publish``, embedded directory)
and edited with ``scanprocesses.authoring.save_process``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanprocesses import authoring as sp
from scanprocesses.destinations import Credentials
from scanserver import delivery, tasks
from tests.factories import (
    Delivery,
    DeliveryState,
    JobState,
    ProcessDestination,
    ScanJobFactory,
    ScanProcessFactory,
    UserFactory,
)
from tests.scanserver.scanfiles import files_in, page_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings: Any, tmp_path: Path) -> Iterator[None]:
    conf = tasks.deliver.app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_DELIVERY_BACKOFF = 0
    settings.SCANSERVER_DELIVERY_MAX_ATTEMPTS = 1
    settings.SCANSERVER_BACKGROUND_TASKS = False  # a retry processes here, now (scanserver.conf)
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def folder(path: Path, **extra: Any) -> sp.DestinationSpec:
    return sp.DestinationSpec("folder", {"path": str(path)}, **extra)


def edit_destinations(process: Any, specs: list[sp.DestinationSpec]) -> None:
    """An administrator's edit of the process (the console replaces the destination rows)."""
    sp.save_process(process, specs, [], "test")


def run(process: Any) -> Any:
    job = ScanJobFactory(
        process=process, pages=[page_bytes(dpi=30)], process_version=process.published_version
    )
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    return job


def test_each_delivery_is_linked_to_the_process_destination_it_came_from(eager: None, tmp_path: Path) -> None:
    process = ScanProcessFactory(
        display_name="Linked",
        pipeline=True,
        published=True,
        destinations=[folder(tmp_path / "a"), folder(tmp_path / "b")],
    )
    first, second = process.destinations.order_by("position")
    job = run(process)
    assert job.state == JobState.COMPLETED
    d1, d2 = job.deliveries.order_by("position")
    assert (d1.destination, d2.destination) == (first, second)
    assert list(first.deliveries.all()) == [d1] and list(second.deliveries.all()) == [d2]
    assert len(files_in(tmp_path / "a")) == 1 and len(files_in(tmp_path / "b")) == 1


def test_replacing_or_deleting_destinations_keeps_the_delivery_history(eager: None, tmp_path: Path) -> None:
    process = ScanProcessFactory(
        display_name="History",
        pipeline=True,
        published=True,
        destinations=[folder(tmp_path / "a"), folder(tmp_path / "b")],
    )
    job = run(process)
    before = {
        d.pk: (d.kind, d.target, d.state, d.attempts, d.receipt) for d in job.deliveries.order_by("position")
    }
    assert all(state == DeliveryState.DELIVERED for _, _, state, _, _ in before.values())

    edit_destinations(process, [folder(tmp_path / "c")])  # both rows replaced by a new one
    assert not ProcessDestination.objects.filter(deliveries__job=job).exists()
    after = {d.pk: (d.kind, d.target, d.state, d.attempts, d.receipt) for d in job.deliveries.all()}
    assert after == before
    assert [d.destination_id for d in job.deliveries.all()] == [None, None]

    # A plain delete of a linked row, too.
    sp.publish(process, "test")
    job2 = run(process)
    (d,) = job2.deliveries.all()
    assert d.destination is not None
    d.destination.delete()
    d.refresh_from_db()
    assert d.destination is None and d.state == DeliveryState.DELIVERED and d.receipt
    assert Delivery.objects.filter(job__in=[job, job2]).count() == 3


def test_editing_a_destination_in_place_keeps_the_link(eager: None, tmp_path: Path) -> None:
    """The console's edit form names each row it shows (``existing_id``): that row is updated, not
    replaced, so earlier deliveries stay linked to it; a row left out is deleted."""
    process = ScanProcessFactory(
        display_name="In place",
        pipeline=True,
        published=True,
        destinations=[folder(tmp_path / "a"), folder(tmp_path / "b")],
    )
    first, second = process.destinations.order_by("position")
    job = run(process)
    d1, d2 = job.deliveries.order_by("position")
    edit_destinations(process, [folder(tmp_path / "a2", existing_id=first.pk)])  # b left out
    (kept,) = process.destinations.all()
    assert kept.pk == first.pk and kept.config["path"] == str(tmp_path / "a2")
    d1.refresh_from_db()
    d2.refresh_from_db()
    assert d1.destination_id == first.pk and d2.destination_id is None
    assert d1.target == str(tmp_path / "a"), "the delivery keeps where it went"


def test_a_held_job_retries_with_its_version_not_the_edited_process(eager: None, tmp_path: Path) -> None:
    """The rule: the published version the job was created with decides the settings and the
    credential, even when the process's destinations were replaced and republished meanwhile."""
    blocked = tmp_path / "old"
    blocked.write_bytes(b"a file where the folder should be")  # the destination is down
    process = ScanProcessFactory(
        display_name="Retry",
        pipeline=True,
        published=True,
        destinations=[folder(blocked, username="svc", password="old-secret")],
    )
    job = run(process)
    (d,) = job.deliveries.all()
    assert job.state == JobState.NEEDS_ATTENTION and d.state == DeliveryState.FAILED
    assert d.destination is not None

    edit_destinations(process, [folder(tmp_path / "new", username="svc2", password="new-secret")])
    sp.publish(process, "test")
    d.refresh_from_db()
    assert d.destination is None  # the row it came from is gone; nothing else changed
    dest = delivery.base_config(d)
    assert dest.config["path"] == str(blocked) and dest.credentials() == Credentials("svc", "old-secret")

    from django.test import Client

    client = Client()
    client.force_login(UserFactory(username="admin-x", superuser=True))
    page = client.get("/jobs/%s/" % job.token).content.decode()
    assert "later edits of the scan process do not apply to it" in page

    blocked.unlink()  # the old destination is back
    assert tasks.retry_job.delay(job.pk).get() is True
    job.refresh_from_db()
    d.refresh_from_db()
    assert job.state == JobState.COMPLETED and d.state == DeliveryState.DELIVERED
    assert len(files_in(blocked)) == 1 and not (tmp_path / "new").exists()


def test_a_process_edited_after_publication_leaves_the_link_empty(eager: None, tmp_path: Path) -> None:
    """The live row no longer holds what the version holds: no link, delivery by the version."""
    process = ScanProcessFactory(
        display_name="Edited", pipeline=True, published=True, destinations=[folder(tmp_path / "published")]
    )
    edit_destinations(process, [folder(tmp_path / "draft")])  # not published
    job = run(process)
    (d,) = job.deliveries.all()
    assert job.state == JobState.COMPLETED and d.destination is None
    assert d.target == str(tmp_path / "published")
    assert len(files_in(tmp_path / "published")) == 1 and not (tmp_path / "draft").exists()


def test_a_job_without_a_version_follows_its_link_then_the_position(tmp_path: Path, settings: Any) -> None:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {"kind": "folder", "config": {"path": str(tmp_path / "a")}, "username": "ua", "password": "pa"},
            {"kind": "folder", "config": {"path": str(tmp_path / "b")}, "username": "ub", "password": "pb"},
        ],
    )
    first, second = process.destinations.order_by("position")
    job = ScanJobFactory(process=process, pages=[page_bytes(dpi=30)])
    d1, d2 = delivery.plan_deliveries(job)
    assert (d1.destination, d2.destination) == (first, second)

    # The administrator reorders the rows in place: the link, not the position, decides.
    ProcessDestination.objects.filter(pk=first.pk).update(position=1)
    ProcessDestination.objects.filter(pk=second.pk).update(position=0)
    d1.refresh_from_db()
    got = delivery.base_config(d1)
    assert got.config["path"] == str(tmp_path / "a") and got.credentials() == Credentials("ua", "pa")

    # A row planned before deliveries had links (null) falls back to the position.
    Delivery.objects.filter(pk=d1.pk).update(destination=None)
    d1.refresh_from_db()
    got = delivery.base_config(d1)
    assert got.config["path"] == str(tmp_path / "b") and got.credentials() == Credentials("ub", "pb")
