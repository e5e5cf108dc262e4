"""Source reading speed: mitmproxy flow files and HAR files to records.

    .venv/bin/python benchmarks/bench_sources.py                 # 10,000 flows
    .venv/bin/python benchmarks/bench_sources.py --flows 2000

Multiplies the 16 flows of the sample capture (real mitmproxy flows) into a
flow file of N flows, exports the same flows with mitmproxy's own HAR writer,
and times turning each file into records (content sniffing, parsing, body
decoding), then the whole ``auditor analyze`` pipeline on the flow file. Prints
records per second and MB per second; one process, one core. No target is set
by issue 2; the numbers show sources are not the bottleneck of an audit.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "captures" / "sample-classroom.mitm"


def make_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    """Write a flow file of ``count`` flows and its HAR export."""
    from mitmproxy import io
    from mitmproxy.addons.savehar import SaveHar

    with SAMPLE.open("rb") as handle:
        templates = list(io.FlowReader(handle).stream())
    flows = []
    for index in range(count):
        flow = templates[index % len(templates)].copy()
        flow.id = str(uuid.UUID(int=index))
        shift = index * 0.05
        flow.request.timestamp_start += shift
        if flow.request.timestamp_end:
            flow.request.timestamp_end += shift
        flows.append(flow)
    flow_path, har_path = folder / "bench.mitm", folder / "bench.har"
    with flow_path.open("wb") as handle:
        writer = io.FlowWriter(handle)
        for flow in flows:
            writer.add(flow)
    har_path.write_text(json.dumps(SaveHar().make_har(flows)))
    return flow_path, har_path


def time_source(path: Path) -> tuple[int, float]:
    """Read every record of ``path``; return how many and the seconds it took."""
    from auditor.sources import ReadOptions, describe_input, read_input

    start = time.perf_counter()
    summary = describe_input(path)
    count = sum(1 for _ in read_input(path, ReadOptions(), summary))
    return count, time.perf_counter() - start


def time_analysis(path: Path) -> tuple[int, float]:
    """Analyse ``path`` end to end (classification, detection, findings, report); return records and seconds."""
    from auditor.analysis import Analysis, AnalysisConfig
    from auditor.report.model import build_report

    start = time.perf_counter()
    analysis = Analysis(AnalysisConfig(app_domains=("classroom.example",), salt=b"bench"))
    analysis.add_input(path)
    report = build_report(analysis)
    return report["summary"]["records"], time.perf_counter() - start


def main() -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=10000, help="flows to generate (default 10,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as temp:
        flow_path, har_path = make_inputs(Path(temp), args.flows)
        for label, path in (("flow file", flow_path), ("HAR", har_path)):
            count, seconds = time_source(path)
            size = path.stat().st_size / 1e6
            print(f"{label:9}: {count:>7,} records from {size:6.1f} MB in {seconds:5.2f} s = "
                  f"{count / seconds:>9,.0f} records/s, {size / seconds:5.1f} MB/s")
        count, seconds = time_analysis(flow_path)
        print(f"analysis : {count:>7,} records, flow file to report dict in {seconds:5.2f} s = "
              f"{count / seconds:>9,.0f} records/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
