"""The hostile input corpus, shared by every test of an endpoint that reads SOAP or MTOM.

Static samples live in ``hostile/`` (``*.xml`` envelopes; ``*.mime`` MTOM bodies whose first
line is their ``Content-Type`` header, then a blank line, then the body); the large ones are
generated here so the repository stays small.

Every entry must be refused by any endpoint of ours: a non-2xx status with a SOAP fault (or a
4xx for a size refusal at the HTTP layer), a reason, no crash and no file left behind. An
endpoint that dispatches on Action answers the well-formed ones with a fault too, because their
Action is unknown (or, for ``empty_body``, a real Action whose request element is missing).

``mtom_part_over_limit`` carries a 2 MiB part: it is refused under :data:`HOSTILE_MTOM_LIMITS`
(1 MiB parts); an endpoint test must configure that limit (or smaller) for the entry to apply.
"""

from __future__ import annotations

from pathlib import Path

from devices.protocols.mtom import MtomLimits
from devices.protocols.namespaces import DSP, SOAP12, WSA, action

HOSTILE_DIR = Path(__file__).parent / "hostile"
HOSTILE_MTOM_LIMITS = MtomLimits(max_part_bytes=1024 * 1024)
UNKNOWN_ACTION = "urn:opendsm:hostile/NoSuchAction"


def _envelope(body: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="%s" xmlns:wsa="%s"><soap:Header>'
        b"<wsa:Action>%s</wsa:Action><wsa:MessageID>urn:uuid:0badf00d-0000-4000-8000-0000000000ff</wsa:MessageID>"
        b"</soap:Header><soap:Body>%s</soap:Body></soap:Envelope>"
        % (SOAP12.encode(), WSA.encode(), UNKNOWN_ACTION.encode(), body)
    )


def _generated_envelopes() -> list[tuple[str, bytes]]:
    depth = 10_000
    return [
        ("big_5mb_envelope", _envelope(b"<x>" + b"A" * (5 * 1024 * 1024) + b"</x>")),
        ("deep_nesting_10000", _envelope(b"<x>" * depth + b"</x>" * depth)),
        ("many_elements_200000", _envelope(b"<x>" + b"<y/>" * 200_000 + b"</x>")),
    ]


def _mime(
    name: str, content_type: str, parts: list[tuple[str, str, bytes]], root: bytes
) -> tuple[str, str, bytes]:
    boundary = "hostile-generated-boundary"
    ctype = 'multipart/related; type="application/xop+xml"; boundary="%s"; start="<root@hostile>"' % boundary
    chunks = [
        b'--%s\r\nContent-Type: application/xop+xml; type="application/soap+xml"\r\n'
        b"Content-ID: <root@hostile>\r\n\r\n%s\r\n" % (boundary.encode(), root)
    ]
    for cid, ptype, data in parts:
        chunks.append(
            b"--%s\r\nContent-Type: %s\r\nContent-ID: <%s>\r\n\r\n%s\r\n"
            % (boundary.encode(), ptype.encode(), cid.encode(), data)
        )
    chunks.append(b"--%s--\r\n" % boundary.encode())
    return name, content_type or ctype, b"".join(chunks)


def _send_image(cids: list[str]) -> bytes:
    includes = b"".join(
        b'<dsp:ImageData><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:%s"/>'
        b"</dsp:ImageData>" % cid.encode()
        for cid in cids
    )
    return (
        b'<soap:Envelope xmlns:soap="%s" xmlns:wsa="%s" xmlns:dsp="%s">'
        b"<soap:Header><wsa:Action>%s</wsa:Action></soap:Header><soap:Body><dsp:SendImageRequest><dsp:JobToken>x</dsp:JobToken>%s"
        b"</dsp:SendImageRequest></soap:Body></soap:Envelope>"
        % (SOAP12.encode(), WSA.encode(), DSP.encode(), action(DSP, "SendImage").encode(), includes)
    )


def _generated_mtom() -> list[tuple[str, str, bytes]]:
    many = ["p%d@hostile" % i for i in range(40)]
    return [
        _mime(
            "mtom_part_over_limit",
            "",
            [("page1@hostile", "image/png", b"\x89PNG" + b"\x00" * (2 * 1024 * 1024))],
            _send_image(["page1@hostile"]),
        ),
        _mime(
            "mtom_root_over_limit",
            "",
            [("page1@hostile", "image/png", b"png")],
            _send_image(["page1@hostile"]).replace(
                b"<dsp:JobToken>x", b"<dsp:JobToken>" + b"x" * (1536 * 1024)
            ),
        ),
        _mime("mtom_too_many_parts", "", [(cid, "image/png", b"png") for cid in many], _send_image(many)),
    ]


def _load_mime(path: Path) -> tuple[str, str, bytes]:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    name, _, value = head.decode("ascii").partition(":")
    assert name.lower() == "content-type", path
    return path.stem, value.strip(), body


HOSTILE_ENVELOPES: list[tuple[str, bytes]] = [
    (p.stem, p.read_bytes()) for p in sorted(HOSTILE_DIR.glob("*.xml"))
] + _generated_envelopes()

HOSTILE_MTOM: list[tuple[str, str, bytes]] = [
    _load_mime(p) for p in sorted(HOSTILE_DIR.glob("*.mime"))
] + _generated_mtom()

# A word or phrase the refusal's reason must contain, by entry name: the reason is what an
# operator reads in the log and the device's user sees in the fault, so it has to say why.
ENVELOPE_REASONS: dict[str, str] = {
    "billion_laughs": "DTD",
    "xxe_etc_passwd": "DTD",
    "external_dtd": "DTD",
    "parameter_entities": "DTD",
    "utf16_with_dtd": "DTD",
    "utf16_dtd_after_long_comment": "DTD",
    "xinclude_etc_passwd": "XInclude",
    "wrong_encoding_declaration": "malformed XML",
    "invalid_utf8": "malformed XML",
    "not_xml": "malformed XML",
    "truncated_xml": "malformed XML",
    "empty_document": "empty XML document",
    "non_soap_root": "not a SOAP envelope",
    "envelope_wrong_namespace": "not a SOAP envelope",
    "two_bodies": "more than one Body",
    "duplicate_action": "more than one wsa:Action",
    "missing_action": "no wsa:Action",
    "unknown_action": "action not supported",
    "soap11_unknown_action": "action not supported",
    "empty_body": "action not supported",
    "big_5mb_envelope": "over the limit",
    "deep_nesting_10000": "deep",
    "many_elements_200000": "more than",
}

MTOM_REASONS: dict[str, str] = {
    "mtom_truncated": "truncated",
    "mtom_missing_part": "missing MIME part",
    "mtom_wrong_content_type": "unsupported content type multipart/form-data",
    "mtom_not_mtom_type": "not MTOM",
    "mtom_missing_boundary": "without a boundary",
    "mtom_root_wrong_type": "root part has content type text/html",
    "mtom_root_with_dtd": "DTD",
    "mtom_base64_part": "transfer encoding base64",
    "mtom_duplicate_content_id": "two MIME parts",
    "mtom_boundary_never_appears": "does not start with the boundary",
    "mtom_header_flood": "headers over",
    "mtom_href_not_cid": "without a cid: href",
    "mtom_empty_body": "empty MTOM body",
    "mtom_no_root_part": "no root part",
    "mtom_part_over_limit": "over the limit of 1048576",
    "mtom_root_over_limit": "root part over the limit",
    "mtom_too_many_parts": "more than 16 parts",
}
