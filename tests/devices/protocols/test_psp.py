"""Scan process XML (devices/protocols/psp.py): golden samples, canonical bytes, validation, server check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from devices.protocols import psp, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import EMLF, FSF, PSP, SPF, WSCN

GOLDEN = Path(__file__).parent / "golden" / "psp"
GOLDEN_FILES = sorted(GOLDEN.glob("*.xml"))
VARIANTS = sorted((GOLDEN / "variants").glob("*.xml"))


def canonical_file(path: Path) -> bytes:
    """The golden file as canonical bytes: pretty-printing whitespace removed, C14N."""
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n")


def sample(**instructions: object) -> psp.PostScanProcess:
    base = psp.from_xml((GOLDEN / "full.xml").read_bytes())
    return dataclasses.replace(base, instructions=dataclasses.replace(base.instructions, **instructions))


def test_golden_files_exist() -> None:
    assert {p.name for p in GOLDEN_FILES} >= {"full.xml", "minimal.xml", "unknown_filter.xml"}
    assert VARIANTS


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_parses_to_its_canonical_bytes(path: Path) -> None:
    assert psp.to_xml(psp.from_xml(path.read_bytes())) == canonical_file(path)


@pytest.mark.parametrize("path", GOLDEN_FILES + VARIANTS, ids=lambda p: p.name)
def test_build_parse_build_is_byte_stable(path: Path) -> None:
    first = psp.to_xml(psp.from_xml(path.read_bytes()))
    again = psp.from_xml(first)
    assert psp.to_xml(again) == first
    assert again == psp.from_xml(first)


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.name)
def test_shuffled_children_and_foreign_prefixes_give_the_same_process(path: Path) -> None:
    golden = GOLDEN / (path.name.split("--")[0] + ".xml")
    assert psp.to_xml(psp.from_xml(path.read_bytes())) == canonical_file(golden)


def test_full_sample_is_typed() -> None:
    process = psp.from_xml((GOLDEN / "full.xml").read_bytes())
    assert process.scan_repository == "scanserver.example.test"
    instr = process.instructions
    assert instr.continue_on_error is True
    assert instr.document_root_name == "Invoices"
    assert instr.allow_device_file_name_change is True
    assert instr.allow_device_file_path_change is False
    assert [f.dialect for f in instr.filters] == [FSF, SPF, EMLF]
    fileshare, sharepoint, email = (f.instructions for f in instr.filters if isinstance(f, psp.Filter))
    assert fileshare == psp.FileShareConfig(
        share_uncs=("\\\\fs01\\scans\\invoices", "\\\\fs02\\archive\\invoices")
    )
    assert sharepoint == psp.SharePointConfig(
        save_to_my_site=False, site_urls=("https://sharepoint.example.test/sites/finance/Invoices",)
    )
    assert email == psp.EmailConfig(
        send_to_scan_user=True, addresses=("ap@example.test",), can_add_addresses=True
    )
    assert process.locked_settings == {psp.SETTING_FORMAT, psp.SETTING_INPUT_SOURCE, psp.SETTING_RESOLUTION}
    ticket = xmlsafe.parse(process.scan_ticket)
    assert ticket.tag == "{%s}ScanTicket" % WSCN
    assert ticket.findtext("{%s}DocumentParameters/{%s}Format" % (WSCN, WSCN)) == "pdf-a"


def test_spx_and_odsm_placement_on_output() -> None:
    root = etree.fromstring(psp.to_xml(psp.from_xml((GOLDEN / "full.xml").read_bytes())))
    names = [etree.QName(c).localname for c in root]
    assert names == ["ScanRepository", "ScanTicket", "PostScanInstructions", "LockedSettings"]
    instr = [etree.QName(c).localname for c in root.find("{%s}PostScanInstructions" % PSP)]
    assert instr == [
        "ContinueOnError",
        "DocumentRootName",
        "FiltersToProcess",
        "AllowDeviceFileNameChange",
        "AllowDeviceFilePathChange",
    ]


def test_unknown_filter_and_extensions_are_kept_verbatim() -> None:
    process = psp.from_xml((GOLDEN / "unknown_filter.xml").read_bytes())
    (item,) = process.instructions.filters
    assert isinstance(item, psp.UnknownFilter)
    assert item.dialect == "urn:vendor:ocr-filter"
    assert item.raw is not None and b'v:mode="v:Accurate"' in item.raw and b"xmlns:v=" in item.raw
    assert (
        len(process.instructions.extensions) == 1 and b"urn:vendor:ext" in process.instructions.extensions[0]
    )
    assert process.extensions == (b'<x:Note xmlns:x="urn:vendor:note">kept verbatim</x:Note>',)


def test_instructions_standalone_round_trip() -> None:
    instr = psp.from_xml((GOLDEN / "full.xml").read_bytes()).instructions
    data = psp.instructions_to_xml(instr)
    assert data.startswith(b"<psp:PostScanInstructions")
    assert psp.instructions_from_element(xmlsafe.parse(data)) == instr


def test_dialect_qname_and_uri_forms() -> None:
    el = etree.fromstring(
        b'<a xmlns:f="http://schemas.microsoft.com/windows/2007/10/imaging/postscan/filter"/>'
    )
    assert psp.dialect_uri("f:email", el) == EMLF
    assert psp.dialect_uri("ftr:fileshare") == FSF
    assert psp.dialect_uri(" %s " % SPF) == SPF
    assert psp.dialect_local(SPF) == "sharepoint"
    assert psp.dialect_local("urn:other") is None


# --------------------------------------------------------------------------- invalid input


def _mutate(xpath: str, action: str, value: str = "") -> bytes:
    root = etree.fromstring((GOLDEN / "minimal.xml").read_bytes())
    ns = {"psp": PSP, "fsf": FSF}
    for el in root.xpath(xpath, namespaces=ns):
        if action == "remove":
            el.getparent().remove(el)
        else:
            el.text = value
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_mutate("//psp:DocumentRootName", "remove"), "missing its required psp:DocumentRootName"),
        (_mutate("//psp:DocumentRootName", "set", "x" * 300), "psp:DocumentRootName is 300 characters"),
        (_mutate("//psp:DocumentRootName", "set", "   "), "psp:DocumentRootName must not be empty"),
        (_mutate("//psp:Filter", "remove"), "at least one psp:Filter"),
        (_mutate("//psp:FiltersToProcess", "remove"), "missing its required psp:FiltersToProcess"),
        (_mutate("//psp:ScanRepository", "set", "h" * 256), "psp:ScanRepository is 256 characters"),
        (_mutate("//psp:ScanTicket", "remove"), "psp:ScanTicket"),
        (_mutate("//fsf:ShareUNC", "set", "\\\\" + "s" * 300), "fsf:ShareUNC is 302 characters"),
        (_mutate("//fsf:FileShareConfig", "remove"), "has no fsf:FileShareConfig"),
        (b'<psp:Other xmlns:psp="%s"/>' % PSP.encode(), "expected psp:PostScanProcess"),
    ],
)
def test_invalid_process_is_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        psp.from_xml(data)


def test_bad_boolean_is_refused() -> None:
    data = (
        (GOLDEN / "full.xml").read_bytes().replace(b"<psp:ContinueOnError>true", b"<psp:ContinueOnError>yes")
    )
    with pytest.raises(ProtocolError, match="psp:ContinueOnError must be true or false"):
        psp.from_xml(data)


def test_oversized_process_is_refused_before_parsing() -> None:
    padding = b"<!-- " + b"x" * 600_000 + b" -->"
    data = (
        (GOLDEN / "minimal.xml")
        .read_bytes()
        .replace(b"</psp:PostScanProcess>", padding + b"</psp:PostScanProcess>")
    )
    with pytest.raises(xmlsafe.XMLRefused, match="over the directory limit of 524288"):
        psp.from_xml(data)
    with pytest.raises(xmlsafe.XMLRefused, match="characters"):
        psp.from_xml(data.decode("utf-8"))


def test_multibyte_process_under_the_character_limit_is_accepted() -> None:
    # 200,000 three-byte characters: 600,000 bytes but only ~200,000 characters.
    data = (GOLDEN / "minimal.xml").read_bytes().replace(b"Quick scan", "\u20ac".encode() * 200_000)
    assert len(data) > psp.MAX_PSP_CHARS
    assert psp.from_xml(data).scan_repository == "scan1.example.test"


def test_dataclass_validation() -> None:
    with pytest.raises(ProtocolError, match="does not match"):
        psp.Filter(dialect=SPF, instructions=psp.FileShareConfig(share_uncs=("\\\\a\\b",)))
    with pytest.raises(ProtocolError, match="SaveToSharePointSiteURL is 2049 characters"):
        psp.SharePointConfig(site_urls=("h" * 2049,))
    assert psp.SharePointConfig(site_urls=("h" * 2048,)).site_urls


def test_dtd_is_refused() -> None:
    with pytest.raises(xmlsafe.XMLRefused):
        psp.from_xml(b'<!DOCTYPE x [<!ENTITY a "b">]><psp:PostScanProcess xmlns:psp="%s"/>' % PSP.encode())


# --------------------------------------------------------------------------- instructions_equal


def _instr(path: str = "full.xml") -> psp.PostScanInstructions:
    return psp.from_xml((GOLDEN / path).read_bytes()).instructions


def _with_filter(
    instr: psp.PostScanInstructions, index: int, config: psp.FilterConfig
) -> psp.PostScanInstructions:
    filters = list(instr.filters)
    filters[index] = psp.Filter.of(config)
    return dataclasses.replace(instr, filters=tuple(filters))


def test_identical_instructions_are_acceptable() -> None:
    assert psp.instructions_equal(_instr(), _instr(), False, False) == []


def test_dropped_spx_flags_are_not_a_difference() -> None:
    submitted = dataclasses.replace(
        _instr(), allow_device_file_name_change=None, allow_device_file_path_change=None
    )
    assert psp.instructions_equal(_instr(), submitted, False, False) == []


def test_name_change_needs_permission() -> None:
    submitted = dataclasses.replace(_instr(), document_root_name="Renamed")
    assert psp.instructions_equal(_instr(), submitted, False, False) == [
        "DocumentRootName is 'Renamed', published 'Invoices'"
    ]
    assert psp.instructions_equal(_instr(), submitted, True, False) == []


def test_path_change_needs_permission() -> None:
    submitted = _with_filter(_instr(), 0, psp.FileShareConfig(share_uncs=("\\\\fs09\\elsewhere",)))
    (difference,) = psp.instructions_equal(_instr(), submitted, True, False)
    assert difference.startswith("filter 1 (fileshare): share paths \\\\fs09\\elsewhere differ")
    assert psp.instructions_equal(_instr(), submitted, False, True) == []


def test_email_addresses_may_be_added_only_when_allowed() -> None:
    published = _instr()
    more = psp.EmailConfig(
        send_to_scan_user=True, addresses=("ap@example.test", "x@example.test"), can_add_addresses=True
    )
    assert psp.instructions_equal(published, _with_filter(published, 2, more), False, False) == []
    locked = _with_filter(
        published, 2, dataclasses.replace(more, addresses=("ap@example.test",), can_add_addresses=False)
    )
    differences = psp.instructions_equal(
        locked, _with_filter(locked, 2, dataclasses.replace(more, can_add_addresses=False)), False, False
    )
    assert differences == [
        "filter 3 (email): addresses added although the process does not allow it: x@example.test"
    ]
    removed = _with_filter(published, 2, dataclasses.replace(more, addresses=("x@example.test",)))
    assert "filter 3 (email): published addresses removed: ap@example.test" in psp.instructions_equal(
        published, removed, True, True
    )


def test_other_differences_are_reported() -> None:
    published = _instr()
    submitted = dataclasses.replace(
        _with_filter(
            published, 1, psp.SharePointConfig(save_to_my_site=True, site_urls=("https://evil.example",))
        ),
        continue_on_error=False,
    )
    assert psp.instructions_equal(published, submitted, True, True) == [
        "ContinueOnError is false, published true",
        "filter 2 (sharepoint): SaveToMySite is true, published false",
        "filter 2 (sharepoint): site URLs differ from the published version",
    ]
    fewer = dataclasses.replace(published, filters=published.filters[:1])
    assert psp.instructions_equal(published, fewer, True, True) == ["1 filters submitted, 3 published"]
    swapped = dataclasses.replace(
        published, filters=(published.filters[1], published.filters[0], published.filters[2])
    )
    assert [d.split(":")[0] for d in psp.instructions_equal(published, swapped, True, True)] == [
        "filter 1 (fileshare)",
        "filter 2 (sharepoint)",
    ]


def test_unknown_filters_compare_verbatim() -> None:
    published = _instr("unknown_filter.xml")
    assert psp.instructions_equal(published, published, False, False) == []
    changed = dataclasses.replace(
        published, filters=(psp.UnknownFilter(dialect="urn:vendor:ocr-filter", raw=None),)
    )
    assert psp.instructions_equal(published, changed, True, True) == [
        "filter 1 (urn:vendor:ocr-filter): instructions differ from the published version"
    ]
