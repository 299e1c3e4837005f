"""Output file names from an administrator's template (DESIGN.md decision 3).

A template such as ``{root}-{date:%Y%m%d-%H%M%S}-{seq}`` names the documents a scan job
produces. The placeholders are ``{root}`` (DocumentRootName), ``{user}``, ``{device}``,
``{date:<strftime>}``, ``{job}`` and ``{seq}``. The result is always ONE safe path component:
no path separators, no ``..``, no control characters, no Windows-reserved device names
(CON, NUL, COM1...) and no trailing dots or spaces, at most ``MAX_STEM`` characters before the
extension — so a name rendered from user- or device-supplied values can never leave its
destination root. A collision gets a `` (2)``, `` (3)`` ... suffix, never an overwrite.

The template is parsed with :class:`string.Formatter` but never passed to ``str.format``:
only the six bare names above are accepted, so attribute or index access
(``{root.__class__}``, ``{user[0]}``), positional fields (``{0}``), conversions (``{root!r}``)
and nested format specs are refused with :class:`NamingError`.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Callable
from datetime import datetime

log = logging.getLogger(__name__)

PLACEHOLDERS: tuple[str, ...] = ("root", "user", "device", "date", "job", "seq")
DEFAULT_DATE_FORMAT = "%Y%m%d-%H%M%S"
MAX_STEM = 200
MAX_TEMPLATE = 255
MAX_SUFFIX_TRIES = 10_000

# Windows refuses these as a file's base name whatever the extension (CON.pdf is still CON).
_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + ["COM%d" % i for i in range(10)]
    + ["LPT%d" % i for i in range(10)]
    + ["COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"]
)
# Separators of every file system a destination may be (POSIX, SMB/NTFS, WebDAV URLs), the
# characters NTFS refuses, and control characters (C0, DEL, C1).
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f\x7f-\x9f]')
_DOTS = re.compile(r"\.{2,}")
_EXT = re.compile(r"[A-Za-z0-9]{1,10}")
# strftime directives that are safe and portable in a file name.
_STRFTIME_ALLOWED = set("YmdHMSjyaAbBpIfUWGVuwzZ%")


class NamingError(ValueError):
    """The template cannot be rendered safely; the message says why."""


def _check_date_format(spec: str) -> list[str]:
    problems = []
    i = 0
    while i < len(spec):
        if spec[i] == "%":
            if i + 1 >= len(spec):
                problems.append("the date format ends with a lone %")
                break
            if spec[i + 1] not in _STRFTIME_ALLOWED:
                problems.append("the date format uses an unsupported directive %%%s" % spec[i + 1])
            i += 2
            continue
        i += 1
    if _UNSAFE.search(spec):
        problems.append("the date format contains a path separator or a character not allowed in file names")
    return problems


def validate_template(template: str) -> list[str]:
    """Every problem of ``template``, as sentences for a form; empty means it can be rendered."""
    problems: list[str] = []
    if not template.strip():
        return ["the naming template is empty"]
    if len(template) > MAX_TEMPLATE:
        problems.append("the naming template is longer than %d characters" % MAX_TEMPLATE)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return ["the naming template is malformed (%s); write a literal brace as {{ or }}" % exc]
    literal_text = "".join(p[0] for p in parts)
    if _UNSAFE.search(literal_text):
        problems.append(
            "the naming template contains a path separator or a character not allowed in file names "
            '(/ \\ : * ? " < > | or a control character)'
        )
    if ".." in literal_text:
        problems.append("the naming template contains '..'")
    fields = 0
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        fields += 1
        if name not in PLACEHOLDERS:
            problems.append(
                "unknown placeholder {%s}; use %s" % (name, ", ".join("{%s}" % p for p in PLACEHOLDERS))
            )
            continue
        if conversion is not None:
            problems.append("placeholder {%s!%s}: conversions are not allowed" % (name, conversion))
        spec = spec or ""
        if "{" in spec or "}" in spec:
            problems.append("placeholder {%s}: nested placeholders are not allowed" % name)
        elif name == "date":
            problems.extend(_check_date_format(spec))
        elif spec:
            problems.append("placeholder {%s} takes no format (only {date:...} does)" % name)
    if not fields:
        problems.append("the naming template has no placeholder: every document would get the same name")
    return problems


def sanitize_component(value: str) -> str:
    """``value`` as text that is safe inside a single path component (may still be empty)."""
    value = _UNSAFE.sub("_", value)
    return _DOTS.sub("_", value)


def _finish(stem: str) -> str:
    stem = sanitize_component(stem).strip(" ")
    if len(stem) > MAX_STEM:
        stem = stem[:MAX_STEM]
    stem = stem.rstrip(". ")
    stem = stem.lstrip(".")  # no hidden files, and never "." or ".."
    if not stem:
        raise NamingError("the naming template produced an empty file name")
    base = stem.split(".", 1)[0].rstrip(" ").upper()
    if base in _RESERVED:
        stem = "_" + stem
    return stem


def render_name(
    template: str,
    *,
    root: str,
    user: str,
    device: str,
    when: datetime,
    job: str | int,
    seq: int,
    ext: str = "",
) -> str:
    """One safe file name: the rendered template (at most ``MAX_STEM`` characters) plus ``.ext``."""
    problems = validate_template(template)
    if problems:
        raise NamingError("; ".join(problems))
    if ext and not _EXT.fullmatch(ext):
        raise NamingError("file extension %r is not 1-10 letters or digits" % ext)
    values = {
        "root": root,
        "user": user,
        "device": device,
        "job": str(job),
        "seq": str(seq),
    }
    out: list[str] = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        if name == "date":
            text = when.strftime(spec or DEFAULT_DATE_FORMAT)
        else:
            text = values[name]
        # Each value is made safe on its own too, so "a/." + "./b" cannot meet to form "..".
        out.append(sanitize_component(text))
    stem = _finish("".join(out))
    return "%s.%s" % (stem, ext.lower()) if ext else stem


def split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not _EXT.fullmatch(ext):
        return name, ""
    return stem, "." + ext


def unique_name(exists: Callable[[str], bool], name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)`` ... (before the extension): the first that does not exist."""
    if not exists(name):
        return name
    stem, ext = split_ext(name)
    for n in range(2, MAX_SUFFIX_TRIES):
        suffix = " (%d)" % n
        candidate = stem[: MAX_STEM - len(suffix)] + suffix + ext
        if not exists(candidate):
            return candidate
    log.warning("no free name for %s after %d tries", name, MAX_SUFFIX_TRIES)
    raise NamingError("no free file name for %s" % name)
