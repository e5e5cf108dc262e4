"""Two captures of the same app (two devices, or two test personas) tell identifiers from app constants.

At the same endpoint (host and path pattern), request part and key, a value
that stays the same within each capture but differs between them belongs to
the device, installation or persona: an identifier. A value that is the same in
both captures is the same for every installation: an app constant (an app ID,
an API key, an analytics property), not personal data. Values that change from
request to request (timestamps, nonces) are neither and are left out.

Any input formats mix: a HAR from one tablet, a pcap with keys from the other.
Memory is bounded by :data:`MAX_SLOTS` and :data:`MAX_VALUES_PER_SLOT`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditor.detect import DetectionContext, Where
from auditor.detect.fields import iter_fields
from auditor.detect.identifiers import followed_part, looks_random, not_followed, shape_exclusion
from auditor.records import InputProblem, Record, RecordKind
from auditor.sources import InputError, ReadOptions, describe_input, read_input

MAX_SLOTS = 50000
"""Distinct (endpoint, part, key) slots kept per capture."""
MAX_VALUES_PER_SLOT = 8
"""Distinct values kept per slot; a slot with more changes too often to be either kind."""

Slot = tuple[str, str, str, str]
"""(host, path pattern, request part, key)."""


@dataclass
class CaptureValues:
    """The candidate values one capture sent, per slot."""

    slots: dict[Slot, dict[str, int]] = field(default_factory=dict)
    """Slot -> value -> requests that carried it."""
    varying: set[Slot] = field(default_factory=set)
    """Slots with more than :data:`MAX_VALUES_PER_SLOT` distinct values."""
    records: int = 0
    problems: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Inputs of which nothing could be read, each as ``path: problem``."""
    capped: bool = False

    def add(self, record: Record) -> None:
        """Take note of the candidate values of one request."""
        if record.kind is not RecordKind.HTTP or not record.content_visible or not record.url:
            return
        self.records += 1
        host = record.host or record.server_ip or "unknown"
        pattern = path_pattern(record.url)
        for item in iter_fields(record):
            if item.parsed or item.where is Where.PATH or not_followed(item):
                continue
            value = followed_part(item.key, item.value)
            if value is None:
                continue
            slot = (host, pattern, item.where.value, item.key)
            if slot in self.varying:
                continue
            values = self.slots.get(slot)
            if values is None:
                if len(self.slots) >= MAX_SLOTS:
                    self.capped = True
                    continue
                values = self.slots[slot] = {}
            if value not in values and len(values) >= MAX_VALUES_PER_SLOT:
                self.varying.add(slot)
                del self.slots[slot]
                continue
            values[value] = values.get(value, 0) + 1

    def stable_value(self, slot: Slot) -> tuple[str, int] | None:
        """The one value the slot carried, with its request count, or ``None`` when it changed."""
        values = self.slots.get(slot)
        if not values or len(values) != 1:
            return None
        return next(iter(values.items()))


def path_pattern(url: str) -> str:
    """The URL's path with ID-like segments replaced by ``{id}``, so both devices' endpoints line up.

    >>> path_pattern("https://api.example.com/v1/users/8f14e45fceea167a5a36dedd4bea2543/events?x=1")
    '/v1/users/{id}/events'
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        return "/"
    segments = ["{id}" if looks_random(s) else s for s in path.split("/")]
    return "/".join(segments) or "/"


@dataclass(frozen=True)
class Compared:
    """One slot seen in both captures with a stable value in each."""

    host: str
    path: str
    where: str
    key: str
    kind: str
    """``identifier`` (differs between the captures) or ``app_constant`` (equal in both)."""
    masked_a: str
    masked_b: str
    fingerprint_a: str
    fingerprint_b: str
    requests_a: int
    requests_b: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The report's item: every field, values masked."""
        return asdict(self)


@dataclass
class Comparison:
    """What two captures of the same app tell about its values."""

    identifiers: list[Compared]
    constants: list[Compared]
    records_a: int
    records_b: int
    shared_slots: int
    """Slots seen in both captures (whatever their values did)."""
    notes: list[str]
    unreadable: list[str] = field(default_factory=list)
    """Inputs (of either capture) of which nothing could be read."""

    def to_json(self) -> dict[str, Any]:
        """The report's ``comparison`` section."""
        return {
            "records_a": self.records_a,
            "records_b": self.records_b,
            "shared_slots": self.shared_slots,
            "identifiers": [c.to_json() for c in self.identifiers],
            "app_constants": [c.to_json() for c in self.constants],
            "notes": list(self.notes),
        }


def collect(paths: Iterable[Path], options: ReadOptions | None = None) -> CaptureValues:
    """The candidate values of every input in ``paths`` (problems are noted, never raised)."""
    values = CaptureValues()
    for path in paths:
        summary = describe_input(path)
        try:
            for record in read_input(path, options or ReadOptions(), summary):
                values.add(record)
        except InputError as exc:
            summary.problems.append(InputProblem(exc.path, exc.message, fatal=True))
        values.problems.extend(str(problem) for problem in summary.problems)
        values.unreadable.extend(str(problem) for problem in summary.problems if problem.fatal)
    return values


def compare(a: CaptureValues, b: CaptureValues, context: DetectionContext) -> Comparison:
    """Identifiers and app constants from two captures' values; keys and paths are redacted like findings' keys."""
    masker = context.masker
    identifiers: list[Compared] = []
    constants: list[Compared] = []
    shared = 0
    for slot in sorted(a.slots.keys() & b.slots.keys()):
        shared += 1
        found_a, found_b = a.stable_value(slot), b.stable_value(slot)
        if found_a is None or found_b is None:
            continue
        (value_a, count_a), (value_b, count_b) = found_a, found_b
        raw_key = slot[3]
        excluded = shape_exclusion(raw_key, value_a)
        if excluded is not None and not excluded.startswith("app constant"):
            continue  # a timestamp, nonce or session ID that happened to be sent once in each capture
        # A key or path may itself carry a planted value (a cookie named after an ID): redacted like findings' keys.
        host, path, where = context.safe_host(slot[0]), context.safe_key(slot[1]), slot[2]
        key = context.safe_key(raw_key)
        if value_a != value_b:
            kind = "identifier"
            reason = (
                f"At {host}{path} ({where} {key}) each capture sent its own {len(value_a)}-character value, unchanged "
                f"in {count_a} and {count_b} requests: it belongs to the device or the user, not to the app "
                "(rule: two-capture comparison)."
            )
        else:
            kind = "app_constant"
            reason = (
                f"At {host}{path} ({where} {key}) both captures sent the same {len(value_a)}-character value: it is "
                "the same for every installation, an app constant, not personal data (rule: two-capture comparison)."
            )
        item = Compared(
            host, path, where, key, kind, masker.mask(value_a), masker.mask(value_b), masker.fingerprint(value_a),
            masker.fingerprint(value_b), count_a, count_b, reason,
        )
        (identifiers if kind == "identifier" else constants).append(item)
    notes = [f"capture A: {p}" for p in a.problems] + [f"capture B: {p}" for p in b.problems]
    if a.capped or b.capped:
        notes.append(f"comparison: only the first {MAX_SLOTS} endpoint keys of a capture were compared")
    return Comparison(identifiers, constants, a.records, b.records, shared, notes, a.unreadable + b.unreadable)


def compare_captures(
    paths_a: Iterable[Path], paths_b: Iterable[Path], context: DetectionContext, options: ReadOptions | None = None
) -> Comparison:
    """Compare capture A (one or more inputs) with capture B of the same app."""
    return compare(collect(paths_a, options), collect(paths_b, options), context)


def summary_lines(comparison: Comparison, limit: int = 20) -> Iterator[str]:
    """Short human lines for the terminal (masked values only)."""
    yield (
        f"comparison: {len(comparison.identifiers)} identifier(s) differ between the two captures, "
        f"{len(comparison.constants)} app constant(s) are the same in both "
        f"({comparison.shared_slots} endpoint keys seen in both)"
    )
    for item in comparison.identifiers[:limit]:
        yield f"  identifier   {item.host}{item.path} {item.where} {item.key}: {item.masked_a} vs {item.masked_b}"
    for item in comparison.constants[:limit]:
        yield f"  app constant {item.host}{item.path} {item.where} {item.key}: {item.masked_a}"
    for note in comparison.notes:
        yield f"  note: {note}"
