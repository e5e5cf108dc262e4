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


# -- 5. pattern detection without a profile ------------------------------------


def test_a_name_counts_under_a_person_object_not_under_an_event_app_or_screen() -> None:
    body = json.dumps({
        "people": [{"$set": {"$name": "Ada Okafor"}}],
        "identify": {"traits": {"name": "Ada Okafor"}, "usr": {"name": "Ada"}},
        "viewer": {"displayName": "Ada O."},
        "event": {"name": "Quiz Started"}, "app": {"name": "Maths Garden", "displayName": "Maths Garden"},
        "screen": {"name": "Home"}, "screen_name": "Settings",
    }).encode()
    found = {d.key for d in _patterns(_record(body=body)) if d.data_type == "name"}
    assert found == {"people[0].$set.$name", "identify.traits.name", "identify.usr.name", "viewer.displayName"}


def test_sdk_installation_and_anonymous_ids_are_device_ids_when_the_value_is_an_identifier() -> None:
    body = json.dumps({
        "anonymous_id": "8d0e6c57-1b2a-4c3d-9e8f-0a1b2c3d4e5f", "installationUuid": "c0ffee5e4d3c2b1a0f9e8d7c6b5a4939",
        "ctx": {"device": {"id": "R2ZxT0d1cGx3QmFzZTY0SWQ="}},
        "other": {"anonId": "unknown", "installation_uuid": "00000000", "device": {"id": "tablet"}},
    }).encode()
    found = {d.key for d in _patterns(_record(body=body)) if d.data_type == "device_id"}
    assert found == {"anonymous_id", "installationUuid", "ctx.device.id"}


def test_advertising_id_key_variants_and_header_need_a_real_uuid() -> None:
    ad_id = "6f1d2c3b-4a59-4e87-9b10-2c3d4e5f6a7b"
    record = _record(f"https://ads.example/req?advId={ad_id}&google_advertising_id={ad_id}&deviceIdfa={ad_id}"
                     "&iosAdvertisingIdentifier=00000000-0000-0000-0000-000000000000",
                     headers=(("X-Advertising-Id", ad_id),))
    found = {(d.where.value, d.key) for d in _patterns(record) if d.data_type == "advertising_id"}
    assert found == {("query", "advId"), ("query", "google_advertising_id"), ("query", "deviceIdfa"),
                     ("header", "x-advertising-id")}


def test_bearer_tokens_and_oauth_token_fields_are_credentials_masked_to_their_length() -> None:
    token = "ya29.a0AfB_byC7xR2mQ9dLk3pW8vT1nZ5sJ4hG6fD0eA"
    record = _record("https://lms.example/api/v1/users/self?access_token=" + token,
                     json.dumps({"refresh_token": "1//0gLx7Qm2rT9vB4nK8pW3sZ6"}).encode(),
                     headers=(("Authorization", f"Bearer {token}"),))
    found = [d for d in _patterns(record) if d.data_type == "credentials"]
    assert {(d.where.value, d.key) for d in found} == {
        ("header", "authorization"), ("query", "access_token"), ("body", "refresh_token")}
    for detection in found:
        assert token[:6] not in detection.masked_value and "chars" in detection.masked_value


def test_app_keys_are_not_a_persons_credentials() -> None:
    record = _record("https://maps.example/v4/tiles?access_token=pk.eyJ1IjoiYXBwIn0.Zm9vYmFy",
                     headers=(("Authorization", "Basic " + base64.b64encode(b"wk_9a8b7c6d5e:").decode()),))
    assert [d for d in _patterns(record) if d.data_type == "credentials"] == []


def test_keystroke_and_emotion_telemetry_is_reported_once_per_object() -> None:
    body = json.dumps({
        "typing_cadence": [{"key": "e", "down": 12, "up": 95}, {"key": "r", "down": 130, "up": 201}],
        "affect": {"frustration": 0.4, "boredom": 0.1},
        "facial_expression_scores": {"surprise": 0.2},
        "affected_rows": 3, "score": {"total": 7},
    }).encode()
    found = {(d.data_type, d.key) for d in _patterns(_record(body=body))}
    assert found == {("biometric_other", "typing_cadence"), ("biometric_other", "affect"),
                     ("biometric_other", "facial_expression_scores")}


def test_role_mailboxes_are_a_vendors_not_a_pupils() -> None:
    body = json.dumps({"footer": "Questions? Write to Privacy@quizvendor.example or no-reply@quizvendor.example",
                       "reply_to": "ada.okafor@pupils.example"}).encode()
    found = [d.key for d in _patterns(_record(body=body)) if d.data_type == "email"]
    assert found == ["reply_to"]


def test_a_role_mailbox_that_is_a_profile_value_is_still_found() -> None:
    profile = parse_profile({"student": {"email": "info@family-okafor.example"}})
    context = DetectionContext(Masker(b"s" * 32), profile=profile)
    record = _record(body=json.dumps({"contact": "info@family-okafor.example"}).encode())
    assert [(d.data_type, d.key) for d in KnownValueDetector().detect(record, context)] == [("email", "contact")]


def test_a_url_sent_as_a_value_has_its_query_parameters_judged_by_their_names() -> None:
    body = json.dumps({"page": {"landing": "https://school.example/login?user_name=ada_ok7&next=/home#dob=2013-11-04",
                                "referrer": "https://search.example/?q=maths+homework"}}).encode()
    found = {(d.data_type, d.key, d.encoding) for d in _patterns(_record(body=body))}
    assert found == {("username", "page.landing", "query:user_name"), ("birthdate", "page.landing", "query:dob")}


def test_an_address_at_the_destinations_own_domain_is_reported_with_low_confidence() -> None:
    body = json.dumps({"assigned_by": "m.jones@help.quizvendor.example", "pupil": "ada.okafor@pupils.example"}).encode()
    found = {d.key: d.confidence for d in _patterns(_record("https://api.quizvendor.example/v1/assign", body))
             if d.data_type == "email"}
    assert found == {"assigned_by": 0.5, "pupil": 0.9}
