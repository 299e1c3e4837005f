"""The one hardened XML parser of the project (DESIGN.md "Hostile input is normal input").

Every byte string that arrives from a device, a browser upload or the directory is parsed here:
no DTD (a document that declares one is refused outright, which defeats billion-laughs and
external-entity attacks), no entity resolution, no network access, and limits on size, depth
and element count (checked while parsing). XInclude elements are refused too. Refusals raise
:class:`XMLRefused` with a reason a fault or 4xx can carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_ELEMENTS = 100_000


class XMLRefused(ValueError):
    """The input is not XML we accept; ``str(exc)`` says why, in words fit for a fault."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH
    max_elements: int = DEFAULT_MAX_ELEMENTS


DEFAULT_LIMITS = Limits()


class _RefuseAll(etree.Resolver):
    """Refuses every external resource (DTD, entity, XInclude): nothing is ever read."""

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        raise XMLRefused("XML external references are refused")


# XInclude is only processed when asked (we never ask), but no message of ours has a reason to
# carry it, and refusing it keeps a later careless .xinclude() call harmless.
_XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
_FEED = 64 * 1024


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """Parse ``data`` into an element tree or raise :class:`XMLRefused`.

    ``data`` must be bytes: the encoding comes from the XML declaration (UTF-8 by default),
    and an undecodable byte is a refusal, not a replacement character. Depth and element count
    are checked while parsing, so a flood of tiny elements is refused before it is all built.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise XMLRefused("XML input must be bytes")
    data = bytes(data)
    if len(data) > limits.max_bytes:
        raise XMLRefused("XML document is %d bytes, over the limit of %d" % (len(data), limits.max_bytes))
    if not data.strip():
        raise XMLRefused("empty XML document")
    # Dropping NUL bytes makes UTF-16 and UTF-32 markup visible to a plain byte search, anywhere
    # in the document (a long comment in the prolog must not push a DOCTYPE out of sight).
    squeezed = data.replace(b"\x00", b"").upper()
    if b"<!DOCTYPE" in squeezed or b"<!ENTITY" in squeezed:
        raise XMLRefused("XML documents with a DTD are refused")
    parser = _pull_parser()
    depth = 0
    count = 0
    try:
        for offset in range(0, len(data), _FEED):
            parser.feed(data[offset : offset + _FEED])
            for event, el in parser.read_events():
                if event == "end":
                    depth -= 1
                    continue
                depth += 1
                count += 1
                if depth > limits.max_depth:
                    raise XMLRefused("XML nested deeper than %d elements" % limits.max_depth)
                if count > limits.max_elements:
                    raise XMLRefused("XML has more than %d elements" % limits.max_elements)
                if (
                    isinstance(el.tag, str)
                    and el.tag.startswith("{")
                    and el.tag[1:].startswith(_XINCLUDE_NAMESPACES)
                ):
                    raise XMLRefused("XInclude is refused")
        root = parser.close()
    except XMLRefused:
        raise
    except etree.XMLSyntaxError as exc:
        if "Excessive depth" in str(exc):  # libxml2's own ceiling (256) is below ours
            raise XMLRefused("XML nested deeper than %d elements" % min(limits.max_depth, 256)) from None
        raise XMLRefused("malformed XML: %s" % exc) from None
    except (ValueError, LookupError) as exc:  # e.g. an unknown encoding name
        raise XMLRefused("malformed XML: %s" % exc) from None
    if root is None:
        raise XMLRefused("empty XML document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XMLRefused("XML documents with a DTD are refused")
    for el in root.iter():
        if isinstance(el, etree._Entity):
            raise XMLRefused("XML entities are refused")
    return root


def _pull_parser() -> etree.XMLPullParser:
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseAll())
    return parser
