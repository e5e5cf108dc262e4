"""Schema checks for the curated tracker database (trackers_db/curated/*.toml).

Runs offline: every file is parsed with tomllib and checked against the
format described in docs/trackers-db.md and the category vocabulary.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from trackers_db.vocabulary import CATEGORIES  # noqa: E402

CURATED_DIR = ROOT / "trackers_db" / "curated"

# ISO 3166-1 alpha-2 codes (officially assigned).
ISO_COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL
    BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV
    CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD
    GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM
    IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK
    LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW
    MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR
    PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS
    ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY
    UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a block of codes reads better than a 250-item literal
)

MOBILE_SDK_CATEGORIES = frozenset(
    {
        "analytics",
        "attribution",
        "advertising",
        "crash_reporting",
        "session_replay",
        "ab_testing",
        "push_engagement",
    }
)

COMPANY_KEYS = {"name": str, "legal_name": str, "parent": str, "country": str, "reference": str}
SERVICE_KEYS = {"name": str, "category": str, "domains": list, "reference": str}
OPTIONAL_SERVICE_KEYS = {"notes": str}

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def hostname_problem(domain: object) -> str | None:
    """Why ``domain`` is not a bare lowercase hostname, or None when it is."""
    if not isinstance(domain, str):
        return f"not a string: {domain!r}"
    if domain != domain.strip():
        return "surrounding whitespace"
    if domain != domain.lower():
        return "not lowercase"
    if "://" in domain or "/" in domain:
        return "contains a scheme or path"
    if "*" in domain:
        return "contains a wildcard"
    if ":" in domain:
        return "contains a port"
    if len(domain) > 253:
        return "longer than 253 characters"
    labels = domain.split(".")
    if len(labels) < 2:
        return "needs at least two labels"
    for label in labels:
        if not _LABEL.match(label):
            return f"invalid label {label!r}"
    if labels[-1].isdigit():
        return "looks like an IP address"
    return None


def _files() -> list[Path]:
    return sorted(CURATED_DIR.glob("*.toml"))


def _load(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def database() -> dict[str, dict]:
    files = _files()
    assert files, f"no curated files found in {CURATED_DIR}"
    return {path.name: _load(path) for path in files}


def _services(database: dict[str, dict]):
    for fname, data in database.items():
        for index, service in enumerate(data.get("service", [])):
            yield fname, index, service


def test_files_parse() -> None:
    for path in _files():
        try:
            _load(path)
        except tomllib.TOMLDecodeError as exc:  # pragma: no cover - reported as failure
            pytest.fail(f"{path.name}: invalid TOML: {exc}")


def test_company_keys_and_types(database: dict[str, dict]) -> None:
    allowed = set(COMPANY_KEYS) | {"service", "endpoint"}  # endpoints: trackers_db/endpoints.py
    for fname, data in database.items():
        for key, typ in COMPANY_KEYS.items():
            assert key in data, f"{fname}: missing company key {key!r}"
            assert isinstance(data[key], typ), f"{fname}: {key!r} must be {typ.__name__}"
            assert data[key].strip(), f"{fname}: {key!r} is empty"
        extra = set(data) - allowed
        assert not extra, f"{fname}: unknown company keys {sorted(extra)}"
        assert isinstance(data.get("service"), list) and data["service"], f"{fname}: needs at least one [[service]]"


def test_file_name_is_slug_of_name(database: dict[str, dict]) -> None:
    for fname, data in database.items():
        stem = fname[: -len(".toml")]
        assert _SLUG.match(stem), f"{fname}: file name must be lowercase [a-z0-9-]"
        assert stem == slugify(data["name"]), (
            f"{fname}: file name should be {slugify(data['name'])!r}.toml for name {data['name']!r}"
        )


def test_country_is_iso_code(database: dict[str, dict]) -> None:
    for fname, data in database.items():
        country = data["country"]
        assert re.fullmatch(r"[A-Z]{2}", country), f"{fname}: country {country!r} is not 2 uppercase letters"
        assert country in ISO_COUNTRIES, f"{fname}: country {country!r} is not an ISO 3166-1 alpha-2 code"


def test_references_are_https(database: dict[str, dict]) -> None:
    for fname, data in database.items():
        assert data["reference"].startswith("https://"), f"{fname}: company reference must start with https://"
    for fname, index, service in _services(database):
        ref = service.get("reference", "")
        assert isinstance(ref, str) and ref.startswith("https://"), (
            f"{fname}: service #{index} {service.get('name')!r}: reference must start with https://"
        )


def test_service_keys_and_types(database: dict[str, dict]) -> None:
    allowed = set(SERVICE_KEYS) | set(OPTIONAL_SERVICE_KEYS)
    for fname, index, service in _services(database):
        label = f"{fname}: service #{index} {service.get('name')!r}"
        for key, typ in SERVICE_KEYS.items():
            assert key in service, f"{label}: missing key {key!r}"
            assert isinstance(service[key], typ), f"{label}: {key!r} must be {typ.__name__}"
        for key, typ in OPTIONAL_SERVICE_KEYS.items():
            if key in service:
                assert isinstance(service[key], typ), f"{label}: {key!r} must be {typ.__name__}"
        extra = set(service) - allowed
        assert not extra, f"{label}: unknown keys {sorted(extra)}"
        assert service["name"].strip(), f"{label}: empty name"
        assert service["domains"], f"{label}: no domains"


def test_categories_in_vocabulary(database: dict[str, dict]) -> None:
    for fname, _index, service in _services(database):
        assert service["category"] in CATEGORIES, (
            f"{fname}: service {service['name']!r}: category {service['category']!r} is not in trackers_db.vocabulary"
        )


def test_domains_are_hostnames(database: dict[str, dict]) -> None:
    for fname, _index, service in _services(database):
        for domain in service["domains"]:
            problem = hostname_problem(domain)
            assert problem is None, f"{fname}: service {service['name']!r}: domain {domain!r}: {problem}"


def test_no_duplicate_domains(database: dict[str, dict]) -> None:
    seen: dict[str, str] = {}
    for fname, _index, service in _services(database):
        for domain in service["domains"]:
            where = f"{fname} / {service['name']!r}"
            assert domain not in seen, f"domain {domain!r} appears in both {seen[domain]} and {where}"
            seen[domain] = where


def _domains_by_category(database: dict[str, dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for _fname, _index, service in _services(database):
        out.setdefault(service["category"], set()).update(service["domains"])
    return out


def test_coverage(database: dict[str, dict]) -> None:
    by_cat = _domains_by_category(database)
    total = set().union(*by_cat.values())
    assert len(total) >= 450, f"only {len(total)} distinct domains in the curated database, want >= 450"
    edtech = by_cat.get("edtech", set())
    assert len(edtech) >= 40, f"only {len(edtech)} edtech domains, want >= 40"
    sdk = set().union(*(by_cat.get(c, set()) for c in MOBILE_SDK_CATEGORIES))
    assert len(sdk) >= 60, f"only {len(sdk)} mobile-SDK-category domains, want >= 60"


@pytest.mark.parametrize(
    "domain, ok",
    [
        ("app-measurement.com", True),
        ("firebaselogging-pa.googleapis.com", True),
        ("8x8.vc", True),
        ("https://example.com", False),
        ("example.com/path", False),
        ("*.example.com", False),
        ("Example.com", False),
        ("localhost", False),
        ("-bad.example.com", False),
        ("10.0.0.1", False),
    ],
)
def test_hostname_checker(domain: str, ok: bool) -> None:
    assert (hostname_problem(domain) is None) is ok


def test_endpoints_load_and_classify_paths_of_shared_hosts() -> None:
    """Host + path entries: a site host's tracker paths get the tracker's category, other paths none."""
    from trackers_db.endpoints import endpoint_for, load_endpoints

    endpoints = load_endpoints(CURATED_DIR)
    audiences = endpoint_for("www.google.com", "/ads/ga-audiences", endpoints)
    assert audiences is not None and audiences.company == "Google" and audiences.is_tracker
    assert endpoint_for("www.google.com", "/pagead/1p-user-list/123", endpoints).category == "advertising"
    assert endpoint_for("www.facebook.com", "/tr/", endpoints).name == "Meta Pixel events"
    assert endpoint_for("www.google.com", "/search", endpoints) is None
    assert endpoint_for("notgoogle.com", "/ads/ga-audiences", endpoints) is None


@pytest.mark.parametrize(
    "host",
    ["firebaseinstallations.googleapis.com", "firebaselogging.googleapis.com", "app-measurement.com",
     "pinpoint.eu-west-1.amazonaws.com", "mobileanalytics.us-east-1.amazonaws.com"],
)
def test_sdk_telemetry_is_analytics_not_hosting(host: str) -> None:
    """SDK usage telemetry is a data recipient, not infrastructure: a reviewer must see it as analytics."""
    from trackers_db.database import load_database

    verdict = load_database(include_imported=False).lookup(host)
    assert verdict is not None and verdict.category in ("analytics", "crash_reporting"), verdict
    assert verdict.is_tracker


def test_shared_host_without_path_says_what_it_is() -> None:
    """``db lookup google.com`` names Google, and says the host itself is no tracker (its ad paths are)."""
    from trackers_db.database import load_database

    verdict = load_database(include_imported=False).lookup("www.google.com")
    assert verdict is not None and verdict.company == "Google" and not verdict.is_tracker
