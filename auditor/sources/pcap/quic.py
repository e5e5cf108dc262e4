"""QUIC Initial packets: remove their protection (RFC 9001 section 5) and read the ClientHello.

Initial keys derive from the client's Destination Connection ID alone, so
anyone on the path can read the ClientHello; that is how the SNI of a QUIC
connection is learned without any key log. QUIC v1 (RFC 9000) and v2
(RFC 9369) are supported.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditor.sources.pcap.decrypt import hkdf_expand_label, hkdf_extract
from auditor.sources.pcap.tls import HANDSHAKE_CLIENT_HELLO, ClientHello, TlsError, parse_client_hello

VERSION_1 = 0x00000001
VERSION_2 = 0x6B3343CF
VERSION_2_DRAFT = 0x709A50C4

_SALT_V1 = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")  # RFC 9001, also drafts 33-34
_SALT_V2 = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")  # RFC 9369
_SALT_V2_DRAFT = bytes.fromhex("a707c203a59b47184a1d62ca570406ea7ae3e5d3")  # draft-ietf-quic-v2-01
_SALT_DRAFT_29 = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")  # drafts 29-32
_SALT_DRAFT_23 = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")  # drafts 23-28
_SALT_DRAFT_22 = bytes.fromhex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a")  # draft 22

_FIRST_DRAFT = 22
"""Older drafts used another long header; their Initials are not read."""


class QuicVersion(NamedTuple):
    """How the client's Initial packets of one QUIC version are protected."""

    salt: bytes
    label_prefix: bytes
    initial_type: int


_V1 = QuicVersion(_SALT_V1, b"quic ", 0)


def _draft_salt(draft: int) -> bytes:
    if draft >= 33:
        return _SALT_V1
    if draft >= 29:
        return _SALT_DRAFT_29
    if draft >= 23:
        return _SALT_DRAFT_23
    return _SALT_DRAFT_22


_DRAFT_29 = QuicVersion(_SALT_DRAFT_29, b"quic ", 0)


def quic_versions(version: int) -> tuple[QuicVersion, ...]:
    """The Initial protections ``version`` may use, most likely first; empty for versions that cannot be opened.

    IETF drafts (0xff0000NN), Facebook mvfst (0xfaceb00N) and the versions reserved to force
    version negotiation (0x?a?a?a?a, sent by interop tests and greasing clients). Those are
    bound to no draft: clients protect them as draft 29 (as Wireshark assumes) or as v1.

    >>> quic_versions(1) == (_V1,), quic_versions(0x0A1A2A3A) == (_DRAFT_29, _V1)
    (True, True)
    >>> quic_versions(0xFF00001D)[0].salt.hex()[:6], quic_versions(0xFF000010), quic_versions(0x51303530)
    ('afbfec', (), ())
    """
    if version & 0x0F0F0F0F == 0x0A0A0A0A:
        return (_DRAFT_29, _V1)
    single = _single_version(version)
    return (single,) if single else ()


def _single_version(version: int) -> QuicVersion | None:
    if version == VERSION_1:
        return _V1
    if version == VERSION_2:
        return QuicVersion(_SALT_V2, b"quicv2 ", 1)
    if version == VERSION_2_DRAFT:
        return QuicVersion(_SALT_V2_DRAFT, b"quicv2 ", 1)
    if version >> 8 == 0xFF0000 and _FIRST_DRAFT <= version & 0xFF <= 34:
        return QuicVersion(_draft_salt(version & 0xFF), b"quic ", 0)
    if version == 0xFACEB001:
        return QuicVersion(_SALT_DRAFT_22, b"quic ", 0)
    if version in (0xFACEB002, 0xFACEB00E):
        return QuicVersion(_SALT_DRAFT_23, b"quic ", 0)
    return None


MAX_CRYPTO = 1 << 16
"""CRYPTO stream bytes collected per connection while looking for the ClientHello."""


def looks_like_quic_initial(datagram: bytes) -> bool:
    r"""Tell whether a datagram starts with a long-header packet of a QUIC version this module can open.

    >>> looks_like_quic_initial(b"\xc3\x00\x00\x00\x01" + bytes(20)), looks_like_quic_initial(b"\x40abc")
    (True, False)
    """
    version = int.from_bytes(datagram[1:5], "big")
    return len(datagram) > 6 and datagram[0] & 0xC0 == 0xC0 and bool(quic_versions(version))


def _varint(data: bytes, position: int) -> tuple[int, int]:
    first = data[position]
    size = 1 << (first >> 6)
    if position + size > len(data):
        raise IndexError("varint runs past the end")
    value = first & 0x3F
    for index in range(1, size):
        value = (value << 8) | data[position + index]
    return value, position + size


class InitialKeys:
    """Client Initial packet protection keys for one Destination Connection ID."""

    def __init__(self, version: QuicVersion, dcid: bytes) -> None:
        initial = hkdf_extract("sha256", version.salt, dcid)
        client = hkdf_expand_label("sha256", initial, b"client in", b"", 32)
        prefix = version.label_prefix
        self.aead = AESGCM(hkdf_expand_label("sha256", client, prefix + b"key", b"", 16))
        self.iv = hkdf_expand_label("sha256", client, prefix + b"iv", b"", 12)
        self.hp = Cipher(algorithms.AES(hkdf_expand_label("sha256", client, prefix + b"hp", b"", 16)), modes.ECB())


class QuicClientHello:
    """Collects the client's Initial packets of one connection until the ClientHello is complete."""

    def __init__(self) -> None:
        self.keys: dict[tuple[int, bytes], InitialKeys] = {}
        self.crypto: dict[int, bytes] = {}
        self.crypto_size = 0
        self.hello: ClientHello | None = None
        self.error: str | None = None
        self.version = 0

    def feed(self, datagram: bytes) -> ClientHello | None:
        """Add one client datagram (which may hold several coalesced packets)."""
        position = 0
        try:
            while position < len(datagram) and self.hello is None:
                position = self._packet(datagram, position)
                if position < 0:
                    break
        except (IndexError, ValueError) as exc:
            self.error = f"QUIC Initial not readable: {exc}"
        return self.hello

    def _packet(self, data: bytes, start: int) -> int:
        first = data[start]
        if first & 0x80 == 0 or start + 6 > len(data):
            return -1  # short header: no more Initials in this datagram
        version_number = int.from_bytes(data[start + 1 : start + 5], "big")
        candidates = quic_versions(version_number)
        if not candidates:
            return -1
        position = start + 5
        dcid_length = data[position]
        dcid = data[position + 1 : position + 1 + dcid_length]
        position += 1 + dcid_length
        position += 1 + data[position]  # source connection id
        packet_type = (first >> 4) & 3
        initial_type = candidates[0].initial_type
        if packet_type == initial_type:
            token_length, position = _varint(data, position)
            position += token_length
        length, position = _varint(data, position)
        end = position + length
        if packet_type != initial_type:
            return end
        # Keys follow each packet's own version and DCID: a client may change both
        # after a Version Negotiation or a Retry.
        known = self.keys.get((version_number, dcid))
        if known is not None:
            self._open(known, data, start, position, end)
            return end
        if len(self.keys) >= 4:
            raise ValueError("too many QUIC versions or connection IDs in one connection")
        for index, version in enumerate(candidates):
            keys = InitialKeys(version, dcid)
            try:
                self._open(keys, data, start, position, end)
            except ValueError:
                if index == len(candidates) - 1:
                    raise
                continue
            self.keys[(version_number, dcid)] = keys
            self.version = version_number
            break
        return end

    def _open(self, keys: InitialKeys, data: bytes, start: int, pn_offset: int, end: int) -> None:
        sample = data[pn_offset + 4 : pn_offset + 20]
        if len(sample) < 16 or end > len(data):
            raise ValueError("Initial packet is cut short")
        encryptor = keys.hp.encryptor()
        mask = encryptor.update(sample) + encryptor.finalize()
        first = data[start] ^ (mask[0] & 0x0F)
        pn_length = (first & 3) + 1
        pn_bytes = bytes(data[pn_offset + i] ^ mask[1 + i] for i in range(pn_length))
        header = bytes([first]) + data[start + 1 : pn_offset] + pn_bytes
        packet_number = int.from_bytes(pn_bytes, "big")
        nonce = bytearray(keys.iv)
        for index in range(8):
            nonce[11 - index] ^= (packet_number >> (8 * index)) & 0xFF
        try:
            payload = keys.aead.decrypt(bytes(nonce), data[pn_offset + pn_length : end], header)
        except InvalidTag:
            raise ValueError("Initial packet does not authenticate (not from the client, or not QUIC)") from None
        self._frames(payload)

    def _frames(self, payload: bytes) -> None:
        position = 0
        while position < len(payload):
            kind, position = _varint(payload, position)
            if kind in (0x00, 0x01):  # PADDING, PING
                continue
            if kind in (0x02, 0x03):  # ACK
                _, position = _varint(payload, position)
                _, position = _varint(payload, position)
                ranges, position = _varint(payload, position)
                _, position = _varint(payload, position)
                for _ in range(ranges * 2):
                    _, position = _varint(payload, position)
                if kind == 0x03:
                    for _ in range(3):
                        _, position = _varint(payload, position)
            elif kind == 0x06:  # CRYPTO
                offset, position = _varint(payload, position)
                length, position = _varint(payload, position)
                if offset + length <= MAX_CRYPTO and offset not in self.crypto:
                    self.crypto[offset] = payload[position : position + length]
                position += length
                self._try_hello()
            elif kind in (0x1C, 0x1D):  # CONNECTION_CLOSE
                return
            else:
                return  # frames not allowed in Initial packets: stop reading this one

    def _try_hello(self) -> None:
        stream = b""
        grew = True
        while grew:  # join the pieces in offset order (clients may send them shuffled)
            grew = False
            for offset, data in self.crypto.items():
                if offset <= len(stream) < offset + len(data):
                    stream += data[len(stream) - offset :]
                    grew = True
        if len(stream) < 4 or stream[0] != HANDSHAKE_CLIENT_HELLO:
            return
        length = int.from_bytes(stream[1:4], "big")
        if len(stream) < 4 + length:
            return
        try:
            self.hello = parse_client_hello(stream[4 : 4 + length])
        except TlsError as exc:
            self.error = f"QUIC ClientHello not readable: {exc}"
