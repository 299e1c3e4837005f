"""Enrolling a device: learn who it is and what it can do, and issue its scan-server credential.

PROTOCOL.md §7.2 (DPWS metadata: ``wsdp:ThisDevice``, ``wsdp:ThisModel``, the hosted WS-Scan
service) and §4.1 (``GetScannerElements`` → ``wscn:ScannerConfiguration``, kept verbatim as
``capabilities_xml``). :func:`enroll` creates or refreshes the ``Device`` row keyed by its
endpoint reference and issues its scan-server credentials (DESIGN.md decision 2):

* always a new bearer token — returned once, only its hash is stored;
* with ``issue_certificate=True`` also a client certificate from the device CA
  (:mod:`devices.pki`) — certificate and private key returned once, only the certificate's
  SHA-256 fingerprint is stored;
* or, with ``certificate=<PEM>``, the fingerprint of a certificate the device already has
  (checked first, before the device is contacted; it must chain to a CA the scan server is
  given with ``--device-ca``).

Re-enrolling revokes every earlier credential: the old token stops working, and so does the old
certificate — the stored fingerprint is replaced, or cleared when no certificate is given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from lxml import etree

from devices import pki
from devices.models import Device, DeviceEvent, DeviceGroup
from devices.protocols import metadata, soap, transport
from devices.protocols.namespaces import WSCN, qn
from devices.protocols.wsscan import messages as m

logger = logging.getLogger(__name__)

TIMEOUT = 15.0


class EnrollmentError(Exception):
    """The device could not be enrolled; the message says which step failed."""


@dataclass(frozen=True)
class Enrollment:
    """An enrolled device and the secrets it was given, to show once: the bearer token and,
    when one was issued, the client certificate with its private key."""

    device: Device
    token: str
    certificate: pki.IssuedCertificate | None = None


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
    issue_certificate: bool = False,
    certificate: str | bytes | None = None,
) -> Enrollment:
    """Create or refresh the Device and issue its credentials (shown once, see the module doc)."""
    if issue_certificate and certificate is not None:
        raise EnrollmentError("either issue a certificate or record the device's own, not both")
    recorded = ""
    if certificate is not None:
        try:
            recorded = pki.read_device_certificate(certificate)[1]
        except pki.CertificateError as exc:
            raise EnrollmentError("the device certificate is not usable: %s" % exc) from exc
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
    issued: pki.IssuedCertificate | None = None
    with transaction.atomic():
        device, created = Device.objects.select_for_update().get_or_create(
            endpoint_reference=md.host.address, defaults={"name": this_device.friendly_name[:255]}
        )
        if recorded:
            other = Device.objects.filter(certificate_sha256=recorded).exclude(pk=device.pk).first()
            if other is not None:
                raise EnrollmentError(
                    "this certificate is already enrolled for device %r (%s)"
                    % (other.name, other.endpoint_reference)
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
        if issue_certificate:
            try:
                issued = pki.issue_device_certificate(device.name, device.endpoint_reference)
            except pki.CertificateError as exc:
                raise EnrollmentError("no certificate could be issued: %s" % exc) from exc
        device.certificate_sha256 = issued.sha256 if issued is not None else recorded
        device.save()
        cert_kind = "issued" if issued is not None else "recorded" if recorded else "none"
        DeviceEvent.objects.create(
            device=device,
            kind="enrolled",
            detail={
                "url": url,
                "scan_service_url": scan_url,
                "new": created,
                "certificate": cert_kind,
                "certificate_sha256": device.certificate_sha256,
            },
        )
    logger.info(
        "enrolled %s (%s) at %s; new token, certificate: %s",
        device.name,
        device.endpoint_reference,
        scan_url,
        cert_kind,
    )
    return Enrollment(device, token, issued)
