"""The XML field helpers of the protocol layer: every wire-format module builds and reads elements here.

Pure lxml, no Django. Children are found by namespace-qualified name (prefixes never matter,
order never matters), typed text is read with errors that name the element, elements are built
with the conventional prefixes of ``namespaces.NSMAP``, and foreign XML (a ScanTicket, an
unknown filter's instructions, ``##other`` extensions) is kept as canonical bytes so frozen
dataclasses stay comparable. Parsing untrusted bytes is :mod:`devices.protocols.xmlsafe`'s job.

Two addressing conventions live side by side, because their error messages and value rules
are part of each protocol's behaviour:

* **Clark names** (psp, dsp, dsc, jobstatus): helpers take a full ``{ns}Local`` tag, errors
  name elements as ``prefix:Local`` (:func:`label`), and typed parsers take text plus the tag
  it came from (:func:`parse_int`, :func:`parse_bool`, :func:`parse_datetime`).
* **Local names** (the WS-Scan modules, PROTOCOL.md §4, §8): helpers take a local name and
  the namespaces it may be in (``wscn`` unless told otherwise), errors name elements by local
  name (:func:`local_name`), and typed readers take the element itself and follow the XML
  Schema lexical rules strictly (:func:`int_of`, :func:`bool_of`, :func:`datetime_of`).

Both conventions share the lookups (:func:`children`, :func:`child`), :func:`text_of`, the
formatters (:func:`format_bool`, :func:`format_datetime`) and :func:`set_qname_text`.
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
from devices.protocols.namespaces import NSMAP, WSCN, qn

Element: TypeAlias = etree._Element

_PREFIX_OF = {uri: prefix for prefix, uri in NSMAP.items()}
# A prefix at the start of a text value or attribute value ("ftr:email", "vendor:Token"): such a value
# is a QName whose namespace declaration must survive even though no element name uses it.
_TEXT_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.\-]*):[A-Za-z_]")
# BDSRR §1.8 KeywordNsExtensionPattern: a vendor keyword is "prefix:token".
_EXTENSION = re.compile(r"^\w+:[\w\-.]+$")
# Format also accepts MIME-like tokens ("image/jpeg") from vendors.
_MIME_LIKE = re.compile(r"^[\w.+\-]+/[\w.+\-]+$")

WSCN_ONLY: tuple[str, ...] = (WSCN,)


# --- Names and lookups (both conventions) -------------------------------------------------------


def label(tag: str) -> str:
    """``{ns}Local`` as ``prefix:Local`` with the conventional prefix, for error messages."""
    qname = etree.QName(tag)
    prefix = _PREFIX_OF.get(qname.namespace or "")
    return "%s:%s" % (prefix, qname.localname) if prefix else qname.localname


def local_name(el: Element) -> str:
    """The element's local name: how the local-name helpers name an element in errors."""
    return etree.QName(el).localname


def W(local: str) -> str:
    """Clark name of a WS-Scan element."""
    return qn(WSCN, local)


def children(el: Element, *tags: str) -> list[Element]:
    """The children of ``el`` whose tag is one of the Clark names ``tags``, in document order."""
    return [c for c in el if c.tag in tags]


def child(el: Element, *tags: str) -> Element | None:
    """The first child of ``el`` whose tag is one of the Clark names ``tags``."""
    for c in el:
        if c.tag in tags:
            return c
    return None


def text_of(el: Element) -> str:
    return (el.text or "").strip()


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def format_datetime(value: datetime) -> str:
    """Canonical xs:dateTime: UTC with ``Z``, fractional seconds only when present."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += (".%06d" % value.microsecond).rstrip("0")
    return text + "Z"


def set_qname_text(el: Element, clark: str) -> None:
    """Write a Clark name as ``prefix:local`` text, using a prefix already in scope on ``el``."""
    q = etree.QName(clark)
    if q.namespace is None:
        el.text = q.localname
        return
    for prefix, uri in el.nsmap.items():
        if uri == q.namespace and prefix:
            el.text = "%s:%s" % (prefix, q.localname)
            return
    raise ProtocolError("namespace %s of %s has no prefix in scope" % (q.namespace, q.localname))


# --- Clark-name convention (psp, dsp, dsc, jobstatus) -------------------------------------------


def require(el: Element, tag: str) -> Element:
    found = child(el, tag)
    if found is None:
        raise ProtocolError("%s is missing its required %s element" % (label(el.tag), label(tag)))
    return found


def required_text(el: Element, tag: str, max_len: int | None = None) -> str:
    """The text of a required child; unlike :func:`req_text`, an empty text is refused."""
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
    """A boolean text, case-insensitively (``True`` passes); :func:`parse_bool_strict` is xs:boolean."""
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ProtocolError("%s must be true or false, not %r" % (label(tag), value[:40]))


def optional_bool(el: Element, tag: str) -> bool | None:
    found = child(el, tag)
    return None if found is None else parse_bool(text_of(found), tag)


def parse_int(value: str, tag: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer text as Python's ``int`` reads it (any length), within the optional bounds.

    :func:`int_of` is the strict xs:int reading of the local-name convention.
    """
    try:
        number = int(value.strip())
    except ValueError:
        raise ProtocolError("%s must be an integer, not %r" % (label(tag), value[:40])) from None
    check_range(number, tag, minimum, maximum)
    return number


def check_range(number: int, tag: str, minimum: int | None = None, maximum: int | None = None) -> None:
    """Refuse ``number`` outside the bounds, naming ``tag``; :func:`check_bounds` also takes ``None``."""
    if minimum is not None and number < minimum:
        raise ProtocolError("%s must be at least %d, not %d" % (label(tag), minimum, number))
    if maximum is not None and number > maximum:
        raise ProtocolError("%s must be at most %d, not %d" % (label(tag), maximum, number))


def parse_datetime(value: str, tag: str) -> datetime:
    """xs:dateTime, converted to UTC; a value without a zone is taken as UTC (what Windows servers send).

    :func:`datetime_of` keeps the offset the device wrote instead.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ProtocolError("%s must be an xs:dateTime, not %r" % (label(tag), value[:40])) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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


def qname_text(el: Element, value: str) -> str:
    """Resolve a QName-valued text (``dsc:JobStatus``) against ``el``'s namespaces to ``{ns}local``.

    An unprefixed value uses the default namespace if one is declared, else stays a bare local name;
    a value already in Clark notation passes through. :func:`qname_of` reads an element's own text.
    """
    value = value.strip()
    if value.startswith("{"):
        return value
    prefix, _, local = value.rpartition(":")
    uri = (el.nsmap or {}).get(prefix or None)
    if prefix and uri is None:
        raise ProtocolError("%s names an undeclared prefix in %r" % (label(el.tag), value[:80]))
    return "{%s}%s" % (uri, local) if uri else local


# --- Foreign XML kept as canonical bytes ---------------------------------------------------------


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


# --- Local-name convention (WS-Scan) -------------------------------------------------------------
# ``local`` is a local name and ``nss`` the namespaces it may be in; errors name elements by local name.


def _names(local: str, nss: Iterable[str]) -> tuple[str, ...]:
    return tuple(qn(ns, local) for ns in nss)


def new_wscn(tag: str) -> Element:
    """A root element declaring ``wscn`` and the conventional prefix of the tag's own namespace."""
    ns = etree.QName(tag).namespace
    own = [prefix for prefix, uri in NSMAP.items() if uri == ns and ns != WSCN]
    return new(tag, "wscn", *own)


def sub_local(parent: Element, local: str, text: str | None = None, ns: str = WSCN) -> Element:
    return sub(parent, qn(ns, local), text)


def sub_int(parent: Element, local: str, value: int | None) -> None:
    if value is not None:
        sub_local(parent, local, str(value))


def sub_text(parent: Element, local: str, value: str | None) -> None:
    if value is not None:
        sub_local(parent, local, value)


def sub_bool(parent: Element, local: str, value: bool | None) -> None:
    if value is not None:
        sub_local(parent, local, format_bool(value))


def sub_datetime(parent: Element, local: str, value: datetime | None) -> None:
    if value is not None:
        sub_local(parent, local, format_datetime(value))


def children_local(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> list[Element]:
    return children(el, *_names(local, nss))


def child_local(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> Element | None:
    return child(el, *_names(local, nss))


def require_local(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> Element:
    found = child_local(el, local, nss)
    if found is None:
        raise ProtocolError("%s lacks its required %s element" % (local_name(el), local))
    return found


def opt_text(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> str | None:
    found = child_local(el, local, nss)
    return None if found is None else text_of(found)


def req_text(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> str:
    """The text of a required child; unlike :func:`required_text`, an empty text is returned as ``""``."""
    return text_of(require_local(el, local, nss))


def int_of(el: Element) -> int:
    """The element's text as an xs:int: an optional sign and up to 18 digits, nothing else."""
    raw = text_of(el)
    # xs:int allows a leading sign but no decimals, exponents or spaces inside.
    if not re.fullmatch(r"[+-]?\d{1,18}", raw):
        raise ProtocolError("%s must be an integer, got %r" % (local_name(el), raw))
    return int(raw)


def opt_int(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> int | None:
    found = child_local(el, local, nss)
    return None if found is None else int_of(found)


def req_int(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> int:
    return int_of(require_local(el, local, nss))


def parse_bool_strict(raw: str, what: str) -> bool:
    """An xs:boolean text (case matters: ``True`` is refused), named ``what`` in the error."""
    value = raw.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ProtocolError("%s must be a boolean (true, false, 1 or 0), got %r" % (what, raw))


def bool_of(el: Element) -> bool:
    return parse_bool_strict(el.text or "", local_name(el))


def opt_bool(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> bool | None:
    found = child_local(el, local, nss)
    return None if found is None else bool_of(found)


def datetime_of(el: Element) -> datetime:
    """The element's text as an xs:dateTime, keeping the offset the device wrote (not converted to UTC)."""
    raw = text_of(el)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ProtocolError("%s must be an xs:dateTime, got %r" % (local_name(el), raw)) from None
    # A time without a zone is taken as UTC: devices without a clock zone mostly mean UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def opt_datetime(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> datetime | None:
    found = child_local(el, local, nss)
    return None if found is None else datetime_of(found)


def attr(el: Element, local: str) -> str | None:
    """An attribute in the wscn namespace or unqualified (devices write both)."""
    value = el.get(qn(WSCN, local))
    if value is None:
        value = el.get(local)
    return value


def check_token(value: str, allowed: Iterable[str], what: str, mime_like: bool = False) -> None:
    """Refuse ``value`` unless it is in ``allowed`` or a vendor ``prefix:token`` extension."""
    allowed = tuple(allowed)
    if value in allowed or _EXTENSION.match(value):
        return
    if mime_like and _MIME_LIKE.match(value):
        return
    raise ProtocolError(
        "%s %r is not one of %s (or a vendor prefix:token)" % (what, value, ", ".join(allowed))
    )


def check_bounds(value: int | None, low: int | None, high: int | None, what: str) -> None:
    """Refuse ``value`` outside ``low``..``high`` (``None`` passes), naming ``what`` as given.

    Unlike :func:`check_range`, a value with both bounds is told the whole range.
    """
    if value is None:
        return
    too_low = low is not None and value < low
    too_high = high is not None and value > high
    if not (too_low or too_high):
        return
    if low is not None and high is not None:
        raise ProtocolError("%s must be between %d and %d, got %d" % (what, low, high, value))
    if too_low:
        raise ProtocolError("%s must be at least %d, got %d" % (what, low or 0, value))
    raise ProtocolError("%s must be at most %d, got %d" % (what, high or 0, value))


def expect_tag(el: Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> None:
    if not isinstance(el.tag, str) or el.tag not in _names(local, nss):
        raise ProtocolError("expected a %s element, got %s" % (local, el.tag))


def qname_of(el: Element) -> str:
    """Resolve the element's QName-valued text (``wscn:ScannerStatus``) to Clark notation.

    Stricter than :func:`qname_text`: the text must not be empty or already in Clark notation.
    """
    raw = text_of(el)
    prefix, sep, local = raw.rpartition(":")
    if not sep:
        prefix, local = "", raw
    ns = el.nsmap.get(prefix or None)
    if not local or (prefix and ns is None):
        raise ProtocolError("%s must be a QName with a declared prefix, got %r" % (local_name(el), raw))
    return qn(ns, local) if ns else local


def qname_element(parent: Element, local: str, clark: str) -> Element:
    """A child whose text is a QName; a foreign namespace gets its prefix declared on the child."""
    ns = etree.QName(clark).namespace
    if ns is None or ns in parent.nsmap.values():
        el = sub_local(parent, local)
    else:
        el = sub(parent, W(local), nsmap={_PREFIX_OF.get(ns, "ns0"): ns})
    set_qname_text(el, clark)
    return el
