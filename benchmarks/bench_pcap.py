"""Packets per second of ``auditor analyze`` on a large realistic capture, next to tshark and scapy.

Usage: ``.venv/bin/python benchmarks/bench_pcap.py [--size-gb 1.0]``

Builds ``benchmarks/data/large.pcapng`` (git-ignored; kept between runs) from
the real captures in ``../shared/captures``: all of them merged, then doubled
with ``editcap -t`` time shifts and ``mergecap`` until the file passes the
size asked for. Then, in one run, on the same file:

* ``auditor analyze FILE --json OUT`` (the whole CLI pipeline),
* ``tshark -T fields`` extracting the same fields (DNS query names, TLS SNI, HTTP hosts),
* scapy's ``RawPcapNgReader`` loop with no dissection (the ceiling for a Python reader),

each in its own process under ``/usr/bin/time -v`` for wall time and peak memory.
Prints a table and the ratios against the targets (3x tshark, 50% of the raw
read rate, under 500 MB).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "captures"
DATA = HERE / "data"
LARGE = DATA / "large.pcapng"
SHIFT_SECONDS = 1000
"""Each copy is shifted further than any source capture lasts, so copies never share a connection."""

RAW_LOOP = """
import sys
from scapy.utils import RawPcapNgReader
count = 0
with RawPcapNgReader(sys.argv[1]) as reader:
    for _data, _meta in reader:
        count += 1
print(count)
"""


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly."""
    return subprocess.run(command, check=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def build(size_gb: float) -> Path:
    """Make the large capture unless one of at least ``size_gb`` exists."""
    target = int(size_gb * (1 << 30))
    if LARGE.exists() and LARGE.stat().st_size >= target:
        return LARGE
    sources = sorted(p for p in SHARED.glob("*.pcap*"))
    if not sources:
        sys.exit(f"no captures in {SHARED}")
    DATA.mkdir(parents=True, exist_ok=True)
    current = DATA / "level0.pcapng"
    run(["mergecap", "-F", "pcapng", "-w", str(current), *map(str, sources)])
    level = 0
    while current.stat().st_size < target:
        shifted = DATA / f"shift{level}.pcapng"
        merged = DATA / f"level{level + 1}.pcapng"
        run(["editcap", "-F", "pcapng", "-t", str(SHIFT_SECONDS * (1 << level)), str(current), str(shifted)])
        run(["mergecap", "-F", "pcapng", "-w", str(merged), str(current), str(shifted)])
        current.unlink()
        shifted.unlink()
        current = merged
        level += 1
    current.rename(LARGE)
    return LARGE


def timed(command: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float, float, str]:
    """Wall seconds, peak resident MB, CPU seconds (user + system, children included) and stdout of a command."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        result = subprocess.run(
            ["/usr/bin/time", "-v", "-o", report.name, *command],
            stdout=subprocess.PIPE if stdout is None else stdout,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
        )
        text = report.read()
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    user = re.search(r"User time \(seconds\): ([\d.]+)", text)
    system = re.search(r"System time \(seconds\): ([\d.]+)", text)
    assert wall and rss and user and system, text
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    cpu = float(user.group(1)) + float(system.group(1))
    return seconds, int(rss.group(1)) / 1024, cpu, result.stdout or ""


def main() -> None:
    """Build the capture if needed, measure the three readers, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="smallest capture to benchmark on (default 1.0)")
    args = parser.parse_args()
    for tool in ("tshark", "mergecap", "editcap", "/usr/bin/time"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (Debian: apt-get install tshark time)")
    capture = build(args.size_gb)
    load_before = f"{os.getloadavg()[0]:.1f}"
    size_mb = capture.stat().st_size / (1 << 20)
    python = sys.executable
    raw_seconds, raw_mb, raw_cpu, raw_out = timed([python, "-c", RAW_LOOP, str(capture)], stdout=None)
    packets = int(raw_out.strip())
    print(f"capture: {capture} ({size_mb:,.0f} MB, {packets:,} packets)", flush=True)
    rows = [("scapy RawPcapNgReader loop (ceiling)", raw_seconds, raw_mb, raw_cpu)]
    with tempfile.TemporaryDirectory() as tmp:
        auditor = str(Path(python).with_name("auditor"))
        seconds, mb, cpu, _ = timed([auditor, "analyze", str(capture), "--json", os.path.join(tmp, "r.json")])
        rows.append(("auditor analyze (full pipeline)", seconds, mb, cpu))
    fields = ["-e", "dns.qry.name", "-e", "tls.handshake.extensions_server_name", "-e", "http.host"]
    seconds, mb, cpu, _ = timed(
        [
            "tshark",
            "-n",
            "-r",
            str(capture),
            "-T",
            "fields",
            *fields,
            "-Y",
            "dns.flags.response==0 || tls.handshake.type==1 || http.request",
        ]
    )
    rows.append(("tshark -T fields (same fields)", seconds, mb, cpu))
    print(f"load average before the run: {load_before}, after: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    print(f"{'reader':40} {'seconds':>9} {'packets/s':>11} {'peak MB':>8} {'CPU s':>7}")
    rates = {}
    for name, seconds, mb, cpu in rows:
        rates[name] = packets / seconds
        print(f"{name:40} {seconds:9.1f} {packets / seconds:11,.0f} {mb:8.0f} {cpu:7.1f}")
    ours = rates["auditor analyze (full pipeline)"]
    tshark = rates["tshark -T fields (same fields)"]
    raw = rates["scapy RawPcapNgReader loop (ceiling)"]
    peak = rows[1][2]
    print(f"auditor / tshark   = {ours / tshark:5.2f}x  (target >= 3x)  {'OK' if ours >= 3 * tshark else 'MISSED'}")
    print(f"auditor / raw read = {ours / raw:5.0%}   (target >= 50%) {'OK' if ours >= 0.5 * raw else 'MISSED'}")
    print(f"auditor peak memory = {peak:.0f} MB (target < 500 MB) {'OK' if peak < 500 else 'MISSED'}")


if __name__ == "__main__":
    main()
