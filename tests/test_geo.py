"""Server countries: registry data from the iptocc wheel, an optional user .mmdb, local addresses.

The .mmdb file is written by a small writer below (the MaxMind DB format is
public: a binary search tree, a data section, a metadata map) and read back
by the real ``maxminddb`` reader, as a user's GeoLite2/DB-IP file would be.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from helpers import pinned_env, run_analyze, shared_capture

from auditor.geo import LOCAL, MmdbCountries, RegistryCountries, default_country_lookup

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(type_number: int, size: int) -> bytes:
    assert size < 29
    if type_number <= 7:
        return bytes([(type_number << 5) | size])
    return bytes([size, type_number - 7])  # extended type


def _encode(value: object) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(_encode(v) for v in value)
    if isinstance(value, tuple):  # (type number, unsigned int)
        type_number, number = value
        raw = number.to_bytes(8, "big").lstrip(b"\0")
        return _control(type_number, len(raw)) + raw
    raise TypeError(value)


def write_country_mmdb(path: Path, networks: dict[str, str]) -> None:
    """Write an IPv4 country database mapping each network to a country code."""
    nodes: list[list[object]] = [[None, None]]
    data = b""
    for network_text, country in networks.items():
        network = ipaddress.ip_network(network_text)
        offset = len(data)
        data += _encode({"country": {"iso_code": country}})
        bits = format(int(network.network_address), "032b")[: network.prefixlen]
        node = 0
        for depth, bit in enumerate(bits):
            side = int(bit)
            if depth == len(bits) - 1:
                nodes[node][side] = ("data", offset)
            else:
                if not isinstance(nodes[node][side], int):
                    nodes.append([None, None])
                    nodes[node][side] = len(nodes) - 1
                node = nodes[node][side]  # type: ignore[assignment]
    count = len(nodes)

    def record(value: object) -> int:
        if value is None:
            return count
        if isinstance(value, int):
            return value
        return count + 16 + value[1]  # type: ignore[index]

    tree = b"".join(record(left).to_bytes(3, "big") + record(right).to_bytes(3, "big") for left, right in nodes)
    metadata = {
        "node_count": (6, count),
        "record_size": (5, 24),
        "ip_version": (5, 4),
        "database_type": "Test-Country",
        "languages": ["en"],
        "binary_format_major_version": (5, 2),
        "binary_format_minor_version": (5, 0),
        "build_epoch": (9, 1767261600),
        "description": {"en": "test countries"},
    }
    path.write_bytes(tree + bytes(16) + data + METADATA_MARKER + _encode(metadata))


def test_registry_data_covers_ipv4_and_ipv6() -> None:
    lookup = RegistryCountries()
    assert lookup.country("8.8.8.8") == "US"  # Google, ARIN
    assert lookup.country("2001:4860:4860::8888") == "US"
    assert lookup.country("1.0.16.1") == "JP"  # APNIC delegation to Japan
    assert lookup.country("192.168.1.5") == LOCAL and lookup.country("fe80::1") == LOCAL
    assert lookup.country("not an address") is None


def test_user_mmdb_is_asked_first_then_registry_data(tmp_path: Path) -> None:
    mmdb = tmp_path / "countries.mmdb"
    write_country_mmdb(mmdb, {"8.8.8.0/24": "DE", "81.2.69.0/24": "GB"})
    assert MmdbCountries(mmdb).country("81.2.69.160") == "GB"
    lookup = default_country_lookup(mmdb)
    assert lookup.country("8.8.8.8") == "DE"  # the user's file wins
    assert lookup.country("1.0.16.1") == "JP"  # not in the file: registry data
    assert lookup.country("10.0.0.1") == LOCAL
    assert "mmdb countries.mmdb (Test-Country)" in lookup.name


def test_unreadable_mmdb_names_the_file(tmp_path: Path) -> None:
    bogus = tmp_path / "GeoLite2-Country.mmdb"
    bogus.write_bytes(b"not a database")
    with pytest.raises(ValueError) as error:
        default_country_lookup(bogus)
    assert str(error.value).startswith(f"{bogus}: not a readable MaxMind/DB-IP .mmdb file")


def test_report_has_server_and_headquarters_countries(tmp_path: Path) -> None:
    har = shared_capture("reporthar_web_first-run.har")
    env = pinned_env(tmp_path / "data")
    run = run_analyze(["analyze", har, "--json", tmp_path / "plain.json"], env=env)
    assert run.report is not None
    by_host = {d["host"]: d for d in run.report["destinations"]}
    assert by_host["9gag.com"]["countries"] == ["US"]  # 104.16.0.0/12, Cloudflare (ARIN)
    assert any(d["hq_country"] for d in run.report["destinations"])

    mmdb = tmp_path / "user.mmdb"
    write_country_mmdb(mmdb, {"104.16.0.0/16": "NL"})
    run = run_analyze(["analyze", har, "--geoip-db", mmdb, "--json", tmp_path / "mmdb.json"], env=env)
    assert run.report is not None
    assert {d["host"]: d for d in run.report["destinations"]}["9gag.com"]["countries"] == ["NL"]


def test_bad_geoip_db_exits_3_naming_it(tmp_path: Path) -> None:
    har = shared_capture("reporthar_web_first-run.har")
    bogus = tmp_path / "broken.mmdb"
    bogus.write_bytes(b"\0" * 64)
    run = run_analyze(["analyze", har, "--geoip-db", bogus], env=pinned_env(tmp_path / "data"))
    assert run.exit_code == 3
    assert f"Error: {bogus}: not a readable MaxMind/DB-IP .mmdb file" in run.stderr
