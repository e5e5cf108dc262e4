"""``auditor analyze A --compare B``: two captures of the same app tell identifiers from app constants."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from helpers import run_analyze, shared_capture

from auditor.cli import ExitCode
from auditor.compare import CaptureValues, compare
from auditor.detect import DetectionContext
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind


def record(url: str, at: float = 0.0, cookies: tuple[tuple[str, str], ...] = ()) -> Record:
    return Record(RecordKind.HTTP, 1_767_261_600.0 + at, SourceKind.HAR, host=url.split("/")[2],
                  content_visible=True, encrypted=True, method="GET", url=url, cookies=cookies)


def values_of(*records: Record) -> CaptureValues:
    values = CaptureValues()
    for item in records:
        values.add(item)
    return values


def test_values_differing_between_devices_but_stable_within_each_are_identifiers() -> None:
    url = "https://api.example.org/v1/devices/{}/events?install={}&app_key=k3y9f00d1234abcd&t={}"
    tablet_a = values_of(
        *(record(url.format("d41d8cd98f00b204", "Qm9vay1hMTIz45", f"17672616{i}0123")) for i in range(3))
    )
    tablet_b = values_of(
        *(record(url.format("9e107d9d372bb682", "Zx81kq02LmA9b7", f"17672617{i}0456")) for i in range(2))
    )
    result = compare(tablet_a, tablet_b, DetectionContext(Masker(b"test")))
    assert [(c.path, c.key, c.requests_a, c.requests_b) for c in result.identifiers] == [
        ("/v1/devices/{id}/events", "install", 3, 2)
    ]
    assert [c.key for c in result.constants] == ["app_key"]
    assert "Qm9vay1hMTIz45" not in json.dumps(result.to_json())  # masked, never raw
    # The timestamp t changes per request in each capture: neither kind.
    assert all(c.key != "t" for c in result.identifiers + result.constants)


def test_a_value_that_changes_within_one_capture_is_neither_kind() -> None:
    a = values_of(record("https://t.example/p?u=a1b2c3d4e5f6"), record("https://t.example/p?u=f6e5d4c3b2a1"))
    b = values_of(record("https://t.example/p?u=q9w8e7r6t5y4"))
    result = compare(a, b, DetectionContext(Masker(b"test")))
    assert result.identifiers == [] and result.constants == [] and result.shared_slots == 1


def second_device_capture(har: Path, out: Path) -> set[str]:
    """Capture B, built from the real capture A: the same traffic, with the browser's own IDs replaced.

    The replaced values are the ones reading the traffic shows to be this browser's: the Google Analytics client
    IDs (cid, _gid), the Google Ads user ID (auid) and the ad-tech cookies (IDE, li_sugr). B is written as a
    mitmproxy flow file, so the comparison also crosses input formats.
    """
    from mitmproxy import io
    from mitmproxy.io.har import request_to_flow

    text = har.read_text(encoding="utf-8")
    own: set[str] = set()
    for entry in json.loads(text)["log"]["entries"]:
        for key, value in parse_qsl(urlsplit(entry["request"]["url"]).query):
            if key in ("cid", "_gid", "auid"):
                own.add(value)
        for cookie in entry["request"].get("cookies") or ():
            if cookie["name"] in ("IDE", "li_sugr"):
                own.add(cookie["value"])
    for value in own:  # same shape, other digits: what a second device would have drawn
        text = text.replace(value, "".join(str((int(c) + 3) % 10) if c.isdigit() else c for c in reversed(value)))
    with out.open("wb") as handle:
        writer = io.FlowWriter(handle)
        for entry in json.loads(text)["log"]["entries"]:
            writer.add(request_to_flow(entry))
    return own


def test_compare_on_a_real_capture_and_a_second_device_in_another_format(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    har = shared_capture("themarkup-edtech_pageview_xtramath.org.har")
    second = tmp_path / "tablet-b.mitm"
    assert len(second_device_capture(har, second)) >= 4
    report_path = tmp_path / "report.json"
    html_path = tmp_path / "report.html"
    run = run_analyze(["analyze", har, "--compare", second, "--json", report_path, "--html", html_path],
                      env=auditor_env)
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    comparison = run.report["comparison"]
    identifiers = {(c["host"], c["where"], c["key"]) for c in comparison["identifiers"]}
    # The Google Analytics client ID differs per browser: it identifies the student's device.
    assert ("www.google-analytics.com", "query", "cid") in identifiers
    # DoubleClick's IDE cookie: Google's advertising ID of the browser.
    assert ("stats.g.doubleclick.net", "cookie", "IDE") in identifiers
    constants = {(c["host"], c["key"]): c for c in comparison["app_constants"]}
    # The GA4 measurement ID is the site's, the same on every device: not personal data.
    assert constants[("analytics.google.com", "tid")]["masked_a"].startswith("G-")
    assert not identifiers & {(h, "query", k) for h, k in constants}
    assert f"comparison: {len(comparison['identifiers'])} identifier(s) differ between the two captures" in run.stderr
    page = html_path.read_text(encoding="utf-8")
    assert "Two captures compared" in page and comparison["identifiers"][0]["masked_b"] in page


def test_an_unreadable_second_capture_is_named_and_the_exit_code_says_so(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    bad = tmp_path / "tablet-b.bin"
    bad.write_bytes(b"not a capture")
    har = shared_capture("mitmproxy_charles.har")
    run = run_analyze(["analyze", har, "--compare", bad, "--json", tmp_path / "r.json"], env=auditor_env)
    assert run.exit_code == ExitCode.INPUT_ERROR
    assert f"Error: {bad}: unknown format" in run.stderr
    assert run.report is not None and run.report["comparison"]["identifiers"] == []


def test_the_same_flows_in_two_formats_have_no_identifiers_only_constants() -> None:
    from auditor.compare import compare_captures

    # mitmproxy's own test data: the same flows as a flow file and as its HAR export.
    flows, har = shared_capture("mitmproxy_diff_data.mitm"), shared_capture("mitmproxy_diff_data.har")
    result = compare_captures([flows], [har], DetectionContext(Masker(b"test")))
    assert result.identifiers == []
    constants = {(c.host, c.where, c.key) for c in result.constants}
    # Chrome's Google API key for its web-attestation service: the same in every Chrome, not personal data.
    assert ("jnn-pa.googleapis.com", "header", "x-goog-api-key") in constants
    assert all(c.where != "header" or c.key not in ("user-agent", "x-client-data") for c in result.constants)
