"""End to end over real HTTP on 127.0.0.1: start devices, metadata, a WS-Scan pull scan, faults."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image
from simhelpers import call, create_job, make_ticket, retrieve, wait_for

from devices.protocols import metadata, mtom, soap
from devices.protocols.namespaces import WSCN
from devices.protocols.wsscan import elements as el
from devices.protocols.wsscan import messages as m
from devices.simulator.run import SimulatorConfig, SimulatorThread


def scan_url(simthread: SimulatorThread) -> str:
    assert simthread.simulation is not None
    return simthread.simulation.devices[0].server.scan_url


def device(simthread: SimulatorThread):  # type: ignore[no-untyped-def]
    assert simthread.simulation is not None
    return simthread.simulation.devices[0].device


# (a) ---------------------------------------------------------------------------------------


def test_two_devices_from_one_call_answer_metadata_get() -> None:
    config = SimulatorConfig(count=2, base_port=0, discovery=False, seed="e2e")
    with SimulatorThread(config) as sim:
        seen = []
        for running in sim.devices:
            endpoint = running.device.identity.endpoint
            env = soap_post(running.server.device_url, metadata.build_get(endpoint))
            md = metadata.parse_get_response(env)
            assert md.this_device is not None and md.this_model is not None and md.host is not None
            assert md.host.address == endpoint
            assert metadata.scan_service_url(md) == running.server.scan_url
            seen.append(
                (endpoint, md.this_device.friendly_name, md.this_device.serial_number, running.server.port)
            )
    assert len({s[0] for s in seen}) == 2 and len({s[3] for s in seen}) == 2
    # Same seed, same identities on the next start (ports may differ).
    with SimulatorThread(config) as again:
        assert [d.device.identity.endpoint for d in again.devices] == [s[0] for s in seen]


def soap_post(url: str, body: bytes) -> bytes:
    resp = httpx.post(url, content=body, headers={"Content-Type": soap.CONTENT_TYPE}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.content


# (b) ---------------------------------------------------------------------------------------


def test_full_pull_scan_from_the_adf(simthread: SimulatorThread, tmp_path: Path) -> None:
    url = scan_url(simthread)
    env = call(url, m.GetScannerElementsRequest())
    assert env.body is not None
    elements = m.GetScannerElementsResponse.from_element(env.body)
    config = elements.get(m.NAME_SCANNER_CONFIGURATION)
    assert isinstance(config, el.ScannerConfiguration)
    assert config.platen is not None and config.adf is not None and config.adf.supports_duplex
    status = elements.get(m.NAME_SCANNER_STATUS)
    assert isinstance(status, el.ScannerStatus) and status.scanner_state == "Idle"
    assert elements.get(m.NAME_DEFAULT_SCAN_TICKET) is not None
    assert isinstance(elements.get(m.NAME_SCANNER_DESCRIPTION), el.ScannerDescription)

    ticket = make_ticket(fmt="png", source="ADF", dpi=50, color="Grayscale8", size=(8500, 11000))
    env = call(url, m.ValidateScanTicketRequest(ticket))
    assert env.body is not None
    info = m.ValidateScanTicketResponse.from_element(env.body).validation_info
    assert info.valid_ticket
    assert info.image_information is not None
    assert (info.image_information.front.pixels_per_line, info.image_information.front.number_of_lines) == (
        425,
        550,
    )

    device(simthread).load_adf(3)
    job = create_job(url, ticket)
    assert job.document_final_parameters.format == "png"
    images = []
    while True:
        try:
            data, ctype = retrieve(url, job, tmp_path)
        except soap.SoapFault as fault:
            assert fault.subcode == (WSCN, "ClientErrorNoImagesAvailable")
            break
        assert ctype == "image/png"
        images.append(data)
        assert len(images) <= 3
    assert len(images) == 3
    for data in images:
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "PNG" and img.size == (425, 550) and img.mode == "L"
    env = call(url, m.GetJobElementsRequest(job.job_id))
    assert env.body is not None
    job_status = m.GetJobElementsResponse.from_element(env.body).elements[0].content
    assert isinstance(job_status, m.JobStatus)
    assert (job_status.job_state, job_status.scans_completed) == ("Completed", 3)
    env = call(url, m.GetJobHistoryRequest())
    assert env.body is not None
    assert [j.job_id for j in m.GetJobHistoryResponse.from_element(env.body).jobs] == [job.job_id]


def test_multi_page_pdf_is_one_retrieve(simthread: SimulatorThread, tmp_path: Path) -> None:
    url = scan_url(simthread)
    device(simthread).load_adf(2)
    job = create_job(url, make_ticket(fmt="pdf-a", source="ADFDuplex"))
    data, ctype = retrieve(url, job, tmp_path)
    assert ctype == "application/pdf" and data.startswith(b"%PDF-")
    with pytest.raises(soap.SoapFault) as exc:
        retrieve(url, job, tmp_path)
    assert exc.value.subcode == (WSCN, "ClientErrorNoImagesAvailable")


def test_active_jobs_cancel_and_unknown_job(simthread: SimulatorThread) -> None:
    url = scan_url(simthread)
    device(simthread).load_adf(2)
    job = create_job(url, make_ticket())
    env = call(url, m.GetActiveJobsRequest())
    assert env.body is not None
    assert [j.job_id for j in m.GetActiveJobsResponse.from_element(env.body).jobs] == [job.job_id]
    call(url, m.CancelJobRequest(job.job_id))
    env = call(url, m.GetActiveJobsRequest())
    assert env.body is not None
    assert m.GetActiveJobsResponse.from_element(env.body).jobs == ()
    with pytest.raises(soap.SoapFault) as exc:
        call(url, m.CancelJobRequest(999))
    assert exc.value.subcode == (WSCN, "ClientErrorJobIdNotFound")


def test_retrieve_deadline_aborts_with_job_timed_out(tmp_path: Path) -> None:
    config = SimulatorConfig(count=1, base_port=0, discovery=False, adf_pages=3, retrieve_timeout=0.3)
    with SimulatorThread(config) as sim:
        url = sim.devices[0].server.scan_url
        job = create_job(url, make_ticket())

        def ended() -> m.JobStatus | None:
            env = call(url, m.GetJobElementsRequest(job.job_id, (m.NAME_JOB_STATUS,)))
            assert env.body is not None
            status = m.GetJobElementsResponse.from_element(env.body).elements[0].content
            assert isinstance(status, m.JobStatus)
            return status if status.job_state == "Aborted" else None

        status = wait_for(ended, what="JobTimedOut")
        assert status.job_state_reasons == ("JobTimedOut",)
        with pytest.raises(soap.SoapFault):
            retrieve(url, job, tmp_path)


# (e) ---------------------------------------------------------------------------------------


def test_paper_jam_during_a_job(simthread: SimulatorThread, tmp_path: Path) -> None:
    url = scan_url(simthread)
    control = simthread.simulation.devices[0].server.control_url  # type: ignore[union-attr]
    device(simthread).load_adf(3)
    resp = httpx.post(control + "/fault", json={"kind": "jam", "after_images": 1})
    assert resp.status_code == 200
    job = create_job(url, make_ticket())
    retrieve(url, job, tmp_path)
    with pytest.raises(soap.SoapFault) as exc:
        retrieve(url, job, tmp_path)
    assert exc.value.code == "Receiver"
    env = call(url, m.GetJobElementsRequest(job.job_id, (m.NAME_JOB_STATUS,)))
    assert env.body is not None
    status = m.GetJobElementsResponse.from_element(env.body).elements[0].content
    assert isinstance(status, m.JobStatus)
    assert (status.job_state, status.scans_completed) == ("Aborted", 1)
    env = call(url, m.GetScannerElementsRequest((m.NAME_SCANNER_STATUS,)))
    assert env.body is not None
    scanner_status = m.GetScannerElementsResponse.from_element(env.body).get(m.NAME_SCANNER_STATUS)
    assert isinstance(scanner_status, el.ScannerStatus)
    assert scanner_status.scanner_state == "Stopped" and "MediaJam" in scanner_status.scanner_state_reasons
    assert [c.name for c in scanner_status.active_conditions] == ["MediaJam"]
    with pytest.raises(soap.SoapFault) as exc:
        create_job(url, make_ticket())
    assert exc.value.subcode == (WSCN, "ServerErrorNotAcceptingJobs")
    assert httpx.post(control + "/fault", json={"kind": "clear"}).json()["state"] == "Idle"


def test_connection_dropped_mid_image(simthread: SimulatorThread, tmp_path: Path) -> None:
    url = scan_url(simthread)
    dev = device(simthread)
    dev.load_adf(2)
    dev.drop_connection()
    job = create_job(url, make_ticket(dpi=100))
    req = m.RetrieveImageRequest(job.job_id, job.job_token, "doc")
    envelope = soap.build_envelope(soap.Headers(action=req.ACTION, to=url), req.to_element())
    received = bytearray()
    with pytest.raises(httpx.HTTPError):
        with httpx.stream("POST", url, content=envelope, headers={"Content-Type": soap.CONTENT_TYPE}) as resp:
            content_type = resp.headers["content-type"]
            for chunk in resp.iter_raw():
                received += chunk
    assert 0 < len(received) < int(resp.headers["content-length"])
    with pytest.raises(soap.SoapFault) as exc:
        mtom.read_soap_http(content_type, bytes(received), tmp_path)
    assert "truncated" in exc.value.reason
    # The device is still up, and the job ended with ImageTransferError.
    env = call(url, m.GetJobElementsRequest(job.job_id, (m.NAME_JOB_STATUS,)))
    assert env.body is not None
    status = m.GetJobElementsResponse.from_element(env.body).elements[0].content
    assert isinstance(status, m.JobStatus)
    assert (status.job_state, status.job_state_reasons) == ("Aborted", ("ImageTransferError",))
    dev.load_adf(1)
    data, _ = retrieve(url, create_job(url, make_ticket()), tmp_path)
    assert data.startswith(b"\x89PNG")


def test_slow_transfer_still_delivers_the_whole_image(simthread: SimulatorThread, tmp_path: Path) -> None:
    url = scan_url(simthread)
    dev = device(simthread)
    dev.load_adf(1)
    dev.slow_transfer(2_000_000)
    data, _ = retrieve(url, create_job(url, make_ticket(fmt="jfif")), tmp_path)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (425, 550)
