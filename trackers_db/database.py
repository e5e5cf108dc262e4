"""One lookup over the curated database and every imported list.

Sources are merged at load time. For a host, the longest matching domain
suffix wins; where several sources match that same suffix, the source
precedence below decides the verdict and the others are named as agreeing.
Every verdict lists all its matches with their source and rule.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from trackers_db.vocabulary import CATEGORIES, is_tracking_category

CURATED = "curated"

SOURCE_PRECEDENCE: tuple[str, ...] = (
    CURATED,
    "adguard",
    "duckduckgo-app",
    "duckduckgo-web",
    "tracker-radar",
    "ghostery",
    "whotracksme",
    "disconnect",
    "exodus",
    "hosts",
)
"""Which source decides when several match the same domain: earlier wins.

The curated database comes first because its entries carry a reference for each
fact; lists with owner and category data come before bare host lists.
"""


@dataclass(frozen=True, slots=True)
class DomainEntry:
    """What one source says about one domain."""

    domain: str
    """The domain (suffix) the rule covers, lowercase."""
    source: str
    """The source's name, e.g. ``curated`` or ``adguard``."""
    company: str | None
    """Display name of the company operating the service."""
    parent: str | None = None
    """Ultimate parent company."""
    category: str | None = None
    """Category from :data:`trackers_db.vocabulary.CATEGORIES`, if the source has one."""
    country: str | None = None
    """ISO 3166-1 alpha-2 code of the company's headquarters."""
    service: str | None = None
    """Name of the service or SDK."""
    rule: str = ""
    """The source's own rule text or identifier, for provenance."""
    reference: str | None = None
    """A public page backing the entry (curated entries always have one)."""


@dataclass(frozen=True, slots=True)
class Match:
    """One source's rule that matched a host."""

    source: str
    rule: str
    domain: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Who is behind a host, and which sources say so."""

    host: str
    """The host looked up."""
    domain: str
    """The matching domain suffix that decided the verdict."""
    company: str | None
    parent: str | None
    category: str | None
    country: str | None
    service: str | None
    source: str
    """The source that decided."""
    matches: tuple[Match, ...]
    """Every matching rule, deciding one first."""

    @property
    def is_tracker(self) -> bool:
        """True when the category is a tracking category."""
        return is_tracking_category(self.category)

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct sources that matched, deciding one first."""
        seen: dict[str, None] = {}
        for match in self.matches:
            seen.setdefault(match.source, None)
        return tuple(seen)


@dataclass
class SourceInfo:
    """Provenance of one loaded source, for ``db info`` and report provenance."""

    source: str
    version: str
    license: str
    entries: int
    imported_at: str | None = None
    location: str | None = None


@dataclass
class TrackerDatabase:
    """The merged database: domain suffix -> entries from each source."""

    entries: dict[str, list[DomainEntry]] = field(default_factory=dict)
    sources: list[SourceInfo] = field(default_factory=list)

    def add(self, entries: Iterable[DomainEntry], info: SourceInfo) -> None:
        """Merge one source's entries, keeping source precedence order per domain."""
        count = 0
        for entry in entries:
            bucket = self.entries.setdefault(entry.domain, [])
            bucket.append(entry)
            if len(bucket) > 1:
                bucket.sort(key=lambda e: _precedence(e.source))
            count += 1
        info.entries = count
        self.sources.append(info)
        self._cached_lookup.cache_clear()

    def lookup(self, host: str) -> Verdict | None:
        """The verdict for ``host`` (longest suffix wins), or ``None`` if no source knows it."""
        return self._cached_lookup(host.lower().rstrip("."))

    def _suffixes(self, host: str) -> Iterator[str]:
        labels = host.split(".")
        for start in range(len(labels)):
            yield ".".join(labels[start:])

    @lru_cache(maxsize=65536)  # noqa: B019 - one database per process, cache lives with it
    def _cached_lookup(self, host: str) -> Verdict | None:
        found: list[DomainEntry] = []
        for suffix in self._suffixes(host):
            bucket = self.entries.get(suffix)
            if bucket:
                found.extend(bucket)
        if not found:
            return None
        best = found[0]
        same_level = [e for e in found if e.domain == best.domain]

        def first(attr: str) -> Any:
            for entry in same_level:
                value = getattr(entry, attr)
                if value:
                    return value
            return None

        return Verdict(
            host=host,
            domain=best.domain,
            company=first("company"),
            parent=first("parent"),
            category=first("category"),
            country=first("country"),
            service=first("service"),
            source=best.source,
            matches=tuple(Match(e.source, e.rule or e.domain, e.domain) for e in found),
        )

    def __hash__(self) -> int:
        return id(self)


def _precedence(source: str) -> int:
    try:
        return SOURCE_PRECEDENCE.index(source)
    except ValueError:
        return len(SOURCE_PRECEDENCE)


def curated_dir() -> Path:
    """Folder of the curated TOML files shipped with the package."""
    return Path(str(resources.files("trackers_db") / "curated"))


def load_curated(folder: Path | None = None) -> tuple[list[DomainEntry], SourceInfo]:
    """Read every curated company file; raises ``ValueError`` naming a bad file."""
    folder = folder or curated_dir()
    entries: list[DomainEntry] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            company = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        for service in company.get("service", []):
            category = service.get("category")
            if category not in CATEGORIES:
                raise ValueError(f"{path}: service {service.get('name')!r} has unknown category {category!r}")
            for domain in service.get("domains", []):
                entries.append(
                    DomainEntry(
                        domain=domain.lower(),
                        source=CURATED,
                        company=company.get("name"),
                        parent=company.get("parent"),
                        category=category,
                        country=company.get("country"),
                        service=service.get("name"),
                        rule=f"{path.stem}:{domain}",
                        reference=service.get("reference") or company.get("reference"),
                    )
                )
    info = SourceInfo(CURATED, version=_curated_version(), license="Apache-2.0 (project data)", entries=len(entries))
    return entries, info


def _curated_version() -> str:
    from auditor import __version__

    return __version__


def data_dir() -> Path:
    """Where imported lists live: ``$CLASSROOM_AUDITOR_DATA`` or the user's data folder."""
    explicit = os.environ.get("CLASSROOM_AUDITOR_DATA")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "classroom-auditor"


def imported_dir() -> Path:
    """Folder of imported tracker lists (normalized JSON, one file per source)."""
    return data_dir() / "trackers"


def load_imported_file(path: Path) -> tuple[list[DomainEntry], SourceInfo]:
    """Read one normalized imported list written by ``auditor db import``."""
    document = json.loads(path.read_text(encoding="utf-8"))
    source = str(document["source"])
    entries = [
        DomainEntry(
            domain=str(item["domain"]).lower(),
            source=source,
            company=item.get("company"),
            parent=item.get("parent"),
            category=item.get("category") if item.get("category") in CATEGORIES else None,
            country=item.get("country"),
            service=item.get("service"),
            rule=str(item.get("rule") or item["domain"]),
        )
        for item in document.get("entries", [])
    ]
    info = SourceInfo(
        source,
        version=str(document.get("version", "")),
        license=str(document.get("license", "")),
        entries=len(entries),
        imported_at=document.get("imported_at"),
        location=str(path),
    )
    return entries, info


def load_database(include_imported: bool = True, imported_folder: Path | None = None) -> TrackerDatabase:
    """The curated database merged with every list imported into the user's data folder."""
    database = TrackerDatabase()
    entries, info = load_curated()
    database.add(entries, info)
    if include_imported:
        folder = imported_folder or imported_dir()
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                try:
                    entries, info = load_imported_file(path)
                except (OSError, ValueError, KeyError) as exc:
                    raise ValueError(f"{path}: imported tracker list is unreadable ({exc}); re-import it") from exc
                database.add(entries, info)
    return database
