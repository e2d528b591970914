"""The recorder file's schema, its version, and the migration path between versions.

`PRAGMA user_version` holds the schema version. A new file is created at version 2, the first
format that shipped, and upgraded from there; a file of an older version upgrades in place. A
newer version (written by a newer Flux), or a development build's version 1, is refused with a
clear error rather than misread. Indexes that only make reads faster (`READ_INDEXES`) are not
part of a version: a writer adds any that are missing each time it opens the file, and a file
without them reads the same, only slower. A writer that finds the file held by another (which
may be building them) leaves them to a later open rather than fail to open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

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

V2 = f"""
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
{MUTATION_COLUMNS}
    );
{MUTATION_INDEXES}
    CREATE TABLE IF NOT EXISTS call_sites (
{CALL_SITE_COLUMNS}
    );
{CALL_SITE_INDEXES}
"""
"""An execution's mutations travel in its record; the mutations and call-site tables are read
by table and row, and by file and line, and have no primary key over random execution ids
(which made every batch rewrite pages all over both indexes)."""


def _script(sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


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

READ_INDEXES = """
    CREATE INDEX IF NOT EXISTS ix_executions_replays
        ON executions(function, started_at) WHERE kind = 'replay'"""
"""Counting the replays (`flux status`, every replay's retention note) read the whole table:
seconds at a million executions. The function's replays, which the editor asks for, come from
the same index."""

FIRST_VERSION = 2
"""The first format that shipped: a new file starts here."""
MIGRATIONS: dict[int, Migration] = {FIRST_VERSION: _script(V2), 3: _script(V3)}


class SchemaTooNew(Exception):
    """The recorder was written by a newer Flux."""

    def __init__(self, found: int) -> None:
        self.found = found
        if found < FIRST_VERSION:
            super().__init__(
                f"recorder schema v{found} is from a development build of Flux; "
                "remove the file to start a new recorder"
            )
            return
        super().__init__(
            f"recorder schema v{found} is newer than this Flux understands (v{SCHEMA_VERSION}); "
            "upgrade Flux"
        )


def older_schema(location: str, version: int) -> str:
    """The one line a reader says of a recorder an older Flux wrote: readers never write, so
    they name the commands whose writer upgrades it (the same on every backend)."""
    return (
        f"{location} was written by an older Flux (recorder schema v{version}); "
        "`flux dev` or `flux serve` upgrades it"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema to `SCHEMA_VERSION`; refuse newer and development files.

    Each step runs in its own write transaction and re-reads the version inside it, so two
    processes opening the same old file upgrade it once.
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION or 0 < version < FIRST_VERSION:
        raise SchemaTooNew(version)
    for target in range(max(version + 1, FIRST_VERSION), SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < target:
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    add_read_indexes(conn)


def add_read_indexes(conn: sqlite3.Connection) -> None:
    """Build the read indexes the file lacks (once, on a file an older Flux wrote; a no-op that
    takes no lock once they exist). When another process holds the file's write lock past
    the busy timeout (another writer building the same index on a large file, say), they are
    left for a later open: the writer still opens, and reads are only slower meanwhile."""
    try:
        _script(READ_INDEXES)(conn)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
