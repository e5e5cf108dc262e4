"""Resource bounds: huge or hostile requests finish, and every cut is written in the report.

Each case goes through the real pipeline (``Analysis`` → report) or the real
CLI. A bound that stops the search leaves a note on the destination, so a
reviewer sees that part of a request went unsearched; a value planted before
the cut is still found.

Run this file directly for the full-size numbers (200k destinations, 1M keys,
100k WebSocket messages), printed, not asserted:
``.venv/bin/python tests/test_resource_bounds.py``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.analysis import BODY_CUT_NOTE, Analysis, AnalysisConfig
from auditor.detect.fields import CUT_DEPTH, CUT_FIELDS, CUT_PARTS, CUT_VALUE
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report.formats import OutputFormat
from auditor.report.model import build_report

EMAIL = "ana.lopez@example.org"


def request(**fields: Any) -> Record:
    base: dict[str, Any] = dict(
        kind=RecordKind.HTTP, time=1.0, source=SourceKind.HAR, host="api.mixpanel.com", host_source=HostSource.URL,
        content_visible=True, method="POST", url="https://api.mixpanel.com/track", origin="bounds",
    )
    base.update(fields)
    return Record(**base)


def analysed(record: Record) -> tuple[Analysis, dict[str, Any]]:
    analysis = Analysis(AnalysisConfig(salt=b"bounds"))
    analysis.add(record)
    analysis.finalize()
    assert analysis.detector_errors == 0
    return analysis, build_report(analysis)


def json_body(document: Any) -> dict[str, Any]:
    return {"request_body": json.dumps(document).encode(), "request_content_type": "application/json"}


def multipart(parts: int) -> dict[str, Any]:
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n%s\r\n' % (i, EMAIL.encode() if i == 0
                    else b"v") for i in range(parts)) + b"--B--\r\n"
    return {"request_body": body, "request_content_type": "multipart/form-data; boundary=B"}


CASES = {
    "1M JSON keys": (lambda n: json_body({"email": EMAIL, **{f"k{i}": i for i in range(n)}}), 1_000_000, CUT_FIELDS),
    "100k headers": (lambda n: {"request_headers": (("x-email", EMAIL), *((f"x-h{i}", "v") for i in range(n)))},
                     100_000, CUT_FIELDS),
    "1 MB URL": (lambda n: {"url": f"https://api.mixpanel.com/t?email={EMAIL}&pad=" + "a" * n}, 1_000_000, CUT_VALUE),
    "100k multipart parts": (multipart, 100_000, CUT_PARTS),
    "200k NDJSON lines": (lambda n: {"request_body": b"\n".join([json.dumps({"email": EMAIL}).encode()]
                                                               + [b'{"n":%d}' % i for i in range(n)]),
                                     "request_content_type": "application/x-ndjson"}, 200_000, CUT_PARTS),
    "JSON nested 100k deep": (lambda n: {"request_body": b"[" * n + json.dumps({"email": EMAIL}).encode() + b"]" * n,
                                         "request_content_type": "application/json"}, 100_000, CUT_DEPTH),
}


@pytest.mark.parametrize("name", list(CASES))
def test_huge_request_finishes_and_the_cut_is_noted(name: str) -> None:
    make, size, cut = CASES[name]
    _, report = analysed(request(**make(size)))
    (destination,) = report["destinations"]
    assert cut in destination["notes"], destination["notes"]
    if cut is not CUT_DEPTH:  # the value sits before the cut, so it is still found
        assert "email" in destination["data_types"]


def test_small_request_carries_no_cut_note() -> None:
    _, report = analysed(request(**json_body({"email": EMAIL, "k": list(range(100))})))
    (destination,) = report["destinations"]
    assert not set(destination["notes"]) & {CUT_DEPTH, CUT_FIELDS, CUT_PARTS, CUT_VALUE, BODY_CUT_NOTE}
    assert "email" in destination["data_types"]


def test_body_above_the_cap_is_noted_in_the_report(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    """A HAR body longer than --body-cap: the start is searched, and the report says the rest was not."""
    from helpers import run_analyze

    body = json.dumps({"email": EMAIL, "pad": "x" * 5000})
    entry = {"startedDateTime": "2026-01-01T10:00:00.000Z", "time": 1,
             "request": {"method": "POST", "url": "https://api.mixpanel.com/track", "httpVersion": "HTTP/1.1",
                         "headers": [{"name": "content-type", "value": "application/json"}], "cookies": [],
                         "queryString": [], "postData": {"mimeType": "application/json", "text": body},
                         "headersSize": -1, "bodySize": len(body)},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                          "bodySize": 0},
             "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}
    har = tmp_path / "big-body.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                       "entries": [entry]}}))
    run = run_analyze(["analyze", har, "--body-cap", "1024", "--json", "-"], env=auditor_env)
    assert run.exit_code == 0 and run.report is not None, run.stderr
    (destination,) = run.report["destinations"]
    assert BODY_CUT_NOTE in destination["notes"]
    assert "email" in destination["data_types"]


def many_destinations(count: int) -> tuple[dict[str, Any], str, str]:
    analysis = Analysis(AnalysisConfig(salt=b"bounds"))
    for i in range(count):
        analysis.add(Record(kind=RecordKind.DNS, time=1.0 + i / 1000, source=SourceKind.PCAP,
                            host=f"h{i}.tracker{i % 500}.example.com", host_source=HostSource.DNS_QUERY,
                            dns_answers=(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",), origin="bounds"))
    analysis.finalize()
    report = build_report(analysis)
    return report, OutputFormat.JSON.to_format().render(report), OutputFormat.HTML.to_format().render(report)


def test_many_destinations_keep_the_html_bounded_and_the_json_complete() -> None:
    small_report, small_json, small_html = many_destinations(1_000)
    big_report, big_json, big_html = many_destinations(10_000)
    assert len(big_report["destinations"]) == 10_000 and len(small_report["destinations"]) == 1_000
    assert len(big_json) > 5 * len(small_json)  # the JSON contract lists every destination
    # The page's tables and charts are capped: ten times the destinations is not ten times the page.
    assert len(big_html) < 1.5 * len(small_html), (len(small_html), len(big_html))


def test_websocket_flow_with_many_messages(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    from helpers import run_analyze

    path = websocket_flow_file(tmp_path / "ws.mitm", 20_000)
    run = run_analyze(["analyze", path, "--json", "-"], env=auditor_env)
    assert run.exit_code == 0 and run.report is not None, run.stderr
    assert run.report["inputs"][0]["records"] == 10_001  # the handshake and every message the client sent
    (finding,) = [f for f in run.report["findings"] if f["data_type"] == "email"]
    assert finding["count"] == 10_000


def websocket_flow_file(path: Path, messages: int) -> Path:
    from mitmproxy import io, websocket
    from mitmproxy.test import tflow
    from mitmproxy.websocket import Opcode

    flow = tflow.twebsocketflow()
    flow.websocket.messages = [
        websocket.WebSocketMessage(Opcode.TEXT, i % 2 == 0, json.dumps({"seq": i, "email": EMAIL}).encode(), 1.0 + i)
        for i in range(messages)
    ]
    with path.open("wb") as handle:
        io.FlowWriter(handle).add(flow)
    return path


def _measure() -> None:  # pragma: no cover - run by hand for the numbers
    """Full-size runs, timed, with the peak memory of this process."""

    def report(name: str, started: float) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:28s} {time.perf_counter() - started:7.2f} s   peak RSS so far {peak:6.0f} MB", flush=True)

    for name, (make, size, _cut) in CASES.items():
        started = time.perf_counter()
        analysed(request(**make(size)))
        report(name, started)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = websocket_flow_file(Path(folder) / "ws.mitm", 100_000)
        from auditor.records import InputSummary
        from auditor.sources import read_input

        analysis = Analysis(AnalysisConfig(salt=b"bounds"))
        summary = InputSummary(str(path), "unknown", "")
        for record in read_input(path, AnalysisConfig().read_options, summary):
            analysis.add(record)
        build_report(analysis)
        report(f"WebSocket 100k messages ({summary.records} records)", started)
    started = time.perf_counter()
    _report, as_json, as_html = many_destinations(200_000)
    report(f"200k destinations (JSON {len(as_json) / 1e6:.0f} MB, HTML {len(as_html) / 1e6:.1f} MB)", started)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    _measure()
