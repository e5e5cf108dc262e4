"""Shared by the tracker-database benchmarks: import the real lists in ../shared/trackers into a temp folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import SHARED_LIST_FILES as LIST_FILES
from helpers import SHARED_TRACKERS as SHARED

from trackers_db.importers import SOURCES, ImportedList, write_imported


def parse_all() -> dict[str, ImportedList]:
    """Every list in ../shared/trackers, parsed; exits with a message when the folder is absent."""
    if not SHARED.is_dir():
        raise SystemExit(f"the real tracker lists are not present at {SHARED}")
    return {name: SOURCES[name].read([SHARED / p for p in files]) for name, files in LIST_FILES.items()}


def import_all(folder: Path, lists: dict[str, ImportedList]) -> None:
    """Write every parsed list into ``folder`` as ``auditor db import`` would."""
    for name, imported in lists.items():
        write_imported(imported, SOURCES[name], str(SHARED), folder=folder)
