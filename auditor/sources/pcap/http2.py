"""HTTP/2 frame parsing of decrypted (or cleartext prior-knowledge) streams.

HPACK is decoded with the ``hpack`` package (shipped with mitmproxy); one
decoder per direction, fed every header block in order, as the protocol needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from hpack import Decoder
from hpack.exceptions import HPACKError

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_DATA = 0x0
FRAME_HEADERS = 0x1
FRAME_PUSH_PROMISE = 0x5
FRAME_CONTINUATION = 0x9
FLAG_END_STREAM = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20
MAX_FRAME = 1 << 24
MAX_OPEN_STREAMS = 1000
"""Requests waiting for their response; beyond this the oldest are handed out without one."""


@dataclass(slots=True)
class Exchange:
    """One HTTP/2 request, and its response head when seen."""

    stream_id: int
    started: float
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    body_size: int = 0
    body_truncated: bool = False
    bytes_up: int = 0
    bytes_down: int = 0
    request_done: bool = False
    status: int | None = None
    response_content_type: str | None = None


class Http2Connection:
    """Both directions of one HTTP/2 connection; completed exchanges come out of :meth:`feed`."""

    def __init__(self, body_cap: int) -> None:
        self.body_cap = body_cap
        self.buffers = [b"", b""]
        self.preface_seen = False
        self.decoders = [Decoder(), Decoder()]
        for decoder in self.decoders:
            decoder.max_allowed_table_size = 1 << 20
            decoder.max_header_list_size = 1 << 20
        self.header_blocks: list[tuple[int, int, bytearray] | None] = [None, None]
        self.streams: dict[int, Exchange] = {}
        self.error: str | None = None

    def feed(self, side: int, data: bytes, now: float) -> list[Exchange]:
        """Add decrypted bytes of one side (0 client, 1 server); return finished exchanges."""
        if self.error:
            return []
        buffer = self.buffers[side] + data
        position = 0
        if side == 0 and not self.preface_seen:
            if len(buffer) < len(PREFACE):
                self.buffers[side] = buffer
                return []
            if not buffer.startswith(PREFACE):
                self.error = "client did not send the HTTP/2 preface"
                return []
            self.preface_seen = True
            position = len(PREFACE)
        done: list[Exchange] = []
        while position + 9 <= len(buffer):
            length = int.from_bytes(buffer[position : position + 3], "big")
            kind, flags = buffer[position + 3], buffer[position + 4]
            stream_id = struct.unpack_from("!I", buffer, position + 5)[0] & 0x7FFFFFFF
            if length > MAX_FRAME:
                self.error = "frame larger than 16 MiB"
                return done
            if position + 9 + length > len(buffer):
                break
            payload = buffer[position + 9 : position + 9 + length]
            position += 9 + length
            try:
                done.extend(self._frame(side, kind, flags, stream_id, payload, length + 9, now))
            except (HPACKError, ValueError, IndexError, UnicodeDecodeError) as exc:
                self.error = f"HTTP/2 parsing stopped: {type(exc).__name__}"
                return done
        self.buffers[side] = buffer[position:]
        if len(self.streams) > MAX_OPEN_STREAMS:
            oldest = min(self.streams)
            done.append(self.streams.pop(oldest))
        return done

    def finish(self) -> list[Exchange]:
        """Hand out every request still waiting: the connection ended."""
        done = [e for e in self.streams.values() if e.headers]
        self.streams.clear()
        return done

    def _exchange(self, stream_id: int, now: float) -> Exchange:
        exchange = self.streams.get(stream_id)
        if exchange is None:
            exchange = self.streams[stream_id] = Exchange(stream_id, now)
        return exchange

    def _unpad(self, flags: int, payload: bytes, headers: bool) -> bytes:
        start = 0
        end = len(payload)
        if flags & FLAG_PADDED:
            end -= payload[0]
            start = 1
        if headers and flags & FLAG_PRIORITY:
            start += 5
        if end < start:
            raise ValueError("padding longer than the frame")
        return payload[start:end]

    def _frame(
        self, side: int, kind: int, flags: int, stream_id: int, payload: bytes, size: int, now: float
    ) -> list[Exchange]:
        if stream_id == 0:
            return []
        if kind in (FRAME_HEADERS, FRAME_PUSH_PROMISE):
            block = self._unpad(flags, payload, kind == FRAME_HEADERS)
            if kind == FRAME_PUSH_PROMISE:
                block = block[4:]
            if flags & FLAG_END_HEADERS:
                return self._headers(side, stream_id, bytes(block), flags, size, now, kind)
            self.header_blocks[side] = (stream_id, flags | (kind << 8), bytearray(block))
            return []
        if kind == FRAME_CONTINUATION:
            pending = self.header_blocks[side]
            if pending is None or pending[0] != stream_id:
                raise ValueError("CONTINUATION without HEADERS")
            pending[2].extend(payload)
            if flags & FLAG_END_HEADERS:
                self.header_blocks[side] = None
                first_flags = pending[1] & 0xFF
                return self._headers(side, stream_id, bytes(pending[2]), first_flags, size, now, pending[1] >> 8)
            return []
        if kind == FRAME_DATA:
            exchange = self.streams.get(stream_id)
            if exchange is None:
                return []
            if side == 0:
                data = self._unpad(flags, payload, False)
                exchange.bytes_up += size
                room = self.body_cap - exchange.body_size
                if room > 0:
                    exchange.body.append(data[:room])
                    exchange.body_size += min(room, len(data))
                if len(data) > room:
                    exchange.body_truncated = True
                if flags & FLAG_END_STREAM:
                    exchange.request_done = True
                    return self._ready(exchange)
            else:
                exchange.bytes_down += size
                if flags & FLAG_END_STREAM:
                    return self._close(exchange)
        return []

    def _headers(
        self, side: int, stream_id: int, block: bytes, flags: int, size: int, now: float, kind: int
    ) -> list[Exchange]:
        fields = [
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in self.decoders[side].decode(block, raw=True)
        ]
        if kind == FRAME_PUSH_PROMISE:
            return []  # the decoder state is updated; pushed responses are the server's, not the device's
        if side == 0:
            exchange = self._exchange(stream_id, now)
            if exchange.headers:  # trailers
                exchange.headers.extend(fields)
            else:
                exchange.headers = fields
            exchange.bytes_up += size
            if flags & FLAG_END_STREAM:
                exchange.request_done = True
                return self._ready(exchange)
            return []
        exchange_or_none = self.streams.get(stream_id)
        if exchange_or_none is None:
            return []
        exchange_or_none.bytes_down += size
        for name, value in fields:
            if name == ":status" and exchange_or_none.status is None:
                try:
                    status = int(value)
                except ValueError:
                    continue
                if status >= 200:
                    exchange_or_none.status = status
            elif name == "content-type" and exchange_or_none.response_content_type is None:
                exchange_or_none.response_content_type = value
        if flags & FLAG_END_STREAM:
            return self._close(exchange_or_none)
        return self._ready(exchange_or_none)

    def _ready(self, exchange: Exchange) -> list[Exchange]:
        # Hand out once the request is complete and its response status is known.
        if exchange.request_done and exchange.status is not None:
            return self._close(exchange)
        return []

    def _close(self, exchange: Exchange) -> list[Exchange]:
        self.streams.pop(exchange.stream_id, None)
        return [exchange] if exchange.headers else []
