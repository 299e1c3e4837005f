"""The destination rows of the scan-process editor: one form per destination and their formset.

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

from devices.protocols import psp
from scanprocesses.authoring import DestinationSpec
from scanprocesses.models import ProcessDestination


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


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
