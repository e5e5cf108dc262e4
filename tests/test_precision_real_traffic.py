"""Precision on real traffic: what looks random but identifies no one is not reported as an identifier.

Each class of wrong finding seen on the shared real captures has a test built from the real request (the place
it was reported: capture, host, request part, key) and a unit test of the shape, with made-up values.
"""

from __future__ import annotations

import functools

import pytest
from helpers import shared_capture

from auditor.analysis import Analysis, AnalysisConfig
from auditor.detect import DetectionContext
from auditor.detect.endpoints import DecoderDetector
from auditor.detect.identifiers import carries_no_id, shape_exclusion
from auditor.findings import Finding
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind


@functools.lru_cache(maxsize=8)
def findings_of(name: str) -> tuple[Finding, ...]:
    analysis = Analysis(AnalysisConfig(salt=b"precision"))
    analysis.add_input(shared_capture(name))
    analysis.finalize()
    return tuple(analysis.findings.findings())


def identifiers_at(name: str, host: str, where: str, key: str) -> list[Finding]:
    return [f for f in findings_of(name) if f.data_type == "other_identifier" and (f.host, f.where, f.key) ==
            (host, where, key)]


NOT_IDENTIFIERS = [
    # The uuid inside Walmart's x-csrf-jwt cookie: an anti-forgery token, new for each visit.
    ("pagexray_304.har", "dev.walmart.com", "cookie", "x-csrf-jwt.uuid"),
    # Walmart's AID cookie: a partner flag, an all-zero reflector ID and the last-update time; nothing per browser.
    ("pagexray_304.har", "dev.walmart.com", "cookie", "AID"),
    # Krux's ServedBy cookie names the server that answered (beacon-a114-pdx): load-balancer stickiness.
    ("perfcascade_www.bbc.com.har", "beacon.krxd.net", "cookie", "ServedBy"),
    # Citrix NetScaler NSC_ cookies pin a visit to a back-end server.
    ("pagexray_aftonbladet.se.har", "sifomedia.aftonbladet.se", "cookie", "NSC_pbt.fvd1ef_wtfswfs_iuuq"),
    # Legacy Google Analytics __utmz: site hash, time and campaign source, the same for every visitor of the site.
    ("pagexray_aftonbladet.se.har", "adv.aftonbladet.se", "cookie", "__utmz"),
    ("themarkup-nonprofit_plannedparenthood.org_requests.har", "www.google-analytics.com", "query", "_utmz"),
    # Adobe Experience Cloud organisation ID: the site's account, sent by every visitor.
    ("pagexray_case-sensitive-protocol.har", "dpm.demdex.net", "query", "d_orgid"),
    # Tealium's utv: the tag library's version and build time (ut4.42.2017…).
    ("pagexray_case-sensitive-protocol.har", "tags.tiqcdn.com", "query", "utv"),
    # A page-count cookie (INITIAL_anon_false_30004): words, a flag and a count.
    ("pagexray_case-sensitive-protocol.har", "www.verizonwireless.com", "cookie", "BestInClassPageCountCookie"),
    # GA4's _ga_<container> cookie: session number, times and counts, no ID (the ID is in _ga).
    ("reporthar_web_first-run.har", "9gag.com", "cookie", "_ga_YY84CFQCF5"),
    # An A/B test group shared by everyone put in it.
    ("reporthar_web_first-run.har", "eventer-player.bqstreamer.com", "body", "events[0].testGroup"),
    # Sentry's public DSN key: the app's project key, in every installation.
    ("themarkup-edtech_loginpage-www.abcmouse.com.har", "o968153.ingest.sentry.io", "query", "sentry_key"),
    # Snap Pixel IDs: the site's pixels, the same for every visitor.
    ("themarkup-nonprofit_plannedparenthood.org_requests.har", "tr.snapchat.com", "body", "pid"),
    # A web-font project ID: the site's font licence.
    ("themarkup-nonprofit_plannedparenthood.org_requests.har", "fast.fonts.net", "query", "projectId"),
    # A favicon path that a tag manager copied from the page's <meta> tags.
    ("themarkup-nonprofit_plannedparenthood.org_requests.har", "collect.tealiumiq.com", "body",
     "data.data.meta.msapplication-TileImage"),
    # An ad unit path (network/site/section): the ad slot, not the visitor.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "fastlane.rubiconproject.com", "query",
     "tg_i.dfp_ad_unit_code"),
    # PubMatic's DPSync2/SyncRTB2: the date of the last sync and counters.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "image2.pubmatic.com", "cookie", "DPSync2"),
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "image2.pubmatic.com", "cookie", "SyncRTB2"),
    # An IAB consent string in a sync redirect: the visitor's choices, not an ID.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "sync-tm.everesttech.net", "query", "redir"),
    # Taboola's ri: a new value for each page view (three in this one-browser visit), repeated within the page.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "trc.taboola.com", "query", "ri"),
    # A scale factor (0.47…): a measurement of the page, not a visitor.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "api.ceros.com", "query",
     "data.extended_common.scale"),
    # Taboola's cv: the script's release (2020…-RELEASE).
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "trc.taboola.com", "query", "cv"),
    # Google Publisher Tag's scor: a correlator, new for each page.
    ("themarkup-highcostfree_www.everydayhealth.com_requests.har", "securepubads.g.doubleclick.net", "query",
     "scor"),
    # Twitter's pl_id: the page load.
    ("themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har", "analytics.twitter.com", "query", "pl_id"),
    # Outbrain's marketerId and Meta's extractorID: the advertiser's and the pixel's setup.
    ("themarkup-nonprofit_www.savethechildren.org_requests.har", "tr.outbrain.com", "query", "marketerId"),
    ("themarkup-nonprofit_www.savethechildren.org_requests.har", "www.facebook.com", "query", "par[0].extractorID"),
    # A tag manager's script folder (host/site/number/code/): an address.
    ("themarkup-nonprofit_www.savethechildren.org_requests.har", "nexus.ensighten.com", "query", "staticJsPath"),
    # DoubleClick Floodlight's src=<advertiser>: the same number is the server's own name (10657097.fls…).
    ("themarkup-nonprofit_www.savethechildren.org_requests.har", "10657097.fls.doubleclick.net", "path", "path[0]"),
]


@pytest.mark.parametrize(("capture", "host", "where", "key"), NOT_IDENTIFIERS,
                         ids=[f"{h} {w} {k}" for _c, h, w, k in NOT_IDENTIFIERS])
def test_real_values_that_identify_no_one_are_not_reported(capture: str, host: str, where: str, key: str) -> None:
    assert identifiers_at(capture, host, where, key) == []


def test_real_identifiers_next_to_them_are_still_reported() -> None:
    # __utma carries GA's random visitor number: still an identifier where __utmz no longer is.
    assert identifiers_at("pagexray_aftonbladet.se.har", "adv.aftonbladet.se", "cookie", "__utma")
    # The Trade Desk's ID handed to Magnite in a user sync is an identifier and ID synchronisation.
    synced = identifiers_at("themarkup-nonprofit_plannedparenthood.org_requests.har", "pixel.rubiconproject.com",
                            "query", "put")
    assert {f.rule for f in synced} >= {"id-synchronisation"}


def test_severity_follows_the_evidence_on_real_traffic() -> None:
    name = "themarkup-nonprofit_plannedparenthood.org_requests.har"
    behaviour = [f for f in findings_of(name) if "identifier by behaviour" in (f.reason or "")]
    weak = [f for f in behaviour if "weak evidence only" in (f.reason or "")]
    strong = [f for f in behaviour if "decided by:" in (f.reason or "")]
    assert weak and strong and len(weak) + len(strong) == len(behaviour)
    # Weak signals alone (it repeats) never make a high finding.
    assert {f.severity.value for f in weak} <= {"medium", "info"}
    assert {f.rule for f in weak} <= {"weak-identifier-to-third-party", "weak-identifier-first-party"}
    # Snap's sc_at cookie: tr.snapchat.com set it and the browser sent it back, so it stays high.
    [snap] = [f for f in strong if (f.host, f.where, f.key) == ("tr.snapchat.com", "cookie", "sc_at")][:1]
    assert snap.severity.value == "high"
    assert "a server set it as a cookie and the client sent it back" in (snap.reason or "")


# -- the shapes, with made-up values ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "GS1.1.1700000000.3.1.1700000420.60.0.0",  # GA4 session cookie: session number, times, counts
    "1600000000:42",  # last sync date and a count
    "1600000000:3_9_27_81",
    "FIRST_anon_true_20001",  # words, a flag, a number
    "partner=0:refid=0000000000000000000000:lastupd=1600000000123",
    "edge-b042-fra",  # the server that answered
])
def test_compound_values_of_settings_counts_and_dates_carry_no_id(value: str) -> None:
    assert carries_no_id(value)
    assert shape_exclusion("c", value) is not None


@pytest.mark.parametrize("value", [
    "GA1.2.1234509876.1600000000",  # GA client ID: a random number and the first visit's time
    "fb.1.1600000000123.1987654321",  # Meta browser ID: creation time and a random number
    "P0-812345679-1600000000123",  # Quantcast: a random number and a time
    "7f3a9c1e5b2d4f60.1600000000.1.1600000300.1600000000.",  # Matomo visitor ID
    "20123-4a7b9c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",  # partner number and a UUID
])
def test_compound_values_with_a_random_part_may_be_ids(value: str) -> None:
    assert not carries_no_id(value)


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("redir", "gdpr_consent=CPx7Qm1Px7Qm1AAAAENCA_______9______9uz", "consent state"),
    ("us_privacy", "1YNN-abcdefghij", "consent state"),
    ("events[0].testGroup", "0a1b2c3d4e5f", "A/B test group"),
    ("tg_i.dfp_ad_unit_code", "1234/examplenews/health//article2019", "ad unit"),
    ("sentry_key", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "API key"),
    ("d_orgid", "0A1B2C3D4E5F60718293A4B5", "organisation ID"),
    ("utv", "ut4.46.202010011908", "version string"),
    ("__utmz", "12345678.1600000000.1.1.utmcsr", "session ID"),
    ("NSC_xyz_abc", "ffffffff09f7172e45525d5f4f58455e445a4a42221c", "load-balancer"),
    ("x-csrf-jwt.uuid", "1b2c3d4e-0000-4000-8000-a1b2c3d4e5f6", "anti-forgery"),  # a field of a CSRF token
])
def test_key_and_shape_say_what_a_value_is(key: str, value: str, kind: str) -> None:
    assert kind in (shape_exclusion(key, value) or "")


def test_a_value_that_names_the_server_is_an_account_constant() -> None:
    from auditor.detect.identifiers import BehaviourIdentifierDetector

    detector = BehaviourIdentifierDetector()
    context = DetectionContext(Masker(b"test"))
    for i, host in enumerate(("98765432.fls.doubleclick.example", "collect.replay.example")):
        for n in range(2):
            record = Record(RecordKind.HTTP, 1_767_261_600.0 + 10 * i + n, SourceKind.HAR, host=host,
                            content_visible=True, encrypted=True, method="GET",
                            url=f"https://{host}/activityi;src=98765432;type=page;ord={n}")
            detector.observe(record, host, "Google" if i == 0 else "Replay Co", context)
    assert list(detector.conclude(context)) == []


@pytest.mark.parametrize("placeholder", ["{OB_UID}", "{platform_uid}", "OPTOUT"])
def test_a_decoder_does_not_report_an_unfilled_placeholder_or_an_opt_out(placeholder: str) -> None:
    detector = DecoderDetector()
    context = DetectionContext(Masker(b"test"))
    url = f"https://pixel.rubiconproject.com/exchange/sync.php?p=partner&put={placeholder}"
    record = Record(RecordKind.HTTP, 1_767_261_600.0, SourceKind.HAR, host="pixel.rubiconproject.com",
                    content_visible=True, encrypted=True, method="GET", url=url)
    assert [d for d in detector.detect(record, context) if d.key == "put"] == []
    filled = Record(RecordKind.HTTP, 1_767_261_600.0, SourceKind.HAR, host="pixel.rubiconproject.com",
                    content_visible=True, encrypted=True, method="GET",
                    url=url.replace(placeholder, "4b7e2c9a-1d3f-4e5a-9b8c-7d6e5f4a3b2c"))
    assert [d.key for d in detector.detect(filled, context)] == ["put"]


def page_views(where_cookie: bool) -> list[Record]:
    """Three page views; each sends its own random value twice, in a query parameter or in a cookie."""
    records = []
    for view, value in enumerate(("Pv7Qk2Lm9Xz3Rt6u", "Wn4Hs8Jd1Fq6Yb2c", "Tc5Gv0Kp3Mx8Ze4a")):
        for n in range(2):
            query = "" if where_cookie else f"?pv={value}"
            records.append(Record(RecordKind.HTTP, 1_767_261_600.0 + 60 * view + n, SourceKind.HAR,
                                  host="widget.example", content_visible=True, encrypted=True, method="GET",
                                  url=f"https://widget.example/e{query}",
                                  cookies=(("vis", value),) if where_cookie else ()))
    return records


@pytest.mark.parametrize(("where_cookie", "reported"), [(False, 0), (True, 3)])
def test_a_key_whose_value_is_replaced_page_after_page_carries_page_view_ids(where_cookie: bool,
                                                                             reported: int) -> None:
    from auditor.detect.identifiers import BehaviourIdentifierDetector

    detector = BehaviourIdentifierDetector()
    context = DetectionContext(Masker(b"test"))
    for record in page_views(where_cookie):
        detector.observe(record, record.host, None, context)
    # A query parameter replaced at each page view is a page-view ID; a cookie replaced like that is still
    # reported (a crawler that clears cookies between pages replaces real visitor IDs too), as weak evidence.
    found = list(detector.conclude(context))
    assert len(found) == reported
    assert all(c.detection.confidence < 0.8 for c in found)
    if not where_cookie:
        assert "per-page-view value" in {e.kind.split(" (")[0] for e in detector.exclusions(context)}

