"""What the ticket editor may offer, per-device warnings, and the pre-publication dry run.

The editor offers the ScanTicket values of PROTOCOL.md §3.3 that at least one of the process's
devices supports (devices in ``allowed_device_groups``, capabilities parsed from
``Device.capabilities_xml`` as a ``wscn:ScannerConfiguration``); with no device, every value the
spec allows. Each device that lacks a chosen setting gets a warning from
``wsscan.validation.ticket_problems``. The dry run sends ``ValidateScanTicket``
(WDD:validatescanticketrequest.md) to every device and reports each answer; an unreachable or
misbehaving device is a row that says so.

The dry run also tries every destination (issue 5 §4): ``test_write`` of its kind's module
(``scanprocesses.destinations``) writes and removes a test file (or sends a test message) with
the destination's stored credential, each in its own thread and bounded by
``DESTINATION_TEST_TIMEOUT``; a failure is a row with its dsc ``FilterStateReason``
([MS-BDSRR] §2.2.5.7), never an exception. Limitation: the console runs these writes in its own
process, so they prove what *this* host can reach with the stored credential. In a split
deployment the scan server (which does the real deliveries, from its own network position and
identity) should run them; until it offers that, a green row here is strong evidence, not proof.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from devices.models import Device
from devices.protocols import soap, transport, xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSCN, qn
from devices.protocols.wsscan import messages as m
from devices.protocols.wsscan import ticket as tk
from devices.protocols.wsscan.elements import ScannerConfiguration
from devices.protocols.wsscan.validation import ticket_problems
from scanprocesses.models import ProcessDestination

log = logging.getLogger(__name__)

DRY_RUN_TIMEOUT = 8.0
DESTINATION_TEST_TIMEOUT = 30.0  # seconds for all destinations together (they run in parallel)
COMMON_RESOLUTIONS: tuple[int, ...] = (75, 100, 150, 200, 300, 400, 600, 1200)


@dataclass(frozen=True)
class EditorChoices:
    formats: tuple[str, ...] = tk.FORMATS
    input_sources: tuple[str, ...] = tk.INPUT_SOURCES
    film_scan_modes: tuple[str, ...] = tk.FILM_SCAN_MODES
    content_types: tuple[str, ...] = tk.CONTENT_TYPES
    colors: tuple[str, ...] = tk.COLOR_MODES
    resolutions: tuple[int, ...] = COMMON_RESOLUTIONS
    rotations: tuple[int, ...] = tk.ROTATIONS
    auto_detect: bool = True
    auto_exposure: bool = True
    manual_exposure: bool = True
    scaling: bool = True
    limited_by: tuple[str, ...] = field(default_factory=tuple)  # device names the lists come from


def devices_for(group_ids: Iterable[int]) -> list[Device]:
    ids = list(group_ids)
    if not ids:
        return []
    return list(Device.objects.filter(group_id__in=ids).order_by("name"))


def configuration_of(device: Device) -> ScannerConfiguration | None:
    """The device's parsed ScannerConfiguration, or None when unknown or unreadable."""
    if not device.capabilities_xml.strip():
        return None
    try:
        root = xmlsafe.parse(device.capabilities_xml.encode("utf-8"))
        tag = qn(WSCN, "ScannerConfiguration")
        el = root if root.tag == tag else next(root.iter(tag), None)
        return None if el is None else ScannerConfiguration.from_element(el)
    except (xmlsafe.XMLRefused, ProtocolError, ValueError) as exc:
        log.warning("capabilities of device %s are unreadable: %s", device.pk, exc)
        return None


def _ordered_union(values: Iterable[Iterable[object]], order: Sequence[object]) -> tuple:  # type: ignore[type-arg]
    seen = {v for vs in values for v in vs}
    known = [v for v in order if v in seen]
    return tuple(known + sorted((v for v in seen if v not in order), key=str))


def editor_choices(devices: Sequence[Device]) -> EditorChoices:
    configs = [(d, c) for d in devices if (c := configuration_of(d)) is not None]
    if not configs:
        return EditorChoices()
    caps = []
    for _d, c in configs:
        for source in c.input_sources():
            for back in (False, True):
                found = c.capabilities_for(source, back=back)
                if found is not None:
                    caps.append(found)
    ds = [c.device_settings for _d, c in configs]
    resolutions = _ordered_union(
        (cap.resolution_widths for cap in caps), sorted({r for cap in caps for r in cap.resolution_widths})
    )
    return EditorChoices(
        formats=_ordered_union((s.formats_supported for s in ds), tk.FORMATS) or tk.FORMATS,
        input_sources=_ordered_union((c.input_sources() for _d, c in configs), tk.INPUT_SOURCES)
        or tk.INPUT_SOURCES,
        film_scan_modes=_ordered_union(
            (c.film.scan_modes_supported for _d, c in configs if c.film is not None), tk.FILM_SCAN_MODES
        )
        or ("NotApplicable",),
        content_types=_ordered_union((s.content_types_supported for s in ds), tk.CONTENT_TYPES)
        or tk.CONTENT_TYPES,
        colors=_ordered_union((cap.colors for cap in caps), tk.COLOR_MODES) or tk.COLOR_MODES,
        resolutions=resolutions or COMMON_RESOLUTIONS,
        rotations=_ordered_union((s.rotations_supported for s in ds), tk.ROTATIONS) or (0,),
        auto_detect=any(s.document_size_auto_detect_supported for s in ds),
        auto_exposure=any(s.auto_exposure_supported for s in ds),
        manual_exposure=any(s.brightness_supported or s.contrast_supported for s in ds),
        scaling=any(s.scaling_width_supported is not None for s in ds),
        limited_by=tuple(d.name for d, _c in configs),
    )


@dataclass(frozen=True)
class DeviceWarning:
    device: str
    problems: tuple[str, ...]


def device_warnings(ticket: tk.ScanTicket, devices: Sequence[Device]) -> list[DeviceWarning]:
    """One entry per device that cannot do some setting of ``ticket`` (or has no known capabilities)."""
    out = []
    for device in devices:
        config = configuration_of(device)
        if config is None:
            out.append(DeviceWarning(device.name, ("its capabilities are unknown; run a dry run to check",)))
            continue
        problems = ticket_problems(ticket, config)
        if problems:
            out.append(DeviceWarning(device.name, tuple(problems)))
    return out


@dataclass(frozen=True)
class DryRunRow:
    device: str
    reachable: bool
    valid: bool
    message: str
    problems: tuple[str, ...] = ()


def _validate_on(device: Device, ticket: tk.ScanTicket) -> DryRunRow:
    url = device.scan_service_url
    if not url:
        return DryRunRow(device.name, False, False, "no scan service address is known for this device")
    request = m.ValidateScanTicketRequest(ticket=ticket)
    envelope = soap.build_envelope(soap.Headers(action=request.ACTION, to=url), request.to_element())
    try:
        answer = transport.post_soap(
            url, envelope, timeout=DRY_RUN_TIMEOUT, verify=getattr(settings, "SMC_DEVICE_TLS_VERIFY", True)
        )
        if answer.body is None:
            raise ProtocolError("the answer has an empty body")
        info = m.ValidateScanTicketResponse.from_element(answer.body).validation_info
    except transport.TransportError as exc:
        return DryRunRow(device.name, False, False, "unreachable: %s" % exc)
    except soap.SoapFault as exc:
        return DryRunRow(device.name, True, False, "the device answered with a fault: %s" % exc)
    except (ProtocolError, xmlsafe.XMLRefused) as exc:
        return DryRunRow(device.name, True, False, "unreadable answer: %s" % exc)
    if info.valid_ticket:
        return DryRunRow(device.name, True, True, "the device accepts the ticket")
    problems: tuple[str, ...] = ()
    config = configuration_of(device)
    if config is not None:
        problems = tuple(ticket_problems(ticket, config))
    return DryRunRow(
        device.name,
        True,
        False,
        "the device would change some settings (it returned a corrected ticket)",
        problems,
    )


def dry_run(ticket: tk.ScanTicket, devices: Sequence[Device]) -> list[DryRunRow]:
    return [_validate_on(d, ticket) for d in devices]


# --------------------------------------------------------------------------- destinations


@dataclass(frozen=True)
class DestinationTestRow:
    """One destination's test write: ``ok`` with what was written and removed, or the error and
    its dsc ``FilterStateReason`` (``reason``)."""

    position: int
    kind: str
    label: str
    ok: bool
    message: str
    reason: str = ""


def destination_label(dest: ProcessDestination) -> str:
    from scanprocesses import destinations

    try:
        target = destinations.target_text(dest.kind, dest.config or {})
    except destinations.DeliveryError:  # an unknown kind: its row says so
        target = ""
    return "%s: %s" % (destinations.label(dest.kind), target)


def _test_one(kind: str, config: dict[str, Any], username: str, sealed: str) -> tuple[bool, str, str]:
    """``(ok, message, reason)``; runs in a worker thread, so it touches no database row."""
    from core import secretbox
    from scanprocesses import destinations

    try:
        try:
            password = secretbox.unseal(sealed)
        except secretbox.SecretUnreadable as exc:
            raise destinations.DeliveryError(str(exc), destinations.INVALID_ARGS, False) from None
        text = destinations.test_write(kind, config, destinations.Credentials(username, password))
    except destinations.DeliveryError as exc:
        return False, str(exc), exc.reason
    except Exception as exc:  # noqa: BLE001 - a library surprise is a red row, never a 500
        log.warning("destination test (%s) failed unexpectedly", kind, exc_info=True)
        return False, "%s: %s" % (type(exc).__name__, exc), destinations.UNKNOWN_ERROR
    return True, text, ""


def _serial(kind: str) -> bool:
    from scanprocesses import destinations

    try:
        return destinations.get(kind).SERIAL_TESTS
    except destinations.DeliveryError:
        return False  # an unknown kind: its own lane, where its test write says what is wrong


def try_destinations(
    dests: Iterable[ProcessDestination], timeout: float | None = None
) -> list[DestinationTestRow]:
    """Try every destination once (test write and removal, or a test message), in parallel; a
    destination that has not answered within ``timeout`` seconds is a row that says so (its
    thread is left to finish on its own: the destinations' own connect timeouts end it).

    Destinations of a kind whose test writes must take turns (``SERIAL_TESTS``: SMB, whose
    sessions are per process; ``scanprocesses.destinations.smb.test_write``) share one lane per
    kind; every other destination has its own.
    """
    from scanprocesses import destinations

    rows = list(dests)
    if not rows:
        return []
    limit = DESTINATION_TEST_TIMEOUT if timeout is None else timeout
    jobs = [(d.kind, dict(d.config or {}), d.username, d.secret) for d in rows]
    serial: dict[str, list[int]] = {}
    lanes: list[list[int]] = []
    for i, d in enumerate(rows):
        if _serial(d.kind):
            serial.setdefault(d.kind, []).append(i)
        else:
            lanes.append([i])
    lanes = list(serial.values()) + lanes
    results: dict[int, tuple[bool, str, str]] = {}

    def run(lane: list[int]) -> None:
        for i in lane:
            results[i] = _test_one(*jobs[i])

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(lanes)), thread_name_prefix="dry-run")
    try:
        concurrent.futures.wait([pool.submit(run, lane) for lane in lanes], timeout=limit)
        out = []
        for i, dest in enumerate(rows):
            ok, message, reason = results.get(
                i, (False, "no answer within %g s" % limit, destinations.UNKNOWN_ERROR)
            )
            out.append(
                DestinationTestRow(dest.position, dest.kind, destination_label(dest), ok, message, reason)
            )
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
