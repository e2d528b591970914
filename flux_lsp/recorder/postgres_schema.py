"""The PostgreSQL recorder's schema, its version and upgrade path, and its time partitions.

Everything lives in the `flux_recorder` schema, so the recorder can share a database with the
app's data: `executions`, `mutations` and `call_sites` with the file's columns, `meta` (the
schema version, the retention policy, where pruning reached) and the `changes` sequence, the
change token readers poll (the writer advances it after each committed batch and each prune).

Every row also carries `failure` (a failed job, a 4xx or a 5xx) and, for mutations and call
sites, `exec_started` (their execution's start). The three tables are partitioned by
`failure`, then by UTC day of the execution's start, so an execution's mutations and call sites
always sit in the partitions of the same day and class as it: pruning a day of successes drops
three partitions, and failures, kept longer, are untouched. The writer creates partitions as
records arrive (`ensure_partitions`), each a plain table attached to its parent, which locks
neither readers nor other writers out.

`ensure_schema` creates or upgrades the schema under an advisory lock, so several servers
starting at once upgrade it once; a schema newer than this Flux is refused.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from flux_lsp.recorder.schema import SchemaTooNew

if TYPE_CHECKING:  # imported where used: a one-shot reader goes through libpq alone
    import psycopg

SCHEMA = "flux_recorder"
SCHEMA_VERSION = 3
DAY = 86400
LOCK_KEY = 7_216_373_113
"""The advisory lock taken while the schema is created or upgraded."""
TABLES = ("executions", "mutations", "call_sites")
CLASSES = {False: "ok", True: "failed"}

EXECUTION_COLUMNS = (
    "id, kind, function, method, path, status, started_at, duration_ms, code_version, "
    "parent_id, error_type, error_message, error_file, error_line, record, failure"
)
MUTATION_COLUMNS = (
    "execution_id, seq, table_name, op, pk, rows_affected, at, before, after, where_json, "
    "failure, exec_started"
)
CALL_SITE_COLUMNS = (
    "execution_id, span_index, file, line, name, started_at, duration_ms, status, summary, "
    "failure, exec_started"
)

V1 = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE {SCHEMA}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE SEQUENCE {SCHEMA}.changes;
CREATE TABLE {SCHEMA}.executions (
    id text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    function text NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    status text NOT NULL,
    started_at double precision NOT NULL,
    duration_ms double precision NOT NULL,
    code_version text NOT NULL,
    parent_id text COLLATE "C",
    error_type text,
    error_message text,
    error_file text,
    error_line integer,
    record text NOT NULL,
    failure boolean NOT NULL,
    PRIMARY KEY (id, failure, started_at)
) PARTITION BY LIST (failure);
CREATE INDEX ix_executions_started ON {SCHEMA}.executions (started_at);
CREATE INDEX ix_executions_function ON {SCHEMA}.executions (function, started_at);
CREATE INDEX ix_executions_error_file ON {SCHEMA}.executions (error_file, started_at)
    WHERE error_file IS NOT NULL;
CREATE INDEX ix_executions_parent ON {SCHEMA}.executions (parent_id)
    WHERE parent_id IS NOT NULL;
CREATE TABLE {SCHEMA}.mutations (
    execution_id text COLLATE "C" NOT NULL,
    seq integer NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL,
    pk text,
    rows_affected integer NOT NULL,
    at double precision NOT NULL,
    before text,
    after text,
    where_json text,
    failure boolean NOT NULL,
    exec_started double precision NOT NULL
) PARTITION BY LIST (failure);
CREATE INDEX ix_mutations_row ON {SCHEMA}.mutations (table_name, pk, at);
CREATE INDEX ix_mutations_at ON {SCHEMA}.mutations (at);
CREATE TABLE {SCHEMA}.call_sites (
    execution_id text COLLATE "C" NOT NULL,
    span_index integer NOT NULL,
    file text NOT NULL,
    line integer NOT NULL,
    name text NOT NULL,
    started_at double precision NOT NULL,
    duration_ms double precision NOT NULL,
    status text NOT NULL,
    summary text,
    failure boolean NOT NULL,
    exec_started double precision NOT NULL
) PARTITION BY LIST (failure);
CREATE INDEX ix_call_sites_site ON {SCHEMA}.call_sites (file, line, started_at);
""" + "".join(
    f"""CREATE TABLE {SCHEMA}.{table}_{cls} PARTITION OF {SCHEMA}.{table}
    FOR VALUES IN ({str(failure).lower()})
    PARTITION BY RANGE ({"started_at" if table == "executions" else "exec_started"});
"""
    for table in TABLES
    for failure, cls in CLASSES.items()
)

V2 = f"""
CREATE INDEX IF NOT EXISTS ix_executions_replays ON {SCHEMA}.executions (function, started_at)
    WHERE kind = 'replay';
"""
"""The replays of a function, which the editor asks for each file it opens: without it, every
execution of the function in the window is fetched from the table to find the few replays."""

V3 = f"""
INSERT INTO {SCHEMA}.meta (key, value)
    SELECT 'longest_ms', coalesce(max(duration_ms), 0)::text FROM {SCHEMA}.executions
    ON CONFLICT (key) DO NOTHING;
"""
"""`longest_ms`, the longest execution recorded (the writer raises it): a mutation or call site
at or after a moment belongs to an execution that started at most that long before it, so
their reads by time can name the few day partitions to look in (`LONGEST_KEY`)."""
LONGEST_KEY = "longest_ms"
RAISE_LONGEST = (
    f"UPDATE {SCHEMA}.meta SET value = %s WHERE key = '{LONGEST_KEY}' AND value::float8 < %s"
)
"""Run by the writer with a batch's longest duration, in the batch's transaction."""

Migration = Callable[["psycopg.Connection"], None]


def _script(sql: str) -> Migration:
    def run(conn: psycopg.Connection) -> None:
        conn.execute(sql.encode())

    return run


MIGRATIONS: dict[int, Migration] = {1: _script(V1), 2: _script(V2), 3: _script(V3)}


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def schema_version(conn: psycopg.Connection) -> int:
    """The recorder schema's version in this database; 0 when there is none."""
    found = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.meta",)).fetchone()
    if found is None or found[0] is None:
        return 0
    row = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def ensure_schema(conn: psycopg.Connection) -> None:
    """Create or upgrade the recorder schema to `SCHEMA_VERSION`; refuse newer ones."""
    version = schema_version(conn)
    conn.commit()
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute("SET LOCAL statement_timeout = 0")  # an index over a big recorder takes long
        for target in range(schema_version(conn) + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(target),),
            )


def connect(url: str, *, timeout: float = 5.0, autocommit: bool = False) -> psycopg.Connection:
    """A connection whose unqualified table names are the recorder's."""
    import psycopg

    return psycopg.connect(
        url,
        connect_timeout=max(1, int(timeout)),
        autocommit=autocommit,
        options=f"-c search_path={SCHEMA}",
        application_name="flux recorder",
    )


# -- time partitions ------------------------------------------------------------------------


def partition_name(table: str, failure: bool, day: int) -> str:
    """`executions_ok_20261129`: the partition for UTC day `day` (epoch days)."""
    date = _dt.datetime.fromtimestamp(day * DAY, _dt.UTC).strftime("%Y%m%d")
    return f"{table}_{CLASSES[failure]}_{date}"


def day_of(started_at: float) -> int:
    return int(started_at // DAY)


def ensure_partitions(
    conn: psycopg.Connection, needed: Iterable[tuple[bool, int]], known: set[tuple[bool, int]]
) -> None:
    """Create the partitions (class, day) of all three tables that `known` does not list.

    Each is created as a plain table and attached to its class's table: attaching takes a lock
    that lets readers and writers of the other partitions go on.
    """
    missing = sorted(set(needed) - known)
    if not missing:
        return
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '2s'")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY + 1,))
        for failure, day in missing:
            for table in TABLES:
                name = partition_name(table, failure, day)
                exists = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{name}",)).fetchone()
                if exists is not None and exists[0] is not None:
                    continue
                parent = f"{table}_{CLASSES[failure]}"
                conn.execute(
                    f"CREATE TABLE {SCHEMA}.{name} (LIKE {SCHEMA}.{parent} "
                    "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                )
                conn.execute(
                    f"ALTER TABLE {SCHEMA}.{parent} ATTACH PARTITION {SCHEMA}.{name} "
                    f"FOR VALUES FROM ({day * DAY}) TO ({(day + 1) * DAY})"
                )
    known.update(missing)


def partitions(conn: psycopg.Connection, failure: bool) -> list[int]:
    """The days (epoch days) that have partitions of class `failure`, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = %s AND p.relname = %s",
        (SCHEMA, f"executions_{CLASSES[failure]}"),
    ).fetchall()
    days = []
    for (name,) in rows:
        stamp = _dt.datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d").replace(tzinfo=_dt.UTC)
        days.append(int(stamp.timestamp()) // DAY)
    return sorted(days)


def known_partitions(conn: psycopg.Connection) -> set[tuple[bool, int]]:
    return {(failure, day) for failure in CLASSES for day in partitions(conn, failure)}


def drop_partition(conn: psycopg.Connection, failure: bool, day: int) -> None:
    """Detach (without blocking readers) and drop one day of one class, all three tables.

    `conn` must be in autocommit mode: a concurrent detach cannot run in a transaction.
    """
    for table in TABLES:
        name = partition_name(table, failure, day)
        parent = f"{table}_{CLASSES[failure]}"
        conn.execute("SET lock_timeout = '5s'")
        conn.execute(f"ALTER TABLE {SCHEMA}.{parent} DETACH PARTITION {SCHEMA}.{name} CONCURRENTLY")
        conn.execute(f"DROP TABLE {SCHEMA}.{name}")


SIZE_SQL = (
    "SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) AS bytes FROM ("
    + " UNION ALL ".join(
        f"SELECT relid FROM pg_partition_tree('{SCHEMA}.{table}'::regclass)" for table in TABLES
    )
    + ") t"
)
"""Bytes the recorder's tables take, indexes and TOAST included."""


ROWS_ESTIMATE_SQL = (
    "SELECT coalesce(sum(CASE WHEN coalesce(s.n_live_tup, 0) > 0 THEN s.n_live_tup "
    "ELSE greatest(c.reltuples, 0) END), 0)::bigint AS n "
    f"FROM pg_partition_tree('{SCHEMA}.executions'::regclass) t "
    "JOIN pg_class c ON c.oid = t.relid "
    "LEFT JOIN pg_stat_user_tables s ON s.relid = t.relid WHERE t.isleaf"
)
"""About how many executions there are, from PostgreSQL's own figures, without reading them:
per partition the live rows the statistics count as rows are written and removed
(`n_live_tup`), or else the rows the last ANALYZE or VACUUM found (`reltuples`)."""

ESTIMATED_COUNTS_SQL = (
    "SELECT (SELECT min(started_at) FROM executions) AS oldest, "
    "(SELECT max(started_at) FROM executions) AS newest, "
    "(SELECT count(*) FROM executions WHERE kind = 'replay') AS replays"
)
"""The rest of `COUNTS_SQL` without counting every row: the oldest and newest starts (an index
scan at each end) and the replays (counted in their partial index)."""


def total_size(conn: psycopg.Connection) -> int:
    row = conn.execute(SIZE_SQL).fetchone()
    return int(row[0]) if row else 0


CHANGES_CHANNEL = "flux_recorder_changed"
"""The LISTEN/NOTIFY channel a change to the recorder is announced on (see `postgres_signal`)."""


def bump_changes(conn: psycopg.Connection) -> None:
    """Advance the change token (after a commit, so readers that see it see the rows) and
    notify the readers listening on `CHANGES_CHANNEL` (sent when this commits)."""
    conn.execute(f"SELECT nextval('{SCHEMA}.changes')")
    conn.execute(f"NOTIFY {CHANGES_CHANNEL}")
    if not conn.autocommit:
        conn.commit()
