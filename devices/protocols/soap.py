"""SOAP 1.2 envelopes with WS-Addressing 2004/08 headers, faults and Action dispatch.

Implements PROTOCOL.md §0 (action URIs), §4 (transport, header block ``H(action)``, fault
skeleton and subcodes) and §8 (accept SOAP 1.1 and 1.2, always answer 1.2 with 2004/08
addressing). Microsoft docs: windows-driver-docs-pr/image/common-wsd-scan-service-operation-error-codes.md
and the DSP example pages (createpostscanjobrequest-example.md, ...-response-example.md).

HTTP status of a fault (PROTOCOL.md §4 asks for a non-2xx status and leaves the choice open):
we follow the SOAP 1.2 HTTP binding (SOAP 1.2 Part 2 §7.5.2.2) — ``Sender`` → 400, every other
code (``Receiver``, ``VersionMismatch``, ``MustUnderstand``) → 500. sane-airscan and the Windows
WSD client treat any non-2xx status, or a body carrying the fault action, as a fault.

Wire conventions chosen here:

* A message without ``RelatesTo`` (a request or a one-way message) gets
  ``wsa:ReplyTo/wsa:Address = anonymous`` unless ``Headers.reply_to`` names another address;
  ``reply_to=NO_REPLY_TO`` ("") leaves the element out (WS-Discovery Hello/Bye, faults).
* A handler that returns ``None`` answers a one-way message: HTTP 202 with an empty body (DPWS).
* ``mustUnderstand`` on unknown header blocks is not enforced: real devices set it on headers
  they do not need us to act upon, and refusing them would break interoperability.
"""

from __future__ import annotations

import copy
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from lxml import etree

from . import xmlsafe
from .namespaces import (
    NSMAP,
    SOAP11,
    SOAP12,
    WSA,
    WSA_ANONYMOUS,
    WSA_FAULT_ACTION,
    WSCN,
    qn,
)

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/soap+xml; charset=utf-8"
NO_REPLY_TO = ""

# Fault subcodes used by this module (namespace, local name).
ACTION_NOT_SUPPORTED = (WSA, "ActionNotSupported")
HEADER_REQUIRED = (WSA, "MessageInformationHeaderRequired")
INVALID_HEADER = (WSA, "InvalidMessageInformationHeader")
# WS-Addressing 2004/08 has no subcode for "this is not a SOAP message at all"; the name below
# is the project's choice, kept in the wsa namespace so clients that only look at the code
# (Sender) or the namespace still read it as an addressing-level refusal.
INVALID_MESSAGE = (WSA, "InvalidMessage")
INTERNAL_ERROR = (WSCN, "ServerErrorInternalError")

_WSA_CORE = {qn(WSA, n) for n in ("To", "Action", "MessageID", "RelatesTo", "ReplyTo")}
_FAULT_CODES = (
    "Sender",
    "Receiver",
    "VersionMismatch",
    "MustUnderstand",
    "DataEncodingUnknown",
)
_SOAP11_CODES = {"Client": "Sender", "Server": "Receiver"}


def new_message_id() -> str:
    """A fresh ``urn:uuid:`` message id."""
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass(frozen=True)
class Headers:
    """The WS-Addressing header block of one message.

    ``extra`` holds any other header blocks (wse:Identifier, wsd:AppSequence, reference
    parameters); on output they are copied after the addressing headers, on input they are every
    header child except To/Action/MessageID/RelatesTo/ReplyTo. A parsed message without a
    MessageID has ``message_id == ""``; without an Action, ``action == ""``.
    """

    action: str
    message_id: str = field(default_factory=new_message_id)
    to: str | None = None
    relates_to: str | None = None
    reply_to: str | None = None
    extra: tuple[etree._Element, ...] = ()


@dataclass(frozen=True)
class Envelope:
    """A parsed SOAP envelope; ``body`` is the first element child of Body (None if empty).

    ``attachments`` maps Content-ID → spooled part for a message read by ``mtom.read_mtom``
    (empty for plain SOAP), so a Dispatcher handler sees the image parts of SendImage.
    """

    version: str
    headers: Headers
    header_elements: tuple[etree._Element, ...]
    body: etree._Element | None
    root: etree._Element
    attachments: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class SoapFault(Exception):
    """A SOAP fault, raised by handlers and parsers, sent as a fault message.

    ``code`` is the SOAP 1.2 code local name ("Sender" or "Receiver" in practice);
    ``subcode`` is (namespace, local name), e.g. ``(WSCN, "ClientErrorJobIdNotFound")``.
    """

    def __init__(
        self,
        code: str,
        subcode: tuple[str, str] | None = None,
        reason: str = "",
        detail: etree._Element | None = None,
    ) -> None:
        if code not in _FAULT_CODES:
            raise ValueError(f"unknown SOAP fault code {code!r}")
        super().__init__(reason or code)
        self.code = code
        self.subcode = subcode
        self.reason = reason or code
        self.detail = detail

    @classmethod
    def sender(cls, subcode: tuple[str, str] | None, reason: str) -> SoapFault:
        return cls("Sender", subcode, reason)

    @classmethod
    def receiver(cls, subcode: tuple[str, str] | None, reason: str) -> SoapFault:
        return cls("Receiver", subcode, reason)

    def __reduce__(self) -> tuple[type[SoapFault], tuple[str, tuple[str, str] | None, str]]:
        # Exceptions pickle through their args; the detail element cannot travel and is dropped.
        return (type(self), (self.code, self.subcode, self.reason))

    @property
    def http_status(self) -> int:
        return 400 if self.code == "Sender" else 500

    def __repr__(self) -> str:
        sub = qn(*self.subcode) if self.subcode else None
        return f"SoapFault({self.code!r}, {sub!r}, {self.reason!r})"


# --------------------------------------------------------------------------------------------
# building


def _used_namespaces(root: etree._Element) -> set[str]:
    used: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        ns = etree.QName(el).namespace
        if ns:
            used.add(ns)
        for name in el.attrib:
            ans = etree.QName(name).namespace
            if ans:
                used.add(ans)
    return used


_QNAME_TOKEN = re.compile(r"^([A-Za-z_][\w.-]*):[A-Za-z_]")


def _qname_text_bindings(root: etree._Element) -> dict[str, str | None]:
    """Prefixes that may be used inside text as QNames (wsd:Types, fault subcodes) → their URI.

    cleanup_namespaces only sees element and attribute names, so a declaration used only by
    QName text would be dropped without this list.
    """
    found: dict[str, str | None] = {}
    for el in root.iter():
        for text in (el.text, *el.attrib.values()):
            if text and ":" in text:
                for token in text.split():
                    m = _QNAME_TOKEN.match(token)
                    if m and not token.startswith(("http:", "https:", "urn:")):
                        found.setdefault(m.group(1), el.nsmap.get(m.group(1)))
    return found


def _tidy_namespaces(root: etree._Element, extra_top: Mapping[str, str] | None = None) -> None:
    """Declare the conventional prefixes once on the Envelope and drop unused declarations."""
    by_uri = {uri: prefix for prefix, uri in NSMAP.items()}
    top = {"soap": SOAP12, "wsa": WSA}
    for ns in _used_namespaces(root):
        if ns in by_uri:
            top[by_uri[ns]] = ns
    qname_text = _qname_text_bindings(root)
    for prefix, uri in qname_text.items():
        if uri is not None and NSMAP.get(prefix) == uri:
            top[prefix] = uri
    if extra_top:
        top.update(extra_top)
    keep = set(qname_text) | set(top)
    etree.cleanup_namespaces(root, top_nsmap=top, keep_ns_prefixes=sorted(keep))


_NOT_XML_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with characters XML cannot carry replaced (reasons often quote hostile input)."""
    return _NOT_XML_CHARS.sub("\ufffd", text)


def _text_el(parent: etree._Element, tag: str, text: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    el.text = text
    return el


def _envelope(
    headers: Headers,
    body: etree._Element | None,
    *,
    extra_top: Mapping[str, str] | None = None,
) -> etree._Element:
    root = etree.Element(qn(SOAP12, "Envelope"), nsmap={"soap": SOAP12, "wsa": WSA})
    header = etree.SubElement(root, qn(SOAP12, "Header"))
    if headers.to is not None:
        _text_el(header, qn(WSA, "To"), headers.to)
    _text_el(header, qn(WSA, "Action"), headers.action)
    if headers.message_id:
        _text_el(header, qn(WSA, "MessageID"), headers.message_id)
    if headers.relates_to:
        _text_el(header, qn(WSA, "RelatesTo"), headers.relates_to)
    reply_to = headers.reply_to
    if reply_to is None and not headers.relates_to:
        reply_to = WSA_ANONYMOUS
    if reply_to:
        _text_el(etree.SubElement(header, qn(WSA, "ReplyTo")), qn(WSA, "Address"), reply_to)
    # Copies: callers reuse extra blocks and bodies, and lxml's append would move them.
    for block in headers.extra:
        header.append(_copy(block))
    body_el = etree.SubElement(root, qn(SOAP12, "Body"))
    if body is not None:
        body_el.append(_copy(body))
    _tidy_namespaces(root, extra_top)
    return root


def _copy(el: etree._Element) -> etree._Element:
    """A detached copy of ``el`` that keeps every namespace in scope where it was.

    A plain deepcopy keeps only declarations used by names, which would strip the binding of a
    prefix used in QName text (``wscn:ClientErrorNoImagesAvailable``) when a parsed element is
    re-sent; _tidy_namespaces drops the ones that really are unused.
    """
    dup = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
    dup.text = el.text
    for child in el:
        dup.append(copy.deepcopy(child))
    return dup


def envelope_element(headers: Headers, body: etree._Element | None) -> etree._Element:
    """The SOAP 1.2 Envelope element for ``headers`` and ``body`` (the body is copied)."""
    return _envelope(headers, body)


_XML_DECL = b'<?xml version="1.0" encoding="utf-8"?>\n'


def serialize(root: etree._Element) -> bytes:
    """UTF-8 bytes with an XML declaration, as every message of this project is sent."""
    return _XML_DECL + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def build_envelope(headers: Headers, body: etree._Element | None) -> bytes:
    """A SOAP 1.2 message as bytes (UTF-8, XML declaration, conventional prefixes)."""
    return serialize(_envelope(headers, body))


def build_response(request: Envelope, action: str, body: etree._Element | None) -> bytes:
    """The reply to ``request``: RelatesTo = its MessageID, To = anonymous."""
    headers = Headers(
        action=action,
        to=WSA_ANONYMOUS,
        relates_to=request.headers.message_id or None,
        reply_to=NO_REPLY_TO,
    )
    return build_envelope(headers, body)


def fault_element(fault: SoapFault) -> tuple[etree._Element, dict[str, str]]:
    """The soap:Fault element and the prefix its subcode QName text needs on the Envelope."""
    el = etree.Element(qn(SOAP12, "Fault"), nsmap={"soap": SOAP12})
    code = etree.SubElement(el, qn(SOAP12, "Code"))
    _text_el(code, qn(SOAP12, "Value"), f"soap:{fault.code}")
    top: dict[str, str] = {}
    if fault.subcode:
        ns, local = fault.subcode
        prefix = next((p for p, uri in NSMAP.items() if uri == ns), "sc")
        top[prefix] = ns
        sub = etree.SubElement(code, qn(SOAP12, "Subcode"))
        _text_el(sub, qn(SOAP12, "Value"), f"{prefix}:{local}")
    reason = etree.SubElement(el, qn(SOAP12, "Reason"))
    text = _text_el(reason, qn(SOAP12, "Text"), xml_text(fault.reason))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    if fault.detail is not None:
        etree.SubElement(el, qn(SOAP12, "Detail")).append(_copy(fault.detail))
    return el, top


def build_fault(fault: SoapFault, relates_to: str | None = None) -> bytes:
    """A SOAP 1.2 fault message (Action = WSA_FAULT_ACTION, To = anonymous)."""
    body, top = fault_element(fault)
    headers = Headers(
        action=WSA_FAULT_ACTION,
        to=WSA_ANONYMOUS,
        relates_to=relates_to,
        reply_to=NO_REPLY_TO,
    )
    return serialize(_envelope(headers, body, extra_top=top))


# --------------------------------------------------------------------------------------------
# parsing


def _invalid(reason: str) -> SoapFault:
    return SoapFault("Sender", INVALID_MESSAGE, reason)


def _single_text(header: etree._Element | None, name: str) -> str | None:
    if header is None:
        return None
    found = header.findall(qn(WSA, name))
    if len(found) > 1:
        raise SoapFault("Sender", INVALID_HEADER, f"more than one wsa:{name} header")
    if not found:
        return None
    return (found[0].text or "").strip()


def parse_envelope(data: bytes, limits: xmlsafe.Limits = xmlsafe.DEFAULT_LIMITS) -> Envelope:
    """Parse untrusted bytes into an :class:`Envelope`; refusals raise a Sender :class:`SoapFault`."""
    try:
        root = xmlsafe.parse(data, limits)
    except xmlsafe.XMLRefused as exc:
        raise _invalid(str(exc)) from None
    return envelope_from_element(root)


def envelope_from_element(root: etree._Element) -> Envelope:
    """Read an already parsed Envelope element (SOAP 1.2 or 1.1) order-insensitively."""
    tag = etree.QName(root)
    if tag.localname != "Envelope" or tag.namespace not in (SOAP12, SOAP11):
        raise _invalid(f"not a SOAP envelope (root element is {root.tag})")
    ns = tag.namespace
    version = "1.2" if ns == SOAP12 else "1.1"
    headers_found = root.findall(qn(ns, "Header"))
    bodies = root.findall(qn(ns, "Body"))
    if len(headers_found) > 1:
        raise _invalid("SOAP envelope has more than one Header")
    if len(bodies) != 1:
        raise _invalid("SOAP envelope has %s Body" % ("no" if not bodies else "more than one"))
    header = headers_found[0] if headers_found else None
    header_elements = tuple(c for c in header if isinstance(c.tag, str)) if header is not None else ()
    reply_to = None
    if header is not None:
        reply = header.findall(qn(WSA, "ReplyTo"))
        if len(reply) > 1:
            raise SoapFault("Sender", INVALID_HEADER, "more than one wsa:ReplyTo header")
        if reply:
            reply_to = (reply[0].findtext(qn(WSA, "Address")) or "").strip() or None
    headers = Headers(
        action=_single_text(header, "Action") or "",
        message_id=_single_text(header, "MessageID") or "",
        to=_single_text(header, "To"),
        relates_to=_single_text(header, "RelatesTo"),
        reply_to=reply_to,
        extra=tuple(c for c in header_elements if c.tag not in _WSA_CORE),
    )
    body = next((c for c in bodies[0] if isinstance(c.tag, str)), None)
    return Envelope(
        version=version,
        headers=headers,
        header_elements=header_elements,
        body=body,
        root=root,
    )


def _resolve_qname(el: etree._Element, text: str | None) -> tuple[str, str] | None:
    text = (text or "").strip()
    if not text:
        return None
    prefix, _, local = text.rpartition(":")
    return ((el.nsmap.get(prefix or None) or ""), local)


_CODE_VALUE = "/".join((qn(SOAP12, "Code"), qn(SOAP12, "Value")))
_SUBCODE_VALUE = "/".join((qn(SOAP12, "Code"), qn(SOAP12, "Subcode"), qn(SOAP12, "Value")))
_REASON_TEXT = "/".join((qn(SOAP12, "Reason"), qn(SOAP12, "Text")))


def fault_from_envelope(env: Envelope) -> SoapFault | None:
    """The fault carried by ``env`` (SOAP 1.2 or 1.1), or None if it is not a fault."""
    body = env.body
    if body is None or etree.QName(body).localname != "Fault":
        return None
    ns = etree.QName(body).namespace
    if ns == SOAP12:
        value = body.find(_CODE_VALUE)
        code_q = _resolve_qname(value, value.text) if value is not None else None
        code = code_q[1] if code_q and code_q[1] in _FAULT_CODES else "Receiver"
        sub_el = body.find(_SUBCODE_VALUE)
        subcode = _resolve_qname(sub_el, sub_el.text) if sub_el is not None else None
        texts = body.findall(_REASON_TEXT)
        reason = ((texts[0].text or "") if texts else "").strip()
        detail_el = body.find(qn(SOAP12, "Detail"))
    elif ns == SOAP11:
        fc = body.find("faultcode")
        code_q = _resolve_qname(fc, fc.text) if fc is not None else None
        local = code_q[1] if code_q else "Server"
        code = _SOAP11_CODES.get(local.split(".")[0], "Receiver")
        subcode = None
        if code_q and code_q[0] != SOAP11:
            # A 1.1 service-specific faultcode (e.g. wscn:ClientErrorJobIdNotFound) plays the subcode role.
            subcode = code_q
            code = "Sender" if "Client" in local else "Receiver"
        reason = (body.findtext("faultstring") or "").strip()
        detail_el = body.find("detail")
    else:
        return None
    detail = next((c for c in detail_el if isinstance(c.tag, str)), None) if detail_el is not None else None
    return SoapFault(code, subcode, reason or code, detail)


# --------------------------------------------------------------------------------------------
# dispatch

HandlerResult: TypeAlias = etree._Element | tuple[str, etree._Element | None] | None
Handler: TypeAlias = Callable[[Envelope], HandlerResult]


class Dispatcher:
    """Routes a request to the handler registered for its ``wsa:Action``.

    ``handler(envelope)`` returns the response body (Action = request Action + "Response"),
    an ``(action, body)`` tuple, or None for a one-way message (HTTP 202, empty body). A raised
    :class:`SoapFault` becomes a fault response; anything else raised becomes a Receiver fault
    ``ServerErrorInternalError`` and a logged traceback. ``handle`` never raises.
    """

    def __init__(self, limits: xmlsafe.Limits = xmlsafe.DEFAULT_LIMITS) -> None:
        self._handlers: dict[str, Handler] = {}
        self.limits = limits

    def register(self, action: str, handler: Handler) -> None:
        if action in self._handlers:
            raise ValueError(f"a handler for {action} is already registered")
        self._handlers[action] = handler

    def register_all(self, handlers: Mapping[str, Handler] | Iterable[tuple[str, Handler]]) -> None:
        items = handlers.items() if isinstance(handlers, Mapping) else handlers
        for action, handler in items:
            self.register(action, handler)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def handle(self, data: bytes, soap_action: str | None = None) -> tuple[int, bytes]:
        """Answer the raw request ``data``: (HTTP status, response bytes)."""
        try:
            envelope = parse_envelope(data, self.limits)
        except SoapFault as fault:
            logger.info("refused SOAP request: %s", fault.reason)
            return fault.http_status, _safe_fault(fault, None)
        except Exception:  # pragma: no cover - parse_envelope only raises SoapFault
            logger.exception("unexpected error parsing a SOAP request")
            return 500, _safe_fault(SoapFault("Receiver", INTERNAL_ERROR, "internal error"), None)
        return self.handle_envelope(envelope, soap_action)

    def handle_envelope(self, envelope: Envelope, soap_action: str | None = None) -> tuple[int, bytes]:
        """Like :meth:`handle` for an envelope already parsed (e.g. the root of an MTOM message)."""
        relates = envelope.headers.message_id or None
        try:
            action = envelope.headers.action
            if not action and soap_action and envelope.version == "1.1":
                action = soap_action.strip().strip('"')
            if not action:
                raise SoapFault("Sender", HEADER_REQUIRED, "the message has no wsa:Action header")
            handler = self._handlers.get(action)
            if handler is None:
                raise SoapFault(
                    "Sender",
                    ACTION_NOT_SUPPORTED,
                    f"action not supported: {action[:200]}",
                )
            result = handler(envelope)
            if result is None:
                return 202, b""
            if isinstance(result, tuple):
                out_action, body = result
            else:
                out_action, body = action + "Response", result
            if body is not None and not isinstance(body, etree._Element):
                raise TypeError(f"handler for {action} returned {type(body)!r}")
            return 200, build_response(envelope, out_action, body)
        except SoapFault as fault:
            logger.info(
                "SOAP fault for %s: %s %s",
                envelope.headers.action,
                fault.code,
                fault.reason,
            )
            return fault.http_status, _safe_fault(fault, relates)
        except Exception:
            logger.exception("handler for %s failed", envelope.headers.action)
            internal = SoapFault("Receiver", INTERNAL_ERROR, "the server could not process the request")
            return 500, _safe_fault(internal, relates)


def _safe_fault(fault: SoapFault, relates_to: str | None) -> bytes:
    try:
        return build_fault(fault, relates_to)
    except Exception:
        # A fault whose reason or detail cannot be serialised (e.g. control characters in a
        # reason built from input) still has to go out as a fault.
        logger.exception("could not serialise fault %r", fault)
        return build_fault(
            SoapFault(
                fault.code if fault.code in _FAULT_CODES else "Receiver",
                None,
                fault.code,
            )
        )
