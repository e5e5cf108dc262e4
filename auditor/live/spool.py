"""The session's spool: flows on their way from the proxy to the analysis worker, on disk.

The proxy appends every message (a length-prefixed pickle: a flow snapshot, a
record, an event) to the current segment file in ``SESSION/spool/`` with one
``write`` and goes on: it never waits for the worker, and a message is in the
operating system's hands before mitmproxy passes the response on, so killing
the proxy, the worker or both (even with ``kill -9``) loses no answered
request. The worker reads the segments in order, notes after each message how
far it got (``progress``), and deletes a segment once it has read past it. A
worker started later (after a crash, or ``auditor analyze SESSION``) carries on
from that point.

The spool is bounded in bytes (:data:`DEFAULT_LIMIT_BYTES`, the addon's
``auditor_spool_limit``): when the worker is that far behind, further flows
pass through the proxy unrecorded and are counted, rather than slowing the
class's traffic or filling the disk. Files are owner-only (they hold raw
traffic, like ``flows.mitm``) and the folder is removed when a session ends
with everything read.

With a key (:mod:`auditor.atrest`), every message is sealed on its own
(AES-256-GCM, the same frame as the session's ``.enc`` files) and a segment
starts with :data:`~auditor.atrest.MAGIC`: a ``kill -9`` mid-write cuts at
most that one message, and the segments on disk never hold a flow in clear.
The bound counts the sealed bytes, as they are on disk.

Nothing here imports mitmproxy.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.atrest import MAGIC, AtRestError, SessionKey

SPOOL_DIR = "spool"
PROGRESS_FILE = "progress"
LOCK_FILE = "worker.lock"
WORKER_ARGS_FILE = "worker.json"
"""How the session's worker was started, so a later one can carry on with the same settings."""
SEGMENT_SUFFIX = ".frames"
SEGMENT_BYTES = 16 * 1024 * 1024
"""A segment is closed and a new one started beyond this size, so read segments can be deleted."""
DEFAULT_LIMIT_BYTES = 1024 * 1024 * 1024
"""Bytes the spool may hold (flows the worker has not read yet) before flows go unrecorded."""
READ_BYTES = 4 * 1024 * 1024
"""Bytes the worker reads at a time: its memory holds at most this plus one message."""
_SIZE_CHECK_INTERVAL = 0.5
"""Seconds between looks at the spool's size while it is over its limit."""

HEADER = struct.Struct(">I")
SEALED_AS = SPOOL_DIR
"""What a sealed message is bound to: a spool message cannot pass for a frame of ``records.jsonl.enc``."""
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600


def frame(message: tuple[Any, ...], dispatch_table: dict[type, Any] | None = None) -> bytes:
    """Serialize one message as a length-prefixed pickle."""
    if dispatch_table is None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    else:
        import io

        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = dispatch_table
        pickler.dump(message)
        data = buffer.getvalue()
    return HEADER.pack(len(data)) + data


def complete_frames(buffer: bytearray) -> list[tuple[Any, ...]]:
    """Take the complete messages off the front of ``buffer`` (a partial one stays for later)."""
    messages = []
    start = 0
    with memoryview(buffer) as view:
        while len(view) - start >= HEADER.size:
            (length,) = HEADER.unpack_from(view, start)
            end = start + HEADER.size + length
            if len(view) < end:
                break
            messages.append(pickle.loads(view[start + HEADER.size : end]))  # our own process wrote it
            start = end
    del buffer[:start]
    return messages


def spool_dir(folder: Path) -> Path:
    """The spool folder of a session folder."""
    return folder / SPOOL_DIR


def segment_numbers(directory: Path) -> list[int]:
    """Numbers of the segment files present, in order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    stems = (n[: -len(SEGMENT_SUFFIX)] for n in names if n.endswith(SEGMENT_SUFFIX))
    return sorted(int(stem) for stem in stems if stem.isdigit())


def _segment_path(directory: Path, number: int) -> Path:
    return directory / f"{number:010d}{SEGMENT_SUFFIX}"


def pending_bytes(directory: Path) -> int:
    """Bytes held in segment files (read or not): the spool's use of the disk."""
    total = 0
    for number in segment_numbers(directory):
        with contextlib.suppress(FileNotFoundError):
            total += _segment_path(directory, number).stat().st_size
    return total


def make_spool_dir(folder: Path) -> Path:
    """Create the spool folder, owner-only."""
    directory = spool_dir(folder)
    directory.mkdir(parents=True, exist_ok=True, mode=_FOLDER_MODE)
    os.chmod(directory, _FOLDER_MODE)
    return directory


class SpoolWriter:
    """The proxy's end: appends messages, never blocks on the worker, drops (and counts) beyond the limit."""

    def __init__(self, folder: Path, limit_bytes: int = DEFAULT_LIMIT_BYTES, key: SessionKey | None = None) -> None:
        """``key``: seal every message (the session is encrypted at rest)."""
        self.directory = make_spool_dir(folder)
        self.limit_bytes = limit_bytes
        self.key = key
        self.dropped = 0
        """Messages not spooled because the spool was full (their flows passed unrecorded)."""
        self.dropped_reported = 0
        """Of those, how many the worker has been told about."""
        existing = segment_numbers(self.directory)
        self._number = existing[-1] + 1 if existing else 0  # a crashed run's segments are read first
        self._fd = -1
        self._size = 0
        self._others = sum(_segment_path(self.directory, n).stat().st_size for n in existing)
        """Bytes in segments other than the current one, as of the last look."""
        self._full_since: float | None = None
        self._open_segment()

    def _open_segment(self) -> None:
        path = _segment_path(self.directory, self._number)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, _FILE_MODE)
        self._size = 0

    def append(self, data: bytes, count_drop: bool = True) -> bool:
        """Spool one framed message; ``False`` when the spool is full and it was dropped (counted if ``count_drop``)."""
        if self._fd < 0:
            raise ValueError("the spool is closed")
        parts: list[bytes | memoryview] = [data]
        if self.key is not None:  # sealed before the bound is checked: the bound counts what reaches the disk
            parts = list(self.key.seal_parts(memoryview(data)[HEADER.size :], SEALED_AS))
        size = sum(len(part) for part in parts)
        if self._over_limit(size):
            self.dropped += count_drop
            return False
        if self._size >= SEGMENT_BYTES:
            self._rotate()
        if self.key is not None and self._size == 0:  # in the same write: a segment is never just its marker
            parts.insert(0, MAGIC)
            size += len(MAGIC)
        written = os.writev(self._fd, parts)  # one system call, as one write: a kill -9 cuts at most this message
        rest = b"".join(parts)[written:] if written < size else b""
        while rest:  # a regular file takes it whole unless the disk is full
            rest = rest[os.write(self._fd, rest):]
        self._size += size
        return True

    def _over_limit(self, incoming: int) -> bool:
        if self._others + self._size + incoming <= self.limit_bytes:
            self._full_since = None
            return False
        now = time.monotonic()
        if self._full_since is None or now - self._full_since >= _SIZE_CHECK_INTERVAL:
            self._full_since = now
            self._others = pending_bytes(self.directory) - self._size  # the worker deleted what it read
            return self._others + self._size + incoming > self.limit_bytes
        return True

    def _rotate(self) -> None:
        os.close(self._fd)
        self._number += 1
        self._others = pending_bytes(self.directory)
        self._open_segment()

    def close(self) -> None:
        """Close the current segment (the worker still reads it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True)
class Position:
    """Where the next unread message starts: a segment and a byte offset in it."""

    segment: int
    offset: int


class SpoolReader:
    """The worker's end: yields messages in order and remembers, message by message, how far it got."""

    def __init__(self, folder: Path, key: SessionKey | None = None) -> None:
        """``key``: the session's, to open sealed segments (a plain segment, from before a key was set, reads too)."""
        self.directory = make_spool_dir(folder)
        self.key = key
        self.skipped = 0
        """Messages cut short by a crash of the proxy mid-write (dropped, counted)."""
        self.damaged = 0
        """Sealed messages that did not open with the key (changed on disk; dropped, counted)."""
        self._progress_fd = os.open(self.directory / PROGRESS_FILE, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        self.position = self._load_progress()

    def _load_progress(self) -> Position:
        raw = os.pread(self._progress_fd, 64, 0).split()
        try:
            return Position(int(raw[0]), int(raw[1]))
        except (IndexError, ValueError):
            existing = segment_numbers(self.directory)
            return Position(existing[0] if existing else 0, 0)

    def commit(self, position: Position) -> None:
        """Note that every message before ``position`` has been handled (one small write, no sync)."""
        self.position = position
        os.pwrite(self._progress_fd, f"{position.segment} {position.offset}".ljust(40).encode(), 0)

    def read(self, final: bool = False) -> Iterator[tuple[tuple[Any, ...], Position]]:
        """Yield the messages available now, each with the position after it; :meth:`commit` each once handled.

        ``final``: the proxy is gone, so a message cut short at the end of the last
        segment will never be completed: it is skipped (and counted).
        """
        cursor = self.position
        while True:
            numbers = [n for n in segment_numbers(self.directory) if n >= cursor.segment]
            if not numbers:
                return
            if numbers[0] != cursor.segment:  # that segment was read and deleted
                cursor = Position(numbers[0], 0)
            messages, tail = self._read_segment(cursor)
            if not messages and len(numbers) > 1:
                # The proxy writes nothing more to a segment once it started the next: read it once more, then on.
                messages, tail = self._read_segment(cursor)
            if messages:
                for message, offset in messages:
                    cursor = Position(cursor.segment, offset)
                    yield message, cursor
                continue
            if len(numbers) == 1 and not final:
                return  # the proxy may still be writing this segment
            if tail:
                self.skipped += 1
            if len(numbers) == 1:
                return
            # Every message of this segment was handled (the caller asked for the next one): delete it.
            with contextlib.suppress(FileNotFoundError):
                _segment_path(self.directory, cursor.segment).unlink()
            cursor = Position(numbers[1], 0)
            self.commit(cursor)

    def _read_segment(self, start: Position) -> tuple[list[tuple[tuple[Any, ...], int]], int]:
        """Complete messages from ``start`` (about :data:`READ_BYTES`) with their end offsets; leftover bytes."""
        path = _segment_path(self.directory, start.segment)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return [], 0
        with handle:
            head = handle.read(len(MAGIC))
            sealed = head == MAGIC
            if not sealed and MAGIC.startswith(head) and start.offset == 0 and head:
                return [], len(head)  # the marker is still being written
            if sealed and self.key is None:
                raise AtRestError(f"{path}: the spool is encrypted; its session's key is needed to read it")
            start = Position(start.segment, max(start.offset, len(MAGIC) if sealed else 0))
            handle.seek(start.offset)
            data = bytearray(handle.read(READ_BYTES))
            if len(data) >= HEADER.size:
                (length,) = HEADER.unpack_from(data, 0)
                if HEADER.size + length > len(data):  # one message larger than a read: take it whole
                    data += handle.read(HEADER.size + length - len(data))
        messages: list[tuple[tuple[Any, ...], int]] = []
        offset = start.offset
        consumed = 0
        while len(data) - consumed >= HEADER.size:
            (length,) = HEADER.unpack_from(data, consumed)
            end = consumed + HEADER.size + length
            if len(data) < end:
                break
            body = memoryview(data)[consumed + HEADER.size : end]
            consumed = end
            if sealed:
                assert self.key is not None
                try:
                    body = memoryview(self.key.open(bytes(body), SEALED_AS))
                except AtRestError:  # changed on disk: counted as an error where the flow was, and read past
                    self.damaged += 1
                    messages.append((("error", "spool"), offset + consumed))
                    continue
            messages.append((pickle.loads(body), offset + consumed))
        return messages, len(data) - consumed

    def finish(self) -> None:
        """Everything was read: remove the spool folder (its lock is held by this worker, so none races it)."""
        os.close(self._progress_fd)
        for path in self.directory.iterdir():
            path.unlink()
        with contextlib.suppress(OSError):
            self.directory.rmdir()

    def close(self) -> None:
        """Stop reading, keeping what is unread for a later worker."""
        with contextlib.suppress(OSError):
            os.close(self._progress_fd)


def has_unread(folder: Path) -> bool:
    """True when a session's spool holds messages a worker never finished (after a crash)."""
    directory = spool_dir(folder)
    return any(_segment_path(directory, n).stat().st_size for n in segment_numbers(directory))


@contextlib.contextmanager
def worker_lock(folder: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the session's worker lock (one reader of a spool at a time); yields False if taken and not waiting."""
    import fcntl

    directory = make_spool_dir(folder)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
