"""Findings on real traffic written by others (../shared/captures), derived by reading the requests.

Each expectation names the capture, the host, where the value sat and the
data type, with a line saying why the value is personal data. The values
themselves are never written here: the tests compare places and kinds, the
way a reviewer reads the report. The captures are described in
../shared/captures/CATALOG.md (S3, S5-S7, S11-S15, S20-S23 and the rest).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from auditor.detect import DetectionContext, default_detectors
from auditor.privacy import Masker
from auditor.sources import ReadOptions, describe_input, read_input

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared captures not present at {SHARED}")

Found = tuple[str, str, str, str, str]
"""(host, where, key, data type, detector) of one detection."""


@functools.cache
def detections(name: str) -> frozenset[Found]:
    """Every detection the shipped detectors make on one shared capture."""
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared captures")
    context = DetectionContext(Masker(b"real-traffic-tests"))
    detectors = default_detectors()
    found: set[Found] = set()
    for record in read_input(path, ReadOptions(), describe_input(path)):
        for detector in detectors:
            for d in detector.detect(record, context):
                found.add((record.host or "", d.where.value, d.key or "", d.data_type, d.detector))
    return frozenset(found)


ABCMOUSE = "themarkup-edtech_loginpage-www.abcmouse.com.har"
XTRAMATH = "themarkup-edtech_pageview_xtramath.org.har"
NEVADA = "themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har"
IDAHO = "themarkup-healthexchange_idaho-yourhealthidaho.org_requests.har"
EXPRESSEN = "pagexray_expressen.har"
FERGUSON = "pagexray_ferguson.har"
ENORM = "perfcascade_chrome_enorm-magazin.de.har"
NINEGAG = "reporthar_web_first-run.har"
PLANNED = "themarkup-nonprofit_plannedparenthood.org_requests.har"
AFTONBLADET = "pagexray_aftonbladet.se.har"
SAVE_THE_CHILDREN = "themarkup-nonprofit_www.savethechildren.org_requests.har"
EVERYDAY_HEALTH = "themarkup-highcostfree_www.everydayhealth.com_requests.har"

EXPECTED: list[tuple[str, str, str, str, str, str]] = [
    # (capture, host, where, key, data type, detector)
    # The GA4 client ID from the _ga cookie recognises the pupil's browser on every visit to a children's site.
    (ABCMOUSE, "analytics.google.com", "query", "cid", "other_identifier", "decoder:google-analytics-4"),
    # TikTok's _ttp browser ID, sent from a children's learning site's login page.
    (ABCMOUSE, "analytics.tiktok.com", "body", "context.user.anonymous_id", "other_identifier",
     "decoder:tiktok-pixel"),
    # Microsoft's UET visitor ID (_uetvid) ties the visit to Microsoft advertising.
    (ABCMOUSE, "bat.bing.com", "query", "vid", "other_identifier", "decoder:bing-uet"),
    # Microsoft's MUID cookie: one ID for the browser across Microsoft's ad network.
    (ABCMOUSE, "bat.bing.com", "cookie", "MUID", "other_identifier", "decoder:bing-uet"),
    # Meta's _fbp browser ID in the pixel hit.
    (ABCMOUSE, "www.facebook.com", "query", "fbp", "other_identifier", "decoder:facebook-pixel"),
    # The _ttp cookie stored on the first-party site is the same TikTok browser ID.
    (ABCMOUSE, "www.abcmouse.com", "cookie", "_ttp", "other_identifier", "decoder:tiktok-cookies"),
    # Google's DoubleClick IDE cookie identifies the browser to Google's ad network on a maths-practice site.
    (XTRAMATH, "googleads.g.doubleclick.net", "cookie", "IDE", "other_identifier", "decoder:google-doubleclick"),
    # The conversion-linker ID (_gcl_au) ties the browser to the Google ads it saw.
    (XTRAMATH, "googleads.g.doubleclick.net", "query", "auid", "other_identifier", "decoder:google-doubleclick"),
    # Universal Analytics' _gid browser ID.
    (XTRAMATH, "www.google-analytics.com", "query", "_gid", "other_identifier", "decoder:google-analytics-universal"),
    # LinkedIn's bcookie browser ID sent with the Insight Tag page visit.
    (XTRAMATH, "px.ads.linkedin.com", "cookie", "bcookie", "other_identifier", "decoder:linkedin-insight"),
    # LinkedIn's record of the browser's IDs at partner ad companies.
    (XTRAMATH, "px.ads.linkedin.com", "cookie", "UserMatchHistory", "other_identifier", "decoder:linkedin-insight"),
    # A hashed e-mail address in the Pinterest tag's enhanced-match data.
    (NEVADA, "ct.pinterest.com", "query", "pd.em", "email", "decoder:pinterest-tag"),
    # The Snap Pixel's _scid browser ID inside the event batch.
    (NEVADA, "tr.snapchat.com", "body", "ctx.c1", "other_identifier", "decoder:snap-pixel"),
    # A hashed e-mail address sent to Snap for matching.
    (NEVADA, "tr.snapchat.com", "body", "req[0].t.u_hem", "email", "decoder:snap-pixel"),
    # The site's own visitor ID, hashed and handed to Meta for cross-device matching.
    (NEVADA, "www.facebook.com", "query", "ud[external_id]", "other_identifier", "decoder:facebook-pixel"),
    # The Trade Desk's browser ID handed to Google in a cookie-matching redirect (ID synchronisation).
    (NEVADA, "cm.g.doubleclick.net", "query", "google_hm", "other_identifier", "decoder:google-doubleclick"),
    # The same Trade Desk ID handed to Index Exchange as an external user ID.
    (NEVADA, "dsum-sec.casalemedia.com", "query", "external_user_id", "other_identifier",
     "decoder:indexexchange-user-matching"),
    # A partner's ID for the browser handed to OpenX in a user sync.
    (NEVADA, "us-u.openx.net", "query", "val", "other_identifier", "decoder:openx-user-sync"),
    # A partner's ID for the browser handed to PubMatic in a user sync.
    (NEVADA, "image2.pubmatic.com", "query", "piggybackCookie", "other_identifier", "decoder:pubmatic-user-sync"),
    # A partner's ID for the browser handed to Magnite (Rubicon) in a user sync.
    (NEVADA, "pixel.rubiconproject.com", "query", "put", "other_identifier", "decoder:rubicon-user-sync"),
    # The Trade Desk's own ID for the browser, passed to Xandr.
    (NEVADA, "ib.adnxs.com", "query", "ttd_tdid", "other_identifier", "decoder:thetradedesk-partner-ids"),
    # Hotjar's user ID joins the recorded visits of this browser.
    (PLANNED, "in.hotjar.com", "body", "user_id", "other_identifier", "decoder:hotjar"),
    # Universal Analytics client ID on a health-exchange site.
    (IDAHO, "www.google-analytics.com", "query", "cid", "other_identifier", "decoder:google-analytics-universal"),
    # PubMatic's KADUSERCOOKIE user ID identifies the browser in every auction PubMatic runs.
    (EXPRESSEN, "simage2.pubmatic.com", "cookie", "KADUSERCOOKIE", "other_identifier",
     "decoder:pubmatic-user-sync"),
    # DoubleClick's IDE cookie sent to Google's audience pixel.
    (EXPRESSEN, "pubads.g.doubleclick.net", "cookie", "IDE", "other_identifier", "decoder:google-doubleclick"),
    # The Universal Analytics client ID (cid) in a collect hit.
    (EXPRESSEN, "www.google-analytics.com", "query", "cid", "other_identifier", "decoder:google-analytics-universal"),
    # Magnite's ruid cookie: its legacy ID for the browser.
    (EXPRESSEN, "optimized-by.rubiconproject.com", "cookie", "ruid", "other_identifier",
     "decoder:rubicon-user-sync"),
    # The GA4 client ID sent to Google Analytics 4 from a retailer's site.
    (FERGUSON, "analytics.google.com", "query", "cid", "other_identifier", "decoder:google-analytics-4"),
    # The _ga cookie carried to the retailer's own servers holds the same client ID.
    (FERGUSON, "www.ferguson.com", "cookie", "_ga", "other_identifier", "decoder:google-analytics-cookies"),
    # ID5's cookie ID, the basis of a shared advertising ID, on 9gag.com.
    (NINEGAG, "id5-sync.com", "cookie", "id5", "other_identifier", "decoder:id5-sync"),
    # Snap's _scid cookie on the site's own host.
    (PLANNED, "www.plannedparenthood.org", "cookie", "_scid", "other_identifier", "decoder:snap-cookies"),
    # Mixpanel's distinct ID, decoded from the base64 JSON `data` parameter.
    (AFTONBLADET, "api.mixpanel.com", "query", "data.properties.distinct_id", "other_identifier",
     "decoder:mixpanel-api"),
    # A Google Analytics _ga cookie on a small German site.
    (ENORM, "enorm-magazin.de", "cookie", "_ga", "other_identifier", "decoder:google-analytics-cookies"),
    # INFOnline's counting pixel carries the visitor's country and region (`lo`) and its `i00` browser ID.
    (ENORM, "de.ioam.de", "query", "lo", "coarse_location", "decoder:infonline-szm"),
    (ENORM, "de.ioam.de", "cookie", "i00", "other_identifier", "decoder:infonline-szm"),
    # Yahoo's ad platform receives a partner's ID for the browser (the ID-sync chain of S22).
    (NEVADA, "ups.analytics.yahoo.com", "query", "uid", "other_identifier", "decoder:yahoo-ads"),
    # Bidswitch receives the same kind of partner ID in its sync.
    (NEVADA, "x.bidswitch.net", "query", "user_id", "other_identifier", "decoder:bidswitch"),
    # LiveRamp receives a partner's ID to link the browser into its identity graph.
    (NEVADA, "idsync.rlcdn.com", "query", "partner_uid", "other_identifier", "decoder:liveramp"),
    # Adobe Audience Manager receives a partner's ID inside the path (`/ibs:dpid=...&dpuuid=...`).
    (NEVADA, "dpm.demdex.net", "path", "dpuuid", "other_identifier", "decoder:adobe-audience-manager"),
    # Neustar is handed the visitor's IP address with a pixel hit on a children's charity site.
    (SAVE_THE_CHILDREN, "d.agkn.com", "query", "ip", "ip_address", "decoder:neustar"),
    # The Experience Cloud ID in an Adobe Analytics beacon on the charity's own metrics host.
    (SAVE_THE_CHILDREN, "smetrics.savethechildren.org", "query", "mid", "other_identifier", "decoder:adobe-analytics"),
    # Xandr's uuid2 cookie identifies the browser in every auction Xandr runs.
    (EVERYDAY_HEALTH, "ib.adnxs.com", "cookie", "uuid2", "other_identifier", "decoder:xandr-exchange"),
    # Tapad's cookie ID, which it links to the person's other devices.
    (EXPRESSEN, "pixel.tapad.com", "cookie", "TapAd_DID", "other_identifier", "decoder:tapad"),
    # comScore's UID cookie on a news site (S14).
    ("perfcascade_www.bbc.com.har", "b.scorecardresearch.com", "cookie", "UID", "other_identifier",
     "decoder:comscore"),
    # Matomo's visitor ID (`_id`, 16 hex digits from the `_pk_id` cookie) recognises the browser on every visit (9gag).
    (NINEGAG, "mt.9gag.com", "query", "_id", "other_identifier", "decoder:matomo-tracker"),
    # ...and the `_pk_id` cookie that keeps it travels with every request to the site itself.
    (NINEGAG, "9gag.com", "cookie", "_pk_id.7.f7ab", "other_identifier", "decoder:matomo-cookies"),
    # Optimizely's random visitor ID cookie keeps the browser recognisable in the site's experiments (S14).
    ("perfcascade_www.bbc.com.har", "sa.bbc.com", "cookie", "optimizelyEndUserId", "other_identifier",
     "decoder:optimizely-cookies"),
    # Quickplay's video player sends the subscriber's 11-digit user ID in the playlist URL (S6).
    ("ndpi_quickplay.pcap", "play-singtelhawk.quickplay.com", "query", "userid", "other_identifier", "pattern"),
    # Xiaomi's account API receives the account's user ID, base64 text, in the URL (S6).
    ("ndpi_quickplay.pcap", "api.account.xiaomi.com", "query", "userId", "other_identifier", "pattern"),
    # ...and the account's login session token in a cookie, in clear text over HTTP.
    ("ndpi_quickplay.pcap", "api.account.xiaomi.com", "cookie", "serviceToken", "credentials", "pattern"),
]


@pytest.mark.parametrize(("capture", "host", "where", "key", "data_type", "detector"), EXPECTED)
def test_expected_finding_on_real_traffic(capture: str, host: str, where: str, key: str, data_type: str,
                                          detector: str) -> None:
    found = detections(capture)
    assert (host, where, key, data_type, detector) in found, sorted(f for f in found if f[0] == host)


def test_session_ids_that_change_per_visit_are_not_reported_as_identifiers() -> None:
    # GA4's `sid` is the session's start time and Bing's `mid` a per-hit message ID: neither recognises the browser.
    found = detections(ABCMOUSE)
    assert not [f for f in found if f[0] == "analytics.google.com" and f[2] == "sid"]
    assert not [f for f in found if f[0] == "bat.bing.com" and f[2] in ("sid", "mid")]


@pytest.mark.parametrize(
    "capture",
    ["ndpi_KakaoTalk_chat.pcap", "ndpi_http_ua_splitted_in_two_pkts.pcapng", "pcapdroid_metadata.pcap",
     "ndpi_iphone.pcap"],
)
def test_captures_without_personal_data_in_clear_give_no_personal_data_finding(capture: str) -> None:
    # KakaoTalk's and the iPhone's plain HTTP is connectivity checks; StartApp's beacons carry only an obfuscated
    # blob and a server session cookie; PCAPdroid's requests are test pages. Versions in user agents are not addresses.
    found = detections(capture)
    assert not [f for f in found if f[3] in ("ip_address", "email", "phone", "name", "precise_location")], found
