"""Scan process (PostScanProcess, "PSP") XML ⇄ frozen dataclasses.

Implements PROTOCOL.md §3.1–3.2: ``psp:PostScanProcess`` as stored in the AD attribute
``msImaging-PSPString`` ([MS-BDSRR] §2.2.4.29–36, WDD:postscanprocess.md, WDD:scan-process-schema.md)
with the file-share, SharePoint and e-mail filter instruction schemas ([MS-BDSRR] §2.2.4.74–83,
§6.2.4–6.2.6), the ``spx`` extensions ([MS-BDSRR] §6.2.7) and OpenDSM's locked-settings extension.

Output is canonical: fixed prefixes (``namespaces.NSMAP``), the XSD order, no insignificant
whitespace, C14N 1.0 in UTF-8, so ``to_xml(from_xml(to_xml(x))) == to_xml(x)`` byte for byte. Input
is matched by namespace-qualified name in any order with any prefixes. Foreign XML (the ScanTicket,
an unknown filter's instructions, ``##other`` extensions) is kept verbatim as canonical bytes with
its own prefixes, because it may carry QName-valued text that a prefix rewrite would break.

Placement decisions where the Microsoft docs are silent (PROTOCOL.md §10.6, DESIGN.md decision 5):

* ``spx:AllowDeviceFileNameChange`` / ``spx:AllowDeviceFilePathChange`` are written as children of
  ``psp:PostScanInstructions`` after ``psp:FiltersToProcess`` — the instructions are what a device
  copies into ``dsp:CreatePostScanJobRequest``, so the flags travel with them. On input they are
  accepted anywhere in the document.
* ``odsm:LockedSettings/odsm:Setting`` (namespace ``ODSM``) lists the ScanTicket settings the user
  may NOT override at the device; it is written as a child of ``psp:PostScanProcess`` after
  ``psp:PostScanInstructions`` (it concerns the ticket, not the server-side processing) and accepted
  anywhere on input. Devices that ignore it lose nothing; the scan server enforces it.
* ``psp:ScanTicket`` (type ``wscn:ScanTicketType``) is stored in the dataclass as the canonical bytes
  of an equivalent ``wscn:ScanTicket`` element so ``devices.protocols.wsscan`` can read it directly;
  on output its elements take the ``wscn`` prefix (the one exception to "foreign XML keeps its
  prefixes"; a QName-valued ticket value written with another prefix for the wscn namespace would
  not survive that, which no known device does).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from lxml import etree

from devices.protocols import xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import EMLF, FSF, FTR, NSMAP, ODSM, PSP, SPF, SPX, WSCN, qn
from devices.protocols.xmlfields import (
    Element,
    canonical,
    check_length,
    child,
    children,
    foreign_bytes,
    foreign_element,
    format_bool,
    label,
    optional_bool,
    parse_bool,
    require,
    required_text,
    sub,
    text_of,
)

log = logging.getLogger(__name__)

MAX_PSP_CHARS = 524288  # rangeUpper of msImaging-PSPString (PROTOCOL.md §6)
MAX_STRING = 255
MAX_URL = 2048

DIALECT_FILESHARE = FSF
DIALECT_SHAREPOINT = SPF
DIALECT_EMAIL = EMLF
# OpenDSM's own filters (not in the Microsoft schema): a local/mounted folder and an HTTP webhook.
# A DSM device copies unknown dialects verbatim; only an OpenDSM scan server runs them.
DIALECT_FOLDER = "urn:opendsm:2026:filter/folder"
DIALECT_HTTP = "urn:opendsm:2026:filter/http"
# [MS-BDSRR] §4.1: the scan server advertises its filters as QNames in the ``ftr`` namespace.
_DIALECT_BY_QNAME = {"fileshare": FSF, "sharepoint": SPF, "email": EMLF}
_QNAME_BY_DIALECT = {uri: local for local, uri in _DIALECT_BY_QNAME.items()}

# Names of ScanTicket settings for odsm:LockedSettings — the wscn element names under
# DocumentParameters (MediaFront/MediaBack children for ColorProcessing and Resolution).
SETTING_FORMAT = "Format"
SETTING_COMPRESSION_QUALITY_FACTOR = "CompressionQualityFactor"
SETTING_IMAGES_TO_TRANSFER = "ImagesToTransfer"
SETTING_INPUT_SOURCE = "InputSource"
SETTING_CONTENT_TYPE = "ContentType"
SETTING_INPUT_SIZE = "InputSize"
SETTING_EXPOSURE = "Exposure"
SETTING_SCALING = "Scaling"
SETTING_ROTATION = "Rotation"
SETTING_COLOR_PROCESSING = "ColorProcessing"
SETTING_RESOLUTION = "Resolution"
LOCKABLE_SETTINGS: tuple[str, ...] = (
    SETTING_FORMAT,
    SETTING_COMPRESSION_QUALITY_FACTOR,
    SETTING_IMAGES_TO_TRANSFER,
    SETTING_INPUT_SOURCE,
    SETTING_CONTENT_TYPE,
    SETTING_INPUT_SIZE,
    SETTING_EXPOSURE,
    SETTING_SCALING,
    SETTING_ROTATION,
    SETTING_COLOR_PROCESSING,
    SETTING_RESOLUTION,
)

_SPX_NAME = qn(SPX, "AllowDeviceFileNameChange")
_SPX_PATH = qn(SPX, "AllowDeviceFilePathChange")
_LOCKED = qn(ODSM, "LockedSettings")
_TYPED_EXTENSION_NS = (SPX, ODSM)


# --------------------------------------------------------------------------- dialects


def dialect_uri(value: str, context: Element | None = None) -> str:
    """A filter dialect as its URI, from either the URI or the QName form (``ftr:email``).

    The QName prefix is resolved against ``context``'s namespaces; a well-known ``ftr`` prefix is
    accepted even when undeclared, since the short names are unambiguous.
    """
    value = value.strip()
    prefix, sep, local = value.partition(":")
    if sep and "/" not in value:
        uri = (context.nsmap.get(prefix) if context is not None else None) or (
            FTR if prefix == "ftr" else None
        )
        if uri == FTR and local in _DIALECT_BY_QNAME:
            return _DIALECT_BY_QNAME[local]
        if uri is not None:
            return "%s/%s" % (uri, local)
    return value


def dialect_local(uri: str) -> str | None:
    """The ``ftr`` local name (``fileshare``/``sharepoint``/``email``) of a known dialect URI."""
    return _QNAME_BY_DIALECT.get(uri)


# --------------------------------------------------------------------------- dataclasses


def _check_strings(values: tuple[str, ...], max_len: int, tag: str) -> None:
    for value in values:
        if not value:
            raise ProtocolError("%s must not be empty" % label(tag))
        check_length(value, max_len, tag)


@dataclass(frozen=True, kw_only=True)
class FileShareConfig:
    """``fsf:FileShareConfig``: copy every document to each UNC path."""

    dialect: ClassVar[str] = FSF
    share_uncs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_strings(self.share_uncs, MAX_STRING, qn(FSF, "ShareUNC"))


@dataclass(frozen=True, kw_only=True)
class SharePointConfig:
    """``spf:SharePointConfig``: upload to the user's MySite and/or to each site URL."""

    dialect: ClassVar[str] = SPF
    save_to_my_site: bool | None = None
    site_urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_strings(self.site_urls, MAX_URL, qn(SPF, "SaveToSharePointSiteURL"))


@dataclass(frozen=True, kw_only=True)
class EmailConfig:
    """``emlf:EmailConfig``: mail to the scanning user and/or to each address."""

    dialect: ClassVar[str] = EMLF
    send_to_scan_user: bool | None = None
    addresses: tuple[str, ...] = ()
    can_add_addresses: bool | None = None

    def __post_init__(self) -> None:
        _check_strings(self.addresses, MAX_STRING, qn(EMLF, "EmailAddress"))


FilterConfig = FileShareConfig | SharePointConfig | EmailConfig


@dataclass(frozen=True, kw_only=True)
class Filter:
    """A ``psp:Filter`` of a known dialect with its typed instructions."""

    dialect: str
    instructions: FilterConfig

    def __post_init__(self) -> None:
        if self.dialect != self.instructions.dialect:
            raise ProtocolError(
                "psp:Filter dialect %s does not match its %s instructions"
                % (self.dialect, type(self.instructions).__name__)
            )

    @classmethod
    def of(cls, instructions: FilterConfig) -> Filter:
        return cls(dialect=instructions.dialect, instructions=instructions)


@dataclass(frozen=True, kw_only=True)
class UnknownFilter:
    """A ``psp:Filter`` of a dialect OpenDSM does not know; ``raw`` is its ``psp:Instructions`` verbatim."""

    dialect: str
    raw: bytes | None = None

    def __post_init__(self) -> None:
        if not self.dialect:
            raise ProtocolError("psp:Dialect must not be empty")


AnyFilter = Filter | UnknownFilter


@dataclass(frozen=True, kw_only=True)
class PostScanInstructions:
    """``psp:PostScanInstructions`` (also the content of ``dsp:PostScanInstructions``)."""

    document_root_name: str
    filters: tuple[AnyFilter, ...]
    continue_on_error: bool | None = None
    allow_device_file_name_change: bool | None = None
    allow_device_file_path_change: bool | None = None
    extensions: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not self.document_root_name.strip():
            raise ProtocolError("psp:DocumentRootName must not be empty")
        check_length(self.document_root_name, MAX_STRING, qn(PSP, "DocumentRootName"))
        if not self.filters:
            raise ProtocolError("psp:FiltersToProcess must contain at least one psp:Filter")


@dataclass(frozen=True, kw_only=True)
class PostScanProcess:
    """``psp:PostScanProcess``; ``scan_ticket`` holds canonical bytes of a ``wscn:ScanTicket`` element."""

    scan_repository: str
    scan_ticket: bytes
    instructions: PostScanInstructions
    locked_settings: frozenset[str] = field(default_factory=frozenset)
    extensions: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not self.scan_repository.strip():
            raise ProtocolError("psp:ScanRepository must not be empty")
        check_length(self.scan_repository, MAX_STRING, qn(PSP, "ScanRepository"))
        if not self.scan_ticket.strip():
            raise ProtocolError("psp:PostScanProcess needs a psp:ScanTicket")


# --------------------------------------------------------------------------- build


def _filter_config(parent: Element, config: FilterConfig) -> None:
    if isinstance(config, FileShareConfig):
        el = sub(parent, qn(FSF, "FileShareConfig"), nsmap={"fsf": FSF})
        if config.share_uncs:
            shares = sub(el, qn(FSF, "FileShares"))
            for unc in config.share_uncs:
                sub(shares, qn(FSF, "ShareUNC"), unc)
    elif isinstance(config, SharePointConfig):
        el = sub(parent, qn(SPF, "SharePointConfig"), nsmap={"spf": SPF})
        if config.save_to_my_site is not None:
            sub(el, qn(SPF, "SaveToMySite"), format_bool(config.save_to_my_site))
        if config.site_urls:
            sites = sub(el, qn(SPF, "SaveToSharePointSites"))
            for url in config.site_urls:
                sub(sites, qn(SPF, "SaveToSharePointSiteURL"), url)
    else:
        el = sub(parent, qn(EMLF, "EmailConfig"), nsmap={"emlf": EMLF})
        if config.send_to_scan_user is not None:
            sub(el, qn(EMLF, "SendToScanUser"), format_bool(config.send_to_scan_user))
        if config.addresses or config.can_add_addresses:
            addresses = sub(el, qn(EMLF, "SendToAddresses"))
            if config.can_add_addresses is not None:
                # Qualified, as on WDD:createpostscanjobrequest-example.md.
                addresses.set(qn(EMLF, "CanAddAddresses"), format_bool(config.can_add_addresses))
            for address in config.addresses:
                sub(addresses, qn(EMLF, "EmailAddress"), address)


def fill_instructions(parent: Element, instructions: PostScanInstructions) -> Element:
    """Append the children of a PostScanInstructions element (``psp:`` or ``dsp:``) to ``parent``."""
    if instructions.continue_on_error is not None:
        sub(parent, qn(PSP, "ContinueOnError"), format_bool(instructions.continue_on_error))
    sub(parent, qn(PSP, "DocumentRootName"), instructions.document_root_name)
    filters = sub(parent, qn(PSP, "FiltersToProcess"))
    for item in instructions.filters:
        el = sub(filters, qn(PSP, "Filter"))
        sub(el, qn(PSP, "Dialect"), item.dialect)
        if isinstance(item, Filter):
            _filter_config(sub(el, qn(PSP, "Instructions")), item.instructions)
        elif item.raw is not None:
            el.append(foreign_element(item.raw))
    if instructions.allow_device_file_name_change is not None:
        sub(parent, _SPX_NAME, format_bool(instructions.allow_device_file_name_change), nsmap={"spx": SPX})
    if instructions.allow_device_file_path_change is not None:
        sub(parent, _SPX_PATH, format_bool(instructions.allow_device_file_path_change), nsmap={"spx": SPX})
    for data in instructions.extensions:
        parent.append(foreign_element(data))
    return parent


def instructions_to_element(
    instructions: PostScanInstructions, tag: str = qn(PSP, "PostScanInstructions")
) -> Element:
    """A standalone PostScanInstructions element; ``tag`` may be ``dsp:PostScanInstructions``."""
    ns = etree.QName(tag).namespace or ""
    nsmap = {"psp": PSP}
    if ns != PSP:
        nsmap[{uri: p for p, uri in NSMAP.items()}.get(ns, "ns0")] = ns
    return fill_instructions(etree.Element(tag, nsmap=nsmap), instructions)  # type: ignore[arg-type]


def to_element(process: PostScanProcess) -> Element:
    root = etree.Element(qn(PSP, "PostScanProcess"), nsmap={"psp": PSP})
    sub(root, qn(PSP, "ScanRepository"), process.scan_repository)
    ticket_src = foreign_element(process.scan_ticket)
    # Keep every declaration of the stored ticket (QName-valued text may need it) and the wscn prefix.
    nsmap = {p: u for p, u in ticket_src.nsmap.items() if p is not None and u != WSCN}
    nsmap["wscn"] = WSCN
    ticket = sub(root, qn(PSP, "ScanTicket"), nsmap=nsmap)
    for key, value in ticket_src.attrib.items():
        ticket.set(key, value)
    ticket.text = ticket_src.text
    for c in list(ticket_src):
        ticket.append(c)
    fill_instructions(sub(root, qn(PSP, "PostScanInstructions")), process.instructions)
    if process.locked_settings:
        locked = sub(root, _LOCKED, nsmap={"odsm": ODSM})
        order = {name: i for i, name in enumerate(LOCKABLE_SETTINGS)}
        for name in sorted(process.locked_settings, key=lambda n: (order.get(n, len(order)), n)):
            sub(locked, qn(ODSM, "Setting"), name)
    for data in process.extensions:
        root.append(foreign_element(data))
    return root


def to_xml(process: PostScanProcess) -> bytes:
    """The canonical bytes of a scan process (what goes into ``msImaging-PSPString``)."""
    return canonical(to_element(process))


def instructions_to_xml(instructions: PostScanInstructions) -> bytes:
    return canonical(instructions_to_element(instructions))


# --------------------------------------------------------------------------- parse


def _strings(parent: Element | None, tag: str, max_len: int) -> tuple[str, ...]:
    if parent is None:
        return ()
    values = tuple(text_of(c) for c in children(parent, tag))
    _check_strings(values, max_len, tag)
    return values


def _config(instructions: Element | None, dialect: str) -> FilterConfig:
    where = "psp:Filter of dialect %s" % dialect
    if instructions is None:
        raise ProtocolError("%s has no psp:Instructions" % where)
    if dialect == FSF:
        el = child(instructions, qn(FSF, "FileShareConfig"))
        if el is None:
            raise ProtocolError("%s has no fsf:FileShareConfig" % where)
        return FileShareConfig(
            share_uncs=_strings(child(el, qn(FSF, "FileShares")), qn(FSF, "ShareUNC"), MAX_STRING)
        )
    if dialect == SPF:
        el = child(instructions, qn(SPF, "SharePointConfig"))
        if el is None:
            raise ProtocolError("%s has no spf:SharePointConfig" % where)
        sites = child(el, qn(SPF, "SaveToSharePointSites"))
        return SharePointConfig(
            save_to_my_site=optional_bool(el, qn(SPF, "SaveToMySite")),
            site_urls=_strings(sites, qn(SPF, "SaveToSharePointSiteURL"), MAX_URL),
        )
    el = child(instructions, qn(EMLF, "EmailConfig"))
    if el is None:
        raise ProtocolError("%s has no emlf:EmailConfig" % where)
    addresses = child(el, qn(EMLF, "SendToAddresses"))
    can_add = None
    if addresses is not None:
        raw = addresses.get(qn(EMLF, "CanAddAddresses"), addresses.get("CanAddAddresses"))
        can_add = None if raw is None else parse_bool(raw, qn(EMLF, "CanAddAddresses"))
    return EmailConfig(
        send_to_scan_user=optional_bool(el, qn(EMLF, "SendToScanUser")),
        addresses=_strings(addresses, qn(EMLF, "EmailAddress"), MAX_STRING),
        can_add_addresses=can_add,
    )


def _filter(el: Element) -> AnyFilter:
    dialect_el = require(el, qn(PSP, "Dialect"))
    dialect = dialect_uri(text_of(dialect_el), dialect_el)
    if not dialect:
        raise ProtocolError("psp:Dialect must not be empty")
    instructions = child(el, qn(PSP, "Instructions"))
    if dialect in (FSF, SPF, EMLF):
        return Filter(dialect=dialect, instructions=_config(instructions, dialect))
    log.info("keeping psp:Filter of unknown dialect %s verbatim", dialect)
    return UnknownFilter(dialect=dialect, raw=None if instructions is None else foreign_bytes(instructions))


def _spx_flag(scope: Element, tag: str) -> bool | None:
    for el in scope.iter(tag):
        return parse_bool(text_of(el), tag)
    return None


def _extensions(el: Element) -> tuple[bytes, ...]:
    """``##other`` children kept verbatim; the typed spx/odsm elements are not repeated here."""
    found = []
    for c in el:
        if not isinstance(c.tag, str):
            continue
        ns = etree.QName(c).namespace
        if ns == PSP:
            continue
        if ns in _TYPED_EXTENSION_NS or ns is None:
            continue
        found.append(foreign_bytes(c))
    return tuple(found)


def instructions_from_element(el: Element, spx_scope: Element | None = None) -> PostScanInstructions:
    """Parse a ``psp:`` or ``dsp:PostScanInstructions`` element; spx flags are searched in ``spx_scope``."""
    filters_el = require(el, qn(PSP, "FiltersToProcess"))
    filters = tuple(_filter(f) for f in children(filters_el, qn(PSP, "Filter")))
    if not filters:
        raise ProtocolError("psp:FiltersToProcess must contain at least one psp:Filter")
    scope = el if spx_scope is None else spx_scope
    return PostScanInstructions(
        continue_on_error=optional_bool(el, qn(PSP, "ContinueOnError")),
        document_root_name=required_text(el, qn(PSP, "DocumentRootName"), MAX_STRING),
        filters=filters,
        allow_device_file_name_change=_spx_flag(scope, _SPX_NAME),
        allow_device_file_path_change=_spx_flag(scope, _SPX_PATH),
        extensions=_extensions(el),
    )


def _ticket_bytes(root: Element) -> bytes:
    el = child(root, qn(PSP, "ScanTicket"))
    if el is None:
        el = child(root, qn(WSCN, "ScanTicket"))
        if el is None:
            raise ProtocolError("psp:PostScanProcess is missing its required psp:ScanTicket element")
        return foreign_bytes(el)
    inner = [c for c in el if isinstance(c.tag, str)]
    # Liberal: some writers wrap a whole wscn:ScanTicket inside psp:ScanTicket.
    if len(inner) == 1 and inner[0].tag == qn(WSCN, "ScanTicket"):
        return foreign_bytes(inner[0])
    return foreign_bytes(el, rename=qn(WSCN, "ScanTicket"))


def _locked_settings(root: Element) -> frozenset[str]:
    names: set[str] = set()
    for locked in root.iter(_LOCKED):
        names.update(t for t in (text_of(s) for s in children(locked, qn(ODSM, "Setting"))) if t)
    return frozenset(names)


def from_element(root: Element) -> PostScanProcess:
    if root.tag != qn(PSP, "PostScanProcess"):
        raise ProtocolError("expected psp:PostScanProcess, found %s" % label(str(root.tag)))
    return PostScanProcess(
        scan_repository=required_text(root, qn(PSP, "ScanRepository"), MAX_STRING),
        scan_ticket=_ticket_bytes(root),
        instructions=instructions_from_element(
            require(root, qn(PSP, "PostScanInstructions")), spx_scope=root
        ),
        locked_settings=_locked_settings(root),
        extensions=_extensions(root),
    )


def _char_count(data: bytes) -> int:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return (len(data) - 2) // 2
    return len(data.decode("utf-8", errors="replace"))


def from_xml(data: bytes | str) -> PostScanProcess:
    """Parse a scan process from the directory or a form; over 524,288 characters is refused."""
    if isinstance(data, str):
        chars = len(data)
        data = data.encode("utf-8")
    else:
        chars = _char_count(data) if len(data) > MAX_PSP_CHARS else len(data)
    if chars > MAX_PSP_CHARS:
        raise xmlsafe.XMLRefused(
            "scan process XML is %d characters, over the directory limit of %d" % (chars, MAX_PSP_CHARS)
        )
    return from_element(xmlsafe.parse(data, xmlsafe.Limits(max_bytes=4 * MAX_PSP_CHARS)))


# --------------------------------------------------------------------------- the scan server's check


def _iter_filter_differences(
    index: int, published: AnyFilter, submitted: AnyFilter, allow_path_change: bool
) -> Iterator[str]:
    where = "filter %d (%s)" % (index, dialect_local(published.dialect) or published.dialect)
    if published.dialect != submitted.dialect:
        yield "%s: dialect is %s, published %s" % (where, submitted.dialect, published.dialect)
        return
    if isinstance(published, UnknownFilter) or isinstance(submitted, UnknownFilter):
        if published != submitted:
            yield "%s: instructions differ from the published version" % where
        return
    pub, got = published.instructions, submitted.instructions
    if isinstance(pub, FileShareConfig) and isinstance(got, FileShareConfig):
        if pub.share_uncs != got.share_uncs and not allow_path_change:
            yield "%s: share paths %s differ from the published %s" % (
                where,
                ", ".join(got.share_uncs) or "(none)",
                ", ".join(pub.share_uncs) or "(none)",
            )
    elif isinstance(pub, SharePointConfig) and isinstance(got, SharePointConfig):
        if bool(pub.save_to_my_site) != bool(got.save_to_my_site):
            yield "%s: SaveToMySite is %s, published %s" % (
                where,
                format_bool(bool(got.save_to_my_site)),
                format_bool(bool(pub.save_to_my_site)),
            )
        if pub.site_urls != got.site_urls:
            yield "%s: site URLs differ from the published version" % where
    elif isinstance(pub, EmailConfig) and isinstance(got, EmailConfig):
        if bool(pub.send_to_scan_user) != bool(got.send_to_scan_user):
            yield "%s: SendToScanUser is %s, published %s" % (
                where,
                format_bool(bool(got.send_to_scan_user)),
                format_bool(bool(pub.send_to_scan_user)),
            )
        if bool(pub.can_add_addresses) != bool(got.can_add_addresses):
            yield "%s: CanAddAddresses is %s, published %s" % (
                where,
                format_bool(bool(got.can_add_addresses)),
                format_bool(bool(pub.can_add_addresses)),
            )
        missing = [a for a in pub.addresses if a.lower() not in {b.lower() for b in got.addresses}]
        added = [a for a in got.addresses if a.lower() not in {b.lower() for b in pub.addresses}]
        if missing:
            yield "%s: published addresses removed: %s" % (where, ", ".join(missing))
        if added and not pub.can_add_addresses:
            yield "%s: addresses added although the process does not allow it: %s" % (where, ", ".join(added))


def instructions_equal(
    published: PostScanInstructions,
    submitted: PostScanInstructions,
    allow_name_change: bool,
    allow_path_change: bool,
) -> list[str]:
    """Differences between submitted and published instructions that the process does not allow.

    An empty list means the submitted instructions are acceptable. ``allow_name_change`` and
    ``allow_path_change`` come from the published process (spx flags) — the submitted copy's own spx
    flags are not trusted, and their absence is not a difference (older devices drop extensions).
    E-mail addresses may be added only when the published ``CanAddAddresses`` is true.
    """
    differences: list[str] = []
    if bool(published.continue_on_error) != bool(submitted.continue_on_error):
        differences.append(
            "ContinueOnError is %s, published %s"
            % (format_bool(bool(submitted.continue_on_error)), format_bool(bool(published.continue_on_error)))
        )
    if published.document_root_name != submitted.document_root_name and not allow_name_change:
        differences.append(
            "DocumentRootName is %r, published %r"
            % (submitted.document_root_name, published.document_root_name)
        )
    if len(published.filters) != len(submitted.filters):
        differences.append(
            "%d filters submitted, %d published" % (len(submitted.filters), len(published.filters))
        )
    for index, (pub, got) in enumerate(zip(published.filters, submitted.filters, strict=False), start=1):
        differences.extend(_iter_filter_differences(index, pub, got, allow_path_change))
    return differences
