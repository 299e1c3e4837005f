"""Deliveries of a processed job: planning, sending with retries, and the job's end state.

Filter *i* of the job's ``PostScanInstructions`` is the process destination at position *i*
(``scanprocesses.authoring``). One ``Delivery`` per filter, keyed by ``(job, position=i)``; its
``target`` is what the device's instructions say (UNCs, site URLs, addresses — a device may
change them where the process allows, which the scan server already checked), else the
destination's config.

Which settings and credential a delivery sends with (:func:`base_config`):

* A job with a published version — every job a device creates, WS-DSP and WSD alike — sends
  filter *i* with destination *i* of that version's settings snapshot: the config and sealed
  credential as they were published, in the version the job was created with. A version never
  changes, so editing, replacing or deleting the process's destinations afterwards changes
  nothing for the job, not even for a retry days later (to send a held job elsewhere or with a new
  password, cancel it and scan again once the new version is published).
* A job without a version (a process never published: jobs made by hand or by tests) follows the
  live process: the ``ProcessDestination`` its delivery is linked to (``Delivery.destination``);
  without a link, the process's destination at position *i*, as before deliveries had links.

When a delivery is planned it is linked to the process destination at position *i* if that row
is where its settings came from (:func:`source_destination`): always for a job without a
version; for a job with a version only while the row still holds exactly what the snapshot holds
(kind, config, user name, sealed credential) — after an edit of the process the link stays empty
and the delivery goes by the snapshot all the same. The link is history, not a setting: deleting
the destination sets it to null and leaves the delivery and its receipt as they were.

ContinueOnError ([MS-BDSRR] §2.2.4.31): when false, filter *i+1* starts only after filter *i*
delivered, and a filter that failed for good stops the later ones (they stay pending until a
retry). When true, all filters run independently.

End of a job: all deliveries delivered (or canceled by hand) → ``completed`` (with errors when a
delivery was canceled after failing, with warnings when ``ScanJob.warnings`` is not empty); a
delivery that failed past the retry limit → ``needs_attention`` (``job.hold``), from where
:func:`retry_job` sends the failed deliveries again (the job keeps its warnings).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.testhooks import test_pause
from scanprocesses import destinations
from scanprocesses.destinations import Credentials, DeliveryError
from scanprocesses.models import ProcessDestination
from scanserver.jobspec import JobRefused, instructions_of, processing_of
from scanserver.models import Delivery, DeliveryState, JobState, OutputDocument, ScanJob

log = logging.getLogger(__name__)


def max_attempts() -> int:
    """``SMC_DELIVERY_MAX_ATTEMPTS``, parsed in settings."""
    return int(settings.SCANSERVER_DELIVERY_MAX_ATTEMPTS)


def backoff_base() -> float:
    """``SMC_DELIVERY_BACKOFF`` seconds, parsed in settings."""
    return float(settings.SCANSERVER_DELIVERY_BACKOFF)


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    return backoff_base() * 2 ** max(0, attempts - 1)


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class DestinationConfig:
    kind: str
    config: dict[str, Any]
    username: str
    sealed_secret: str

    def credentials(self) -> Credentials:
        from core import secretbox

        try:
            password = secretbox.unseal(self.sealed_secret)
        except secretbox.SecretUnreadable as exc:
            raise DeliveryError(str(exc), destinations.INVALID_ARGS, retryable=False) from None
        return Credentials(self.username, password)

    @classmethod
    def of(cls, row: ProcessDestination) -> DestinationConfig:
        return cls(row.kind, dict(row.config or {}), row.username, row.secret)


def _snapshot_destinations(job: ScanJob) -> list[DestinationConfig] | None:
    """Destinations of the job's version in filter order; None when the job has no version."""
    snap: dict[str, Any] = {}
    if job.process_version is not None:
        snap = job.process_version.settings_snapshot or {}
    if not isinstance(snap.get("destinations"), list):
        return None
    return [
        DestinationConfig(
            str(d.get("kind", "")),
            dict(d.get("config") or {}),
            str(d.get("username", "")),
            str(d.get("secret", "")),
        )
        for d in snap["destinations"]
    ]


def _live_destinations(job: ScanJob) -> list[ProcessDestination]:
    if job.process is None:
        return []
    return list(job.process.destinations.order_by("position", "pk"))


def destination_configs(job: ScanJob) -> list[DestinationConfig]:
    """The job's destinations in filter order: the version snapshot, else the process."""
    snapshot = _snapshot_destinations(job)
    if snapshot is not None:
        return snapshot
    return [DestinationConfig.of(d) for d in _live_destinations(job)]


def source_destination(job: ScanJob, position: int) -> ProcessDestination | None:
    """The process destination filter ``position`` takes its settings from, for the link of a new
    delivery (module docstring); None when no live row is that source."""
    live = _live_destinations(job)
    if position >= len(live):
        return None
    row = live[position]
    snapshot = _snapshot_destinations(job)
    if snapshot is None:
        return row
    if position < len(snapshot) and snapshot[position] == DestinationConfig.of(row):
        return row
    return None  # the process was edited after the job's version was published


def base_config(delivery: Delivery) -> DestinationConfig:
    """The destination ``delivery`` sends with, before the device's instructions are applied (the
    rule is in the module docstring). Raises a non-retryable DeliveryError when there is none."""
    job = delivery.job
    position = delivery.position
    snapshot = _snapshot_destinations(job)
    if snapshot is None and delivery.destination is not None:
        return DestinationConfig.of(delivery.destination)
    # A job with a version: filter i is entry i of the immutable snapshot (not a live row).
    # A job without a version and without a link: the row was planned before deliveries had links
    # (migration scanserver 0003), or while the process had no destination at this position, or its
    # destination has since been replaced; an unpublished process is followed as it is now.
    dests = snapshot if snapshot is not None else destination_configs(job)
    if position >= len(dests):
        raise _no_destination(position, len(dests))
    return dests[position]


def _no_destination(position: int, count: int) -> DeliveryError:
    return DeliveryError(
        "filter %d has no destination in the process (it has %d)" % (position + 1, count),
        destinations.INVALID_ARGS,
        retryable=False,
    )


def effective_config(
    job: ScanJob, position: int, base: DestinationConfig | None = None
) -> tuple[DestinationConfig, str]:
    """``(destination, dialect)`` for filter ``position``, with the device's instructions applied
    to ``base`` (the destination of a planned delivery, :func:`base_config`), else to the job's
    destination at ``position``."""
    if base is None:
        dests = destination_configs(job)
        if position >= len(dests):
            raise _no_destination(position, len(dests))
        base = dests[position]
    dest = base
    config = dict(dest.config)
    dialect = ""
    instructions = instructions_of(job)
    if instructions is not None and position < len(instructions.filters):
        flt = instructions.filters[position]
        dialect = flt.dialect
        try:
            config = destinations.apply_instructions(dest.kind, config, flt)
        except DeliveryError as exc:
            raise DeliveryError("filter %d: %s" % (position + 1, exc), exc.reason, exc.retryable) from None
    return DestinationConfig(dest.kind, config, dest.username, dest.sealed_secret), dialect


def plan_deliveries(job: ScanJob) -> list[Delivery]:
    """One Delivery per filter (idempotent: rows are keyed by position and never duplicated)."""
    instructions = instructions_of(job)
    count = len(destination_configs(job))
    if instructions is not None:
        count = max(count, len(instructions.filters))
    if count == 0:
        raise JobRefused("the scan process has no destination")
    with transaction.atomic():
        existing = {d.position: d for d in Delivery.objects.filter(job=job).select_for_update()}
        for position in range(count):
            if position in existing:
                continue
            try:
                dest, dialect = effective_config(job, position)
                kind, target = dest.kind, destinations.target_text(dest.kind, dest.config)
            except DeliveryError as exc:
                # Keep the row so the failure is visible and retryable once the process is fixed.
                kind, target, dialect = "folder", "(unknown: %s)" % exc, ""
            existing[position] = Delivery.objects.create(
                job=job,
                position=position,
                destination=source_destination(job, position),
                kind=kind,
                dialect=dialect,
                target=target[:2048],
            )
    return [existing[p] for p in sorted(existing)]


# --------------------------------------------------------------------------- sending


def due(job: ScanJob, now: Any = None) -> list[Delivery]:
    """Pending deliveries of ``job`` that may be sent now (ContinueOnError order respected)."""
    now = now or timezone.now()
    ordered = list(Delivery.objects.filter(job=job).order_by("position"))
    if processing_of(job).continue_on_error:
        candidates = [d for d in ordered if d.state == DeliveryState.PENDING]
    else:
        first = next(
            (d for d in ordered if d.state not in (DeliveryState.DELIVERED, DeliveryState.CANCELED)), None
        )
        candidates = [first] if first is not None and first.state == DeliveryState.PENDING else []
    return [d for d in candidates if d.next_attempt_at is None or d.next_attempt_at <= now]


def _claim(delivery_id: int) -> Delivery | None:
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("job").filter(pk=delivery_id).first()
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        if delivery.job.state != JobState.PROCESSING:
            return None
        delivery.start()
    return delivery


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    state: str
    retry_in: float | None = None  # seconds, when a retry was scheduled


def send(delivery_id: int) -> Outcome | None:
    """One attempt of one delivery. None when it was not pending (someone else has it, or done)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    job = delivery.job
    try:
        dest, _dialect = effective_config(job, delivery.position, base_config(delivery))
        module = destinations.get(dest.kind)
        outputs = list(OutputDocument.objects.filter(job=job).order_by("name"))
        if not outputs:
            raise DeliveryError("the job has no output documents", destinations.UNKNOWN_ERROR)
        receipts = module.deliver(delivery, outputs, dest.config, dest.credentials())
        test_pause("delivered")  # in the destination, not yet recorded
    except DeliveryError as exc:
        return _failed(delivery, str(exc), exc.reason, exc.retryable)
    except Exception as exc:  # noqa: BLE001 - a bug or an unexpected library error: record it, retry
        log.exception("delivery %s failed unexpectedly", delivery.pk)
        return _failed(delivery, "%s: %s" % (type(exc).__name__, exc), destinations.UNKNOWN_ERROR, True)
    # The delivery and the job's end state commit together: a worker dying in between would
    # otherwise leave a delivered job "processing" with nothing left to settle it.
    with transaction.atomic():
        _lock_job(job.pk)  # job before delivery, the order every other path takes
        delivery.succeed(receipts)
        log.info("delivery %s (%s) of job %s delivered", delivery.pk, delivery.kind, job.token)
        settle(job.pk)
    return Outcome(delivery.pk, DeliveryState.DELIVERED)


def _failed(delivery: Delivery, error: str, reason: str, retryable: bool) -> Outcome:
    log.warning("delivery %s attempt %d failed: %s (%s)", delivery.pk, delivery.attempts, error, reason)
    if retryable and delivery.attempts < max_attempts():
        wait = backoff(delivery.attempts)
        delivery.retry_later(error, timezone.now() + timedelta(seconds=wait), reason)
        return Outcome(delivery.pk, DeliveryState.PENDING, wait)
    with transaction.atomic():
        _lock_job(delivery.job_id)
        delivery.give_up(error, reason)
        settle(delivery.job_id)
    return Outcome(delivery.pk, DeliveryState.FAILED)


def _lock_job(job_id: int) -> None:
    ScanJob.objects.select_for_update().filter(pk=job_id).values_list("pk", flat=True).first()


def settle(job_id: int) -> str:
    """Move the job to its end state when its deliveries allow it; returns the job state."""
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job_id)
        if job.state != JobState.PROCESSING:
            return job.state
        deliveries = list(Delivery.objects.filter(job=job).order_by("position"))
        states = [d.state for d in deliveries]
        failed = [d for d in deliveries if d.state == DeliveryState.FAILED]
        continue_on_error = processing_of(job).continue_on_error
        if failed and (
            not continue_on_error
            or all(s != DeliveryState.PENDING and s != DeliveryState.SENDING for s in states)
        ):
            job.hold("; ".join("filter %d (%s): %s" % (d.position + 1, d.kind, d.last_error) for d in failed))
        elif deliveries and all(s in (DeliveryState.DELIVERED, DeliveryState.CANCELED) for s in states):
            with_errors = any(d.state == DeliveryState.CANCELED and d.last_error for d in deliveries)
            job.complete(with_errors=with_errors, with_warnings=bool(job.warnings))
        return job.state


def retry_job(job_id: int) -> bool:
    """An operator's retry of a job that needs attention: failed deliveries become pending with a
    fresh attempt count and the job goes back to ``pending``. False when the job is not held."""
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job_id)
        if job.state != JobState.NEEDS_ATTENTION:
            return False
        for delivery in (
            Delivery.objects.filter(job=job).select_for_update().filter(state=DeliveryState.FAILED)
        ):
            delivery.attempts = 0
            delivery.retry()
        job.retry()  # clears the error; the warnings stay (they describe the documents)
    return True


def cancel_failed(job_id: int) -> str:
    """An operator gives up on the failed deliveries: the job completes with errors."""
    with transaction.atomic():
        job = ScanJob.objects.select_for_update().get(pk=job_id)
        for delivery in (
            Delivery.objects.filter(job=job).select_for_update().filter(state=DeliveryState.FAILED)
        ):
            delivery.cancel()
        if (
            job.state == JobState.NEEDS_ATTENTION
            and not Delivery.objects.filter(job=job)
            .exclude(state__in=(DeliveryState.DELIVERED, DeliveryState.CANCELED))
            .exists()
        ):
            job.complete(with_errors=True, with_warnings=bool(job.warnings))
        return job.state


def recover_stuck(older_than: float) -> list[int]:
    """Deliveries left ``sending`` by a dead worker for more than ``older_than`` seconds become
    pending again, due now (re-sending is safe: file destinations recognise their own documents
    by sha256). Returns their ids."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    ids: list[int] = []
    for delivery_id in Delivery.objects.filter(
        state=DeliveryState.SENDING, updated_at__lte=cutoff
    ).values_list("pk", flat=True):
        with transaction.atomic():
            delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
            if delivery.state != DeliveryState.SENDING:
                continue
            if delivery.attempts >= max_attempts():  # no endless re-sends (scanserver.recovery, c)
                log.error("delivery %s was left sending on its last attempt; it failed", delivery.pk)
                _lock_job(delivery.job_id)
                delivery.give_up("the worker stopped during the last attempt", destinations.UNKNOWN_ERROR)
                settle(delivery.job_id)
                continue
            log.warning("delivery %s was left sending; it will be sent again", delivery.pk)
            delivery.retry_later(
                "the worker stopped during the delivery",
                timezone.now(),
                delivery.filter_state_reason or destinations.UNKNOWN_ERROR,
            )
        ids.append(delivery_id)
    return ids


def due_everywhere(now: Any = None) -> list[int]:
    """Ids of every delivery that may be sent now, over all processing jobs."""
    ids: list[int] = []
    for job in ScanJob.objects.filter(
        state=JobState.PROCESSING, deliveries__state=DeliveryState.PENDING
    ).distinct():
        ids.extend(d.pk for d in due(job, now))
    return ids
