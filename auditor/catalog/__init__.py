"""The results catalogue: every analysed session in one DuckDB file, for questions across apps.

DuckDB rather than SQLite because the questions are analytical (group the
findings of thousands of sessions by app, company and data type), its column
store answers them quickly, and it reads and writes Parquet itself, so pandas,
Polars and Spark users get the tables without a converter.

Only one process writes a catalogue (the batch's client); readers open it
read-only. Each session is written in one transaction, so an interrupted run
leaves whole sessions or none.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.catalog.schema import SCHEMA_VERSION, migrate

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

TABLES = ("sessions", "destinations", "findings")

DESTINATION_FIELDS = (
    "host", "registrable_domain", "party", "company", "parent_company", "category", "is_tracker", "hq_country",
    "countries", "requests", "bytes_up", "bytes_down", "content_visible", "data_types",
)
FINDING_FIELDS = (
    "severity", "rule", "data_type", "host", "company", "party", "where", "key", "encoding", "masked_value",
    "fingerprint", "count", "first_seen", "title", "reason",
)


@dataclass(frozen=True)
class SessionFacts:
    """What the batch knows about a session beyond its report."""

    session_id: str
    """Identifies the capture with its settings (content hash, key log, app, persona, profile)."""
    app_version: str | None = None
    persona: str | None = None
    report_dir: str | None = None
    trackers_db_version: str | None = None


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a catalogue, creating and migrating it when writable; a bad file raises ``ValueError``."""
    import duckdb

    if read_only and not path.is_file():
        raise ValueError(f"{path}: no such catalogue")
    try:
        connection = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise ValueError(f"{path}: cannot open the catalogue ({exc})") from exc
    if not read_only:
        migrate(connection)
    return connection


def _timestamp(value: Any) -> str | None:
    """ISO text from the report (``...Z``) as DuckDB's TIMESTAMP literal (UTC, no zone)."""
    return value.replace("T", " ").rstrip("Z") if isinstance(value, str) and value else None


def _verdict(summary: Mapping[str, Any]) -> str | None:
    """The audit stage's verdict when the report has one (a word, or an object with one)."""
    verdict = summary.get("verdict")
    if isinstance(verdict, Mapping):
        verdict = verdict.get("level") or verdict.get("verdict") or verdict.get("label")
    return str(verdict) if verdict else None


def _coverage(report: Mapping[str, Any]) -> float | None:
    """The share of traffic the audit could read: ``summary.coverage`` when present, else ``coverage.share_visible``."""
    value = report["summary"].get("coverage")
    if isinstance(value, Mapping):
        value = value.get("share_visible")
    if value is None:
        value = (report.get("coverage") or {}).get("share_visible")
    return float(value) if isinstance(value, int | float) else None


SessionRows = dict[str, list[dict[str, Any]]]
"""One session's rows per table: plain data, so a worker can make them and the client store them."""


def session_rows(report: Mapping[str, Any], facts: SessionFacts) -> SessionRows:
    """The catalogue rows of one session's report."""
    summary = report["summary"]
    first_input = report["inputs"][0] if report["inputs"] else {}
    method = report.get("method") or {}
    db_version = facts.trackers_db_version or "; ".join(
        f"{s['source']} {s['version']}" for s in report.get("trackers_db", [])
    )
    session_row = {
        "session_id": facts.session_id,
        "capture_sha256": first_input.get("sha256"),
        "path": first_input.get("path"),
        "format": first_input.get("format"),
        "app_name": report["app"].get("name"),
        "app_version": facts.app_version,
        "app_domains": list(report["app"].get("domains") or []),
        "persona": facts.persona,
        "session_start": _timestamp(method.get("session_start")),
        "session_end": _timestamp(method.get("session_end")),
        "analysed_at": _timestamp(report.get("generated_at")),
        "tool_version": report["tool"]["version"],
        "trackers_db_version": db_version,
        "records": summary.get("records"),
        "destinations": summary["destinations"],
        "third_parties": summary["third_parties"],
        "trackers": summary["trackers"],
        "companies": summary.get("companies"),
        "findings": summary["findings"],
        "report_dir": facts.report_dir,
        "verdict": _verdict(summary),
        "coverage": _coverage(report),
    }
    destinations = [
        {"session_id": facts.session_id, **{name: d.get(name) for name in DESTINATION_FIELDS}}
        for d in report["destinations"]
    ]
    findings = [
        {"session_id": facts.session_id,
         **{name: _timestamp(f.get(name)) if name == "first_seen" else f.get(name) for name in FINDING_FIELDS}}
        for f in report["findings"]
    ]
    return {"sessions": [session_row], "destinations": destinations, "findings": findings}


def add_sessions(connection: duckdb.DuckDBPyConnection, sessions: list[SessionRows]) -> None:
    """Store sessions in one transaction, replacing earlier analyses of the same sessions.

    Rows go in through one DataFrame per table: DuckDB inserts a frame of
    thousands of rows faster than a handful of single-row statements.
    """
    import pandas as pd

    if not sessions:
        return
    # The same session twice in one group (a copied capture): the last analysis wins, as across groups.
    sessions = list({s["sessions"][0]["session_id"]: s for s in sessions}.values())
    ids = pd.DataFrame({"session_id": [row["session_id"] for s in sessions for row in s["sessions"]]})
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("replaced", ids)
        for table in TABLES:
            connection.execute(f"DELETE FROM {table} WHERE session_id IN (SELECT session_id FROM replaced)")
        for table in TABLES:
            rows = [row for s in sessions for row in s[table]]
            if not rows:
                continue
            frame = pd.DataFrame(rows)
            columns = ", ".join(f'"{name}"' for name in frame.columns)
            connection.register("incoming", frame)
            connection.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming")
            connection.unregister("incoming")
        connection.unregister("replaced")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def sessions_analysed_before(connection: duckdb.DuckDBPyConnection, cutoff: dt.datetime) -> list[dict[str, Any]]:
    """Sessions whose analysis is older than ``cutoff`` (naive UTC): id, app, when, report folder."""
    rows = connection.execute(
        "SELECT session_id, app_name, app_version, analysed_at, report_dir FROM sessions "
        "WHERE analysed_at < ? ORDER BY analysed_at, session_id",
        [cutoff],
    ).fetchall()
    names = ("session_id", "app_name", "app_version", "analysed_at", "report_dir")
    return [dict(zip(names, row, strict=True)) for row in rows]


def remove_sessions(connection: duckdb.DuckDBPyConnection, session_ids: list[str]) -> None:
    """Delete sessions with their destinations and findings, in one transaction."""
    if not session_ids:
        return
    connection.execute("BEGIN TRANSACTION")
    try:
        for table in TABLES:
            connection.execute(f"DELETE FROM {table} WHERE session_id IN (SELECT UNNEST(?))", [session_ids])
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def add_session(connection: duckdb.DuckDBPyConnection, report: Mapping[str, Any], facts: SessionFacts) -> None:
    """Store one session's report, replacing an earlier analysis of the same session, in one transaction."""
    add_sessions(connection, [session_rows(report, facts)])


class Catalog:
    """A catalogue opened for reading, with its tables as pandas DataFrames."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = connect(path, read_only=True)

    def query(self, sql: str, parameters: list[Any] | None = None) -> pd.DataFrame:
        """Run any SQL (DuckDB dialect) and return the result as a DataFrame."""
        return self.connection.execute(sql, parameters or []).df()

    @property
    def sessions(self) -> pd.DataFrame:
        """One row per session."""
        return self.query("SELECT * FROM sessions ORDER BY app_name, app_version, session_start, session_id")

    @property
    def destinations(self) -> pd.DataFrame:
        """One row per destination of each session."""
        return self.query("SELECT * FROM destinations ORDER BY session_id, host")

    @property
    def findings(self) -> pd.DataFrame:
        """One row per finding of each session (values masked, as in the reports)."""
        return self.query("SELECT * FROM findings ORDER BY session_id, severity, host")

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        from auditor.catalog.schema import current_version

        return current_version(self.connection)

    def export_parquet(self, folder: Path) -> list[Path]:
        """Write each table to ``folder/<table>.parquet``; return the files."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for table in TABLES:
            target = folder / f"{table}.parquet"
            self.connection.execute(f"COPY {table} TO '{_sql_text(target)}' (FORMAT PARQUET)")
            written.append(target)
        return written

    def close(self) -> None:
        """Release the file."""
        self.connection.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sql_text(path: Path) -> str:
    """A path as the inside of a SQL string literal (COPY takes no parameter for its target)."""
    return str(path).replace("'", "''")


def open(path: str | Path) -> Catalog:  # the documented API name, like tarfile.open
    """Open a catalogue for reading: ``auditor.catalog.open("results/catalog.duckdb").findings``."""
    catalog = Catalog(Path(path))
    version = catalog.schema_version
    if version < SCHEMA_VERSION:
        catalog.close()
        # Older files are upgraded by the next batch run (or by opening them writable once).
        with connect(Path(path)):
            pass
        catalog = Catalog(Path(path))
    return catalog


def to_json_rows(frame: pd.DataFrame) -> str:
    """A DataFrame as a JSON array of objects (timestamps in ISO form)."""
    return json.dumps(json.loads(frame.to_json(orient="records", date_format="iso")), indent=2, ensure_ascii=False)
