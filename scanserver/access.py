"""Who may scan: the device, the user, the process and the instructions (DESIGN.md decision 2).

A call to the scan server is admitted in two steps:

1. :func:`authenticate_device` — the caller is an enrolled, enabled ``Device``. It proves it with
   the TLS client certificate whose SHA-256 fingerprint (of the DER encoding) was stored at
   enrollment (``devices.enrollment``; issued by the device CA, ``devices.pki``, or the device's
   own), or — where a device cannot do TLS client authentication — with ``Authorization: Bearer
   <token>`` (issued once at enrollment, kept only as a hash). A valid token is looked at first;
   otherwise the certificate decides. The certificate is read from the ASGI TLS extension
   (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM), which ``manage.py runscanserver``
   (:mod:`scanserver.serve`, uvicorn) fills. Trust is in two layers: the TLS handshake only
   completes for a certificate that chains to the ``--device-ca`` file (any other is refused
   before a request is read), and this module then accepts only the fingerprint of an enrolled,
   enabled device — so re-enrolling (a new fingerprint) or disabling a device revokes its
   certificate without a CRL. Under daphne, which does not fill the extension, only tokens work.
2. :func:`admit_create` — for ``CreatePostScanJob``: the PSP exists and is published, is served
   by this scan server, the user SID resolves in the directory to a user whom
   ``scanprocesses.availability.may_use`` allows on this device, and the submitted PostScanInstructions
   equal the published version's except where its ``spx`` flags allow a change
   (``devices.protocols.psp.instructions_equal``).

Every refusal raises :class:`Refused` carrying the SOAP fault; :func:`record_refusal` writes the
log line and a ``DeviceEvent`` the console lists on the device's page.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devices.models import Device, DeviceEvent, ScanServer
from devices.protocols import dsp, psp, soap
from devices.protocols.namespaces import ODSM
from scanprocesses.models import ProcessState, ScanProcess, ScanProcessVersion

logger = logging.getLogger(__name__)

# OpenDSM's own subcodes (Sender faults); the reason text says which rule refused the call.
FAULT_NOT_ENROLLED = (ODSM, "DeviceNotEnrolled")
FAULT_ACCESS_DENIED = (ODSM, "AccessDenied")
FAULT_NOT_PUBLISHED = (ODSM, "ProcessNotPublished")
FAULT_INSTRUCTIONS_CHANGED = (ODSM, "InstructionsNotAllowed")


class Refused(Exception):
    """A call the scan server will not serve; ``fault`` goes back to the caller."""

    def __init__(self, fault: soap.SoapFault, kind: str, **detail: Any) -> None:
        super().__init__(fault.reason)
        self.fault = fault
        self.kind = kind
        self.detail = detail


def refused(subcode: tuple[str, str], kind: str, reason: str, **detail: Any) -> Refused:
    return Refused(soap.SoapFault.sender(subcode, reason), kind, **detail)


@dataclass(frozen=True)
class Admission:
    """What a CreatePostScanJob was admitted with."""

    process: ScanProcess
    version: ScanProcessVersion
    published: psp.PostScanProcess
    user_name: str


# --------------------------------------------------------------------------------------------
# the device


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer`` header ('' if absent or another scheme)."""
    value = headers.get("authorization", "").strip()
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def client_cert_sha256(scope: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the TLS client certificate, when the ASGI server reports one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return ""
    import ssl

    try:
        der = ssl.PEM_cert_to_DER_cert(chain[0])
    except ValueError:
        return ""
    return hashlib.sha256(der).hexdigest()


def authenticate_device(headers: Mapping[str, str], scope: Mapping[str, Any]) -> Device | None:
    """The enrolled device making this call, or None."""
    token = bearer_token(headers)
    if token:
        device = Device.for_token(token)
        if device is not None:
            return device
    fingerprint = client_cert_sha256(scope)
    if fingerprint:
        return Device.objects.filter(certificate_sha256=fingerprint, enabled=True).first()
    return None


def not_enrolled(peer: str) -> Refused:
    return refused(
        FAULT_NOT_ENROLLED,
        "device_unknown",
        "OpenDSM: the caller is not an enrolled device (present the token or client certificate "
        "issued at enrollment)",
        peer=peer,
    )


# --------------------------------------------------------------------------------------------
# the user, the process, the instructions


def _resolve_user(sid: str) -> Any:
    from directory.backends import get_directory

    return get_directory().resolve_sid(sid)


def _may_use(user: Any, process: ScanProcess, device: Device) -> Any:
    from scanprocesses.availability import may_use

    return may_use(user, process, device)


def admit_create(device: Device, server: ScanServer, req: dsp.CreatePostScanJobRequest) -> Admission:
    """Check a CreatePostScanJob; raise :class:`Refused` naming the first rule it breaks."""
    detail = {"sid": req.user_identifier, "psp": str(req.psp_identifier)}
    process = (
        ScanProcess.objects.select_related("published_version", "scan_server")
        .filter(guid=req.psp_identifier)
        .first()
    )
    if process is None:
        raise refused(
            FAULT_NOT_PUBLISHED, "scan_refused", "OpenDSM: no scan process %s" % req.psp_identifier, **detail
        )
    if process.state != ProcessState.PUBLISHED or process.published_version is None:
        raise refused(
            FAULT_NOT_PUBLISHED,
            "scan_refused",
            "OpenDSM: scan process %r is not published" % process.display_name,
            **detail,
        )
    if process.scan_server_id is not None and process.scan_server_id != server.pk:
        raise refused(
            FAULT_ACCESS_DENIED,
            "scan_refused",
            "OpenDSM: scan process %r is served by scan server %s, not this one"
            % (process.display_name, process.scan_server),
            **detail,
        )
    user = _resolve_user(req.user_identifier)
    if user is None:
        raise refused(
            FAULT_ACCESS_DENIED,
            "scan_refused",
            "OpenDSM: user %s is not known to the directory" % req.user_identifier,
            **detail,
        )
    decision = _may_use(user, process, device)
    if not decision.allowed:
        raise refused(
            FAULT_ACCESS_DENIED,
            "scan_refused",
            "OpenDSM: %s may not use scan process %r: %s"
            % (user.username, process.display_name, decision.reason),
            user=user.username,
            **detail,
        )
    version = process.published_version
    published = psp.from_xml(version.psp_xml)
    problems = psp.instructions_equal(
        published.instructions,
        req.instructions,
        allow_name_change=bool(published.instructions.allow_device_file_name_change),
        allow_path_change=bool(published.instructions.allow_device_file_path_change),
    )
    if problems:
        raise refused(
            FAULT_INSTRUCTIONS_CHANGED,
            "scan_refused",
            "OpenDSM: the PostScanInstructions differ from the published scan process %r: %s"
            % (process.display_name, "; ".join(problems)),
            user=user.username,
            problems=problems,
            **detail,
        )
    return Admission(process=process, version=version, published=published, user_name=user.username)


def record_refusal(device: Device | None, exc: Refused, operation: str, peer: str = "") -> None:
    """The log line and the console record of a refused call (also for callers that could not
    be identified: those are listed on the Devices page as "unknown caller")."""
    logger.warning(
        "refused %s from %s (%s): %s",
        operation,
        device.name if device is not None else "unknown caller",
        peer or "?",
        exc.fault.reason,
    )
    DeviceEvent.objects.create(
        device=device,
        peer=peer[:128],
        kind=exc.kind,
        detail={"operation": operation, "reason": exc.fault.reason, **exc.detail},
    )
