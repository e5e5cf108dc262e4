"""The shipped JSON Schema describes the report contract, and real reports follow it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLE_CAPTURE, run_analyze, shared_capture

from auditor.classify import Party
from auditor.detect import DATA_TYPES, Where
from auditor.findings import Severity
from auditor.report.schema import ReportSchemaError, report_errors, report_schema, validate_report
from auditor.sources import ReadOptions
from auditor.sources.mitmflows import read as read_flows
from trackers_db.vocabulary import CATEGORIES


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("schema")
    env = {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(folder / "data")}
    args = ["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--json", folder / "r.json"]
    run = run_analyze(args, env)
    assert run.report is not None, run.stderr
    return run.report


def test_schema_vocabularies_match_the_code() -> None:
    defs = report_schema()["$defs"]
    assert defs["data_type"]["enum"] == list(DATA_TYPES)
    assert set(defs["category"]["enum"]) == set(CATEGORIES)
    assert set(defs["party"]["enum"]) == {p.value for p in Party}
    assert set(defs["severity"]["enum"]) == {s.value for s in Severity}
    assert set(defs["where"]["enum"]) == {w.value for w in Where}


def test_schema_ships_inside_the_package() -> None:
    import auditor.report

    shipped = Path(auditor.report.__file__).parent / "schema" / "report-1.json"
    assert json.loads(shipped.read_text()) == report_schema()


def test_sample_report_is_valid(sample_report: dict[str, Any]) -> None:
    validate_report(sample_report)
    assert sample_report["findings"], "the sample session leaks synthetic data; a report without findings is wrong"


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda r: r.pop("summary"), "'summary' is a required property"),
        (lambda r: r.update(schema="classroom-auditor.report/2"), "classroom-auditor.report/1"),
        (lambda r: r["destinations"][0].update(party="fourth"), "destinations/0/party"),
        (lambda r: r["destinations"][0].update(is_tracker="yes"), "destinations/0/is_tracker"),
        (lambda r: r["destinations"][0].pop("matched_by"), "'matched_by' is a required property"),
        (lambda r: r["findings"][0].update(severity="critical"), "findings/0/severity"),
        (lambda r: r["findings"][0].update(data_type="shoe_size"), "findings/0/data_type"),
        (lambda r: r["findings"][0].update(where="elsewhere"), "findings/0/where"),
        (lambda r: r["findings"][0].update(count=0), "findings/0/count"),
        (lambda r: r["findings"][0].update(first_seen="yesterday"), "findings/0/first_seen"),
        (lambda r: r["inputs"][0].update(sha256="not-a-hash"), "inputs/0/sha256"),
        (lambda r: r["summary"]["by_data_type"].update(shoe_size=1), "summary/by_data_type"),
    ],
)
def test_schema_rejects_broken_reports(sample_report: dict[str, Any], mutate: Any, complaint: str) -> None:
    broken = copy.deepcopy(sample_report)
    mutate(broken)
    with pytest.raises(ReportSchemaError) as caught:
        validate_report(broken)
    assert complaint in str(caught.value)


def test_schema_allows_added_keys(sample_report: dict[str, Any]) -> None:
    """Later issues may add keys; they must not need a new schema version."""
    extended = copy.deepcopy(sample_report)
    extended["something_new"] = {"x": 1}
    extended["destinations"][0]["new_field"] = [1, 2]
    extended["findings"][0]["new_field"] = None
    assert report_errors(extended) == []


def _session_folder(tmp_path: Path) -> Path:
    """Write a session folder as the live addon does, from the sample capture's records."""
    folder = tmp_path / "session"
    folder.mkdir(mode=0o700)
    problems: list[Any] = []
    lines = [json.dumps(r.to_json()) for r in read_flows(SAMPLE_CAPTURE, ReadOptions(), problems)]
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    "source",
    [
        "sample-mitm",
        "session-folder",
        "mitmproxy_event_stream.mitm",
        "mitmproxy_diff_data.mitm",
        "reporthar_web_first-run.har",
        "mitmproxy_charles.har",
        "pagexray_expressen.har",
        "ndpi_android.pcap",
        "ndpi_http_ua_splitted_in_two_pkts.pcapng",
    ],
)
def test_reports_from_every_source_format_are_valid(source: str, tmp_path: Path) -> None:
    if source == "sample-mitm":
        path = SAMPLE_CAPTURE
    elif source == "session-folder":
        path = _session_folder(tmp_path)
    else:
        path = shared_capture(source)
    env = {"CLASSROOM_AUDITOR_SALT": "s", "CLASSROOM_AUDITOR_DATA": str(tmp_path / "data")}
    run = run_analyze(["analyze", path, "--json", tmp_path / "report.json"], env)
    assert run.report is not None, run.stderr  # run_analyze validated it
    assert run.report["inputs"][0]["path"] == str(path)


CONTRACT_DATA_TYPES = (
    "ip_address", "precise_location", "coarse_location", "advertising_id", "device_id", "hardware_id", "network_id",
    "email", "name", "phone", "birthdate", "student_id", "username", "credentials", "voice", "face_image", "image",
    "video", "biometric_other", "attention_tracking", "device_fingerprint", "other_identifier",
)


def test_schema_keeps_the_issue_2_contract() -> None:
    """The keys and vocabularies promised in issue 2; later versions may add to them, never remove."""
    schema = report_schema()
    assert schema["properties"]["schema"]["const"] == "classroom-auditor.report/1"
    assert set(schema["required"]) >= {
        "schema", "generated_at", "tool", "inputs", "trackers_db", "app", "summary", "destinations", "findings"
    }
    defs = schema["$defs"]
    assert set(defs["data_type"]["enum"]) >= set(CONTRACT_DATA_TYPES)
    assert set(defs["party"]["enum"]) >= {"first", "third", "local", "unknown"}
    assert set(defs["severity"]["enum"]) >= {"high", "medium", "low", "info"}
    assert set(defs["where"]["enum"]) >= {"path", "query", "header", "cookie", "body", "dns", "sni"}
    assert set(defs["destination"]["required"]) >= {
        "host", "registrable_domain", "party", "company", "category", "is_tracker", "countries", "ips", "requests",
        "bytes_up", "bytes_down", "content_visible", "matched_by", "data_types",
    }
    assert set(defs["finding"]["required"]) >= {
        "rule", "severity", "data_type", "host", "company", "party", "where", "key", "encoding", "masked_value",
        "fingerprint", "count", "first_seen", "policy_refs",
    }
