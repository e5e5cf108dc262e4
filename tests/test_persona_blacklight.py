"""The Blacklight crawler's persona, planted by a real crawler, found in its real HAR files (../shared S20-S29).

The Markup's Blacklight fills every form it finds with one fictional person. Its values are published in
the-markup/blacklight-collector, ``src/pptr-utils/interaction-utils.ts`` (``DEFAULT_INPUT_VALUES``, read at
commit 1799907e198e09cae9f63992acd1f97fbd9d9d63): given-name ``Idaaaa``, family-name ``Tarbell``, e-mail
``blacklight-headless@themarkup.org``, password ``SUPERS3CR3T_PASSWORD``, username ``idaaaa_tarbell``, tel
``+1971112233``, street-address ``PO Box #1103``. It types them with puppeteer's ``keyboard.type``, one key
press at a time.

What the files hold was established by reading every request (URL, headers, body; URL-, base64- and
hash-decoded) for each persona value, its MD5/SHA-1/SHA-256 and its run-together form: only
plannedparenthood.org's own search suggestions carry it, twice, typed key by key (``search=I``, ``Id``, ...
``IdaaaaTarbell``). The hashed e-mails in ct.pinterest.com and tr.snapchat.com requests are not the
persona's (no normal form of it hashes to them), so no third party in these files received a planted value.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SHARED_CAPTURES, run_analyze, shared_capture

PERSONA = """\
[student]
first_name = "Idaaaa"
last_name = "Tarbell"
email = "blacklight-headless@themarkup.org"
username = "idaaaa_tarbell"
password = "SUPERS3CR3T_PASSWORD"
phone = "+1971112233"
address = "PO Box #1103"
"""
PLANNED_PARENTHOOD = "themarkup-nonprofit_plannedparenthood.org_requests.har"


@pytest.fixture
def persona(tmp_path: Path) -> Path:
    path = tmp_path / "blacklight.toml"
    path.write_text(PERSONA, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_the_name_typed_into_the_sites_own_search_box_is_noted_as_typed_text(
    persona: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    har = shared_capture(PLANNED_PARENTHOOD)
    run = run_analyze(["analyze", har, "--profile", persona, "--app-domain", "plannedparenthood.org",
                       "--json", tmp_path / "r.json"], env=auditor_env)
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    persona_findings = [f for f in run.report["findings"] if f["data_type"] == "name"]
    by_rule = {(f["rule"], f["encoding"]): f for f in persona_findings}
    # Two runs of 13 requests, search=I ... search=IdaaaaTarbell: one capture, 13 key presses, 26 requests.
    typed = by_rule[("typed-text-first-party", "typed>nospace(full_name)")]
    assert (typed["severity"], typed["host"], typed["where"], typed["key"], typed["count"]) == (
        "info", "www.plannedparenthood.org", "query", "search", 26)
    assert "13 times, a little longer after each key press" in typed["reason"]
    # The full name run together, as Blacklight's keyboard.type leaves it: the last request of each run.
    whole = by_rule[("personal-data-to-first-party", "nospace(full_name)")]
    assert whole["count"] == 2 and whole["first_seen"] == "2021-10-18T14:07:06Z"
    # The first name alone is the whole search value once per run, after the sixth key press.
    assert by_rule[("personal-data-to-first-party", "plain")]["count"] == 2
    assert {f["severity"] for f in persona_findings} == {"info"}  # the site's own typeahead: noted, not flagged
    # The trail: the full name reached only the site itself, typed and as written.
    trail = {entry["value"]: entry for entry in run.report["persona_trail"]}
    assert set(trail) == {"first_name", "full_name"}
    [receiver] = trail["full_name"]["receivers"]
    assert (receiver["host"], receiver["party"], receiver["forms"]) == (
        "www.plannedparenthood.org", "first", ["plain", "typed"])
    assert "Idaaaa" not in (tmp_path / "r.json").read_text(encoding="utf-8")


def test_no_third_party_received_the_persona_and_nothing_else_looks_typed(
    persona: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    others = sorted(p for p in SHARED_CAPTURES.glob("themarkup-*.har") if p.name != PLANNED_PARENTHOOD)
    if len(others) < 9:
        pytest.skip(f"shared Blacklight HARs not available in {SHARED_CAPTURES}")
    run = run_analyze(["analyze", *others, "--profile", persona, "--json", tmp_path / "r.json"], env=auditor_env)
    assert run.exit_code in (0, 1), run.stderr
    assert run.report is not None
    # No request in these nine files carries a persona value in any form (read above): a match would be false.
    assert run.report["persona_trail"] == []
    assert not [f for f in run.report["findings"] if "profile value" in (f.get("reason") or f.get("detail") or "")]
    # everydayhealth's ad requests alternate enc_prev_ius=/0/1/2 and /0/1/2//3: growth and back, not typing.
    assert not [f for f in run.report["findings"] if f["rule"].startswith("typed-text")]
