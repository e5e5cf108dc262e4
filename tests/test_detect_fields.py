"""Field extraction: every part of a request, nested encodings with their chain, and bounds on hostile input."""

from __future__ import annotations

import base64
import gzip
import json
import os
import struct
import time
import zlib

from auditor.detect import DetectionContext, Where, default_detectors
from auditor.detect.fields import MAX_FIELDS, MAX_INFLATED, iter_fields
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind


def request(url: str = "https://sdk.example/x", headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
            content_type: str | None = None) -> Record:
    return Record(RecordKind.HTTP, 0.0, SourceKind.HAR, host="sdk.example", url=url, content_visible=True,
                  request_headers=headers, request_body=body, request_content_type=content_type)


def fields_of(record: Record) -> dict[tuple[str, str], tuple[str, str]]:
    return {(f.where.value, f.key): (f.value, f.encoding) for f in iter_fields(record)}


def test_url_path_query_fragment_headers_and_cookies_are_all_fields() -> None:
    from auditor.sources.common import cookies_from_headers

    headers = (("X-Client", "abc"), ("Cookie", "sid=s1; pref=dark"))
    record = request("https://sdk.example/v1/users/u42/events?lang=en&q=a%20b#tab=2", headers)
    record = Record(**{**{f: getattr(record, f) for f in record.__slots__}, "cookies": cookies_from_headers(headers)})
    found = fields_of(record)
    assert found[("path", "path[2]")][0] == "u42"
    assert found[("query", "q")][0] == "a b"
    assert found[("query", "#tab")][0] == "2"
    assert found[("header", "x-client")][0] == "abc"
    assert found[("cookie", "pref")][0] == "dark"
    assert ("header", "cookie") not in found  # walked as cookies instead


def test_nested_encodings_record_their_chain_outermost_first() -> None:
    inner = json.dumps({"user": {"id": "kid-7"}}).encode()
    wrapped = base64.b64encode(gzip.compress(inner)).decode()
    body = json.dumps({"payload": wrapped, "hexed": json.dumps({"n": "deep-value"}).encode().hex()}).encode()
    found = fields_of(request(body=body, headers=(("Content-Encoding", "br"),), content_type="application/json"))
    assert found[("body", "payload.user.id")] == ("kid-7", "br>base64>gzip>json:user.id")
    assert found[("body", "hexed.n")] == ("deep-value", "br>hex>json:n")


def test_decoding_stops_after_three_layers() -> None:
    value = "innermost-secret-value"
    for _ in range(5):
        value = base64.b64encode(value.encode()).decode()
    values = {f.value for f in iter_fields(request(f"https://sdk.example/?d={value}"))}
    assert "innermost-secret-value" not in values
    assert len(values) == 4  # the parameter and three decoded layers


def test_xml_multipart_protobuf_and_grpc_bodies_are_walked() -> None:
    xml = b'<r><device id="d-1"><ssid>LabNet</ssid></device></r>'
    assert fields_of(request(body=xml, content_type="application/xml"))[("body", "r.device.ssid")][0] == "LabNet"
    boundary = "b0undary"
    multipart = (f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n{{"who": "kid"}}\r\n'
                 f"--{boundary}--\r\n").encode()
    found = fields_of(request(body=multipart, content_type=f"multipart/form-data; boundary={boundary}"))
    assert found[("body", "meta.who")][0] == "kid"
    message = b"\x0a\x05hello" + b"\x12\x03\x08\x96\x01" + b"\x19" + struct.pack("<d", 52.370216)
    found = fields_of(request(body=message, content_type="application/x-protobuf"))
    assert found[("body", "1")][0] == "hello" and found[("body", "2.1")][0] == "150"
    assert found[("body", "3")][0] == "52.370216"
    framed = b"\x00" + struct.pack(">I", len(message)) + message
    assert fields_of(request(body=framed, content_type="application/grpc"))[("body", "[0].1")][0] == "hello"


def test_random_identifiers_are_not_decoded_into_noise() -> None:
    token = base64.b64encode(os.urandom(24)).decode()
    values = [f.value for f in iter_fields(request(f"https://sdk.example/?t={token}&h={os.urandom(16).hex()}"))]
    assert len(values) == 2


def test_compression_bomb_inside_a_field_is_bounded() -> None:
    bomb = base64.b64encode(zlib.compress(b'{"a": "' + b"x" * 50_000_000 + b'"}', 9)).decode()
    started = time.perf_counter()
    fields = iter_fields(request(body=json.dumps({"blob": bomb}).encode(), content_type="application/json"))
    assert time.perf_counter() - started < 5
    assert all(len(f.value) <= MAX_INFLATED for f in fields)


def test_hostile_bodies_never_crash_a_detector_and_stay_bounded() -> None:
    context = DetectionContext(Masker(b"t"))
    hostile = [
        b"[" * 100_000,  # JSON nesting beyond the recursion limit
        json.dumps([{"k": i} for i in range(50_000)]).encode(),  # more fields than the cap
        os.urandom(200_000),
        b"<a>" * 50_000,
        b"\x00\x7f\xff\xff\xff" + b"x" * 10,  # gRPC frame claiming 2 GB
        ("9" * 100_000).encode(),
        b"a=" + b"%" * 100_000,
    ]
    for body in hostile:
        for content_type in ("application/json", "application/grpc", "application/x-protobuf", None):
            record = request(body=body, content_type=content_type)
            assert len(iter_fields(record)) <= MAX_FIELDS
            for detector in default_detectors():
                list(detector.detect(record, context))


def test_detections_never_carry_the_raw_value() -> None:
    record = request("https://sdk.example/?email=ana.lopez.test@example.org&idfa=38400000-8cf0-11bd-b23e-10b96e40000d")
    context = DetectionContext(Masker(b"t"))
    detections = [d for det in default_detectors() for d in det.detect(record, context)]
    assert {d.data_type for d in detections} == {"email", "advertising_id"}
    for detection in detections:
        text = repr(detection)
        assert "ana.lopez.test@example.org" not in text and "38400000-8cf0-11bd-b23e-10b96e40000d" not in text
        assert detection.where is Where.QUERY
