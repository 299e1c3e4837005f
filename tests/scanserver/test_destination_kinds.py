"""The destination registry is the one list of kinds, and each kind module is a whole slice:
form fields and validation, the PSP filter mapping, device overrides, texts, delivery, test write.

(The deliveries and test writes against real servers are in test_destinations.py and
test_e2e_destinations.py; these tests need no server and no database.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured, ValidationError

from core.env import Env
from core.testhooks import test_pause as pause
from devices.protocols import psp, xmlsafe
from scanprocesses import destinations
from scanprocesses.destinations import Credentials, DeliveryError, folder, http
from scanprocesses.models import ProcessDestination
from scanserver.models import Delivery

# One valid config per kind, as its clean_config makes it from the form data beside it.
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "folder": ({"targets": "/srv/scans/team/"}, {"path": "/srv/scans/team"}),
    "smb": (
        {"targets": "\\\\files\\scans\\in\n\\\\backup\\scans", "username": "CORP\\svc"},
        {"uncs": ["\\\\files\\scans\\in", "\\\\backup\\scans"]},
    ),
    "email": (
        {"targets": "team@example.test\n\nboss@example.test", "send_to_scan_user": True},
        {
            "addresses": ["team@example.test", "boss@example.test"],
            "send_to_scan_user": True,
            "can_add_addresses": False,
        },
    ),
    "webdav": (
        {"targets": "https://sp.example.test/sites/x/Docs/", "my_site": False},
        {"site_urls": ["https://sp.example.test/sites/x/Docs/"], "my_site": False},
    ),
    "http": ({"targets": "https://hooks.example.test/scan"}, {"url": "https://hooks.example.test/scan"}),
}


# --------------------------------------------------------------------------- the one list


def test_the_registry_is_the_one_list_of_kinds() -> None:
    values = [k.value for k in destinations.KINDS]
    assert values == ["folder", "smb", "email", "webdav", "http"]
    assert len(set(values)) == len(values)
    assert destinations.CHOICES == tuple((k.value, k.label) for k in destinations.KINDS)
    # Both model fields offer exactly the registry's kinds, with its labels, in its order.
    assert ProcessDestination.KINDS == destinations.CHOICES
    assert ProcessDestination._meta.get_field("kind").choices == list(destinations.CHOICES)
    assert Delivery._meta.get_field("kind").choices == list(destinations.CHOICES)
    assert set(SAMPLES) == set(values), "every kind has a sample in this file"


def test_every_kind_module_in_the_package_is_registered() -> None:
    package = Path(destinations.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "base"}
    assert modules == {k.module_name.rpartition(".")[2] for k in destinations.KINDS}


@pytest.mark.parametrize("kind", [k.value for k in destinations.KINDS])
def test_every_kind_has_all_the_parts(kind: str) -> None:
    module = destinations.get(kind)
    assert isinstance(module, destinations.KindModule), "missing parts: %s" % [
        name
        for name in ("DIALECT", "NEEDS_CREDENTIAL", "SERIAL_TESTS", "FIELDS", "initial", "clean_config")
        + ("to_filter", "from_filter", "apply_instructions", "target_text", "describe")
        + ("deliver", "test_write")
        if not hasattr(module, name)
    ]
    assert destinations.TARGETS in module.FIELDS
    assert all(isinstance(f, forms.Field) for f in module.FIELDS.values())


def test_the_dialects_map_to_one_kind_each() -> None:
    dialects = [destinations.get(k.value).DIALECT for k in destinations.KINDS]
    assert sorted(dialects) == sorted(
        {
            psp.DIALECT_FILESHARE,
            psp.DIALECT_SHAREPOINT,
            psp.DIALECT_EMAIL,
            psp.DIALECT_FOLDER,
            psp.DIALECT_HTTP,
        }
    )


def test_an_unknown_kind_is_a_permanent_error() -> None:
    with pytest.raises(DeliveryError) as caught:
        destinations.get("ftp")
    assert caught.value.reason == destinations.INVALID_ARGS and not caught.value.retryable
    assert destinations.label("ftp") == "ftp"
    assert destinations.label("smb") == "File share (SMB)"


# --------------------------------------------------------------------------- form fields and validation


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_clean_config_and_initial_are_inverse(kind: str) -> None:
    data, config = SAMPLES[kind]
    module = destinations.get(kind)
    assert module.clean_config(data) == config
    shown = module.initial(config)
    assert set(shown) <= set(module.FIELDS)
    assert module.clean_config({**data, **shown}) == config


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("folder", {"targets": "scans"}, "absolute path without '..'"),
        ("folder", {"targets": "/srv/../etc"}, "absolute path without '..'"),
        ("folder", {"targets": "/a\n/b"}, "exactly one path"),
        ("smb", {"targets": ""}, "at least one UNC path"),
        ("smb", {"targets": "//files/scans"}, "is not a UNC path"),
        ("smb", {"targets": "\\\\files\\scans\\..\\x"}, "is not a UNC path"),
        ("smb", {"targets": "\\\\files\\" + "x" * 300}, "longer than"),
        ("email", {"targets": "not-an-address"}, "is not an e-mail address"),
        ("email", {"targets": "", "send_to_scan_user": False}, "send to the scanning user"),
        ("webdav", {"targets": "ftp://sp.example.test/x"}, "is not an http(s) URL"),
        ("webdav", {"targets": "https://u:p@sp.example.test/x"}, "must not contain credentials"),
        ("webdav", {"targets": "", "my_site": False}, "or choose MySite"),
        ("http", {"targets": ""}, "exactly one URL"),
        ("http", {"targets": "hooks.example.test/scan"}, "is not an http(s) URL"),
    ],
)
def test_clean_config_refuses_with_the_message_next_to_the_field(
    kind: str, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        destinations.get(kind).clean_config(data)
    errors = caught.value.message_dict
    assert list(errors) == ["targets"]
    assert message in errors["targets"][0]


def test_only_the_kinds_that_need_it_have_a_user_name_field() -> None:
    with_username = [k.value for k in destinations.KINDS if "username" in k.module.FIELDS]
    assert with_username == ["smb", "webdav"]


def test_form_fields_are_fresh_copies_and_the_targets_help_names_every_kind() -> None:
    fields = destinations.form_fields()
    assert set(fields) == {"targets", "username", "my_site", "send_to_scan_user", "can_add_addresses"}
    assert fields["targets"] is not destinations.get("folder").FIELDS["targets"]
    fields["targets"].label = "changed"
    assert destinations.form_fields()["targets"].label == "Targets"
    for k in destinations.KINDS:
        assert k.label in str(fields["targets"].help_text)


# --------------------------------------------------------------------------- PSP mapping


def _through_xml(filters: tuple[psp.AnyFilter, ...]) -> tuple[psp.AnyFilter, ...]:
    instructions = psp.PostScanInstructions(document_root_name="Scan", filters=filters)
    data = psp.instructions_to_xml(instructions)
    return psp.instructions_from_element(xmlsafe.parse(data)).filters


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_to_filter_and_from_filter_round_trip_through_psp_xml(kind: str) -> None:
    _data, config = SAMPLES[kind]
    flt = destinations.to_filter(kind, config)
    assert flt.dialect == destinations.get(kind).DIALECT
    (parsed,) = _through_xml((flt,))
    found = destinations.from_filter(parsed)
    assert found is not None
    assert found[0] == kind
    assert {key: found[1][key] for key in config} == config


def test_an_unknown_dialect_has_no_kind() -> None:
    assert destinations.from_filter(psp.UnknownFilter(dialect="urn:example:ftp")) is None


def test_the_webhook_filter_says_a_token_is_stored_never_the_token() -> None:
    bare = destinations.to_filter("http", {"url": "https://h.example.test/"})
    marked = destinations.to_filter("http", {"url": "https://h.example.test/"}, has_secret=True)
    assert isinstance(bare, psp.UnknownFilter) and isinstance(marked, psp.UnknownFilter)
    assert b"Authorization" not in (bare.raw or b"")
    assert b"<odsm:Authorization>bearer</odsm:Authorization>" in (marked.raw or b"")


def test_no_credential_goes_into_a_filter() -> None:
    leaky = {"secret": "Hunter2", "password": "Hunter2"}  # never in a config; a kind must not copy it
    filters = tuple(
        destinations.to_filter(kind, {**config, **leaky}, True) for kind, (_d, config) in SAMPLES.items()
    )
    data = psp.instructions_to_xml(psp.PostScanInstructions(document_root_name="Scan", filters=filters))
    assert b"Hunter2" not in data and b"password" not in data.lower()


def test_apply_instructions_takes_the_devices_places_where_the_kind_has_them() -> None:
    smb = destinations.apply_instructions(
        "smb",
        {"uncs": ["\\\\a\\s"], "port": 4450},
        psp.Filter.of(psp.FileShareConfig(share_uncs=("\\\\b\\s",))),
    )
    assert smb == {"uncs": ["\\\\b\\s"], "port": 4450}
    webdav = destinations.apply_instructions(
        "webdav",
        {"site_urls": ["https://a/"]},
        psp.Filter.of(psp.SharePointConfig(site_urls=("https://b/",))),
    )
    assert webdav == {"site_urls": ["https://b/"]}
    kept = destinations.apply_instructions(
        "email",
        {"addresses": ["a@x.test"], "send_to_scan_user": True},
        psp.Filter.of(psp.EmailConfig(addresses=("b@x.test",))),
    )
    assert kept == {"addresses": ["b@x.test"], "send_to_scan_user": True}, "None leaves the process's value"
    changed = destinations.apply_instructions(
        "email", {"send_to_scan_user": True}, psp.Filter.of(psp.EmailConfig(send_to_scan_user=False))
    )
    assert changed == {"addresses": [], "send_to_scan_user": False}
    # Folder and webhook: a device has no say.
    flt = destinations.to_filter("folder", {"path": "/elsewhere"})
    assert destinations.apply_instructions("folder", {"path": "/srv/scans"}, flt) == {"path": "/srv/scans"}


def test_apply_instructions_refuses_a_filter_of_another_kind() -> None:
    with pytest.raises(DeliveryError) as caught:
        destinations.apply_instructions(
            "email", {}, psp.Filter.of(psp.FileShareConfig(share_uncs=("\\\\b\\s",)))
        )
    assert "does not match destination kind email" in str(caught.value)
    assert caught.value.reason == destinations.INVALID_ARGS and not caught.value.retryable


# --------------------------------------------------------------------------- texts


def test_target_text_and_describe() -> None:
    assert destinations.target_text("smb", {"uncs": ["\\\\a\\s", "\\\\b\\s"]}) == "\\\\a\\s; \\\\b\\s"
    assert destinations.target_text("email", {"addresses": ["a@x.test"], "send_to_scan_user": True}) == (
        "a@x.test + scanning user"
    )
    assert destinations.target_text("email", {"send_to_scan_user": True}) == "the scanning user"
    assert destinations.target_text("folder", {"path": "/srv/scans"}) == "/srv/scans"
    assert destinations.target_text("http", {"url": "https://h/"}) == "https://h/"
    assert (
        destinations.describe("webdav", {"site_urls": ["https://a/"], "my_site": True})
        == "https://a/ + MySite"
    )
    assert destinations.describe("email", {"addresses": ["a@x.test"], "can_add_addresses": True}) == (
        "a@x.test (user may add addresses)"
    )


# --------------------------------------------------------------------------- what a delivery is given


@dataclass(frozen=True)
class _Process:
    display_name: str = "Team scans"


@dataclass(frozen=True)
class _Job:
    token: str = "5f0c7a8e-0000-4000-8000-000000000001"
    user_name: str = "alice"
    user_sid: str = "S-1-5-21-1-2-3-1001"
    document_root_name: str = "Scan"
    psp_display_name: str = ""
    psp_identifier: str = "{PSP-1}"
    process: _Process | None = _Process()


@dataclass(frozen=True)
class _Delivery:
    pk: int = 7
    job: _Job = _Job()


@dataclass(frozen=True)
class _Document:
    name: str
    path: str
    sha256: str
    size: int
    content_type: str = "application/pdf"
    pages: int = 1


def test_a_delivery_needs_no_scan_server_row(tmp_path: Path) -> None:
    """The kinds read a delivery through small Protocols: plain dataclasses will do."""
    source = tmp_path / "spool" / "doc.pdf"
    source.parent.mkdir()
    source.write_bytes(b"%PDF-1.7 test document\n")
    doc = _Document("Scan-1.pdf", str(source), destinations.sha256_file(source), source.stat().st_size)
    out = tmp_path / "out"
    receipts = folder.deliver(_Delivery(), [doc], {"path": str(out), "per_user": True}, Credentials())
    assert [r["where"] for r in receipts] == [str(out / "alice" / "Scan-1.pdf")]
    assert (out / "alice" / "Scan-1.pdf").read_bytes() == source.read_bytes() and receipts[0]["verified"]
    meta = http.metadata(_Delivery(), doc)
    assert meta["process"] == "Team scans" and meta["job"] == _Job.token and meta["sha256"] == doc.sha256


# --------------------------------------------------------------------------- the test pause


def test_the_pipeline_test_delay_is_parsed_once_by_the_settings_helper() -> None:
    env = Env({"SMC_PIPELINE_TEST_DELAY": " build=2, deliver=0.5 "})
    assert env.seconds_by_key("SMC_PIPELINE_TEST_DELAY") == {"build": 2.0, "deliver": 0.5}
    assert Env({}).seconds_by_key("SMC_PIPELINE_TEST_DELAY") == {}
    for bad in ("build", "build=soon", "=2", "build=-1"):
        with pytest.raises(ImproperlyConfigured, match="SMC_PIPELINE_TEST_DELAY"):
            Env({"SMC_PIPELINE_TEST_DELAY": bad}).seconds_by_key("SMC_PIPELINE_TEST_DELAY")


def test_the_pause_sleeps_only_for_a_configured_step(settings: Any) -> None:
    settings.SCANSERVER_PIPELINE_TEST_DELAYS = {"deliver": 0.3}
    started = time.monotonic()
    pause("build")
    assert time.monotonic() - started < 0.2
    pause("deliver")
    assert time.monotonic() - started >= 0.3
