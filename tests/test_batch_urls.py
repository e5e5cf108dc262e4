"""``auditor batch`` over URLs (fsspec): listing, hashing, private copies, errors, manifests.

Uses fsspec's in-memory file system (``memory://``): real fsspec, no network. The loopback
HTTP case needs aiohttp, which is not installed here; a URL on a Dask cluster is tested with
``file://`` in ``test_batch_dask.py``.
"""

from __future__ import annotations

import csv
import json
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE

from auditor import batch as batching
from auditor import remote
from auditor.cli import main

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[str]:
    """A folder URL in fsspec's memory file system as a researcher would fill a bucket, removed afterwards."""
    fs = fsspec.filesystem("memory")
    root = f"/bucket-{tmp_path.name}"
    sample = SAMPLE_CAPTURE.read_bytes()
    fs.pipe(f"{root}/captures/classroom-1.0.mitm", sample)
    fs.pipe(f"{root}/captures/v2/classroom-2.0.mitm", sample)
    fs.pipe(f"{root}/captures/notes.md", b"lab notes, not a capture\n")
    fs.pipe(f"{root}/captures/.hidden/classroom-9.mitm", sample)
    fs.pipe(f"{root}/captures/lesson_keylog.txt", b"CLIENT_RANDOM 00 11\n")
    yield f"memory://{root.lstrip('/')}/captures"
    fs.rm(root, recursive=True)


def run_batch_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["batch", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_folder_url_is_listed_like_a_folder_and_hashed_like_the_same_bytes_on_disk(bucket: str) -> None:
    captures, keylogs = batching.discover([bucket])
    assert [remote.name(str(c)) for c in captures] == ["classroom-1.0.mitm", "classroom-2.0.mitm"]
    assert all(str(c).startswith("memory://") for c in captures)
    assert [remote.name(str(k)) for k in keylogs] == ["lesson_keylog.txt"]
    assert batching.keylogs_in(bucket) == keylogs and batching.keylogs_in(keylogs[0]) == keylogs  # --keylog URL
    # Naming one object is a capture too, and a second spelling of it is not a second capture.
    named = str(captures[0]).replace(":///", "://")
    assert batching.discover([named, captures[0]])[0] == [named]

    local = batching.content_hash(SAMPLE_CAPTURE)
    assert batching.content_hash(captures[0]) == batching.content_hash(captures[1]) == local
    settings = batching.CaptureSettings(app_domains=("classroom.example",))
    jobs, unreadable = batching.plan([captures[0], SAMPLE_CAPTURE], {}, [], settings, salt=b"s",
                                     generated_at="2026-01-01T10:00:00Z", db_version="test")
    assert not unreadable and jobs[0].session_id == jobs[1].session_id  # the same capture, wherever it is read
    assert jobs[0].path == captures[0] and jobs[0].folder_name.startswith("classroom-1.0.mitm-")


def test_a_url_capture_is_analysed_from_a_private_copy_that_is_removed(
    bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{bucket}/classroom-1.0.mitm"
    with remote.local_copy(url) as copy:
        assert copy.read_bytes() == SAMPLE_CAPTURE.read_bytes() and copy.name == "classroom-1.0.mitm"
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    assert not copy.parent.exists()

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    jobs, _ = batching.plan([url], {}, [], batching.CaptureSettings(app_domains=("classroom.example",)),
                            salt=b"s", generated_at="2026-01-01T10:00:00Z", db_version="test")
    result = batching.analyze_capture(jobs[0])
    assert result.error is None and result.summary["findings"] > 0
    report = json.loads(result.files["report.json"])
    assert [i["path"] for i in report["inputs"]] == [url]  # the URL, never the temporary copy's name
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_url_batch_writes_the_same_reports_as_the_files_on_disk(
    bucket: str, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(SAMPLE_CAPTURE, local / "classroom-1.0.mitm")
    common = ("--app-domain", "classroom.example", "--workers", "1", "--formats", "json,csv")
    assert run_batch_cli(local / "classroom-1.0.mitm", "--out", tmp_path / "from-disk", *common)[0] == 0
    code, output = run_batch_cli(f"{bucket}/classroom-1.0.mitm", "--out", tmp_path / "from-url", *common)
    assert code == 0, output

    disk, url = (next((tmp_path / run).glob("captures/classroom-1.0.mitm-*")) for run in ("from-disk", "from-url"))
    assert disk.name == url.name  # same content and settings: the same session
    for name in ("destinations.csv", "findings.csv"):
        assert (disk / name).read_bytes() == (url / name).read_bytes()
    disk_report, url_report = (json.loads((folder / "report.json").read_text()) for folder in (disk, url))
    assert url_report["inputs"][0]["path"] == f"{bucket}/classroom-1.0.mitm"  # as the user named it
    for report in (disk_report, url_report):
        report["inputs"][0]["path"] = ""
    assert disk_report == url_report
    assert stat.S_IMODE((url / "report.json").stat().st_mode) == 0o600


def test_a_url_that_names_nothing_fails_that_capture_only(bucket: str, tmp_path: Path,
                                                         auditor_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    missing = f"{bucket}/gone.mitm"
    code, output = run_batch_cli(missing, f"{bucket}/classroom-1.0.mitm", "--out", out, "--workers", "1",
                                 "--app-domain", "classroom.example", "--formats", "json")
    assert code == 3, output  # an input that cannot be read: documented exit code
    assert f"Error: {missing}: cannot read" in output
    with (out / "batch.csv").open(newline="") as handle:
        rows = {remote.name(row["capture"]): row["status"] for row in csv.DictReader(handle)}
    assert rows == {"gone.mitm": "failed", "classroom-1.0.mitm": "done"}


@pytest.mark.parametrize(("url", "expected"), [
    ("nosuchproto://bucket/captures/", "unknown URL protocol"),
    ("s3://bucket/captures/", "s3fs"),  # a store whose fsspec package is not installed here
])
def test_a_url_this_machine_cannot_read_is_a_one_line_usage_error_naming_it(
    url: str, expected: str, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    if url.startswith("s3://"):
        try:
            import s3fs  # noqa: F401 - only its absence is tested
        except ImportError:
            pass
        else:
            pytest.skip("s3fs is installed")
    code, output = run_batch_cli(url, "--out", tmp_path / "out")
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and url in errors[0] and expected in errors[0], output
    assert not (tmp_path / "out").exists()


def test_a_manifest_row_may_name_a_url(bucket: str, tmp_path: Path, auditor_env: dict[str, str]) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("capture,app_name,app_version,app_domains,persona\n"
                        f"{bucket}/v2/classroom-2.0.mitm,Sample classroom,2.0,classroom.example,student\n")
    out = tmp_path / "out"
    code, output = run_batch_cli("--manifest", manifest, "--out", out, "--workers", "1", "--formats", "json")
    assert code == 0, output
    [folder] = out.glob("captures/classroom-2.0.mitm-*")
    report = json.loads((folder / "report.json").read_text())
    assert report["inputs"][0]["path"].endswith("/v2/classroom-2.0.mitm") and report["summary"]["findings"] > 0
    with (out / "batch.csv").open(newline="") as handle:
        assert [row["status"] for row in csv.DictReader(handle)] == ["done"]


def test_a_password_in_a_url_is_never_shown(bucket: str, tmp_path: Path, auditor_env: dict[str, str]) -> None:
    out = tmp_path / "out"
    secret = "memory://teacher:hunter2@lab-share/captures/lesson.mitm"
    code, output = run_batch_cli(secret, f"{bucket}/classroom-1.0.mitm", "--out", out, "--workers", "1",
                                 "--app-domain", "classroom.example", "--formats", "json")
    assert code == 3 and "memory://lab-share/captures/lesson.mitm" in output
    written = [output, (out / "batch.csv").read_text()]
    written += [p.read_text() for p in out.glob("captures/*/*.json")]
    assert not any("hunter2" in text or "teacher:" in text for text in written)
    assert remote.shown("fetch https://u:p@host/a.har failed") == "fetch https://host/a.har failed"
