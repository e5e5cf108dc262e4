"""Packet captures (pcap and pcapng)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from auditor.records import InputProblem, Record
from auditor.sources import Format, InputError, ReadOptions

PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def sniff(path: Path, head: bytes) -> bool:
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    raise InputError(str(path), "packet captures are not supported in this build yet")
    yield  # pragma: no cover


FORMAT = Format("pcap", sniff, read)
