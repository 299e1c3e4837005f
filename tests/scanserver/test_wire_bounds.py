"""Wire values are bounded before any write (scanserver.wire): against the real endpoint, every
out-of-range integer or over-long string is a Sender fault naming the field, no row is written
and nothing is left in the spool — on SQLite and on PostgreSQL (SMC_DATABASE_URL).

The property tests drive the WS-DSP parsers and handlers with random integers, strings and part
sizes: never a 5xx, never a file in the spool without its ScanPage row."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from devices.protocols import dsp, jobstatus, mtom, soap
from devices.protocols.namespaces import DSP, ODSM, PSP, qn
from scanserver import conf, eventsink, ingest, wire
from scanserver.dsp import Caller
from scanserver.models import JobState, ScanJob, ScanPage
from tests.scanserver.endpoint_helpers import (
    World,
    asgi_client,
    close_server_connections,
    create_request,
    envelope,
    fault_of,
    make_world,
    parse,
)

HOSTILE_DOCUMENT_IDS = [0, -1, 2**31, 2**32, 2**63]
HYPOTHESIS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_GUID = ""
    yield make_world()
    close_server_connections()


# --------------------------------------------------------------------------------------------
# helpers


def spool_files() -> set[Path]:
    """Every file under the spool, the temporary parts in ``incoming/`` included."""
    return {p for p in conf.spool_dir().rglob("*") if p.is_file()}


def assert_no_orphans() -> None:
    """Every file of the spool is a committed ScanPage's; ``incoming/`` is empty."""
    rows = {Path(p) for p in ScanPage.objects.values_list("spool_path", flat=True)}
    assert spool_files() == rows


def image_body(
    url: str,
    token: str,
    doc_id: str,
    data: bytes,
    fmt: str = "jfif",
    content_type: str = "application/octet-stream",
) -> tuple[str, bytes]:
    """A SendImage with DocumentId and Format written as given (the dataclass would refuse them)."""
    cid = mtom.new_content_id("doc")
    msg = dsp.SendImageRequest(
        job_token=token,
        document=jobstatus.DocumentDescription(document_id=1, format="jfif"),
        image_href="cid:" + cid,
    )
    body = dsp.to_element(msg)
    body.find(".//" + qn(DSP, "DocumentId")).text = doc_id  # type: ignore[union-attr]
    body.find(".//" + qn(DSP, "Format")).text = fmt  # type: ignore[union-attr]
    xml = soap.build_envelope(soap.Headers(action=msg.action, to=url), body)
    return mtom.build_mtom(xml, [mtom.Attachment(cid, content_type, data=data)])


def create_body(world: World, *, sid: str | None = None, root: str | None = None) -> bytes:
    """A CreatePostScanJob whose UserIdentifier / DocumentRootName are written as given."""
    body = dsp.to_element(create_request(world))
    if sid is not None:
        body.find(qn(DSP, "UserIdentifier")).text = sid  # type: ignore[union-attr]
    if root is not None:
        body.find(".//" + qn(PSP, "DocumentRootName")).text = root  # type: ignore[union-attr]
    return soap.build_envelope(soap.Headers(action=dsp.CreatePostScanJobRequest.action, to=world.url), body)


async def post(client: httpx.AsyncClient, url: str, content: bytes, ctype: str = soap.CONTENT_TYPE) -> Any:
    return await client.post(url, content=content, headers={"Content-Type": ctype})


async def post_image(
    client: httpx.AsyncClient, url: str, token: str, doc_id: str, data: bytes, **kw: str
) -> httpx.Response:
    ctype, body = image_body(url, token, doc_id, data, **kw)
    return await post(client, url, body, ctype)


async def new_job(client: httpx.AsyncClient, world: World) -> str:
    created = parse(await post(client, world.url, envelope(world.url, create_request(world))))
    assert created.body is not None
    return created.body[0].text or ""


def assert_served(resp: httpx.Response) -> None:
    """An answer, or a Sender fault: never a 5xx."""
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert fault_of(resp).code == "Sender"


def assert_sender_fault(resp: httpx.Response, field: str) -> soap.SoapFault:
    assert resp.status_code == 400, resp.text
    fault = fault_of(resp)
    assert fault.code == "Sender"
    assert field in fault.reason, fault.reason
    return fault


# --------------------------------------------------------------------------------------------
# the limits come from the columns


def test_the_limits_are_the_columns() -> None:
    assert wire.DOCUMENT_ID_RANGE == (1, 2**31 - 1)
    assert wire.MAX_FORMAT == ScanPage._meta.get_field("format").max_length == 64
    assert wire.MAX_USER_SID == ScanJob._meta.get_field("user_sid").max_length
    assert wire.SIZE_RANGE == (0, 2**63 - 1)


# --------------------------------------------------------------------------------------------
# SendImage


@pytest.mark.parametrize("doc_id", HOSTILE_DOCUMENT_IDS)
def test_an_out_of_range_document_id_is_a_sender_fault_and_leaves_nothing(
    world: World, doc_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> tuple[httpx.Response, httpx.Response]:
        async with asgi_client(world.token) as client:
            token = await new_job(client, world)
            bad = await post_image(client, world.url, token, str(doc_id), b"x" * 999)
            good = await post_image(client, world.url, token, "1", b"page one")
            return bad, good

    bad, good = asyncio.run(go())
    fault = assert_sender_fault(bad, "DocumentId")
    assert fault.subcode == dsp.FAULT_INVALID_ARGS
    # The job still takes the right document afterwards: only that one is stored.
    assert good.status_code == 200, good.text
    assert [p.document_id for p in ScanPage.objects.all()] == [1]
    assert ScanJob.objects.get().state == JobState.RECEIVING
    assert_no_orphans()
    if doc_id > 0:  # 0 and -1 are already refused by the protocol parser (minimum 1)
        assert "refused DocumentId" in caplog.text


def test_the_largest_document_id_is_accepted(world: World) -> None:
    async def go() -> httpx.Response:
        async with asgi_client(world.token) as client:
            token = await new_job(client, world)
            return await post_image(client, world.url, token, str(2**31 - 1), b"x")

    assert asyncio.run(go()).status_code == 200
    assert ScanPage.objects.get().document_id == 2**31 - 1
    assert_no_orphans()


@pytest.mark.parametrize(
    ("field", "fmt", "content_type"),
    [
        ("Format", "f" * 65, "application/octet-stream"),
        ("Format", "f" * 10_000, "application/octet-stream"),
        ("Content-Type", "jfif", "application/" + "x" * 200),
    ],
)
def test_an_over_long_format_or_content_type_is_a_sender_fault(
    world: World, field: str, fmt: str, content_type: str
) -> None:
    async def go() -> httpx.Response:
        async with asgi_client(world.token) as client:
            token = await new_job(client, world)
            return await post_image(
                client, world.url, token, "1", b"x" * 100, fmt=fmt, content_type=content_type
            )

    assert_sender_fault(asyncio.run(go()), field)
    assert not ScanPage.objects.exists()
    assert_no_orphans()


# --------------------------------------------------------------------------------------------
# CreatePostScanJob


@pytest.mark.parametrize(
    ("field", "sid", "root"),
    [
        ("DocumentRootName", None, "r" * 10_000),
        ("DocumentRootName", None, "r" * 256),
        ("UserIdentifier", "S-1-5-21" + "-1" * 100, None),  # 208 characters: over the column's 184
        ("UserIdentifier", "S-1-5-21" + "-1" * 5000, None),
    ],
)
def test_over_long_create_values_are_sender_faults(
    world: World, field: str, sid: str | None, root: str | None
) -> None:
    async def go() -> httpx.Response:
        async with asgi_client(world.token) as client:
            return await post(client, world.url, create_body(world, sid=sid, root=root))

    assert_sender_fault(asyncio.run(go()), field)
    assert not ScanJob.objects.exists()


# --------------------------------------------------------------------------------------------
# the store itself: a row refused after the rename leaves no file


def test_a_row_refused_after_the_rename_leaves_no_file(world: World) -> None:
    job = ScanJob.objects.create(server=world.server, device=world.device, state_reasons=["None"])
    conf.incoming_dir().mkdir(parents=True, exist_ok=True)
    path = conf.incoming_dir() / "mtom-test.part"
    path.write_bytes(b"bytes")
    # A negative size passes no check of ours (the private _store is called directly) and is
    # refused by the column's CHECK constraint, after the file was moved into the job directory.
    part = mtom.SpooledPart("c", "image/jpeg", path, -1, hashlib.sha256(b"bytes").hexdigest())
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError on both databases
        ingest._store(ScanJob.objects.filter(pk=job.pk), 1, "jfif", part)
    assert not ScanPage.objects.exists()
    assert spool_files() == set()


def test_store_document_refuses_out_of_range_values_before_writing(world: World) -> None:
    job = ScanJob.objects.create(server=world.server, device=world.device, state_reasons=["None"])
    conf.incoming_dir().mkdir(parents=True, exist_ok=True)
    path = conf.incoming_dir() / "mtom-test.part"
    path.write_bytes(b"bytes")
    part = mtom.SpooledPart("c", "image/jpeg", path, 5, hashlib.sha256(b"bytes").hexdigest())
    with pytest.raises(soap.SoapFault, match="DocumentId"):
        ingest.store_document(job.pk, 2**63, "jfif", part)
    assert spool_files() == set()


# --------------------------------------------------------------------------------------------
# the WS-Eventing sink


def test_an_over_long_sink_key_is_refused(world: World) -> None:
    key = etree.Element(eventsink.SINK_KEY, nsmap={"odsm": ODSM})
    key.text = "k" * 10_000
    data = soap.build_envelope(soap.Headers(action="urn:anything", to="http://sink", extra=(key,)), None)
    status, body = eventsink.answer(Caller(server=world.server, peer="127.0.0.1"), soap.parse_envelope(data))
    assert status == 400
    fault = soap.fault_from_envelope(soap.parse_envelope(body))
    assert fault is not None and "SinkKey" in fault.reason


# --------------------------------------------------------------------------------------------
# properties


XML_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=300
)
DOCUMENT_ID_TEXT = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-3, max_value=2**31 + 3).map(str),
    st.sampled_from([str(n) for n in HOSTILE_DOCUMENT_IDS + [2**31 - 1, 1, 2]]),
    XML_TEXT,
)


@pytest.mark.slow
def test_send_image_never_fails_the_server_nor_leaves_an_orphan(world: World) -> None:
    async def start() -> str:
        async with asgi_client(world.token) as client:
            return await new_job(client, world)

    token = asyncio.run(start())

    @HYPOTHESIS
    @given(
        doc_id=DOCUMENT_ID_TEXT,
        fmt=st.one_of(st.sampled_from(["jfif", "pdf-a", "png", "f" * 64, "f" * 65]), XML_TEXT),
        size=st.integers(min_value=0, max_value=70_000),
    )
    def send(doc_id: str, fmt: str, size: int) -> None:
        async def go() -> httpx.Response:
            async with asgi_client(world.token) as client:
                return await post_image(client, world.url, token, doc_id, b"\xab" * size, fmt=fmt)

        assert_served(asyncio.run(go()))
        assert_no_orphans()

    send()
    for page in ScanPage.objects.all():
        assert wire.DOCUMENT_ID_RANGE[0] <= page.document_id <= wire.DOCUMENT_ID_RANGE[1]
        assert len(page.format) <= wire.MAX_FORMAT


@pytest.mark.slow
def test_create_and_end_never_fail_the_server(world: World) -> None:
    @HYPOTHESIS
    @given(
        sid=st.one_of(
            st.lists(st.integers(min_value=0, max_value=2**64), min_size=1, max_size=40).map(
                lambda subs: "S-1-" + "-".join(str(n) for n in subs)
            ),
            XML_TEXT,
        ),
        root=st.one_of(st.just("Invoices"), XML_TEXT.filter(lambda s: bool(s.strip()))),
        end_token=st.one_of(st.none(), XML_TEXT),
    )
    def create(sid: str, root: str, end_token: str | None) -> None:
        async def go() -> tuple[httpx.Response, httpx.Response]:
            async with asgi_client(world.token) as client:
                created = await post(client, world.url, create_body(world, sid=sid, root=root))
                token = end_token
                if token is None and created.status_code == 200:
                    token = parse(created).body[0].text or ""  # type: ignore[index]
                end = dsp.to_element(dsp.EndPostScanJobRequest(job_token="x"))
                end.find(qn(DSP, "JobToken")).text = token or "x"  # type: ignore[union-attr]
                xml = soap.build_envelope(
                    soap.Headers(action=dsp.EndPostScanJobRequest.action, to=world.url), end
                )
                return created, await post(client, world.url, xml)

        for resp in asyncio.run(go()):
            assert_served(resp)
        assert_no_orphans()

    create()
    for job in ScanJob.objects.all():
        assert len(job.user_sid) <= wire.MAX_USER_SID
        assert len(job.document_root_name) <= wire.MAX_DOCUMENT_ROOT_NAME


def test_the_parser_refuses_what_no_column_holds() -> None:
    """The protocol layer alone: DocumentId below 1 never becomes a request."""
    for bad in ("0", "-1", "x", ""):
        el = dsp.to_element(
            dsp.SendImageRequest(
                job_token="T",
                document=jobstatus.DocumentDescription(document_id=1, format="jfif"),
                image_href="cid:a",
            )
        )
        el.find(".//" + qn(DSP, "DocumentId")).text = bad  # type: ignore[union-attr]
        with pytest.raises(Exception, match="DocumentId"):  # noqa: B017 - ProtocolError
            dsp.from_element(etree.fromstring(etree.tostring(el)))
