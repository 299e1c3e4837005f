"""The hostile corpus against the real endpoint, mid-job: every entry is refused with a reason,
the app keeps serving, the pages already received stay, and no temporary file is left."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.protocols import soap
from scanserver import conf
from tests.devices.protocols.hostile_corpus import (
    ENVELOPE_REASONS,
    HOSTILE_ENVELOPES,
    HOSTILE_MTOM,
    MTOM_REASONS,
)
from tests.factories import ScanPage
from tests.scanserver.endpoint_helpers import (
    World,
    asgi_client,
    close_server_connections,
    create_request,
    envelope,
    make_world,
    parse,
    send_image_body,
)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_GUID = ""
    # The corpus's over-limit entry carries a 2 MiB part (hostile_corpus.HOSTILE_MTOM_LIMITS).
    settings.SCANSERVER_MAX_PART_BYTES = 1024 * 1024
    yield make_world()
    close_server_connections()


# The corpus's empty_body uses a real WS-DSP Action, which this endpoint does support.
REASONS = {**ENVELOPE_REASONS, "empty_body": "empty Body"}


def test_the_hostile_corpus_is_refused_mid_job(world: World) -> None:
    async def go() -> None:
        async with asgi_client(world.token) as client:
            created = parse(
                await client.post(
                    world.url,
                    content=envelope(world.url, create_request(world)),
                    headers={"Content-Type": soap.CONTENT_TYPE},
                )
            )
            assert created.body is not None
            token = created.body[0].text or ""
            ctype, body = send_image_body(world.url, token, 1, b"page one before the attack")
            assert (
                await client.post(world.url, content=body, headers={"Content-Type": ctype})
            ).status_code == 200

            entries: list[tuple[str, str, bytes, str | None]] = [
                (name, soap.CONTENT_TYPE, data, REASONS.get(name)) for name, data in HOSTILE_ENVELOPES
            ]
            entries += [(name, ct, data, MTOM_REASONS.get(name)) for name, ct, data in HOSTILE_MTOM]
            for name, content_type, data, reason in entries:
                resp = await client.post(world.url, content=data, headers={"Content-Type": content_type})
                assert 400 <= resp.status_code < 600, name
                fault = soap.fault_from_envelope(soap.parse_envelope(resp.content))
                assert fault is not None and fault.reason, name
                if reason is not None:
                    assert reason in fault.reason, (name, fault.reason)

            # Still serving, the page received before the attack still acknowledged and on disk.
            ctype, body = send_image_body(world.url, token, 2, b"page two after the attack")
            assert (
                await client.post(world.url, content=body, headers={"Content-Type": ctype})
            ).status_code == 200

    asyncio.run(go())
    pages = {p.document_id: Path(p.spool_path).read_bytes() for p in ScanPage.objects.all()}
    assert pages == {1: b"page one before the attack", 2: b"page two after the attack"}
    assert not list((conf.spool_dir() / "incoming").iterdir())


def test_a_client_that_goes_away_mid_upload_leaves_nothing(world: World) -> None:
    from scanserver.asgi import application

    ctype, body = send_image_body(world.url, "6F3A7C1E-2B4D-4E5F-8A9B-0C1D2E3F4A5B", 1, b"\x00" * 500_000)
    sent: list[dict[str, Any]] = []
    chunks = [body[:200_000], None]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "path": "/ScanServer/%s" % world.server.guid,
        "headers": [(b"content-type", ctype.encode()), (b"authorization", b"Bearer " + world.token.encode())],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(application(scope, receive, send))
    assert sent == []
    assert not list((conf.spool_dir() / "incoming").iterdir())


def test_an_unauthenticated_upload_is_refused_without_keeping_the_part(world: World) -> None:
    ctype, body = send_image_body(world.url, "6F3A7C1E-2B4D-4E5F-8A9B-0C1D2E3F4A5B", 1, b"x" * 1000)

    async def go() -> httpx.Response:
        async with asgi_client("wrong") as client:
            return await client.post(world.url, content=body, headers={"Content-Type": ctype})

    resp = asyncio.run(go())
    assert resp.status_code == 400
    assert not list((conf.spool_dir() / "incoming").iterdir())
