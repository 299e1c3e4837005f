"""Scan jobs, their pages, outputs and deliveries.

State lives on the models: every change of a job's or a delivery's state goes through a method
that refuses an illegal move (STYLE.md habit 3). Nothing assigns ``state =`` elsewhere.

A transition announces itself (STYLE.md habit 13): :meth:`ScanJob.announce` queues the console
broadcast (``core.broadcast``) and, once the transaction commits, sends the :data:`job_changed`
signal, on which ``scanserver.events`` notifies WS-Eventing subscribers. No caller has to remember.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from core import broadcast
from core.testhooks import test_pause
from scanprocesses import destinations

#: Sent after the commit of every transition (and the creation) of a job or one of its deliveries,
#: with ``job_id``. ``scanserver.events`` listens to it.
job_changed = Signal()


class IllegalTransition(Exception):
    """A state change the state machine does not allow; the message names both states."""


class JobState(models.TextChoices):
    """States of a scan job, with the WS-DSC JobState each one is reported as.

    Legal transitions (``ScanJob.TRANSITIONS``)::

        receiving       -> pending (EndPostScanJob) | canceled | aborted (timeout, transfer failure)
        pending         -> processing | canceled | aborted | needs_attention (past its deadline)
        processing      -> completed | needs_attention | aborted | canceled | pending (resumed after a crash)
        needs_attention -> pending (retry) | canceled | completed (every delivery retried by hand succeeded)
        completed, canceled, aborted: terminal
    """

    RECEIVING = "receiving", "Receiving pages"
    PENDING = "pending", "Waiting for processing"
    PROCESSING = "processing", "Processing"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    COMPLETED = "completed", "Completed"
    CANCELED = "canceled", "Canceled"
    ABORTED = "aborted", "Aborted"


DSC_JOB_STATE = {
    JobState.RECEIVING: "Started",
    JobState.PENDING: "Pending",
    JobState.PROCESSING: "Processing",
    JobState.NEEDS_ATTENTION: "Pending-Held",
    JobState.COMPLETED: "Completed",
    JobState.CANCELED: "Canceled",
    JobState.ABORTED: "Aborted",
}

TERMINAL_JOB_STATES = frozenset({JobState.COMPLETED, JobState.CANCELED, JobState.ABORTED})


class JobSource(models.TextChoices):
    DSP = "dsp", "DSM push (WS-DSP)"
    WSD = "wsd", "WSD scan to computer (WS-Scan pull)"


class ScanJob(models.Model):
    MAX_WARNING_LENGTH = 500

    TRANSITIONS: dict[str, frozenset[str]] = {
        JobState.RECEIVING: frozenset({JobState.PENDING, JobState.CANCELED, JobState.ABORTED}),
        JobState.PENDING: frozenset(
            {JobState.PROCESSING, JobState.CANCELED, JobState.ABORTED, JobState.NEEDS_ATTENTION}
        ),
        JobState.PROCESSING: frozenset(
            {
                JobState.COMPLETED,
                JobState.NEEDS_ATTENTION,
                JobState.ABORTED,
                JobState.CANCELED,
                JobState.PENDING,
            }
        ),
        JobState.NEEDS_ATTENTION: frozenset({JobState.PENDING, JobState.CANCELED, JobState.COMPLETED}),
        JobState.COMPLETED: frozenset(),
        JobState.CANCELED: frozenset(),
        JobState.ABORTED: frozenset(),
    }

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, help_text="dsp/dsc JobToken")
    source = models.CharField(max_length=8, choices=JobSource.choices, default=JobSource.DSP)
    server = models.ForeignKey(
        "devices.ScanServer", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="scan_jobs"
    )
    user_sid = models.CharField(max_length=184, blank=True)
    user_name = models.CharField(max_length=255, blank=True)
    process = models.ForeignKey(
        "scanprocesses.ScanProcess", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    process_version = models.ForeignKey(
        "scanprocesses.ScanProcessVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    psp_identifier = models.CharField(max_length=64, blank=True)
    psp_display_name = models.CharField(max_length=255, blank=True)
    instructions_xml = models.TextField(blank=True, help_text="PostScanInstructions as the device sent them")
    document_root_name = models.CharField(max_length=255, blank=True)
    state = models.CharField(
        max_length=20, choices=JobState.choices, default=JobState.RECEIVING, db_index=True
    )
    state_reasons = models.JSONField(default=list, blank=True)
    images_received = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="EndPostScanJob received")
    completed_at = models.DateTimeField(null=True, blank=True)
    run_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="EndPostScanJob or an operator's retry: the job's deadline counts from here",
    )
    resumes = models.PositiveIntegerField(
        default=0, help_text="times this run was resumed after a dead worker (scanserver.recovery)"
    )
    error = models.TextField(blank=True, help_text="why the job failed or is held; warnings are kept apart")
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="non-fatal problems, short strings (e.g. OCR unavailable: a plain PDF was delivered)",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return "job %s" % self.token

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES

    @property
    def dsc_state(self) -> str:
        return DSC_JOB_STATE[JobState(self.state)]

    def add_warning(self, text: str) -> bool:
        """Record a non-fatal problem of the job once; False when it was already recorded.

        Saved at once, and only this field, merged with the row under a lock: the warning survives
        whatever else happens to the job, and two workers adding warnings lose neither. Warnings do
        not change the state; a job that ends with any ends ``PostScanJobCompletedWithWarnings``,
        and they stay through a retry (they describe the documents, which a retry reuses).
        """
        text = " ".join(text.split())[: self.MAX_WARNING_LENGTH]
        if not text:
            return False
        if self.pk is None:
            if text in self.warnings:
                return False
            self.warnings = [*self.warnings, text]
            return True
        with transaction.atomic():
            stored = ScanJob.objects.select_for_update().values_list("warnings", flat=True).get(pk=self.pk)
            current = list(stored or [])
            added = text not in current
            if added:
                current.append(text)
                ScanJob.objects.filter(pk=self.pk).update(warnings=current)
        self.warnings = current
        return added

    def announce(self) -> None:
        """Tell the console and the event subscribers about this job's current state, after the
        surrounding transaction commits. Every transition calls it; so do the two places that
        create a job (a new job is not a transition) and the page-progress throttle."""
        broadcast.broadcast(
            "job",
            str(self.pk),
            self.state,
            token=str(self.token),
            images=self.images_received,
            reasons=list(self.state_reasons or []),
        )
        job_id = self.pk
        transaction.on_commit(lambda: _job_changed(job_id))

    def _move(
        self, to: str, reasons: list[str] | None = None, error: str | None = None, **fields: Any
    ) -> None:
        if to not in self.TRANSITIONS[self.state]:
            raise IllegalTransition("scan job %s cannot go from %s to %s" % (self.token, self.state, to))
        self.state = to
        changed = {"state", "last_activity_at", *fields}
        if reasons is not None:
            self.state_reasons = reasons
            changed.add("state_reasons")
        if error is not None:
            self.error = error
            changed.add("error")
        self.last_activity_at = timezone.now()
        if to in TERMINAL_JOB_STATES:
            self.completed_at = self.last_activity_at
            changed.add("completed_at")
        for key, value in fields.items():
            setattr(self, key, value)
        # Only what the transition changed: a copy of the job loaded earlier (the console's
        # cancel while a worker records warnings, counts pages...) must not write back old values.
        self.save(update_fields=sorted(changed) if self.pk is not None else None)
        self.announce()

    def end_transfer(self) -> None:
        """EndPostScanJob: all pages are here; processing may start."""
        now = timezone.now()
        self._move(JobState.PENDING, ["None"], ended_at=now, run_started_at=now, resumes=0)

    def start_processing(self) -> None:
        self._move(JobState.PROCESSING, ["None"])

    def resume(self) -> None:
        """A worker died mid-processing: go back to pending (steps are idempotent), counted so that
        the recovery can hold a job that keeps killing its workers instead of looping."""
        self._move(JobState.PENDING, self.state_reasons, resumes=self.resumes + 1)

    def complete(self, with_errors: bool = False, with_warnings: bool = False) -> None:
        if with_errors:
            reason = "PostScanJobCompletedWithErrors"
        elif with_warnings:
            reason = "PostScanJobCompletedWithWarnings"
        else:
            reason = "PostScanJobCompletedSuccessfully"
        self._move(JobState.COMPLETED, [reason])

    def hold(self, error: str) -> None:
        """Deliveries failed past their retry limit: keep the job, list it, allow a retry."""
        self._move(JobState.NEEDS_ATTENTION, ["PostScanJobProcessingFailed"], error=error)

    def retry(self) -> None:
        """Back to pending for another run; the error is cleared, the warnings are kept."""
        self._move(JobState.PENDING, ["None"], error="", run_started_at=timezone.now(), resumes=0)

    def cancel(self) -> None:
        self._move(JobState.CANCELED, ["PostScanJobCanceled"])

    def abort(self, reason: str, error: str) -> None:
        """End the job for good: ``reason`` is a dsp/dsc JobStateReason (e.g. PostScanJobTimedOut)."""
        self._move(JobState.ABORTED, [reason], error=error)

    def time_out(self) -> None:
        self.abort("PostScanJobTimedOut", "No EndPostScanJob within the time limit")


def _job_changed(job_id: int) -> None:
    test_pause("events")  # the transition is committed, its event not yet sent
    job_changed.send(sender=ScanJob, job_id=job_id)


class ScanPage(models.Model):
    """One received document (a page, or a multi-page file sent as one SendImage), spooled."""

    job = models.ForeignKey(ScanJob, on_delete=models.CASCADE, related_name="pages")
    document_id = models.PositiveIntegerField()
    format = models.CharField(max_length=64)
    content_type = models.CharField(max_length=128, blank=True)
    spool_path = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "document_id"]
        constraints = [models.UniqueConstraint(fields=["job", "document_id"], name="unique_document_per_job")]


class OutputDocument(models.Model):
    """A file the pipeline built from the job's pages (e.g. the PDF), ready to deliver."""

    job = models.ForeignKey(ScanJob, on_delete=models.CASCADE, related_name="outputs")
    name = models.CharField(max_length=255)
    path = models.CharField(max_length=1024)
    content_type = models.CharField(max_length=128)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    pages = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "name"]
        constraints = [models.UniqueConstraint(fields=["job", "name"], name="unique_output_name_per_job")]


class DeliveryState(models.TextChoices):
    """Legal transitions: pending -> sending; sending -> delivered | pending (retry scheduled) |
    failed (retry limit reached); failed -> pending (retried by hand); pending|failed -> canceled."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (needs attention)"
    CANCELED = "canceled", "Canceled"


class Delivery(models.Model):
    """One filter of a job's post-scan instructions, sent to one destination.

    ``kind``, ``dialect`` and ``target`` are the delivery's own copy, taken when it was planned:
    the history of a job never depends on the process as it is today. ``destination`` links the
    process destination the delivery was planned from, while that row exists. It is null when the
    row was deleted since (``SET_NULL``: editing a process never deletes a job's deliveries; the
    console replaces a process's destination rows whenever the process is saved), when the process
    had no destination for the filter, when the process was edited after the job's version was
    published, and for rows planned before the link existed. Which settings and credential a
    delivery sends with is decided in :mod:`scanserver.delivery` (the published version's copy,
    not this link, for every job that has a version).
    """

    TRANSITIONS: dict[str, frozenset[str]] = {
        DeliveryState.PENDING: frozenset({DeliveryState.SENDING, DeliveryState.CANCELED}),
        DeliveryState.SENDING: frozenset(
            {DeliveryState.DELIVERED, DeliveryState.PENDING, DeliveryState.FAILED}
        ),
        DeliveryState.FAILED: frozenset({DeliveryState.PENDING, DeliveryState.CANCELED}),
        DeliveryState.DELIVERED: frozenset(),
        DeliveryState.CANCELED: frozenset(),
    }

    job = models.ForeignKey(ScanJob, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.ForeignKey(
        "scanprocesses.ProcessDestination",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        help_text="the process destination this was planned from, while that row exists",
    )
    kind = models.CharField(max_length=16, choices=destinations.CHOICES)  # the registry's kinds
    dialect = models.CharField(max_length=255, blank=True, help_text="psp filter dialect this came from")
    target = models.CharField(max_length=2048, help_text="where: folder path, UNC, address list, URL")
    position = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    filter_state_reason = models.CharField(max_length=64, blank=True, help_text="dsc FilterStateReason")
    receipt = models.JSONField(default=list, blank=True, help_text="[{name, where, size, sha256, verified}]")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "position"]

    def _move(self, to: str, **fields: Any) -> None:
        if to not in self.TRANSITIONS[self.state]:
            raise IllegalTransition("delivery %s cannot go from %s to %s" % (self.pk, self.state, to))
        self.state = to
        for key, value in fields.items():
            setattr(self, key, value)
        # Only what the transition changed (as for ScanJob): an older copy writes back nothing else.
        changed = sorted({"state", "updated_at", *fields})
        self.save(update_fields=changed if self.pk is not None else None)
        self.job.announce()  # the job's filter statuses changed

    def start(self) -> None:
        self._move(DeliveryState.SENDING, attempts=self.attempts + 1)

    def succeed(self, receipt: list[dict[str, Any]]) -> None:
        self._move(DeliveryState.DELIVERED, receipt=receipt, last_error="", next_attempt_at=None)

    def retry_later(self, error: str, at: Any, reason: str = "UnknownError") -> None:
        self._move(DeliveryState.PENDING, last_error=error, next_attempt_at=at, filter_state_reason=reason)

    def give_up(self, error: str, reason: str = "UnknownError") -> None:
        self._move(DeliveryState.FAILED, last_error=error, next_attempt_at=None, filter_state_reason=reason)

    def retry(self) -> None:
        self._move(DeliveryState.PENDING, next_attempt_at=None)

    def cancel(self) -> None:
        self._move(DeliveryState.CANCELED)
