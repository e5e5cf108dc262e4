"""The worker's input pipe: messages arrive whole and in order however the bytes are cut, and idling is cheap."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from auditor.live.session import SessionSettings
from auditor.live.worker import WorkerClient, _frame, _poll_frames


def test_messages_cut_anywhere_arrive_whole_and_in_order() -> None:
    big = os.urandom(3 * 1024 * 1024)  # larger than the pipe: the worker reads it in many pieces
    messages = [("flow", b"x" * n) for n in range(0, 5000, 700)] + [("flow", big), ("close",)]
    stream = b"".join(_frame(m) for m in messages) + _frame(("flow", b"cut off"))[:-3]
    read_end, write_end = os.pipe()

    def write_in_odd_pieces() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as pipe:
            for start in range(0, len(stream), 65_521):
                pipe.write(stream[start : start + 65_521])
                time.sleep(0.001)

    writer = threading.Thread(target=write_in_odd_pieces)
    writer.start()
    try:
        received = list(_poll_frames(read_end, interval=0.005))
    finally:
        writer.join()
        os.close(read_end)
    assert received == messages  # the message cut off by the writer's end is dropped, not garbled


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from Linux's /proc")
def test_an_idle_worker_costs_almost_no_cpu(tmp_path: Path, auditor_env: dict[str, str]) -> None:
    folder = tmp_path / "session"
    client = WorkerClient(folder, SessionSettings(name="session", report_interval=0), save_flows=True)
    try:
        client.send("publish", {"event": "probe"})  # answered once the worker has started
        deadline = time.monotonic() + 60
        while b"probe" not in _read(folder / "events.jsonl"):
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.05)
        before = _cpu_seconds(client.process.pid)
        time.sleep(2.0)
        idle = _cpu_seconds(client.process.pid) - before
    finally:
        assert client.close() is not None
    # Idle, it waits on its pipe without polling: a rounding error of one core.
    assert idle < 0.1, f"idle worker used {idle:.2f} s of CPU in 2 s"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
