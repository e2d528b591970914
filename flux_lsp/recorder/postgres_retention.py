"""Pruning a PostgreSQL recorder to its retention policy (see `retention` for the policy).

A day partition wholly older than its class's limit is detached concurrently and dropped, with
the same day's mutations and call sites: no row is deleted one by one and readers are never
blocked. The one partition the limit falls inside is trimmed with small deletes (its older
executions, then their mutations and call sites, found by their execution's start). Past
`max_size`, whole days of the oldest successes are dropped first, then the oldest successes of
the remaining day in batches.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from flux_lsp.recorder.postgres_schema import (
    CLASSES,
    DAY,
    SCHEMA,
    bump_changes,
    drop_partition,
    partition_name,
    partitions,
    total_size,
)
from flux_lsp.recorder.retention import (
    PRUNE_BATCH,
    PRUNE_PAUSE,
    PruneReport,
    RetentionPolicy,
    excess_rows,
    pruning,
)


def set_meta(conn: psycopg.Connection, key: str, value: str) -> None:
    conn.execute(
        f"INSERT INTO {SCHEMA}.meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _one(conn: psycopg.Connection, sql: str, params: Any = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _partition_counts(
    conn: psycopg.Connection, failure: bool, day: int
) -> tuple[int, int, int, float | None]:
    """Executions, mutations and call sites in one day of one class, and its newest start."""
    execs = partition_name("executions", failure, day)
    count, newest = conn.execute(
        f"SELECT count(*), max(started_at) FROM {SCHEMA}.{execs}"
    ).fetchone() or (0, None)
    muts = _one(conn, f"SELECT count(*) FROM {SCHEMA}.{partition_name('mutations', failure, day)}")
    sites = _one(
        conn, f"SELECT count(*) FROM {SCHEMA}.{partition_name('call_sites', failure, day)}"
    )
    return int(count), int(muts), int(sites), newest


def _trim(
    conn: psycopg.Connection,
    report: PruneReport,
    failure: bool,
    day: int,
    cutoff: float,
    *,
    dry_run: bool,
    most: int | None = None,
) -> None:
    """Remove executions of one day and class that started before `cutoff`, in batches."""
    execs = f"{SCHEMA}.{partition_name('executions', failure, day)}"
    muts = f"{SCHEMA}.{partition_name('mutations', failure, day)}"
    sites = f"{SCHEMA}.{partition_name('call_sites', failure, day)}"
    if dry_run:
        rows = conn.execute(
            f"SELECT started_at FROM {execs} WHERE started_at < %s ORDER BY started_at LIMIT %s",
            (cutoff, most),
        ).fetchall()
        if rows:
            bound = rows[-1][0]
            m = _one(conn, f"SELECT count(*) FROM {muts} WHERE exec_started <= %s", (bound,))
            s = _one(conn, f"SELECT count(*) FROM {sites} WHERE exec_started <= %s", (bound,))
            report.removed(len(rows), bound, failure, int(m), int(s))
        return
    while most is None or most > 0:
        size = PRUNE_BATCH if most is None else min(PRUNE_BATCH, most)
        with conn.transaction():
            gone = conn.execute(
                f"DELETE FROM {execs} WHERE id IN (SELECT id FROM {execs} WHERE started_at < %s "
                "ORDER BY started_at LIMIT %s) RETURNING started_at",
                (cutoff, size),
            ).fetchall()
            if not gone:
                return
            bound = max(r[0] for r in gone)
            # every execution of this day and class started at or before `bound` is gone
            # unless it shares that very instant with one still kept: leave those children
            low = (
                "exec_started < %s OR (exec_started = %s "
                f"AND execution_id NOT IN (SELECT id FROM {execs}))"
            )
            m = conn.execute(f"DELETE FROM {muts} WHERE {low}", (bound, bound)).rowcount
            s = conn.execute(f"DELETE FROM {sites} WHERE {low}", (bound, bound)).rowcount
            report.removed(len(gone), bound, failure, m, s)
            _progress(conn, report)
        if most is not None:
            most -= len(gone)
        time.sleep(PRUNE_PAUSE)


def _progress(conn: psycopg.Connection, report: PruneReport) -> None:
    if report.pruned_before is None:
        return
    current = _one(conn, f"SELECT value FROM {SCHEMA}.meta WHERE key = 'pruned_before'")
    before = max(report.pruned_before, float(current)) if current else report.pruned_before
    set_meta(conn, "pruned_before", repr(before))
    set_meta(conn, "pruned_at", repr(time.time()))


def _estimate_size_trim(
    conn: psycopg.Connection, report: PruneReport, after: float, size: int, max_size: int
) -> None:
    rows = int(_one(conn, "SELECT count(*) FROM executions") or 0)
    most = excess_rows(size, rows, max_size)
    starts = conn.execute(
        "SELECT started_at FROM executions WHERE NOT failure AND started_at >= %s "
        "ORDER BY started_at LIMIT %s",
        (after, most),
    ).fetchall()
    if not starts:
        return
    bound = starts[-1][0]
    where = "NOT failure AND exec_started >= %s AND exec_started <= %s"
    m = _one(conn, f"SELECT count(*) FROM mutations WHERE {where}", (after, bound))
    s = _one(conn, f"SELECT count(*) FROM call_sites WHERE {where}", (after, bound))
    report.removed(len(starts), bound, False, int(m), int(s))


def prune_postgres(
    conn: psycopg.Connection,
    location: str,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Apply `policy` to the recorder on `conn` (an autocommit connection)."""
    now = time.time() if now is None else now
    with pruning(location, policy, dry_run, lambda: total_size(conn)) as report:

        def drop(failure: bool, day: int) -> None:
            count, m, s, newest = _partition_counts(conn, failure, day)
            report.removed(count, newest, failure, m, s)
            report.partitions += 3
            if not dry_run:
                drop_partition(conn, failure, day)
                _progress(conn, report)

        for failure in CLASSES:
            cutoff = now - (policy.keep_failures if failure else policy.keep)
            for day in partitions(conn, failure):
                if (day + 1) * DAY <= cutoff:
                    drop(failure, day)
                elif day * DAY < cutoff:
                    _trim(conn, report, failure, day, cutoff, dry_run=dry_run)
        size = total_size(conn)
        if size > policy.max_size:
            if dry_run:  # nothing was removed: estimate how many of the oldest successes left go
                _estimate_size_trim(conn, report, now - policy.keep, size, policy.max_size)
            else:
                oks = partitions(conn, False)
                while size > policy.max_size and len(oks) > 1:
                    drop(False, oks.pop(0))
                    size = total_size(conn)
                if size > policy.max_size and oks:
                    rows = int(_one(conn, "SELECT count(*) FROM executions") or 0)
                    most = excess_rows(size, rows, policy.max_size)
                    _trim(conn, report, False, oks[0], float("inf"), dry_run=False, most=most)
        if not dry_run:
            set_meta(conn, "policy", policy.to_json())
            if report.executions:
                bump_changes(conn)
    return report
