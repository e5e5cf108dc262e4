"""DuckDuckGo App Tracking Protection blocklist (``app/android-tds.json``): Android app SDK endpoints.

License CC BY-NC-SA 4.0: users import it; the project never bundles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trackers_db.database import DomainEntry
from trackers_db.importers.common import (
    ImportedList,
    SourceSpec,
    download_files,
    find_file,
    load_json,
    normalize_domain,
    require,
)

NAME = "duckduckgo-app"
BASE_URL = "https://raw.githubusercontent.com/duckduckgo/tracker-blocklists/main/"
FILES = ("app/android-tds.json",)


def parse_duckduckgo_app(document: dict[str, Any], origin: str = "android-tds.json") -> ImportedList:
    """Entries from the parsed ``android-tds.json``; ``default: block`` hosts are trackers."""
    require(
        isinstance(document, dict) and isinstance(document.get("trackers"), dict),
        origin,
        "not a DuckDuckGo android-tds.json (no trackers object)",
    )
    entries: list[DomainEntry] = []
    skipped = 0
    for raw_host, tracker in document["trackers"].items():
        domain = normalize_domain(str(raw_host))
        if domain is None or not isinstance(tracker, dict):
            skipped += 1
            continue
        owner = tracker.get("owner") or {}
        entries.append(
            DomainEntry(
                domain=domain,
                source=NAME,
                company=owner.get("displayName") or owner.get("name"),
                rule=f"{raw_host} ({tracker.get('default', 'block')})",
                tracker=tracker.get("default", "block") == "block",
            )
        )
    return ImportedList(
        NAME,
        _version(document.get("version")),
        entries,
        skipped=skipped,
        skipped_reason="hosts that are not plain names",
    )


def _version(value: object) -> str:
    """DuckDuckGo versions are epoch milliseconds; show the date too."""
    if isinstance(value, int | str) and str(value).isdigit() and 12 <= len(str(value)) <= 15:
        try:
            day = datetime.fromtimestamp(int(value) / 1000, UTC).date().isoformat()
        except (ValueError, OverflowError, OSError):  # a date no calendar has: keep the version as written
            return str(value)
        return f"{value} ({day})"
    return str(value or "")


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``android-tds.json``."""
    path = find_file(paths, ["android-tds.json"], "DuckDuckGo android-tds.json")
    return parse_duckduckgo_app(load_json(path, "DuckDuckGo android-tds.json"), str(path))


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download ``app/android-tds.json``."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(
    NAME, "DuckDuckGo App Tracking Protection blocklist", "CC-BY-NC-SA-4.0", True, BASE_URL, FILES, read, fetch
)
