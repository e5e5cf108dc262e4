"""The command line's contract: exit codes, one-line errors naming the file, stdout vs stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import SAMPLE_CAPTURE, pinned_env, run_analyze, run_auditor_process

from auditor import __version__
from auditor.cli import ExitCode


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return pinned_env(tmp_path / "auditor-data")


def analyze_sample(tmp_path: Path, env: dict[str, str], *extra: str) -> tuple[int, str, dict | None]:
    run = run_analyze(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example",
                       "--json", tmp_path / "report.json", *extra], env)
    return run.exit_code, run.stderr, run.report


def test_clean_run_exits_0_and_summarises_on_stderr(tmp_path: Path, env: dict[str, str]) -> None:
    run = run_analyze(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example",
                       "--json", tmp_path / "r.json", "--html", tmp_path / "r.html", "--csv", tmp_path / "csv"], env)
    assert run.exit_code == ExitCode.CLEAN
    assert run.stdout == ""
    report = run.report
    assert report is not None
    s = report["summary"]
    assert f"{s['destinations']} destinations, {s['third_parties']} third parties" in run.stderr
    assert "Precise location" in run.stderr and "precise_location" not in run.stderr  # words, not slugs
    for written in ("r.json", "r.html", "csv/destinations.csv", "csv/findings.csv"):
        assert (tmp_path / written).stat().st_size > 0
        assert f"wrote {tmp_path / written}" in run.stderr


@pytest.mark.parametrize(("threshold", "code"), [("high", ExitCode.FINDINGS), ("info", ExitCode.FINDINGS)])
def test_fail_on_exits_1_when_findings_reach_the_threshold(
    tmp_path: Path, env: dict[str, str], threshold: str, code: int
) -> None:
    exit_code, _, report = analyze_sample(tmp_path, env, "--fail-on", threshold)
    assert exit_code == code
    assert report is not None and any(f["severity"] == threshold for f in report["findings"])


def test_fail_on_exits_0_when_no_finding_reaches_the_threshold(tmp_path: Path, env: dict[str, str]) -> None:
    har = tmp_path / "quiet.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2026-01-01T10:00:00Z",
        "request": {"method": "GET", "url": "https://classroom.example/", "headers": []},
        "response": {"status": 200, "content": {"mimeType": "text/html"}},
    }]}}))
    run = run_analyze(["analyze", har, "--app-domain", "classroom.example", "--fail-on", "low",
                       "--json", tmp_path / "r.json"], env)
    assert run.exit_code == ExitCode.CLEAN, run.stderr
    assert run.report is not None and run.report["findings"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze"], "Missing argument 'INPUTS...'"),
        (["analyze", "x.mitm", "--no-such-option"], "No such option"),
        (["analyze", "x.mitm", "--fail-on", "catastrophic"], "Invalid value for '--fail-on'"),
        (["analyze", "x.mitm", "--body-cap", "10"], "Invalid value for '--body-cap'"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    run = run_analyze(args, env)
    assert run.exit_code == ExitCode.USAGE
    assert message in run.stderr


def test_unreadable_input_exits_3_and_the_other_inputs_are_still_reported(tmp_path: Path, env: dict[str, str]) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01not a capture\xff" * 50)
    missing = tmp_path / "missing.pcap"
    run = run_analyze(["analyze", garbage, SAMPLE_CAPTURE, missing, "--app-domain", "classroom.example",
                       "--json", tmp_path / "r.json", "--html", tmp_path / "r.html"], env)
    assert run.exit_code == ExitCode.INPUT_ERROR
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {garbage}: unknown format (expected pcap, pcapng, HAR, mitmproxy flow file or an "
                      "auditor session folder)", f"Error: {missing}: no such file or directory"]
    report = run.report
    assert report is not None and (tmp_path / "r.html").is_file()
    by_path = {i["path"]: i for i in report["inputs"]}
    assert by_path[str(SAMPLE_CAPTURE)]["records"] == 16
    assert by_path[str(garbage)]["records"] == 0 and by_path[str(garbage)]["problems"]
    assert report["findings"], "the readable input's findings must still be reported"


def test_damaged_input_warns_but_counts_what_was_read(tmp_path: Path, env: dict[str, str]) -> None:
    data = SAMPLE_CAPTURE.read_bytes()
    cut = tmp_path / "cut.mitm"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    run = run_analyze(["analyze", cut, "--json", tmp_path / "r.json"], env)
    assert run.exit_code == ExitCode.CLEAN
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {cut}: flow file damaged at byte ")
    assert run.report is not None and 0 < run.report["inputs"][0]["records"] < 16


def test_unwritable_output_exits_4_naming_the_file(tmp_path: Path, env: dict[str, str]) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    target = blocker / "report.json"
    run = run_analyze(["analyze", SAMPLE_CAPTURE, "--json", target], env)
    assert run.exit_code == ExitCode.OUTPUT_ERROR
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert line.startswith(f"Error: cannot write {target}: ")


def test_internal_error_exits_5_with_one_line(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    import auditor.cli.analyze as analyze_module

    def broken_report(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("simulated bug in report building")

    monkeypatch.setattr(analyze_module, "build_report", broken_report)
    run = run_analyze(["analyze", SAMPLE_CAPTURE], env)
    assert run.exit_code == ExitCode.INTERNAL_ERROR
    assert run.stderr.strip() == (
        "Error: internal error: RuntimeError: simulated bug in report building (run with --debug for the traceback)"
    )
    with pytest.raises(RuntimeError, match="simulated bug"):
        run_analyze(["--debug", "analyze", SAMPLE_CAPTURE], env)


def test_json_to_stdout_keeps_stdout_clean(tmp_path: Path, env: dict[str, str]) -> None:
    run = run_analyze(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--json", "-"], env)
    assert run.exit_code == ExitCode.CLEAN
    assert run.report is not None  # stdout parsed as one JSON document and validated
    assert json.loads(run.stdout) == run.report
    assert "destinations" in run.stderr and "destinations" not in run.stdout.splitlines()[0]


def test_session_folder_input(tmp_path: Path, env: dict[str, str]) -> None:
    from auditor.sources import ReadOptions
    from auditor.sources.mitmflows import read

    session = tmp_path / "session-2026-01-01"
    session.mkdir(mode=0o700)
    records = list(read(SAMPLE_CAPTURE, ReadOptions(), []))
    (session / "records.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    shutil.copyfile(SAMPLE_CAPTURE, session / "flows.mitm")
    from_session = run_analyze(["analyze", session, "--app-domain", "classroom.example", "--json", "-"], env)
    from_flows = run_analyze(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--json", "-"], env)
    assert from_session.exit_code == ExitCode.CLEAN
    assert from_session.report is not None and from_flows.report is not None
    assert from_session.report["inputs"][0]["format"] == "session"
    assert from_session.report["destinations"] == from_flows.report["destinations"]
    assert from_session.report["findings"] == from_flows.report["findings"]


@pytest.mark.slow
def test_python_dash_m_auditor_version() -> None:
    run = run_auditor_process(["--version"], timeout=60)
    assert run.exit_code == 0
    assert run.stdout.strip() == f"auditor, version {__version__}"


@pytest.mark.slow
def test_real_process_exit_code_and_stdout_report(tmp_path: Path) -> None:
    env = pinned_env(tmp_path / "data")
    bad = tmp_path / "empty.har"
    bad.touch()
    run = run_auditor_process(["analyze", bad, SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--json", "-"],
                              env, timeout=120)
    assert run.exit_code == ExitCode.INPUT_ERROR
    assert f"Error: {bad}: file is empty" in run.stderr
    assert run.report is not None and run.report["generated_at"] == "2026-01-01T10:00:00Z"


def test_interrupt_is_not_mistaken_for_findings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    import auditor.cli.analyze as analyze_module

    def interrupted(*args: object, **kwargs: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze_module, "build_report", interrupted)
    run = run_analyze(["analyze", SAMPLE_CAPTURE, "--fail-on", "high"], env)
    assert run.exit_code == ExitCode.INTERRUPTED == 130
    assert run.stderr.startswith("Aborted: interrupted")
