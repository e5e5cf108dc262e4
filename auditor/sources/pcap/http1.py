"""Incremental HTTP/1.x parsing of one direction of a TCP (or decrypted TLS) stream.

Heads are buffered (at most :data:`MAX_HEAD`), bodies are kept up to a cap and
otherwise only counted, so a multi-gigabyte download costs no memory.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

MAX_HEAD = 64 * 1024
"""Longest request or response head accepted; longer means the stream is not HTTP."""

METHODS = (
    b"GET",
    b"POST",
    b"PUT",
    b"HEAD",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
)
_REQUEST_START = re.compile(rb"^(" + b"|".join(METHODS) + rb") \S")
_REQUEST_LINE = re.compile(rb"(?:^|\r\n)((?:" + b"|".join(METHODS) + rb") \S+ HTTP/1\.[01]\r\n)")
_STATUS_LINE = re.compile(rb"(?:^|\r\n)(HTTP/1\.[01] \d{3}[ \r])")
_CHUNK_SIZE = re.compile(rb"^\s*([0-9a-fA-F]{1,16})")


def looks_like_http_request(data: bytes) -> bool:
    r"""Tell whether a stream starts with an HTTP/1 request line.

    >>> looks_like_http_request(b"POST /x HTTP/1.1\r\n"), looks_like_http_request(b"\x16\x03\x01")
    (True, False)
    """
    return bool(_REQUEST_START.match(data[:16]))


class HttpError(ValueError):
    """The stream stopped being valid HTTP/1."""


@dataclass(slots=True)
class Message:
    """One request or response."""

    start_line: tuple[str, str, str]
    """Method, target, version for requests; version, status, reason for responses."""
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    """Raw body (transfer coding removed, content coding kept), up to the cap."""
    body_truncated: bool = False
    size: int = 0
    """Bytes on the wire: head plus body."""
    started: float = 0.0
    """Time of the packet that carried the first byte."""

    def header(self, name: str) -> str | None:
        """First header ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


_HEAD, _LENGTH, _CHUNK_HEAD, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _BROKEN, _TUNNEL = range(9)


class Http1Parser:
    """Parses requests (``requests=True``) or responses from one direction.

    For responses, :attr:`request_methods` must receive each request's method
    in order, so responses to HEAD get no body.
    """

    def __init__(self, requests: bool, body_cap: int) -> None:
        self.requests = requests
        self.body_cap = body_cap
        self.request_methods: deque[str] = deque(maxlen=1024)
        self._buffer = b""
        self._state = _HEAD
        self._remaining = 0
        self._current: Message | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self.error: str | None = None
        """Why parsing stopped, if it did."""
        self._resyncing = False

    def feed(self, data: bytes, now: float = 0.0) -> list[Message]:
        """Add stream bytes; return every message completed by them."""
        if self._state == _BROKEN:
            return []
        if self._state == _TUNNEL:  # not HTTP any more: keep the bytes for whoever takes the tunnel
            self._buffer += data
            return []
        done: list[Message] = []
        buffer = self._buffer + data if self._buffer else data
        if self._resyncing:
            match = (_REQUEST_LINE if self.requests else _STATUS_LINE).search(buffer)
            if match is None:
                self._buffer = buffer[-64:]  # a start line may be split across segments
                return done
            buffer = buffer[match.start(1) :]
            self._resyncing = False
        position = 0
        try:
            while position < len(buffer):
                state = self._state
                if state == _HEAD:
                    end = buffer.find(b"\r\n\r\n", position)
                    if end < 0:
                        if len(buffer) - position > MAX_HEAD:
                            raise HttpError("head longer than 64 KiB")
                        break
                    self._start(buffer[position:end], now, end + 4 - position)
                    position = end + 4
                    if self._state in (_HEAD, _TUNNEL):  # no body
                        done.append(self._finish())
                    if self._state == _TUNNEL:
                        break
                elif state == _LENGTH:
                    take = min(self._remaining, len(buffer) - position)
                    self._keep(buffer[position : position + take])
                    position += take
                    self._remaining -= take
                    if self._remaining == 0:
                        self._state = _HEAD
                        done.append(self._finish())
                elif state == _UNTIL_CLOSE:
                    self._keep(buffer[position:])
                    position = len(buffer)
                elif state == _CHUNK_HEAD:
                    end = buffer.find(b"\r\n", position)
                    if end < 0:
                        if len(buffer) - position > 1024:
                            raise HttpError("chunk size line too long")
                        break
                    match = _CHUNK_SIZE.match(buffer[position:end])
                    if not match:
                        raise HttpError("bad chunk size")
                    self._remaining = int(match.group(1), 16)
                    self._count(end + 2 - position)
                    position = end + 2
                    self._state = _CHUNK_DATA if self._remaining else _TRAILER
                elif state == _CHUNK_DATA:
                    take = min(self._remaining, len(buffer) - position)
                    self._keep(buffer[position : position + take])
                    position += take
                    self._remaining -= take
                    if self._remaining == 0:
                        self._state = _CHUNK_END
                elif state == _CHUNK_END:
                    if len(buffer) - position < 2:
                        break
                    self._count(2)
                    position += 2
                    self._state = _CHUNK_HEAD
                elif state == _TRAILER:
                    end = buffer.find(b"\r\n", position)
                    if end < 0:
                        break
                    blank = end == position
                    self._count(end + 2 - position)
                    position = end + 2
                    if blank:  # the empty line after the last chunk (and any trailers)
                        self._state = _HEAD
                        done.append(self._finish())
        except HttpError as exc:
            self.error = str(exc)
            self._state = _BROKEN
            self._buffer = b""
            return done
        self._buffer = buffer[position:]
        return done

    def resync(self) -> None:
        """Bytes were lost: drop the message in progress and resume at the next start line."""
        self._current = None
        self._body = []
        self._body_size = 0
        self._buffer = b""
        if self._state != _TUNNEL:
            self._state = _HEAD
            self.error = None
            self._resyncing = True

    @property
    def in_tunnel(self) -> bool:
        """True after a CONNECT request, or a 2xx response to one: what follows is the tunnel's content."""
        return self._state == _TUNNEL

    def take_tunnel_bytes(self) -> bytes:
        """Hand over the bytes received after the tunnel opened; parsing of this direction ends."""
        rest = self._buffer
        self._buffer = b""
        self._state = _BROKEN
        return rest

    def leave_tunnel(self) -> list[Message]:
        """Parse what followed a refused CONNECT as HTTP again."""
        rest = self._buffer
        self._buffer = b""
        self._state = _HEAD
        return self.feed(rest) if rest else []

    def finish(self) -> list[Message]:
        """End the stream: a body read until close is complete, a cut message is kept."""
        if self._current is not None and self._state != _BROKEN:
            self._state = _BROKEN
            return [self._finish()]
        return []

    # -- internals -----------------------------------------------------------

    def _start(self, head: bytes, now: float, size: int) -> None:
        lines = head.decode("latin-1").split("\r\n")
        while lines and not lines[0]:  # tolerate stray CRLF between messages
            lines.pop(0)
        if not lines:
            raise HttpError("empty head")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2:
            raise HttpError(f"bad start line {lines[0][:40]!r}")
        if self.requests:
            if parts[0].encode() not in METHODS:
                raise HttpError(f"unknown method {parts[0][:20]!r}")
            start = (parts[0], parts[1], parts[2] if len(parts) > 2 else "HTTP/0.9")
        else:
            if not parts[0].startswith("HTTP/"):
                raise HttpError("response does not start with HTTP/")
            start = (parts[0], parts[1], parts[2] if len(parts) > 2 else "")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:  # obsolete line folding
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if colon:
                headers.append((name.strip(), value.strip()))
        message = Message(start, tuple(headers), size=size, started=now)
        self._current = message
        self._body = []
        self._body_size = 0
        transfer = (message.header("transfer-encoding") or "").lower()
        length_text = message.header("content-length")
        if self.requests:
            self.request_methods.append(start[0])
            no_body = False
            if start[0] == "CONNECT":
                self._state = _TUNNEL
                return
        else:
            method = self.request_methods.popleft() if self.request_methods else "GET"
            status = start[1]
            if status.startswith("1") and status != "101":
                self.request_methods.appendleft(method)  # the real response is still to come
            no_body = method == "HEAD" or status.startswith("1") or status in ("204", "304")
            if method == "CONNECT" and status.startswith("2"):
                self._state = _TUNNEL
                return
        if no_body:
            self._state = _HEAD
        elif "chunked" in transfer:
            self._state = _CHUNK_HEAD
        elif length_text is not None:
            try:
                self._remaining = int(length_text.split(",")[0].strip())
            except ValueError as exc:
                raise HttpError("bad Content-Length") from exc
            self._state = _LENGTH if self._remaining > 0 else _HEAD
        elif self.requests:
            self._state = _HEAD  # a request without length has no body
        else:
            self._state = _UNTIL_CLOSE

    def _count(self, size: int) -> None:
        if self._current is not None:
            self._current.size += size

    def _keep(self, data: bytes) -> None:
        self._count(len(data))
        room = self.body_cap - self._body_size
        if room > 0:
            self._body.append(data[:room])
            self._body_size += min(room, len(data))
        if len(data) > room and self._current is not None:
            self._current.body_truncated = True

    def _finish(self) -> Message:
        message = self._current
        assert message is not None
        message.body = b"".join(self._body)
        self._current = None
        self._body = []
        self._body_size = 0
        return message
