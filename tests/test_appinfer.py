"""The app under audit, inferred from real captures written by others (../shared), with evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.analysis import Analysis
from auditor.appinfer import parse_app_domains
from auditor.cli import main
from auditor.records import HostSource, Record, RecordKind, SourceKind
from trackers_db.database import load_database

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"

EXPECTED = {
    "pagexray_expressen.har": "expressen.se",
    "perfcascade_www.bbc.com.har": "bbc.com",
    "pagexray_ferguson.har": "ferguson.com",
    "perfcascade_chrome_enorm-magazin.de.har": "enorm-magazin.de",
    "reporthar_web_first-run.har": "9gag.com",
    "themarkup-edtech_loginpage-www.abcmouse.com.har": "abcmouse.com",
    "themarkup-edtech_pageview_xtramath.org.har": "xtramath.org",
    "themarkup-healthexchange_nevada-nevadahealthlink.com_requests.har": "nevadahealthlink.com",
    "themarkup-healthexchange_new-york-nystateofhealth.ny.gov_requests.har": "nystateofhealth.ny.gov",
    "themarkup-healthexchange_idaho-yourhealthidaho.org_requests.har": "yourhealthidaho.org",
    "themarkup-healthexchange_maine-coverme.gov_requests.har": "coverme.gov",
    "themarkup-nonprofit_plannedparenthood.org_requests.har": "plannedparenthood.org",
    "themarkup-nonprofit_www.savethechildren.org_requests.har": "savethechildren.org",
    "themarkup-highcostfree_www.everydayhealth.com_requests.har": "everydayhealth.com",
    "themarkup-highcostfree_www.nsvrc.org_requests.har": "nsvrc.org",
    "ndpi_reddit.pcap": "reddit.com",
    "ndpi_quickplay.pcap": "quickplay.com",
    # The StartApp ad SDK's beacons are all there is: the capture does not say which app it is.
    "ndpi_http_ua_splitted_in_two_pkts.pcapng": None,
}
WRONG = {"cdn-expressen.se", "bbci.co.uk", "ampproject.org", "9cache.com", "startappservice.com"}


@pytest.fixture(scope="module")
def database():
    return load_database(include_imported=False)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inferred_app_of_real_capture(name: str, database) -> None:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not available (the shared capture corpus sits next to the project)")
    analysis = Analysis(database=database)
    analysis.add_input(path)
    guess = analysis.app_guess()
    assert guess.domain == EXPECTED[name], (guess.domain, guess.candidates)
    assert guess.domain not in WRONG
    assert guess.evidence, "the guess must say why"
    if guess.domain is None:
        assert guess.confidence == "none"
        assert analysis.inferred_app_domains() == ()
        assert "trackers" in guess.evidence[0]
    else:
        assert analysis.inferred_app_domains() == (guess.domain,)
        if name.endswith(".har"):  # a browser page names the site: a reviewer can rely on it
            assert guess.confidence == "high"
            assert any(line.startswith("browser page") for line in guess.evidence)


def test_report_states_inferred_app_and_how_to_confirm(tmp_path: Path) -> None:
    path = SHARED / "perfcascade_www.bbc.com.har"
    if not path.exists():
        pytest.skip(f"{path} not available")
    result = CliRunner().invoke(main, ["analyze", str(path), "--json", str(tmp_path / "r.json"),
                                       "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    import json

    app = json.loads((tmp_path / "r.json").read_text())["app"]
    assert app["domains"] == ["bbc.com"] and app["domains_inferred"]
    assert app["inference"]["confidence"] == "high"
    assert app["inference"]["confirm_with"] == "--app-domain bbc.com"
    assert "--app-domain bbc.com" in result.output
    assert "The app was taken to be bbc.com" in (tmp_path / "r.html").read_text()


def test_app_domain_url_is_normalised_the_same_way_by_every_command() -> None:
    notes: list[str] = []
    assert parse_app_domains(["https://www.google.com/"], notes) == ("www.google.com",)
    assert notes == ["--app-domain https://www.google.com/ is a URL: using its host name www.google.com"]
    with pytest.raises(ValueError, match="not a domain name"):
        parse_app_domains(["https://"])
    runner = CliRunner()
    result = runner.invoke(main, ["analyze", "--app-domain", "https://www.google.com/", "nothing-here.har"])
    assert "using its host name www.google.com" in result.output, result.output
    for command in (["analyze", "x.har"], ["proxy"]):
        result = runner.invoke(main, [command[0], "--app-domain", "exa mple.com", *command[1:]])
        assert result.exit_code == 2 and "is not a domain name" in result.output, (command, result.output)
    # Every command that takes --app-domain checks it with the one shared callback.
    callbacks = {
        param.callback
        for command in main.commands.values()
        for param in getattr(command, "params", [])
        if param.name == "app_domains"
    }
    assert len(callbacks) == 1 and None not in callbacks


def test_tracker_paths_on_a_site_host_are_attributed(database) -> None:
    """www.google.com is a site, but its /ads/ga-audiences path is Google Analytics remarketing (everydayhealth)."""
    path = SHARED / "themarkup-highcostfree_www.everydayhealth.com_requests.har"
    if not path.exists():
        pytest.skip(f"{path} not available")
    from auditor.report import build_report

    analysis = Analysis(database=database)
    analysis.add_input(path)
    report = build_report(analysis, generated_at="2026-01-01T00:00:00Z")
    google = next(d for d in report["destinations"] if d["host"] == "www.google.com")
    assert google["company"] == "Google" and google["is_tracker"] and google["category"] == "advertising"
    assert {"path": "/ads/ga-audiences", "company": "Google", "category": "advertising"}.items() <= next(
        e for e in google["endpoints"] if e["path"] == "/ads/ga-audiences"
    ).items()
    facebook = next(d for d in report["destinations"] if d["host"] == "www.facebook.com")
    assert any(e["service"] == "Meta Pixel events" and e["requests"] >= 7 for e in facebook["endpoints"])


def _http(host: str, at: float, *, ua: str = "Mozilla/5.0", extra: tuple[tuple[str, str], ...] = (),
          html: bool = False) -> Record:
    from auditor.records import Record

    return Record(RecordKind.HTTP, at, SourceKind.PROXY, host=host, host_source=HostSource.URL, content_visible=True,
                  method="GET", url=f"https://{host}/x", request_headers=(("User-Agent", ua), *extra),
                  response_content_type="text/html" if html else "application/json")


def _guess(records, database):
    analysis = Analysis(database=database)
    for record in records:
        analysis.add(record)
    return analysis.app_guess()


def test_app_named_in_its_user_agent_beats_a_busier_asset_host(database) -> None:
    records = [_http("cdn-assets.mathquest-media.net", 1.0 + i) for i in range(30)]
    records += [_http("api.mathquest.example", 0.5, ua="MathQuest/3.2 (Android 14; Pixel 8)")]
    records += [_http("api.mathquest.example", 40.0 + i, ua="MathQuest/3.2 (Android 14; Pixel 8)") for i in range(3)]
    guess = _guess(records, database)
    assert guess.domain == "mathquest.example"
    assert "MathQuest" in guess.app_ids
    assert any("identifies itself as “MathQuest”" in line for line in guess.evidence)


def test_webview_package_name_points_at_the_app(database) -> None:
    extra = (("X-Requested-With", "com.spellbee.kids"),)
    records = [_http("www.spellbee.com", 1.0, extra=extra, html=True)]
    records += [_http("static.other-cdn.example", 2.0 + i, extra=extra) for i in range(12)]
    guess = _guess(records, database)
    assert guess.domain == "spellbee.com" and "com.spellbee.kids" in guess.app_ids


def test_platform_services_and_trackers_are_never_the_app(database) -> None:
    records = [_http(h, float(i)) for i, h in enumerate(
        ["connectivitycheck.gstatic.com", "captive.apple.com", "mtalk.google.com", "app-measurement.com"] * 5)]
    guess = _guess(records, database)
    assert guess.domain is None and guess.confidence == "none"
    records.append(_http("api.readingroom.example", 30.0))
    assert _guess(records, database).domain == "readingroom.example"


def test_a_social_sdk_called_first_is_not_the_app(database) -> None:
    """An app whose Facebook SDK calls graph.facebook.com first is not Facebook: its calls stay third party."""
    records = [_http("graph.facebook.com", float(i)) for i in range(4)]
    assert _guess(records, database).domain is None
    records.append(_http("api.storytime.example", 9.0))
    assert _guess(records, database).domain == "storytime.example"
