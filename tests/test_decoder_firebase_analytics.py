"""The Google Analytics for Firebase decoder on hand-built uploads to app-measurement.com/a.

No shared capture holds a readable upload (ndpi_android.pcap reaches
app-measurement.com only over TLS without keys), so the bodies are encoded
here field by field, in the layout of the community's reverse-engineering
(lari/firebase-ga4-app-measurement-protobuf) and TrackHAR's adapter: a Batch
whose field 1 repeats one Bundle per upload, gzip-compressed as the SDK sends it.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest
from corpus.build_corpus import pb_int, pb_str

from auditor.detect import Detection, DetectionContext, default_detectors
from auditor.detect.endpoints import DecoderDetector, DecoderError, parse_decoders
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind
from auditor.sources import ReadOptions, describe_input, read_input

CONTEXT = DetectionContext(Masker(b"firebase-analytics-tests"))
DETECTOR = "decoder:firebase-analytics"

AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"  # Google's documented example advertising ID
APP_INSTANCE_ID = "8e1f2c3d4b5a69788796a5b4c3d2e1f0"
FID = "cX9wXpvbQq-3mJ1d5a_Gbz"
IDFV = "5B2C9A7E-1D3F-4A6B-9C8D-7E6F5A4B3C2D"
USER_ID = "pupil-4411"
GMP_APP_ID = "1:1234567890:android:0a1b2c3d4e5f6789"
APP_VERSION = "4.1.2"
T0 = 1_709_632_800_000


def _event(name: str, *params: bytes) -> bytes:
    return pb_str(2, b"".join(pb_str(1, p) for p in params) + pb_str(2, name) + pb_int(3, T0))


def _user_property(name: str, value: str) -> bytes:
    return pb_str(3, pb_int(1, T0) + pb_str(2, name) + pb_str(3, value))


def _bundle(platform: str, os_version: str, model: str, *ids: bytes) -> bytes:
    """One bundle in field-number order, as protobuf writers emit it."""
    return (
        pb_int(1, 1)
        + _event("_e", pb_str(1, "_o") + pb_str(2, "auto"), pb_str(1, "_et") + pb_int(3, 1200))
        + _event("screen_view", pb_str(1, "ga_screen") + pb_str(2, "Fractions"))
        + _user_property("school_year", "year-7")  # a custom property: not an ID, and before `_id` on purpose
        + _user_property("_id", USER_ID)  # what setUserId sends
        + pb_int(4, T0) + pb_int(5, T0 - 60_000) + pb_int(6, T0)
        + pb_str(8, platform) + pb_str(9, os_version) + pb_str(10, model) + pb_str(11, "en-gb")
        + pb_int(12, 60) + pb_str(13, "com.android.vending") + pb_str(14, "edu.example.classroom")
        + pb_str(16, APP_VERSION) + pb_int(17, 231710)
        + b"".join(ids)
        + pb_int(23, 5) + pb_str(25, GMP_APP_ID) + pb_int(31, 4)
    )


ANDROID = pb_str(1, _bundle(
    "android", "13", "SM-T220",
    pb_str(19, AAID), pb_int(20, 0), pb_str(21, APP_INSTANCE_ID), pb_str(30, FID),
))
IOS = pb_str(1, _bundle(
    "ios", "17.4", "iPad13,18",
    pb_int(20, 1), pb_str(21, APP_INSTANCE_ID), pb_str(27, IDFV),  # no IDFA: the vendor ID is sent instead
))


def _upload(body: bytes, headers: tuple[tuple[str, str], ...] = (),
            content_type: str | None = "application/x-www-form-urlencoded",
            url: str = "https://app-measurement.com/a") -> Record:
    """The upload as a source hands it over when the body is gzip the SDK applied without saying so."""
    return Record(
        RecordKind.HTTP, 0.0, SourceKind.HAR, host=url.split("/")[2], url=url, method="POST", content_visible=True,
        encrypted=True, request_headers=headers, request_body=gzip.compress(body), request_content_type=content_type,
    )


def _all(record: Record) -> list[Detection]:
    return [d for detector in default_detectors() for d in detector.detect(record, CONTEXT)]


def _by_decoder(record: Record) -> dict[tuple[str, str], Detection]:
    return {(d.data_type, d.key or ""): d for d in _all(record) if d.detector == DETECTOR}


def test_an_android_upload_names_each_identifier_and_the_device_traits() -> None:
    found = _by_decoder(_upload(ANDROID))
    assert set(found) == {
        ("device_id", "1.21"), ("advertising_id", "1.19"), ("device_id", "1.30"),
        ("other_identifier", "1.3.3"), ("device_fingerprint", "1.9, 1.10, 1.11, 1.12"),
    }
    assert all(d.where.value == "body" for d in found.values())
    assert "app instance ID" in found["device_id", "1.21"].reason
    assert "advertising ID" in found["advertising_id", "1.19"].reason
    assert "Firebase installation ID" in found["device_id", "1.30"].reason
    assert "setUserId" in found["other_identifier", "1.3.3"].reason
    traits = found["device_fingerprint", "1.9, 1.10, 1.11, 1.12"]
    assert "device model" in traits.reason and "time-zone offset" in traits.reason
    for detection in found.values():
        assert "read by the Google Analytics for Firebase decoder" in detection.reason
        for raw in (AAID, APP_INSTANCE_ID, FID, USER_ID, "SM-T220"):
            assert raw not in detection.reason and raw not in (detection.detail or "")


def test_an_ios_upload_without_the_advertising_id_reports_the_vendor_id() -> None:
    found = _by_decoder(_upload(IOS))
    assert ("device_id", "1.27") in found and ("advertising_id", "1.19") not in found
    assert "identifier for vendor" in found["device_id", "1.27"].reason


def test_the_reference_names_the_community_source_where_only_it_gives_the_field() -> None:
    found = _by_decoder(_upload(ANDROID))
    detail = found["device_id", "1.21"].detail or ""
    assert "support.google.com/firebase/answer/6318039" in detail
    assert "lari/firebase-ga4-app-measurement-protobuf" in detail
    assert found["device_id", "1.21"].confidence < 0.9


def test_project_constants_and_app_version_are_not_personal_identifiers() -> None:
    # gmp_app_id (1.25) is the Firebase project's app ID and the app ID and version are the same for every pupil:
    # no detector reports them, and a custom user property is not taken for the user ID.
    detections = _all(_upload(ANDROID))
    places = {(d.key, d.data_type) for d in detections}
    for key in ("1.25", "1.16", "1.14"):
        assert not [p for p in places if p[0] == key], (key, places)
    assert [d.key for d in detections if d.data_type == "other_identifier"] == ["1.3.3"]


def test_the_generic_rules_stay_silent_where_the_decoder_explained_the_place() -> None:
    detections = _all(_upload(ANDROID))
    explained = {d.key for d in detections if d.detector == DETECTOR}
    others = [(d.detector, d.key, d.data_type) for d in detections
              if d.detector != DETECTOR and d.key in explained | {"1.9", "1.10", "1.11", "1.12"}]
    assert others == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", None, "application/octet-stream"])
def test_gzip_without_its_header_is_inflated_and_read_as_protobuf_whatever_the_content_type(
    content_type: str | None,
) -> None:
    # The magic bytes 1f 8b decide; the content type the SDK sends says nothing about protobuf.
    found = _by_decoder(_upload(ANDROID, content_type=content_type))
    assert {("device_id", "1.21"), ("advertising_id", "1.19")} <= set(found)
    assert found["device_id", "1.21"].encoding == "gzip"


def test_a_har_upload_with_content_encoding_gzip_is_inflated_once(tmp_path: Path) -> None:
    # What the Android SDK sends: Content-Encoding gzip on a form content type; the HAR keeps the compressed bytes.
    headers = [{"name": "Content-Encoding", "value": "gzip"},
               {"name": "Content-Type", "value": "application/x-www-form-urlencoded"}]
    entry = {
        "startedDateTime": "2024-03-05T10:00:00Z", "time": 1,
        "request": {"method": "POST", "url": "https://app-measurement.com/a", "httpVersion": "HTTP/1.1",
                    "headers": headers, "cookies": [], "queryString": [], "headersSize": -1, "bodySize": -1,
                    "postData": {"mimeType": "application/x-www-form-urlencoded", "encoding": "base64",
                                 "text": base64.b64encode(gzip.compress(ANDROID)).decode()}},
        "response": {"status": 204, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                     "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
        "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0},
    }
    path = tmp_path / "upload.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                                        "entries": [entry]}}), encoding="utf-8")
    (record,) = list(read_input(path, ReadOptions(), describe_input(path)))
    found = _by_decoder(record)
    assert {("device_id", "1.21"), ("advertising_id", "1.19"), ("device_id", "1.30")} <= set(found)
    assert found["device_id", "1.21"].encoding == "gzip"


def test_regional_hosts_are_read_and_other_paths_are_not() -> None:
    assert ("device_id", "1.21") in _by_decoder(_upload(ANDROID, url="https://region1.app-measurement.com/a"))
    assert not _by_decoder(_upload(ANDROID, url="https://app-measurement.com/config/app/1:1:android:1"))


def test_a_when_condition_reads_a_value_only_after_its_sibling_name() -> None:
    text = (
        'company = "X"\n[[decoder]]\nid = "x"\nservice = "X"\nendpoint = [{host = "x.example"}]\n'
        'property = [{part = "body", key = "1.3", when = {key = "1.2", value = "uid"}, type = "other_identifier",'
        ' reason = "R.", reference = ["https://a.example", "https://b.example"]}]'
    )
    (decoder,) = parse_decoders(text, "x.toml")
    assert decoder.properties[0].reference == "https://a.example ; https://b.example"
    body = pb_str(1, pb_str(2, "name") + pb_str(3, "Ada Okafor")) + pb_str(1, pb_str(2, "uid") + pb_str(3, "u-77120"))
    record = Record(RecordKind.HTTP, 0.0, SourceKind.HAR, host="x.example", url="https://x.example/", method="POST",
                    content_visible=True, encrypted=True, request_body=body)
    found = list(DecoderDetector([decoder]).detect(record, CONTEXT))
    assert [(d.key, d.data_type) for d in found] == [("1.3", "other_identifier")]
    assert "u-77120" not in found[0].reason


@pytest.mark.parametrize("when", ['"1.2"', '{key = "1.2"}'])
def test_a_broken_when_condition_is_named(when: str) -> None:
    text = (
        'company = "X"\n[[decoder]]\nid = "x"\nservice = "X"\nendpoint = [{host = "x.example"}]\n'
        f'property = [{{part = "body", key = "1.3", when = {when}, type = "other_identifier", reason = "R.",'
        ' reference = "https://a.example"}]'
    )
    with pytest.raises(DecoderError, match="'when' takes a key and a value"):
        parse_decoders(text, "x.toml")
