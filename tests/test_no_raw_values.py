"""No raw personal value in any output the tool makes.

The sample capture carries every value of the sample profile, planted in many
encodings; a second input plants them where reports show names rather than
values (JSON keys, query parameter names, header and cookie names). Every
output is produced — ``analyze`` (JSON, HTML, CSV, summary, debug log),
``report``, ``diff`` (terminal, HTML, JSON), ``profile check``, and a live
session made through the mitmproxy addon (its files, the proxy's printed
lines, mitmweb flow comments, the log) — and searched for each value and its
obvious variants: case, URL encoding, base64, hex, MD5/SHA-1/SHA-256 of the
normalized value, and the location to 4 or more decimals.

Allowed exceptions, each by design:

* a live session's ``records.jsonl`` and ``flows.mitm`` are the raw capture
  (owner-only files, needed to rebuild reports); they are not searched;
* the embedded plotly.js library is not capture data and is cut out of the
  HTML before searching (its minified code contains ``mia`` by chance);
* the JSON report's ``inputs[].path`` names the input files, which the
  user chose; the test names its files so that they hold no value.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import tomllib
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner
from helpers import REPO, SAMPLE_CAPTURE, run_analyze
from mitmproxy import io
from mitmproxy.addons.view import View
from mitmproxy.test import taddons

from auditor.cli import main

PROFILE = REPO / "captures" / "sample-profile.toml"


def profile_values() -> dict[str, str]:
    """Profile key -> raw value, for every searched value of the sample profile."""
    data = tomllib.loads(PROFILE.read_text())
    values = {k: str(v) for section in ("device", "student") for k, v in data[section].items()
              if k not in ("description", "platform")}
    values.update({extra["name"]: extra["value"] for extra in data["extra"]})
    return values


def variants(value: str) -> set[str]:
    """The value as a careless output might show it."""
    found = {value, value.lower(), value.upper(), quote(value, safe=""), quote_plus(value)}
    for text in {value, value.strip().lower()}:
        raw = text.encode()
        found |= {
            base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex(),
            hashlib.md5(raw).hexdigest(),
            hashlib.sha1(raw).hexdigest(),
            hashlib.sha256(raw).hexdigest(),
        }
    return found


def location_variants() -> set[str]:
    data = tomllib.loads(PROFILE.read_text())["location"]
    found = set()
    for number in (data["latitude"], data["longitude"]):
        for decimals in (4, 5):
            found |= {f"{number:.{decimals}f}", str(number)[: str(number).index(".") + 1 + decimals]}
    return found


def _pattern(variant: str) -> re.Pattern[str]:
    # A short name (``Mia``) only counts as a word of its own: "media" is not a leak.
    escaped = re.escape(variant)
    return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])", re.IGNORECASE)


PATTERNS = [(label, v, _pattern(v)) for label, value in profile_values().items() for v in variants(value)]
PATTERNS += [("location", v, re.compile(rf"(?<![0-9]){re.escape(v)}")) for v in location_variants()]


def leaks(name: str, text: str) -> list[str]:
    """Where ``text`` shows a profile value (empty when none)."""
    from plotly.offline import get_plotlyjs

    text = text.replace(get_plotlyjs(), "")
    found = []
    for label, variant, pattern in PATTERNS:
        match = pattern.search(text)
        if match:
            around = text[max(0, match.start() - 60) : match.end() + 30]
            found.append(f"{name}: {label} as {variant!r} in …{around!r}…")
    return found


def key_names_input(tmp_path: Path) -> Path:
    """A HAR whose requests carry the profile's values where reports show names: keys, parameter names."""
    values = profile_values()
    email, student_id, ad_id = values["email"], values["student_id"], values["advertising_id"]
    body = {"roster": {email: {"grade": 4}}, student_id: {"score": 17}, "loc": {ad_id: {"lat": 51.50722}}}
    entry = {
        "startedDateTime": "2026-01-01T10:00:00.000Z",
        "time": 10,
        "request": {
            "method": "POST",
            "url": f"https://api.mixpanel.com/track?{quote(email)}=1&{ad_id}=x",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": f"x-user-{student_id}", "value": "1"},
                        {"name": "content-type", "value": "application/json"}],
            "cookies": [{"name": f"seen_{ad_id}", "value": "1"}],
            "queryString": [],
            "postData": {"mimeType": "application/json", "text": json.dumps(body)},
            "headersSize": -1,
            "bodySize": -1,
        },
        "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                     "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                     "bodySize": 0},
        "cache": {},
        "timings": {"send": 0, "wait": 10, "receive": 0},
    }
    path = tmp_path / "key-names.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": [entry]}}))
    return path


def host_names_input(tmp_path: Path) -> Path:
    """A pcap (written by scapy) whose DNS names carry planted values, as some SDKs send IDs in DNS labels."""
    from pcap_builders import dns_exchange, write_pcap

    values = profile_values()
    packets = dns_exchange(f"{values['advertising_id']}.t.mixpanel.com", [("A", "10.0.0.9")])
    packets += dns_exchange(f"{values['username']}.school.example", [("A", "10.0.0.8")], txid=8, port=40001)
    return write_pcap(tmp_path / "dns-names.pcap", packets)


def test_every_cli_output_is_free_of_raw_values(
    tmp_path: Path, auditor_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    outputs: dict[str, str] = {}
    har = key_names_input(tmp_path)
    pcap = host_names_input(tmp_path)
    caplog.set_level(logging.DEBUG)

    plain = run_analyze(["analyze", SAMPLE_CAPTURE, "--json", tmp_path / "old.json"], env=auditor_env)
    full = run_analyze(
        ["analyze", SAMPLE_CAPTURE, har, pcap, "--profile", PROFILE, "--json", tmp_path / "new.json",
         "--html", tmp_path / "new.html", "--csv", tmp_path / "csv"],
        env=auditor_env,
    )
    debug = run_analyze(["--debug", "analyze", SAMPLE_CAPTURE, har, pcap, "--profile", PROFILE, "--json", "-"],
                        env=auditor_env)
    for name, run in (("analyze", full), ("analyze --debug", debug), ("analyze, no profile", plain)):
        assert run.exit_code == 0, run.stderr
        outputs[f"{name} stderr"] = run.stderr
    outputs["analyze --json - stdout"] = debug.stdout

    report = full.report
    assert report is not None
    # The key-name input really was searched: the values sent as names are found and reported, masked.
    key_findings = [f for f in report["findings"] if (f["encoding"] or "").endswith("key name")]
    assert {f["data_type"] for f in key_findings} >= {"email", "student_id", "advertising_id"}
    assert {f["where"] for f in key_findings} >= {"body", "query", "header", "cookie"}
    assert any("‹" in (f["key"] or "") for f in key_findings)
    # A password shows nothing but its length (its first and last characters would narrow a guess).
    secrets = [f["masked_value"] for f in report["findings"] if f["data_type"] == "credentials"]
    assert secrets and all(m.startswith("******** (") for m in secrets), secrets
    # Values in DNS names are found too, and the destination is named with them masked.
    in_hosts = {f["data_type"]: f["host"] for f in report["findings"] if f["encoding"] == "host name"}
    assert set(in_hosts) == {"advertising_id", "username"}, in_hosts
    assert in_hosts["advertising_id"].endswith("›.t.mixpanel.com")

    rendered = run_analyze(["report", tmp_path / "new.json", "--html", tmp_path / "again.html",
                            "--csv", tmp_path / "csv-again"], env=auditor_env)
    assert rendered.exit_code == 0, rendered.stderr
    outputs["report stderr"] = rendered.stderr + rendered.stdout
    diff = CliRunner().invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--html",
                                     str(tmp_path / "diff.html"), "--json", str(tmp_path / "diff.json")])
    assert diff.exit_code == 0 and "Findings:" in diff.output, diff.output
    outputs["diff output"] = diff.output
    check = run_analyze(["profile", "check", PROFILE], env=auditor_env)
    assert check.exit_code == 0 and "valid" in check.stdout
    outputs["profile check"] = check.stdout + check.stderr
    outputs["log"] = caplog.text

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p not in (har, pcap) and p.parent.name != "auditor-data"]
    assert {p.name for p in files} >= {"new.json", "new.html", "destinations.csv", "findings.csv", "again.html",
                                       "diff.html", "diff.json"}
    for path in files:
        outputs[str(path.relative_to(tmp_path))] = path.read_text(encoding="utf-8")

    found = [leak for name, text in outputs.items() for leak in leaks(name, text)]
    assert not found, "raw personal values in outputs:\n" + "\n".join(found)


def test_live_session_files_lines_and_comments_are_free_of_raw_values(
    tmp_path: Path, auditor_env: dict[str, str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    sys.path.insert(0, str(REPO / "addons"))
    import classroom_auditor

    from auditor.cli.proxy import LiveView
    from auditor.profile import load_profile
    from auditor.sources.mitmflows import flow_to_record  # noqa: F401 - the addon's own conversion

    load_profile(PROFILE)  # the profile is valid (the addon would refuse it otherwise)
    folder = tmp_path / "sessions" / "lab"
    with SAMPLE_CAPTURE.open("rb") as handle:
        flows = list(io.FlowReader(handle).stream())
    assert len(flows) >= 16
    caplog.set_level(logging.DEBUG)

    async def run_session() -> None:
        addon = classroom_auditor.ClassroomAuditor()
        view = View()
        with taddons.context(view, addon) as tctx:
            tctx.configure(addon, auditor_session=str(folder), auditor_report_interval=0,
                           auditor_profile=str(PROFILE))
            view.add(flows)
            for flow in flows:
                addon.response(flow)
            deadline = asyncio.get_running_loop().time() + 30
            while not any(f.marked for f in flows) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            addon.done()

    asyncio.run(run_session())
    live = LiveView(folder, on_ready=lambda ready: None)
    live.offset = 0
    live.poll()
    printed = capsys.readouterr().out
    assert "FINDING [high]" in printed and "new destination" in printed

    outputs = {"proxy lines": printed, "log": caplog.text,
               "mitmweb comments": "\n".join(f.comment for f in flows)}
    assert "Classroom auditor:" in outputs["mitmweb comments"]
    raw_by_design = {"records.jsonl", "flows.mitm"}
    names = {p.name for p in folder.iterdir()}
    assert names >= {"events.jsonl", "report.json", "report.html", "session.json"} | raw_by_design
    for path in folder.iterdir():
        if path.name not in raw_by_design:
            outputs[path.name] = path.read_text(encoding="utf-8")
    report = json.loads(outputs["report.json"])
    assert {f["data_type"] for f in report["findings"]} >= {"email", "student_id", "advertising_id", "precise_location"}

    found = [leak for name, text in outputs.items() for leak in leaks(name, text)]
    assert not found, "raw personal values in live outputs:\n" + "\n".join(found)


def test_the_search_finds_what_it_looks_for() -> None:
    """The leak search itself: each kind of variant is caught, a word that merely contains a name is not."""
    email = profile_values()["email"]
    assert leaks("x", f"to {hashlib.sha256(email.encode()).hexdigest()}")
    assert leaks("x", quote(email, safe=""))
    assert leaks("x", base64.b64encode(email.encode()).decode().rstrip("="))
    assert leaks("x", "lat=51.5072") and leaks("x", "MIA ")
    assert not leaks("x", "media, premia, 51.5 and m***@s***.example")


@pytest.mark.parametrize(
    "value, most_shown",
    [("+44 20 7946 0958", 4), ("07700900123", 1), ("STU-2024-0042", 4), ("4821", 1),
     ("5d2f8c1e-7b3a-4e9d-9c61-2a4b8e0f7d13", 4), ("mia.testpupil@student.example", 2)],
)
def test_masks_show_too_little_to_recover_a_value(value: str, most_shown: int) -> None:
    from auditor.privacy import Masker

    masked = Masker.mask(value)
    shown = sum(1 for c in masked if c.isalnum()) - sum(1 for c in masked.split("(")[-1] if c.isalnum()) * (
        "chars)" in masked
    )
    tld = value.rsplit(".", 1)[-1] if "@" in value else ""
    assert shown - sum(1 for c in tld if c.isalnum()) <= most_shown, masked


def test_notes_quoting_a_planted_value_are_masked() -> None:
    """A source's note (e.g. mitmproxy's TLS error text) can quote the host name, values and all."""
    from auditor.analysis import Analysis, AnalysisConfig
    from auditor.profile import load_profile
    from auditor.records import HostSource, Record, RecordKind, SourceKind
    from auditor.report.formats import OutputFormat
    from auditor.report.model import build_report

    username = profile_values()["username"]
    analysis = Analysis(AnalysisConfig(salt=b"notes", profile=load_profile(PROFILE)))
    analysis.add(Record(kind=RecordKind.TLS, time=1.0, source=SourceKind.FLOW_FILE, host="sync.school.example",
                        host_source=HostSource.SNI, encrypted=True, origin="notes",
                        note=f"TLS handshake failed: certificate for {username}.school.example not trusted"))
    analysis.finalize()
    report = build_report(analysis)
    (destination,) = report["destinations"]
    assert any("certificate for ‹" in note for note in destination["notes"]), destination["notes"]
    found = leaks("report", OutputFormat.JSON.to_format().render(report))
    found += leaks("page", OutputFormat.HTML.to_format().render(report))
    assert not found, found
