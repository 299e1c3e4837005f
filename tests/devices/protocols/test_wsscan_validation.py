"""validate_ticket / image_information / ticket_problems against a platen + duplex-ADF device."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from devices.protocols import xmlsafe
from devices.protocols.wsscan.elements import ADF, DeviceSettings, ScannerConfiguration
from devices.protocols.wsscan.messages import ImageInfo, ValidateScanTicketResponse
from devices.protocols.wsscan.ticket import (
    DocumentParameters,
    Exposure,
    InputSize,
    JobDescription,
    MediaSide,
    MediaSides,
    Resolution,
    Scaling,
    ScanRegion,
    ScanTicket,
    Size,
)
from devices.protocols.wsscan.validation import (
    check_ticket,
    image_information,
    ticket_problems,
    validate_ticket,
)

GOLDEN = Path(__file__).parent / "golden" / "wsscan"
CONFIG = ScannerConfiguration.from_element(xmlsafe.parse((GOLDEN / "scanner_configuration.xml").read_bytes()))
GOOD = ScanTicket.from_element(xmlsafe.parse((GOLDEN / "scan_ticket.xml").read_bytes()))


def _with(**changes: object) -> ScanTicket:
    assert GOOD.document_parameters is not None
    return dataclasses.replace(
        GOOD, document_parameters=dataclasses.replace(GOOD.document_parameters, **changes)
    )


def _front(**changes: object) -> MediaSides:
    assert GOOD.document_parameters is not None and GOOD.document_parameters.media_sides is not None
    sides = GOOD.document_parameters.media_sides
    return dataclasses.replace(sides, front=dataclasses.replace(sides.front, **changes))


def test_golden_ticket_is_valid_on_golden_device() -> None:
    info = validate_ticket(GOOD, CONFIG)
    assert info.valid_ticket is True and info.valid_scan_ticket is None
    assert info.image_information is not None
    # Letter region at 300 dpi RGB24, both sides: 8.5 x 300, 11 x 300, 3 bytes a pixel.
    assert info.image_information.front == ImageInfo(2550, 3300, 7650)
    assert info.image_information.back == ImageInfo(2550, 3300, 7650)
    assert ticket_problems(GOOD, CONFIG) == []


def test_unsupported_resolution_is_corrected_to_nearest() -> None:
    ticket = _with(media_sides=_front(resolution=Resolution(1200, 1200)))
    info = validate_ticket(ticket, CONFIG)
    assert info.valid_ticket is False
    assert info.valid_scan_ticket is not None and info.valid_scan_ticket.document_parameters is not None
    assert info.valid_scan_ticket.document_parameters.front.resolution == Resolution(600, 600)
    problems = ticket_problems(ticket, CONFIG)
    assert problems[0].startswith("Resolution 1200 dpi is not supported by the ADF (max 600)")
    assert "MustHonor" in problems[0]  # the golden ticket marks Resolution MustHonor
    check = check_ticket(ticket, CONFIG)
    assert not check.acceptable


def test_non_must_honor_problems_are_substituted_and_acceptable() -> None:
    ticket = _with(
        format="xps",
        content_type="Halftone",
        rotation=90,
        compression_quality_factor=5,
        scaling=Scaling(500, 100),
        media_sides=MediaSides(front=MediaSide(color_processing="RGB48", resolution=Resolution(300, 300))),
    )
    # Format carries MustHonor in the golden ticket: drop the flags to test substitution.
    assert ticket.document_parameters is not None
    ticket = dataclasses.replace(
        ticket, document_parameters=dataclasses.replace(ticket.document_parameters, flags=())
    )
    check = check_ticket(ticket, CONFIG)
    assert check.acceptable and not check.valid
    dp = check.corrected.document_parameters
    assert dp is not None
    assert dp.format == "pdf-a"  # nearest multi-page format
    assert dp.content_type == "Auto"
    assert dp.rotation == 90  # supported, untouched
    assert dp.compression_quality_factor == 10
    assert dp.scaling == Scaling(400, 100)
    assert dp.front.color_processing == "RGB24"
    paths = {p.path for p in check.problems}
    assert paths == {
        "Format",
        "ContentType",
        "CompressionQualityFactor",
        "Scaling/ScalingWidth",
        "MediaSides/MediaFront/ColorProcessing",
    }
    final = check.final_parameters()
    assert final.flag("Format").override is True and final.flag("Rotation").override is None


def test_duplex_on_a_simplex_device_falls_back_to_adf() -> None:
    assert CONFIG.adf is not None
    simplex = dataclasses.replace(CONFIG, adf=dataclasses.replace(CONFIG.adf, supports_duplex=False))
    info = validate_ticket(GOOD, simplex)
    assert not info.valid_ticket
    assert info.valid_scan_ticket is not None and info.valid_scan_ticket.document_parameters is not None
    assert info.valid_scan_ticket.document_parameters.input_source == "ADF"
    assert ticket_problems(GOOD, simplex)[0].startswith(
        "InputSource ADFDuplex is not supported: the ADF cannot scan both sides"
    )
    assert not check_ticket(GOOD, simplex).acceptable  # InputSource is MustHonor


def test_sizes_are_clamped_to_the_source() -> None:
    ticket = _with(
        input_size=InputSize(input_media_size=Size(11000, 17000)),
        media_sides=_front(scan_region=ScanRegion(width=9000, height=11000, x_offset=1000, y_offset=0)),
    )
    check = check_ticket(ticket, CONFIG)
    dp = check.corrected.document_parameters
    assert dp is not None and dp.input_size is not None
    assert dp.input_size.input_media_size == Size(8500, 14000)
    assert dp.front.scan_region == ScanRegion(width=7500, height=11000, x_offset=1000, y_offset=0)
    assert any(
        "larger than the maximum of the ADF, 8500 x 14000" in p for p in ticket_problems(ticket, CONFIG)
    )


def test_capabilities_the_device_lacks() -> None:
    plain = dataclasses.replace(CONFIG, device_settings=DeviceSettings(formats_supported=("jfif",)))
    ticket = _with(
        format="jfif",
        exposure=Exposure(auto_exposure=True),
        input_size=InputSize(document_size_auto_detect=True),
        scaling=Scaling(50, 50),
    )
    check = check_ticket(ticket, plain)
    dp = check.corrected.document_parameters
    assert dp is not None and dp.input_size is not None
    assert dp.exposure is None and dp.scaling is None and dp.input_size.document_size_auto_detect is False
    assert {p.path for p in check.problems} == {
        "Exposure/AutoExposure",
        "InputSize/DocumentSizeAutoDetect",
        "Scaling",
    }


def test_platen_only_device_and_film_request() -> None:
    platen_only = dataclasses.replace(CONFIG, adf=None)
    ticket = ScanTicket(JobDescription("j", "u"), DocumentParameters(input_source="Film"))
    check = check_ticket(ticket, platen_only)
    assert check.corrected.document_parameters is not None
    assert check.corrected.document_parameters.input_source == "Platen"
    assert check.problems[0].message == "InputSource Film is not supported: the device has no film unit"
    assert CONFIG.adf is not None and isinstance(CONFIG.adf, ADF)


def test_image_information_rules() -> None:
    a4_gray = ScanTicket(
        JobDescription("j", "u"),
        DocumentParameters(
            input_source="Platen",
            rotation=90,
            input_size=InputSize(input_media_size=Size(8268, 11693)),
            media_sides=MediaSides(
                front=MediaSide(color_processing="BlackAndWhite1", resolution=Resolution(200))
            ),
        ),
    )
    info = image_information(a4_gray)
    # 8.268 in x 200 = 1653 px, 11.693 x 200 = 2338 lines; rotated 90 swaps them; 1 bit a pixel.
    assert info.front == ImageInfo(pixels_per_line=2338, number_of_lines=1653, bytes_per_line=293)
    assert info.back is None
    # No size in the ticket: the source maximum from the configuration (the platen, 8.5 x 11.69).
    bare = ScanTicket(JobDescription("j", "u"), DocumentParameters(input_source="Platen"))
    assert image_information(bare, CONFIG).front == ImageInfo(2550, 3507, 7650)


def test_validate_response_golden_matches_the_function() -> None:
    golden = ValidateScanTicketResponse.from_element(
        xmlsafe.parse((GOLDEN / "validate_scan_ticket_response.xml").read_bytes())
    )
    corrected = golden.validation_info.valid_scan_ticket
    assert corrected is not None
    assert image_information(corrected, CONFIG) == golden.validation_info.image_information
    assert validate_ticket(corrected, CONFIG).valid_ticket is True
