"""The audit stage: seen vs read, the verdict with its coverage, severity by purpose, one place that decides."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO, SAMPLE_CAPTURE, shared_capture

from auditor.analysis import Analysis, AnalysisConfig
from auditor.audit import Verdict, run_audit
from auditor.classify import Party
from auditor.detect import DataType, Detection, Where
from auditor.findings import default_rules, parse_rules
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report.diff import diff_reports
from auditor.report.model import build_report
from trackers_db.vocabulary import Category

T0 = 1_700_000_000.0
AD_ID = "3f2c8a1e-5b7d-4c9e-a1f0-6d2b8e4c7a19"


def http(host: str, url: str, time: float = T0) -> Record:
    return Record(kind=RecordKind.HTTP, time=time, source=SourceKind.HAR, host=host, host_source=HostSource.URL,
                  protocol="HTTP/1.1", content_visible=True, encrypted=True, method="GET", url=url)


def dns(host: str, ip: str, time: float = T0) -> Record:
    # Sources build DNS records as "content visible": the query name was readable.
    return Record(kind=RecordKind.DNS, time=time, source=SourceKind.PCAP, host=host,
                  host_source=HostSource.DNS_QUERY, protocol="DNS", content_visible=True, dns_answers=(ip,))


def tls_only(host: str, ip: str, time: float = T0) -> Record:
    return Record(kind=RecordKind.TLS, time=time, source=SourceKind.PCAP, host=host, host_source=HostSource.SNI,
                  server_ip=ip, server_port=443, protocol="TLS", encrypted=True, content_visible=False,
                  note="encrypted; no TLS key log given")


def analysed(records: list[Record], **config: object) -> Analysis:
    analysis = Analysis(AnalysisConfig(**config))  # type: ignore[arg-type]
    for record in records:
        analysis.add(record)
    return analysis


# -- seen vs read ----------------------------------------------------------------------------------


def test_a_dns_lookup_is_seen_never_read_and_the_tracker_behind_tls_gets_could_not_inspect() -> None:
    # Contacted a minute into the session: no "before any interaction" concern, only what could not be read.
    audit = run_audit(analysed([tls_only("classroom.example", "192.0.2.10"),
                                dns("app-measurement.com", "142.250.1.1", T0 + 60),
                                tls_only("app-measurement.com", "142.250.1.1", T0 + 61)],
                               app_domains=("classroom.example",)))
    (destination, c), = [(d, c) for d, c in audit.destinations if c.host == "app-measurement.com"]
    assert (destination.requests, destination.requests_read, destination.bytes_read) == (1, 0, 0)
    assert not destination.content_visible
    assert c.is_tracker
    assert "uninspectable-tracker-connection" in {f.rule for f in audit.findings if f.host == c.host}
    assert audit.coverage.share == 0.0
    assert audit.verdict is Verdict.INCONCLUSIVE


def test_android_capture_app_measurement_is_not_read_and_gets_could_not_inspect() -> None:
    analysis = Analysis()
    analysis.add_input(shared_capture("ndpi_android.pcap"))
    report = build_report(run_audit(analysis), generated_at="2026-01-01T00:00:00Z")
    measurement = next(d for d in report["destinations"] if d["host"] == "app-measurement.com")
    assert measurement["content_visible"] is False and measurement["requests_read"] == 0
    rules = {f["rule"] for f in report["findings"] if f["host"] == "app-measurement.com"}
    assert "uninspectable-tracker-connection" in rules
    assert report["summary"]["verdict"] == "inconclusive"
    assert report["summary"]["coverage"] < 0.8
    assert any("--keylog" in tip for tip in report["coverage"]["how_to_see"])


# -- the verdict -----------------------------------------------------------------------------------


def test_all_read_and_nothing_found_is_no_concerns_seen() -> None:
    audit = run_audit(analysed([http("classroom.example", "https://classroom.example/lesson/3"),
                                http("cdn.jsdelivr.net", "https://cdn.jsdelivr.net/npm/x.js")],
                               app_domains=("classroom.example",)))
    assert not audit.concerns
    assert audit.coverage.share == 1.0
    assert audit.verdict is Verdict.NO_CONCERNS_SEEN


def test_below_the_threshold_is_inconclusive_and_the_threshold_comes_from_the_rules_file() -> None:
    records = [http("classroom.example", "https://classroom.example/"),
               http("cdn.jsdelivr.net", "https://cdn.jsdelivr.net/npm/x.js"),
               tls_only("api.example-vendor.net", "198.51.100.7")]
    audit = run_audit(analysed(records, app_domains=("classroom.example",)))
    assert audit.coverage.share == 0.5
    assert audit.verdict is Verdict.INCONCLUSIVE
    assert "50%" in audit.verdict_reason and "api.example-vendor.net" not in audit.verdict_reason
    assert {a["answer"] for a in audit.checklist} <= {"not_determinable", "not_met"}

    lenient = default_rules().with_thresholds(checklist_min_visible=0.5)
    audit = run_audit(analysed(records, app_domains=("classroom.example",), rules=lenient))
    assert audit.verdict is Verdict.NO_CONCERNS_SEEN
    assert any(a["answer"] == "met" for a in audit.checklist)


def test_nothing_analysed_is_inconclusive() -> None:
    audit = run_audit(Analysis())
    assert audit.verdict is Verdict.INCONCLUSIVE
    assert all(a["answer"] != "met" for a in audit.checklist)


def test_har_and_flow_file_of_the_same_requests_do_not_flip_the_checklist() -> None:
    reports = []
    for name in ("mitmproxy_diff_data.har", "mitmproxy_diff_data.mitm"):
        analysis = Analysis()
        analysis.add_input(shared_capture(name))
        reports.append(build_report(analysis, generated_at="2026-01-01T00:00:00Z"))
    har, flows = reports
    diff = diff_reports(har, flows)
    assert diff["checklist_changes"] == []
    assert diff["summary"]["verdict"] == {"old": "concerns", "new": "concerns"}
    assert diff["summary"]["coverage"] == {"old": 1.0, "new": 1.0}


# -- severity by purpose ----------------------------------------------------------------------------

CLASSROOM = ("classroom.google.com",)
MEASUREMENT_URL = f"https://app-measurement.com/a?adid={AD_ID}&lat=52.370216&lng=4.895168"


def _worst_by_type(audit_findings: tuple, host: str) -> dict[str, str]:
    return {str(f.data_type): f.severity.value for f in audit_findings if f.host == host and f.data_type}


def test_google_classroom_does_not_make_app_measurement_first_party_or_low() -> None:
    records = [http("classroom.google.com", "https://classroom.google.com/u/0/h"), http("app-measurement.com",
                                                                                        MEASUREMENT_URL)]
    audit = run_audit(analysed(records, app_domains=CLASSROOM))
    c = next(c for _, c in audit.destinations if c.host == "app-measurement.com")
    assert (c.party, c.category, c.same_company_as_app, c.party_basis) == (Party.THIRD, "analytics", True, None)
    assert _worst_by_type(audit.findings, "app-measurement.com") == {
        "advertising_id": "high", "precise_location": "high"}
    assert audit.verdict is Verdict.CONCERNS


def test_personal_data_to_an_analytics_service_keeps_its_severity_even_as_first_party() -> None:
    # A rule file where the same company does make every service first party: purpose still decides.
    text = (REPO / "auditor/rules/default.toml").read_text(encoding="utf-8")
    rules = parse_rules(text.replace("same_company_stays_third = [", "same_company_stays_third = [] # ["), "test")
    records = [http("classroom.google.com", "https://classroom.google.com/u/0/h"), http("app-measurement.com",
                                                                                        MEASUREMENT_URL)]
    audit = run_audit(analysed(records, app_domains=CLASSROOM, rules=rules))
    c = next(c for _, c in audit.destinations if c.host == "app-measurement.com")
    assert (c.party, c.party_basis) == (Party.FIRST, "same_company")
    assert set(_worst_by_type(audit.findings, "app-measurement.com").values()) == {"high"}


def test_same_company_service_that_is_not_ads_or_analytics_stays_first_party_with_its_basis() -> None:
    audit = run_audit(analysed([http("accounts.google.com", "https://accounts.google.com/o")], app_domains=CLASSROOM))
    (_, c), = audit.destinations
    assert (c.party, c.party_basis) == (Party.FIRST, "same_company")
    report = build_report(audit, generated_at="2026-01-01T00:00:00Z")
    assert report["destinations"][0]["party_basis"] == "same_company"


# -- one place decides ------------------------------------------------------------------------------


def test_rendering_the_same_audit_twice_gives_the_same_json_and_leaves_the_analysis_alone() -> None:
    analysis = Analysis(AnalysisConfig(app_domains=("classroom.example",)))
    analysis.add_input(SAMPLE_CAPTURE)
    audit = run_audit(analysis)
    findings_before = [f.to_json() for f in analysis.findings.findings()]
    first = json.dumps(build_report(audit, generated_at="2026-01-01T00:00:00Z"), sort_keys=True)
    second = json.dumps(build_report(audit, generated_at="2026-01-01T00:00:00Z"), sort_keys=True)
    assert first == second
    assert [f.to_json() for f in analysis.findings.findings()] == findings_before
    # Later records (a live session goes on) do not change an audit already decided.
    analysis.add(http("api.mixpanel.com", f"https://api.mixpanel.com/track?adid={AD_ID}", T0 + 5))
    assert json.dumps(build_report(audit, generated_at="2026-01-01T00:00:00Z"), sort_keys=True) == first


def test_data_types_and_categories_are_enums_and_json_keeps_their_strings() -> None:
    detection = Detection("email", Where.BODY, "email", "plain", 1.0, "m***@***", "fp", "test")
    assert detection.data_type is DataType.EMAIL
    with pytest.raises(ValueError):
        Detection("e-mail", Where.BODY, "email", "plain", 1.0, "m***@***", "fp", "test")
    audit = run_audit(analysed([http("app-measurement.com", MEASUREMENT_URL)], app_domains=("classroom.example",)))
    c = next(c for _, c in audit.destinations if c.host == "app-measurement.com")
    assert c.category is Category.ANALYTICS
    report = build_report(audit, generated_at="2026-01-01T00:00:00Z")
    assert json.loads(json.dumps(report))["destinations"][0]["category"] == "analytics"


def test_trackers_db_does_not_import_auditor() -> None:
    code = ("import sys, trackers_db.database as d; d.load_database(); "
            "print(sorted(m for m in sys.modules if m == 'auditor' or m.startswith('auditor.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True,
                          timeout=120)
    assert done.stdout.strip() == "[]"


# -- the tool's own traffic --------------------------------------------------------------------------


def test_mitm_it_is_the_tools_own_traffic_not_a_third_party() -> None:
    audit = run_audit(analysed([http("classroom.example", "https://classroom.example/"),
                                http("mitm.it", "http://mitm.it/cert/pem")], app_domains=("classroom.example",)))
    c = next(c for _, c in audit.destinations if c.host == "mitm.it")
    assert c.tool_traffic and c.party is Party.LOCAL
    report = build_report(audit, generated_at="2026-01-01T00:00:00Z")
    assert report["summary"]["third_parties"] == 0
    assert not any(f.host == "mitm.it" for f in audit.findings)
    assert report["summary"]["verdict"] == "no_concerns_seen"


def test_the_html_page_of_a_tls_only_capture_is_inconclusive_not_green() -> None:
    from auditor.report import OutputFormat

    audit = run_audit(analysed([tls_only("classroom.example", "192.0.2.10"),
                                tls_only("api.example-vendor.net", "198.51.100.7", T0 + 60)],
                               app_domains=("classroom.example",)))
    page = OutputFormat.HTML.to_format().render(build_report(audit, generated_at="2026-01-01T00:00:00Z"))
    verdict = page.split("id='verdict'", 1)[1].split("</div>", 1)[0]
    assert "class='verdict ok'" not in page
    assert "Inconclusive: Only 0% of third-party traffic could be read" in verdict
    assert "--keylog" in verdict  # how to see what was hidden


def test_the_live_view_names_mitm_it_as_the_proxys_own_page() -> None:
    from auditor.live.session import destination_event, format_event

    analysis = analysed([http("mitm.it", "http://mitm.it/cert/pem")], app_domains=("classroom.example",))
    line = format_event(destination_event(analysis.classification("mitm.it"), T0))
    assert line is not None and "mitm.it" in line and "not the app's" in line and "third party" not in line
