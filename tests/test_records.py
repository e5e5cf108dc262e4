"""The normalized record survives the session file round trip byte for byte."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import auditor.records as records_module
from auditor.records import HostSource, Record, RecordKind, SourceKind


def full_record() -> Record:
    return Record(
        kind=RecordKind.HTTP,
        time=1_700_000_000.25,
        source=SourceKind.PROXY,
        host="api.classroom.example",
        host_source=HostSource.HOST_HEADER,
        client_ip="192.168.1.20",
        client_port=51000,
        server_ip="203.0.113.9",
        server_port=443,
        protocol="HTTP/2",
        content_visible=True,
        encrypted=True,
        method="POST",
        url="https://api.classroom.example/v1/answer?lesson=3",
        request_headers=(("Content-Type", "application/octet-stream"), ("X-Odd", "\udcff")),
        cookies=(("sid", "abc"),),
        request_body=bytes(range(256)),
        request_body_truncated=True,
        request_content_type="application/octet-stream",
        response_status=201,
        response_content_type="application/json",
        bytes_up=900,
        bytes_down=120,
        dns_answers=("203.0.113.9",),
        dns_cnames=("edge.cdn.example",),
        note="body cut at 1 MiB",
        origin="session-1",
    )


def test_json_round_trip_keeps_every_field() -> None:
    record = full_record()
    line = json.dumps(record.to_json())
    assert Record.from_json(json.loads(line)) == record


def test_every_field_has_a_docstring() -> None:
    source = Path(records_module.__file__).read_text(encoding="utf-8")
    for item in dataclasses.fields(Record):
        block = source.split(f"    {item.name}:", 1)[1].split("\n", 2)[1]
        assert block.strip().startswith('"""'), f"Record.{item.name} has no docstring"


def test_from_json_rejects_unknown_kind() -> None:
    data = full_record().to_json()
    data["kind"] = "carrier-pigeon"
    with pytest.raises(ValueError):
        Record.from_json(data)


def test_destination_falls_back_to_address() -> None:
    record = Record(RecordKind.CONNECTION, 0.0, SourceKind.PCAP, server_ip="198.51.100.7")
    assert record.destination == "198.51.100.7"
    assert full_record().header("content-type") == "application/octet-stream"
