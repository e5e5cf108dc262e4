"""Helpers shared by tests that run the auditor and look at its reports.

Every report a test produces must follow the JSON Schema: :func:`run_analyze`
and :func:`run_auditor_process` validate any JSON report they write, and
``conftest.py`` wraps ``build_report`` so in-process reports are checked too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from auditor.report.schema import validate_report

REPO = Path(__file__).resolve().parent.parent
SHARED_CAPTURES = REPO.parent / "shared" / "captures"
SHARED_TRACKERS = REPO.parent / "shared" / "trackers"
SHARED_LIST_FILES: dict[str, list[str]] = {
    "adguard": ["adguard-companiesdb"],
    "duckduckgo-app": ["duckduckgo-tracker-blocklists/app/android-tds.json"],
    "duckduckgo-web": ["duckduckgo-tracker-blocklists/web/v6/extension-tds.json"],
    "ghostery": ["ghostery-trackerdb/dist/trackerdb.json"],
    "whotracksme": ["whotracksme-trackerdb-2022/trackerdb.sql"],
    "disconnect": ["disconnect-tracking-protection"],
    "exodus": ["exodus-trackers/trackers.json"],
    "hosts": ["easylist/easyprivacy.txt"],
}
"""The file(s) of each importer source in ../shared/trackers (Tracker Radar has no copy there)."""
SAMPLE_CAPTURE = REPO / "captures" / "sample-classroom.mitm"
TEST_SALT = "classroom-auditor-test-salt"


def shared_capture(name: str) -> Path:
    """Return a file of the shared capture corpus; skip the test when the corpus is absent."""
    import pytest

    path = SHARED_CAPTURES / name
    if not path.is_file():
        pytest.skip(f"shared capture corpus not available ({path} missing)")
    return path


def pinned_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a reproducible run: fixed salt, empty user data dir, fixed report time."""
    return {
        "CLASSROOM_AUDITOR_SALT": TEST_SALT,
        "CLASSROOM_AUDITOR_DATA": str(data_dir),
        "SOURCE_DATE_EPOCH": "1767261600",  # 2026-01-01T10:00:00Z
        **extra,
    }


@dataclass
class AnalyzeRun:
    """What one ``auditor`` invocation produced."""

    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any] | None
    """The JSON report (from ``--json PATH`` or ``--json -``), already schema-validated."""


def _report_from(args: Sequence[str], stdout: str) -> dict[str, Any] | None:
    args = list(args)
    if "--json" not in args:
        return None
    target = args[args.index("--json") + 1]
    if target == "-":
        text = stdout
    else:
        path = Path(target)
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
    report: dict[str, Any] = json.loads(text)
    validate_report(report)
    return report


def run_analyze(args: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None) -> AnalyzeRun:
    """Run ``auditor <args>`` in-process (click's runner) and validate its JSON report."""
    from auditor.cli import main

    try:
        runner = CliRunner(mix_stderr=False)  # click 8.1 mixes stderr into stdout unless told not to
    except TypeError:
        runner = CliRunner()  # click 8.2+ always keeps them apart
    text_args = [os.fspath(a) for a in args]
    result = runner.invoke(main, text_args, env=dict(env or {}), catch_exceptions=False, prog_name="auditor")
    report = _report_from(text_args, result.stdout)
    return AnalyzeRun(result.exit_code, result.stdout, result.stderr, report)


def run_auditor_process(
    args: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None, timeout: float = 120
) -> AnalyzeRun:
    """Run the real ``python -m auditor`` in a subprocess and validate its JSON report."""
    text_args = [os.fspath(a) for a in args]
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *text_args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO, check=False,
    )
    report = _report_from(text_args, done.stdout) if done.returncode in (0, 1, 3) else None
    return AnalyzeRun(done.returncode, done.stdout, done.stderr, report)
