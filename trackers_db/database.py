"""One lookup over the curated database and every imported list.

Sources are merged at load time. For a host, every matching domain suffix is
collected, longest first. Each attribute is decided separately:

* the company (with its parent, country and service) comes from the longest
  matching suffix that names a company;
* the category comes from the longest matching suffix that has a category;
* at the same suffix, :data:`SOURCE_PRECEDENCE` decides (earlier wins);
* a missing headquarters country (or parent) is filled in from any source
  that names the same company (names compared without legal suffixes, so
  "Meta Platforms, Inc." in one list is "Meta" in another), curated first.

Every verdict lists all its matches with their source and rule, so a report
can say "curated; also adguard, duckduckgo-app".
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from trackers_db.vocabulary import CATEGORIES, is_tracking_category

log = logging.getLogger(__name__)

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

LOOKUP_CACHE_SIZE = 65536
"""Verdicts kept per database; a capture has far fewer distinct hosts."""

_MISSING = object()
_tuple_new = tuple.__new__


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
    tracker: bool = False
    """The source lists the domain as a tracker (a blocklist entry), whatever its category."""


class Match(NamedTuple):
    """One source's rule that matched a host (a tuple of strings, cheap to keep in caches)."""

    source: str
    rule: str
    domain: str


class Verdict(NamedTuple):
    """Who is behind a host, and which sources say so.

    Immutable; a named tuple rather than a dataclass because a lookup of a
    subdomain copies the verdict of its listed domain with a new ``host``,
    and tuples copy several times faster (see benchmarks/bench_lookup.py).
    """

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
    listed_as_tracker: bool = False
    """Some matching source is a tracker blocklist that lists the host."""

    @property
    def is_tracker(self) -> bool:
        """True for a tracking category, or for an uncategorised host a blocklist lists.

        A known non-tracking category (e.g. ``cdn``) wins over a bare blocklist entry.
        """
        if self.category is not None:
            return is_tracking_category(self.category)
        return self.listed_as_tracker

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct sources that matched, deciding one first."""
        seen: dict[str, None] = {}
        for match in self.matches:
            seen.setdefault(match.source, None)
        return tuple(seen)

    def describe(self) -> str:
        """One line for people, e.g. ``Google (Alphabet Inc.), analytics, HQ US — curated; also adguard``."""
        who = self.company or (f"{self.service} (company unknown)" if self.service else "unknown company")
        if self.parent and company_key(self.parent) != company_key(who):
            who += f" ({self.parent})"
        parts = [who, self.category or ("tracker" if self.listed_as_tracker else "uncategorised")]
        if self.country:
            parts.append(f"HQ {self.country}")
        others = [s for s in self.sources if s != self.source]
        provenance = self.source + (f"; also {', '.join(others)}" if others else "")
        return f"{', '.join(parts)} — {provenance}"


@dataclass
class SourceInfo:
    """Provenance of one loaded source, for ``db info`` and report provenance."""

    source: str
    version: str
    license: str
    entries: int
    imported_at: str | None = None
    location: str | None = None
    upstream: str | None = None
    """Where the list came from (URL or the file the user imported)."""
    cnames: int = 0
    """Known CNAME aliases the source contributed."""


class _Level(NamedTuple):
    """What all sources say about one domain suffix, decided once and reused."""

    domain: str
    company_entry: DomainEntry | None
    country: str | None
    parent: str | None
    category_entry: DomainEntry | None
    tracker: bool
    matches: tuple[Match, ...]


@dataclass
class TrackerDatabase:
    """The merged database: domain suffix -> entries from each source."""

    entries: dict[str, list[DomainEntry]] = field(default_factory=dict)
    sources: list[SourceInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Imported lists that could not be read (skipped)."""
    cname_targets: dict[str, str] = field(default_factory=dict)
    """Known CNAME aliases from the lists (alias -> target), e.g. DuckDuckGo's ``cnames``."""
    _resolved: dict[str, Verdict] = field(default_factory=dict, repr=False)
    _levels: dict[str, _Level] = field(default_factory=dict, repr=False)
    _cache: dict[str, Verdict | None] = field(default_factory=dict, repr=False)
    _companies: dict[str, tuple[str | None, str | None]] | None = field(default=None, repr=False)

    def add(self, entries: Iterable[DomainEntry], info: SourceInfo, cnames: dict[str, str] | None = None) -> None:
        """Merge one source's entries (and its known CNAME aliases)."""
        count = 0
        touched: set[str] = set()
        for entry in entries:
            self.entries.setdefault(entry.domain, []).append(entry)
            touched.add(entry.domain)
            count += 1
        for domain in touched:
            bucket = self.entries[domain]
            if len(bucket) > 1:
                bucket.sort(key=lambda e: _precedence(e.source))
        for alias, target in (cnames or {}).items():
            self.cname_targets.setdefault(alias, target)
        info.entries = count
        info.cnames = len(cnames or {})
        self.sources.append(info)
        self._resolved.clear()
        self._levels.clear()
        self._cache.clear()
        self._companies = None

    def company_facts(self, company: str | None) -> tuple[str | None, str | None]:
        """(headquarters country, parent) any source gives for this company name, curated first."""
        if not company:
            return None, None
        if self._companies is None:
            facts: dict[str, tuple[str | None, str | None]] = {}
            known_rank: dict[str, int] = {}
            for bucket in self.entries.values():
                for entry in bucket:
                    if entry.company and (entry.country or entry.parent):
                        key = company_key(entry.company)
                        rank = _precedence(entry.source)
                        if rank < known_rank.get(key, len(SOURCE_PRECEDENCE) + 1):
                            facts[key] = (entry.country, entry.parent)
                            known_rank[key] = rank
            self._companies = facts
        return self._companies.get(company_key(company), (None, None))

    def lookup(self, host: str) -> Verdict | None:
        """The verdict for ``host`` (see the module docstring), or ``None`` if no source knows it."""
        cache = self._cache
        verdict = cache.get(host, _MISSING)
        if verdict is not _MISSING:
            return verdict  # type: ignore[return-value]
        name = host if host.islower() and not host.endswith(".") else host.lower().rstrip(".")
        # The deepest listed suffix determines every other match (they are its suffixes),
        # so the combined verdict is worked out once per listed domain and copied per host.
        entries = self.entries
        suffix = name
        while suffix not in entries:
            dot = suffix.find(".")
            if dot < 0:
                suffix = ""
                break
            suffix = suffix[dot + 1 :]
        if suffix:
            template = self._resolved.get(suffix)
            if template is None:
                template = self._resolved[suffix] = self._resolve(suffix)
            verdict = template if name == suffix else _tuple_new(Verdict, (name, *template[1:]))
        else:
            verdict = None
        if len(cache) >= LOOKUP_CACHE_SIZE:
            cache.clear()
        cache[host] = verdict
        return verdict

    def known_cname(self, host: str) -> str | None:
        """The CNAME target a list recorded for exactly ``host`` (an alias says nothing of its subdomains)."""
        return self.cname_targets.get(host.lower().rstrip("."))

    def _resolve(self, deepest: str) -> Verdict:
        """The verdict for the listed domain ``deepest``, combining every listed suffix of it."""
        levels: list[_Level] = []
        suffix = deepest
        while True:
            level = self._levels.get(suffix)
            if level is None:
                bucket = self.entries.get(suffix)
                if bucket:
                    level = self._levels[suffix] = _decide(suffix, bucket, self.company_facts)
            if level is not None:
                levels.append(level)
            dot = suffix.find(".")
            if dot < 0:
                break
            suffix = suffix[dot + 1 :]
        if len(levels) == 1:
            return _verdict(deepest, levels[0], levels[0], levels[0].matches, levels[0].tracker)
        by_company = next((lv for lv in levels if lv.company_entry), levels[0])
        by_category = next((lv for lv in levels if lv.category_entry), by_company)
        matches = tuple(m for lv in _deciding_first(levels, by_company) for m in lv.matches)
        return _verdict(deepest, by_company, by_category, matches, any(lv.tracker for lv in levels))

    def __hash__(self) -> int:
        return id(self)


def _deciding_first(levels: list[_Level], deciding: _Level) -> list[_Level]:
    return [deciding, *(lv for lv in levels if lv is not deciding)]


_LEGAL_SUFFIX = re.compile(
    r"[,.]?\s+(inc|llc|ltd|limited|gmbh|ag|sa|sas|s\.a\.|bv|b\.v\.|plc|corp|corporation|co|company|group|"
    r"holdings?|platforms|technologies|oy|ab|as|pte|pty|kk|k\.k\.|srl|spa|s\.p\.a\.)\.?$",
    re.IGNORECASE,
)


def company_key(name: str) -> str:
    """A company name without legal-form suffixes, for matching names across lists.

    >>> company_key("Meta Platforms, Inc."), company_key("Meta"), company_key("AppLovin Corporation")
    ('meta', 'meta', 'applovin')
    """
    key = name.strip()
    while True:
        shorter = _LEGAL_SUFFIX.sub("", key).strip()
        if shorter == key or not shorter:
            return key.casefold()
        key = shorter


def _decide(
    domain: str, bucket: list[DomainEntry], company_facts: Callable[[str | None], tuple[str | None, str | None]]
) -> _Level:
    company_entry = category_entry = None
    for entry in bucket:
        if company_entry is None and entry.company:
            company_entry = entry
        if category_entry is None and entry.category:
            category_entry = entry
    country = company_entry.country if company_entry else None
    parent = company_entry.parent if company_entry else None
    if company_entry and not (country and parent):
        known_country, known_parent = company_facts(company_entry.company)
        country, parent = country or known_country, parent or known_parent
    ordered = bucket if company_entry is None else [company_entry, *(e for e in bucket if e is not company_entry)]
    return _Level(
        domain=domain,
        company_entry=company_entry,
        country=country,
        parent=parent,
        category_entry=category_entry,
        tracker=any(e.tracker for e in bucket),
        matches=tuple(Match(e.source, e.rule or e.domain, e.domain) for e in ordered),
    )


def _verdict(host: str, by_company: _Level, by_category: _Level, matches: tuple[Match, ...], tracker: bool) -> Verdict:
    owner = by_company.company_entry
    category = by_category.category_entry
    decider = owner or category
    return Verdict(
        host,
        by_company.domain,
        owner.company if owner else None,
        by_company.parent,
        category.category if category else None,
        by_company.country,
        (owner.service if owner else None) or (category.service if category else None),
        decider.source if decider else matches[0].source,
        matches,
        tracker,
    )


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
    info = SourceInfo(
        CURATED,
        version=_curated_version(),
        license="Apache-2.0",
        entries=len(entries),
        location=str(folder),
    )
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
    entries, info, _ = load_imported_document(path)
    return entries, info


def load_imported_document(path: Path) -> tuple[list[DomainEntry], SourceInfo, dict[str, str]]:
    """Read one imported list with its known CNAME aliases; ``ValueError``/``KeyError`` if malformed."""
    document = json.loads(path.read_text(encoding="utf-8"))
    source = str(document["source"])
    companies: list[dict[str, str | None]] = document.get("companies", [])
    entries: list[DomainEntry] = []
    for item in document.get("entries", []):
        # Entries refer to a shared company record by index to keep files small.
        owner = companies[item["c"]] if "c" in item else item
        category = item.get("category")
        entries.append(
            DomainEntry(
                domain=str(item["domain"]).lower(),
                source=source,
                company=owner.get("company"),
                parent=owner.get("parent"),
                category=category if category in CATEGORIES else None,
                country=owner.get("country"),
                service=item.get("service"),
                rule=str(item.get("rule") or item["domain"]),
                tracker=bool(item.get("tracker", False)),
            )
        )
    cnames = {str(k).lower(): str(v).lower() for k, v in (document.get("cnames") or {}).items()}
    info = SourceInfo(
        source,
        version=str(document.get("version", "")),
        license=str(document.get("license", "")),
        entries=len(entries),
        imported_at=document.get("imported_at"),
        location=str(path),
        upstream=document.get("upstream"),
    )
    return entries, info, cnames


def load_database(
    include_imported: bool = True, imported_folder: Path | None = None, strict: bool = False
) -> TrackerDatabase:
    """The curated database merged with every list imported into the user's data folder.

    An unreadable imported list is skipped with a warning (and noted in
    ``problems``) so an audit still runs; ``strict=True`` raises ``ValueError`` instead.
    """
    database = TrackerDatabase()
    entries, info = load_curated()
    database.add(entries, info)
    if include_imported:
        folder = imported_folder or imported_dir()
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                try:
                    entries, info, cnames = load_imported_document(path)
                except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                    problem = f"{path}: imported tracker list is unreadable ({exc}); re-import it"
                    if strict:
                        raise ValueError(problem) from exc
                    log.warning("%s", problem)
                    database.problems.append(problem)
                    continue
                database.add(entries, info, cnames)
    return database
