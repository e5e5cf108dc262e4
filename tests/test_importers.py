"""Each importer parses the real list in ../shared/trackers and finds facts a reviewer can check.

The expected counts come from each list's SOURCE.md (measured upstream), the
facts from the lists themselves. Tracker Radar has no real copy in
../shared; tests/data/tracker-radar is a small synthetic fixture written from
its documented format.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from helpers import SHARED_LIST_FILES, SHARED_TRACKERS

from trackers_db.database import SourceInfo, TrackerDatabase, load_curated, load_imported_document
from trackers_db.importers import SOURCES, ImportedList, ListFormatError, write_imported
from trackers_db.importers.whotracksme import parse_whotracksme

SHARED = SHARED_TRACKERS
RADAR_FIXTURE = Path(__file__).resolve().parent / "data" / "tracker-radar"

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real tracker lists not present at {SHARED}")

INPUTS = SHARED_LIST_FILES

_parsed: dict[str, ImportedList] = {}


def parsed(source: str) -> ImportedList:
    """Each real list is parsed once per test run."""
    if source not in _parsed:
        _parsed[source] = SOURCES[source].read([SHARED / p for p in INPUTS[source]])
    return _parsed[source]


def entry(source: str, domain: str):  # type: ignore[no-untyped-def]
    found = [e for e in parsed(source).entries if e.domain == domain]
    assert len(found) == 1, f"{domain} should be listed exactly once by {source}"
    return found[0]


@needs_shared
def test_adguard_names_google_firebase_for_app_measurement() -> None:
    firebase = entry("adguard", "app-measurement.com")
    assert (firebase.company, firebase.service, firebase.category) == ("Google", "Firebase", "analytics")
    assert parsed("adguard").version == "2026-07-20T11:02:11.184Z"  # the list's timeUpdated
    assert len(parsed("adguard").entries) == 5125  # SOURCE.md: trackerDomains (5,125)


@needs_shared
def test_duckduckgo_app_lists_sdk_endpoints_with_owners() -> None:
    graph = entry("duckduckgo-app", "graph.facebook.com")
    assert graph.company == "Facebook"
    applovin = entry("duckduckgo-app", "a.applovin.com")
    assert applovin.company == "AppLovin" and applovin.tracker  # default: block
    assert len(parsed("duckduckgo-app").entries) == 339
    assert parsed("duckduckgo-app").version.startswith("1688648647512 (2023-07-06)")


@needs_shared
def test_duckduckgo_web_has_trackers_entities_and_cnames() -> None:
    imported = parsed("duckduckgo-web")
    trackers = [e for e in imported.entries if e.rule.startswith("tracker:")]
    assert len(trackers) == 2899  # SOURCE.md: trackers (2,899)
    assert len(imported.cnames) == 655  # SOURCE.md: cnames (655)
    assert imported.cnames["aa.athome.com"] == "athome.com.data.adobedc.net"
    ga = entry("duckduckgo-web", "google-analytics.com")
    # DuckDuckGo lists it under Advertising first (then Analytics): the more specific claim wins.
    assert ga.category == "advertising" and ga.tracker and ga.parent == "Google"
    # Entity domains that are not trackers still name their owner (for first-party attribution).
    assert entry("duckduckgo-web", "datacamp.com").company == "DataCamp"


@needs_shared
def test_disconnect_puts_doubleclick_in_advertising() -> None:
    doubleclick = entry("disconnect", "doubleclick.net")
    assert (doubleclick.company, doubleclick.category, doubleclick.tracker) == ("Google", "advertising", True)
    services = [e for e in parsed("disconnect").entries if not e.rule.startswith("entity:")]
    assert 4400 <= len(services) <= 4463  # SOURCE.md: ~4,463 domains (a few are listed in two categories)


@needs_shared
def test_ghostery_carries_headquarters_countries() -> None:
    assert entry("ghostery", "mmtro.com").country == "FR"
    doubleclick = entry("ghostery", "doubleclick.net")
    assert (doubleclick.company, doubleclick.country, doubleclick.category) == ("Google", "US", "advertising")
    assert len(parsed("ghostery").entries) == 5103  # SOURCE.md: domains (5,103)


@needs_shared
def test_whotracksme_sql_dump_is_read_in_memory() -> None:
    doubleclick = entry("whotracksme", "doubleclick.net")
    assert (doubleclick.company, doubleclick.country, doubleclick.service) == ("Google", "US", "DoubleClick")
    assert len(parsed("whotracksme").entries) == 4327  # SOURCE.md: tracker_domains (4,327)


@needs_shared
def test_exodus_turns_literal_signatures_into_domains_and_counts_the_rest() -> None:
    imported = parsed("exodus")
    assert entry("exodus", "appsflyer.com").service == "AppsFlyer"
    assert entry("exodus", "crashlytics.com").category == "crash_reporting"
    # Both halves of an alternation, and a leading ".*\." wildcard, become domains.
    assert {e.domain for e in imported.entries} >= {"adjust.com", "adj.st", "estimote.com"}
    assert 0 < imported.skipped < 260  # 260 signatures; only those with paths/ports/wildcards are skipped
    assert all(e.tracker for e in imported.entries)


@needs_shared
def test_easyprivacy_host_rules() -> None:
    imported = parsed("hosts")
    assert 45000 <= len(imported.entries) <= 46500  # SOURCE.md: ~45.8k pure host rules
    assert entry("hosts", "google-analytics.com").tracker
    domains = {e.domain for e in imported.entries}
    assert "beacon.min.js" not in domains  # adblock URL fragments are not hosts
    assert "adservice.google" not in domains  # "||adservice.google." matches any TLD: not a host fact


def test_hosts_file_format(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("# blocklist\n127.0.0.1 localhost\n0.0.0.0 ads.tracker.example\n0.0.0.0 metrics.example.org # c\n")
    imported = SOURCES["hosts"].read([hosts])
    assert [e.domain for e in imported.entries] == ["ads.tracker.example", "metrics.example.org"]


def test_tracker_radar_fixture_prefers_us_region_and_keeps_cnames() -> None:
    imported = SOURCES["tracker-radar"].read([RADAR_FIXTURE])
    by_domain = {e.domain: e for e in imported.entries}
    assert by_domain["metrics-cloud.example"].company == "Metrics Cloud"  # US file wins over the CA one
    assert by_domain["metrics-cloud.example"].category == "analytics"
    assert by_domain["ads-exchange.example"].category == "advertising"  # only crawled from CA
    assert by_domain["metrics-cloud-cdn.example"].company == "Metrics Cloud"  # from entities/
    assert imported.cnames == {"stats.school-portal.example": "school-portal.example.metrics-cloud.example"}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_wrong_file_is_a_one_line_error_naming_it(source: str, tmp_path: Path) -> None:
    bogus = tmp_path / {"tracker-radar": "radar", "whotracksme": "trackerdb.sql"}.get(source, "list.json")
    if source == "tracker-radar":
        bogus.mkdir()
    else:
        bogus.write_text('{"something": "else"}\n' if source != "whotracksme" else "this is not SQL;\n")
    with pytest.raises(ListFormatError) as error:
        SOURCES[source].read([bogus])
    assert str(bogus) in str(error.value) and "\n" not in str(error.value)


def test_sql_dump_cannot_attach_files(tmp_path: Path) -> None:
    target = tmp_path / "written.db"
    with pytest.raises(ListFormatError):
        parse_whotracksme(f"ATTACH DATABASE '{target}' AS evil; CREATE TABLE evil.t(x);")
    assert not target.exists()


@needs_shared
def test_written_list_round_trips_owner_only(tmp_path: Path) -> None:
    imported = parsed("ghostery")
    path = write_imported(imported, SOURCES["ghostery"], "https://example.invalid/", folder=tmp_path / "trackers")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    document = json.loads(path.read_text())
    assert (document["source"], document["license"], document["non_commercial"]) == (
        "ghostery",
        "CC-BY-NC-SA-4.0",
        True,
    )
    assert document["imported_at"].endswith("Z") and document["upstream"] == "https://example.invalid/"
    entries, info, _ = load_imported_document(path)
    assert entries == imported.entries
    assert info.version == imported.version
    # Company facts are stored once per company, so the file stays small.
    assert path.stat().st_size < 1_000_000


@needs_shared
def test_merged_lookup_names_every_source_and_curated_decides() -> None:
    database = TrackerDatabase()
    database.add(*load_curated())
    for source in ("adguard", "duckduckgo-web", "ghostery", "hosts"):
        imported = parsed(source)
        database.add(
            imported.entries, SourceInfo(source, imported.version, SOURCES[source].license, 0), imported.cnames
        )
    verdict = database.lookup("app-measurement.com")
    assert verdict is not None
    assert (verdict.company, verdict.category, verdict.country, verdict.source) == (
        "Google",
        "analytics",
        "US",
        "curated",
    )
    assert {"curated", "adguard", "duckduckgo-web"} <= set(verdict.sources)
    assert verdict.describe().startswith("Google (Alphabet Inc.), analytics, HQ US — curated; also adguard")
    # A host only a blocklist knows is still a tracker, with its rule as provenance.
    only_hosts = next(e.domain for e in parsed("hosts").entries if database.lookup(e.domain).sources == ("hosts",))
    assert database.lookup(only_hosts).is_tracker
    assert database.known_cname("aa.athome.com") == "athome.com.data.adobedc.net"


def test_sql_dump_that_never_ends_is_stopped() -> None:
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n;"
    with pytest.raises(ListFormatError, match="interrupted"):
        parse_whotracksme(endless, time_limit=0.2)


def test_no_public_list_is_bundled_with_the_package() -> None:
    # Imported lists (some non-commercial) live only in the user's data folder.
    package = Path(__file__).resolve().parents[1] / "trackers_db"
    data_files = [p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".toml", ".pyc")]
    assert data_files == []
