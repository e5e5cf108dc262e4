"""DuckDuckGo Tracker Radar: a checkout's ``domains/<region>/*.json`` and ``entities/*.json`` folders.

License CC BY-NC-SA 4.0: users import it; the project never bundles it. Each
domain file names the owner, categories and the first-party names seen
CNAME-ing to it (``cnames[].original``), which become known cloaking aliases.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from trackers_db.database import DomainEntry
from trackers_db.importers.common import (
    FetchError,
    ImportedList,
    ListFormatError,
    SourceSpec,
    content_version,
    download_files,
    normalize_domain,
)
from trackers_db.importers.duckduckgo_web import map_categories

NAME = "tracker-radar"
BASE_URL = "https://github.com/duckduckgo/tracker-radar/"
FILES = ("archive/refs/heads/main.tar.gz",)
PREFERRED_REGION = "US"
"""Tracker Radar crawls from several regions; when a domain is in several, this region's file wins."""


def parse_domain_file(document: dict[str, Any]) -> tuple[DomainEntry | None, dict[str, str]]:
    """One ``domains/<region>/<domain>.json`` document -> its entry and the CNAME aliases pointing at it."""
    domain = normalize_domain(str(document.get("domain", "")))
    if domain is None:
        return None, {}
    owner = document.get("owner") or {}
    entry = DomainEntry(
        domain=domain,
        source=NAME,
        company=owner.get("displayName") or owner.get("name") or None,
        category=map_categories(document.get("categories") or ()),
        rule=f"domains/{domain}",
    )
    cnames = {}
    for item in document.get("cnames") or ():
        alias = normalize_domain(str(item.get("original", ""))) if isinstance(item, dict) else None
        if alias:
            cnames[alias] = normalize_domain(str(item.get("resolved", ""))) or domain
    return entry, cnames


def parse_entity_file(document: dict[str, Any]) -> list[DomainEntry]:
    """One ``entities/<name>.json`` document -> company-only entries for its properties."""
    company = document.get("displayName") or document.get("name")
    entries = []
    for raw in document.get("properties") or ():
        domain = normalize_domain(str(raw))
        if domain and company:
            entries.append(
                DomainEntry(domain=domain, source=NAME, company=company, rule=f"entities/{document.get('name')}")
            )
    return entries


def read(paths: Sequence[Path]) -> ImportedList:
    """Parse a Tracker Radar checkout (or its ``domains``/``entities`` folders)."""
    domain_files: list[Path] = []
    entity_files: list[Path] = []
    for root in paths:
        if not root.is_dir():
            raise ListFormatError(f"{root}: Tracker Radar is imported from its folder (with domains/ and entities/)")
        domains_dir = root if root.name == "domains" else root / "domains"
        entities_dir = root if root.name == "entities" else root / "entities"
        if domains_dir.is_dir():
            # Preferred region first, so its file wins for a domain crawled in several regions.
            regions = sorted(domains_dir.iterdir(), key=lambda p: (p.name != PREFERRED_REGION, p.name))
            domain_files.extend(f for region in regions if region.is_dir() for f in sorted(region.glob("*.json")))
        if entities_dir.is_dir():
            entity_files.extend(sorted(entities_dir.glob("*.json")))
    if not domain_files and not entity_files:
        shown = ", ".join(str(p) for p in paths)
        raise ListFormatError(f"{shown}: no Tracker Radar domains/<region>/*.json or entities/*.json files found")
    entries: dict[str, DomainEntry] = {}
    cnames: dict[str, str] = {}
    skipped = 0
    digest_parts: list[bytes] = []
    for path in domain_files:
        document = _load(path)
        digest_parts.append(path.name.encode())
        entry, aliases = parse_domain_file(document) if isinstance(document, dict) else (None, {})
        if entry is None:
            skipped += 1
            continue
        entries.setdefault(entry.domain, entry)
        for alias, target in aliases.items():
            cnames.setdefault(alias, target)
    for path in entity_files:
        document = _load(path)
        if not isinstance(document, dict):
            skipped += 1
            continue
        for entry in parse_entity_file(document):
            entries.setdefault(entry.domain, entry)
    version = content_version(*digest_parts) if digest_parts else ""
    return ImportedList(
        NAME,
        version,
        list(entries.values()),
        cnames=cnames,
        skipped=skipped,
        skipped_reason="domain files without a usable domain",
    )


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ListFormatError(f"{path}: not a Tracker Radar JSON file ({exc})") from exc


def fetch(dest_dir: Path, base_url: str = BASE_URL) -> list[Path]:
    """Download the repository archive and unpack only ``domains/<preferred region>/`` and ``entities/``."""
    (archive,) = download_files(base_url, FILES, dest_dir)
    root = dest_dir / "tracker-radar"
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                wanted = (len(parts) == 4 and parts[1:3] == ("domains", PREFERRED_REGION)) or (
                    len(parts) == 3 and parts[1] == "entities"
                )
                if not (wanted and member.isfile() and parts[-1].endswith(".json")):
                    continue
                target = root.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is not None:
                    target.write_bytes(source.read())
    except (tarfile.TarError, OSError) as exc:
        raise FetchError(f"{archive}: cannot unpack the Tracker Radar archive ({exc})") from exc
    finally:
        archive.unlink(missing_ok=True)
    return [root]


SPEC = SourceSpec(NAME, "DuckDuckGo Tracker Radar", "CC-BY-NC-SA-4.0", True, BASE_URL, FILES, read, fetch)
