"""Bounded TCP stream reassembly for one direction of a connection."""

from __future__ import annotations

MAX_PENDING_BYTES = 256 * 1024
"""Out-of-order bytes held while waiting for a missing segment; beyond this the hole is declared lost."""
MAX_PENDING_SEGMENTS = 512
_MOD = 1 << 32
_HALF = 1 << 31


class StreamGap(Exception):
    """Bytes are missing from the capture (lost or not captured); the stream cannot be followed exactly."""


class TcpStream:
    """Delivers the bytes of one direction in order, trimming retransmissions.

    >>> s = TcpStream()
    >>> s.start(99)
    >>> s.push(105, b"world"), s.push(100, b"hello"), s.push(100, b"hello")
    (b'', b'helloworld', b'')
    """

    __slots__ = ("next", "pending", "pending_size")

    def __init__(self) -> None:
        self.next: int | None = None
        self.pending: dict[int, bytes] = {}
        self.pending_size = 0

    def start(self, syn_sequence: int) -> None:
        """Note the SYN's sequence number; data starts one after it."""
        self.next = (syn_sequence + 1) % _MOD

    def push(self, sequence: int, data: bytes) -> bytes:
        """Add one segment; return the bytes now in order (maybe empty). Raise :class:`StreamGap` on a lost hole."""
        expected = self.next
        if expected is None:
            expected = sequence
        delta = (sequence - expected) % _MOD
        if delta >= _HALF:  # starts before what we have: retransmission or overlap
            overlap = _MOD - delta
            if overlap >= len(data):
                return b""
            data = data[overlap:]
            delta = 0
        if delta:
            if sequence not in self.pending:
                self.pending[sequence] = data
                self.pending_size += len(data)
            if self.pending_size > MAX_PENDING_BYTES or len(self.pending) > MAX_PENDING_SEGMENTS:
                self.pending.clear()
                self.pending_size = 0
                self.next = None
                raise StreamGap("a segment is missing from the capture")
            self.next = expected
            return b""
        self.next = (expected + len(data)) % _MOD
        if not self.pending:
            return data
        parts = [data]
        while self.pending:
            nxt = self.next
            piece = self.pending.pop(nxt, None)
            if piece is None:
                # A pending segment may overlap the current end.
                found = False
                for seq in list(self.pending):
                    delta = (nxt - seq) % _MOD
                    if delta < _HALF:  # seq <= nxt
                        chunk = self.pending.pop(seq)
                        self.pending_size -= len(chunk)
                        if delta < len(chunk):
                            piece = chunk[delta:]
                            found = True
                            break
                if not found or piece is None:
                    break
            else:
                self.pending_size -= len(piece)
            parts.append(piece)
            self.next = (nxt + len(piece)) % _MOD
        return b"".join(parts)

    def flush(self) -> list[bytes]:
        """Hand out what waits behind a hole, in order, as contiguous runs (at the end of a connection).

        >>> s = TcpStream()
        >>> s.start(0)
        >>> s.push(11, b"def"), s.push(20, b"xyz"), s.push(14, b"g")
        (b'', b'', b'')
        >>> s.flush()
        [b'defg', b'xyz']
        """
        if not self.pending:
            return []
        base = self.next if self.next is not None else min(self.pending)
        runs: list[bytes] = []
        current = b""
        end = None
        for sequence in sorted(self.pending, key=lambda seq: (seq - base) % _MOD):
            data = self.pending[sequence]
            if end is not None and (sequence - end) % _MOD < _HALF and (sequence - end) % _MOD == 0:
                current += data
            else:
                if current:
                    runs.append(current)
                current = data
            end = (sequence + len(data)) % _MOD
        if current:
            runs.append(current)
        self.pending.clear()
        self.pending_size = 0
        self.next = end
        return runs
