"""State of one simulated WS-Scan / DSM scan device, without any network (PROTOCOL.md §4).

:class:`ScanDevice` is the device's "firmware": paper in the ADF and on the platen, scanner
state and device conditions (WDD:scannerstatus.md, WDD:devicecondition.md), scan jobs with
JobId/JobToken and their states (WDD:jobstate.md, WDD:jobstatereason.md), job history, the 60 s
RetrieveImage deadline (WDD:createscanjobresponse.md) and faults that tests inject. The HTTP
layer (:mod:`devices.simulator.server`) turns SOAP into calls here and :class:`DeviceError`
into SOAP faults; events are reported to listeners as the plain dataclasses at the end of this
module, which the eventing layer turns into WS-Eventing notifications.

A RetrieveImage is two steps so that a transfer can fail after the device committed to it:
:meth:`ScanDevice.begin_retrieve` takes the pages off the source and returns a
:class:`Transfer`; the server renders and sends it, then calls :meth:`ScanDevice.end_transfer`
with the outcome. A failed transfer aborts the job with ``ImageTransferError`` (WDD:retrieveimageresponse.md).

Time comes from an injectable monotonic ``clock`` so tests can move it; wall-clock timestamps
(JobCreatedTime, condition Time) come from ``now``.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from devices.simulator import pages

log = logging.getLogger(__name__)

#: Namespace for uuid5 device identities: a fixed random UUID, so the same seed gives the same
#: ``urn:uuid`` on every run and every machine.
IDENTITY_NAMESPACE = uuid.UUID("3f1d8a52-6c0b-4b53-9a8e-0c3c8f5a7d21")

DEFAULT_RETRIEVE_TIMEOUT = 60.0  # seconds, WDD:createscanjobresponse.md
HISTORY_LENGTH = 50

# Fault subcodes the device raises (local names in the wscn namespace, PROTOCOL.md §4).
INVALID_ARGS = "InvalidArgs"
JOB_ID_NOT_FOUND = "ClientErrorJobIdNotFound"
INVALID_JOB_TOKEN = "ClientErrorInvalidJobToken"
NO_IMAGES = "ClientErrorNoImagesAvailable"
JOB_CANCELLED = "ClientErrorJobCancelled"
NOT_ACCEPTING = "ServerErrorNotAcceptingJobs"
OPERATION_FAILED = "OperationFailed"
INVALID_DESTINATION = "ClientErrorInvalidDestinationToken"
INVALID_SCAN_IDENTIFIER = "ClientErrorInvalidScanIdentifier"

INPUT_SOURCES = ("Platen", "ADF", "ADFDuplex")

# Media sizes in 1/1000 inch (WS-Scan units).
A4 = (8268, 11693)
LETTER = (8500, 11000)


class DeviceError(Exception):
    """A refusal the server sends as a SOAP fault: ``code`` Sender/Receiver, wscn ``subcode``."""

    def __init__(self, code: str, subcode: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason


def _sender(subcode: str, reason: str) -> DeviceError:
    return DeviceError("Sender", subcode, reason)


def _receiver(subcode: str, reason: str) -> DeviceError:
    return DeviceError("Receiver", subcode, reason)


@dataclass(frozen=True)
class Identity:
    """Who the device says it is in discovery and metadata (PROTOCOL.md §7.2)."""

    endpoint: str  # urn:uuid:...
    name: str
    manufacturer: str = "OpenDSM"
    model: str = "SimScan 3000"
    model_number: str = "SS3000"
    serial: str = "SIM-00000000"
    firmware: str = "1.0.0"
    location: str = "Simulated lab"

    @classmethod
    def from_seed(cls, seed: str, index: int = 0, **overrides: str) -> Identity:
        """A stable identity: the same ``(seed, index)`` always gives the same urn:uuid and serial."""
        ident = uuid.uuid5(IDENTITY_NAMESPACE, "%s/%d" % (seed, index))
        values: dict[str, str] = {
            "endpoint": ident.urn,
            "name": "Simulated scanner %d" % (index + 1),
            "serial": "SIM-%s" % ident.hex[:8].upper(),
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class Capabilities:
    """What the simulated scanner can do; the source of ScannerConfiguration (WDD:scannerconfiguration.md)."""

    formats: tuple[str, ...] = pages.SUPPORTED_FORMATS
    color_modes: tuple[str, ...] = ("BlackAndWhite1", "Grayscale8", "RGB24")
    resolutions: tuple[int, ...] = (50, 75, 100, 150, 200, 300, 600)
    optical_resolution: int = 600
    platen_min: tuple[int, int] = (1000, 1000)
    platen_max: tuple[int, int] = (8500, 11693)
    adf_min: tuple[int, int] = (3000, 5000)
    adf_max: tuple[int, int] = (8500, 14000)
    adf_duplex: bool = True
    adf_capacity: int = 50
    content_types: tuple[str, ...] = ("Auto", "Text", "Photo", "Mixed")
    rotations: tuple[int, ...] = (0, 90, 180, 270)
    compression_range: tuple[int, int] = (0, 100)


@dataclass(frozen=True)
class JobSettings:
    """The part of a ScanTicket the simulated device acts upon (PROTOCOL.md §3.3)."""

    job_name: str = "Scan"
    user: str = ""
    format: str = "jfif"
    input_source: str = "Platen"
    width_mils: int = A4[0]
    height_mils: int = A4[1]
    dpi_x: int = 300
    dpi_y: int = 300
    color: str = "RGB24"
    images_to_transfer: int = 0  # 0 = until the source is empty
    quality: int = 85

    @property
    def pixel_size(self) -> tuple[int, int]:
        return pages.pixel_size(self.width_mils, self.height_mils, self.dpi_x, self.dpi_y)


@dataclass(frozen=True)
class Validation:
    """Outcome of checking a ticket: the settings the device would use and what it changed."""

    valid: bool
    settings: JobSettings
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    condition_id: int
    name: str  # ScannerStateReason-style name: MediaJam, CoverOpen, ...
    component: str  # ADF, Platen, ...
    severity: str  # Critical | Warning | Informational
    time: datetime


@dataclass
class Job:
    """One scan job. Mutated only by :class:`ScanDevice`."""

    job_id: int
    token: str
    settings: JobSettings
    created: datetime
    deadline: float
    state: str = "Pending"
    reasons: tuple[str, ...] = ("None",)
    images_done: int = 0
    completed: datetime | None = None
    transferring: bool = False
    scan_identifier: str | None = None
    # Pages digitised but not yet transferred, filled from the source as it is fed.
    documents: list[pages.PageSpec] = field(default_factory=list)
    # Names of the documents transferred so far (GetJobElements wscn:Documents).
    document_names: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state not in ("Completed", "Aborted", "Canceled")


@dataclass(frozen=True)
class Transfer:
    """One RetrieveImage in flight: the document the device has committed to send."""

    job_id: int
    token: str
    document_name: str
    format: str
    mime_type: str
    specs: tuple[pages.PageSpec, ...]
    quality: int

    def render(self) -> bytes:
        return pages.render_document(self.specs, self.format, self.quality)


# ---- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusSummaryChanged:
    state: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ConditionRaised:
    condition: Condition


@dataclass(frozen=True)
class ConditionCleared:
    condition: Condition
    cleared: datetime


@dataclass(frozen=True)
class JobStatusChanged:
    job_id: int
    state: str
    reasons: tuple[str, ...]
    images_done: int
    created: datetime


@dataclass(frozen=True)
class JobEnded:
    job_id: int
    state: str  # Completed | Aborted | Canceled
    reasons: tuple[str, ...]
    job_name: str
    user: str
    images_done: int
    completed: datetime


@dataclass(frozen=True)
class ScanAvailable:
    """The user chose ``destination`` (a ClientDisplayName) on the panel and pressed Scan."""

    destination: str
    scan_identifier: str
    input_source: str


DeviceEvent = (
    StatusSummaryChanged | ConditionRaised | ConditionCleared | JobStatusChanged | JobEnded | ScanAvailable
)
Listener = Callable[[DeviceEvent], None]


def _nearest(value: int, options: tuple[int, ...]) -> int:
    return min(options, key=lambda r: (abs(r - value), r))


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class ScanDevice:
    """A simulated scanner with a platen and a duplex ADF; thread-safe, network-free."""

    def __init__(
        self,
        identity: Identity,
        *,
        capabilities: Capabilities | None = None,
        retrieve_timeout: float = DEFAULT_RETRIEVE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
        adf_pages: int = 0,
        qr_codes: bool = False,
        max_active_jobs: int = 4,
    ) -> None:
        self.identity = identity
        self.capabilities = capabilities or Capabilities()
        self.retrieve_timeout = retrieve_timeout
        self.qr_codes = qr_codes
        self.max_active_jobs = max_active_jobs
        self._clock = clock
        self._now = now
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._job_ids = itertools.count(1)
        self._condition_ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._history: deque[Job] = deque(maxlen=HISTORY_LENGTH)
        self._conditions: dict[str, Condition] = {}
        self._scan_requests: dict[str, ScanAvailable] = {}
        self.adf_pages = min(adf_pages, self.capabilities.adf_capacity)
        self.platen_loaded = True
        self._sheet_counter = 0
        self._jam_after: int | None = None
        # Transfer faults read by the HTTP layer for the next RetrieveImage/SendImage.
        self.slow_transfer_bps: int | None = None
        self.drop_next_transfers = 0
        self._last_summary = self.status_summary()

    # ---- listeners -------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: DeviceEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken subscriber must not break the device
                log.exception("device event listener failed for %s", type(event).__name__)

    def _summary_maybe_changed(self) -> None:
        summary = self.status_summary()
        if summary != self._last_summary:
            self._last_summary = summary
            self._emit(summary)

    # ---- paper -------------------------------------------------------------------------

    def load_adf(self, count: int) -> int:
        """Put ``count`` sheets into the ADF (capped at its capacity); returns sheets loaded now."""
        if count < 0:
            raise ValueError("cannot load a negative number of sheets")
        with self._lock:
            self.adf_pages = min(self.capabilities.adf_capacity, self.adf_pages + count)
            return self.adf_pages

    def empty_adf(self) -> None:
        with self._lock:
            self.adf_pages = 0

    def set_platen(self, loaded: bool) -> None:
        with self._lock:
            self.platen_loaded = loaded

    # ---- status ------------------------------------------------------------------------

    def status_summary(self) -> StatusSummaryChanged:
        with self._lock:
            if self._conditions:
                return StatusSummaryChanged("Stopped", tuple(sorted(self._conditions)))
            if any(j.active for j in self._jobs.values()):
                return StatusSummaryChanged("Processing", ("None",))
            return StatusSummaryChanged("Idle", ("None",))

    @property
    def conditions(self) -> tuple[Condition, ...]:
        with self._lock:
            return tuple(sorted(self._conditions.values(), key=lambda c: c.condition_id))

    def raise_condition(self, name: str, component: str, severity: str = "Critical") -> Condition:
        """Add a device condition; a Critical one stops the scanner and aborts running jobs."""
        with self._lock:
            if name in self._conditions:
                return self._conditions[name]
            cond = Condition(next(self._condition_ids), name, component, severity, self._now())
            self._conditions[name] = cond
            self._emit(ConditionRaised(cond))
            if severity == "Critical":
                for job in list(self._jobs.values()):
                    if job.active and not job.transferring:
                        self._finish(job, "Aborted", ("ScannerStopped",))
            self._summary_maybe_changed()
            return cond

    def clear_condition(self, name: str | None = None) -> list[Condition]:
        """Clear one condition by name, or all of them; returns those cleared."""
        with self._lock:
            names = [name] if name else list(self._conditions)
            cleared = [self._conditions.pop(n) for n in names if n in self._conditions]
            for cond in cleared:
                self._emit(ConditionCleared(cond, self._now()))
            if cleared:
                self._summary_maybe_changed()
            return cleared

    def paper_jam(self, after_images: int = 0) -> None:
        """Jam the ADF now, or when the next ADF job has fed ``after_images`` more images."""
        with self._lock:
            if after_images <= 0:
                self._jam_after = None
                self.raise_condition("MediaJam", "ADF")
            else:
                self._jam_after = after_images

    def cover_open(self) -> None:
        self.raise_condition("CoverOpen", "Platen")

    def slow_transfer(self, bytes_per_second: int | None) -> None:
        """Throttle image transfers (None = full speed); applied by the HTTP layer."""
        with self._lock:
            self.slow_transfer_bps = bytes_per_second if bytes_per_second and bytes_per_second > 0 else None

    def drop_connection(self, transfers: int = 1) -> None:
        """Cut the next ``transfers`` image transfers halfway through (applied by the HTTP layer)."""
        with self._lock:
            self.drop_next_transfers = max(0, transfers)

    def take_drop(self) -> bool:
        """Consume one pending "drop the connection" fault; True if this transfer must be cut."""
        with self._lock:
            if self.drop_next_transfers > 0:
                self.drop_next_transfers -= 1
                return True
            return False

    # ---- tickets -----------------------------------------------------------------------

    def validate(self, settings: JobSettings) -> Validation:
        """Check ``settings`` against the capabilities; substitute the nearest supported value."""
        caps = self.capabilities
        changes: list[str] = []
        s = settings
        if s.input_source not in INPUT_SOURCES or (s.input_source == "ADFDuplex" and not caps.adf_duplex):
            changes.append("InputSource")
            s = replace(s, input_source="ADF" if s.input_source.startswith("ADF") else "Platen")
        if s.format not in caps.formats:
            changes.append("Format")
            s = replace(s, format="jfif")
        if s.color not in caps.color_modes:
            changes.append("ColorProcessing")
            s = replace(s, color="RGB24" if "RGB24" in caps.color_modes else caps.color_modes[0])
        if s.dpi_x not in caps.resolutions or s.dpi_y not in caps.resolutions:
            changes.append("Resolution")
            s = replace(
                s, dpi_x=_nearest(s.dpi_x, caps.resolutions), dpi_y=_nearest(s.dpi_y, caps.resolutions)
            )
        lo, hi = (
            (caps.platen_min, caps.platen_max) if s.input_source == "Platen" else (caps.adf_min, caps.adf_max)
        )
        width = min(max(s.width_mils, lo[0]), hi[0])
        height = min(max(s.height_mils, lo[1]), hi[1])
        if (width, height) != (s.width_mils, s.height_mils):
            changes.append("InputMediaSize")
            s = replace(s, width_mils=width, height_mils=height)
        if not 0 <= s.quality <= 100:
            changes.append("CompressionQualityFactor")
            s = replace(s, quality=min(100, max(0, s.quality)))
        if s.images_to_transfer < 0:
            changes.append("ImagesToTransfer")
            s = replace(s, images_to_transfer=0)
        return Validation(not changes, s, tuple(dict.fromkeys(changes)))

    # ---- jobs --------------------------------------------------------------------------

    def create_job(
        self, settings: JobSettings, *, scan_identifier: str | None = None, strict: bool = False
    ) -> Job:
        """CreateScanJob: a new job with the validated settings (``strict`` refuses any change).

        With ``scan_identifier`` the job answers a ScanAvailableEvent and must name one the device
        raised and has not used yet (WDD:createscanjobrequest.md).
        """
        with self._lock:
            self._expire_locked()
            if self._conditions:
                reasons = ", ".join(sorted(self._conditions))
                raise _receiver(NOT_ACCEPTING, "the scanner is stopped (%s)" % reasons)
            if sum(1 for j in self._jobs.values() if j.active) >= self.max_active_jobs:
                raise _receiver(NOT_ACCEPTING, "too many active jobs")
            if scan_identifier is not None:
                if scan_identifier not in self._scan_requests:
                    raise _sender(INVALID_SCAN_IDENTIFIER, "unknown ScanIdentifier")
                self._scan_requests.pop(scan_identifier)
            checked = self.validate(settings)
            if strict and not checked.valid:
                raise _sender(INVALID_ARGS, "ticket not supported: %s" % ", ".join(checked.changes))
            job = Job(
                job_id=next(self._job_ids),
                token=secrets.token_hex(16),
                settings=checked.settings,
                created=self._now(),
                deadline=self._clock() + self.retrieve_timeout,
                scan_identifier=scan_identifier,
            )
            self._jobs[job.job_id] = job
            self._set_state(job, "Started", ("None",))
            self._set_state(job, "Processing", ("JobScanning",))
            self._summary_maybe_changed()
            return job

    def _job(self, job_id: int, token: str | None = None) -> Job:
        job = self._jobs.get(job_id) or next((j for j in self._history if j.job_id == job_id), None)
        if job is None:
            raise _sender(JOB_ID_NOT_FOUND, "no job with JobId %d" % job_id)
        if token is not None and not secrets.compare_digest(job.token.encode(), token.encode()):
            raise _sender(INVALID_JOB_TOKEN, "JobToken does not match JobId %d" % job_id)
        return job

    def get_job(self, job_id: int) -> Job:
        with self._lock:
            self._expire_locked()
            return self._job(job_id)

    def begin_retrieve(self, job_id: int, token: str) -> Transfer:
        """RetrieveImage: feed the next document off the source; raises DeviceError as a fault."""
        with self._lock:
            self._expire_locked()
            job = self._job(job_id, token)
            if job.state == "Canceled":
                raise _sender(JOB_CANCELLED, "job %d was cancelled" % job_id)
            if job.state == "Aborted":
                reason = ", ".join(job.reasons)
                if "JobTimedOut" in job.reasons:
                    raise _sender(JOB_ID_NOT_FOUND, "job %d timed out (%s)" % (job_id, reason))
                raise _receiver(OPERATION_FAILED, "job %d was aborted (%s)" % (job_id, reason))
            if job.state == "Completed":
                raise _sender(NO_IMAGES, "all images of job %d have been transferred" % job_id)
            if job.transferring:
                raise _receiver(OPERATION_FAILED, "an image of job %d is already being transferred" % job_id)
            job.deadline = self._clock() + self.retrieve_timeout
            specs = self._feed(job)
            if not specs:
                if self._conditions:
                    raise _receiver(
                        OPERATION_FAILED, "job %d was aborted (%s)" % (job_id, ", ".join(job.reasons))
                    )
                end = "Completed" if job.images_done else "Aborted"
                self._finish(job, end, ("None",) if job.images_done else ("JobCompletedWithErrors",))
                raise _sender(NO_IMAGES, "the %s has no more images" % job.settings.input_source)
            job.transferring = True
            self._set_state(job, "Processing", ("JobScanningAndTransferring",))
            return Transfer(
                job_id=job.job_id,
                token=job.token,
                document_name="%s-%d" % (job.settings.job_name or "scan", job.images_done + 1),
                format=job.settings.format,
                mime_type=pages.mime_type(job.settings.format),
                specs=tuple(specs),
                quality=job.settings.quality,
            )

    def _spec(self, job: Job, number: int, side: str) -> pages.PageSpec:
        s = job.settings
        return pages.PageSpec(
            width_mils=s.width_mils,
            height_mils=s.height_mils,
            dpi_x=s.dpi_x,
            dpi_y=s.dpi_y,
            color=s.color,
            page_number=number,
            side=side,
            job_name=s.job_name,
            user=s.user,
            device_name=self.identity.name,
            timestamp=self._now(),
            qr=self.qr_codes,
        )

    def _remaining_allowed(self, job: Job) -> int | None:
        limit = job.settings.images_to_transfer
        if job.settings.input_source == "Platen" and limit == 0:
            limit = 1
        # May go negative when a duplex sheet yields one image more than the ticket asked for.
        return None if limit == 0 else limit - job.images_done - len(job.documents)

    def _feed_one(self, job: Job) -> bool:
        """Digitise the next sheet into ``job.documents``; False if the source is empty or jammed."""
        source = job.settings.input_source
        if source == "Platen":
            if not self.platen_loaded:
                return False
            job.documents.append(self._spec(job, job.images_done + len(job.documents) + 1, "front"))
            return True
        if self._jam_after is not None:
            if self._jam_after <= 0:
                self._jam_after = None
                self.raise_condition("MediaJam", "ADF")
                return False
            self._jam_after -= 1
        if self.adf_pages <= 0:
            return False
        self.adf_pages -= 1
        self._sheet_counter += 1
        number = job.images_done + len(job.documents) + 1
        job.documents.append(self._spec(job, number, "front"))
        if source == "ADFDuplex":
            job.documents.append(self._spec(job, number + 1, "back"))
        return True

    def _feed(self, job: Job) -> list[pages.PageSpec]:
        multi = job.settings.format in pages.MULTI_PAGE_FORMATS
        while True:
            allowed = self._remaining_allowed(job)
            if (allowed is not None and allowed <= 0) or (job.documents and not multi):
                break
            if not self._feed_one(job):
                break
        if job.state == "Aborted":
            return []
        allowed_total = self._remaining_allowed(job)
        if allowed_total is not None and allowed_total < 0:  # a duplex sheet over the limit
            del job.documents[allowed_total:]
        if multi:
            taken, job.documents = job.documents, []
        else:
            taken, job.documents = job.documents[:1], job.documents[1:]
        return taken

    def end_transfer(self, transfer: Transfer, ok: bool) -> None:
        """Record the outcome of a transfer started by :meth:`begin_retrieve`."""
        with self._lock:
            job = self._jobs.get(transfer.job_id)
            if job is None or job.token != transfer.token:
                return
            job.transferring = False
            job.deadline = self._clock() + self.retrieve_timeout
            if not ok:
                self._finish(job, "Aborted", ("ImageTransferError",))
                return
            job.images_done += len(transfer.specs)
            job.document_names.append(transfer.document_name)
            if self._conditions:
                self._finish(job, "Aborted", ("ScannerStopped",))
                return
            self._set_state(job, "Processing", ("JobScanning",))
            if not job.documents and self._source_exhausted(job):
                self._finish(job, "Completed", ("None",))

    def _source_exhausted(self, job: Job) -> bool:
        allowed = self._remaining_allowed(job)
        if allowed is not None and allowed <= 0:
            return True
        if job.settings.input_source == "Platen":
            return not self.platen_loaded
        return self.adf_pages <= 0

    def cancel_job(self, job_id: int) -> Job:
        with self._lock:
            self._expire_locked()
            job = self._job(job_id)
            if not job.active:
                # Idempotent: clients such as sane-airscan cancel right after the last image, when
                # the job may just have completed; a fault there makes some of them hang.
                return job
            self._finish(job, "Canceled", ("JobCanceledAtDevice",))
            return job

    def _set_state(self, job: Job, state: str, reasons: tuple[str, ...]) -> None:
        job.state, job.reasons = state, reasons
        self._emit(JobStatusChanged(job.job_id, state, reasons, job.images_done, job.created))

    def _finish(self, job: Job, state: str, reasons: tuple[str, ...]) -> None:
        if not job.active:
            return
        job.transferring = False
        job.documents = []
        job.completed = self._now()
        self._set_state(job, state, reasons)
        self._jobs.pop(job.job_id, None)
        self._history.appendleft(job)
        s = job.settings
        self._emit(JobEnded(job.job_id, state, reasons, s.job_name, s.user, job.images_done, job.completed))
        self._summary_maybe_changed()

    def expire_jobs(self) -> list[Job]:
        """Abort jobs whose RetrieveImage deadline passed (JobTimedOut); returns them."""
        with self._lock:
            return self._expire_locked()

    def _expire_locked(self) -> list[Job]:
        now = self._clock()
        expired = [j for j in self._jobs.values() if j.active and not j.transferring and now >= j.deadline]
        for job in expired:
            log.info("job %d timed out waiting for RetrieveImage", job.job_id)
            self._finish(job, "Aborted", ("JobTimedOut",))
        return expired

    @property
    def active_jobs(self) -> tuple[Job, ...]:
        with self._lock:
            self._expire_locked()
            return tuple(self._jobs.values())

    @property
    def job_history(self) -> tuple[Job, ...]:
        with self._lock:
            self._expire_locked()
            return tuple(self._history)

    # ---- panel -------------------------------------------------------------------------

    def request_scan(self, destination: str, input_source: str = "ADF") -> ScanAvailable:
        """The user picks ``destination`` on the panel and presses Scan (ScanAvailableEvent)."""
        with self._lock:
            event = ScanAvailable(destination, "urn:uuid:%s" % uuid.uuid4(), input_source)
            self._scan_requests[event.scan_identifier] = event
            self._emit(event)
            return event
