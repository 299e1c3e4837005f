"""Forms of the scan-process editor: general and post-scan settings, the ScanTicket, destinations.

Sizes are entered in millimetres or inches and stored in 1/1000 inch (PROTOCOL.md §3.3).
Credentials are write-only: a password field is never filled back; left blank it keeps the
stored (sealed) credential.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.forms import formset_factory

from devices.models import DeviceGroup, ScanServer
from devices.protocols import psp
from scanprocesses import naming
from scanprocesses.authoring import DestinationSpec
from scanprocesses.models import OutputFormat, ProcessDestination, ScanProcess

# The ticket form and unit helpers live in forms_ticket; re-exported for existing imports.
from smc.forms_ticket import PAPER_SIZES as PAPER_SIZES
from smc.forms_ticket import TicketForm as TicketForm
from smc.forms_ticket import from_thou as from_thou
from smc.forms_ticket import size_text as size_text
from smc.forms_ticket import to_thou as to_thou


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
        from directory.backends import get_directory
        from directory.base import DirectoryError

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
        from core.audit import ACTIONS

        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = [("", "any")] + [(a, a) for a in ACTIONS]
