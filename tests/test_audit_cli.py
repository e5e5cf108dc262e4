"""Silent cases speak: one line on stderr where a user would otherwise be left guessing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import pinned_env, run_analyze
from pcap_builders import client_hello, dns_exchange, tcp_session, write_pcap

from auditor.cli import ExitCode

TRACKER_IP = "142.250.74.78"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return pinned_env(tmp_path / "auditor-data")


def write_har(path: Path, *urls: str) -> Path:
    entries = [{
        "startedDateTime": "2026-01-01T10:00:00Z",
        "request": {"method": "GET", "url": url, "headers": []},
        "response": {"status": 200, "content": {"mimeType": "text/html"}},
    } for url in urls]
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}), encoding="utf-8")
    return path


def tls_capture(path: Path, host: str = "app-measurement.com") -> Path:
    packets = dns_exchange(host, [("A", TRACKER_IP)])
    packets += tcp_session(TRACKER_IP, 443, [client_hello(host)])
    return write_pcap(path, packets)


def test_a_key_log_that_opens_nothing_says_so_with_counts(tmp_path: Path, env: dict[str, str]) -> None:
    keylog = tmp_path / "keys.log"
    keylog.write_text(f"CLIENT_RANDOM {'11' * 32} {'22' * 48}\nCLIENT_RANDOM {'33' * 32} {'44' * 48}\n")
    run = run_analyze(["analyze", tls_capture(tmp_path / "c.pcap"), "--app-domain", "classroom.example",
                       "--keylog", keylog, "--json", tmp_path / "r.json"], env)
    assert run.exit_code == ExitCode.CLEAN, run.stderr
    lines = [line for line in run.stderr.splitlines() if "opened none" in line]
    assert len(lines) == 1
    assert str(keylog) in lines[0] and str(tmp_path / "c.pcap") in lines[0]
    assert "2 sessions in the log, 1 TLS sessions in the capture, opened 0" in lines[0]


def test_a_tls_only_capture_states_an_inconclusive_verdict_and_its_coverage(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # A vendor API no list knows: nothing to be concerned about was seen, and nothing could be read.
    capture = tls_capture(tmp_path / "c.pcap", "api.example-vendor.net")
    run = run_analyze(["analyze", capture, "--app-domain", "classroom.example", "--json", tmp_path / "r.json"], env)
    assert run.report is not None and run.report["summary"]["verdict"] == "inconclusive"
    assert run.report["summary"]["coverage"] == 0.0
    assert "Verdict: Inconclusive." in run.stderr
    assert "Coverage: 0% of the requests to third parties could be read" in run.stderr
    assert "--keylog" in run.stderr  # how to see what was hidden


def test_keylog_with_a_har_is_named_as_not_applying(tmp_path: Path, env: dict[str, str]) -> None:
    keylog = tmp_path / "keys.log"
    keylog.write_text(f"CLIENT_RANDOM {'11' * 32} {'22' * 48}\n")
    har = write_har(tmp_path / "page.har", "https://classroom.example/")
    run = run_analyze(["analyze", har, "--app-domain", "classroom.example", "--keylog", keylog,
                       "--json", tmp_path / "r.json"], env)
    assert run.exit_code == ExitCode.CLEAN
    (line,) = [line for line in run.stderr.splitlines() if "--keylog" in line]
    assert line.startswith("warning:") and f"{har} (HAR)" in line


def test_analyze_with_nothing_to_write_says_where_a_report_could_go(tmp_path: Path, env: dict[str, str]) -> None:
    har = write_har(tmp_path / "page.har", "https://classroom.example/")
    run = run_analyze(["analyze", har, "--app-domain", "classroom.example"], env)
    assert run.exit_code == ExitCode.CLEAN
    (line,) = [line for line in run.stderr.splitlines() if "no report written" in line]
    assert "--html" in line and "--json" in line
    written = run_analyze(["analyze", har, "--app-domain", "classroom.example", "--json", tmp_path / "r.json"], env)
    assert "no report written" not in written.stderr


def test_the_example_profile_does_not_pass_check_and_analyze_warns(tmp_path: Path, env: dict[str, str]) -> None:
    profile = tmp_path / "device.toml"
    assert run_analyze(["profile", "init", profile], env).exit_code == ExitCode.CLEAN
    check = run_analyze(["profile", "check", profile], env)
    assert check.exit_code == ExitCode.INPUT_ERROR
    assert "valid" not in check.stdout
    assert "still the examples" in check.stderr and "advertising_id" in check.stderr

    har = write_har(tmp_path / "page.har", "https://classroom.example/")
    run = run_analyze(["analyze", har, "--app-domain", "classroom.example", "--profile", profile,
                       "--json", tmp_path / "r.json"], env)
    (line,) = [line for line in run.stderr.splitlines() if "still the examples" in line]
    assert line.startswith("warning:") and str(profile) in line

    # Filled in with the device's own values (the synthetic student may stay), it passes.
    text = profile.read_text().replace("3f2c8a1e-5b7d-4c9e-a1f0-6d2b8e4c7a19", "9b1d2e3f-0a4c-4d5e-8f6a-7b8c9d0e1f2a")
    for example in ("9774d56d682e549c", "358240051111110", "R58M1234ABC", "02:1a:3b:4c:5d:6e", "192.168.50.23",
                    "203.0.113.45", "ClassroomLab-5G", "a4:2b:b0:11:22:33"):
        text = text.replace(f'"{example}"', '""')
    text = text.replace("latitude = 52.370216", "latitude = 52.1").replace("longitude = 4.895168", "longitude = 5.1")
    profile.write_text(text)
    filled = run_analyze(["profile", "check", profile], env)
    assert filled.exit_code == ExitCode.CLEAN, filled.stderr
    assert "valid" in filled.stdout


def test_the_proxys_certificate_page_is_the_tools_traffic(tmp_path: Path, env: dict[str, str]) -> None:
    har = write_har(tmp_path / "setup.har", "https://classroom.example/", "http://mitm.it/", "http://mitm.it/cert/pem")
    run = run_analyze(["analyze", har, "--app-domain", "classroom.example", "--json", tmp_path / "r.json"], env)
    assert run.report is not None
    (mitm,) = [d for d in run.report["destinations"] if d["host"] == "mitm.it"]
    assert mitm["tool_traffic"] is True and mitm["party"] == "local"
    assert run.report["summary"]["third_parties"] == 0
    (line,) = [line for line in run.stderr.splitlines() if "mitm.it" in line]
    assert "tool's traffic" in line
