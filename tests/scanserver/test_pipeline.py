"""The pipeline end to end with the folder destination, in eager mode (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from scanserver import delivery, tasks
from tests.factories import (
    DeliveryState,
    JobState,
    OutputDocument,
    ScanJob,
    ScanJobFactory,
    ScanProcessFactory,
)
from tests.scanserver.scanfiles import bomb_png, files_in, page_bytes, sha

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings: Any) -> Iterator[None]:
    """Run tasks in-process as the embedded default does (the suite itself runs against Redis)."""
    conf = tasks.deliver.app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    settings.SCANSERVER_DELIVERY_BACKOFF = 0
    settings.SCANSERVER_DELIVERY_MAX_ATTEMPTS = 3
    settings.SCANSERVER_BACKGROUND_TASKS = False  # a retry processes here, now (scanserver.conf)
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def folder_process(root: Path, **fields: Any) -> Any:
    return ScanProcessFactory(
        pipeline=True, destinations=[{"kind": "folder", "config": {"path": str(root)}}], **fields
    )


def test_job_becomes_one_pdf_in_the_folder(eager: None, tmp_path: Path) -> None:
    blobs = [page_bytes(n, dpi=50) for n in (1, 2, 3)]
    job = ScanJobFactory(process=folder_process(tmp_path / "scans"), pages=blobs)
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.state_reasons == ["PostScanJobCompletedSuccessfully"]
    name = "Scan-%d-1.pdf" % job.pk
    assert list(files_in(tmp_path / "scans")) == [name]
    with pikepdf.Pdf.open(tmp_path / "scans" / name) as pdf:
        assert [next(iter(p.get_images().values())).read_raw_bytes() for p in pdf.pages] == blobs
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.DELIVERED and d.attempts == 1
    (r,) = d.receipt
    assert r["sha256"] == sha((tmp_path / "scans" / name).read_bytes()) and r["verified"] is True


def test_rerunning_every_step_duplicates_nothing(eager: None, tmp_path: Path) -> None:
    from scanserver import pipeline

    job = ScanJobFactory(
        process=folder_process(tmp_path / "scans", output_format="jpeg"),
        pages=[page_bytes(n, dpi=40) for n in (1, 2)],
    )
    tasks.process_job.delay(job.pk)
    before = files_in(tmp_path / "scans")
    assert len(before) == 2
    # A crashed worker's re-run: the same steps again over the same rows.
    job.refresh_from_db()
    checked = pipeline.check_pages(job)
    pipeline.build_outputs(job, checked)
    delivery.plan_deliveries(job)
    (d,) = job.deliveries.all()
    from scanprocesses.destinations import folder

    folder.deliver(d, list(job.outputs.all()), {"path": str(tmp_path / "scans")}, None)  # type: ignore[arg-type]
    assert files_in(tmp_path / "scans") == before
    assert OutputDocument.objects.filter(job=job).count() == 2 and job.deliveries.count() == 1


def test_name_collision_gets_a_suffix_never_an_overwrite(eager: None, tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    scans.mkdir()
    process = folder_process(scans, naming_template="{root}-{seq}")
    (scans / "Scan-1.pdf").write_bytes(b"someone else's file")
    job = ScanJobFactory(process=process, pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    assert (scans / "Scan-1.pdf").read_bytes() == b"someone else's file"
    assert sorted(files_in(scans)) == ["Scan-1 (2).pdf", "Scan-1.pdf"]


def test_pixel_bomb_aborts_the_job_with_the_reason_and_keeps_the_spool(
    eager: None, tmp_path: Path, settings: Any
) -> None:
    settings.SCANSERVER_MAX_PIXELS = 50_000_000
    job = ScanJobFactory(
        process=folder_process(tmp_path / "scans"), pages=[page_bytes(dpi=30), bomb_png()], pages__fmt="png"
    )
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.ABORTED
    assert job.state_reasons == ["PostScanJobProcessingFailed"]
    assert "document 2 refused" in job.error and "pixels" in job.error
    assert all(Path(p.spool_path).is_file() for p in job.pages.all())
    assert not (tmp_path / "scans").exists() or not files_in(tmp_path / "scans")


def test_declared_format_is_ignored(eager: None, tmp_path: Path) -> None:
    job = ScanJobFactory(
        process=folder_process(tmp_path / "scans"), pages=[page_bytes(fmt="png", dpi=30)], pages__fmt="jfif"
    )
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


def test_destination_down_then_up_is_retried_then_needs_attention_then_manual_retry(
    eager: None, tmp_path: Path
) -> None:
    blocked = tmp_path / "scans"
    blocked.write_bytes(b"a file where the folder should be")  # the destination is "down"
    job = ScanJobFactory(process=folder_process(blocked), pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.PENDING and d.attempts == 1 and d.last_error
    assert tasks.deliver_due() == 1  # attempt 2 (backoff 0 in this test)
    assert tasks.deliver_due() == 1  # attempt 3 = the limit
    d.refresh_from_db()
    job.refresh_from_db()
    assert d.state == DeliveryState.FAILED and d.attempts == 3
    assert job.state == JobState.NEEDS_ATTENTION and "filter 1 (folder)" in job.error
    assert tasks.deliver_due() == 0
    blocked.unlink()  # the destination is back
    assert tasks.retry_job.delay(job.pk).get() is True
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert len(files_in(blocked)) == 1


def test_backoff_doubles(settings: Any) -> None:
    settings.SCANSERVER_DELIVERY_BACKOFF = 10
    assert [delivery.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]


def test_continue_on_error_false_stops_later_filters(eager: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"x")
    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {"kind": "folder", "config": {"path": str(bad)}},
            {"kind": "folder", "config": {"path": str(tmp_path / "ok")}},
        ],
        continue_on_error=False,
    )
    job = ScanJobFactory(process=process, pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    tasks.deliver_due()
    tasks.deliver_due()
    job.refresh_from_db()
    first, second = job.deliveries.order_by("position")
    assert first.state == DeliveryState.FAILED
    assert second.state == DeliveryState.PENDING and second.attempts == 0
    assert job.state == JobState.NEEDS_ATTENTION
    assert not (tmp_path / "ok").exists()


def test_continue_on_error_true_delivers_the_others_then_cancel_completes_with_errors(
    eager: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"x")
    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {"kind": "folder", "config": {"path": str(bad)}},
            {"kind": "folder", "config": {"path": str(tmp_path / "ok")}},
        ],
        continue_on_error=True,
    )
    job = ScanJobFactory(process=process, pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    tasks.deliver_due()
    tasks.deliver_due()
    job.refresh_from_db()
    assert [d.state for d in job.deliveries.order_by("position")] == ["failed", "delivered"]
    assert job.state == JobState.NEEDS_ATTENTION
    assert delivery.cancel_failed(job.pk) == JobState.COMPLETED
    job.refresh_from_db()
    assert job.state_reasons == ["PostScanJobCompletedWithErrors"]


def test_path_traversal_in_config_is_refused(eager: None, tmp_path: Path) -> None:
    process = ScanProcessFactory(
        pipeline=True,
        destinations=[
            {"kind": "folder", "config": {"path": str(tmp_path / "root"), "subfolder": "../../etc"}}
        ],
    )
    job = ScanJobFactory(process=process, pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    (d,) = job.deliveries.all()
    assert d.state == DeliveryState.FAILED and "outside the destination root" in d.last_error
    assert d.filter_state_reason == "InvalidArgs"
    assert job.state == JobState.NEEDS_ATTENTION


def test_job_not_pending_is_skipped(eager: None, tmp_path: Path) -> None:
    job = ScanJobFactory(process=folder_process(tmp_path / "s"), pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    assert tasks.process_job.delay(job.pk).get() == "skipped"
    assert ScanJob.objects.get(pk=job.pk).state == JobState.COMPLETED


def _pdf_text(path: Path) -> str:
    import subprocess

    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, text=True).stdout


@pytest.mark.slow
def test_ocr_gives_a_searchable_pdfa(eager: None, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (1700, 600), 255)
    ImageDraw.Draw(img).text((80, 200), "INVOICE 4711 OPENDSM", fill=0, font=ImageFont.load_default(size=90))
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(200, 200))
    job = ScanJobFactory(
        process=folder_process(tmp_path / "scans", ocr=True, output_format="pdfa"),
        pages=[buf.getvalue()],
        pages__fmt="png",
    )
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED and job.state_reasons == ["PostScanJobCompletedSuccessfully"], (
        job.error
    )
    (pdf,) = (tmp_path / "scans").iterdir()
    assert "INVOICE 4711" in _pdf_text(pdf)
    with pikepdf.Pdf.open(pdf) as doc:
        assert "pdfaid" in str(doc.open_metadata())


def test_missing_ocr_delivers_plain_pdf_with_warning(
    eager: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil as sh

    real = sh.which
    monkeypatch.setattr(
        "scanserver.ocr.shutil.which", lambda name: None if name == "tesseract" else real(name)
    )
    job = ScanJobFactory(process=folder_process(tmp_path / "scans", ocr=True), pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.state_reasons == ["PostScanJobCompletedWithWarnings"]
    (warning,) = job.warnings
    assert "Tesseract is not installed" in warning and "plain PDF" in warning
    assert job.error == ""
    assert len(files_in(tmp_path / "scans")) == 1


def test_warnings_stay_apart_from_errors_through_a_hold_and_a_retry(
    eager: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil as sh

    real = sh.which
    monkeypatch.setattr(
        "scanserver.ocr.shutil.which", lambda name: None if name == "tesseract" else real(name)
    )
    blocked = tmp_path / "scans"
    blocked.write_bytes(b"a file where the folder should be")
    job = ScanJobFactory(process=folder_process(blocked, ocr=True), pages=[page_bytes(dpi=30)])
    tasks.process_job.delay(job.pk)
    tasks.deliver_due()
    tasks.deliver_due()
    job.refresh_from_db()
    assert job.state == JobState.NEEDS_ATTENTION
    assert "filter 1 (folder)" in job.error and "Tesseract" not in job.error
    (warning,) = job.warnings
    assert "Tesseract is not installed" in warning

    # The retry builds the document again (its file is gone), meeting the same problem again.
    (output,) = job.outputs.all()
    Path(output.path).unlink()
    blocked.unlink()
    assert tasks.retry_job.delay(job.pk).get() is True
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert job.state_reasons == ["PostScanJobCompletedWithWarnings"]
    assert job.warnings == [warning] and job.error == ""
    assert len(files_in(blocked)) == 1


def test_add_warning_records_each_text_once_and_merges_with_the_row(tmp_path: Path) -> None:
    job = ScanJobFactory(process=folder_process(tmp_path / "scans"), pages=[page_bytes(dpi=30)])
    stale = ScanJob.objects.get(pk=job.pk)
    assert job.add_warning("OCR unavailable:\n  plain PDF") is True
    assert job.add_warning("OCR unavailable: plain PDF") is False
    assert job.add_warning("   ") is False
    assert stale.add_warning("PDF/A unavailable") is True  # an older copy of the job loses nothing
    assert ScanJob.objects.get(pk=job.pk).warnings == ["OCR unavailable: plain PDF", "PDF/A unavailable"]
    assert stale.warnings == ["OCR unavailable: plain PDF", "PDF/A unavailable"]
    assert ScanJob.objects.get(pk=job.pk).error == ""
