"""End to end: a WS-DSP push into a minimal receiver, and WS-Eventing with ScanDestinations."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from lxml import etree
from PIL import Image
from simhelpers import Sink, call, create_job, make_ticket, retrieve, serve_app, wait_for

from devices.protocols import dsp, eventing, mtom, psp, soap
from devices.protocols.namespaces import DSP, WSCN, qn
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan import events as ev
from devices.protocols.wsscan import messages as m
from devices.simulator import run
from devices.simulator.run import SimulatorThread

USER_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"


# (c) ---------------------------------------------------------------------------------------


class Receiver:
    """A minimal WS-DSP scan server: CreatePostScanJob, SendImage (MTOM), EndPostScanJob."""

    def __init__(self) -> None:
        self.spool = tempfile.TemporaryDirectory(prefix="receiver-")
        self.jobs: dict[str, dict[str, Any]] = {}
        self.dispatcher = soap.Dispatcher()
        self.dispatcher.register(dsp.CreatePostScanJobRequest.action, self.create)
        self.dispatcher.register(dsp.SendImageRequest.action, self.send_image)
        self.dispatcher.register(dsp.EndPostScanJobRequest.action, self.end)
        self.dispatcher.register(dsp.CancelPostScanJobRequest.action, self.cancel)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def create(self, env: soap.Envelope) -> soap.HandlerResult:
        assert env.body is not None
        req = dsp.from_element(env.body)
        assert isinstance(req, dsp.CreatePostScanJobRequest)
        token = dsp.format_guid(uuid.uuid4())
        self.jobs[token] = {
            "user": req.user_identifier,
            "psp": req.psp_identifier,
            "docs": [],
            "ended": False,
        }
        self.jobs[token]["root"] = req.instructions.document_root_name
        return dsp.to_element(dsp.CreatePostScanJobResponse(job_token=token))

    def send_image(self, env: soap.Envelope) -> soap.HandlerResult:
        assert env.body is not None
        req = dsp.from_element(env.body)
        assert isinstance(req, dsp.SendImageRequest)
        if req.job_token not in self.jobs:
            raise soap.SoapFault.sender(dsp.FAULT_JOB_TOKEN_NOT_FOUND, "unknown job")
        part = mtom.MtomMessage(env, dict(env.attachments)).part_for(env.body.find(qn(DSP, "ImageData")))
        data = part.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == part.sha256
        self.jobs[req.job_token]["docs"].append(
            {
                "id": req.document.document_id,
                "format": req.document.format,
                "sha256": part.sha256,
                "data": data,
            }
        )
        return dsp.to_element(dsp.SendImageResponse())

    def end(self, env: soap.Envelope) -> soap.HandlerResult:
        assert env.body is not None
        req = dsp.from_element(env.body)
        assert isinstance(req, dsp.EndPostScanJobRequest)
        self.jobs[req.job_token]["ended"] = True
        return dsp.to_element(dsp.EndPostScanJobResponse())

    def cancel(self, env: soap.Envelope) -> soap.HandlerResult:
        assert env.body is not None
        req = dsp.from_element(env.body)
        assert isinstance(req, dsp.CancelPostScanJobRequest)
        self.jobs[req.job_token]["canceled"] = True
        return dsp.to_element(dsp.CancelPostScanJobResponse())

    async def handle(self, request: web.Request) -> web.Response:
        try:
            msg = await mtom.read_soap_http_async(
                request.headers.get("Content-Type", ""),
                request.content.iter_chunked(65536),
                self.spool.name,
                fsync=False,
            )
        except soap.SoapFault as fault:
            return web.Response(status=fault.http_status, body=soap.build_fault(fault))
        status, body = self.dispatcher.handle_envelope(msg.envelope)
        msg.discard()
        return web.Response(status=status, body=body, headers={"Content-Type": soap.CONTENT_TYPE})

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/ScanServer/dsp", self.handle)
        self.runner, base = await serve_app(app)
        self.url = base + "/ScanServer/dsp"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.spool.cleanup()


def psp_xml(fmt: str = "jfif") -> bytes:
    ticket = make_ticket(fmt=fmt, source="ADF", dpi=50, color="RGB24", name="Invoices", user="alice")
    process = psp.PostScanProcess(
        scan_repository="scanserver.example.test",
        scan_ticket=etree.tostring(ticket.to_element(), method="c14n"),
        instructions=psp.PostScanInstructions(
            document_root_name="Invoices",
            filters=(psp.Filter.of(psp.FileShareConfig(share_uncs=("\\\\fs01\\scans",))),),
        ),
    )
    return psp.to_xml(process)


@pytest.fixture
def receiver(simthread: SimulatorThread) -> Any:
    rec = Receiver()
    simthread.call(rec.start())
    yield rec
    simthread.call(rec.stop())


def test_push_reaches_the_receiver_with_matching_sha256(
    simthread: SimulatorThread, receiver: Receiver, tmp_path: Path
) -> None:
    assert simthread.simulation is not None
    control = simthread.simulation.devices[0].server.control_url
    psp_file = tmp_path / "process.xml"
    psp_file.write_bytes(psp_xml())
    psp_id = "6F3A7C1E-2B4D-4E5F-8A9B-0C1D2E3F4A5B"
    out = io.StringIO()
    status = run.main(
        [
            "push",
            "--control",
            control,
            "--server",
            receiver.url,
            "--psp-xml",
            str(psp_file),
            "--psp-id",
            psp_id,
            "--user-sid",
            USER_SID,
            "--pages",
            "3",
        ],
        out=out,
    )
    answer = json.loads(out.getvalue())
    assert status == 0, answer
    job = receiver.jobs[answer["job_token"]]
    assert job["ended"] and job["user"] == USER_SID and str(job["psp"]).upper() == psp_id
    assert job["root"] == "Invoices"
    assert [d["id"] for d in job["docs"]] == [1, 2, 3]
    assert [d["sha256"] for d in job["docs"]] == [d["sha256"] for d in answer["documents"]]
    for doc in job["docs"]:
        assert hashlib.sha256(doc["data"]).hexdigest() == doc["sha256"]
        with Image.open(io.BytesIO(doc["data"])) as img:
            assert img.format == "JPEG" and img.size == (425, 550)
    history = httpx.get(control + "/status").json()["history"]
    assert history[0]["state"] == "Completed" and history[0]["images"] == 3


def test_push_of_a_multi_page_format_is_one_document(simthread: SimulatorThread, receiver: Receiver) -> None:
    assert simthread.simulation is not None
    control = simthread.simulation.devices[0].server.control_url
    payload = {"server": receiver.url, "psp_xml": psp_xml("pdf-a").decode(), "user_sid": USER_SID, "pages": 2}
    answer = httpx.post(control + "/push", json=payload, timeout=30).json()
    docs = receiver.jobs[answer["job_token"]]["docs"]
    assert len(docs) == 1 and docs[0]["format"] == "pdf-a" and docs[0]["data"].startswith(b"%PDF-")
    assert answer["documents"][0]["pages"] == 2


def test_push_scans_exactly_the_sheets_asked_for(simthread: SimulatorThread, receiver: Receiver) -> None:
    assert simthread.simulation is not None
    simthread.simulation.devices[0].device.load_adf(5)
    control = simthread.simulation.devices[0].server.control_url
    payload = {"server": receiver.url, "psp_xml": psp_xml().decode(), "user_sid": USER_SID, "pages": 2}
    answer = httpx.post(control + "/push", json=payload, timeout=30).json()
    assert len(receiver.jobs[answer["job_token"]]["docs"]) == 2
    assert simthread.simulation.devices[0].device.adf_pages == 3


def test_push_to_a_refusing_server_reports_the_fault(simthread: SimulatorThread, receiver: Receiver) -> None:
    assert simthread.simulation is not None
    control = simthread.simulation.devices[0].server.control_url
    payload = {"server": receiver.url, "psp_xml": psp_xml().decode(), "user_sid": "not-a-sid", "pages": 1}
    resp = httpx.post(control + "/push", json=payload, timeout=30)
    assert resp.status_code == 400  # refused before anything is sent: not a SID
    payload["user_sid"] = USER_SID
    payload["server"] = receiver.url.replace("/dsp", "/nowhere")
    resp = httpx.post(control + "/push", json=payload, timeout=30)
    assert resp.status_code == 502 and "error" in resp.json()
    assert receiver.jobs == {}


# (d) ---------------------------------------------------------------------------------------


def subscribe(
    scan_url: str, sink_url: str, destinations: list[tuple[str, str]]
) -> eventing.SubscribeResponse:
    scan_dest = ev.ScanDestinations(tuple(ev.ScanDestination(name, ctx) for name, ctx in destinations))
    req = eventing.Subscribe(
        notify_to=eventing.EndpointReference(sink_url),
        expires=None,
        filter_actions=(
            a.ACTION_SCAN_AVAILABLE_EVENT,
            a.ACTION_JOB_STATUS_EVENT,
            a.ACTION_JOB_END_STATE_EVENT,
        ),
        extensions=eventing.Elements.of([scan_dest.to_element()]),
    )
    resp = httpx.post(
        scan_url, content=eventing.build_subscribe(scan_url, req), headers={"Content-Type": soap.CONTENT_TYPE}
    )
    assert resp.status_code == 200, resp.text
    return eventing.parse_subscribe_response(resp.content)


def test_scan_available_and_job_events_reach_the_sink(simthread: SimulatorThread, tmp_path: Path) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    with Sink(simthread) as sink:
        sub = subscribe(
            server.scan_url, sink.url, [("Alice's PC", "ctx-alice"), ("Scan to folder", "ctx-folder")]
        )
        holder = etree.Element("x")
        for item in sub.extensions:
            holder.append(item)
        responses = ev.find_destination_responses(holder)
        assert responses is not None
        token = responses.token_for("ctx-alice")
        assert token and responses.token_for("ctx-folder")
        status = httpx.get(server.control_url + "/status").json()
        assert status["destinations"] == ["Alice's PC", "Scan to folder"]

        assert (
            httpx.post(server.control_url + "/scan-available", json={"destination": "Nobody"}).status_code
            == 404
        )
        out = io.StringIO()
        assert (
            run.main(
                ["scan-available", "--control", server.control_url, "--destination", "Alice's PC"], out=out
            )
            == 0
        )
        scan_id = json.loads(out.getvalue())["scan_identifier"]
        got = wait_for(lambda: sink.of("ScanAvailableEvent"), what="ScanAvailableEvent")
        event = ev.ScanAvailableEvent.from_element(got[0].body)
        assert (event.client_context, event.scan_identifier) == ("ctx-alice", scan_id)

        # The client answers the event: CreateScanJob with ScanIdentifier + DestinationToken, then pulls.
        simthread.simulation.devices[0].device.load_adf(2)
        job = create_job(server.scan_url, make_ticket(), scan_identifier=scan_id, destination_token=token)
        pulled = 0
        while True:
            try:
                retrieve(server.scan_url, job, tmp_path)
                pulled += 1
            except soap.SoapFault as fault:
                assert fault.subcode == (WSCN, "ClientErrorNoImagesAvailable")
                break
        assert pulled == 2
        ends = wait_for(lambda: sink.of("JobEndStateEvent"), what="JobEndStateEvent")
        end = ev.JobEndStateEvent.from_element(ends[0].body).end_state
        assert (end.job_id, end.job_completed_state, end.scans_completed) == (job.job_id, "Completed", 2)
        statuses = [ev.JobStatusEvent.from_element(r.body).status for r in sink.of("JobStatusEvent")]
        assert statuses[0].job_state == "Started"
        assert any(s.job_state == "Processing" and s.scans_completed == 1 for s in statuses)
        # The filter named only these three actions: no status-summary events came.
        assert sink.of("ScannerStatusSummaryEvent") == []
        # A ScanIdentifier is good for one job only; a made-up DestinationToken is refused.
        with pytest.raises(soap.SoapFault):
            create_job(server.scan_url, make_ticket(), scan_identifier=scan_id, destination_token=token)
        with pytest.raises(soap.SoapFault):
            create_job(server.scan_url, make_ticket(), destination_token="dt-forged")


def test_condition_events_and_jam_end_state(simthread: SimulatorThread, tmp_path: Path) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    with Sink(simthread) as sink:
        req = eventing.Subscribe(notify_to=eventing.EndpointReference(sink.url))  # no filter: every event
        resp = httpx.post(
            server.scan_url,
            content=eventing.build_subscribe(server.scan_url, req),
            headers={"Content-Type": soap.CONTENT_TYPE},
        )
        assert resp.status_code == 200
        simthread.simulation.devices[0].device.load_adf(3)
        httpx.post(server.control_url + "/fault", json={"kind": "jam", "after_images": 1})
        job = create_job(server.scan_url, make_ticket())
        retrieve(server.scan_url, job, tmp_path)
        with pytest.raises(soap.SoapFault):
            retrieve(server.scan_url, job, tmp_path)
        ends = wait_for(lambda: sink.of("JobEndStateEvent"), what="JobEndStateEvent")
        end = ev.JobEndStateEvent.from_element(ends[0].body).end_state
        assert (end.job_completed_state, end.scans_completed) == ("Aborted", 1)
        cond = wait_for(lambda: sink.of("ScannerStatusConditionEvent"), what="condition event")
        assert ev.ScannerStatusConditionEvent.from_element(cond[0].body).condition.name == "MediaJam"
        httpx.post(server.control_url + "/fault", json={"kind": "clear"})
        wait_for(lambda: sink.of("ScannerStatusConditionClearedEvent"), what="cleared event")
        summaries = wait_for(
            lambda: [
                s
                for s in (
                    ev.ScannerStatusSummaryEvent.from_element(r.body)
                    for r in sink.of("ScannerStatusSummaryEvent")
                )
                if s.scanner_state == "Idle"
            ],
            what="Idle summary",
        )
        assert summaries
        stopped = [
            ev.ScannerStatusSummaryEvent.from_element(r.body) for r in sink.of("ScannerStatusSummaryEvent")
        ]
        assert any(s.scanner_state == "Stopped" and "MediaJam" in s.scanner_state_reasons for s in stopped)


def test_subscribe_with_a_remote_notify_to_is_refused(simthread: SimulatorThread) -> None:
    assert simthread.simulation is not None
    server = simthread.simulation.devices[0].server
    req = eventing.Subscribe(notify_to=eventing.EndpointReference("http://192.0.2.10/sink"))
    resp = httpx.post(
        server.scan_url,
        content=eventing.build_subscribe(server.scan_url, req),
        headers={"Content-Type": soap.CONTENT_TYPE},
    )
    assert resp.status_code == 400
    assert soap.fault_from_envelope(soap.parse_envelope(resp.content)) is not None
    assert httpx.get(server.control_url + "/status").json()["subscriptions"] == 0


def test_get_job_elements_lists_documents(simthread: SimulatorThread, tmp_path: Path) -> None:
    assert simthread.simulation is not None
    url = simthread.simulation.devices[0].server.scan_url
    simthread.simulation.devices[0].device.load_adf(1)
    job = create_job(url, make_ticket())
    retrieve(url, job, tmp_path)
    env = call(url, m.GetJobElementsRequest(job.job_id))
    assert env.body is not None
    elements = m.GetJobElementsResponse.from_element(env.body).elements
    docs = next(e.content for e in elements if e.name == m.NAME_DOCUMENTS)
    assert isinstance(docs, m.Documents) and len(docs.document_names) == 1
    ticket = next(e.content for e in elements if e.name == m.NAME_SCAN_TICKET)
    assert ticket is not None
