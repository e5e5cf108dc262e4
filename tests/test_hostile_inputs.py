"""Hostile input never crashes the tool and never executes anywhere it is shown.

Two attacks, both through the real CLI:

* damaged files: a seeded, bounded mutation fuzz over real HAR files, mitmproxy
  flow files and pcap/pcapng files (truncations, byte flips, garbage, NUL and
  non-UTF-8 bytes; for HAR also deep nesting, huge numbers and giant header
  values). Exit code 0 or 3, never 5; no traceback; every error line names the
  file; a later cut never keeps fewer records than an earlier one, and a flow
  file keeps every flow written before the damage. (The pcap reader's own
  300-case packet fuzz lives in tests/test_pcap_synthetic.py.)
* hostile strings: host names, URLs, header names and values, JSON keys, cookie
  names from the traffic, and company names from an imported tracker list
  (attacker-controlled too), carrying terminal escapes, markup and spreadsheet
  formulas. No terminal output carries a control character raw, no CSV cell
  starts a formula, no HTML page carries the markup unescaped.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE, SHARED_CAPTURES, pinned_env, run_analyze, run_auditor_process
from mitmproxy import io as mitm_io

from auditor.cli import main

SEED = 20260101
SEEDS = {
    "har": ["mitmproxy_charles.har", "mitmproxy_diff_data.har"],
    "mitm": ["mitmproxy_event_stream.mitm", "mitmproxy_diff_data.mitm"],
    "pcap": ["zeek_tls12-decryption.pcap", "illustrated-tls13_capture.pcap",
             "ndpi_http_ua_splitted_in_two_pkts.pcapng"],
}
CASES_PER_SEED = 26


def seed_files() -> list[tuple[str, Path]]:
    files = [("mitm", SAMPLE_CAPTURE)]
    for kind, names in SEEDS.items():
        files += [(kind, SHARED_CAPTURES / name) for name in names if (SHARED_CAPTURES / name).is_file()]
    return files


# -- mutations ------------------------------------------------------------------------------------

Mutation = Callable[[bytes, random.Random], tuple[str, bytes]]


def truncate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    cut = rng.randrange(1, len(data))
    return f"truncate@{cut}", data[:cut]


def flip(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    out = bytearray(data)
    spots = [rng.randrange(len(out)) for _ in range(rng.choice((1, 4, 32)))]
    for spot in spots:
        out[spot] ^= 1 << rng.randrange(8)
    return f"flip{len(spots)}@{spots[0]}", bytes(out)


def insert(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    at = rng.randrange(len(data))
    junk = rng.choice((b"\x00" * 64, b"\xff\xfe\xc3\x28\xa0\xa1", bytes(rng.randrange(256) for _ in range(200)),
                       b"]}]}\"", b"9999999999:" * 4))
    return f"insert{len(junk)}@{at}", data[:at] + junk + data[at:]


def har_structure(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Valid JSON with a hostile value in one entry: deep nesting, a huge number, a giant header."""
    document = json.loads(data)
    entry = rng.choice(document["log"]["entries"])
    choice = rng.randrange(5)
    if choice == 0:
        entry["request"]["postData"] = {"mimeType": "application/json", "text": "[" * 50_000 + "]" * 50_000}
        name = "deep body"
    elif choice == 1:
        entry["request"]["headers"].append({"name": "x-giant", "value": "A" * 3_000_000})
        name = "giant header"
    elif choice == 2:
        entry["request"]["headers"] = [{"name": f"x-{i}", "value": "v"} for i in range(100_000)]
        name = "100k headers"
    elif choice == 3:
        entry["time"] = 10**400
        entry["startedDateTime"] = "9999999-99-99T99:99:99Z"
        name = "huge numbers"
    else:
        entry["request"]["url"] = "http://\x00\ud800evil/" + "%" * 1000
        name = "NUL and lone surrogate in URL"
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    if choice == 3:
        text = text.replace(str(10**400), "1e999999", 1)
    return name, text.encode("utf-8", "surrogatepass")


def nest_json(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """The whole document buried under deep nesting (a recursion bomb for naive parsers)."""
    depth = rng.choice((1000, 100_000))
    return f"nested{depth}", b"[" * depth + data + b"]" * depth


MUTATIONS: dict[str, list[Mutation]] = {
    "har": [truncate, flip, insert, har_structure, har_structure, nest_json],
    "mitm": [truncate, truncate, flip, insert],
    "pcap": [truncate, flip, insert],
}


def flow_boundaries(path: Path) -> list[int]:
    """Byte offsets where each flow of a flow file ends."""
    ends = []
    with path.open("rb") as handle:
        for _flow in mitm_io.FlowReader(handle).stream():
            ends.append(handle.tell())
    return ends


def analyze(path: Path, tmp_path: Path, env: dict[str, str]) -> tuple[int, str, dict | None]:
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    run = run_analyze(["analyze", path, "--json", out], env=env)
    return run.exit_code, run.stderr, run.report


def check_errors_name_the_file(stderr: str, *paths: Path) -> None:
    assert "Traceback" not in stderr, stderr
    for line in stderr.splitlines():
        if line.startswith(("Error", "warning", "ERROR", "WARNING")):
            assert any(str(path) in line for path in paths), f"error line does not name the file: {line!r}"


def test_mutated_captures_never_crash_and_keep_what_came_before_the_damage(tmp_path: Path) -> None:
    seeds = seed_files()
    if len(seeds) < 4:
        pytest.skip(f"shared capture corpus not available ({SHARED_CAPTURES} missing)")
    env = pinned_env(tmp_path / "data")
    rng = random.Random(SEED)
    cases = 0
    for kind, seed in seeds:
        data = seed.read_bytes()
        clean_exit, _, clean = analyze(seed, tmp_path, env)
        assert clean_exit == 0 and clean is not None and clean["inputs"][0]["records"] > 0, seed
        # Records kept when a flow file is cut exactly after flow k (a clean, shorter file).
        kept_at_boundary: list[tuple[int, int]] = []
        if kind == "mitm":
            for end in flow_boundaries(seed):
                prefix = tmp_path / f"prefix-{end}.mitm"
                prefix.write_bytes(data[:end])
                _, _, report = analyze(prefix, tmp_path, env)
                assert report is not None
                kept_at_boundary.append((end, report["inputs"][0]["records"]))
        truncations: list[tuple[int, int]] = []
        for _ in range(CASES_PER_SEED):
            name, mutated = rng.choice(MUTATIONS[kind])(data, rng)
            path = tmp_path / f"case-{cases:03d}{seed.suffix}"
            path.write_bytes(mutated)
            cases += 1
            code, stderr, report = analyze(path, tmp_path, env)
            label = f"{seed.name} {name}"
            assert code in (0, 3), f"{label}: exit {code}\n{stderr}"
            check_errors_name_the_file(stderr, path)
            records = report["inputs"][0]["records"] if report else 0
            if code == 3:
                assert f"Error: {path}" in stderr, label
            if name.startswith("truncate@"):
                cut = int(name.split("@")[1])
                truncations.append((cut, records))
                for end, kept in kept_at_boundary:
                    if end <= cut:
                        assert records >= kept, f"{label}: {records} records, {kept} were whole before the cut"
            path.unlink()
        if kind != "pcap":  # a pcap cut can end a connection early; HAR and flow files only lose the tail
            ordered = [records for _, records in sorted(truncations)]
            assert ordered == sorted(ordered), f"{seed.name}: a later cut kept fewer records: {sorted(truncations)}"
    assert 150 <= cases <= 300


@pytest.mark.slow
def test_damaged_files_through_the_real_process(tmp_path: Path) -> None:
    """The installed entry point on a truncated flow file, a HAR of garbage and an empty pcap: no traceback."""
    truncated = tmp_path / "cut.mitm"
    data = SAMPLE_CAPTURE.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    garbage = tmp_path / "garbage.har"
    garbage.write_bytes(b'{"log": {"entries": [' + bytes(range(256)) * 10)
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"\xd4\xc3\xb2\xa1")
    env = pinned_env(tmp_path / "data")
    run = run_auditor_process(["analyze", truncated, garbage, empty, "--json", tmp_path / "r.json"], env=env)
    assert run.exit_code == 3 and run.report is not None, run.stderr
    check_errors_name_the_file(run.stderr, truncated, garbage, empty)
    assert f"Error: {garbage}" in run.stderr and f"Error: {empty}" in run.stderr
    (cut,) = [i for i in run.report["inputs"] if i["path"] == str(truncated)]
    assert cut["records"] >= 8 and cut["problems"]


def test_har_fields_of_the_wrong_type_are_survived(tmp_path: Path) -> None:
    """Every field of a real HAR's entries swapped for a value of another type, a few at a time."""
    seed = SHARED_CAPTURES / "mitmproxy_diff_data.har"
    if not seed.is_file():
        pytest.skip(f"shared capture corpus not available ({seed} missing)")
    original = json.loads(seed.read_text())
    entries = len(original["log"]["entries"])
    env = pinned_env(tmp_path / "data")
    rng = random.Random(SEED)
    odd_values = [None, 5, -1, 1e308, 10**30, True, "", "x", [], {}, [1], {"a": 1}, "\x00\ud800"]
    for case in range(40):
        document = json.loads(json.dumps(original))
        for _ in range(3):
            entry = rng.choice(document["log"]["entries"])
            part = rng.choice([p for p in (entry, entry.get("request"), entry.get("response")) if isinstance(p, dict)])
            part[rng.choice(sorted(part))] = rng.choice(odd_values)
        # The address field broke the analysis before (a list is unhashable, a surrogate unencodable).
        document["log"]["entries"][case % entries]["serverIPAddress"] = rng.choice(odd_values)
        path = tmp_path / f"types-{case}.har"
        path.write_text(json.dumps(document), encoding="utf-8", errors="surrogatepass")
        code, stderr, report = analyze(path, tmp_path, env)
        assert code == 0 and report is not None, f"case {case}: exit {code}\n{stderr}"
        check_errors_name_the_file(stderr, path)
        summary = report["inputs"][0]
        assert summary["records"] + len(summary["problems"]) >= entries - 3, summary


def test_hand_edited_session_folder_keeps_its_good_records(tmp_path: Path) -> None:
    """A session's records.jsonl with wrong types in some lines: those lines are named and skipped, never a crash."""
    good = {"kind": "http", "time": 1.0, "source": "har", "host": "a.example", "host_source": "url",
            "content_visible": True, "method": "GET", "url": "https://a.example/x?email=ana@example.org",
            "request_body": ""}
    damaged = [("time", "abc"), ("time", None), ("host", 123), ("dns_answers", [1, 2]), ("url", ["x"]),
               ("bytes_up", "9"), ("request_headers", [[1, 2, 3]]), ("request_headers", 5),
               ("content_visible", "no"), ("server_port", "x"), ("request_body", 5), ("note", {"a": 1}),
               ("kind", "smoke-signal")]
    lines = [json.dumps(good)] + [json.dumps({**good, name: value}) for name, value in damaged]
    lines += ["[1, 2]", "7", "{" * 100_000, json.dumps(good)]
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    code, stderr, report = analyze(folder, tmp_path, pinned_env(tmp_path / "data"))
    assert code == 0 and report is not None, stderr
    check_errors_name_the_file(stderr, folder)
    (summary,) = report["inputs"]
    assert summary["records"] == 2 and len(summary["problems"]) == len(lines) - 2, summary["problems"]
    assert "email" in report["destinations"][0]["data_types"]


# -- hostile strings ------------------------------------------------------------------------------

ESC = "\x1b"
TERMINAL_ATTACKS = (f"{ESC}[2J{ESC}[H", f"{ESC}]8;;http://phish.example/{ESC}\\click{ESC}]8;;{ESC}\\", "\rspoofed",
                    f"{ESC}]0;owned title\x07", "\u202eexe.txt")
MARKUP = "<img src=x onerror=alert(1)>"
SCRIPT_CLOSE = "</script><script>alert(2)</script>"
FORMULA = '=HYPERLINK("http://phish.example","x")'


def hostile_har(tmp_path: Path) -> Path:
    """Requests whose every shown string is hostile: host, URL, headers, cookies, JSON keys."""
    hosts = ["evil-tracker.example", f"term{ESC}[2J.example", "=cmd.example", "+sum.example", "@at.example",
             "-minus.example"]
    entries = []
    for index, host in enumerate(hosts):
        body = {MARKUP: {"email": "ana.lopez@example.org"}, SCRIPT_CLOSE: 1, FORMULA: "x", ESC + "[31mred": 2}
        entries.append({
            "startedDateTime": f"2026-01-01T10:00:0{index}.000Z",
            "time": 5,
            "request": {
                "method": "POST",
                "url": f"http://{host}/p/{MARKUP}{SCRIPT_CLOSE}?{FORMULA}=1&email=ana.lopez@example.org"
                       f"&t={TERMINAL_ATTACKS[index % len(TERMINAL_ATTACKS)]}",
                "httpVersion": "HTTP/1.1",
                "headers": [{"name": "content-type", "value": "application/json"},
                            {"name": f"x-{MARKUP}", "value": f"{SCRIPT_CLOSE}ana.lopez@example.org"},
                            {"name": "Host", "value": host}],
                "cookies": [{"name": f"{FORMULA}{ESC}[2J", "value": "ana.lopez@example.org"}],
                "queryString": [],
                "postData": {"mimeType": "application/json", "text": json.dumps(body)},
                "headersSize": -1, "bodySize": -1,
            },
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                         "content": {"size": 0, "mimeType": "text/plain"}, "redirectURL": "", "headersSize": -1,
                         "bodySize": 0},
            "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0},
        })
    path = tmp_path / "hostile.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": entries}}))
    return path


def hostile_tracker_list(tmp_path: Path) -> Path:
    """A Disconnect-format list whose company and service names are attacks (imported lists are untrusted)."""
    folder = tmp_path / "disconnect"
    folder.mkdir()
    evil_company = f"{MARKUP}{SCRIPT_CLOSE}{ESC}[2J{FORMULA}"
    services = {"categories": {"Advertising": [{evil_company: {"http://evil.example/": ["evil-tracker.example"]}}]}}
    (folder / "services.json").write_text(json.dumps(services))
    (folder / "entities.json").write_text(json.dumps({"entities": {evil_company: {
        "properties": [], "resources": ["evil-tracker.example"]}}}))
    return folder / "services.json"


def assert_no_raw_controls(name: str, text: str) -> None:
    raw = re.findall(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text)
    assert not raw, f"{name} carries raw control characters {sorted(set(raw))!r}: {text[:2000]!r}"


def assert_markup_escaped(name: str, page: str) -> None:
    from plotly.offline import get_plotlyjs

    page = page.replace(get_plotlyjs(), "")
    assert "<img src=x" not in page, f"{name}: markup from the capture is not escaped"
    assert "<script>alert" not in page and "alert(2)</script" not in page, f"{name}: a script tag got through"
    assert "&lt;img src=x" in page or "\\u003cimg src=x" in page, f"{name}: the hostile string is not shown at all"


def test_hostile_strings_are_inert_in_every_output(tmp_path: Path) -> None:
    env = pinned_env(tmp_path / "data")
    runner = CliRunner()
    imported = runner.invoke(main, ["db", "import", "disconnect", str(hostile_tracker_list(tmp_path))], env=env)
    assert imported.exit_code == 0, imported.output
    har = hostile_har(tmp_path)

    old = run_analyze(["analyze", SAMPLE_CAPTURE, "--json", tmp_path / "old.json"], env=env)
    new = run_analyze(["analyze", har, "--json", tmp_path / "new.json", "--html", tmp_path / "new.html",
                       "--csv", tmp_path / "csv"], env=env)
    assert old.exit_code == 0 and new.exit_code == 0, new.stderr
    report = new.report
    assert report is not None
    hosts = {d["host"] for d in report["destinations"]}
    assert "evil-tracker.example" in hosts and len(hosts) >= 4, hosts
    (evil,) = [d for d in report["destinations"] if d["host"] == "evil-tracker.example"]
    assert MARKUP in (evil["company"] or ""), "the imported list's company name reaches the report"
    assert any(MARKUP in (f.get("key") or "") for f in report["findings"]), "hostile JSON keys reach the report"

    diff = runner.invoke(main, ["diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"),
                                "--html", str(tmp_path / "diff.html")], env=env)
    assert diff.exit_code == 0 and "evil-tracker.example" in diff.output
    lookup = runner.invoke(main, ["db", "lookup", "evil-tracker.example", f"x{ESC}[2J\r.example"], env=env)
    assert lookup.exit_code == 0 and "evil-tracker.example" in lookup.output

    # The proxy's live lines, from the events a live session would write for these destinations.
    from auditor.cli.proxy import LiveView

    folder = tmp_path / "session"
    folder.mkdir()
    events = [{"event": "destination", "host": d["host"], "company": d["company"], "category": d["category"],
               "party": d["party"], "is_tracker": d["is_tracker"]} for d in report["destinations"]]
    events += [{"event": "finding", **{k: f[k] for k in ("severity", "data_type", "host", "where", "key",
                                                          "masked_value", "title")}} for f in report["findings"]]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    printed = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(printed):
        view = LiveView(folder, on_ready=lambda ready: None)
        view.offset = 0
        view.poll()
    assert "new destination  evil-tracker.example" in printed.getvalue()

    info = runner.invoke(main, ["db", "info"], env=env)
    assert info.exit_code == 0 and "disconnect" in info.output
    for name, text in (("analyze stderr", new.stderr), ("diff output", diff.output), ("db lookup", lookup.output),
                       ("proxy lines", printed.getvalue()), ("db import", imported.output), ("db info", info.output)):
        assert_no_raw_controls(name, text)

    for path in (tmp_path / "csv").iterdir():
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert len(rows) > 1
        for row in rows:
            for cell in row:
                assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), f"{path.name}: formula cell {cell!r}"
    assert "'=cmd.example" in (tmp_path / "csv" / "destinations.csv").read_text()

    assert_markup_escaped("report HTML", (tmp_path / "new.html").read_text(encoding="utf-8"))
    assert_markup_escaped("diff HTML", (tmp_path / "diff.html").read_text(encoding="utf-8"))


@pytest.mark.parametrize("attack", TERMINAL_ATTACKS)
def test_printable_leaves_no_control_character(attack: str) -> None:
    from auditor.text import printable

    shown = printable(f"host{attack}.example")
    assert_no_raw_controls("printable", shown)
    assert shown.startswith("host") and shown.endswith(".example")


def test_har_response_mime_type_of_the_wrong_type_costs_nothing(tmp_path: Path) -> None:
    """Found by the har_structure fuzz target: a number as a response's mimeType crashed the app inference."""
    entry = {"startedDateTime": "2026-01-01T00:00:00Z", "time": 1,
             "request": {"method": "GET", "url": "https://www.school.example/", "httpVersion": "HTTP/1.1",
                         "headers": [], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
             "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                          "content": {"size": 0, "mimeType": 2}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
             "cache": {}, "timings": {"send": 0, "wait": 0, "receive": 0}}
    path = tmp_path / "mime.har"
    odd = {**entry, "response": {**entry["response"], "content": {"mimeType": {"a": 1}}}}
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"},
                                        "entries": [entry, odd]}}))
    code, stderr, report = analyze(path, tmp_path, pinned_env(tmp_path / "data"))
    assert code == 0 and report is not None, stderr
    assert report["inputs"][0]["records"] == 2
