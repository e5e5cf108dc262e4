"""``auditor batch --scheduler`` on a real Dask cluster: ``dask scheduler`` and two ``dask worker`` on 127.0.0.1.

Everything runs in child processes (the batch too), so no Dask thread outlives these tests in the
test process. Slow: marked ``slow``; the module shares one cluster and kills one of its workers last.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from helpers import SAMPLE_CAPTURE, pinned_env

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)  # polling a file or process state, bounded by the deadline
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("dask")
    env = {**os.environ, **pinned_env(folder / "auditor-data")}
    scheduler_file = folder / "scheduler.json"
    processes = [subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", scheduler_file],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )]
    try:
        wait_for(scheduler_file.is_file, "the scheduler's address file")
        wait_for(lambda: json.loads(scheduler_file.read_text() or "{}").get("address"), "the scheduler's address")
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        # The second worker is started as docs/batch.md recommends: the pipeline preloaded at start.
        workers = [subprocess.Popen(
            [BIN / "dask", "worker", address, "--host", "127.0.0.1", "--nworkers", "1", "--nthreads", "1",
             "--no-dashboard", *preload],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ) for preload in ((), ("--preload", "auditor.batch"))]
        processes += workers
        yield {"address": address, "workers": workers, "env": env}
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def make_captures(folder: Path, count: int) -> Path:
    """``count`` captures of one app in different versions (distinct sessions), with their manifest."""
    folder.mkdir(parents=True)
    lines = ["capture,app_name,app_version,app_domains,persona"]
    for number in range(count):
        shutil.copy(SAMPLE_CAPTURE, folder / f"classroom-{number}.mitm")
        lines.append(f"classroom-{number}.mitm,Sample classroom,{number}.0,classroom.example,student")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder / "manifest.csv"


def batch_command(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [str(BIN / "auditor"), "batch", str(manifest.parent), "--manifest", str(manifest), "--out", str(out),
            *extra]


def report_files(out: Path) -> dict[Path, bytes]:
    return {p.relative_to(out): p.read_bytes() for p in (out / "captures").rglob("*") if p.is_file()}


def test_the_cluster_writes_the_same_bytes_as_a_local_run(cluster: dict[str, object], tmp_path: Path) -> None:
    manifest = make_captures(tmp_path / "captures", 4)
    env = cluster["env"]
    local = subprocess.run(batch_command(manifest, tmp_path / "local", "--workers", "1"), env=env,
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    remote = subprocess.run(batch_command(manifest, tmp_path / "cluster", "--scheduler", str(cluster["address"])),
                            env=env, capture_output=True, text=True, timeout=300)
    assert remote.returncode == 0, remote.stderr
    assert remote.stderr.count("done: ") == 4
    local_files, cluster_files = report_files(tmp_path / "local"), report_files(tmp_path / "cluster")
    assert len(local_files) == 4 * 5 and local_files == cluster_files
    assert [worker.poll() for worker in cluster["workers"]] == [None, None]  # type: ignore[attr-defined]


def test_a_url_input_is_read_by_the_workers_and_gives_the_same_bytes_as_a_local_run(
    cluster: dict[str, object], tmp_path: Path
) -> None:
    make_captures(tmp_path / "captures", 3)
    url = (tmp_path / "captures").as_uri()  # file:///...: each worker opens the captures through fsspec
    env = cluster["env"]
    runs = {}
    for name, where in (("local", ("--workers", "1")), ("cluster", ("--scheduler", str(cluster["address"])))):
        command = [str(BIN / "auditor"), "batch", url, "--app-domain", "classroom.example", "--out",
                   str(tmp_path / name), *where]
        runs[name] = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert runs[name].returncode == 0, runs[name].stderr
    assert runs["cluster"].stderr.count("done: ") == 3
    local_files, cluster_files = report_files(tmp_path / "local"), report_files(tmp_path / "cluster")
    assert len(local_files) == 3 * 5 and local_files == cluster_files
    report = json.loads(next(v for k, v in cluster_files.items() if k.name == "report.json"))
    assert report["inputs"][0]["path"].startswith(url + "/classroom-")


def test_a_worker_killed_mid_batch_loses_no_capture(cluster: dict[str, object], tmp_path: Path) -> None:
    manifest = make_captures(tmp_path / "captures", 16)
    out = tmp_path / "out"
    victim = cluster["workers"][0]  # type: ignore[index]
    lines = []
    with subprocess.Popen(batch_command(manifest, out, "--scheduler", str(cluster["address"])),
                          env=cluster["env"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as batch:
        assert batch.stderr is not None
        for line in batch.stderr:  # plain progress lines: not a terminal
            lines.append(line)
            if "done: " in line:
                os.killpg(victim.pid, signal.SIGKILL)  # the worker and its nanny, mid-batch
                break
        lines += batch.stderr.readlines()
        assert batch.wait(timeout=300) == 0, "".join(lines)
    assert victim.wait(timeout=30) == -signal.SIGKILL
    assert sum("done: " in line for line in lines) == 16
    assert "16 analysed, 0 already done, 0 failed" in lines[-1]
    with duckdb.connect(str(out / "catalog.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*), count(DISTINCT session_id) FROM sessions").fetchone() == (16, 16)
        per_session = db.execute("SELECT count(*) FROM findings GROUP BY session_id").fetchall()
        assert len(per_session) == 16 and len(set(per_session)) == 1  # every session whole, none twice
    assert len(list(out.glob("captures/*/done.json"))) == 16
