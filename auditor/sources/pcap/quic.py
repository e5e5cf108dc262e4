"""QUIC Initial packets: remove their protection (RFC 9001 section 5) and read the ClientHello.

Initial keys derive from the client's Destination Connection ID alone, so
anyone on the path can read the ClientHello; that is how the SNI of a QUIC
connection is learned without any key log. QUIC v1 (RFC 9000) and v2
(RFC 9369) are supported.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auditor.sources.pcap.decrypt import hkdf_expand_label, hkdf_extract
from auditor.sources.pcap.tls import HANDSHAKE_CLIENT_HELLO, ClientHello, TlsError, parse_client_hello

VERSION_1 = 0x00000001
VERSION_2 = 0x6B3343CF
_SALTS = {
    VERSION_1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    VERSION_2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
_LABELS = {VERSION_1: b"quic ", VERSION_2: b"quicv2 "}
_INITIAL_TYPE = {VERSION_1: 0, VERSION_2: 1}
MAX_CRYPTO = 1 << 16
"""CRYPTO stream bytes collected per connection while looking for the ClientHello."""


def looks_like_quic_initial(datagram: bytes) -> bool:
    r"""Tell whether a datagram starts with a long-header packet of a QUIC version this module can open.

    >>> looks_like_quic_initial(b"\xc3\x00\x00\x00\x01" + bytes(20)), looks_like_quic_initial(b"\x40abc")
    (True, False)
    """
    return len(datagram) > 6 and datagram[0] & 0xC0 == 0xC0 and int.from_bytes(datagram[1:5], "big") in _SALTS


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

    def __init__(self, version: int, dcid: bytes) -> None:
        initial = hkdf_extract("sha256", _SALTS[version], dcid)
        client = hkdf_expand_label("sha256", initial, b"client in", b"", 32)
        prefix = _LABELS[version]
        self.aead = AESGCM(hkdf_expand_label("sha256", client, prefix + b"key", b"", 16))
        self.iv = hkdf_expand_label("sha256", client, prefix + b"iv", b"", 12)
        self.hp = Cipher(algorithms.AES(hkdf_expand_label("sha256", client, prefix + b"hp", b"", 16)), modes.ECB())


class QuicClientHello:
    """Collects the client's Initial packets of one connection until the ClientHello is complete."""

    def __init__(self) -> None:
        self.keys: InitialKeys | None = None
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
        version = int.from_bytes(data[start + 1 : start + 5], "big")
        if version not in _SALTS:
            return -1
        position = start + 5
        dcid_length = data[position]
        dcid = data[position + 1 : position + 1 + dcid_length]
        position += 1 + dcid_length
        position += 1 + data[position]  # source connection id
        packet_type = (first >> 4) & 3
        if packet_type == _INITIAL_TYPE[version]:
            token_length, position = _varint(data, position)
            position += token_length
        length, position = _varint(data, position)
        end = position + length
        if packet_type != _INITIAL_TYPE[version]:
            return end
        if self.keys is None:
            self.keys = InitialKeys(version, dcid)
            self.version = version
        self._open(data, start, position, end)
        return end

    def _open(self, data: bytes, start: int, pn_offset: int, end: int) -> None:
        assert self.keys is not None
        sample = data[pn_offset + 4 : pn_offset + 20]
        if len(sample) < 16 or end > len(data):
            raise ValueError("Initial packet is cut short")
        encryptor = self.keys.hp.encryptor()
        mask = encryptor.update(sample) + encryptor.finalize()
        first = data[start] ^ (mask[0] & 0x0F)
        pn_length = (first & 3) + 1
        pn_bytes = bytes(data[pn_offset + i] ^ mask[1 + i] for i in range(pn_length))
        header = bytes([first]) + data[start + 1 : pn_offset] + pn_bytes
        packet_number = int.from_bytes(pn_bytes, "big")
        nonce = bytearray(self.keys.iv)
        for index in range(8):
            nonce[11 - index] ^= (packet_number >> (8 * index)) & 0xFF
        try:
            payload = self.keys.aead.decrypt(bytes(nonce), data[pn_offset + pn_length : end], header)
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
