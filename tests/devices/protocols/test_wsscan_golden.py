"""Golden WS-Scan bodies: parse -> dataclass -> build gives the golden's canonical bytes, and
parsing ignores child order, prefixes and unknown extension elements (PROTOCOL.md §4, §8)."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from devices.protocols import xmlsafe
from devices.protocols.namespaces import WSCN, qn
from devices.protocols.wsscan import events, messages
from devices.protocols.wsscan.elements import ScannerConfiguration
from devices.protocols.wsscan.ticket import ScanTicket

GOLDEN = Path(__file__).parent / "golden" / "wsscan"
FILES = sorted(p.name for p in GOLDEN.glob("*.xml"))

OTHER_TYPES: dict[str, Any] = {
    qn(WSCN, "ScanTicket"): ScanTicket,
    qn(WSCN, "ScannerConfiguration"): ScannerConfiguration,
    qn(WSCN, "ScanDestinations"): events.ScanDestinations,
    qn(WSCN, "DestinationResponses"): events.DestinationResponses,
}


def parse_any(el: etree._Element) -> Any:
    if el.tag in messages.MESSAGE_TYPES:
        return messages.parse_message(el)
    if el.tag in OTHER_TYPES:
        return OTHER_TYPES[el.tag].from_element(el)
    return events.parse_event(el)


def canonical(el: etree._Element) -> bytes:
    el = copy.deepcopy(el)
    for node in el.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(el, method="c14n", exclusive=True)


def load(name: str) -> etree._Element:
    return xmlsafe.parse((GOLDEN / name).read_bytes())


def test_every_message_and_event_has_a_golden_sample() -> None:
    stems = {n.removesuffix(".xml") for n in FILES}
    for cls in list(messages.MESSAGE_TYPES.values()) + list(events.EVENT_TYPES.values()):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")
        assert snake in stems, cls.__name__


@pytest.mark.parametrize("name", FILES)
def test_golden_round_trip(name: str) -> None:
    el = load(name)
    obj = parse_any(el)
    built = obj.to_element()
    assert canonical(built) == canonical(el)
    assert parse_any(xmlsafe.parse(etree.tostring(built))) == obj


def _shuffle(el: etree._Element, rng: random.Random) -> None:
    """Shuffle children, keeping same-named siblings in their order (they form a list)."""
    kids = list(el)
    by_tag: dict[str, list[etree._Element]] = {}
    for k in kids:
        by_tag.setdefault(k.tag, []).append(k)
        el.remove(k)
    slots = [k.tag for k in kids]
    rng.shuffle(slots)
    for tag in slots:
        k = by_tag[tag].pop(0)
        el.append(k)
        _shuffle(k, rng)


@pytest.mark.parametrize("name", FILES)
def test_child_order_does_not_matter(name: str) -> None:
    el = load(name)
    expected = parse_any(el)
    changed = False
    for seed in range(4):
        shuffled = copy.deepcopy(el)
        _shuffle(shuffled, random.Random(seed))
        changed = changed or canonical(shuffled) != canonical(el)
        assert parse_any(shuffled) == expected
    assert changed or len(el) <= 1


@pytest.mark.parametrize("name", FILES)
def test_foreign_prefixes(name: str) -> None:
    raw = (GOLDEN / name).read_text()
    # sane-airscan writes the scan namespace as "sca"; QName texts move with the prefix.
    foreign = raw.replace("xmlns:wscn=", "xmlns:sca=").replace("wscn:", "sca:")
    assert "wscn" not in foreign
    assert parse_any(xmlsafe.parse(foreign.encode())) == parse_any(load(name))


def test_default_namespace_form_parses() -> None:
    raw = (GOLDEN / "scan_ticket.xml").read_text()
    plain = raw.replace('xmlns:wscn="%s"' % WSCN, 'xmlns="%s" xmlns:wscn="%s"' % (WSCN, WSCN))
    plain = plain.replace("<wscn:", "<").replace("</wscn:", "</")
    assert parse_any(xmlsafe.parse(plain.encode())) == parse_any(load("scan_ticket.xml"))


@pytest.mark.parametrize("name", FILES)
def test_unknown_extension_elements_are_ignored(name: str) -> None:
    el = load(name)
    expected = parse_any(el)
    rng = random.Random(7)
    for node in list(el.iter()):
        if len(node) == 0 and node is not el:
            continue  # a leaf holds a value; an element inside it would not be an extension
        ext = etree.Element("{urn:example:vendor}Extra", nsmap={"v": "urn:example:vendor"})
        etree.SubElement(ext, "{urn:example:vendor}Knob").text = "11"
        node.insert(rng.randrange(len(node) + 1), ext)
        node.set("{urn:example:vendor}hint", "x")
    assert parse_any(el) == expected


def test_dataclass_values_from_golden() -> None:
    ticket = parse_any(load("scan_ticket.xml"))
    assert isinstance(ticket, ScanTicket)
    dp = ticket.document_parameters
    assert dp is not None
    assert dp.input_source == "ADFDuplex" and dp.format == "pdf-a"
    assert dp.must_honor("InputSource") and dp.must_honor("MediaSides/MediaFront/Resolution")
    assert not dp.must_honor("ContentType")
    assert dp.front.resolution is not None and dp.front.resolution.width == 300
    assert dp.input_size is not None and dp.input_size.input_media_size is not None
    assert (dp.input_size.input_media_size.width, dp.input_size.input_media_size.height) == (8500, 11000)
    assert ticket.job_description.job_originating_user_name == "EXAMPLE\\alice"

    resp = parse_any(load("create_scan_job_response.xml"))
    assert isinstance(resp, messages.CreateScanJobResponse)
    assert resp.job_id == 7
    final = resp.document_final_parameters
    assert final.flag("CompressionQualityFactor").used_default is True
    assert final.flag("ContentType").override is True

    image = parse_any(load("retrieve_image_response.xml"))
    assert image == messages.RetrieveImageResponse(href="cid:img1@mfp4200.example.test")
    assert image.content_id == "img1@mfp4200.example.test"

    elements = parse_any(load("get_scanner_elements_response.xml"))
    conf = elements.get(messages.NAME_SCANNER_CONFIGURATION)
    assert isinstance(conf, ScannerConfiguration)
    assert conf.input_sources() == ("Platen", "ADF", "ADFDuplex")
    assert elements.elements[-1].name == qn(WSCN, "VendorPanel") and not elements.elements[-1].valid
    status = elements.get(messages.NAME_SCANNER_STATUS)
    assert status.active_conditions[0].id == 1543
    assert status.active_conditions[0].time.microsecond == 524000


def test_vendor_requested_name_gets_its_prefix_declared() -> None:
    req = messages.GetScannerElementsRequest(
        names=(qn("urn:example:vendor", "Panel"), messages.NAME_SCANNER_STATUS)
    )
    el = req.to_element()
    back = messages.GetScannerElementsRequest.from_element(xmlsafe.parse(etree.tostring(el)))
    assert back == req


def test_legacy_misspelt_document_final_parameters_is_accepted() -> None:
    raw = (
        (GOLDEN / "create_scan_job_response.xml")
        .read_text()
        .replace("DocumentFinalParameters", "DocumentFinalParamters")
    )
    assert parse_any(xmlsafe.parse(raw.encode())) == parse_any(load("create_scan_job_response.xml"))


def test_client_display_string_typo_is_accepted() -> None:
    raw = (GOLDEN / "scan_destinations.xml").read_text().replace("ClientDisplayName", "ClientDisplayString")
    assert parse_any(xmlsafe.parse(raw.encode())) == parse_any(load("scan_destinations.xml"))
