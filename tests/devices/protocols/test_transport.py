"""SOAP/MTOM client against a real HTTP server on 127.0.0.1 (devices/protocols/transport.py)."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from lxml import etree

from devices.protocols import mtom, soap, transport
from devices.protocols.mtom import Attachment
from devices.protocols.namespaces import DSP, WSA_FAULT_ACTION, WSCN, action, qn
from devices.protocols.soap import Dispatcher, Envelope, Headers, SoapFault
from devices.protocols.transport import TransportError

IMAGE = os.urandom(700_000)


@dataclass
class Seen:
    """What the server received, for assertions."""

    requests: list[dict[str, str]] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)


def build_dispatcher(seen: Seen, spool: Path) -> Dispatcher:
    def send_image(env: Envelope) -> etree._Element:
        part = env.attachments["page1@dev"]
        seen.sha256.append(part.sha256)
        return etree.Element(qn(DSP, "SendImageResponse"))

    def echo(env: Envelope) -> etree._Element:
        out = etree.Element(qn(DSP, "EchoResponse"))
        out.text = env.body.text if env.body is not None else ""
        return out

    def no_images(env: Envelope) -> etree._Element:
        raise SoapFault("Sender", (WSCN, "ClientErrorNoImagesAvailable"), "no images")

    def event(env: Envelope) -> None:
        return None

    d = Dispatcher()
    d.register(action(DSP, "SendImage"), send_image)
    d.register("urn:t/Echo", echo)
    d.register("urn:t/NoImages", no_images)
    d.register("urn:t/Event", event)
    return d


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def reply(self, status: int, ctype: str | None, body: bytes) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.seen.requests.append(dict(self.headers.items()))
        data = self.rfile.read(length)
        path = self.path
        if path == "/html404":
            return self.reply(404, "text/html", b"<html><body>not here</body></html>")
        if path == "/garbage":
            return self.reply(200, "application/soap+xml", b"<html>")
        if path == "/slow":
            time.sleep(1.0)
            return self.reply(200, "application/soap+xml", b"")
        if path == "/oops500":
            return self.reply(500, "application/soap+xml", soap.build_envelope(Headers(action="urn:x"), None))
        if path == "/retrieve":
            request = soap.parse_envelope(data)
            body = etree.Element(qn(WSCN, "RetrieveImageResponse"))
            etree.SubElement(body, qn(WSCN, "ScanData")).append(mtom.xop_include("img1@dev"))
            env = soap.build_response(request, action(WSCN, "RetrieveImageResponse"), body)
            ctype, out = mtom.build_mtom(env, [Attachment("img1@dev", "image/jpeg", IMAGE)])
            return self.reply(200, ctype, out)
        try:
            msg = mtom.read_soap_http(
                self.headers.get("Content-Type", ""), io.BytesIO(data), self.server.spool
            )
        except SoapFault as fault:
            return self.reply(fault.http_status, soap.CONTENT_TYPE, soap.build_fault(fault))
        status, out = self.server.dispatcher.handle_envelope(msg.envelope)
        msg.discard()
        self.reply(status, soap.CONTENT_TYPE if out else None, out)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, spool: Path) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen = Seen()
        self.spool = spool
        self.dispatcher = build_dispatcher(self.seen, spool)

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.server_address[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    spool = tmp_path / "server-spool"
    spool.mkdir()
    srv = Server(spool)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def echo_request(text: str = "hello") -> bytes:
    body = etree.Element("{urn:t}Echo")
    body.text = text
    return soap.build_envelope(Headers(action="urn:t/Echo", message_id="urn:uuid:echo-1"), body)


def send_image_request() -> bytes:
    body = etree.Element(qn(DSP, "SendImageRequest"))
    etree.SubElement(body, qn(DSP, "ImageData")).append(mtom.xop_include("page1@dev"))
    return soap.build_envelope(Headers(action=action(DSP, "SendImage")), body)


def test_post_soap_round_trip(server: Server) -> None:
    env = transport.post_soap(server.url + "/soap", echo_request(), timeout=5)
    assert env.headers.action == "urn:t/EchoResponse"
    assert env.headers.relates_to == "urn:uuid:echo-1"
    assert env.body is not None and env.body.text == "hello"
    assert server.seen.requests[0]["Content-Type"] == "application/soap+xml; charset=utf-8"


def test_post_soap_fault_is_raised(server: Server) -> None:
    request = soap.build_envelope(Headers(action="urn:t/NoImages"), None)
    with pytest.raises(SoapFault) as info:
        transport.post_soap(server.url + "/soap", request, timeout=5)
    assert info.value.subcode == (WSCN, "ClientErrorNoImagesAvailable")


def test_unknown_action_fault(server: Server) -> None:
    with pytest.raises(SoapFault) as info:
        transport.post_soap(
            server.url + "/soap", soap.build_envelope(Headers(action="urn:nope"), None), timeout=5
        )
    assert info.value.subcode == soap.ACTION_NOT_SUPPORTED


def test_post_mtom_streams_a_file(server: Server, tmp_path: Path) -> None:
    src = tmp_path / "page.png"
    src.write_bytes(IMAGE)
    parts = [Attachment("page1@dev", "image/png", path=str(src))]
    env = transport.post_mtom(server.url + "/soap", send_image_request(), parts, timeout=5)
    assert env.body is not None and env.body.tag == qn(DSP, "SendImageResponse")
    assert server.seen.sha256 == [hashlib.sha256(IMAGE).hexdigest()]
    headers = server.seen.requests[0]
    assert headers["Content-Type"].startswith("multipart/related;")
    assert "Transfer-Encoding" not in headers and int(headers["Content-Length"]) > len(IMAGE)
    assert list(server.spool.iterdir()) == []


def test_receive_mtom(server: Server, tmp_path: Path) -> None:
    msg = transport.post_soap_receive_mtom(server.url + "/retrieve", echo_request(), tmp_path, timeout=5)
    part = msg.part_for(msg.envelope.body)
    assert part.path.read_bytes() == IMAGE and part.content_type == "image/jpeg"
    assert part.path.parent == tmp_path


def test_post_soap_drops_mtom_parts(server: Server) -> None:
    env = transport.post_soap(server.url + "/retrieve", echo_request(), timeout=5)
    assert env.body is not None and env.body.tag == qn(WSCN, "RetrieveImageResponse")
    assert dict(env.attachments) == {}


def test_one_way_event(server: Server) -> None:
    request = soap.build_envelope(Headers(action="urn:t/Event"), None)
    assert transport.post_one_way(server.url + "/soap", request, timeout=5) is None


@pytest.mark.parametrize(
    "path, words, status",
    [
        ("/html404", "HTTP 404: unreadable SOAP answer: unsupported content type text/html", 404),
        ("/garbage", "HTTP 200: unreadable SOAP answer: malformed XML", 200),
        ("/oops500", "HTTP 500 with a SOAP body that is not a fault", 500),
    ],
)
def test_non_soap_answers_are_transport_errors(server: Server, path: str, words: str, status: int) -> None:
    with pytest.raises(TransportError) as info:
        transport.post_soap(server.url + path, echo_request(), timeout=5)
    assert words in str(info.value) and info.value.status == status


def test_timeout_and_refused_connection(server: Server) -> None:
    with pytest.raises(TransportError, match="Timeout"):
        transport.post_soap(server.url + "/slow", echo_request(), timeout=0.2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match="ConnectError"):
        transport.post_soap("http://127.0.0.1:%d/" % port, echo_request(), timeout=2)


def test_shared_client_is_used_and_left_open(server: Server) -> None:
    with httpx.Client() as client:
        for text in ("a", "b"):
            env = transport.post_soap(server.url + "/soap", echo_request(text), timeout=5, client=client)
            assert env.body is not None and env.body.text == text
        assert not client.is_closed


def test_async_variants(server: Server, tmp_path: Path) -> None:
    async def main() -> None:
        env = await transport.post_soap_async(server.url + "/soap", echo_request("x"), timeout=5)
        assert env.body is not None and env.body.text == "x"
        parts = [Attachment("page1@dev", "image/png", IMAGE)]
        async with httpx.AsyncClient() as client:
            env = await transport.post_mtom_async(
                server.url + "/soap", send_image_request(), parts, timeout=5, client=client
            )
            assert env.body is not None and env.body.tag == qn(DSP, "SendImageResponse")
        msg = await transport.post_soap_receive_mtom_async(server.url + "/retrieve", echo_request(), tmp_path)
        assert msg.parts["img1@dev"].sha256 == hashlib.sha256(IMAGE).hexdigest()
        event = soap.build_envelope(Headers(action="urn:t/Event"), None)
        assert await transport.post_one_way_async(server.url + "/soap", event) is None
        with pytest.raises(SoapFault):
            await transport.post_soap_async(
                server.url + "/soap", soap.build_envelope(Headers(action="urn:n"), None)
            )
        with pytest.raises(TransportError):
            await transport.post_soap_async(server.url + "/html404", echo_request())

    asyncio.run(main())
    assert server.seen.sha256 == [hashlib.sha256(IMAGE).hexdigest()]


def test_fault_response_bytes_carry_fault_action(server: Server) -> None:
    """sane-airscan recognises a fault by the action string in the body: keep it there."""
    with httpx.Client() as client:
        resp = client.post(
            server.url + "/soap",
            content=soap.build_envelope(Headers(action="urn:nope"), None),
            headers={"Content-Type": soap.CONTENT_TYPE},
        )
    assert resp.status_code == 400
    assert WSA_FAULT_ACTION.encode() in resp.content
