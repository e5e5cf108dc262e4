"""Finding rules: the bundled rule file, destination rules, thresholds, custom rule files, the checklist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synthetic_session import APP_DOMAIN, SESSION_START, classroom_session

from auditor.analysis import Analysis, AnalysisConfig
from auditor.findings import RulesError, RuleSet, Scope, default_rules, load_rules, parse_rules
from auditor.policy import load_catalogue
from auditor.report import build_report

DOCS = Path(__file__).resolve().parent.parent / "docs"


def audit(rules: RuleSet | None = None, records=None) -> dict:
    analysis = Analysis(AnalysisConfig(app_domains=(APP_DOMAIN,), rules=rules, salt=b"test-salt"))
    for record in records if records is not None else classroom_session():
        analysis.add(record)
    return build_report(analysis, generated_at="2026-01-01T12:00:00Z")


def by_rule(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for finding in report["findings"]:
        out.setdefault(finding["rule"], []).append(finding)
    return out


def test_default_rules_cite_only_catalogue_entries() -> None:
    catalogue = {entry.id for entry in load_catalogue()}
    for rule in default_rules().rules:
        assert rule.policy_refs, rule.id
        assert set(rule.policy_refs) <= catalogue, (rule.id, set(rule.policy_refs) - catalogue)
        assert rule.explanation


def test_every_default_rule_is_documented() -> None:
    text = (DOCS / "rules.md").read_text(encoding="utf-8")
    for rule in default_rules().rules:
        assert f"`{rule.id}`" in text, rule.id


def test_classroom_session_triggers_every_default_rule() -> None:
    report = audit(default_rules().with_thresholds(home_country="CA"))
    assert set(by_rule(report)) == {rule.id for rule in default_rules().rules}


def test_detection_rules_choose_the_most_specific_and_severe() -> None:
    found = by_rule(audit())
    [location] = [f for f in found["precise-location-to-third-party"] if f["key"] == "lat"]
    assert (location["host"], location["severity"], location["data_type"]) == ("api.mixpanel.com", "high",
                                                                                "precise_location")
    assert "43.65323" not in json.dumps(found), "raw coordinates must never reach the report"
    assert {f["host"] for f in found["personal-data-over-http"]} == {"stats.plainhttp.example"}
    assert {f["host"] for f in found["biometric-data-to-third-party"]} == {"speech.vendor-asr.example"}
    assert {f["host"] for f in found["biometric-data-leaves-device"]} == {f"media.{APP_DOMAIN}"}
    assert all(f["severity"] == "info" for f in found["personal-data-to-first-party"])


def test_destination_rules_have_no_data_type_and_explain_themselves() -> None:
    found = by_rule(audit(default_rules().with_thresholds(home_country="CA")))
    early = {f["host"] for f in found["tracker-before-interaction"]}
    assert early == {"app-measurement.com", "graph.facebook.com"}  # mixpanel first comes at +25 s
    [pinned] = [f for f in found["uninspectable-tracker-connection"] if f["host"] == "graph.facebook.com"]
    assert pinned["data_type"] is None and "pinning" in pinned["detail"]
    abroad = {f["host"] for f in found["personal-data-outside-home-country"]}
    assert {"api.mixpanel.com", "app-measurement.com"} <= abroad
    assert all("home country CA" in f["detail"] for f in found["personal-data-outside-home-country"])


def test_first_seconds_is_configurable() -> None:
    wide = by_rule(audit(default_rules().with_thresholds(first_seconds=30)))
    assert {"api.mixpanel.com", "api.amplitude.com"} <= {f["host"] for f in wide["tracker-before-interaction"]}
    narrow = by_rule(audit(default_rules().with_thresholds(first_seconds=0.5)))
    assert {f["host"] for f in narrow["tracker-before-interaction"]} == {"app-measurement.com"}


def test_country_rule_is_off_without_home_country_and_says_so() -> None:
    report = audit()
    assert "personal-data-outside-home-country" not in by_rule(report)
    [rule] = [r for r in report["rules"]["rules"] if r["id"] == "personal-data-outside-home-country"]
    assert rule["evaluated"] is False
    same_country = audit(default_rules().with_thresholds(home_country="us"))
    assert "personal-data-outside-home-country" not in {
        f["rule"] for f in same_country["findings"] if f["company"] in ("Google", "Mixpanel")
    }


def test_bad_home_country_is_rejected() -> None:
    with pytest.raises(RulesError, match="ISO 3166"):
        default_rules().with_thresholds(home_country="Canada")


def test_custom_rule_file(tmp_path: Path) -> None:
    rules_file = tmp_path / "strict.toml"
    rules_file.write_text(
        """
[thresholds]
first_seconds = 60
[[rule]]
id = "any-tracker-early"
title = "Any tracker in the first minute"
severity = "high"
scope = "destination"
policy_refs = ["eu-eprivacy-consent"]
[rule.when]
is_tracker = true
within_first_seconds = true
""",
        encoding="utf-8",
    )
    rules = load_rules(rules_file)
    assert rules.source == str(rules_file) and len(rules.sha256) == 64
    report = audit(rules)
    assert {f["rule"] for f in report["findings"]} == {"any-tracker-early"}
    assert {f["severity"] for f in report["findings"]} == {"high"}
    assert "api.amplitude.com" in {f["host"] for f in report["findings"]}  # +30 s is inside 60 s


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]\nid=", "not valid TOML"),
        ('[[rule]]\nid = "x"\ntitle = "t"\nseverity = "urgent"', "rule 'x'.*urgent"),
        ('[[rule]]\nid = "x"\ntitle = "t"\nseverity = "low"\n[rule.when]\ncolour = ["red"]', "unknown condition"),
        ('[[rule]]\nid = "x"\ntitle = "t"\nseverity = "low"\n[rule.when]\nwithin_first_seconds = true',
         "destination rules only"),
        ('[[rule]]\ntitle = "t"', "missing 'id'"),
        ("[thresholds]\nfirst_seconds = 3", "no \\[\\[rule\\]\\]"),
    ],
)
def test_invalid_rule_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(RulesError, match=f"^my.toml: .*{message}"):
        parse_rules(text, "my.toml")


def test_rule_scopes_are_split() -> None:
    rules = default_rules()
    assert all(r.scope is Scope.DETECTION for r in rules.detection_rules)
    assert {r.id for r in rules.destination_rules} == {
        "tracker-before-interaction", "uninspectable-tracker-connection", "personal-data-outside-home-country",
    }


def test_checklist_answers_from_evidence() -> None:
    report = audit()
    answers = {c["id"]: c for c in report["checklist"]}
    assert {c["id"] for c in report["checklist"]} == {e.id for e in load_catalogue()}
    assert answers["gdpr-art32-security"]["answer"] == "not_met"
    assert "stats.plainhttp.example" in answers["gdpr-art32-security"]["reason"]
    assert answers["on-ipc-agreement"]["answer"] == "not_determinable"
    # No home country: the transfer point cannot be answered from this traffic.
    assert answers["gdpr-art44-transfers"]["answer"] == "not_determinable"


def test_checklist_met_needs_enough_visible_traffic_and_ignores_info_findings() -> None:
    clean = [r for r in classroom_session() if r.host == f"api.{APP_DOMAIN}"]
    report = audit(records=clean)
    assert {f["severity"] for f in report["findings"]} == {"info"}
    answers = {c["id"]: c["answer"] for c in report["checklist"]}
    assert answers["gdpr-art5-minimisation"] == "met"  # cited only by an info finding
    assert answers["gdpr-art32-security"] == "met"
    hidden = [*clean, *[r for r in classroom_session() if r.kind.value == "tls"] * 40]
    answers = {c["id"]: c["answer"] for c in audit(records=hidden)["checklist"]}
    assert answers["gdpr-art32-security"] == "not_determinable"


def test_findings_first_seen_and_session_times_are_iso() -> None:
    report = audit()
    assert report["method"]["session_start"] == "2026-01-01T10:00:01Z"
    assert all(f["first_seen"].endswith("Z") for f in report["findings"])
    assert SESSION_START < 2_000_000_000


def test_policy_catalogue_entries_are_complete() -> None:
    entries = load_catalogue()
    sources = " ".join(e.source for e in entries)
    for name in ("Ontario", "CoSN", "Data Quality Campaign", "Wisconsin", "Autoriteit Persoonsgegevens",
                 "Hong Kong", "COPPA", "FERPA", "Article 5(1)(c)", "Article 8", "Article 9", "Articles 44"):
        assert name in sources, name
    for entry in entries:
        assert entry.url.startswith("https://"), entry.id
        assert len(entry.summary) > 80 and entry.traffic, entry.id
    cited = {ref for rule in default_rules().rules for ref in rule.policy_refs}
    testable = {e.id for e in entries if e.determinable != "no"}
    assert testable <= cited, testable - cited
