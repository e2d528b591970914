"""Running queued jobs: each attempt is its own recorded execution.

`Worker` is the background task `flux dev` and `flux serve` run next to the gateway: it
leases due jobs, runs each attempt through `Runtime.run` (kind `job`, root span
`queue.dispatch`, parent = the execution that enqueued it) and settles it (done, retry with
backoff, failed). It wakes when this process enqueues a job, when another process does (the
database's `watch_jobs`: LISTEN/NOTIFY on PostgreSQL), and every `[queue] poll` seconds. While an
attempt runs its lease (`[queue] lease`) is renewed every third of it; when a worker process
dies its jobs run again — within a third of the lease when the dead worker ran on this machine
(its process is gone), or when the lease expires otherwise. `run_pending` runs whatever is due
once, for tests, the demo and replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from flux_lsp.model import JSON
from flux_lsp.runtime.database import stop_if_cancelled
from flux_lsp.runtime.queue import (
    Job,
    claim,
    expire_leases,
    extend_lease,
    finish,
    forget_wakeup,
    release,
    running_workers,
    wakeup_event,
)
from flux_lsp.runtime.runtime import Invocation, RunResult, Runtime
from flux_lsp.runtime.tracecontext import parse_traceparent

log = logging.getLogger("flux.worker")

DEFAULT_CONCURRENCY = 4
_HOST = socket.gethostname()
_live_in_this_process: set[str] = set()


def new_worker_id() -> str:
    """`<host>:<pid>:<random>`, so a restarted process can tell its predecessors are gone."""
    return f"{_HOST}:{os.getpid()}:{secrets.token_hex(3)}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # no permission to signal it: it exists
        return True
    return True


def worker_is_dead(worker_id: str) -> bool:
    """True when `worker_id` ran on this machine and is known to be gone."""
    host, _, rest = worker_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return worker_id not in _live_in_this_process
    return not _process_alive(pid)


async def recover_orphans(runtime: Runtime) -> int:
    """Make jobs leased by dead workers on this machine claimable now; returns how many."""
    dead = [w for w in await running_workers(runtime.database) if worker_is_dead(w)]
    count = await expire_leases(runtime.database, dead)
    if count:
        log.warning("%d job(s) left running by a stopped worker will run again", count)
    return count


def job_invocation(job: Job) -> Invocation:
    """How one attempt of `job` runs and is recorded. Its trace links to the `queue.enqueue`
    span that stored the job, from the trace context kept in the job's row, in whichever
    process the job runs."""
    link: dict[str, JSON] | None = None
    enqueued = parse_traceparent(job.traceparent)
    if enqueued is not None:
        link = {"trace_id": enqueued[0], "span_id": enqueued[1]}
        if job.tracestate:
            link["trace_state"] = job.tracestate
    return Invocation(
        kind="job",
        function=job.function,
        argument=job,
        method="JOB",
        path=job.function,
        request={"data": job.data},
        function_input=job.data,
        root_span="queue.dispatch",
        parent_id=job.parent_id,
        job=job.summary(),
        trace_link=link,
    )


async def run_job(runtime: Runtime, job: Job, *, lease_seconds: float | None = None) -> RunResult:
    """Run one leased attempt of `job`, renewing its lease meanwhile, and settle it."""
    lease = lease_seconds or runtime.project.settings.queue.lease

    stop = asyncio.Event()

    async def heartbeat() -> None:
        # Ended by `stop`, not by cancellation alone: a cancellation that lands inside a database
        # call can come back as an ordinary error, which the loop survives, and it would then
        # renew the lease forever while `run_job` waits for it.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(lease / 3):
                    await stop.wait()
            if not stop.is_set():
                with contextlib.suppress(Exception):
                    await extend_lease(runtime.database, job, lease)

    beat = asyncio.create_task(heartbeat())
    try:
        result = await runtime.run(job_invocation(job))
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(release(runtime.database, job))
        raise
    finally:
        stop.set()
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    execution = result.execution
    error = None
    if execution.status == "failed":
        error = execution.error.message if execution.error else "job failed"
    status = await finish(
        runtime.database,
        job,
        error=error,
        execution_id=execution.id,
        backoff_seconds=runtime.project.settings.queue.backoff,
    )
    if error is not None:
        then = f"retry in {job.run_at - time.time():.0f}s" if status == "pending" else "giving up"
        log.warning(
            "job %s %s attempt %d/%d failed (%s): %s; %s",
            job.function,
            job.id[:8],
            job.attempt,
            job.max_attempts,
            execution.short_id,
            error,
            then,
        )
    return result


async def run_pending(runtime: Runtime, *, limit: int | None = None) -> list[RunResult]:
    """Run every job that is due now (including retries and jobs those jobs enqueue), once each.

    Stops when nothing is due or after `limit` attempts; returns the attempts' results in order.
    """
    worker_id = new_worker_id()
    _live_in_this_process.add(worker_id)
    results: list[RunResult] = []
    try:
        await recover_orphans(runtime)
        lease = runtime.project.settings.queue.lease
        while limit is None or len(results) < limit:
            jobs = await claim(runtime.database, worker_id, lease_seconds=lease)
            if not jobs:
                break
            results.append(await run_job(runtime, jobs[0]))
    finally:
        _live_in_this_process.discard(worker_id)
    return results


class Worker:
    """The background job runner: `create_app(runtime, background=[Worker(runtime)])`."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_seconds: float | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds or runtime.project.settings.queue.lease
        self.poll_seconds = (
            poll_seconds if poll_seconds is not None else runtime.project.settings.queue.poll
        )
        self.id = new_worker_id()

    async def __call__(self) -> None:
        _live_in_this_process.add(self.id)
        running: set[asyncio.Task[RunResult]] = set()
        wake = wakeup_event(self.runtime.database)  # set on enqueue here and when a job ends
        listener = asyncio.create_task(self.runtime.database.watch_jobs(wake))  # and elsewhere
        last_recovery = 0.0

        def settled(task: asyncio.Task[RunResult]) -> None:
            running.discard(task)
            wake.set()
            if not task.cancelled() and task.exception() is not None:
                log.error("job runner failed: %s", task.exception())

        try:
            while True:
                if time.monotonic() - last_recovery > self.lease_seconds / 3:
                    last_recovery = time.monotonic()
                    with contextlib.suppress(Exception):
                        await recover_orphans(self.runtime)
                    stop_if_cancelled()
                jobs: list[Job] = []
                free = self.concurrency - len(running)
                if free > 0:
                    try:
                        jobs = await claim(
                            self.runtime.database,
                            self.id,
                            lease_seconds=self.lease_seconds,
                            limit=free,
                        )
                    except Exception as exc:  # e.g. the database is busy: try again next poll
                        stop_if_cancelled()
                        log.warning("could not take jobs: %s", exc)
                for job in jobs:
                    task = asyncio.create_task(
                        run_job(self.runtime, job, lease_seconds=self.lease_seconds)
                    )
                    running.add(task)
                    task.add_done_callback(settled)
                if jobs and len(running) < self.concurrency:
                    continue  # there may be more due right now
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives as the event fires, and shutdown would then hang.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await wake.wait()
                wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
            forget_wakeup(self.runtime.database, wake)
            for task in list(running):
                task.cancel()
            for task in list(running):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            _live_in_this_process.discard(self.id)
