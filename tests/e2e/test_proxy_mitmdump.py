"""The addon in plain mitmproxy: mitmweb shows flagged flows, and a killed mitmdump loses no record.

Real ``mitmweb``/``mitmdump`` processes on 127.0.0.1 with ``-s addons/classroom_auditor.py``; the
recording rig's stand-in servers and HTTPS client (trusting only the test's fresh mitmproxy CA).
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import pinned_env, run_analyze
from proxy_rig import mitmdump_with_addon, read_events, session_records

pytestmark = pytest.mark.slow

ADVERTISING_ID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def free_port() -> int:
    """Find an unused port on 127.0.0.1 for mitmweb's UI."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_mitmweb_marks_and_comments_flows_that_carry_findings(tmp_path: Path) -> None:
    from classroom_session import https
    from standins import running_standins

    web_port = free_port()
    env = pinned_env(tmp_path / "auditor-data")
    web = ["--set", "web_open_browser=false", "--set", "web_host=127.0.0.1", "--set", f"web_port={web_port}"]
    with running_standins(tmp_path) as ports, mitmdump_with_addon(
        tmp_path, tmp_path / "session", ports, env, web, executable="mitmweb"
    ) as proxy:
        assert https(proxy.client, "GET", "app-measurement.com", "/g/collect?lat=52.370216&lon=4.895168") == 204
        assert https(proxy.client, "GET", "classroom.example", "/") == 200
        # The worker marks flows after they passed: wait for the mark (and the second flow's analysis).
        deadline = time.monotonic() + 60
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/flows", timeout=10) as answer:
                flows = {f["request"]["host"]: f for f in json.load(answer)}
            analysed = sum(1 for e in read_events(proxy.folder) if e["event"] == "destination")
            if flows.get("app-measurement.com", {}).get("marked") and analysed >= 2:
                break
            assert time.monotonic() < deadline, "mitmweb never showed the mark on the flagged flow"
            time.sleep(0.1)
    flagged = flows["app-measurement.com"]
    assert flagged["marked"] == "\N{WARNING SIGN}"  # mitmweb shows the ":warning:" marker as its emoji
    assert "Precise location in query lat" in flagged["comment"] and "Google" in flagged["comment"]
    assert "52.370216" not in flagged["comment"]
    assert not flows["classroom.example"]["marked"] and not flows["classroom.example"]["comment"]


def test_kill_9_of_the_proxy_loses_no_record_already_answered(tmp_path: Path) -> None:
    from classroom_session import https
    from standins import running_standins

    env = pinned_env(tmp_path / "auditor-data")
    folder = tmp_path / "session"
    with running_standins(tmp_path) as ports, mitmdump_with_addon(tmp_path, folder, ports, env) as proxy:
        for number in range(5):
            body = f"advertising_id={ADVERTISING_ID}&n={number}".encode()
            https(proxy.client, "POST", "graph.facebook.com", f"/v17.0/{number}/activities", body,
                  {"Content-Type": "application/x-www-form-urlencoded"})
        proxy.process.send_signal(signal.SIGKILL)
        proxy.process.wait(timeout=10)
        # The analysis worker outlives the proxy: it finishes what it was handed and writes the reports.
        deadline = time.monotonic() + 60
        while not any(e["event"] == "end" for e in read_events(folder)):
            assert time.monotonic() < deadline, "the worker did not finish after the proxy was killed"
            time.sleep(0.1)
    records = session_records(folder)
    assert [r["url"].rsplit("/", 2)[-2] for r in records] == ["0", "1", "2", "3", "4"]
    assert json.loads((folder / "report.json").read_text())["summary"]["destinations"] == 1

    rebuilt = run_analyze(["analyze", folder, "--json", tmp_path / "rebuilt.json"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.stderr
    assert rebuilt.report is not None
    (finding,) = [f for f in rebuilt.report["findings"] if f["data_type"] == "advertising_id"]
    assert finding["host"] == "graph.facebook.com" and finding["count"] == 5
    flows_run = run_analyze(["analyze", folder / "flows.mitm", "--json", tmp_path / "flows.json"], env=env)
    assert flows_run.report is not None and flows_run.report["inputs"][0]["records"] == 5
