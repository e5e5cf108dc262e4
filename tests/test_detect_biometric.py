"""Biometric and recording data: uploads by signature, WebRTC relays, proctoring services from the database."""

from __future__ import annotations

import base64
import json

import pytest

from auditor.analysis import Analysis, AnalysisConfig
from auditor.detect import DetectionContext, Where
from auditor.detect.biometric import BiometricDetector, sniff_media
from auditor.privacy import Masker
from auditor.records import HostSource, Record, RecordKind, SourceKind

SAMPLES = {
    "wav": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "voice"),
    "ogg": (b"OggS\x00\x02" + bytes(40), "voice"),
    "webm": (b"\x1a\x45\xdf\xa3" + bytes(40), "video"),
    "mp4": (b"\x00\x00\x00\x18ftypisom" + bytes(40), "video"),
    "mp3": (b"ID3\x04\x00" + bytes(40), "voice"),
    "jpeg": (b"\xff\xd8\xff\xe0" + bytes(40), "image"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(40), "image"),
}


def upload(url: str, body: bytes, content_type: str | None) -> Record:
    return Record(RecordKind.HTTP, 0.0, SourceKind.HAR, host="media.example", url=url, content_visible=True,
                  request_body=body, request_content_type=content_type)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_uploads_are_recognised_by_signature_whatever_the_content_type(name: str) -> None:
    data, data_type = SAMPLES[name]
    assert sniff_media(data)[0] == data_type  # type: ignore[index]
    found = list(BiometricDetector().detect(upload("https://media.example/u", data, "application/octet-stream"),
                                            DetectionContext(Masker(b"t"))))
    assert [d.data_type for d in found] == [data_type]
    assert found[0].masked_value.endswith(f"upload, {len(data)} bytes")


def test_a_camera_snapshot_is_a_face_image_and_a_drawing_is_an_image() -> None:
    context = DetectionContext(Masker(b"t"))
    jpeg = SAMPLES["jpeg"][0]
    snapshot = list(BiometricDetector().detect(upload("https://p.example/session/1/webcam", jpeg, "image/jpeg"),
                                               context))
    assert [d.data_type for d in snapshot] == ["face_image"]
    body = json.dumps({"art": "data:image/png;base64," + base64.b64encode(SAMPLES["png"][0]).decode()}).encode()
    drawing = list(BiometricDetector().detect(upload("https://p.example/gallery", body, "application/json"), context))
    assert [(d.data_type, d.key, d.encoding) for d in drawing] == [("image", "art", "base64")]


def test_turn_connection_and_proctoring_service_are_reported_from_the_pipeline() -> None:
    analysis = Analysis(AnalysisConfig(salt=b"t"))
    turn = Record(RecordKind.CONNECTION, 1.0, SourceKind.PCAP, server_ip="192.0.2.9", server_port=3478,
                  protocol="UDP")
    proctor = Record(RecordKind.TLS, 2.0, SourceKind.PCAP, host="app.honorlock.com", host_source=HostSource.SNI,
                     server_ip="192.0.2.10", server_port=443, encrypted=True)
    analysis.add(turn)
    analysis.add(proctor)
    found = {(f.host, f.data_type, f.where, f.encoding) for f in analysis.findings.findings() if f.data_type}
    assert ("app.honorlock.com", "biometric_other", Where.SNI.value, "service") in found
    relays = [f for f in analysis.findings.findings() if f.encoding == "webrtc"]
    assert [(f.data_type, f.where, f.masked_value) for f in relays] == [
        ("biometric_other", Where.CONNECTION.value, "STUN/TURN connection to 192.0.2.9:3478")
    ]


def test_biometric_fields_but_not_look_alike_keys() -> None:
    body = json.dumps({"faceCount": 1, "gazeX": 0.2, "typingCadence": [110, 95], "interface": "tablet",
                       "surface": "pro", "facebook_app_id": "123", "typeface": "Arial"}).encode()
    found = list(BiometricDetector().detect(upload("https://x.example/t", body, "application/json"),
                                            DetectionContext(Masker(b"t"))))
    assert {(d.data_type, d.key) for d in found} == {
        ("biometric_other", "faceCount"), ("attention_tracking", "gazeX"), ("biometric_other", "typingCadence")
    }
