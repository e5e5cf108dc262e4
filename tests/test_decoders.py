"""The endpoint-decoder registry: every file follows the format, and every decoder reads a request of its vendor.

The requests here are built from each vendor's documented format (see the
reference in each decoder); the ones the shared captures hold are tested on
the real traffic in test_real_traffic_decoders.py. A decoder added without a
request here fails :func:`test_every_decoder_has_a_request`.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from corpus.build_corpus import pb_str

from auditor.detect import DATA_TYPES, DetectionContext, Where, default_detectors
from auditor.detect.endpoints import (
    DECODE_STEPS,
    DECODER_DIR,
    DecoderDetector,
    DecoderError,
    load_decoders,
    parse_decoders,
)
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind

DECODERS = load_decoders()
CONTEXT = DetectionContext(Masker(b"decoder-tests"))
AAID = "38400000-8cf0-11bd-b23e-10b96e40000d"  # Google's documented example advertising ID
UUID = "3f2a9c1e-55b0-4d7e-a1c2-9e8f7d6c5b4a"

REQUIRED_SERVICES = (
    "google-analytics-4", "google-analytics-universal", "google-doubleclick", "facebook-app-events", "facebook-pixel",
    "adjust-sdk", "appsflyer-sdk", "branch-sdk", "braze-sdk", "segment-api", "amplitude-api", "mixpanel-api",
    "onesignal-api", "sentry-envelope", "bugsnag-notify", "firebase-crashlytics-logging", "newrelic-agents",
    "datadog-rum", "moengage-sdk", "clevertap-sdk", "unity-ads", "applovin-sdk", "ironsource-sdk",
    "indexexchange-user-matching", "openx-user-sync", "pubmatic-user-sync", "thetradedesk-pixels", "id5-sync",
    "microsoft-clarity", "hotjar", "tiktok-pixel", "linkedin-insight", "bing-uet", "snap-pixel", "pinterest-tag",
    "rubicon-user-sync", "openrtb-bid-request",
)
"""The services issue 10 names, plus Rubicon and the shared OpenRTB decoder."""


def _record(method: str, url: str, body: bytes | str = b"", content_type: str | None = None,
            cookies: tuple[tuple[str, str], ...] = (), headers: tuple[tuple[str, str], ...] = ()) -> Record:
    data = body.encode() if isinstance(body, str) else body
    return Record(
        RecordKind.HTTP, 0.0, SourceKind.HAR, host=url.split("/")[2], url=url, method=method, content_visible=True,
        encrypted=True, request_headers=headers, cookies=cookies, request_body=data, request_content_type=content_type,
    )


def _json(method: str, url: str, document: object, **kw: object) -> Record:
    return _record(method, url, json.dumps(document), "application/json", **kw)  # type: ignore[arg-type]


def _site_cookies(*cookies: tuple[str, str]) -> Record:
    """A page request to the school's own site carrying cookies a vendor's script stored there."""
    return _record("GET", "https://www.school-site.example/", cookies=cookies)


# decoder id -> (a request in the vendor's documented format, what the decoder must find: (part, key, data type))
REQUESTS: dict[str, tuple[Record, list[tuple[str, str, str]]]] = {
    "google-analytics-4": (
        _record("POST", "https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC123&cid=1115316375.1700084597"
                "&sid=1700084597&uid=pupil-4411&en=page_view"),
        [("query", "cid", "other_identifier"), ("query", "uid", "other_identifier")],
    ),
    "google-analytics-universal": (
        _record("GET", "https://www.google-analytics.com/collect?v=1&t=pageview&tid=UA-1-1&cid=1635221331.1515916349"
                "&_gid=640075521.1700069765&uip=203.0.113.77"),
        [("query", "cid", "other_identifier"), ("query", "_gid", "other_identifier"),
         ("query", "uip", "ip_address")],
    ),
    "google-analytics-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_ga", "GA1.1.1115316375.1700084597"),)),
        [("cookie", "_ga", "other_identifier")],
    ),
    "google-doubleclick": (
        _record("GET", "https://cm.g.doubleclick.net/pixel?google_nid=ttd&google_hm=MjFmNDRhNGYtNDc2My00ZDQ1"
                "&google_cm", cookies=(("IDE", "AHWqTUmS3kY5fYcE6Ndk0W-Hz0xdLx7kqxHcR1v4kD3H9YwQ"),)),
        [("cookie", "IDE", "other_identifier"), ("query", "google_hm", "other_identifier")],
    ),
    "firebase-installations": (
        _json("POST", "https://firebaseinstallations.googleapis.com/v1/projects/demo-app/installations",
              {"fid": "cX9wXpvbQq-3mJ1d5a_Gbz", "appId": "1:123:android:abc", "authVersion": "FIS_v2"}),
        [("body", "fid", "device_id")],
    ),
    "firebase-remote-config": (
        _json("POST", "https://firebaseremoteconfig.googleapis.com/v1/projects/123/namespaces/firebase:fetch",
              {"appInstanceId": "cX9wXpvbQq-3mJ1d5a_Gbz", "appId": "1:123:android:abc", "countryCode": "GB"}),
        [("body", "appInstanceId", "device_id")],
    ),
    "firebase-messaging": (
        _record("POST", "https://android.clients.google.com/c2dm/register3",
                "X-subtype=123&sender=123&X-appid=cX9wXpvbQq-3mJ1d5a_Gbz&app=edu.example&device=3954178146253431298",
                "application/x-www-form-urlencoded"),
        [("body", "X-appid", "device_id"), ("body", "device", "device_id")],
    ),
    "firebase-crashlytics-logging": (
        _json("POST", "https://firebaselogging-pa.googleapis.com/v1/firelog/legacy/batchlog",
              {"logRequest": [{"logEvent": [{"sourceExtensionJsonProto3": json.dumps(
                  {"session": {"installationUuid": "9b2c5a1e7d3f4e8a", "user": {"userId": "pupil-4411"}}})}]}]}),
        [("body", "logRequest[0].logEvent[0].sourceExtensionJsonProto3.session.installationUuid", "device_id"),
         ("body", "logRequest[0].logEvent[0].sourceExtensionJsonProto3.session.user.userId", "other_identifier")],
    ),
    "firebase-analytics": (
        # A Batch (field 1 repeats the bundles), gzip-compressed by the SDK; tests/test_decoder_firebase_analytics.py
        # reads a whole upload.
        _record("POST", "https://app-measurement.com/a", gzip.compress(pb_str(1, pb_str(8, "android") + pb_str(
            19, AAID) + pb_str(21, "8e1f2c3d4b5a69788796a5b4c3d2e1f0") + pb_str(25, "1:1234567890:android:0a1b2c")))),
        [("body", "1.19", "advertising_id"), ("body", "1.21", "device_id")],
    ),
    "facebook-app-events": (
        _record("POST", "https://graph.facebook.com/v16.0/1234567890/activities",
                "event=CUSTOM_APP_EVENTS&advertiser_id=" + AAID + "&anon_id=XZ" + UUID
                + "&extinfo=" + quote(json.dumps(["a2", "edu.example", "1.0", "1.0 (1)", "13", "Pixel 7", "en_GB",
                                                    "GMT", "EE", 1080, 2400, "2.6", 8, 110, 40, "Europe/London"]))
                + "&application_tracking_enabled=1&",
                "application/x-www-form-urlencoded"),
        [("body", "advertiser_id", "advertising_id"), ("body", "anon_id", "device_id"),
         ("body", "extinfo[5], extinfo[6], extinfo[7], extinfo[8], extinfo[13], extinfo[14]", "device_fingerprint"),
         ("body", "extinfo[15]", "coarse_location")],
    ),
    "facebook-pixel": (
        _record("GET", "https://www.facebook.com/tr/?id=1&ev=PageView&fbp=fb.1.1700069764942.1430529644"
                "&ud[em]=" + "a" * 64, cookies=(("fr", "0Vq2bXbJv1w3Z9x1..BlVQm8.AAA.0.0.BlVQm8.AWU"),)),
        [("query", "fbp", "other_identifier"), ("query", "ud[em]", "email"), ("cookie", "fr", "other_identifier")],
    ),
    "facebook-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_fbp", "fb.1.1700069764942.1430529644"),)),
        [("cookie", "_fbp", "other_identifier")],
    ),
    "adjust-sdk": (
        _record("POST", "https://app.adjust.com/session",
                f"app_token=abc123&gps_adid={AAID}&android_uuid={UUID}&created_at=2023-11-15",
                "application/x-www-form-urlencoded"),
        [("body", "gps_adid", "advertising_id"), ("body", "android_uuid", "device_id")],
    ),
    "appsflyer-sdk": (
        _json("POST", "https://launches.appsflyer.com/api/v6.9/androidevent?app_id=edu.example",
              {"advertiserId": AAID, "uid": "1700084597832-9571366846062", "appsflyerKey": "devkey"}),
        [("body", "advertiserId", "advertising_id"), ("body", "uid", "device_id")],
    ),
    "branch-sdk": (
        _json("POST", "https://api2.branch.io/v1/open",
              {"identity_id": "712683420530495372", "device_fingerprint_id": "712683420513718156",
               "hardware_id": "b783b1e888364c88", "session_id": "712683420555627439"}),
        [("body", "identity_id", "other_identifier"), ("body", "device_fingerprint_id", "device_id"),
         ("body", "hardware_id", "device_id")],
    ),
    "braze-sdk": (
        _json("POST", "https://sdk.iad-01.braze.com/api/v3/data/",
              {"device_id": UUID, "user_id": "pupil-4411", "attributes": [{"user_id": "pupil-4411",
                                                                           "email": "ada@school.example"}]}),
        [("body", "device_id", "device_id"), ("body", "user_id", "other_identifier"),
         ("body", "attributes[0].email", "email")],
    ),
    "segment-api": (
        _json("POST", "https://api.segment.io/v1/batch",
              {"batch": [{"type": "track", "anonymousId": UUID, "userId": "pupil-4411",
                          "context": {"device": {"advertisingId": AAID}}}]}),
        [("body", "batch[0].anonymousId", "device_id"), ("body", "batch[0].userId", "other_identifier"),
         ("body", "batch[0].context.device.advertisingId", "advertising_id")],
    ),
    "segment-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("ajs_anonymous_id", UUID),)),
        [("cookie", "ajs_anonymous_id", "other_identifier")],
    ),
    "amplitude-api": (
        _json("POST", "https://api2.amplitude.com/2/httpapi",
              {"api_key": "k", "events": [{"device_id": UUID, "user_id": "pupil-4411", "event_type": "open"}]}),
        [("body", "events[0].device_id", "device_id"), ("body", "events[0].user_id", "other_identifier")],
    ),
    "mixpanel-api": (
        _record("GET", "https://api-js.mixpanel.com/track/?data=" + base64.b64encode(json.dumps(
            {"event": "open", "properties": {"distinct_id": "18bd1c2e3f4a5b-0123456789abcd", "token": "t",
                                             "$device_id": "18bd1c2e3f4a5b-0123456789abcd"}}).encode()).decode()),
        [("query", "data.properties.distinct_id", "other_identifier"),
         ("query", "data.properties.$device_id", "device_id")],
    ),
    "mixpanel-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(
            ("mp_0123456789abcdef_mixpanel", json.dumps({"distinct_id": "18bd1c2e3f4a5b-0123456789abcd"})),)),
        [("cookie", "mp_0123456789abcdef_mixpanel.distinct_id", "other_identifier")],
    ),
    "onesignal-api": (
        _json("POST", "https://api.onesignal.com/api/v1/players",
              {"app_id": "a", "identifier": "fcm-token:APA91bH0x9Yz-abcdefghijklmnop", "ad_id": AAID,
               "external_user_id": "pupil-4411"}),
        [("body", "identifier", "other_identifier"), ("body", "ad_id", "advertising_id"),
         ("body", "external_user_id", "other_identifier")],
    ),
    "sentry-envelope": (
        _record("POST", "https://o1.ingest.sentry.io/api/6004625/envelope/?sentry_key=k",
                '{"sent_at":"2023-11-15T21:43:17.428Z"}\n{"type":"session"}\n'
                '{"sid":"ca073dacd7d84022bc8d3abded3edcf0","did":"pupil-4411","status":"ok"}\n'
                '{"type":"event"}\n{"user":{"id":"pupil-4411","email":"ada@school.example"}}',
                "text/plain;charset=UTF-8"),
        [("body", "line2.did", "other_identifier"), ("body", "line4.user.id", "other_identifier"),
         ("body", "line4.user.email", "email")],
    ),
    "bugsnag-notify": (
        _json("POST", "https://notify.bugsnag.com/",
              {"apiKey": "k", "events": [{"user": {"id": UUID}, "device": {"id": UUID}}]}),
        [("body", "events[0].user.id", "device_id"), ("body", "events[0].device.id", "device_id")],
    ),
    "newrelic-agents": (
        _json("POST", "https://mobile-collector.newrelic.com/mobile/v4/connect",
              {"device": {"uuid": UUID}}),
        [("body", "device.uuid", "device_id")],
    ),
    "datadog-rum": (
        _record("POST", "https://browser-intake-datadoghq.com/api/v2/rum?ddsource=browser",
                '{"type":"view","usr":{"id":"pupil-4411","email":"ada@school.example"}}\n{"type":"action"}',
                "text/plain"),
        [("body", "line0.usr.id", "other_identifier"), ("body", "line0.usr.email", "email")],
    ),
    "moengage-sdk": (
        _json("POST", "https://sdk-01.moengage.com/v2/sdk/report/ABC",
              {"query_params": {"unique_id": UUID},
               "viewsInfo": [{"EVENT_ACTION": "lesson", "EVENT_ATTRS": json.dumps(
                   {"wlocCity": "Leeds", "wlocCountry": "United Kingdom"})}]}),
        [("body", "query_params.unique_id", "device_id"),
         ("body", "viewsInfo[0].EVENT_ATTRS.wlocCity", "coarse_location"),
         ("body", "viewsInfo[0].EVENT_ATTRS.wlocCountry", "coarse_location")],
    ),
    "clevertap-sdk": (
        _json("POST", "https://eu1.clevertap-prod.com/a1?os=Android",
              [{"g": "__g5a1b2c3d4e5f60718293a4b5c6d7e8f9", "type": "meta", "id": "ACC-1"},
               {"type": "profile", "profile": {"Identity": "pupil-4411", "Email": "ada@school.example"}}]),
        [("body", "[0].g", "device_id"), ("body", "[1].profile.Identity", "other_identifier"),
         ("body", "[1].profile.Email", "email")],
    ),
    "unity-ads": (
        _json("POST", "https://auction.unityads.unity3d.com/v6/games/123/requests",
              {"advertisingTrackingId": AAID, "idfi": UUID, "deviceModel": "Pixel 7"}),
        [("body", "advertisingTrackingId", "advertising_id"), ("body", "idfi", "device_id")],
    ),
    "applovin-sdk": (
        _json("POST", "https://ms.applovin.com/1.0/mediate", {"device_info": {"gaid": AAID}}),
        [("body", "device_info.gaid", "advertising_id")],
    ),
    "ironsource-sdk": (
        _record("GET", f"https://init.supersonicads.com/sdk/v?applicationKey=k&advId={AAID}"
                "&applicationUserId=pupil-4411"),
        [("query", "advId", "advertising_id"), ("query", "applicationUserId", "other_identifier")],
    ),
    "indexexchange-user-matching": (
        _record("GET", "https://dsum-sec.casalemedia.com/rum?cm_dsp_id=88&external_user_id=" + UUID,
                cookies=(("CMID", "ZVVa4lMvnd8AADoAGYmA1QAA"),)),
        [("query", "external_user_id", "other_identifier"), ("cookie", "CMID", "other_identifier")],
    ),
    "openx-user-sync": (
        _record("GET", "https://us-u.openx.net/w/1.0/sd?id=537148856&val=6D1902B1A6C94A06",
                cookies=(("i", "8e0b9e5b-7c5d-4f0a-9a6e-1c2d3e4f5a6b|1700000000"),)),
        [("query", "val", "other_identifier"), ("cookie", "i", "other_identifier")],
    ),
    "pubmatic-user-sync": (
        _record("GET", "https://image2.pubmatic.com/AdServer/Pug?vcode=bz0yJnR5cGU9MQ&piggybackCookie=" + UUID,
                cookies=(("KADUSERCOOKIE", "F2B1A6C9-4A06-4D2E-9B1F-0E1D2C3B4A5F"),)),
        [("query", "piggybackCookie", "other_identifier"), ("cookie", "KADUSERCOOKIE", "other_identifier")],
    ),
    "thetradedesk-pixels": (
        _record("GET", "https://match.adsrvr.org/track/cmf/generic?ttd_pid=casale&ttd_puid=ZVVa4lMvnd8AADoA",
                cookies=(("TDID", UUID),)),
        [("query", "ttd_puid", "other_identifier"), ("cookie", "TDID", "other_identifier")],
    ),
    "thetradedesk-partner-ids": (
        _record("GET", f"https://ib.adnxs.com/setuid?entity=28&code={UUID}&ttd_tdid={UUID}"),
        [("query", "ttd_tdid", "other_identifier")],
    ),
    "id5-sync": (
        _json("POST", "https://id5-sync.com/g/v2/429.json", {"partner": 429, "s": "ID5*abcdefghijklmnopqrstuv"},
              cookies=(("id5", "a1b2c3d4e5f6#1700000000000#1"),)),
        [("cookie", "id5", "other_identifier"), ("body", "s", "other_identifier")],
    ),
    "rubicon-user-sync": (
        _record("GET", f"https://pixel.rubiconproject.com/tap.php?v=1&nid=2307&put={UUID}",
                cookies=(("khaos", "K7ABCDE12-2Q9RY"),)),
        [("query", "put", "other_identifier"), ("cookie", "khaos", "other_identifier")],
    ),
    "bing-uet": (
        _record("GET", "https://bat.bing.com/action/0?ti=1&Ver=2&mid=x&sid=a&vid=8f76c5e0840d11eea3d9f1b2c3d4e5f7"
                "&evt=pageLoad", cookies=(("MUID", "2E1A3B4C5D6E7F8091A2B3C4D5E6F7FC"),)),
        [("query", "vid", "other_identifier"), ("cookie", "MUID", "other_identifier")],
    ),
    "microsoft-clarity": (
        _record("POST", "https://k.clarity.ms/collect", gzip.compress(json.dumps(
            {"e": ["0.7.20", 1, 0, 40, "projid", "1x2y3z4", "5a6b7c8", 1, 0, 0], "a": []}).encode()),
                "application/octet-stream"),
        [("body", "e[5]", "other_identifier")],
    ),
    "microsoft-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_uetvid", "8f76c5e0840d11eea3d9f1b2c3d4e5f7"),)),
        [("cookie", "_uetvid", "other_identifier")],
    ),
    "hotjar": (
        _json("POST", "https://in.hotjar.com/api/v2/client/sites/123/visit-data?sv=7",
              {"user_id": UUID, "r_value": 1}),
        [("body", "user_id", "other_identifier")],
    ),
    "hotjar-cookies": (
        _record("GET", "https://www.school-site.example/",
                cookies=(("_hjSessionUser_123", json.dumps({"id": "7b1e2c3d-4f5a-6b7c", "created": 1})),)),
        [("cookie", "_hjSessionUser_123.id", "other_identifier")],
    ),
    "tiktok-pixel": (
        _json("POST", "https://analytics.tiktok.com/api/v2/pixel",
              {"event": "Pageview", "context": {"user": {"anonymous_id": "UUTs66C64yjhna71nfypNJRsYar"}}}),
        [("body", "context.user.anonymous_id", "other_identifier")],
    ),
    "tiktok-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_ttp", "UUTs66C64yjhna71nfypNJRsYar"),)),
        [("cookie", "_ttp", "other_identifier")],
    ),
    "linkedin-insight": (
        _record("GET", "https://px.ads.linkedin.com/collect?pid=1&fmt=js&e_ipv6=2001:db8::7",
                cookies=(("bcookie", '"v=2&8f0c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e"'),)),
        [("query", "e_ipv6", "ip_address"), ("cookie", "bcookie", "other_identifier")],
    ),
    "snap-pixel": (
        _record("GET", f"https://tr.snapchat.com/p?pid=1&u_c1={UUID}&u_hem=" + "b" * 64),
        [("query", "u_c1", "other_identifier"), ("query", "u_hem", "email")],
    ),
    "snap-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_scid", UUID),)),
        [("cookie", "_scid", "other_identifier")],
    ),
    "pinterest-tag": (
        _record("GET", "https://ct.pinterest.com/v3/?tid=1&event=init&" + urlencode({"pd": json.dumps(
            {"em": "c" * 64})})),
        [("query", "pd.em", "email")],
    ),
    "pinterest-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("_pin_unauth", "dWlkPU1qRmtNVFEx"),)),
        [("cookie", "_pin_unauth", "other_identifier")],
    ),
    "openrtb-bid-request": (
        _json("POST", "https://prebid-server.rubiconproject.com/openrtb2/auction",
              {"id": "r1", "device": {"ifa": AAID, "ip": "203.0.113.77", "geo": {"lat": 51.5072, "lon": -0.1276}},
               "user": {"buyeruid": "ZVVa4lMvnd8AADoA", "ext": {"eids": [{"source": "id5-sync.com",
                                                                          "uids": [{"id": "ID5*xyzabc123456"}]}]}}}),
        [("body", "device.ifa", "advertising_id"), ("body", "device.ip", "ip_address"),
         ("body", "device.geo.lat", "precise_location"), ("body", "user.buyeruid", "other_identifier"),
         ("body", "user.ext.eids[0].uids[0].id", "other_identifier")],
    ),
    "adobe-analytics": (
        _record("GET", "https://metrics.school-site.example/b/ss/schoolprod/1/JS-2.22.0/s1234?AQB=1&mid="
                "03987512371390276241848153409542063497&fid=45A1C2B3D4E5F607-1122334455667788&pageName=home"),
        [("query", "mid", "other_identifier"), ("query", "fid", "other_identifier")],
    ),
    "adobe-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("s_vi", "[CS]v1|2F3A4B5C6D7E8F90-1234[CE]"),)),
        [("cookie", "s_vi", "other_identifier")],
    ),
    "adobe-audience-manager": (
        _record("GET", f"https://dpm.demdex.net/ibs:dpid=903&dpuuid={UUID}&redir=x", cookies=(
            ("demdex", "54939282902151904744523106184628736"),)),
        [("path", "dpuuid", "other_identifier"), ("cookie", "demdex", "other_identifier")],
    ),
    "xandr-exchange": (
        _record("GET", "https://ib.adnxs.com/getuid?https://partner.example/sync?u=$UID",
                cookies=(("uuid2", "5493928290215190474"),)),
        [("cookie", "uuid2", "other_identifier")],
    ),
    "criteo": (
        _record("GET", "https://gum.criteo.com/sync?c=1&r=1", cookies=(("uid", UUID),)),
        [("cookie", "uid", "other_identifier")],
    ),
    "criteo-cookies": (
        _record("GET", "https://www.school-site.example/", cookies=(("cto_bundle", "Xy1Zq2_abcdefghijKLMNOP"),)),
        [("cookie", "cto_bundle", "other_identifier")],
    ),
    "liveramp": (
        _record("GET", f"https://idsync.rlcdn.com/1000.gif?partner_uid={UUID}",
                cookies=(("rlas3", "aBcD1234eFgH5678"),)),
        [("query", "partner_uid", "other_identifier"), ("cookie", "rlas3", "other_identifier")],
    ),
    "yahoo-ads": (
        _record("GET", "https://ups.analytics.yahoo.com/ups/58292/sync?uid=6D1902B1A6C94A06&_origin=1"),
        [("query", "uid", "other_identifier")],
    ),
    "tapad": (
        _record("GET", f"https://pixel.tapad.com/idsync/ex/receive?partner_id=2499&partner_device_id={UUID}"),
        [("query", "partner_device_id", "other_identifier")],
    ),
    "bidswitch": (
        _record("GET", f"https://x.bidswitch.net/sync?ssp=themediagrid&user_id={UUID}"),
        [("query", "user_id", "other_identifier")],
    ),
    "salesforce-krux": (
        _record("GET", "https://beacon.krxd.net/usermatch.gif?partner=x&partner_uid=ZVVa4lMvnd8AADoA",
                cookies=(("_kuid_", "MxN8lOq7"),)),
        [("query", "partner_uid", "other_identifier"), ("cookie", "_kuid_", "other_identifier")],
    ),
    "neustar": (
        _record("GET", "https://d.agkn.com/pixel/2610/?sk=1&puid=6D1902B1A6C94A06&ip=203.0.113.77"),
        [("query", "puid", "other_identifier"), ("query", "ip", "ip_address")],
    ),
    "quantcast": (
        _record("GET", "https://pixel.quantserve.com/pixel;r=1?fpa=P0-1234567890-1700000000000&a=p-x",
                cookies=(("mc", "65a1b2c3-4d5e6-f7a8b-9c0d1"),)),
        [("query", "fpa", "other_identifier"), ("cookie", "mc", "other_identifier")],
    ),
    "infonline-szm": (
        _record("GET", "https://de.ioam.de/tx.io?st=schoolnews&cp=start&pt=CP&xy=1280x800x24&lo=DE%2FBerlin&vr=310"
                "&lt=1700000000000", cookies=(("i00", "0031a2b3c4d5e6f70a1b2c3d0001%3B65f0a1b2%3B66d1c2b3"),)),
        [("query", "lo", "coarse_location"), ("cookie", "i00", "other_identifier")],
    ),
    "comscore": (
        _record("GET", "https://sb.scorecardresearch.com/p?c1=2&c2=1", cookies=(("UID", "1a2b3c4d5e6f7a8b9c0d1e2f"),)),
        [("cookie", "UID", "other_identifier")],
    ),
    "amazon-ads": (
        _record("GET", "https://s.amazon-adsystem.com/iu3?d=x", cookies=(("ad-id", "A5xYzq2Lk3Nm8pQr1StUv"),)),
        [("cookie", "ad-id", "other_identifier")],
    ),
    "matomo-tracker": (
        # The site ID (idsite) and the visit count (_idvc) are not personal; the visitor ID and user ID are.
        _record("GET", "https://stats.school-site.example/matomo.php?idsite=7&rec=1&_id=2cd7ae93b26bdbbb&_idvc=3"
                "&uid=pupil-4411&res=1280x800&lat=51.5072&long=-0.1276"),
        [("query", "_id", "other_identifier"), ("query", "uid", "other_identifier"),
         ("query", "lat", "precise_location"), ("query", "long", "precise_location")],
    ),
    "matomo-cookies": (
        _site_cookies(("_pk_id.7.f7ab", "2cd7ae93b26bdbbb.1740763894.")),
        [("cookie", "_pk_id.7.f7ab", "other_identifier")],
    ),
    "snowplow-tracker": (
        _json("POST", "https://collector.school-site.example/com.snowplowanalytics.snowplow/tp2",
              {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": [
                  {"e": "pv", "aid": "school-site", "duid": UUID, "nuid": "0f5e4c3b-2a19-4b8c-9d7e-6f5a4b3c2d1e",
                   "uid": "pupil-4411", "res": "1280x800", "tv": "js-3.17.0"}]}),
        [("body", "data[0].duid", "other_identifier"), ("body", "data[0].nuid", "other_identifier"),
         ("body", "data[0].uid", "other_identifier")],
    ),
    "snowplow-cookies": (
        _site_cookies(("_sp_id.1fff", UUID + ".1700000000.3.1700000100")),
        [("cookie", "_sp_id.1fff", "other_identifier")],
    ),
    "x-pixel": (
        _record("GET", "https://analytics.twitter.com/i/adsct?txn_id=nvjd8&p_id=Twitter&type=javascript"
                "&twclid=2-7a1b2c3d4e5f6a7b8c9d0e1f2", cookies=(("personalization_id", '"v1_Zx8q2LmN4pR7sT0uVw=="'),)),
        [("query", "twclid", "other_identifier"), ("cookie", "personalization_id", "other_identifier")],
    ),
    "x-cookies": (
        _site_cookies(("_twclid", "2-7a1b2c3d4e5f6a7b8c9d0e1f2")),
        [("cookie", "_twclid", "other_identifier")],
    ),
    "outbrain": (
        _record("GET", "https://tr.outbrain.com/unifiedPixel?marketerId=00569da938e06cb48f&name=PAGE_VIEW",
                cookies=(("obuid", "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e"),)),
        [("cookie", "obuid", "other_identifier")],
    ),
    "hubspot-forms": (
        _json("POST", "https://api.hsforms.com/submissions/v3/integration/submit/8348326/8d1bc282-4ae6-40e3",
              {"fields": [{"name": "firstname", "value": "Ada"}],
               "context": {"hutk": "365f52fed0feb2964f658915a37a291d", "pageName": "Sign up"}}),
        [("body", "context.hutk", "other_identifier")],
    ),
    "hubspot-cookies": (
        _site_cookies(("hubspotutk", "365f52fed0feb2964f658915a37a291d"),
                      ("__hstc", "170996927.365f52fed0feb2964f658915a37a291d.1700069765110.1700069765110.1")),
        [("cookie", "hubspotutk", "other_identifier"), ("cookie", "__hstc", "other_identifier")],
    ),
    "heap-api": (
        _json("POST", "https://heapanalytics.com/api/track",
              {"app_id": "11", "identity": "pupil-4411", "event": "Quiz finished"}),
        [("body", "identity", "other_identifier")],
    ),
    "heap-cookies": (
        _site_cookies(("_hp2_id.1234567", quote(json.dumps(
            {"userId": "8307429017650122", "pageviewId": "1", "sessionId": "2", "identity": None})))),
        [("cookie", "_hp2_id.1234567.userId", "other_identifier")],
    ),
    "fullstory-api": (
        _json("POST", "https://api.fullstory.com/v2/users",
              {"uid": "pupil-4411", "display_name": "Ada Okafor", "email": "ada.okafor@school.example"}),
        [("body", "uid", "other_identifier"), ("body", "email", "email"), ("body", "display_name", "name")],
    ),
    "fullstory-cookies": (
        _site_cookies(("fs_uid", "#ABC12#4062143353202882:3829143070270885/1700000000")),
        [("cookie", "fs_uid", "other_identifier")],
    ),
    "optimizely-events": (
        _json("POST", "https://logx.optimizely.com/v1/events",
              {"account_id": "1887578053", "visitors": [{"visitor_id": "oeu1470101898133r0.04568111757824678",
                                                          "session_id": "", "snapshots": []}]}),
        [("body", "visitors[0].visitor_id", "other_identifier")],
    ),
    "optimizely-cookies": (
        _site_cookies(("optimizelyEndUserId", "oeu1470101898133r0.04568111757824678")),
        [("cookie", "optimizelyEndUserId", "other_identifier")],
    ),
    "intercom-messenger": (
        _record("POST", "https://api-iam.intercom.io/messenger/web/ping", "app_id=abc12345&v=3&" + urlencode({
            "user_data": json.dumps({"email": "ada.okafor@school.example", "user_id": "pupil-4411"})}),
            "application/x-www-form-urlencoded"),
        [("body", "user_data.email", "email"), ("body", "user_data.user_id", "other_identifier")],
    ),
    "intercom-cookies": (
        _site_cookies(("intercom-id-abc12345", "5b1f2e3d-4c5b-6a79-8877-66554433aabb")),
        [("cookie", "intercom-id-abc12345", "other_identifier")],
    ),
    "kochava-sdk": (
        _json("POST", "https://control.kochava.com/track/json",
              {"action": "install", "kochava_app_id": "koschool-reader-app-5f1a2b", "kochava_device_id":
               "KA54e8f1c2d3b4a5968778695a4b3c2d1e0", "data": {"adid": AAID, "origination_ip": "203.0.113.77",
                                                             "identity_link": {"account": "pupil-4411"}}}),
        [("body", "kochava_device_id", "device_id"), ("body", "data.adid", "advertising_id"),
         ("body", "data.origination_ip", "ip_address"), ("body", "data.identity_link.account", "other_identifier")],
    ),
    "singular-sdk": (
        _record("GET", f"https://s2s.singular.net/api/v1/launch?a=SCHOOLAPP_SDK_KEY_1234&p=Android&i=edu.example"
                f"&aifa={AAID}&asid={UUID}&andi=9774d56d682e549c&ip=203.0.113.77&custom_user_id=pupil-4411"),
        [("query", "aifa", "advertising_id"), ("query", "asid", "device_id"), ("query", "andi", "device_id"),
         ("query", "ip", "ip_address"), ("query", "custom_user_id", "other_identifier")],
    ),
    "tenjin-sdk": (
        _record("POST", "https://track.tenjin.com/v0/event",
                f"api_key=TENJINSCHOOLKEY1234567890&bundle_id=edu.example&platform=android&advertising_id={AAID}"
                f"&developer_device_id={UUID}&analytics_installation_id=9b2c5a1e-7d3f-4e8a-b1c2-d3e4f5a6b7c8",
                "application/x-www-form-urlencoded"),
        [("body", "advertising_id", "advertising_id"), ("body", "developer_device_id", "device_id"),
         ("body", "analytics_installation_id", "device_id")],
    ),
    "appmetrica-sdk": (
        _record("GET", f"https://report.appmetrica.yandex.net/report?api_key_128=0a1b2c3d-school-app&deviceid="
                f"6d1902b1a6c94a06a1b2c3d4e5f60718&uuid=8e1f2c3d4b5a69788796a5b4c3d2e1f0&adv_id={AAID}"
                "&android_id=9774d56d682e549c&model=Pixel%207&manufacturer=Google&screen_width=1080&screen_height=2400"
                "&locale=en_GB"),
        [("query", "deviceid", "device_id"), ("query", "uuid", "device_id"), ("query", "adv_id", "advertising_id"),
         ("query", "android_id", "device_id"), ("query", "model, manufacturer, screen_width, screen_height, locale",
                                                "device_fingerprint")],
    ),
    "airship-sdk": (
        _json("PUT", f"https://device-api.urbanairship.com/api/channels/{UUID}",
              {"channel": {"device_type": "android", "opt_in": True, "push_address":
                           "fcm-token-cX9wXpvbQq3mJ1d5aGbzAPA91bHq"}, "identity_hints": {"user_id": "pupil-4411"}},
              headers=(("X-UA-Channel-ID", UUID), ("X-UA-App-Key", "ISex_TTJRuarzs9-o_Gkhg"),
                       ("X-UA-Device-Model", "Pixel 7"), ("X-UA-Timezone", "Europe/London"))),
        [("header", "x-ua-channel-id", "device_id"), ("body", "channel.push_address", "other_identifier"),
         ("body", "identity_hints.user_id", "other_identifier"),
         ("header", "x-ua-device-model, x-ua-timezone", "device_fingerprint")],
    ),
    "vungle-sdk": (
        _json("POST", "https://ads.api.vungle.com/ads",
              {"app": {"id": "5f1a2b3c4d5e6f7a8b9c0d1e"}, "device": {"make": "Google", "ifa": AAID, "ext": {
                  "vungle": {"android": {"gaid": AAID, "app_set_id": UUID}}}}}),
        [("body", "device.ifa", "advertising_id"), ("body", "device.ext.vungle.android.gaid", "advertising_id"),
         ("body", "device.ext.vungle.android.app_set_id", "device_id")],
    ),
    "chartboost-mediation": (
        _json("POST", "https://helium-rtb.chartboost.com/v3/auctions",
              {"app": {"key": "5f1a2b3c4d5e6f7a8b9c0d1e"}, "device": {
                  "make": "Google", "model": "Pixel 7", "language": "en", "carrier": "EE", "ifa": AAID,
                  "ext": {"ifv": UUID}}}),
        [("body", "device.ifa", "advertising_id"), ("body", "device.ext.ifv", "device_id"),
         ("body", "device.make, device.model, device.language, device.carrier", "device_fingerprint")],
    ),
    "appcenter-ingestion": (
        _json("POST", "https://in.appcenter.ms/logs?api-version=1.0.0",
              {"logs": [{"type": "startService", "userId": "pupil-4411", "device": {
                  "model": "Pixel 7", "oemName": "Google", "locale": "en_GB", "timeZoneOffset": 60}}]},
              headers=(("App-Secret", "5f1a2b3c-4d5e-6f7a-8b9c-0d1e2f3a4b5c"), ("Install-ID", UUID))),
        [("header", "install-id", "device_id"), ("body", "logs[0].userId", "other_identifier"),
         ("body", "logs[0].device.model, logs[0].device.oemName, logs[0].device.locale, "
                  "logs[0].device.timeZoneOffset", "device_fingerprint")],
    ),
}


def _decoded(record: Record) -> set[tuple[str, str, str, str]]:
    return {(d.where.value, d.key or "", d.data_type, d.detector) for d in DecoderDetector().detect(record, CONTEXT)}


def test_every_decoder_file_follows_the_format() -> None:
    files = sorted(DECODER_DIR.glob("*.toml"))
    assert len(files) >= 30, "one file per company, at least 30 companies"
    ids = [d.id for d in DECODERS]
    assert len(ids) == len(set(ids)), "decoder ids are unique across files"
    for decoder in DECODERS:
        assert decoder.company and decoder.service and decoder.endpoints and decoder.properties
        assert set(decoder.decode) <= DECODE_STEPS, decoder.id
        for prop in decoder.properties:
            assert prop.data_type in DATA_TYPES, (decoder.id, prop.key)
            assert prop.reference.startswith("https://"), (decoder.id, prop.key)
            assert prop.reason.endswith(".") and prop.reason.count(". ") == 0, (decoder.id, prop.key, "one sentence")
            assert "_" not in prop.reason.split("`")[0][:1], "reasons are prose, not slugs"


def test_the_issue_s_services_are_covered() -> None:
    assert set(REQUIRED_SERVICES) <= {d.id for d in DECODERS}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('company = "X"\n[[decoder]]\nid = "a"\nservice = "A"\nendpoint = [{host = "a.example"}]\n'
         'property = [{part = "query", key = "k", type = "shoe_size", reason = "R.", reference = "https://x"}]',
         "unknown data type 'shoe_size'"),
        ('company = "X"\n[[decoder]]\nid = "a"\nservice = "A"\nendpoint = [{host = "a.example"}]\n'
         'property = [{part = "query", key = "k", type = "email", reason = "R."}]', "missing 'reference'"),
        ('company = "X"\n[[decoder]]\nid = "a"\nservice = "A"\nendpoint = [{host = "a.example"}]\n'
         'property = [{part = "query", key = "k", type = "email", reason = "no full stop", reference = "https://x"}]',
         "one sentence ending with a full stop"),
        ('company = "X"\n[[decoder]]\nid = "a"\nservice = "A"\ndecode = ["rot13"]\nendpoint = [{host = "a"}]\n'
         'property = [{part = "query", key = "k", type = "email", reason = "R.", reference = "https://x"}]',
         "unknown decode step 'rot13'"),
        ('company = "X"\n[[decoder]]\nid = "a"\nservice = "A"\nendpoint = [{host = "a"}]\nproperty = [{part = "body",'
         ' key = "m", type = "device_fingerprint", reason = "R.", reference = "https://x"}]', "names its trait"),
        ("company = \n", "not valid TOML"),
    ],
)
def test_a_broken_decoder_file_is_named_with_its_problem(text: str, problem: str) -> None:
    with pytest.raises(DecoderError, match=problem) as error:
        parse_decoders(text, "broken.toml")
    assert str(error.value).startswith("broken.toml")


def test_every_decoder_has_a_request() -> None:
    assert {d.id for d in DECODERS} <= set(REQUESTS)


@pytest.mark.parametrize("decoder_id", sorted(REQUESTS))
def test_decoder_reads_its_vendor_s_request(decoder_id: str) -> None:
    record, expected = REQUESTS[decoder_id]
    found = _decoded(record)
    for where, key, data_type in expected:
        # Keys are shown as reports show them: a key part that looks like an ID is masked there too.
        assert (where, CONTEXT.safe_key(key), data_type, f"decoder:{decoder_id}") in found, (where, key, found)


def test_positional_device_traits_are_reported_as_one_bundle() -> None:
    record, _ = REQUESTS["facebook-app-events"]
    bundles = [d for d in DecoderDetector().detect(record, CONTEXT) if d.data_type == "device_fingerprint"]
    assert len(bundles) == 1
    assert bundles[0].masked_value == (
        "6 device traits: device model, language and region, time-zone abbreviation, mobile carrier, storage size, "
        "free storage")
    assert bundles[0].reason is not None and "Pixel 7" not in bundles[0].reason


def test_a_decoder_finding_explains_itself_without_the_value() -> None:
    record, _ = REQUESTS["facebook-app-events"]
    detections = {d.key: d for d in DecoderDetector().detect(record, CONTEXT)}
    advertiser = detections["advertiser_id"]
    assert advertiser.reason is not None and AAID not in advertiser.reason
    assert "advertising ID" in advertiser.reason and "`advertiser_id`" in advertiser.reason
    assert "Facebook App Events decoder" in advertiser.reason
    assert AAID not in advertiser.masked_value


def test_the_decoder_s_finding_replaces_the_generic_one_at_the_same_key() -> None:
    record, _ = REQUESTS["adjust-sdk"]
    detections = [d for detector in default_detectors() for d in detector.detect(record, CONTEXT)]
    at_gps_adid = [d for d in detections if d.key == "gps_adid"]
    assert [d.detector for d in at_gps_adid] == ["decoder:adjust-sdk"]


def test_generic_detectors_still_run_where_no_decoder_matches() -> None:
    record = _record("POST", "https://api.quizvendor.example/v1/progress", "email=ada.okafor%40school.example&score=3&",
                     "application/x-www-form-urlencoded")
    detections = [d for detector in default_detectors() for d in detector.detect(record, CONTEXT)]
    email = [d for d in detections if d.data_type == "email"]
    assert [(d.detector, d.key) for d in email] == [("pattern", "email")]
    assert email[0].reason == "Looks like an e-mail address (e-mail pattern rule), sent in the body field `email`."


def test_a_decoder_only_reads_its_own_endpoints() -> None:
    # The same key on another company's host, or on another path of the vendor, is left to the generic rules.
    assert not _decoded(_record("GET", "https://cdn.other.example/g/collect?cid=1115316375.1700084597"))
    assert not _decoded(_record("POST", "https://graph.facebook.com/v16.0/me/picture", f"advertiser_id={AAID}",
                                "application/x-www-form-urlencoded"))


def test_an_unfilled_macro_or_placeholder_is_not_an_id() -> None:
    for value in ("${TTD_PUID}", "%%UID%%", "0", "null", "[UID]"):
        record = _record("GET", "https://match.adsrvr.org/track/cmf/generic?ttd_pid=x&ttd_puid=" + quote(value))
        assert not _decoded(record), value


def test_the_shipped_decoders_are_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"decoders/*.toml"' in pyproject
    assert DECODER_DIR.parent.name == "trackers_db"


def test_the_decoder_documentation_lists_every_decoder() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "decoders.md").read_text(encoding="utf-8")
    assert [d.id for d in DECODERS if f"`{d.id}`" not in text] == []


def test_where_names_match_the_report_vocabulary() -> None:
    assert {p.part for d in DECODERS for p in d.properties} <= {Where.QUERY, Where.COOKIE, Where.HEADER, Where.BODY,
                                                                Where.PATH}


def test_a_value_whose_format_says_more_than_the_decoder_is_still_reported() -> None:
    # Apps use the pupil's e-mail address as Mixpanel's distinct ID: the decoder says "identifier", the value says
    # "e-mail address", and the reviewer must see both.
    data = base64.b64encode(json.dumps({"event": "open", "properties": {
        "distinct_id": "ada.okafor@school.example", "token": "t"}}).encode()).decode()
    record = _record("GET", "https://api-js.mixpanel.com/track/?data=" + data)
    found = {(d.data_type, d.key, d.detector)
             for detector in default_detectors() for d in detector.detect(record, CONTEXT)}
    assert ("other_identifier", "data.properties.distinct_id", "decoder:mixpanel-api") in found
    assert ("email", "data.properties.distinct_id", "pattern") in found


@pytest.mark.parametrize(
    ("decoder_id", "constant_keys"),
    [
        ("matomo-tracker", {"idsite", "_idvc"}),
        ("x-pixel", {"txn_id", "p_id"}),
        ("outbrain", {"marketerId"}),
        ("optimizely-events", {"account_id"}),
        ("intercom-messenger", {"app_id"}),
        ("heap-api", {"app_id"}),
    ],
)
def test_a_site_account_or_pixel_id_is_not_personal(decoder_id: str, constant_keys: set[str]) -> None:
    # The site's, account's or pixel's own ID is the same for every visitor: no detector reports it.
    record, _ = REQUESTS[decoder_id]
    detections = [d for detector in default_detectors() for d in detector.detect(record, CONTEXT)]
    assert not [(d.key, d.detector) for d in detections if d.key in constant_keys]


@pytest.mark.parametrize(("decoder_id", "where", "key"), [
    ("kochava-sdk", "body", "kochava_app_id"), ("singular-sdk", "query", "a"), ("tenjin-sdk", "body", "api_key"),
    ("appmetrica-sdk", "query", "api_key_128"), ("airship-sdk", "header", "x-ua-app-key"),
    ("vungle-sdk", "body", "app.id"), ("appcenter-ingestion", "header", "app-secret"),
    ("chartboost-mediation", "body", "app.key"),
])
def test_a_mobile_sdk_s_app_key_is_not_personal_data(decoder_id: str, where: str, key: str) -> None:
    # App keys, SDK keys and app IDs are the same on every device: they name the app, not the child.
    record, _ = REQUESTS[decoder_id]
    found = [(d.detector, d.data_type) for detector in default_detectors() for d in detector.detect(record, CONTEXT)
             if d.where.value == where and d.key == key]
    assert found == []
