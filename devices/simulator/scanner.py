"""The WS-Scan view of a simulated device: its state as wsscan dataclasses, and tickets as
:class:`~devices.simulator.device.JobSettings` (PROTOCOL.md §3.3, §4.1-4.3; WDD:
scannerdescription.md, scannerconfiguration.md, scannerstatus.md, defaultscanticket.md,
createscanjobrequest.md). Ticket checking against the configuration (MustHonor, substitutes)
is :mod:`devices.protocols.wsscan.validation`'s job; the server calls it.

Pure functions between :mod:`devices.simulator.device` and :mod:`devices.protocols.wsscan`;
nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from devices.protocols.wsscan import elements as el
from devices.protocols.wsscan import ticket as tk
from devices.simulator import pages
from devices.simulator.device import JobSettings, ScanDevice

DEFAULT_SETTINGS = JobSettings(
    job_name="Scan", user="", format="jfif", input_source="Platen", dpi_x=300, dpi_y=300, color="RGB24"
)


def description(device: ScanDevice) -> el.ScannerDescription:
    ident = device.identity
    return el.ScannerDescription(
        scanner_name=ident.name,
        scanner_info="%s %s (serial %s)" % (ident.manufacturer, ident.model, ident.serial),
        scanner_location=ident.location,
    )


def _input(device: ScanDevice, lo: tuple[int, int], hi: tuple[int, int]) -> el.InputCapabilities:
    caps = device.capabilities
    return el.InputCapabilities(
        colors=caps.color_modes,
        minimum_size=tk.Size(*lo),
        maximum_size=tk.Size(*hi),
        optical_resolution=tk.Resolution(caps.optical_resolution, caps.optical_resolution),
        resolution_widths=caps.resolutions,
        resolution_heights=caps.resolutions,
    )


def configuration(device: ScanDevice) -> el.ScannerConfiguration:
    caps = device.capabilities
    adf_side = _input(device, caps.adf_min, caps.adf_max)
    return el.ScannerConfiguration(
        device_settings=el.DeviceSettings(
            formats_supported=caps.formats,
            compression_quality_factor_supported=el.Range(*caps.compression_range),
            content_types_supported=caps.content_types,
            document_size_auto_detect_supported=False,
            auto_exposure_supported=False,
            brightness_supported=False,
            contrast_supported=False,
            scaling_width_supported=el.Range(100, 100),
            scaling_height_supported=el.Range(100, 100),
            rotations_supported=(0,),
        ),
        platen=_input(device, caps.platen_min, caps.platen_max),
        adf=el.ADF(
            supports_duplex=caps.adf_duplex, front=adf_side, back=adf_side if caps.adf_duplex else None
        ),
    )


def status(device: ScanDevice, now: datetime | None = None) -> el.ScannerStatus:
    summary = device.status_summary()
    return el.ScannerStatus(
        scanner_state=summary.state,
        scanner_current_time=now or datetime.now(UTC).replace(microsecond=0),
        active_conditions=tuple(
            el.DeviceCondition(c.condition_id, c.time, c.name, c.component, c.severity)
            for c in device.conditions
        ),
        scanner_state_reasons=summary.reasons,
    )


def document_parameters(settings: JobSettings) -> tk.DocumentParameters:
    """DocumentParameters (or DocumentFinalParameters) describing ``settings``."""
    return tk.DocumentParameters(
        format=settings.format,
        compression_quality_factor=settings.quality,
        images_to_transfer=settings.images_to_transfer,
        input_source=settings.input_source,
        content_type="Auto",
        input_size=tk.InputSize(input_media_size=tk.Size(settings.width_mils, settings.height_mils)),
        media_sides=tk.MediaSides(
            front=tk.MediaSide(
                scan_region=tk.ScanRegion(settings.width_mils, settings.height_mils, 0, 0),
                color_processing=settings.color,
                resolution=tk.Resolution(settings.dpi_x, settings.dpi_y),
            )
        ),
    )


def ticket(settings: JobSettings) -> tk.ScanTicket:
    return tk.ScanTicket(
        job_description=tk.JobDescription(settings.job_name, settings.user or "unknown"),
        document_parameters=document_parameters(settings),
    )


def default_ticket(device: ScanDevice) -> tk.ScanTicket:
    return ticket(DEFAULT_SETTINGS)


def settings_from_ticket(scan_ticket: tk.ScanTicket, base: JobSettings = DEFAULT_SETTINGS) -> JobSettings:
    """What the device will act upon; unspecified elements take the defaults of ``base``.

    The scan region, when given, is the image size; otherwise InputMediaSize; otherwise the
    default (A4). Resolution Height defaults to Width (WDD:resolution.md).
    """
    jd = scan_ticket.job_description
    s = replace(base, job_name=jd.job_name, user=jd.job_originating_user_name)
    dp = scan_ticket.document_parameters
    if dp is None:
        return s
    if dp.format is not None:
        s = replace(s, format=dp.format)
    if dp.compression_quality_factor is not None:
        s = replace(s, quality=dp.compression_quality_factor)
    if dp.images_to_transfer is not None:
        s = replace(s, images_to_transfer=dp.images_to_transfer)
    if dp.input_source is not None:
        s = replace(s, input_source=dp.input_source)
    media = dp.input_size.input_media_size if dp.input_size else None
    if media is not None:
        s = replace(s, width_mils=media.width, height_mils=media.height)
    front = dp.front
    if front.scan_region is not None:
        s = replace(s, width_mils=front.scan_region.width, height_mils=front.scan_region.height)
    if front.color_processing is not None:
        s = replace(s, color=front.color_processing)
    if front.resolution is not None:
        res = front.resolution
        s = replace(s, dpi_x=res.width, dpi_y=res.height or res.width)
    return s


def image_information(settings: JobSettings) -> tuple[int, int, int]:
    """(PixelsPerLine, NumberOfLines, BytesPerLine) of the front side (WDD:imageinformation.md)."""
    width, height = settings.pixel_size
    return width, height, pages.bytes_per_line(width, settings.color)
