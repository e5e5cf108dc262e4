"""Disconnect tracking protection: ``services.json`` (categories) and ``entities.json`` (owners).

License CC BY-NC-SA 4.0: users import it; the project never bundles it.
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
    versioned_by_content,
)

NAME = "disconnect"
BASE_URL = "https://raw.githubusercontent.com/disconnectme/disconnect-tracking-protection/master/"
FILES = ("services.json", "entities.json")

CATEGORY_MAP: dict[str, str | None] = {
    "FingerprintingInvasive": "fingerprinting",
    "Cryptomining": None,
    "Advertising": "advertising",
    "Analytics": "analytics",
    "Social": "social",
    "FingerprintingGeneral": "fingerprinting",
    "Anti-fraud": "fingerprinting",
    "Email": "push_engagement",
    "EmailAggressive": "push_engagement",
    "ConsentManagers": "consent_management",
    "Content": "content",
}
"""Disconnect category -> vocabulary; a domain in several categories takes the first in this order."""

NOT_TRACKING = frozenset({"Content", "ConsentManagers"})
"""Disconnect categories its own extension does not block by default."""

_ORDER = {name: rank for rank, name in enumerate(CATEGORY_MAP)}


def parse_disconnect(
    services: dict[str, Any], entities: dict[str, Any] | None = None, origin: str = "services.json"
) -> ImportedList:
    """Entries for every service domain, owner from ``entities.json``, plus the entities' own properties."""
    require(
        isinstance(services, dict) and isinstance(services.get("categories"), dict),
        origin,
        "not a Disconnect services.json (no categories object)",
    )
    owner_of: dict[str, str] = {}
    properties: dict[str, str] = {}
    for entity, item in mapping(mapping(entities).get("entities")).items():
        item = mapping(item)  # an entity of the wrong shape is skipped, not the whole list
        resources, own = item.get("resources"), item.get("properties")
        for raw in resources if isinstance(resources, list) else ():
            owner_of.setdefault(str(raw).lower(), entity)
        for raw in own if isinstance(own, list) else ():
            properties.setdefault(str(raw).lower(), entity)
    chosen: dict[str, tuple[int, DomainEntry]] = {}
    skipped = 0
    for category, services_in_category in services["categories"].items():
        rank = _ORDER.get(category, len(_ORDER))
        for service in services_in_category if isinstance(services_in_category, list) else ():
            for service_name, urls in mapping(service).items():
                if not isinstance(urls, dict):
                    continue
                for domains in urls.values():
                    if not isinstance(domains, list):
                        continue  # flags such as "performance": "true"
                    for raw in domains:
                        domain = normalize_domain(str(raw))
                        if domain is None:
                            skipped += 1
                            continue
                        if domain in chosen and chosen[domain][0] <= rank:
                            continue
                        entry = DomainEntry(
                            domain=domain,
                            source=NAME,
                            company=owner_of.get(domain) or owner_of.get(str(raw).lower()) or service_name,
                            category=CATEGORY_MAP.get(category),
                            service=service_name,
                            rule=f"{category}/{service_name}:{raw}",
                            tracker=category not in NOT_TRACKING,
                        )
                        chosen[domain] = (rank, entry)
    entries = [entry for _, entry in chosen.values()]
    for raw, entity in properties.items():
        domain = normalize_domain(raw)
        if domain and domain not in chosen:
            entries.append(DomainEntry(domain=domain, source=NAME, company=entity, rule=f"entity:{entity}"))
    return ImportedList(NAME, "", entries, skipped=skipped, skipped_reason="domains that are not plain names")


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse ``services.json`` and, when found beside it or given, ``entities.json``."""
    services_path = find_file(paths, ["services.json"], "Disconnect services.json")
    entities_path = find_companion(paths, services_path, "entities.json")
    entities = load_json(entities_path, "Disconnect entities.json") if entities_path else None
    parsed = parse_disconnect(load_json(services_path, "Disconnect services.json"), entities, str(services_path))
    # The lists carry no version; a content hash tells two imports apart.
    return versioned_by_content(parsed, *(p for p in (services_path, entities_path) if p))


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download ``services.json`` and ``entities.json``."""
    return download_files(base_url, FILES, dest_dir)


SPEC = SourceSpec(NAME, "Disconnect tracking protection", "CC-BY-NC-SA-4.0", True, BASE_URL, FILES, read, fetch)
