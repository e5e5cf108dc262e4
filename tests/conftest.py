"""Shared test fixtures.

Every report built in a test process is validated against the shipped JSON
Schema: the session fixture below wraps ``build_report`` wherever it was
imported, so a test that builds a report cannot forget the contract.
Subprocess runs are validated by ``tests/helpers.py``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pinned_env

from auditor.report.model import SCHEMA_ID
from auditor.report.schema import validate_report

REPORTS_VALIDATED = [0]
"""How many reports this session validated (built in-process or found on disk)."""


def _validating(build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(build)
    def build_and_validate(*args: Any, **kwargs: Any) -> dict[str, Any]:
        report = build(*args, **kwargs)
        validate_report(report)
        REPORTS_VALIDATED[0] += 1
        return report

    return build_and_validate


def _report_files(root: Path) -> Iterator[Path]:
    """JSON reports written anywhere under ``root`` (by the CLI, the live addon, a child process)."""
    marker = SCHEMA_ID.encode()
    for path in root.rglob("*.json"):
        if path.name.startswith("invalid") or not path.is_file() or path.stat().st_size > 50_000_000:
            continue
        with path.open("rb") as handle:
            if marker in handle.read(4096):
                yield path


@pytest.fixture(autouse=True, scope="session")
def _validate_every_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Swap ``build_report`` for a validating wrapper in every module that holds it (test modules too).

    At the end, every report file the tests wrote under the pytest temporary
    folder (including those written by child processes) is validated too;
    a file named ``invalid*.json`` is left alone for tests that need one.
    """
    import auditor.cli.analyze  # noqa: F401 - import so its reference gets wrapped too
    import auditor.report.model as model

    original = model.build_report
    wrapped = _validating(original)
    patched = []
    for module in list(sys.modules.values()):
        if getattr(module, "build_report", None) is original:
            module.build_report = wrapped  # type: ignore[attr-defined]
            patched.append(module)
    yield
    for module in patched:
        module.build_report = original  # type: ignore[attr-defined]
    broken = []
    for path in _report_files(tmp_path_factory.getbasetemp()):
        try:
            validate_report(json.loads(path.read_text(encoding="utf-8")))
            REPORTS_VALIDATED[0] += 1
        except (ValueError, UnicodeDecodeError) as exc:
            broken.append(f"{path}: {exc}")
    assert not broken, "reports written during the tests break the schema:\n" + "\n".join(broken)


@pytest.fixture
def check_report() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Validate a report dict against the schema and hand it back (for reports read from files)."""

    def check(report: dict[str, Any]) -> dict[str, Any]:
        validate_report(report)
        return report

    return check


@pytest.fixture
def auditor_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Pin salt, report time and an empty user data dir for this test (in-process and for children)."""
    env = pinned_env(tmp_path / "auditor-data")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many reports were checked against the schema, so a silent no-op would show."""
    if REPORTS_VALIDATED[0]:
        terminalreporter.write_line(f"{REPORTS_VALIDATED[0]} reports validated against the report JSON Schema")
