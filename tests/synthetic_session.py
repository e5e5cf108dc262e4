"""Synthetic classroom sessions made of real :class:`Record` objects (synthetic students only).

Used by the report tests, the docs screenshots and ``benchmarks/bench_report.py``.
Everything here is made up: the e-mail addresses use example.org, the
identifiers are random with a fixed seed, so runs are reproducible.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

from auditor.records import HostSource, Record, RecordKind, SourceKind

SESSION_START = 1_767_261_600.0  # 2026-01-01T10:00:00Z
APP_DOMAIN = "classroom.example"

HOSTILE_HOST = "evil<script>window.__pwned=1</script>.example"
HOSTILE_VALUE = '"><img src=x onerror=window.__pwned=1>'
HOSTILE_URL = "javascript:window.__pwned=1//"


def _http(host: str, time: float, path: str, body: dict[str, object] | None = None, *,
          encrypted: bool = True, headers: tuple[tuple[str, str], ...] = (),
          raw_body: bytes | None = None, content_type: str = "application/json") -> Record:
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    scheme = "https" if encrypted else "http"
    return Record(
        kind=RecordKind.HTTP, time=time, source=SourceKind.PROXY, host=host, host_source=HostSource.URL,
        server_ip="203.0.113.10", server_port=443 if encrypted else 80, protocol="HTTP/1.1",
        content_visible=True, encrypted=encrypted, method="POST" if data else "GET",
        url=f"{scheme}://{host}{path}", request_headers=(("Host", host), *headers),
        request_body=data, request_content_type=content_type if data else None,
        response_status=200, bytes_up=300 + len(data), bytes_down=1200, origin="synthetic",
    )


def _tls(host: str, time: float, note: str | None = None) -> Record:
    return Record(
        kind=RecordKind.TLS, time=time, source=SourceKind.PCAP, host=host, host_source=HostSource.SNI,
        server_ip="198.51.100.20", server_port=443, protocol="TLS", content_visible=False, encrypted=True,
        bytes_up=900, bytes_down=4000, note=note, origin="synthetic",
    )


def classroom_session(*, hostile: bool = False) -> list[Record]:
    """A small session that triggers every default rule once or more.

    With ``hostile=True`` it also carries hostile capture content (script tags
    in host names, header values and URLs) for the escaping tests.
    """
    t = SESSION_START
    idfa = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    records = [
        # A tracker contacted at once, before any interaction.
        _http("app-measurement.com", t + 1.0, "/a", {"app_instance_id": "x", "idfa": idfa}),
        _http(f"api.{APP_DOMAIN}", t + 2.0, "/login", {"username": "student.ana", "email": "ana.student@example.org"}),
        _tls("graph.facebook.com", t + 3.0, note="client rejected the certificate (pinning)"),
        _http(f"api.{APP_DOMAIN}", t + 20.0, "/lesson/4", {"studentId": "S-2291-77"}),
        _http("api.mixpanel.com", t + 25.0, "/track", {"lat": "43.65323", "lon": "-79.38318", "distinct_id": "u1"}),
        _http("api.amplitude.com", t + 30.0, "/2/httpapi", {"device_id": "a4f1c2d9e8b7"}),
        _http("o1.ingest.sentry.io", t + 35.0, "/api/1/store/", {"device_id": "c0ffee00d00d42"}),
        _http("forms.survey-vendor.example", t + 36.0, "/submit", {"firstName": "Ana", "lastName": "Lopez"}),
        _http("ads.mopub.com", t + 40.0, "/m/ad?udid=" + idfa, None),
        _http(f"media.{APP_DOMAIN}", t + 60.0, "/upload", raw_body=b"OggS" + bytes(2000),
              content_type="audio/ogg"),
        _http("speech.vendor-asr.example", t + 61.0, "/recognize", raw_body=b"OggS" + bytes(4000),
              content_type="audio/ogg"),
        _http("stats.plainhttp.example", t + 70.0, "/collect", {"email": "ana.student@example.org"}, encrypted=False),
        _http("tiles.maps.example", t + 80.0, "/v1", {"lat": "43.6", "lon": "-79.4"}),
        _tls("sentry.io", t + 90.0),
        # Random-looking values that only repeat (weak evidence of an identifier): a quiz widget's and the app's own.
        *[_http("widgets.quizvendor.example", t + 91.0 + i, "/w?wz=Qk3m9Tz2Lp8Rx1Vb", None) for i in range(2)],
        *[_http(f"api.{APP_DOMAIN}", t + 93.0 + i, "/prefs?pv=Hn4Tq8Zr2Wm6Yc0Kd", None) for i in range(2)],
        # Typed text: the app's own search suggestions, and a session-replay script sending a field key by key.
        *[_http(f"api.{APP_DOMAIN}", t + 45.0 + i / 5, "/suggest?q=" + "volcano"[: i + 1], None) for i in range(7)],
        *[_http("rs.fullstory.com", t + 50.0 + i / 5, "/rec/bundle",
                {"evt": {"el": "#essay", "text": "My cat Pip"[: i + 1]}}) for i in range(10)],
    ]
    for i in range(30):
        records.append(_http(f"api.{APP_DOMAIN}", t + 100.0 + i * 5, f"/lesson/{i}", None))
        records.append(_http("www.google-analytics.com", t + 101.0 + i * 5, "/g/collect?v=2&cid=1", None))
    if hostile:
        records += [
            _http(HOSTILE_HOST, t + 5.0, "/x", {"email": "hostile.kid@example.org"},
                  headers=(("X-Evil", HOSTILE_VALUE), ("Referer", HOSTILE_URL))),
            _http("api.mixpanel.com", t + 6.0, "/track?</script><script>window.__pwned=1</script>",
                  {HOSTILE_VALUE: "x", "email": "</script><script>window.__pwned=1</script>@example.org"}),
            _tls("x.example", t + 7.0, note=HOSTILE_VALUE),
        ]
    return records


_HOSTS = (
    [f"api.{APP_DOMAIN}", f"cdn.{APP_DOMAIN}", f"media.{APP_DOMAIN}"]
    + ["app-measurement.com", "www.google-analytics.com", "api.mixpanel.com", "api.amplitude.com",
       "api.segment.io", "ads.mopub.com", "doubleclick.net", "graph.facebook.com", "sentry.io",
       "firebaselogging-pa.googleapis.com", "cdn.jsdelivr.net", "zoom.us"]
    + [f"host{i}.third-party-{i % 40}.example" for i in range(200)]
)


def large_session(count: int, seed: int = 7) -> Iterator[Record]:
    """``count`` records over one hour: a realistic mix of app, tracker and CDN traffic with personal data."""
    rng = random.Random(seed)
    device_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5)]
    weights = [30, 10, 5] + [8, 8, 5, 5, 4, 3, 3, 2, 2, 2, 3, 2] + [0.2] * 200
    hosts = rng.choices(_HOSTS, weights=weights, k=count)
    for i, host in enumerate(hosts):
        t = SESSION_START + i * 3600.0 / count
        roll = rng.random()
        if roll < 0.15:
            yield _tls(host, t, note="no TLS keys for this connection")
        elif roll < 0.25:
            body = {"idfa": rng.choice(device_ids), "event": "screen_view", "n": i}
            yield _http(host, t, "/collect", body)
        elif roll < 0.30:
            yield _http(host, t, "/geo", {"lat": f"{43 + rng.random():.5f}", "lon": f"{-79 - rng.random():.5f}"})
        elif roll < 0.33:
            yield _http(host, t, "/profile", {"email": f"student{i % 300}@example.org", "firstName": "Ana"})
        else:
            yield _http(host, t, f"/page/{i % 500}", None)
