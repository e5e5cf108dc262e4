"""Walk a record's request into (where, key path, value, encoding chain) fields for detectors.

Everything the device sent is visited: URL path segments, query and
fragment, every request header, cookies, and the body parsed by its content
(JSON walked key by key, forms, multipart parts, XML, protobuf and gRPC
decoded without a schema, plain text). String values that look encoded are
decoded and parsed again, up to :data:`MAX_LAYERS` layers deep: URL
encoding, base64 and url-safe base64, hex, JSON inside a string, and gzip or
zlib inside those.

The **encoding chain** says how a value was wrapped on the wire, outermost
step first, joined by ``>``: ``gzip>base64>json:events[0].user.em`` reads
"the body was gzip-compressed; inside was base64; inside that a JSON
document, and the value sat at ``events[0].user.em``". Decode steps are bare
names (``gzip``, ``deflate``, ``br``, ``zstd``, ``base64``, ``base64url``,
``hex``, ``url``); a parse step that follows a decode step is written
``format:path``. A value in a plainly parsed body or query has an empty chain
(shown as ``plain``).

Every walk is bounded: at most :data:`MAX_FIELDS` fields per record, values
longer than :data:`MAX_VALUE` characters are cut, and decompression inside
fields stops at :data:`MAX_INFLATED` bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

from auditor.decoding import decode_content
from auditor.detect import Where
from auditor.records import Record

MAX_FIELDS = 5000
"""Fields walked per record: a hostile body cannot make one record cost unbounded time."""
MAX_LAYERS = 3
"""Nested encodings undone inside one value (``base64`` of ``gzip`` of ``json`` counts three)."""
MAX_VALUE = 65536
"""Characters of one field value that detectors look at."""
MAX_INFLATED = 262144
"""Bytes a compressed blob inside a field may expand to."""
MIN_DECODE = 8
"""Shortest string worth trying to decode: shorter ones decode by accident too often."""

# Headers that carry nothing about the person (or that are walked elsewhere, like Cookie).
_SKIPPED_HEADERS = frozenset(
    {"host", ":authority", ":method", ":path", ":scheme", "content-length", "accept-encoding", "connection",
     "content-encoding", "te", "priority", "cookie", "transfer-encoding", "upgrade-insecure-requests"}
)
_MEDIA_TYPES = ("audio/", "video/", "image/", "font/")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_FORM = re.compile(r"^[\w.\-\[\]$%+]{1,128}=[^&\s]*(?:&[\w.\-\[\]$%+]{1,128}=[^&\s]*)*$")
_XML_TOKEN = re.compile(r"<(/?)([A-Za-z_][\w:.-]{0,127})([^<>]{0,4096}?)(/?)>|([^<]+)")
_XML_ATTR = re.compile(r"([A-Za-z_][\w:.-]{0,127})\s*=\s*(?:\"([^\"]{0,4096})\"|'([^']{0,4096})')")
_ALNUM = re.compile(r"[^\W_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_STRAY_AMPERSANDS = re.compile(r"&{2,}")
_PATH_PARAMS = re.compile(r"[;&]")
_JWT = re.compile(r"^(?:Bearer\s+)?(eyJ[A-Za-z0-9_-]{4,})\.(eyJ[A-Za-z0-9_-]{4,})\.([A-Za-z0-9_-]*)$")
_BOUNDARY = re.compile(r"boundary=(?:\"([^\"]{1,200})\"|([^;\s]{1,200}))", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Field:
    """One value in a request and where it sits."""

    where: Where
    """The part of the request."""
    key: str
    """Key path through every layer, e.g. ``data.properties.distinct_id`` or a header name."""
    value: str
    """The value as text (numbers as written, binary leaves left out)."""
    chain: tuple[str, ...] = ()
    """Decoding steps from the wire to this value, outermost first (see the module docstring)."""
    parsed: bool = False
    """True when the value was decoded into the fields that follow it: detectors look at those instead."""

    @property
    def encoding(self) -> str:
        """The chain as written in reports: ``gzip>base64>json:events[0].user.em``, or ``plain``.

        >>> Field(Where.BODY, "a", "x", ("base64", "json:a")).encoding, Field(Where.QUERY, "a", "x").encoding
        ('base64>json:a', 'plain')
        """
        return ">".join(self.chain) or "plain"


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a ``multipart/*`` body."""

    name: str
    """The form field name from ``Content-Disposition``."""
    filename: str | None
    """The uploaded file's name, if the part is a file."""
    content_type: str
    """The part's own ``Content-Type`` (lowercase, may be empty)."""
    data: bytes
    """The part's content."""


def join_key(outer: str, inner: str) -> str:
    """Key path of a value ``inner`` inside a document found at ``outer``.

    >>> join_key("data", "properties.id"), join_key("batch", "[0].x"), join_key("", "a"), join_key("a", "")
    ('data.properties.id', 'batch[0].x', 'a', 'a')
    """
    if not outer:
        return inner
    if not inner:
        return outer
    return outer + inner if inner.startswith("[") else f"{outer}.{inner}"


_KEY_SPLIT = re.compile(r"[.\[\]@>#]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=8192)
def key_names(key: str) -> tuple[str, ...]:
    """The named components of a key path, innermost first, lowercased, separators removed.

    >>> key_names("events[0].user.Display_Name"), key_names("data[0].$set.$name")
    (('displayname', 'user', 'events'), ('name', 'set', 'data'))
    """
    parts = (_NOT_ALNUM.sub("", part.lower()) for part in reversed(_KEY_SPLIT.split(key)) if part)
    return tuple(part for part in parts if part and not part.isdigit())


@functools.lru_cache(maxsize=8192)
def key_name(key: str) -> str:
    """The last named component of a key path, lowercased, separators removed.

    >>> key_name("events[0].params.Location_Lat"), key_name("location[1]"), key_name("ud[em]")
    ('locationlat', 'location', 'em')
    """
    names = key_names(key)
    return names[0] if names else ""


CUT_FIELDS = f"only the first {MAX_FIELDS} values of a request were searched"
CUT_VALUE = f"a value longer than {MAX_VALUE} characters was searched only in part"
CUT_PARTS = "only the first 1000 parts, lines or messages of a body were searched"
CUT_DEPTH = "a JSON document nested too deep to walk was searched as plain text"
_cuts: set[str] = set()
"""Bounds the walk in progress ran into (fixed phrases): a cut is noted, never silent."""
_last: tuple[Record | None, tuple[Field, ...], frozenset[str]] = (None, (), frozenset())


def _clip(value: str) -> str:
    if len(value) > MAX_VALUE:
        _cuts.add(CUT_VALUE)
        return value[:MAX_VALUE]
    return value


def walk_cuts(record: Record) -> frozenset[str]:
    """What the last walk of ``record`` left unsearched because of a bound (empty when nothing)."""
    cached_record, _fields, cuts = _last
    return cuts if cached_record is record else frozenset()


def iter_fields(record: Record) -> tuple[Field, ...]:
    """Every value in the request with its location, key path and encoding chain.

    Several detectors walk the same record in a row, so the last walk is kept.
    """
    global _last
    cached_record, cached, _cut = _last
    if cached_record is record:
        return cached
    _cuts.clear()
    fields: list[Field] = []
    for item in _top_fields(record):
        if len(fields) >= MAX_FIELDS:
            _cuts.add(CUT_FIELDS)
            break
        _walk(item, 0, fields)
    result = tuple(fields)
    _last = (record, result, frozenset(_cuts))
    return result


def _top_fields(record: Record) -> Iterator[Field]:
    if record.url:
        try:
            parts = urlsplit(record.url)
        except ValueError:
            parts = None
        if parts is not None:
            for index, segment in enumerate(p for p in parts.path.split("/") if p):
                yield Field(Where.PATH, f"path[{index}]", _clip(unquote(segment)))
                if "=" in segment and (";" in segment or "&" in segment):
                    # Parameters inside a path segment (DoubleClick Floodlight /activity;src=1;auiddc=..., Adobe
                    # /ibs:dpid=903&dpuuid=...): named values too.
                    for param in _PATH_PARAMS.split(segment):
                        name, equals, value = param.partition("=")
                        if equals and name and value:
                            yield Field(Where.PATH, unquote(name), _clip(unquote(value)))
            for key, value in parse_qsl(parts.query, keep_blank_values=False):
                yield Field(Where.QUERY, key, _clip(value))
            if parts.fragment:
                pairs = parse_qsl(parts.fragment) if "=" in parts.fragment else []
                if pairs:
                    for key, value in pairs:
                        yield Field(Where.QUERY, f"#{key}", _clip(value))
                else:
                    yield Field(Where.QUERY, "#", _clip(unquote(parts.fragment)))
    for name, value in record.request_headers:
        lowered = name.lower()
        if lowered not in _SKIPPED_HEADERS:
            yield Field(Where.HEADER, lowered, _clip(value))
    for name, value in record.cookies:
        yield Field(Where.COOKIE, name, _clip(unquote(value)))
    if record.request_body and record.content_visible:
        coding = (record.header("content-encoding") or "").strip().lower()
        chain: tuple[str, ...] = tuple(c.strip() for c in coding.split(",") if c.strip() not in ("", "identity"))
        body, sniffed = sniff_compressed(record.request_body)
        for key, value, inner_chain in body_fields(body, record.request_content_type or ""):
            yield Field(Where.BODY, key, value, chain + sniffed + inner_chain)


def sniff_compressed(body: bytes) -> tuple[bytes, tuple[str, ...]]:
    """``body`` inflated when it starts like gzip or zlib data, with the step taken (``gzip``/``deflate``).

    SDKs compress bodies themselves and send them without ``Content-Encoding``
    (PostHog's ``compression=gzip-js``), so the magic bytes decide. Bounded by
    the same cap as content decoding; anything that does not inflate stays as it is.

    >>> import gzip
    >>> sniff_compressed(gzip.compress(b'{"a": 1}')), sniff_compressed(b"x=1")
    ((b'{"a": 1}', ('gzip',)), (b'x=1', ()))
    """
    if body[:2] == b"\x1f\x8b":
        step = "gzip"
    elif len(body) >= 2 and body[0] == 0x78 and (body[0] * 256 + body[1]) % 31 == 0:
        step = "deflate"
    else:
        return body, ()
    decoded = decode_content(body, step)
    if decoded.problem is not None or not decoded.data:
        return body, ()
    return decoded.data, (step,)


# -- bodies ------------------------------------------------------------------

Leaf = tuple[str, str, tuple[str, ...]]
"""(key path, value, chain inside the body)."""


def body_fields(body: bytes, content_type: str) -> Iterator[Leaf]:
    """Leaves of a request body, parsed by its content type and by its content."""
    lowered = content_type.lower()
    if lowered.startswith(_MEDIA_TYPES):
        return
    if lowered.startswith("multipart/"):
        for part in multipart_parts(body, content_type):
            if part.filename is None or not part.content_type.startswith(_MEDIA_TYPES):
                for key, value, chain in body_fields(part.data, part.content_type):
                    yield join_key(part.name, key), value, chain
        return
    if "grpc" in lowered:
        for index, message in enumerate(grpc_messages(body)):
            for key, value in protobuf_leaves(message):
                yield join_key(f"[{index}]", key), value, ()
        return
    if "protobuf" in lowered or "x-protobuf" in lowered:
        for key, value in protobuf_leaves(body):
            yield key, value, ()
        return
    parsed = parse_document(body)
    if parsed is not None:
        _fmt, leaves = parsed
        for key, value in leaves:
            yield key, value, ()


def parse_document(data: bytes) -> tuple[str, list[tuple[str, str]]] | None:
    """Parse decoded bytes as JSON, NDJSON, a form, XML, protobuf or text: (format, [(key, value)]).

    ``None`` for binary that is none of these.

    >>> parse_document(b'{"a": [1, {"b": "x"}]}')
    ('json', [('a[0]', '1'), ('a[1].b', 'x')])
    >>> parse_document(b"k=v&n=2")
    ('form', [('k', 'v'), ('n', '2')])
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        message = protobuf_leaves(data)
        return ("protobuf", message) if message else None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        document = _json_or_none(stripped)
        if document is not None:
            return "json", walk_json(document)
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1:  # NDJSON or a Sentry envelope: one JSON document per line
            leaves: list[tuple[str, str]] = []
            if len(lines) > 1000:
                _cuts.add(CUT_PARTS)
            for index, line in enumerate(lines[:1000]):
                document = _json_or_none(line)
                if document is None:
                    leaves.append((f"line{index}", _clip(line)))
                else:
                    leaves.extend(walk_json(document, f"line{index}"))
            return "json", leaves
    if stripped.startswith("<"):
        leaves = xml_leaves(stripped)
        if leaves:
            return "xml", leaves
    # SDKs leave stray separators (Facebook App Events ends its body with '&'): tidy them before matching.
    form = _STRAY_AMPERSANDS.sub("&", stripped.strip("&")) if "&" in stripped else stripped
    if _FORM.match(form[:MAX_VALUE]) and not (form.endswith("=") and _BASE64.match(form)):
        pairs = parse_qsl(_clip(form), keep_blank_values=False)
        if pairs:
            return "form", pairs
    if not text.isprintable() and not _mostly_text(text):
        leaves = protobuf_leaves(data)
        return ("protobuf", leaves) if leaves else None
    return "text", [("", _clip(stripped))]


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
    except RecursionError:
        _cuts.add(CUT_DEPTH)
        return None


def walk_json(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Leaves of a JSON document with dotted key paths (``events[0].params.lat``).

    >>> walk_json({"u": {"em": "x"}, "n": [True, None, 2.5]})
    [('u.em', 'x'), ('n[2]', '2.5')]
    """
    leaves: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        if len(leaves) >= MAX_FIELDS:
            _cuts.add(CUT_FIELDS)
            break
        current, here = stack.pop()
        if isinstance(current, dict):
            for key, value in reversed(list(current.items())):
                stack.append((value, f"{here}.{key}" if here else str(key)))
        elif isinstance(current, list):
            for index in range(len(current) - 1, -1, -1):
                stack.append((current[index], f"{here}[{index}]"))
        elif isinstance(current, str):
            leaves.append((here, _clip(current)))
        elif current is not None and not isinstance(current, bool):
            leaves.append((here, repr(current) if isinstance(current, float) else str(current)))
    return leaves


def xml_leaves(text: str) -> list[tuple[str, str]]:
    """Element texts and attributes of an XML document, keyed by tag path (``a.b`` and ``a.b@attr``).

    A tokenizer, not an XML parser: entities are never expanded, so no entity bomb.

    >>> xml_leaves('<r><user id="7"><email>a@b.org</email></user></r>')
    [('r.user@id', '7'), ('r.user.email', 'a@b.org')]
    """
    leaves: list[tuple[str, str]] = []
    stack: list[str] = []
    for match in _XML_TOKEN.finditer(text[:MAX_VALUE * 4]):
        closing, tag, attributes, self_closing, content = match.groups()
        if tag is None:
            content = content.strip()
            if content and stack:
                leaves.append((".".join(stack), _clip(content)))
        elif tag.startswith(("?", "!")):
            continue
        elif closing:
            if tag in stack:
                del stack[len(stack) - 1 - stack[::-1].index(tag) :]
        else:
            path = ".".join([*stack, tag])
            for attr in _XML_ATTR.finditer(attributes or ""):
                leaves.append((f"{path}@{attr.group(1)}", attr.group(2) or attr.group(3) or ""))
            if not self_closing and not (attributes or "").endswith("/") and len(stack) < 64:
                stack.append(tag)
        if len(leaves) >= MAX_FIELDS:
            _cuts.add(CUT_FIELDS)
            break
    return leaves


def multipart_parts(body: bytes, content_type: str) -> list[Part]:
    """The parts of a multipart body (empty when the boundary is missing or wrong)."""
    match = _BOUNDARY.search(content_type)
    if not match:
        return []
    boundary = ("--" + (match.group(1) or match.group(2))).encode("latin-1", "replace")
    parts: list[Part] = []
    chunks = body.split(boundary)
    if len(chunks) > 1001 and not chunks[1001].startswith(b"--"):
        _cuts.add(CUT_PARTS)
    for chunk in chunks[1:1001]:
        if chunk.startswith(b"--"):
            break
        head, separator, data = chunk.partition(b"\r\n\r\n")
        if not separator:
            head, separator, data = chunk.partition(b"\n\n")
        if not separator:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        headers = head.decode("latin-1").lower()
        original = head.decode("utf-8", "replace")
        name = re.search(r'\bname="([^"]{0,200})"', original, re.IGNORECASE)
        filename = re.search(r'\bfilename="([^"]{0,200})"', original, re.IGNORECASE)
        part_type = re.search(r"content-type:\s*([^\s;]{1,100})", headers)
        parts.append(
            Part(
                name=name.group(1) if name else "",
                filename=filename.group(1) if filename else None,
                content_type=part_type.group(1) if part_type else "",
                data=data,
            )
        )
    return parts


def grpc_messages(body: bytes) -> list[bytes]:
    """Messages of a gRPC body: 5-byte frames (compressed flag, big-endian length), compressed ones inflated."""
    messages: list[bytes] = []
    offset = 0
    while offset + 5 <= len(body) and len(messages) < 1000:
        compressed = body[offset]
        (length,) = struct.unpack(">I", body[offset + 1 : offset + 5])
        message = body[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if compressed == 1:
            message = inflate(message) or b""
        messages.append(message)
    if offset + 5 <= len(body):
        _cuts.add(CUT_PARTS)
    return messages


# -- protobuf ----------------------------------------------------------------


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7


ZIGZAG_FROM = 1 << 16
"""Smallest varint also read as a zigzag ``sint``: small counters and enums are not worth a second reading."""


def varint_readings(value: int) -> list[int]:
    """What a varint may mean without a schema: negative int32/int64 (ten-byte two's complement) or zigzag sint.

    >>> varint_readings(150), varint_readings((1 << 64) - 932650110), varint_readings(1865300219)
    ([150], [-932650110], [1865300219, -932650110])
    """
    if value >= 1 << 63:
        return [value - (1 << 64)]
    if value >= ZIGZAG_FROM:
        return [value, (value >> 1) ^ -(value & 1)]
    return [value]


def protobuf_leaves(data: bytes, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Leaves of a protobuf message read without a schema, keyed by field numbers (``1.3.2``).

    Varints are given as integers (see :func:`varint_readings`: a large one
    yields a second leaf with its zigzag reading), fixed64/fixed32 as doubles/floats when they
    look like real numbers, length-delimited fields as text when printable and
    as nested messages otherwise. Empty when ``data`` is not a whole message.

    >>> protobuf_leaves(bytes([0x0A, 0x03]) + b"ana" + bytes([0x10, 0x96, 0x01]))
    [('1', 'ana'), ('2', '150')]
    """
    leaves: list[tuple[str, str]] = []
    offset = 0
    try:
        while offset < len(data):
            tag, offset = _varint(data, offset)
            number, wire_type = tag >> 3, tag & 7
            if number == 0:
                return []
            key = f"{path}.{number}" if path else str(number)
            if wire_type == 0:
                value, offset = _varint(data, offset)
                leaves.extend((key, str(number)) for number in varint_readings(value))
            elif wire_type == 1:
                if offset + 8 > len(data):
                    return []
                (double,) = struct.unpack("<d", data[offset : offset + 8])
                if double == double and 1e-6 < abs(double) < 1e15:
                    leaves.append((key, repr(double)))
                offset += 8
            elif wire_type == 5:
                if offset + 4 > len(data):
                    return []
                (single,) = struct.unpack("<f", data[offset : offset + 4])
                if single == single and 1e-6 < abs(single) < 1e9:
                    leaves.append((key, f"{single:.7g}"))
                offset += 4
            elif wire_type == 2:
                length, offset = _varint(data, offset)
                if offset + length > len(data):
                    return []
                chunk = data[offset : offset + length]
                offset += length
                text = _printable_text(chunk)
                if text is not None:
                    leaves.append((key, _clip(text)))
                elif depth < 16:
                    leaves.extend(protobuf_leaves(chunk, key, depth + 1))
            else:
                return []  # groups are obsolete; anything else means this is not protobuf
            if len(leaves) >= MAX_FIELDS:
                _cuts.add(CUT_FIELDS)
                break
    except ValueError:
        return []
    return leaves


def _printable_text(chunk: bytes) -> str | None:
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def _mostly_text(text: str) -> bool:
    if not text:
        return True
    head = text[:2048]
    if head.isprintable():
        return True
    controls = len(_CONTROL.findall(head))
    return controls <= 0.05 * len(head)


# -- nested encodings --------------------------------------------------------


def inflate(data: bytes) -> bytes | None:
    """Inflate gzip or zlib data up to :data:`MAX_INFLATED` bytes; ``None`` when it is neither."""
    if data[:2] == b"\x1f\x8b":
        wbits = zlib.MAX_WBITS | 16
    elif len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        wbits = zlib.MAX_WBITS
    else:
        return None
    try:
        return zlib.decompressobj(wbits).decompress(data, MAX_INFLATED)
    except zlib.error:
        return None


def _decode_steps(value: str) -> list[tuple[tuple[str, ...], bytes]]:
    """Ways ``value`` might be encoded: [(steps, decoded bytes)], only those that decode to something."""
    results: list[tuple[tuple[str, ...], bytes]] = []
    stripped = value.strip()
    if len(stripped) < MIN_DECODE:
        return results
    if _PERCENT.search(stripped):
        results.append((("url",), unquote_plus(stripped).encode("utf-8", "surrogateescape")))
        return results
    jwt = _JWT.match(stripped)
    if jwt is not None:
        # A JSON Web Token: the payload (claims such as sub, email) is base64url JSON; the signature is not data.
        payload = _b64(jwt.group(2), base64.urlsafe_b64decode)
        if payload is not None:
            results.append((("jwt",), payload))
        return results
    first = stripped[0]
    if first in "{[" and stripped[-1] in "}]":
        results.append(((), stripped.encode("utf-8", "surrogateescape")))
        return results
    if _HEX.match(stripped) and len(stripped) >= 2 * MIN_DECODE:
        results.extend(_accept(("hex",), binascii.unhexlify(stripped)))
        return results
    if len(stripped) >= 12 and not stripped.isalpha() and not stripped.isdigit():
        if _BASE64.match(stripped):
            decoded = _b64(stripped, base64.b64decode)
            if decoded is not None:
                results.extend(_accept(("base64",), decoded))
        elif _BASE64URL.match(stripped):
            decoded = _b64(stripped, base64.urlsafe_b64decode)
            if decoded is not None:
                results.extend(_accept(("base64url",), decoded))
    return results


def _b64(text: str, decoder: Any) -> bytes | None:
    unpadded = text.rstrip("=")
    if len(unpadded) % 4 == 1:
        return None
    try:
        decoded: bytes = decoder(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return None
    return decoded


def _accept(steps: tuple[str, ...], decoded: bytes) -> list[tuple[tuple[str, ...], bytes]]:
    """Keep a decoding only when it gives text or compressed data: random IDs decode to noise."""
    inflated = inflate(decoded)
    if inflated is not None:
        step = "gzip" if decoded[:2] == b"\x1f\x8b" else "deflate"
        return [((*steps, step), inflated)]
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if len(text) >= 4 and _mostly_text(text) and len(_ALNUM.findall(text, 0, 4096)) >= min(len(text), 4096) / 3:
        return [(steps, decoded)]
    return []


def _walk(item: Field, depth: int, out: list[Field]) -> None:
    """Append ``item`` and the fields hidden inside its value by nested encodings."""
    position = len(out)
    out.append(item)
    if depth >= MAX_LAYERS:
        return
    structured = False
    for steps, decoded in _decode_steps(item.value):
        parsed = parse_document(decoded)
        if parsed is None:
            continue
        fmt, leaves = parsed
        for inner_key, inner_value in leaves:
            if len(out) >= MAX_FIELDS:
                _cuts.add(CUT_FIELDS)
                break
            if inner_value == item.value or (not steps and fmt == "text"):
                continue
            structured = structured or steps != ("jwt",)  # a token stays a credential even once its claims are read
            chain = (*item.chain, *steps) if fmt == "text" else (*item.chain, *steps, f"{fmt}:{inner_key}")
            _walk(Field(item.where, join_key(item.key, inner_key), inner_value, chain), depth + 1, out)
    if structured:
        out[position] = Field(item.where, item.key, item.value, item.chain, parsed=True)
