"""The simulated device's state machine, without HTTP: jobs, paper, deadlines, conditions, events."""

from __future__ import annotations

import pytest

from devices.simulator import device as dev
from devices.simulator.device import DeviceError, Identity, JobSettings, ScanDevice


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[dev.DeviceEvent]:
    return []


@pytest.fixture
def device(clock: FakeClock, events: list[dev.DeviceEvent]) -> ScanDevice:
    d = ScanDevice(Identity.from_seed("test", 0), clock=clock, retrieve_timeout=60.0)
    d.add_listener(events.append)
    return d


ADF_SMALL = JobSettings(job_name="J", user="bob", input_source="ADF", dpi_x=50, dpi_y=50, format="png")


def pull_all(d: ScanDevice, job: dev.Job) -> list[dev.Transfer]:
    out: list[dev.Transfer] = []
    while True:
        try:
            t = d.begin_retrieve(job.job_id, job.token)
        except DeviceError as exc:
            assert exc.subcode == dev.NO_IMAGES
            return out
        d.end_transfer(t, ok=True)
        out.append(t)


def test_identity_is_stable_per_seed_and_index() -> None:
    a = Identity.from_seed("lab", 1)
    assert a == Identity.from_seed("lab", 1)
    assert a.endpoint.startswith("urn:uuid:")
    assert a.endpoint != Identity.from_seed("lab", 2).endpoint
    assert a.endpoint != Identity.from_seed("other", 1).endpoint
    assert Identity.from_seed("lab", 1, name="Front desk").name == "Front desk"


def test_adf_job_delivers_every_sheet_then_no_images(device: ScanDevice, events: list) -> None:
    device.load_adf(3)
    job = device.create_job(ADF_SMALL)
    transfers = pull_all(device, job)
    assert [t.specs[0].page_number for t in transfers] == [1, 2, 3]
    assert device.adf_pages == 0
    assert device.get_job(job.job_id).state == "Completed"
    assert device.job_history[0].images_done == 3
    assert not device.active_jobs
    ended = [e for e in events if isinstance(e, dev.JobEnded)]
    assert [(e.state, e.images_done) for e in ended] == [("Completed", 3)]
    states = [e.state for e in events if isinstance(e, dev.JobStatusChanged)]
    assert states[0] == "Started" and states[-1] == "Completed"
    summaries = [e.state for e in events if isinstance(e, dev.StatusSummaryChanged)]
    assert summaries == ["Processing", "Idle"]


def test_duplex_gives_two_images_per_sheet(device: ScanDevice) -> None:
    device.load_adf(2)
    job = device.create_job(ADF_SMALL.__class__(**{**ADF_SMALL.__dict__, "input_source": "ADFDuplex"}))
    transfers = pull_all(device, job)
    assert [(t.specs[0].page_number, t.specs[0].side) for t in transfers] == [
        (1, "front"),
        (2, "back"),
        (3, "front"),
        (4, "back"),
    ]


def test_images_to_transfer_limits_the_job(device: ScanDevice) -> None:
    device.load_adf(5)
    job = device.create_job(JobSettings(input_source="ADF", images_to_transfer=2, dpi_x=50, dpi_y=50))
    assert len(pull_all(device, job)) == 2
    assert device.adf_pages == 3


def test_platen_gives_one_image(device: ScanDevice) -> None:
    job = device.create_job(JobSettings(input_source="Platen", dpi_x=50, dpi_y=50))
    assert len(pull_all(device, job)) == 1
    assert device.get_job(job.job_id).state == "Completed"


def test_multi_page_format_is_one_transfer(device: ScanDevice) -> None:
    device.load_adf(3)
    job = device.create_job(JobSettings(input_source="ADF", format="pdf-a", dpi_x=50, dpi_y=50))
    transfers = pull_all(device, job)
    assert len(transfers) == 1 and len(transfers[0].specs) == 3
    assert transfers[0].render().startswith(b"%PDF-")


def test_empty_adf_faults_with_no_images(device: ScanDevice) -> None:
    job = device.create_job(ADF_SMALL)
    with pytest.raises(DeviceError) as exc:
        device.begin_retrieve(job.job_id, job.token)
    assert exc.value.subcode == dev.NO_IMAGES and exc.value.code == "Sender"


def test_wrong_token_and_unknown_job(device: ScanDevice) -> None:
    device.load_adf(1)
    job = device.create_job(ADF_SMALL)
    with pytest.raises(DeviceError) as exc:
        device.begin_retrieve(job.job_id, "nope")
    assert exc.value.subcode == dev.INVALID_JOB_TOKEN
    with pytest.raises(DeviceError) as exc:
        device.begin_retrieve(999, job.token)
    assert exc.value.subcode == dev.JOB_ID_NOT_FOUND


def test_retrieve_deadline_aborts_with_job_timed_out(
    device: ScanDevice, clock: FakeClock, events: list
) -> None:
    device.load_adf(2)
    job = device.create_job(ADF_SMALL)
    clock.t += 59
    device.end_transfer(device.begin_retrieve(job.job_id, job.token), ok=True)  # resets the deadline
    clock.t += 59
    assert device.expire_jobs() == []
    clock.t += 2
    assert [j.job_id for j in device.expire_jobs()] == [job.job_id]
    assert device.get_job(job.job_id).reasons == ("JobTimedOut",)
    ended = [e for e in events if isinstance(e, dev.JobEnded)]
    assert ended[-1].state == "Aborted" and ended[-1].reasons == ("JobTimedOut",)
    with pytest.raises(DeviceError):
        device.begin_retrieve(job.job_id, job.token)


def test_cancel(device: ScanDevice) -> None:
    device.load_adf(2)
    job = device.create_job(ADF_SMALL)
    device.cancel_job(job.job_id)
    with pytest.raises(DeviceError) as exc:
        device.begin_retrieve(job.job_id, job.token)
    assert exc.value.subcode == dev.JOB_CANCELLED
    assert device.cancel_job(job.job_id).state == "Canceled"  # again: idempotent, no fault
    assert device.job_history[0].state == "Canceled"
    with pytest.raises(DeviceError) as unknown:
        device.cancel_job(job.job_id + 1000)
    assert unknown.value.subcode == dev.JOB_ID_NOT_FOUND


def test_cancel_after_completion_leaves_the_job_completed(device: ScanDevice) -> None:
    device.load_adf(1)
    job = device.create_job(ADF_SMALL)
    transfer = device.begin_retrieve(job.job_id, job.token)
    device.end_transfer(transfer, True)
    with pytest.raises(DeviceError):
        device.begin_retrieve(job.job_id, job.token)  # the ADF is empty: the job completes
    assert device.cancel_job(job.job_id).state == device.job_history[0].state


def test_paper_jam_mid_job_aborts_and_stops_the_scanner(device: ScanDevice, events: list) -> None:
    device.load_adf(3)
    device.paper_jam(after_images=1)
    job = device.create_job(ADF_SMALL)
    device.end_transfer(device.begin_retrieve(job.job_id, job.token), ok=True)
    with pytest.raises(DeviceError) as exc:
        device.begin_retrieve(job.job_id, job.token)
    assert exc.value.code == "Receiver"
    assert device.get_job(job.job_id).state == "Aborted"
    assert device.status_summary() == dev.StatusSummaryChanged("Stopped", ("MediaJam",))
    assert any(isinstance(e, dev.ConditionRaised) and e.condition.name == "MediaJam" for e in events)
    with pytest.raises(DeviceError) as exc:
        device.create_job(ADF_SMALL)
    assert exc.value.subcode == dev.NOT_ACCEPTING
    cleared = device.clear_condition("MediaJam")
    assert [c.name for c in cleared] == ["MediaJam"]
    assert any(isinstance(e, dev.ConditionCleared) for e in events)
    assert device.status_summary().state == "Idle"


def test_cover_open_aborts_running_job(device: ScanDevice) -> None:
    device.load_adf(3)
    job = device.create_job(ADF_SMALL)
    device.cover_open()
    assert device.get_job(job.job_id).state == "Aborted"
    assert device.get_job(job.job_id).reasons == ("ScannerStopped",)


def test_failed_transfer_aborts_with_image_transfer_error(device: ScanDevice) -> None:
    device.load_adf(3)
    job = device.create_job(ADF_SMALL)
    device.end_transfer(device.begin_retrieve(job.job_id, job.token), ok=False)
    assert device.get_job(job.job_id).reasons == ("ImageTransferError",)


def test_drop_connection_is_consumed_once(device: ScanDevice) -> None:
    device.drop_connection()
    assert device.take_drop() is True
    assert device.take_drop() is False


def test_validate_substitutes_supported_values(device: ScanDevice) -> None:
    v = device.validate(JobSettings(dpi_x=310, dpi_y=300, color="RGB48", format="xps", width_mils=99999))
    assert not v.valid
    assert v.settings.dpi_x == 300 and v.settings.color == "RGB24" and v.settings.format == "jfif"
    assert v.settings.width_mils == device.capabilities.platen_max[0]
    assert set(v.changes) == {"Resolution", "ColorProcessing", "Format", "InputMediaSize"}
    assert device.validate(JobSettings()).valid
    with pytest.raises(DeviceError):
        device.create_job(JobSettings(format="xps"), strict=True)


def test_scan_available_identifier_is_single_use(device: ScanDevice, events: list) -> None:
    device.load_adf(1)
    ev = device.request_scan("Alice's PC")
    assert events[-1] == ev
    device.create_job(ADF_SMALL, scan_identifier=ev.scan_identifier)
    with pytest.raises(DeviceError) as exc:
        device.create_job(ADF_SMALL, scan_identifier=ev.scan_identifier)
    assert exc.value.subcode == dev.INVALID_SCAN_IDENTIFIER


def test_broken_listener_does_not_break_the_device(device: ScanDevice) -> None:
    def boom(event: dev.DeviceEvent) -> None:
        raise RuntimeError("subscriber bug")

    device.add_listener(boom)
    device.load_adf(1)
    job = device.create_job(ADF_SMALL)
    assert len(pull_all(device, job)) == 1
