"""The simulated device's front panel with the embedded directory, pushing to the real scan server.

The scan server is SERVER's ASGI application (scanserver.asgi) called in-process through
httpx.ASGITransport, on the embedded default: EndPostScanJob is answered with the job pending, the
scan server's in-process worker thread builds the PDF and delivers it into the process's folder, and
the panel polls the job's state until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from panelworld import PASSWORD, World, csrf_of, make_world, panel_device, process_names, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(settings: Any) -> Iterator[None]:
    from smc.celery import app

    settings.SCANSERVER_ALLOW_PLAIN_HTTP = False
    conf = app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def world(tmp_path: Path, eager: None) -> World:
    return make_world(tmp_path)


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    with panel_device(world) as server, httpx.Client(base_url=server.base_url, follow_redirects=True) as http:
        yield http


def signed_in(client: httpx.Client, username: str = "demo") -> str:
    answer = sign_in(client, username, PASSWORD)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_wrong_password_is_refused_with_a_message(client: httpx.Client) -> None:
    answer = sign_in(client, "demo", "not-the-password")
    assert answer.status_code == 401
    assert "User name or password refused." in answer.text
    assert 'value="demo"' in answer.text  # the name is kept, the password is not
    assert "not-the-password" not in answer.text
    assert "Sign in" in client.get("/panel/").text
    assert client.get("/panel/process/whatever").url.path == "/panel/"


@pytest.mark.parametrize(
    ("username", "password"),
    [("", ""), ("demo", ""), ("x" * 5000, "y"), ("demo\x00", PASSWORD), ("*)(uid=*", PASSWORD)],
)
def test_hostile_credentials_get_a_message(client: httpx.Client, username: str, password: str) -> None:
    answer = sign_in(client, username, password)
    assert answer.status_code == 401
    assert 'data-testid="panel-error"' in answer.text


def test_list_shows_exactly_the_usable_processes(client: httpx.Client) -> None:
    page = signed_in(client)
    # Not "Accounting only" (other group), "Draft process" (unpublished), "Basement only" (device group).
    assert process_names(page) == ["Locked colour", "Scan to folder"]
    assert 'data-testid="panel-user">Demo User<' in page


def test_a_user_in_no_group_sees_no_process(client: httpx.Client) -> None:
    page = signed_in(client, "nora")
    assert process_names(page) == []
    assert 'data-testid="process-list-empty"' in page


def test_unusable_process_cannot_be_opened_or_scanned(client: httpx.Client, world: World) -> None:
    page = signed_in(client)
    guid = str(world.processes["accounting"].guid)
    assert client.get("/panel/process/%s" % guid).status_code == 400
    answer = client.post("/panel/scan", data={"csrf": csrf_of(page), "process": guid, "sheets": "1"})
    assert answer.status_code == 400
    assert "not available to you" in answer.text


def test_locked_settings_are_shown_read_only_and_a_tampered_post_is_refused(
    client: httpx.Client, world: World
) -> None:
    from tests.factories import ScanJob

    signed_in(client)
    guid = str(world.processes["locked"].guid)
    page = client.get("/panel/process/%s" % guid).text
    assert 'data-testid="locked-color"' in page and 'name="color"' not in page
    assert 'data-testid="locked-resolution"' in page and 'name="resolution"' not in page
    assert 'data-testid="locked-input_source"' in page and 'name="input_source"' not in page
    assert 'name="format"' in page  # unlocked
    for field, value in (("color", "Grayscale8"), ("resolution", "300"), ("input_source", "Platen")):
        answer = client.post(
            "/panel/scan", data={"csrf": csrf_of(page), "process": guid, "sheets": "1", field: value}
        )
        assert answer.status_code == 400
        assert "locked by the scan process" in answer.text
    assert ScanJob.objects.count() == 0
    # Sending the locked value itself is not a change.
    answer = client.post(
        "/panel/scan", data={"csrf": csrf_of(page), "process": guid, "sheets": "1", "color": "RGB24"}
    )
    assert answer.status_code == 200 and "/panel/jobs/" in str(answer.url)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sheets": "1000000000"}, "Pages must be a whole number from 1 to 50"),
        ({"sheets": "-3"}, "Pages must be a whole number"),
        ({"sheets": "1e9"}, "Pages must be a whole number"),
        ({"resolution": "301"}, "is not offered by this device"),
        ({"color": "<script>alert(1)</script>"}, "is not offered by this device"),
        ({"quality": "101"}, "from 0 to 100"),
        ({"document_name": "../../etc/passwd"}, "may not start with a dot"),
        ({"document_name": "a/b"}, "may not start with a dot"),
        ({"document_name": "..\\..\\boot.ini"}, "may not start with a dot"),
        ({"document_name": "x" * 400}, "The field document_name is not valid"),
    ],
)
def test_hostile_form_values_get_a_clear_message(
    client: httpx.Client, world: World, fields: dict[str, str], message: str
) -> None:
    from tests.factories import ScanJob

    page = signed_in(client)
    data = {"csrf": csrf_of(page), "process": str(world.processes["folder"].guid), "sheets": "1", **fields}
    answer = client.post("/panel/scan", data=data)
    assert answer.status_code == 400
    assert message in answer.text
    assert "<script>alert" not in answer.text
    assert ScanJob.objects.count() == 0


def test_a_post_without_the_session_token_is_refused(client: httpx.Client, world: World) -> None:
    signed_in(client)
    answer = client.post("/panel/scan", data={"process": str(world.processes["folder"].guid), "sheets": "1"})
    assert answer.status_code == 403
    answer = client.post(
        "/panel/scan",
        data={"csrf": "forged", "process": str(world.processes["folder"].guid)},
        headers={"Origin": "http://evil.test"},
    )
    assert answer.status_code == 400 and "another site" in answer.text


def wait_for_end(client: httpx.Client, job_url: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(job_url + "/status")
        if answer.status_code == 286:
            return answer.text
        time.sleep(0.1)
    raise AssertionError("the panel job did not end: %s" % client.get(job_url + "/status").text)


def test_scan_is_pushed_to_the_scan_server_and_ends_completed(client: httpx.Client, world: World) -> None:
    from tests.factories import JobState, ScanJob

    page = signed_in(client)
    guid = str(world.processes["folder"].guid)
    form = client.get("/panel/process/%s" % guid).text
    answer = client.post(
        "/panel/scan",
        data={
            "csrf": csrf_of(form),
            "process": guid,
            "input_source": "ADFDuplex",
            "color": "Grayscale8",
            "sheets": "2",
            "document_name": "Contract 2026",
        },
    )
    assert answer.status_code == 200
    job_url = str(answer.url).rstrip("/")
    assert "/panel/jobs/" in job_url and 'hx-get="/panel/jobs/' in answer.text
    status = wait_for_end(client, job_url)
    assert 'data-testid="job-state">Completed<' in status, status
    assert "Sent 1 document(s)" in status or "Sent 4 document(s)" in status
    job = ScanJob.objects.get()
    assert job.state == JobState.COMPLETED
    assert job.process_id == world.processes["folder"].pk
    assert job.pages.count() == 4  # two sheets, both sides
    pdfs = sorted(world.scans.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].name.startswith("Contract 2026")
    assert pdfs[0].read_bytes().startswith(b"%PDF-")
    assert "Scan to folder" in client.get("/panel/").text  # listed under "Your scans"
    assert page


def test_without_the_device_token_the_scan_server_refuses_and_the_panel_says_so(
    world: World,
) -> None:
    with (
        panel_device(world, token=lambda: "") as server,
        httpx.Client(base_url=server.base_url, follow_redirects=True) as http,
    ):
        page = signed_in(http)
        answer = http.post(
            "/panel/scan",
            data={"csrf": csrf_of(page), "process": str(world.processes["folder"].guid), "sheets": "1"},
        )
        status = wait_for_end(http, str(answer.url).rstrip("/"))
    assert 'data-testid="job-state">Failed<' in status
    assert "not an enrolled device" in status


def test_unknown_scan_server_is_a_message_not_a_crash(world: World) -> None:
    with (
        panel_device(world, resolve_server=lambda fqdn: None) as server,
        httpx.Client(base_url=server.base_url, follow_redirects=True) as http,
    ):
        page = signed_in(http)
        answer = http.post(
            "/panel/scan",
            data={"csrf": csrf_of(page), "process": str(world.processes["folder"].guid), "sheets": "1"},
        )
    assert answer.status_code == 400
    assert "does not know the scan server scan.test" in answer.text


def test_sign_out_ends_the_session(client: httpx.Client) -> None:
    page = signed_in(client)
    answer = client.post("/panel/logout", data={"csrf": csrf_of(page)})
    assert "Sign in" in answer.text
    assert 'name="password"' in client.get("/panel/").text
