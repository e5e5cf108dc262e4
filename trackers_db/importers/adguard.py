"""AdGuard companiesdb: ``dist/trackers.json`` (domains, trackers) and ``dist/companies.json`` (names).

License CC BY-SA 4.0. Versioned by its ``timeUpdated`` field.
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
    find_companion,
    find_file,
    load_json,
    mapping,
    normalize_domain,
    require,
)

NAME = "adguard"
BASE_URL = "https://raw.githubusercontent.com/AdguardTeam/companiesdb/main/"
FILES = ("dist/trackers.json", "dist/companies.json")

CATEGORY_MAP: dict[str, str | None] = {
    "audio_video_player": "content",
    "comments": "social",
    "customer_interaction": "customer_support",
    "pornvertising": "advertising",
    "advertising": "advertising",
    "essential": None,
    "site_analytics": "analytics",
    "social_media": "social",
    "misc": None,
    "cdn": "cdn",
    "hosting": "cloud_hosting",
    "unknown": None,
    "extensions": None,
    "email": "push_engagement",
    "consent": "consent_management",
    "telemetry": "analytics",
    "mobile_analytics": "analytics",
}
"""AdGuard (and WhoTracks.me) category -> project vocabulary; ``None`` means no category claimed."""


def parse_adguard(
    trackers: dict[str, Any], companies: dict[str, Any] | None = None, origin: str = "trackers.json"
) -> ImportedList:
    """Entries from the parsed ``trackers.json`` (and ``companies.json`` for company names)."""
    require(
        isinstance(trackers, dict) and "trackerDomains" in trackers and "trackers" in trackers,
        origin,
        "not an AdGuard companiesdb trackers.json (no trackerDomains/trackers)",
    )
    names = {
        str(k): v.get("name") for k, v in ((companies or {}).get("companies") or {}).items() if isinstance(v, dict)
    }
    category_names = {str(k): str(v) for k, v in mapping(trackers.get("categories")).items()}
    entries: list[DomainEntry] = []
    skipped = 0
    for raw_domain, tracker_id in trackers["trackerDomains"].items():
        domain = normalize_domain(str(raw_domain))
        tracker = trackers["trackers"].get(tracker_id) if isinstance(tracker_id, str) else None
        if domain is None or not isinstance(tracker, dict):
            skipped += 1
            continue
        company_id = tracker.get("companyId")
        category = category_names.get(str(tracker.get("categoryId")), "")
        entries.append(
            DomainEntry(
                domain=domain,
                source=NAME,
                company=names.get(str(company_id)) or (str(company_id) if company_id else None),
                category=CATEGORY_MAP.get(category),
                service=tracker.get("name"),
                rule=f"{tracker_id}:{raw_domain}",
            )
        )
    version = str(trackers.get("timeUpdated") or (companies or {}).get("timeUpdated") or "")
    return ImportedList(NAME, version, entries, skipped=skipped, skipped_reason="domains that are not plain names")


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``trackers.json`` and, when found beside it or given, ``companies.json``."""
    trackers_path = find_file(paths, ["trackers.json"], "AdGuard trackers.json")
    companies_path = find_companion(paths, trackers_path, "companies.json")
    companies = load_json(companies_path, "AdGuard companies.json") if companies_path else None
    return parse_adguard(load_json(trackers_path, "AdGuard trackers.json"), companies, str(trackers_path))


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download ``dist/trackers.json`` and ``dist/companies.json``."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "AdGuard companiesdb", "CC-BY-SA-4.0", False, BASE_URL, FILES, read, fetch)
