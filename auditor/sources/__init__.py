"""Capture sources: each turns one input into an iterator of :class:`~auditor.records.Record`.

The input type is decided by content, never by file extension. A source
reports damage through :class:`~auditor.records.InputProblem` and keeps
yielding every record it can still read.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from auditor.decoding import DEFAULT_BODY_CAP
from auditor.privacy import redact_text
from auditor.records import InputProblem, InputSummary, Record

log = logging.getLogger(__name__)


class InputError(Exception):
    """An input cannot be read at all (missing, unreadable, unknown format)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class ReadOptions:
    """Options every source understands."""

    body_cap: int = DEFAULT_BODY_CAP
    """Decoded request bytes kept per record."""
    keylog: str | None = None
    """NSS key log file for decrypting TLS in packet captures."""
    progress: bool = False
    """Show a progress bar on stderr for long inputs."""
    passphrase: str | None = field(default=None, repr=False)
    """Key of encrypted session folders (:mod:`auditor.atrest`); else taken from the environment."""


Reader = Callable[[Path, ReadOptions, list[InputProblem]], Iterator[Record]]


@dataclass(frozen=True)
class Format:
    """A known input format: how to recognise it and how to read it."""

    name: str
    sniff: Callable[[Path, bytes], bool]
    read: Reader


_FORMATS: list[Format] = []


def register(fmt: Format) -> None:
    """Add a format; the first format whose sniff matches wins."""
    _FORMATS.append(fmt)


def _load_builtin_formats() -> None:
    if _FORMATS:
        return
    from auditor.sources import har, mitmflows, pcap, session

    for module in (session, pcap, mitmflows, har):
        register(module.FORMAT)


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_input_kind(path: Path) -> os.stat_result:
    """Stat ``path`` without opening it; raise :class:`InputError` unless it is a file or folder we may read.

    Runs before anything opens or hashes the input: opening a FIFO waits for a
    writer forever, and a device can be endless.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(str(path), "no such file or directory") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    for is_kind, kind in _SPECIAL_FILES:
        if is_kind(info.st_mode):
            raise InputError(str(path), f"is {kind}, not a capture file; save the capture to a file first")
    if stat.S_ISDIR(info.st_mode):
        try:
            os.listdir(path)
        except OSError as exc:
            raise InputError(str(path), f"cannot read folder: {exc.strerror or exc}") from exc
    elif not stat.S_ISREG(info.st_mode):
        raise InputError(str(path), "is neither a file nor a folder")
    return info


def open_regular_file(path: Path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file, without blocking on a FIFO that replaced it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def detect_format(path: Path) -> Format:
    """Judge the format of ``path`` by its content; raise :class:`InputError` when none fits."""
    _load_builtin_formats()
    info = check_input_kind(path)
    head = b""
    if stat.S_ISREG(info.st_mode):
        try:
            with open_regular_file(path) as handle:
                head = handle.read(4096)
        except OSError as exc:
            raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
        if not head:
            raise InputError(str(path), "file is empty")
    for fmt in _FORMATS:
        if fmt.sniff(path, head):
            return fmt
    if path.is_dir():
        raise InputError(str(path), "folder is not an auditor session (no records.jsonl or flows.mitm)")
    raise InputError(
        str(path), "unknown format (expected pcap, pcapng, HAR, mitmproxy flow file or an auditor session folder)"
    )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, or of a session folder's records file."""
    target = path
    if path.is_dir():
        from auditor.sources.session import session_content_file

        target = session_content_file(path)
    digest = hashlib.sha256()
    with open_regular_file(target) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


EARLIEST_TIME = -2208988800.0
"""1900-01-01 UTC: no capture is older; earlier times are damage."""
LATEST_TIME = 253402214400.0
"""9999-12-31 UTC: later times cannot be shown as dates in any time zone."""
LARGEST_SIZE = 1 << 62
"""No connection moves more bytes than this; larger counts are damage (and overflow reports)."""


def impossible_value(record: Record) -> str | None:
    """Why ``record`` holds a value no real traffic has (a time or byte count out of range), or ``None``."""
    if not math.isfinite(record.time) or not EARLIEST_TIME <= record.time <= LATEST_TIME:
        return f"impossible time {record.time!r}"
    for name in ("bytes_up", "bytes_down"):
        size = getattr(record, name)
        if not 0 <= size <= LARGEST_SIZE:
            return f"impossible byte count {size!r}"
    return None


def read_input(path: Path, options: ReadOptions, summary: InputSummary) -> Iterator[Record]:
    """Yield the records of one input, counting them and collecting problems in ``summary``.

    A failure part-way through becomes a problem in the summary; records already
    yielded stay valid.
    """
    fmt = detect_format(path)
    summary.format = fmt.name
    try:
        for number, record in enumerate(fmt.read(path, options, summary.problems), start=1):
            impossible = impossible_value(record)
            if impossible:
                # One hostile value (a HAR time of 1e400) costs its record, never the records after it.
                summary.problems.append(InputProblem(str(path), f"record {number} skipped: {impossible}"))
                continue
            summary.records += 1
            yield record
    except InputError as exc:
        summary.problems.append(InputProblem(exc.path, exc.message, fatal=summary.records == 0))
    except (OSError, ValueError, EOFError) as exc:
        summary.problems.append(
            InputProblem(
                str(path),
                f"stopped reading after {summary.records} records: {redact_text(exc)}",
                fatal=summary.records == 0,
            )
        )
    except Exception as exc:  # one odd file (or a reader bug) must not stop the other inputs
        log.debug("reading %s failed", path, exc_info=True)
        summary.problems.append(
            InputProblem(
                str(path),
                f"stopped reading after {summary.records} records: {type(exc).__name__}: {redact_text(exc)}",
                fatal=summary.records == 0,
            )
        )


def describe_input(path: Path) -> InputSummary:
    """Start the provenance entry of an input (format filled in when read)."""
    try:
        check_input_kind(path)
        digest = sha256_of(path)
    except (OSError, InputError):
        digest = ""  # read_input names the problem
    return InputSummary(path=os.fspath(path), format="unknown", sha256=digest)
