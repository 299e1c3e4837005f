"""Enrolling a device: learn who it is and what it can do, and issue its scan-server credential.

PROTOCOL.md §7.2 (DPWS metadata: ``wsdp:ThisDevice``, ``wsdp:ThisModel``, the hosted WS-Scan
service) and §4.1 (``GetScannerElements`` → ``wscn:ScannerConfiguration``, kept verbatim as
``capabilities_xml``). :func:`enroll` creates or refreshes the ``Device`` row keyed by its
endpoint reference and issues a new bearer token (DESIGN.md decision 2): the token is returned
once and only its hash is stored, so re-enrolling a device revokes its previous token.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from lxml import etree

from devices.models import Device, DeviceEvent, DeviceGroup
from devices.protocols import metadata, soap, transport
from devices.protocols.namespaces import WSCN, qn
from devices.protocols.wsscan import messages as m

logger = logging.getLogger(__name__)

TIMEOUT = 15.0


class EnrollmentError(Exception):
    """The device could not be enrolled; the message says which step failed."""


def fetch_metadata(url: str, *, timeout: float = TIMEOUT) -> metadata.DeviceMetadata:
    """WS-Transfer Get against a device XAddr (``wsa:To`` = the URL when the EPR is unknown)."""
    try:
        env = transport.post_soap(url, metadata.build_get(url), timeout=timeout)
    except (transport.TransportError, soap.SoapFault) as exc:
        raise EnrollmentError("metadata Get to %s failed: %s" % (url, exc)) from exc
    if env.body is None:
        raise EnrollmentError("metadata Get to %s: empty answer" % url)
    try:
        return metadata.metadata_from_element(env.body)
    except ValueError as exc:
        raise EnrollmentError("metadata of %s is unreadable: %s" % (url, exc)) from exc


def fetch_configuration(scan_url: str, *, timeout: float = TIMEOUT) -> bytes:
    """The device's ``wscn:ScannerConfiguration`` as canonical XML (GetScannerElements)."""
    request = m.GetScannerElementsRequest(names=(m.NAME_SCANNER_CONFIGURATION,))
    envelope = soap.build_envelope(soap.Headers(action=request.ACTION, to=scan_url), request.to_element())
    try:
        env = transport.post_soap(scan_url, envelope, timeout=timeout)
    except (transport.TransportError, soap.SoapFault) as exc:
        raise EnrollmentError("GetScannerElements to %s failed: %s" % (scan_url, exc)) from exc
    config = next(env.body.iter(qn(WSCN, "ScannerConfiguration")), None) if env.body is not None else None
    if config is None:
        raise EnrollmentError("%s sent no ScannerConfiguration" % scan_url)
    return etree.tostring(config, method="c14n")


def enroll(
    metadata_or_url: metadata.DeviceMetadata | str,
    group: DeviceGroup | None = None,
    server: Any = None,
    *,
    url: str = "",
) -> tuple[Device, str]:
    """Create or refresh the Device and issue its token: ``(device, token)`` (token shown once)."""
    if isinstance(metadata_or_url, str):
        url = metadata_or_url
        md = fetch_metadata(url)
    else:
        md = metadata_or_url
    if md.host is None or not md.host.address:
        raise EnrollmentError("the metadata names no device endpoint reference (wsdp:Host)")
    scan_url = metadata.scan_service_url(md)
    if scan_url is None:
        raise EnrollmentError("the device hosts no WS-Scan service")
    capabilities = fetch_configuration(scan_url).decode()
    this_device = md.this_device or metadata.ThisDevice(friendly_name=md.host.address)
    model = md.this_model
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            endpoint_reference=md.host.address, defaults={"name": this_device.friendly_name[:255]}
        )
        device.name = this_device.friendly_name[:255] or device.name
        device.serial_number = this_device.serial_number[:255]
        device.firmware_version = this_device.firmware_version[:255]
        if model is not None:
            device.manufacturer = model.manufacturer[:255]
            device.model_name = model.model_name[:255]
        if url:
            device.xaddrs = [url]
        device.scan_service_url = scan_url
        device.capabilities_xml = capabilities
        if group is not None:
            device.group = group
        if server is not None:
            device.scan_server = server
        device.enabled = True
        device.enrolled_at = timezone.now()
        token = device.issue_token()
        device.save()
        DeviceEvent.objects.create(
            device=device, kind="enrolled", detail={"url": url, "scan_service_url": scan_url, "new": created}
        )
    logger.info("enrolled %s (%s) at %s", device.name, device.endpoint_reference, scan_url)
    return device, token
