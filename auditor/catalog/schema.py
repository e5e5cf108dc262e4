"""The catalogue's versioned schema and its migrations.

Every change to the tables is a new entry in :data:`MIGRATIONS`; a catalogue
records the versions applied in ``schema_version`` and :func:`migrate` applies
the missing ones in order, each in its own transaction. Never edit a released
migration: add the next one. ``docs/batch.md`` describes every column.
"""

from __future__ import annotations

from typing import Any

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "sessions, destinations and findings",
        [
            """CREATE TABLE sessions (
                session_id VARCHAR NOT NULL,
                capture_sha256 VARCHAR,
                path VARCHAR,
                format VARCHAR,
                app_name VARCHAR,
                app_version VARCHAR,
                app_domains VARCHAR[],
                persona VARCHAR,
                session_start TIMESTAMP,
                session_end TIMESTAMP,
                analysed_at TIMESTAMP,
                tool_version VARCHAR,
                trackers_db_version VARCHAR,
                records BIGINT,
                destinations INTEGER,
                third_parties INTEGER,
                trackers INTEGER,
                companies INTEGER,
                findings INTEGER,
                report_dir VARCHAR
            )""",
            """CREATE TABLE destinations (
                session_id VARCHAR NOT NULL,
                host VARCHAR,
                registrable_domain VARCHAR,
                party VARCHAR,
                company VARCHAR,
                parent_company VARCHAR,
                category VARCHAR,
                is_tracker BOOLEAN,
                hq_country VARCHAR,
                countries VARCHAR[],
                requests BIGINT,
                bytes_up BIGINT,
                bytes_down BIGINT,
                content_visible BOOLEAN,
                data_types VARCHAR[]
            )""",
            """CREATE TABLE findings (
                session_id VARCHAR NOT NULL,
                severity VARCHAR,
                rule VARCHAR,
                data_type VARCHAR,
                host VARCHAR,
                company VARCHAR,
                party VARCHAR,
                "where" VARCHAR,
                key VARCHAR,
                encoding VARCHAR,
                masked_value VARCHAR,
                fingerprint VARCHAR,
                count BIGINT,
                first_seen TIMESTAMP,
                title VARCHAR
            )""",
        ],
    ),
    (
        2,
        "the audit stage's verdict and coverage, finding reasons, and indexes for the cross-app questions",
        [
            "ALTER TABLE sessions ADD COLUMN verdict VARCHAR",
            "ALTER TABLE sessions ADD COLUMN coverage DOUBLE",
            "ALTER TABLE findings ADD COLUMN reason VARCHAR",
            # DuckDB cannot alter a table that has an index, so every index comes after the columns.
            "CREATE INDEX sessions_by_id ON sessions (session_id)",
            "CREATE INDEX destinations_by_session ON destinations (session_id)",
            "CREATE INDEX findings_by_session ON findings (session_id)",
            "CREATE INDEX sessions_by_app ON sessions (app_name, app_version)",
            "CREATE INDEX destinations_by_company ON destinations (company, party)",
            "CREATE INDEX findings_by_type_company ON findings (data_type, company)",
        ],
    ),
]
"""(version, what it adds, statements) in order."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
"""The version this code writes and expects."""


def current_version(connection: Any) -> int:
    """The highest migration applied to a catalogue (0 for an empty database)."""
    exists = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()[0]
    if not exists:
        return 0
    row = connection.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(connection: Any) -> int:
    """Bring a catalogue up to :data:`SCHEMA_VERSION`; return the version it had before.

    A catalogue written by a newer auditor is refused rather than guessed at.
    """
    before = current_version(connection)
    if before > SCHEMA_VERSION:
        raise ValueError(
            f"catalogue schema version {before} is newer than this auditor understands ({SCHEMA_VERSION}); "
            "upgrade classroom-auditor"
        )
    if before == 0:
        connection.execute(
            "CREATE TABLE schema_version (version INTEGER NOT NULL, description VARCHAR, "
            "applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
    for version, description, statements in MIGRATIONS:
        if version <= before:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            for statement in statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)", [version, description]
            )
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
    return before
