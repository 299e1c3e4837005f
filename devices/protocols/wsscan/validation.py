"""Checking a ScanTicket against a device's ScannerConfiguration (PROTOCOL.md §3.3, §4.2;
WDD: validatescanticketrequest.md, validscanticket.md, imageinformation.md,
createscanjobrequest.md remarks on MustHonor).

One pure function, :func:`check_ticket`, finds every setting the device cannot do and the
nearest value it can; :func:`validate_ticket` turns that into the wire ``ValidationInfo``
(ValidTicket=false plus a corrected ValidScanTicket when anything had to change), and
:func:`ticket_problems` into sentences for the console. A problem on a setting marked
``MustHonor`` makes the ticket unacceptable for CreateScanJob (the device must refuse it);
other problems are substituted, as WS-Scan requires.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from devices.protocols.wsscan.elements import InputCapabilities, Range, ScannerConfiguration
from devices.protocols.wsscan.messages import ImageInfo, ImageInformation, ValidationInfo
from devices.protocols.wsscan.ticket import (
    BITS_PER_PIXEL,
    MULTI_PAGE_FORMATS,
    DocumentParameters,
    Exposure,
    ExposureSettings,
    InputSize,
    MediaSide,
    MediaSides,
    Resolution,
    Scaling,
    ScanRegion,
    ScanTicket,
    Size,
)

LETTER = Size(8500, 11000)
DEFAULT_DPI = 300
DEFAULT_COLOR = "RGB24"

_FORMAT_PREFERENCE_SINGLE = ("jfif", "png", "tiff-single-g4", "tiff-single-uncompressed", "dib", "exif")
_FORMAT_PREFERENCE_MULTI = ("pdf-a", "tiff-multi-g4", "tiff-multi-uncompressed", "xps")
# The next best colour mode when one is missing: keep depth and colour first, then step down.
_COLOR_FALLBACK: dict[str, tuple[str, ...]] = {
    "RGBa64": ("RGB48", "RGBa32", "RGB24", "Grayscale16", "Grayscale8"),
    "RGB48": ("RGB24", "RGBa64", "RGBa32", "Grayscale16", "Grayscale8"),
    "RGBa32": ("RGB24", "RGBa64", "RGB48", "Grayscale8"),
    "RGB24": ("RGBa32", "RGB48", "Grayscale8", "Grayscale16"),
    "Grayscale16": ("Grayscale8", "Grayscale4", "RGB48", "RGB24"),
    "Grayscale8": ("Grayscale16", "Grayscale4", "RGB24", "BlackAndWhite1"),
    "Grayscale4": ("Grayscale8", "BlackAndWhite1", "Grayscale16"),
    "BlackAndWhite1": ("Grayscale4", "Grayscale8"),
}
_SOURCE_FALLBACK: dict[str, tuple[str, ...]] = {
    "ADFDuplex": ("ADF", "Platen"),
    "ADF": ("Platen", "ADFDuplex"),
    "Platen": ("ADF",),
    "Film": ("Platen",),
}
_SOURCE_WORDS = {"Platen": "the platen", "ADF": "the ADF", "ADFDuplex": "the ADF", "Film": "the film unit"}


@dataclass(frozen=True)
class Problem:
    """One setting the device cannot do. ``path`` is the ticket flag path of the element."""

    path: str
    message: str
    must_honor: bool = False


@dataclass(frozen=True)
class TicketCheck:
    problems: tuple[Problem, ...]
    corrected: ScanTicket

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def acceptable(self) -> bool:
        """False when a MustHonor setting cannot be honoured: CreateScanJob must be refused."""
        return not any(p.must_honor for p in self.problems)

    def final_parameters(self) -> DocumentParameters:
        """The corrected parameters with ``Override="true"`` on each substituted element, as a
        device reports them in DocumentFinalParameters."""
        dp = self.corrected.document_parameters or DocumentParameters()
        for p in self.problems:
            dp = dp.with_flag(p.path, override=True, must_honor=None)
        return dp


def _honored(dp: DocumentParameters, path: str) -> bool:
    """MustHonor on the element, an ancestor or a child (e.g. on Resolution/Width)."""
    return any(
        f.must_honor and (p == path or path.startswith(p + "/") or p.startswith(path + "/"))
        for p, f in dp.flags
    )


def _nearest(value: int, options: tuple[int, ...]) -> int:
    # Ties go to the lower value: less data, and every device does its lower resolutions.
    return min(options, key=lambda o: (abs(o - value), o))


def _list(values: tuple[str, ...] | tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _dpi_message(kind: str, value: int, options: tuple[int, ...], where: str) -> str:
    if value > max(options):
        hint = "max %d" % max(options)
    elif value < min(options):
        hint = "min %d" % min(options)
    else:
        hint = "supported: %s" % _list(options)
    return "%s %d dpi is not supported by %s (%s)" % (kind, value, where, hint)


class _Checker:
    def __init__(self, ticket: ScanTicket, configuration: ScannerConfiguration) -> None:
        self.ticket = ticket
        self.config = configuration
        self.dp = ticket.document_parameters or DocumentParameters()
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path=path, message=message, must_honor=_honored(self.dp, path)))

    def run(self) -> TicketCheck:
        dp = self.dp
        ds = self.config.device_settings
        changes: dict[str, object] = {}

        if dp.format is not None and ds.formats_supported and dp.format not in ds.formats_supported:
            prefs = _FORMAT_PREFERENCE_MULTI if dp.format in MULTI_PAGE_FORMATS else _FORMAT_PREFERENCE_SINGLE
            choice = next((f for f in prefs if f in ds.formats_supported), ds.formats_supported[0])
            self.problem(
                "Format",
                "Format %s is not supported (supported: %s)" % (dp.format, _list(ds.formats_supported)),
            )
            changes["format"] = choice

        q = dp.compression_quality_factor
        cq = ds.compression_quality_factor_supported
        if q is not None and cq is not None and cq.clamp(q) != q:
            self.problem(
                "CompressionQualityFactor",
                "CompressionQualityFactor %d is outside the supported %d-%d"
                % (q, cq.min_value, cq.max_value),
            )
            changes["compression_quality_factor"] = cq.clamp(q)

        ct = dp.content_type
        if ct is not None and ds.content_types_supported and ct not in ds.content_types_supported:
            choice = "Auto" if "Auto" in ds.content_types_supported else ds.content_types_supported[0]
            self.problem(
                "ContentType",
                "ContentType %s is not supported (supported: %s)" % (ct, _list(ds.content_types_supported)),
            )
            changes["content_type"] = choice

        source = dp.input_source
        sources = self.config.input_sources()
        if source is not None and sources and source not in sources:
            choice = next((s for s in _SOURCE_FALLBACK.get(source, ()) if s in sources), sources[0])
            reason = (
                "the ADF cannot scan both sides"
                if source == "ADFDuplex" and "ADF" in sources
                else "the device has no %s" % _SOURCE_WORDS.get(source, source).removeprefix("the ")
            )
            self.problem("InputSource", "InputSource %s is not supported: %s" % (source, reason))
            changes["input_source"] = choice
            source = choice
        where = _SOURCE_WORDS.get(source or "", "the scanner")

        film_mode = dp.film_scan_mode
        if film_mode is not None and source == "Film" and self.config.film is not None:
            modes = self.config.film.scan_modes_supported
            if modes and film_mode not in modes:
                self.problem(
                    "FilmScanMode",
                    "FilmScanMode %s is not supported (supported: %s)" % (film_mode, _list(modes)),
                )
                changes["film_scan_mode"] = modes[0]

        front_caps = self.config.capabilities_for(source)
        if dp.input_size is not None:
            changes["input_size"] = self.input_size(dp.input_size, front_caps, where)

        if dp.exposure is not None:
            exposure = self.exposure(dp.exposure)
            if exposure != dp.exposure:
                changes["exposure"] = exposure

        if dp.rotation is not None and ds.rotations_supported and dp.rotation not in ds.rotations_supported:
            rotation = 0 if 0 in ds.rotations_supported else ds.rotations_supported[0]
            self.problem(
                "Rotation",
                "Rotation %d is not supported (supported: %s)" % (dp.rotation, _list(ds.rotations_supported)),
            )
            changes["rotation"] = rotation

        if dp.scaling is not None:
            changes["scaling"] = self.scaling(dp.scaling)

        if dp.media_sides is not None:
            front = self.side(dp.media_sides.front, front_caps, "MediaSides/MediaFront", where)
            back = dp.media_sides.back
            if back is not None:
                back_caps = self.config.capabilities_for(source, back=True)
                back = self.side(back, back_caps, "MediaSides/MediaBack", where + " (back side)")
            changes["media_sides"] = MediaSides(front=front, back=back)

        corrected_dp = dataclasses.replace(dp, **changes)  # type: ignore[arg-type]
        corrected = self.ticket
        if self.ticket.document_parameters is not None or changes:
            corrected = dataclasses.replace(self.ticket, document_parameters=corrected_dp)
        return TicketCheck(problems=tuple(self.problems), corrected=corrected)

    def input_size(self, size: InputSize, caps: InputCapabilities | None, where: str) -> InputSize:
        ds = self.config.device_settings
        auto = size.document_size_auto_detect
        if auto and not ds.document_size_auto_detect_supported:
            self.problem("InputSize/DocumentSizeAutoDetect", "DocumentSizeAutoDetect is not supported")
            auto = False
        media = size.input_media_size
        if media is not None and caps is not None:
            w, h = media.width, media.height
            if caps.maximum_size is not None:
                w, h = min(w, caps.maximum_size.width), min(h, caps.maximum_size.height)
                if (w, h) != (media.width, media.height):
                    self.problem(
                        "InputSize/InputMediaSize",
                        "InputMediaSize %d x %d is larger than the maximum of %s, %d x %d (1/1000 inch)"
                        % (
                            media.width,
                            media.height,
                            where,
                            caps.maximum_size.width,
                            caps.maximum_size.height,
                        ),
                    )
            if caps.minimum_size is not None:
                w2, h2 = max(w, caps.minimum_size.width), max(h, caps.minimum_size.height)
                if (w2, h2) != (w, h):
                    self.problem(
                        "InputSize/InputMediaSize",
                        "InputMediaSize %d x %d is smaller than the minimum of %s, %d x %d (1/1000 inch)"
                        % (
                            media.width,
                            media.height,
                            where,
                            caps.minimum_size.width,
                            caps.minimum_size.height,
                        ),
                    )
                w, h = w2, h2
            media = Size(w, h)
        return InputSize(document_size_auto_detect=auto, input_media_size=media)

    def exposure(self, exposure: Exposure) -> Exposure | None:
        ds = self.config.device_settings
        if exposure.auto_exposure:
            if not ds.auto_exposure_supported:
                self.problem("Exposure/AutoExposure", "AutoExposure is not supported")
                return None
            return exposure
        s = exposure.settings
        if s is None:
            return exposure
        brightness, contrast = s.brightness, s.contrast
        if brightness is not None and not ds.brightness_supported:
            self.problem("Exposure/ExposureSettings/Brightness", "Brightness adjustment is not supported")
            brightness = None
        if contrast is not None and not ds.contrast_supported:
            self.problem("Exposure/ExposureSettings/Contrast", "Contrast adjustment is not supported")
            contrast = None
        if brightness is None and contrast is None and s.sharpness is None:
            return None
        return Exposure(
            settings=ExposureSettings(contrast=contrast, brightness=brightness, sharpness=s.sharpness)
        )

    def scaling(self, scaling: Scaling) -> Scaling | None:
        ds = self.config.device_settings
        rw, rh = ds.scaling_width_supported, ds.scaling_height_supported
        if rw is None and rh is None:
            if (scaling.width, scaling.height) != (100, 100):
                self.problem("Scaling", "Scaling is not supported")
                return None
            return scaling

        def clamp(value: int, rng: Range | None, local: str) -> int:
            if rng is None or rng.clamp(value) == value:
                return value
            self.problem(
                "Scaling/" + local,
                "%s %d%% is outside the supported %d-%d%%" % (local, value, rng.min_value, rng.max_value),
            )
            return rng.clamp(value)

        return Scaling(
            width=clamp(scaling.width, rw, "ScalingWidth"), height=clamp(scaling.height, rh, "ScalingHeight")
        )

    def side(self, side: MediaSide, caps: InputCapabilities | None, base: str, where: str) -> MediaSide:
        if caps is None:
            return side
        color = side.color_processing
        if color is not None and caps.colors and color not in caps.colors:
            choice = next((c for c in _COLOR_FALLBACK.get(color, ()) if c in caps.colors), caps.colors[0])
            self.problem(
                base + "/ColorProcessing",
                "ColorProcessing %s is not supported by %s (supported: %s)"
                % (color, where, _list(caps.colors)),
            )
            color = choice
        res = side.resolution
        if res is not None:
            width, height = res.width, res.height
            if caps.resolution_widths and width not in caps.resolution_widths:
                self.problem(
                    base + "/Resolution", _dpi_message("Resolution", width, caps.resolution_widths, where)
                )
                width = _nearest(width, caps.resolution_widths)
            heights = caps.heights()
            if height is not None and heights and height not in heights:
                self.problem(
                    base + "/Resolution", _dpi_message("Vertical resolution", height, heights, where)
                )
                height = _nearest(height, heights)
            res = Resolution(width=width, height=height)
        region = side.scan_region
        if region is not None and caps.maximum_size is not None:
            region = self.region(region, caps.maximum_size, base, where)
        return MediaSide(scan_region=region, color_processing=color, resolution=res)

    def region(self, region: ScanRegion, maximum: Size, base: str, where: str) -> ScanRegion:
        x_off, y_off = region.x_offset or 0, region.y_offset or 0
        if x_off >= maximum.width:
            x_off = 0
        if y_off >= maximum.height:
            y_off = 0
        width = min(region.width, maximum.width - x_off)
        height = min(region.height, maximum.height - y_off)
        fixed = ScanRegion(
            width=width,
            height=height,
            x_offset=None if region.x_offset is None else x_off,
            y_offset=None if region.y_offset is None else y_off,
        )
        if fixed != region:
            self.problem(
                base + "/ScanRegion",
                "ScanRegion %d x %d at (%d, %d) does not fit %s, %d x %d (1/1000 inch)"
                % (
                    region.width,
                    region.height,
                    region.x_offset or 0,
                    region.y_offset or 0,
                    where,
                    maximum.width,
                    maximum.height,
                ),
            )
        return fixed


def check_ticket(ticket: ScanTicket, configuration: ScannerConfiguration) -> TicketCheck:
    """Every setting of ``ticket`` that ``configuration`` cannot do, and the corrected ticket."""
    return _Checker(ticket, configuration).run()


def _side_info(
    dp: DocumentParameters, side: MediaSide, configuration: ScannerConfiguration | None, back: bool
) -> ImageInfo:
    if side.scan_region is not None:
        width, height = side.scan_region.width, side.scan_region.height
    elif dp.input_size is not None and dp.input_size.input_media_size is not None:
        width, height = dp.input_size.input_media_size.width, dp.input_size.input_media_size.height
    else:
        caps = configuration.capabilities_for(dp.input_source, back=back) if configuration else None
        size = caps.maximum_size if caps is not None and caps.maximum_size is not None else LETTER
        width, height = size.width, size.height
    dpi_x = side.resolution.width if side.resolution else DEFAULT_DPI
    dpi_y = side.resolution.vertical if side.resolution else DEFAULT_DPI
    scale_w = dp.scaling.width if dp.scaling else 100
    scale_h = dp.scaling.height if dp.scaling else 100
    # Sizes are 1/1000 inch and scaling is in percent: integer maths avoids float drift.
    pixels = width * dpi_x * scale_w // 100_000
    lines = height * dpi_y * scale_h // 100_000
    if dp.rotation in (90, 270):
        pixels, lines = lines, pixels
    bits = BITS_PER_PIXEL.get(side.color_processing or DEFAULT_COLOR, 24)
    return ImageInfo(pixels_per_line=pixels, number_of_lines=lines, bytes_per_line=(pixels * bits + 7) // 8)


def image_information(
    ticket: ScanTicket, configuration: ScannerConfiguration | None = None
) -> ImageInformation:
    """Image geometry the ticket produces: PixelsPerLine = width in inches x dpi x scaling,
    NumberOfLines likewise, BytesPerLine by the colour mode's bits per pixel. Without a scan
    region or media size the source's maximum size (or Letter) is assumed."""
    dp = ticket.document_parameters or DocumentParameters()
    sides = dp.media_sides or MediaSides()
    front = _side_info(dp, sides.front, configuration, back=False)
    back = None
    if dp.input_source == "ADFDuplex":
        back = _side_info(dp, sides.back or sides.front, configuration, back=True)
    return ImageInformation(front=front, back=back)


def validate_ticket(ticket: ScanTicket, configuration: ScannerConfiguration) -> ValidationInfo:
    """The ValidateScanTicketResponse answer a device with ``configuration`` gives."""
    check = check_ticket(ticket, configuration)
    return ValidationInfo(
        valid_ticket=check.valid,
        image_information=image_information(check.corrected, configuration),
        valid_scan_ticket=None if check.valid else check.corrected,
    )


def ticket_problems(ticket: ScanTicket, configuration: ScannerConfiguration) -> list[str]:
    """Human-readable warnings for the console's ticket editor, one per problem."""
    out = []
    for p in check_ticket(ticket, configuration).problems:
        if p.must_honor:
            out.append("%s; it is marked MustHonor, so the device will refuse the job" % p.message)
        else:
            out.append("%s; the device will substitute a supported value" % p.message)
    return out
