"""MTOM/XOP: SOAP messages with binary attachments (SendImage, RetrieveImage).

Implements PROTOCOL.md §4.4 (RetrieveImage response: multipart/related, root part
``application/xop+xml; type="application/soap+xml"``, image part referenced by
``xop:Include href="cid:..."``), §5.1 (SendImage request, same framing) and §8 (root part first
on output; on input parts are matched by Content-ID, never by order). Microsoft docs:
windows-driver-docs-pr/image/sendimagerequest-example.md and retrieveimageresponse.md.

Reading is streaming: the root part is kept in memory (bounded); every other part is written to
a temporary file in ``spool_dir`` as it arrives, with its size and sha256 computed on the way, so
a message is never held in memory whole. Any refusal (wrong content type, no boundary, a part
over its limit, a truncated body, a reference to a missing part) raises a Sender
:class:`~devices.protocols.soap.SoapFault` and removes every file the message had spooled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.message
import hashlib
import io
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote

from lxml import etree

from . import soap, xmlsafe
from .namespaces import XOP, qn

logger = logging.getLogger(__name__)

XOP_INCLUDE = qn(XOP, "Include")
CHUNK = 256 * 1024
_SOAP_TYPES = ("application/soap+xml", "text/xml", "application/xml")
_BINARY_ENCODINGS = ("", "binary", "8bit", "7bit")


# --------------------------------------------------------------------------------------------
# value objects


@dataclass(frozen=True)
class Attachment:
    """A part to send: bytes in memory (``data``) or a file read in chunks (``path``)."""

    content_id: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.path is None):
            raise ValueError("an Attachment needs exactly one of data or path")
        if not self.content_id or any(c in self.content_id for c in "<>\r\n"):
            raise ValueError("bad Content-ID %r" % self.content_id)

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path or "")


@dataclass(frozen=True)
class MtomLimits:
    max_root_bytes: int = 1024 * 1024
    max_part_bytes: int = 256 * 1024 * 1024
    max_parts: int = 16
    max_total_bytes: int = 512 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    xml: xmlsafe.Limits = xmlsafe.DEFAULT_LIMITS


DEFAULT_MTOM_LIMITS = MtomLimits()


@dataclass(frozen=True)
class SpooledPart:
    """A received attachment, already on disk; the caller moves or deletes ``path``."""

    content_id: str
    content_type: str
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class MtomMessage:
    """A received SOAP message and its attachments by Content-ID (``envelope.attachments`` too)."""

    envelope: soap.Envelope
    parts: dict[str, SpooledPart]

    def part_for(self, el: etree._Element | None) -> SpooledPart:
        """The part an ``xop:Include`` (or an element holding one, e.g. dsp:ImageData) names."""
        cid = xop_href_cid(el) if el is not None else None
        if cid is None:
            raise soap.SoapFault("Sender", soap.INVALID_MESSAGE, "the element carries no xop:Include")
        part = self.parts.get(cid)
        if part is None:
            raise soap.SoapFault("Sender", soap.INVALID_MESSAGE, "no MIME part with Content-ID %s" % cid)
        return part

    def discard(self) -> None:
        """Delete the spooled files that are still where the parser left them."""
        for part in self.parts.values():
            part.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# XOP helpers


def xop_include(content_id: str) -> etree._Element:
    """``<xop:Include href="cid:..."/>`` for the part with ``content_id`` (no angle brackets)."""
    el = etree.Element(XOP_INCLUDE, nsmap={"xop": XOP})
    el.set("href", "cid:" + quote(content_id, safe="@.-_~!$&'()*+,;=:/"))
    return el


def _normalise_cid(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value


def xop_href_cid(el: etree._Element) -> str | None:
    """The Content-ID an xop:Include names (``el`` itself or its first descendant), else None."""
    inc = el if el.tag == XOP_INCLUDE else next(el.iter(XOP_INCLUDE), None)
    if inc is None:
        return None
    href = (inc.get("href") or "").strip()
    if href[:4].lower() != "cid:":
        return None
    return _normalise_cid(unquote(href[4:]))


# --------------------------------------------------------------------------------------------
# building


def new_content_id(label: str = "part") -> str:
    return "%s.%s@opendsm" % (label, uuid.uuid4().hex)


@dataclass(frozen=True)
class MtomPlan:
    """A message ready to send: its Content-Type, exact length and body chunks."""

    content_type: str
    segments: tuple[bytes | Attachment, ...]
    chunk_size: int = CHUNK

    @property
    def content_length(self) -> int:
        return sum(len(s) if isinstance(s, bytes) else s.size() for s in self.segments)

    def chunks(self) -> Iterator[bytes]:
        for seg in self.segments:
            if isinstance(seg, bytes):
                yield seg
            elif seg.data is not None:
                yield seg.data
            else:
                with open(seg.path or "", "rb") as fh:
                    while block := fh.read(self.chunk_size):
                        yield block

    def body(self) -> bytes:
        return b"".join(self.chunks())


def plan_mtom(
    envelope: bytes,
    parts: Sequence[Attachment],
    *,
    boundary: str | None = None,
    root_id: str | None = None,
) -> MtomPlan:
    """Lay out an MTOM message: the SOAP root part first, then ``parts`` in order."""
    boundary = boundary or "uuid:" + str(uuid.uuid4())
    root_id = root_id or new_content_id("root")
    content_type = (
        'multipart/related; type="application/xop+xml"; boundary="%s"; start="<%s>"; '
        'start-info="application/soap+xml"' % (boundary, root_id)
    )
    sep = b"--" + boundary.encode("ascii")
    segments: list[bytes | Attachment] = [
        sep
        + b'\r\nContent-Type: application/xop+xml; charset=utf-8; type="application/soap+xml"\r\n'
        + b"Content-Transfer-Encoding: binary\r\nContent-ID: <"
        + root_id.encode("ascii")
        + b">\r\n\r\n"
        + envelope
    ]
    for part in parts:
        head = "\r\n%s\r\nContent-Type: %s\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <%s>\r\n\r\n"
        segments.append((head % (sep.decode(), part.content_type, part.content_id)).encode("ascii"))
        segments.append(part)
    segments.append(b"\r\n" + sep + b"--\r\n")
    return MtomPlan(content_type, tuple(segments))


def build_mtom(envelope: bytes, parts: Sequence[Attachment]) -> tuple[str, bytes]:
    """(Content-Type header value, body) of an MTOM message held in memory."""
    plan = plan_mtom(envelope, parts)
    return plan.content_type, plan.body()


def iter_mtom(envelope: bytes, parts: Sequence[Attachment]) -> tuple[str, Iterator[bytes]]:
    """(Content-Type, body chunks); file attachments are read in chunks while sending."""
    plan = plan_mtom(envelope, parts)
    return plan.content_type, plan.chunks()


# --------------------------------------------------------------------------------------------
# reading


def _refuse(reason: str) -> soap.SoapFault:
    return soap.SoapFault("Sender", soap.INVALID_MESSAGE, reason)


def _content_type(value: str) -> email.message.Message:
    msg = email.message.Message()
    msg["Content-Type"] = value or ""
    return msg


def is_multipart(content_type: str) -> bool:
    return _content_type(content_type).get_content_type() == "multipart/related"


class _Sink:
    """Where one part's bytes go: memory for the root, a temp file for everything else."""

    def __init__(self, headers: dict[str, str], in_memory: bool, spool_dir: Path) -> None:
        self.content_id = _normalise_cid(headers.get("content-id", ""))
        self.content_type = headers.get("content-type", "").strip()
        self.in_memory = in_memory
        self.size = 0
        self.memory = bytearray()
        self.digest = hashlib.sha256()
        self.path: Path | None = None
        self.fh: BinaryIO | None = None
        if not in_memory:
            fd, name = tempfile.mkstemp(prefix="mtom-", suffix=".part", dir=spool_dir)
            self.path = Path(name)
            self.fh = os.fdopen(fd, "wb")

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if self.in_memory:
            self.memory += data
        else:
            self.digest.update(data)
            assert self.fh is not None
            self.fh.write(data)

    def close(self, fsync: bool) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.flush()
            if fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()

    def discard(self) -> None:
        if self.fh is not None and not self.fh.closed:
            self.fh.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _Parser:
    """A push parser for multipart/related: ``feed`` chunks, then ``finish``."""

    def __init__(self, content_type: str, spool_dir: Path, limits: MtomLimits, fsync: bool) -> None:
        ct = _content_type(content_type)
        if ct.get_content_type() != "multipart/related":
            raise _refuse("expected multipart/related, got %s" % ct.get_content_type())
        xtype = ct.get_param("type")
        if isinstance(xtype, str) and xtype.lower() not in ("application/xop+xml", "application/soap+xml"):
            raise _refuse("multipart/related of type %s is not MTOM" % xtype)
        boundary = ct.get_param("boundary")
        if not isinstance(boundary, str) or not boundary:
            raise _refuse("multipart/related without a boundary")
        if len(boundary) > 200 or not boundary.isascii() or not boundary.isprintable():
            raise _refuse("malformed MIME boundary")
        start = ct.get_param("start")
        self.start = _normalise_cid(start) if isinstance(start, str) else None
        # Searching for LF--boundary and dropping an optional CR before it accepts bare-LF
        # senders as well as the CRLF the RFC asks for.
        self.delim = b"\n--" + boundary.encode("ascii")
        self.spool_dir = Path(spool_dir)
        self.limits = limits
        self.fsync = fsync
        self.buf = bytearray(b"\n")  # lets the very first boundary match without a leading CRLF
        self.state = "preamble"
        self.total = 0
        self.sink: _Sink | None = None
        self.done: list[_Sink] = []
        self.root: _Sink | None = None

    # -- feeding

    def feed(self, data: bytes) -> None:
        if self.state == "end" or not data:
            return
        self.total += len(data)
        if self.total > self.limits.max_total_bytes:
            raise _refuse("MTOM message over the limit of %d bytes" % self.limits.max_total_bytes)
        self.buf += data
        while self._step():
            pass

    def _step(self) -> bool:
        """Advance the state machine; True while it can make progress without more input."""
        if self.state == "preamble":
            i = self.buf.find(self.delim)
            if i < 0:
                if len(self.buf) > self.limits.max_header_bytes:
                    raise _refuse("MTOM body does not start with the boundary")
                return False
            del self.buf[: i + len(self.delim)]
            self.state = "after-delim"
            return True
        if self.state == "after-delim":
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > 1024:
                    raise _refuse("malformed MIME boundary line")
                return len(self.buf) >= 2 and self._closing()
            if self._closing():
                return False
            if self.buf[:nl].strip(b" \t\r"):
                raise _refuse("malformed MIME boundary line")
            del self.buf[: nl + 1]
            self.state = "headers"
            return True
        if self.state == "headers":
            end, skip = self._header_end()
            if (
                end < 0 and len(self.buf) > self.limits.max_header_bytes
            ) or end > self.limits.max_header_bytes:
                raise _refuse("MIME part headers over %d bytes" % self.limits.max_header_bytes)
            if end < 0:
                return False
            raw = bytes(self.buf[:end])
            del self.buf[: end + skip]
            self._open_part(raw)
            self.state = "body"
            return True
        if self.state == "body":
            i = self.buf.find(self.delim)
            if i < 0:
                # Keep enough for a delimiter split across chunks, plus the CR before it.
                keep = len(self.delim) + 1
                if len(self.buf) > keep:
                    self._write_buf(len(self.buf) - keep)
                    del self.buf[:-keep]
                return False
            end = i - 1 if i > 0 and self.buf[i - 1] == 0x0D else i
            self._write_buf(end)
            del self.buf[: i + len(self.delim)]
            self._close_part()
            self.state = "after-delim"
            return True
        return False

    def _closing(self) -> bool:
        if self.buf[:2] == b"--":
            self.state = "end"
            self.buf.clear()
            return True
        return False

    def _header_end(self) -> tuple[int, int]:
        crlf = self.buf.find(b"\r\n\r\n")
        # Only before the CRLF CRLF: the part's body (megabytes of image) follows the headers.
        lf = self.buf.find(b"\n\n", 0, crlf + 2 if crlf >= 0 else len(self.buf))
        if crlf >= 0 and (lf < 0 or crlf < lf):
            return crlf, 4
        return lf, 2

    def _open_part(self, raw: bytes) -> None:
        if len(self.done) >= self.limits.max_parts:
            raise _refuse("MTOM message has more than %d parts" % self.limits.max_parts)
        headers: dict[str, str] = {}
        last = ""
        for line in raw.decode("latin-1").replace("\r\n", "\n").split("\n"):
            if line[:1] in (" ", "\t") and last:
                headers[last] += " " + line.strip()
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise _refuse("malformed MIME part header")
            last = name.strip().lower()
            headers[last] = value.strip()
        encoding = headers.get("content-transfer-encoding", "").strip().lower()
        if encoding not in _BINARY_ENCODINGS:
            raise _refuse("MIME part transfer encoding %s is not supported" % encoding)
        cid = _normalise_cid(headers.get("content-id", ""))
        is_root = self.root is None and (cid == self.start if self.start else not self.done)
        self.sink = _Sink(headers, is_root, self.spool_dir)
        if is_root:
            self.root = self.sink

    def _write_buf(self, end: int) -> None:
        # A view, not a slice: the image bytes are copied once, into the file, not three times.
        with memoryview(self.buf) as view, view[:end] as data:
            self._write(data)

    def _write(self, data: bytes | memoryview) -> None:
        sink = self.sink
        if sink is None or not data:
            return
        if sink.in_memory and sink.size + len(data) > self.limits.max_root_bytes:
            raise _refuse("MTOM root part over the limit of %d bytes" % self.limits.max_root_bytes)
        if not sink.in_memory and sink.size + len(data) > self.limits.max_part_bytes:
            raise _refuse(
                "MIME part %s over the limit of %d bytes"
                % (sink.content_id or "?", self.limits.max_part_bytes)
            )
        sink.write(data)

    def _close_part(self) -> None:
        if self.sink is not None:
            self.sink.close(self.fsync)
            self.done.append(self.sink)
            self.sink = None

    # -- finishing

    def finish(self) -> MtomMessage:
        if self.state == "preamble":
            raise _refuse(
                "empty MTOM body" if not self.total else "MTOM body does not start with the boundary"
            )
        if self.state != "end":
            raise _refuse("truncated MTOM message (no closing boundary)")
        root = self.root
        if root is None:
            raise _refuse("MTOM message has no root part%s" % (" <%s>" % self.start if self.start else ""))
        rtype = root.content_type.split(";")[0].strip().lower()
        if rtype not in ("", "application/xop+xml", *_SOAP_TYPES):
            raise _refuse("MTOM root part has content type %s" % rtype)
        envelope = soap.parse_envelope(bytes(root.memory), self.limits.xml)
        by_id: dict[str, _Sink] = {}
        for sink in self.done:
            if sink is root:
                continue
            if sink.content_id in by_id:
                raise _refuse("two MIME parts with Content-ID %s" % sink.content_id)
            by_id[sink.content_id] = sink
        parts: dict[str, SpooledPart] = {}
        for inc in envelope.root.iter(XOP_INCLUDE):
            cid = xop_href_cid(inc)
            if cid is None:
                raise _refuse("xop:Include without a cid: href")
            found = by_id.get(cid)
            if found is None or found.path is None:
                raise _refuse("xop:Include names a missing MIME part: %s" % cid)
            ctype = found.content_type or "application/octet-stream"
            parts[cid] = SpooledPart(cid, ctype, found.path, found.size, found.digest.hexdigest())
        for cid, sink in by_id.items():
            if cid not in parts:
                # An attachment nothing refers to is not part of the message; do not keep it.
                logger.info("dropping unreferenced MIME part %s", cid)
                sink.discard()
        envelope = dataclasses.replace(envelope, attachments=parts)
        return MtomMessage(envelope, parts)

    def abort(self) -> None:
        for sink in [*self.done, *([self.sink] if self.sink else [])]:
            sink.discard()


def read_mtom(
    content_type: str,
    stream: BinaryIO | Iterable[bytes],
    spool_dir: Path | str,
    limits: MtomLimits = DEFAULT_MTOM_LIMITS,
    *,
    fsync: bool = True,
) -> MtomMessage:
    """Read an MTOM message from a binary stream or an iterable of chunks (httpx ``iter_bytes``).

    Raises a Sender SoapFault on refusal, after deleting whatever the message had spooled.
    """
    parser = _Parser(content_type, Path(spool_dir), limits, fsync)
    ok = False
    try:
        for chunk in _chunks(stream):
            parser.feed(chunk)
            if parser.state == "end":
                break
        message = parser.finish()
        ok = True
        return message
    finally:
        if not ok:
            parser.abort()


def _chunks(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    read = getattr(stream, "read", None)
    if read is not None:
        while block := read(CHUNK):
            yield block
    else:
        yield from stream  # type: ignore[misc]


async def read_mtom_async(
    content_type: str,
    chunks: AsyncIterator[bytes],
    spool_dir: Path | str,
    limits: MtomLimits = DEFAULT_MTOM_LIMITS,
    *,
    fsync: bool = True,
) -> MtomMessage:
    """Like :func:`read_mtom` over an async byte stream (aiohttp ``iter_chunked``, httpx ``aiter_bytes``).

    File writes are plain blocking writes of one chunk at a time: short, and keeping them on
    the event loop preserves ordering without a thread hop per chunk. The ``fsync`` of the parts
    (milliseconds each, the disk's latency) runs in the loop's default executor once the message
    is complete, so other connections are served meanwhile; the function still returns only when
    the parts are durable.
    """
    parser = _Parser(content_type, Path(spool_dir), limits, fsync=False)
    ok = False
    try:
        async for chunk in chunks:
            parser.feed(chunk)
            if parser.state == "end":
                break
        message = parser.finish()
        if fsync and message.parts:
            paths = [part.path for part in message.parts.values()]
            await asyncio.get_running_loop().run_in_executor(None, _fsync_files, paths)
        ok = True
        return message
    finally:
        if not ok:
            parser.abort()


def _fsync_files(paths: list[Path]) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _plain_soap(data: bytes, limits: MtomLimits) -> MtomMessage:
    envelope = soap.parse_envelope(data, limits.xml)
    for inc in envelope.root.iter(XOP_INCLUDE):
        raise _refuse("xop:Include names a missing MIME part: %s" % xop_href_cid(inc))
    return MtomMessage(envelope, {})


def _kind(content_type: str) -> str:
    ctype = _content_type(content_type).get_content_type()
    if ctype == "multipart/related":
        return "mtom"
    if ctype in _SOAP_TYPES:
        return "soap"
    raise _refuse("unsupported content type %s for a SOAP message" % (ctype or "(none)"))


def read_soap_http(
    content_type: str,
    body: bytes | BinaryIO | Iterable[bytes],
    spool_dir: Path | str,
    limits: MtomLimits = DEFAULT_MTOM_LIMITS,
    *,
    fsync: bool = True,
) -> MtomMessage:
    """Read an HTTP SOAP request or response body: plain ``application/soap+xml`` or MTOM."""
    kind = _kind(content_type)
    source = io.BytesIO(bytes(body)) if isinstance(body, bytes | bytearray) else body
    if kind == "mtom":
        return read_mtom(content_type, source, spool_dir, limits, fsync=fsync)
    data = bytearray()
    for chunk in _chunks(source):
        data += chunk
        if len(data) > limits.max_root_bytes:
            raise _refuse("SOAP message over the limit of %d bytes" % limits.max_root_bytes)
    return _plain_soap(bytes(data), limits)


async def read_soap_http_async(
    content_type: str,
    chunks: AsyncIterator[bytes],
    spool_dir: Path | str,
    limits: MtomLimits = DEFAULT_MTOM_LIMITS,
    *,
    fsync: bool = True,
) -> MtomMessage:
    """Async :func:`read_soap_http` over a chunk iterator."""
    if _kind(content_type) == "mtom":
        return await read_mtom_async(content_type, chunks, spool_dir, limits, fsync=fsync)
    data = bytearray()
    async for chunk in chunks:
        data += chunk
        if len(data) > limits.max_root_bytes:
            raise _refuse("SOAP message over the limit of %d bytes" % limits.max_root_bytes)
    return _plain_soap(bytes(data), limits)
