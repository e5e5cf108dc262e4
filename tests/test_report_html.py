"""The HTML report and the other formats, without a browser: content, escaping, self-containment."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from synthetic_session import APP_DOMAIN, HOSTILE_HOST, HOSTILE_URL, HOSTILE_VALUE, classroom_session

from auditor.analysis import Analysis, AnalysisConfig
from auditor.findings import default_rules
from auditor.report import OutputFormat, build_report
from auditor.report.formats import ReportFormat, write_report
from auditor.report.html import content_security_policy, render_html


@pytest.fixture(scope="module")
def report() -> dict:
    config = AnalysisConfig(app_domains=(APP_DOMAIN,), app_name="Sample <b>classroom</b> app", salt=b"t",
                            rules=default_rules().with_thresholds(home_country="CA"))
    analysis = Analysis(config)
    for record in classroom_session(hostile=True):
        analysis.add(record)
    return build_report(analysis, generated_at="2026-01-01T12:00:00Z")


@pytest.fixture(scope="module")
def page(report: dict) -> str:
    return render_html(report)


def test_to_format_is_exhaustive(report: dict) -> None:
    for member in OutputFormat:
        renderer = member.to_format()
        assert isinstance(renderer, ReportFormat)
        assert renderer.render(report).strip(), member


def test_written_file_equals_the_rendered_content(report: dict, tmp_path: Path) -> None:
    weird = {**report, "app": {**report["app"], "name": "lone \ud800 surrogate"}}
    for member in OutputFormat:
        path = write_report(weird, member, tmp_path / f"out-{member.value}")
        written = path.read_text(encoding="utf-8")
        if member is OutputFormat.HTML:  # plotly gives each figure a random element id
            assert written.startswith("<!DOCTYPE html>") and "lone \\ud800 surrogate" in written
        else:
            assert written == member.to_format().render(weird), member
    assert json.loads((tmp_path / "out-json").read_text(encoding="utf-8"))["app"]["name"] == "lone \ud800 surrogate"
    assert not list(tmp_path.glob(".*.tmp"))


def test_sections_a_reviewer_needs_are_present(page: str) -> None:
    for anchor in ("verdict", "recipients", "flows", "map", "timeline", "findings", "destinations", "coverage",
                   "provenance", "checklist"):
        assert f"id='{anchor}'" in page, anchor
    # The checklist is the last section.
    assert page.rindex("id='sec-checklist'") > page.rindex("id='sec-provenance'")
    assert "Guidance points not met" in page
    assert "Mixpanel" in page and "Precise location" in page  # data types in words (slugs stay in JSON/CSV)


def test_plotly_is_embedded_once_and_nothing_is_fetched(page: str) -> None:
    assert page.count("Plotly.newPlot") >= 3  # Sankey, map, timeline
    assert len(page) < 15 * 1024 * 1024
    # No tag loads anything from elsewhere.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page, re.IGNORECASE)
    assert "cdn.plot.ly" not in page.split("<script>", 1)[0]
    assert "connect-src 'none'" in page and "default-src 'none'" in page


def test_hostile_capture_content_is_escaped(page: str, report: dict) -> None:
    # The hostile strings really are in the report data...
    assert any(d["host"] == HOSTILE_HOST for d in report["destinations"])
    # ...but never reach the page as markup.
    body = page.split("</head>", 1)[1]
    assert HOSTILE_HOST not in body
    assert "<script>window.__pwned" not in page
    assert HOSTILE_VALUE not in page
    assert "<img" not in body
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in body
    assert HOSTILE_URL not in re.findall(r"href='([^']*)'", body)
    assert "Sample &lt;b&gt;classroom&lt;/b&gt; app" in page


def test_only_the_pages_own_scripts_are_allowed(page: str) -> None:
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.DOTALL)
    policy = re.search(r"Content-Security-Policy' content=\"([^\"]+)\"", page).group(1)  # type: ignore[union-attr]
    assert policy.count("'sha256-") == len(set(scripts))
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert content_security_policy("<p>no script</p>").startswith("default-src 'none'; script-src ;")


def test_no_raw_personal_value_in_any_format(report: dict) -> None:
    for member in OutputFormat:
        text = member.to_format().render(report)
        for raw in ("ana.student@example.org", "43.65323", "6d92078a-8246-4ba4-ae5b-76104861e7dc", "S-2291-77"):
            assert raw not in text, (member, raw)


def test_csv_findings_have_destination_details_and_no_formula_cells(report: dict) -> None:
    rows = list(csv.DictReader(io.StringIO(OutputFormat.CSV_FINDINGS.to_format().render(report))))
    assert len(rows) == len(report["findings"])
    early = [r for r in rows if r["rule"] == "tracker-before-interaction"]
    assert early and all("session started" in r["detail"] for r in early)
    assert not any(cell[:1] in "=+@" for row in rows for cell in row.values() if cell)


def test_json_is_the_contract_plus_extensions(report: dict) -> None:
    data = json.loads(OutputFormat.JSON.to_format().render(report))
    assert data["schema"] == "classroom-auditor.report/1"
    for key in ("rule", "severity", "data_type", "host", "company", "party", "where", "key", "encoding",
                "masked_value", "fingerprint", "count", "first_seen", "policy_refs"):
        assert all(key in f for f in data["findings"]), key
    assert {c["answer"] for c in data["checklist"]} <= {"met", "not_met", "not_determinable"}
    assert data["rules"]["thresholds"]["home_country"] == "CA"


def test_empty_report_renders() -> None:
    page = render_html(build_report(Analysis(AnalysisConfig(salt=b"t")), generated_at="2026-01-01T00:00:00Z"))
    assert "No finding" in page and "No timed requests" in page


def test_renders_a_minimal_contract_report(report: dict) -> None:
    """A saved report with only the contract's keys (another tool, an older version) still renders."""
    contract = {key: report[key] for key in ("schema", "generated_at", "tool", "inputs", "trackers_db", "app",
                                             "summary", "destinations", "findings")}
    page = render_html(json.loads(json.dumps(contract)))
    assert "No checklist in this report" in page and "api.mixpanel.com" in page
