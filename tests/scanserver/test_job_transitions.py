"""ScanJob state transitions write only what they change, so an older copy of a job (the console's
cancel while a worker records warnings and the spool counts pages) never writes back old values."""

from __future__ import annotations

import pytest

from tests.factories import IllegalTransition, JobState, ScanJob, ScanJobFactory

pytestmark = pytest.mark.django_db


def test_a_transition_on_a_stale_copy_keeps_what_others_wrote_meanwhile() -> None:
    job = ScanJobFactory(psp_display_name="Stale")
    stale = ScanJob.objects.get(pk=job.pk)  # e.g. the console page's copy
    ScanJob.objects.filter(pk=job.pk).update(images_received=7)  # the spool counted pages
    job.add_warning("OCR is not installed; the PDF has no text layer")  # a worker's warning
    stale.cancel()
    fresh = ScanJob.objects.get(pk=job.pk)
    assert fresh.state == JobState.CANCELED and fresh.state_reasons == ["PostScanJobCanceled"]
    assert fresh.completed_at is not None
    assert fresh.images_received == 7
    assert fresh.warnings == ["OCR is not installed; the PDF has no text layer"]


def test_fields_given_to_a_transition_are_saved() -> None:
    job = ScanJobFactory(psp_display_name="Fields")
    job.end_transfer()
    fresh = ScanJob.objects.get(pk=job.pk)
    assert fresh.state == JobState.PENDING and fresh.ended_at is not None
    job.start_processing()
    job.hold("the share refused the credential")
    fresh = ScanJob.objects.get(pk=job.pk)
    assert fresh.state == JobState.NEEDS_ATTENTION and fresh.error == "the share refused the credential"
    with pytest.raises(IllegalTransition):
        fresh.start_processing()  # needs attention goes back to pending first (retry)
