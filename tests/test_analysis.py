"""The incremental pipeline: counts survive the end-of-capture rebuild, memory holds distinct detections only."""

from __future__ import annotations

from auditor.analysis import Analysis, AnalysisConfig
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report import build_report


def beacon(host: str, time: float, email: str = "mia.testpupil@student.example") -> Record:
    return Record(
        RecordKind.HTTP,
        time,
        SourceKind.HAR,
        host=host,
        host_source=HostSource.URL,
        content_visible=True,
        encrypted=True,
        method="GET",
        url=f"https://{host}/collect?user_email={email}",
    )


def test_repeated_detections_are_counted_not_stored_again_and_survive_app_inference() -> None:
    analysis = Analysis(AnalysisConfig(salt=b"test"))
    for second in range(50):
        analysis.add(beacon("lessons.classroom.example", 100.0 + second))
    for second in range(3):
        analysis.add(beacon("api.mixpanel.com", 200.0 + second))

    assert sum(len(kept) for kept in analysis.detections_by_host.values()) == 2
    report = build_report(analysis)  # no app domain given: inferred, and findings rebuilt

    assert report["app"]["domains"] == ["classroom.example"] and report["app"]["domains_inferred"]
    by_host = {f["host"]: f for f in report["findings"] if f["data_type"] == "email"}
    assert by_host["api.mixpanel.com"]["count"] == 3 and by_host["api.mixpanel.com"]["party"] == "third"
    assert by_host["lessons.classroom.example"]["count"] == 50
    assert by_host["lessons.classroom.example"]["party"] == "first"
    assert by_host["lessons.classroom.example"]["first_seen"] == "1970-01-01T00:01:40Z"


def test_coverage_counts_connections_not_destinations() -> None:
    analysis = Analysis(AnalysisConfig(app_domains=("classroom.example",), salt=b"test"))
    analysis.add(beacon("api.mixpanel.com", 1.0))  # decrypted: visible
    hidden = Record(
        RecordKind.TLS,
        2.0,
        SourceKind.PCAP,
        host="api.mixpanel.com",
        host_source=HostSource.SNI,
        encrypted=True,
        bytes_up=300,
        note="encrypted; no key for this session in the key log",
    )
    analysis.add(hidden)
    analysis.add(hidden)
    coverage = build_report(analysis)["coverage"]

    assert coverage["connections"] == 3 and coverage["connections_visible"] == 1
    assert coverage["share_visible"] == round(1 / 3, 4)
    (entry,) = coverage["hidden"]
    assert entry["host"] == "api.mixpanel.com" and entry["requests"] == 2 and entry["requests_total"] == 3
    assert entry["reason"] == "encrypted; no key for this session in the key log"
