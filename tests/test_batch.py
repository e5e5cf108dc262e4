"""``auditor batch``: many captures, a report folder each, the catalogue, failures, re-runs and Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE, shared_capture
from synthetic_session import classroom_session

from auditor import batch as batching
from auditor.catalog import open as open_catalog
from auditor.cli import main
from auditor.export import har_document, write_har

PER_CAPTURE_FILES = {"report.json", "report.html", "destinations.csv", "findings.csv", "done.json"}


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    """A folder as a researcher has it: two versions of one app, another app's HAR, a broken file, a manifest."""
    folder = tmp_path / "captures"
    (folder / "v2").mkdir(parents=True)
    shutil.copy(SAMPLE_CAPTURE, folder / "classroom-1.0.mitm")
    shutil.copy(SAMPLE_CAPTURE, folder / "v2" / "classroom-2.0.mitm")
    write_har(har_document(classroom_session(hostile=True)), folder / "quiz-app.har")
    (folder / "broken.pcap").write_bytes(b"this is not a capture")
    (folder / "cut.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 30)  # a pcap cut off in its first frame
    (folder / "notes.md").write_text("lab notes, not a capture\n")
    session = folder / "live" / "lesson-3"  # a session folder as 'auditor proxy' writes it
    session.mkdir(parents=True)
    (session / "records.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in classroom_session()))
    (session / "session.json").write_text(json.dumps({"app_domains": ["classroom.example"], "app_name": "Live app"}))
    (folder / "manifest.csv").write_text(
        "capture,app_name,app_version,app_domains,persona\n"
        "classroom-1.0.mitm,Sample classroom,1.0,classroom.example,grade 5 student\n"
        "v2/classroom-2.0.mitm,Sample classroom,2.0,classroom.example,grade 5 student\n"
        "quiz-app.har,Quiz app,3.1,classroom.example;quiz.example,teacher\n"
    )
    return folder


def run_batch_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["batch", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def summary_rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "batch.csv").open(newline="") as handle:
        return {Path(row["capture"]).name: row for row in csv.DictReader(handle)}


def test_a_folder_of_captures_gives_reports_a_catalogue_and_names_the_failure(
    captures: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    out = tmp_path / "results"
    code, output = run_batch_cli(captures, "--manifest", captures / "manifest.csv", "--out", out, "--workers", "1")

    assert code == 3, output  # some captures failed: documented exit code
    assert "failed: " in output and "broken.pcap: unknown format" in output
    rows = summary_rows(out)
    assert set(rows) == {"classroom-1.0.mitm", "classroom-2.0.mitm", "quiz-app.har", "broken.pcap", "cut.pcap",
                         "lesson-3"}
    assert rows["broken.pcap"]["status"] == "failed" and "unknown format" in rows["broken.pcap"]["error"]
    assert rows["cut.pcap"]["status"] == "failed" and "byte 24" in rows["cut.pcap"]["error"]
    for name in ("classroom-1.0.mitm", "classroom-2.0.mitm", "quiz-app.har", "lesson-3"):
        assert rows[name]["status"] == "done"
        folder = out / rows[name]["report_dir"]
        assert {p.name for p in folder.iterdir()} == PER_CAPTURE_FILES
        report = json.loads((folder / "report.json").read_text())
        assert report["summary"]["findings"] == int(rows[name]["findings"]) > 0
        assert report["generated_at"] == "2026-01-01T10:00:00Z"  # SOURCE_DATE_EPOCH pins every capture's time

    with open_catalog(out / "catalog.duckdb") as catalogue:
        sessions = catalogue.sessions
        apps = catalogue.query("SELECT app_name, app_version, persona FROM sessions")
        assert sorted(apps.astype(object).where(apps.notna(), None).itertuples(index=False, name=None)) == [
            ("Live app", None, None),
            ("Quiz app", "3.1", "teacher"),
            ("Sample classroom", "1.0", "grade 5 student"),
            ("Sample classroom", "2.0", "grade 5 student"),
        ]
        quiz = sessions[sessions.app_name == "Quiz app"].iloc[0]
        assert list(quiz.app_domains) == ["classroom.example", "quiz.example"]
        assert quiz.tool_version and quiz.trackers_db_version.startswith("curated ")
        assert quiz.format == "har" and len(quiz.capture_sha256) == 64
        findings = catalogue.findings
        assert len(findings) == int(sessions.findings.sum())
        # The researcher's question from the issue: which apps send an advertising ID to Meta?
        apps = catalogue.query(
            "SELECT DISTINCT app_name FROM findings JOIN sessions USING (session_id) "
            "WHERE data_type = 'advertising_id' AND company = 'Meta' ORDER BY 1"
        )
        assert list(apps.app_name) == ["Sample classroom"]
        assert not findings.masked_value.str.contains("@example.org", regex=False).any()

    page = (out / "cross-app.html").read_text()
    assert "Quiz app" in page and "Sample classroom" in page and "<script>window.__pwned" not in page


def test_a_rerun_skips_what_is_done_and_force_redoes_it_without_duplicates(
    captures: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    out = tmp_path / "results"
    inputs = (captures / "quiz-app.har", captures / "classroom-1.0.mitm")
    assert run_batch_cli(*inputs, "--out", out, "--workers", "1")[0] == 0
    report = next(out.glob("captures/quiz-app.har-*/report.json"))
    first_write = report.stat().st_mtime_ns

    code, output = run_batch_cli(*inputs, "--out", out, "--workers", "1")
    assert code == 0 and output.count("skipped (already done)") == 2
    assert report.stat().st_mtime_ns == first_write

    code, output = run_batch_cli(*inputs, "--out", out, "--workers", "1", "--force")
    assert code == 0 and output.count("done: ") == 2
    assert report.stat().st_mtime_ns != first_write
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*), count(DISTINCT session_id) FROM sessions").fetchone() == (2, 2)

    # A changed setting is a different session: analysed, not skipped.
    code, output = run_batch_cli(captures / "quiz-app.har", "--out", out, "--workers", "1", "--app-version", "9")
    assert code == 0 and "done: " in output


def test_two_local_workers_write_the_same_bytes_as_one(
    captures: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    inputs = (captures / "quiz-app.har", captures / "classroom-1.0.mitm", captures / "v2")
    assert run_batch_cli(*inputs, "--out", tmp_path / "one", "--workers", "1")[0] == 0
    assert run_batch_cli(*inputs, "--out", tmp_path / "two", "--workers", "2")[0] == 0
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one" / "captures").rglob("*") if p.is_file())
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two" / "captures").rglob("*") if p.is_file())
    assert one == two and len(one) == 3 * len(PER_CAPTURE_FILES)
    for path in one:
        assert (tmp_path / "one" / path).read_bytes() == (tmp_path / "two" / path).read_bytes(), path


def test_ctrl_c_keeps_the_captures_that_finished(captures: Path, tmp_path: Path, auditor_env: dict[str, str]) -> None:
    out = tmp_path / "results"
    paths, _ = batching.discover([captures / "quiz-app.har", captures / "classroom-1.0.mitm"])
    jobs, _ = batching.plan(paths, {}, [], batching.CaptureSettings(app_domains=("classroom.example",)),
                            salt=b"s", generated_at="2026-01-01T10:00:00Z")

    def interrupt_after_first(status: str, job: batching.CaptureJob, result: object) -> None:
        raise KeyboardInterrupt  # what Ctrl-C raises in the client, right after a capture was stored

    with pytest.raises(KeyboardInterrupt):
        batching.run_batch(jobs, out, workers=2, progress=interrupt_after_first)
    done = [job for job in jobs if batching.is_done(out, job)]
    assert len(done) == 1
    folder = out / "captures" / done[0].folder_name
    assert {p.name for p in folder.iterdir()} == PER_CAPTURE_FILES  # whole files only, no temporary leftovers
    json.loads((folder / "report.json").read_text())
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as db:
        assert db.execute("SELECT session_id FROM sessions").fetchall() == [(done[0].session_id,)]

    outcome = batching.run_batch(jobs, out, workers=1)
    assert [r.job.path for r in outcome.done] == [j.path for j in jobs if j not in done]
    assert outcome.skipped == done


def test_a_key_log_is_matched_to_its_capture_by_name(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    for name in ("zeek_tls12-decryption.pcap", "zeek_tls12-decryption.sslkeylog.txt"):
        shutil.copy(shared_capture(name), folder / name)
    shutil.copy(shared_capture("ndpi_android.pcap"), folder / "ndpi_android.pcap")
    out = tmp_path / "results"
    code, output = run_batch_cli(folder, "--out", out, "--workers", "1")
    assert code == 0, output
    rows = summary_rows(out)
    assert set(rows) == {"zeek_tls12-decryption.pcap", "ndpi_android.pcap"}  # the key log is not a capture
    zeek = json.loads((out / rows["zeek_tls12-decryption.pcap"]["report_dir"] / "report.json").read_text())
    decrypted = [d for d in zeek["destinations"] if d["content_visible"]]
    assert [d["host"] for d in decrypted] == ["heise.de"]


def test_key_log_names_pair_with_capture_names() -> None:
    keylogs = [Path("a/illustrated-tls13_keylog.txt"), Path("a/zeek_tls12-decryption.sslkeylog.txt")]
    assert batching.match_keylog(Path("illustrated-tls13_capture.pcap"), keylogs) == keylogs[0]
    assert batching.match_keylog(Path("x/zeek_tls12-decryption.pcap"), keylogs) == keylogs[1]
    assert batching.match_keylog(Path("ndpi_android.pcap"), keylogs) is None


def test_a_bad_manifest_is_a_usage_error_naming_the_file(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("file,app\nx.pcap,y\n")
    code, output = run_batch_cli("--manifest", manifest, "--out", tmp_path / "out")
    assert code == 2 and "manifest.csv" in output and "'capture' column" in output


def test_purge_with_a_catalogue_forgets_old_sessions_and_their_reports(
    captures: Path, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    import duckdb

    out = tmp_path / "out"
    run_batch_cli(captures, "--manifest", captures / "manifest.csv", "--out", out, "--workers", "1")
    catalog = out / "catalog.duckdb"
    with duckdb.connect(str(catalog)) as connection:
        sessions = connection.execute("SELECT session_id, app_version, report_dir FROM sessions").fetchall()
        assert len(sessions) >= 2
        old_id, old_version, old_dir = sessions[0]
        # This session was analysed 200 days ago; the others today (reports pin generated_at in tests).
        connection.execute("UPDATE sessions SET analysed_at = now()")
        connection.execute("UPDATE sessions SET analysed_at = now() - INTERVAL 200 DAY WHERE session_id = ?", [old_id])
    assert (out / old_dir).is_dir()
    empty_sessions = tmp_path / "no-sessions"
    empty_sessions.mkdir()

    dry = CliRunner().invoke(main, ["purge", "--older-than", "90", "--dry-run", "--catalog", str(catalog),
                                    "--sessions-dir", str(empty_sessions)])
    assert dry.exit_code == 0 and f"would remove Sample classroom {old_version}" in dry.output, dry.output
    assert (out / old_dir).is_dir()

    done = CliRunner().invoke(main, ["purge", "--older-than", "90", "--yes", "--catalog", str(catalog),
                                     "--sessions-dir", str(empty_sessions)])
    assert done.exit_code == 0, done.output
    assert f"Removed 1 session(s) analysed more than 90 days ago from {catalog}" in done.output
    assert not (out / old_dir).exists()
    with duckdb.connect(str(catalog)) as connection:
        left = {row[0] for row in connection.execute("SELECT session_id FROM sessions").fetchall()}
        for table in ("destinations", "findings"):
            orphans = connection.execute(f"SELECT count(*) FROM {table} WHERE session_id = ?", [old_id]).fetchone()
            assert orphans == (0,)
    assert old_id not in left and len(left) == len(sessions) - 1


def test_a_cluster_worker_writes_the_files_itself_only_when_it_shares_the_output_folder(
    tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    """The check a Dask worker makes (``analyze_captures`` with the run's token), in this process."""
    jobs, _ = batching.plan([SAMPLE_CAPTURE], {}, [], batching.CaptureSettings(app_domains=("classroom.example",)),
                            salt=b"s", generated_at="2026-01-01T10:00:00Z", formats=("json", "csv"))
    out = tmp_path / "out"
    out.mkdir()
    (out / batching.RUN_TOKEN_FILE).write_text("the-run-token")

    # Another run's token (or no token file: another machine): the files travel back to the client.
    [shipped] = batching.analyze_captures(jobs, str(out), "another-run")
    assert set(shipped.files) == {"report.json", "destinations.csv", "findings.csv"}
    assert not (out / "captures").exists()

    previous = os.umask(0o022)  # a Dask worker does not run under the command's umask
    try:
        [written] = batching.analyze_captures(jobs, str(out), "the-run-token")
    finally:
        os.umask(previous)
    assert written.error is None and written.files == {} and written.rows
    folder = out / "captures" / jobs[0].folder_name
    assert {p.name: p.read_text() for p in folder.iterdir()} == shipped.files  # the same bytes either way
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
