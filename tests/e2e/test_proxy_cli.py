"""``auditor proxy`` end to end: the real CLI starts a real mitmdump with the addon on 127.0.0.1.

A scripted classroom app (the recording rig's client: HTTP/1.1 and HTTP/2
through CONNECT tunnels, trusting only mitmproxy's fresh CA) and a pinned
client go through it; the stand-in servers play the app and the trackers on
loopback. SIGINT ends the session as Ctrl-C would. One proxy run is shared by
every test in this module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import pinned_env, run_analyze
from proxy_rig import (
    PINNED_HOST,
    REPO,
    child_env,
    pinned_client_attempt,
    rig_options,
    session_records,
    session_report,
    wait_for_ready,
)

pytestmark = pytest.mark.slow

STUDENT_EMAIL = "mia.testpupil@student.example"
ADVERTISING_ID = "5d2f8c1e-7b3a-4e9d-9c61-2a4b8e0f7d13"


@dataclass
class CliRun:
    """What one ``auditor proxy`` session produced."""

    exit_code: int
    stdout: str
    stderr: str
    folder: Path
    statuses: list[str]
    """The scripted client's log: one ``<status> <label>`` line per request."""
    pinned_error: str


@pytest.fixture(scope="module")
def cli_run() -> Iterator[CliRun]:
    from classroom_session import Proxy, run_session
    from standins import running_standins

    with tempfile.TemporaryDirectory(prefix="auditor-proxy-e2e-") as temp_name:
        temp = Path(temp_name)
        env = pinned_env(temp / "auditor-data")
        folder = temp / "sessions" / "lab-tablet-1"
        with running_standins(temp) as ports:
            command = [
                sys.executable, "-m", "auditor", "proxy",
                "--listen-host", "127.0.0.1", "--port", "0",
                "--sessions-dir", str(temp / "sessions"), "--session", "lab-tablet-1",
                "--confdir", str(temp / "mitmproxy-conf"),
                "--app-domain", "classroom.example", "--app-name", "Stand-in classroom app",
                "--report-every", "0",
                "--set", "connection_strategy=lazy", "--set", "ssl_insecure=true",
                *rig_options(ports.https, ports.http, [PINNED_HOST]),
            ]
            out, err = (temp / "stdout.txt").open("w+"), (temp / "stderr.txt").open("w+")
            process = subprocess.Popen(command, env=child_env(env), stdout=out, stderr=err, cwd=REPO)
            try:
                ready = wait_for_ready(folder, process)
                proxy = Proxy(ready["listen"][0]["port"], ready["ca_cert"])
                statuses = run_session(proxy, pause=0)
                pinned_error = pinned_client_attempt(proxy.port, temp / "standin-cert.pem")
                process.send_signal(signal.SIGINT)
                exit_code = process.wait(timeout=90)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            out.seek(0)
            err.seek(0)
            yield CliRun(exit_code, out.read(), err.read(), folder, statuses, pinned_error)
            out.close()
            err.close()


def test_cli_prints_device_setup_live_lines_and_where_the_reports_are(cli_run: CliRun) -> None:
    out = cli_run.stdout
    assert cli_run.exit_code == 0, cli_run.stderr
    assert out.index("Proxy (regular) listening on 127.0.0.1:") < out.index("new destination")
    assert "http://mitm.it" in out and "mitmproxy-ca-cert.pem" in out
    assert "new destination  app-measurement.com  Google" in out
    assert "new destination  graph.facebook.com  Meta" in out
    assert f"new destination  {PINNED_HOST}" in out
    assert "FINDING [high] Precise location → app-measurement.com" in out
    assert "FINDING [high] Voice recording → westeurope.stt.speech.microsoft.com" in out
    assert f"Session saved in {cli_run.folder}" in out
    assert f"report:  {cli_run.folder / 'report.html'}" in out
    # Children's data: no raw personal value on the terminal.
    assert STUDENT_EMAIL not in out and ADVERTISING_ID not in out


def test_traffic_passed_unchanged_and_the_report_names_destinations_and_findings(cli_run: CliRun) -> None:
    assert cli_run.statuses and all(line.startswith(("200", "204")) for line in cli_run.statuses), cli_run.statuses
    report = session_report(cli_run.folder)
    companies = {d["host"]: d["company"] for d in report["destinations"]}
    assert companies["app-measurement.com"] and "Google" in companies["app-measurement.com"]
    assert "Meta" in (companies["graph.facebook.com"] or "")
    assert "Mixpanel" in (companies["api.mixpanel.com"] or "")
    parties = {d["host"]: d["party"] for d in report["destinations"]}
    assert parties["api.classroom.example"] == "first" and parties["app-measurement.com"] == "third"
    found = {(f["data_type"], f["host"]) for f in report["findings"]}
    assert ("precise_location", "app-measurement.com") in found
    assert ("advertising_id", "graph.facebook.com") in found
    assert ("voice", "westeurope.stt.speech.microsoft.com") in found
    assert ("email", "api.mixpanel.com") in found
    html = (cli_run.folder / "report.html").read_text(encoding="utf-8")
    assert STUDENT_EMAIL not in html and ADVERTISING_ID not in html


def test_http1_and_http2_requests_are_both_recorded(cli_run: CliRun) -> None:
    protocols = {r["url"]: r["protocol"] for r in session_records(cli_run.folder) if r["kind"] == "http"}
    assert protocols["https://api.classroom.example/v1/lessons/12?class=5B"] == "HTTP/2"
    assert protocols["https://api.classroom.example/v1/lessons/13?class=5B"] == "HTTP/1.1"


def test_pinned_client_shows_up_as_not_visible(cli_run: CliRun) -> None:
    assert "certificate verify failed" in cli_run.pinned_error
    (pinned,) = [r for r in session_records(cli_run.folder) if r["host"] == PINNED_HOST]
    assert pinned["kind"] == "tls" and pinned["content_visible"] is False
    assert "pinning" in pinned["note"]
    (destination,) = [d for d in session_report(cli_run.folder)["destinations"] if d["host"] == PINNED_HOST]
    assert destination["content_visible"] is False and any("pinning" in n for n in destination["notes"])


def test_session_folder_is_owner_only_and_holds_every_part(cli_run: CliRun) -> None:
    names = {p.name for p in cli_run.folder.iterdir()}
    assert {"flows.mitm", "records.jsonl", "events.jsonl", "session.json", "report.json", "report.html"} <= names
    assert stat.S_IMODE(cli_run.folder.stat().st_mode) == 0o700
    for path in cli_run.folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    settings = json.loads((cli_run.folder / "session.json").read_text())
    assert settings["app_domains"] == ["classroom.example"] and settings["ended"] and settings["errors"] == 0


def _finding_keys(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["rule"], f["host"], f["data_type"]) for f in report["findings"]}


def test_auditor_analyze_rebuilds_the_same_report_from_the_session(cli_run: CliRun, tmp_path: Path) -> None:
    env = pinned_env(tmp_path / "auditor-data")
    live = session_report(cli_run.folder)
    rebuilt = run_analyze(
        ["analyze", cli_run.folder, "--app-domain", "classroom.example", "--json", tmp_path / "again.json"], env=env
    )
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.report is not None
    assert {d["host"] for d in rebuilt.report["destinations"]} == {d["host"] for d in live["destinations"]}
    assert _finding_keys(rebuilt.report) == _finding_keys(live)

    # The raw flows say the same about every HTTP destination (the pinned handshake has no flow).
    from_flows = run_analyze(
        ["analyze", cli_run.folder / "flows.mitm", "--app-domain", "classroom.example",
         "--json", tmp_path / "flows.json"],
        env=env,
    )
    assert from_flows.report is not None
    assert {d["host"] for d in from_flows.report["destinations"]} == {
        d["host"] for d in live["destinations"] if d["host"] != PINNED_HOST
    }
    assert _finding_keys(from_flows.report) == _finding_keys(live)
    assert os.stat(cli_run.folder / "flows.mitm").st_size > 0


def test_wireguard_mode_prints_the_client_configuration(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "sessions" / "wg"
    command = [
        sys.executable, "-m", "auditor", "proxy", "--mode", "wireguard", "--listen-host", "127.0.0.1",
        "--port", str(port), "--sessions-dir", str(tmp_path / "sessions"), "--session", "wg",
        "--confdir", str(tmp_path / "mitmproxy-conf"), "--report-every", "0",
    ]
    with (tmp_path / "out.txt").open("w+") as out:
        process = subprocess.Popen(
            command, env=child_env(pinned_env(tmp_path / "data")), stdout=out, stderr=subprocess.STDOUT, cwd=REPO
        )
        try:
            ready = wait_for_ready(folder, process)
            # The session is ready a moment before the CLI has printed the device setup: wait for it.
            deadline = time.monotonic() + 30
            while "Endpoint = " not in (tmp_path / "out.txt").read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        text = out.read()
    conf = Path(ready["wireguard_conf"])
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600  # it holds the client's private key
    assert "[Interface]" in text and "PrivateKey = " in text and f"Endpoint = 127.0.0.1:{port}" in text
    assert conf.read_text().strip() in text.replace("\n  ", "\n")
    assert "Session saved in" in text


def test_key_file_encrypts_the_raw_parts_and_analyze_opens_them_with_it(tmp_path: Path) -> None:
    from classroom_session import Proxy, run_session
    from standins import running_standins

    key = tmp_path / "lesson.key"
    key.write_text("correct horse battery staple\n")
    key.chmod(0o600)
    env = pinned_env(tmp_path / "auditor-data")
    folder = tmp_path / "sessions" / "encrypted"
    with running_standins(tmp_path) as ports:
        command = [
            sys.executable, "-m", "auditor", "proxy", "--listen-host", "127.0.0.1", "--port", "0",
            "--sessions-dir", str(tmp_path / "sessions"), "--session", "encrypted",
            "--confdir", str(tmp_path / "mitmproxy-conf"), "--app-domain", "classroom.example",
            "--report-every", "0", "--key-file", str(key),
            "--set", "connection_strategy=lazy", "--set", "ssl_insecure=true",
            *rig_options(ports.https, ports.http, [PINNED_HOST]),
        ]
        with (tmp_path / "out.txt").open("w+") as out:
            process = subprocess.Popen(command, env=child_env(env), stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
            try:
                ready = wait_for_ready(folder, process)
                run_session(Proxy(ready["listen"][0]["port"], ready["ca_cert"]), pause=0)
                process.send_signal(signal.SIGINT)
                assert process.wait(timeout=90) == 0, (tmp_path / "out.txt").read_text()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    names = {p.name for p in folder.iterdir()}
    assert {"records.jsonl.enc", "flows.mitm.enc"} <= names and not {"records.jsonl", "flows.mitm"} & names
    for part in ("records.jsonl.enc", "flows.mitm.enc"):
        assert STUDENT_EMAIL.encode() not in (folder / part).read_bytes()  # the raw parts hold no plain value
    opened = run_analyze(["analyze", folder, "--key-file", key, "--json", "-"], env=env)
    assert opened.exit_code == 0, opened.stderr
    report = opened.report
    assert report["summary"]["records"] > 0 and any(f["data_type"] == "email" for f in report["findings"])
