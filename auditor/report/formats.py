"""Report formats share one small interface; the CLI picks one by name."""

from __future__ import annotations

import csv
import io
import json
import os
from abc import ABC, abstractmethod
from enum import Enum
from pathlib import Path
from typing import Any, TextIO, assert_never

from auditor.text import encodable


class ReportFormat(ABC):
    """Renders the report dictionary to one file's content."""

    suffix: str = ""

    @abstractmethod
    def render(self, report: dict[str, Any]) -> str:
        """The file content."""

    def write(self, report: dict[str, Any], handle: TextIO) -> None:
        """Write the file content to an open text file."""
        handle.write(self.render(report))


class JsonFormat(ReportFormat):
    """The machine-readable contract, pretty-printed with stable key order."""

    suffix = ".json"

    def render(self, report: dict[str, Any]) -> str:
        return encodable(json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False)) + "\n"

    def write(self, report: dict[str, Any], handle: TextIO) -> None:
        # Streamed: a report of many destinations never exists twice in memory as one string.
        encoder = json.JSONEncoder(indent=2, sort_keys=False, ensure_ascii=False)
        for chunk in encoder.iterencode(report):
            handle.write(encodable(chunk))
        handle.write("\n")


DESTINATION_COLUMNS = (
    "host", "registrable_domain", "party", "company", "parent_company", "category", "is_tracker",
    "countries", "hq_country", "requests", "bytes_up", "bytes_down", "content_visible", "data_types", "matched_by",
)
FINDING_COLUMNS = (
    "severity", "rule", "data_type", "host", "company", "party", "where", "key", "encoding",
    "masked_value", "fingerprint", "count", "first_seen", "policy_refs", "title", "detail",
)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        text = ";".join(f"{v['source']}:{v['rule']}" if isinstance(v, dict) else str(v) for v in value)
    elif value is None:
        return ""
    else:
        text = str(value)
    # Spreadsheets run cells that start with these as formulas; capture data must never do that.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def csv_table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """One CSV table with the given columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return encodable(out.getvalue())


class CsvDestinationsFormat(ReportFormat):
    """Destinations as CSV."""

    suffix = ".csv"

    def render(self, report: dict[str, Any]) -> str:
        return csv_table(report["destinations"], DESTINATION_COLUMNS)


class CsvFindingsFormat(ReportFormat):
    """Findings as CSV."""

    suffix = ".csv"

    def render(self, report: dict[str, Any]) -> str:
        return csv_table(report["findings"], FINDING_COLUMNS)


class HtmlFormat(ReportFormat):
    """The self-contained HTML report."""

    suffix = ".html"

    def render(self, report: dict[str, Any]) -> str:
        from auditor.report.html import render_html

        return encodable(render_html(report))


class OutputFormat(str, Enum):
    """Formats selectable on the command line."""

    JSON = "json"
    HTML = "html"
    CSV_DESTINATIONS = "csv-destinations"
    CSV_FINDINGS = "csv-findings"

    def to_format(self) -> ReportFormat:
        """The renderer of this format."""
        if self is OutputFormat.JSON:
            return JsonFormat()
        if self is OutputFormat.HTML:
            return HtmlFormat()
        if self is OutputFormat.CSV_DESTINATIONS:
            return CsvDestinationsFormat()
        if self is OutputFormat.CSV_FINDINGS:
            return CsvFindingsFormat()
        assert_never(self)


def write_report(report: dict[str, Any], fmt: OutputFormat, path: Path) -> Path:
    """Render and write atomically (a reader never sees half a report)."""
    from auditor.private_files import FILE_MODE, make_private_folder

    renderer = fmt.to_format()
    make_private_folder(path.parent)
    temp = path.with_name(f".{path.name}.tmp")
    try:
        # Owner-only: a report describes what a pupil's device sent.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            renderer.write(report, handle)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path
