"""Retention: how long recordings are kept, and pruning a recorder file to that policy.

`[recorder] keep` (default 14 days) is the age limit for successes; `keep_failures` (default
90 days) keeps failed jobs and 4xx/5xx responses longer, because failures are what users come
back for; past `max_size` (default 5 GB) the oldest successes go first. No recorder is
unbounded.

Pruning runs in the writer process (`writer_process.Pruner`) every few minutes and on demand
(`flux prune`), always in small batches, each its own short transaction, so neither a request
(which never waits on the recorder) nor a reader waits behind it. An execution's mutations and
call sites go with it. A SQLite file gives freed pages back (incremental vacuum), so the file
shrinks; PostgreSQL drops whole time partitions (see `postgres_schema`). Either way the
recorder keeps `pruned_before`, the start of the newest execution removed, so a replay window
or a state history that reaches before it says so instead of answering with partial data.

This module also reads what the writer leaves for `flux status`: the meta facts (policy,
`pruned_before`) and the writer's health file (recorded, dropped, the last problem).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flux_lsp.project import ConfigError, Settings
from flux_lsp.recorder.sql import FAILURE
from flux_lsp.recorder.store import RecorderStats

DAY = 86400.0
PRUNE_BATCH = 500
"""Executions removed per transaction: a few milliseconds of holding the write lock."""
PRUNE_PAUSE = 0.005
"""The pause between batches, in which the writer's own batches take the lock."""
VACUUM_PAGES = 2000
"""Pages an incremental vacuum step gives back per transaction."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)\s*$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_BYTES = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}


def parse_duration(text: str, where: str) -> float:
    """`14d`, `12h`, `2w` → seconds; a `ConfigError` naming `where` otherwise."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(
            f"flux.toml: {where} must be a duration like 14d, 12h or 2w, not {text!r}"
        )
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_size(text: str, where: str) -> int:
    """`5GB`, `500MB` → bytes; a `ConfigError` naming `where` otherwise."""
    match = _SIZE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"flux.toml: {where} must be a size like 5GB or 500MB, not {text!r}")
    return int(float(match.group(1)) * _BYTES[match.group(2).lower()])


@dataclass(slots=True, frozen=True)
class RetentionPolicy:
    keep: float = 14 * DAY
    """Seconds a success is kept."""
    keep_failures: float = 90 * DAY
    """Seconds a failure (failed job, 4xx or 5xx) is kept."""
    max_size: int = 5 << 30
    """Bytes; past it the oldest successes go first."""
    text: str = "keep 14d · failures 90d · max 5GB"
    """The policy as the user wrote it, for `flux status`."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        keep, failures, size = (
            settings.recorder.keep,
            settings.recorder.keep_failures,
            settings.recorder.max_size,
        )
        return cls(
            keep=parse_duration(keep, "recorder.keep"),
            keep_failures=parse_duration(failures, "recorder.keep_failures"),
            max_size=parse_size(size, "recorder.max_size"),
            text=f"keep {keep} · failures {failures} · max {size}",
        )

    def to_json(self) -> str:
        return json.dumps([self.keep, self.keep_failures, self.max_size, self.text])

    @classmethod
    def from_json(cls, text: str) -> RetentionPolicy:
        keep, failures, size, words = json.loads(text)
        return cls(float(keep), float(failures), int(size), str(words))


@dataclass(slots=True)
class PruneReport:
    """What one pruning pass removed (or, with `dry_run`, would remove)."""

    location: str
    policy: str
    dry_run: bool = False
    successes: int = 0
    """Successes removed for age or size."""
    failures: int = 0
    mutations: int = 0
    call_sites: int = 0
    partitions: int = 0
    """Whole time partitions dropped (PostgreSQL)."""
    size_before: int = 0
    size_after: int = 0
    pruned_before: float | None = None
    seconds: float = 0.0

    @property
    def executions(self) -> int:
        return self.successes + self.failures

    def removed(
        self, count: int, newest: float | None, failure: bool, mutations: int, sites: int
    ) -> None:
        """Count `count` executions (the newest started at `newest`) of one class removed,
        with their mutations and call sites."""
        if failure:
            self.failures += count
        else:
            self.successes += count
        self.mutations += mutations
        self.call_sites += sites
        if count and newest is not None:
            self.pruned_before = max(self.pruned_before or newest, newest)


def excess_rows(size: int, rows: int, max_size: int) -> int:
    """How many average rows must go to bring `size` bytes under `max_size`."""
    if size <= max_size or rows == 0:
        return 0
    return min(rows, math.ceil((size - max_size) / (size / rows)))


# -- what the writer leaves for readers -----------------------------------------------------


COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM executions) AS n, "
    "(SELECT min(started_at) FROM executions) AS oldest, "
    "(SELECT max(started_at) FROM executions) AS newest, "
    "(SELECT count(*) FROM executions WHERE kind = 'replay') AS replays"
)
"""The counts `recorder_stats` reads, in SQL both backends speak. Each is its own query so
that each reads an index: the count and the ends of the time index, the replays in their
partial index. As one query over the table, they read every row: 718 ms warm on a million
executions in a file, and `flux status` took 5.6 s there with a cold cache."""


def recorder_stats(
    location: str,
    size: int,
    counts: Any,
    meta: Iterable[Any],
    health: Path | None,
    schema_version: int,
) -> RecorderStats:
    """A recorder's stats from its `COUNTS_SQL` row (`n`, `replays`, `oldest`, `newest`), its meta
    rows (`key`, `value`) and the writer's health file, alike for every backend."""
    stats = RecorderStats(
        location=location,
        size_bytes=size,
        executions=int(counts["n"]),
        replays=int(counts["replays"]),
        oldest=counts["oldest"],
        newest=counts["newest"],
        schema_version=schema_version,
    )
    apply_meta(stats, {row["key"]: row["value"] for row in meta})
    if health is not None:
        read_health(stats, health)
    return stats


def apply_meta(stats: RecorderStats, meta: dict[str, str]) -> None:
    """Fill the retention fields of `stats` from the recorder's meta facts."""
    if "policy" in meta:
        stats.retention = RetentionPolicy.from_json(meta["policy"]).text
    for key in ("pruned_before", "pruned_at"):
        if key in meta:
            setattr(stats, key, float(meta[key]))


def read_health(stats: RecorderStats, path: Path) -> None:
    """Fill the counts and last problem from the writer's health file and the app's beside it
    (`recorder-health.app.json`), when there are: drops counted on both sides, and the
    records estimated lost when the writer or the app was killed."""
    from flux_lsp.recorder.writer import app_health_path, read_health_file, unfinished_run_lost

    health = read_health_file(path)
    if health is not None:
        stats.dropped = int(health.get("dropped") or 0)
        stats.recorded_by_writer = int(health.get("recorded") or 0)
        stats.problem = health.get("problem")
        stats.health_updated_at = health.get("updated_at")
        export = health.get("export")
        stats.export = export if isinstance(export, dict) else None
    app = read_health_file(app_health_path(path))
    if app is None:
        return
    writer_killed = int(app.get("lost_writer_killed") or 0)
    app_killed = int(app.get("lost_app_killed") or 0) + unfinished_run_lost(app)
    stats.dropped_estimated = writer_killed + app_killed
    stats.dropped += int(app.get("lost") or 0) + stats.dropped_estimated
    notes = [
        f"≈ {count:,} lost when the {who} was killed"
        for count, who in ((writer_killed, "writer"), (app_killed, "app"))
        if count
    ]
    stats.dropped_note = "; ".join(notes) or None
    problem = stats.problem or app.get("problem") or app.get("writer_health_problem")
    if problem is None and health is None and stats.dropped:
        problem = f"the writer's health file {path.name} is missing"
    stats.problem = problem or (
        f"{stats.dropped_note}; records were dropped" if stats.dropped_note else None
    )
    if health is None:
        stats.health_updated_at = app.get("updated_at")


# -- pruning a recorder file ----------------------------------------------------------------


def _file_size(conn: sqlite3.Connection) -> int:
    """Bytes the file's live pages take (the file itself may be larger until vacuumed)."""
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    count = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (count - free) * page


def _on_disk(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO recorder_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


Cursor = tuple[float, str]
Batch = list[tuple[str, float, float]]


def _select_batch(
    conn: sqlite3.Connection, failure: bool, cutoff: float | None, after: Cursor, limit: int
) -> Batch:
    """The oldest executions of one class after `after` (started_at, id), before `cutoff`."""
    clause = FAILURE if failure else f"NOT {FAILURE}"
    bound, params = "", [after[0], after[1]]
    if cutoff is not None:
        bound = " AND started_at < ?"
        params.append(cutoff)
    rows = conn.execute(
        f"SELECT id, started_at, duration_ms FROM executions WHERE (started_at, id) > (?, ?)"
        f"{bound} AND {clause} ORDER BY started_at, id LIMIT {int(limit)}",
        params,
    ).fetchall()
    return [(str(r[0]), float(r[1]), float(r[2])) for r in rows]


def _delete_batch(conn: sqlite3.Connection, batch: Batch) -> tuple[int, int]:
    """Delete executions with their mutations and call sites; (mutations, sites) removed.

    The children are found through their time indexes: an execution's mutations and spans
    happen between its start and its end.
    """
    ids = [b[0] for b in batch]
    marks = ",".join("?" * len(ids))
    low = min(b[1] for b in batch) - 60
    high = max(b[1] + b[2] / 1000 for b in batch) + 60
    muts = conn.execute(
        f"DELETE FROM mutations WHERE at >= ? AND at <= ? AND execution_id IN ({marks})",
        [low, high, *ids],
    ).rowcount
    sites = conn.execute(
        f"DELETE FROM call_sites WHERE started_at >= ? AND started_at <= ? "
        f"AND execution_id IN ({marks})",
        [low, high, *ids],
    ).rowcount
    conn.execute(f"DELETE FROM executions WHERE id IN ({marks})", ids)
    return muts, sites


def _children_counts(conn: sqlite3.Connection, batch: Batch) -> tuple[int, int]:
    ids = [b[0] for b in batch]
    marks = ",".join("?" * len(ids))
    low = min(b[1] for b in batch) - 60
    high = max(b[1] + b[2] / 1000 for b in batch) + 60
    counts = []
    for table, column in (("mutations", "at"), ("call_sites", "started_at")):
        counts.append(
            conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} >= ? AND {column} <= ? "
                f"AND execution_id IN ({marks})",
                [low, high, *ids],
            ).fetchone()[0]
        )
    return int(counts[0]), int(counts[1])


@contextmanager
def pruning(
    location: str, policy: RetentionPolicy, dry_run: bool, size: Callable[[], int]
) -> Iterator[PruneReport]:
    """The report of one pruning pass, filled in the `with` block: what it removed, and here
    the recorder's `size()` before and after and the time the pass took."""
    started = time.monotonic()
    report = PruneReport(location=location, policy=policy.text, dry_run=dry_run)
    report.size_before = size()
    yield report
    report.size_after = size() if not dry_run else report.size_before
    report.seconds = time.monotonic() - started


def prune_file(
    conn: sqlite3.Connection,
    path: Path,
    policy: RetentionPolicy,
    *,
    now: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Apply `policy` to the recorder file open on `conn` (made by `open_for_writing`)."""
    now = time.time() if now is None else now
    with pruning(str(path), policy, dry_run, lambda: _on_disk(path)) as report:
        if not dry_run:
            _ensure_incremental_vacuum(conn)

        def run(
            failure: bool,
            cutoff: float | None,
            *,
            after: Cursor = (float("-inf"), ""),
            most: int | None = None,
            enough: Callable[[], bool] | None = None,
        ) -> None:
            while (enough is None or not enough()) and (most is None or most > 0):
                size = min(PRUNE_BATCH, most or PRUNE_BATCH)
                rows = _select_batch(conn, failure, cutoff, after, size)
                if not rows:
                    return
                after = (rows[-1][1], rows[-1][0])
                if most is not None:
                    most -= len(rows)
                if dry_run:
                    muts, sites = _children_counts(conn, rows)
                    report.removed(len(rows), rows[-1][1], failure, muts, sites)
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    muts, sites = _delete_batch(conn, rows)
                    report.removed(len(rows), rows[-1][1], failure, muts, sites)
                    _record_progress(conn, report, now)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                time.sleep(PRUNE_PAUSE)

        success_cutoff = now - policy.keep
        run(False, success_cutoff)
        run(True, now - policy.keep_failures)
        if dry_run:  # nothing was removed: estimate how many of the oldest successes left must go
            size = _file_size(conn)
            if size > policy.max_size:
                count = int(conn.execute("SELECT count(*) FROM executions").fetchone()[0])
                run(
                    False,
                    None,
                    after=(success_cutoff, ""),
                    most=excess_rows(size, count, policy.max_size),
                )
        else:
            run(False, None, enough=lambda: _file_size(conn) <= policy.max_size)
        if not dry_run:
            set_meta_now(conn, "policy", policy.to_json())
            _vacuum(conn)
    return report


def set_meta_now(conn: sqlite3.Connection, key: str, value: str) -> None:
    """`set_meta` in a transaction of its own."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        set_meta(conn, key, value)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _record_progress(conn: sqlite3.Connection, report: PruneReport, now: float) -> None:
    if report.pruned_before is None:
        return
    row = conn.execute("SELECT value FROM recorder_meta WHERE key = 'pruned_before'").fetchone()
    before = max(report.pruned_before, float(row[0])) if row else report.pruned_before
    set_meta(conn, "pruned_before", repr(before))
    set_meta(conn, "pruned_at", repr(now))


def _ensure_incremental_vacuum(conn: sqlite3.Connection) -> None:
    """Switch an older file to incremental vacuum once (a full VACUUM; new files start so)."""
    if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2:
        return
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("VACUUM")


def _vacuum(conn: sqlite3.Connection) -> None:
    """Give the free pages back to the file system, a step at a time, and shrink the log."""
    while int(conn.execute("PRAGMA freelist_count").fetchone()[0]) > 0:
        conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})")
        time.sleep(PRUNE_PAUSE)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
