"""WhoTracks.me ``trackerdb.sql`` (the last CC BY 4.0 snapshot, July 2022), read with sqlite3 in memory.

The dump is executed in a private in-memory database with an authorizer that
refuses ``ATTACH`` and ``PRAGMA``, so a crafted file cannot touch the disk.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from trackers_db.database import DomainEntry
from trackers_db.importers.adguard import CATEGORY_MAP
from trackers_db.importers.common import (
    ImportedList,
    ListFormatError,
    SourceSpec,
    content_version,
    download_files,
    find_file,
    normalize_domain,
)

NAME = "whotracksme"
BASE_URL = "https://raw.githubusercontent.com/whotracksme/whotracks.me/3d961e6231e6bec7094fa1436a118d57c54aeae6/"
"""Pinned to the July 2022 commit: later dumps are regenerated from Ghostery's NC-licensed data."""
FILES = ("whotracksme/data/assets/trackerdb.sql",)

SQL_TIME_LIMIT = 60.0
"""Seconds a dump may take to load; the real one takes well under one."""

_DENIED = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA}

_QUERY = """
SELECT td.domain, t.id, t.name, c.name, c.country, cat.name
FROM tracker_domains AS td
JOIN trackers AS t ON t.id = td.tracker
LEFT JOIN companies AS c ON c.id = t.company_id
LEFT JOIN categories AS cat ON cat.id = t.category_id
ORDER BY td.domain
"""


def _authorize(action: int, *_: object) -> int:
    return sqlite3.SQLITE_DENY if action in _DENIED else sqlite3.SQLITE_OK


def parse_whotracksme(sql: str, origin: str = "trackerdb.sql", time_limit: float = SQL_TIME_LIMIT) -> ImportedList:
    """Entries for every tracker domain, with company name, country and category."""
    connection = sqlite3.connect(":memory:")
    deadline = time.monotonic() + time_limit
    try:
        connection.set_authorizer(_authorize)
        # A crafted dump could loop forever (e.g. a recursive query): give up after the time limit.
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            connection.executescript(sql)
            rows = connection.execute(_QUERY).fetchall()
        except sqlite3.Error as exc:
            raise ListFormatError(f"{origin}: not a WhoTracks.me trackerdb.sql dump ({exc})") from exc
    finally:
        connection.close()
    entries: list[DomainEntry] = []
    skipped = 0
    for raw_domain, tracker_id, tracker_name, company, country, category in rows:
        domain = normalize_domain(str(raw_domain))
        if domain is None:
            skipped += 1
            continue
        entries.append(
            DomainEntry(
                domain=domain,
                source=NAME,
                company=company or tracker_name,
                category=CATEGORY_MAP.get(str(category)),
                country=(str(country).upper() if country else None),
                service=tracker_name,
                rule=f"{tracker_id}:{raw_domain}",
            )
        )
    return ImportedList(
        NAME, content_version(sql), entries, skipped=skipped, skipped_reason="domains that are not plain names"
    )


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``trackerdb.sql``."""
    path = find_file(paths, ["trackerdb.sql"], "WhoTracks.me trackerdb.sql")
    try:
        sql = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ListFormatError(f"{path}: cannot read as text ({exc})") from exc
    return parse_whotracksme(sql, str(path))


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download the pinned ``trackerdb.sql``."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "WhoTracks.me trackerdb (2022, CC BY 4.0)", "CC-BY-4.0", False, BASE_URL, FILES, read, fetch)
