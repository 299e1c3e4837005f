"""The ScanTicket editor form: every ticket field of PROTOCOL.md §3.3 (WDD: scanticket.md,
documentparameters.md, mediasides.md, mediafront.md, mediaback.md) and the ``wscn:MustHonor``
attribute (BDSRR §2.2.6.3) on the settings where the spec allows it.

Sizes are entered in millimetres or inches and stored in 1/1000 inch. The back side
(``MediaBack``) is only meaningful for ``InputSource=ADFDuplex``: "same as front" leaves the
element out, and a device then scans the back with the front's settings; otherwise the back gets
its own colour mode, resolution and scan region. A ticket the editor wrote round-trips exactly:
``TicketForm(data from initial_for(t)).ticket == t``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django import forms

from devices.protocols.errors import ProtocolError
from devices.protocols.wsscan import ticket as tk
from scanprocesses.ticketeditor import EditorChoices

MM_PER_INCH = Decimal("25.4")
UNIT_CHOICES = (("mm", "mm"), ("in", "inches"))
PAPER_SIZES: dict[str, tuple[int, int]] = {
    "A4": (8268, 11693),
    "A5": (5827, 8268),
    "A3": (11693, 16535),
    "Letter": (8500, 11000),
    "Legal": (8500, 14000),
}
DEFAULT_ORIGINATOR = "OpenDSM"
FRONT, BACK = "MediaSides/MediaFront", "MediaSides/MediaBack"

# MustHonor checkbox (form field "mh_<key>") -> the ticket element it marks. The spec allows the
# attribute on these settings (PROTOCOL.md §3.3); per side for the resolution and region offsets.
MUST_HONOR: dict[str, str] = {
    "format": "Format",
    "images_to_transfer": "ImagesToTransfer",
    "input_source": "InputSource",
    "film_scan_mode": "FilmScanMode",
    "content_type": "ContentType",
    "exposure_mode": "Exposure",
    "scaling": "Scaling",
    "rotation": "Rotation",
    "resolution": FRONT + "/Resolution",
    "region_x": FRONT + "/ScanRegion/ScanRegionXOffset",
    "region_y": FRONT + "/ScanRegion/ScanRegionYOffset",
    "back_resolution": BACK + "/Resolution",
    "back_region_x": BACK + "/ScanRegion/ScanRegionXOffset",
    "back_region_y": BACK + "/ScanRegion/ScanRegionYOffset",
}
SIZE_FIELDS = ("width", "height", "region_x", "region_y", "region_width", "region_height") + tuple(
    "back_region_" + n for n in ("x", "y", "width", "height")
)


def to_thou(value: Decimal, unit: str) -> int:
    inches = value / MM_PER_INCH if unit == "mm" else value
    return int((inches * 1000).quantize(Decimal("1")))


def from_thou(value: int, unit: str) -> Decimal:
    inches = Decimal(value) / 1000
    return (
        (inches * MM_PER_INCH).quantize(Decimal("0.1")) if unit == "mm" else inches.quantize(Decimal("0.001"))
    )


def size_text(width: int, height: int) -> str:
    """``210.0 × 297.0 mm (8.268 × 11.693 in)`` from 1/1000 inch."""
    return "%s × %s mm (%s × %s in)" % (
        from_thou(width, "mm"),
        from_thou(height, "mm"),
        from_thou(width, "in"),
        from_thou(height, "in"),
    )


def _int(required: bool = False, **kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(required=required, **kwargs)


def _dec(**kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(required=False, min_value=0, max_digits=8, decimal_places=3, **kwargs)


def _dpi(label: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(coerce=int, empty_value=None, required=False, label=label)


def _mh(path: str) -> forms.BooleanField:
    return forms.BooleanField(
        required=False,
        label="must honour",
        help_text="wscn:MustHonor on %s: the device must use this value or refuse the job" % path,
    )


def _present(root: Any, path: str) -> bool:
    """Whether the DocumentParameters element ``root`` has the element at ``path`` (local names)."""
    el = root
    for local in path.split("/"):
        el = next((c for c in el if isinstance(c.tag, str) and c.tag.endswith("}" + local)), None)
        if el is None:
            return False
    return True


class TicketForm(forms.Form):
    """Every ScanTicket field of PROTOCOL.md §3.3; choices limited by :class:`EditorChoices`."""

    job_name = forms.CharField(max_length=255, label="JobName")
    job_originating_user_name = forms.CharField(
        required=False, max_length=255, label="JobOriginatingUserName", initial=DEFAULT_ORIGINATOR
    )
    job_information = forms.CharField(required=False, max_length=255, label="JobInformation")
    format = forms.ChoiceField(required=False, label="Image format")
    compression_quality_factor = _int(min_value=0, max_value=100, label="Compression quality (0-100)")
    images_to_transfer = _int(min_value=0, label="Images to transfer (0 = until the feeder is empty)")
    input_source = forms.ChoiceField(required=False)
    film_scan_mode = forms.ChoiceField(required=False)
    content_type = forms.ChoiceField(required=False)
    size_mode = forms.ChoiceField(
        choices=(("", "Device default"), ("auto", "Auto-detect"), ("size", "Fixed size")), required=False
    )
    paper = forms.ChoiceField(choices=[("", "custom")] + [(k, k) for k in PAPER_SIZES], required=False)
    unit = forms.ChoiceField(choices=UNIT_CHOICES, initial="mm")
    width = _dec(label="Width")
    height = _dec(label="Height")
    exposure_mode = forms.ChoiceField(
        choices=(("", "Device default"), ("auto", "Automatic"), ("manual", "Manual")), required=False
    )
    contrast = _int(min_value=tk.EXPOSURE_RANGE[0], max_value=tk.EXPOSURE_RANGE[1])
    brightness = _int(min_value=tk.EXPOSURE_RANGE[0], max_value=tk.EXPOSURE_RANGE[1])
    sharpness = _int(min_value=tk.SHARPNESS_RANGE[0], max_value=tk.SHARPNESS_RANGE[1])
    scaling_width = _int(
        min_value=tk.SCALING_RANGE[0], max_value=tk.SCALING_RANGE[1], label="Scaling width %"
    )
    scaling_height = _int(
        min_value=tk.SCALING_RANGE[0], max_value=tk.SCALING_RANGE[1], label="Scaling height %"
    )
    rotation = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    # Front side (MediaFront).
    front_color = forms.ChoiceField(required=False, label="Front colour mode")
    resolution = _dpi("Resolution (dpi)")
    resolution_height = _dpi("Vertical dpi, if different")
    region_x = _dec(label="Region X offset")
    region_y = _dec(label="Region Y offset")
    region_width = _dec(label="Region width")
    region_height = _dec(label="Region height")
    # Back side (MediaBack), only for ADFDuplex. Labels avoid repeating the front labels so that
    # a label finds exactly one field.
    # Flags of an imported ticket on elements the checkboxes do not cover (e.g. InputSize or
    # UsedDefault): carried through unchanged so that saving does not drop them.
    kept_flags = forms.CharField(required=False, widget=forms.HiddenInput)
    back_same = forms.BooleanField(required=False, initial=True, label="Back side same as front")
    back_color = forms.ChoiceField(required=False, label="Back colour mode (duplex)")
    back_resolution = _dpi("Back side dpi")
    back_resolution_height = _dpi("Back side vertical dpi, if different")
    back_region_x = _dec(label="Back X offset")
    back_region_y = _dec(label="Back Y offset")
    back_region_width = _dec(label="Back width")
    back_region_height = _dec(label="Back height")

    def __init__(self, *args: Any, choices: EditorChoices | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "t")
        super().__init__(*args, **kwargs)
        for key, path in MUST_HONOR.items():
            self.fields["mh_" + key] = _mh(path)
        c = choices or EditorChoices()
        self.editor_choices = c
        default = [("", "Device default")]

        def opts(values: tuple[Any, ...]) -> list[tuple[Any, Any]]:
            return default + [(v, v) for v in values]

        dpi = default + [(r, "%d dpi" % r) for r in c.resolutions]
        same = [("", "Same as horizontal")] + dpi[1:]
        menus: dict[str, list[tuple[Any, Any]]] = {
            "format": opts(c.formats),
            "input_source": opts(c.input_sources),
            "film_scan_mode": opts(c.film_scan_modes),
            "content_type": opts(c.content_types),
            "rotation": default + [(r, "%d°" % r) for r in c.rotations],
            "front_color": opts(c.colors),
            "back_color": opts(c.colors),
            "resolution": dpi,
            "resolution_height": same,
            "back_resolution": dpi,
            "back_resolution_height": same,
        }
        for name, menu in menus.items():
            menu_field = self.fields[name]
            assert isinstance(menu_field, forms.ChoiceField)
            menu_field.choices = menu

    # -- ticket -> form ------------------------------------------------------------------

    @staticmethod
    def initial_for(ticket: tk.ScanTicket, unit: str = "mm") -> dict[str, Any]:
        dp = ticket.document_parameters or tk.DocumentParameters()
        jd = ticket.job_description
        values: dict[str, Any] = {
            "job_name": jd.job_name,
            "job_originating_user_name": jd.job_originating_user_name,
            "job_information": jd.job_information or "",
            "format": dp.format or "",
            "compression_quality_factor": dp.compression_quality_factor,
            "images_to_transfer": dp.images_to_transfer,
            "input_source": dp.input_source or "",
            "film_scan_mode": dp.film_scan_mode or "",
            "content_type": dp.content_type or "",
            "rotation": dp.rotation,
        }
        sizes: dict[str, int | None] = {}
        if dp.input_size is not None:
            if dp.input_size.input_media_size is not None:
                size = dp.input_size.input_media_size
                values["size_mode"] = "size"
                sizes.update(width=size.width, height=size.height)
                for name, (w, h) in PAPER_SIZES.items():
                    if (w, h) == (size.width, size.height):
                        values["paper"] = name
            elif dp.input_size.document_size_auto_detect:
                values["size_mode"] = "auto"
        if dp.exposure is not None:
            if dp.exposure.auto_exposure:
                values["exposure_mode"] = "auto"
            elif dp.exposure.settings is not None:
                s = dp.exposure.settings
                values.update(
                    exposure_mode="manual",
                    contrast=s.contrast,
                    brightness=s.brightness,
                    sharpness=s.sharpness,
                )
        if dp.scaling is not None:
            values.update(scaling_width=dp.scaling.width, scaling_height=dp.scaling.height)
        back = dp.media_sides.back if dp.media_sides is not None else None
        values["back_same"] = back is None
        for prefix, side in (("", dp.front), ("back_", back or tk.MediaSide())):
            values[prefix + ("front_color" if not prefix else "color")] = side.color_processing or ""
            values[prefix + "resolution"] = side.resolution.width if side.resolution else None
            values[prefix + "resolution_height"] = side.resolution.height if side.resolution else None
            r = side.scan_region
            if r is not None:
                sizes.update(
                    {
                        prefix + "region_x": r.x_offset,
                        prefix + "region_y": r.y_offset,
                        prefix + "region_width": r.width,
                        prefix + "region_height": r.height,
                    }
                )
        # Millimetres at 0.1 mm are shown when they give back the same 1/1000 inch; otherwise
        # inches (exact at 0.001 in), so that saving an unchanged form never moves a size.
        known = [v for v in sizes.values() if v is not None]
        if unit == "mm" and any(to_thou(from_thou(v, "mm"), "mm") != v for v in known):
            unit = "in"
        values["unit"] = unit
        values.update({k: None if v is None else from_thou(v, unit) for k, v in sizes.items()})
        for key, path in MUST_HONOR.items():
            values["mh_" + key] = dp.must_honor(path)
        covered = set(MUST_HONOR.values())
        kept = [
            [path, f.must_honor, f.used_default, f.override] for path, f in dp.flags if path not in covered
        ]
        values["kept_flags"] = json.dumps(kept) if kept else ""
        return values

    def clean_kept_flags(self) -> list[tuple[str, tk.Flags]]:
        text = self.cleaned_data.get("kept_flags") or ""
        if not text:
            return []
        try:
            rows = json.loads(text)
            out = []
            for path, *values in rows:
                if path not in tk.FLAG_PATHS or len(values) != 3:
                    raise ValueError(path)
                if any(v is not None and not isinstance(v, bool) for v in values):
                    raise ValueError(path)
                out.append((path, tk.Flags(*values)))
        except (ValueError, TypeError) as exc:
            raise forms.ValidationError("the carried-over ticket flags are unreadable (%s)" % exc) from None
        return out

    # -- form -> ticket ------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.ticket = self._build(data)
        except (ProtocolError, ValueError) as exc:
            raise forms.ValidationError("the scan ticket is not valid: %s" % exc) from None
        return data

    def _side(self, d: dict[str, Any], prefix: str) -> tk.MediaSide:
        unit = d.get("unit") or "mm"
        where = "the back side's" if prefix else "the"

        def thou(name: str) -> int | None:
            value = d.get(prefix + name)
            return None if value is None else to_thou(value, unit)

        region = None
        names = ("region_x", "region_y", "region_width", "region_height")
        if any(d.get(prefix + n) is not None for n in names):
            rw, rh = thou("region_width"), thou("region_height")
            if not rw or not rh:
                self.add_error(prefix + "region_width", "a scan region needs a width and a height above 0")
                raise ValueError("%s scan region needs a width and a height" % where)
            region = tk.ScanRegion(width=rw, height=rh, x_offset=thou("region_x"), y_offset=thou("region_y"))
        resolution = None
        if d.get(prefix + "resolution"):
            resolution = tk.Resolution(d[prefix + "resolution"], d.get(prefix + "resolution_height"))
        elif d.get(prefix + "resolution_height"):
            self.add_error(prefix + "resolution_height", "choose the horizontal resolution as well")
            raise ValueError("%s vertical resolution needs a horizontal resolution" % where)
        color = d.get("back_color" if prefix else "front_color") or None
        return tk.MediaSide(scan_region=region, color_processing=color, resolution=resolution)

    def _build(self, d: dict[str, Any]) -> tk.ScanTicket:
        unit = d.get("unit") or "mm"
        input_size = None
        if d.get("size_mode") == "auto":
            input_size = tk.InputSize(document_size_auto_detect=True)
        elif d.get("size_mode") == "size":
            if d.get("paper"):
                w, h = PAPER_SIZES[d["paper"]]
            else:
                w_ = None if d.get("width") is None else to_thou(d["width"], unit)
                h_ = None if d.get("height") is None else to_thou(d["height"], unit)
                if not w_ or not h_:
                    self.add_error("width", "give a width and a height, or choose a paper size")
                    raise ValueError("the input size needs a width and a height")
                w, h = w_, h_
            input_size = tk.InputSize(document_size_auto_detect=False, input_media_size=tk.Size(w, h))
        exposure = None
        if d.get("exposure_mode") == "auto":
            exposure = tk.Exposure(auto_exposure=True)
        elif d.get("exposure_mode") == "manual":
            exposure = tk.Exposure(
                settings=tk.ExposureSettings(
                    contrast=d.get("contrast"), brightness=d.get("brightness"), sharpness=d.get("sharpness")
                )
            )
        scaling = None
        if d.get("scaling_width") is not None or d.get("scaling_height") is not None:
            scaling = tk.Scaling(width=d.get("scaling_width") or 100, height=d.get("scaling_height") or 100)
        front = self._side(d, "")
        back = None
        if d.get("input_source") == "ADFDuplex" and not d.get("back_same"):
            back = self._side(d, "back_")
        sides = None
        if front != tk.MediaSide() or back is not None:
            sides = tk.MediaSides(front=front, back=back)
        if d.get("film_scan_mode") and d.get("input_source") != "Film":
            self.add_error("film_scan_mode", "FilmScanMode only applies when the input source is Film")
            raise ValueError("FilmScanMode only applies to the Film input source")
        # Back-side checkboxes count only when the back side is sent (they are hidden otherwise).
        wanted = {
            key: path
            for key, path in MUST_HONOR.items()
            if d.get("mh_" + key) and (back is not None or not path.startswith(BACK))
        }
        flags = tuple((path, tk.Flags(must_honor=True)) for path in wanted.values())
        dp = tk.DocumentParameters(
            format=d.get("format") or None,
            compression_quality_factor=d.get("compression_quality_factor"),
            images_to_transfer=d.get("images_to_transfer"),
            input_source=d.get("input_source") or None,
            film_scan_mode=d.get("film_scan_mode") or None,
            content_type=d.get("content_type") or None,
            input_size=input_size,
            exposure=exposure,
            scaling=scaling,
            rotation=d.get("rotation"),
            media_sides=sides,
            flags=flags,
        )
        # A flag on an element that is not sent would silently vanish: say so instead.
        root = dp.to_element()
        for key, path in wanted.items():
            if not _present(root, path):
                self.add_error("mh_" + key, "MustHonor needs a value: this setting is left to the device")
                raise ValueError("MustHonor is set on %s, which has no value" % path)
        for path, kept in d.get("kept_flags") or []:
            if _present(root, path):  # a setting the user removed takes its flags with it
                dp = dp.with_flag(
                    path, must_honor=kept.must_honor, used_default=kept.used_default, override=kept.override
                )
        return tk.ScanTicket(
            job_description=tk.JobDescription(
                d["job_name"],
                d.get("job_originating_user_name") or DEFAULT_ORIGINATOR,
                d.get("job_information") or None,
            ),
            document_parameters=dp,
        )
