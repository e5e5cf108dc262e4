"""``auditor batch`` on a real Dask cluster (a scheduler and two worker processes on 127.0.0.1).

Slow: the cluster starts two Python processes. Both tests share one cluster.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE, TEST_SALT

from auditor import batch as batching
from auditor.cli import main

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    data = tmp_path_factory.mktemp("auditor-data")
    saved = {key: os.environ.get(key) for key in ("CLASSROOM_AUDITOR_DATA", "CLASSROOM_AUDITOR_SALT")}
    os.environ.update(CLASSROOM_AUDITOR_DATA=str(data), CLASSROOM_AUDITOR_SALT=TEST_SALT)  # inherited by workers
    local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None, silence_logs=50)
    try:
        yield local
    finally:
        local.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_captures(folder: Path, count: int) -> list[Path]:
    """``count`` captures of one app in different versions (distinct sessions, same small content)."""
    folder.mkdir(parents=True)
    paths = []
    for number in range(count):
        path = folder / f"classroom-{number}.mitm"
        shutil.copy(SAMPLE_CAPTURE, path)
        paths.append(path)
    (folder / "manifest.csv").write_text(
        "capture,app_name,app_version,app_domains,persona\n"
        + "".join(f"{p.name},Sample classroom,{n}.0,classroom.example,student\n" for n, p in enumerate(paths))
    )
    return paths


def report_files(out: Path) -> dict[Path, bytes]:
    return {p.relative_to(out): p.read_bytes() for p in (out / "captures").rglob("*") if p.is_file()}


def test_the_cluster_writes_the_same_bytes_as_a_local_run(
    cluster: object, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    folder = tmp_path / "captures"
    make_captures(folder, 4)
    args = ["batch", str(folder), "--manifest", str(folder / "manifest.csv")]
    local = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "local"), "--workers", "1"])
    assert local.exit_code == 0, local.output
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    assert address.startswith("tcp://127.0.0.1:")
    remote = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "cluster"), "--scheduler", address])
    assert remote.exit_code == 0, remote.output
    local_files, cluster_files = report_files(tmp_path / "local"), report_files(tmp_path / "cluster")
    assert len(local_files) == 4 * 5 and local_files == cluster_files


def test_a_worker_killed_mid_batch_loses_no_capture(
    cluster: object, tmp_path: Path, auditor_env: dict[str, str]
) -> None:
    paths = make_captures(tmp_path / "captures", 8)
    settings = batching.read_manifest(tmp_path / "captures" / "manifest.csv")
    jobs, _ = batching.plan(paths, settings, [], batching.CaptureSettings(), salt=b"s",
                            generated_at="2026-01-01T10:00:00Z")
    client = distributed.Client(cluster)
    killed: list[int] = []

    def kill_a_busy_worker(status: str, job: batching.CaptureJob, result: object) -> None:
        if killed:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            busy = [address for address, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)  # polling the scheduler for a busy worker, bounded by the deadline

    try:
        outcome = batching.run_batch(jobs, tmp_path / "out", client=client, progress=kill_a_busy_worker)
    finally:
        client.close()
    assert killed, "no worker was busy after the first capture: the test did not kill anything"
    assert not outcome.failed and len(outcome.done) == 8
    assert sorted(r.job.session_id for r in outcome.done) == sorted(j.session_id for j in jobs)
    with duckdb.connect(str(tmp_path / "out" / "catalog.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*), count(DISTINCT session_id) FROM sessions").fetchone() == (8, 8)
        per_session = db.execute("SELECT count(*) FROM findings GROUP BY session_id").fetchall()
        assert len(set(per_session)) == 1  # every session complete, none written twice
    assert all(batching.is_done(tmp_path / "out", job) for job in jobs)
