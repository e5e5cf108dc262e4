"""Golden file: the sample capture through the whole CLI gives exactly the pinned JSON report.

The report time, fingerprint salt and tracker data directory are pinned; the
tool version and the wall-clock time of the analysis are replaced by fixed
text before comparing. When a change is meant to alter the report,
regenerate the golden file and review its diff::

    .venv/bin/python tests/test_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from helpers import REPO, pinned_env, run_analyze

GOLDEN = REPO / "tests" / "golden" / "sample-classroom.json"
SAMPLE_ARG = "captures/sample-classroom.mitm"
"""Relative to the repository root, so the report's input path is the same on every machine."""
PROFILE_ARG = "captures/sample-profile.toml"
PINNED = "<pinned>"
VOLATILE = (("tool", "version"), ("method", "analysis_started"))
"""Values that legitimately differ between runs: (section, key)."""


def golden_report(work: Path) -> dict[str, Any]:
    """Run ``auditor analyze`` on the sample capture as the Makefile's demo does, with everything pinned."""
    previous = Path.cwd()
    os.chdir(REPO)
    try:
        run = run_analyze(
            ["analyze", SAMPLE_ARG, "--app-domain", "classroom.example", "--app-name", "Sample classroom app",
             "--profile", PROFILE_ARG, "--json", work / "report.json"],
            env=pinned_env(work / "data"),
        )
    finally:
        os.chdir(previous)
    assert run.exit_code == 0, run.stderr
    assert run.report is not None
    return normalized(run.report)


def normalized(report: dict[str, Any]) -> dict[str, Any]:
    """Replace run-dependent values of the report by :data:`PINNED`."""
    for section, key in VOLATILE:
        if isinstance(report.get(section), dict) and key in report[section]:
            report[section][key] = PINNED
    return report


def render(report: dict[str, Any]) -> str:
    """Text of the golden file: stable key order as the report writes it, one value a line."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def test_sample_capture_matches_golden_report(tmp_path: Path) -> None:
    actual = render(golden_report(tmp_path))
    expected = GOLDEN.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            list(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "actual"))[:120]
        )
        raise AssertionError(
            f"report differs from {GOLDEN.relative_to(REPO)}; if intended, run "
            f"'.venv/bin/python tests/test_golden.py' and review the diff:\n{diff}"
        )


def test_golden_report_says_what_a_reviewer_looks_for() -> None:
    """The golden file itself must show the sample's leaks, so regenerating cannot silently bless a regression."""
    report = json.loads(GOLDEN.read_text(encoding="utf-8"))
    by_host = {d["host"]: d for d in report["destinations"]}
    assert by_host["api.classroom.example"]["party"] == "first"
    assert by_host["app-measurement.com"]["party"] == "third"
    assert by_host["app-measurement.com"]["is_tracker"] is True
    assert "precise_location" in by_host["app-measurement.com"]["data_types"]
    assert "voice" in by_host["westeurope.stt.speech.microsoft.com"]["data_types"]
    # Known values from the profile are found even when encoded (base64 JSON in a query string).
    assert "email" in by_host["api.mixpanel.com"]["data_types"]
    assert by_host["b.scorecardresearch.com"]["content_visible"] is True
    text = GOLDEN.read_text(encoding="utf-8")
    for raw in ("mia.testpupil@student.example", "Rig-Only-Passw0rd!", "5d2f8c1e-7b3a-4e9d-9c61-2a4b8e0f7d13"):
        assert raw not in text, f"raw synthetic value {raw!r} leaked into the report"


def main() -> int:
    """Regenerate the golden file."""
    with tempfile.TemporaryDirectory() as temp:
        report = golden_report(Path(temp))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(render(report), encoding="utf-8")
    print(f"wrote {GOLDEN.relative_to(REPO)}: {len(report['destinations'])} destinations, "
          f"{len(report['findings'])} findings", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
