"""Flux on PostgreSQL: requests against SQLite, the job queue against pgqueuer and procrastinate.

Prints, in one run on one PostgreSQL server (`FLUX_TEST_POSTGRES_URL`, or a throwaway cluster
started as the test suite does):

1. request throughput of one handler (one insert) on SQLite and on PostgreSQL, in process
   through the gateway with the real recorder, at concurrency 20;
2. queue drain: N jobs that each insert one row, drained by one worker process, for Flux
   (every attempt recorded as an execution), pgqueuer and procrastinate, on the same database;
3. enqueue→start latency across processes: a worker process idles, this process enqueues one
   job at a time, the handler stores when it started; p50 and p95 for each queue;
4. crash recovery: a worker process takes a job that hangs and is SIGKILLed; the time until
   the job runs again in another worker process. For Flux both ways a dead worker is noticed:
   on another host (the lease runs out, `[queue] lease`) and on the same host (its pid is gone).
   pgqueuer re-picks a job whose heartbeat is older than its `heartbeat_timeout` (30 s default);
   procrastinate has no automatic recovery (a task the user writes), so it is not measured.

    .venv/bin/python bench/postgres_backend.py [--requests 2000] [--jobs 2000] [--samples 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from flux_lsp.analysis.stats import percentile  # noqa: E402
from flux_lsp.project import Project  # noqa: E402
from flux_lsp.recorder.writer import RecorderWriter  # noqa: E402
from flux_lsp.runtime.gateway import create_app  # noqa: E402
from flux_lsp.runtime.queue import enqueue_job  # noqa: E402
from flux_lsp.runtime.runtime import Runtime  # noqa: E402
from tests.postgres import fresh_database, postgres_server  # noqa: E402

REQUEST_HANDLER = """\
async def handler(req, ctx):
    body = await req.json()
    row = await ctx.db.insert("items", {"n": body["n"]})
    return {"id": row.id}
"""
JOB_HANDLER = """\
import time


async def handler(job, ctx):
    started = time.time()
    if job.data.get("hang") and job.attempt == 1:
        import asyncio
        await asyncio.sleep(3600)
    await ctx.db.insert("items", {"n": job.data["n"], "started": started})
"""
SCHEMA = "CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER, started DOUBLE PRECISION);\n"
PGQUEUER_BATCH = 50
OTHERS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_rows (queue TEXT, n INTEGER, started DOUBLE PRECISION)"
)

# -- the worker processes --------------------------------------------------------------------

FLUX_WORKER = """\
import asyncio, signal, sys
import flux_lsp.runtime.worker as worker
from flux_lsp.project import Project
from flux_lsp.recorder.writer import RecorderWriter
from flux_lsp.runtime.runtime import Runtime

if sys.argv[2] == "elsewhere":
    worker._HOST = "another-host"  # as a process on another machine looks to the others
project = Project.load(sys.argv[1])
writer = RecorderWriter(project.recorder_path, 100_000)
runtime = Runtime(project, writer)


async def main():
    await runtime.start()
    task = asyncio.create_task(worker.Worker(runtime, concurrency=int(sys.argv[3]))())
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, task.cancel)
    print("ready", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        pass
    writer.flush(timeout=60)
    writer.close()
    await runtime.stop()


asyncio.run(main())
"""

PGQUEUER_WORKER = """\
import asyncio, json, sys, time
from datetime import timedelta
import psycopg
from psycopg_pool import AsyncConnectionPool
from pgqueuer import PgQueuer
from pgqueuer.db import PsycopgDriver


async def main():
    url, mode = sys.argv[1], sys.argv[2]
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    pool = AsyncConnectionPool(
        url, min_size=2, max_size=10, open=False, kwargs={"autocommit": True}
    )
    await pool.open()
    pgq = PgQueuer(PsycopgDriver(conn))

    @pgq.entrypoint("work")
    async def work(job):
        started = time.time()
        data = json.loads(job.payload)
        if data.get("hang"):
            await asyncio.sleep(3600)
        async with pool.connection() as c:
            await c.execute(
                "INSERT INTO bench_rows (queue, n, started) VALUES ('pgqueuer', %s, %s)",
                [data["n"], started],
            )

    print("ready", flush=True)
    await pgq.qm.run(batch_size=int(mode), dequeue_timeout=timedelta(seconds=30))


asyncio.run(main())
"""

PROCRASTINATE_WORKER = """\
import asyncio, sys, time
import procrastinate
from psycopg_pool import AsyncConnectionPool

url, mode = sys.argv[1], sys.argv[2]
app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
pool = AsyncConnectionPool(url, min_size=2, max_size=10, open=False, kwargs={"autocommit": True})


@app.task(name="work")
async def work(n):
    started = time.time()
    async with pool.connection() as c:
        await c.execute(
            "INSERT INTO bench_rows (queue, n, started) VALUES ('procrastinate', %s, %s)",
            [n, started],
        )


async def main():
    await pool.open()
    async with app.open_async():
        print("ready", flush=True)
        await app.run_worker_async(
            wait=mode != "drain", concurrency=4, listen_notify=True, delete_jobs="never"
        )


asyncio.run(main())
"""


def start(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a stopped worker's KeyboardInterrupt is not a figure
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"worker did not start ({line!r})")
    return process


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def count(url: str, sql: str, params: list[object] | None = None) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params or []).fetchone()
    return int(row[0]) if row else 0


def wait_for(url: str, sql: str, params: list[object], target: int, timeout: float) -> float:
    """Seconds until `sql` counts `target`, polling every 5 ms."""
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(sql, params).fetchone()
            if row and int(row[0]) >= target:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"{sql}: not {target} after {timeout} s")
            time.sleep(0.005)


# -- Flux --------------------------------------------------------------------------------------


@contextlib.contextmanager
def flux_project(folder: Path, url: str | None, handler: str) -> Iterator[Project]:
    (folder / "functions").mkdir(parents=True)
    (folder / "functions" / "work.py").write_text(handler)
    (folder / "migrations").mkdir()
    (folder / "migrations" / "001.sql").write_text(SCHEMA)
    (folder / "flux.toml").write_text("[queue]\nmax_attempts = 3\n")
    old = os.environ.pop("FLUX_DATABASE_URL", None)
    if url:
        os.environ["FLUX_DATABASE_URL"] = url
    try:
        yield Project.load(folder)
    finally:
        os.environ.pop("FLUX_DATABASE_URL", None)
        if old is not None:
            os.environ["FLUX_DATABASE_URL"] = old


async def request_throughput(url: str | None, requests: int, concurrency: int = 20) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        flux_project(Path(tmp), url, REQUEST_HANDLER) as project,
    ):
        writer = RecorderWriter(project.recorder_path, requests + 1000)
        runtime = Runtime(project, writer)
        await runtime.start()
        app = create_app(runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for n in range(50):
                await client.post("/work", json={"n": n})
            numbers = iter(range(requests))

            async def worker() -> None:
                for n in numbers:
                    r = await client.post("/work", json={"n": n})
                    assert r.status_code == 200, r.text

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
        writer.flush(timeout=120)
        writer.close()
        await runtime.stop()
    return requests / elapsed


async def flux_enqueue(project: Project, data: list[dict[str, object]]) -> None:
    runtime = Runtime(project, RecorderWriter(project.recorder_path))
    await runtime.start()
    try:
        for item in data:
            await enqueue_job(runtime.database, "work", item)
    finally:
        runtime.recorder.close()
        await runtime.stop()


def flux_drain(url: str, jobs: int, concurrency: int) -> tuple[float, int]:
    """(jobs/s, executions recorded) for one Flux worker process draining `jobs`."""
    with (
        fresh_database(url) as db,
        tempfile.TemporaryDirectory() as tmp,
        flux_project(Path(tmp), db, JOB_HANDLER) as project,
    ):
        asyncio.run(flux_enqueue(project, [{"n": n} for n in range(jobs)]))
        worker = start(FLUX_WORKER, str(project.root), "here", str(concurrency))
        try:
            seconds = wait_for(db, "SELECT count(*) FROM items", [], jobs, 600)
        finally:
            stop(worker)
        recorded = recorded_jobs(project)
    return jobs / seconds, recorded


def recorded_jobs(project: Project) -> int:
    import sqlite3

    conn = sqlite3.connect(project.recorder_path)
    try:
        row = conn.execute("SELECT count(*) FROM executions WHERE kind = 'job'").fetchone()
    finally:
        conn.close()
    return int(row[0])


def flux_latency(url: str, samples: int) -> list[float]:
    with (
        fresh_database(url) as db,
        tempfile.TemporaryDirectory() as tmp,
        flux_project(Path(tmp), db, JOB_HANDLER) as project,
    ):
        asyncio.run(flux_enqueue(project, []))  # migrate
        worker = start(FLUX_WORKER, str(project.root), "here", "4")
        try:
            return asyncio.run(_flux_latency(project, db, samples))
        finally:
            stop(worker)


async def _flux_latency(project: Project, db: str, samples: int) -> list[float]:
    runtime = Runtime(project, RecorderWriter(project.recorder_path))
    await runtime.start()
    waits: list[float] = []
    try:
        for n in range(samples):
            t0 = time.time()
            await enqueue_job(runtime.database, "work", {"n": n})
            await asyncio.to_thread(
                wait_for, db, "SELECT count(*) FROM items WHERE n = %s", [n], 1, 30
            )
            rows, _ = await runtime.database.query(
                None, "SELECT started FROM items WHERE n = $1", [n]
            )
            waits.append(float(rows[0]["started"]) - t0)
            await asyncio.sleep(0.03)
    finally:
        runtime.recorder.close()
        await runtime.stop()
    return waits


def flux_recovery(url: str, where: str) -> float:
    """Seconds from SIGKILL of a worker holding a job to the job's row written by another."""
    with (
        fresh_database(url) as db,
        tempfile.TemporaryDirectory() as tmp,
        flux_project(Path(tmp), db, JOB_HANDLER) as project,
    ):
        asyncio.run(flux_enqueue(project, [{"n": 1, "hang": True}]))
        doomed = start(FLUX_WORKER, str(project.root), where, "4")
        wait_for(db, "SELECT count(*) FROM _flux_jobs WHERE status = 'running'", [], 1, 30)
        time.sleep(1.0)
        survivor = start(FLUX_WORKER, str(project.root), "here", "4")
        try:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            return wait_for(db, "SELECT count(*) FROM items", [], 1, 120)
        finally:
            stop(survivor)


# -- pgqueuer and procrastinate ---------------------------------------------------------------


async def pgqueuer_install_and_enqueue(db: str, payloads: list[dict[str, object]]) -> None:
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.queries import Queries

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        if not await queries.schema_is_installed():
            await queries.install()
        await conn.execute(OTHERS_SCHEMA)
        if payloads:
            encoded = [json.dumps(p).encode() for p in payloads]
            await queries.enqueue(["work"] * len(encoded), encoded, [0] * len(encoded))


def pgqueuer_drain(url: str, jobs: int) -> float:
    with fresh_database(url) as db:
        asyncio.run(pgqueuer_install_and_enqueue(db, [{"n": n} for n in range(jobs)]))
        worker = start(PGQUEUER_WORKER, db, str(PGQUEUER_BATCH))
        try:
            seconds = wait_for(db, "SELECT count(*) FROM bench_rows", [], jobs, 600)
        finally:
            stop(worker)
    return jobs / seconds


def pgqueuer_latency(url: str, samples: int) -> list[float]:
    with fresh_database(url) as db:
        asyncio.run(pgqueuer_install_and_enqueue(db, []))
        worker = start(PGQUEUER_WORKER, db, str(PGQUEUER_BATCH))
        try:
            return asyncio.run(_pgqueuer_latency(db, samples))
        finally:
            stop(worker)


async def _pgqueuer_latency(db: str, samples: int) -> list[float]:
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.queries import Queries

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))

        async def enqueue(n: int) -> None:
            await queries.enqueue("work", json.dumps({"n": n}).encode())

        return await others_latency(db, samples, enqueue)


async def others_latency(
    db: str, samples: int, enqueue: Callable[[int], Awaitable[None]]
) -> list[float]:
    """Enqueue→start of one job at a time into an idle worker process of another queue (the
    enqueuing connection is open before the clock starts)."""
    waits: list[float] = []
    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        for n in range(samples):
            t0 = time.time()
            await enqueue(n)
            while True:
                cur = await conn.execute("SELECT started FROM bench_rows WHERE n = %s", [n])
                row = await cur.fetchone()
                if row is not None:
                    break
                await asyncio.sleep(0.002)
            waits.append(float(row[0]) - t0)
            await asyncio.sleep(0.03)
    return waits


def pgqueuer_recovery(url: str) -> float:
    with fresh_database(url) as db:
        asyncio.run(pgqueuer_install_and_enqueue(db, [{"n": 1, "hang": True}]))
        doomed = start(PGQUEUER_WORKER, db, str(PGQUEUER_BATCH))
        wait_for(db, "SELECT count(*) FROM pgqueuer WHERE status = 'picked'", [], 1, 60)
        time.sleep(1.0)
        with psycopg.connect(db, autocommit=True) as conn:  # the rerun must finish
            conn.execute("UPDATE pgqueuer SET payload = %s", [json.dumps({"n": 1}).encode()])
        survivor = start(PGQUEUER_WORKER, db, str(PGQUEUER_BATCH))
        try:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            return wait_for(db, "SELECT count(*) FROM bench_rows", [], 1, 300)
        finally:
            stop(survivor)


async def procrastinate_setup(db: str, numbers: list[int]) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db))

    @app.task(name="work")
    async def work(n: int) -> None:  # the worker process has the body
        return None

    async with app.open_async():
        with contextlib.suppress(Exception):
            await app.schema_manager.apply_schema_async()
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            await conn.execute(OTHERS_SCHEMA)
        if numbers:
            await work.batch_defer_async(*({"n": n} for n in numbers))


def procrastinate_drain(url: str, jobs: int) -> float:
    with fresh_database(url) as db:
        asyncio.run(procrastinate_setup(db, list(range(jobs))))
        worker = start(PROCRASTINATE_WORKER, db, "serve")
        try:
            seconds = wait_for(db, "SELECT count(*) FROM bench_rows", [], jobs, 900)
        finally:
            stop(worker)
    return jobs / seconds


def procrastinate_latency(url: str, samples: int) -> list[float]:
    with fresh_database(url) as db:
        asyncio.run(procrastinate_setup(db, []))
        worker = start(PROCRASTINATE_WORKER, db, "serve")
        try:
            return asyncio.run(_procrastinate_latency(db, samples))
        finally:
            stop(worker)


async def _procrastinate_latency(db: str, samples: int) -> list[float]:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=db))

    @app.task(name="work")
    async def work(n: int) -> None:  # the worker process has the body
        return None

    async with app.open_async():

        async def enqueue(n: int) -> None:
            await work.defer_async(n=n)

        return await others_latency(db, samples, enqueue)


# -- the report -------------------------------------------------------------------------------


def ms(values: list[float], p: float) -> str:
    return f"{(percentile(sorted(values), p) or 0.0) * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4, help="Flux worker concurrency")
    parser.add_argument("--skip-recovery", action="store_true")
    args = parser.parse_args()
    with postgres_server() as url:
        with fresh_database(url) as db:
            sqlite_rps = asyncio.run(request_throughput(None, args.requests))
            pg_rps = asyncio.run(request_throughput(db, args.requests))
        print(f"requests (one insert, concurrency 20, {args.requests} requests, recorded):")
        print(f"  SQLite      {sqlite_rps:8.0f} req/s")
        print(f"  PostgreSQL  {pg_rps:8.0f} req/s  ({pg_rps / sqlite_rps:.2f}× SQLite)")

        print(f"queue drain ({args.jobs} jobs, each inserts one row, one worker process):")
        for concurrency in (args.concurrency, 4 * args.concurrency):
            flux_rate, recorded = flux_drain(url, args.jobs, concurrency)
            print(
                f"  Flux          {flux_rate:8.0f} jobs/s  (concurrency {concurrency}; "
                f"{recorded} attempts recorded as executions)"
            )
        pgq_rate = pgqueuer_drain(url, args.jobs)
        print(f"  pgqueuer      {pgq_rate:8.0f} jobs/s  (batch {PGQUEUER_BATCH})")
        proc_rate = procrastinate_drain(url, args.jobs)
        print(f"  procrastinate {proc_rate:8.0f} jobs/s  (concurrency 4)")

        print(f"enqueue→start across processes ({args.samples} jobs, one at a time):")
        for name, waits in (
            ("Flux", flux_latency(url, args.samples)),
            ("pgqueuer", pgqueuer_latency(url, args.samples)),
            ("procrastinate", procrastinate_latency(url, args.samples)),
        ):
            print(
                f"  {name:13} p50 {ms(waits, 50)}  p95 {ms(waits, 95)}  "
                f"(median {statistics.median(waits) * 1000:.1f} ms)"
            )
        if args.skip_recovery:
            return
        print("crash recovery (a worker holding a job is SIGKILLed; until the job runs elsewhere):")
        print(f"  Flux, other host (lease 20 s)   {flux_recovery(url, 'elsewhere'):6.1f} s")
        print(f"  Flux, same host (pid gone)      {flux_recovery(url, 'here'):6.1f} s")
        print(f"  pgqueuer (heartbeat 30 s)       {pgqueuer_recovery(url):6.1f} s")
        print("  procrastinate                   not automatic (a task the user writes)")


if __name__ == "__main__":
    main()
