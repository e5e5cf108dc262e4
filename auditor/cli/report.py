"""``auditor report``: re-render a saved JSON report (HTML, PDF, PNG, CSV)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from auditor.cli import ExitCode, main
from auditor.report.export import ExportError, report_to_pdf, report_to_png
from auditor.report.model import SCHEMA_ID
from auditor.report.schema import report_errors
from auditor.text import printable


def write_pdf_or_exit(report: dict[str, Any], path: Path, png: bool = False) -> None:
    """Print the report to PDF (or PNG); on failure say why and exit 4."""
    try:
        (report_to_png if png else report_to_pdf)(report, path)
    except ExportError as exc:
        click.echo(f"Error: cannot write {path}: {exc}", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    click.echo(f"wrote {path}", err=True)


def load_report(path: Path) -> dict[str, Any]:
    """A saved JSON report; exits 3 with one line naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        click.echo(f"Error: {path}: cannot read: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        click.echo(f"Error: {path}: not a JSON report: {exc}", err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_ID:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        click.echo(printable(f"Error: {path}: not a {SCHEMA_ID} report (schema: {found!r})"), err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    # A damaged or hand-edited report is named with its first problem, never rendered half-way.
    problems = report_errors(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        click.echo(printable(f"Error: {path}: not a valid report: {problems[0]}{more}"), err=True)
        sys.exit(ExitCode.INPUT_ERROR)
    return data


@main.command("report")
@click.argument("report_path", metavar="REPORT.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the HTML report here.")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), help="Print the report to PDF.")
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Save a PNG picture of the report's first screens.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write destinations.csv and findings.csv into this folder.")
def report_command(
    report_path: Path, html_path: Path | None, pdf_path: Path | None, png_path: Path | None, csv_dir: Path | None
) -> None:
    """Render a saved JSON report again, e.g. to attach a PDF to a vetting decision."""
    from auditor.cli.analyze import write_outputs

    if not (html_path or pdf_path or png_path or csv_dir):
        raise click.UsageError("nothing to do: give --html, --pdf, --png or --csv")
    report = load_report(report_path)
    write_outputs(report, html_path, None, csv_dir)
    if pdf_path:
        write_pdf_or_exit(report, pdf_path)
    if png_path:
        write_pdf_or_exit(report, png_path, png=True)
