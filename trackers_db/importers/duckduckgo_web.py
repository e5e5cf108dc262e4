"""DuckDuckGo web tracker blocklist (``web/v6/extension-tds.json``), with entity domains and CNAME aliases.

License CC BY-NC-SA 4.0: users import it; the project never bundles it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
)

NAME = "duckduckgo-web"
BASE_URL = "https://raw.githubusercontent.com/duckduckgo/tracker-blocklists/main/"
FILES = ("web/v6/extension-tds.json",)

CATEGORY_MAP: dict[str, str] = {
    "Session Replay": "session_replay",
    "Tag Manager": "tag_manager",
    "Ad Fraud": "fingerprinting",
    "Advertising": "advertising",
    "Analytics": "analytics",
    "Audience Measurement": "analytics",
    "Third-Party Analytics Marketing": "analytics",
    "Action Pixels": "advertising",
    "Ad Motivated Tracking": "advertising",
    "Social Network": "social",
    "Social - Share": "social",
    "Social - Comment": "social",
    "Federated Login": "identity",
    "SSO": "identity",
    "Support Chat Widget": "customer_support",
    "Online Payment": "payments",
    "Embedded Content": "content",
    "Badge": "content",
    "Content Delivery": "cdn",
}
"""DuckDuckGo / Tracker Radar category -> vocabulary. A domain with several takes the first in this order."""

_ORDER = {name: rank for rank, name in enumerate(CATEGORY_MAP)}


def map_categories(categories: Iterable[str]) -> str | None:
    """The vocabulary category for a DuckDuckGo category list (most specific first).

    >>> map_categories(["Analytics", "Session Replay"]), map_categories(["Malware"])
    ('session_replay', None)
    """
    known = sorted((c for c in categories if isinstance(c, str) and c in CATEGORY_MAP), key=_ORDER.__getitem__)
    return CATEGORY_MAP[known[0]] if known else None


def parse_duckduckgo_web(document: dict[str, Any], origin: str = "extension-tds.json") -> ImportedList:
    """Entries for trackers, company-only entries for the entities' other domains, and the ``cnames`` map."""
    require(
        isinstance(document, dict) and isinstance(document.get("trackers"), dict),
        origin,
        "not a DuckDuckGo tds.json (no trackers object)",
    )
    entities = mapping(document.get("entities"))

    def display(name: Any) -> str | None:
        name = text_or_none(name)  # a list where a name belongs is no name
        return text_or_none(mapping(entities.get(name or "")).get("displayName")) or name

    entries: list[DomainEntry] = []
    skipped = 0
    for raw_domain, tracker in document["trackers"].items():
        domain = normalize_domain(str(raw_domain))
        if domain is None or not isinstance(tracker, dict):
            skipped += 1
            continue
        owner = mapping(tracker.get("owner"))
        categories = tracker.get("categories")
        entries.append(
            DomainEntry(
                domain=domain,
                source=NAME,
                company=text_or_none(owner.get("displayName")) or display(owner.get("name")),
                parent=display(owner.get("ownedBy")) if owner.get("ownedBy") else None,
                category=map_categories(categories if isinstance(categories, list) else ()),
                rule=f"tracker:{raw_domain}",
                tracker=tracker.get("default") == "block",
            )
        )
    listed = {e.domain for e in entries}
    for raw_domain, entity_name in (document.get("domains") or {}).items():
        domain = normalize_domain(str(raw_domain))
        if domain is None:
            skipped += 1
        elif domain not in listed:
            entries.append(
                DomainEntry(domain=domain, source=NAME, company=display(entity_name), rule=f"entity:{entity_name}")
            )
    cnames = {}
    for alias, target in (document.get("cnames") or {}).items():
        alias_name, target_name = normalize_domain(str(alias)), normalize_domain(str(target))
        if alias_name and target_name:
            cnames[alias_name] = target_name
    built = (document.get("_builtWith") or {}).get("tracker-radar")
    version = f"tracker-radar {str(built)[:12]}" if built else ""
    return ImportedList(
        NAME, version, entries, cnames=cnames, skipped=skipped, skipped_reason="domains that are not plain names"
    )


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``extension-tds.json`` (or another web ``tds.json``)."""
    path = find_file(paths, ["extension-tds.json", "tds.json"], "DuckDuckGo web tds.json")
    return parse_duckduckgo_web(load_json(path, "DuckDuckGo tds.json"), str(path))


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download ``web/v6/extension-tds.json``."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "DuckDuckGo web tracker blocklist", "CC-BY-NC-SA-4.0", True, BASE_URL, FILES, read, fetch)
