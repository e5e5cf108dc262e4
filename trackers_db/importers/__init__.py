"""Importers for public tracker lists: one module per source, each a pure parser plus a fetcher.

Use :data:`SOURCES` to find a source by name, ``spec.read(paths)`` to parse
downloaded files, ``spec.fetch(folder, base_url)`` to download them, and
:func:`write_imported` to store the result in the user's data folder, where
:func:`trackers_db.database.load_database` merges it at load time.
"""

from __future__ import annotations

from trackers_db.importers import (
    adguard,
    disconnect,
    duckduckgo_app,
    duckduckgo_web,
    exodus,
    ghostery,
    hosts,
    tracker_radar,
    whotracksme,
)
from trackers_db.importers.common import FetchError, ImportedList, ListFormatError, SourceSpec, write_imported

SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        adguard.SPEC,
        duckduckgo_app.SPEC,
        duckduckgo_web.SPEC,
        tracker_radar.SPEC,
        ghostery.SPEC,
        whotracksme.SPEC,
        disconnect.SPEC,
        exodus.SPEC,
        hosts.SPEC,
    )
}
"""Every importable source by name, in precedence order."""

__all__ = ["SOURCES", "FetchError", "ImportedList", "ListFormatError", "SourceSpec", "write_imported"]
