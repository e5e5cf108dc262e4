"""``auditor diff``: two saved reports in, changes out (terminal, HTML, JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_session import APP_DOMAIN, HOSTILE_HOST, classroom_session

from auditor.analysis import Analysis, AnalysisConfig
from auditor.cli import ExitCode, main
from auditor.report import OutputFormat, build_report, write_report
from auditor.report.diff import diff_reports, has_changes


def saved(tmp_path: Path, name: str, records) -> Path:
    analysis = Analysis(AnalysisConfig(app_domains=(APP_DOMAIN,), salt=b"same-installation"))
    for record in records:
        analysis.add(record)
    return write_report(build_report(analysis, generated_at="2026-01-01T12:00:00Z"), OutputFormat.JSON,
                        tmp_path / name)


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    session = classroom_session(hostile=True)
    # Version 1 had no Mixpanel; version 2 dropped the plain-HTTP stats host and added Mixpanel.
    old = [r for r in session if r.host != "api.mixpanel.com"]
    new = [r for r in session if r.host != "stats.plainhttp.example"]
    return saved(tmp_path, "v1.json", old), saved(tmp_path, "v2.json", new)


def test_diff_lists_new_and_gone_destinations_companies_data_types_and_findings(versions) -> None:
    old, new = (json.loads(p.read_text()) for p in versions)
    diff = diff_reports(old, new)
    assert [d["host"] for d in diff["destinations"]["new"]] == ["api.mixpanel.com"]
    assert [d["host"] for d in diff["destinations"]["gone"]] == ["stats.plainhttp.example"]
    assert diff["companies"]["new"] == ["Mixpanel"]
    assert "precise_location" in diff["data_types"]["new"]
    assert ["Mixpanel", "precise_location"] in diff["flows"]["new"]
    assert {f["rule"] for f in diff["findings"]["gone"]} >= {"personal-data-over-http"}
    assert {f["rule"] for f in diff["findings"]["new"]} >= {"precise-location-to-third-party"}
    changes = {c["id"]: (c["old"], c["new"]) for c in diff["checklist_changes"]}
    assert changes["gdpr-art32-security"] == ("not_met", "met")
    assert has_changes(diff)
    assert not has_changes(diff_reports(old, old))


def test_severity_changes_are_reported(tmp_path: Path) -> None:
    session = classroom_session()
    old = json.loads(saved(tmp_path, "a.json", session).read_text())
    new = json.loads(json.dumps(old))
    target = next(f for f in new["findings"] if f["severity"] == "medium" and f["data_type"])
    target["severity"] = "high"
    [change] = diff_reports(old, new)["severity_changes"]
    assert (change["host"], change["old"], change["new"]) == (target["host"], "medium", "high")


def test_cli_diff_terminal_html_json_and_exit_codes(versions, tmp_path: Path) -> None:
    old, new = versions
    html, data = tmp_path / "diff.html", tmp_path / "diff.json"
    result = CliRunner().invoke(main, ["diff", str(old), str(new), "--html", str(html), "--json", str(data)])
    assert result.exit_code == 0, result.output
    assert "+ api.mixpanel.com" in result.output and "- stats.plainhttp.example" in result.output
    page = html.read_text()
    assert "api.mixpanel.com" in page and "<script" not in page
    assert HOSTILE_HOST not in page  # present in both versions, so not listed; and never unescaped
    assert json.loads(data.read_text())["schema"] == "classroom-auditor.diff/1"
    same = CliRunner().invoke(main, ["diff", str(old), str(old), "--fail-on-change"])
    assert same.exit_code == 0 and "No change" in same.output
    changed = CliRunner().invoke(main, ["diff", str(old), str(new), "--fail-on-change"])
    assert changed.exit_code == ExitCode.FINDINGS


def test_cli_diff_names_a_file_that_is_not_a_report(versions, tmp_path: Path) -> None:
    old, _ = versions
    bogus = tmp_path / "notes.json"
    bogus.write_text('{"hello": 1}')
    result = CliRunner().invoke(main, ["diff", str(old), str(bogus)])
    assert result.exit_code == ExitCode.INPUT_ERROR
    assert f"Error: {bogus}: not a classroom-auditor.report/1 report" in result.output
    missing = CliRunner().invoke(main, ["diff", str(old), str(tmp_path / "nope.json")])
    assert missing.exit_code == ExitCode.INPUT_ERROR and "cannot read" in missing.output


def test_hostile_names_in_diff_html_are_escaped(tmp_path: Path) -> None:
    plain = saved(tmp_path, "plain.json", [r for r in classroom_session() if r.host == f"api.{APP_DOMAIN}"])
    hostile = saved(tmp_path, "hostile.json", classroom_session(hostile=True))
    out = tmp_path / "d.html"
    result = CliRunner().invoke(main, ["diff", str(plain), str(hostile), "--html", str(out)])
    assert result.exit_code == 0
    page = out.read_text()
    assert HOSTILE_HOST not in page and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page
