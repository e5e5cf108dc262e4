"""``auditor catalog``: list, show, query, export and compare the sessions of a results catalogue."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.cli import ExitCode, main
from auditor.text import printable

if TYPE_CHECKING:
    import pandas as pd

DB_ARGUMENT = click.argument("db", type=click.Path(exists=True, dir_okay=False, path_type=Path))
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="JSON (an array of objects) instead of CSV.")
LIST_COLUMNS = ("session_id", "app_name", "app_version", "persona", "path", "session_start", "verdict", "coverage",
                "destinations", "third_parties", "findings")


@main.group()
def catalog() -> None:
    """The results catalogue that 'auditor batch' writes (OUT/catalog.duckdb)."""


def _open(db: Path) -> Any:
    from auditor import catalog as catalogue

    try:
        return catalogue.open(db)
    except (ValueError, OSError) as exc:
        click.echo(f"Error: {printable(exc)}", err=True)
        sys.exit(ExitCode.INPUT_ERROR)


def _emit(frame: pd.DataFrame, as_json: bool) -> None:
    from auditor.catalog import to_json_rows
    from auditor.report.formats import csv_table

    if as_json:
        click.echo(to_json_rows(frame))
        return
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    click.echo(csv_table(rows, tuple(str(c) for c in frame.columns)), nl=False)


@catalog.command("list")
@DB_ARGUMENT
@JSON_OPTION
def list_sessions(db: Path, as_json: bool) -> None:
    """One line per session: app, version, persona, date, verdict, coverage and counts."""
    with _open(db) as opened:
        frame = opened.sessions
        _emit(frame[list(LIST_COLUMNS)], as_json)


@catalog.command()
@DB_ARGUMENT
@click.argument("session")
@JSON_OPTION
def show(db: Path, session: str, as_json: bool) -> None:
    """One session (its id or the start of it): the session, then its findings."""
    with _open(db) as opened:
        sessions = opened.query("SELECT * FROM sessions WHERE starts_with(session_id, ?)", [session])
        if len(sessions) != 1:
            problem = "no session" if sessions.empty else f"{len(sessions)} sessions"
            raise click.BadParameter(f"{problem} with an id starting {session!r}", param_hint="SESSION")
        session_id = sessions.iloc[0]["session_id"]
        findings = opened.query("SELECT * EXCLUDE (session_id) FROM findings WHERE session_id = ? "
                                "ORDER BY severity, host", [session_id])
        if as_json:
            from auditor.catalog import to_json_rows

            click.echo('{"session": ' + to_json_rows(sessions)[1:-1].strip() + ', "findings": '
                       + to_json_rows(findings) + "}")
            return
        for column, value in sessions.iloc[0].items():
            click.echo(f"{column}: {printable(value)}")
        click.echo("")
        _emit(findings, as_json=False)


@catalog.command()
@DB_ARGUMENT
@click.argument("sql")
@JSON_OPTION
def query(db: Path, sql: str, as_json: bool) -> None:
    """Run SQL (DuckDB dialect) on the tables sessions, destinations and findings; read-only."""
    import duckdb

    with _open(db) as opened:
        try:
            frame = opened.query(sql)
        except duckdb.Error as exc:
            click.echo(f"Error: the query failed: {printable(str(exc).splitlines()[0])}", err=True)
            sys.exit(ExitCode.USAGE)
        _emit(frame, as_json)


@catalog.command()
@DB_ARGUMENT
@click.option("--parquet", "folder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Write sessions.parquet, destinations.parquet and findings.parquet into this folder.")
def export(db: Path, folder: Path) -> None:
    """Export the tables to Parquet for pandas, Polars or Spark."""
    with _open(db) as opened:
        try:
            written = opened.export_parquet(folder)
        except OSError as exc:
            click.echo(f"Error: cannot write {printable(folder)}: {exc}", err=True)
            sys.exit(ExitCode.OUTPUT_ERROR)
    for path in written:
        click.echo(f"wrote {path}", err=True)


@catalog.command()
@DB_ARGUMENT
@click.option("--html", "html_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the self-contained cross-app HTML report here.")
@click.option("--title", default="Cross-app traffic audit", show_default=True, help="The page's title.")
def report(db: Path, html_path: Path, title: str) -> None:
    """The cross-app report: apps ranked, who gets which data, companies, changes across versions."""
    from auditor.batch import write_atomically
    from auditor.catalog.report import render_cross_app

    with _open(db) as opened:
        page = render_cross_app(opened.connection, title=title)
    try:
        write_atomically(html_path, page)
    except OSError as exc:
        click.echo(f"Error: cannot write {printable(html_path)}: {exc.strerror or exc}", err=True)
        sys.exit(ExitCode.OUTPUT_ERROR)
    click.echo(f"wrote {html_path}", err=True)
