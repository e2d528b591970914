"""`ctx.queue` and the durable job store: the `_flux_jobs` table in the app database.

`ctx.queue.enqueue(function, data, delay=0)` stores a job (as a `queue.enqueue` span naming
its id, with the enqueuing execution as the job's parent, and that span's W3C trace context in
the row, so the job's run links to the enqueuing trace in whichever process runs it) in the same
database as the app's data, so a replay's sandbox copy holds the jobs its replayed requests
enqueue. Workers take jobs with a lease (`claim`): a job whose worker died is taken again once
its lease expires (at-least-once), and `finish` settles an attempt: done, back to pending with
backoff, or failed after the job's maximum attempts. Running the jobs is `worker.py`'s business.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flux_lsp.model import JSON, otel_span_id
from flux_lsp.runtime.database import JOBS_CHANNEL, AppDatabase
from flux_lsp.runtime.functions import FunctionRegistry, valid_function_name
from flux_lsp.runtime.inflight import Trace
from flux_lsp.runtime.tracecontext import traceparent as traceparent_header

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
    traceparent TEXT,
    tracestate TEXT,
    last_error TEXT,
    last_execution_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_due ON {JOBS_TABLE} (status, run_at)
"""
TRACE_COLUMNS = ("traceparent", "tracestate")
"""Columns added to `_flux_jobs` after its first release (tables made before get them at start)."""
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
    traceparent: str | None = None
    """The W3C `traceparent` of the `queue.enqueue` span that stored the job."""
    tracestate: str | None = None
    last_error: str | None = None
    last_execution_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    leased_by: str | None = None
    lease_until: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Job:
        return cls(
            id=row["id"],
            function=row["function"],
            data=json.loads(row["data"]),
            status=row["status"],
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            run_at=row["run_at"],
            parent_id=row["parent_id"],
            traceparent=row.get("traceparent"),
            tracestate=row.get("tracestate"),
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


async def add_trace_columns(database: AppDatabase) -> None:
    """Give a `_flux_jobs` table made before the trace columns existed its `TRACE_COLUMNS`
    (processes starting together on one database may race; the loser finds them there)."""
    info = await database.table_info(JOBS_TABLE)
    missing = [c for c in TRACE_COLUMNS if info is not None and c not in info.columns]
    if not missing:
        return
    guard = " IF NOT EXISTS" if database.dialect == "postgresql" else ""
    try:
        await database.apply_schema(
            [f"ALTER TABLE {JOBS_TABLE} ADD COLUMN{guard} {column} TEXT" for column in missing]
        )
    except Exception:
        info = await database.table_info(JOBS_TABLE)
        if info is None or any(c not in info.columns for c in missing):
            raise


async def enqueue_job(
    database: AppDatabase,
    function: str,
    data: Any,
    *,
    delay: float = 0,
    max_attempts: int = 3,
    parent_id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
    now: float | None = None,
) -> Job:
    """Store a new pending job and return it (workers elsewhere hear of it on commit);
    `traceparent`/`tracestate` are the enqueuing span's, kept for the job's run to link to."""
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
        traceparent=traceparent,
        tracestate=tracestate,
        created_at=now,
        updated_at=now,
    )
    insert = (
        f"INSERT INTO {JOBS_TABLE} (id, function, data, status, attempt, max_attempts, "
        "run_at, parent_id, traceparent, tracestate, created_at, updated_at) "
        "VALUES ($1, $2, $3, 'pending', 0, $4, $5, $6, $7, $8, $9, $10)"
    )
    params = [
        *(job.id, function, encoded, job.max_attempts, job.run_at, parent_id),
        *(traceparent, tracestate, now, now),
    ]
    if database.dialect == "postgresql":  # one round trip; the notification goes out on commit
        await database.query(
            None,
            f"WITH job AS ({insert} RETURNING 1) SELECT pg_notify($11, '') FROM job",
            [*params, JOBS_CHANNEL],
        )
    else:
        await database.query(None, insert, params)
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


_DUE = "(status = 'pending' AND run_at <= $1) OR (status = 'running' AND lease_until < $1)"


async def claim(
    database: AppDatabase,
    worker_id: str,
    *,
    lease_seconds: float,
    limit: int = 1,
    now: float | None = None,
) -> list[Job]:
    """Lease up to `limit` due jobs to `worker_id`: pending ones and ones whose lease expired.

    A job whose lease expired after its last allowed attempt is marked failed instead. On
    PostgreSQL the due rows are taken `FOR UPDATE SKIP LOCKED`, so workers in many processes
    never wait for each other nor take the same job.
    """
    now = time.time() if now is None else now
    claimed: list[Job] = []
    if database.dialect == "postgresql":
        return await _claim_skip_locked(database, worker_id, lease_seconds, limit, now)
    if database.dialect == "sqlite":  # a plain read first: an idle poll takes no write lock
        due, _ = await database.query(
            None, f"SELECT 1 FROM {JOBS_TABLE} WHERE {_DUE} LIMIT 1", [now]
        )
        if not due:
            return claimed
    lock = " FOR UPDATE SKIP LOCKED" if database.dialect == "postgresql" else ""
    async with database.transaction():
        rows, _ = await database.query(
            None,
            f"SELECT * FROM {JOBS_TABLE} WHERE {_DUE} ORDER BY run_at, created_at LIMIT $2{lock}",
            [now, limit],
        )
        expired: list[Job] = []
        for row in rows:
            job = Job.from_row(row)
            if job.status == "running" and job.attempt >= job.max_attempts:
                expired.append(job)
                continue
            job.status, job.attempt = "running", job.attempt + 1
            job.lease_until, job.leased_by = now + lease_seconds, worker_id
            claimed.append(job)
        for job in expired:
            await database.query(
                None,
                f"UPDATE {JOBS_TABLE} SET status = 'failed', lease_until = NULL, "
                "leased_by = NULL, last_error = $1, updated_at = $2 WHERE id = $3",
                [f"worker {job.leased_by} stopped during the last attempt", now, job.id],
            )
        if claimed:
            marks = ", ".join(f"${i}" for i in range(4, 4 + len(claimed)))
            await database.query(
                None,
                f"UPDATE {JOBS_TABLE} SET status = 'running', attempt = attempt + 1, "
                f"lease_until = $1, leased_by = $2, updated_at = $3 WHERE id IN ({marks})",
                [now + lease_seconds, worker_id, now, *(job.id for job in claimed)],
            )
    return claimed


_EXHAUSTED = "j.status = 'running' AND j.attempt >= j.max_attempts"


async def _claim_skip_locked(
    database: AppDatabase, worker_id: str, lease_seconds: float, limit: int, now: float
) -> list[Job]:
    """`claim` in one statement: the due rows no other worker holds are locked and leased (or
    failed, when their last attempt's lease ran out) together."""
    rows, _ = await database.query(
        None,
        f"WITH due AS (SELECT id FROM {JOBS_TABLE} WHERE {_DUE} ORDER BY run_at, created_at "
        f"LIMIT $2 FOR UPDATE SKIP LOCKED) "
        f"UPDATE {JOBS_TABLE} j SET "
        f"status = CASE WHEN {_EXHAUSTED} THEN 'failed' ELSE 'running' END, "
        f"attempt = CASE WHEN {_EXHAUSTED} THEN j.attempt ELSE j.attempt + 1 END, "
        f"lease_until = CASE WHEN {_EXHAUSTED} THEN NULL ELSE $3::float8 END, "
        f"leased_by = CASE WHEN {_EXHAUSTED} THEN NULL ELSE $4 END, "
        f"last_error = CASE WHEN {_EXHAUSTED} "
        "THEN 'worker ' || j.leased_by || ' stopped during the last attempt' "
        "ELSE j.last_error END, "
        "updated_at = $1 FROM due WHERE j.id = due.id RETURNING j.*",
        [now, limit, now + lease_seconds, worker_id],
    )
    claimed = [Job.from_row(r) for r in rows if r["status"] == "running"]
    return sorted(claimed, key=lambda job: (job.run_at, job.created_at))


async def extend_lease(database: AppDatabase, job: Job, lease_seconds: float) -> bool:
    """Push the lease of a job this worker is running further out; False if it lost the lease."""
    until = time.time() + lease_seconds
    _, changed = await database.query(
        None,
        f"UPDATE {JOBS_TABLE} SET lease_until = $1 "
        "WHERE id = $2 AND status = 'running' AND leased_by = $3",
        [until, job.id, job.leased_by],
    )
    return changed == 1


async def finish(
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
    await database.query(
        None,
        f"UPDATE {JOBS_TABLE} SET status = $1, run_at = $2, lease_until = NULL, "
        "leased_by = NULL, last_error = $3, last_execution_id = $4, updated_at = $5 "
        "WHERE id = $6 AND leased_by = $7",
        [status, run_at, error, execution_id, now, job.id, job.leased_by],
    )
    job.status, job.run_at, job.last_error = status, run_at, error
    job.last_execution_id = execution_id
    return status


async def release(database: AppDatabase, job: Job) -> None:
    """Give back a job whose attempt was interrupted before it was recorded (shutdown)."""
    await database.query(
        None,
        f"UPDATE {JOBS_TABLE} SET status = 'pending', "
        "attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END, "
        "lease_until = NULL, leased_by = NULL, updated_at = $1 WHERE id = $2 AND leased_by = $3",
        [time.time(), job.id, job.leased_by],
    )


async def expire_leases(database: AppDatabase, worker_ids: list[str]) -> int:
    """Make the running jobs of these (dead) workers claimable now; returns how many."""
    if not worker_ids:
        return 0
    marks = ", ".join(f"${i}" for i in range(1, len(worker_ids) + 1))
    _, count = await database.query(
        None,
        f"UPDATE {JOBS_TABLE} SET lease_until = 0 "
        f"WHERE status = 'running' AND leased_by IN ({marks})",
        worker_ids,
    )
    return count


async def running_workers(database: AppDatabase) -> list[str]:
    """The workers holding a lease on a running job."""
    rows, _ = await database.query(
        None, f"SELECT DISTINCT leased_by FROM {JOBS_TABLE} WHERE status = 'running'"
    )
    return [str(r["leased_by"]) for r in rows if r["leased_by"]]


async def list_jobs(
    database: AppDatabase, *, status: str | None = None, function: str | None = None
) -> list[Job]:
    """The jobs in the store, oldest first, optionally only those with a status or function."""
    clauses: list[str] = []
    params: list[Any] = []
    if status is not None and status not in JOB_STATUSES:
        raise QueueError(f"unknown job status {status!r} (one of {', '.join(JOB_STATUSES)})")
    if status is not None:
        params.append(status)
        clauses.append(f"status = ${len(params)}")
    if function is not None:
        params.append(function)
        clauses.append(f"function = ${len(params)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows, _ = await database.query(
        None, f"SELECT * FROM {JOBS_TABLE} {where} ORDER BY created_at, id", params
    )
    return [Job.from_row(r) for r in rows]


async def get_job(database: AppDatabase, job_id: str) -> Job | None:
    rows, _ = await database.query(None, f"SELECT * FROM {JOBS_TABLE} WHERE id = $1", [job_id])
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
            job = await enqueue_job(
                runtime.database,
                function,
                data,
                delay=delay,
                max_attempts=code.project.settings.queue.max_attempts,
                parent_id=trace.execution_id,
                traceparent=traceparent_header(
                    trace.trace_id, otel_span_id(trace.execution_id, span.id)
                ),
                tracestate=trace.trace_state,
            )
            span.attributes["messaging.message.id"] = job.id
            span.output = {"job_id": job.id, "run_at": job.run_at}
        return job
