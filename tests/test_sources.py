"""Capture sources on real files: content-based format detection, the shared corpus, damaged and hostile input."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLE_CAPTURE, run_analyze, shared_capture

from auditor.records import InputSummary, Record, RecordKind
from auditor.sources import InputError, ReadOptions, describe_input, detect_format, read_input

SMALL_CAP = 64 * 1024


def read_all(path: Path, options: ReadOptions | None = None) -> tuple[list[Record], InputSummary]:
    summary = describe_input(path)
    records = list(read_input(path, options or ReadOptions(), summary))
    return records, summary


def copy_as(source: Path, folder: Path, name: str) -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


def write_flows(path: Path, flows: list[Any]) -> Path:
    from mitmproxy import io

    with path.open("wb") as handle:
        writer = io.FlowWriter(handle)
        for flow in flows:
            writer.add(flow)
    return path


def http_flow(url: str, body: bytes = b"", headers: dict[str, str] | None = None, response_body: bytes = b"ok") -> Any:
    """Build a real mitmproxy HTTPFlow with mitmproxy's own test factory."""
    from mitmproxy import http
    from mitmproxy.test import tflow

    flow = tflow.tflow(resp=True)
    flow.request = http.Request.make("POST" if body else "GET", url, b"", headers or {})
    flow.request.raw_content = body  # as sent on the wire, still content-encoded
    flow.request.timestamp_start = flow.request.timestamp_end = 1_767_261_600.0
    flow.response.content = response_body
    return flow


def har_document(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}}


def har_entry(url: str, method: str = "GET", post: dict[str, Any] | None = None,
              headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": method, "url": url, "httpVersion": "h2", "headers": headers or [],
                               "cookies": [], "queryString": [], "headersSize": -1, "bodySize": -1}
    if post is not None:
        request["postData"] = post
    return {"startedDateTime": "2026-01-01T10:00:00.000Z", "time": 1, "request": request,
            "response": {"status": 200, "statusText": "OK", "httpVersion": "h2", "headers": [], "cookies": [],
                         "content": {"size": 2, "mimeType": "application/json"}, "redirectURL": "",
                         "headersSize": -1, "bodySize": 2},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


# -- the input type is decided by content ------------------------------------------------------


def test_har_named_pcap_reads_as_har(tmp_path: Path) -> None:
    path = copy_as(shared_capture("mitmproxy_charles.har"), tmp_path, "looks-like.pcap")
    records, summary = read_all(path)
    assert summary.format == "har"
    assert [r.host for r in records] == ["mitmproxy.org"]


def test_flow_file_named_har_reads_as_flows(tmp_path: Path) -> None:
    path = copy_as(SAMPLE_CAPTURE, tmp_path, "capture.har")
    records, summary = read_all(path)
    assert summary.format == "mitmproxy"
    assert len(records) == 16


def test_pcap_named_har_reads_as_pcap(tmp_path: Path) -> None:
    path = copy_as(shared_capture("ndpi_android.pcap"), tmp_path, "export.har")
    assert detect_format(path).name == "pcap"


def test_flow_file_whose_first_flow_is_large_is_recognised(tmp_path: Path) -> None:
    # mitmproxy writes a flow's keys in reverse, so a big first response pushes "version" far from the start.
    flow = http_flow("https://api.classroom.example/v1/big", response_body=b"x" * 50_000)
    path = write_flows(tmp_path / "big-first-flow.bin", [flow])
    records, summary = read_all(path)
    assert summary.format == "mitmproxy"
    assert [r.url for r in records] == ["https://api.classroom.example/v1/big"]


def test_session_records_file_is_recognised_by_content(tmp_path: Path) -> None:
    flows, _ = read_all(SAMPLE_CAPTURE)
    path = tmp_path / "whatever.txt"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in flows))
    records, summary = read_all(path)
    assert summary.format == "session"
    assert records == flows


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (bytes(range(256)) * 4, "unknown format"),
        (b'{"not": "a har"}', "unknown format"),
        (b"hello, this is plain text\n", "unknown format"),
    ],
)
def test_unreadable_files_give_one_line_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        detect_format(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_file_and_plain_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing.mitm")
    with pytest.raises(InputError, match="not an auditor session"):
        detect_format(tmp_path)


# -- the shared corpus: every HAR and flow file, checked against CATALOG.md facts -------------------

HAR_FACTS = {
    # file: (entries, distinct hosts, methods, a host with its count)
    "reporthar_web_first-run.har": (
        110, 37, {"GET": 103, "POST": 6, "OPTIONS": 1}, ("miscmedia-9gag-fun.9cache.com", 24)
    ),
    "pagexray_expressen.har": (607, 48, {"GET": 601, "POST": 6}, ("s0.2mdn.net", 33)),
    "pagexray_ferguson.har": (174, 41, {"GET": 165, "POST": 9}, ("www.ferguson.com", 82)),
    "perfcascade_www.bbc.com.har": (120, 37, {"GET": 119, "OPTIONS": 1}, ("pagead2.googlesyndication.com", 5)),
    "perfcascade_chrome_enorm-magazin.de.har": (65, 8, {"GET": 65}, ("enorm-magazin.de", 55)),
    "mitmproxy_charles.har": (1, 1, {"GET": 1}, ("mitmproxy.org", 1)),
    "mitmproxy_diff_data.har": (5, 5, {"GET": 3, "POST": 2}, ("jnn-pa.googleapis.com", 1)),
}


@pytest.mark.parametrize("name", sorted(HAR_FACTS))
def test_shared_har_files(name: str) -> None:
    entries, hosts, methods, (host, count) = HAR_FACTS[name]
    records, summary = read_all(shared_capture(name))
    assert summary.format == "har" and summary.problems == []
    assert len(records) == entries
    assert len({r.host for r in records}) == hosts
    assert Counter(r.method for r in records) == methods
    assert Counter(r.host for r in records)[host] == count
    assert all(r.kind is RecordKind.HTTP and r.content_visible and r.time > 1e9 for r in records)
    assert {r.protocol for r in records} <= {"HTTP", "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"}


def test_har_1_1_from_webpagetest_keeps_its_cookies_and_query() -> None:
    records, _ = read_all(shared_capture("pagexray_expressen.har"))
    ga = [r for r in records if r.host == "www.google-analytics.com"]
    assert len(ga) == 9
    assert any("cid=1635221331.1515916349" in (r.url or "") for r in ga)


def test_reporthar_facebook_cookie_is_read() -> None:
    records, _ = read_all(shared_capture("reporthar_web_first-run.har"))
    facebook = [r for r in records if r.host == "www.facebook.com"]
    assert len(facebook) == 3
    assert any(("fbp", "fb.1.1740763918892.213212769594101971") in r.cookies or
               "fb.1.1740763918892.213212769594101971" in (r.url or "") for r in facebook)


def test_flow_format_18_with_tcp_flows() -> None:
    records, summary = read_all(shared_capture("mitmproxy_diff_data.mitm"))
    assert summary.format == "mitmproxy" and summary.problems == []
    http = [r for r in records if r.kind is RecordKind.HTTP]
    streams = [r for r in records if r.kind is not RecordKind.HTTP]
    assert len(http) == 5 and len(streams) == 2
    assert all(r.protocol == "HTTP/2" and r.encrypted and r.content_visible for r in http)
    post = next(r for r in http if r.host == "jnn-pa.googleapis.com")
    assert post.method == "POST"
    assert post.url == "https://jnn-pa.googleapis.com/$rpc/google.internal.waa.v1.Waa/GenerateIT"
    # mitmproxy opened the TLS of the raw TCP flows to FCM: what the device sent is read as raw bytes.
    assert {(r.host, r.server_port, r.content_visible) for r in streams} == {("mtalk.google.com", 5228, True)}
    assert all(len(r.request_body) == r.bytes_up == 188 for r in streams)


def test_flow_file_and_its_har_export_agree() -> None:
    flows, _ = read_all(shared_capture("mitmproxy_diff_data.mitm"))
    har, _ = read_all(shared_capture("mitmproxy_diff_data.har"))
    flow_requests = sorted((r.method, r.url) for r in flows if r.kind is RecordKind.HTTP)
    har_requests = sorted((r.method, r.url) for r in har)
    assert flow_requests == har_requests
    assert {r.protocol for r in har} == {"HTTP/2"}


def test_flow_format_20_event_stream() -> None:
    records, summary = read_all(shared_capture("mitmproxy_event_stream.mitm"))
    assert summary.format == "mitmproxy" and summary.problems == []
    assert [(r.method, r.host, r.client_ip, r.protocol) for r in records] == [
        ("GET", "clientstream.launchdarkly.com", "10.0.0.4", "HTTP/2")
    ] * 2
    # The device model hides in a base64url path segment; the source must keep the path intact.
    segment = (records[1].url or "").rsplit("/", 1)[-1]
    decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    assert b"motorola one 5G ace" in decoded


# -- damaged input: every readable record still counts ---------------------------------------------------


def test_truncated_har_keeps_the_entries_before_the_cut(tmp_path: Path) -> None:
    source = shared_capture("reporthar_web_first-run.har")
    full, _ = read_all(source)
    data = source.read_bytes()
    path = tmp_path / "cut.har"
    path.write_bytes(data[: len(data) // 2])
    records, summary = read_all(path)
    assert 0 < len(records) < len(full)
    assert [r.url for r in records] == [r.url for r in full[: len(records)]]
    (problem,) = summary.problems
    assert not problem.fatal
    assert str(problem).startswith(f"{path}: HAR is damaged at byte ")
    assert f"read {len(records)} entries" in problem.message


def test_har_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.har"
    path.write_bytes(b'{"log": {"version": "1.2", this is not json')
    records, summary = read_all(path)
    assert records == []
    (problem,) = summary.problems
    assert problem.fatal and "not valid JSON at byte" in problem.message


def test_har_whose_entries_are_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "odd.har"
    path.write_text(json.dumps({"log": {"entries": {"a": 1}}}))
    records, summary = read_all(path)
    assert records == [] and summary.problems[0].fatal
    assert "log.entries is not a list" in summary.problems[0].message


def test_malformed_har_entries_are_skipped_not_fatal(tmp_path: Path) -> None:
    good = har_entry("https://api.classroom.example/a")
    broken_response = dict(har_entry("https://api.classroom.example/b"), response=["not", "an", "object"])
    no_request = {"startedDateTime": "2026-01-01T10:00:00Z"}
    path = tmp_path / "mixed.har"
    path.write_text(json.dumps(har_document([good, broken_response, no_request, good])))
    records, summary = read_all(path)
    assert [r.url for r in records] == ["https://api.classroom.example/a"] * 2
    assert [p.message.split(":")[0] for p in summary.problems] == ["entry 1 skipped", "entry 2 skipped"]
    assert not any(p.fatal for p in summary.problems)


def test_truncated_flow_file_keeps_the_flows_before_the_damage(tmp_path: Path) -> None:
    import io

    from mitmproxy.io import tnetstring

    data = SAMPLE_CAPTURE.read_bytes()
    # Offsets where each flow ends, measured with mitmproxy's own tnetstring parser.
    stream, ends = io.BytesIO(data), []
    while stream.tell() < len(data):
        tnetstring.load(stream)
        ends.append(stream.tell())
    cut = (ends[4] + ends[5]) // 2  # inside the sixth flow
    path = tmp_path / "cut.mitm"
    path.write_bytes(data[:cut])
    records, summary = read_all(path)
    assert len(records) == 5
    (problem,) = summary.problems
    assert not problem.fatal
    assert str(problem).startswith(f"{path}: flow file damaged at byte {ends[4]}, after 5 flows")


def test_flow_file_with_garbage_in_the_middle(tmp_path: Path) -> None:
    data = bytearray(SAMPLE_CAPTURE.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    path = tmp_path / "garbled.mitm"
    path.write_bytes(bytes(data))
    records, summary = read_all(path)
    assert 0 < len(records) < 16
    assert summary.problems and "flow file damaged at byte" in summary.problems[0].message


def test_session_file_with_a_cut_last_line(tmp_path: Path) -> None:
    flows, _ = read_all(SAMPLE_CAPTURE)
    folder = tmp_path / "session"
    folder.mkdir()
    lines = [json.dumps(r.to_json()) for r in flows]
    (folder / "records.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    records, summary = read_all(folder)
    assert records == flows[:-1]
    assert [p.message.split(" unreadable")[0] for p in summary.problems] == [f"line {len(flows)}"]


# -- hostile and odd bodies -------------------------------------------------------------------------


def test_gzip_bomb_in_a_flow_is_cut_at_the_body_cap(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 64 * 1024
    flow = http_flow("https://app-measurement.com/a", bomb, {"Content-Encoding": "gzip"})
    path = write_flows(tmp_path / "bomb.mitm", [flow])
    (record,), summary = read_all(path, ReadOptions(body_cap=SMALL_CAP))
    assert summary.problems == []
    assert len(record.request_body) == SMALL_CAP and record.request_body_truncated


def test_gzip_bomb_in_a_har_is_cut_at_the_body_cap(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)
    post = {"mimeType": "application/json", "text": base64.b64encode(bomb).decode(), "encoding": "base64"}
    entry = har_entry("https://app-measurement.com/a", "POST", post, [{"name": "Content-Encoding", "value": "gzip"}])
    path = tmp_path / "bomb.har"
    path.write_text(json.dumps(har_document([entry])))
    (record,), _ = read_all(path, ReadOptions(body_cap=SMALL_CAP))
    assert len(record.request_body) == SMALL_CAP and record.request_body_truncated
    assert set(record.request_body) == {0}


def test_gzip_body_stored_encoded_in_a_har_is_decoded(tmp_path: Path) -> None:
    payload = b'{"email": "mia.testpupil@student.example"}'
    post = {"mimeType": "application/json", "text": base64.b64encode(gzip.compress(payload)).decode(),
            "encoding": "base64"}
    entry = har_entry("https://api2.amplitude.com/2/httpapi", "POST", post,
                      [{"name": "content-encoding", "value": "gzip"}])
    path = tmp_path / "encoded.har"
    path.write_text(json.dumps(har_document([entry])))
    (record,), _ = read_all(path)
    assert record.request_body == payload


def test_body_that_is_not_utf8_is_kept_byte_for_byte(tmp_path: Path) -> None:
    body = "name=Jörg&city=Zürich".encode("latin-1") + b"\x00\xff\xfe"
    flow = http_flow("https://api.classroom.example/form", body, {"Content-Type": "application/x-www-form-urlencoded"})
    flow_path = write_flows(tmp_path / "latin1.mitm", [flow])
    har_path = tmp_path / "latin1.har"
    post = {"mimeType": "application/octet-stream", "text": base64.b64encode(body).decode(), "encoding": "base64"}
    har_path.write_text(json.dumps(har_document([har_entry("https://api.classroom.example/form", "POST", post)])))
    for path in (flow_path, har_path):
        (record,), _ = read_all(path)
        assert record.request_body == body
    run = run_analyze(["analyze", flow_path, har_path, "--json", tmp_path / "r.json"],
                      {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(tmp_path / "data")})
    assert run.exit_code == 0, run.stderr
    assert run.report is not None and run.report["summary"]["destinations"] == 1


HOSTILE_KEY = "<script>window.__pwned=1</script>"
HOSTILE_VALUE = '"><img src=x onerror=window.__pwned=1>'


def test_hostile_strings_in_urls_are_read_and_escaped_in_reports(tmp_path: Path) -> None:
    from urllib.parse import quote

    url = (f"https://tracker.example/{quote(HOSTILE_VALUE)}/p?{quote(HOSTILE_KEY)}=mia.testpupil%40student.example"
           f"&q={quote(HOSTILE_VALUE)}")
    path = tmp_path / "hostile.har"
    path.write_text(json.dumps(har_document([har_entry(url), har_entry("https://ev<il>.example/x")])))
    records, _ = read_all(path)
    assert records[0].url == url and records[0].host == "tracker.example"
    assert records[1].host == "ev<il>.example"
    html_path = tmp_path / "report.html"
    run = run_analyze(["analyze", path, "--json", tmp_path / "r.json", "--html", html_path],
                      {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(tmp_path / "data")})
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    keys = {f["key"] for f in run.report["findings"]}
    assert any(HOSTILE_KEY in (k or "") for k in keys), keys
    html = html_path.read_text(encoding="utf-8")
    assert HOSTILE_KEY not in html and HOSTILE_VALUE not in html and "ev<il>" not in html
    assert "ev<il>.example" in {d["host"] for d in run.report["destinations"]}
    assert "mia.testpupil@student.example" not in html


def test_brotli_bomb_costs_little_memory() -> None:
    import tracemalloc

    import brotli

    from auditor.decoding import decode_content

    bomb = brotli.compress(b"\0" * (256 * 1024 * 1024), quality=5)
    assert len(bomb) < 4096
    tracemalloc.start()
    try:
        result = decode_content(bomb, "br", cap=SMALL_CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.data) == SMALL_CAP and result.truncated
    assert peak < 32 * 1024 * 1024, f"decoding a {len(bomb)}-byte brotli bomb peaked at {peak} bytes"


def test_layered_encodings_cut_at_the_cap_are_still_decoded() -> None:
    import brotli

    from auditor.decoding import decode_content

    text = b"".join(b'{"n": %d, "email": "mia.testpupil@student.example"}\n' % i for i in range(20000))
    layered = brotli.compress(gzip.compress(text))  # "Content-Encoding: gzip, br"
    result = decode_content(layered, "gzip, br", cap=SMALL_CAP)
    assert result.truncated and result.problem is None
    assert text.startswith(result.data) and len(result.data) > SMALL_CAP // 2


def test_gzip_body_with_several_members() -> None:
    from auditor.decoding import decode_content

    result = decode_content(gzip.compress(b"first,") + gzip.compress(b"second"), "gzip")
    assert result.data == b"first,second" and not result.truncated
    assert decode_content(gzip.compress(b"data") + b"\0\0junk", "gzip").data == b"data"


def test_absurdly_nested_har_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    good = tmp_path / "good.har"
    good.write_text(json.dumps(har_document([har_entry("https://api.classroom.example/a")])))
    nested = tmp_path / "nested.har"
    nested.write_text('{"log": {"entries": [' + "[" * 200_000 + "]" * 200_000 + "]}}")
    records, summary = read_all(nested)
    assert records == [] and summary.problems and summary.problems[0].fatal
    assert "nests too deeply" in summary.problems[0].message
    run = run_analyze(["analyze", nested, good, "--json", tmp_path / "r.json"],
                      {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(tmp_path / "data")})
    assert run.exit_code == 3
    assert run.report is not None and run.report["inputs"][1]["records"] == 1


def test_flow_format_newer_than_mitmproxy_is_named_not_called_damage(tmp_path: Path) -> None:
    import io

    from mitmproxy.io import tnetstring

    stream = io.BytesIO(SAMPLE_CAPTURE.read_bytes())
    flows = [tnetstring.load(stream) for _ in range(2)]
    flows[1]["version"] = 99  # a flow from a future mitmproxy after one it can read
    out = io.BytesIO()
    for flow in flows:
        tnetstring.dump(flow, out)
    path = tmp_path / "future.mitm"
    path.write_bytes(out.getvalue())
    records, summary = read_all(path)
    assert len(records) == 1
    (problem,) = summary.problems
    assert problem.message.startswith("stopped at flow 2 (byte ")
    assert "flow format version 99" in problem.message and "damaged" not in problem.message


def test_websocket_messages_sent_by_the_device_are_records(tmp_path: Path) -> None:
    from mitmproxy import websocket
    from mitmproxy.test import tflow
    from wsproto.frame_protocol import Opcode

    flow = tflow.twebsocketflow(messages=False)
    flow.request.scheme, flow.request.host, flow.request.port = "https", "live.classroom.example", 443
    flow.websocket.messages = [
        websocket.WebSocketMessage(Opcode.TEXT, True, b'42["answer",{"email":"mia.testpupil@student.example"}]', 10.0),
        websocket.WebSocketMessage(Opcode.TEXT, False, b'42["ack"]', 11.0),
        websocket.WebSocketMessage(Opcode.BINARY, True, b"\x00\x01" * 100, 12.0),
    ]
    path = write_flows(tmp_path / "ws.mitm", [flow])
    records, summary = read_all(path, ReadOptions(body_cap=2048))
    assert summary.problems == []
    handshake, text, binary = records
    assert handshake.response_status == 101
    assert [(r.protocol, r.time, r.host, r.encrypted) for r in (text, binary)] == [
        ("WebSocket", 10.0, "live.classroom.example", True), ("WebSocket", 12.0, "live.classroom.example", True)
    ]
    assert b"mia.testpupil@student.example" in text.request_body and text.request_headers == ()
    assert binary.request_body == b"\x00\x01" * 100 and binary.request_content_type == "application/octet-stream"
    run = run_analyze(["analyze", path, "--app-domain", "other.example", "--json", tmp_path / "r.json"],
                      {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(tmp_path / "data")})
    assert run.report is not None
    assert {f["data_type"] for f in run.report["findings"] if f["host"] == "live.classroom.example"} >= {"email"}


def test_websocket_messages_in_a_chrome_har_are_records(tmp_path: Path) -> None:
    entry = har_entry("wss://live.classroom.example/socket.io/?EIO=4&transport=websocket")
    entry["_resourceType"] = "websocket"
    entry["_webSocketMessages"] = [
        {"type": "send", "time": 1767261601.5, "opcode": 1, "data": '42["join",{"student_id":"STU-2024-0042"}]'},
        {"type": "receive", "time": 1767261601.6, "opcode": 1, "data": '42["welcome"]'},
        {"type": "send", "time": 1767261602.0, "opcode": 2, "data": base64.b64encode(b"\x00\xff").decode()},
    ]
    path = tmp_path / "ws.har"
    path.write_text(json.dumps(har_document([entry])))
    records, summary = read_all(path)
    assert summary.problems == [] and summary.records == 3
    handshake, joined, binary = records
    assert handshake.protocol == "HTTP/2" and handshake.encrypted
    assert (joined.protocol, joined.time, joined.request_body) == (
        "WebSocket", 1767261601.5, b'42["join",{"student_id":"STU-2024-0042"}]'
    )
    assert binary.request_body == b"\x00\xff" and binary.method is None
