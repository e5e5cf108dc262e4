"""Shared by the tracker-database benchmarks: import the real lists in ../shared/trackers into a temp folder."""

from __future__ import annotations

from pathlib import Path

from trackers_db.importers import SOURCES, ImportedList, write_imported

SHARED = Path(__file__).resolve().parents[2] / "shared" / "trackers"

LIST_FILES: dict[str, list[str]] = {
    "adguard": ["adguard-companiesdb"],
    "duckduckgo-app": ["duckduckgo-tracker-blocklists/app/android-tds.json"],
    "duckduckgo-web": ["duckduckgo-tracker-blocklists/web/v6/extension-tds.json"],
    "ghostery": ["ghostery-trackerdb/dist/trackerdb.json"],
    "whotracksme": ["whotracksme-trackerdb-2022/trackerdb.sql"],
    "disconnect": ["disconnect-tracking-protection"],
    "exodus": ["exodus-trackers/trackers.json"],
    "hosts": ["easylist/easyprivacy.txt"],
}
"""The file(s) of each source in ../shared/trackers (Tracker Radar has no copy there)."""


def parse_all() -> dict[str, ImportedList]:
    """Every list in ../shared/trackers, parsed; exits with a message when the folder is absent."""
    if not SHARED.is_dir():
        raise SystemExit(f"the real tracker lists are not present at {SHARED}")
    return {name: SOURCES[name].read([SHARED / p for p in files]) for name, files in LIST_FILES.items()}


def import_all(folder: Path, lists: dict[str, ImportedList]) -> None:
    """Write every parsed list into ``folder`` as ``auditor db import`` would."""
    for name, imported in lists.items():
        write_imported(imported, SOURCES[name], str(SHARED), folder=folder)
