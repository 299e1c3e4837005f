"""Small lxml helpers shared by the WS-Scan modules (PROTOCOL.md §4, §8).

Parsing is order-insensitive and matches children by namespace-qualified name, so prefixes
never matter; every malformed value raises :class:`ProtocolError` naming the element.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from lxml import etree

from devices.protocols.errors import ProtocolError
from devices.protocols.namespaces import NSMAP, WSCN, qn

# BDSRR §1.8 KeywordNsExtensionPattern: a vendor keyword is "prefix:token".
_EXTENSION = re.compile(r"^\w+:[\w\-.]+$")
# Format also accepts MIME-like tokens ("image/jpeg") from vendors.
_MIME_LIKE = re.compile(r"^[\w.+\-]+/[\w.+\-]+$")

WSCN_ONLY: tuple[str, ...] = (WSCN,)


def W(local: str) -> str:
    """Clark name of a WS-Scan element."""
    return qn(WSCN, local)


def local_name(el: etree._Element) -> str:
    return etree.QName(el).localname


def describe(el: etree._Element) -> str:
    return local_name(el)


def new(tag: str) -> etree._Element:
    """A fresh root element with the conventional prefixes for wscn and the tag's namespace."""
    ns = etree.QName(tag).namespace
    nsmap = {"wscn": WSCN}
    for prefix, uri in NSMAP.items():
        if uri == ns and ns != WSCN:
            nsmap[prefix] = uri
    return etree.Element(tag, nsmap=nsmap)  # type: ignore[arg-type]


def sub(parent: etree._Element, local: str, text: str | None = None, ns: str = WSCN) -> etree._Element:
    child = etree.SubElement(parent, qn(ns, local))
    if text is not None:
        child.text = text
    return child


def sub_int(parent: etree._Element, local: str, value: int | None) -> None:
    if value is not None:
        sub(parent, local, str(value))


def sub_text(parent: etree._Element, local: str, value: str | None) -> None:
    if value is not None:
        sub(parent, local, value)


def sub_bool(parent: etree._Element, local: str, value: bool | None) -> None:
    if value is not None:
        sub(parent, local, fmt_bool(value))


def children(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> list[etree._Element]:
    names = {qn(ns, local) for ns in nss}
    return [c for c in el if isinstance(c.tag, str) and c.tag in names]


def child(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> etree._Element | None:
    found = children(el, local, nss)
    return found[0] if found else None


def require(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> etree._Element:
    found = child(el, local, nss)
    if found is None:
        raise ProtocolError("%s lacks its required %s element" % (describe(el), local))
    return found


def text_of(el: etree._Element) -> str:
    return (el.text or "").strip()


def opt_text(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> str | None:
    found = child(el, local, nss)
    return None if found is None else text_of(found)


def req_text(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> str:
    return text_of(require(el, local, nss))


def parse_int(el: etree._Element) -> int:
    raw = text_of(el)
    # xs:int allows a leading sign but no decimals, exponents or spaces inside.
    if not re.fullmatch(r"[+-]?\d{1,18}", raw):
        raise ProtocolError("%s must be an integer, got %r" % (describe(el), raw))
    return int(raw)


def opt_int(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> int | None:
    found = child(el, local, nss)
    return None if found is None else parse_int(found)


def req_int(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> int:
    return parse_int(require(el, local, nss))


def parse_bool_text(raw: str, what: str) -> bool:
    value = raw.strip()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ProtocolError("%s must be a boolean (true, false, 1 or 0), got %r" % (what, raw))


def parse_bool(el: etree._Element) -> bool:
    return parse_bool_text(el.text or "", describe(el))


def opt_bool(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> bool | None:
    found = child(el, local, nss)
    return None if found is None else parse_bool(found)


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_datetime(el: etree._Element) -> datetime:
    raw = text_of(el)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ProtocolError("%s must be an xs:dateTime, got %r" % (describe(el), raw)) from None
    # A time without a zone is taken as UTC: devices without a clock zone mostly mean UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def opt_datetime(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> datetime | None:
    found = child(el, local, nss)
    return None if found is None else parse_datetime(found)


def fmt_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += (".%06d" % value.microsecond).rstrip("0")
    return text + "Z"


def sub_datetime(parent: etree._Element, local: str, value: datetime | None) -> None:
    if value is not None:
        sub(parent, local, fmt_datetime(value))


def attr(el: etree._Element, local: str) -> str | None:
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


def check_range(value: int | None, low: int | None, high: int | None, what: str) -> None:
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


def expect_tag(el: etree._Element, local: str, nss: Iterable[str] = WSCN_ONLY) -> None:
    if not isinstance(el.tag, str) or el.tag not in {qn(ns, local) for ns in nss}:
        raise ProtocolError("expected a %s element, got %s" % (local, el.tag))


def qname_text(el: etree._Element) -> str:
    """Resolve a QName-valued text (``wscn:ScannerStatus``) to Clark notation."""
    raw = text_of(el)
    prefix, sep, local = raw.rpartition(":")
    if not sep:
        prefix, local = "", raw
    ns = el.nsmap.get(prefix or None)
    if not local or (prefix and ns is None):
        raise ProtocolError("%s must be a QName with a declared prefix, got %r" % (describe(el), raw))
    return qn(ns, local) if ns else local


def set_qname_text(el: etree._Element, clark: str) -> None:
    """Write a Clark name as ``prefix:local``, declaring a prefix on ``el`` when needed."""
    q = etree.QName(clark)
    if q.namespace is None:
        el.text = q.localname
        return
    for prefix, uri in el.nsmap.items():
        if uri == q.namespace and prefix:
            el.text = "%s:%s" % (prefix, q.localname)
            return
    raise ProtocolError("namespace %s of %s has no prefix in scope" % (q.namespace, q.localname))


def qname_element(parent: etree._Element, local: str, clark: str) -> etree._Element:
    """A child whose text is a QName; a foreign namespace gets its prefix declared on the child."""
    ns = etree.QName(clark).namespace
    if ns is None or ns in parent.nsmap.values():
        el = sub(parent, local)
    else:
        known = {uri: p for p, uri in NSMAP.items()}
        el = etree.SubElement(parent, W(local), nsmap={known.get(ns, "ns0"): ns})  # type: ignore[dict-item]
    set_qname_text(el, clark)
    return el
