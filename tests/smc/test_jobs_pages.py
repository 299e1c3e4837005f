"""Jobs, devices and scan servers pages over real rows, with the fixed cast of roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import (
    DeviceEventFactory,
    DeviceFactory,
    JobState,
    ScanJobFactory,
    ScanPageFactory,
    ScanServerFactory,
)

pytestmark = pytest.mark.django_db


def signed_in(name: str) -> Client:
    client = Client()
    assert client.login(username=name, password="%s-local-pw1!" % name)
    return client


@pytest.fixture
def fleet(cast: Any) -> dict[str, Any]:
    server = ScanServerFactory(name="scan01", fqdn="scan01.example.test")
    device = DeviceFactory(name="Floor 2 MFP", model_name="Sim 1000")
    jobs = [
        ScanJobFactory(
            server=server,
            device=device,
            user_name="user%02d" % i,
            psp_display_name="Invoices" if i % 2 else "HR",
        )
        for i in range(30)
    ]
    jobs[0].end_transfer()
    jobs[0].start_processing()
    jobs[0].hold("SMB share \\\\fs01\\scans refused the login")
    ScanPageFactory(job=jobs[0], document_id=1, format="jfif")
    return {"server": server, "device": device, "jobs": jobs}


def test_list_paginates_filters_and_searches(fleet: dict[str, Any]) -> None:
    client = signed_in("auditor")
    first = client.get("/jobs/")
    assert first.status_code == 200
    assert first.content.count(b"/jobs/") >= 25
    assert b"Page 1 of 2 (30 items)" in first.content
    held = client.get("/jobs/", {"state": "needs_attention"})
    assert b"user00" in held.content and b"user01" not in held.content
    assert b"refused the login" in held.content
    found = client.get("/jobs/", {"q": "user17"})
    assert b"user17" in found.content and b"user18" not in found.content
    fragment = client.get("/jobs/", {"state": "receiving"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"jobs-table" in fragment.content


def test_hostile_query_values_are_harmless(fleet: dict[str, Any]) -> None:
    client = signed_in("operator")
    for params in ({"state": "'; drop table"}, {"sort": "__class__"}, {"page": "-5"}, {"q": "x" * 10_000}):
        assert client.get("/jobs/", params).status_code == 200
    assert client.get("/jobs/not-a-uuid/").status_code == 404


def test_detail_shows_pages_and_the_problem(fleet: dict[str, Any]) -> None:
    job = fleet["jobs"][0]
    page = signed_in("auditor").get("/jobs/%s/" % job.token)
    assert page.status_code == 200
    assert b"Needs attention" in page.content and b"Pending-Held" in page.content
    assert b"refused the login" in page.content
    assert b"Cancel job" not in page.content  # auditors are read-only


def _between(html: str, testid: str) -> str:
    start = html.index('data-testid="%s"' % testid)
    return html[start : html.index("</d", start)]


def test_warnings_are_shown_apart_from_the_error_and_escaped(fleet: dict[str, Any]) -> None:
    job = fleet["jobs"][0]  # held, with an error
    job.add_warning("OCR unavailable <script>alert(1)</script>; delivered a plain PDF instead")
    job.add_warning("OCR unavailable <script>alert(1)</script>; delivered a plain PDF instead")
    client = signed_in("auditor")
    html = client.get("/jobs/%s/" % job.token).content.decode()
    warnings = _between(html, "job-warnings")
    assert warnings.count("<li>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;; delivered a plain PDF" in warnings
    assert "<script>" not in html
    error = _between(html, "job-error")
    assert "refused the login" in error and "OCR" not in error
    assert 'class="warning"' in html[html.index("<dt>Warnings</dt>") :][:60]

    listing = client.get("/jobs/", {"q": "plain PDF"}).content.decode()
    row = _between(listing, "job-warnings")
    assert "1 warning:" in row and "&lt;script&gt;" in row and "<script>" not in listing
    assert "user00" in listing and "user01" not in listing  # found by its warning
    other = fleet["jobs"][1]
    assert 'data-testid="job-warnings"' not in client.get("/jobs/%s/" % other.token).content.decode()


def test_cancel_needs_the_operate_capability_and_a_confirmation(fleet: dict[str, Any]) -> None:
    job = fleet["jobs"][5]
    assert signed_in("auditor").post("/jobs/%s/cancel" % job.token).status_code == 403
    operator = signed_in("operator")
    ask = operator.post("/jobs/%s/cancel" % job.token)
    assert ask.status_code == 200 and b"Cancel this job?" in ask.content
    job.refresh_from_db()
    assert job.state == JobState.RECEIVING
    done = operator.post("/jobs/%s/cancel" % job.token, {"confirm": "yes"})
    assert done.status_code == 302
    job.refresh_from_db()
    assert job.state == JobState.CANCELED and job.state_reasons == ["PostScanJobCanceled"]
    again = operator.post("/jobs/%s/cancel" % job.token, {"confirm": "yes"}, follow=True)
    assert b"already ended" in again.content


def test_devices_and_servers_pages(fleet: dict[str, Any]) -> None:
    client = signed_in("operator")
    devices = client.get("/devices/", {"q": "floor"})
    assert b"Floor 2 MFP" in devices.content
    assert b"Floor 2 MFP" not in client.get("/devices/", {"q": "nothing"}).content
    servers = client.get("/scan-servers/")
    assert b"https://scan01.example.test:5362/ScanServer/" in servers.content


def test_dashboard_counts_jobs_and_refreshes_as_a_fragment(fleet: dict[str, Any]) -> None:
    client = signed_in("auditor")
    page = client.get("/")
    assert b"1 job needs attention" in page.content
    assert b"<strong>29</strong> Receiving pages" in page.content
    fragment = client.get("/", HTTP_HX_REQUEST="true")
    assert b"latest-jobs" in fragment.content and b"System health" not in fragment.content


def test_device_page_and_refusals_list_unknown_callers(fleet: dict[str, Any]) -> None:
    device = fleet["device"]
    DeviceEventFactory(
        device=device,
        peer="127.0.0.1:5000",
        kind="scan_refused",
        detail={"operation": "CreatePostScanJob", "reason": "user is in none of the allowed groups"},
    )
    DeviceEventFactory(
        device=None,
        peer="127.0.0.9:4000",
        kind="device_unknown",
        detail={"operation": "SendImage", "reason": "not an enrolled device"},
    )
    client = signed_in("auditor")
    devices = client.get("/devices/")
    assert b"unknown caller" in devices.content and b"not an enrolled device" in devices.content
    detail = client.get("/devices/%d/" % device.pk)
    assert detail.status_code == 200
    assert b"none of the allowed groups" in detail.content and b"not an enrolled device" not in detail.content
    assert b"user29" in detail.content and b"user00" not in detail.content  # its 10 latest jobs
    everything = client.get("/devices/refusals/")
    assert everything.content.count(b"127.0.0.") >= 2
    assert client.get("/devices/999999/").status_code == 404
