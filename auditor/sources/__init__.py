"""Capture sources: each turns one input into an iterator of :class:`~auditor.records.Record`.

The input type is decided by content, never by file extension. A source
reports damage through :class:`~auditor.records.InputProblem` and keeps
yielding every record it can still read.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


def detect_format(path: Path) -> Format:
    """Judge the format of ``path`` by its content; raise :class:`InputError` when none fits."""
    _load_builtin_formats()
    if not path.exists():
        raise InputError(str(path), "no such file or directory")
    head = b""
    if path.is_file():
        try:
            with path.open("rb") as handle:
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
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_input(path: Path, options: ReadOptions, summary: InputSummary) -> Iterator[Record]:
    """Yield the records of one input, counting them and collecting problems in ``summary``.

    A failure part-way through becomes a problem in the summary; records already
    yielded stay valid.
    """
    fmt = detect_format(path)
    summary.format = fmt.name
    try:
        for record in fmt.read(path, options, summary.problems):
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
        digest = sha256_of(path)
    except OSError:
        digest = ""
    return InputSummary(path=os.fspath(path), format="unknown", sha256=digest)
