"""Factories for the scan-process tests (console side)."""

from __future__ import annotations

from typing import Any

from devices.protocols.wsscan import ticket as tk
from devices.protocols.wsscan.elements import ADF, DeviceSettings, InputCapabilities, ScannerConfiguration


def server(name: str = "scan1", fqdn: str = "scan1.example.test") -> Any:
    from devices.models import ScanServer

    return ScanServer.objects.get_or_create(name=name, defaults={"fqdn": fqdn})[0]


def process(
    name: str = "Invoices", *, destinations: list[tuple[str, dict[str, Any]]] | None = None, **fields: Any
) -> Any:
    from scanprocesses import authoring as scanprocesses
    from scanprocesses.models import ProcessDestination, ScanProcess

    values: dict[str, Any] = dict(
        display_name=name,
        ticket_xml=scanprocesses.ticket_to_xml(scanprocesses.default_ticket(name)),
        document_root_name=name,
    )
    if "scan_server" not in fields:
        values["scan_server"] = server("srv-%s" % name, "%s.example.test" % name.lower().replace(" ", "-"))
    values.update(fields)
    p = ScanProcess.objects.create(**values)
    for position, (kind, config) in enumerate(
        destinations if destinations is not None else [("smb", {"uncs": ["\\\\files\\scans"]})]
    ):
        ProcessDestination.objects.create(process=p, kind=kind, position=position, config=config)
    return p


def configuration(
    *,
    formats: tuple[str, ...] = ("jfif", "pdf-a"),
    colors: tuple[str, ...] = ("RGB24", "Grayscale8"),
    dpi: tuple[int, ...] = (150, 300),
    duplex: bool = False,
) -> ScannerConfiguration:
    caps = InputCapabilities(
        colors=colors,
        minimum_size=tk.Size(1000, 1000),
        maximum_size=tk.Size(8500, 14000),
        resolution_widths=dpi,
        resolution_heights=dpi,
    )
    return ScannerConfiguration(
        device_settings=DeviceSettings(
            formats_supported=formats,
            content_types_supported=("Auto", "Text"),
            document_size_auto_detect_supported=True,
            rotations_supported=(0, 180),
        ),
        platen=caps,
        adf=ADF(supports_duplex=duplex, front=caps, back=caps if duplex else None),
    )


def device(name: str, group: Any, config: ScannerConfiguration | None = None, url: str = "") -> Any:
    from devices.models import Device
    from devices.protocols.xmlfields import canonical

    xml = canonical((config or configuration()).to_element()).decode() if config is not False else ""
    return Device.objects.create(
        endpoint_reference="urn:uuid:%s" % name,
        name=name,
        group=group,
        capabilities_xml=xml,
        scan_service_url=url,
    )
