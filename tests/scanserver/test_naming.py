"""File names from naming templates: one safe path component whatever the template or values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from scanprocesses.naming import NamingError, render_name, unique_name, validate_template

WHEN = datetime(2026, 3, 4, 5, 6, 7)


def render(template: str, **overrides: Any) -> str:
    values: dict[str, Any] = dict(
        root="Invoices", user="alice", device="MFP-1", when=WHEN, job="42", seq=1, ext="pdf"
    )
    values.update(overrides)
    return render_name(template, **values)


def test_default_template_renders_every_placeholder() -> None:
    assert render("{root}-{date:%Y%m%d-%H%M%S}-{seq}") == "Invoices-20260304-050607-1.pdf"
    assert render("{user}_{device}_{job}_{date}", ext="") == "alice_MFP-1_42_20260304-050607"


@pytest.mark.parametrize(
    "template",
    [
        "{root.__class__}",
        "{root.__class__.__mro__}",
        "{user[0]}",
        "{0}",
        "{}",
        "{root!r}",
        "{seq:{root}}",
        "{seq:>300}",
        "{password}",
        "{date:%Y/%m}",
        "../{root}",
        "{root}/x",
        "a\\{root}",
        "{root",
        "C:{root}",
    ],
)
def test_injection_and_traversal_templates_are_refused(template: str) -> None:
    assert validate_template(template)
    with pytest.raises(NamingError):
        render(template)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user", "../../etc/passwd"),
        ("user", "..\\..\\windows\\system32"),
        ("device", "/absolute"),
        ("root", ".."),
        ("root", "a\x00b\nc\x1bd"),
        ("device", "x\u0085y"),
    ],
)
def test_hostile_values_stay_inside_one_component(field: str, value: str, tmp_path: Path) -> None:
    name = render("{root}-{user}-{device}", **{field: value})
    assert "/" not in name and "\\" not in name and ".." not in name
    assert all(ord(c) >= 32 and not 0x7F <= ord(c) <= 0x9F for c in name)
    target = (tmp_path / name).resolve()
    assert target.parent == tmp_path.resolve()


def test_values_cannot_meet_to_form_dot_dot() -> None:
    name = render("{root}{user}", root="a.", user=".b", ext="")
    assert ".." not in name


@pytest.mark.parametrize("root", ["CON", "nul", "Com1", "LPT9", "aux"])
def test_windows_reserved_names_are_escaped(root: str) -> None:
    name = render("{root}", root=root)
    assert name.split(".")[0].upper() not in {"CON", "NUL", "COM1", "LPT9", "AUX"}
    assert name.startswith("_")


def test_trailing_dots_and_spaces_are_dropped() -> None:
    assert render("{root}", root="report. . ", ext="") == "report"
    assert render("{root}", root="report ... ", ext="pdf") == "report _.pdf"


def test_long_names_are_cut_to_200_before_the_extension() -> None:
    name = render("{root}", root="x" * 500)
    assert name == "x" * 200 + ".pdf"


def test_empty_result_is_refused() -> None:
    with pytest.raises(NamingError, match="empty"):
        render("{root}", root=". ", ext="")


def test_bad_extension_is_refused() -> None:
    with pytest.raises(NamingError):
        render("{root}", ext="pdf/../x")


def test_validate_template_explains_problems() -> None:
    assert validate_template("{root}-{seq}") == []
    assert any("unknown placeholder {nope}" in p for p in validate_template("{nope}"))
    assert any("no placeholder" in p for p in validate_template("fixed-name"))
    assert any("takes no format" in p for p in validate_template("{seq:05}"))


def test_unique_name_appends_counter_before_extension() -> None:
    taken = {"scan.pdf", "scan (2).pdf"}
    assert unique_name(taken.__contains__, "scan.pdf") == "scan (3).pdf"
    assert unique_name(taken.__contains__, "other.pdf") == "other.pdf"
    assert unique_name({"noext"}.__contains__, "noext") == "noext (2)"


def test_unique_name_keeps_the_length_limit() -> None:
    long = "y" * 200 + ".pdf"
    result = unique_name({long}.__contains__, long)
    assert result.endswith(" (2).pdf") and len(result) == 200 + len(".pdf")
