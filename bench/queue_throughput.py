"""How fast the job queue drains, and how long a job waits for the background worker.

Enqueues N jobs whose handler makes one insert, then drains them twice: with `run_pending`
(one at a time, the replay and test path) and with the background `Worker` (default concurrency,
default poll), printing jobs/s for each. Then enqueues single jobs one after another into an
idle worker and prints the median and p95 enqueue-to-done latency (a job enqueued in the
worker's own process wakes it at once; one enqueued by another process waits for the next
poll, `[queue] poll`, 0.2 s by default). Recording goes to the real recorder writer.

    .venv/bin/python bench/queue_throughput.py [--jobs 1000] [--latency-samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from flux_lsp.analysis.stats import percentile
from flux_lsp.project import Project
from flux_lsp.recorder.writer import RecorderWriter
from flux_lsp.runtime.queue import enqueue_job, get_job
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.worker import Worker, run_pending

HANDLER = """\
async def handler(job, ctx):
    await ctx.db.insert("items", {"n": job.data["n"]})
"""


def make_runtime(root: Path) -> tuple[Runtime, RecorderWriter]:
    (root / "functions").mkdir(parents=True)
    (root / "functions" / "work.py").write_text(HANDLER)
    (root / "migrations").mkdir()
    (root / "migrations" / "001.sql").write_text("CREATE TABLE items (id TEXT PRIMARY KEY, n INT);")
    project = Project.load(root)
    writer = RecorderWriter(project.recorder_path)
    return Runtime(project, writer), writer


async def enqueue(runtime: Runtime, count: int) -> None:
    for n in range(count):
        await enqueue_job(runtime.database, "work", {"n": n})


async def drain_with_worker(runtime: Runtime, count: int) -> float:
    await enqueue(runtime, count)
    task = asyncio.create_task(Worker(runtime)())
    t0 = time.perf_counter()
    unfinished = "SELECT COUNT(*) AS n FROM _flux_jobs WHERE status IN ('pending', 'running')"
    while (await runtime.database.query(None, unfinished))[0][0]["n"]:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return elapsed


async def latency(runtime: Runtime, samples: int) -> list[float]:
    task = asyncio.create_task(Worker(runtime)())
    waits: list[float] = []
    for n in range(samples):
        t0 = time.perf_counter()
        job = await enqueue_job(runtime.database, "work", {"n": n})
        while (got := await get_job(runtime.database, job.id)) is None or got.status != "done":
            await asyncio.sleep(0.002)
        waits.append(time.perf_counter() - t0)
        await asyncio.sleep(0.05)  # enqueue at a different point of the poll cycle each time
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return waits


async def main(jobs: int, samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime, writer = make_runtime(Path(tmp))
        await runtime.start()
        await enqueue(runtime, jobs)
        t0 = time.perf_counter()
        done = await run_pending(runtime)
        sequential = time.perf_counter() - t0
        assert len(done) == jobs
        background = await drain_with_worker(runtime, jobs)
        waits = sorted(await latency(runtime, samples))
        writer.flush()
        writer.close()
        await runtime.stop()
    print(f"run_pending:       {jobs / sequential:8.0f} jobs/s  ({jobs} jobs)")
    print(f"background worker: {jobs / background:8.0f} jobs/s  ({jobs} jobs)")
    p95 = percentile(waits, 95) or 0.0
    print(
        f"enqueue→done via idle worker: median {statistics.median(waits) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms ({samples} jobs, poll 0.2 s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.latency_samples))
