"""Bad input of every kind gets one clear line naming the file, and the other inputs are still analysed.

Each case runs the real CLI with the bad input next to the bundled sample
capture: the run exits 3 (an input failed), the error line names the bad file,
and the report still covers the sample's destinations. Special files run in a
subprocess with a deadline, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, SAMPLE_CAPTURE, AnalyzeRun, _report_from, pinned_env, run_analyze, shared_capture

SAMPLE_HOSTS = 12  # destinations of captures/sample-classroom.mitm


def run_cli(args: list[str | os.PathLike[str]], data_dir: Path, prefix: tuple[str, ...] = ()) -> AnalyzeRun:
    """The real ``python -m auditor`` in a subprocess, with a deadline (a FIFO must never hang it)."""
    text_args = [os.fspath(a) for a in args]
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "auditor", *text_args],
        capture_output=True, text=True, env={**os.environ, **pinned_env(data_dir)}, timeout=120, cwd=REPO,
        check=False,
    )
    report = _report_from(text_args, done.stdout) if done.returncode in (0, 1, 3) else None
    return AnalyzeRun(done.returncode, done.stdout, done.stderr, report)


def assert_one_error_and_the_rest_analysed(run: AnalyzeRun, bad: Path, words: str) -> None:
    """Exit 3, one error line naming the bad input with ``words``, the sample still fully reported."""
    assert run.exit_code == 3, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, run.stderr
    assert str(bad) in errors[0] and words in errors[0], errors[0]
    assert "Traceback" not in run.stderr
    assert run.report is not None
    assert len(run.report["destinations"]) == SAMPLE_HOSTS
    bad_entry = next(item for item in run.report["inputs"] if item["path"] == str(bad))
    assert bad_entry["records"] == 0 and bad_entry["problems"]


# -- special files: checked before anything opens or hashes them -------------------------------------


def test_a_fifo_gets_an_error_line_instead_of_hanging_the_run(tmp_path: Path) -> None:
    fifo = tmp_path / "capture.pcap"
    os.mkfifo(fifo)
    run = run_cli(["analyze", fifo, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], tmp_path / "data")
    assert_one_error_and_the_rest_analysed(run, fifo, "named pipe")


def test_a_device_gets_an_error_line(tmp_path: Path) -> None:
    device = Path("/dev/zero")  # endless: reading it whole would never finish
    if not device.exists():
        pytest.skip("no /dev/zero on this system")
    run = run_cli(["analyze", device, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], tmp_path / "data")
    assert_one_error_and_the_rest_analysed(run, device, "character device")


def test_a_socket_gets_an_error_line(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(os.fspath(path))
        run = run_cli(["analyze", path, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], tmp_path / "data")
    assert_one_error_and_the_rest_analysed(run, path, "socket")


def without_root_override() -> tuple[str, ...]:
    """A command prefix under which file modes apply: root reads any file unless it drops its override."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: an unreadable file cannot be made")
    return (setpriv, "--bounding-set", "-dac_override,-dac_read_search")


def test_an_unreadable_file_is_one_error_not_the_end_of_the_run(tmp_path: Path) -> None:
    prefix = without_root_override()
    secret = tmp_path / "locked.mitm"
    shutil.copyfile(SAMPLE_CAPTURE, secret)
    secret.chmod(0)
    run = run_cli(["analyze", secret, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], tmp_path / "data", prefix)
    assert_one_error_and_the_rest_analysed(run, secret, "Permission denied")


def test_an_unreadable_folder_is_one_error_not_the_end_of_the_run(tmp_path: Path) -> None:
    prefix = without_root_override()
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "records.jsonl").write_text("")
    folder.chmod(0)
    try:
        run = run_cli(["analyze", folder, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], tmp_path / "data", prefix)
    finally:
        folder.chmod(0o700)
    assert_one_error_and_the_rest_analysed(run, folder, "cannot read folder")


# -- captures that yield nothing are errors, not clean runs --------------------------------------------


def damaged_captures(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of capture that yields no frame, built from a real capture, with the words its error says."""
    pcap = shared_capture("zeek_tls12-decryption.pcap").read_bytes()
    pcapng = shared_capture("ndpi_http_ua_splitted_in_two_pkts.pcapng").read_bytes()
    section_length = struct.unpack("<I", pcapng[4:8])[0]
    huge_packet = struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF)
    huge_block = struct.pack("<II", 6, 0x7FFFFFF0)
    cases = {
        "random-after-magic.pcap": (pcap[:4] + bytes((i * 97 + 13) % 256 for i in range(3000)), "damaged at byte"),
        "cut-at-30.pcap": (pcap[:30], "damaged at byte 24"),
        "cut-at-200.pcapng": (pcapng[:200], "pcapng damaged"),
        "huge-packet.pcap": (pcap[:24] + huge_packet + b"x" * 100, "corrupt frame header"),
        "huge-block.pcapng": (pcapng[:section_length] + huge_block + b"y" * 100, "corrupt block"),
        "header-only.pcap": (pcap[:24], "holds no packets"),
    }
    made = {}
    for name, (content, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        made[name] = (path, words)
    return made


@pytest.mark.parametrize(
    "name",
    ["random-after-magic.pcap", "cut-at-30.pcap", "cut-at-200.pcapng", "huge-packet.pcap", "huge-block.pcapng",
     "header-only.pcap"],
)
def test_a_capture_that_yields_nothing_is_an_error(tmp_path: Path, name: str) -> None:
    path, words = damaged_captures(tmp_path)[name]
    run = run_analyze(["analyze", path, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert_one_error_and_the_rest_analysed(run, path, words)


# -- one bad value costs one entry ---------------------------------------------------------------------


def har_entry(url: str, **extra: object) -> dict[str, object]:
    return {"startedDateTime": "2026-01-01T10:00:00Z", "request": {"method": "GET", "url": url, "headers": []},
            "response": {"status": 200}, **extra}


def test_an_overflowing_websocket_time_costs_that_message_not_the_later_entries(tmp_path: Path) -> None:
    entries = [
        har_entry("https://before.example/"),
        har_entry("wss://socket.example/ws", _webSocketMessages=[
            {"type": "send", "time": 1e308, "opcode": 1, "data": "hello"},
        ]),
        har_entry("https://after.example/"),
        har_entry("https://far-future.example/", startedDateTime="9999-12-31T23:59:59-23:59"),
        har_entry("https://last.example/"),
    ]
    text = json.dumps({"log": {"version": "1.2", "entries": entries}}).replace("1e+308", "1e400")
    har = tmp_path / "hostile.har"
    har.write_text(text)
    run = run_analyze(["analyze", har, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    hosts = {d["host"] for d in run.report["destinations"]}
    assert {"before.example", "socket.example", "after.example", "last.example"} <= hosts
    assert "far-future.example" not in hosts
    warnings = [line for line in run.stderr.splitlines() if line.startswith(f"warning: {har}:")]
    assert any("impossible time inf" in line for line in warnings), run.stderr
    assert len(warnings) == 2, run.stderr


# -- every cut is a line on stderr naming the file -------------------------------------------------------


def test_each_cut_is_one_line_on_stderr_naming_the_file(tmp_path: Path) -> None:
    bomb = gzip.compress(b"a" * 3_000_000)
    many_fields = json.dumps({f"key{i}": i for i in range(6000)})
    entries = [
        har_entry("https://upload.example/", request={
            "method": "POST", "url": "https://upload.example/",
            "headers": [{"name": "Content-Encoding", "value": "gzip"}],
            "postData": {"mimeType": "text/plain", "encoding": "base64", "text": base64.b64encode(bomb).decode()}}),
        har_entry("https://fields.example/", request={
            "method": "POST", "url": "https://fields.example/", "headers": [],
            "postData": {"mimeType": "application/json", "text": many_fields}}),
    ]
    har = tmp_path / "cuts.har"
    har.write_text(json.dumps({"log": {"entries": entries}}))
    run = run_analyze(["analyze", har, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith(f"warning: {har}:")]
    assert any("1 request body was longer than the body cap (1048576 bytes after decompression)" in line
               for line in lines), run.stderr
    assert any("only the first 5000 values of a request were searched (in 1 request)" in line for line in lines)
    assert len(lines) == len(set(lines))


# -- crashes the fuzzer found (benchmarks/fuzz.py), one regression test each ----------------------------


def test_fuzz_crash_a_websocket_time_too_large_for_a_float_costs_only_its_entry(tmp_path: Path) -> None:
    """Found by the har_structure target: an integer time of 10**400 raised OverflowError out of the reader."""
    entries = [
        har_entry("wss://socket.example/ws", _webSocketMessages=[{"type": "send", "time": 1, "data": "x"}]),
        har_entry("https://after.example/"),
    ]
    text = json.dumps({"log": {"entries": entries}}).replace('"time": 1,', '"time": 1' + "0" * 400 + ",")
    har = tmp_path / "overflow.har"
    har.write_text(text)
    run = run_analyze(["analyze", har, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    assert {d["host"] for d in run.report["destinations"]} == {"after.example"}
    assert any("entry 0 skipped: OverflowError" in line for line in run.stderr.splitlines()), run.stderr


def test_fuzz_crash_a_flow_that_is_not_a_mapping_ends_the_file_with_a_line_and_keeps_earlier_flows(
    tmp_path: Path,
) -> None:
    """Found by the flows target: mitmproxy's reader raised AttributeError on a flow decoded as a string."""
    damaged = tmp_path / "damaged.mitm"
    good = SAMPLE_CAPTURE.read_bytes()
    damaged.write_bytes(good + b"5:hello,")
    run = run_analyze(["analyze", damaged, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    assert len(run.report["destinations"]) == SAMPLE_HOSTS
    expected = f"warning: {damaged}: flow file damaged at byte {len(good)}, after 16 flows: AttributeError"
    assert any(line.startswith(expected) for line in run.stderr.splitlines()), run.stderr


@pytest.mark.parametrize(
    ("source", "file_name", "document"),
    [
        ("ghostery", "trackerdb.json", {
            "patterns": {"good": {"name": "Good Analytics", "domains": ["good-tracker.example"], "organization": "o"},
                         "broken": "a pattern that is a string"},
            "organizations": {"o": {"name": "Good Analytics Inc.", "country": "US"}},
            "domains": {"also-bad.example": {"not": "a pattern id"}},
        }),
        ("disconnect", "services.json", {
            "categories": {"Analytics": ["a service that is a string",
                                         {"Good Analytics": {"https://good.example/": ["good-tracker.example"]}}]},
        }),
        ("exodus", "trackers.json", {
            "trackers": {"1": "a tracker that is a string",
                         "2": {"name": "Good Analytics", "network_signature": "good-tracker\\.example",
                               "categories": [{"not": "a name"}, "Analytics"]}},
        }),
    ],
)
def test_fuzz_crash_one_malformed_item_in_a_tracker_list_costs_that_item(
    tmp_path: Path, source: str, file_name: str, document: dict[str, object]
) -> None:
    """Found by the importers target: an item of the wrong JSON type raised AttributeError or TypeError."""
    folder = tmp_path / source
    folder.mkdir()
    (folder / file_name).write_text(json.dumps(document))
    env = pinned_env(tmp_path / "data")
    imported = run_analyze(["db", "import", source, folder], env=env)
    assert imported.exit_code == 0, imported.stderr
    looked_up = run_analyze(["db", "lookup", "good-tracker.example"], env=env)
    assert looked_up.exit_code == 0 and source in looked_up.stdout, looked_up.stdout


def pcapng_block(block_type: int, body: bytes) -> bytes:
    padded = body + bytes(-len(body) % 4)
    length = 12 + len(padded)
    return struct.pack("<II", block_type, length) + padded + struct.pack("<I", length)


def test_fuzz_crash_a_cut_timestamp_resolution_option_is_read_past_not_fatal(tmp_path: Path) -> None:
    """Found by the pcap_reader target: an if_tsresol option without its value byte raised IndexError."""
    from pcap_builders import dns_exchange

    section = pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    interface = pcapng_block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HH", 9, 1))  # value byte missing
    packets = b""
    for packet in dns_exchange("cut-option.example", [("A", "192.0.2.7")]):
        data = bytes(packet)
        micros = 1_767_261_600_000_000
        header = struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data))
        packets += pcapng_block(6, header + data)
    capture = tmp_path / "cut-option.pcapng"
    capture.write_bytes(section + interface + packets)
    run = run_analyze(["analyze", capture, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    assert [d["host"] for d in run.report["destinations"]] == ["cut-option.example"]


@pytest.mark.parametrize(
    ("source", "file_name", "document"),
    [
        ("adguard", "trackers.json", {
            "categories": ["a list where an object belongs"],
            "trackers": {"good": {"name": "Good Analytics", "categoryId": 1, "companyId": None}},
            "trackerDomains": {"good-tracker.example": "good", "bad.example": ["not", "an", "id"]},
        }),
        ("duckduckgo-web", "extension-tds.json", {
            "entities": ["a list where an object belongs"],
            "trackers": {"good-tracker.example": {"owner": {"name": "Good Analytics", "displayName": "Good"},
                                                  "categories": [{"x": 1}, "Analytics"], "default": "block"},
                         "bad.example": {"owner": "a string where an object belongs"}},
        }),
        ("duckduckgo-app", "android-tds.json", {
            "version": "9" * 15,
            "trackers": {"good-tracker.example": {"owner": {"name": "Good Analytics", "displayName": "Good"},
                                                  "categories": ["Analytics"], "default": "block"}},
        }),
    ],
)
def test_fuzz_crash_more_tracker_lists_with_one_value_of_the_wrong_type(
    tmp_path: Path, source: str, file_name: str, document: dict[str, object]
) -> None:
    """Found by the importers target on its second run: unhashable ids, a version date past year 9999."""
    test_fuzz_crash_one_malformed_item_in_a_tracker_list_costs_that_item(tmp_path, source, file_name, document)


def test_fuzz_crash_a_flow_mitmproxy_rejects_by_assertion_ends_the_file_with_a_line(tmp_path: Path) -> None:
    """Found by the flows target: a flow with a key mitmproxy does not know fails an assert inside its reader."""
    from mitmproxy import io as mitm_io
    from mitmproxy.io import tnetstring

    good = SAMPLE_CAPTURE.read_bytes()
    first = next(iter(mitm_io.FlowReader(io.BytesIO(good)).stream()))
    state = first.get_state()
    state["a_key_no_mitmproxy_knows"] = b"x"
    damaged = tmp_path / "assert.mitm"
    damaged.write_bytes(good + tnetstring.dumps(state))
    run = run_analyze(["analyze", damaged, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None and len(run.report["destinations"]) == SAMPLE_HOSTS
    expected = f"warning: {damaged}: flow file damaged at byte {len(good)}, after 16 flows: AssertionError"
    assert any(line.startswith(expected) for line in run.stderr.splitlines()), run.stderr
