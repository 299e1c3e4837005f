"""The scan server's ASGI endpoint driven in-process (httpx ASGITransport): WS-DSP push from the
simulator, hand-built messages, metadata, WS-DSC, the HTTP-level refusals."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from devices.protocols import dsc, dsp, metadata, soap
from devices.simulator import push
from devices.simulator.run import SimulatorConfig, make_device
from scanserver import endpoint
from tests.factories import JobState, ScanJob, ScanPage
from tests.scanserver.endpoint_helpers import (
    CONSOLE_TOKEN,
    World,
    asgi_client,
    close_server_connections,
    create_request,
    envelope,
    fault_of,
    make_world,
    parse,
    psp_bytes,
    send_image_body,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_ALLOW_PLAIN_HTTP = False
    settings.SCANSERVER_CONSOLE_TOKEN = CONSOLE_TOKEN
    settings.SCANSERVER_GUID = ""
    yield make_world()
    close_server_connections()


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, ctype: str = soap.CONTENT_TYPE
) -> httpx.Response:
    return await client.post(url, content=body, headers={"Content-Type": ctype})


def create_job(world: World) -> str:
    async def go() -> str:
        async with asgi_client(world.token) as client:
            resp = await _post(client, world.url, envelope(world.url, create_request(world)))
        assert resp.status_code == 200, resp.text
        body = parse(resp).body
        assert body is not None
        answer = dsp.from_element(body)
        assert isinstance(answer, dsp.CreatePostScanJobResponse)
        return answer.job_token

    return run(go())


def send_image(world: World, token: str, doc_id: int, data: bytes, fmt: str = "jfif") -> httpx.Response:
    async def go() -> httpx.Response:
        ctype, body = send_image_body(world.url, token, doc_id, data, fmt)
        async with asgi_client(world.token) as client:
            return await _post(client, world.url, body, ctype)

    return run(go())


def call(world: World, message: Any, token: str | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with asgi_client(token if token is not None else world.token) as client:
            return await _post(client, world.url, envelope(world.url, message))

    return run(go())


# --------------------------------------------------------------------------------------------
# happy path


def test_simulator_push_lands_every_page_durably_and_the_job_waits_for_processing(world: World) -> None:
    device = make_device(SimulatorConfig(adf_pages=5), 0)
    request = push.request_from_psp_xml(
        psp_bytes(),
        server_url=world.url,
        user_sid=world.alice_sid,
        sheets=3,
        psp_identifier=world.process.guid,
    )

    async def go() -> push.PushResult:
        async with asgi_client(world.token) as client:
            return await push.push_job(device, request, client=client)

    result = run(go())
    job = ScanJob.objects.get(token=result.job_token)
    assert job.state == JobState.PENDING and job.ended_at is not None
    assert job.device == world.device and job.user_name == "alice" and job.process == world.process
    assert job.process_version == world.process.published_version
    pages = list(job.pages.order_by("document_id"))
    assert [p.document_id for p in pages] == [1, 2, 3] and job.images_received == 3
    spool = Path(pages[0].spool_path).parent
    for page, sent in zip(pages, result.documents, strict=True):
        data = Path(page.spool_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == page.sha256 == sent.sha256
        assert page.size == sent.size == len(data)
        assert Path(page.spool_path).parent == spool and spool.name == str(job.token)
    assert sorted(p.name for p in spool.iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]
    assert not list((spool.parent / "incoming").iterdir()), "no temporary part may stay behind"


def test_job_elements_active_jobs_history_and_metadata(world: World) -> None:
    token = create_job(world)
    assert send_image(world, token, 1, b"page one").status_code == 200
    req = dsp.GetPostScanJobElementsRequest(
        job_token=token, requested=(dsp.NAME_JOB_STATUS, dsp.NAME_DOCUMENTS, dsp.NAME_JOB_DESCRIPTION)
    )
    body = parse(call(world, req)).body
    assert body is not None
    answer = dsp.from_element(body)
    assert isinstance(answer, dsp.GetPostScanJobElementsResponse)
    status, documents, description = (e.content for e in answer.elements)
    assert status.state == "Started" and status.images_received == 1  # type: ignore[attr-defined]
    assert [d.document_id for d in documents.documents] == [1]  # type: ignore[attr-defined]
    assert description.user_name == "alice"  # type: ignore[attr-defined]

    active = call(world, dsc.GetActiveJobsRequest(), token=CONSOLE_TOKEN)
    assert active.status_code == 200, active.text
    active_body = parse(active).body
    assert active_body is not None
    jobs = dsc.from_element(active_body)
    assert isinstance(jobs, dsc.GetActiveJobsResponse)
    assert [j.job_token for j in jobs.jobs] == [token]

    # The device may not read the console's service, the console may cancel.
    refused = call(world, dsc.GetActiveJobsRequest())
    assert refused.status_code == 400 and "SMC_SCANSERVER_CONSOLE_TOKEN" in fault_of(refused).reason
    assert call(world, dsc.CancelPostScanJobRequest(job_token=token), token=CONSOLE_TOKEN).status_code == 200
    assert ScanJob.objects.get(token=token).state == JobState.CANCELED
    history_resp = call(world, dsc.GetJobHistoryRequest(), token=CONSOLE_TOKEN)
    history_body = parse(history_resp).body
    assert history_body is not None
    history = dsc.from_element(history_body)
    assert isinstance(history, dsc.GetJobHistoryResponse)
    assert [(j.job_token, j.state) for j in history.jobs] == [(token, "Canceled")]

    repo = call(
        world,
        dsc.GetRepositoryElementsRequest(
            requested=(dsc.NAME_REPOSITORY_CONFIGURATION, dsc.NAME_REPOSITORY_STATUS)
        ),
        token=CONSOLE_TOKEN,
    )
    repo_body = parse(repo).body
    assert repo_body is not None
    elements = dsc.from_element(repo_body)
    assert isinstance(elements, dsc.GetRepositoryElementsResponse)
    dialects = [f.dialect for f in elements.elements[0].content.filters]  # type: ignore[attr-defined]
    assert dialects[:3] == [
        "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/fileshare",
        "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/sharepoint",
        "http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter/email",
    ]

    async def get_metadata() -> httpx.Response:
        async with asgi_client() as client:
            return await _post(client, world.url, metadata.build_get("urn:uuid:%s" % world.server.guid))

    md_body = parse(run(get_metadata())).body
    assert md_body is not None
    md = metadata.metadata_from_element(md_body)
    assert {t for s in md.hosted for t in s.types} == {endpoint.DSP_SERVICE_TYPE, endpoint.DSC_SERVICE_TYPE}
    assert all(s.addresses == (world.url,) for s in md.hosted)


def test_end_post_scan_job_moves_to_pending_and_is_idempotent(world: World) -> None:
    token = create_job(world)
    empty = call(world, dsp.EndPostScanJobRequest(job_token=token))
    assert empty.status_code == 400 and "no documents" in fault_of(empty).reason
    assert ScanJob.objects.get(token=token).state == JobState.ABORTED

    token = create_job(world)
    send_image(world, token, 1, b"x")
    assert call(world, dsp.EndPostScanJobRequest(job_token=token)).status_code == 200
    assert call(world, dsp.EndPostScanJobRequest(job_token=token)).status_code == 200
    assert ScanJob.objects.get(token=token).state == JobState.PENDING
    late = send_image(world, token, 2, b"late")
    assert late.status_code == 400 and "takes no more documents" in fault_of(late).reason
    assert not ScanPage.objects.filter(job__token=token, document_id=2).exists()


# --------------------------------------------------------------------------------------------
# resends, limits, hostile names


def test_a_resent_document_is_acknowledged_once_and_a_changed_one_refused(world: World) -> None:
    token = create_job(world)
    assert send_image(world, token, 1, b"first bytes").status_code == 200
    again = send_image(world, token, 1, b"first bytes")
    assert again.status_code == 200
    changed = send_image(world, token, 1, b"other bytes")
    assert changed.status_code == 400
    fault = fault_of(changed)
    assert fault.subcode == dsp.FAULT_INVALID_ARGS and "already received" in fault.reason
    page = ScanPage.objects.get(job__token=token)
    assert Path(page.spool_path).read_bytes() == b"first bytes"
    assert ScanJob.objects.get(token=token).images_received == 1


def test_unknown_or_foreign_job_tokens_are_not_found(world: World) -> None:
    from tests.factories import DeviceFactory

    resp = send_image(world, "6F3A7C1E-2B4D-4E5F-8A9B-0C1D2E3F4A5B", 1, b"x")
    assert resp.status_code == 400 and fault_of(resp).subcode == dsp.FAULT_JOB_TOKEN_NOT_FOUND
    assert call(world, dsp.EndPostScanJobRequest(job_token="not-a-guid")).status_code == 400
    token = create_job(world)
    other = DeviceFactory(endpoint_reference="urn:uuid:other", name="other MFP")
    other_token = other.issue_token()
    other.save(update_fields=["token_hash"])
    stolen = call(world, dsp.EndPostScanJobRequest(job_token=token), token=other_token)
    assert fault_of(stolen).subcode == dsp.FAULT_JOB_TOKEN_NOT_FOUND
    assert not list((_spool(world) / "incoming").glob("*.part"))


def _spool(world: World) -> Path:
    from scanserver import conf

    return conf.spool_dir()


@pytest.mark.parametrize("fmt", ["../../../../etc/passwd", "png/../../x", "a\\..\\b", "%2e%2e%2fx"])
def test_path_traversal_in_format_stays_in_the_job_directory(world: World, fmt: str) -> None:
    token = create_job(world)
    assert send_image(world, token, 1, b"bytes", fmt=fmt).status_code == 200
    page = ScanPage.objects.get(job__token=token)
    path = Path(page.spool_path).resolve()
    assert path.parent == (_spool(world) / token.lower()).resolve()
    assert path.name == "1.bin"


def test_document_id_must_be_a_positive_integer(world: World) -> None:
    token = create_job(world)
    ctype, body = send_image_body(world.url, token, 1, b"x")
    for bad in (b"../1", b"-1", b"0", b"1e3"):
        hostile = body.replace(
            b"<dsp:DocumentId>1</dsp:DocumentId>", b"<dsp:DocumentId>%s</dsp:DocumentId>" % bad
        )

        async def go(data: bytes = hostile) -> httpx.Response:
            async with asgi_client(world.token) as client:
                return await _post(client, world.url, data, ctype)

        resp = run(go())
        assert resp.status_code == 400, bad
        assert fault_of(resp).subcode == dsp.FAULT_INVALID_ARGS
    assert not ScanPage.objects.exists()
    assert not list((_spool(world) / "incoming").glob("*.part"))


def test_an_over_limit_part_is_refused_and_a_pixel_bomb_sized_part_is_spooled(
    world: World, settings: Any
) -> None:
    settings.SCANSERVER_MAX_PART_BYTES = 1024 * 1024
    token = create_job(world)
    # A PNG header claiming 60000 x 60000 pixels: the spool stores it, decoding checks are the pipeline's.
    bomb = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xea\x60\x00\x00\xea\x60\x08\x02\x00\x00\x00"
        + b"\0" * 900_000
    )
    assert send_image(world, token, 1, bomb, fmt="png").status_code == 200
    over = send_image(world, token, 2, b"\0" * (1024 * 1024 + 1), fmt="png")
    assert over.status_code == 400 and "over the limit of 1048576" in fault_of(over).reason
    assert [p.document_id for p in ScanPage.objects.filter(job__token=token)] == [1]
    assert not list((_spool(world) / "incoming").glob("*.part"))


# --------------------------------------------------------------------------------------------
# HTTP-level refusals


def test_plain_http_is_refused_unless_enabled(world: World, settings: Any) -> None:
    plain = "http://scan.test/ScanServer/%s" % world.server.guid

    async def go() -> httpx.Response:
        async with asgi_client(world.token, base="http://scan.test") as client:
            return await _post(client, plain, envelope(plain, create_request(world)))

    refused = run(go())
    assert refused.status_code == 403 and "HTTPS only" in refused.text
    assert not ScanJob.objects.exists()
    settings.SCANSERVER_ALLOW_PLAIN_HTTP = True
    assert run(go()).status_code == 200


def test_unknown_server_guid_is_404_and_get_is_405(world: World) -> None:
    async def go() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with asgi_client(world.token) as client:
            unknown = await _post(client, "/ScanServer/6F3A7C1E-2B4D-4E5F-8A9B-0C1D2E3F4A5B", b"")
            garbage = await _post(client, "/ScanServer/../../etc", b"")
            get = await client.get(world.url)
            return unknown, garbage, get

    unknown, garbage, get = run(go())
    assert unknown.status_code == 404 and garbage.status_code == 404 and get.status_code == 405
