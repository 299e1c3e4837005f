"""Shared pieces of the scan-server endpoint tests: a published process, an enrolled device,
users in the embedded directory (built with tests.factories), and hand-built WS-DSP messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from lxml import etree

from devices.protocols import dsc, dsp, jobstatus, mtom, psp, soap
from devices.protocols.wsscan import ticket as tk

CONSOLE_TOKEN = "console-token-for-tests"
BASE = "https://scan.test"
SHARE = "\\\\fs01\\scans"  # the published process's one destination


def make_ticket(fmt: str = "jfif") -> tk.ScanTicket:
    return tk.ScanTicket(
        job_description=tk.JobDescription("Invoices", "alice"),
        document_parameters=tk.DocumentParameters(
            format=fmt,
            input_source="ADF",
            input_size=tk.InputSize(input_media_size=tk.Size(8500, 11000)),
            media_sides=tk.MediaSides(
                front=tk.MediaSide(color_processing="RGB24", resolution=tk.Resolution(50, 50))
            ),
        ),
    )


def instructions(root: str = "Invoices", share: str = SHARE) -> psp.PostScanInstructions:
    return psp.PostScanInstructions(
        document_root_name=root,
        continue_on_error=True,
        filters=(psp.Filter.of(psp.FileShareConfig(share_uncs=(share,))),),
    )


def psp_bytes(fmt: str = "jfif") -> bytes:
    """A PSP as a device reads it from the directory, matching the world's published process."""
    process = psp.PostScanProcess(
        scan_repository="scan.test",
        scan_ticket=etree.tostring(make_ticket(fmt).to_element(), method="c14n"),
        instructions=instructions(),
    )
    return psp.to_xml(process)


@dataclass
class World:
    server: Any
    device: Any
    token: str
    process: Any
    alice_sid: str
    nora_sid: str

    @property
    def url(self) -> str:
        return "%s/ScanServer/%s" % (BASE, self.server.guid)


def make_world(published: bool = True, fmt: str = "jfif") -> World:
    """ScanServer, an enrolled device, alice (in "scanners") and nora (not), a published process."""
    from directory.identity import identity_for
    from tests.factories import (
        DeviceFactory,
        GroupFactory,
        ScanProcessFactory,
        ScanServerFactory,
        UserFactory,
    )

    server = ScanServerFactory(name="scan01", fqdn="scan.test", port=5362)
    device = DeviceFactory(name="MFP 1")
    token = device.issue_token()
    device.save(update_fields=["token_hash"])
    alice = UserFactory(username="alice", password="x", groups=[GroupFactory(name="scanners")])
    nora = UserFactory(username="nora", password="x")
    process = ScanProcessFactory(
        display_name="Invoices",
        ticket_xml=etree.tostring(make_ticket(fmt).to_element(), method="c14n").decode(),
        scan_server=server,
        allowed_groups=["scanners"],
        destinations=[("smb", {"uncs": [SHARE]})],
        published=published,
    )
    return World(server, device, token, process, identity_for(alice), identity_for(nora))


# --------------------------------------------------------------------------------------------
# messages


def envelope(url: str, message: Any) -> bytes:
    module = dsc if type(message).__module__.endswith("dsc") else dsp
    return soap.build_envelope(soap.Headers(action=message.action, to=url), module.to_element(message))


def create_request(
    world: World,
    *,
    sid: str | None = None,
    instr: psp.PostScanInstructions | None = None,
    psp_id: uuid.UUID | None = None,
) -> dsp.CreatePostScanJobRequest:
    return dsp.CreatePostScanJobRequest(
        user_identifier=sid or world.alice_sid,
        psp_identifier=psp_id or world.process.guid,
        instructions=instr or instructions(),
    )


def send_image_body(url: str, token: str, doc_id: int, data: bytes, fmt: str = "jfif") -> tuple[str, bytes]:
    cid = mtom.new_content_id("doc%d" % doc_id)
    msg = dsp.SendImageRequest(
        job_token=token,
        document=jobstatus.DocumentDescription(document_id=doc_id, format=fmt),
        image_href="cid:" + cid,
    )
    return mtom.build_mtom(envelope(url, msg), [mtom.Attachment(cid, "application/octet-stream", data=data)])


def soap_headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": soap.CONTENT_TYPE}
    if token:
        headers["Authorization"] = "Bearer " + token
    return headers


def parse(resp: httpx.Response) -> soap.Envelope:
    return soap.parse_envelope(resp.content)


def fault_of(resp: httpx.Response) -> soap.SoapFault:
    fault = soap.fault_from_envelope(parse(resp))
    assert fault is not None, resp.text
    return fault


def asgi_client(token: str | None = None, base: str = BASE) -> httpx.AsyncClient:
    from scanserver.asgi import application

    headers = {"Authorization": "Bearer " + token} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application, client=("127.0.0.1", 40000)),
        base_url=base,
        headers=headers,
        timeout=30,
    )


def close_server_connections() -> None:
    """Close the database connections of the threads the ASGI app used (test DB teardown)."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    asyncio.run(sync_to_async(connections.close_all, thread_sensitive=True)())
    from scanserver import asgi

    asgi.close_pool_connections()
