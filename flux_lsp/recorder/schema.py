"""The recorder file's schema, its version, and the migration path between versions.

`PRAGMA user_version` holds the schema version. Opening a file of an older version upgrades it
in place; a newer version (written by a newer Flux) is refused with a clear error rather than
misread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import orjson

from flux_lsp.encode import to_json
from flux_lsp.recorder.sql import mutation_from_row

SCHEMA_VERSION = 3

Migration = Callable[[sqlite3.Connection], None]

MUTATION_COLUMNS = """
        execution_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        table_name TEXT NOT NULL,
        op TEXT NOT NULL,
        pk TEXT,
        rows_affected INTEGER NOT NULL,
        at REAL NOT NULL,
        before TEXT,
        after TEXT,
        where_json TEXT"""
CALL_SITE_COLUMNS = """
        execution_id TEXT NOT NULL,
        span_index INTEGER NOT NULL,
        file TEXT NOT NULL,
        line INTEGER NOT NULL,
        name TEXT NOT NULL,
        started_at REAL NOT NULL,
        duration_ms REAL NOT NULL,
        status TEXT NOT NULL,
        summary TEXT"""
"""The columns of the mutations and call-site tables, the same in every version so far."""
MUTATION_INDEXES = """
    CREATE INDEX IF NOT EXISTS ix_mutations_row ON mutations(table_name, pk, at);
    CREATE INDEX IF NOT EXISTS ix_mutations_at ON mutations(at);"""
CALL_SITE_INDEXES = """
    CREATE INDEX IF NOT EXISTS ix_call_sites_site ON call_sites(file, line, started_at);"""
"""Their indexes, the same in every version so far."""

V1 = f"""
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
{MUTATION_COLUMNS},
        PRIMARY KEY (execution_id, seq)
    );
{MUTATION_INDEXES}
    CREATE TABLE IF NOT EXISTS call_sites (
{CALL_SITE_COLUMNS},
        PRIMARY KEY (execution_id, span_index)
    );
{CALL_SITE_INDEXES}
"""


def _without_primary_key(table: str, columns: str, indexes: str) -> str:
    """SQL rebuilding `table` with `columns` and no primary key, keeping its rows and indexes."""
    return f"""
    CREATE TABLE {table}_v2 (
{columns}
    );
    INSERT INTO {table}_v2 SELECT * FROM {table};
    DROP TABLE {table};
    ALTER TABLE {table}_v2 RENAME TO {table};
{indexes}
"""


V2_TABLES = _without_primary_key(
    "mutations", MUTATION_COLUMNS, MUTATION_INDEXES
) + _without_primary_key("call_sites", CALL_SITE_COLUMNS, CALL_SITE_INDEXES)


def _script(sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


def _v2(conn: sqlite3.Connection) -> None:
    """Records carry their own mutations; mutations and call sites lose their primary keys.

    Those keys ordered rows by random execution ids, so every batch rewrote pages all over
    both indexes; they are read by table and row, and by file and line, which keep their
    indexes. An execution's own mutations now travel in its record (a page at a time here).
    """
    last = ""
    while True:
        page = conn.execute(
            "SELECT id, record FROM executions WHERE id > ? ORDER BY id LIMIT 500", (last,)
        ).fetchall()
        if not page:
            break
        last = page[-1][0]
        records = {eid: orjson.loads(text) for eid, text in page}
        missing = [eid for eid, record in records.items() if "mutations" not in record]
        if not missing:
            continue
        for eid in missing:
            records[eid]["mutations"] = []
        marks = ",".join("?" * len(missing))
        rows = conn.cursor()
        rows.row_factory = sqlite3.Row
        rows.execute(
            f"SELECT * FROM mutations WHERE execution_id IN ({marks}) ORDER BY execution_id, seq",
            missing,
        )
        for row in rows:
            records[row["execution_id"]]["mutations"].append(to_json(mutation_from_row(row)))
        conn.executemany(
            "UPDATE executions SET record = ? WHERE id = ?",
            [(orjson.dumps(records[eid]).decode(), eid) for eid in missing],
        )
    _script(V2_TABLES)(conn)


META = """
    CREATE TABLE IF NOT EXISTS recorder_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"""
"""Facts about the recorder kept with it: the retention policy the writer applies, and where
pruning reached (`pruned_before`, `pruned_at`)."""
V3 = f"""
{META};
    CREATE INDEX IF NOT EXISTS ix_call_sites_started ON call_sites(started_at);
"""
"""Retention: the meta table, and a time index on call sites so an execution's sites are
deleted with it without a scan."""

MIGRATIONS: dict[int, Migration] = {1: _script(V1), 2: _v2, 3: _script(V3)}


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
    """Create or upgrade the schema to `SCHEMA_VERSION`; refuse newer files.

    Each step runs in its own write transaction and re-reads the version inside it, so two
    processes opening the same old file upgrade it once.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < target:
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
