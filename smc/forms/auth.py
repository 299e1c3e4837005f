"""The sign-in form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    """Sign-in form that shows the directory's reason for a refusal when there is one."""

    username = forms.CharField(
        max_length=256, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"})
    )

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except forms.ValidationError:
            problem = getattr(self.request, "smc_login_problem", None)
            if problem:
                raise forms.ValidationError(problem, code="directory") from None
            raise
