"""Write the labelled detection corpus: ``python tests/corpus/build_corpus.py``.

Each request is modelled on a real SDK's wire format (field names and
layout as those SDKs send them) and carries the synthetic values of
``profile.toml``. Encodings are produced here with the standard library
(hashlib, gzip, base64), independently of the detectors under test.

Labels: ``{"data_type", "where", "key", "by"}``; ``by`` lists which
detection should find it: ``known`` (the known-value detector, with the
profile) and/or ``pattern`` (pattern and biometric detectors, without the
profile). ``key`` ``"*"`` matches any key. A request without labels for a
kind of detection is a negative for it: anything found there is a false
positive.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE / "requests"

ADID = "7c1f0e2a-9b3d-4e5f-8a6b-2c4d6e8f0a1b"
ANDROID_ID = "a1b2c3d4e5f60718"
IMEI = "490154203237518"
SERIAL = "ZX1G22KLM9"
MAC = "3c:22:fb:9a:10:4e"
LAN_IP = "10.20.30.44"
PUBLIC_IP = "198.51.100.77"
SSID = "LakesideLab"
BSSID = "f0:9f:c2:31:aa:07"
EMAIL = "tomasz.brightwater.test@example.net"
USERNAME = "tbright_test"
PHONE_E164 = "+447700900123"
STUDENT_ID = "LS-2024-00731"
LAT, LON = 51.507351, -0.127758

# Look-alikes: random identifiers that are not personal and not in the profile.
RANDOM_UUIDS = [str(uuid.UUID(int=(0x9E3779B97F4A7C15 * (i + 1)) % (1 << 128), version=4)) for i in range(8)]


def sha(name: str, text: str) -> str:
    return hashlib.new(name, text.encode()).hexdigest()


def label(data_type: str, where: str, key: str, *by: str) -> dict[str, Any]:
    return {"data_type": data_type, "where": where, "key": key, "by": list(by)}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_str(number: int, text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return varint(number << 3 | 2) + varint(len(data)) + data


def pb_int(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def pb_double(number: int, value: float) -> bytes:
    return varint(number << 3 | 1) + struct.pack("<d", value)


def form(pairs: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(pairs)


def requests() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []

    def add(name: str, about: str, method: str, url: str, labels: list[dict[str, Any]], headers: Any = (),
            body: str | None = None, body_bytes: bytes | None = None) -> None:
        item: dict[str, Any] = {"id": name, "about": about, "method": method, "url": url,
                                "headers": [list(h) for h in headers], "labels": labels}
        if body is not None:
            item["body"] = body
        if body_bytes is not None:
            item["body_base64"] = base64.b64encode(body_bytes).decode()
        items.append(item)

    # -- SDK wire formats ---------------------------------------------------
    bundle = (
        pb_str(2, pb_str(2, "_s") + pb_int(4, 1709632800000))
        + pb_str(8, "13") + pb_str(9, "SM-T220") + pb_str(14, "1:1234567890:android:abcdef")
        + pb_str(19, ADID) + pb_str(27, "3b2d8c1f9e7a4d6b8c0f1e2d3c4b5a69") + pb_int(31, 1)
    )
    add("firebase-app-measurement", "Firebase Analytics batch to app-measurement.com/a (protobuf)", "POST",
        "https://app-measurement.com/a", [label("advertising_id", "body", "1.19", "known")],
        [("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "Dalvik/2.1.0")],
        body_bytes=pb_str(1, bundle))
    add("ga4-collect", "GA4 measurement /g/collect hit with a user ID", "POST",
        "https://www.google-analytics.com/g/collect?v=2&tid=G-ABC123XYZ&cid=1234567890.1709632800&_p=998877"
        f"&en=page_view&dl=https%3A%2F%2Fapp.example.edu%2Flesson%2F43&ul=en-gb&sr=1280x800&uid={STUDENT_ID}"
        "&_s=3&seg=1&dt=Fractions",
        [label("student_id", "query", "uid", "known")])
    extinfo = json.dumps(["a2", "com.example.classroom", "412", "4.1.2", "13", "SM-T220", "en_GB", "GMT", "EE",
                          1280, 800, "1.33", 8, 26, 12, "Europe/London"])
    ud = json.dumps({"em": sha("sha256", EMAIL), "ph": sha("sha256", PHONE_E164[1:])})
    add("facebook-app-events", "Facebook app events (graph.facebook.com activities) with advanced matching",
        "POST", "https://graph.facebook.com/v17.0/1234567890/activities",
        [label("advertising_id", "body", "advertiser_id", "known", "pattern"),
         label("email", "body", "ud.em", "known", "pattern"),
         label("phone", "body", "ud.ph", "known", "pattern"),
         # The SDK's per-install ID: random, but persistent, so an identifier like android_uuid below.
         label("device_id", "body", "anon_id", "pattern")],
        [("Content-Type", "application/x-www-form-urlencoded")],
        body=form([("event", "CUSTOM_APP_EVENTS"), ("advertiser_id", ADID), ("anon_id", "XZ" + RANDOM_UUIDS[0]),
                   ("application_tracking_enabled", "1"), ("advertiser_tracking_enabled", "1"),
                   ("extinfo", extinfo), ("ud", ud),
                   ("custom_events", json.dumps([{"_eventName": "fb_mobile_activate_app", "_logTime": 1709632800}])),
                   ("format", "json")]))
    add("adjust-session", "Adjust /session", "POST", "https://app.adjust.com/session",
        [label("advertising_id", "body", "gps_adid", "known", "pattern"),
         label("device_id", "body", "android_uuid", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/x-www-form-urlencoded"), ("Client-SDK", "android4.38.0")],
        body=form([("app_token", "2ka8cxqr0wx3"), ("gps_adid", ADID), ("android_uuid", RANDOM_UUIDS[1]),
                   ("created_at", "2024-03-05T10:00:00.000Z+0000"), ("device_name", "SM-T220"),
                   ("device_manufacturer", "samsung"), ("os_version", "13"), ("language", "en"), ("country", "GB"),
                   ("mcc", "234"), ("mnc", "30"), ("screen_density", "high"), ("screen_size", "large"),
                   ("cpu_type", "arm64-v8a"), ("session_count", "3"), ("tracking_enabled", "1")]))
    add("appsflyer-launch", "AppsFlyer launch event (plain JSON variant)", "POST",
        "https://launches.appsflyer.com/api/v6.3/androidevent?app_id=com.example.classroom&buildnumber=6.12.2",
        [label("advertising_id", "body", "advertiserId", "known", "pattern"),
         label("hardware_id", "body", "imei", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"advertiserId": ADID, "af_gcm_token": "fcm:APA91bH" + "x" * 40, "imei": IMEI,
                         "uid": "1709632800000-4411223344556677889", "appsflyerKey": "AbCdEfGhIj123",
                         "deviceData": {"build_display_id": "TP1A.220624.014", "arch": "aarch64",
                                        "dim": {"size": "2", "xdp": "213.0", "d_dpi": "213"}},
                         "lang": "English", "network": "WIFI", "batteryLevel": "87.0",
                         "sensors": [{"sT": 1, "sN": "accelerometer"}], "counter": "3",
                         "installDate": "2024-03-01_101010+0000"}))
    add("branch-install", "Branch /v1/install", "POST", "https://api2.branch.io/v1/install",
        [label("device_id", "body", "hardware_id", "known", "pattern"),
         label("ip_address", "body", "local_ip", "known", "pattern"),
         label("advertising_id", "body", "google_advertising_id", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"hardware_id": ANDROID_ID, "is_hardware_id_real": True, "brand": "samsung",
                         "model": "SM-T220", "screen_dpi": 213, "screen_height": 800, "screen_width": 1280,
                         "wifi": True, "os": "Android", "os_version": 33, "country": "GB", "language": "en",
                         "local_ip": LAN_IP, "google_advertising_id": ADID, "lat_val": 0, "app_version": "4.2.1",
                         "branch_key": "key_live_abc123", "retryNumber": 0, "sdk": "android5.8.0"}))
    add("segment-batch", "Segment /v1/batch track event", "POST", "https://api.segment.io/v1/batch",
        [label("username", "body", "batch[0].userId", "known"),
         label("advertising_id", "body", "batch[0].context.device.advertisingId", "known", "pattern"),
         label("device_id", "body", "batch[0].context.device.id", "known", "pattern"),
         label("device_id", "body", "batch[0].anonymousId", "pattern"),
         label("ip_address", "body", "batch[0].context.ip", "known", "pattern"),
         label("precise_location", "body", "batch[0].context.location.latitude", "known", "pattern"),
         label("precise_location", "body", "batch[0].context.location.longitude", "known", "pattern"),
         label("email", "body", "batch[0].context.traits.email", "known", "pattern"),
         label("name", "body", "batch[0].context.traits.name", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json"), ("Authorization", "Basic d3JpdGVrZXk6")],
        body=json.dumps({"batch": [{
            "type": "track", "event": "Lesson Completed", "anonymousId": RANDOM_UUIDS[2], "userId": USERNAME,
            "context": {"device": {"advertisingId": ADID, "id": ANDROID_ID, "manufacturer": "samsung",
                                   "model": "SM-T220", "type": "android"},
                        "ip": PUBLIC_IP, "locale": "en-GB",
                        "location": {"latitude": LAT, "longitude": LON, "speed": 0},
                        "screen": {"density": 1.33, "height": 800, "width": 1280}, "timezone": "Europe/London",
                        "traits": {"email": EMAIL, "name": "Tomasz Brightwater"}},
            "properties": {"lesson_id": "L-43", "score": 43.65, "duration_ms": 1700000},
            "messageId": RANDOM_UUIDS[3], "timestamp": "2024-03-05T10:00:00.000Z"}],
            "sentAt": "2024-03-05T10:00:01.000Z"}))
    mixpanel = {"event": "App Open", "properties": {
        "token": "f1e2d3c4b5a6", "distinct_id": "$device:" + RANDOM_UUIDS[4], "$user_id": STUDENT_ID,
        "$email": EMAIL, "mp_lib": "android", "$os": "Android", "$screen_dpi": 213, "$brand": "samsung",
        "$model": "SM-T220", "$carrier": "EE", "$wifi": True, "time": 1709632800}}
    add("mixpanel-track", "Mixpanel /track with base64 data= parameter", "GET",
        "https://api.mixpanel.com/track?ip=1&data=" + base64.b64encode(json.dumps(mixpanel).encode()).decode()
        .replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
        [label("student_id", "query", "data.properties.$user_id", "known"),
         label("email", "query", "data.properties.$email", "known", "pattern"),
         label("device_fingerprint", "query", "*", "pattern")])
    add("amplitude-httpapi", "Amplitude /2/httpapi events", "POST", "https://api2.amplitude.com/2/httpapi",
        [label("advertising_id", "body", "events[0].adid", "known", "pattern"),
         label("device_id", "body", "events[0].android_id", "known", "pattern"),
         label("device_id", "body", "events[0].device_id", "pattern"),
         label("precise_location", "body", "events[0].location_lat", "known", "pattern"),
         label("precise_location", "body", "events[0].location_lng", "known", "pattern"),
         label("username", "body", "events[0].user_id", "known"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"api_key": "0123456789abcdef0123456789abcdef", "events": [{
            "device_id": RANDOM_UUIDS[5], "user_id": USERNAME, "event_type": "quiz_submit",
            "time": 1709632800000, "adid": ADID, "android_id": ANDROID_ID, "location_lat": 51.5074,
            "location_lng": -0.1278, "ip": "$remote", "platform": "Android", "os_name": "android",
            "device_manufacturer": "samsung", "device_model": "SM-T220", "carrier": "EE", "language": "en",
            "country": "United Kingdom", "event_properties": {"question_id": "q-43", "version": "43.65"}}]}))
    envelope = "\n".join([
        json.dumps({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sent_at": "2024-03-05T10:00:00.000Z"}),
        json.dumps({"type": "event", "length": 0}),
        json.dumps({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "level": "error",
                    "user": {"ip_address": PUBLIC_IP, "email": EMAIL, "id": STUDENT_ID, "username": USERNAME},
                    "contexts": {"device": {"model": "SM-T220", "screen_resolution": "800x1280",
                                            "battery_level": 87.0, "charging": False,
                                            "timezone": "Europe/London", "locale": "en_GB"}},
                    "exception": {"values": [{"type": "IllegalStateException", "value": "quiz not loaded"}]}}),
    ])
    add("sentry-envelope", "Sentry envelope with user context", "POST",
        "https://o123456.ingest.sentry.io/api/4504/envelope/",
        [label("ip_address", "body", "line2.user.ip_address", "known", "pattern"),
         label("email", "body", "line2.user.email", "known", "pattern"),
         label("student_id", "body", "line2.user.id", "known"),
         label("username", "body", "line2.user.username", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/x-sentry-envelope")], body=envelope)
    add("onesignal-players", "OneSignal /api/v1/players registration with coarse location", "POST",
        "https://onesignal.com/api/v1/players",
        [label("advertising_id", "body", "ad_id", "known", "pattern"),
         label("coarse_location", "body", "lat", "known", "pattern"),
         label("coarse_location", "body", "long", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"app_id": RANDOM_UUIDS[6], "device_type": 1, "identifier": "fcm:APA91bZ" + "y" * 40,
                         "language": "en", "timezone": 0, "timezone_id": "Europe/London", "game_version": "43.65",
                         "device_model": "SM-T220", "device_os": "13", "ad_id": ADID, "sdk": "040805",
                         "net_type": 0, "carrier": "EE", "rooted": False, "lat": 51.51, "long": -0.13,
                         "loc_acc": 20.0, "loc_type": 1}))
    add("braze-data", "Braze /api/v3/data with user attributes", "POST", "https://sdk.iad-01.braze.com/api/v3/data",
        [label("device_id", "body", "device_id", "pattern"),
         label("advertising_id", "body", "device.google_ad_id", "known", "pattern"),
         label("student_id", "body", "attributes[0].user_id", "known"),
         label("email", "body", "attributes[0].email", "known", "pattern"),
         label("name", "body", "attributes[0].first_name", "known", "pattern"),
         label("name", "body", "attributes[0].last_name", "known", "pattern"),
         label("birthdate", "body", "attributes[0].dob", "known", "pattern"),
         label("phone", "body", "attributes[0].phone", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"api_key": RANDOM_UUIDS[7], "device_id": RANDOM_UUIDS[0], "time": 1709632800,
                         "sdk_version": "24.3.0", "app_version": "4.2.1",
                         "device": {"android_version": "33", "carrier": "EE", "model": "SM-T220",
                                    "resolution": "1280x800", "locale": "en_GB", "time_zone": "Europe/London",
                                    "ad_tracking_enabled": True, "google_ad_id": ADID},
                         "events": [{"name": "lc", "data": {}, "time": 1709632800}],
                         "attributes": [{"user_id": STUDENT_ID, "email": EMAIL, "first_name": "Tomasz",
                                         "last_name": "Brightwater", "dob": "2013-11-05", "phone": PHONE_E164}]}))
    add("unity-ads-request", "Unity Ads ad request (query string)", "GET",
        "https://auction.unityads.unity3d.com/v6/games/3456789/requests?advertisingTrackingId=" + ADID
        + "&limitAdTracking=false&deviceMake=samsung&deviceModel=SM-T220&screenWidth=1280&screenHeight=800"
        "&connectionType=wifi&networkType=0&language=en_GB&timeZone=GMT&gameId=3456789&sdkVersion=4000"
        "&platform=android&idfi=" + RANDOM_UUIDS[1],
        [label("advertising_id", "query", "advertisingTrackingId", "known", "pattern"),
         label("device_fingerprint", "query", "*", "pattern")])
    add("kochava-session", "Kochava /track/json session with hashed e-mail", "POST",
        "https://control.kochava.com/track/json",
        [label("advertising_id", "body", "data.adid", "known", "pattern"),
         label("device_id", "body", "data.android_id", "known", "pattern"),
         label("device_id", "body", "kochava_device_id", "pattern"),
         label("email", "body", "data.ids.email", "known", "pattern"),
         label("device_fingerprint", "body", "*", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"action": "session", "kochava_app_id": "koclassroom-abc", "kochava_device_id":
                         "KA4" + RANDOM_UUIDS[2].replace("-", "")[:29], "sdk_version": "Android3.9.0",
                         "data": {"adid": ADID, "android_id": ANDROID_ID, "device": "SM-T220-samsung",
                                  "disp_h": 800, "disp_w": 1280, "locale": "en-GB", "timezone": "Europe/London",
                                  "battery_level": 87, "battery_status": "discharging", "carrier_name": "EE",
                                  "ids": {"email": sha("sha1", EMAIL)}, "network_conn_type": "wifi",
                                  "screen_brightness": 0.5, "usertime": 1709632800, "uptime": 12345.6}}))

    # -- planted encodings ----------------------------------------------------
    batch = {"events": [{"name": "login", "ts": 1709632800, "user": {"em": sha("sha256", EMAIL)}}]}
    add("gzip-base64-json-batch", "sha256(lower(email)) inside a gzipped, base64-wrapped JSON batch", "POST",
        "https://events.sdk-analytics.example/v2/batch",
        [label("email", "body", "events[0].user.em", "known", "pattern")],
        [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
        body_bytes=gzip.compress(base64.b64encode(json.dumps(batch).encode()), mtime=0))
    add("md5-mac-nosep", "md5 of the Wi-Fi MAC without separators in a pixel", "GET",
        "https://t.adsdk.example/px?m=" + sha("md5", MAC.replace(":", "")) + "&ts=1709632800&v=3.1",
        [label("hardware_id", "query", "m", "known")])
    add("scaled-int-location", "location as integers scaled by 1e7", "POST", "https://geo.sdk.example/v1/ping",
        [label("precise_location", "body", "geo.la", "known"), label("precise_location", "body", "geo.lo", "known")],
        [("Content-Type", "application/json")],
        body=json.dumps({"geo": {"la": round(LAT * 1e7), "lo": round(LON * 1e7)}, "acc": 12}))
    add("hex-json-cookie", "hex-encoded JSON in a cookie", "GET", "https://sdk.example/config",
        [label("username", "cookie", "_sd.uid", "known")],
        [("Cookie", "_sd=" + json.dumps({"uid": USERNAME, "n": 3}).encode().hex())])
    add("base64url-path", "url-safe base64 e-mail in a path segment", "GET",
        "https://api.sdk.example/v1/u/" + base64.urlsafe_b64encode(EMAIL.encode()).decode().rstrip("=") + "/ping",
        [label("email", "path", "path[2]", "known", "pattern")])
    payload = base64.b64encode(gzip.compress(json.dumps({"ll": f"{LAT:.4f},{LON:.4f}", "phone": PHONE_E164}).encode(),
                                             mtime=0)).decode()
    add("base64-gzip-form", "gzip then base64 JSON in a form field", "POST", "https://collect.sdk.example/c",
        [label("precise_location", "body", "payload.ll", "known", "pattern"),
         label("phone", "body", "payload.phone", "known", "pattern")],
        [("Content-Type", "application/x-www-form-urlencoded")], body=form([("payload", payload), ("v", "2")]))
    add("sha512-phone-header", "sha512 of the E.164 phone number in a header", "GET", "https://id.sdk.example/sync",
        [label("phone", "header", "x-user-hash", "known")], [("X-User-Hash", sha("sha512", PHONE_E164))])
    message = pb_str(1, EMAIL) + pb_str(2, pb_double(1, LAT) + pb_double(2, LON)) + pb_int(3, 1709632800)
    add("grpc-protobuf", "gRPC request with e-mail and coordinates (no schema)", "POST",
        "https://rpc.sdk.example/tracking.v1.Tracker/Report",
        [label("email", "body", "[0].1", "known", "pattern"),
         label("precise_location", "body", "[0].2.1", "known"),
         label("precise_location", "body", "[0].2.2", "known")],
        [("Content-Type", "application/grpc")], body_bytes=b"\x00" + struct.pack(">I", len(message)) + message)
    add("xml-wifi", "Wi-Fi network in an XML body", "POST", "https://cfg.sdk.example/report",
        [label("network_id", "body", "config.wifi@ssid", "known", "pattern"),
         label("network_id", "body", "config.wifi.bssid", "known", "pattern")],
        [("Content-Type", "application/xml")],
        body=f'<?xml version="1.0"?><config><wifi ssid="{SSID}"><bssid>{BSSID.upper()}</bssid></wifi></config>')
    ogg = b"OggS\x00\x02" + bytes(22) + b"OpusHead" + bytes(200)
    boundary = "----corpusboundary7MA4YWxk"
    multipart = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"student": {"email": EMAIL, "student_id": STUDENT_ID}})
        + f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"recording\"; filename=\"answer.ogg\"\r\n"
        "Content-Type: audio/ogg\r\n\r\n"
    ).encode() + ogg + f"\r\n--{boundary}--\r\n".encode()
    add("multipart-voice-answer", "multipart upload: JSON metadata and an Ogg/Opus voice answer", "POST",
        "https://speech.reading-app.example/v1/answers",
        [label("email", "body", "meta.student.email", "known", "pattern"),
         label("student_id", "body", "meta.student.student_id", "known", "pattern"),
         label("voice", "body", "recording", "pattern")],
        [("Content-Type", f"multipart/form-data; boundary={boundary}")], body_bytes=multipart)
    add("serial-in-header", "device serial embedded in a custom header", "GET", "https://mdm.sdk.example/check",
        [label("hardware_id", "header", "x-device", "known")], [("X-Device", f"serial={SERIAL};model=SM-T220")])
    add("ssid-query", "SSID as a query parameter", "GET", f"https://net.sdk.example/w?ssid={SSID}&rssi=-61",
        [label("network_id", "query", "ssid", "known", "pattern")])
    add("b64-digest-form", "base64 of the raw SHA-256 digest of the e-mail", "POST", "https://match.sdk.example/m",
        [label("email", "body", "h", "known")], [("Content-Type", "application/x-www-form-urlencoded")],
        body=form([("h", base64.b64encode(hashlib.sha256(EMAIL.encode()).digest()).decode()), ("t", "1")]))
    add("sha1-imei-upper", "upper-case hex SHA-1 of the IMEI", "GET",
        "https://fraud.sdk.example/d?d=" + sha("sha1", IMEI).upper() + "&r=7",
        [label("hardware_id", "query", "d", "known")])
    add("compact-birthdate", "birthdate as YYYYMMDD", "POST", "https://profile.sdk.example/p",
        [label("birthdate", "body", "db", "known")], [("Content-Type", "application/json")],
        body=json.dumps({"db": "20131105", "ge": "m"}))
    add("fragment-email", "e-mail in a URL fragment", "GET", f"https://app.example.edu/welcome#email={EMAIL}",
        [label("email", "query", "#email", "known", "pattern")])
    add("public-ip-text", "the lab's public address inside a text body", "POST", "https://diag.sdk.example/log",
        [label("ip_address", "body", "", "known", "pattern")], [("Content-Type", "text/plain")],
        body=f"network check ok; external address {PUBLIC_IP}; latency 43 ms")
    add("bssid-md5-upper-nosep", "md5 of the BSSID upper-case without separators", "POST",
        "https://loc.sdk.example/wifi", [label("network_id", "body", "aps[0].h", "known")],
        [("Content-Type", "application/json")],
        body=json.dumps({"aps": [{"h": sha("md5", BSSID.replace(":", "").upper()), "rssi": -60}]}))

    add("referer-email", "e-mail in the query of the page URL, leaked through Referer", "GET",
        "https://pixel.ads-network.example/p.gif?cb=8812",
        [label("email", "header", "referer", "known", "pattern")],
        [("Referer", "https://app.example.edu/signup/done?email=" + EMAIL.replace("@", "%40") + "&step=3")])
    add("contact-phone-national", "phone written nationally under a generic key", "POST",
        "https://crm.sdk.example/contact", [label("phone", "body", "contact.value", "known", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"contact": {"type": "mobile", "value": "07700 900123"}}))
    add("user-agent-model-only", "a user agent naming the device model (not personal on its own)", "GET",
        "https://cdn.learning-app.example/app.js", [],
        [("User-Agent", "Mozilla/5.0 (Linux; Android 13; SM-T220) AppleWebKit/537.36 Chrome/120.0.6099.109")])

    # -- biometric and recordings ---------------------------------------------
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(300) + b"\xff\xd9"
    add("proctoring-snapshot", "webcam snapshot upload to a proctoring API", "POST",
        "https://api.proctor-test.example/v1/sessions/ab12/snapshots",
        [label("face_image", "body", "", "pattern")], [("Content-Type", "image/jpeg")], body_bytes=jpeg)
    wav = b"RIFF" + struct.pack("<I", 36 + 400) + b"WAVEfmt " + bytes(20) + b"data" + bytes(400)
    add("speech-wav", "WAV speech upload with a generic content type", "POST",
        "https://speech.reading-app.example/v1/recognize", [label("voice", "body", "", "pattern")],
        [("Content-Type", "application/octet-stream")], body_bytes=wav)
    add("webm-video", "WebM video upload", "PUT", "https://media.classroom-video.example/upload/77",
        [label("video", "body", "", "pattern")], [("Content-Type", "video/webm")],
        body_bytes=b"\x1a\x45\xdf\xa3" + bytes(500))
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    add("base64-png-avatar", "PNG drawing sent as base64 in JSON", "POST", "https://api.drawing-app.example/art",
        [label("image", "body", "drawing", "pattern")], [("Content-Type", "application/json")],
        body=json.dumps({"drawing": base64.b64encode(png).decode(), "title": "my house"}))
    add("attention-telemetry", "gaze, attention, face and keystroke telemetry", "POST",
        "https://telemetry.focus-tutor.example/v1/frames",
        [label("attention_tracking", "body", "session.gaze_x", "pattern"),
         label("attention_tracking", "body", "session.gaze_y", "pattern"),
         label("attention_tracking", "body", "session.attention_score", "pattern"),
         label("biometric_other", "body", "session.face_count", "pattern"),
         label("biometric_other", "body", "session.emotion", "pattern"),
         label("biometric_other", "body", "session.keystroke_intervals", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"session": {"gaze_x": 0.4, "gaze_y": 0.6, "attention_score": 0.83, "face_count": 1,
                                     "emotion": "neutral", "keystroke_intervals": [120, 98, 143]}}))
    add("webrtc-ice-config", "WebRTC ICE server configuration with TURN and STUN", "POST",
        "https://live.classroom-video.example/rtc/config",
        [label("biometric_other", "body", "iceServers[0].urls", "pattern"),
         label("biometric_other", "body", "iceServers[1].urls", "pattern")],
        [("Content-Type", "application/json")],
        body=json.dumps({"iceServers": [{"urls": "turn:turn.classroom-video.example:3478", "username": "u",
                                         "credential": "c"}, {"urls": "stun:stun.classroom-video.example:19302"}]}))
    sdp = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" \
          "a=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
    add("webrtc-sdp-offer", "WebRTC SDP offer with audio and video", "POST",
        "https://live.classroom-video.example/rtc/offer",
        [label("voice", "body", "sdp", "pattern"), label("video", "body", "sdp", "pattern")],
        [("Content-Type", "application/json")], body=json.dumps({"type": "offer", "sdp": sdp}))

    # -- look-alike negatives ---------------------------------------------------
    add("neg-request-ids", "random request, trace and session identifiers", "POST",
        "https://api.learning-app.example/v1/progress", [], [("Content-Type", "application/json"),
                                                             ("X-Request-Id", RANDOM_UUIDS[3])],
        body=json.dumps({"request_id": RANDOM_UUIDS[4], "trace_id": RANDOM_UUIDS[5].replace("-", ""),
                         "session_id": RANDOM_UUIDS[6], "event_id": RANDOM_UUIDS[7], "lesson": "fractions-3"}))
    add("neg-versions-timestamps", "version numbers, build numbers and timestamps", "POST",
        "https://api.learning-app.example/v1/hello", [], [("Content-Type", "application/json")],
        body=json.dumps({"app_version": "43.65", "sdk_version": "5.12.0.1", "build": "20240305",
                         "build_number": "4.2.1.0", "ts": 1709632800, "time": "2024-03-05T10:00:00Z",
                         "os_version": "13.0.1", "v": "1.2.3.4", "ratio": 51.51, "zoom": 51.51,
                         "price": 0.13}))
    add("neg-hashes", "hashes of non-personal values", "POST", "https://cdn-sync.learning-app.example/manifest",
        [], [("Content-Type", "application/json"), ("If-None-Match", '"' + sha("md5", "manifest-v3") + '"')],
        body=json.dumps({"checksum": sha("md5", "lesson-pack-43"), "content_sha256": sha("sha256", "{}"),
                         "integrity": "sha512-" + base64.b64encode(hashlib.sha512(b"bundle.js").digest()).decode(),
                         "etag": sha("sha1", "config-2024-03")}))
    add("neg-screen-coords", "screen positions and sizes that look like coordinates", "POST",
        "https://ui-metrics.learning-app.example/taps", [], [("Content-Type", "application/json")],
        body=json.dumps({"tap": {"x": 51.5, "y": 127.76}, "viewport": "51.50,0.12", "scale": 2.625,
                         "dpi": 213.0, "scroll": {"top": 515.07, "left": 12.77}}))
    add("neg-random-tokens", "random base64 tokens and nonces", "POST", "https://auth.learning-app.example/refresh",
        [], [("Content-Type", "application/x-www-form-urlencoded")],
        body=form([("nonce", base64.b64encode(hashlib.sha256(b"nonce-1").digest()[:18]).decode()),
                   ("state", base64.urlsafe_b64encode(hashlib.sha1(b"state").digest()).decode()),
                   ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                   ("order_id", "447700900124"), ("grant_type", "refresh_token")]))
    add("neg-vendor-email", "an SDK vendor's no-reply address (not personal, but pattern cannot tell)", "POST",
        "https://api.learning-app.example/v1/support", [], [("Content-Type", "application/json")],
        body=json.dumps({"contact": "noreply@sdk-vendor.example", "topic": "crash"}))
    return items


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    for index, item in enumerate(requests()):
        path = OUT / f"{index:02d}-{item['id']}.json"
        path.write_text(json.dumps(item, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {index + 1} requests to {OUT}")


if __name__ == "__main__":
    main()
