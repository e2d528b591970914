"""Writing records into a PostgreSQL recorder: rows in, with COPY, one transaction a batch.

Used by the writer process (`writer_process.PostgresSink`), never on a request's path. A batch
becomes the same rows the file gets (`writer.record_rows`) plus each row's partition key (the
execution's class, failure or not, and its start); the day partitions it needs are created
first, then the three tables are filled with `COPY … FROM STDIN`, committed, and the change
token is advanced. An execution written again (nothing in Flux does, but a tool may) replaces
its rows, as in the file.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import psycopg

from flux_lsp.recorder.postgres_schema import (
    CALL_SITE_COLUMNS,
    EXECUTION_COLUMNS,
    MUTATION_COLUMNS,
    RAISE_LONGEST,
    bump_changes,
    day_of,
    ensure_partitions,
)
from flux_lsp.recorder.writer import Row, record_rows


def is_failure(status: str) -> bool:
    """Failed jobs and 4xx/5xx responses: what retention keeps longer."""
    return status == "failed" or (len(status) == 3 and status[0] in "45" and status.isdigit())


NUL = b"\\u0000"
"""How a NUL character looks in a record's JSON: a record without it has none in any row."""


def _clean(row: Row) -> Row:
    """PostgreSQL text cannot hold NUL characters; a user's string may."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)


def pg_rows(records: Iterable[bytes]) -> tuple[list[Row], list[Row], list[Row]]:
    """The executions, mutations and call sites of a batch, with their partition keys.

    Rows are cleaned of NUL characters only when their record's JSON holds one (`NUL`):
    looking for it in every value of every row was a third of the writer's time."""
    execs: list[Row] = []
    muts: list[Row] = []
    sites: list[Row] = []
    for record in records:
        row, m, s = record_rows(record)
        failure = is_failure(row[5])
        started = row[6]
        if NUL in record:
            execs.append(_clean((*row, failure)))
            muts.extend([_clean((*r, failure, started)) for r in m])
            sites.extend([_clean((*r, failure, started)) for r in s])
        else:
            execs.append((*row, failure))
            muts.extend([(*r, failure, started) for r in m])
            sites.extend([(*r, failure, started) for r in s])
    return execs, muts, sites


_RAISED: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()
"""The longest duration each writer connection has made sure `longest_ms` covers: a batch
raises it only when it holds a longer execution (most never do)."""


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, rows: list[Row]) -> None:
    if not rows:
        return
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def write_records_pg(
    conn: psycopg.Connection, records: Iterable[bytes], known: set[tuple[bool, int]]
) -> int:
    """Write executions (in their wire form) in one transaction; return how many.

    `known` caches the partitions that exist, so a batch usually costs no catalog query.
    """
    execs, muts, sites = pg_rows(records)
    if not execs:
        return 0
    ensure_partitions(conn, {(row[15], day_of(row[6])) for row in execs}, known)
    try:
        _fill(conn, execs, muts, sites, replace=False)
    except psycopg.errors.UniqueViolation:
        conn.rollback()
        _fill(conn, execs, muts, sites, replace=True)
    _RAISED[conn] = max(_RAISED.get(conn, -1.0), max(row[7] for row in execs))
    bump_changes(conn)
    return len(execs)


def _fill(
    conn: psycopg.Connection, execs: list[Row], muts: list[Row], sites: list[Row], replace: bool
) -> None:
    with conn.transaction(), conn.cursor() as cur:
        if replace:
            ids = [row[0] for row in execs]
            for table, column in (
                ("mutations", "execution_id"),
                ("call_sites", "execution_id"),
                ("executions", "id"),
            ):
                cur.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (ids,))
            execs = list({row[0]: row for row in execs}.values())
        longest = max(row[7] for row in execs)
        if longest > _RAISED.get(conn, -1.0):
            cur.execute(RAISE_LONGEST, (str(longest), longest))
        _copy(cur, "executions", EXECUTION_COLUMNS, execs)
        _copy(cur, "mutations", MUTATION_COLUMNS, muts)
        _copy(cur, "call_sites", CALL_SITE_COLUMNS, sites)
