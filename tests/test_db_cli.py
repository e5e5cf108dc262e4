"""``auditor db``: import, info, lookup, fetch and remove, as a user runs them.

Imports use the real lists in ../shared/trackers; ``db fetch`` downloads them
from a loopback HTTP server on 127.0.0.1 (never the Internet).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import run_auditor_process

from auditor.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "trackers"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real tracker lists not present at {SHARED}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def auditor(data_dir: Path, *args: str | Path) -> Result:
    """Run ``auditor ARGS`` in-process with its own data folder."""
    return CliRunner().invoke(main, [str(a) for a in args], env={"CLASSROOM_AUDITOR_DATA": str(data_dir)})


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A loopback HTTP server serving ``folder``, stopped on exit."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def loopback_mirror() -> Iterator[str]:
    """A loopback HTTP server serving ../shared/trackers."""
    if not SHARED.is_dir():
        pytest.skip(f"real tracker lists not present at {SHARED}")
    with serving(SHARED) as url:
        yield url


@needs_shared
def test_import_info_lookup(data_dir: Path) -> None:
    run = auditor(data_dir, "db", "import", "adguard", SHARED / "adguard-companiesdb")
    assert run.exit_code == 0, run.stderr
    assert "imported 5125 domains from adguard (version 2026-07-20T11:02:11.184Z, CC-BY-SA-4.0)" in run.stderr
    run = auditor(
        data_dir, "db", "import", "duckduckgo-app", SHARED / "duckduckgo-tracker-blocklists/app/android-tds.json"
    )
    assert run.exit_code == 0, run.stderr
    assert "non-commercial" in run.stderr  # the user is told not to redistribute it
    assert (data_dir / "trackers" / "adguard.json").is_file()

    info = auditor(data_dir, "db", "info", "--json")
    sources = {row["source"]: row for row in json.loads(info.stdout)["sources"]}
    assert sources["adguard"]["entries"] == 5125 and sources["adguard"]["license"] == "CC-BY-SA-4.0"
    assert sources["duckduckgo-app"]["version"].startswith("1688648647512")
    assert sources["duckduckgo-app"]["imported_at"].endswith("Z")
    assert sources["curated"]["entries"] > 0

    lookup = auditor(data_dir, "db", "lookup", "app-measurement.com", "a.applovin.com", "nothing-known.example")
    lines = lookup.stdout.splitlines()
    assert lines[0].startswith("app-measurement.com: Google (Alphabet Inc.), analytics, HQ US — curated; also adguard")
    assert "duckduckgo-app" in lines[1]
    assert lines[2] == "nothing-known.example: unknown (no source lists it)"

    removed = auditor(data_dir, "db", "remove", "duckduckgo-app")
    assert removed.exit_code == 0 and not (data_dir / "trackers" / "duckduckgo-app.json").exists()
    again = auditor(data_dir, "db", "remove", "duckduckgo-app")
    assert again.exit_code == 2 and "is not imported" in again.stderr


@needs_shared
def test_real_process_import_and_lookup_json(data_dir: Path) -> None:
    env = {"CLASSROOM_AUDITOR_DATA": str(data_dir)}
    run = run_auditor_process(["db", "import", "disconnect", SHARED / "disconnect-tracking-protection"], env=env)
    assert run.exit_code == 0, run.stderr
    run = run_auditor_process(["db", "lookup", "--json", "ad.doubleclick.net"], env=env)
    assert run.exit_code == 0, run.stderr
    (verdict,) = json.loads(run.stdout)
    assert verdict["company"] == "Google" and verdict["is_tracker"] and verdict["decided_by"] == "curated"
    assert {m["source"] for m in verdict["matches"]} == {"curated", "disconnect"}
    assert any(m["rule"] == "Advertising/Google:doubleclick.net" for m in verdict["matches"])


def test_import_of_the_wrong_file_exits_3_naming_it(data_dir: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "trackers.json"
    wrong.write_text("[1, 2, 3]")
    run = auditor(data_dir, "db", "import", "adguard", wrong)
    assert run.exit_code == 3
    assert run.stderr.strip().startswith(f"Error: {wrong}:") and len(run.stderr.strip().splitlines()) == 1
    assert not (data_dir / "trackers" / "adguard.json").exists()


def test_unknown_source_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    run = auditor(data_dir, "db", "import", "not-a-list", tmp_path)
    assert run.exit_code == 2


def test_corrupt_imported_list_does_not_stop_lookups(data_dir: Path) -> None:
    (data_dir / "trackers").mkdir(parents=True)
    (data_dir / "trackers" / "adguard.json").write_text('{"source": "adguard", "entries": [')
    run = auditor(data_dir, "db", "lookup", "doubleclick.net")
    assert run.exit_code == 0
    assert run.stdout.startswith("doubleclick.net: Google")
    info = json.loads(auditor(data_dir, "db", "info", "--json").stdout)
    (problem,) = info["unreadable"]
    assert problem.startswith(str(data_dir / "trackers" / "adguard.json")) and "re-import it" in problem


def test_fetch_from_loopback_mirror(data_dir: Path, loopback_mirror: str) -> None:
    run = auditor(data_dir, "db", "fetch", "adguard", "--url", f"{loopback_mirror}/adguard-companiesdb/")
    assert run.exit_code == 0, run.stderr
    assert "imported 5125 domains from adguard" in run.stderr
    run = auditor(data_dir, "db", "fetch", "disconnect", "--url", f"{loopback_mirror}/disconnect-tracking-protection")
    assert run.exit_code == 0, run.stderr
    info = json.loads(auditor(data_dir, "db", "info", "--json").stdout)
    rows = {row["source"]: row for row in info["sources"]}
    assert rows["adguard"]["upstream"] == f"{loopback_mirror}/adguard-companiesdb/"
    assert rows["disconnect"]["entries"] > 4000


def test_fetch_failure_is_one_line_with_the_url(data_dir: Path, loopback_mirror: str) -> None:
    run = auditor(data_dir, "db", "fetch", "ghostery", "--url", f"{loopback_mirror}/no-such-mirror/")
    assert run.exit_code == 3
    error = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and f"{loopback_mirror}/no-such-mirror/dist/trackerdb.json: HTTP 404" in error[0]
    assert "auditor db import ghostery PATH" in error[0]


def test_fetch_tracker_radar_unpacks_only_its_data(data_dir: Path, tmp_path: Path) -> None:
    # A repository archive as GitHub serves it, built from the synthetic fixture,
    # plus a member that tries to escape the unpack folder.
    mirror = tmp_path / "mirror"
    archive_path = mirror / "archive" / "refs" / "heads" / "main.tar.gz"
    archive_path.parent.mkdir(parents=True)
    fixture = Path(__file__).resolve().parent / "data" / "tracker-radar"
    escape = tmp_path / "escape.json"
    escape.write_text("{}")
    with tarfile.open(archive_path, "w:gz") as archive:
        archive.add(fixture, arcname="tracker-radar-main")
        archive.add(escape, arcname="tracker-radar-main/domains/US/../../../../escaped.json")
    with serving(mirror) as url:
        run = auditor(data_dir, "db", "fetch", "tracker-radar", "--url", f"{url}/")
    assert run.exit_code == 0, run.stderr
    # Only domains/US and entities are unpacked: the CA-only domain of the fixture is left out.
    assert "imported 2 domains from tracker-radar" in run.stderr and "1 CNAME aliases" in run.stderr
    lookup = auditor(data_dir, "db", "lookup", "stats.school-portal.example")
    assert "CNAME alias of school-portal.example.metrics-cloud.example (Metrics Cloud, analytics" in lookup.stdout
    assert not (tmp_path / "escaped.json").exists() and not (data_dir.parent / "escaped.json").exists()


def test_import_help_lists_every_source_on_its_own_line(data_dir: Path) -> None:
    from trackers_db.importers import SOURCES

    lines = [line.strip() for line in auditor(data_dir, "db", "import", "--help").stdout.splitlines()]
    for source in SOURCES:
        assert any(line.startswith(f"{source} ") for line in lines), source


def test_lookup_of_a_url_names_the_endpoint_of_its_path(data_dir: Path) -> None:
    """www.google.com is Google's site, but /ads/ga-audiences on it is Google Analytics' remarketing beacon."""
    result = auditor(data_dir, "db", "lookup", "google.com", "https://www.google.com/ads/ga-audiences?t=sr",
                     "www.facebook.com/tr")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("google.com: Google") and "unknown" not in lines[0]
    assert "path /ads/ga-audiences: Google — Google Analytics audiences (remarketing) (advertising" in lines[1]
    assert "path /tr: Meta — Meta Pixel events (advertising" in lines[2]
    as_json = json.loads(auditor(data_dir, "db", "lookup", "--json", "www.google.com/pagead/1p-user-list/1").output)
    assert as_json[0]["endpoint"]["category"] == "advertising" and as_json[0]["endpoint"]["is_tracker"]
    assert as_json[0]["company"] == "Google" and not as_json[0]["is_tracker"]  # the host itself is no tracker
