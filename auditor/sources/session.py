"""Auditor session folders, written by the live-capture addon.

A session folder holds ``records.jsonl`` (one record a line, appended as
traffic arrives), ``flows.mitm`` (the raw flows in mitmproxy's format) and
``session.json`` (settings). Reading a session replays ``records.jsonl``; a
last line cut short by a crash is reported and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from auditor.privacy import redact_text
from auditor.records import InputProblem, Record
from auditor.sources import Format, InputError, ReadOptions

RECORDS_FILE = "records.jsonl"
FLOWS_FILE = "flows.mitm"
SETTINGS_FILE = "session.json"


def sniff(path: Path, head: bytes) -> bool:
    """A folder with a records file, or a records file itself."""
    if path.is_dir():
        return (path / RECORDS_FILE).is_file()
    return head.startswith(b'{"kind": ') or head.startswith(b'{"kind":')


def saved_app_settings(path: Path) -> tuple[tuple[str, ...], str | None]:
    """The app domains and app name a session folder was started with (empty when unknown).

    Lets ``auditor analyze SESSION_DIR`` rebuild the reports the session wrote without
    repeating ``--app-domain``. An unreadable ``session.json`` counts as unknown.
    """
    settings_path = path / SETTINGS_FILE
    try:
        if not path.is_dir() or not settings_path.is_file():  # is_file raises on a folder we may not enter
            return (), None
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
        domains = tuple(str(d) for d in settings.get("app_domains") or ())
        name = settings.get("app_name")
    except (OSError, ValueError, AttributeError):
        return (), None
    return domains, str(name) if name else None


def session_content_file(path: Path) -> Path:
    """The file whose hash identifies a session."""
    return path / RECORDS_FILE


def read(path: Path, options: ReadOptions, problems: list[InputProblem]) -> Iterator[Record]:
    """Yield the records of a session folder or records file."""
    records_path = path / RECORDS_FILE if path.is_dir() else path
    if not records_path.is_file():
        raise InputError(str(path), f"session has no {RECORDS_FILE}")
    with records_path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield Record.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                reason = redact_text(exc)
                problems.append(InputProblem(str(records_path), f"line {number} unreadable, skipped ({reason})"))


FORMAT = Format("session", sniff, read)
