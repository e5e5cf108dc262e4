"""Detection gaps found by the held-out evaluation, each tested with its own examples (none copied from that corpus).

Every test builds a request the way a capture source would and runs the real
detectors, then checks what a reviewer would read in the report: the data
type, where and under which key it was found, and how it was encoded.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from datetime import UTC, datetime

from auditor.detect import Detection, DetectionContext
from auditor.detect.biometric import BiometricDetector
from auditor.detect.known_values import KnownValueDetector
from auditor.detect.patterns import PatternDetector
from auditor.privacy import Masker
from auditor.profile import parse_profile
from auditor.records import Record, RecordKind, SourceKind

PROFILE = parse_profile({
    "student": {
        "first_name": "Lena", "last_name": "Testermann", "email": "lena.testermann@pupils.example",
        "phone": "+44 7700 900123", "birthdate": "2013-11-04", "student_id": "ST-55-1902",
    },
    "device": {"advertising_id": "6f1d2c3b-4a59-4e87-9b10-2c3d4e5f6a7b"},
    "location": {"latitude": -33.868820, "longitude": 151.209296},
})


def _record(url: str = "https://sdk.tracker.example/v1/e", body: bytes | None = None,
            content_type: str | None = "application/json", headers: tuple[tuple[str, str], ...] = ()) -> Record:
    return Record(
        RecordKind.HTTP, 0.0, SourceKind.HAR, host=url.split("/")[2], url=url, content_visible=True,
        method="POST" if body is not None else "GET", request_headers=headers, request_body=body,
        request_content_type=content_type,
    )


def _known(record: Record) -> list[Detection]:
    return list(KnownValueDetector().detect(record, DetectionContext(Masker(b"s" * 32), profile=PROFILE)))


def _patterns(record: Record) -> list[Detection]:
    context = DetectionContext(Masker(b"s" * 32))
    return [*PatternDetector().detect(record, context), *BiometricDetector().detect(record, context)]


def _found(detections: list[Detection]) -> set[tuple[str, str | None]]:
    return {(d.data_type, d.key) for d in detections}


# -- 1. bodies compressed by the SDK, without Content-Encoding -----------------


def test_gzip_and_zlib_bodies_without_content_encoding_are_inflated_and_the_step_recorded() -> None:
    document = json.dumps({"batch": [{"traits": {"email": "lena.testermann@pupils.example"}}]}).encode()
    for compressed, step in ((gzip.compress(document), "gzip"), (zlib.compress(document), "deflate")):
        record = _record("https://collect.analytics.example/batch?compression=lz", compressed, "text/plain")
        hits = [d for d in _known(record) if d.data_type == "email"]
        assert [(d.key, d.encoding) for d in hits] == [("batch[0].traits.email", step)]
        assert ("email", "batch[0].traits.email") in _found(_patterns(record))


def test_a_body_that_only_starts_like_zlib_is_read_as_it_is() -> None:
    body = b"x^email=lena.testermann@pupils.example"  # 'x^' passes the zlib header check, then fails to inflate
    assert (0x78 * 256 + body[1]) % 31 == 0
    hits = [d for d in _known(_record(body=body, content_type=None)) if d.data_type == "email"]
    assert hits and hits[0].encoding == "plain"


# -- 4. protobuf varints: negative int32/int64 and zigzag sint -------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_negative_and_zigzag_scaled_coordinates_in_protobuf_are_the_profile_location() -> None:
    latitude = round(-33.868820 * 1e6)  # negative: ten-byte two's complement as int32/int64
    longitude = round(151.209296 * 1e6)
    zigzag_latitude = (latitude << 1) ^ (latitude >> 63)  # as sint64
    as_int = bytes([0x08]) + _varint(latitude + (1 << 64)) + bytes([0x10]) + _varint(longitude)
    as_sint = bytes([0x08]) + _varint(zigzag_latitude) + bytes([0x10]) + _varint(longitude)
    for message in (as_int, as_sint):
        found = [(d.data_type, d.key, d.encoding) for d in _known(_record(body=message,
                                                                          content_type="application/x-protobuf"))]
        assert ("precise_location", "1", "lat*1e6") in found
        assert ("precise_location", "2", "lon*1e6") in found


# -- 2. hashes inside compound tokens, url-safe base64 without padding ---------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_digests_inside_a_separated_token_are_the_profile_values_they_hash() -> None:
    email = hashlib.sha256(b"lena.testermann@pupils.example").digest()
    phone = hashlib.sha1(b"+447700900123").digest()
    for token in (f"v2|e:{_b64url(email)}|p:{base64.b64encode(phone).decode().rstrip('=')}",
                  f"m.{_b64url(email)}~t.{_b64url(phone)}"):
        found = {(d.data_type, d.encoding) for d in _known(_record(body=json.dumps({"ud": token}).encode()))}
        assert found == {("email", "sha256(lower(email))"), ("phone", "sha1(e164(phone))")}


def test_a_random_token_of_the_same_shape_is_not_a_match() -> None:
    other = hashlib.sha256(b"someone.else@pupils.example").digest()
    assert _known(_record(f"https://ads.example/conv?ud=v2|e:{_b64url(other)}")) == []


# -- 3. birth dates as timestamps and in common layouts -----------------------


def test_birthdate_as_epoch_seconds_milliseconds_and_dates_is_found() -> None:
    midnight = int(datetime(2013, 11, 4, tzinfo=UTC).timestamp())
    sydney_midnight_ms = (midnight - 11 * 3600) * 1000  # the device's local midnight, in milliseconds
    body = json.dumps({"p": {"Birth": f"$D_{midnight}", "bday": sydney_midnight_ms, "d1": "04/11/2013",
                             "d2": "11/04/2013", "d3": "20131104", "d4": "2013-11-04"}}).encode()
    found = {(d.key, d.encoding) for d in _known(_record(body=body)) if d.data_type == "birthdate"}
    assert found == {("p.Birth", "epoch(birthdate)"), ("p.bday", "epoch_ms(birthdate)"),
                     ("p.d1", "date(birthdate,%d/%m/%Y)"), ("p.d2", "date(birthdate,%m/%d/%Y)"),
                     ("p.d3", "date(birthdate,%Y%m%d)"), ("p.d4", "plain")}


def test_timestamps_days_away_from_the_birthdate_are_not_it() -> None:
    midnight = int(datetime(2013, 11, 4, tzinfo=UTC).timestamp())
    body = json.dumps({"ts": midnight + 3 * 86400, "sent": (midnight - 2 * 86400) * 1000}).encode()
    assert [d for d in _known(_record(body=body)) if d.data_type == "birthdate"] == []


# -- 6. a lone first name or surname in prose ---------------------------------


def test_a_lone_first_name_inside_prose_is_not_the_pupil_but_under_name_keys_and_as_a_full_name_it_is() -> None:
    body = json.dumps({
        "book": {"title": "Lena and the Lighthouse"},  # a story, not the pupil
        "family": {"email": "mum.testermann@home.example"},  # a relative's address holding the surname
        "child": {"display_name": "Lena T."},  # a name field: the first name counts inside it
        "note": "Weekly report for Lena Testermann",  # the full name counts anywhere
        "nick": "Lena",  # the whole value
    }).encode()
    found = {d.key for d in _known(_record(body=body)) if d.data_type == "name"}
    assert found == {"child.display_name", "note", "nick"}
