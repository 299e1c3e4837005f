"""DPWS 2006/02 device metadata over WS-Transfer Get (PROTOCOL.md §7.2).

A console sends a WS-Transfer ``Get`` (empty body, ``wsa:To`` = the device's EPR address) to an
XAddr; the device answers ``GetResponse`` whose body is ``mex:Metadata`` with three
``mex:MetadataSection``s, told apart by ``@Dialect``: ``.../devprof/ThisDevice``,
``.../devprof/ThisModel`` and ``.../devprof/Relationship`` (``Type=.../devprof/host``: one
``wsdp:Host`` and a ``wsdp:Hosted`` per service). :func:`scan_service_url` is how the console
finds where to POST WS-Scan: the Hosted service whose Types hold ``wscn:ScannerServiceType``
(SA:airscan-wsdd.c reads exactly ``mex:Metadata/mex:MetadataSection/wsdp:Relationship/wsdp:Hosted``).

Localized strings (FriendlyName, Manufacturer, ModelName) may repeat with ``xml:lang``; on input
the first unlabelled or English one wins, on output one unlabelled string is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree

from devices.protocols import soap
from devices.protocols.discovery import add_qname_list, parse_qname_list
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import MEX, PNPX, WSA, WSCN, WSDP, WXF, action, qn

log = logging.getLogger(__name__)

ACTION_GET = action(WXF, "Get")
ACTION_GET_RESPONSE = action(WXF, "GetResponse")

DIALECT_THIS_DEVICE = WSDP + "/ThisDevice"
DIALECT_THIS_MODEL = WSDP + "/ThisModel"
DIALECT_RELATIONSHIP = WSDP + "/Relationship"
RELATIONSHIP_HOST = WSDP + "/host"

SCANNER_SERVICE_TYPE = qn(WSCN, "ScannerServiceType")
SCANNER_SERVICE_COMPATIBLE_ID = WSCN + "/ScannerServiceType"

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class ThisDevice:
    friendly_name: str
    firmware_version: str = ""
    serial_number: str = ""


@dataclass(frozen=True)
class ThisModel:
    manufacturer: str
    model_name: str
    manufacturer_url: str = ""
    model_number: str = ""
    model_url: str = ""
    presentation_url: str = ""
    # pnpx:DeviceCategory is a space-separated list, e.g. "Scanners MFP".
    device_category: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    address: str
    types: tuple[str, ...] = ()
    service_id: str = ""


@dataclass(frozen=True)
class HostedService:
    addresses: tuple[str, ...]
    types: tuple[str, ...]
    service_id: str
    compatible_id: str | None = None
    hardware_id: str | None = None


@dataclass(frozen=True)
class DeviceMetadata:
    this_device: ThisDevice | None = None
    this_model: ThisModel | None = None
    host: Host | None = None
    hosted: tuple[HostedService, ...] = ()


# --------------------------------------------------------------------------------------------
# building


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _opt(parent: etree._Element, tag: str, text: str) -> None:
    if text:
        _sub(parent, tag, text)


def _epr(parent: etree._Element, address: str) -> None:
    _sub(_sub(parent, qn(WSA, "EndpointReference")), qn(WSA, "Address"), address)


def _section(metadata: etree._Element, dialect: str) -> etree._Element:
    section = _sub(metadata, qn(MEX, "MetadataSection"))
    section.set("Dialect", dialect)
    return section


def metadata_to_element(md: DeviceMetadata) -> etree._Element:
    """The ``mex:Metadata`` body of a GetResponse."""
    root = etree.Element(qn(MEX, "Metadata"), nsmap={"mex": MEX, "wsdp": WSDP, "wsa": WSA})
    if md.this_device is not None:
        d = md.this_device
        el = _sub(_section(root, DIALECT_THIS_DEVICE), qn(WSDP, "ThisDevice"))
        _sub(el, qn(WSDP, "FriendlyName"), d.friendly_name)
        _opt(el, qn(WSDP, "FirmwareVersion"), d.firmware_version)
        _opt(el, qn(WSDP, "SerialNumber"), d.serial_number)
    if md.this_model is not None:
        m = md.this_model
        el = _sub(_section(root, DIALECT_THIS_MODEL), qn(WSDP, "ThisModel"))
        _sub(el, qn(WSDP, "Manufacturer"), m.manufacturer)
        _opt(el, qn(WSDP, "ManufacturerUrl"), m.manufacturer_url)
        _sub(el, qn(WSDP, "ModelName"), m.model_name)
        _opt(el, qn(WSDP, "ModelNumber"), m.model_number)
        _opt(el, qn(WSDP, "ModelUrl"), m.model_url)
        _opt(el, qn(WSDP, "PresentationUrl"), m.presentation_url)
        if m.device_category:
            cat = etree.SubElement(el, qn(PNPX, "DeviceCategory"), nsmap={"pnpx": PNPX})
            cat.text = " ".join(m.device_category)
    if md.host is not None or md.hosted:
        rel = _sub(_section(root, DIALECT_RELATIONSHIP), qn(WSDP, "Relationship"))
        rel.set("Type", RELATIONSHIP_HOST)
        if md.host is not None:
            host = _sub(rel, qn(WSDP, "Host"))
            _epr(host, md.host.address)
            if md.host.types:
                add_qname_list(host, qn(WSDP, "Types"), md.host.types)
            _opt(host, qn(WSDP, "ServiceId"), md.host.service_id)
        for svc in md.hosted:
            hosted = _sub(rel, qn(WSDP, "Hosted"))
            for address in svc.addresses:
                _epr(hosted, address)
            add_qname_list(hosted, qn(WSDP, "Types"), svc.types)
            _sub(hosted, qn(WSDP, "ServiceId"), svc.service_id)
            for tag, value in (("CompatibleId", svc.compatible_id), ("HardwareId", svc.hardware_id)):
                if value:
                    etree.SubElement(hosted, qn(PNPX, tag), nsmap={"pnpx": PNPX}).text = value
    return root


def build_get(to: str, *, message_id: str | None = None) -> bytes:
    """The WS-Transfer Get a console POSTs to a device XAddr (``to`` = the device EPR address)."""
    headers = soap.Headers(action=ACTION_GET, message_id=message_id or soap.new_message_id(), to=to)
    return soap.build_envelope(headers, None)


def build_get_response(request: soap.Envelope, md: DeviceMetadata) -> bytes:
    return soap.build_response(request, ACTION_GET_RESPONSE, metadata_to_element(md))


def get_handler(md: DeviceMetadata) -> soap.Handler:
    """A :class:`soap.Dispatcher` handler for ``ACTION_GET`` answering with ``md``."""

    def handle(envelope: soap.Envelope) -> soap.HandlerResult:
        return ACTION_GET_RESPONSE, metadata_to_element(md)

    return handle


# --------------------------------------------------------------------------------------------
# parsing


def _localized(parent: etree._Element, tag: str) -> str:
    candidates = parent.findall(tag)
    for el in candidates:
        lang = (el.get(_XML_LANG) or "").lower()
        if not lang or lang == "en" or lang.startswith("en-"):
            return (el.text or "").strip()
    return (candidates[0].text or "").strip() if candidates else ""


def _text(parent: etree._Element, tag: str) -> str:
    return (parent.findtext(tag) or "").strip()


def _opt_text(parent: etree._Element, tag: str) -> str | None:
    return _text(parent, tag) or None


def _addresses(parent: etree._Element) -> tuple[str, ...]:
    out = []
    for epr in parent.iterfind(qn(WSA, "EndpointReference")):
        address = _text(epr, qn(WSA, "Address"))
        if address:
            out.append(address)
    return tuple(out)


def _types(parent: etree._Element) -> tuple[str, ...]:
    el = parent.find(qn(WSDP, "Types"))
    return parse_qname_list(el) if el is not None else ()


def _find_in_sections(metadata: etree._Element, tag: str) -> list[etree._Element]:
    # Dialect tells sections apart, but the child's name is what we need; matching on the name
    # also accepts devices that put a wrong or missing Dialect.
    return [
        child for section in metadata.iterfind(qn(MEX, "MetadataSection")) for child in section.iterfind(tag)
    ]


def metadata_from_element(el: etree._Element) -> DeviceMetadata:
    """Parse a ``mex:Metadata`` element (order-insensitive, unknown sections ignored)."""
    if el.tag != qn(MEX, "Metadata"):
        raise ProtocolError("expected mex:Metadata, found %s" % el.tag)
    this_device = None
    for d in _find_in_sections(el, qn(WSDP, "ThisDevice"))[:1]:
        this_device = ThisDevice(
            friendly_name=_localized(d, qn(WSDP, "FriendlyName")),
            firmware_version=_text(d, qn(WSDP, "FirmwareVersion")),
            serial_number=_text(d, qn(WSDP, "SerialNumber")),
        )
    this_model = None
    for m in _find_in_sections(el, qn(WSDP, "ThisModel"))[:1]:
        this_model = ThisModel(
            manufacturer=_localized(m, qn(WSDP, "Manufacturer")),
            model_name=_localized(m, qn(WSDP, "ModelName")),
            manufacturer_url=_text(m, qn(WSDP, "ManufacturerUrl")),
            model_number=_text(m, qn(WSDP, "ModelNumber")),
            model_url=_text(m, qn(WSDP, "ModelUrl")),
            presentation_url=_text(m, qn(WSDP, "PresentationUrl")),
            device_category=tuple(_text(m, qn(PNPX, "DeviceCategory")).split()),
        )
    host = None
    hosted: list[HostedService] = []
    for rel in _find_in_sections(el, qn(WSDP, "Relationship")):
        if (rel.get("Type") or "").strip() != RELATIONSHIP_HOST:
            log.debug("ignoring relationship of type %s", rel.get("Type"))
            continue
        host_el = rel.find(qn(WSDP, "Host"))
        if host_el is not None and host is None:
            addresses = _addresses(host_el)
            host = Host(
                addresses[0] if addresses else "", _types(host_el), _text(host_el, qn(WSDP, "ServiceId"))
            )
        for h in rel.iterfind(qn(WSDP, "Hosted")):
            hosted.append(
                HostedService(
                    addresses=_addresses(h),
                    types=_types(h),
                    service_id=_text(h, qn(WSDP, "ServiceId")),
                    compatible_id=_opt_text(h, qn(PNPX, "CompatibleId")),
                    hardware_id=_opt_text(h, qn(PNPX, "HardwareId")),
                )
            )
    return DeviceMetadata(this_device, this_model, host, tuple(hosted))


def parse_get_response(data: bytes) -> DeviceMetadata:
    """Parse a GetResponse from untrusted bytes; a fault reply is raised as :class:`soap.SoapFault`."""
    env = soap.parse_envelope(data)
    fault = soap.fault_from_envelope(env)
    if fault is not None:
        raise fault
    if env.body is None:
        raise ProtocolError("GetResponse has an empty Body")
    return metadata_from_element(env.body)


def is_scan_service(svc: HostedService) -> bool:
    if SCANNER_SERVICE_TYPE in svc.types:
        return True
    # Some devices write the type with a broken prefix but a correct pnpx:CompatibleId.
    return (svc.compatible_id or "").strip() == SCANNER_SERVICE_COMPATIBLE_ID


def scan_service_url(md: DeviceMetadata) -> str | None:
    """The HTTP(S) address of the first hosted WS-Scan service, or None if the device has none."""
    for svc in md.hosted:
        if not is_scan_service(svc):
            continue
        for address in svc.addresses:
            if address.lower().startswith(("http://", "https://")):
                return address
    return None
