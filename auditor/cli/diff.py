"""``auditor diff OLD.json NEW.json``: what changed between two sessions or app versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from auditor.cli import ExitCode, main
from auditor.cli.report import load_report
from auditor.private_files import write_private_text
from auditor.report.diff import diff_reports, has_changes, render_html, render_text
from auditor.text import encodable


def _write(path: Path, content: str) -> None:
    try:
        write_private_text(path, encodable(content))
    except OSError as exc:
        click.echo(f"Error: cannot write {path}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    click.echo(f"wrote {path}", err=True)


@main.command("diff")
@click.argument("old_path", metavar="OLD.json", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new_path", metavar="NEW.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the diff as HTML.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the diff as JSON.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when anything changed (for CI of app versions).")
def diff_command(old_path: Path, new_path: Path, html_path: Path | None, json_path: Path | None,
                 fail_on_change: bool) -> None:
    """Show new and gone destinations, companies, data types and findings between two JSON reports."""
    diff = diff_reports(load_report(old_path), load_report(new_path))
    click.echo(render_text(diff), nl=False)
    if html_path:
        _write(html_path, render_html(diff))
    if json_path:
        _write(json_path, json.dumps(diff, indent=2, ensure_ascii=False) + "\n")
    if fail_on_change and has_changes(diff):
        sys.exit(ExitCode.FINDINGS)
