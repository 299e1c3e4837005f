"""Small field helpers shared by the scan-process and scan-server modules (psp, dsp, dsc, jobstatus).

They find children by namespace-qualified name (prefixes never matter, order never matters),
read typed text with errors that name the element, build elements with the conventional
prefixes of ``namespaces.NSMAP``, and keep foreign XML (a ScanTicket, an unknown filter's
instructions, ``##other`` extensions) as canonical bytes so frozen dataclasses stay comparable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from copy import deepcopy
from datetime import UTC, datetime
from typing import TypeAlias

from lxml import etree

from devices.protocols import xmlsafe
from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import NSMAP

Element: TypeAlias = etree._Element

_PREFIX_OF = {uri: prefix for prefix, uri in NSMAP.items()}
# A prefix at the start of a text value or attribute value ("ftr:email", "vendor:Token"): such a value
# is a QName whose namespace declaration must survive even though no element name uses it.
_TEXT_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.\-]*):[A-Za-z_]")


def label(tag: str) -> str:
    """``{ns}Local`` as ``prefix:Local`` with the conventional prefix, for error messages."""
    qname = etree.QName(tag)
    prefix = _PREFIX_OF.get(qname.namespace or "")
    return "%s:%s" % (prefix, qname.localname) if prefix else qname.localname


def children(el: Element, tag: str) -> list[Element]:
    return [c for c in el if c.tag == tag]


def child(el: Element, tag: str) -> Element | None:
    for c in el:
        if c.tag == tag:
            return c
    return None


def require(el: Element, tag: str) -> Element:
    found = child(el, tag)
    if found is None:
        raise ProtocolError("%s is missing its required %s element" % (label(el.tag), label(tag)))
    return found


def text_of(el: Element) -> str:
    return (el.text or "").strip()


def required_text(el: Element, tag: str, max_len: int | None = None) -> str:
    value = text_of(require(el, tag))
    if not value:
        raise ProtocolError("%s must not be empty" % label(tag))
    check_length(value, max_len, tag)
    return value


def optional_text(el: Element, tag: str, max_len: int | None = None) -> str | None:
    found = child(el, tag)
    if found is None:
        return None
    value = text_of(found)
    check_length(value, max_len, tag)
    return value


def check_length(value: str, max_len: int | None, tag: str) -> None:
    if max_len is not None and len(value) > max_len:
        raise ProtocolError("%s is %d characters, over the limit of %d" % (label(tag), len(value), max_len))


def parse_bool(value: str, tag: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ProtocolError("%s must be true or false, not %r" % (label(tag), value[:40]))


def optional_bool(el: Element, tag: str) -> bool | None:
    found = child(el, tag)
    return None if found is None else parse_bool(text_of(found), tag)


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_int(value: str, tag: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ProtocolError("%s must be an integer, not %r" % (label(tag), value[:40])) from None
    check_range(number, tag, minimum, maximum)
    return number


def check_range(number: int, tag: str, minimum: int | None = None, maximum: int | None = None) -> None:
    if minimum is not None and number < minimum:
        raise ProtocolError("%s must be at least %d, not %d" % (label(tag), minimum, number))
    if maximum is not None and number > maximum:
        raise ProtocolError("%s must be at most %d, not %d" % (label(tag), maximum, number))


def parse_datetime(value: str, tag: str) -> datetime:
    """xs:dateTime; a value without a zone is taken as UTC (what Windows servers send)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProtocolError("%s must be an xs:dateTime, not %r" % (label(tag), value[:40])) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """Canonical xs:dateTime: UTC with ``Z``, fractional seconds only when present."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += (".%06d" % value.microsecond).rstrip("0")
    return text + "Z"


def tokens(el: Element | None, tag: str) -> tuple[str, ...]:
    """Texts of the ``tag`` children of ``el`` (a ``...Reasons`` list), empty ones dropped."""
    if el is None:
        return ()
    return tuple(t for t in (text_of(c) for c in children(el, tag)) if t)


def sub(parent: Element, tag: str, text: str | None = None, nsmap: dict[str, str] | None = None) -> Element:
    el = etree.SubElement(parent, tag, nsmap=nsmap)  # type: ignore[arg-type]
    if text is not None:
        el.text = text
    return el


def new(tag: str, *prefixes: str) -> Element:
    """A root element declaring the conventional ``prefixes`` (and nothing else)."""
    return etree.Element(tag, nsmap={p: NSMAP[p] for p in prefixes})  # type: ignore[dict-item]


def canonical(el: Element) -> bytes:
    """Canonical bytes (C14N 1.0, UTF-8, no declaration) of an element this package built."""
    return etree.tostring(el, method="c14n")


def _strip_whitespace(el: Element) -> None:
    """Drop whitespace-only text between elements (pretty-printing), never inside leaf text."""
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None


def _text_prefixes(el: Element) -> list[str]:
    found: set[str] = set()
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        values = [node.text or ""] + list(node.attrib.values())
        for value in values:
            match = _TEXT_PREFIX.match(value)
            if match and match.group(1) in (node.nsmap or {}):
                found.add(match.group(1))
    return sorted(found)


def foreign_bytes(el: Element, rename: str | None = None) -> bytes:
    """Canonical bytes of foreign XML kept verbatim (its own prefixes), whitespace between elements removed.

    Exclusive C14N keeps only the namespace declarations the subtree uses, plus those of prefixes
    that appear in QName-valued text, so the bytes do not depend on where the element sat.
    ``rename`` gives the copy another tag (the PSP's ``psp:ScanTicket`` stored as ``wscn:ScanTicket``).
    """
    scope = {p: u for p, u in el.nsmap.items() if p is not None}
    wrapper = etree.Element("wrapper", nsmap=scope)  # type: ignore[arg-type]
    if rename is None:
        copy = deepcopy(el)
        wrapper.append(copy)
    else:
        nsmap = None
        if etree.QName(rename).namespace not in scope.values():
            prefix = _PREFIX_OF.get(etree.QName(rename).namespace or "", "ns0")
            nsmap = {prefix: etree.QName(rename).namespace}
        copy = etree.SubElement(wrapper, rename, nsmap=nsmap)  # type: ignore[arg-type]
        copy.text = el.text
        for key, value in el.attrib.items():
            copy.set(key, value)
        for c in el:
            copy.append(deepcopy(c))
    copy.tail = None
    _strip_whitespace(copy)
    return etree.tostring(copy, method="c14n", exclusive=True, inclusive_ns_prefixes=_text_prefixes(copy))


def foreign_element(data: bytes) -> Element:
    """Parse bytes made by :func:`foreign_bytes` (or handed to a dataclass by a caller)."""
    return xmlsafe.parse(data)


def append_foreign(parent: Element, items: Iterable[bytes]) -> None:
    for data in items:
        parent.append(foreign_element(data))


def qname_text(el: Element, value: str) -> str:
    """Resolve a QName-valued text (``dsc:JobStatus``) against ``el``'s namespaces to ``{ns}local``.

    An unprefixed value uses the default namespace if one is declared, else stays a bare local name.
    """
    value = value.strip()
    if value.startswith("{"):
        return value
    prefix, _, local = value.rpartition(":")
    uri = (el.nsmap or {}).get(prefix or None)
    if prefix and uri is None:
        raise ProtocolError("%s names an undeclared prefix in %r" % (label(el.tag), value[:80]))
    return "{%s}%s" % (uri, local) if uri else local


def set_qname_text(el: Element, clark: str) -> None:
    """Write ``{ns}local`` as ``prefix:local`` text, declaring the conventional prefix on ``el`` if needed."""
    qname = etree.QName(clark)
    if not qname.namespace:
        el.text = qname.localname
        return
    prefix = None
    for p, uri in (el.nsmap or {}).items():
        if uri == qname.namespace and p is not None:
            prefix = p
            break
    if prefix is None:
        raise ProtocolError("no prefix in scope for %s" % clark)
    el.text = "%s:%s" % (prefix, qname.localname)
