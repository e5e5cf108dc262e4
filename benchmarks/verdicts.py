"""Verdict and coverage of every real capture in ../shared/captures, as a Markdown table.

    .venv/bin/python benchmarks/verdicts.py

For each capture: the verdict (``summary.verdict``), the share of third-party
requests whose content was read (``summary.coverage``), the share of all
requests read, high/medium findings and checklist points answered "met". A
capture with a key log beside it (``*_keylog.txt``, ``*.sslkeylog.txt``) is read
with it. Reported numbers, no target: it shows what the audit stage decides on
traffic written by others.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from auditor.analysis import Analysis, AnalysisConfig
from auditor.audit import run_audit
from auditor.sources import ReadOptions

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "captures"
SUFFIXES = (".pcap", ".pcapng", ".har", ".mitm")


def keylog_for(capture: Path) -> Path | None:
    """The key log shipped beside a capture, if any."""
    for candidate in (capture.with_name(capture.stem.replace("_capture", "_keylog") + ".txt"),
                      capture.with_suffix(".sslkeylog.txt")):
        if candidate.is_file() and candidate != capture:
            return candidate
    return None


def main() -> int:
    if not SHARED.is_dir():
        print(f"no shared captures at {SHARED}", file=sys.stderr)
        return 1
    logging.disable(logging.CRITICAL)  # reader warnings are not what this table is about
    print("| capture | verdict | coverage (third parties) | read (all) | high/medium | met |")
    print("|---|---|---|---|---|---|")
    for capture in sorted(p for p in SHARED.iterdir() if p.suffix in SUFFIXES):
        keylog = keylog_for(capture)
        analysis = Analysis(AnalysisConfig(read_options=ReadOptions(keylog=str(keylog) if keylog else None)))
        analysis.add_input(capture)
        audit = run_audit(analysis)
        share = audit.coverage.share
        read = audit.coverage.share_read
        high = sum(1 for f in audit.findings if f.severity.value == "high")
        medium = sum(1 for f in audit.findings if f.severity.value == "medium")
        met = sum(1 for answer in audit.checklist if answer["answer"] == "met")
        name = capture.name + (" (+ key log)" if keylog else "")
        print(f"| {name} | {audit.verdict.value} | {'-' if share is None else f'{share:.0%}'} | "
              f"{'-' if read is None else f'{read:.0%}'} | {high}/{medium} | {met} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
