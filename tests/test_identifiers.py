"""Identifiers found by behaviour across requests, ID synchronisation, and what is set aside as not an ID."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from helpers import shared_capture

from auditor.analysis import Analysis, AnalysisConfig
from auditor.detect import Conclusion, DetectionContext
from auditor.detect.identifiers import SYNC_DETECTOR, BehaviourIdentifierDetector
from auditor.privacy import Masker
from auditor.records import Record, RecordKind, SourceKind
from auditor.report.model import build_report

START = 1_767_261_600.0
BROWSER_ID = "b7f3c2a1-94d6-4e2b-8c1f-3a5d7e9b0c42"


def request(
    url: str,
    at: float = 0.0,
    cookies: Iterable[tuple[str, str]] = (),
    set_cookies: Iterable[tuple[str, str]] = (),
    headers: Iterable[tuple[str, str]] = (),
    content_type: str | None = None,
) -> Record:
    return Record(
        RecordKind.HTTP, START + at, SourceKind.HAR, host=url.split("/")[2], content_visible=True, encrypted=True,
        method="GET", url=url, cookies=tuple(cookies), set_cookies=tuple(set_cookies),
        request_headers=tuple(headers), response_content_type=content_type,
    )


def run(records: Iterable[tuple[Record, str | None]], detector: BehaviourIdentifierDetector | None = None,
        ) -> tuple[BehaviourIdentifierDetector, DetectionContext, list[Conclusion]]:
    detector = detector or BehaviourIdentifierDetector()
    context = DetectionContext(Masker(b"test"))
    for record, company in records:
        detector.observe(record, record.destination, company, context)
    return detector, context, list(detector.conclude(context))


def kinds(detector: BehaviourIdentifierDetector, context: DetectionContext) -> dict[str, str]:
    """Key -> the kind each excluded value was set aside as."""
    return {e.key: e.kind for e in detector.exclusions(context)}


# -- each signal ------------------------------------------------------------------------------------------------


def test_a_value_that_stays_for_minutes_is_an_identifier_whatever_its_key() -> None:
    records = [(request(f"https://t.example/p?zq={BROWSER_ID}&n={i}", at=60.0 * i), None) for i in range(4)]
    _, _, found = run(records)
    assert [(c.destination, c.detection.key, c.count) for c in found] == [("t.example", "zq", 4)]
    detection = found[0].detection
    assert detection.data_type == "other_identifier" and detection.detector == "behaviour"
    assert detection.reason == (
        "This 36-character value was sent in 4 requests over 3 minutes to 1 company: it behaves like an ID of this "
        "browser or device (rule: identifier by behaviour; weak evidence only: it repeats, but no server was seen "
        "setting it and no second company received it)."
    )
    assert BROWSER_ID not in json.dumps([c.detection.masked_value for c in found])  # never raw


def test_a_cookie_the_server_set_and_the_client_sent_back_is_an_identifier() -> None:
    value = "AHWqTUkq2mN0pL3xR8s"
    records = [
        (request("https://ads.example/pixel", set_cookies=[("uid", value)]), None),
        (request("https://ads.example/sync", at=5.0, cookies=[("uid", value)]), None),
    ]
    _, _, found = run(records)
    assert [(c.detection.where.value, c.detection.key) for c in found] == [("cookie", "uid")]
    assert "the server ads.example set it as a cookie that the client sent back" in str(found[0].detection.reason)


def test_a_cookie_set_in_a_plain_http_response_is_seen_in_a_packet_capture(tmp_path: Path) -> None:
    from pcap_builders import tcp_session, write_pcap

    from auditor.sources import ReadOptions
    from auditor.sources.pcap import read

    value = "AHWqTUkq2mN0pL3xR8s"
    packets = tcp_session(
        "192.0.2.80", 80, [b"GET /pixel HTTP/1.1\r\nHost: ads.example\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nSet-Cookie: uid=" + value.encode() + b"; Path=/; Max-Age=31536000\r\n"
         b"Content-Length: 0\r\n\r\n"],
    ) + tcp_session(
        "192.0.2.80", 80, [b"GET /sync HTTP/1.1\r\nHost: ads.example\r\nCookie: uid=" + value.encode() + b"\r\n\r\n"],
        [b"HTTP/1.1 204 No Content\r\n\r\n"], client_port=50001,
    )
    records = list(read(write_pcap(tmp_path / "set-cookie.pcap", packets), ReadOptions(), []))
    assert [r.set_cookies for r in records] == [(("uid", value),), ()]
    _, _, found = run([(r, None) for r in records])
    assert "set it as a cookie that the client sent back" in str(found[0].detection.reason)


def test_the_same_id_at_two_companies_is_id_synchronisation_with_both_named() -> None:
    records = [
        (request(f"https://cm.g.doubleclick.net/pixel?google_hm={BROWSER_ID}"), "Google"),
        (request(f"https://dsum-sec.casalemedia.com/rum?external_user_id={BROWSER_ID}", at=2.0), "Index Exchange"),
    ]
    _, _, found = run(records)
    sync = [c for c in found if c.detection.detector == SYNC_DETECTOR]
    assert sorted(c.destination for c in sync) == ["cm.g.doubleclick.net", "dsum-sec.casalemedia.com"]
    assert str(sync[0].detection.reason).startswith("The same 36-character ID reached Google and Index Exchange")


def test_a_value_seen_in_one_request_only_is_not_concluded() -> None:
    _, _, found = run([(request(f"https://t.example/p?q={BROWSER_ID}"), None)])
    assert found == []


# -- each exclusion ---------------------------------------------------------------------------------------------


def test_a_cache_buster_is_set_aside_as_such() -> None:
    records = [(request(f"https://t.example/p.gif?cb=98{i}41{i}7735{i}&id={BROWSER_ID}", at=i), None)
               for i in range(3)]
    detector, context, found = run(records)
    assert kinds(detector, context)["cb"] == "cache buster"
    assert {c.detection.key for c in found} == {"id"}


def test_a_timestamp_is_set_aside_even_when_repeated() -> None:
    records = [(request("https://t.example/p?first=1767261600123", at=i), None) for i in range(3)]
    detector, context, found = run(records)
    assert found == [] and kinds(detector, context)["first"] == "timestamp"


def test_a_value_that_changes_on_every_request_is_a_nonce() -> None:
    nonces = ["x8Kd02mQp1zL", "Qv7t3Lw90aBc", "m2Zr8Yx41nTe"]
    records = [(request(f"https://t.example/p?q={nonce}", at=i), None) for i, nonce in enumerate(nonces)]
    detector, context, found = run(records)
    assert found == []
    assert kinds(detector, context)["q"] == "changes on every request (a nonce or request ID)"


def test_a_version_string_is_set_aside() -> None:
    records = [(request("https://t.example/p?lib=2.31.4-beta7&agent=AppleWebKit/537.36", at=i), None) for i in range(3)]
    detector, context, found = run(records)
    assert found == []
    assert kinds(detector, context) == {"lib": "version string", "agent": "version string"}


def test_app_constants_are_set_aside_and_named() -> None:
    records = [
        (request("https://www.google-analytics.com/collect?tid=UA-12345678-1&api_key=f00dfeed1234abcd9876", at=i),
         "Google")
        for i in range(3)
    ]
    detector, context, found = run(records)
    assert found == []
    assert kinds(detector, context) == {
        "tid": "app constant (a Google Analytics property ID)", "api_key": "app constant (an API key)",
    }


def test_a_session_id_and_a_page_address_token_are_not_browser_ids() -> None:
    article = "article-20251231-8f3k2m"
    records = [
        (request(f"https://t.example/p?sessionid=Zx81kq02LmA9&c={article}", at=i,
                 headers=[("Referer", f"https://news.example/{article}")]), None)
        for i in range(3)
    ]
    detector, context, found = run(records)
    assert found == []
    assert kinds(detector, context) == {
        "sessionid": "session ID, anti-forgery or load-balancer token (lasts one visit)",
        "c": "page or content ID (it is in the page address)",
    }


def test_nonces_seen_once_make_room_for_new_values_when_the_table_is_full() -> None:
    detector = BehaviourIdentifierDetector(max_values=2)
    nonces = [f"https://t.example/p?n=x8Kd02mQp{i}zL" for i in range(5)]
    records = [(request(url, at=float(i)), None) for i, url in enumerate(nonces)]
    records += [(request(f"https://t.example/p?u={BROWSER_ID}", at=10.0 + i), None) for i in range(2)]
    _, _, found = run(records, detector)
    assert [c.detection.key for c in found] == ["u"] and detector.cap_note is None
    assert len(detector._values) == 2  # the table stayed at its bound


def test_the_cap_bounds_memory_and_says_so_in_the_report() -> None:
    detector = BehaviourIdentifierDetector(max_values=2)
    ids = ["a1b2c3d4e5f6g7h8", "a1b2c3d4e5f6g7h8", "h8g7f6e5d4c3b2a1", "h8g7f6e5d4c3b2a1", "q9w8e7r6t5y4u3i2"]
    records = [request(f"https://t.example/p?u={value}", at=float(i)) for i, value in enumerate(ids)]
    analysis = Analysis(AnalysisConfig(), cross_request_detectors=[detector])
    for record in records:
        analysis.add(record)
    assert len(detector._values) == 2
    report = build_report(analysis)
    assert report["coverage"]["cross_request_caps"] == [
        "identifiers by behaviour: only the first 2 distinct values were followed across requests; later new "
        "values were not"
    ]


def test_one_finding_when_the_key_name_rules_already_report_the_value() -> None:
    records = [request(f"https://api.example.org/e?advertising_id={BROWSER_ID}", at=60.0 * i) for i in range(3)]
    analysis = Analysis(AnalysisConfig(app_domains=("school.example",)))
    for record in records:
        analysis.add(record)
    report = build_report(analysis)
    at_key = [f for f in report["findings"] if f["key"] == "advertising_id"]
    assert len(at_key) == 1 and at_key[0]["data_type"] == "advertising_id"


# -- real captures ----------------------------------------------------------------------------------------------


def behaviour_places(har: Path) -> tuple[Analysis, set[tuple[str, str, str]]]:
    analysis = Analysis(AnalysisConfig())
    analysis.add_input(har)
    places = {(c.destination, c.detection.where.value, c.detection.key or "") for c in analysis.conclusions()
              if c.detection.detector == "behaviour"}
    return analysis, places


def test_real_edtech_capture_identifiers_found_by_behaviour() -> None:
    _, places = behaviour_places(shared_capture("themarkup-edtech_pageview_xtramath.org.har"))
    # DoubleClick's IDE cookie: Google's advertising ID of this browser, sent back on every ad request.
    assert ("stats.g.doubleclick.net", "cookie", "IDE") in places
    # Google Analytics client ID (cid): a random number stamped with the first visit, kept for two years.
    assert ("www.google-analytics.com", "query", "cid") in places
    # LinkedIn's li_sugr cookie: set by px.ads.linkedin.com and sent back, LinkedIn's browser ID for ad matching.
    assert ("px.ads.linkedin.com", "cookie", "li_sugr") in places


def test_real_ad_capture_identifiers_under_vendor_names() -> None:
    _, places = behaviour_places(shared_capture("themarkup-highcostfree_www.everydayhealth.com_requests.har"))
    # Rubicon/Magnite's khaos cookie: its user ID of this browser, used for ad auctions.
    assert ("pixel.rubiconproject.com", "cookie", "khaos") in places
    # PubMatic's KADUSERCOOKIE: PubMatic's ID of this browser.
    assert ("image2.pubmatic.com", "cookie", "KADUSERCOOKIE") in places
    # Xandr (AppNexus) uuid2 cookie: Microsoft's ad ID of this browser.
    assert ("ib.adnxs.com", "cookie", "uuid2") in places


def test_real_capture_id_synchronisation_between_google_and_index_exchange() -> None:
    har = shared_capture("themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har")
    analysis = Analysis(AnalysisConfig())
    analysis.add_input(har)
    report = build_report(analysis)
    sync = {(f["host"], f["key"]): f for f in report["findings"] if f["rule"] == "id-synchronisation"}
    # One browser ID handed to Google's cookie-matching pixel and to Index Exchange: the two can join their profiles.
    google = sync[("cm.g.doubleclick.net", "google_hm")]
    index = sync[("dsum-sec.casalemedia.com", "external_user_id")]
    assert google["fingerprint"] == index["fingerprint"] and google["severity"] == "high"
    assert "Google" in google["reason"] and "Index Exchange" in google["reason"]


@pytest.mark.parametrize("name", ["pagexray_expressen.har", "perfcascade_www.bbc.com.har"])
def test_real_captures_set_nothing_aside_as_an_id_that_is_a_file_or_script_name(name: str) -> None:
    analysis, _ = behaviour_places(shared_capture(name))
    for conclusion in analysis.conclusions():
        # A masked value keeps its last two characters: a script or image name would end in "js" or "pg".
        assert conclusion.detection.where.value != "path" or not re.search(
            r"(js|pg|ss|if) \(\d+ chars\)$", conclusion.detection.masked_value
        ), (conclusion.destination, conclusion.detection.key)


def test_the_detectors_condition_is_for_detection_rules_only() -> None:
    from auditor.findings import RulesError, parse_rules

    rule = (
        '[[rule]]\nid = "x"\ntitle = "x"\nseverity = "low"\nscope = "destination"\n'
        '[rule.when]\ndetectors = ["id-sync"]\n'
    )
    with pytest.raises(RulesError, match="'detectors' applies to detection rules only"):
        parse_rules(rule, "custom.toml")
