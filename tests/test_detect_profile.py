"""Device profiles: ``auditor profile init/check``, ``--profile`` errors, and what the profile makes findable."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from helpers import run_analyze

from auditor.detect import DetectionContext
from auditor.detect.known_values import KnownValueDetector
from auditor.privacy import Masker
from auditor.profile import TEMPLATE, ProfileError, load_profile, parse_profile
from auditor.records import Record, RecordKind, SourceKind


def test_init_writes_an_owner_only_template_whose_examples_do_not_pass_check(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    path = tmp_path / "tablet.toml"
    run = run_analyze(["profile", "init", path], env=auditor_env)
    assert run.exit_code == 0, run.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "# " in path.read_text(encoding="utf-8")  # commented

    again = run_analyze(["profile", "init", path], env=auditor_env)
    assert again.exit_code == 4 and "already exists" in again.stderr

    # The example device values match no real device: check says so instead of "valid" (issue 11).
    check = run_analyze(["profile", "check", path], env=auditor_env)
    assert check.exit_code == 3, check.stderr
    assert "valid" not in check.stdout and "still the examples" in check.stderr
    profile = load_profile(path)
    for value in profile.values:  # check never prints a value
        assert value.value not in check.stdout + check.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('wifi_mac = "02:1a:3b:4c:5d:6e"', "wifi_mac is not a MAC address"),
        ('birthdate = "2014-03-09"', "birthdate must be written YYYY-MM-DD"),
        ('email = "mira.okonkwo.test@example.org"', "email is not an e-mail address"),
        ('serial = "R58M1234ABC"', None),
    ],
)
def test_bad_values_are_usage_errors_naming_file_and_key(
    tmp_path: Path, auditor_env: dict[str, str], change: str, message: str | None
) -> None:
    key = change.split(" = ")[0]
    path = tmp_path / "bad.toml"
    path.write_text(TEMPLATE.replace(change, f'{key} = "not-a-mac"'), encoding="utf-8")
    run = run_analyze(["profile", "check", path], env=auditor_env)
    if message is None:
        # A serial has no fixed format: no usage error (the template's other example values still keep it from passing).
        assert run.exit_code != 2 and "serial" not in run.stderr
        return
    assert run.exit_code == 2
    assert str(path) in run.stderr and message in run.stderr
    assert "not-a-mac" not in run.stderr, "a profile error must not echo the value"


def test_analyze_rejects_an_unknown_profile_key_before_reading_captures(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[student]\nemial = 'x@example.org'\n", encoding="utf-8")
    run = run_analyze(["analyze", tmp_path / "missing.har", "--profile", path, "--json", tmp_path / "r.json"],
                      env=auditor_env)
    assert run.exit_code == 2
    assert "unknown key 'emial' in [student]" in run.stderr


def test_extra_values_and_missing_sections() -> None:
    profile = parse_profile(
        {"extra": [{"name": "Parent Phone", "data_type": "phone", "value": "+1 555 0100 999"}]}
    )
    assert [(v.label, v.data_type) for v in profile.values] == [("parent_phone", "phone")]
    with pytest.raises(ProfileError, match="data_type must be one of"):
        parse_profile({"extra": [{"name": "x", "data_type": "shoe_size", "value": "42 EU"}]})
    with pytest.raises(ProfileError, match="needs both latitude and longitude"):
        parse_profile({"location": {"latitude": 52.1}})


def _record(url: str) -> Record:
    return Record(RecordKind.HTTP, 0.0, SourceKind.HAR, host="x.example", url=url, content_visible=True)


@pytest.mark.parametrize(
    ("query", "data_type", "encoding"),
    [
        ("p=%2B15550100234", "phone", "e164(phone)"),
        ("p=5550100234", "phone", "national(phone)"),
        ("m=021A3B4C5D6E", "hardware_id", "nosep(wifi_mac)"),
        ("d=09%2F03%2F2014", "birthdate", "date(birthdate,%d/%m/%Y)"),
        ("n=Mira+Okonkwo-Test", "name", "plain"),
        ("geo=52.3702,4.8952", "precise_location", "round(lat,4)"),
        ("lat=523702160&lon=48951680", "precise_location", "lat*1e7"),
        ("q=4.895168,52.370216", "precise_location", "round(lon,6)"),
    ],
)
def test_normalized_forms_of_profile_values_are_found(query: str, data_type: str, encoding: str) -> None:
    profile = parse_profile(tomllib.loads(TEMPLATE))
    detections = list(KnownValueDetector().detect(_record(f"https://x.example/?{query}"),
                                                  DetectionContext(Masker(b"t"), profile)))
    assert (data_type, encoding) in {(d.data_type, d.encoding) for d in detections}, detections
    assert all(d.known_value and d.confidence >= 0.8 for d in detections)


def test_a_lone_two_decimal_number_near_the_latitude_is_not_a_location() -> None:
    profile = parse_profile(tomllib.loads(TEMPLATE))
    context = DetectionContext(Masker(b"t"), profile)
    assert not list(KnownValueDetector().detect(_record("https://x.example/?price=52.37&v=52.37"), context))
    found = list(KnownValueDetector().detect(_record("https://x.example/?la=52.37&lo=4.90"), context))
    assert {d.data_type for d in found} == {"coarse_location"}
