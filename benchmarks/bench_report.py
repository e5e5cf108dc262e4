"""Report scale: a synthetic 100,000-record session -> analysis -> HTML, timed and sized.

Targets (issue 7): the HTML renders in at most 20 s and weighs at most 15 MB,
because the report aggregates (destinations, findings, timeline buckets)
instead of embedding records.

    .venv/bin/python benchmarks/bench_report.py [--records N] [--out DIR]

Prints one line per stage and exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from synthetic_session import APP_DOMAIN, large_session

from auditor.analysis import Analysis, AnalysisConfig
from auditor.findings import default_rules
from auditor.report import OutputFormat, build_report, write_report

MAX_RENDER_SECONDS = 20.0
MAX_HTML_BYTES = 15 * 1024 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--out", type=Path, help="keep the reports in this folder")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-report-"))
    out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    records = list(large_session(args.records))
    made = time.perf_counter()
    analysis = Analysis(AnalysisConfig(app_domains=(APP_DOMAIN,), salt=b"bench",
                                       rules=default_rules().with_thresholds(home_country="CA")))
    for record in records:
        analysis.add(record)
    analysed = time.perf_counter()
    report = build_report(analysis)
    built = time.perf_counter()
    html = write_report(report, OutputFormat.HTML, out / "report.html")
    rendered = time.perf_counter()
    json_path = write_report(report, OutputFormat.JSON, out / "report.json")

    html_bytes = html.stat().st_size
    # Strictest reading of "renders": everything from records to the HTML file (analysis included).
    render_seconds = rendered - made
    print(f"records            {len(records):>10,}")
    print(f"generate records   {made - start:>10.2f} s")
    print(f"analysis           {analysed - made:>10.2f} s  ({len(records) / (analysed - made):,.0f} records/s)")
    print(f"build report model {built - analysed:>10.2f} s")
    print(f"render HTML        {rendered - built:>10.2f} s")
    print(f"records -> HTML    {render_seconds:>10.2f} s  (target <= {MAX_RENDER_SECONDS:g} s)")
    print(f"HTML size          {html_bytes / 1e6:>10.2f} MB (target <= {MAX_HTML_BYTES / 2**20:g} MiB)")
    print(f"JSON size          {json_path.stat().st_size / 1e6:>10.2f} MB")
    print(f"destinations       {len(report['destinations']):>10,}")
    print(f"findings           {len(report['findings']):>10,}")
    print(f"written to         {out}")
    ok = render_seconds <= MAX_RENDER_SECONDS and html_bytes <= MAX_HTML_BYTES
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
