"""The scripted "classroom app" client: one lesson session, every byte synthetic.

It only ever opens sockets to the proxy on 127.0.0.1 (HTTPS goes through a
CONNECT tunnel, plain HTTP as an absolute-URI request), so no host name is
resolved and nothing can reach the network even if the proxy were missing.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import json
import math
import socket
import ssl
import struct
import time
import wave
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

# Synthetic test identity: invented for the rig, matches no real child.
STUDENT = {
    "first_name": "Mia",
    "last_name": "Testpupil",
    "email": "mia.testpupil@student.example",
    "student_id": "STU-2024-0042",
    "username": "mia.testpupil",
    "password": "Rig-Only-Passw0rd!",
    "birthdate": "2015-03-14",
}
ADVERTISING_ID = "5d2f8c1e-7b3a-4e9d-9c61-2a4b8e0f7d13"
ANDROID_ID = "a1b2c3d4e5f60718"
INSTALLATION_ID = "c0ffee00-1234-4abc-8def-00000000beef"
MOCK_LOCATION = (51.50722, -0.12758)  # the emulator's mocked GPS fix
PUBLIC_IP = "81.2.69.142"  # an address from MaxMind's public test data, standing in for the school's
DEVICE_MODEL = "Pixel 6a"
APP_UA = "ClassroomApp/3.2.1 (Android 13; Pixel 6a; Build/TQ3A.230901.001)"
SDK_UA = "Dalvik/2.1.0 (Linux; U; Android 13; Pixel 6a Build/TQ3A.230901.001)"
SESSION_COOKIE = "sid=rig-0001-7f3a9c; theme=light"


@dataclass(frozen=True)
class Proxy:
    """The recording proxy and the CA the client trusts."""

    port: int
    ca_file: str

    def tls_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """Make a client context that trusts only mitmproxy's fresh CA."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.set_alpn_protocols(list(alpn))
        return context


def https(
    proxy: Proxy, method: str, host: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> int:
    """One HTTPS/1.1 request through the proxy's CONNECT tunnel; returns the status."""
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=10, context=proxy.tls_context())
    conn.set_tunnel(host, 443)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def plain_http(proxy: Proxy, host: str, path: str, headers: dict[str, str]) -> int:
    """One plain-HTTP GET sent to the proxy as an absolute-URI request."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        conn.request("GET", f"http://{host}{path}", headers={"Host": host, **headers})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def h2_get(proxy: Proxy, host: str, path: str, headers: dict[str, str]) -> int:
    """One HTTP/2 GET through a CONNECT tunnel (the app's HTTP/2 client library)."""
    import h2.connection
    import h2.events

    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = raw.recv(4096)
        if not chunk:
            raise ConnectionError("proxy closed the CONNECT tunnel")
        reply += chunk
    if b" 200 " not in reply.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"CONNECT refused: {reply[:80]!r}")
    tls = proxy.tls_context(("h2",)).wrap_socket(raw, server_hostname=host)
    try:
        if tls.selected_alpn_protocol() != "h2":
            raise ConnectionError("proxy did not negotiate HTTP/2")
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        request_headers = [(":method", "GET"), (":authority", host), (":scheme", "https"), (":path", path)]
        request_headers += [(k.lower(), v) for k, v in headers.items()]
        conn.send_headers(stream, request_headers, end_stream=True)
        tls.sendall(conn.data_to_send())
        status = 0
        while True:
            data = tls.recv(65535)
            if not data:
                raise ConnectionError("HTTP/2 connection closed before the response ended")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    conn.close_connection()
                    tls.sendall(conn.data_to_send())
                    return status
            tls.sendall(conn.data_to_send())
    finally:
        tls.close()


def voice_answer_wav(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """Make a short synthetic "spoken answer": a 440 Hz tone, 8-bit mono WAV."""
    frames = bytes(int(128 + 60 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


def webcam_frame_png(size: int = 16) -> bytes:
    """Make a tiny synthetic grey-gradient PNG standing in for a webcam frame."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * 16 + y * 4) % 256 for x in range(size)) for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _json(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def run_session(proxy: Proxy, pause: float = 0.15) -> list[str]:
    """Play one classroom session through the proxy; returns a line per request sent."""
    log: list[str] = []
    student = STUDENT
    app_headers = {"User-Agent": APP_UA, "Accept": "application/json"}
    token_headers = {**app_headers, "Authorization": "Bearer rig-session-token-0001", "Cookie": SESSION_COOKIE}
    lat, lon = MOCK_LOCATION
    now_ms = int(time.time() * 1000)

    def step(label: str, send: Callable[[], int]) -> None:
        status = send()
        log.append(f"{status} {label}")
        time.sleep(pause)

    step("app start page", lambda: https(proxy, "GET", "classroom.example", "/", headers={"User-Agent": APP_UA}))
    step("chart library from a public CDN", lambda: https(
        proxy, "GET", "cdn.jsdelivr.net", "/npm/chart.js@4.4.1/dist/chart.umd.min.js", headers={"User-Agent": APP_UA}))
    login = {"username": student["username"], "password": student["password"], "device": {"model": DEVICE_MODEL}}
    step("login", lambda: https(proxy, "POST", "api.classroom.example", "/v1/login", _json(login),
                                {**app_headers, "Content-Type": "application/json"}))
    profile = {k: student[k] for k in ("first_name", "last_name", "email", "student_id", "birthdate")}
    step("profile update", lambda: https(proxy, "PUT", "api.classroom.example", "/v1/students/me", _json(profile),
                                         {**token_headers, "Content-Type": "application/json"}))
    step("lesson 12 (HTTP/2)", lambda: h2_get(proxy, "api.classroom.example", "/v1/lessons/12?class=5B", token_headers))
    step("lesson 13", lambda: https(proxy, "GET", "api.classroom.example", "/v1/lessons/13?class=5B",
                                    headers=token_headers))

    analytics = {
        "app_instance_id": INSTALLATION_ID,
        "adid": ADVERTISING_ID,
        "platform": "android",
        "device_model": DEVICE_MODEL,
        "location": {"lat": f"{lat:.5f}", "lon": f"{lon:.5f}", "accuracy_m": 12},
        "events": [
            {"name": "lesson_start", "params": {"lesson_id": "12"}, "ts": now_ms},
            {"name": "screen_view", "params": {"screen": "fractions"}, "ts": now_ms + 900},
        ],
    }
    step("Firebase analytics batch (gzipped JSON)", lambda: https(
        proxy, "POST", "app-measurement.com", "/a", gzip.compress(_json(analytics), mtime=0),
        {"User-Agent": SDK_UA, "Content-Type": "application/json", "Content-Encoding": "gzip"}))

    fb_events = {
        "event": "CUSTOM_APP_EVENTS",
        "advertiser_id": ADVERTISING_ID,
        "advertiser_tracking_enabled": "1",
        "application_tracking_enabled": "1",
        "anon_id": "XZ5f0c3b1e-9a7d-4c2b-8e6f-1d2c3b4a5f60",
        "custom_events": json.dumps([{"_eventName": "fb_mobile_level_achieved", "fb_level": "fractions-2"}]),
        "extinfo": json.dumps(["a2", "com.classroom.example", "321", "3.2.1", "13", DEVICE_MODEL, "en_GB"]),
    }
    step("Facebook app events", lambda: https(
        proxy, "POST", "graph.facebook.com", "/v17.0/100000000000042/activities", urlencode(fb_events).encode(),
        {"User-Agent": SDK_UA, "Content-Type": "application/x-www-form-urlencoded"}))

    amplitude = {
        "api_key": "0123456789abcdef0123456789abcdef",
        "events": [{
            "user_id": student["student_id"],
            "device_id": ANDROID_ID,
            "event_type": "answer_submitted",
            "ip": PUBLIC_IP,
            "os_name": "android",
            "device_model": DEVICE_MODEL,
            "event_properties": {"lesson": 12, "correct": True},
        }],
    }
    step("Amplitude event", lambda: https(proxy, "POST", "api2.amplitude.com", "/2/httpapi", _json(amplitude),
                                          {"User-Agent": APP_UA, "Content-Type": "application/json"}))

    mixpanel = {"event": "lesson_complete", "properties": {"distinct_id": student["email"], "token": "rigtoken42"}}
    data_param = base64.b64encode(_json(mixpanel)).decode()
    step("Mixpanel track (base64 in query)", lambda: https(
        proxy, "GET", "api.mixpanel.com", f"/track?{urlencode({'data': data_param, 'ip': '1'})}",
        headers={"User-Agent": APP_UA}))

    event = {
        "event_id": "4f1d2c5e8a9b4c7d9e0f1a2b3c4d5e6f",
        "level": "error",
        "platform": "java",
        "exception": {"values": [{"type": "IllegalStateException", "value": "lesson 12 step 4: no answer"}]},
        "user": {"email": student["email"], "id": student["student_id"]},
        "contexts": {"device": {"model": DEVICE_MODEL}},
    }
    envelope = b"\n".join([
        _json({"event_id": event["event_id"], "dsn": "https://public@o0.ingest.sentry.io/4504"}),
        _json({"type": "event", "content_type": "application/json"}),
        _json(event),
    ])
    step("Sentry error envelope", lambda: https(
        proxy, "POST", "o0.ingest.sentry.io", "/api/4504/envelope/", envelope,
        {"User-Agent": "sentry.java.android/6.28.0", "Content-Type": "application/x-sentry-envelope"}))

    adjust = {"app_token": "rigapptoken1", "gps_adid": ADVERTISING_ID, "android_id": ANDROID_ID,
              "created_at": "2024-09-16T08:05:00.000Z+0100", "device_type": "phone", "os_name": "android"}
    step("Adjust session", lambda: https(proxy, "POST", "app.adjust.com", "/session", urlencode(adjust).encode(),
                                         {"User-Agent": SDK_UA, "Content-Type": "application/x-www-form-urlencoded"}))

    step("voice answer to cloud speech-to-text", lambda: https(
        proxy, "POST", "westeurope.stt.speech.microsoft.com",
        "/speech/recognition/conversation/cognitiveservices/v1?language=en-GB", voice_answer_wav(),
        {"User-Agent": APP_UA, "Content-Type": "audio/wav; codecs=audio/pcm; samplerate=8000"}))

    step("proctoring webcam frame", lambda: https(
        proxy, "POST", "api.proctorio.com", "/v2/frames?exam=quiz-12", webcam_frame_png(),
        {"User-Agent": APP_UA, "Content-Type": "image/png"}))
    attention = {"student_id": student["student_id"], "face_present": True, "gaze_away_seconds": 3.5,
                 "head_pose": {"yaw": -12.5, "pitch": 4.0}}
    step("proctoring attention events", lambda: https(
        proxy, "POST", "api.proctorio.com", "/v2/attention", _json(attention),
        {"User-Agent": APP_UA, "Content-Type": "application/json"}))

    beacon = {"c1": "2", "c2": "12345678", "ns_ap_an": "ClassroomApp", "ns_ak": ADVERTISING_ID,
              "ns_ap_device": DEVICE_MODEL, "ns_ap_ver": "3.2.1"}
    step("plain-HTTP measurement beacon", lambda: plain_http(
        proxy, "b.scorecardresearch.com", f"/p2?{urlencode(beacon)}", {"User-Agent": SDK_UA}))
    return log
