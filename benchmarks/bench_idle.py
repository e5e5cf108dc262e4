"""CPU an idle live session costs: the worker waiting on an empty spool.

A lab tablet sits idle between lessons while the proxy runs; the worker then only looks at the spool
(50 times a second). Target: under 5 % of one core.

    .venv/bin/python benchmarks/bench_idle.py               # 10 s window
    .venv/bin/python benchmarks/bench_idle.py --seconds 30

Prints the worker's CPU seconds over the window and the share of one core; exits 1 when over the target.
Reads CPU time from Linux's /proc.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

MAX_SHARE = 0.05


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window (default 10)")
    args = parser.parse_args()
    from auditor.live.session import SessionSettings
    from auditor.live.worker import WorkerClient

    with tempfile.TemporaryDirectory(prefix="bench-idle-") as temp:
        os.environ.setdefault("CLASSROOM_AUDITOR_DATA", str(Path(temp) / "data"))
        folder = Path(temp) / "session"
        client = WorkerClient(folder, SessionSettings(name="session", report_interval=0), save_flows=True)
        try:
            client.send("publish", {"event": "probe"})  # answered once the worker has started
            deadline = time.monotonic() + 60
            while b"probe" not in _read(folder / "events.jsonl"):
                if time.monotonic() > deadline:
                    print("the worker did not start within 60 s", file=sys.stderr)
                    return 3
                time.sleep(0.05)
            before, started = cpu_seconds(client.process.pid), time.monotonic()
            time.sleep(args.seconds)  # the measurement window itself
            used, elapsed = cpu_seconds(client.process.pid) - before, time.monotonic() - started
        finally:
            client.close()
    share = used / elapsed
    verdict = "PASS" if share <= MAX_SHARE else "MISS"
    print(f"idle worker: {used:.3f} s of CPU in {elapsed:.1f} s = {share:.2%} of one core "
          f"(target <= {MAX_SHARE:.0%}) {verdict}")
    return 0 if verdict == "PASS" else 1


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


if __name__ == "__main__":
    sys.exit(main())
