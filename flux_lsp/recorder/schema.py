"""The recorder file's schema, its version, and the migration path between versions.

`PRAGMA user_version` holds the schema version. Opening a file of an older version upgrades it
in place; a newer version (written by a newer Flux) is refused with a clear error rather than
misread.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE IF NOT EXISTS executions (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        function TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        code_version TEXT NOT NULL,
        parent_id TEXT,
        error_type TEXT,
        error_message TEXT,
        error_file TEXT,
        error_line INTEGER,
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ix_executions_started ON executions(started_at);
    CREATE INDEX IF NOT EXISTS ix_executions_function ON executions(function, started_at);
    CREATE INDEX IF NOT EXISTS ix_executions_error_file
        ON executions(error_file, started_at) WHERE error_file IS NOT NULL;
    CREATE INDEX IF NOT EXISTS ix_executions_parent
        ON executions(parent_id) WHERE parent_id IS NOT NULL;
    CREATE TABLE IF NOT EXISTS mutations (
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        op TEXT NOT NULL,
        pk TEXT,
        rows_affected INTEGER NOT NULL,
        at REAL NOT NULL,
        before TEXT,
        after TEXT,
        where_json TEXT,
        PRIMARY KEY (execution_id, seq)
    );
    CREATE INDEX IF NOT EXISTS ix_mutations_row ON mutations(table_name, pk, at);
    CREATE INDEX IF NOT EXISTS ix_mutations_at ON mutations(at);
    CREATE TABLE IF NOT EXISTS call_sites (
        execution_id TEXT NOT NULL,
        span_index INTEGER NOT NULL,
        file TEXT NOT NULL,
        line INTEGER NOT NULL,
        name TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        status TEXT NOT NULL,
        summary TEXT,
        PRIMARY KEY (execution_id, span_index)
    );
    CREATE INDEX IF NOT EXISTS ix_call_sites_site ON call_sites(file, line, started_at);
    """,
}


class SchemaTooNew(Exception):
    """The recorder was written by a newer Flux."""

    def __init__(self, found: int) -> None:
        self.found = found
        super().__init__(
            f"recorder schema v{found} is newer than this Flux understands (v{SCHEMA_VERSION}); "
            "upgrade Flux"
        )


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema to `SCHEMA_VERSION`; refuse newer files."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.executescript(
            "BEGIN;\n" + MIGRATIONS[target] + f"\nPRAGMA user_version = {target};\nCOMMIT;"
        )
