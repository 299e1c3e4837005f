"""Forms of the scan-process editor's general and post-scan settings, the publish/unpublish/delete
confirmation and the PSP import.

The ScanTicket form is in ``smc.forms.ticket``, the destination rows in ``smc.forms.destinations``.
"""

from __future__ import annotations

from typing import Any

from django import forms

from devices.models import DeviceGroup, ScanServer
from devices.protocols import psp
from scanprocesses import naming
from scanprocesses.models import OutputFormat, ScanProcess


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


class ConfirmForm(forms.Form):
    comment = forms.CharField(required=False, max_length=500, widget=forms.TextInput)


class ImportForm(forms.Form):
    file = forms.FileField(label="PSP XML file")
    display_name = forms.CharField(required=False, max_length=255, help_text="default: the ticket's JobName")
