"""The PostgreSQL recorder and retention: ingest rate, pruning rate, and requests while pruning.

1. Ingest. The same executions (the language-server bench's synthetic records, with spans, a
   mutation and a call site each) are written by the PostgreSQL writer's own path
   (`write_records_pg`: rows from the wire form, day partitions, three COPYs, commit, change
   token) and, as the baseline, by a plain COPY of the very same rows, prepared beforehand,
   into the same tables. Prints executions/s for each and their ratio (goal ≥ 0.5).
2. Pruning rate. A recorder holding 30 days of records is pruned with keep = 7d and
   keep_failures = 30d, on PostgreSQL (day partitions dropped) and on the file (batched deletes
   and incremental vacuum). Prints executions removed per second and the size before/after.
3. Requests during pruning. An app records every request into such a recorder while
   `flux prune` runs in another process; prints request latency (p50, p99, max) before, during
   and after the prune, per backend: pruning must show no step.

    .venv/bin/python bench/recorder_postgres.py [--executions 100000] [--days 30]
        [--recorder-url postgresql://…/postgres]

Without `--recorder-url` it uses `FLUX_TEST_POSTGRES_URL` or starts a throwaway cluster (as the
tests do); each part works in a database of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lsp_latency import FUNCTIONS, synthesise

from flux_lsp.analysis.stats import percentile
from flux_lsp.model import Execution
from flux_lsp.project import Project
from flux_lsp.recorder.postgres_schema import (
    CALL_SITE_COLUMNS,
    EXECUTION_COLUMNS,
    MUTATION_COLUMNS,
    connect,
    day_of,
    ensure_partitions,
    ensure_schema,
)
from flux_lsp.recorder.postgres_writer import pg_rows, write_records_pg
from flux_lsp.recorder.retention import DAY, RetentionPolicy
from flux_lsp.recorder.writer import encode, open_for_writing, open_writer, write_batch
from flux_lsp.recorder.writer_process import prune
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.runtime import Runtime
from tests.postgres import fresh_database, postgres_server

BATCH = 1000
HANDLER = """\
async def handler(req, ctx):
    body = await req.json()
    row = await ctx.db.insert("items", {"name": body["name"], "n": body["n"]})
    return {"id": row.id}
"""


def records(count: int, days: float, seed: int = 42) -> list[Execution]:
    rng = random.Random(seed)
    now = time.time()
    return [
        synthesise(rng, rng.randrange(FUNCTIONS), now - days * DAY * (1 - i / count) - 60)
        for i in range(count)
    ]


# -- 1. ingest -------------------------------------------------------------------------------


def ingest(server: str, executions: list[Execution]) -> tuple[float, float]:
    """Both sides start with the day partitions in place (a running writer creates one day's
    once a day), so what is timed is turning records into rows and storing them."""
    wires = [encode(e) for e in executions]
    days = {(f, day_of(e.started_at)) for e in executions for f in (False, True)}
    with fresh_database(server) as url, connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        known: set[tuple[bool, int]] = set()
        ensure_partitions(conn, days, known)
        started = time.perf_counter()
        for i in range(0, len(wires), BATCH):
            write_records_pg(conn, wires[i : i + BATCH], known)
        flux_rate = len(wires) / (time.perf_counter() - started)
    with fresh_database(server) as url, connect(url, autocommit=True) as conn:
        ensure_schema(conn)
        batches = [pg_rows(wires[i : i + BATCH]) for i in range(0, len(wires), BATCH)]
        ensure_partitions(conn, days, set())
        started = time.perf_counter()
        for execs, muts, sites in batches:
            with conn.transaction(), conn.cursor() as cur:
                for table, columns, rows in (
                    ("executions", EXECUTION_COLUMNS, execs),
                    ("mutations", MUTATION_COLUMNS, muts),
                    ("call_sites", CALL_SITE_COLUMNS, sites),
                ):
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        copy_rate = len(wires) / (time.perf_counter() - started)
    return flux_rate, copy_rate


# -- 2. pruning ------------------------------------------------------------------------------

POLICY = RetentionPolicy(keep=7 * DAY, keep_failures=30 * DAY, text="keep 7d · failures 30d")


def fill(location: str, executions: list[Execution]) -> None:
    if location.startswith("postgresql://"):
        with connect(location, autocommit=True) as conn:
            ensure_schema(conn)
            known: set[tuple[bool, int]] = set()
            for i in range(0, len(executions), BATCH):
                write_records_pg(conn, [encode(e) for e in executions[i : i + BATCH]], known)
        return
    conn = open_for_writing(Path(location))
    for i in range(0, len(executions), BATCH):
        write_batch(conn, executions[i : i + BATCH])
    conn.close()


@contextlib.contextmanager
def recorder(server: str, backend: str, folder: Path) -> Iterator[str]:
    if backend == "postgres":
        with fresh_database(server) as url:
            yield url
    else:
        yield str(folder / f"recorder-{time.monotonic_ns()}.db")


def pruning_rate(location: str, executions: list[Execution]) -> str:
    fill(location, executions)
    report = prune(location, POLICY)
    rate = report.executions / report.seconds if report.seconds else float("inf")
    return (
        f"removed {report.executions:,} of {len(executions):,} executions in "
        f"{report.seconds:.2f} s = {rate:,.0f}/s ({report.partitions} partitions dropped); "
        f"size {report.size_before / 1e6:.0f} MB → {report.size_after / 1e6:.0f} MB"
    )


# -- 3. requests during pruning ------------------------------------------------------------


def app_project(root: Path, location: str) -> Project:
    (root / "functions").mkdir(parents=True)
    (root / "migrations").mkdir()
    (root / "functions" / "item.py").write_text(HANDLER)
    (root / "migrations" / "001.sql").write_text(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);"
    )
    setting = f'url = "{location}"' if location.startswith("postgresql://") else ""
    if not setting:
        setting = f'path = "{location}"'
    (root / "flux.toml").write_text(f'[recorder]\n{setting}\nkeep = "7d"\nkeep_failures = "30d"\n')
    return Project.load(root)


def latency_line(label: str, values: list[float]) -> str:
    p50, p99 = statistics.median(values), percentile(values, 99) or 0.0
    return (
        f"    {label:<7} {len(values):>6} requests  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
        f"max {max(values):6.2f} ms"
    )


async def during_pruning(location: str, executions: list[Execution], root: Path) -> list[str]:
    fill(location, executions)
    project = app_project(root, location)
    writer = open_writer(project, prune_seconds=0)  # the prune below is the only one
    runtime = Runtime(project, writer)
    await runtime.start()
    app = create_app(runtime)
    phases: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:

        async def serve(
            phase: str, seconds: float | None, until: subprocess.Popen[bytes] | None
        ) -> None:
            end = time.monotonic() + (seconds or 0)
            i = 0
            while (until is not None and until.poll() is None) or (
                until is None and time.monotonic() < end
            ):
                started = time.perf_counter()
                r = await client.post("/item", json={"name": f"item {i}", "n": i})
                phases[phase].append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200
                i += 1

        await serve("before", 5.0, None)
        pruner = subprocess.Popen(
            [sys.executable, "-m", "flux_lsp", "prune", "-p", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        await serve("during", None, pruner)
        out, err = pruner.communicate()
        await serve("after", 5.0, None)
    writer.close()
    await runtime.stop()
    lines = [latency_line(phase, values) for phase, values in phases.items()]
    said = (out or err).decode().strip().splitlines()
    return [*lines, f"    flux prune said: {' / '.join(s.strip() for s in said[1:2])}"]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--recorder-url", default=None, help="a PostgreSQL server to use")
    args = parser.parse_args()
    print(f"synthesising {args.executions:,} executions over {args.days:g} days…", file=sys.stderr)
    executions = records(args.executions, args.days)
    folder = Path(tempfile.mkdtemp(prefix="flux-recorder-bench-"))
    server_context = (
        contextlib.nullcontext(args.recorder_url) if args.recorder_url else postgres_server()
    )
    try:
        with server_context as server:
            flux_rate, copy_rate = ingest(server, records(args.executions, 1, seed=7))
            print(f"ingest: {args.executions:,} executions of one day, in batches of {BATCH}")
            print(f"  Flux writer (rows, partitions, COPY, commit)  {flux_rate:9,.0f} executions/s")
            print(f"  plain COPY of the same rows                   {copy_rate:9,.0f} executions/s")
            print(f"  ratio Flux/COPY: {flux_rate / copy_rate:.2f}   (goal ≥ 0.5)")
            print(f"pruning {args.days:g} days with {POLICY.text}:")
            for backend in ("postgres", "sqlite"):
                with recorder(server, backend, folder) as location:
                    print(f"  {backend:<8} {pruning_rate(location, executions)}")
            print("request latency while `flux prune` runs in another process:")
            for backend in ("postgres", "sqlite"):
                with recorder(server, backend, folder) as location:
                    print(f"  {backend}:")
                    root = folder / f"app-{backend}"
                    for line in await during_pruning(location, executions, root):
                        print(line)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
