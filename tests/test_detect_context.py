"""Context decides: false-positive classes found on real traffic, each with a regression test from the real request.

The real requests come from ../shared/captures (skipped when absent); each
class also has a small built example, and a positive control shows the rule
still reports the real thing next to it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from auditor.detect import Detection, DetectionContext, default_detectors
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind
from auditor.sources import ReadOptions, describe_input, read_input

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
CONTEXT = DetectionContext(Masker(b"context-tests"))


def _detect(record: Record) -> list[Detection]:
    return [d for detector in default_detectors() for d in detector.detect(record, CONTEXT)]


@functools.cache
def _records(name: str) -> tuple[Record, ...]:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared capture {name} not present at {SHARED}")
    return tuple(read_input(path, ReadOptions(), describe_input(path)))


def _real(name: str, host: str) -> list[Detection]:
    """Detections on every request of a shared capture to ``host`` (at least one must exist)."""
    records = [r for r in _records(name) if r.host == host]
    assert records, f"{host} not in {name}"
    return [d for record in records for d in _detect(record)]


def _record(url: str, headers: tuple[tuple[str, str], ...] = (), cookies: tuple[tuple[str, str], ...] = (),
            body: bytes = b"", content_type: str | None = None) -> Record:
    return Record(RecordKind.HTTP, 0.0, SourceKind.HAR, host=url.split("/")[2], url=url,
                  method="POST" if body else "GET", content_visible=True, request_headers=headers, cookies=cookies,
                  request_body=body, request_content_type=content_type)


# -- versions are not addresses ---------------------------------------------------------------------------------


def test_x_requested_with_shockwave_flash_version_is_not_an_ip_address_on_real_bbc_traffic() -> None:
    # S14: Flash asked for crossdomain.xml with `X-Requested-With: ShockwaveFlash/20.0.0.228`.
    for host in ("emp.bbci.co.uk", "static.bbci.co.uk", "ichef.bbci.co.uk"):
        assert not [d for d in _real("perfcascade_www.bbc.com.har", host) if d.data_type == "ip_address"]


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Requested-With", "ShockwaveFlash/18.0.0.232"), ("Accept", "application/vnd.app.v1.2.3.4+json"),
     ("Sec-CH-UA-Full-Version-List", '"Chromium";v="119.0.6045.199", "Not?A_Brand";v="24.0.0.0"'),
     ("X-Client", "EduApp/3.1.0.12 (Android 13)")],
)
def test_version_headers_carry_no_address(header: str, value: str) -> None:
    detections = _detect(_record("https://api.quizvendor.example/v1/x", headers=((header, value),)))
    assert not [d for d in detections if d.data_type == "ip_address"]


def test_an_address_header_still_reports_the_address() -> None:
    headers = (("X-Forwarded-For", "203.0.113.77"),)
    detections = _detect(_record("https://api.quizvendor.example/v1/x", headers=headers))
    assert [(d.data_type, d.key) for d in detections] == [("ip_address", "x-forwarded-for")]


def test_user_agent_and_client_hint_fields_in_bodies_and_queries_are_not_addresses_on_real_traffic() -> None:
    # S20: TikTok's pixel body `context.userAgent` and Sentry's `attrs.user_agent` hold "Chrome/119.0.0.0";
    # S21: Google's `uafvl` client-hint list holds "Not?A_Brand;24.0.0.0".
    for host in ("analytics.tiktok.com", "o968153.ingest.sentry.io", "analytics.google.com"):
        found = [d for d in _real("themarkup-edtech_loginpage-www.abcmouse.com.har", host)
                 if d.data_type == "ip_address"]
        assert not found, host
    for host in ("analytics.google.com", "googleads.g.doubleclick.net", "td.doubleclick.net"):
        found = [d for d in _real("themarkup-edtech_pageview_xtramath.org.har", host) if d.data_type == "ip_address"]
        assert not found, host


def test_a_server_s_host_and_port_in_a_timing_beacon_is_not_the_user_s_address_on_real_traffic() -> None:
    # S22: New Relic's browser agent reports the AJAX calls the page made, e.g. `'35.85.84.151:443`.
    assert not [d for d in _real(
        "themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har", "bam.nr-data.net"
    ) if d.data_type == "ip_address"]


def test_a_client_address_sent_to_an_ad_server_is_still_reported() -> None:
    # Positive control from S30: everydayhealth's gumgum sync passes `$ip$100.24.122.28`, the crawler's address.
    detections = _real("themarkup-highcostfree_www.everydayhealth.com_requests.har", "rtb.gumgum.com")
    assert [d.key for d in detections if d.data_type == "ip_address"] == ["i"]


# -- file names and tokens are not e-mail addresses ------------------------------------------------------------


def test_versioned_script_file_names_are_not_e_mail_addresses_on_real_traffic() -> None:
    # S15: require.js paths such as `jquery@2.2.4.js` and `Modernizr@2.8.3.js`.
    found = _real("perfcascade_chrome_enorm-magazin.de.har", "enorm-magazin.de")
    assert not [d for d in found if d.data_type == "email"]


def test_image_file_names_are_not_e_mail_addresses_on_real_traffic() -> None:
    # S12: expressen's image CDN names files like `200@70.jpg`.
    for host in ("x.cdn-expressen.se", "z.cdn-expressen.se"):
        assert not [d for d in _real("pagexray_expressen.har", host) if d.data_type == "email"]


@pytest.mark.parametrize(
    "cookie",
    ["_dy_toffset=0; _dyid_server=x", "st%3Deffcl@0.totcl@0.lsn@1.clsn@1", "lib/retina/logo@2x.png",
     "npm/lodash@4.17.21/lodash.min.js"],
)
def test_tokens_and_file_names_with_an_at_sign_are_not_e_mail_addresses(cookie: str) -> None:
    # The DynamicYield cookie format (`…effcl@0.totcl@0…`) reported in issue 10, and other `x@y.ext` names.
    detections = _detect(_record("https://www.school-site.example/", cookies=(("_dy_ses_load_seq", cookie),)))
    assert not [d for d in detections if d.data_type == "email"]


def test_a_real_address_next_to_them_is_still_reported() -> None:
    cookies = (("contact", "ada.okafor@school.example"),)
    detections = _detect(_record("https://www.school-site.example/", cookies=cookies))
    assert [d.data_type for d in detections] == ["email"]
    assert detections[0].reason == "Looks like an e-mail address (e-mail pattern rule), sent in the cookie `contact`."


# -- page metadata is the publisher's, not the visitor's --------------------------------------------------------


def test_the_page_s_schema_org_author_and_telephone_copied_by_a_pixel_are_not_the_visitor_s() -> None:
    # S30/S32: the Meta Pixel copies the page's JSON-LD (`cd[JSON-LD][0].@graph[0].Author.Name`, `...telephone`).
    for capture in ("themarkup-highcostfree_www.everydayhealth.com_requests.har",
                    "themarkup-nonprofit_www.savethechildren.org_requests.har"):
        found = [d for d in _real(capture, "www.facebook.com") if d.data_type in ("name", "phone", "email")]
        assert not found, capture


def test_a_form_with_stray_separators_is_still_read_as_a_form() -> None:
    # Facebook App Events ends its body with '&'; a doubled '&&' appears in hand-built bodies.
    body = b"&event=MOBILE_APP_INSTALL&&advertiser_id=38400000-8cf0-11bd-b23e-10b96e40000d&"
    record = _record("https://graph.facebook.com/v16.0/123/activities", body=body,
                     content_type="application/x-www-form-urlencoded")
    assert ("advertiser_id", "advertising_id") in {(d.key, d.data_type) for d in _detect(record)}


def test_jwt_claims_are_read_and_the_token_stays_a_credential() -> None:
    import base64
    import json

    claims = base64.urlsafe_b64encode(json.dumps({"sub": "p-1", "email": "ada.okafor@school.example"}).encode())
    token = "eyJhbGciOiJIUzI1NiJ9." + claims.decode().rstrip("=") + ".c2lnbmF0dXJl"
    headers = (("Authorization", "Bearer " + token),)
    detections = _detect(_record("https://api.quizvendor.example/v1/me", headers=headers))
    assert {(d.data_type, d.key, d.encoding) for d in detections} == {
        ("credentials", "authorization", "plain"), ("email", "authorization.email", "jwt>json:email")}


def test_reading_dwell_time_is_not_keystroke_biometrics_on_real_traffic() -> None:
    # S30: Ceros' interactive-content analytics sends `events[1].dwell_time`, seconds spent on a page element.
    found = _real("themarkup-highcostfree_www.everydayhealth.com_requests.har", "api.ceros.com")
    assert not [d for d in found if d.data_type == "biometric_other"]


def test_keystroke_dwell_times_are_still_keystroke_dynamics() -> None:
    body = b'{"keystrokes": [{"keyDwell": 91, "keyFlight": 140}]}'
    record = _record("https://api.proctor.example/v1/telemetry", body=body, content_type="application/json")
    assert "biometric_other" in {d.data_type for d in _detect(record)}


def test_a_site_s_short_account_number_with_a_vendor_is_not_a_user_id_on_real_traffic() -> None:
    # S22: the UserWay accessibility widget is configured with the site's account number (`services.userId`).
    found = _real("themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har", "cdn.userway.org")
    assert not [d for d in found if d.data_type == "other_identifier"]


def test_an_account_user_id_in_a_url_is_reported_with_its_rule() -> None:
    detections = _detect(_record("https://play.video.example/playlist.m3u8?appId=5006&userid=4417730921"))
    reason = "Looks like an identifier (key-name rule), sent in the query parameter `userid`."
    assert [(d.data_type, d.key, d.reason) for d in detections] == [("other_identifier", "userid", reason)]


def test_an_analytics_visitor_token_is_not_a_login_token_on_real_traffic() -> None:
    # S30: Ceros' analytics sends `common.user_token`, an anonymous visitor token, not a password or login.
    found = _real("themarkup-highcostfree_www.everydayhealth.com_requests.har", "api.ceros.com")
    assert not [d for d in found if d.data_type == "credentials"]
