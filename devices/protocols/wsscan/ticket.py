"""The WS-Scan ScanTicket (PROTOCOL.md §3.3; WDD: scanticket.md, documentparameters.md and the
pages of its children; BDSRR §2.2.4.37-72 for the types).

All sizes and offsets are 1/1000 inch; resolutions are dots per inch. ``DocumentParameters``
also models ``DocumentFinalParameters`` (same children, written by the device in
CreateScanJobResponse and GetJobElements): the ``wscn:MustHonor``, ``wscn:UsedDefault`` and
``wscn:Override`` attributes of any element below it are kept in ``flags``, keyed by the path
of local names from DocumentParameters, e.g. ``"InputSource"`` or
``"MediaSides/MediaFront/Resolution"`` (see ``FLAG_PATHS``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from lxml import etree

from devices.protocols import xmlfields as x
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSCN, qn

FORMATS: tuple[str, ...] = (
    "dib",
    "exif",
    "jbig",
    "jfif",
    "jpeg2k",
    "pdf-a",
    "png",
    "tiff-single-uncompressed",
    "tiff-single-g4",
    "tiff-single-g3mh",
    "tiff-single-jpeg-tn2",
    "tiff-multi-uncompressed",
    "tiff-multi-g4",
    "tiff-multi-g3mh",
    "tiff-multi-jpeg-tn2",
    "xps",
)
# Formats where one file holds every page: one RetrieveImage / SendImage per job.
MULTI_PAGE_FORMATS: frozenset[str] = frozenset(
    {"pdf-a", "tiff-multi-uncompressed", "tiff-multi-g4", "tiff-multi-g3mh", "tiff-multi-jpeg-tn2", "xps"}
)
INPUT_SOURCES: tuple[str, ...] = ("Platen", "ADF", "ADFDuplex", "Film")
FILM_SCAN_MODES: tuple[str, ...] = (
    "NotApplicable",
    "ColorSlideFilm",
    "ColorNegativeFilm",
    "BlackandWhiteNegativeFilm",
)
CONTENT_TYPES: tuple[str, ...] = ("Auto", "Text", "Photo", "Halftone", "Mixed")
COLOR_MODES: tuple[str, ...] = (
    "BlackAndWhite1",
    "Grayscale4",
    "Grayscale8",
    "Grayscale16",
    "RGB24",
    "RGB48",
    "RGBa32",
    "RGBa64",
)
BITS_PER_PIXEL: dict[str, int] = {
    "BlackAndWhite1": 1,
    "Grayscale4": 4,
    "Grayscale8": 8,
    "Grayscale16": 16,
    "RGB24": 24,
    "RGB48": 48,
    "RGBa32": 32,
    "RGBa64": 64,
}
ROTATIONS: tuple[int, ...] = (0, 90, 180, 270)

EXPOSURE_RANGE = (-1000, 1000)
SHARPNESS_RANGE = (-100, 100)
SCALING_RANGE = (1, 1000)
COMPRESSION_RANGE = (0, 100)

_SIDE_PATHS = (
    "",
    "/ScanRegion",
    "/ScanRegion/ScanRegionXOffset",
    "/ScanRegion/ScanRegionYOffset",
    "/ScanRegion/ScanRegionWidth",
    "/ScanRegion/ScanRegionHeight",
    "/ColorProcessing",
    "/Resolution",
    "/Resolution/Width",
    "/Resolution/Height",
)
# Every element below DocumentParameters that may carry MustHonor / UsedDefault / Override.
FLAG_PATHS: frozenset[str] = frozenset(
    [
        "Format",
        "CompressionQualityFactor",
        "ImagesToTransfer",
        "InputSource",
        "FilmScanMode",
        "ContentType",
        "InputSize",
        "InputSize/DocumentSizeAutoDetect",
        "InputSize/InputMediaSize",
        "InputSize/InputMediaSize/Width",
        "InputSize/InputMediaSize/Height",
        "Exposure",
        "Exposure/AutoExposure",
        "Exposure/ExposureSettings",
        "Exposure/ExposureSettings/Contrast",
        "Exposure/ExposureSettings/Brightness",
        "Exposure/ExposureSettings/Sharpness",
        "Scaling",
        "Scaling/ScalingWidth",
        "Scaling/ScalingHeight",
        "Rotation",
        "MediaSides",
    ]
    + ["MediaSides/" + side + p for side in ("MediaFront", "MediaBack") for p in _SIDE_PATHS]
)
_FLAG_ATTRS = (("MustHonor", "must_honor"), ("UsedDefault", "used_default"), ("Override", "override"))


@dataclass(frozen=True)
class Flags:
    """The three boolean attributes of a ticket element; ``None`` = attribute absent."""

    must_honor: bool | None = None
    used_default: bool | None = None
    override: bool | None = None

    def is_empty(self) -> bool:
        return self.must_honor is None and self.used_default is None and self.override is None


@dataclass(frozen=True)
class JobDescription:
    job_name: str
    job_originating_user_name: str
    job_information: str | None = None

    def to_element(self, tag: str = qn(WSCN, "JobDescription")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_local(el, "JobName", self.job_name)
        x.sub_local(el, "JobOriginatingUserName", self.job_originating_user_name)
        x.sub_text(el, "JobInformation", self.job_information)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> JobDescription:
        return cls(
            job_name=x.req_text(el, "JobName"),
            job_originating_user_name=x.req_text(el, "JobOriginatingUserName"),
            job_information=x.opt_text(el, "JobInformation"),
        )


@dataclass(frozen=True)
class Size:
    """A width x height pair in 1/1000 inch (InputMediaSize, *MinimumSize, *MaximumSize)."""

    width: int
    height: int

    def __post_init__(self) -> None:
        x.check_bounds(self.width, 0, None, "Width")
        x.check_bounds(self.height, 0, None, "Height")

    def build(self, parent: etree._Element, local: str) -> etree._Element:
        el = x.sub_local(parent, local)
        x.sub_local(el, "Width", str(self.width))
        x.sub_local(el, "Height", str(self.height))
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> Size:
        return cls(width=x.req_int(el, "Width"), height=x.req_int(el, "Height"))


@dataclass(frozen=True)
class InputSize:
    document_size_auto_detect: bool | None = None
    input_media_size: Size | None = None


@dataclass(frozen=True)
class ExposureSettings:
    contrast: int | None = None
    brightness: int | None = None
    sharpness: int | None = None

    def __post_init__(self) -> None:
        x.check_bounds(self.contrast, *EXPOSURE_RANGE, "Contrast")
        x.check_bounds(self.brightness, *EXPOSURE_RANGE, "Brightness")
        x.check_bounds(self.sharpness, *SHARPNESS_RANGE, "Sharpness")


@dataclass(frozen=True)
class Exposure:
    """XSD choice: either ``auto_exposure`` or ``settings``."""

    auto_exposure: bool | None = None
    settings: ExposureSettings | None = None

    def __post_init__(self) -> None:
        if (self.auto_exposure is None) == (self.settings is None):
            raise ProtocolError("Exposure must hold exactly one of AutoExposure or ExposureSettings")


@dataclass(frozen=True)
class Scaling:
    """Percentages, 100 = no scaling."""

    width: int = 100
    height: int = 100

    def __post_init__(self) -> None:
        x.check_bounds(self.width, *SCALING_RANGE, "ScalingWidth")
        x.check_bounds(self.height, *SCALING_RANGE, "ScalingHeight")


@dataclass(frozen=True)
class ScanRegion:
    width: int
    height: int
    x_offset: int | None = None
    y_offset: int | None = None

    def __post_init__(self) -> None:
        x.check_bounds(self.width, 1, None, "ScanRegionWidth")
        x.check_bounds(self.height, 1, None, "ScanRegionHeight")
        x.check_bounds(self.x_offset, 0, None, "ScanRegionXOffset")
        x.check_bounds(self.y_offset, 0, None, "ScanRegionYOffset")


@dataclass(frozen=True)
class Resolution:
    """Dots per inch; ``height`` None means the same as ``width``."""

    width: int
    height: int | None = None

    def __post_init__(self) -> None:
        x.check_bounds(self.width, 1, None, "Resolution Width")
        x.check_bounds(self.height, 1, None, "Resolution Height")

    @property
    def vertical(self) -> int:
        return self.height if self.height is not None else self.width


@dataclass(frozen=True)
class MediaSide:
    scan_region: ScanRegion | None = None
    color_processing: str | None = None
    resolution: Resolution | None = None

    def __post_init__(self) -> None:
        if self.color_processing is not None:
            x.check_token(self.color_processing, COLOR_MODES, "ColorProcessing")


@dataclass(frozen=True)
class MediaSides:
    front: MediaSide = field(default_factory=MediaSide)
    back: MediaSide | None = None


@dataclass(frozen=True)
class DocumentParameters:
    format: str | None = None
    compression_quality_factor: int | None = None
    images_to_transfer: int | None = None
    input_source: str | None = None
    film_scan_mode: str | None = None
    content_type: str | None = None
    input_size: InputSize | None = None
    exposure: Exposure | None = None
    scaling: Scaling | None = None
    rotation: int | None = None
    media_sides: MediaSides | None = None
    # Sorted (path, Flags) pairs; use flag() / with_flag() rather than this field.
    flags: tuple[tuple[str, Flags], ...] = ()

    def __post_init__(self) -> None:
        if self.format is not None:
            x.check_token(self.format, FORMATS, "Format", mime_like=True)
        x.check_bounds(self.compression_quality_factor, *COMPRESSION_RANGE, "CompressionQualityFactor")
        x.check_bounds(self.images_to_transfer, 0, None, "ImagesToTransfer")
        if self.input_source is not None:
            x.check_token(self.input_source, INPUT_SOURCES, "InputSource")
        if self.film_scan_mode is not None:
            x.check_token(self.film_scan_mode, FILM_SCAN_MODES, "FilmScanMode")
        if self.content_type is not None:
            x.check_token(self.content_type, CONTENT_TYPES, "ContentType")
        if self.rotation is not None and self.rotation not in ROTATIONS:
            raise ProtocolError("Rotation %d is not one of 0, 90, 180, 270" % self.rotation)
        for path, _flags in self.flags:
            if path not in FLAG_PATHS:
                raise ProtocolError("%r is not a ticket element that can carry flags" % path)
        object.__setattr__(self, "flags", tuple(sorted((p, f) for p, f in self.flags if not f.is_empty())))

    def flag(self, path: str) -> Flags:
        for p, f in self.flags:
            if p == path:
                return f
        return Flags()

    def must_honor(self, path: str) -> bool:
        return bool(self.flag(path).must_honor)

    def with_flag(self, path: str, **values: bool | None) -> DocumentParameters:
        merged = dataclasses.replace(self.flag(path), **values)
        rest = tuple((p, f) for p, f in self.flags if p != path)
        return dataclasses.replace(self, flags=rest + ((path, merged),))

    @property
    def front(self) -> MediaSide:
        return self.media_sides.front if self.media_sides else MediaSide()

    # -- XML --------------------------------------------------------------------------------

    def to_element(self, tag: str = qn(WSCN, "DocumentParameters")) -> etree._Element:
        el = x.new_wscn(tag)
        flags = dict(self.flags)

        def put(parent: etree._Element, local: str, path: str, text: str | None = None) -> etree._Element:
            child = x.sub_local(parent, local, text)
            f = flags.get(path)
            if f is not None:
                for attr_local, name in _FLAG_ATTRS:
                    value = getattr(f, name)
                    if value is not None:
                        child.set(qn(WSCN, attr_local), x.format_bool(value))
            return child

        def put_int(parent: etree._Element, local: str, path: str, value: int | None) -> None:
            if value is not None:
                put(parent, local, path, str(value))

        if self.format is not None:
            put(el, "Format", "Format", self.format)
        put_int(el, "CompressionQualityFactor", "CompressionQualityFactor", self.compression_quality_factor)
        put_int(el, "ImagesToTransfer", "ImagesToTransfer", self.images_to_transfer)
        if self.input_source is not None:
            put(el, "InputSource", "InputSource", self.input_source)
        if self.film_scan_mode is not None:
            put(el, "FilmScanMode", "FilmScanMode", self.film_scan_mode)
        if self.content_type is not None:
            put(el, "ContentType", "ContentType", self.content_type)
        if self.input_size is not None:
            size = put(el, "InputSize", "InputSize")
            if self.input_size.document_size_auto_detect is not None:
                put(
                    size,
                    "DocumentSizeAutoDetect",
                    "InputSize/DocumentSizeAutoDetect",
                    x.format_bool(self.input_size.document_size_auto_detect),
                )
            media = self.input_size.input_media_size
            if media is not None:
                m = put(size, "InputMediaSize", "InputSize/InputMediaSize")
                put_int(m, "Width", "InputSize/InputMediaSize/Width", media.width)
                put_int(m, "Height", "InputSize/InputMediaSize/Height", media.height)
        if self.exposure is not None:
            exp = put(el, "Exposure", "Exposure")
            if self.exposure.auto_exposure is not None:
                put(exp, "AutoExposure", "Exposure/AutoExposure", x.format_bool(self.exposure.auto_exposure))
            s = self.exposure.settings
            if s is not None:
                es = put(exp, "ExposureSettings", "Exposure/ExposureSettings")
                put_int(es, "Contrast", "Exposure/ExposureSettings/Contrast", s.contrast)
                put_int(es, "Brightness", "Exposure/ExposureSettings/Brightness", s.brightness)
                put_int(es, "Sharpness", "Exposure/ExposureSettings/Sharpness", s.sharpness)
        if self.scaling is not None:
            sc = put(el, "Scaling", "Scaling")
            put_int(sc, "ScalingWidth", "Scaling/ScalingWidth", self.scaling.width)
            put_int(sc, "ScalingHeight", "Scaling/ScalingHeight", self.scaling.height)
        put_int(el, "Rotation", "Rotation", self.rotation)
        if self.media_sides is not None:
            ms = put(el, "MediaSides", "MediaSides")
            sides = [("MediaFront", self.media_sides.front), ("MediaBack", self.media_sides.back)]
            for local, side in sides:
                if side is None:
                    continue
                base = "MediaSides/" + local
                s_el = put(ms, local, base)
                r = side.scan_region
                if r is not None:
                    reg = put(s_el, "ScanRegion", base + "/ScanRegion")
                    put_int(reg, "ScanRegionXOffset", base + "/ScanRegion/ScanRegionXOffset", r.x_offset)
                    put_int(reg, "ScanRegionYOffset", base + "/ScanRegion/ScanRegionYOffset", r.y_offset)
                    put_int(reg, "ScanRegionWidth", base + "/ScanRegion/ScanRegionWidth", r.width)
                    put_int(reg, "ScanRegionHeight", base + "/ScanRegion/ScanRegionHeight", r.height)
                if side.color_processing is not None:
                    put(s_el, "ColorProcessing", base + "/ColorProcessing", side.color_processing)
                if side.resolution is not None:
                    res = put(s_el, "Resolution", base + "/Resolution")
                    put_int(res, "Width", base + "/Resolution/Width", side.resolution.width)
                    put_int(res, "Height", base + "/Resolution/Height", side.resolution.height)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> DocumentParameters:
        input_size = None
        size_el = x.child_local(el, "InputSize")
        if size_el is not None:
            media_el = x.child_local(size_el, "InputMediaSize")
            input_size = InputSize(
                document_size_auto_detect=x.opt_bool(size_el, "DocumentSizeAutoDetect"),
                input_media_size=None if media_el is None else Size.from_element(media_el),
            )
        exposure = None
        exp_el = x.child_local(el, "Exposure")
        if exp_el is not None:
            es_el = x.child_local(exp_el, "ExposureSettings")
            exposure = Exposure(
                auto_exposure=x.opt_bool(exp_el, "AutoExposure"),
                settings=None
                if es_el is None
                else ExposureSettings(
                    contrast=x.opt_int(es_el, "Contrast"),
                    brightness=x.opt_int(es_el, "Brightness"),
                    sharpness=x.opt_int(es_el, "Sharpness"),
                ),
            )
        scaling = None
        sc_el = x.child_local(el, "Scaling")
        if sc_el is not None:
            scaling = Scaling(
                width=x.req_int(sc_el, "ScalingWidth"), height=x.req_int(sc_el, "ScalingHeight")
            )
        media_sides = None
        ms_el = x.child_local(el, "MediaSides")
        if ms_el is not None:
            back_el = x.child_local(ms_el, "MediaBack")
            media_sides = MediaSides(
                front=_side_from(x.require_local(ms_el, "MediaFront")),
                back=None if back_el is None else _side_from(back_el),
            )
        return cls(
            format=x.opt_text(el, "Format"),
            compression_quality_factor=x.opt_int(el, "CompressionQualityFactor"),
            images_to_transfer=x.opt_int(el, "ImagesToTransfer"),
            input_source=x.opt_text(el, "InputSource"),
            film_scan_mode=x.opt_text(el, "FilmScanMode"),
            content_type=x.opt_text(el, "ContentType"),
            input_size=input_size,
            exposure=exposure,
            scaling=scaling,
            rotation=x.opt_int(el, "Rotation"),
            media_sides=media_sides,
            flags=_flags_from(el),
        )


def _side_from(el: etree._Element) -> MediaSide:
    region = None
    reg_el = x.child_local(el, "ScanRegion")
    if reg_el is not None:
        region = ScanRegion(
            width=x.req_int(reg_el, "ScanRegionWidth"),
            height=x.req_int(reg_el, "ScanRegionHeight"),
            x_offset=x.opt_int(reg_el, "ScanRegionXOffset"),
            y_offset=x.opt_int(reg_el, "ScanRegionYOffset"),
        )
    resolution = None
    res_el = x.child_local(el, "Resolution")
    if res_el is not None:
        resolution = Resolution(width=x.req_int(res_el, "Width"), height=x.opt_int(res_el, "Height"))
    return MediaSide(
        scan_region=region, color_processing=x.opt_text(el, "ColorProcessing"), resolution=resolution
    )


def _flags_from(root: etree._Element) -> tuple[tuple[str, Flags], ...]:
    found: list[tuple[str, Flags]] = []

    def walk(el: etree._Element, prefix: str) -> None:
        for c in el:
            if not isinstance(c.tag, str) or etree.QName(c).namespace != WSCN:
                continue  # extension elements are ignored, and so are their attributes
            path = prefix + x.local_name(c)
            if path not in FLAG_PATHS:
                continue
            values: dict[str, bool] = {}
            for attr_local, name in _FLAG_ATTRS:
                raw = x.attr(c, attr_local)
                if raw is not None:
                    values[name] = x.parse_bool_strict(raw, "%s/@%s" % (path, attr_local))
            if values:
                found.append((path, Flags(**values)))
            walk(c, path + "/")

    walk(root, "")
    return tuple(found)


@dataclass(frozen=True)
class ScanTicket:
    job_description: JobDescription
    document_parameters: DocumentParameters | None = None

    def to_element(self, tag: str = qn(WSCN, "ScanTicket")) -> etree._Element:
        """``tag`` lets the same content be written as DefaultScanTicket, ValidScanTicket or
        psp:ScanTicket; the children are always wscn."""
        el = x.new_wscn(tag)
        el.append(self.job_description.to_element())
        if self.document_parameters is not None:
            el.append(self.document_parameters.to_element())
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScanTicket:
        dp = x.child_local(el, "DocumentParameters")
        return cls(
            job_description=JobDescription.from_element(x.require_local(el, "JobDescription")),
            document_parameters=None if dp is None else DocumentParameters.from_element(dp),
        )
