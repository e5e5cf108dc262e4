"""Packet captures (pcap and pcapng): DNS, TLS/QUIC SNI, HTTP, and TLS decrypted with a key log.

The file format is parsed by :mod:`~auditor.sources.pcap.reader` (streaming,
bounded memory), packets by hand in :mod:`~auditor.sources.pcap.flows`; each
connection becomes one normalized record that says how its name was learned
and, when its content stayed hidden, why.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from auditor.records import InputProblem, Record, RecordKind
from auditor.sources import Format, InputError, ReadOptions
from auditor.sources.pcap.decrypt import KeyLog
from auditor.sources.pcap.flows import CaptureAnalyzer
from auditor.sources.pcap.packets import SUPPORTED_LINK_TYPES
from auditor.sources.pcap.reader import PCAP_MAGICS, PCAPNG_MAGIC, CaptureReader
from auditor.sources.pcap.worker import can_fork, read_in_worker

__all__ = ["FORMAT", "read", "sniff"]


def sniff(path: Path, head: bytes) -> bool:
    """Recognise a pcap (any byte order, micro- or nanosecond) or pcapng file."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def load_keylog(path: str | None) -> KeyLog | None:
    """Load the key log given with ``--keylog``; raise :class:`InputError` when it cannot be read."""
    if path is None:
        return None
    keylog = KeyLog()
    try:
        keylog.add_file(Path(path))
    except OSError as exc:
        raise InputError(path, f"cannot read the key log: {exc.strerror or exc}") from exc
    return keylog


class TlsSessions:
    """TLS-over-TCP sessions of a capture, and how many of them a key log opened (to say when it opened none)."""

    def __init__(self) -> None:
        self.seen: set[tuple[object, ...]] = set()
        self.opened: set[tuple[object, ...]] = set()

    def count(self, record: Record) -> None:
        """Note the connection of an encrypted TCP record (QUIC is not decrypted with a key log)."""
        if self.opened or not record.encrypted or record.kind in (RecordKind.QUIC, RecordKind.DNS):
            return  # once one session opened, the key log fits this capture: no need to keep counting
        connection = (record.client_ip, record.client_port, record.server_ip, record.server_port)
        self.seen.add(connection)
        if record.content_visible:
            self.opened.add(connection)


PARALLEL_FROM_BYTES = 32 << 20
"""Captures at least this large are dissected in a second process while this one analyses."""


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Yield the records of a capture; damage ends reading with a problem naming the byte offset."""
    keylog = load_keylog(options.keylog)

    def read_here(found: list[InputProblem], progress: Callable[[int], None] | None) -> Iterator[Record]:
        return _read_records(path, options, keylog, found, progress)

    with _progress(path, options.progress) as progress:
        if path.stat().st_size >= PARALLEL_FROM_BYTES and can_fork():
            yield from read_in_worker(path, read_here, problems, progress)
        else:
            yield from read_here(problems, progress)


def _read_records(
    path: Path,
    options: ReadOptions,
    keylog: KeyLog | None,
    problems: list[InputProblem],
    progress: Callable[[int], None] | None,
) -> Iterator[Record]:
    analyzer = CaptureAnalyzer(str(path), options.body_cap, keylog)
    sessions = TlsSessions()
    with path.open("rb") as handle:
        reader = CaptureReader(handle)
        for record in analyzer.records(reader, progress):
            sessions.count(record)
            yield record
    if analyzer.keylog is not None:
        problems.extend(InputProblem(str(path), message) for message in analyzer.keylog.problems)
    if keylog is not None and options.keylog and sessions.seen and not sessions.opened:
        problems.append(
            InputProblem(
                str(path),
                f"the key log {options.keylog} opened none of the TLS sessions ({len(keylog)} sessions in the log, "
                f"{len(sessions.seen)} TLS sessions in the capture, opened 0): it was probably recorded on another "
                "device or at another time",
            )
        )
    if analyzer.link_types_unsupported:
        kinds = ", ".join(str(t) for t in sorted(analyzer.link_types_unsupported))
        supported = ", ".join(sorted(set(SUPPORTED_LINK_TYPES.values())))
        problems.append(
            InputProblem(str(path), f"frames of unsupported link type {kinds} skipped (supported: {supported})")
        )
    if analyzer.truncated_frames:
        problems.append(
            InputProblem(
                str(path),
                f"{analyzer.truncated_frames} frames were cut short by the capture's snapshot length; names and "
                "content in the missing bytes could not be read (capture whole packets: tcpdump -s 0, "
                "PCAPdroid with full payload)",
            )
        )
    if analyzer.parse_errors:
        problems.append(
            InputProblem(
                str(path),
                f"content of {analyzer.parse_errors} connection(s) could not be parsed; they are reported by name "
                f"and size only (first: {analyzer.first_parse_error})",
            )
        )
    if reader.damage is not None:
        damage = reader.damage
        problems.append(
            InputProblem(
                str(path),
                f"{reader.format} damaged at byte {damage.offset}: {damage.reason}; "
                f"analysed the {analyzer.frames} frames before it",
                fatal=analyzer.frames == 0,
            )
        )
    elif analyzer.frames == 0:
        # A capture with nothing in it would otherwise look like a clean audit of a silent app.
        problems.append(InputProblem(str(path), f"{reader.format} holds no packets; nothing to analyse", fatal=True))


class _progress:
    """A progress bar on stderr (bytes read of the file), or nothing."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        self.bar: object | None = None
        self.shown = 0

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        import click

        size = os.path.getsize(self.path)
        bar = click.progressbar(length=size, label=self.path.name, file=sys.stderr, show_eta=True, show_percent=True)
        bar.__enter__()
        self.bar = bar

        def update(position: int) -> None:
            if position > self.shown:
                bar.update(position - self.shown)
                self.shown = position

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)  # type: ignore[attr-defined]


FORMAT = Format("pcap", sniff, read)
