"""Party attribution, CNAME cloaking and unknown third parties, through the real pipeline.

The database is a real :class:`TrackerDatabase` holding a few invented
companies (``.example`` names), so each rule is tested on its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import pinned_env, run_analyze, shared_capture

from auditor.analysis import Analysis, AnalysisConfig
from auditor.classify import AppProfile, Classifier, Party, load_app_profile
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report import build_report
from trackers_db.database import DomainEntry, SourceInfo, TrackerDatabase

APP = "school-portal.example"


def database(cnames: dict[str, str] | None = None) -> TrackerDatabase:
    db = TrackerDatabase()
    db.add(
        [
            DomainEntry(APP, "curated", "Example Learning", category="edtech", country="GB"),
            DomainEntry("example-learning-media.example", "curated", "Example Learning", category="cdn", country="GB"),
            # Another list spells the same company with its legal form.
            DomainEntry("example-learning-sso.example", "adguard", "Example Learning Ltd", category="identity"),
            DomainEntry("metrics-cloud.example", "curated", "Metrics Cloud", category="analytics", country="US"),
            DomainEntry("static-cdn.example", "curated", "Static CDN", category="cdn", country="US"),
        ],
        SourceInfo("curated", "test", "test", 0),
    )
    if cnames:
        db.add([], SourceInfo("duckduckgo-web", "test", "test", 0), cnames)
    return db


def record(host: str, kind: RecordKind = RecordKind.TLS, **fields: object) -> Record:
    return Record(
        kind=kind,
        time=1767261600.0,
        source=SourceKind.PCAP,
        host=host,
        host_source=HostSource.SNI,
        server_ip="203.0.113.10",
        encrypted=True,
        **fields,
    )  # type: ignore[arg-type]


def test_app_domains_and_same_company_domains_are_first_party() -> None:
    classifier = Classifier(database(), [APP])
    api = classifier.classify(f"api.{APP}")
    assert (api.party, api.first_party_by) == (Party.FIRST, "app domain")
    media = classifier.classify("video.example-learning-media.example")
    assert (media.party, media.first_party_by, media.company) == (
        Party.FIRST,
        "same company as the app",
        "Example Learning",
    )
    assert classifier.classify("login.example-learning-sso.example").party is Party.FIRST
    tracker = classifier.classify("sdk.metrics-cloud.example")
    assert (tracker.party, tracker.company, tracker.is_tracker, tracker.hq_country) == (
        Party.THIRD,
        "Metrics Cloud",
        True,
        "US",
    )
    # A look-alike name is not a subdomain of the app.
    assert classifier.classify(f"evil{APP}").party is Party.THIRD


def test_local_names_and_addresses_are_local() -> None:
    classifier = Classifier(database(), [APP])
    assert classifier.classify("printer.local").party is Party.LOCAL
    assert classifier.classify(None, ["192.168.1.20"]).party is Party.LOCAL
    # A public address with no name and no list entry (documentation ranges count as private).
    assert classifier.classify(None, ["93.184.216.34"]).party is Party.UNKNOWN


def test_dns_cname_to_a_tracker_makes_a_first_party_name_a_cloaked_tracker() -> None:
    analysis = Analysis(AnalysisConfig(app_domains=(APP,)), database=database())
    alias = f"{APP}.eu.metrics-cloud.example"
    analysis.add(record(f"stats.{APP}", RecordKind.DNS, dns_cnames=(alias,), dns_answers=("203.0.113.10",)))
    analysis.add(record(f"stats.{APP}"))
    analysis.add(record(f"www.{APP}"))
    stats = analysis.classification(f"stats.{APP}")
    assert stats.party is Party.FIRST and stats.cloaked_tracker == alias
    assert (stats.company, stats.category, stats.is_tracker) == ("Metrics Cloud", "analytics", True)
    plain = analysis.classification(f"www.{APP}")
    assert plain.cloaked_tracker is None and plain.company == "Example Learning" and not plain.is_tracker
    report = build_report(analysis)
    by_host = {d["host"]: d for d in report["destinations"]}
    assert by_host[f"stats.{APP}"]["cloaked_tracker"] == alias


def test_a_cname_to_infrastructure_is_not_cloaking() -> None:
    analysis = Analysis(AnalysisConfig(app_domains=(APP,)), database=database())
    analysis.add(record(f"img.{APP}", RecordKind.DNS, dns_cnames=("app.static-cdn.example",)))
    img = analysis.classification(f"img.{APP}")
    assert img.party is Party.FIRST and img.cloaked_tracker is None and not img.is_tracker


def test_cname_alias_known_from_an_imported_list_is_flagged_without_dns() -> None:
    db = database(cnames={f"metrics.{APP}": f"{APP}.metrics-cloud.example"})
    classified = Classifier(db, [APP]).classify(f"metrics.{APP}")
    assert classified.cloaked_tracker == f"{APP}.metrics-cloud.example"
    assert classified.company == "Metrics Cloud" and classified.is_tracker


def test_unknown_third_party_is_kept_and_shown_as_unknown() -> None:
    analysis = Analysis(AnalysisConfig(app_domains=(APP,)), database=database())
    analysis.add(record("collector.never-heard-of.example"))
    report = build_report(analysis)
    (unknown,) = [d for d in report["destinations"] if d["host"] == "collector.never-heard-of.example"]
    assert unknown["party"] == "third" and unknown["company"] is None


def test_inferred_app_domain_is_labelled_inferred() -> None:
    # Inference works on registrable domains, so this app needs a real public suffix.
    app = "classroom-audit-fixture.com"
    analysis = Analysis(AnalysisConfig(), database=database())
    for _ in range(3):
        analysis.add(record(f"api.{app}"))
    analysis.add(record(f"cdn.{app}"))
    analysis.add(record("sdk.metrics-cloud.example"))
    report = build_report(analysis)
    assert report["app"]["domains"] == [app] and report["app"]["domains_inferred"] is True
    parties = {d["host"]: d["party"] for d in report["destinations"]}
    assert parties[f"api.{app}"] == parties[f"cdn.{app}"] == "first"
    assert parties["sdk.metrics-cloud.example"] == "third"


def test_app_profile_names_domains_and_companies(tmp_path: Path) -> None:
    profile = tmp_path / "app.toml"
    profile.write_text(f'name = "School Portal"\ndomains = ["{APP}"]\ncompanies = ["Static CDN Inc."]\n')
    known = load_app_profile(profile)
    assert known == AppProfile("School Portal", (APP,), ("Static CDN Inc.",))
    classifier = Classifier(database(), known.domains, known.companies)
    # "Static CDN Inc." in the profile is the database's "Static CDN".
    assert classifier.classify("assets.static-cdn.example").first_party_by == "same company as the app"
    assert classifier.classify("sdk.metrics-cloud.example").party is Party.THIRD


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("domains = 'one.example'", "'domains' must be a list of non-empty strings"),
        ("name = 'x'", "needs 'domains' or 'companies'"),
        ("domains = [", "not a readable app profile"),
    ],
)
def test_bad_app_profile_is_named(tmp_path: Path, text: str, problem: str) -> None:
    profile = tmp_path / "app.toml"
    profile.write_text(text)
    with pytest.raises(ValueError) as error:
        load_app_profile(profile)
    assert str(error.value).startswith(str(profile)) and problem in str(error.value)


def test_analyze_with_app_profile(tmp_path: Path) -> None:
    har = shared_capture("reporthar_web_first-run.har")
    profile = tmp_path / "9gag.toml"
    profile.write_text('name = "9GAG"\ndomains = ["9gag.com", "9cache.com"]\n')
    run = run_analyze(
        ["analyze", har, "--app-profile", profile, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path / "data")
    )
    assert run.report is not None
    assert run.report["app"] == {
        "name": "9GAG", "domains": ["9gag.com", "9cache.com"], "domains_inferred": False, "inference": None
    }
    parties = {d["host"]: d["party"] for d in run.report["destinations"]}
    assert parties["9gag.com"] == parties["img-9gag-fun.9cache.com"] == "first"
    bad = tmp_path / "bad.toml"
    bad.write_text("domains = 3")
    run = run_analyze(["analyze", har, "--app-profile", bad], env=pinned_env(tmp_path / "data"))
    assert run.exit_code == 2 and "'domains' must be a list" in run.stderr
