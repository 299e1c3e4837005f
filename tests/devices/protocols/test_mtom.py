"""MTOM/XOP build and streaming parse (devices/protocols/mtom.py)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import mtom, soap
from devices.protocols.mtom import Attachment, MtomLimits
from devices.protocols.namespaces import DSP, WSCN, XOP, action, qn
from devices.protocols.soap import Headers, SoapFault

IMAGE = os.urandom(300_000) + b"\r\n--not-the-boundary\r\n" + os.urandom(1000)


def send_image_envelope(cid: str = "page1@dev", *, href: str | None = None) -> bytes:
    body = etree.Element(qn(DSP, "SendImageRequest"))
    etree.SubElement(body, qn(DSP, "JobToken")).text = "tok"
    data = etree.SubElement(body, qn(DSP, "ImageData"))
    inc = mtom.xop_include(cid)
    if href is not None:
        inc.set("href", href)
    data.append(inc)
    return soap.build_envelope(Headers(action=action(DSP, "SendImage")), body)


def files(path: Path) -> list[Path]:
    return sorted(path.iterdir())


def test_round_trip_send_image(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", "image/png", IMAGE)])
    assert ctype.startswith("multipart/related;") and 'type="application/xop+xml"' in ctype
    assert 'start-info="application/soap+xml"' in ctype and "start=" in ctype
    msg = mtom.read_mtom(ctype, io.BytesIO(body), tmp_path)
    part = msg.parts["page1@dev"]
    assert part.path.read_bytes() == IMAGE
    assert part.size == len(IMAGE) and part.sha256 == hashlib.sha256(IMAGE).hexdigest()
    assert part.content_type == "image/png"
    assert msg.envelope.attachments["page1@dev"] == part
    assert msg.part_for(msg.envelope.body.find(qn(DSP, "ImageData"))) == part  # type: ignore[union-attr]
    assert files(tmp_path) == [part.path]
    msg.discard()
    assert files(tmp_path) == []


def test_root_part_is_first_and_envelope_is_intact() -> None:
    env = send_image_envelope()
    ctype, body = mtom.build_mtom(env, [Attachment("page1@dev", data=b"x")])
    first = body.split(b"\r\n\r\n", 1)
    assert b"application/xop+xml" in first[0]
    assert first[1].startswith(env)


@pytest.mark.parametrize("chunk", [1, 7, 1000, 65536])
def test_any_chunking_gives_the_same_result(tmp_path: Path, chunk: int) -> None:
    data = IMAGE[:5000]
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=data)])

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), chunk):
            yield body[i : i + chunk]

    msg = asyncio.run(mtom.read_mtom_async(ctype, chunks(), tmp_path, fsync=False))
    assert msg.parts["page1@dev"].path.read_bytes() == data


def test_streaming_from_file_matches_in_memory(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(IMAGE)
    parts = [Attachment("a@x", "image/jpeg", path=str(src))]
    plan = mtom.plan_mtom(send_image_envelope("a@x"), parts, boundary="B", root_id="r@x")
    streamed = b"".join(plan.chunks())
    assert len(streamed) == plan.content_length
    again = mtom.plan_mtom(
        send_image_envelope("a@x"), [Attachment("a@x", "image/jpeg", IMAGE)], boundary="B", root_id="r@x"
    )
    # The envelope carries a fresh MessageID, so compare the framing around it.
    assert streamed.split(b"</soap:Envelope>")[1] == again.body().split(b"</soap:Envelope>")[1]
    ctype, it = mtom.iter_mtom(send_image_envelope("a@x"), parts)
    spool = tmp_path / "spool"
    spool.mkdir()
    msg = mtom.read_mtom(ctype, io.BytesIO(b"".join(it)), spool)
    assert msg.parts["a@x"].sha256 == hashlib.sha256(IMAGE).hexdigest()


def test_parts_matched_by_content_id_not_order_and_href_forms(tmp_path: Path) -> None:
    """A foreign sender: parts out of order, LF line ends, encoded href with brackets, start param."""
    env = send_image_envelope(href="cid:%3Cimg%201@dev%3E")
    body = (
        b"preamble\n--XX\nContent-ID: <other@dev>\nContent-Type: image/jpeg\n\nOTHER\n"
        b'--XX\ncontent-id:<root@dev>\ncontent-type: application/xop+xml;\n type="application/soap+xml"\n\n'
        + env
        + b"\n--XX\nContent-Id: <img 1@dev>\n\nIMG\n--XX--\nepilogue"
    )
    ctype = 'Multipart/Related; boundary=XX; type="application/xop+xml"; start="<root@dev>"'
    msg = mtom.read_mtom(ctype, io.BytesIO(body), tmp_path)
    assert set(msg.parts) == {"img 1@dev"}
    assert msg.parts["img 1@dev"].path.read_bytes() == b"IMG"
    assert msg.parts["img 1@dev"].content_type == "application/octet-stream"
    # The unreferenced part was not kept.
    assert files(tmp_path) == [msg.parts["img 1@dev"].path]


def test_xop_helpers() -> None:
    inc = mtom.xop_include("a b@x")
    assert inc.tag == qn(XOP, "Include") and inc.get("href") == "cid:a%20b@x"
    holder = etree.Element(qn(WSCN, "ScanData"))
    holder.append(inc)
    assert mtom.xop_href_cid(holder) == "a b@x"
    assert mtom.xop_href_cid(etree.Element("x")) is None
    bad = mtom.xop_include("a@x")
    bad.set("href", "http://evil/")
    assert mtom.xop_href_cid(bad) is None


def test_attachment_validation() -> None:
    with pytest.raises(ValueError):
        Attachment("a@x")
    with pytest.raises(ValueError):
        Attachment("a@x", data=b"", path="/x")
    with pytest.raises(ValueError):
        Attachment("<a@x>", data=b"")


def refused(tmp_path: Path, ctype: str, body: bytes, limits: MtomLimits = mtom.DEFAULT_MTOM_LIMITS) -> str:
    with pytest.raises(SoapFault) as info:
        mtom.read_soap_http(ctype, io.BytesIO(body), tmp_path, limits)
    assert info.value.code == "Sender" and info.value.http_status == 400
    assert files(tmp_path) == [], "a refused message left spooled files behind"
    return info.value.reason


def test_truncated(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=IMAGE)])
    for cut in (60, 200, len(body) // 2, len(body) - 5):
        assert "truncated" in refused(tmp_path, ctype, body[:cut])


def test_missing_part(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope("absent@dev"), [Attachment("page1@dev", data=IMAGE)])
    assert "missing MIME part: absent@dev" in refused(tmp_path, ctype, body)


def test_part_over_limit(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=IMAGE)])
    reason = refused(tmp_path, ctype, body, MtomLimits(max_part_bytes=100_000))
    assert "over the limit of 100000" in reason


def test_root_and_total_and_count_limits(tmp_path: Path) -> None:
    parts = [Attachment("p%d@x" % i, data=b"abc") for i in range(5)]
    ctype, body = mtom.build_mtom(send_image_envelope(), parts)
    assert "root part over" in refused(tmp_path, ctype, body, MtomLimits(max_root_bytes=100))
    assert "more than 3 parts" in refused(tmp_path, ctype, body, MtomLimits(max_parts=3))
    assert "message over the limit" in refused(tmp_path, ctype, body, MtomLimits(max_total_bytes=500))


def test_wrong_content_types(tmp_path: Path) -> None:
    _ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=b"x")])
    assert "unsupported content type" in refused(tmp_path, "multipart/form-data; boundary=x", body)
    assert "not MTOM" in refused(tmp_path, 'multipart/related; boundary=x; type="text/html"', body)
    assert "without a boundary" in refused(tmp_path, 'multipart/related; type="application/xop+xml"', body)
    assert "unsupported content type" in refused(tmp_path, "", body)


def test_root_part_wrong_type(tmp_path: Path) -> None:
    body = b"--B\r\nContent-Type: image/png\r\n\r\n" + send_image_envelope() + b"\r\n--B--\r\n"
    assert "root part has content type image/png" in refused(tmp_path, "multipart/related; boundary=B", body)


def test_bad_xml_in_root_cleans_up(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(b"<!DOCTYPE x><x/>", [Attachment("page1@dev", data=IMAGE)])
    assert "DTD" in refused(tmp_path, ctype, body)


def test_duplicate_content_id(tmp_path: Path) -> None:
    parts = [Attachment("page1@dev", data=b"a"), Attachment("page1@dev", data=b"b")]
    ctype, body = mtom.build_mtom(send_image_envelope(), parts)
    assert "two MIME parts" in refused(tmp_path, ctype, body)


def test_base64_part_is_refused(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=b"x")])
    body = body.replace(
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <page1",
        b"Content-Transfer-Encoding: base64\r\nContent-ID: <page1",
    )
    assert "transfer encoding base64" in refused(tmp_path, ctype, body)


def test_plain_soap_body_is_accepted(tmp_path: Path) -> None:
    env = soap.build_envelope(Headers(action="urn:x"), None)
    msg = mtom.read_soap_http("application/soap+xml; charset=utf-8", env, tmp_path)
    assert msg.parts == {} and msg.envelope.headers.action == "urn:x"
    assert "missing MIME part" in refused(tmp_path, "application/soap+xml", send_image_envelope())
    assert "SOAP message over" in refused(
        tmp_path, "application/soap+xml", env, MtomLimits(max_root_bytes=10)
    )


def test_async_plain_and_failure_cleanup(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=IMAGE)])

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]

    with pytest.raises(SoapFault):
        asyncio.run(mtom.read_soap_http_async(ctype, chunks(body[:-100]), tmp_path))
    assert files(tmp_path) == []
    env = soap.build_envelope(Headers(action="urn:y"), None)
    msg = asyncio.run(mtom.read_soap_http_async("application/soap+xml", chunks(env), tmp_path))
    assert msg.envelope.headers.action == "urn:y"


def test_cancelled_reader_cleans_up(tmp_path: Path) -> None:
    ctype, body = mtom.build_mtom(send_image_envelope(), [Attachment("page1@dev", data=IMAGE)])

    async def main() -> None:
        gate = asyncio.Event()

        async def chunks() -> AsyncIterator[bytes]:
            yield body[: len(body) // 2]
            gate.set()
            await asyncio.sleep(3600)
            yield b""

        task = asyncio.create_task(mtom.read_mtom_async(ctype, chunks(), tmp_path))
        await gate.wait()
        await asyncio.sleep(0)
        assert len(files(tmp_path)) == 1  # the image part is being spooled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert files(tmp_path) == []
