"""The students' data at rest: owner-only files and folders, retention, encryption, a shared profile warned about.

Through the real CLI (permissions in a subprocess, so the command's own umask
is what is tested), and the real live session writer for encryption.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, SAMPLE_CAPTURE, pinned_env, run_analyze
from mitmproxy import io as mitm_io

from auditor import atrest, retention
from auditor.live.session import LiveSession, SessionSettings
from auditor.sources import ReadOptions, mitmflows

SAMPLE_PROFILE = REPO / "captures" / "sample-profile.toml"
PASSPHRASE = "correct horse battery staple"
PLANTED_EMAIL = b"mia.testpupil@student.example"  # a pupil's address the sample capture sends


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def auditor_process(args: list[str | os.PathLike[str]], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command as a user runs it, with a umask that would otherwise give 0644 files."""
    return subprocess.run(
        [sys.executable, "-c", "import os, sys; os.umask(0o022); from auditor.cli import main; sys.exit(main())",
         *[os.fspath(a) for a in args]],
        capture_output=True, text=True, env={**os.environ, **pinned_env(data_dir), **env}, timeout=120, cwd=REPO,
        check=False,
    )


# -- owner-only files and folders ------------------------------------------------------------------------


def test_reports_from_analyze_report_and_diff_are_owner_only_and_so_are_new_folders(tmp_path: Path) -> None:
    out = tmp_path / "reports" / "term1"
    old_json = out / "old.json"
    out.mkdir(parents=True)
    old_json.write_text("{}")
    old_json.chmod(0o644)  # an earlier report at the old default mode is replaced by an owner-only one
    done = auditor_process(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example",
                            "--json", old_json, "--html", out / "new" / "r.html", "--csv", out / "csv"], tmp_path / "d")
    assert done.returncode == 0, done.stderr
    written = [old_json, out / "new" / "r.html", out / "csv" / "destinations.csv", out / "csv" / "findings.csv"]
    assert {path.name: mode(path) for path in written} == {path.name: 0o600 for path in written}
    assert mode(out / "new") == 0o700 and mode(out / "csv") == 0o700

    done = auditor_process(["report", old_json, "--html", tmp_path / "again" / "r.html"], tmp_path / "d")
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "again" / "r.html") == 0o600 and mode(tmp_path / "again") == 0o700

    done = auditor_process(["diff", old_json, old_json, "--html", tmp_path / "diffs" / "d.html"], tmp_path / "d")
    assert done.returncode in (0, 1), done.stderr
    assert mode(tmp_path / "diffs" / "d.html") == 0o600 and mode(tmp_path / "diffs") == 0o700


def test_a_live_session_folder_and_its_parents_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "sessions" / "lesson-1"
    session = LiveSession(folder, SessionSettings(name="lesson-1"), salt=b"test")
    session.close()
    assert mode(tmp_path / "data" / "sessions") == 0o700 and mode(folder) == 0o700
    assert all(mode(path) == 0o600 for path in folder.iterdir() if path.is_file())


def test_analyze_warns_about_a_profile_other_users_can_read(tmp_path: Path) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_bytes(SAMPLE_PROFILE.read_bytes())
    profile.chmod(0o644)
    args = ["analyze", SAMPLE_CAPTURE, "--profile", profile, "--json", tmp_path / "r.json"]
    run = run_analyze(args, env=pinned_env(tmp_path))
    assert run.exit_code == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if str(profile) in line]
    assert len(warnings) == 1 and "can be read by other users" in warnings[0] and f"chmod 600 {profile}" in warnings[0]
    profile.chmod(0o600)
    run = run_analyze(args, env=pinned_env(tmp_path))
    assert str(profile) not in run.stderr


# -- retention ------------------------------------------------------------------------------------------


def make_session(sessions: Path, name: str, age_days: float) -> Path:
    folder = sessions / name
    folder.mkdir(parents=True)
    (folder / "records.jsonl").write_text('{"kind": "http"}\n')
    (folder / "flows.mitm").write_bytes(b"x" * 2048)
    moment = time.time() - age_days * retention.DAY
    for path in (*folder.iterdir(), folder):
        os.utime(path, (moment, moment))
    return folder


def test_purge_removes_only_sessions_idle_longer_than_the_limit_and_says_so(tmp_path: Path) -> None:
    sessions = tmp_path / "data" / "sessions"
    old = make_session(sessions, "autumn-term", 200)
    older = make_session(sessions, "summer-term", 300)
    recent = make_session(sessions, "this-week", 3)
    resumed = make_session(sessions, "resumed-yesterday", 200)
    (resumed / "records.jsonl").touch()  # a record appended now: the session is not idle
    outside = make_session(tmp_path / "elsewhere", "keep-me", 400)
    (sessions / "link-to-elsewhere").symlink_to(outside)

    dry = run_analyze(["purge", "--older-than", "90", "--dry-run"], env=pinned_env(tmp_path / "data"))
    assert dry.exit_code == 0, dry.stderr
    assert [line.split(" (")[0] for line in dry.stdout.splitlines()[:2]] == [
        f"would remove {older}", f"would remove {old}"]
    assert "nothing was deleted" in dry.stdout
    assert old.is_dir() and older.is_dir()

    refused = run_analyze(["purge", "--older-than", "90"], env=pinned_env(tmp_path / "data"))
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert old.is_dir()

    forgotten: list[Path] = []
    retention.CATALOGUE_HOOKS.append(forgotten.append)
    try:
        done = run_analyze(["purge", "--older-than", "90", "--yes"], env=pinned_env(tmp_path / "data"))
    finally:
        retention.CATALOGUE_HOOKS.remove(forgotten.append)
    assert done.exit_code == 0, done.stderr
    assert f"removed {old}" in done.stdout and f"removed {older}" in done.stdout
    assert "Removed 2 of 2 session(s)" in done.stdout
    assert not old.exists() and not older.exists()
    assert recent.is_dir() and resumed.is_dir() and outside.is_dir() and (sessions / "link-to-elsewhere").is_symlink()
    assert forgotten == [older, old]


def test_purge_with_nothing_to_remove_says_so(tmp_path: Path) -> None:
    make_session(tmp_path / "s", "today", 0)
    run = run_analyze(["purge", "--older-than", "30", "--yes", "--sessions-dir", tmp_path / "s"], env={})
    assert run.exit_code == 0 and "nothing to remove" in run.stdout


# -- encryption at rest ---------------------------------------------------------------------------------


def record_encrypted_session(folder: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Record the sample capture's traffic through the live session with a key set; return the record count."""
    monkeypatch.setenv(atrest.KEY_ENV, PASSPHRASE)
    records = list(mitmflows.read(SAMPLE_CAPTURE, ReadOptions(), []))
    session = LiveSession(folder, SessionSettings(name=folder.name, app_domains=("classroom.example",)), salt=b"t")
    for record in records:
        session.add(record)
    session.close()
    monkeypatch.delenv(atrest.KEY_ENV)
    return len(records)


def test_an_encrypted_session_keeps_no_raw_value_on_disk_and_analyze_reads_it_with_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sessions" / "lesson"
    count = record_encrypted_session(folder, monkeypatch)
    assert not (folder / "records.jsonl").exists()
    encrypted = (folder / "records.jsonl.enc").read_bytes()
    assert PLANTED_EMAIL in SAMPLE_CAPTURE.read_bytes()  # the raw traffic carries it; the file on disk must not
    assert encrypted.startswith(atrest.MAGIC) and PLANTED_EMAIL not in encrypted
    assert mode(folder / "records.jsonl.enc") == 0o600 and mode(folder / "at-rest.json") == 0o600

    key_file = tmp_path / "lesson.key"
    key_file.write_text(PASSPHRASE + "\n")
    with_file = run_analyze(["analyze", folder, "--key-file", key_file, "--json", tmp_path / "a.json"],
                            env=pinned_env(tmp_path))
    with_env = run_analyze(["analyze", folder, "--json", tmp_path / "b.json"],
                           env=pinned_env(tmp_path, CLASSROOM_AUDITOR_KEY=PASSPHRASE))
    plain = run_analyze(["analyze", SAMPLE_CAPTURE, "--app-domain", "classroom.example", "--json", tmp_path / "c.json"],
                        env=pinned_env(tmp_path))
    for run in (with_file, with_env):
        assert run.exit_code == 0, run.stderr
        assert run.report is not None and plain.report is not None
        assert run.report["inputs"][0]["records"] == count
        assert run.report["destinations"] == plain.report["destinations"]
        assert len(run.report["findings"]) == len(plain.report["findings"]) > 0


def test_an_encrypted_session_restarted_under_its_name_counts_the_earlier_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lesson"
    first = record_encrypted_session(folder, monkeypatch)
    second = record_encrypted_session(folder, monkeypatch)  # the proxy restarted for the second half of the lesson
    settings = json.loads((folder / "session.json").read_text())
    assert settings["records"] == first + second
    report = json.loads((folder / "report.json").read_text())
    assert report["summary"]["records"] == first + second
    assert not (folder / "records.jsonl").exists()  # still nothing in clear


def test_an_encrypted_session_without_the_key_or_with_a_wrong_one_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lesson"
    record_encrypted_session(folder, monkeypatch)
    monkeypatch.delenv(atrest.KEY_FILE_ENV, raising=False)
    no_key = run_analyze(["analyze", folder, SAMPLE_CAPTURE, "--json", tmp_path / "r.json"], env=pinned_env(tmp_path))
    assert no_key.exit_code == 3
    errors = [line for line in no_key.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and str(folder) in errors[0] and "--key-file" in errors[0]

    wrong = run_analyze(["analyze", folder, "--json", tmp_path / "r.json"],
                        env=pinned_env(tmp_path, CLASSROOM_AUDITOR_KEY="not the passphrase"))
    assert wrong.exit_code == 3 and "wrong key for this session" in wrong.stderr


def test_encrypted_flows_decrypt_back_to_the_flows_mitmproxy_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lesson"
    folder.mkdir()
    monkeypatch.setenv(atrest.KEY_ENV, PASSPHRASE)
    flows = list(mitm_io.FlowReader(io.BytesIO(SAMPLE_CAPTURE.read_bytes())).stream())
    writer = atrest.open_raw_part(folder / "flows.mitm")
    flow_writer = mitm_io.FlowWriter(writer)
    for flow in flows:
        flow_writer.add(flow)
    writer.close()
    monkeypatch.delenv(atrest.KEY_ENV)
    assert not (folder / "flows.mitm").exists() and PLANTED_EMAIL not in (folder / "flows.mitm.enc").read_bytes()

    key_file = tmp_path / "k"
    key_file.write_text(PASSPHRASE)
    run = run_analyze(["decrypt", folder / "flows.mitm.enc", "-o", tmp_path / "plain.mitm", "--key-file", key_file])
    assert run.exit_code == 0, run.stderr
    back = list(mitm_io.FlowReader(io.BytesIO((tmp_path / "plain.mitm").read_bytes())).stream())
    assert [f.get_state() for f in back] == [f.get_state() for f in flows]
    assert mode(tmp_path / "plain.mitm") == 0o600


def test_a_frame_cut_by_a_crash_loses_only_that_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "lesson"
    count = record_encrypted_session(folder, monkeypatch)
    path = folder / "records.jsonl.enc"
    path.write_bytes(path.read_bytes()[:-10])
    run = run_analyze(["analyze", folder, "--json", tmp_path / "r.json"],
                      env=pinned_env(tmp_path, CLASSROOM_AUDITOR_KEY=PASSPHRASE))
    assert run.exit_code == 0, run.stderr
    assert run.report is not None and run.report["inputs"][0]["records"] == count - 1


def test_a_changed_frame_is_an_error_not_silently_different_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lesson"
    record_encrypted_session(folder, monkeypatch)
    path = folder / "records.jsonl.enc"
    data = bytearray(path.read_bytes())
    data[len(atrest.MAGIC) + 40] ^= 1
    path.write_bytes(bytes(data))
    run = run_analyze(["analyze", folder, "--json", tmp_path / "r.json"],
                      env=pinned_env(tmp_path, CLASSROOM_AUDITOR_KEY=PASSPHRASE))
    assert run.exit_code == 3 and "does not match the key" in run.stderr
    assert json.loads((folder / "at-rest.json").read_text())["kdf"] == "scrypt"


def test_export_and_batch_read_an_encrypted_session_with_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import run_auditor_process

    folder = tmp_path / "sessions" / "lesson"
    record_encrypted_session(folder, monkeypatch)
    key_file = tmp_path / "lesson.key"
    key_file.write_text(PASSPHRASE + "\n")
    env = {**pinned_env(tmp_path), "CLASSROOM_AUDITOR_KEY": "", "CLASSROOM_AUDITOR_KEY_FILE": ""}

    exported = run_analyze(["export", folder, "--key-file", key_file, "--har", tmp_path / "lesson.har"], env=env)
    assert exported.exit_code == 0, exported.stderr
    entries = json.loads((tmp_path / "lesson.har").read_text())["log"]["entries"]
    assert entries and all(entry["request"]["url"].startswith("http") for entry in entries)
    no_key = run_analyze(["export", folder, "--har", tmp_path / "none.har"], env=env)
    assert no_key.exit_code == 3 and "--key-file" in no_key.stderr

    batched = run_auditor_process(["batch", folder, "--out", tmp_path / "out", "--key-file", key_file,
                                   "--workers", "1", "--formats", "json"], env=env)
    assert batched.exit_code == 0, batched.stderr
    (report_path,) = (tmp_path / "out").rglob("report.json")
    report = json.loads(report_path.read_text())
    assert report["summary"]["records"] > 0 and report["findings"]
    refused = run_auditor_process(["batch", folder, "--out", tmp_path / "refused", "--workers", "1"], env=env)
    assert refused.exit_code == 3 and "--key-file" in refused.stderr
