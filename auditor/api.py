"""The Python API: run an audit and get pandas DataFrames."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.records import Record

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class AuditResult:
    """An audit's results as tables, plus the report dictionary they come from."""

    report: dict[str, Any]
    """The JSON report (the ``classroom-auditor.report/1`` contract)."""
    records: pd.DataFrame
    """One row per record; bodies are replaced by their length."""
    destinations: pd.DataFrame
    """One row per destination, as in the report."""
    findings: pd.DataFrame
    """One row per finding, as in the report (values masked)."""
    verdict: str = ""
    """``concerns``, ``no_concerns_seen`` or ``inconclusive`` (the report's ``summary.verdict``)."""
    coverage: float | None = None
    """Share of third-party requests whose content was read (``summary.coverage``)."""


def analyze(
    paths: Iterable[str | PathLike[str]],
    app_domains: Iterable[str] = (),
    app_name: str | None = None,
    profile: Any = None,
    salt: bytes | None = None,
    read_options: Any = None,
) -> AuditResult:
    """Analyse capture files or session folders and return DataFrames.

    Unreadable inputs are listed in ``report["inputs"][i]["problems"]``; they do not raise.
    ``read_options`` (:class:`auditor.sources.ReadOptions`) passes a TLS key log or a body cap.
    """
    from auditor.analysis import Analysis, AnalysisConfig
    from auditor.audit import run_audit
    from auditor.privacy import load_or_create_salt
    from auditor.report.model import build_report

    config = AnalysisConfig(
        app_domains=tuple(app_domains), app_name=app_name, profile=profile, salt=salt or load_or_create_salt()
    )
    if read_options is not None:
        config.read_options = read_options
    analysis = Analysis(config)
    rows: list[dict[str, Any]] = []

    def keep(record: Record) -> None:
        row = dataclasses.asdict(record)
        row.update(
            request_body=len(record.request_body),
            kind=record.kind.value,
            source=record.source.value,
            host_source=record.host_source.value,
        )
        rows.append(row)

    for path in paths:
        analysis.add_input(Path(path), on_record=keep)
    report = build_report(run_audit(analysis))
    return AuditResult(
        report=report,
        records=_frame(rows, [f.name for f in dataclasses.fields(Record)]),
        destinations=_frame(report["destinations"], _contract_columns("destination")),
        findings=_frame(report["findings"], _contract_columns("finding")),
        verdict=report["summary"]["verdict"],
        coverage=report["summary"]["coverage"],
    )


def _contract_columns(item: str) -> list[str]:
    from auditor.report.schema import report_schema

    return list(report_schema()["$defs"][item]["required"])


def _frame(rows: list[dict[str, Any]], empty_columns: list[str]) -> pd.DataFrame:
    """Tabulate rows; with no rows keep the columns anyway, so ``df["host"]`` still works."""
    import pandas as pd

    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=empty_columns)
