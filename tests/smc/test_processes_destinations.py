"""The editor's destination rows (``smc.forms.destinations``) are built from the destination kinds:
the fields the template reads, each kind's validation message next to its field, the stored
destination shown back and saved again unchanged. No database: the form alone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from scanprocesses import destinations
from scanprocesses.models import ProcessDestination
from smc.forms.destinations import DestinationForm

# The names the editor template and the POST data use for a destination row.
FIELD_NAMES = {
    "kind",
    "targets",
    "my_site",
    "send_to_scan_user",
    "can_add_addresses",
    "username",
    "password",
    "clear_secret",
    "existing_id",
}


def test_the_form_offers_every_field_the_editor_template_reads() -> None:
    form = DestinationForm()
    assert set(form.fields) == FIELD_NAMES
    assert list(form.fields)[:2] == ["kind", "targets"], "the kind, then what it sends to"
    assert form.fields["kind"].choices == [("", "choose…"), *destinations.CHOICES]  # type: ignore[attr-defined]
    template = Path(settings.BASE_DIR, "templates/smc/processes/form.html").read_text()
    row = template[template.index("{% for d in dforms %}") : template.index("{% empty %}")]
    read = set(re.findall(r"\bd\.(\w+)", row)) - {"hidden_fields", "non_field_errors", "has_secret", "DELETE"}
    assert read and read <= FIELD_NAMES, read - FIELD_NAMES


def test_each_form_has_its_own_copies_of_the_kind_fields() -> None:
    one, other = DestinationForm(has_secret=True), DestinationForm()
    assert one.fields["targets"] is not other.fields["targets"]
    assert one.fields["targets"] is not destinations.get("folder").FIELDS["targets"]
    assert one.fields["password"].widget.attrs.get("placeholder") == "unchanged"
    assert "placeholder" not in other.fields["password"].widget.attrs


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "folder", "targets": "scans"}, "absolute path without '..'"),
        ({"kind": "folder", "targets": "/a\n/b"}, "exactly one path"),
        ({"kind": "smb", "targets": "C:\\scans", "username": "svc"}, "is not a UNC path"),
        ({"kind": "smb", "targets": ""}, "at least one UNC path"),
        ({"kind": "email", "targets": "not-an-address"}, "is not an e-mail address"),
        ({"kind": "email", "targets": ""}, "send to the scanning user"),
        ({"kind": "webdav", "targets": "ftp://sp.example.test/x"}, "is not an http(s) URL"),
        ({"kind": "webdav", "targets": ""}, "or choose MySite"),
        ({"kind": "http", "targets": "https://u:p@hooks.example.test/"}, "must not contain credentials"),
        ({"kind": "http", "targets": "hooks.example.test/scan"}, "is not an http(s) URL"),
    ],
)
def test_a_kinds_invalid_input_gets_its_message_on_its_field(data: dict[str, str], message: str) -> None:
    form = DestinationForm(data=data)
    assert not form.is_valid()
    assert list(form.errors) == ["targets"], form.errors
    assert message in form.errors["targets"][0]
    assert not form.non_field_errors()
    assert not hasattr(form, "spec")


def test_a_row_without_a_kind_is_refused_for_the_whole_row() -> None:
    form = DestinationForm(data={"kind": "", "targets": "/srv/scans"})
    assert not form.is_valid()
    assert list(form.errors) == ["__all__"]
    assert "choose what kind" in form.non_field_errors()[0]


def test_a_valid_row_becomes_a_spec_with_the_kinds_config() -> None:
    form = DestinationForm(
        data={"kind": "email", "targets": "a@example.test", "can_add_addresses": "on", "username": "x"}
    )
    assert form.is_valid(), form.errors
    assert form.spec.config == {
        "addresses": ["a@example.test"],
        "send_to_scan_user": False,
        "can_add_addresses": True,
    }
    assert form.spec.username == "", "e-mail has no user name field: a posted one is not kept"


# One stored destination per kind (config as clean_config makes it) with its user name.
STORED: dict[str, tuple[dict[str, Any], str]] = {
    "folder": ({"path": "/srv/scans/team"}, ""),
    "smb": ({"uncs": ["\\\\files\\scans\\in", "\\\\backup\\scans"]}, "CORP\\svc"),
    "email": (
        {"addresses": ["team@example.test"], "send_to_scan_user": True, "can_add_addresses": True},
        "",
    ),
    "webdav": ({"site_urls": ["https://sp.example.test/sites/x/Docs/"], "my_site": True}, "svc"),
    "http": ({"url": "https://hooks.example.test/scan"}, ""),
}


def _posted(initial: dict[str, Any]) -> dict[str, str]:
    """What a browser posts back for an untouched row (unchecked boxes are absent)."""
    out: dict[str, str] = {}
    for name, value in initial.items():
        if name == "has_secret" or value is None or value is False:
            continue
        out[name] = "on" if value is True else str(value)
    return out


def test_every_kind_is_in_the_stored_samples() -> None:
    assert set(STORED) == {k.value for k in destinations.KINDS}


@pytest.mark.parametrize("kind", list(STORED))
def test_a_stored_destination_is_shown_and_saved_back_unchanged(kind: str) -> None:
    config, username = STORED[kind]
    stored = ProcessDestination(pk=7, kind=kind, config=config, username=username, secret="sealed")
    initial = DestinationForm.initial_for(stored)
    assert initial["kind"] == kind and initial["existing_id"] == 7 and initial["has_secret"] is True
    assert "password" not in initial, "a credential is never filled back"
    form = DestinationForm(data=_posted(initial), has_secret=True)
    assert form.is_valid(), form.errors
    spec = form.spec
    assert (spec.kind, spec.config, spec.username) == (kind, config, username)
    assert (spec.password, spec.existing_id, spec.clear) == (None, 7, False), "blank keeps the credential"
