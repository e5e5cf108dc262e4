"""``auditor export``: HAR 1.2 that analyses back to the same requests and findings; Parquet tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE, shared_capture

from auditor.api import analyze
from auditor.cli import main
from auditor.sources import ReadOptions

HAR_ENTRY_KEYS = {"startedDateTime", "time", "request", "response", "cache", "timings"}
HAR_REQUEST_KEYS = {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"}
HAR_RESPONSE_KEYS = {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL",
                     "headersSize", "bodySize"}


def export_har(capture: Path, out: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["export", str(capture), "--har", str(out), *extra])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    log = document["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "classroom-auditor"
    for entry in log["entries"]:
        assert entry.keys() >= HAR_ENTRY_KEYS
        assert entry["request"].keys() >= HAR_REQUEST_KEYS and entry["response"].keys() >= HAR_RESPONSE_KEYS
    return document


def requests_of(records: object) -> list[tuple[str, str, int]]:
    http = records[records.kind == "http"]  # type: ignore[attr-defined,index]
    return sorted(zip(http.method, http.url, http.request_body, strict=True))


def findings_of(report: dict[str, object]) -> list[tuple[object, ...]]:
    return sorted((f["rule"], f["data_type"], f["host"], f["where"], f["key"], f["fingerprint"], f["count"])
                  for f in report["findings"])  # type: ignore[attr-defined]


def test_a_flow_file_round_trips_through_har(tmp_path: Path) -> None:
    export_har(SAMPLE_CAPTURE, tmp_path / "sample.har")
    original = analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"t")
    again = analyze([tmp_path / "sample.har"], app_domains=["classroom.example"], salt=b"t")
    assert requests_of(again.records) == requests_of(original.records)
    assert len(original.report["findings"]) > 20
    assert findings_of(again.report) == findings_of(original.report)


def test_decrypted_tls_in_a_pcap_exports_to_har(tmp_path: Path) -> None:
    capture = shared_capture("zeek_tls12-decryption.pcap")
    keylog = shared_capture("zeek_tls12-decryption.sslkeylog.txt")
    document = export_har(capture, tmp_path / "zeek.har", "--keylog", str(keylog))
    entries = document["log"]["entries"]  # type: ignore[index]
    assert [(e["request"]["method"], e["request"]["url"]) for e in entries] == [("GET", "https://heise.de/")]
    assert entries[0]["response"]["status"] == 301

    original = analyze([capture], salt=b"t", read_options=ReadOptions(keylog=str(keylog)))
    again = analyze([tmp_path / "zeek.har"], salt=b"t")
    assert requests_of(again.records) == requests_of(original.records)
    assert findings_of(again.report) == findings_of(original.report)

    # Without the key log nothing was read, so there is nothing to export.
    assert export_har(capture, tmp_path / "sealed.har")["log"]["entries"] == []  # type: ignore[index]


def test_records_destinations_and_findings_export_to_parquet(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(SAMPLE_CAPTURE), "--parquet", str(tmp_path / "pq"),
                                       "--app-domain", "classroom.example"])
    assert result.exit_code == 0, result.output
    original = analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"t")
    with duckdb.connect() as db:
        def rows(table: str) -> int:
            return db.execute(f"SELECT count(*) FROM '{tmp_path / 'pq' / table}.parquet'").fetchone()[0]

        assert rows("records") == len(original.records)
        assert rows("destinations") == len(original.destinations)
        assert rows("findings") == len(original.findings)
        hosts = db.execute(f"SELECT DISTINCT host FROM '{tmp_path / 'pq' / 'findings'}.parquet' ORDER BY 1").fetchall()
        assert ("api.mixpanel.com",) in hosts


def test_export_needs_an_output_and_names_an_unreadable_capture(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["export", str(SAMPLE_CAPTURE)]).exit_code == 2
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"not a capture at all")
    result = CliRunner().invoke(main, ["export", str(junk), "--har", str(tmp_path / "x.har")])
    assert result.exit_code == 3 and "junk.pcap" in result.output and "unknown format" in result.output
    assert not (tmp_path / "x.har").exists()


@pytest.mark.parametrize("name", ["mitmproxy_diff_data.har", "ndpi_android.pcap"])
def test_other_inputs_export_their_readable_requests(name: str, tmp_path: Path) -> None:
    capture = shared_capture(name)
    document = export_har(capture, tmp_path / "out.har")
    original = analyze([capture], salt=b"t")
    visible = original.records[(original.records.kind == "http") & original.records.content_visible]
    assert len(document["log"]["entries"]) == len(visible) > 0  # type: ignore[index]
