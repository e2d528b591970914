"""`ctx.queue` and the durable job store: the `_flux_jobs` table in the app database.

`ctx.queue.enqueue(function, data, delay=0)` stores a job (as a `queue.enqueue` span naming
its id, with the enqueuing execution as the job's parent) in the same database as the app's
data, so a replay's sandbox copy holds the jobs its replayed requests enqueue. Workers take
jobs with a lease (`claim`): a job whose worker died is taken again once its lease expires
(at-least-once), and `finish` settles an attempt: done, back to pending with backoff, or
failed after the job's maximum attempts. Running the jobs is `worker.py`'s business.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flux_lsp.model import JSON
from flux_lsp.runtime.database import AppDatabase
from flux_lsp.runtime.functions import FunctionRegistry, valid_function_name
from flux_lsp.runtime.inflight import Trace

if TYPE_CHECKING:
    from flux_lsp.runtime.runtime import LoadedCode, Runtime

JOBS_TABLE = "_flux_jobs"
JOBS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {JOBS_TABLE} (
    id TEXT PRIMARY KEY,
    function TEXT NOT NULL,
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at REAL NOT NULL,
    lease_until REAL,
    leased_by TEXT,
    parent_id TEXT,
    last_error TEXT,
    last_execution_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_due ON {JOBS_TABLE} (status, run_at)
"""
JOB_STATUSES = ("pending", "running", "done", "failed")
MAX_DELAY_SECONDS = 366 * 24 * 3600


class QueueError(Exception):
    """A job that cannot be enqueued as asked (bad function name, data not JSON, ...)."""


@dataclass(slots=True)
class Job:
    """A queued job; the first argument of a job handler (`job.data`, `job.id`, `job.attempt`)."""

    id: str
    function: str
    data: Any
    status: str = "pending"
    attempt: int = 0
    """1 for the first run, 2 for the first retry, ..."""
    max_attempts: int = 3
    run_at: float = 0.0
    parent_id: str | None = None
    last_error: str | None = None
    last_execution_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    leased_by: str | None = None
    lease_until: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row | dict[str, Any]) -> Job:
        return cls(
            id=row["id"],
            function=row["function"],
            data=json.loads(row["data"]),
            status=row["status"],
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            run_at=row["run_at"],
            parent_id=row["parent_id"],
            last_error=row["last_error"],
            last_execution_id=row["last_execution_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            leased_by=row["leased_by"],
            lease_until=row["lease_until"],
        )

    def summary(self) -> dict[str, JSON]:
        """The `job` field of the execution that runs this attempt."""
        return {"id": self.id, "attempt": self.attempt, "max_attempts": self.max_attempts}


def enqueue_job(
    database: AppDatabase,
    function: str,
    data: Any,
    *,
    delay: float = 0,
    max_attempts: int = 3,
    parent_id: str | None = None,
    now: float | None = None,
) -> Job:
    """Store a new pending job and return it."""
    if not isinstance(function, str) or not valid_function_name(function):
        raise QueueError(f"invalid job function name: {function!r}")
    if not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise QueueError(f"job delay must be between 0 and {MAX_DELAY_SECONDS} seconds")
    try:
        encoded = json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise QueueError(f"job data for {function} must be JSON-serialisable: {exc}") from None
    now = time.time() if now is None else now
    job = Job(
        id=secrets.token_hex(8),
        function=function,
        data=json.loads(encoded),
        max_attempts=max(1, max_attempts),
        run_at=now + float(delay),
        parent_id=parent_id,
        created_at=now,
        updated_at=now,
    )
    with database.transaction() as conn:
        conn.execute(
            f"INSERT INTO {JOBS_TABLE} (id, function, data, status, attempt, max_attempts, "
            "run_at, parent_id, created_at, updated_at) "
            "VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)",
            (job.id, function, encoded, job.max_attempts, job.run_at, parent_id, now, now),
        )
    notify_workers(database)
    return job


_wakeups: weakref.WeakKeyDictionary[
    AppDatabase, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]
] = weakref.WeakKeyDictionary()


def wakeup_event(database: AppDatabase) -> asyncio.Event:
    """An event set whenever a job is enqueued in `database` by this process (for workers)."""
    event = asyncio.Event()
    _wakeups.setdefault(database, set()).add((asyncio.get_running_loop(), event))
    return event


def forget_wakeup(database: AppDatabase, event: asyncio.Event) -> None:
    waiters = _wakeups.get(database, set())
    for entry in [w for w in waiters if w[1] is event]:
        waiters.discard(entry)


def notify_workers(database: AppDatabase) -> None:
    """Wake this process's workers on `database`: a new job need not wait for the next poll."""
    for loop, event in list(_wakeups.get(database, ())):
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is running:
            event.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


def claim(
    database: AppDatabase,
    worker_id: str,
    *,
    lease_seconds: float,
    limit: int = 1,
    now: float | None = None,
) -> list[Job]:
    """Lease up to `limit` due jobs to `worker_id`: pending ones and ones whose lease expired.

    A job whose lease expired after its last allowed attempt is marked failed instead.
    """
    now = time.time() if now is None else now
    claimed: list[Job] = []
    due, _ = database.query(  # a plain read first: an idle poll takes no write lock
        None,
        f"SELECT 1 FROM {JOBS_TABLE} WHERE (status = 'pending' AND run_at <= $1) "
        "OR (status = 'running' AND lease_until < $1) LIMIT 1",
        [now],
    )
    if not due:
        return claimed
    with database.transaction() as conn:
        rows = conn.execute(
            f"SELECT * FROM {JOBS_TABLE} WHERE (status = 'pending' AND run_at <= ?) "
            "OR (status = 'running' AND lease_until < ?) ORDER BY run_at, created_at LIMIT ?",
            (now, now, limit),
        ).fetchall()
        for row in rows:
            job = Job.from_row(row)
            if job.status == "running" and job.attempt >= job.max_attempts:
                conn.execute(
                    f"UPDATE {JOBS_TABLE} SET status = 'failed', lease_until = NULL, "
                    "leased_by = NULL, last_error = ?, updated_at = ? WHERE id = ?",
                    (f"worker {job.leased_by} stopped during the last attempt", now, job.id),
                )
                continue
            job.status, job.attempt = "running", job.attempt + 1
            job.lease_until, job.leased_by = now + lease_seconds, worker_id
            conn.execute(
                f"UPDATE {JOBS_TABLE} SET status = 'running', attempt = ?, lease_until = ?, "
                "leased_by = ?, updated_at = ? WHERE id = ?",
                (job.attempt, job.lease_until, worker_id, now, job.id),
            )
            claimed.append(job)
    return claimed


def extend_lease(database: AppDatabase, job: Job, lease_seconds: float) -> bool:
    """Push the lease of a job this worker is running further out; False if it lost the lease."""
    until = time.time() + lease_seconds
    with database.transaction() as conn:
        cur = conn.execute(
            f"UPDATE {JOBS_TABLE} SET lease_until = ? "
            "WHERE id = ? AND status = 'running' AND leased_by = ?",
            (until, job.id, job.leased_by),
        )
    return cur.rowcount == 1


def finish(
    database: AppDatabase,
    job: Job,
    *,
    error: str | None,
    execution_id: str | None,
    backoff_seconds: float,
    now: float | None = None,
) -> str:
    """Settle the attempt `job` just made; returns the job's new status."""
    now = time.time() if now is None else now
    if error is None:
        status, run_at = "done", job.run_at
    elif job.attempt < job.max_attempts:
        status, run_at = "pending", now + backoff_seconds * (2 ** (job.attempt - 1))
    else:
        status, run_at = "failed", job.run_at
    with database.transaction() as conn:
        conn.execute(
            f"UPDATE {JOBS_TABLE} SET status = ?, run_at = ?, lease_until = NULL, "
            "leased_by = NULL, last_error = ?, last_execution_id = ?, updated_at = ? "
            "WHERE id = ? AND leased_by = ?",
            (status, run_at, error, execution_id, now, job.id, job.leased_by),
        )
    job.status, job.run_at, job.last_error = status, run_at, error
    job.last_execution_id = execution_id
    return status


def release(database: AppDatabase, job: Job) -> None:
    """Give back a job whose attempt was interrupted before it was recorded (shutdown)."""
    with database.transaction() as conn:
        conn.execute(
            f"UPDATE {JOBS_TABLE} SET status = 'pending', attempt = MAX(attempt - 1, 0), "
            "lease_until = NULL, leased_by = NULL, updated_at = ? WHERE id = ? AND leased_by = ?",
            (time.time(), job.id, job.leased_by),
        )


def expire_leases(database: AppDatabase, worker_ids: list[str]) -> int:
    """Make the running jobs of these (dead) workers claimable now; returns how many."""
    if not worker_ids:
        return 0
    marks = ", ".join("?" for _ in worker_ids)
    with database.transaction() as conn:
        cur = conn.execute(
            f"UPDATE {JOBS_TABLE} SET lease_until = 0 "
            f"WHERE status = 'running' AND leased_by IN ({marks})",
            worker_ids,
        )
    return cur.rowcount


def running_workers(database: AppDatabase) -> list[str]:
    """The workers holding a lease on a running job."""
    rows, _ = database.query(
        None, f"SELECT DISTINCT leased_by FROM {JOBS_TABLE} WHERE status = 'running'"
    )
    return [str(r["leased_by"]) for r in rows if r["leased_by"]]


def list_jobs(
    database: AppDatabase, *, status: str | None = None, function: str | None = None
) -> list[Job]:
    """The jobs in the store, oldest first, optionally only those with a status or function."""
    clauses, params = [], []
    if status is not None and status not in JOB_STATUSES:
        raise QueueError(f"unknown job status {status!r} (one of {', '.join(JOB_STATUSES)})")
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    if function is not None:
        clauses.append("function = ?")
        params.append(function)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows, _ = database.query(
        None, f"SELECT * FROM {JOBS_TABLE} {where} ORDER BY created_at, rowid", params
    )
    return [Job.from_row(r) for r in rows]


def get_job(database: AppDatabase, job_id: str) -> Job | None:
    rows, _ = database.query(None, f"SELECT * FROM {JOBS_TABLE} WHERE id = ?", [job_id])
    return Job.from_row(rows[0]) if rows else None


def check_job(registry: FunctionRegistry, function: str) -> None:
    """Raise QueueError unless `function` is a job: `functions/<function>.py` with
    `handler(job, ctx)` (a broken file whose handler says `job` passes; its run will fail)."""
    if not registry.exists(function):
        raise QueueError(f"no function named {function!r} to run as a job")
    if registry.kind_of(function) == "http":
        raise QueueError(
            f"{function!r} is an HTTP function (handler(req, ctx)), not a job: only functions "
            "with `async def handler(job, ctx)` can be enqueued"
        )


class QueueService:
    """`ctx.queue` for one execution: the run's code version, the runtime's app database."""

    def __init__(self, runtime: Runtime, code: LoadedCode, trace: Trace) -> None:
        self._runtime = runtime
        self._code = code
        self._trace = trace

    async def enqueue(self, function: str, data: Any = None, delay: float = 0) -> Job:
        """Queue `function` to run as a job with `data` after `delay` seconds; the stored job."""
        runtime, code, trace = self._runtime, self._code, self._trace
        attrs: dict[str, JSON] = {
            "messaging.system": "flux",
            "messaging.operation.type": "send",
            "messaging.destination.name": function,
        }
        with trace.span("queue.enqueue", attrs) as span:
            span.input = {"function": function, "data": data, "delay": delay}
            if isinstance(function, str):
                check_job(code.registry, function)
            job = enqueue_job(
                runtime.database,
                function,
                data,
                delay=delay,
                max_attempts=code.project.settings.queue.max_attempts,
                parent_id=trace.execution_id,
            )
            span.attributes["messaging.message.id"] = job.id
            span.output = {"job_id": job.id, "run_at": job.run_at}
        return job
