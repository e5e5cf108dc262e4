"""Shared test fixtures.

Every report built in a test process is validated against the shipped JSON
Schema: the session fixture below wraps ``build_report`` wherever it was
imported, so a test that builds a report cannot forget the contract.
Subprocess runs are validated by ``tests/helpers.py``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pinned_env

from auditor.report.schema import validate_report

REPORTS_VALIDATED = [0]


def _validating(build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(build)
    def build_and_validate(*args: Any, **kwargs: Any) -> dict[str, Any]:
        report = build(*args, **kwargs)
        validate_report(report)
        REPORTS_VALIDATED[0] += 1
        return report

    build_and_validate.__wrapped_for_schema__ = True  # type: ignore[attr-defined]
    return build_and_validate


@pytest.fixture(autouse=True, scope="session")
def _validate_every_report() -> Iterator[None]:
    """Swap ``build_report`` for a validating wrapper in every auditor module that holds it."""
    import auditor.cli.analyze  # noqa: F401 - import so its reference gets wrapped too
    import auditor.report.model as model

    original = model.build_report
    wrapped = _validating(original)
    patched = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith(("auditor", "addons")) and getattr(module, "build_report", None) is original:
            module.build_report = wrapped  # type: ignore[attr-defined]
            patched.append(module)
    yield
    for module in patched:
        module.build_report = original  # type: ignore[attr-defined]


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
