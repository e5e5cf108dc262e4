"""Ghostery TrackerDB (``dist/trackerdb.json`` of the npm package ``@ghostery/trackerdb``).

License CC BY-NC-SA 4.0: users import it; the project never bundles it.
Organizations carry a headquarters country for about half the companies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trackers_db.database import DomainEntry
from trackers_db.importers.common import (
    ImportedList,
    SourceSpec,
    download_files,
    find_file,
    load_json,
    mapping,
    normalize_domain,
    require,
    text_or_none,
    versioned_by_content,
)

NAME = "ghostery"
BASE_URL = "https://cdn.jsdelivr.net/npm/@ghostery/trackerdb/"
FILES = ("dist/trackerdb.json",)

CATEGORY_MAP: dict[str, str | None] = {
    "advertising": "advertising",
    "pornvertising": "advertising",
    "site_analytics": "analytics",
    "social_media": "social",
    "customer_interaction": "customer_support",
    "audio_video_player": "content",
    "consent": "consent_management",
    "hosting": "cloud_hosting",
    "cdn": "cdn",
    "extensions": None,
    "misc": None,
    "utilities": None,
}
"""Ghostery category -> vocabulary; ``None`` means no category claimed."""


def parse_ghostery(document: dict[str, Any], origin: str = "trackerdb.json") -> ImportedList:
    """Entries for every domain of every pattern, with the organization's name and country."""
    require(
        isinstance(document, dict) and isinstance(document.get("patterns"), dict),
        origin,
        "not a Ghostery trackerdb.json (no patterns object)",
    )
    organizations = mapping(document.get("organizations"))
    patterns: dict[str, Any] = document["patterns"]
    # Values of the wrong type (a list where an object belongs) skip their item, never the whole list.
    domain_map = {str(raw): pattern_id for raw, pattern_id in mapping(document.get("domains")).items()
                  if isinstance(pattern_id, str)}
    for pattern_id, pattern in patterns.items():
        domains = mapping(pattern).get("domains")
        for raw in domains if isinstance(domains, list) else ():
            domain_map.setdefault(str(raw), pattern_id)
    entries: list[DomainEntry] = []
    skipped = 0
    for raw_domain, pattern_id in domain_map.items():
        domain = normalize_domain(raw_domain)
        pattern = patterns.get(pattern_id)
        if domain is None or not isinstance(pattern, dict):
            skipped += 1
            continue
        organization = mapping(organizations.get(text_or_none(pattern.get("organization")) or ""))
        entries.append(
            DomainEntry(
                domain=domain,
                source=NAME,
                company=text_or_none(organization.get("name")) or text_or_none(pattern.get("name")),
                category=CATEGORY_MAP.get(str(pattern.get("category"))),
                country=text_or_none(organization.get("country")),
                service=text_or_none(pattern.get("name")),
                rule=f"{pattern_id}:{raw_domain}",
            )
        )
    filters = len(document.get("filters") or {}) if isinstance(document.get("filters"), dict | list) else 0
    return ImportedList(
        NAME,
        "",
        entries,
        skipped=skipped + filters,
        skipped_reason=f"{filters} URL filters (not domain rules) and unusable domains",
    )


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``trackerdb.json``."""
    path = find_file(paths, ["trackerdb.json"], "Ghostery trackerdb.json")
    return versioned_by_content(parse_ghostery(load_json(path, "Ghostery trackerdb.json"), str(path)), path)


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download ``dist/trackerdb.json`` of the latest npm release."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "Ghostery TrackerDB", "CC-BY-NC-SA-4.0", True, BASE_URL, FILES, read, fetch)
