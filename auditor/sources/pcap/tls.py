"""TLS handshake parsing: ClientHello (SNI, ALPN, client random) and ServerHello.

Works for TLS 1.0 to 1.3. The caller hands over handshake bytes already freed
from the record layer, so a ClientHello spanning several records or TCP
segments parses the same as one in a single packet. QUIC hands over the
CRYPTO stream, which carries the same handshake messages without records.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23

HANDSHAKE_CLIENT_HELLO = 1
HANDSHAKE_SERVER_HELLO = 2
HANDSHAKE_FINISHED = 20

EXT_SERVER_NAME = 0
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43
EXT_ENCRYPT_THEN_MAC = 22

TLS13 = 0x0304
HELLO_RETRY_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

MAX_HANDSHAKE_BUFFER = 1 << 16
"""Handshake bytes buffered per direction while waiting for a complete hello."""


class TlsError(ValueError):
    """A handshake message that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What a ClientHello reveals."""

    random: bytes
    server_name: str | None
    alpn: tuple[str, ...]
    versions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ServerHello:
    """What a ServerHello fixes for the connection."""

    random: bytes
    cipher_suite: int
    version: int
    """Negotiated version (``supported_versions`` wins over the legacy field)."""
    encrypt_then_mac: bool = False
    """RFC 7366: CBC records carry their MAC after the ciphertext."""

    @property
    def is_retry_request(self) -> bool:
        """A HelloRetryRequest: a second ClientHello and ServerHello follow."""
        return self.random == HELLO_RETRY_RANDOM


def looks_like_tls(data: bytes) -> bool:
    r"""Tell whether a stream starts with a TLS handshake record.

    >>> looks_like_tls(b"\x16\x03\x01\x02\x00\x01"), looks_like_tls(b"GET / HTTP/1.1")
    (True, False)
    """
    return len(data) >= 3 and data[0] == CONTENT_HANDSHAKE and data[1] == 3 and data[2] <= 4


_WANTED_EXTENSIONS = frozenset((EXT_SERVER_NAME, EXT_ALPN, EXT_SUPPORTED_VERSIONS, EXT_ENCRYPT_THEN_MAC))
_EXTENSION_HEADER = struct.Struct("!HH").unpack_from


def _extensions(body: bytes, position: int) -> dict[int, bytes]:
    """Return the extensions this module reads, by type (the others are skipped without copying)."""
    found: dict[int, bytes] = {}
    if position + 2 > len(body):
        return found
    total = (body[position] << 8) | body[position + 1]
    position += 2
    end = min(position + total, len(body))
    while position + 4 <= end:
        kind, length = _EXTENSION_HEADER(body, position)
        if kind in _WANTED_EXTENSIONS and kind not in found:
            found[kind] = body[position + 4 : position + 4 + length]
        position += 4 + length
    return found


def _server_name(data: bytes) -> str | None:
    position = 2
    while position + 3 <= len(data):
        kind, length = data[position], struct.unpack_from("!H", data, position + 1)[0]
        if kind == 0:
            name = data[position + 3 : position + 3 + length].decode("ascii", "replace")
            return name.lower().rstrip(".") or None
        position += 3 + length
    return None


def _alpn(data: bytes) -> tuple[str, ...]:
    names: list[str] = []
    position = 2
    while position < len(data):
        length = data[position]
        names.append(data[position + 1 : position + 1 + length].decode("ascii", "replace"))
        position += 1 + length
    return tuple(names)


def parse_client_hello(body: bytes) -> ClientHello:
    """Parse a ClientHello message body (after the 4-byte handshake header)."""
    if len(body) < 38:
        raise TlsError("ClientHello too short")
    random = body[2:34]
    position = 34
    position += 1 + body[position]  # session id
    if position + 2 > len(body):
        raise TlsError("ClientHello cut in the cipher suites")
    position += 2 + struct.unpack_from("!H", body, position)[0]
    if position >= len(body):
        raise TlsError("ClientHello cut in the compression methods")
    position += 1 + body[position]
    extensions = _extensions(body, position)
    versions: tuple[int, ...] = ()
    if EXT_SUPPORTED_VERSIONS in extensions:
        raw = extensions[EXT_SUPPORTED_VERSIONS]
        versions = tuple(struct.unpack_from("!H", raw, i)[0] for i in range(1, len(raw) - 1, 2))
    return ClientHello(
        random=random,
        server_name=_server_name(extensions[EXT_SERVER_NAME]) if EXT_SERVER_NAME in extensions else None,
        alpn=_alpn(extensions[EXT_ALPN]) if EXT_ALPN in extensions else (),
        versions=versions or (struct.unpack_from("!H", body, 0)[0],),
    )


def parse_server_hello(body: bytes) -> ServerHello:
    """Parse a ServerHello message body (after the 4-byte handshake header)."""
    if len(body) < 38:
        raise TlsError("ServerHello too short")
    legacy_version = struct.unpack_from("!H", body, 0)[0]
    random = body[2:34]
    position = 34 + 1 + body[34]
    if position + 3 > len(body):
        raise TlsError("ServerHello cut before the cipher suite")
    cipher_suite = struct.unpack_from("!H", body, position)[0]
    extensions = _extensions(body, position + 3)
    version = legacy_version
    selected = extensions.get(EXT_SUPPORTED_VERSIONS)
    if selected is not None and len(selected) == 2:
        version = struct.unpack_from("!H", selected, 0)[0]
    return ServerHello(
        random=random,
        cipher_suite=cipher_suite,
        version=version,
        encrypt_then_mac=EXT_ENCRYPT_THEN_MAC in extensions,
    )


class HandshakeReassembler:
    r"""Collects handshake bytes of one direction and cuts them into messages.

    >>> r = HandshakeReassembler()
    >>> r.feed(b"\x01\x00\x00\x02ab\x02\x00")
    [(1, b'ab')]
    >>> r.feed(b"\x00\x01c")
    [(2, b'c')]
    """

    __slots__ = ("buffer", "overflow")

    def __init__(self) -> None:
        self.buffer = b""
        self.overflow = False

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add handshake bytes; return every complete (type, body) message."""
        if self.overflow:
            return []
        buffer = self.buffer + data
        messages: list[tuple[int, bytes]] = []
        position = 0
        while position + 4 <= len(buffer):
            kind = buffer[position]
            length = int.from_bytes(buffer[position + 1 : position + 4], "big")
            if position + 4 + length > len(buffer):
                break
            messages.append((kind, buffer[position + 4 : position + 4 + length]))
            position += 4 + length
        self.buffer = buffer[position:]
        if len(self.buffer) > MAX_HANDSHAKE_BUFFER:
            self.overflow = True
            self.buffer = b""
        return messages


CIPHER_SUITE_NAMES = {
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC060: "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",
    0xC061: "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
    0xC076: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
}


def cipher_suite_name(code: int) -> str:
    """IANA name of a cipher suite, or its hex code.

    >>> cipher_suite_name(0xC030), cipher_suite_name(0xFFFF)
    ('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', '0xffff')
    """
    return CIPHER_SUITE_NAMES.get(code, f"{code:#06x}")
