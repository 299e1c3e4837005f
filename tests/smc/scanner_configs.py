"""WS-Scan scanner configurations for the console tests (a device's capabilities, no model:
``tests.factories.DeviceFactory(configuration=...)`` stores one on a device)."""

from __future__ import annotations

from devices.protocols.wsscan import ticket as tk
from devices.protocols.wsscan.elements import ADF, DeviceSettings, InputCapabilities, ScannerConfiguration


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
