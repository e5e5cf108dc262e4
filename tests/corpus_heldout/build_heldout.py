"""Write the held-out detection corpus: ``python tests/corpus_heldout/build_heldout.py``.

The requests are modelled on the wire formats of real SDKs and services used
in children's and school apps, written from knowledge of those formats and
WITHOUT reading the detectors or the first corpus (tests/corpus/). Every
planted value comes from ``profile.toml`` beside this file.

Labelling rules (what a careful human reviewer would count as the pupil's
personal data, nothing more):

* ``known``: the value is (or is derived from) a profile value, in whatever
  encoding or hash it travels;
* ``pattern`` as well: a careful detector without the profile should find it
  from the key name or the value's format, after undoing reversible layers
  (URL encoding, base64, hex, gzip/deflate, JSON in a string, multipart,
  protobuf strings). Hashes, scaled integers, epoch dates and opaque keys
  (``aifa``, ``andi``, ``rdid``, ``uid``, protobuf field numbers) are
  ``known`` only;
* ``pattern`` only: personal data that is not in the profile: SDK
  installation/device IDs under keys that say so, a parent's e-mail, a
  password, webcam frames and recordings, gaze, tab-switch and keystroke analysis,
  neighbouring Wi-Fi networks;
* not labelled: zeroed advertising IDs (limit ad tracking), request, session,
  event, trace and message IDs, API keys of the app, version and build
  numbers, timestamps, screen sizes, vendors' e-mail addresses, hashes of
  non-personal values, server addresses.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import tomllib
import urllib.parse
import wave
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PROFILE = tomllib.loads((HERE / "profile.toml").read_text(encoding="utf-8"))
DEV, NET, STU, LOC = PROFILE["device"], PROFILE["network"], PROFILE["student"], PROFILE["location"]

GAID = DEV["advertising_id"]
ANDROID_ID = DEV["android_id"]
IDFV = DEV["idfv"]
IMEI = DEV["imei"]
SERIAL = DEV["serial"]
MAC = DEV["wifi_mac"]
BT_MAC = DEV["bluetooth_mac"]
LAN_IP = DEV["lan_ip"]
PUBLIC_IP = DEV["public_ip"]
SSID, BSSID = NET["ssid"], NET["bssid"]
FIRST, LAST = STU["first_name"], STU["last_name"]
FULL = f"{FIRST} {LAST}"
EMAIL = STU["email"]
USERNAME = STU["username"]
PHONE_E164 = "+" + "".join(c for c in STU["phone"] if c.isdigit())  # +12025550147
PHONE_DIGITS = PHONE_E164[1:]
PHONE_NATIONAL = "(202) 555-0147"
BIRTH = STU["birthdate"]  # 2015-06-21
STUDENT_ID = STU["student_id"]
SCHOOL = STU["school"]
LAT, LON = LOC["latitude"], LOC["longitude"]

ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"
UA_ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 6 Build/AP1A.240305.019; wv) AppleWebKit/537.36 " \
             "(KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36"
UA_CHROME = "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 (KHTML, like Gecko) " \
            "Chrome/122.0.6261.105 Safari/537.36"
T_S = 1709632800
T_MS = 1709632800123


# ---- encodings -------------------------------------------------------------------------------------------

def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def b64url(data: bytes | str, pad: bool = True) -> str:
    out = base64.urlsafe_b64encode(data.encode() if isinstance(data, str) else data).decode()
    return out if pad else out.rstrip("=")


def js(value: Any) -> str:
    """Compact JSON as JavaScript SDKs send it."""
    return json.dumps(value, separators=(",", ":"))


def form(pairs: list[tuple[str, str]]) -> str:
    return urllib.parse.urlencode(pairs)


def url(base: str, pairs: list[tuple[str, str]]) -> str:
    return base + "?" + urllib.parse.urlencode(pairs)


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # int32/int64 negatives travel as ten-byte two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb(number: int, value: int | str | bytes) -> bytes:
    """One protobuf field: ints as varints, text and bytes as length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def multipart(boundary: str, parts: list[tuple[str, str | None, str, bytes]]) -> bytes:
    """(name, filename, content type, data) parts as a browser sends them."""
    out = bytearray()
    for name, filename, ctype, data in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"Content-Disposition: {disposition}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def tiny_wav() -> bytes:
    """0.1 s of a 440 Hz tone, 8 kHz mono 16-bit: a microphone snippet."""
    import math

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 8000)))
                               for i in range(800)))
    return buffer.getvalue()


def tiny_jpeg() -> bytes:
    """A valid 8x8 grey baseline JPEG (one DC-only block, one-code Huffman tables): a webcam frame stand-in."""
    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    dqt = segment(0xDB, b"\x00" + bytes([1] * 64))
    sof = segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00")
    one_code = bytes([1] + [0] * 15) + b"\x00"  # a single 1-bit code for symbol 0
    dht = segment(0xC4, b"\x00" + one_code + b"\x10" + one_code)
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return b"\xff\xd8" + jfif + dqt + sof + dht + sos + b"\x3f\xff\xd9"


# ---- requests --------------------------------------------------------------------------------------------

REQUESTS: list[dict[str, Any]] = []


def K(data_type: str, where: str, key: str) -> dict[str, Any]:
    return {"data_type": data_type, "where": where, "key": key, "by": ["known"]}


def KP(data_type: str, where: str, key: str) -> dict[str, Any]:
    return {"data_type": data_type, "where": where, "key": key, "by": ["known", "pattern"]}


def P(data_type: str, where: str, key: str) -> dict[str, Any]:
    return {"data_type": data_type, "where": where, "key": key, "by": ["pattern"]}


def add(id: str, about: str, method: str, address: str, headers: list[tuple[str, str]],
        body: str | bytes = "", labels: list[dict[str, Any]] | None = None) -> None:
    item: dict[str, Any] = {"id": id, "about": about, "method": method, "url": address,
                            "headers": [list(h) for h in headers], "labels": labels or []}
    if isinstance(body, bytes):
        try:
            item["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            item["body_base64"] = b64(body)
    elif body:
        item["body"] = body
    REQUESTS.append(item)


JSON = ("Content-Type", "application/json")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
UA = ("User-Agent", UA_ANDROID)
UA_WEB = ("User-Agent", UA_CHROME)
GZIP = ("Content-Encoding", "gzip")


def positives() -> None:
    # Firebase / GA4 for apps: a protobuf MeasurementBatch posted to app-measurement.com/a.
    bundle = b"".join([
        pb(1, 1),
        pb(2, pb(1, pb(1, "_o") + pb(2, "auto")) + pb(1, pb(1, "_et") + pb(3, 4365))
           + pb(2, "lesson_complete") + pb(3, T_MS)),
        pb(3, pb(1, T_MS) + pb(2, "school") + pb(3, SCHOOL)),
        pb(3, pb(1, T_MS) + pb(2, "student_id") + pb(3, STUDENT_ID)),
        pb(4, T_MS), pb(5, T_MS + 4365), pb(8, "android"), pb(9, "14"), pb(10, "Pixel 6"),
        pb(11, "en-us"), pb(12, -360), pb(14, "com.maplewood.reader"), pb(16, "12.0.1"),
        pb(19, GAID), pb(20, 0), pb(25, "1:123456789012:android:0a1b2c3d4e5f6a7b"),
        pb(27, "4f1d2a0c9e8b7a6f5e4d3c2b1a098765"),
    ])
    add("firebase-app-measurement-protobuf", "GA4 for Firebase upload: protobuf batch, GAID in field 19, "
        "user properties school and student_id", "POST", "https://app-measurement.com/a",
        [("Content-Type", "application/x-www-form-urlencoded"), ("User-Agent", "Dalvik/2.1.0 (Linux; U; Android 14; "
          "Pixel 6 Build/AP1A.240305.019)")], pb(1, bundle),
        [K("advertising_id", "body", "1.19"), K("other_identifier", "body", "1.3.3"),
         K("student_id", "body", "1.3.3")])

    add("ga4-web-collect-user-id", "GA4 web hit: user_id set to the student ID, school as event parameter, "
        "hashed e-mail as a custom parameter", "POST",
        url("https://region1.google-analytics.com/g/collect", [
            ("v", "2"), ("tid", "G-7XK2M4P9QZ"), ("gtm", "45je4310v9"), ("_p", "1709632801234"),
            ("cid", "1184732901.1709632800"), ("ul", "en-us"), ("sr", "1366x768"), ("uid", STUDENT_ID),
            ("_s", "3"), ("sid", "1709632800"), ("sct", "4"), ("seg", "1"),
            ("dl", "https://reader.maplewood.example/lesson/43"), ("dt", "Lesson 43: Fractions"),
            ("en", "lesson_start"), ("ep.school_name", SCHOOL), ("ep.user_email_sha256", sha256(EMAIL)),
            ("epn.lesson_version", "43.65"), ("_et", "4365")]),
        [UA_WEB, ("Content-Length", "0")], "",
        [K("student_id", "query", "uid"), K("other_identifier", "query", "ep.school_name"),
         K("email", "query", "ep.user_email_sha256")])

    ud = js({"em": sha256(EMAIL), "ph": sha256(PHONE_DIGITS), "fn": sha256(FIRST.lower()),
             "ln": sha256(LAST.lower()), "db": sha256(BIRTH.replace("-", ""))})
    extinfo = js(["a2", "com.maplewood.reader", "4365", "12.0.1", "14", "Pixel 6", "en_US", "CST", "", 1080, 2340,
                  "2.75", 8, 110, 6, "America/Chicago"])
    add("facebook-app-events-advanced-matching", "Facebook SDK app event with advertiser ID and advanced-matching "
        "hashes (em, ph, fn, ln, db) in ud", "POST", "https://graph.facebook.com/v18.0/987654321012345/activities",
        [FORM, ("User-Agent", "FBAndroidSDK.16.3.0")],
        form([("format", "json"), ("sdk", "android"), ("event", "CUSTOM_APP_EVENTS"),
              ("advertiser_id", GAID), ("advertiser_tracking_enabled", "1"), ("application_tracking_enabled", "1"),
              ("anon_id", "XZ8c1e5b7a-2f4d-4a9b-b3c6-7d8e9f0a1b2c"), ("extinfo", extinfo),
              ("custom_events", js([{"_eventName": "fb_mobile_level_achieved", "fb_level": "43",
                                     "_logTime": T_S, "_ui": "unknown"}])),
              ("ud", ud), ("application_package_name", "com.maplewood.reader")]),
        [KP("advertising_id", "body", "advertiser_id"), P("device_id", "body", "anon_id"),
         K("email", "body", "ud.em"), K("phone", "body", "ud.ph"), K("name", "body", "ud.fn"),
         K("name", "body", "ud.ln"), K("birthdate", "body", "ud.db")])

    add("facebook-pixel-pageview", "Meta Pixel PageView: page URL with the e-mail in its query, advanced "
        "matching ud[em]/ud[ph]", "GET",
        url("https://www.facebook.com/tr/", [
            ("id", "1234567890123456"), ("ev", "PageView"),
            ("dl", f"https://shop.kidsreader.example/account?email={urllib.parse.quote(EMAIL)}&step=2"),
            ("rl", "https://www.google.com/"), ("if", "false"), ("ts", str(T_MS)), ("sw", "1366"), ("sh", "768"),
            ("v", "2.9.149"), ("r", "stable"), ("ec", "0"), ("o", "4126"), ("fbp", "fb.1.1709632800123.918273645"),
            ("ud[em]", sha256(EMAIL)), ("ud[ph]", sha256(PHONE_DIGITS)), ("it", "1709632799876"),
            ("coo", "false"), ("rqm", "GET")]),
        [UA_WEB, ("Referer", "https://shop.kidsreader.example/")], "",
        [KP("email", "query", "dl"), K("email", "query", "ud[em]"), K("phone", "query", "ud[ph]")])

    add("adjust-session-android", "Adjust SDK session package: gps_adid, android_id, android_uuid", "POST",
        "https://app.adjust.com/session", [FORM, ("Client-SDK", "android4.38.2"), UA],
        form([("app_token", "2fm9gkqubvpc"), ("gps_adid", GAID), ("gps_adid_src", "service"),
              ("android_id", ANDROID_ID), ("android_uuid", "0d4e7f1a-6b2c-4c8d-9e3f-5a6b7c8d9e0f"),
              ("created_at", "2024-03-05T04:00:00.123Z-0600"), ("sent_at", "2024-03-05T04:00:01.456Z-0600"),
              ("session_count", "3"), ("subsession_count", "1"), ("session_length", "4365"),
              ("time_spent", "43"), ("environment", "production"), ("event_buffering_enabled", "0"),
              ("needs_response_details", "1"), ("tracking_enabled", "1"), ("os_name", "android"),
              ("os_version", "14"), ("device_name", "Pixel 6"), ("device_manufacturer", "Google"),
              ("display_width", "1080"), ("display_height", "2340"), ("app_version", "12.0.1"),
              ("package_name", "com.maplewood.reader")]),
        [KP("advertising_id", "body", "gps_adid"), KP("device_id", "body", "android_id"),
         P("device_id", "body", "android_uuid")])

    add("adjust-event-callback-params", "Adjust event with callback parameters (JSON in a form field) "
        "carrying the e-mail and student ID", "POST", "https://app.adjust.com/event",
        [FORM, ("Client-SDK", "android4.38.2"), UA],
        form([("app_token", "2fm9gkqubvpc"), ("event_token", "a1b2c3"), ("gps_adid", GAID),
              ("event_count", "12"), ("created_at", "2024-03-05T04:10:00.000Z-0600"),
              ("callback_params", js({"user_email": EMAIL, "student_id": STUDENT_ID, "lesson": "43"})),
              ("partner_params", js({"level": "12"})), ("environment", "production")]),
        [KP("advertising_id", "body", "gps_adid"), KP("email", "body", "callback_params.user_email"),
         KP("student_id", "body", "callback_params.student_id")])

    add("adjust-session-ios-idfv", "Adjust iOS session: ATT denied so idfa is zeroed, idfv still sent", "POST",
        "https://app.adjust.com/session", [FORM, ("Client-SDK", "ios4.37.0"),
                                           ("User-Agent", "MaplewoodReader/4365 CFNetwork/1492.0.1 Darwin/23.3.0")],
        form([("app_token", "2fm9gkqubvpc"), ("idfa", ZERO_AD_ID), ("idfv", IDFV), ("att_status", "2"),
              ("tracking_enabled", "0"), ("created_at", "2024-03-05T04:00:00.000Z-0600"),
              ("hardware_name", "iPad13,18"), ("os_version", "17.3.1"), ("app_version", "12.0.1"),
              ("session_count", "7"), ("environment", "production")]),
        [KP("device_id", "body", "idfv")])

    add("appsflyer-launch", "AppsFlyer launch event: advertiserId, IMEI, android_id, customer user ID, "
        "screen metrics that look like coordinates", "POST",
        "https://launches.appsflyer.com/api/v6.13/androidevent?app_id=com.maplewood.reader&buildnumber=6.13.0",
        [JSON, UA],
        js({"advertiserId": GAID, "advertiserIdEnabled": "true", "af_timestamp": str(T_MS),
            "uid": "1709632800123-4372918273645566123", "imei": IMEI, "android_id": ANDROID_ID,
            "appUserId": USERNAME, "installDate": "2024-03-01_093000+0000", "date1": "2024-03-01_093000+0000",
            "app_version_name": "12.0.1", "app_version_code": "4365", "sdk": "34", "counter": "3",
            "deviceType": "user", "network": "WIFI", "lang": "English", "lang_code": "en", "country": "US",
            "deviceData": {"arch": "", "btch": "no", "btl": "76.0", "cpu_abi": "arm64-v8a", "build_display_id":
                           "AP1A.240305.019", "dim": {"x_px": "1080", "y_px": "2340", "d_dpi": "440", "size": "2",
                                                      "xdp": "409.432", "ydp": "411.891"}},
            "model": "Pixel 6", "brand": "google", "product": "oriole", "platformextension": "android_native"}),
        [KP("advertising_id", "body", "advertiserId"), KP("hardware_id", "body", "imei"),
         KP("device_id", "body", "android_id"), K("username", "body", "appUserId")])

    add("appsflyer-inapp-gzip", "AppsFlyer in-app event, gzip body, eventValue is JSON inside a JSON string",
        "POST", "https://inapps.appsflyer.com/api/v6.13/androidevent?app_id=com.maplewood.reader&buildnumber=6.13.0",
        [JSON, GZIP, UA],
        gzip.compress(js({"advertiserId": GAID, "eventName": "af_complete_registration",
                          "eventValue": js({"af_registration_method": "school_code",
                                            "af_customer_user_id": STUDENT_ID, "af_content_id": "lesson-43"}),
                          "af_timestamp": str(T_MS + 60000), "counter": "4", "app_version_name": "12.0.1"}).encode(),
                      mtime=0),
        [KP("advertising_id", "body", "advertiserId"), K("student_id", "body", "eventValue.af_customer_user_id")])

    add("branch-install", "Branch install call: hardware_id (Android ID), local_ip, aaid twice, identity = e-mail",
        "POST", "https://api2.branch.io/v1/install", [JSON, UA],
        js({"hardware_id": ANDROID_ID, "is_hardware_id_real": True, "brand": "Google", "model": "Pixel 6",
            "screen_dpi": 440, "screen_height": 2340, "screen_width": 1080, "wifi": True,
            "ui_mode": "UI_MODE_TYPE_NORMAL", "os": "Android", "os_version": 34, "cpu_type": "aarch64",
            "build": "AP1A.240305.019", "locale": "en_US", "connection_type": "wifi", "country": "US",
            "language": "en", "local_ip": LAN_IP, "advertising_ids": {"aaid": GAID}, "lat_val": 0,
            "google_advertising_id": GAID, "identity": EMAIL, "first_install_time": T_MS - 86400000,
            "latest_install_time": T_MS - 86400000, "app_version": "12.0.1", "sdk": "android5.9.0",
            "branch_key": "key_live_hcnegAumkH7Kv18M8AOHhfgiohpXq5tB",
            "retryNumber": 0, "debug": False, "environment": "FULL_APP"}),
        [KP("device_id", "body", "hardware_id"), KP("ip_address", "body", "local_ip"),
         KP("advertising_id", "body", "advertising_ids.aaid"), KP("advertising_id", "body", "google_advertising_id"),
         KP("email", "body", "identity")])

    add("kochava-init", "Kochava init/install: Wi-Fi ssid and bssid, adid, android_id, serial, kochava_device_id",
        "POST", "https://kvinit-prod.api.kochava.com/track/kvinit", [JSON, UA],
        js({"action": "init", "kochava_app_id": "komaplewood-reader-8f3k2", "kochava_device_id":
            "KA436599876543217c3e9f2ab1d04e5f6", "sdk_version": "AndroidTracker 5.3.0", "sdk_protocol": "14",
            "nt_id": "3f2e1d0c-b9a8-4765-8432-10fedcba9876", "data": {
                "package": "com.maplewood.reader", "platform": "android", "os_version": "Android 14",
                "device": "Pixel 6-google", "screen_brightness": 0.62, "volume": 0.4, "timezone": "America/Chicago",
                "locale": "en-US", "network_conn_type": "wifi", "ssid": SSID, "bssid": BSSID, "adid": GAID,
                "android_id": ANDROID_ID, "serial": SERIAL, "uptime": 43.65, "usertime": T_S,
                "app_version": "Maplewood Reader 12.0.1", "screen_inches": 6.4}}),
        [P("device_id", "body", "kochava_device_id"), KP("network_id", "body", "data.ssid"),
         KP("network_id", "body", "data.bssid"), KP("advertising_id", "body", "data.adid"),
         KP("device_id", "body", "data.android_id"), KP("hardware_id", "body", "data.serial")])

    add("singular-session-start", "Singular session start: aifa (GAID) and andi (Android ID) under short keys, "
        "HMAC signature h", "GET",
        url("https://sdk-api-v1.singular.net/api/v1/start", [
            ("a", "maplewood_3e9f2a1b"), ("aifa", GAID), ("andi", ANDROID_ID), ("p", "Android"),
            ("i", "com.maplewood.reader"), ("ve", "14"), ("ma", "Google"), ("mo", "Pixel 6"), ("lc", "en_US"),
            ("bd", "Build/AP1A.240305.019"), ("c", "wifi"), ("src", "com.android.vending"), ("s", str(T_MS)),
            ("av", "12.0.1"), ("sdk", "Singular/v12.3.2"), ("u", "4e9f1c2a-8b7d-4a3e-9c6f-0d1e2f3a4b5c"),
            ("h", "8c1d5e0f3a2b7c9d4e6f8a0b1c2d3e4f5a6b7c8d")]),
        [UA], "",
        [K("advertising_id", "query", "aifa"), K("device_id", "query", "andi")])

    segment = {"batch": [{
        "type": "identify", "userId": STUDENT_ID, "anonymousId": "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f",
        "messageId": "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "timestamp": "2024-03-05T10:00:00.123Z",
        "traits": {"email": EMAIL, "firstName": FIRST, "lastName": LAST, "birthday": BIRTH,
                   "phone": PHONE_E164, "school": SCHOOL, "grade": 4, "plan": "classroom"},
        "context": {"ip": PUBLIC_IP, "locale": "en-US", "timezone": "America/Chicago",
                    "device": {"id": ANDROID_ID, "advertisingId": GAID, "adTrackingEnabled": True,
                               "manufacturer": "Google", "model": "Pixel 6", "type": "android"},
                    "os": {"name": "Android", "version": "14"}, "network": {"wifi": True, "carrier": ""},
                    "screen": {"width": 1080, "height": 2340, "density": 2.75},
                    "library": {"name": "analytics-kotlin", "version": "1.14.2"},
                    "app": {"name": "Maplewood Reader", "version": "12.0.1", "build": "4365"}}}],
        "sentAt": "2024-03-05T10:00:01.456Z", "writeKey": "Wk3f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"}
    add("segment-batch-identify-gzip", "Segment batch, gzip: identify with traits (e-mail, names, birthday, "
        "phone, school), context ip, device id and advertisingId", "POST", "https://api.segment.io/v1/b",
        [JSON, GZIP, ("User-Agent", "analytics-kotlin/1.14.2")], gzip.compress(js(segment).encode(), mtime=0),
        [K("student_id", "body", "batch[0].userId"), P("device_id", "body", "batch[0].anonymousId"),
         KP("email", "body", "batch[0].traits.email"), KP("name", "body", "batch[0].traits.firstName"),
         KP("name", "body", "batch[0].traits.lastName"), KP("birthdate", "body", "batch[0].traits.birthday"),
         KP("phone", "body", "batch[0].traits.phone"), K("other_identifier", "body", "batch[0].traits.school"),
         KP("ip_address", "body", "batch[0].context.ip"), KP("device_id", "body", "batch[0].context.device.id"),
         KP("advertising_id", "body", "batch[0].context.device.advertisingId")])

    mp_event = {"event": "Lesson Completed", "properties": {
        "token": "3f8e2a1b9c0d4e5f6a7b8c9d0e1f2a3b", "distinct_id": USERNAME,
        "$device_id": "18e0f2a3b4c-0d1e2f3a4b5c6d-26031f51-fa000-18e0f2a3b4c", "time": T_MS,
        "$os": "Chrome OS", "$browser": "Chrome", "$browser_version": 122, "$screen_height": 768,
        "$screen_width": 1366, "mp_lib": "web", "$lib_version": "2.49.0", "$insert_id": "k2j3h4g5f6d7s8a9",
        "lesson": "fractions-3", "score": 43.65}}
    add("mixpanel-track-base64", "Mixpanel JS track: data= base64 JSON with distinct_id = username",
        "GET", url("https://api-js.mixpanel.com/track/", [("data", b64(js(mp_event))), ("ip", "1"),
                                                            ("_", str(T_MS))]),
        [UA_WEB], "",
        [K("username", "query", "data.properties.distinct_id"), P("device_id", "query", "data.properties.$device_id")])

    engage = [{"$token": "3f8e2a1b9c0d4e5f6a7b8c9d0e1f2a3b", "$distinct_id": USERNAME,
               "$set": {"$email": EMAIL, "$name": FULL, "$phone": PHONE_NATIONAL, "Grade": "4", "School": SCHOOL}}]
    add("mixpanel-engage-set", "Mixpanel people set: data= URL-encoded JSON with $email, $name, national "
        "phone and school", "POST", "https://api.mixpanel.com/engage?verbose=1", [FORM, UA_WEB],
        form([("data", js(engage))]),
        [K("username", "body", "data[0].$distinct_id"), KP("email", "body", "data[0].$set.$email"),
         KP("name", "body", "data[0].$set.$name"), KP("phone", "body", "data[0].$set.$phone"),
         K("other_identifier", "body", "data[0].$set.School")])

    add("amplitude-httpapi-v2", "Amplitude HTTP API v2: user_id is the e-mail, precise location, adid, "
        "android_id, random device_id", "POST", "https://api2.amplitude.com/2/httpapi", [JSON, UA],
        js({"api_key": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "events": [{
            "user_id": EMAIL, "device_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479", "event_type": "quiz_submitted",
            "time": T_MS, "session_id": T_MS - 600000, "insert_id": "5d9e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a",
            "event_properties": {"quiz_id": "q-55", "score": 7, "duration_s": 43.65},
            "user_properties": {"grade": 4, "school": SCHOOL}, "platform": "Android", "os_version": "14",
            "device_model": "Pixel 6", "app_version": "12.0.1", "location_lat": LAT, "location_lng": LON,
            "ip": "$remote", "adid": GAID, "android_id": ANDROID_ID, "library": "amplitude-kotlin/1.16.0"}],
            "options": {"min_id_length": 1}}),
        [KP("email", "body", "events[0].user_id"), P("device_id", "body", "events[0].device_id"),
         K("other_identifier", "body", "events[0].user_properties.school"),
         KP("precise_location", "body", "events[0].location_lat"),
         KP("precise_location", "body", "events[0].location_lng"), KP("advertising_id", "body", "events[0].adid"),
         KP("device_id", "body", "events[0].android_id")])

    legacy = [{"user_id": USERNAME, "device_id": "c0ffee00-1234-4abc-9def-0123456789ab", "event_type": "app_open",
               "timestamp": T_MS, "event_id": 43, "session_id": T_MS, "version_name": "12.0.1",
               "user_properties": {"$set": {"birthdate": "06/21/2015", "grade": "4"}}, "sequence_number": 118}]
    e = js(legacy)
    add("amplitude-legacy-form", "Amplitude legacy upload: e= URL-encoded JSON, birthdate in US layout, "
        "checksum = md5", "POST", "https://api.amplitude.com/", [FORM, UA_WEB],
        form([("client", "a1b2c3d4e5f60718293a4b5c6d7e8f90"), ("e", e), ("v", "2"), ("upload_time", str(T_MS)),
              ("checksum", hashlib.md5(("2" + "a1b2c3d4e5f60718293a4b5c6d7e8f90" + e + str(T_MS)).encode())
               .hexdigest())]),
        [K("username", "body", "e[0].user_id"), P("device_id", "body", "e[0].device_id"),
         KP("birthdate", "body", "e[0].user_properties.$set.birthdate")])

    add("braze-data-sync", "Braze SDK data request: user attributes (names, e-mail, dob, phone), "
        "custom school attribute, google_ad_id", "POST", "https://sdk.iad-05.braze.com/api/v3/data",
        [JSON, UA, ("X-Braze-Api-Key", "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d")],
        js({"api_key": "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d", "time": T_S, "sdk_version": "30.1.1",
            "app_version": "12.0.1", "app_version_code": "4365.0.0.0",
            "device_id": "8d7c6b5a-4f3e-4d2c-9b1a-0f9e8d7c6b5a",
            "user_id": STUDENT_ID, "respond_with": {"config": {"config_time": 0}},
            "attributes": [{"user_id": STUDENT_ID, "first_name": FIRST, "last_name": LAST, "email": EMAIL,
                            "dob": BIRTH, "phone": PHONE_E164, "custom": {"school": SCHOOL, "grade": 4}}],
            "device": {"android_version": "34", "model": "Pixel 6", "brand": "google", "resolution": "1080x2340",
                       "carrier": "", "time_zone": "America/Chicago", "ad_tracking_enabled": True,
                       "google_ad_id": GAID, "locale": "en_US"},
            "events": [{"name": "ss", "data": {}, "time": T_S, "session_id": "a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d"}]}),
        [P("device_id", "body", "device_id"), K("student_id", "body", "user_id"),
         K("student_id", "body", "attributes[0].user_id"), KP("name", "body", "attributes[0].first_name"),
         KP("name", "body", "attributes[0].last_name"), KP("email", "body", "attributes[0].email"),
         KP("birthdate", "body", "attributes[0].dob"), KP("phone", "body", "attributes[0].phone"),
         K("other_identifier", "body", "attributes[0].custom.school"),
         KP("advertising_id", "body", "device.google_ad_id")])

    add("onesignal-player-create", "OneSignal player registration: ad_id, 2-decimal lat/long, external user ID, "
        "e-mail tag; app_id is the app's UUID", "POST", "https://api.onesignal.com/players", [JSON, UA],
        js({"app_id": "b2f7f966-d8cc-11e4-bed1-df8f05be55ba", "device_type": 1,
            "identifier": "dQw4w9WgXcQ:APA91bGk3xYz0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdefghijklmnopqrstuv",
            "ad_id": GAID, "device_model": "Pixel 6", "device_os": "14", "game_version": "4365",
            "language": "en", "timezone": -21600, "timezone_id": "America/Chicago", "sdk": "050100",
            "net_type": 0, "carrier": "", "rooted": False, "lat": round(LAT, 2), "long": round(LON, 2),
            "loc_acc": 35.0, "loc_type": 1, "external_user_id": STUDENT_ID, "tags": {"email": EMAIL}}),
        [KP("advertising_id", "body", "ad_id"), KP("coarse_location", "body", "lat"),
         KP("coarse_location", "body", "long"), K("student_id", "body", "external_user_id"),
         KP("email", "body", "tags.email")])

    add("clevertap-a1-profile", "CleverTap upload: meta, profile (Name, Email, Phone, DOB as $D_epoch, Identity) "
        "and App Launched with 4/3-decimal location", "POST",
        "https://eu1.clevertap-prod.com/a1?os=Android&t=60100&z=TEST-4R6-8W9Z&ts=1709632800",
        [("Content-Type", "application/json; charset=utf-8"), UA, ("X-CleverTap-Account-ID", "TEST-4R6-8W9Z")],
        js([{"type": "meta", "g": "__g8e2f4a6c0b1d3e5f7a9c8b7d6e5f4a3b", "tk": "a12-b34", "l_ts": T_S - 3600,
             "f_ts": T_S - 86400, "ddnd": False, "af": {"Build": "4365"}, "id": "TEST-4R6-8W9Z"},
            {"type": "profile", "ts": T_S, "profile": {"Name": FULL, "Email": EMAIL, "Phone": PHONE_E164,
                                                        "DOB": "$D_1434844800", "Identity": STUDENT_ID}},
            {"type": "event", "evtName": "App Launched", "ts": T_S, "evtData": {
                "Build": "4365", "Version": "12.0.1", "OS Version": "14", "SDK Version": 60100,
                "Latitude": round(LAT, 4), "Longitude": round(LON, 3), "Make": "Google", "Model": "Pixel 6",
                "Carrier": "", "useIP": False, "OS": "Android", "wifi": True, "hgt": 6.12, "wdt": 2.78,
                "dpi": 440}}]),
        [KP("name", "body", "[1].profile.Name"), KP("email", "body", "[1].profile.Email"),
         KP("phone", "body", "[1].profile.Phone"), K("birthdate", "body", "[1].profile.DOB"),
         K("student_id", "body", "[1].profile.Identity"),
         KP("precise_location", "body", "[2].evtData.Latitude"),
         KP("precise_location", "body", "[2].evtData.Longitude")])

    envelope = "\n".join([
        js({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sent_at": "2024-03-05T10:00:01.456Z",
            "sdk": {"name": "sentry.javascript.browser", "version": "7.105.0"},
            "dsn": "https://a1b2c3d4e5f60718@o450123.ingest.sentry.io/4504123456789"}),
        js({"type": "event"}),
        js({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "level": "error", "platform": "javascript",
            "timestamp": 1709632800.123, "release": "reader-web@12.0.1",
            "exception": {"values": [{"type": "TypeError",
                                      "value": "Cannot read properties of undefined (reading 'grade')"}]},
            "user": {"id": STUDENT_ID, "email": EMAIL, "ip_address": "{{auto}}", "username": USERNAME},
            "request": {"url": f"https://reader.maplewood.example/students/{STUDENT_ID}/report?term=2",
                        "headers": {"User-Agent": UA_CHROME}},
            "contexts": {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}}}),
    ]) + "\n"
    add("sentry-envelope-error-user", "Sentry envelope (NDJSON): error event with user id/e-mail/username and the "
        "student ID in the page URL", "POST",
        "https://o450123.ingest.sentry.io/api/4504123456789/envelope/?sentry_key=a1b2c3d4e5f60718&sentry_version=7",
        [("Content-Type", "text/plain;charset=UTF-8"), UA_WEB], envelope,
        [K("student_id", "body", "line2.user.id"), KP("email", "body", "line2.user.email"),
         KP("username", "body", "line2.user.username"), K("student_id", "body", "line2.request.url")])

    add("bugsnag-notify", "Bugsnag error report: user id/name/e-mail, school in metaData, random device id",
        "POST", "https://notify.bugsnag.com/",
        [JSON, ("Bugsnag-Api-Key", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"), ("Bugsnag-Payload-Version", "4.0"),
         ("Bugsnag-Sent-At", "2024-03-05T10:00:01.456Z"), UA],
        js({"apiKey": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "payloadVersion": "4.0",
            "notifier": {"name": "Android Bugsnag Notifier", "version": "6.2.0", "url": "https://bugsnag.com"},
            "events": [{"exceptions": [{"errorClass": "java.lang.IllegalStateException",
                                        "message": "lesson 43 not cached", "stacktrace": []}],
                        "severity": "error", "unhandled": False,
                        "device": {"id": "3b4c5d6e-7f80-4912-a3b4-c5d6e7f80912", "manufacturer": "Google",
                                   "model": "Pixel 6", "osVersion": "14", "totalMemory": 7834567890,
                                   "jailbroken": False, "locale": "en_US", "time": "2024-03-05T10:00:00.000Z"},
                        "app": {"version": "12.0.1", "versionCode": 4365, "releaseStage": "production"},
                        "user": {"id": STUDENT_ID, "name": FULL, "email": EMAIL},
                        "metaData": {"classroom": {"school": SCHOOL, "grade": 4}}, "breadcrumbs": []}]}),
        [P("device_id", "body", "events[0].device.id"), K("student_id", "body", "events[0].user.id"),
         KP("name", "body", "events[0].user.name"), KP("email", "body", "events[0].user.email"),
         K("other_identifier", "body", "events[0].metaData.classroom.school")])

    crash = {"sdkVersion": "18.6.2", "gmpAppId": "1:123456789012:android:0a1b2c3d4e5f6a7b", "platform": 4,
             "installationUuid": "8e3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a", "buildVersion": "4365", "displayVersion": "12.0.1",
             "session": {"generator": "generator-ab12cd34", "identifier": "65E7A1C2003D00015F0C1A2B3C4D5E6F",
                         "startedAt": T_S, "user": {"identifier": STUDENT_ID},
                         "device": {"arch": 9, "model": "Pixel 6", "cores": 8, "ram": 7834567890,
                                    "diskSpace": 118234567890, "simulator": False, "state": 0,
                                    "manufacturer": "Google", "modelClass": "oriole"}}}
    add("crashlytics-firelog-batch", "Crashlytics report through Firelog: sourceExtension is base64 JSON with the "
        "user identifier (student ID) and installationUuid", "POST",
        "https://firebaselogging-pa.googleapis.com/v1/firelog/legacy/batchlog",
        [JSON, ("X-Goog-Api-Key", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"), UA],
        js({"requestTimeMs": T_MS, "requestUptimeMs": 43650, "logRequest": [{
            "requestTimeMs": T_MS, "requestUptimeMs": 43650, "logSource": "CRASHLYTICS",
            "clientInfo": {"clientType": "ANDROID_FIREBASE", "androidClientInfo": {
                "sdkVersion": 34, "model": "Pixel 6", "hardware": "oriole", "device": "oriole", "product": "oriole",
                "osBuild": "AP1A.240305.019", "manufacturer": "Google",
                "fingerprint": "google/oriole/oriole:14/AP1A.240305.019/11355555:user/release-keys"}},
            "logEvent": [{"eventTimeMs": T_MS, "eventUptimeMs": 43600, "sourceExtension": b64(js(crash))}]}]}),
        [P("device_id", "body", "logRequest[0].logEvent[0].sourceExtension.installationUuid"),
         K("student_id", "body", "logRequest[0].logEvent[0].sourceExtension.session.user.identifier")])

    view_url = f"https://reader.maplewood.example/students/{STUDENT_ID}/books?name={urllib.parse.quote(FULL)}"
    rum = "\n".join([
        js({"type": "view", "date": T_MS, "application": {"id": "6f5e4d3c-2b1a-4098-8765-43210fedcba9"},
            "session": {"id": "0f1e2d3c-4b5a-4697-8877-665544332211", "type": "user"},
            "view": {"id": "11223344-5566-4778-8899-aabbccddeeff", "url": view_url, "referrer": "",
                     "time_spent": 4365000000, "loading_time": 1234000000},
            "usr": {"id": STUDENT_ID, "name": FULL, "email": EMAIL},
            "_dd": {"format_version": 2, "document_version": 3}, "service": "reader-web", "version": "12.0.1"}),
        js({"type": "action", "date": T_MS + 5000, "action": {"id": "99887766-5544-4332-a110-ffeeddccbbaa",
                                                              "type": "click", "target": {"name": "Next page"}},
            "view": {"id": "11223344-5566-4778-8899-aabbccddeeff"}, "_dd": {"format_version": 2}}),
    ])
    add("datadog-rum-ndjson", "Datadog browser RUM batch (NDJSON): view URL with the student ID and name, usr "
        "id/name/e-mail", "POST",
        url("https://browser-intake-datadoghq.com/api/v2/rum", [
            ("ddsource", "browser"), ("ddtags", "sdk_version:5.11.0,env:prod,service:reader-web,version:12.0.1"),
            ("dd-api-key", "pub0a1b2c3d4e5f60718293a4b5c6d7e8f9"), ("dd-evp-origin-version", "5.11.0"),
            ("dd-evp-origin", "browser"), ("dd-request-id", "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d")]),
        [("Content-Type", "text/plain;charset=UTF-8"), UA_WEB], rum,
        [K("student_id", "body", "line0.view.url"), K("name", "body", "line0.view.url"),
         K("student_id", "body", "line0.usr.id"), KP("name", "body", "line0.usr.name"),
         KP("email", "body", "line0.usr.email")])

    add("newrelic-mobile-connect", "New Relic mobile agent connect: positional arrays, the device ID (Android ID) "
        "in the sixth slot", "POST", "https://mobile-collector.newrelic.com/mobile/v4/connect",
        [JSON, ("X-App-License-Key", "AA0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d-NRMA"), UA],
        js([["Maplewood Reader", "12.0.1", "com.maplewood.reader"],
            ["Android", "14", "Pixel 6", "AndroidAgent", "7.3.0", ANDROID_ID, "", "", "Google",
             {"size": "normal", "platform": "Native", "platformVersion": "7.3.0"}]]),
        [K("device_id", "body", "[1][5]")])

    add("unity-ads-auction", "Unity Ads auction request: advertisingTrackingId, device traits", "POST",
        "https://auction.unityads.unity3d.com/v6/games/4365123/requests?deviceModel=Pixel%206&platform=android"
        "&sdkVersion=4120&stores=google&screenWidth=1080&screenHeight=2340&connectionType=wifi",
        [JSON, UA],
        js({"advertisingTrackingId": GAID, "limitAdTracking": False, "deviceMake": "Google",
            "deviceModel": "Pixel 6", "connectionType": "wifi", "screenWidth": 1080, "screenHeight": 2340,
            "screenDensity": 440, "language": "en_US", "timeZone": "-0600", "deviceFreeSpace": 43650123,
            "gameSessionId": 8473629105738291, "idfi": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
            "sessionDepth": 3, "placements": {"rewardedVideo": {"adTypes": ["VIDEO"], "allowSkip": False}},
            "coppa": True, "properties": "eyJ2IjoxfQ=="}),
        [KP("advertising_id", "body", "advertisingTrackingId")])

    add("applovin-ad-gzip", "AppLovin ad request, gzip: idfa key holds the GAID, lat/lon strings (5 decimals), "
        "user_id = username", "POST", "https://a.applovin.com/4.0/ad", [JSON, GZIP, UA],
        gzip.compress(js({
            "device_info": {"idfa": GAID, "dnt": False, "brand": "google", "model": "Pixel 6", "os": "14",
                            "carrier": "", "locale": "en_US", "tz_offset": -6.0, "adns": 2.75, "adnsd": 440,
                            "dx": 1080, "dy": 2340, "lat": f"{int(LAT * 1e5) / 1e5:.5f}",
                            "lon": f"{int(LON * 1e5) / 1e5:.5f}", "volume": 40, "bt_ms": T_MS - 3600000},
            "app_info": {"package_name": "com.maplewood.reader", "app_version": "12.0.1",
                         "installer_name": "com.android.vending", "sdk_version": "12.3.0",
                         "first_install_v3_ms": T_MS - 86400000},
            "user_info": {"user_id": USERNAME}, "sdk_key": "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b"}).encode(),
            mtime=0),
        [KP("advertising_id", "body", "device_info.idfa"), KP("precise_location", "body", "device_info.lat"),
         KP("precise_location", "body", "device_info.lon"), K("username", "body", "user_info.user_id")])

    add("ironsource-mediation-query", "ironSource mediation: advId in the query, applicationUserId = student ID",
        "GET", url("https://outcome-ssp.supersonicads.com/mediation", [
            ("adUnit", "3"), ("appKey", "1a2b3c4d5"), ("advId", GAID), ("advIdType", "GAID"),
            ("connectionType", "wifi"), ("deviceOS", "Android"), ("deviceOSVersion", "14"),
            ("deviceModel", "Pixel 6"), ("mcc", "310"), ("mnc", "260"), ("sdkVersion", "7.9.0"),
            ("applicationUserId", STUDENT_ID), ("isLimitAdTrackingEnabled", "false"), ("ts", str(T_MS))]),
        [UA], "",
        [KP("advertising_id", "query", "advId"), K("student_id", "query", "applicationUserId")])

    events = {"advertisingId": GAID, "applicationUserId": STUDENT_ID, "deviceOEM": "Google", "deviceModel": "Pixel 6",
              "osVersion": "14", "sdkVersion": "7.9.0", "connectionType": "wifi",
              "events": [{"eventId": 3005, "timestamp": T_MS, "provider": "Mediation", "sessionDepth": 3}]}
    add("ironsource-events-gzip-base64", "ironSource event batch: data is base64 of gzip of JSON", "POST",
        "https://track.mediation.unity3d.com/mediation/v1/events", [JSON, UA],
        js({"table": "super.dwh.mediation_events", "compression": "gzip",
            "data": b64(gzip.compress(js(events).encode(), mtime=0))}),
        [KP("advertising_id", "body", "data.advertisingId"), K("student_id", "body", "data.applicationUserId")])

    add("chartboost-install-identity", "Chartboost install: identity is base64 JSON holding the gaid", "POST",
        "https://live.chartboost.com/api/install", [JSON, UA, ("X-Chartboost-App", "5f0c9a3e7b21d6480a1b2c3d"),
                                                    ("X-Chartboost-Client", "Chartboost-Android-SDK 9.6.1")],
        js({"app": "5f0c9a3e7b21d6480a1b2c3d", "bundle": "12.0.1", "bundle_id": "com.maplewood.reader",
            "country": "US", "identity": b64(js({"gaid": GAID, "uuid": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"})),
            "os": "Android 14", "model": "Pixel 6", "make": "Google", "w": 1080, "h": 2340, "dw": 1080, "dh": 2340,
            "is_portrait": True, "sdk": "9.6.1", "timestamp": str(T_S), "session": 5, "reachability": 1,
            "scale": 2.75, "mobile_network": "", "carrier": {"carrier-name": "", "mobile-country-code": "310"}}),
        [KP("advertising_id", "body", "identity.gaid")])

    add("admob-gma-request", "AdMob ad request: rdid (resettable device ID) with idtype=adid", "GET",
        url("https://googleads.g.doubleclick.net/mads/gma", [
            ("caps", "inlineVideo_interactiveVideo_mraid1_mraid2_sdkVideo_th_autoplay"), ("eid", "318484496,318502621"),
            ("format", "320x50_mb"), ("heap_free", "4365123"), ("js", "afma-sdk-a-v240304999.233408000.1"),
            ("msid", "com.maplewood.reader"), ("an", "4365.android.com.maplewood.reader"), ("net", "wi"),
            ("u_sd", "2.625"), ("u_w", "411"), ("u_h", "891"), ("rdid", GAID), ("idtype", "adid"), ("is_lat", "0"),
            ("correlator", "8374629105738"), ("dt", str(T_MS)), ("submodel", "Pixel 6"), ("os_version", "14")]),
        [UA], "",
        [K("advertising_id", "query", "rdid")])

    ec = f"tv.1~em.{b64url(hashlib.sha256(EMAIL.encode()).digest(), pad=False)}" \
         f"~pn.{b64url(hashlib.sha256(PHONE_E164.encode()).digest(), pad=False)}"
    add("google-ads-enhanced-conversion", "Google Ads conversion with enhanced conversions: em = tv.1~em.<b64url "
        "sha256 e-mail>~pn.<b64url sha256 E.164 phone>", "GET",
        url("https://www.googleadservices.com/pagead/conversion/987654321/", [
            ("random", "1709632800123"), ("cv", "11"), ("fst", str(T_MS)), ("fmt", "3"), ("bg", "ffffff"),
            ("guid", "ON"), ("label", "AbC-D_efG-h12_34-567"), ("value", "0"), ("currency_code", "USD"),
            ("em", ec), ("u_w", "1366"), ("u_h", "768"), ("url", "https://shop.kidsreader.example/thanks")]),
        [UA_WEB], "",
        [K("email", "query", "em"), K("phone", "query", "em")])

    clarity = {"e": ["0.7.22", 2, 0, 4365, "k3l4m5n6o7", "1a2b3c4", "9z8y7x6", 1, 0, 0,
                     "https://reader.maplewood.example/settings"],
               "a": [[1200, 4, "input#email", EMAIL], [1300, 9, 42, f"Welcome back, {FULL}!"]],
               "p": []}
    add("clarity-collect-gzip", "Microsoft Clarity collect, gzip: an unmasked input value (e-mail) and page text "
        "with the full name", "POST", "https://n.clarity.ms/collect",
        [("Content-Type", "application/json"), GZIP, UA_WEB],
        gzip.compress(js(clarity).encode(), mtime=0),
        [KP("email", "body", "a[0][3]"), K("name", "body", "a[1][3]")])

    add("hotjar-visit-data", "Hotjar visit data: landing page URL carries the username in its query", "POST",
        "https://in.hotjar.com/api/v2/client/sites/3716432/visit-data?sv=7", [JSON, UA_WEB],
        js({"window_width": 1366, "window_height": 768, "user_agent": UA_CHROME, "r_value": 1, "is_vpv": False,
            "session_only": False, "rec_value": 0.4365,
            "landing_page": f"https://reader.maplewood.example/login?username={USERNAME}&next=%2Fhome",
            "timestamp": T_MS}),
        [KP("username", "body", "landing_page")])

    fs_body = {"Evts": [{"When": 120, "Kind": 16, "Args": [[1366, 768]]},
                        {"When": 4365, "Kind": 37, "Args": [STUDENT_ID, {"displayName": FULL, "email": EMAIL}]}],
               "Seq": 3, "When": 4365}
    add("fullstory-bundle-identify", "FullStory bundle, gzip: FS.identify(uid, {displayName, email})", "POST",
        url("https://rs.fullstory.com/rec/bundle/v2", [
            ("OrgId", "o-1ABC23-na1"), ("UserId", "5174839201847362"), ("SessionId", "8472910384756102"),
            ("PageId", "2837465019283746"), ("Seq", "3"), ("ClientTime", str(T_MS)), ("IsNewSession", "false")]),
        [("Content-Type", "text/plain"), GZIP, UA_WEB], gzip.compress(js(fs_body).encode(), mtime=0),
        [K("student_id", "body", "Evts[1].Args[0]"), KP("name", "body", "Evts[1].Args[1].displayName"),
         KP("email", "body", "Evts[1].Args[1].email")])

    add("heap-add-user-properties", "Heap add_user_properties: _email and name in the query", "GET",
        url("https://heapanalytics.com/api/add_user_properties", [
            ("a", "4365123456"), ("u", "4829384759273615"), ("_email", EMAIL), ("name", FULL), ("grade", "4"),
            ("st", str(T_MS))]),
        [UA_WEB], "",
        [KP("email", "query", "_email"), K("name", "query", "name")])

    posthog = [{"event": "$identify", "timestamp": "2024-03-05T10:00:00.123Z", "uuid":
                "018e0f2a-3b4c-7d5e-8f6a-7b8c9d0e1f2a", "properties": {
                    "distinct_id": STUDENT_ID, "$device_id": "018e0f29-1a2b-7c3d-9e4f-5a6b7c8d9e0f",
                    "$set": {"email": EMAIL, "name": FULL}, "$current_url": "https://class.maplewood.example/home",
                    "$screen_height": 768, "$screen_width": 1366, "$lib": "web", "$lib_version": "1.116.0",
                    "token": "phc_3f8e2a1b9c0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9"}}]
    add("posthog-capture-gzip-js", "PostHog capture with compression=gzip-js: gzip body WITHOUT Content-Encoding",
        "POST", url("https://us.i.posthog.com/e/", [("ip", "1"), ("_", str(T_MS)), ("ver", "1.116.0"),
                                                    ("compression", "gzip-js")]),
        [("Content-Type", "text/plain"), UA_WEB], gzip.compress(js(posthog).encode(), mtime=0),
        [K("student_id", "body", "[0].properties.distinct_id"),
         P("device_id", "body", "[0].properties.$device_id"),
         KP("email", "body", "[0].properties.$set.email"), KP("name", "body", "[0].properties.$set.name")])

    context = {"kind": "user", "key": STUDENT_ID, "name": FULL, "email": EMAIL,
               "custom": {"school": SCHOOL, "grade": 4}}
    add("launchdarkly-evalx-context", "LaunchDarkly client-side flag evaluation: the context is url-safe base64 "
        "JSON in the path", "GET",
        f"https://clientsdk.launchdarkly.com/sdk/evalx/65e6f1a2b3c4d5e6f7a8b9c0/contexts/{b64url(js(context))}",
        [UA_WEB, ("X-LaunchDarkly-User-Agent", "JSClient/3.1.4")], "",
        [K("student_id", "path", "path[4].key"), KP("name", "path", "path[4].name"),
         KP("email", "path", "path[4].email"), K("other_identifier", "path", "path[4].custom.school")])

    add("zoom-web-join", "Zoom web client join: display name as base64 in un, e-mail in the query", "GET",
        url("https://us05web.zoom.us/wc/81234567890/join", [
            ("fromPWA", "1"), ("pwd", "aGk3ZmY0OGQ2YzE"), ("un", b64(FULL)), ("email", EMAIL), ("_x_zm_rtaid", "x"),
            ("_x_zm_rhtaid", "736")]),
        [UA_WEB], "",
        [K("name", "query", "un"), KP("email", "query", "email")])

    add("agora-join-gateway", "Agora web SDK join: string_uid is the username", "POST",
        "https://webrtc2-ap-web-1.agora.io/api/v2/transpond/webrtc?v=2", [JSON, UA_WEB],
        js({"appid": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "client_ts": T_MS, "opid": 4365123,
            "sid": "8F3E2D1C0B9A87654321FEDCBA098765", "request_bodys": [{
                "uri": 22, "buffer": {"cname": "class-4b-reading-group", "detail": {"6": 2, "11": "1"},
                                      "key": "0060a1b2c3d4e5f60718293a4b5c6d7e8f9IAA", "service_name": "webrtc",
                                      "sid": "8F3E2D1C0B9A87654321FEDCBA098765", "string_uid": USERNAME, "uid": 0,
                                      "version": "4.20.0"}}]}),
        [K("username", "body", "request_bodys[0].buffer.string_uid")])

    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    meta = js({"student_email": EMAIL, "student_id": STUDENT_ID, "exam": "Grade 4 Reading Check",
               "gaze_offscreen_ratio": 0.12, "faces_detected": 1, "frame_ts": T_MS})
    add("proctoring-frame-upload", "Proctoring extension upload: webcam JPEG, microphone WAV and metadata with "
        "e-mail, student ID, gaze ratio and face count", "POST",
        "https://upload.proctorlike.example/api/v2/sessions/4a5b6c7d/frames",
        [("Content-Type", f"multipart/form-data; boundary={boundary}"), UA_WEB],
        multipart(boundary, [("meta", None, "application/json", meta.encode()),
                             ("webcam", "frame-0043.jpg", "image/jpeg", tiny_jpeg()),
                             ("audio", "mic-0043.wav", "audio/wav", tiny_wav())]),
        [KP("email", "body", "meta.student_email"), KP("student_id", "body", "meta.student_id"),
         P("attention_tracking", "body", "meta.gaze_offscreen_ratio"),
         P("biometric_other", "body", "meta.faces_detected"), P("face_image", "body", "webcam"),
         P("voice", "body", "audio")])

    add("proctoring-keystrokes", "Proctoring telemetry: keystroke dynamics and emotion scores", "POST",
        "https://upload.proctorlike.example/api/v2/sessions/4a5b6c7d/telemetry", [JSON, UA_WEB],
        js({"session": "4a5b6c7d", "seq": 43, "tab_switches": 2,
            "keystroke_dynamics": [{"k": "KeyA", "dwell": 87, "flight": 123},
                                   {"k": "KeyS", "dwell": 91, "flight": 140}],
            "emotion": {"neutral": 0.81, "happy": 0.12, "sad": 0.07}}),
        [P("attention_tracking", "body", "tab_switches"), P("biometric_other", "body", "keystroke_dynamics"),
         P("biometric_other", "body", "emotion")])

    bearer = "ya29.a0AfB_byC3x9Zk2LmNoPqRsTuVwXyZ0123456789abcdefGHIJKLmnopqrstuVWXyz-0123456789_ABCDEFghij"
    add("google-classroom-user-profile", "Google Classroom API (first party): userProfiles/{e-mail}, OAuth bearer "
        "token", "GET", f"https://classroom.googleapis.com/v1/userProfiles/{EMAIL}",
        [("Authorization", f"Bearer {bearer}"), ("X-Goog-Api-Client", "gl-java/17 gdcl/2.0.0"), UA], "",
        [KP("email", "path", "path[2]"), P("credentials", "header", "authorization")])

    add("canvas-login-form", "Canvas LMS login form (first party): username and password", "POST",
        "https://canvas.maplewood.example/login/canvas", [FORM, UA_WEB],
        form([("utf8", "\u2713"),
              ("authenticity_token", "Xk3f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a"),
              ("pseudonym_session[unique_id]", USERNAME), ("pseudonym_session[password]", "Tiger!Lily2024"),
              ("pseudonym_session[remember_me]", "0")]),
        [K("username", "body", "pseudonym_session[unique_id]"),
         P("credentials", "body", "pseudonym_session[password]")])

    add("canvas-api-sis-user", "Canvas LMS API (first party): user looked up by sis_user_id in the path", "GET",
        f"https://canvas.maplewood.example/api/v1/users/sis_user_id:{STUDENT_ID}/profile",
        [("Authorization", "Bearer 7~Qm3x9Zk2LmNoPqRsTuVwXyZ0123456789abcdefGHIJKLmnopqrstuVWXyz01234567"), UA_WEB],
        "",
        [K("student_id", "path", "path[3]"), P("credentials", "header", "authorization")])

    add("first-party-device-headers", "The app's own API: X-Device-Id, X-Advertising-Id headers, student ID in a "
        "cookie beside GA and Meta cookies", "GET", "https://api.kidsreader.example/v2/library?page=2&size=43",
        [UA, ("Accept", "application/json"), ("X-Device-Id", ANDROID_ID), ("X-Advertising-Id", GAID),
         ("X-App-Version", "12.0.1 (4365)"), ("X-Request-Id", "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"),
         ("Cookie", f"uid={STUDENT_ID}; lang=en; _ga=GA1.2.1184732901.1709632800; "
                    "_fbp=fb.1.1709632800123.918273645")], "",
        [KP("device_id", "header", "x-device-id"), KP("advertising_id", "header", "x-advertising-id"),
         K("student_id", "cookie", "uid")])

    add("first-party-cookie-base64-json", "Web app cookie holding base64 JSON of the signed-in user", "GET",
        "https://www.kidsreader.example/dashboard",
        [UA_WEB, ("Cookie", "session_user=" + b64(js({"id": STUDENT_ID, "email": EMAIL, "role": "student"}))
                  + "; theme=dark")], "",
        [K("student_id", "cookie", "session_user.id"), KP("email", "cookie", "session_user.email")])

    add("wifi-scan-location-upload", "Child-safety app location report: Wi-Fi scan (own and neighbouring APs), "
        "MAC without separators, Bluetooth MAC, lat,lon string", "POST",
        "https://location.kidsafe.example/v1/report", [JSON, UA],
        js({"device": {"mac": MAC.replace(":", "").upper(), "bt": BT_MAC.upper(), "battery": 76},
            "wifi": [{"ssid": SSID, "bssid": BSSID, "rssi": -51},
                     {"ssid": "Maplewood-Guest", "bssid": "c4:41:1e:8d:52:f1", "rssi": -60}],
            "gps": f"{LAT},{LON}", "acc": 12.5, "ts": T_MS}),
        [KP("hardware_id", "body", "device.mac"), KP("hardware_id", "body", "device.bt"),
         KP("network_id", "body", "wifi[0].ssid"), KP("network_id", "body", "wifi[0].bssid"),
         P("network_id", "body", "wifi[1].ssid"), P("network_id", "body", "wifi[1].bssid"),
         KP("precise_location", "body", "gps")])

    add("tapjoy-connect-sha1-mac", "Tapjoy-style connect: SHA-1 of the upper-case MAC, advertising_id", "GET",
        url("https://connect.tapjoy.com/api/connect/v3.json", [
            ("app_id", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), ("advertising_id", GAID),
            ("sha1_mac_address", hashlib.sha1(MAC.upper().encode()).hexdigest()), ("ad_tracking_enabled", "true"),
            ("device_type", "android"), ("os_version", "14"), ("library_version", "13.2.1"),
            ("timestamp", str(T_S)), ("verifier", hashlib.sha256(b"tapjoy-verifier-1709632800").hexdigest())]),
        [UA], "",
        [KP("advertising_id", "query", "advertising_id"), K("hardware_id", "query", "sha1_mac_address")])

    add("game-backend-hex-blob", "Kids game backend sync: hex-encoded JSON blob with username and e-mail", "POST",
        "https://game-api.mathquest.example/v1/sync", [FORM, UA],
        form([("v", "3"), ("blob", js({"player": USERNAME, "email": EMAIL, "stars": 43}).encode().hex()),
              ("ts", str(T_S))]),
        [K("username", "body", "blob.player"), KP("email", "body", "blob.email")])

    jzb = [{"type": "load", "visitor_id": STUDENT_ID, "account_id": "maplewood-elementary",
            "url": "https://lms.maplewood.example/courses/12", "browser_time": T_MS, "props": {},
            "visitor": {"email": EMAIL, "full_name": FULL, "role": "student"}}]
    add("pendo-ptm-jzb", "Pendo guide beacon: jzb is base64 of zlib-compressed JSON (visitor id, e-mail, full name)",
        "GET", url("https://app.pendo.io/data/ptm.gif/4f3e2d1c-0b9a-4876-5432-10fedcba9876", [
            ("v", "2.221.0_prod"), ("ct", str(T_MS)), ("jzb", b64url(zlib.compress(js(jzb).encode())))]),
        [UA_WEB], "",
        [K("student_id", "query", "jzb[0].visitor_id"), KP("email", "query", "jzb[0].visitor.email"),
         KP("name", "query", "jzb[0].visitor.full_name")])

    ue_px = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
             "data": {"schema": "iglu:com.maplewood/quiz/jsonschema/1-0-0",
                      "data": {"student_email": EMAIL, "score": 7}}}
    cx = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1", "data": [
        {"schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
         "data": {"osType": "android", "osVersion": "14", "deviceManufacturer": "Google", "deviceModel": "Pixel 6",
                  "androidIdfa": GAID, "networkType": "wifi"}},
        {"schema": "iglu:com.snowplowanalytics.snowplow/geolocation_context/jsonschema/1-1-0",
         "data": {"latitude": LAT, "longitude": LON, "latitudeLongitudeAccuracy": 12.0, "timestamp": T_MS}}]}
    add("snowplow-get-base64url", "Snowplow tracker GET: ue_px and cx are url-safe base64 JSON (e-mail, androidIdfa, "
        "geolocation context), uid = username", "GET",
        url("https://collector.maplewood.example/i", [
            ("e", "ue"), ("ue_px", b64url(js(ue_px), pad=False)), ("cx", b64url(js(cx), pad=False)),
            ("uid", USERNAME), ("duid", "a3b4c5d6-e7f8-4091-a2b3-c4d5e6f7a8b9"), ("vid", "3"),
            ("sid", "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"), ("tv", "andr-5.5.0"), ("p", "mob"),
            ("res", "1080x2340"), ("lang", "en-US"), ("dtm", str(T_MS)), ("stm", str(T_MS + 120)),
            ("eid", "e1d2c3b4-a5f6-4e7d-8c9b-0a1f2e3d4c5b"), ("aid", "reader-android")]),
        [UA], "",
        [KP("email", "query", "ue_px.data.data.student_email"),
         KP("advertising_id", "query", "cx.data[0].data.androidIdfa"),
         KP("precise_location", "query", "cx.data[1].data.latitude"),
         KP("precise_location", "query", "cx.data[1].data.longitude"), K("username", "query", "uid")])

    grpc = pb(1, pb(1, USERNAME) + pb(2, FIRST) + pb(3, round(LAT * 1e6)) + pb(4, round(LON * 1e6))) + \
        pb(2, pb(1, ANDROID_ID) + pb(2, "Pixel 6")) + pb(3, 43)
    add("grpc-web-progress-sync", "Math game gRPC-web call: protobuf with username, first name, lat/lon as "
        "int32 microdegrees, device ID", "POST",
        "https://api.mathquest.example/mathquest.v1.PlayerService/SyncProgress",
        [("Content-Type", "application/grpc-web+proto"), ("X-Grpc-Web", "1"), UA],
        b"\x00" + struct.pack(">I", len(grpc)) + grpc,
        [K("username", "body", "[0].1.1"), K("name", "body", "[0].1.2"), K("precise_location", "body", "[0].1.3"),
         K("precise_location", "body", "[0].1.4"), K("device_id", "body", "[0].2.1")])

    add("mapbox-events-location", "Mapbox telemetry: location event with lat/lng", "POST",
        "https://events.mapbox.com/events/v2?access_token=pk.eyJ1IjoibWFwbGV3b29kIiwiYSI6ImNrMTIzIn0.abc",
        [JSON, ("User-Agent", "MapboxEventsAndroid/7.0.3")],
        js([{"event": "map.load", "created": "2024-03-05T10:00:00.000+0000", "model": "Pixel 6",
             "operatingSystem": "Android 14", "resolution": 2.75, "accessibilityFontScale": 1.0,
             "orientation": "Portrait", "batteryLevel": 76, "pluggedIn": False, "wifi": True},
            {"event": "location", "created": "2024-03-05T10:00:05.000+0000", "source": "mapbox",
             "sessionId": "b1c2d3e4f5a6b7c8", "lat": LAT, "lng": LON, "altitude": 264.0,
             "operatingSystem": "Android 14", "applicationState": "foreground", "horizontalAccuracy": 14.2}]),
        [KP("precise_location", "body", "[1].lat"), KP("precise_location", "body", "[1].lng")])

    add("mapbox-reverse-geocode-path", "Mapbox reverse geocoding: lon,lat (reversed order, 5 decimals) in the path",
        "GET", f"https://api.mapbox.com/geocoding/v5/mapbox.places/{LON:.5f},{LAT:.5f}.json"
               "?access_token=pk.eyJ1IjoibWFwbGV3b29kIiwiYSI6ImNrMTIzIn0.abc&types=address&limit=1",
        [UA], "",
        [K("precise_location", "path", "path[3]")])

    add("weather-widget-coarse", "Weather widget: 2-decimal lat/lon in the query, appid is the app's key", "GET",
        url("https://api.openweathermap.org/data/2.5/weather", [
            ("lat", f"{LAT:.2f}"), ("lon", f"{LON:.2f}"), ("appid", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
            ("units", "metric")]),
        [UA], "",
        [KP("coarse_location", "query", "lat"), KP("coarse_location", "query", "lon")])

    add("gravatar-md5-path", "Gravatar avatar: MD5 of the lower-case e-mail in the path", "GET",
        f"https://www.gravatar.com/avatar/{hashlib.md5(EMAIL.lower().encode()).hexdigest()}?s=80&d=identicon",
        [UA_WEB, ("Referer", "https://forum.kidsreader.example/")], "",
        [K("email", "path", "path[1]")])

    add("adcolony-sha1-android-id", "AdColony-style ad request: SHA-1 of the Android ID beside the advertiser ID",
        "POST", "https://androidads4-6.adcolony.com/configure", [JSON, UA],
        js({"device_info": {"advertiser_id": GAID, "limit_tracking": False,
                            "android_id_sha1": hashlib.sha1(ANDROID_ID.encode()).hexdigest(),
                            "carrier_name": "", "screen_width": 1080, "screen_height": 2340, "os_version": "14",
                            "manufacturer": "Google", "model": "Pixel 6", "sdk_version": "4.8.0"},
            "app_id": "app0a1b2c3d4e5f6a7b8c", "zone_ids": ["vz0a1b2c3d4e5f"]}),
        [KP("advertising_id", "body", "device_info.advertiser_id"),
         K("device_id", "body", "device_info.android_id_sha1")])

    add("signup-child-and-parent", "Reading app sign-up (first party): child's names, dob (DD/MM/YYYY), username, "
        "password; parent's e-mail and the family phone in national form; school and student number", "POST",
        "https://accounts.kidsreader.example/api/signup", [JSON, UA_WEB],
        js({"child": {"first_name": FIRST, "last_name": LAST, "dob": "21/06/2015", "username": USERNAME,
                      "password": "Tiger!Lily2024"},
            "parent": {"email": "parent.samplekid@family.example", "phone": PHONE_NATIONAL},
            "school": {"name": SCHOOL, "student_number": STUDENT_ID},
            "consent": {"coppa_vpc": True, "tos_version": "12.0.1", "ts": T_MS}}),
        [KP("name", "body", "child.first_name"), KP("name", "body", "child.last_name"),
         KP("birthdate", "body", "child.dob"), KP("username", "body", "child.username"),
         P("credentials", "body", "child.password"), P("email", "body", "parent.email"),
         KP("phone", "body", "parent.phone"), K("other_identifier", "body", "school.name"),
         KP("student_id", "body", "school.student_number")])

    add("firebase-auth-password-signin", "Firebase Auth e-mail/password sign-in; key= is the app's API key", "POST",
        "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=AIzaSyB-0a1b2c3d4e5f6g7h8i9j0kLmNoPq",
        [JSON, ("X-Android-Package", "com.maplewood.reader"),
         ("X-Client-Version", "Android/Fallback/X22003000/FirebaseCore-Android"), UA],
        js({"email": EMAIL, "password": "Tiger!Lily2024", "returnSecureToken": True,
            "clientType": "CLIENT_TYPE_ANDROID"}),
        [KP("email", "body", "email"), P("credentials", "body", "password")])

    add("ua-collect-uip", "Universal Analytics measurement protocol: page path with the e-mail, cd1 = student ID, "
        "uip = the public IP", "POST", "https://www.google-analytics.com/collect", [FORM, UA_WEB],
        form([("v", "1"), ("tid", "UA-12345678-9"), ("cid", "1184732901.1709632800"), ("t", "pageview"),
              ("dp", f"/students/{EMAIL}/progress"), ("cd1", STUDENT_ID), ("uip", PUBLIC_IP),
              ("sr", "1366x768"), ("z", "1709632800123")]),
        [KP("email", "body", "dp"), K("student_id", "body", "cd1"), KP("ip_address", "body", "uip")])

    add("vungle-openrtb-ifa", "Vungle/Liftoff ad request (OpenRTB-like): device.ifa and the Android ID in ext",
        "POST", "https://api.vungle.com/api/v5/ads", [JSON, ("Vungle-Version", "5.10.0"), UA],
        js({"device": {"ifa": GAID, "make": "Google", "model": "Pixel 6", "w": 1080, "h": 2340, "lmt": 0,
                       "os": "android", "osv": "14", "ext": {"vungle": {"android": {
                           "android_id": ANDROID_ID, "battery_level": 0.76, "time_zone": "America/Chicago",
                           "volume_level": 0.4}}}},
            "app": {"id": "5f0c9a3e7b21d6480a1b2c3d", "ver": "12.0.1", "bundle": "com.maplewood.reader"},
            "user": {"gdpr": {"consent_status": "opted_out"}, "coppa": {"is_coppa": True}},
            "request": {"placements": ["REWARDED-4365"], "header_bidding": False}}),
        [KP("advertising_id", "body", "device.ifa"), KP("device_id", "body", "device.ext.vungle.android.android_id")])

    add("push-sdk-imei-md5", "Push SDK device report (Chinese push SDK style): MD5 of the IMEI, plain Wi-Fi MAC",
        "POST", "https://tsis.jpush.example/v3/report", [FORM, UA],
        form([("platform", "a"), ("sdk_ver", "4.9.0"), ("imei_md5", hashlib.md5(IMEI.encode()).hexdigest()),
              ("mac", MAC), ("app_key", "0a1b2c3d4e5f60718293a4b5"), ("rom_type", "0"), ("ts", str(T_S))]),
        [K("hardware_id", "body", "imei_md5"), KP("hardware_id", "body", "mac")])

    add("public-ip-header", "App API call echoing the device's addresses in custom headers", "POST",
        "https://api.kidsreader.example/v2/heartbeat",
        [JSON, UA, ("X-Client-IP", PUBLIC_IP), ("X-Local-Address", LAN_IP),
         ("X-Request-Id", "0e1d2c3b-4a59-4687-9766-a5b4c3d2e1f0")],
        js({"status": "ok", "uptime_s": 4365, "build": "12.0.1"}),
        [KP("ip_address", "header", "x-client-ip"), KP("ip_address", "header", "x-local-address")])


def negatives() -> None:
    add("neg-ga4-web-anonymous", "GA4 page view with only a random client ID, session timestamps, screen size and "
        "a version that looks like a coordinate", "POST",
        url("https://region1.google-analytics.com/g/collect", [
            ("v", "2"), ("tid", "G-7XK2M4P9QZ"), ("_p", "1709632801234"), ("cid", "902817364.1709632700"),
            ("ul", "en-us"), ("sr", "1080x2340"), ("_s", "1"), ("sid", "1709632700"), ("sct", "1"),
            ("dl", "https://reader.maplewood.example/library"), ("dt", "Library"), ("en", "page_view"),
            ("epn.app_version", "43.65"), ("_et", "1200")]),
        [UA_WEB], "", [])

    add("neg-facebook-app-events-no-tracking", "Facebook app event with tracking off: no advertiser ID, extinfo "
        "traits, millisecond timestamps", "POST", "https://graph.facebook.com/v18.0/987654321012345/activities",
        [FORM, ("User-Agent", "FBAndroidSDK.16.3.0")],
        form([("format", "json"), ("event", "CUSTOM_APP_EVENTS"), ("advertiser_tracking_enabled", "0"),
              ("application_tracking_enabled", "0"),
              ("extinfo", js(["a2", "com.maplewood.reader", "4365", "12.0.1", "14", "Pixel 6", "en_US", "CST", "",
                              1080, 2340, "2.75", 8, 110, 6, "America/Chicago"])),
              ("custom_events", js([{"_eventName": "fb_mobile_activate_app", "_logTime": T_S,
                                     "_session_id": "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"}]))]),
        [])

    add("neg-adjust-lat-zeroed", "Adjust session with limit ad tracking: zeroed gps_adid", "POST",
        "https://app.adjust.com/session", [FORM, ("Client-SDK", "android4.38.2"), UA],
        form([("app_token", "2fm9gkqubvpc"), ("gps_adid", ZERO_AD_ID), ("tracking_enabled", "0"),
              ("created_at", "2024-03-05T04:00:00.123Z-0600"), ("session_count", "1"), ("os_version", "14"),
              ("display_width", "1080"), ("display_height", "2340"), ("app_version", "12.0.1"),
              ("environment", "production")]),
        [])

    add("neg-appsflyer-cdn-settings", "AppsFlyer settings fetch: SHA-256 of the app's dev key in the path", "GET",
        f"https://cdn-settings.appsflyersdk.com/android/v1/{sha256('af-dev-key-maplewood')[:16]}/settings",
        [UA], "", [])

    add("neg-sentry-session-update", "Sentry envelope with a release-health session: session UUID, timestamps, "
        "release version", "POST",
        "https://o450123.ingest.sentry.io/api/4504123456789/envelope/?sentry_key=a1b2c3d4e5f60718&sentry_version=7",
        [("Content-Type", "text/plain;charset=UTF-8"), UA_WEB],
        "\n".join([js({"sent_at": "2024-03-05T10:00:01.456Z",
                       "sdk": {"name": "sentry.javascript.browser", "version": "7.105.0"}}),
                   js({"type": "session"}),
                   js({"sid": "5f4e3d2c-1b0a-4987-b654-3210fedcba98", "init": False,
                       "started": "2024-03-05T09:58:00.000Z", "timestamp": "2024-03-05T10:00:01.000Z",
                       "status": "ok", "errors": 0, "duration": 121.43,
                       "attrs": {"release": "reader-web@12.0.1+4365", "environment": "production"}})]) + "\n",
        [])

    add("neg-sentry-transaction", "Sentry transaction: trace/span IDs and web-vital measurements like 843.65",
        "POST", "https://o450123.ingest.sentry.io/api/4504123456789/envelope/?sentry_key=a1b2c3d4e5f60718"
                "&sentry_version=7",
        [("Content-Type", "text/plain;charset=UTF-8"), UA_WEB],
        "\n".join([js({"event_id": "0a9b8c7d6e5f40312a3b4c5d6e7f8091", "sent_at": "2024-03-05T10:00:01.456Z"}),
                   js({"type": "transaction"}),
                   js({"event_id": "0a9b8c7d6e5f40312a3b4c5d6e7f8091", "type": "transaction",
                       "transaction": "/lesson/:id", "start_timestamp": 1709632799.5, "timestamp": 1709632800.1,
                       "contexts": {"trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                                              "span_id": "00f067aa0ba902b7", "op": "pageload"}},
                       "measurements": {"fcp": {"value": 843.65, "unit": "millisecond"},
                                        "cls": {"value": 0.0143, "unit": ""}},
                       "spans": [{"span_id": "b7ad6b7169203331", "op": "resource.script",
                                  "description": "/static/js/main.4f3e2d1c.js"}]})]) + "\n",
        [])

    add("neg-bugsnag-session", "Bugsnag session start: session UUID, app version and build code, OS version",
        "POST", "https://sessions.bugsnag.com/",
        [JSON, ("Bugsnag-Api-Key", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"), ("Bugsnag-Payload-Version", "1.0"), UA],
        js({"notifier": {"name": "Android Bugsnag Notifier", "version": "6.2.0"},
            "app": {"version": "12.0.1", "versionCode": 4365, "releaseStage": "production"},
            "device": {"manufacturer": "Google", "model": "Pixel 6", "osVersion": "14", "osName": "android"},
            "sessions": [{"id": "2b3c4d5e-6f70-4819-a2b3-c4d5e6f70819", "startedAt": "2024-03-05T10:00:00.000Z"}]}),
        [])

    add("neg-mixpanel-decide", "Mixpanel decide/flags fetch: project token, timestamp cache buster", "GET",
        url("https://decide.mixpanel.com/decide", [("verbose", "1"), ("version", "3"), ("lib", "web"),
                                                   ("token", "3f8e2a1b9c0d4e5f6a7b8c9d0e1f2a3b"), ("ip", "1"),
                                                   ("_", str(T_MS))]),
        [UA_WEB], "", [])

    add("neg-amplitude-remote-config", "Amplitude remote config: API key only", "GET",
        "https://sr-client-cfg.amplitude.com/config?api_key=a1b2c3d4e5f60718293a4b5c6d7e8f90"
        "&config_keys=analyticsSDK.browserSDK", [UA_WEB], "", [])

    add("neg-datadog-logs-vendor-email", "Datadog browser logs: messages with version numbers, durations and the "
        "vendor's support address", "POST",
        "https://browser-intake-datadoghq.com/api/v2/logs?ddsource=browser&dd-api-key=pub0a1b2c3d4e5f60718293a4b5c6d7"
        "&dd-request-id=3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d",
        [("Content-Type", "text/plain;charset=UTF-8"), UA_WEB],
        "\n".join([js({"date": T_MS, "status": "info", "message": "Loaded lesson bundle 43.65 in 1234 ms",
                       "service": "reader-web", "version": "12.0.1",
                       "view": {"url": "https://reader.maplewood.example/lesson/43"}}),
                   js({"date": T_MS + 10, "status": "warn", "message": "Offline cache full; contact "
                       "support@kidsreader-vendor.example with build 12.0.1 (4365)", "service": "reader-web"})]),
        [])

    add("neg-newrelic-browser-beacon", "New Relic browser beacon: timing numbers and a random session hash", "GET",
        url("https://bam.nr-data.net/1/NRJS-0a1b2c3d4e5f6a7b8c9", [
            ("a", "4365123"), ("v", "1.252.1"), ("to", "MhBSZQoZ"), ("rst", "3456"), ("ck", "0"),
            ("s", "7f3e2d1c0b9a8e7d"), ("ref", "https://reader.maplewood.example/lesson/43"),
            ("af", "err,spa,xhr"), ("be", "320"), ("fe", "1200"), ("dc", "890"),
            ("perf", js({"timing": {"of": T_MS, "n": 0, "dl": 843, "r": 12}}))]),
        [UA_WEB], "", [])

    add("neg-unity-ads-configuration", "Unity Ads configuration with limit ad tracking: empty advertising ID, "
        "session UUID", "GET",
        url("https://publisher-config.unityads.unity3d.com/games/4365123/configuration", [
            ("advertisingTrackingId", ""), ("limitAdTracking", "true"), ("deviceMake", "Google"),
            ("deviceModel", "Pixel 6"), ("screenWidth", "1080"), ("screenHeight", "2340"),
            ("sessionId", "9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"), ("sdkVersion", "4120"),
            ("ts", str(T_MS))]),
        [UA], "", [])

    add("neg-applovin-dnt", "AppLovin request with do-not-track: zeroed idfa, device traits, timestamps", "POST",
        "https://ms.applovin.com/1.0/mediate", [JSON, UA],
        js({"device_info": {"idfa": ZERO_AD_ID, "dnt": True, "brand": "google", "model": "Pixel 6", "os": "14",
                            "dx": 1080, "dy": 2340, "adns": 2.75, "tz_offset": -6.0},
            "app_info": {"package_name": "com.maplewood.reader", "app_version": "12.0.1", "sdk_version": "12.3.0"},
            "ad_format": "REWARDED", "ts": T_MS}),
        [])

    add("neg-admob-limited", "AdMob request with is_lat=1 and no rdid: correlator, experiment IDs, screen metrics",
        "GET", url("https://googleads.g.doubleclick.net/mads/gma", [
            ("format", "320x50_mb"), ("eid", "318484496,318502621,44759876"), ("is_lat", "1"),
            ("u_sd", "2.625"), ("u_w", "411"), ("u_h", "891"), ("correlator", "5738291047362"),
            ("msid", "com.maplewood.reader"), ("js", "afma-sdk-a-v240304999.233408000.1"), ("dt", str(T_MS))]),
        [UA], "", [])

    add("neg-clarity-tag", "Microsoft Clarity tag fetch", "GET", "https://www.clarity.ms/tag/k3l4m5n6o7?ref=gtm2",
        [UA_WEB, ("Referer", "https://reader.maplewood.example/")], "", [])

    add("neg-launchdarkly-summary", "LaunchDarkly summary event: flag versions and counters, no context", "POST",
        "https://events.launchdarkly.com/events/bulk/65e6f1a2b3c4d5e6f7a8b9c0",
        [JSON, ("X-LaunchDarkly-Event-Schema", "4"),
         ("X-LaunchDarkly-Payload-ID", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"), UA_WEB],
        js([{"kind": "summary", "startDate": T_MS - 60000, "endDate": T_MS,
             "features": {"new-reader": {"default": False, "counters": [
                 {"version": 43, "variation": 1, "value": True, "count": 3}]}}}]),
        [])

    add("neg-agora-stats", "Agora call quality report: session hex ID, numeric peer, RTT, jitter, loss", "POST",
        "https://statscollector-1.agora.io/events/messages", [JSON, UA_WEB],
        js({"sid": "8F3E2D1C0B9A87654321FEDCBA098765", "cname": "class-4b-reading-group", "lts": T_MS,
            "elapse": 250, "peer": 4365123, "quality": {"rtt": 43, "jitter": 5, "packetLoss": 0.65},
            "edge_server": "198.51.100.24"}),
        [])

    add("neg-feedback-config-vendor-email", "In-app feedback widget config: vendor support address in the query",
        "GET", url("https://sdk.feedbackvendor.example/v1/config", [
            ("app", "maplewood-reader"), ("contact", "support@kidsreader-vendor.example"), ("version", "12.0.1"),
            ("locale", "en-US")]),
        [UA], "", [])

    add("neg-asset-bundle-sha256", "Content-addressed asset download: SHA-256 of the file and a hex signature",
        "GET", f"https://assets.kidsreader.example/bundles/{sha256('lesson-43-bundle-v12')}.bundle"
               f"?sig={hashlib.sha1(b'cdn-sig-1709632800').hexdigest()}&exp=1709636400",
        [UA], "", [])

    add("neg-crashlytics-settings", "Crashlytics settings fetch: build version, display version, build-ID hash",
        "GET", url("https://firebase-settings.crashlytics.com/spi/v2/platforms/android/gmp/"
                   "1:123456789012:android:0a1b2c3d4e5f6a7b/settings", [
                       ("build_version", "4365"), ("display_version", "12.0.1"), ("source", "1"),
                       ("instance", hashlib.sha1(b"build-id-4365").hexdigest())]),
        [UA], "", [])

    add("neg-story-title-noahs-ark", "Reading app event about the story 'Noah's Ark': a book title, not the pupil",
        "POST", "https://api.kidsreader.example/v2/events", [JSON, UA],
        js({"event": "book_opened", "book": {"id": "bk-4365", "title": "Noah's Ark and the Rainbow",
                                            "published": "2009-09-14", "pages": 32},
            "request_id": "d4c3b2a1-f0e9-4d8c-b7a6-958473625140", "ts": T_MS, "app_version": "12.0.1"}),
        [])

    add("neg-posthog-static", "PostHog library download", "GET",
        "https://us-assets.i.posthog.com/static/array.js?v=1.116.0", [UA_WEB], "", [])

    add("neg-onesignal-app-only", "OneSignal in-app message fetch with only the app's UUID and SDK version", "GET",
        "https://api.onesignal.com/apps/b2f7f966-d8cc-11e4-bed1-df8f05be55ba/android_params.js?"
        "player_id=&sdk=050100", [UA], "", [])

    add("neg-segment-settings", "Segment CDN settings fetch with the write key in the path", "GET",
        "https://cdn-settings.segment.com/v1/projects/Wk3f9a0b1c2d3e4f5a6b7c8d9e0f1a2b/settings",
        [("User-Agent", "analytics-kotlin/1.14.2")], "", [])

    add("neg-branch-open-lat", "Branch open with tracking limited: lat_val 1, zeroed aaid, screen and version",
        "POST", "https://api2.branch.io/v1/open", [JSON, UA],
        js({"brand": "Google", "model": "Pixel 6", "screen_dpi": 440, "screen_height": 2340, "screen_width": 1080,
            "os": "Android", "os_version": 34, "advertising_ids": {"aaid": ZERO_AD_ID}, "lat_val": 1,
            "app_version": "12.0.1", "sdk": "android5.9.0", "branch_key": "key_live_hcnegAumkH7Kv18M8AOHhfgiohpXq5tB",
            "retryNumber": 0, "debug": False, "first_install_time": T_MS - 86400000}),
        [])


def _dump(item: dict[str, Any]) -> str:
    """JSON with one header and one label per line, so a reviewer can read the labels at a glance."""
    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = []
    for key, value in item.items():
        if key in ("headers", "labels") and value:
            inner = ",\n".join(f"  {compact(v)}" for v in value)
            lines.append(f" {compact(key)}: [\n{inner}\n ]")
        else:
            lines.append(f" {compact(key)}: {compact(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> None:
    positives()
    negatives()
    folder = HERE / "requests"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for number, item in enumerate(REQUESTS, 1):
        path = folder / f"{number:03d}-{item['id']}.json"
        path.write_text(_dump(item), encoding="utf-8")
    negative = sum(1 for item in REQUESTS if not item["labels"])
    print(f"{len(REQUESTS)} requests ({negative} negative) written to {folder}")


if __name__ == "__main__":
    main()
