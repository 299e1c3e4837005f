"""WS-Scan scanner elements: ScannerDescription, ScannerConfiguration, ScannerStatus and
DefaultScanTicket (PROTOCOL.md §4.1; WDD: scannerdescription.md, scannerconfiguration.md,
devicesettings.md, platen.md, adf.md, film.md, scannerstatus.md, devicecondition.md,
conditionhistoryentry.md, defaultscanticket.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from devices.protocols import xmlfields as x
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import WSCN, qn
from devices.protocols.wsscan.ticket import (
    COLOR_MODES,
    CONTENT_TYPES,
    FILM_SCAN_MODES,
    FORMATS,
    ROTATIONS,
    Resolution,
    ScanTicket,
    Size,
)

SCANNER_STATES: tuple[str, ...] = ("Idle", "Processing", "Stopped")
SCANNER_STATE_REASONS: tuple[str, ...] = (
    "AttentionRequired",
    "Calibrating",
    "CoverOpen",
    "InterlockOpen",
    "InternalStorageFull",
    "LampError",
    "LampWarming",
    "MediaJam",
    "MultipleFeedError",
    "None",
    "Paused",
)
CONDITION_NAMES: tuple[str, ...] = (
    "Calibrating",
    "CoverOpen",
    "InputTrayEmpty",
    "InterlockOpen",
    "InternalStorageFull",
    "LampError",
    "LampWarming",
    "MediaJam",
    "MultipleFeedError",
)
CONDITION_COMPONENTS: tuple[str, ...] = ("ADF", "Film", "MainScanner", "Platen")
CONDITION_SEVERITIES: tuple[str, ...] = ("Informational", "Warning", "Critical")


@dataclass(frozen=True)
class ScannerDescription:
    scanner_name: str
    scanner_info: str | None = None
    scanner_location: str | None = None

    def to_element(self, tag: str = qn(WSCN, "ScannerDescription")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_local(el, "ScannerName", self.scanner_name)
        x.sub_text(el, "ScannerInfo", self.scanner_info)
        x.sub_text(el, "ScannerLocation", self.scanner_location)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerDescription:
        return cls(
            scanner_name=x.req_text(el, "ScannerName"),
            scanner_info=x.opt_text(el, "ScannerInfo"),
            scanner_location=x.opt_text(el, "ScannerLocation"),
        )


@dataclass(frozen=True)
class Range:
    min_value: int
    max_value: int

    def __post_init__(self) -> None:
        if self.min_value > self.max_value:
            raise ProtocolError("MinValue %d is above MaxValue %d" % (self.min_value, self.max_value))

    def build(self, parent: etree._Element, local: str) -> None:
        el = x.sub_local(parent, local)
        x.sub_local(el, "MinValue", str(self.min_value))
        x.sub_local(el, "MaxValue", str(self.max_value))

    @classmethod
    def from_element(cls, el: etree._Element) -> Range:
        return cls(min_value=x.req_int(el, "MinValue"), max_value=x.req_int(el, "MaxValue"))

    def clamp(self, value: int) -> int:
        return max(self.min_value, min(self.max_value, value))


def _opt_range(el: etree._Element, local: str) -> Range | None:
    found = x.child_local(el, local)
    return None if found is None else Range.from_element(found)


def _values(el: etree._Element, outer: str, inner: str) -> tuple[str, ...]:
    wrapper = x.child_local(el, outer)
    if wrapper is None:
        return ()
    return tuple(x.text_of(v) for v in x.children_local(wrapper, inner))


def _sub_values(
    parent: etree._Element, outer: str, inner: str, values: tuple[str, ...] | tuple[int, ...]
) -> None:
    if values:
        wrapper = x.sub_local(parent, outer)
        for v in values:
            x.sub_local(wrapper, inner, str(v))


def _int_values(el: etree._Element, outer: str, inner: str) -> tuple[int, ...]:
    wrapper = x.child_local(el, outer)
    if wrapper is None:
        return ()
    return tuple(x.int_of(v) for v in x.children_local(wrapper, inner))


@dataclass(frozen=True)
class DeviceSettings:
    formats_supported: tuple[str, ...] = ()
    compression_quality_factor_supported: Range | None = None
    content_types_supported: tuple[str, ...] = ()
    document_size_auto_detect_supported: bool = False
    auto_exposure_supported: bool = False
    brightness_supported: bool = False
    contrast_supported: bool = False
    scaling_width_supported: Range | None = None
    scaling_height_supported: Range | None = None
    rotations_supported: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for f in self.formats_supported:
            x.check_token(f, FORMATS, "FormatValue", mime_like=True)
        for c in self.content_types_supported:
            x.check_token(c, CONTENT_TYPES, "ContentTypeValue")
        for r in self.rotations_supported:
            if r not in ROTATIONS:
                raise ProtocolError("RotationValue %d is not one of 0, 90, 180, 270" % r)

    def build(self, parent: etree._Element) -> None:
        el = x.sub_local(parent, "DeviceSettings")
        _sub_values(el, "FormatsSupported", "FormatValue", self.formats_supported)
        if self.compression_quality_factor_supported is not None:
            self.compression_quality_factor_supported.build(el, "CompressionQualityFactorSupported")
        _sub_values(el, "ContentTypesSupported", "ContentTypeValue", self.content_types_supported)
        x.sub_bool(el, "DocumentSizeAutoDetectSupported", self.document_size_auto_detect_supported)
        x.sub_bool(el, "AutoExposureSupported", self.auto_exposure_supported)
        x.sub_bool(el, "BrightnessSupported", self.brightness_supported)
        x.sub_bool(el, "ContrastSupported", self.contrast_supported)
        if self.scaling_width_supported is not None or self.scaling_height_supported is not None:
            sc = x.sub_local(el, "ScalingRangeSupported")
            if self.scaling_width_supported is not None:
                self.scaling_width_supported.build(sc, "ScalingWidth")
            if self.scaling_height_supported is not None:
                self.scaling_height_supported.build(sc, "ScalingHeight")
        _sub_values(el, "RotationsSupported", "RotationValue", self.rotations_supported)

    @classmethod
    def from_element(cls, el: etree._Element) -> DeviceSettings:
        sc = x.child_local(el, "ScalingRangeSupported")
        return cls(
            formats_supported=_values(el, "FormatsSupported", "FormatValue"),
            compression_quality_factor_supported=_opt_range(el, "CompressionQualityFactorSupported"),
            content_types_supported=_values(el, "ContentTypesSupported", "ContentTypeValue"),
            document_size_auto_detect_supported=bool(x.opt_bool(el, "DocumentSizeAutoDetectSupported")),
            auto_exposure_supported=bool(x.opt_bool(el, "AutoExposureSupported")),
            brightness_supported=bool(x.opt_bool(el, "BrightnessSupported")),
            contrast_supported=bool(x.opt_bool(el, "ContrastSupported")),
            scaling_width_supported=None if sc is None else _opt_range(sc, "ScalingWidth"),
            scaling_height_supported=None if sc is None else _opt_range(sc, "ScalingHeight"),
            rotations_supported=_int_values(el, "RotationsSupported", "RotationValue"),
        )


@dataclass(frozen=True)
class InputCapabilities:
    """What one input (Platen, ADFFront, ADFBack, Film) can do. On the wire each child name
    carries the input's prefix: PlatenColor, ADFMinimumSize, FilmResolutions..."""

    colors: tuple[str, ...] = ()
    minimum_size: Size | None = None
    maximum_size: Size | None = None
    optical_resolution: Resolution | None = None
    resolution_widths: tuple[int, ...] = ()
    resolution_heights: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for c in self.colors:
            x.check_token(c, COLOR_MODES, "ColorEntry")
        for r in self.resolution_widths + self.resolution_heights:
            x.check_bounds(r, 1, None, "Resolution")

    def build_into(self, el: etree._Element, prefix: str) -> None:
        _sub_values(el, prefix + "Color", "ColorEntry", self.colors)
        if self.minimum_size is not None:
            self.minimum_size.build(el, prefix + "MinimumSize")
        if self.maximum_size is not None:
            self.maximum_size.build(el, prefix + "MaximumSize")
        if self.optical_resolution is not None:
            opt = x.sub_local(el, prefix + "OpticalResolution")
            x.sub_local(opt, "Width", str(self.optical_resolution.width))
            x.sub_local(opt, "Height", str(self.optical_resolution.vertical))
        if self.resolution_widths or self.resolution_heights:
            res = x.sub_local(el, prefix + "Resolutions")
            _sub_values(res, "Widths", "Width", self.resolution_widths)
            _sub_values(res, "Heights", "Height", self.resolution_heights)

    @classmethod
    def from_element(cls, el: etree._Element, prefix: str) -> InputCapabilities:
        def size(local: str) -> Size | None:
            found = x.child_local(el, prefix + local)
            return None if found is None else Size.from_element(found)

        opt_el = x.child_local(el, prefix + "OpticalResolution")
        res_el = x.child_local(el, prefix + "Resolutions")
        return cls(
            colors=_values(el, prefix + "Color", "ColorEntry"),
            minimum_size=size("MinimumSize"),
            maximum_size=size("MaximumSize"),
            optical_resolution=None
            if opt_el is None
            else Resolution(width=x.req_int(opt_el, "Width"), height=x.opt_int(opt_el, "Height")),
            resolution_widths=() if res_el is None else _int_values(res_el, "Widths", "Width"),
            resolution_heights=() if res_el is None else _int_values(res_el, "Heights", "Height"),
        )

    def heights(self) -> tuple[int, ...]:
        """Supported vertical resolutions; devices listing no Heights accept the Widths."""
        return self.resolution_heights or self.resolution_widths


@dataclass(frozen=True)
class ADF:
    supports_duplex: bool = False
    front: InputCapabilities | None = None
    back: InputCapabilities | None = None

    def build(self, parent: etree._Element) -> None:
        el = x.sub_local(parent, "ADF")
        x.sub_bool(el, "ADFSupportsDuplex", self.supports_duplex)
        for local, caps in (("ADFFront", self.front), ("ADFBack", self.back)):
            if caps is not None:
                caps.build_into(x.sub_local(el, local), "ADF")

    @classmethod
    def from_element(cls, el: etree._Element) -> ADF:
        front = x.child_local(el, "ADFFront")
        back = x.child_local(el, "ADFBack")
        return cls(
            supports_duplex=bool(x.opt_bool(el, "ADFSupportsDuplex")),
            front=None if front is None else InputCapabilities.from_element(front, "ADF"),
            back=None if back is None else InputCapabilities.from_element(back, "ADF"),
        )


@dataclass(frozen=True)
class Film:
    scan_modes_supported: tuple[str, ...] = ()
    capabilities: InputCapabilities = InputCapabilities()

    def __post_init__(self) -> None:
        for m in self.scan_modes_supported:
            x.check_token(m, FILM_SCAN_MODES, "FilmScanModeValue")

    def build(self, parent: etree._Element) -> None:
        el = x.sub_local(parent, "Film")
        _sub_values(el, "FilmScanModesSupported", "FilmScanModeValue", self.scan_modes_supported)
        self.capabilities.build_into(el, "Film")

    @classmethod
    def from_element(cls, el: etree._Element) -> Film:
        return cls(
            scan_modes_supported=_values(el, "FilmScanModesSupported", "FilmScanModeValue"),
            capabilities=InputCapabilities.from_element(el, "Film"),
        )


@dataclass(frozen=True)
class ScannerConfiguration:
    device_settings: DeviceSettings = DeviceSettings()
    platen: InputCapabilities | None = None
    adf: ADF | None = None
    film: Film | None = None

    def to_element(self, tag: str = qn(WSCN, "ScannerConfiguration")) -> etree._Element:
        el = x.new_wscn(tag)
        self.device_settings.build(el)
        if self.platen is not None:
            self.platen.build_into(x.sub_local(el, "Platen"), "Platen")
        if self.adf is not None:
            self.adf.build(el)
        if self.film is not None:
            self.film.build(el)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerConfiguration:
        ds = x.child_local(el, "DeviceSettings")
        platen = x.child_local(el, "Platen")
        adf = x.child_local(el, "ADF")
        film = x.child_local(el, "Film")
        return cls(
            device_settings=DeviceSettings() if ds is None else DeviceSettings.from_element(ds),
            platen=None if platen is None else InputCapabilities.from_element(platen, "Platen"),
            adf=None if adf is None else ADF.from_element(adf),
            film=None if film is None else Film.from_element(film),
        )

    def input_sources(self) -> tuple[str, ...]:
        """The InputSource values this configuration can honour."""
        sources: list[str] = []
        if self.platen is not None:
            sources.append("Platen")
        if self.adf is not None:
            sources.append("ADF")
            if self.adf.supports_duplex:
                sources.append("ADFDuplex")
        if self.film is not None:
            sources.append("Film")
        return tuple(sources)

    def capabilities_for(self, input_source: str | None, back: bool = False) -> InputCapabilities | None:
        """The capabilities that apply to ``input_source`` (``None`` = the device's default,
        the platen if present); ``back`` selects ADFBack for the duplex back side."""
        if input_source in (None, "Platen") and self.platen is not None:
            return self.platen
        if input_source in (None, "ADF", "ADFDuplex") and self.adf is not None:
            if back and self.adf.back is not None:
                return self.adf.back
            return self.adf.front
        if input_source in (None, "Film") and self.film is not None:
            return self.film.capabilities
        return None


def _condition_id(el: etree._Element) -> int:
    raw = x.attr(el, "Id")
    if raw is None:
        raise ProtocolError("%s lacks its Id attribute" % x.local_name(el))
    if not raw.strip().isdigit():
        raise ProtocolError("%s Id must be an integer, got %r" % (x.local_name(el), raw))
    return int(raw)


@dataclass(frozen=True)
class DeviceCondition:
    id: int
    time: datetime
    name: str
    component: str
    severity: str

    def __post_init__(self) -> None:
        x.check_bounds(self.id, 1, 2147483648, "DeviceCondition Id")
        x.check_token(self.name, CONDITION_NAMES, "DeviceCondition Name")
        x.check_token(self.component, CONDITION_COMPONENTS, "Component")
        x.check_token(self.severity, CONDITION_SEVERITIES, "Severity")

    def to_element(self, tag: str = qn(WSCN, "DeviceCondition")) -> etree._Element:
        el = x.new_wscn(tag)
        # The DSD example writes the attribute unqualified; we follow it and accept both.
        el.set("Id", str(self.id))
        x.sub_datetime(el, "Time", self.time)
        x.sub_local(el, "Name", self.name)
        x.sub_local(el, "Component", self.component)
        x.sub_local(el, "Severity", self.severity)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> DeviceCondition:
        return cls(
            id=_condition_id(el),
            time=x.datetime_of(x.require_local(el, "Time")),
            name=x.req_text(el, "Name"),
            component=x.req_text(el, "Component"),
            severity=x.req_text(el, "Severity"),
        )


@dataclass(frozen=True)
class ConditionHistoryEntry:
    id: int
    time: datetime
    name: str
    component: str
    severity: str
    clear_time: datetime

    def __post_init__(self) -> None:
        x.check_bounds(self.id, 1, 2147483648, "ConditionHistoryEntry Id")
        x.check_token(self.name, CONDITION_NAMES, "ConditionHistoryEntry Name")
        x.check_token(self.component, CONDITION_COMPONENTS, "Component")
        x.check_token(self.severity, CONDITION_SEVERITIES, "Severity")

    def build(self, parent: etree._Element) -> None:
        el = x.sub_local(parent, "ConditionHistoryEntry")
        el.set("Id", str(self.id))
        x.sub_datetime(el, "Time", self.time)
        x.sub_local(el, "Name", self.name)
        x.sub_local(el, "Component", self.component)
        x.sub_local(el, "Severity", self.severity)
        x.sub_datetime(el, "ClearTime", self.clear_time)

    @classmethod
    def from_element(cls, el: etree._Element) -> ConditionHistoryEntry:
        return cls(
            id=_condition_id(el),
            time=x.datetime_of(x.require_local(el, "Time")),
            name=x.req_text(el, "Name"),
            component=x.req_text(el, "Component"),
            severity=x.req_text(el, "Severity"),
            clear_time=x.datetime_of(x.require_local(el, "ClearTime")),
        )


def state_reasons_from(
    el: etree._Element, allowed: tuple[str, ...], outer: str, inner: str
) -> tuple[str, ...]:
    values = _values(el, outer, inner)
    for v in values:
        x.check_token(v, allowed, inner)
    return values


def build_reasons(parent: etree._Element, outer: str, inner: str, values: tuple[str, ...]) -> None:
    _sub_values(parent, outer, inner, values)


@dataclass(frozen=True)
class ScannerStatus:
    scanner_state: str
    scanner_current_time: datetime | None = None
    active_conditions: tuple[DeviceCondition, ...] = ()
    scanner_state_reasons: tuple[str, ...] = ()
    condition_history: tuple[ConditionHistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        x.check_token(self.scanner_state, SCANNER_STATES, "ScannerState")
        for r in self.scanner_state_reasons:
            x.check_token(r, SCANNER_STATE_REASONS, "ScannerStateReason")

    def to_element(self, tag: str = qn(WSCN, "ScannerStatus")) -> etree._Element:
        el = x.new_wscn(tag)
        x.sub_datetime(el, "ScannerCurrentTime", self.scanner_current_time)
        x.sub_local(el, "ScannerState", self.scanner_state)
        if self.active_conditions:
            ac = x.sub_local(el, "ActiveConditions")
            for c in self.active_conditions:
                ac.append(c.to_element())
        build_reasons(el, "ScannerStateReasons", "ScannerStateReason", self.scanner_state_reasons)
        if self.condition_history:
            ch = x.sub_local(el, "ConditionHistory")
            for entry in self.condition_history:
                entry.build(ch)
        return el

    @classmethod
    def from_element(cls, el: etree._Element) -> ScannerStatus:
        ac = x.child_local(el, "ActiveConditions")
        ch = x.child_local(el, "ConditionHistory")
        return cls(
            scanner_current_time=x.opt_datetime(el, "ScannerCurrentTime"),
            scanner_state=x.req_text(el, "ScannerState"),
            active_conditions=()
            if ac is None
            else tuple(DeviceCondition.from_element(c) for c in x.children_local(ac, "DeviceCondition")),
            scanner_state_reasons=state_reasons_from(
                el, SCANNER_STATE_REASONS, "ScannerStateReasons", "ScannerStateReason"
            ),
            condition_history=()
            if ch is None
            else tuple(
                ConditionHistoryEntry.from_element(c) for c in x.children_local(ch, "ConditionHistoryEntry")
            ),
        )


DEFAULT_SCAN_TICKET_TAG = qn(WSCN, "DefaultScanTicket")


def default_scan_ticket_to_element(ticket: ScanTicket) -> etree._Element:
    return ticket.to_element(DEFAULT_SCAN_TICKET_TAG)


# The scanner sections by their element name, for GetScannerElements and ElementChanges.
ScannerElement = ScannerDescription | ScannerConfiguration | ScannerStatus | ScanTicket
SCANNER_ELEMENT_NAMES: dict[str, str] = {
    "ScannerDescription": qn(WSCN, "ScannerDescription"),
    "ScannerConfiguration": qn(WSCN, "ScannerConfiguration"),
    "ScannerStatus": qn(WSCN, "ScannerStatus"),
    "DefaultScanTicket": DEFAULT_SCAN_TICKET_TAG,
}


def scanner_element_to_element(value: ScannerElement) -> etree._Element:
    if isinstance(value, ScanTicket):
        return value.to_element(DEFAULT_SCAN_TICKET_TAG)
    return value.to_element()


def scanner_element_from_element(el: etree._Element) -> ScannerElement | None:
    """Parse one scanner section by its tag; ``None`` for a vendor section we do not know."""
    tag = el.tag
    if tag == qn(WSCN, "ScannerDescription"):
        return ScannerDescription.from_element(el)
    if tag == qn(WSCN, "ScannerConfiguration"):
        return ScannerConfiguration.from_element(el)
    if tag == qn(WSCN, "ScannerStatus"):
        return ScannerStatus.from_element(el)
    if tag == DEFAULT_SCAN_TICKET_TAG:
        return ScanTicket.from_element(el)
    return None
