"""``auditor analyze`` rule options and ``auditor report``, through the real CLI on a real session folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_session import APP_DOMAIN, classroom_session

from auditor.cli import ExitCode, main


@pytest.fixture
def session(tmp_path: Path) -> Path:
    folder = tmp_path / "session"
    folder.mkdir()
    with (folder / "records.jsonl").open("w", encoding="utf-8") as handle:
        for record in classroom_session():
            handle.write(json.dumps(record.to_json()) + "\n")
    return folder


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env={"CLASSROOM_AUDITOR_SALT": "cli-test", **(env or {})})


def test_analyze_with_home_country_and_first_seconds(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run("analyze", str(session), "--app-domain", APP_DOMAIN, "--home-country", "ca",
                 "--first-seconds", "1.5", "--json", str(out), "--html", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["rules"]["thresholds"] == {"first_seconds": 1.5, "home_country": "CA", "min_confidence": 0.5,
                                             "checklist_min_visible": 0.8}
    early = {f["host"] for f in report["findings"] if f["rule"] == "tracker-before-interaction"}
    assert early == {"app-measurement.com"}
    assert any(f["rule"] == "personal-data-outside-home-country" for f in report["findings"])
    assert (tmp_path / "r.html").stat().st_size > 1_000_000


def test_analyze_with_a_custom_rule_file(session: Path, tmp_path: Path) -> None:
    rules = tmp_path / "only-http.toml"
    rules.write_text('[[rule]]\nid = "clear-text"\ntitle = "Clear text"\nseverity = "low"\n'
                     'policy_refs = ["gdpr-art32-security"]\n[rule.when]\nencrypted = false\n')
    out = tmp_path / "report.json"
    result = run("analyze", str(session), "--app-domain", APP_DOMAIN, "--rules", str(rules), "--json", str(out),
                 "--fail-on", "low")
    assert result.exit_code == ExitCode.FINDINGS, result.output
    report = json.loads(out.read_text())
    assert {f["rule"] for f in report["findings"]} == {"clear-text"}
    assert report["rules"]["source"] == str(rules)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--home-country", "Canada"], "not a two-letter ISO 3166-1 country code"),
        (["--rules", "/nonexistent/rules.toml"], "/nonexistent/rules.toml: cannot read the rule file"),
        (["--first-seconds", "-1"], "--first-seconds"),
    ],
)
def test_bad_rule_options_are_usage_errors(session: Path, args: list[str], message: str) -> None:
    result = run("analyze", str(session), *args)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.output


def test_pdf_without_chromium_is_an_output_error(session: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run("analyze", str(session), "--json", str(out), "--pdf", str(tmp_path / "r.pdf"),
                 env={"CLASSROOM_AUDITOR_CHROMIUM": str(tmp_path / "no-chromium")})
    assert result.exit_code == ExitCode.OUTPUT_ERROR
    assert f"Error: cannot write {tmp_path / 'r.pdf'}:" in result.output
    assert out.exists(), "the other outputs are still written"
    assert not (tmp_path / "r.pdf").exists()


def test_report_command_rerenders_html_and_csv(session: Path, tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    assert run("analyze", str(session), "--app-domain", APP_DOMAIN, "--json", str(saved)).exit_code == 0
    html, csv_dir = tmp_path / "again.html", tmp_path / "csv"
    result = run("report", str(saved), "--html", str(html), "--csv", str(csv_dir))
    assert result.exit_code == 0, result.output
    assert "Guidance checklist" in html.read_text()
    assert (csv_dir / "findings.csv").read_text().startswith("severity,rule,")
    nothing = run("report", str(saved))
    assert nothing.exit_code == ExitCode.USAGE and "nothing to do" in nothing.output


def test_report_command_names_the_first_problem_of_a_damaged_report(session: Path, tmp_path: Path) -> None:
    good = tmp_path / "report.json"
    assert run("analyze", str(session), "--json", str(good)).exit_code == 0
    data = json.loads(good.read_text())
    del data["destinations"][0]["party"]
    saved = tmp_path / "invalid-report.json"  # the suite's schema check leaves invalid*.json alone
    saved.write_text(json.dumps(data))
    result = run("report", str(saved), "--html", str(tmp_path / "r.html"))
    assert result.exit_code == ExitCode.INPUT_ERROR
    assert f"Error: {saved}: not a valid report: destinations/0: 'party' is a required property" in result.output
    assert not (tmp_path / "r.html").exists()
