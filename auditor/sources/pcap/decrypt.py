"""TLS record decryption from an NSS key log (SSLKEYLOGFILE, friTap, PiRogue).

TLS 1.2 uses the ``CLIENT_RANDOM`` master secret (AES-GCM, AES-CCM, AES-CBC
with SHA-1/SHA-256/SHA-384 MACs, ChaCha20-Poly1305); TLS 1.3 the handshake
and application traffic secrets (AES-GCM, AES-CCM, ChaCha20-Poly1305). Keys
are looked up by the ClientHello's random, as every key log writer keys them.
"""

from __future__ import annotations

import hmac
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from auditor.sources.pcap.tls import TLS13, ServerHello, cipher_suite_name

LABEL_CLIENT_RANDOM = "CLIENT_RANDOM"
LABEL_CLIENT_HS = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
LABEL_SERVER_HS = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
LABEL_CLIENT_APP = "CLIENT_TRAFFIC_SECRET_0"
LABEL_SERVER_APP = "SERVER_TRAFFIC_SECRET_0"
_UNUSED_LABELS = (
    b"RSA",
    b"PMS_CLIENT_RANDOM",
    b"CLIENT_EARLY_TRAFFIC_SECRET",
    b"EARLY_EXPORTER_SECRET",
    b"EXPORTER_SECRET",
)
"""Valid key log lines this decoder has no use for (RSA pre-master secrets, 0-RTT and exporter secrets)."""


class DecryptError(ValueError):
    """A record that the keys do not open."""


class KeysUnavailable(Exception):
    """A session that cannot be decrypted; the message becomes the record's note."""


@dataclass
class KeyLog:
    """Secrets by client random, merged from key log files and pcapng secrets blocks."""

    secrets: dict[bytes, dict[str, bytes]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Lines that could not be read, described (never quoted: they hold secrets)."""

    def __len__(self) -> int:
        return len(self.secrets)

    def add_text(self, text: bytes, origin: str) -> int:
        r"""Add the lines of an NSS key log; return how many were understood.

        >>> log = KeyLog()
        >>> log.add_text(b"# comment\nCLIENT_RANDOM " + b"ab" * 32 + b" " + b"cd" * 48 + b"\n", "test")
        1
        """
        understood = 0
        bad = 0
        for line in text.splitlines():
            parts = line.strip().split()
            if not parts or parts[0].startswith(b"#") or parts[0] in _UNUSED_LABELS:
                continue
            try:
                label, random_hex, secret_hex = (p.decode("ascii") for p in parts)
                random, secret = bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
            except ValueError:
                bad += 1
                continue
            if len(random) != 32:
                bad += 1
                continue
            self.secrets.setdefault(random, {})[label] = secret
            understood += 1
        if bad:
            self.problems.append(f"{origin}: {bad} key log line(s) not in NSS key log format were ignored")
        return understood

    def add_file(self, path: Path) -> int:
        """Add a key log file (raises ``OSError`` when it cannot be read)."""
        return self.add_text(path.read_bytes(), str(path))


# -- key derivation ----------------------------------------------------------


def _p_hash(hash_name: str, secret: bytes, seed: bytes, size: int) -> bytes:
    out = b""
    a = seed
    while len(out) < size:
        a = hmac.new(secret, a, hash_name).digest()
        out += hmac.new(secret, a + seed, hash_name).digest()
    return out[:size]


def tls12_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, size: int) -> bytes:
    """Compute the TLS 1.2 PRF (RFC 5246 section 5)."""
    return _p_hash(hash_name, secret, label + seed, size)


def hkdf_expand_label(hash_name: str, secret: bytes, label: bytes, context: bytes, size: int) -> bytes:
    """HKDF-Expand-Label of TLS 1.3 (RFC 8446 section 7.1), also used by QUIC.

    >>> len(hkdf_expand_label("sha256", bytes(32), b"key", b"", 16))
    16
    """
    full = b"tls13 " + label
    info = struct.pack("!H", size) + bytes([len(full)]) + full + bytes([len(context)]) + context
    out = b""
    block = b""
    counter = 1
    while len(out) < size:
        block = hmac.new(secret, block + info + bytes([counter]), hash_name).digest()
        out += block
        counter += 1
    return out[:size]


def hkdf_extract(hash_name: str, salt: bytes, key_material: bytes) -> bytes:
    """HKDF-Extract (RFC 5869)."""
    return hmac.new(salt, key_material, hash_name).digest()


@dataclass(frozen=True)
class SuiteSpec:
    """How a cipher suite protects records."""

    kind: str
    """``gcm``, ``ccm``, ``ccm8``, ``chacha`` or ``cbc``."""
    key_length: int
    hash_name: str
    """PRF/HKDF hash."""
    mac_length: int = 0
    """CBC suites only: HMAC length."""
    mac_hash: str = ""


_SUITES: dict[int, SuiteSpec] = {}
for _codes, _spec in (
    ((0x009C, 0x009E, 0xC02B, 0xC02F), SuiteSpec("gcm", 16, "sha256")),
    ((0x009D, 0x009F, 0xC02C, 0xC030), SuiteSpec("gcm", 32, "sha384")),
    ((0xC09C, 0xC0AC), SuiteSpec("ccm", 16, "sha256")),
    ((0xCCA8, 0xCCA9, 0xCCAA), SuiteSpec("chacha", 32, "sha256")),
    ((0x002F, 0x0033, 0xC009, 0xC013), SuiteSpec("cbc", 16, "sha256", 20, "sha1")),
    ((0x0035, 0x0039, 0xC00A, 0xC014), SuiteSpec("cbc", 32, "sha256", 20, "sha1")),
    ((0x003C, 0xC023, 0xC027), SuiteSpec("cbc", 16, "sha256", 32, "sha256")),
    ((0x003D,), SuiteSpec("cbc", 32, "sha256", 32, "sha256")),
    ((0xC024, 0xC028), SuiteSpec("cbc", 32, "sha384", 48, "sha384")),
    ((0x1301,), SuiteSpec("gcm", 16, "sha256")),
    ((0x1302,), SuiteSpec("gcm", 32, "sha384")),
    ((0x1303,), SuiteSpec("chacha", 32, "sha256")),
    ((0x1304,), SuiteSpec("ccm", 16, "sha256")),
    ((0x1305,), SuiteSpec("ccm8", 16, "sha256")),
):
    for _code in _codes:
        _SUITES[_code] = _spec


def _aead(kind: str, key: bytes) -> Any:
    if kind == "gcm":
        return AESGCM(key)
    if kind == "chacha":
        return ChaCha20Poly1305(key)
    if kind == "ccm8":
        return AESCCM(key, tag_length=8)
    return AESCCM(key)


# -- record decryption -------------------------------------------------------


class RecordDecryptor:
    """Opens the records of one direction, in order."""

    def decrypt(self, content_type: int, version: bytes, fragment: bytes) -> tuple[int, bytes]:
        """Return (inner content type, plaintext); raise :class:`DecryptError` if the record does not open."""
        raise NotImplementedError


class Tls12Decryptor(RecordDecryptor):
    """TLS 1.2 records of one direction."""

    def __init__(self, spec: SuiteSpec, key: bytes, iv: bytes, encrypt_then_mac: bool = False) -> None:
        self.spec = spec
        self.encrypt_then_mac = encrypt_then_mac
        self.key = key
        self.iv = iv
        self.sequence = 0
        self.aead = None if spec.kind == "cbc" else _aead(spec.kind, key)
        self.tag_length = 8 if spec.kind == "ccm8" else 16

    def decrypt(self, content_type: int, version: bytes, fragment: bytes) -> tuple[int, bytes]:
        """Open one record (sequence numbers advance even on failure, as the peer's did)."""
        sequence = self.sequence
        self.sequence += 1
        header = struct.pack("!Q", sequence) + bytes([content_type]) + version
        try:
            if self.spec.kind == "cbc":
                return content_type, self._cbc(fragment)
            if self.spec.kind == "chacha":
                nonce = bytes(
                    a ^ b for a, b in zip(self.iv, b"\x00\x00\x00\x00" + struct.pack("!Q", sequence), strict=True)
                )
                body = fragment
            else:
                nonce = self.iv + fragment[:8]
                body = fragment[8:]
            length = len(body) - self.tag_length
            if length < 0:
                raise DecryptError("record shorter than its tag")
            assert self.aead is not None
            return content_type, self.aead.decrypt(nonce, body, header + struct.pack("!H", length))
        except InvalidTag as exc:
            raise DecryptError("authentication failed") from exc

    def _cbc(self, fragment: bytes) -> bytes:
        mac_inside = self.spec.mac_length
        if self.encrypt_then_mac:  # the MAC follows the ciphertext instead of being encrypted with it
            fragment = fragment[: len(fragment) - self.spec.mac_length]
            mac_inside = 0
        if len(fragment) < 32 or len(fragment) % 16:
            raise DecryptError("CBC record length is not a whole number of blocks")
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(fragment[:16])).decryptor()
        plain = decryptor.update(fragment[16:]) + decryptor.finalize()
        padding = plain[-1]
        if padding + 1 + mac_inside > len(plain) or plain[-padding - 1 :] != bytes([padding]) * (padding + 1):
            raise DecryptError("bad CBC padding")
        # The MAC is not checked: a wrong key already fails the padding check almost always,
        # and the HTTP parser rejects garbage.
        return plain[: len(plain) - padding - 1 - mac_inside]


class Tls13Decryptor(RecordDecryptor):
    """TLS 1.3 records of one direction: handshake keys first, then application keys.

    The switch is found by trying the next key when the current one fails, so
    a key log with only the application secrets still opens application data.
    """

    def __init__(self, spec: SuiteSpec, secrets: list[bytes]) -> None:
        self.keys: list[tuple[Any, bytes]] = []
        for secret in secrets:
            key = hkdf_expand_label(spec.hash_name, secret, b"key", b"", spec.key_length)
            iv = hkdf_expand_label(spec.hash_name, secret, b"iv", b"", 12)
            self.keys.append((_aead(spec.kind, key), iv))
        self.index = 0
        self.sequence = 0

    def _open(self, index: int, sequence: int, header: bytes, fragment: bytes) -> bytes:
        aead, iv = self.keys[index]
        nonce = bytes(a ^ b for a, b in zip(iv, bytes(4) + struct.pack("!Q", sequence), strict=True))
        return bytes(aead.decrypt(nonce, fragment, header))

    def decrypt(self, content_type: int, version: bytes, fragment: bytes) -> tuple[int, bytes]:
        """Open one record; on failure with the current key, move on to the next key."""
        header = bytes([content_type]) + version + struct.pack("!H", len(fragment))
        while self.index < len(self.keys):
            try:
                plain = self._open(self.index, self.sequence, header, fragment)
            except InvalidTag:
                if self.sequence == 0 and self.index + 1 >= len(self.keys):
                    raise DecryptError("authentication failed") from None
                if self.index + 1 >= len(self.keys):
                    raise DecryptError("authentication failed") from None
                self.index += 1
                self.sequence = 0
                continue
            self.sequence += 1
            inner = plain.rstrip(b"\x00")
            if not inner:
                raise DecryptError("record has no content type")
            return inner[-1], inner[:-1]
        raise DecryptError("no key left")


def session_decryptors(
    keylog: KeyLog, client_random: bytes, hello: ServerHello
) -> tuple[RecordDecryptor, RecordDecryptor]:
    """Client-side and server-side decryptors for a session; :class:`KeysUnavailable` says why not."""
    spec = _SUITES.get(hello.cipher_suite)
    if spec is None:
        raise KeysUnavailable(f"decryption not supported for cipher {cipher_suite_name(hello.cipher_suite)}")
    secrets = keylog.secrets.get(client_random)
    if not secrets:
        raise KeysUnavailable("no key for this session in the key log")
    if hello.version == TLS13:
        client = [s for s in (secrets.get(LABEL_CLIENT_HS), secrets.get(LABEL_CLIENT_APP)) if s]
        server = [s for s in (secrets.get(LABEL_SERVER_HS), secrets.get(LABEL_SERVER_APP)) if s]
        if LABEL_CLIENT_APP not in secrets:
            raise KeysUnavailable("TLS 1.3 application traffic secrets missing from the key log")
        return Tls13Decryptor(spec, client), Tls13Decryptor(spec, server)
    master = secrets.get(LABEL_CLIENT_RANDOM)
    if master is None:
        raise KeysUnavailable("no TLS 1.2 master secret (CLIENT_RANDOM) for this session in the key log")
    if hello.version < 0x0303:
        raise KeysUnavailable(f"decryption not supported for TLS 1.{(hello.version & 0xFF) - 1}")
    iv_length = 0 if spec.kind == "cbc" else (12 if spec.kind == "chacha" else 4)
    mac = spec.mac_length
    size = 2 * (mac + spec.key_length + iv_length)
    block = tls12_prf(spec.hash_name, master, b"key expansion", hello.random + client_random, size)
    position = 2 * mac
    client_key = block[position : position + spec.key_length]
    server_key = block[position + spec.key_length : position + 2 * spec.key_length]
    position += 2 * spec.key_length
    client_iv = block[position : position + iv_length]
    server_iv = block[position + iv_length : position + 2 * iv_length]
    etm = hello.encrypt_then_mac and spec.kind == "cbc"
    return Tls12Decryptor(spec, client_key, client_iv, etm), Tls12Decryptor(spec, server_key, server_iv, etm)
