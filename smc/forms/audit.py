"""The audit page's filter form."""

from __future__ import annotations

from typing import Any

from django import forms


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
