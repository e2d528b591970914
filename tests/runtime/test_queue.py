"""ctx.queue and the worker: durable jobs, one execution per attempt, retries, at-least-once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from flux_lsp.project import Project
from flux_lsp.runtime.database import AppDatabase, open_database
from flux_lsp.runtime.functions import FunctionRegistry
from flux_lsp.runtime.queue import (
    QueueError,
    claim,
    enqueue_job,
    get_job,
    list_jobs,
)
from flux_lsp.runtime.services import apply_service_schema, service_schema
from flux_lsp.runtime.worker import new_worker_id, recover_orphans, run_pending
from tests.gate import HANDLER_WAITS, gate
from tests.harness import REPO, FluxApp, NoWorker, write_function

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL

FLAKY = """\
async def handler(job, ctx):
    if job.attempt < job.data["succeed_on"]:
        raise RuntimeError(f"attempt {job.attempt} failed")
    return {"ok": job.attempt}
"""

ENQUEUE = """\
async def handler(req, ctx):
    body = await req.json()
    job = await ctx.queue.enqueue(body["function"], body.get("data"), delay=body.get("delay", 0))
    return {"job": job.id}
"""

SLOW = """\
import asyncio
from pathlib import Path


async def handler(job, ctx):
    marker = Path(job.data["marker"])
    marker.write_text(marker.read_text() + f"start {job.attempt}\\n" if marker.exists() else
                      f"start {job.attempt}\\n")
    if job.attempt == 1:
        await asyncio.sleep(60)
    return {"attempt": job.attempt}
"""

WORKER_SCRIPT = """\
import asyncio, sys
from flux_lsp.project import Project
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.recording import NullRecorder
from flux_lsp.runtime.worker import Worker

runtime = Runtime(Project.load(sys.argv[1]), NullRecorder())


async def main():
    await runtime.start()
    await Worker(runtime, poll_seconds=0.05)()


asyncio.run(main())
"""


def no_backoff(shop: Path, attempts: int = 3) -> None:
    (shop / "flux.toml").write_text(f"[queue]\nmax_attempts = {attempts}\nbackoff = 0\n")


async def test_signup_enqueues_a_job_that_runs_as_its_own_execution(shop: Path) -> None:
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/signup", json={"email": "a@b.com", "name": "Alice", "customer_id": "cus_1"}
        )
        signup_id = r.headers["x-flux-request-id"]
        [pending] = await list_jobs(flux.runtime.database)
        [result] = await run_pending(flux.runtime)
        [done] = await list_jobs(flux.runtime.database)
        signup, job = await flux.recorded(signup_id, result.execution.id)
    enqueue = next(s for s in signup.spans if s.name == "queue.enqueue")
    assert enqueue.attributes["messaging.message.id"] == pending.id
    assert enqueue.attributes["messaging.destination.name"] == "send_onboarding_email"
    assert enqueue.output["job_id"] == pending.id
    assert enqueue.file == "functions/signup.py" and enqueue.line is not None
    source = (shop / "functions/signup.py").read_text().splitlines()
    assert "ctx.queue.enqueue" in source[enqueue.line - 1]
    assert (pending.status, pending.parent_id, pending.data) == (
        "pending",
        signup_id,
        {"userId": "u_1"},
    )
    assert (job.kind, job.function, job.status, job.method) == (
        "job", "send_onboarding_email", "done", "JOB",
    )  # fmt: skip
    assert job.parent_id == signup_id
    assert job.job == {"id": pending.id, "attempt": 1, "max_attempts": 3}
    assert job.request == {"data": {"userId": "u_1"}}
    assert [s.label for s in job.spans] == [
        "queue.dispatch", "send_onboarding_email", "db.query(users)", "email.send", "response",
    ]  # fmt: skip
    assert (done.status, done.attempt, done.last_execution_id) == ("done", 1, job.id)


async def test_failing_job_retries_then_fails_each_attempt_recorded(shop: Path) -> None:
    no_backoff(shop, attempts=3)
    write_function(shop, "flaky", FLAKY)
    write_function(shop, "enqueue", ENQUEUE)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/enqueue", json={"function": "flaky", "data": {"succeed_on": 9}}
        )
        parent = r.headers["x-flux-request-id"]
        results = await run_pending(flux.runtime)
        [job] = await list_jobs(flux.runtime.database)
        attempts = await flux.recorded(*(res.execution.id for res in results))
    assert [a.status for a in attempts] == ["failed", "failed", "failed"]
    assert [a.job["attempt"] for a in attempts if a.job] == [1, 2, 3]
    assert {a.parent_id for a in attempts} == {parent}
    assert attempts[2].error is not None and attempts[2].error.message == "attempt 3 failed"
    assert attempts[2].error.location is not None and attempts[2].error.location.line == 3
    assert (job.status, job.attempt, job.last_error) == ("failed", 3, "attempt 3 failed")
    assert job.last_execution_id == attempts[2].id


async def test_retry_succeeds_and_waits_for_its_backoff(shop: Path) -> None:
    (shop / "flux.toml").write_text("[queue]\nmax_attempts = 3\nbackoff = 30\n")
    write_function(shop, "flaky", FLAKY)
    async with NoWorker(shop) as flux:
        db = flux.runtime.database
        job = await enqueue_job(db, "flaky", {"succeed_on": 2}, max_attempts=3)
        before = time.time()
        [first] = await run_pending(flux.runtime)
        after = time.time()
        waiting = await get_job(db, job.id)
        assert await run_pending(flux.runtime) == []  # not due for 30 s
        await db.query(None, "UPDATE _flux_jobs SET run_at = 0 WHERE id = $1", [job.id])
        [second] = await run_pending(flux.runtime)
        done = await get_job(db, job.id)
    assert waiting is not None and waiting.status == "pending"
    assert before + 30 <= waiting.run_at <= after + 30  # settled between the two, plus 30 s
    assert (first.execution.status, second.execution.status) == ("failed", "done")
    assert done is not None and (done.status, done.attempt, done.last_error) == ("done", 2, None)


async def test_delayed_job_is_not_due_yet(shop: Path) -> None:
    write_function(shop, "enqueue", ENQUEUE)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/enqueue", json={"function": "send_onboarding_email", "data": {}, "delay": 60}
        )
        assert r.status_code == 200
        assert await run_pending(flux.runtime) == []
        [job] = await list_jobs(flux.runtime.database, status="pending")
    assert job.run_at > time.time() + 50


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"function": "nope"}, "no function named 'nope' to run as a job"),
        ({"function": "../x"}, "no function named '../x' to run as a job"),
        ({"function": "flaky", "delay": -1}, "job delay must be between 0 and"),
        ({"function": "create_user"}, "'create_user' is an HTTP function (handler(req, ctx))"),
        ({"function": "_util"}, "no function named '_util' to run as a job"),
    ],
)
async def test_bad_enqueue_is_one_clear_error(
    shop: Path, payload: dict[str, Any], message: str
) -> None:
    write_function(shop, "flaky", FLAKY)
    write_function(shop, "enqueue", ENQUEUE)
    async with NoWorker(shop) as flux:
        r = await flux.client.post("/enqueue", json=payload)
        assert await list_jobs(flux.runtime.database) == []
    assert r.status_code == 500 and r.json()["error"].startswith(message)


SLOW_ENQUEUE = (
    HANDLER_WAITS
    + """

async def handler(req, ctx):
    await wait_at_gate("swap")
    job = await ctx.queue.enqueue("work", {})
    return {"max_attempts": job.max_attempts}
"""
)


async def test_a_run_enqueues_with_the_code_version_it_started_on(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    write_function(old, "slow", SLOW_ENQUEUE)
    write_function(old, "work", "async def handler(job, ctx):\n    return 1\n")
    (old / "flux.toml").write_text("[queue]\nmax_attempts = 2\n")
    write_function(new, "slow", SLOW_ENQUEUE)  # no `work` function in the new version
    (new / "flux.toml").write_text("[queue]\nmax_attempts = 5\n")
    async with NoWorker(old) as flux:
        swap = gate("swap")
        in_flight = asyncio.create_task(flux.client.post("/slow"))
        await swap.wait_entered()  # the old handler is inside, waiting
        project = Project.load(new)
        await flux.runtime.swap_code(
            project, FunctionRegistry(project.functions_dir, project_root=project.root)
        )
        swap.release.set()
        r = await in_flight
    assert (r.status_code, r.json()) == (200, {"max_attempts": 2})


async def test_job_data_must_be_json(app_database: AppDatabase) -> None:
    db = app_database
    await apply_service_schema(db)
    with pytest.raises(QueueError, match="must be JSON-serialisable"):
        await enqueue_job(db, "f", {"when": object()})
    with pytest.raises(QueueError, match="unknown job status"):
        await list_jobs(db, status="weird")


async def test_expired_lease_is_claimed_again_and_exhausted_lease_fails(
    app_database: AppDatabase,
) -> None:

    db = app_database
    await apply_service_schema(db)
    job = await enqueue_job(db, "f", {}, max_attempts=2)
    [a] = await claim(db, "elsewhere:1:aa", lease_seconds=10)
    assert await claim(db, "here:2:bb", lease_seconds=10) == []  # leased
    [b] = await claim(db, "here:2:bb", lease_seconds=10, now=time.time() + 11)
    assert (a.attempt, b.attempt, b.leased_by) == (1, 2, "here:2:bb")
    assert await claim(db, "third:3:cc", lease_seconds=10, now=time.time() + 30) == []
    stored = await get_job(db, job.id)
    assert stored is not None and stored.status == "failed"
    assert stored.last_error == "worker here:2:bb stopped during the last attempt"


async def test_background_worker_runs_enqueued_jobs(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        await flux.client.post("/signup", json={"email": "a@b.com", "customer_id": "cus_1"})
        for _ in range(200):
            if await list_jobs(flux.runtime.database, status="done"):
                break
            await asyncio.sleep(0.02)
        [job] = await list_jobs(flux.runtime.database, status="done")
        [e] = await flux.recorded(str(job.last_execution_id))
    assert e.kind == "job" and e.status == "done"


async def test_worker_killed_mid_job_leaves_it_to_run_again_on_restart(shop: Path) -> None:
    write_function(shop, "slow", SLOW)
    marker = shop / "marker.txt"
    db = open_database(Project.load(shop))
    await db.open()
    await apply_service_schema(db)
    job = await enqueue_job(db, "slow", {"marker": str(marker)})
    await db.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(shop)], env=env)
    try:
        for _ in range(300):
            if marker.exists() and "start 1" in marker.read_text():
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the worker subprocess never started the job")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    async with NoWorker(shop) as flux:
        killed = await get_job(flux.runtime.database, job.id)
        assert killed is not None and killed.status == "running"
        assert killed.leased_by is not None and f":{proc.pid}:" in killed.leased_by
        results = await run_pending(flux.runtime)  # a restarted worker: the orphan runs again
        [rerun] = await flux.recorded(results[0].execution.id)
        finished = await get_job(flux.runtime.database, job.id)
    assert marker.read_text() == "start 1\nstart 2\n"
    assert rerun.status == "done" and rerun.job == {"id": job.id, "attempt": 2, "max_attempts": 3}
    assert finished is not None and finished.status == "done"


async def test_orphans_of_a_live_worker_are_left_alone(tmp_path: Path, shop: Path) -> None:
    from flux_lsp.project import Project
    from flux_lsp.runtime.recording import NullRecorder
    from flux_lsp.runtime.runtime import Runtime

    runtime = Runtime(Project.load(shop), NullRecorder())
    await runtime.start()
    await enqueue_job(runtime.database, "signup", {})
    live_elsewhere = new_worker_id().rsplit(":", 2)[0] + f":{os.getppid()}:aa"
    await claim(runtime.database, live_elsewhere, lease_seconds=60)
    assert await recover_orphans(runtime) == 0
    await runtime.stop()


async def test_a_jobs_table_from_before_trace_context_gets_its_columns(
    app_database: AppDatabase,
) -> None:
    """An app database whose `_flux_jobs` predates the trace columns keeps its jobs and gains
    the columns at start; a job enqueued then carries its trace context."""
    db = app_database
    old_schema = [
        s.replace("    traceparent TEXT,\n    tracestate TEXT,\n", "")
        for s in service_schema(db.dialect)
    ]
    assert not any("traceparent" in s for s in old_schema)
    await db.apply_schema(old_schema)
    await db.query(  # a job as the old code stored it
        None,
        "INSERT INTO _flux_jobs (id, function, data, status, max_attempts, run_at, created_at, "
        "updated_at) VALUES ('old1', 'f', '{}', 'pending', 3, 0, 0, 0)",
    )
    await apply_service_schema(db)
    await apply_service_schema(db)  # a second start finds the columns there
    info = await db.table_info("_flux_jobs")
    assert info is not None and {"traceparent", "tracestate"} <= set(info.columns)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    new = await enqueue_job(db, "f", {"n": 2}, traceparent=parent, tracestate="k=v")
    got_old, got_new = await get_job(db, "old1"), await get_job(db, new.id)
    assert got_old is not None and got_old.traceparent is None
    assert got_new is not None and (got_new.traceparent, got_new.tracestate) == (parent, "k=v")
