"""The merged-verdict cache: a database loaded from it answers exactly as a fresh merge does.

``load_database`` keeps every listed domain's merged verdict in a cache file
once lists are imported. These tests check what a user relies on: the same
verdicts and provenance, a cache that follows every change to the lists or
the curated data, and no error (and no wrong answer) when the cache file is
damaged or cannot be written.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
import stat
from pathlib import Path

import pytest
from test_lookup_equivalence import lists_folder  # noqa: F401 - the module fixture importing the real lists

from trackers_db import database as database_module
from trackers_db.database import curated_dir, load_database


def write_list(folder: Path, source: str, domains: dict[str, str], company: str = "Acme Analytics") -> Path:
    """A small imported list in the format ``auditor db import`` writes."""
    document = {
        "source": source,
        "version": "1",
        "license": "test",
        "companies": [{"company": company, "country": "DE"}],
        "entries": [{"domain": d, "c": 0, "category": category} for d, category in domains.items()],
    }
    path = folder / f"{source}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("merged-*.marshal")) if folder.is_dir() else []


@pytest.fixture
def small_lists(tmp_path: Path) -> Path:
    folder = tmp_path / "trackers"
    folder.mkdir()
    write_list(folder, "adguard", {"metrics.acme-analytics.test": "analytics", "doubleclick.net": "advertising"})
    write_list(folder, "disconnect", {"acme-analytics.test": "advertising"}, company="Acme Analytics Inc.")
    return folder


def test_cache_loaded_database_equals_a_fresh_merge_for_every_real_domain(
    lists_folder: Path,  # noqa: F811 - the imported fixture
    tmp_path: Path,
) -> None:
    fresh = load_database(imported_folder=lists_folder, use_cache=False)
    cache = tmp_path / "cache"
    load_database(imported_folder=lists_folder, cache_folder=cache)  # builds the cache
    (written,) = cache_files(cache)
    built_at = written.stat().st_mtime_ns
    cached = load_database(imported_folder=lists_folder, cache_folder=cache)
    assert cache_files(cache) == [written] and written.stat().st_mtime_ns == built_at, "the cache was not reused"
    assert len(fresh.entries) > 50_000
    assert cached.entries == fresh.entries
    assert [vars(s) for s in cached.sources] == [vars(s) for s in fresh.sources]
    assert cached.cname_targets == fresh.cname_targets
    differ = [
        host
        for domain in fresh.entries
        for host in (domain, f"cdn.{domain}")
        if cached.lookup(host) != fresh.lookup(host)
    ]
    assert not differ, f"{len(differ)} verdicts from the cache differ from a fresh merge, e.g. {differ[:5]}"
    for host in ("unlisted-host.example.org", "COM.", "API.V2.DOUBLECLICK.NET."):
        assert cached.lookup(host) == fresh.lookup(host), host


def test_the_default_cache_lives_in_the_data_folder_owner_only(
    tmp_path: Path, small_lists: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    shutil.copytree(small_lists, data / "trackers")
    monkeypatch.setenv("CLASSROOM_AUDITOR_DATA", str(data))
    database = load_database()
    (written,) = cache_files(data / "cache")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "cache").stat().st_mode) == 0o700
    verdict = database.lookup("cdn.metrics.acme-analytics.test")
    assert verdict is not None and verdict.category == "analytics" and verdict.sources == ("adguard", "disconnect")
    assert load_database().lookup("cdn.metrics.acme-analytics.test") == verdict


def test_curated_only_database_writes_no_cache(tmp_path: Path) -> None:
    empty = tmp_path / "trackers"
    empty.mkdir()
    load_database(imported_folder=empty, cache_folder=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_a_changed_imported_list_invalidates_the_cache(small_lists: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = load_database(imported_folder=small_lists, cache_folder=cache).lookup("x.acme-analytics.test")
    assert before is not None and before.company == "Acme Analytics Inc." and before.category == "advertising"
    (old,) = cache_files(cache)
    write_list(small_lists, "disconnect", {"acme-analytics.test": "social"}, company="Other Owner")
    after = load_database(imported_folder=small_lists, cache_folder=cache).lookup("x.acme-analytics.test")
    assert after is not None and (after.company, after.category) == ("Other Owner", "social")
    (new,) = cache_files(cache)
    assert new != old, "the stale cache file should be replaced, not kept beside the new one"
    # Same size, same content, only a new modification time: still rebuilt (never trusted blindly).
    os.utime(small_lists / "adguard.json", ns=(1, 1))
    load_database(imported_folder=small_lists, cache_folder=cache)
    assert cache_files(cache) != [new]
    # A list removed: its verdicts are gone too.
    (small_lists / "adguard.json").unlink()
    gone = load_database(imported_folder=small_lists, cache_folder=cache)
    verdict = gone.lookup("metrics.acme-analytics.test")
    assert verdict is not None and (verdict.domain, verdict.sources) == ("acme-analytics.test", ("disconnect",))


def test_a_changed_curated_file_invalidates_the_cache(
    small_lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    curated = tmp_path / "curated"
    shutil.copytree(curated_dir(), curated)
    monkeypatch.setattr(database_module, "curated_dir", lambda: curated)
    cache = tmp_path / "cache"
    assert load_database(imported_folder=small_lists, cache_folder=cache).lookup("acme-analytics.test") is not None
    assert load_database(imported_folder=small_lists, cache_folder=cache).lookup("probe.curated-change.test") is None
    (curated / "zz-cache-probe.toml").write_text(
        'name = "Probe Co"\ncountry = "FR"\nreference = "https://example.org/probe"\n'
        '[[service]]\nname = "Probe"\ncategory = "analytics"\ndomains = ["curated-change.test"]\n',
        encoding="utf-8",
    )
    verdict = load_database(imported_folder=small_lists, cache_folder=cache).lookup("probe.curated-change.test")
    assert verdict is not None and (verdict.company, verdict.country, verdict.source) == ("Probe Co", "FR", "curated")
    assert len(cache_files(cache)) == 1


@pytest.mark.parametrize(
    "damage",
    [b"", b"not a marshal file at all", b"\xe3\x00\x00", "marshal of other domains", "wrong shape", "truncated"],
)
def test_a_damaged_cache_is_ignored_and_rewritten(small_lists: Path, tmp_path: Path, damage: bytes | str) -> None:
    cache = tmp_path / "cache"
    expected = load_database(imported_folder=small_lists, use_cache=False)
    load_database(imported_folder=small_lists, cache_folder=cache)
    (written,) = cache_files(cache)
    good = written.read_bytes()
    if damage == "marshal of other domains":
        written.write_bytes(marshal.dumps({"other.test": ("other.test", None, None, None, None, None, "x", (), 0)}))
    elif damage == "wrong shape":
        written.write_bytes(marshal.dumps(dict.fromkeys(expected.entries, ("too", "short"))))
    elif damage == "truncated":
        written.write_bytes(good[: len(good) // 2])
    else:
        assert isinstance(damage, bytes)
        written.write_bytes(damage)
    database = load_database(imported_folder=small_lists, cache_folder=cache)
    for host in ("metrics.acme-analytics.test", "a.acme-analytics.test", "doubleclick.net", "unlisted.test"):
        assert database.lookup(host) == expected.lookup(host), host
    assert written.read_bytes() == good, "the damaged cache should have been rewritten"


def test_an_unusable_cache_folder_means_no_cache_and_no_error(small_lists: Path, tmp_path: Path) -> None:
    expected = load_database(imported_folder=small_lists, use_cache=False).lookup("metrics.acme-analytics.test")
    in_the_way = tmp_path / "cache"
    in_the_way.write_text("a file where the cache folder would go", encoding="utf-8")
    database = load_database(imported_folder=small_lists, cache_folder=in_the_way)
    assert database.lookup("metrics.acme-analytics.test") == expected
    assert in_the_way.read_text(encoding="utf-8").startswith("a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_folder_means_no_cache_and_no_error(small_lists: Path, tmp_path: Path) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    try:
        database = load_database(imported_folder=small_lists, cache_folder=read_only / "cache")
        assert database.lookup("doubleclick.net") is not None
        assert not (read_only / "cache").exists()
    finally:
        read_only.chmod(0o700)
