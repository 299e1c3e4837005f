"""The hostile corpus against xmlsafe, parse_envelope, Dispatcher and the MTOM reader.

Each entry must be refused with a reason that says why, nothing may raise anything but the
documented refusal, nothing from /etc/passwd may leak, and no spooled file may stay behind.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices.protocols import mtom, soap, xmlsafe
from devices.protocols.soap import Dispatcher, SoapFault
from tests.devices.protocols.hostile_corpus import (
    ENVELOPE_REASONS,
    HOSTILE_ENVELOPES,
    HOSTILE_MTOM,
    HOSTILE_MTOM_LIMITS,
    MTOM_REASONS,
)

# Well-formed XML that only the SOAP layer (or the dispatcher) can refuse.
XML_OK = {
    "soap11_unknown_action",
    "non_soap_root",
    "envelope_wrong_namespace",
    "empty_body",
    "unknown_action",
    "missing_action",
    "duplicate_action",
    "two_bodies",
}
# Well-formed SOAP that only the dispatcher refuses (their Action is unknown or absent).
SOAP_OK = {"soap11_unknown_action", "empty_body", "unknown_action", "missing_action"}

ENVELOPE_IDS = [name for name, _ in HOSTILE_ENVELOPES]
MTOM_IDS = [name for name, _, _ in HOSTILE_MTOM]


def test_corpus_is_complete() -> None:
    assert set(ENVELOPE_IDS) == set(ENVELOPE_REASONS)
    assert set(MTOM_IDS) == set(MTOM_REASONS)
    assert len(ENVELOPE_IDS) == len(set(ENVELOPE_IDS)) and len(MTOM_IDS) == len(set(MTOM_IDS))


@pytest.mark.parametrize("name, data", HOSTILE_ENVELOPES, ids=ENVELOPE_IDS)
def test_xmlsafe(name: str, data: bytes) -> None:
    if name in XML_OK:
        assert xmlsafe.parse(data) is not None
        return
    with pytest.raises(xmlsafe.XMLRefused) as info:
        xmlsafe.parse(data)
    assert ENVELOPE_REASONS[name] in str(info.value)


@pytest.mark.parametrize("name, data", HOSTILE_ENVELOPES, ids=ENVELOPE_IDS)
def test_parse_envelope(name: str, data: bytes) -> None:
    if name in SOAP_OK:
        env = soap.parse_envelope(data)
        assert env.headers.action in ("", "urn:opendsm:hostile/NoSuchAction") or env.body is None
        return
    with pytest.raises(SoapFault) as info:
        soap.parse_envelope(data)
    assert info.value.code == "Sender" and info.value.http_status == 400
    assert ENVELOPE_REASONS[name] in info.value.reason


@pytest.mark.parametrize("name, data", HOSTILE_ENVELOPES, ids=ENVELOPE_IDS)
def test_dispatcher_answers_a_fault(name: str, data: bytes) -> None:
    calls: list[object] = []
    d = Dispatcher()
    d.register("urn:opendsm:hostile/Other", calls.append)  # type: ignore[arg-type]
    status, body = d.handle(data)
    assert status == 400
    env = soap.parse_envelope(body)
    fault = soap.fault_from_envelope(env)
    assert fault is not None and ENVELOPE_REASONS[name] in fault.reason
    assert b"root:" not in body, "content of /etc/passwd leaked into a fault"
    assert calls == []
    if name in SOAP_OK:
        assert env.headers.relates_to == "urn:uuid:0badf00d-0000-4000-8000-000000000001"


@pytest.mark.parametrize("name, data", HOSTILE_ENVELOPES, ids=ENVELOPE_IDS)
def test_plain_soap_over_http_reader(name: str, data: bytes, tmp_path: Path) -> None:
    """The HTTP body reader refuses what parse_envelope refuses, and spools nothing."""
    if name in SOAP_OK:
        msg = mtom.read_soap_http("application/soap+xml", io.BytesIO(data), tmp_path)
        assert msg.parts == {}
    else:
        with pytest.raises(SoapFault):
            mtom.read_soap_http("application/soap+xml", io.BytesIO(data), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, ctype, body", HOSTILE_MTOM, ids=MTOM_IDS)
def test_read_mtom(name: str, ctype: str, body: bytes, tmp_path: Path) -> None:
    with pytest.raises(SoapFault) as info:
        mtom.read_soap_http(ctype, io.BytesIO(body), tmp_path, HOSTILE_MTOM_LIMITS)
    assert info.value.code == "Sender" and info.value.http_status == 400
    assert MTOM_REASONS[name] in info.value.reason
    assert list(tmp_path.iterdir()) == [], "a refused message left spooled files behind"


@pytest.mark.parametrize("name, ctype, body", HOSTILE_MTOM, ids=MTOM_IDS)
def test_read_mtom_async_small_chunks(name: str, ctype: str, body: bytes, tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 997):
            yield body[i : i + 997]

    with pytest.raises(SoapFault) as info:
        asyncio.run(mtom.read_soap_http_async(ctype, chunks(), tmp_path, HOSTILE_MTOM_LIMITS))
    assert MTOM_REASONS[name] in info.value.reason
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, ctype, body", HOSTILE_MTOM, ids=MTOM_IDS)
def test_read_mtom_default_limits(name: str, ctype: str, body: bytes, tmp_path: Path) -> None:
    """Under the production defaults only the 2 MiB part is acceptable; nothing else gets through."""
    if name == "mtom_part_over_limit":
        msg = mtom.read_soap_http(ctype, io.BytesIO(body), tmp_path)
        assert msg.parts["page1@hostile"].size == 2 * 1024 * 1024 + 4
        msg.discard()
    else:
        with pytest.raises(SoapFault):
            mtom.read_soap_http(ctype, io.BytesIO(body), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, ctype, body", HOSTILE_MTOM, ids=MTOM_IDS)
def test_mtom_bodies_fed_to_the_plain_dispatcher(name: str, ctype: str, body: bytes) -> None:
    status, answer = Dispatcher().handle(body)
    assert status == 400 and soap.fault_from_envelope(soap.parse_envelope(answer)) is not None
