"""Forms of the scan-process editor: general and post-scan settings, the ScanTicket, destinations.

Sizes are entered in millimetres or inches and stored in 1/1000 inch (PROTOCOL.md §3.3).
Credentials are write-only: a password field is never filled back; left blank it keeps the
stored (sealed) credential.
"""

from __future__ import annotations

import posixpath
import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.forms import formset_factory

from devices.models import DeviceGroup
from devices.protocols import psp
from devices.protocols.errors import ProtocolError
from devices.protocols.wsscan import ticket as tk
from scanserver import naming
from scanserver.models import ScanServer
from smc.models import OutputFormat, ProcessDestination, ScanProcess
from smc.scanprocesses import DestinationSpec
from smc.ticketeditor import EditorChoices

MM_PER_INCH = Decimal("25.4")
UNIT_CHOICES = (("mm", "mm"), ("in", "inches"))
PAPER_SIZES: dict[str, tuple[int, int]] = {
    "A4": (8268, 11693),
    "A5": (5827, 8268),
    "A3": (11693, 16535),
    "Letter": (8500, 11000),
    "Legal": (8500, 14000),
}


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


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ProcessForm(forms.Form):
    display_name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scan_server = forms.ModelChoiceField(
        queryset=ScanServer.objects.all(), required=False, empty_label="(choose before publishing)"
    )
    document_root_name = forms.CharField(max_length=255, label="DocumentRootName")
    naming_template = forms.CharField(max_length=naming.MAX_TEMPLATE)
    output_format = forms.ChoiceField(choices=OutputFormat.choices)
    ocr = forms.BooleanField(required=False, label="Make the text searchable (OCR)")
    continue_on_error = forms.BooleanField(
        required=False, label="ContinueOnError (keep delivering after a failure)"
    )
    allow_device_file_name_change = forms.BooleanField(required=False, label="User may change the file name")
    allow_device_file_path_change = forms.BooleanField(required=False, label="User may change the share path")
    allowed_groups = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="one directory group per line; search below to add",
    )
    allowed_device_groups = forms.ModelMultipleChoiceField(
        queryset=DeviceGroup.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    locked_settings = forms.MultipleChoiceField(
        choices=[(s, s) for s in psp.LOCKABLE_SETTINGS], required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, process: ScanProcess | None = None, **kwargs: Any) -> None:
        self.process = process
        if process is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = self.initial_for(process)
        super().__init__(*args, **kwargs)
        self.fields["naming_template"].widget.attrs["data-naming-template"] = "1"

    @staticmethod
    def initial_for(process: ScanProcess) -> dict[str, Any]:
        values = {f: getattr(process, f) for f in ProcessForm.base_fields if hasattr(process, f)}
        values["allowed_groups"] = "\n".join(process.allowed_groups or [])
        values["scan_server"] = process.scan_server_id
        values["allowed_device_groups"] = (
            list(process.allowed_device_groups.values_list("pk", flat=True)) if process.pk else []
        )
        return values

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        others = ScanProcess.objects.filter(display_name=name)
        if self.process is not None and self.process.pk:
            others = others.exclude(pk=self.process.pk)
        if others.exists():
            raise forms.ValidationError("another scan process is already called %r" % name)
        return name

    def clean_naming_template(self) -> str:
        template = self.cleaned_data["naming_template"]
        problems = naming.validate_template(template)
        if problems:
            raise forms.ValidationError(problems)
        return template

    def clean_allowed_groups(self) -> list[str]:
        from smc.directory import DirectoryError, get_directory

        groups = list(dict.fromkeys(_lines(self.cleaned_data.get("allowed_groups", ""))))
        if not groups:
            return []
        try:
            directory = get_directory()
            unknown = [g for g in groups if not directory.group_exists(g)]
        except DirectoryError as exc:
            raise forms.ValidationError("the directory cannot be asked: %s" % exc) from None
        if unknown:
            raise forms.ValidationError("unknown group: %s" % ", ".join(unknown))
        return groups

    def apply(self, process: ScanProcess) -> None:
        data = self.cleaned_data
        for name in (
            "display_name",
            "description",
            "scan_server",
            "document_root_name",
            "naming_template",
            "output_format",
            "ocr",
            "continue_on_error",
            "allow_device_file_name_change",
            "allow_device_file_path_change",
            "allowed_groups",
        ):
            setattr(process, name, data[name])
        process.locked_settings = [s for s in psp.LOCKABLE_SETTINGS if s in data["locked_settings"]]


def _int(required: bool = False, **kwargs: Any) -> forms.IntegerField:
    return forms.IntegerField(required=required, **kwargs)


def _dec(**kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(required=False, min_value=0, max_digits=8, decimal_places=3, **kwargs)


class TicketForm(forms.Form):
    """Every ScanTicket field of PROTOCOL.md §3.3; choices limited by :class:`EditorChoices`."""

    job_name = forms.CharField(max_length=255, label="JobName")
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
    front_color = forms.ChoiceField(required=False, label="Front colour mode")
    back_color = forms.ChoiceField(required=False, label="Back colour mode (duplex)")
    resolution = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label="Resolution (dpi)"
    )
    region_x = _dec(label="Region X offset")
    region_y = _dec(label="Region Y offset")
    region_width = _dec(label="Region width")
    region_height = _dec(label="Region height")

    def __init__(self, *args: Any, choices: EditorChoices | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "t")
        super().__init__(*args, **kwargs)
        c = choices or EditorChoices()
        self.editor_choices = c
        default = [("", "Device default")]

        def opts(values: tuple[Any, ...]) -> list[tuple[Any, Any]]:
            return default + [(v, v) for v in values]

        menus: dict[str, list[tuple[Any, Any]]] = {
            "format": opts(c.formats),
            "input_source": opts(c.input_sources),
            "film_scan_mode": opts(c.film_scan_modes),
            "content_type": opts(c.content_types),
            "rotation": default + [(r, "%d°" % r) for r in c.rotations],
            "front_color": opts(c.colors),
            "back_color": opts(c.colors),
            "resolution": default + [(r, "%d dpi" % r) for r in c.resolutions],
        }
        for name, menu in menus.items():
            menu_field = self.fields[name]
            assert isinstance(menu_field, forms.ChoiceField)
            menu_field.choices = menu

    @staticmethod
    def initial_for(ticket: tk.ScanTicket, unit: str = "mm") -> dict[str, Any]:
        dp = ticket.document_parameters or tk.DocumentParameters()
        values: dict[str, Any] = {
            "job_name": ticket.job_description.job_name,
            "format": dp.format or "",
            "compression_quality_factor": dp.compression_quality_factor,
            "images_to_transfer": dp.images_to_transfer,
            "input_source": dp.input_source or "",
            "film_scan_mode": dp.film_scan_mode or "",
            "content_type": dp.content_type or "",
            "rotation": dp.rotation,
            "unit": unit,
        }
        if dp.input_size is not None:
            if dp.input_size.input_media_size is not None:
                size = dp.input_size.input_media_size
                values.update(
                    size_mode="size", width=from_thou(size.width, unit), height=from_thou(size.height, unit)
                )
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
        front = dp.front
        values["front_color"] = front.color_processing or ""
        values["resolution"] = front.resolution.width if front.resolution else None
        if front.scan_region is not None:
            r = front.scan_region
            values.update(
                region_x=from_thou(r.x_offset or 0, unit),
                region_y=from_thou(r.y_offset or 0, unit),
                region_width=from_thou(r.width, unit),
                region_height=from_thou(r.height, unit),
            )
        if dp.media_sides is not None and dp.media_sides.back is not None:
            values["back_color"] = dp.media_sides.back.color_processing or ""
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.ticket = self._build(data)
        except (ProtocolError, ValueError) as exc:
            raise forms.ValidationError("the scan ticket is not valid: %s" % exc) from None
        return data

    def _build(self, d: dict[str, Any]) -> tk.ScanTicket:
        unit = d.get("unit") or "mm"

        def thou(name: str) -> int | None:
            value = d.get(name)
            return None if value is None else to_thou(value, unit)

        input_size = None
        if d.get("size_mode") == "auto":
            input_size = tk.InputSize(document_size_auto_detect=True)
        elif d.get("size_mode") == "size":
            if d.get("paper"):
                w, h = PAPER_SIZES[d["paper"]]
            else:
                w_, h_ = thou("width"), thou("height")
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
        region = None
        if d.get("region_width") is not None or d.get("region_height") is not None:
            rw, rh = thou("region_width"), thou("region_height")
            if not rw or not rh:
                self.add_error("region_width", "a scan region needs a width and a height")
                raise ValueError("the scan region needs a width and a height")
            region = tk.ScanRegion(width=rw, height=rh, x_offset=thou("region_x"), y_offset=thou("region_y"))
        resolution = tk.Resolution(d["resolution"]) if d.get("resolution") else None
        front = tk.MediaSide(
            scan_region=region, color_processing=d.get("front_color") or None, resolution=resolution
        )
        back = None
        if d.get("back_color"):
            back = tk.MediaSide(scan_region=region, color_processing=d["back_color"], resolution=resolution)
        sides = None
        if front != tk.MediaSide() or back is not None:
            sides = tk.MediaSides(front=front, back=back)
        if d.get("film_scan_mode") and d.get("input_source") != "Film":
            self.add_error("film_scan_mode", "FilmScanMode only applies when the input source is Film")
            raise ValueError("FilmScanMode only applies to the Film input source")
        return tk.ScanTicket(
            job_description=tk.JobDescription(d["job_name"], "OpenDSM"),
            document_parameters=tk.DocumentParameters(
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
            ),
        )


_UNC = re.compile(r"^\\\\[^\\/:*?\"<>|]+\\[^\\/:*?\"<>|]+(\\[^\\/:*?\"<>|]+)*\\?$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def _check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise forms.ValidationError("%s %r is not an http(s) URL" % (what, url))
    if parts.username or parts.password:
        raise forms.ValidationError(
            "%s must not contain credentials: use the user name and password fields" % what
        )


class DestinationForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "choose…"), *ProcessDestination.KINDS], required=False)
    targets = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Targets",
        help_text="share UNCs, site URLs or addresses (one per line), a folder path, or a webhook URL",
    )
    my_site = forms.BooleanField(required=False, label="Save to the user's MySite")
    send_to_scan_user = forms.BooleanField(required=False, label="Send to the scanning user")
    can_add_addresses = forms.BooleanField(required=False, label="User may add addresses")
    username = forms.CharField(required=False, max_length=255, label="User name")
    password = forms.CharField(
        required=False,
        max_length=1024,
        label="Password or token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the stored credential")
    existing_id = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, has_secret: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret or bool(self.initial.get("has_secret"))
        if self.has_secret:
            self.fields["password"].widget.attrs["placeholder"] = "unchanged"

    @staticmethod
    def initial_for(d: ProcessDestination) -> dict[str, Any]:
        c = d.config or {}
        targets = {
            "smb": "\n".join(c.get("uncs", [])),
            "webdav": "\n".join(c.get("site_urls", [])),
            "email": "\n".join(c.get("addresses", [])),
            "folder": c.get("path", ""),
            "http": c.get("url", ""),
        }.get(d.kind, "")
        return {
            "kind": d.kind,
            "targets": targets,
            "my_site": bool(c.get("my_site")),
            "send_to_scan_user": bool(c.get("send_to_scan_user")),
            "can_add_addresses": bool(c.get("can_add_addresses")),
            "username": d.username,
            "existing_id": d.pk,
            "has_secret": bool(d.secret),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or data.get("DELETE"):
            return data
        kind = data.get("kind")
        if not kind:
            raise forms.ValidationError("choose what kind of destination this is")
        lines = _lines(data.get("targets", ""))
        config: dict[str, Any]
        if kind == "smb":
            if not lines:
                raise forms.ValidationError("a file share destination needs at least one UNC path")
            for unc in lines:
                if not _UNC.match(unc) or "\\..\\" in unc + "\\" or unc.endswith("\\.."):
                    raise forms.ValidationError("%r is not a UNC path like \\\\server\\share\\folder" % unc)
                if len(unc) > psp.MAX_STRING:
                    raise forms.ValidationError("UNC path longer than %d characters" % psp.MAX_STRING)
            config = {"uncs": lines}
        elif kind == "webdav":
            for url in lines:
                _check_url(url, "site URL")
            if not lines and not data.get("my_site"):
                raise forms.ValidationError("give a SharePoint site URL or choose MySite")
            config = {"site_urls": lines, "my_site": bool(data.get("my_site"))}
        elif kind == "email":
            for address in lines:
                if not _EMAIL.match(address):
                    raise forms.ValidationError("%r is not an e-mail address" % address)
            if not lines and not data.get("send_to_scan_user"):
                raise forms.ValidationError("give an address or send to the scanning user")
            config = {
                "addresses": lines,
                "send_to_scan_user": bool(data.get("send_to_scan_user")),
                "can_add_addresses": bool(data.get("can_add_addresses")),
            }
        elif kind == "folder":
            if len(lines) != 1:
                raise forms.ValidationError("a local folder destination needs exactly one path")
            path = lines[0]
            if not path.startswith("/") or ".." in path.split("/") or "\x00" in path:
                raise forms.ValidationError("the folder must be an absolute path without '..'")
            config = {"path": posixpath.normpath(path)}
        else:
            if len(lines) != 1:
                raise forms.ValidationError("an HTTP destination needs exactly one URL")
            _check_url(lines[0], "webhook URL")
            config = {"url": lines[0]}
        self.spec = DestinationSpec(
            kind=kind,
            config=config,
            username=data.get("username", "") if kind in ("smb", "webdav") else "",
            password=data.get("password") or None,
            existing_id=data.get("existing_id"),
            clear=bool(data.get("clear_secret")),
        )
        return data


class BaseDestinationFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        if index is not None and self.initial and index < len(self.initial):
            kwargs["has_secret"] = bool(self.initial[index].get("has_secret"))
        return kwargs

    def specs(self) -> list[DestinationSpec]:
        """The kept rows in order; blank added rows are skipped."""
        out = []
        for form in self.forms:
            if getattr(form, "cleaned_data", {}).get("DELETE") or not hasattr(form, "spec"):
                continue
            out.append(form.spec)
        return out


DestinationFormSet = formset_factory(
    DestinationForm, formset=BaseDestinationFormSet, extra=0, can_delete=True
)


class ConfirmForm(forms.Form):
    comment = forms.CharField(required=False, max_length=500, widget=forms.TextInput)


class ImportForm(forms.Form):
    file = forms.FileField(label="PSP XML file")
    display_name = forms.CharField(required=False, max_length=255, help_text="default: the ticket's JobName")


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, label="User")
    object_type = forms.CharField(required=False, label="Object type")
    object_id = forms.CharField(required=False, label="Object id")
    action = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from smc.audit import ACTIONS

        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = [("", "any")] + [(a, a) for a in ACTIONS]
