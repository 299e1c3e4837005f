"""Who may scan: each refusal is a SOAP fault with its subcode, a log line and a console record."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.protocols import dsp, psp, soap
from scanserver import access
from scanserver.dsp import Caller
from tests.factories import DeviceEvent, DeviceGroupFactory, ProcessState, ScanJob, ScanServerFactory
from tests.scanserver.endpoint_helpers import (
    CONSOLE_TOKEN,
    World,
    asgi_client,
    close_server_connections,
    create_request,
    envelope,
    fault_of,
    instructions,
    make_world,
)


@pytest.fixture
def world(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[World]:
    settings.SCANSERVER_SPOOL_DIR = tmp_path / "spool"
    settings.SCANSERVER_CONSOLE_TOKEN = CONSOLE_TOKEN
    settings.SCANSERVER_GUID = ""
    yield make_world()
    close_server_connections()


def post_create(world: World, req: dsp.CreatePostScanJobRequest, token: str | None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with asgi_client(token) as client:
            return await client.post(
                world.url, content=envelope(world.url, req), headers={"Content-Type": soap.CONTENT_TYPE}
            )

    return asyncio.run(go())


def refused(world: World, req: dsp.CreatePostScanJobRequest, token: str | None = None) -> soap.SoapFault:
    resp = post_create(world, req, world.token if token is None else token)
    assert resp.status_code == 400, resp.text
    assert not ScanJob.objects.exists()
    return fault_of(resp)


def last_event(world: World) -> DeviceEvent:
    event = DeviceEvent.objects.filter(device=world.device).order_by("-at").first()
    assert event is not None
    return event


def test_the_allowed_user_gets_a_job(world: World) -> None:
    resp = post_create(world, create_request(world), world.token)
    assert resp.status_code == 200, resp.text
    job = ScanJob.objects.get()
    assert job.user_sid == world.alice_sid and job.user_name == "alice"


def test_unknown_or_missing_device_credentials(world: World, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="scanserver.access"):
        for token in ("", "not-a-token"):
            fault = refused(world, create_request(world), token=token or "")
            assert fault.subcode == access.FAULT_NOT_ENROLLED and "not an enrolled device" in fault.reason
    assert "refused CreatePostScanJob from unknown caller" in caplog.text
    unknown = DeviceEvent.objects.filter(device=None, kind="device_unknown")
    assert unknown.count() == 2  # the console lists these as "unknown caller"
    assert all(e.detail["operation"] == "CreatePostScanJob" and e.peer for e in unknown)
    world.device.enabled = False
    world.device.save()
    assert refused(world, create_request(world)).subcode == access.FAULT_NOT_ENROLLED


def test_a_sid_the_directory_does_not_know(world: World) -> None:
    fault = refused(world, create_request(world, sid="S-1-5-21-1-2-3-4242"))
    assert fault.subcode == access.FAULT_ACCESS_DENIED and "not known to the directory" in fault.reason
    event = last_event(world)
    assert event.kind == "scan_refused" and event.detail["sid"] == "S-1-5-21-1-2-3-4242"


def test_a_malformed_sid_is_invalid_args(world: World) -> None:
    body = envelope(world.url, create_request(world)).replace(world.alice_sid.encode(), b"alice")

    async def go() -> httpx.Response:
        async with asgi_client(world.token) as client:
            return await client.post(world.url, content=body, headers={"Content-Type": soap.CONTENT_TYPE})

    resp = asyncio.run(go())
    assert resp.status_code == 400 and fault_of(resp).subcode == dsp.FAULT_INVALID_ARGS
    assert "must be a SID" in fault_of(resp).reason


def test_a_user_outside_the_allowed_groups(world: World) -> None:
    fault = refused(world, create_request(world, sid=world.nora_sid))
    assert fault.subcode == access.FAULT_ACCESS_DENIED
    assert "nora" in fault.reason and "none of the groups" in fault.reason
    assert last_event(world).detail["user"] == "nora"


def test_tampered_instructions(world: World) -> None:
    tampered = instructions(share="\\\\evil\\loot")
    fault = refused(world, create_request(world, instr=tampered))
    assert fault.subcode == access.FAULT_INSTRUCTIONS_CHANGED and "evil" in fault.reason
    renamed = instructions(root="Other")
    assert "DocumentRootName" in refused(world, create_request(world, instr=renamed)).reason
    assert last_event(world).detail["problems"]


def test_unpublished_and_unknown_processes(world: World) -> None:
    assert "no scan process" in refused(world, create_request(world, psp_id=uuid.uuid4())).reason
    world.process.state = ProcessState.UNPUBLISHED
    world.process.save()
    fault = refused(world, create_request(world))
    assert fault.subcode == access.FAULT_NOT_PUBLISHED and "not published" in fault.reason


def test_a_process_of_another_scan_server(world: World, settings: Any) -> None:

    # With two scan servers in the database, this process serves the one SMC_SCANSERVER_GUID names.
    settings.SCANSERVER_GUID = str(world.server.guid)

    world.process.scan_server = ScanServerFactory(name="scan02", fqdn="scan02.test")
    world.process.save()
    assert "not this one" in refused(world, create_request(world)).reason


def test_device_groups_restrict_where_a_process_may_be_used(world: World) -> None:

    world.process.allowed_device_groups.add(DeviceGroupFactory(name="finance floor"))
    assert "device groups" in refused(world, create_request(world)).reason


def test_admit_create_directly(world: World) -> None:
    req = create_request(world)
    admission = access.admit_create(world.device, world.server, req)
    assert admission.user_name == "alice" and admission.version == world.process.published_version
    with pytest.raises(access.Refused) as exc:
        access.admit_create(world.device, world.server, create_request(world, sid=world.nora_sid))
    assert exc.value.fault.code == "Sender"
    # The published spx flags, not the submitted ones, decide: a device cannot grant itself a change.
    sneaky = psp.PostScanInstructions(
        document_root_name="Elsewhere",
        continue_on_error=True,
        allow_device_file_name_change=True,
        filters=instructions().filters,
    )
    with pytest.raises(access.Refused):
        access.admit_create(world.device, world.server, create_request(world, instr=sneaky))


def test_work_functions_need_a_device(world: World) -> None:
    from scanserver import dsp as work

    with pytest.raises(access.Refused):
        work.create_post_scan_job(Caller(server=world.server), create_request(world))
