"""Three `flux serve` processes on one PostgreSQL database, one of them SIGKILLed mid-run.

Requests are spread across the three; each acknowledged insert must be in the table exactly
once with a unique id, every execution the survivors acknowledged must be in their recorders,
every acknowledged job must be done (counted by distinct job id, whoever ran it), and the jobs
the killed process held must be finished by the others. `make test` runs a small load;
`FLUX_SCALE_OUT=full` runs the issue's 6,000 requests at concurrency 60 with 1,000 jobs.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.runtime.database import open_database
from tests.harness import copy_shop, write_function
from tests.serve.helpers import ServeProcess

FULL = os.environ.get("FLUX_SCALE_OUT") == "full"
REQUESTS, CONCURRENCY, JOBS = (6000, 60, 1000) if FULL else (900, 30, 150)

ADD = """\
async def handler(req, ctx):
    body = await req.json()
    row = await ctx.db.insert("items", {"k": body["k"]})
    return {"id": row.id}
"""
ENQUEUE = """\
async def handler(req, ctx):
    body = await req.json()
    job = await ctx.queue.enqueue("work", body)
    return {"job": job.id}
"""
WORK = """\
import asyncio


async def handler(job, ctx):
    await asyncio.sleep(job.data.get("hold", HOLD))
    await ctx.db.insert("job_runs", {"job_id": job.id, "k": job.data["k"]})
""".replace("HOLD", "0.1" if FULL else "1.0")
SCHEMA = """\
CREATE TABLE items (id TEXT PRIMARY KEY, k TEXT NOT NULL);
CREATE TABLE job_runs (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, k TEXT NOT NULL);
"""


def scale_project(root: Path) -> Path:
    project = copy_shop(root)
    write_function(project, "add", ADD)
    write_function(project, "enqueue", ENQUEUE)
    write_function(project, "work", WORK)
    (project / "migrations" / "100_scale.sql").write_text(SCHEMA)
    with (project / "flux.toml").open("a") as toml:
        toml.write("lease = 3.0\n")  # [queue] is the file's last table
    return project


async def test_three_servers_share_one_database(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX_DATABASE_URL", postgres_database)
    first = scale_project(tmp_path / "one")
    folders = [first]
    for name in ("two", "three"):
        shutil.copytree(first, tmp_path / name / "shop")
        folders.append(tmp_path / name / "shop")
    servers = [ServeProcess(folder, token=None) for folder in folders]
    for server in servers:  # they start together: each migration is applied once
        server.__enter__()
    victim = servers[2]
    assert victim.process is not None
    alive = [True, True, True]
    inserts: dict[str, str] = {}  # k -> id, acknowledged
    jobs: dict[str, str] = {}  # job id -> k, acknowledged
    acknowledged: list[set[str]] = [set(), set(), set()]  # execution ids per server
    held_by_victim: list[str] = []
    refused: dict[int, int] = {}  # status -> count of answers that were not a 200
    failed: dict[str, int] = {}  # exception -> count of requests that got no answer
    counter = itertools.count()
    sent = 0  # requests taken by a client, answered or not
    kill_at = REQUESTS * 2 // 5

    async def client() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            nonlocal sent
            while (n := next(counter)) < REQUESTS:
                sent = n + 1
                k = f"k{n}"
                every = REQUESTS // JOBS
                enqueue = n % every == 0
                target = (n // every if enqueue else n) % 3  # jobs enqueued on all three
                while not alive[target]:
                    target = (target + 1) % 3
                url = f"{servers[target].url}/{'enqueue' if enqueue else 'add'}"
                try:
                    r = await http.post(url, json={"k": k})
                except httpx.HTTPError as exc:  # the killed server: not acknowledged
                    failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1
                    continue
                if r.status_code != 200:
                    refused[r.status_code] = refused.get(r.status_code, 0) + 1
                    continue
                acknowledged[target].add(r.headers["x-flux-request-id"])
                if enqueue:
                    jobs[r.json()["job"]] = k
                else:
                    inserts[k] = r.json()["id"]

    async def killer() -> None:
        # by requests sent, not acknowledged: answers that are not 200s must not stall it
        while sent < kill_at:
            await asyncio.sleep(0.01)
        assert victim.process is not None
        async with httpx.AsyncClient(timeout=30) as http:  # jobs it takes itself, and holds
            for i in range(4):
                r = await http.post(f"{victim.url}/enqueue", json={"k": f"held{i}", "hold": 5})
                assert r.status_code == 200, r.text
                jobs[r.json()["job"]] = f"held{i}"
        held = "SELECT id FROM _flux_jobs WHERE status = 'running' AND leased_by LIKE $1"
        mine = [f"%:{victim.process.pid}:%"]
        database = open_database(Project.load(first))
        try:
            for _ in range(2000):  # kill it while it holds a job
                rows, _ = await database.query(None, held, mine)
                if rows:
                    break
                await asyncio.sleep(0.01)
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait()
            alive[2] = False
            rows, _ = await database.query(None, held, mine)
            held_by_victim.extend(str(r["id"]) for r in rows)
        finally:
            await database.close()

    try:
        started = time.monotonic()
        try:  # a stall fails with what the servers said, inside the test's timeout
            async with asyncio.timeout(150):
                await asyncio.gather(killer(), *(client() for _ in range(CONCURRENCY)))
        except TimeoutError:
            logs = "\n".join(f"--- {s.url}\n{s.output()[-3000:]}" for s in servers)
            raise AssertionError(
                f"stalled after {sent} requests sent, {len(inserts) + len(jobs)} acknowledged;"
                f" others: {refused}, no answer: {failed}\n{logs}"
            ) from None
        served_in = time.monotonic() - started
        database = open_database(Project.load(first))
        try:
            deadline = time.monotonic() + 120  # well inside the test's timeout
            while True:
                rows, _ = await database.query(
                    None, "SELECT count(*) AS n FROM _flux_jobs WHERE status <> 'done'"
                )
                if rows[0]["n"] == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            items, _ = await database.query(None, "SELECT id, k FROM items")
            runs, _ = await database.query(None, "SELECT DISTINCT job_id FROM job_runs")
            states, _ = await database.query(None, "SELECT * FROM _flux_jobs")
        finally:
            await database.close()
    finally:
        for server in servers[:2]:
            server.__exit__(None, None, None)
        victim._log_file.close()

    print(f"scale-out: {REQUESTS} requests at concurrency {CONCURRENCY} in {served_in:.1f} s")
    print(f"scale-out: answers other than 200: {refused or 'none'}; no answer: {failed}")
    # every acknowledged insert is there exactly once, under the id it was answered with
    stored = [(str(r["k"]), str(r["id"])) for r in items]
    assert len({k for k, _ in stored}) == len(stored)
    assert len({i for _, i in stored}) == len(stored)  # ids unique across the processes
    assert set(inserts.items()) <= set(stored)
    assert len(inserts) > REQUESTS * 0.8 - JOBS, f"too few acknowledged; others: {refused}"
    # every acknowledged job is done, counted by distinct job id
    status = {str(r["id"]): str(r["status"]) for r in states}
    assert set(jobs) <= set(status)
    unfinished = [dict(r) for r in states if str(r["id"]) in jobs and r["status"] != "done"]
    assert unfinished == [], f"{len(unfinished)} of {len(jobs)} jobs not done at {time.time()}"
    assert set(jobs) <= {str(r["job_id"]) for r in runs}
    # the jobs the killed process had leased were finished by the others
    assert held_by_victim
    assert all(status[job] == "done" for job in held_by_victim)
    # every execution the survivors acknowledged is in their recorders
    for index in (0, 1):
        store = await SQLiteStore.open(Project.load(folders[index]).recorder_path)
        try:
            for ident in acknowledged[index]:
                assert (await store.get(ident)).id == ident
        finally:
            await store.close()
