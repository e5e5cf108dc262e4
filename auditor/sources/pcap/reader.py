"""Streaming pcap and pcapng reading, parsed by hand for speed.

The file is read in large chunks and split into frames with ``struct``; memory
stays bounded whatever the file size. scapy's ``RawPcapReader`` reads the same
files (the tests cross-check frame counts against it) but costs two ``read``
calls per frame, which is the ceiling the benchmark compares against.

Damage never raises: the reader stops at the first block it cannot trust and
records where (:attr:`CaptureReader.damage`), after yielding every frame before.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

CHUNK_SIZE = 4 << 20
"""Bytes read from disk at a time."""
MAX_FRAME = 1 << 18
"""A captured frame larger than this means the file is corrupt (no link type captures more)."""
MAX_BLOCK = 64 << 20
"""A pcapng block larger than this means the file is corrupt."""

SECRETS_TLS_KEYLOG = 0x544C534B
"""pcapng Decryption Secrets Block type for an NSS key log."""

_BLOCK_SHB = 0x0A0D0D0A
_BLOCK_IDB = 1
_BLOCK_OPB = 2
_BLOCK_SPB = 3
_BLOCK_EPB = 6
_BLOCK_DSB = 0x0A


@dataclass(frozen=True, slots=True)
class Damage:
    """Where and why reading stopped early."""

    offset: int
    """Byte offset of the first frame or block that could not be read."""
    reason: str
    """What is wrong there, e.g. ``truncated`` or ``block length 7 is not a multiple of 4``."""


class CaptureReader:
    """Frames of one pcap or pcapng file: ``for timestamp, link_type, frame in reader``.

    Embedded TLS key logs (pcapng Decryption Secrets Blocks) are collected in
    :attr:`tls_keylogs` as they are met; :attr:`position` says how far the
    file has been read (for progress bars).
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.position = 0
        """Bytes consumed so far."""
        self.damage: Damage | None = None
        """Set when reading stopped before the end of the file."""
        self.tls_keylogs: list[bytes] = []
        """Key log texts found in Decryption Secrets Blocks, in file order."""
        self.format = "pcap"
        """``pcap`` or ``pcapng``, known after the first frame is read."""
        self.link_types: set[int] = set()
        """Every link type met."""
        self._buffer = b""
        self._offset = 0  # position in _buffer
        self._base = 0  # file offset of _buffer[0]
        self._eof = False

    # -- buffered access -----------------------------------------------------

    def _fill(self, need: int) -> bool:
        """Make sure ``need`` bytes are buffered at the current offset; False at end of file."""
        available = len(self._buffer) - self._offset
        if available >= need:
            return True
        if self._eof:
            return False
        rest = self._buffer[self._offset :]
        parts = [rest]
        size = available
        while size < need:
            chunk = self.handle.read(max(CHUNK_SIZE, need - size))
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            size += len(chunk)
        self._base += self._offset
        self._buffer = b"".join(parts)
        self._offset = 0
        return size >= need

    def _damaged(self, offset: int, reason: str) -> None:
        self.damage = Damage(offset, reason)

    # -- frames --------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[float, int, bytes]]:
        if not self._fill(4):
            self._damaged(0, "file is too short to be a capture")
            return
        magic = self._buffer[:4]
        if magic == PCAPNG_MAGIC:
            self.format = "pcapng"
            yield from self._pcapng()
        elif magic in PCAP_MAGICS:
            yield from self._pcap(*PCAP_MAGICS[magic])
        else:
            self._damaged(0, "not a pcap or pcapng file")

    def _pcap(self, endian: str, resolution: float) -> Iterator[tuple[float, int, bytes]]:
        if not self._fill(24):
            self._damaged(0, "truncated in the file header")
            return
        link_type = struct.unpack_from(endian + "I", self._buffer, 20)[0] & 0x0FFFFFFF
        self.link_types.add(link_type)
        self._offset = 24
        header = struct.Struct(endian + "IIII")
        unpack = header.unpack_from
        while True:
            buffer = self._buffer
            offset = self._offset
            end = len(buffer)
            # Fast inner loop over whole records already in the buffer.
            while offset + 16 <= end:
                seconds, fraction, caplen, _ = unpack(buffer, offset)
                stop = offset + 16 + caplen
                if stop > end:
                    break
                if caplen > MAX_FRAME:
                    self._offset = offset
                    self.position = self._base + offset
                    self._damaged(self.position, f"corrupt frame header (captured length {caplen})")
                    return
                yield seconds + fraction * resolution, link_type, buffer[offset + 16 : stop]
                offset = stop
            self._offset = offset
            self.position = self._base + offset
            if offset == end and self._eof:
                return
            if not self._fill(16):
                if len(self._buffer) > self._offset:
                    self._damaged(self.position, "truncated in a frame header")
                return
            caplen = unpack(self._buffer, self._offset)[2]
            if caplen > MAX_FRAME:
                self._damaged(self.position, f"corrupt frame header (captured length {caplen})")
                return
            if not self._fill(16 + caplen):
                self._damaged(self.position, "truncated in a frame")
                return

    def _pcapng(self) -> Iterator[tuple[float, int, bytes]]:
        endian = "<"
        interfaces: list[tuple[int, float]] = []
        epb = struct.Struct(endian + "IIIIII")
        while True:
            # Fast inner loop over Enhanced Packet Blocks already in the buffer.
            buffer = self._buffer
            offset = self._offset
            end = len(buffer)
            unpack_epb = epb.unpack_from
            trailer = struct.Struct(epb.format[0] + "I").unpack_from
            while offset + 32 <= end:
                block_type, length, if_id, high, low, caplen = unpack_epb(buffer, offset)
                if (
                    block_type != _BLOCK_EPB
                    or offset + length > end
                    or length % 4
                    or 32 + caplen > length
                    or if_id >= len(interfaces)
                    or trailer(buffer, offset + length - 4)[0] != length
                ):
                    break
                link_type, resolution = interfaces[if_id]
                yield ((high << 32) | low) * resolution, link_type, buffer[offset + 28 : offset + 28 + caplen]
                offset += length
            self._offset = offset
            start = self._base + self._offset
            self.position = start
            if not self._fill(12):
                if len(self._buffer) > self._offset:
                    self._damaged(start, "truncated in a block header")
                return
            buffer = self._buffer
            offset = self._offset
            if buffer[offset : offset + 4] == PCAPNG_MAGIC:
                bom = buffer[offset + 8 : offset + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._damaged(start, "section header has an unknown byte-order mark")
                    return
                interfaces = []
                epb = struct.Struct(endian + "IIIIII")
            block_type, length = struct.unpack_from(endian + "II", buffer, offset)
            if length < 12 or length % 4 or length > MAX_BLOCK:
                self._damaged(start, f"corrupt block (type {block_type:#x}, length {length})")
                return
            if not self._fill(length):
                self._damaged(start, f"truncated in a block (type {block_type:#x}, {length} bytes announced)")
                return
            buffer = self._buffer
            offset = self._offset
            if struct.unpack_from(endian + "I", buffer, offset + length - 4)[0] != length:
                self._damaged(start, f"corrupt block (type {block_type:#x}): trailing length does not match")
                return
            body = offset + 8
            if block_type == _BLOCK_EPB:
                if_id, high, low, caplen = struct.unpack_from(endian + "IIII", buffer, body)
                if if_id < len(interfaces) and 28 + caplen <= length:
                    link_type, resolution = interfaces[if_id]
                    yield ((high << 32) | low) * resolution, link_type, buffer[body + 20 : body + 20 + caplen]
            elif block_type == _BLOCK_SPB:
                if interfaces:
                    original = struct.unpack_from(endian + "I", buffer, body)[0]
                    caplen = min(original, length - 16)
                    yield 0.0, interfaces[0][0], buffer[body + 4 : body + 4 + caplen]
            elif block_type == _BLOCK_IDB:
                link_type = struct.unpack_from(endian + "H", buffer, body)[0]
                resolution = _if_tsresol(buffer[body + 8 : offset + length - 4], endian)
                interfaces.append((link_type, resolution))
                self.link_types.add(link_type)
            elif block_type == _BLOCK_DSB:
                secrets_type, secrets_length = struct.unpack_from(endian + "II", buffer, body)
                if secrets_type == SECRETS_TLS_KEYLOG and 20 + secrets_length <= length:
                    self.tls_keylogs.append(bytes(buffer[body + 8 : body + 8 + secrets_length]))
            elif block_type == _BLOCK_OPB:
                if_id, _drops, high, low, caplen = struct.unpack_from(endian + "HHIII", buffer, body)
                if if_id < len(interfaces) and 28 + caplen <= length:
                    link_type, resolution = interfaces[if_id]
                    yield ((high << 32) | low) * resolution, link_type, buffer[body + 20 : body + 20 + caplen]
            self._offset = offset + length


def _if_tsresol(options: bytes, endian: str) -> float:
    """Seconds per timestamp unit from an Interface Description Block's options (default microseconds)."""
    position = 0
    while position + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, position)
        if code == 0:
            break
        if code == 9 and length >= 1 and position + 4 < len(options):  # a cut option block is no resolution
            value = options[position + 4]
            if value & 0x80:
                return float(2.0 ** -(value & 0x7F))
            return float(10.0**-value)
        position += 4 + ((length + 3) & ~3)
    return 1e-6
