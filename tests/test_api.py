"""``auditor.analyze()`` for notebooks: DataFrames of records, destinations and findings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import SAMPLE_CAPTURE, shared_capture

import auditor
from auditor.records import Record
from auditor.report.schema import report_schema


@pytest.fixture(scope="module")
def sample() -> auditor.AuditResult:
    return auditor.analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"api-test")


def test_records_frame_has_one_row_per_record(sample: auditor.AuditResult) -> None:
    records = sample.records
    assert len(records) == 16
    assert set(records.columns) == {f.name for f in dataclasses.fields(Record)}
    assert set(records["kind"]) == {"http"}
    assert records["request_body"].dtype.kind == "i", "bodies are replaced by their length"
    lesson = records[records["url"].str.contains("/v1/lessons/12", regex=False)]
    assert lesson["protocol"].tolist() == ["HTTP/2"]


def test_destinations_frame_matches_the_report(sample: auditor.AuditResult) -> None:
    frame = sample.destinations.set_index("host")
    contract = report_schema()["$defs"]["destination"]["required"]
    assert set(contract) <= set(sample.destinations.columns)
    assert len(frame) == sample.report["summary"]["destinations"] == 12
    assert frame.loc["api.classroom.example", "party"] == "first"
    assert frame.loc["app-measurement.com", "company"] == "Google"
    assert bool(frame.loc["app-measurement.com", "is_tracker"]) is True
    third = frame[frame["party"] == "third"]
    assert len(third) == sample.report["summary"]["third_parties"]


def test_findings_frame_is_masked(sample: auditor.AuditResult) -> None:
    findings = sample.findings
    contract = report_schema()["$defs"]["finding"]["required"]
    assert set(contract) <= set(findings.columns)
    assert len(findings) == sample.report["summary"]["findings"] > 0
    location = findings[(findings["data_type"] == "precise_location") & (findings["host"] == "app-measurement.com")]
    assert not location.empty
    text = findings.to_csv()
    assert "mia.testpupil@student.example" not in text and "51.50722" not in text


def test_same_salt_same_fingerprints_other_salt_other_fingerprints() -> None:
    one = auditor.analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"one")
    again = auditor.analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"one")
    other = auditor.analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], salt=b"two")
    assert set(one.findings["fingerprint"].dropna()) == set(again.findings["fingerprint"].dropna())
    assert not set(one.findings["fingerprint"].dropna()) & set(other.findings["fingerprint"].dropna())


def test_unreadable_input_does_not_raise_and_frames_keep_their_columns(tmp_path: Path) -> None:
    empty = tmp_path / "empty.har"
    empty.touch()
    result = auditor.analyze([empty], salt=b"api-test")
    assert result.report["inputs"][0]["problems"] == ["file is empty"]
    assert result.records.empty and result.destinations.empty and result.findings.empty
    assert "host" in result.records.columns
    assert {"host", "party", "company"} <= set(result.destinations.columns)
    assert {"rule", "severity", "data_type"} <= set(result.findings.columns)


def test_several_inputs_of_different_formats() -> None:
    result = auditor.analyze(
        [SAMPLE_CAPTURE, shared_capture("mitmproxy_charles.har")], app_domains=["classroom.example"], salt=b"x"
    )
    assert set(result.records["source"]) == {"flow_file", "har"}
    assert len(result.records) == 17
    assert "mitmproxy.org" in set(result.destinations["host"])
