"""The results catalogue: schema migrations, the catalog commands, Parquet, and the Python API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from helpers import SAMPLE_CAPTURE

import auditor
from auditor.api import analyze
from auditor.catalog import SessionFacts, add_session, add_sessions, connect, session_rows
from auditor.catalog.report import QUESTIONS, gather
from auditor.catalog.schema import MIGRATIONS, SCHEMA_VERSION, current_version
from auditor.cli import main


@pytest.fixture(scope="module")
def sample_report() -> dict[str, object]:
    return analyze([SAMPLE_CAPTURE], app_domains=["classroom.example"], app_name="Sample classroom", salt=b"t").report


@pytest.fixture
def catalogue(tmp_path: Path, sample_report: dict[str, object]) -> Path:
    path = tmp_path / "catalog.duckdb"
    with connect(path) as connection:
        add_session(connection, sample_report, SessionFacts("aaa111", app_version="1.0", persona="student"))
        add_session(connection, sample_report, SessionFacts("bbb222", app_version="2.0", persona="student"))
    return path


def test_an_older_catalogue_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # a catalogue as version 1 of the schema wrote it
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, description VARCHAR, "
                    "applied_at TIMESTAMP DEFAULT current_timestamp)")
        for statement in MIGRATIONS[0][2]:
            old.execute(statement)
        old.execute("INSERT INTO schema_version (version, description) VALUES (1, 'old')")
        old.execute("INSERT INTO sessions (session_id, app_name, findings) VALUES ('s1', 'Old app', 3)")
        old.execute("INSERT INTO findings (session_id, data_type, company) VALUES ('s1', 'email', 'Mixpanel')")

    with connect(path) as connection:
        assert current_version(connection) == SCHEMA_VERSION == 2
        assert connection.execute("SELECT version FROM schema_version ORDER BY version").fetchall() == [(1,), (2,)]
        assert connection.execute("SELECT app_name, findings, verdict, coverage FROM sessions").fetchall() == [
            ("Old app", 3, None, None)
        ]
        assert connection.execute("SELECT reason FROM findings").fetchall() == [(None,)]
        indexes = {row[0] for row in connection.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
        assert {"findings_by_type_company", "destinations_by_company", "sessions_by_app"} <= indexes


def test_a_catalogue_from_a_newer_auditor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with connect(path) as connection:
        connection.execute("INSERT INTO schema_version (version, description) VALUES (99, 'future')")
    with pytest.raises(ValueError, match="newer than this auditor"):
        connect(path)


def test_storing_a_session_again_replaces_it(catalogue: Path, sample_report: dict[str, object]) -> None:
    with connect(catalogue) as connection:
        before = connection.execute("SELECT count(*) FROM findings").fetchone()
        add_session(connection, sample_report, SessionFacts("aaa111", app_version="1.0"))
        assert connection.execute("SELECT count(*) FROM findings").fetchone() == before
        assert connection.execute("SELECT count(*) FROM sessions").fetchone() == (2,)
        # Two copies of one capture finishing in the same group are still one session.
        twice = session_rows(sample_report, SessionFacts("ccc333"))
        add_sessions(connection, [twice, twice])
        assert connection.execute("SELECT count(*) FROM sessions WHERE session_id = 'ccc333'").fetchone() == (1,)
        assert connection.execute("SELECT count(*) FROM findings WHERE session_id = 'ccc333'").fetchone() == (
            len(sample_report["findings"]),  # type: ignore[arg-type]
        )


def test_the_python_api_returns_dataframes(catalogue: Path, sample_report: dict[str, object]) -> None:
    with auditor.catalog.open(catalogue) as opened:
        assert list(opened.sessions.app_version) == ["1.0", "2.0"]
        assert len(opened.findings) == 2 * len(sample_report["findings"])  # type: ignore[arg-type]
        assert set(opened.destinations.host) == {d["host"] for d in sample_report["destinations"]}  # type: ignore
        meta = opened.query(QUESTIONS["advertising_id_to_meta"])
        assert list(meta.app) == ["Sample classroom"] * 2


def test_catalog_commands_list_query_show_and_export(catalogue: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["catalog", "list", str(catalogue)])
    assert listed.exit_code == 0
    header, *lines = listed.output.splitlines()
    assert header.startswith("session_id,app_name,app_version,persona") and len(lines) == 2

    query = "SELECT company, count(DISTINCT session_id) AS sessions FROM findings WHERE data_type = 'email' GROUP BY 1"
    as_json = runner.invoke(main, ["catalog", "query", str(catalogue), query, "--json"])
    assert as_json.exit_code == 0
    assert {row["company"] for row in json.loads(as_json.output)} >= {"Mixpanel"}

    bad = runner.invoke(main, ["catalog", "query", str(catalogue), "SELEC nothing"])
    assert bad.exit_code == 2 and "Error: the query failed" in bad.output
    writing = runner.invoke(main, ["catalog", "query", str(catalogue), "DELETE FROM sessions"])
    assert writing.exit_code == 2  # the catalogue is opened read-only

    shown = runner.invoke(main, ["catalog", "show", str(catalogue), "bbb"])
    assert shown.exit_code == 0 and "app_version: 2.0" in shown.output and "personal-data" in shown.output
    assert runner.invoke(main, ["catalog", "show", str(catalogue), "zzz"]).exit_code == 2

    exported = runner.invoke(main, ["catalog", "export", str(catalogue), "--parquet", str(tmp_path / "pq")])
    assert exported.exit_code == 0
    with duckdb.connect() as db:
        for table in ("sessions", "destinations", "findings"):
            from_parquet = db.execute(f"SELECT count(*) FROM '{tmp_path / 'pq' / table}.parquet'").fetchone()
            with duckdb.connect(str(catalogue), read_only=True) as source:
                assert from_parquet == source.execute(f"SELECT count(*) FROM {table}").fetchone()


def test_the_cross_app_questions_answer_from_the_catalogue(catalogue: Path) -> None:
    with duckdb.connect(str(catalogue), read_only=True) as connection:
        answers = gather(connection)
    ranked = answers["apps_ranked"]
    assert [(r["app"], r["sessions"]) for r in ranked] == [("Sample classroom", 2)]
    assert ranked[0]["third_parties"] == 10 and ranked[0]["findings"] > 0
    meta = next(r for r in answers["companies_by_apps"] if r["company"] == "Meta")
    assert meta["apps_sending_data"] == 1 and "advertising_id" in meta["data_types"]
    assert [r["version"] for r in answers["versions"]] == ["1.0", "2.0"]
    assert {(r["data_type"], r["company"]) for r in answers["data_to_companies"]} >= {("email", "Mixpanel")}


def test_catalog_report_writes_a_self_contained_page(catalogue: Path, tmp_path: Path) -> None:
    out = tmp_path / "cross.html"
    result = CliRunner().invoke(main, ["catalog", "report", str(catalogue), "--html", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Content-Security-Policy" in page and "connect-src 'none'" in page
    assert "https://" not in page.split("<script>")[0]  # nothing fetched by the head
    for section in ("ranking", "heatmap", "companies", "versions"):
        assert f"id='{section}'" in page
    visible = re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)
    assert "advertising ID" in visible and "advertising_id" not in visible  # words for people, never slugs
