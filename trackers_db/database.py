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

import functools
import gc
import hashlib
import itertools
import json
import logging
import marshal
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable
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
    """What all sources listing one domain say together (kept for domains whose parent domains are listed)."""

    domain: str
    company: str | None
    """From the first source, in precedence order, that names a company (``None`` if none does)."""
    country: str | None
    """That company's country, filled in from another source naming the company when missing."""
    parent: str | None
    company_service: str | None
    company_source: str | None
    category: str | None
    """From the first source that gives a category."""
    category_service: str | None
    category_source: str | None
    tracker: bool
    matches: tuple[str, ...]
    """Source, rule and domain of every entry, one after the other, the entry naming the company first."""


_Fields = tuple[str, str | None, str | None, str | None, str | None, str | None, str, tuple[str, ...], bool]
"""A listed domain's verdict without host, its matches flattened to (source, rule, domain, source, ...).

Only strings, ``None`` and one flat tuple: the first garbage collections
that see it stop tracking it, so tens of thousands of remembered domains
never reach the collector's oldest generation or slow its full passes down
(``Verdict`` and ``Match`` objects, tuple subclasses, are tracked for good).
"""

_RANK: dict[str, int] = {source: rank for rank, source in enumerate(SOURCE_PRECEDENCE)}
_UNRANKED = len(SOURCE_PRECEDENCE)
_NO_FACTS: tuple[str | None, str | None] = (None, None)
_new_match = functools.partial(_tuple_new, Match)
"""``Match`` from a (source, rule, domain) tuple, without a Python-level call."""


def _entry_rank(entry: DomainEntry) -> int:
    return _RANK.get(entry.source, _UNRANKED)


@dataclass
class TrackerDatabase:
    """The merged database: domain suffix -> entries from each source.

    Loading only indexes the entries; a listed domain's merged verdict is
    worked out on its first lookup and kept as plain strings and tuples. The
    per-host cache first remembers which listed domain a host falls under;
    the host's ``Verdict`` object is kept from its second lookup on. So a
    capture's few hundred recurring hosts are answered from the cache, and
    very many one-off names (or a whole list looked up once) leave nothing
    behind that slows Python's garbage collector down.
    """

    entries: dict[str, list[DomainEntry]] = field(default_factory=dict)
    sources: list[SourceInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Imported lists that could not be read (skipped)."""
    cname_targets: dict[str, str] = field(default_factory=dict)
    """Known CNAME aliases from the lists (alias -> target), e.g. DuckDuckGo's ``cnames``."""
    _resolved: dict[str, _Fields | None] = field(default_factory=dict, repr=False)
    """Every listed domain -> its merged verdict (without host), ``None`` until worked out; filled at the first lookup.

    The suffix walk probes this dict rather than ``entries``, so the probe that
    finds the listed domain also finds its verdict (a second probe of another
    large dict costs about as much as the walk's own)."""
    _levels: dict[str, _Level] = field(default_factory=dict, repr=False)
    """Listed domain -> what its own sources say, for domains whose parent domains are listed too."""
    _cache: dict[str, Verdict | str | None] = field(default_factory=dict, repr=False)
    """Host -> its verdict (looked up before), the listed domain it falls under (once), or ``None`` (unlisted)."""
    _companies: dict[str, tuple[str | None, str | None]] | None = field(default=None, repr=False)
    _facts_by_name: dict[str, tuple[str | None, str | None]] = field(default_factory=dict, repr=False)

    def add(self, entries: Iterable[DomainEntry], info: SourceInfo, cnames: dict[str, str] | None = None) -> None:
        """Merge one source's entries (and its known CNAME aliases)."""
        index = self.entries
        shared: list[list[DomainEntry]] = []
        count = 0
        for count, entry in enumerate(entries, 1):  # noqa: B007 - the count is the last index
            bucket = index.get(entry.domain)
            if bucket is None:
                index[entry.domain] = [entry]
            else:
                bucket.append(entry)
                shared.append(bucket)
        for bucket in shared:
            bucket.sort(key=_entry_rank)  # stable: one source's entries keep their order
        for alias, target in (cnames or {}).items():
            self.cname_targets.setdefault(alias, target)
        info.entries = count
        info.cnames = len(cnames or {})
        self.sources.append(info)
        self._resolved.clear()
        self._levels.clear()
        self._cache.clear()
        self._companies = None
        self._facts_by_name.clear()

    def company_facts(self, company: str | None) -> tuple[str | None, str | None]:
        """(headquarters country, parent) any source gives for this company name, curated first."""
        if not company:
            return _NO_FACTS
        known = self._facts_by_name.get(company)
        if known is None:
            if self._companies is None:
                self._companies = self._collect_company_facts()
            known = self._facts_by_name[company] = self._companies.get(company_key(company), _NO_FACTS)
        return known

    def _collect_company_facts(self) -> dict[str, tuple[str | None, str | None]]:
        """Company key -> (country, parent) of the best-ranked entry naming it; the first such entry on a tie."""
        facts: dict[str, tuple[str | None, str | None]] = {}
        best_rank: dict[str, int] = {}
        keys: dict[str, str] = {}  # lists repeat a few thousand names over tens of thousands of domains
        rank_of = _RANK.get
        for bucket in self.entries.values():
            for entry in bucket:
                company = entry.company
                if company and (entry.country or entry.parent):
                    key = keys.get(company)
                    if key is None:
                        key = keys[company] = company_key(company)
                    rank = rank_of(entry.source, _UNRANKED)
                    if rank < best_rank.get(key, _UNRANKED + 1):
                        facts[key] = (entry.country, entry.parent)
                        best_rank[key] = rank
        return facts

    def lookup(self, host: str) -> Verdict | None:
        """The verdict for ``host`` (see the module docstring), or ``None`` if no source knows it."""
        cache = self._cache
        known = cache.get(host, _MISSING)
        name = host
        if known is _MISSING:
            if not host.islower() or host.endswith("."):
                name = host.lower().rstrip(".")
            # The deepest listed suffix determines every other match (they are its suffixes),
            # so the merged verdict is worked out once per listed domain and copied per host.
            index = self._resolved
            if not index:
                index = self._resolved = dict.fromkeys(self.entries)
            suffix = name
            while suffix not in index:
                dot = suffix.find(".")
                if dot < 0:
                    if len(cache) >= LOOKUP_CACHE_SIZE:
                        cache.clear()
                    cache[host] = None
                    return None
                suffix = suffix[dot + 1 :]
            fields = index[suffix]
            if fields is None:
                fields = index[suffix] = self._resolve(suffix)
            if len(cache) >= LOOKUP_CACHE_SIZE:
                cache.clear()
            # Remember the domain only; a name spelled differently (rare) keeps its verdict at once.
            keep = name is not host and name != host
            if not keep:
                cache[host] = suffix
        elif known.__class__ is str:  # looked up once before: keep its verdict from now on
            fields = self._resolved[known] or self._resolve(known)  # always worked out already
            keep = True
        else:
            return known  # type: ignore[return-value]
        domain, company, parent, category, country, service, source, flat, tracker = fields
        if len(flat) == 3:
            matches: tuple[Match, ...] = (_tuple_new(Match, flat),)
        else:
            triples = iter(flat)
            matches = tuple(map(_new_match, zip(triples, triples, triples, strict=True)))
        verdict: Verdict = _tuple_new(
            Verdict, (name, domain, company, parent, category, country, service, source, matches, tracker)
        )
        if keep:
            cache[host] = verdict
        return verdict

    def known_cname(self, host: str) -> str | None:
        """The CNAME target a list recorded for exactly ``host`` (an alias says nothing of its subdomains)."""
        return self.cname_targets.get(host.lower().rstrip("."))

    def _resolve(self, deepest: str) -> _Fields:
        """The merged verdict for the listed domain ``deepest``, combining every listed suffix of it."""
        entries = self.entries
        suffix = deepest
        dot = suffix.find(".")
        while dot >= 0:
            suffix = suffix[dot + 1 :]
            if suffix in entries:
                return self._combine(deepest)
            dot = suffix.find(".")
        bucket = entries[deepest]
        if len(bucket) > 1:
            level = self._level(deepest, bucket)
            return _fields(level, level, level.matches, level.tracker)
        # Most listed domains: one source, no listed parent domain. The same rules, without merging.
        entry = bucket[0]
        company = entry.company
        category = entry.category or None
        service = entry.service
        if company:
            country = entry.country
            parent = entry.parent
            if not (country and parent):
                known_country, known_parent = self._facts_by_name.get(company) or self.company_facts(company)
                country, parent = country or known_country, parent or known_parent
            service = service if category else (service or None)
        else:
            company = country = parent = None
            service = service if category else None
        source = entry.source
        matches = (source, entry.rule or deepest, deepest)
        return (deepest, company, parent, category, country, service, source, matches, bool(entry.tracker))

    def _combine(self, deepest: str) -> _Fields:
        """The merged verdict for ``deepest`` when some of its parent domains are listed too."""
        levels: list[_Level] = []
        entries = self.entries
        suffix = deepest
        while True:
            level = self._levels.get(suffix)
            if level is None:
                bucket = entries.get(suffix)
                if bucket:
                    level = self._levels[suffix] = self._level(suffix, bucket)
            if level is not None:
                levels.append(level)
            dot = suffix.find(".")
            if dot < 0:
                break
            suffix = suffix[dot + 1 :]
        by_company = next((lv for lv in levels if lv.company), levels[0])
        by_category = next((lv for lv in levels if lv.category), by_company)
        deciding_first = [by_company, *(lv for lv in levels if lv is not by_company)]
        matches = tuple(itertools.chain.from_iterable(lv.matches for lv in deciding_first))
        return _fields(by_company, by_category, matches, any(lv.tracker for lv in levels))

    def _level(self, domain: str, bucket: list[DomainEntry]) -> _Level:
        """What the sources listing ``domain`` say together (``bucket`` is in precedence order)."""
        owner = category_entry = None
        tracker = False
        for entry in bucket:
            if owner is None and entry.company:
                owner = entry
            if category_entry is None and entry.category:
                category_entry = entry
            if entry.tracker:
                tracker = True
        ordered = bucket
        if owner is None:
            company = country = parent = service = source = None
        else:
            company, service, source = owner.company, owner.service, owner.source
            country, parent = owner.country, owner.parent
            if not (country and parent):
                known_country, known_parent = self.company_facts(company)
                country, parent = country or known_country, parent or known_parent
            if owner is not bucket[0]:
                ordered = [owner, *(e for e in bucket if e is not owner)]
        if category_entry is None:
            category = category_service = category_source = None
        else:
            category = category_entry.category
            category_service, category_source = category_entry.service, category_entry.source
        matches: list[str] = []
        for entry in ordered:
            matches += (entry.source, entry.rule or domain, domain)
        fields = (domain, company, country, parent, service, source, category, category_service, category_source)
        return _tuple_new(_Level, (*fields, tracker, tuple(matches)))

    def __hash__(self) -> int:
        return id(self)

    def resolve_all(self) -> dict[str, _Fields]:
        """Work out every listed domain's merged verdict now (what a cache file keeps)."""
        index = self._resolved
        if len(index) != len(self.entries):
            index = self._resolved = dict.fromkeys(self.entries)
        resolve = self._resolve
        for domain, fields in index.items():
            if fields is None:
                index[domain] = resolve(domain)
        return index  # type: ignore[return-value]  # no None left

    def adopt_resolved(self, resolved: dict[str, _Fields]) -> bool:
        """Use verdicts worked out earlier (read from a cache file) if they cover exactly the listed domains."""
        if resolved.keys() != self.entries.keys():
            return False
        if not all(fields.__class__ is tuple and len(fields) == 9 for fields in resolved.values()):
            return False  # a damaged file marshal still reads: never let a lookup fail on it
        self._resolved = resolved  # type: ignore[assignment]
        return True


def _fields(by_company: _Level, by_category: _Level, matches: tuple[str, ...], tracker: bool) -> _Fields:
    """The merged verdict: company facts from ``by_company``, the category from ``by_category``."""
    # A level without an owner (or category) has None for its service and source.
    if by_company.company_source is not None:
        source = by_company.company_source
    elif by_category.category_source is not None:
        source = by_category.category_source
    else:
        source = matches[0]
    return (
        by_company.domain,
        by_company.company,
        by_company.parent,
        by_category.category,
        by_company.country,
        by_company.company_service or by_category.category_service,
        source,
        matches,
        tracker,
    )


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
    from trackers_db.version import __version__

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


MERGED_CACHE_FORMAT = 1
"""Bumped whenever the cached verdict tuples change shape or meaning."""


def load_database(
    include_imported: bool = True,
    imported_folder: Path | None = None,
    strict: bool = False,
    use_cache: bool = True,
    cache_folder: Path | None = None,
) -> TrackerDatabase:
    """The curated database merged with every list imported into the user's data folder.

    An unreadable imported list is skipped with a warning (and noted in
    ``problems``) so an audit still runs; ``strict=True`` raises ``ValueError`` instead.

    When lists are imported, every listed domain's merged verdict is kept in a
    cache file (``<data>/cache``, or ``<imported_folder>/cache`` for an explicit
    folder, or ``cache_folder``) keyed by everything the verdicts depend on, so
    a freshly loaded database answers first lookups as fast as repeated ones.
    A missing, stale or damaged cache is rebuilt; an unwritable folder means no
    cache. ``use_cache=False`` merges lazily on first lookups, as without lists.
    """
    database = TrackerDatabase()
    entries, info = load_curated()
    database.add(entries, info)
    if include_imported:
        folder = imported_folder or imported_dir()
        if folder.is_dir():
            paths = sorted(folder.glob("*.json"))
            for path in paths:
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
            if use_cache and len(database.sources) > 1:
                if cache_folder is None:
                    cache_folder = data_dir() / "cache" if imported_folder is None else folder / "cache"
                _use_merged_cache(database, cache_folder, folder, paths)
    return database


def _merged_cache_key(folder: Path, paths: list[Path]) -> str | None:
    """A fingerprint of everything merged verdicts depend on, or ``None`` if a list vanished meanwhile."""
    digest = hashlib.sha256()
    digest.update(repr((MERGED_CACHE_FORMAT, _curated_version(), SOURCE_PRECEDENCE, str(folder.resolve()))).encode())
    try:
        for path in sorted(curated_dir().glob("*.toml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        for path in paths:
            stat = path.stat()
            digest.update(repr((path.name, stat.st_size, stat.st_mtime_ns, stat.st_ino)).encode())
    except OSError:
        return None
    return digest.hexdigest()[:32]


def _use_merged_cache(database: TrackerDatabase, cache_folder: Path, folder: Path, paths: list[Path]) -> None:
    """Adopt the cached merged verdicts, or work them out and write the cache (never an error)."""
    key = _merged_cache_key(folder, paths)
    if key is None:
        return
    cache_file = cache_folder / f"merged-{key}.marshal"
    try:
        data = cache_file.read_bytes()  # marshal.loads is several times faster than marshal.load(stream)
        collecting = gc.isenabled()
        gc.disable()  # tens of thousands of new tuples would set off a full collection over the whole database
        try:
            cached = marshal.loads(data)
        finally:
            if collecting:
                gc.enable()
        if isinstance(cached, dict) and database.adopt_resolved(cached):
            return
        log.info("%s: merged-verdict cache does not match the lists; rebuilding it", cache_file)
    except FileNotFoundError:
        pass
    except (OSError, EOFError, ValueError, TypeError) as exc:
        log.info("%s: merged-verdict cache is unreadable (%s); rebuilding it", cache_file, exc)
    resolved = database.resolve_all()
    try:
        cache_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache_folder, prefix=".merged-", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(handle, "wb") as stream:
                marshal.dump(resolved, stream)
            os.replace(temporary, cache_file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for stale in cache_folder.glob("merged-*.marshal"):
            if stale != cache_file:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("%s: cannot write the merged-verdict cache (%s)", cache_folder, exc)
