"""Every verdict of the merged real lists equals a plain reading of the documented merge rules.

``TrackerDatabase.lookup`` is tuned for speed (verdicts worked out once per
listed domain, shared tuples, fast paths for a single source); the reference
below applies the rules of the ``trackers_db.database`` module docstring the
slow, obvious way: collect every listed suffix of the host, longest first,
sort each domain's entries by source precedence, take each attribute from the
longest suffix that has it, fill a missing country or parent from the best
source naming the same company. Any difference is a changed verdict.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from helpers import SHARED_LIST_FILES, SHARED_TRACKERS

from trackers_db.database import (
    SOURCE_PRECEDENCE,
    DomainEntry,
    Match,
    SourceInfo,
    TrackerDatabase,
    Verdict,
    company_key,
    load_curated,
    load_database,
    load_imported_document,
)
from trackers_db.importers import SOURCES, write_imported

SHARED = SHARED_TRACKERS

LIST_FILES = SHARED_LIST_FILES


def rank(source: str) -> int:
    return SOURCE_PRECEDENCE.index(source) if source in SOURCE_PRECEDENCE else len(SOURCE_PRECEDENCE)


class Reference:
    """The documented merge rules, applied directly to the loaded sources (no caches, no shortcuts)."""

    def __init__(self, sources: Iterable[list[DomainEntry]]) -> None:
        self.index: dict[str, list[DomainEntry]] = {}
        for entries in sources:
            for entry in entries:
                self.index.setdefault(entry.domain, []).append(entry)
        for domain, bucket in self.index.items():
            self.index[domain] = sorted(bucket, key=lambda e: rank(e.source))  # stable: a source keeps its order
        # The best-ranked source naming a company (with a country or parent) supplies its facts.
        self.facts: dict[str, tuple[int, str | None, str | None]] = {}
        for bucket in self.index.values():
            for entry in bucket:
                if entry.company and (entry.country or entry.parent):
                    key = company_key(entry.company)
                    if key not in self.facts or rank(entry.source) < self.facts[key][0]:
                        self.facts[key] = (rank(entry.source), entry.country, entry.parent)

    def verdict(self, host: str) -> Verdict | None:
        name = host.lower().rstrip(".")
        labels = name.split(".")
        suffixes = [".".join(labels[i:]) for i in range(len(labels))]
        levels = [(s, self.index[s]) for s in suffixes if s in self.index]
        if not levels:
            return None
        with_company = [(s, b, next(e for e in b if e.company)) for s, b in levels if any(e.company for e in b)]
        with_category = [next(e for e in b if e.category) for _, b in levels if any(e.category for e in b)]
        if with_company:
            domain, bucket, owner = with_company[0]
            country, parent = owner.country, owner.parent
            if not (country and parent):
                _, known_country, known_parent = self.facts.get(company_key(str(owner.company)), (0, None, None))
                country, parent = country or known_country, parent or known_parent
        else:
            (domain, bucket), owner, country, parent = levels[0], None, None, None
        category = with_category[0] if with_category else None
        # The deciding domain's matches come first, its deciding entry leading; then the other suffixes, longest first.
        ordered_levels = [(domain, bucket)] + [(s, b) for s, b in levels if s != domain]
        matches: list[Match] = []
        for _, entries in ordered_levels:
            lead = next((e for e in entries if e.company), None)
            for entry in ([lead] if lead else []) + [e for e in entries if e is not lead]:
                matches.append(Match(entry.source, entry.rule or entry.domain, entry.domain))
        decider = owner or category
        return Verdict(
            host=name,
            domain=domain,
            company=owner.company if owner else None,
            parent=parent,
            category=category.category if category else None,
            country=country,
            service=(owner.service if owner else None) or (category.service if category else None),
            source=decider.source if decider else matches[0].source,
            matches=tuple(matches),
            listed_as_tracker=any(e.tracker for _, b in levels for e in b),
        )


@pytest.fixture(scope="module")
def lists_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every real list imported into a temporary data folder, as ``auditor db import`` writes them."""
    if not SHARED.is_dir():
        pytest.skip(f"real tracker lists not present at {SHARED}")
    folder = tmp_path_factory.mktemp("trackers")
    for name, files in LIST_FILES.items():
        write_imported(SOURCES[name].read([SHARED / p for p in files]), SOURCES[name], str(SHARED), folder=folder)
    return folder


@pytest.fixture(scope="module")
def reference(lists_folder: Path) -> Reference:
    curated, _ = load_curated()
    imported = [load_imported_document(path)[0] for path in sorted(lists_folder.glob("*.json"))]
    return Reference([curated, *imported])


def test_every_listed_domain_and_subdomain_matches_the_reference(lists_folder: Path, reference: Reference) -> None:
    domains = list(reference.index)
    assert len(domains) > 50_000, "the merged real lists should hold tens of thousands of domains"
    # Two fresh databases, looked up in opposite orders (a parent's verdict first, or a subdomain's):
    # whatever a lookup remembers must not depend on which host came first.
    parents_first = load_database(imported_folder=lists_folder)
    children_first = load_database(imported_folder=lists_folder)
    assert set(parents_first.entries) == set(domains)
    for domain in reversed(domains):
        children_first.lookup(f"cdn.{domain}")
    mismatches = []
    for domain in domains:
        for host in (domain, f"cdn.{domain}"):
            expected = reference.verdict(host)
            for database in (parents_first, children_first):
                if database.lookup(host) != expected:
                    mismatches.append(host)
    assert not mismatches, f"{len(mismatches)} verdicts differ from the documented rules, e.g. {mismatches[:5]}"


def test_spelling_deep_names_and_unlisted_names_match_the_reference(lists_folder: Path, reference: Reference) -> None:
    database = load_database(imported_folder=lists_folder)
    sample = random.Random(5).sample(sorted(reference.index), 3000)
    hosts = [f"API.v2.{d.upper()}." for d in sample] + [f"x.{d}" for d in sample]
    hosts += ["unlisted-host.example.org", "com", "localhost", "a.b.c.d.e.f.g.unknown-tld-zz"]
    for host in hosts:
        assert database.lookup(host) == reference.verdict(host), host


def test_sources_added_one_by_one_match_a_single_merge(lists_folder: Path, reference: Reference) -> None:
    """A lookup between two ``add`` calls must not leave a stale verdict behind."""
    database = TrackerDatabase()
    database.add(*load_curated())
    probe = sorted(reference.index)[::50]
    for path in sorted(lists_folder.glob("*.json")):
        for host in probe:
            database.lookup(host)
        entries, info, cnames = load_imported_document(path)
        database.add(entries, SourceInfo(info.source, info.version, info.license, 0), cnames)
    for host in probe:
        assert database.lookup(host) == reference.verdict(host), host


def test_edge_cases_of_the_single_source_path_match_the_reference() -> None:
    """Empty strings, missing owners and blocklist-only entries, on domains with and without listed parents."""
    entries = [
        DomainEntry("owner-no-category.test", "adguard", "Acme", service=""),
        DomainEntry("category-only.test", "disconnect", None, category="advertising", service="Ads"),
        DomainEntry("service-only.test", "exodus", None, service="SDK without owner"),
        DomainEntry("empty-company.test", "ghostery", "", category="", service="x"),
        DomainEntry("blocked.test", "hosts", None, rule="", tracker=True),
        DomainEntry("facts.test", "adguard", "Acme Inc.", category="analytics"),
        DomainEntry("acme.test", "curated", "Acme", parent="Acme Holdings", country="DE", category="analytics"),
        DomainEntry("sub.acme.test", "hosts", None, rule="||sub.acme.test^", tracker=True),
        DomainEntry("deep.sub.acme.test", "exodus", "Other", service="Deep"),
        DomainEntry("acme.test", "unknown-list", "Acme", category="cdn"),
    ]
    database = TrackerDatabase()
    database.add(entries, SourceInfo("mixed", "1", "test", 0))
    reference = Reference([entries])
    for entry in entries:
        for host in (entry.domain, f"x.{entry.domain}"):
            assert database.lookup(host) == reference.verdict(host), host
            assert database.lookup(host) == reference.verdict(host), f"{host} (looked up again)"
