"""The destination rows of the scan-process editor: one form per destination and their formset.

The kind-specific fields, their initial values and their validation are the destination kinds'
own (:mod:`scanprocesses.destinations`, ``FIELDS``, ``initial``, ``clean_config``): this form only
offers every kind's fields at once and keeps what all kinds share (the credential, the row's id).
A kind's validation error is shown next to its field.

Credentials are write-only: a password field is never filled back; left blank it keeps the
stored (sealed) credential.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import formset_factory

from scanprocesses import destinations
from scanprocesses.authoring import DestinationSpec
from scanprocesses.models import ProcessDestination


class DestinationForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "choose…"), *destinations.CHOICES], required=False)
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
        # Fresh copies per form, so a form may change its own (the placeholder below) safely.
        kind_fields = destinations.form_fields()
        self.fields.update(kind_fields)
        self.order_fields(["kind", *kind_fields])
        self.has_secret = has_secret or bool(self.initial.get("has_secret"))
        if self.has_secret:
            self.fields["password"].widget.attrs["placeholder"] = "unchanged"

    @staticmethod
    def initial_for(d: ProcessDestination) -> dict[str, Any]:
        return {
            **destinations.get(d.kind).initial(d.config or {}),
            "kind": d.kind,
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
        module = destinations.get(kind)
        # A ValidationError here names its field (``base.invalid``), so it lands next to it.
        config = module.clean_config(data)
        self.spec = DestinationSpec(
            kind=kind,
            config=config,
            username=data.get("username", "") if "username" in module.FIELDS else "",
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
