"""Bounded content decoding: a gzip bomb costs at most the body cap.

Every source decodes request bodies here, so the cap and the list of
supported encodings are the same whether traffic came from a proxy, a
packet capture or a HAR file.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

DEFAULT_BODY_CAP = 1024 * 1024
"""Bytes of decoded body kept for analysis; the rest is cut and the cut recorded."""

_BROTLI_SLICE = 16
"""Compressed bytes fed to brotli per call: one call's output stays within a few MiB whatever the input."""


@dataclass(frozen=True, slots=True)
class DecodedBody:
    """A body after content decoding."""

    data: bytes
    """Decoded bytes, at most the cap."""
    truncated: bool
    """True when more data existed than the cap allowed."""
    problem: str | None = None
    """Why decoding failed or stopped, if it did (the raw bytes are kept then)."""


def decode_content(raw: bytes, content_encoding: str | None, cap: int = DEFAULT_BODY_CAP) -> DecodedBody:
    """Undo ``Content-Encoding`` (gzip, deflate, br, zstd, identity), keeping at most ``cap`` bytes.

    Unknown or broken encodings keep the raw bytes (capped) and say why.

    >>> import gzip
    >>> decode_content(gzip.compress(b"hello"), "gzip").data
    b'hello'
    >>> decode_content(b"x" * 10, None, cap=4)
    DecodedBody(data=b'xxxx', truncated=True, problem=None)
    """
    data = raw
    truncated = False
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    # Encodings are listed in the order applied, so undo them from the last.
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        try:
            data, cut = _decode_one(data, coding, cap)
        except _UnsupportedEncoding:
            return DecodedBody(raw[:cap], len(raw) > cap, f"unsupported content encoding {coding!r}")
        except Exception as exc:  # noqa: BLE001 - any decoder error means "keep the raw bytes"
            if truncated:
                # An outer layer was cut at the cap, so this layer's stream ends early: keep what decoded.
                break
            return DecodedBody(raw[:cap], len(raw) > cap, f"could not decode {coding}: {exc}")
        truncated = truncated or cut
    return DecodedBody(data[:cap], truncated or len(data) > cap, None)


class _UnsupportedEncoding(Exception):
    pass


def _decode_one(data: bytes, coding: str, cap: int) -> tuple[bytes, bool]:
    if coding in ("gzip", "x-gzip"):
        return _zlib_bounded(data, zlib.MAX_WBITS | 16, cap)
    if coding == "deflate":
        try:
            return _zlib_bounded(data, zlib.MAX_WBITS, cap)
        except zlib.error:
            # Some servers send raw deflate without the zlib header.
            return _zlib_bounded(data, -zlib.MAX_WBITS, cap)
    if coding == "br":
        return _brotli_bounded(data, cap)
    if coding == "zstd":
        return _zstd_bounded(data, cap)
    raise _UnsupportedEncoding(coding)


def _zlib_bounded(data: bytes, wbits: int, cap: int) -> tuple[bytes, bool]:
    decompressor = zlib.decompressobj(wbits)
    out = decompressor.decompress(data, cap + 1)
    # A gzip body may hold several members one after another (RFC 1952); decode them all.
    while wbits & 16 and len(out) <= cap and decompressor.eof and decompressor.unused_data:
        decompressor, rest = zlib.decompressobj(wbits), decompressor.unused_data
        try:
            out += decompressor.decompress(rest, cap + 1 - len(out))
        except zlib.error:
            break  # trailing bytes that are not another member: ignore them, as browsers do
    return out[:cap], len(out) > cap or bool(decompressor.unconsumed_tail)


def _brotli_bounded(data: bytes, cap: int) -> tuple[bytes, bool]:
    import brotli  # shipped with mitmproxy

    decompressor = brotli.Decompressor()
    parts: list[bytes] = []
    size = 0
    # Feed small slices so one slice cannot expand beyond reason before we check the cap.
    for start in range(0, len(data), _BROTLI_SLICE):
        chunk = decompressor.process(data[start : start + _BROTLI_SLICE])
        parts.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(parts)[:cap], True
    return b"".join(parts), False


def _zstd_bounded(data: bytes, cap: int) -> tuple[bytes, bool]:
    import io

    import zstandard  # shipped with mitmproxy

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    out = reader.read(cap + 1)
    return out[:cap], len(out) > cap
