"""Synthetic students: persona new/check, planted values in every form, typed text, the trail per value."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import tomllib
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from helpers import run_analyze

from auditor.analysis import Analysis, AnalysisConfig
from auditor.detect import DetectionContext
from auditor.detect import typed_text as typed_module
from auditor.detect.known_values import KnownValueDetector
from auditor.detect.typed_text import TypedTextDetector
from auditor.persona import age_on, check_values, new_persona
from auditor.privacy import Masker
from auditor.profile import load_profile, parse_profile
from auditor.records import HostSource, Record, RecordKind, SourceKind
from auditor.report import build_report
from auditor.report.html import render_html

APP = "classroom.example"
STUDENT = {
    "first_name": "Velorine", "last_name": "Tashquibb", "email": "velorine.tashquibb.42@example.com",
    "phone": "+1 613 555 0142", "address": "1742 Treider Lane", "postal_code": "X0X 0X0",
    "essay": "On Saturday I fed Trirein the class tortoise.",
}


def _profile(**changes: str):
    return parse_profile({"student": {**STUDENT, **changes}})


# -- auditor persona new / check ---------------------------------------------------------------


def test_new_writes_a_valid_profile_to_stdout_and_the_values_to_type_to_stderr(auditor_env: dict[str, str]) -> None:
    run = run_analyze(["persona", "new", "--age", "9", "--locale", "en-GB", "--seed", "7"], env=auditor_env)
    assert run.exit_code == 0, run.stderr
    profile = parse_profile(tomllib.loads(run.stdout))
    values = {v.label: v.value for v in profile.values}
    # What a tester types is on stderr, next to the fingerprint reports will show; stdout is only TOML.
    assert values["first_name"] in run.stderr and values["email"] in run.stderr
    assert f"fingerprint: {profile.fingerprint(Masker(auditor_env['CLASSROOM_AUDITOR_SALT'].encode()))}" in run.stderr
    assert "Type these" not in run.stdout
    # Reserved ranges: Ofcom's drama mobile range for en-GB, an RFC 2606 domain; nothing to warn about.
    assert values["phone"].startswith("+44 7700 900")
    assert values["email"].endswith("@example.com")
    assert check_values(profile) == []
    again = run_analyze(["persona", "new", "--age", "9", "--locale", "en-GB", "--seed", "7"], env=auditor_env)
    other = run_analyze(["persona", "new", "--age", "9", "--locale", "en-GB", "--seed", "8"], env=auditor_env)
    assert again.stdout == run.stdout and other.stdout != run.stdout  # the seed makes it reproducible


@pytest.mark.parametrize("age", [5, 9, 17])
def test_the_birthdate_makes_the_student_the_asked_age(age: int) -> None:
    today = date(2028, 2, 29)
    for seed in range(20):
        student = new_persona(seed=seed, age=age, today=today)
        assert age_on(student.birthdate, today) == age
        assert student.phone.startswith("+1 ") and " 555 01" in student.phone  # NANP 555-01xx, fictional


def test_names_are_made_up_yet_pass_name_checks_and_the_school_domain_and_id_format_are_used() -> None:
    student = new_persona(seed=3, email_domain="lab.school.example", id_format="D##-####")
    for name in (student.first_name, student.last_name):
        assert name.isalpha() and name[0].isupper() and len(name) >= 7
    assert student.email.endswith("@lab.school.example")
    assert len(student.student_id) == 8 and student.student_id[0] == "D" and student.student_id[3] == "-"
    # The essay and both searches carry a made-up word, so each is findable on its own.
    assert any(word in student.essay for word in student.search_1.split())


def test_new_to_a_file_is_owner_only_and_refuses_to_overwrite(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    path = tmp_path / "student.toml"
    run = run_analyze(["persona", "new", "--seed", "1", "-o", path], env=auditor_env)
    assert run.exit_code == 0, run.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_profile(path).value("essay")
    again = run_analyze(["persona", "new", "--seed", "1", "-o", path], env=auditor_env)
    assert again.exit_code == 4 and "already exists" in again.stderr


def test_a_bad_option_is_one_usage_line(auditor_env: dict[str, str]) -> None:
    run = run_analyze(["persona", "new", "--email-domain", "not a domain"], env=auditor_env)
    assert run.exit_code == 2 and "is not a domain name" in run.stderr


def test_check_warns_about_common_names_short_numbers_words_and_real_looking_contacts(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    path = tmp_path / "weak.toml"
    path.write_text(
        '[student]\nfirst_name = "Emma"\nlast_name = "Tashquibb"\nstudent_id = "4821"\nschool = "school"\n'
        'email = "emma.t@gmail.com"\nphone = "+1 416 555 2368"\n', encoding="utf-8")
    path.chmod(0o600)
    run = run_analyze(["persona", "check", path], env=auditor_env)
    assert run.exit_code == 0, run.stderr
    warned = {line.split(": ")[2] for line in run.stderr.splitlines() if line.startswith("warning:")}
    assert warned == {"first_name", "student_id", "school", "email", "phone"}  # not the made-up surname
    assert "5 to change" in run.stdout
    for value in ("Emma", "4821", "emma.t@gmail.com", "555 2368"):  # warnings name keys, never values
        assert value not in run.stdout + run.stderr


# -- planted values in the forms they travel in ------------------------------------------------


def _record(url: str = "https://t.example/c", body: bytes = b"", host: str = "t.example",
            content_type: str = "application/json", time: float = 1_767_261_600.0) -> Record:
    return Record(RecordKind.HTTP, time, SourceKind.HAR, host=host, host_source=HostSource.URL, url=url,
                  method="POST" if body else "GET", request_body=body,
                  request_content_type=content_type if body else None, content_visible=True, encrypted=True)


def _sha(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("query", "label_and_form"),
    [
        ("n=VelorineTashquibb", ("full_name", "nospace(full_name)")),  # run together, as Blacklight and forms write it
        ("n=Tashquibb%2C+Velorine", ("full_name", "plain")),  # surname first, comma
        ("n=V.+Tashquibb", ("full_name", "plain")),  # initial and surname
        ("n=TASHQUIBB+VELORINE", ("full_name", "plain")),  # case, surname first
        ("n=Velorine++Tashquibb", ("full_name", "spaces")),  # doubled whitespace
        ("d=" + quote(json.dumps({"msg": "Hi Velorine&#32;Tashquibb!"})), ("full_name", "html")),  # HTML entity
        ("t=" + quote("Vel\\u006frine"), ("first_name", "unicode-escape")),  # a \\u escape left in a value
        ("m=Welcome+back+Velorine%2C+ready%3F", ("first_name", "plain")),  # a made-up first name in free text
        ("n=" + quote("Vélorine Tashquibb"), ("full_name", "fold")),  # an accent the app added
        ("p=16135550142", ("phone", "digits(phone)")),
        ("p=%2B16135550142", ("phone", "e164(phone)")),
        ("p=6135550142", ("phone", "national(phone)")),
        ("m=" + quote("call +1 (613) 555-0142 after school"), ("phone", "plain")),  # written out, in a sentence
        ("em=" + _sha("sha256", STUDENT["email"]), ("email", "sha256(lower(email))")),  # Meta, TikTok, Snap
        ("em=" + _sha("md5", STUDENT["email"]), ("email", "md5(lower(email))")),  # Pinterest img tag
        ("em=" + _sha("sha1", STUDENT["email"]), ("email", "sha1(lower(email))")),  # Pinterest img tag
        ("ph=" + _sha("sha256", "16135550142"), ("phone", "sha256(digits(phone))")),  # Meta, Snap: no '+'
        ("ph=" + _sha("sha256", "+16135550142"), ("phone", "sha256(e164(phone))")),  # Google: E.164
        ("fn=" + _sha("sha256", "velorine"), ("first_name", "sha256(lower(first_name))")),  # Meta fn
        ("u=" + base64.b64encode(STUDENT["email"].encode()).decode(), ("email", "base64")),
        ("a=1742+Treider+Ln", ("address", "abbrev(address)")),  # postal address with a short street word
        ("zp=x0x0x0", ("postal_code", "nospace(postal_code)")),
        ("q=" + quote("On Saturday I fed Trirein the class tortoise."), ("essay", "plain")),
    ],
)
def test_planted_values_are_found_in_the_forms_they_travel_in(query: str, label_and_form: tuple[str, str]) -> None:
    detections = list(KnownValueDetector().detect(_record(f"https://t.example/c?{query}"),
                                                  DetectionContext(Masker(b"t"), _profile())))
    found = {(d.detail.removeprefix("profile value "), d.encoding.split(">")[-1] if ">" in d.encoding
              else d.encoding) for d in detections}
    label, form = label_and_form
    assert any(lab == label and (form in enc) for lab, enc in found), found


def test_a_postal_code_counts_only_as_the_whole_value() -> None:
    context = DetectionContext(Masker(b"t"), _profile(postal_code="99999"))
    inside = list(KnownValueDetector().detect(_record("https://t.example/?n=order+99999+shipped"), context))
    whole = list(KnownValueDetector().detect(_record("https://t.example/?zip=99999"), context))
    assert not inside and [d.detail for d in whole] == ["profile value postal_code"]


def test_a_diacritic_free_spelling_of_an_accented_name_is_the_student() -> None:
    profile = _profile(first_name="Zoëlline", last_name="Nuñezquibb")
    found = list(KnownValueDetector().detect(_record("https://t.example/?n=Zoelline+Nunezquibb"),
                                             DetectionContext(Masker(b"t"), profile)))
    assert any(d.detail == "profile value full_name" and "fold" in d.encoding for d in found), found


def test_a_gmail_address_is_found_hashed_without_its_dots_as_google_normalises_it() -> None:
    profile = _profile(email="velorine.tash@gmail.com")
    query = "em=" + _sha("sha256", "velorinetash@gmail.com")
    [found] = list(KnownValueDetector().detect(_record(f"https://t.example/?{query}"),
                                               DetectionContext(Masker(b"t"), profile)))
    assert found.encoding == "sha256(gmail(email))"


# -- typed-text capture -------------------------------------------------------------------------


def _typing(host: str, text: str, key: str = "q", start: float = 1_767_261_600.0, step: int = 1) -> list[Record]:
    return [_record(f"https://{host}/s?{key}={quote(text[:n])}", host=host, time=start + n / 10)
            for n in range(step, len(text) + 1, step)]


def _audit(records: list[Record], profile=None) -> dict:
    analysis = Analysis(AnalysisConfig(app_domains=(APP,), salt=b"test-salt", profile=profile))
    for record in records:
        analysis.add(record)
    return build_report(analysis, generated_at="2026-01-01T12:00:00Z")


def _typed(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["rule"].startswith("typed-text")]


def test_text_sent_key_by_key_to_a_third_party_is_one_high_finding_with_the_keystrokes() -> None:
    records = _typing("rs.fullstory.com", "my dog is called Biscuit", key="essay")
    report = _audit(records)
    [finding] = _typed(report)
    assert (finding["rule"], finding["severity"], finding["host"], finding["key"]) == (
        "typed-text-to-third-party", "high", "rs.fullstory.com", "essay")
    assert finding["encoding"] == "typed" and finding["count"] == len(records)
    assert "24 times, a little longer after each key press" in finding["reason"]
    assert "Biscuit" not in json.dumps(report)


def test_the_apps_own_typeahead_is_noted_not_flagged_and_a_planted_value_keeps_its_name() -> None:
    report = _audit(_typing(f"api.{APP}", "VelorineTashquibb", key="search"), _profile())
    [finding] = _typed(report)
    assert (finding["rule"], finding["severity"], finding["data_type"]) == ("typed-text-first-party", "info", "name")
    assert finding["encoding"].startswith("typed")
    assert "profile value full_name" in finding["reason"]


def test_counters_oscillating_values_and_short_growth_are_not_typing() -> None:
    records = [_record(f"https://ads.example/p?seq={n}&ius=/0/1/2{'//3' if n % 2 else ''}", host="ads.example",
                       time=1_767_261_600.0 + n) for n in range(20)]
    records += _typing("ads.example", "abc", key="k")  # three characters: too short to call typing
    assert _typed(_audit(records)) == []


def test_a_field_cleared_and_typed_again_is_one_capture_counting_both_runs() -> None:
    first = _typing("in.hotjar.com", "Tashquibb", key="name")
    second = _typing("in.hotjar.com", "Tashquibb", key="name", start=1_767_261_700.0)
    [finding] = _typed(_audit(first + second))
    assert finding["count"] == len(first) + len(second)
    assert "9 times" in finding["reason"]  # the longest run, not the sum


def test_two_fields_sent_under_one_key_are_two_captures() -> None:
    # Session-replay scripts send every field as {"text": ...}: the surname, then the e-mail.
    records = _typing("rs.fullstory.com", "Tashquibb", key="text")
    records += _typing("rs.fullstory.com", "velorine@example.com", key="text", start=1_767_261_700.0)
    found = sorted(f["count"] for f in _typed(_audit(records)))
    assert found == [9, 20]


def test_typed_text_state_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typed_module, "MAX_TRACKED", 8)
    monkeypatch.setattr(typed_module, "MAX_CAPTURES", 2)
    detector = TypedTextDetector()
    context = DetectionContext(Masker(b"t"))
    for index in range(5):
        for record in _typing(f"h{index}.example", "typing here", key=f"f{index}"):
            detector.observe(record, record.host or "", None, context)
    for n in range(50):
        detector.observe(_record(f"https://x.example/?k{n}=v", host="x.example"), "x.example", None, context)
    assert len(detector._runs) <= 8
    assert len(detector.conclude(context)) == 2 and detector.cap_note


# -- the trail of each planted value ------------------------------------------------------------


def test_the_trail_names_every_receiver_and_form_and_the_html_says_it_in_one_sentence() -> None:
    profile = _profile()
    hashed = _sha("sha256", STUDENT["email"])
    records = [
        *_typing("rs.fullstory.com", "Tashquibb", key="form.surname"),
        _record(f"https://ct.pinterest.com/v3/?pd=%7B%22em%22%3A%22{hashed}%22%7D", host="ct.pinterest.com",
                time=1_767_261_650.0),
        _record(f"https://api.{APP}/me?last=Tashquibb", host=f"api.{APP}", time=1_767_261_660.0),
    ]
    report = _audit(records, profile)
    trail = {entry["value"]: entry for entry in report["persona_trail"]}
    surname = trail["last_name"]
    forms = {r["host"]: r["forms"] for r in surname["receivers"]}
    assert forms == {"rs.fullstory.com": ["plain", "typed"], f"api.{APP}": ["plain"]}
    assert surname["receivers"][-1]["party"] == "first"  # the app's own service listed last
    [email_receiver] = trail["email"]["receivers"]
    assert (email_receiver["host"], email_receiver["forms"]) == ("ct.pinterest.com", ["SHA-256 hash"])
    assert trail["email"]["first_seen"] == "2026-01-01T10:00:50Z"
    page = render_html(report)
    assert "Where the planted values went" in page
    assert "Student&#x27;s e-mail: reached Pinterest as a SHA-256 hash" in page
    text = json.dumps(report) + page
    for raw in ("Tashquibb", STUDENT["email"], hashed):  # masked like every other output
        assert raw not in text


def test_no_profile_means_an_empty_trail_and_no_section() -> None:
    report = _audit(_typing("rs.fullstory.com", "hello there"))
    assert report["persona_trail"] == []
    assert "Where the planted values went" not in render_html(report)
