"""What the admin API of `flux serve` costs: deploy time, and RemoteStore against the local file.

Starts `flux serve` as a subprocess on a loopback port over a recorder of N synthetic
executions (written through the recorder's own write path), then prints:

- the median time of `POST /_flux/deploy` for the example shop (unpack, check every function,
  trial migrations, swap), over several deploys;
- the median latency of the same `Store` calls through `SQLiteStore` (the local file) and
  `RemoteStore` (HTTP on loopback): the tail query (`executions`, limit 20), `get` by prefix,
  `function_stats`, and `change_token` (what the language server polls).

    python bench/serve_admin.py [--executions 20000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flux_lsp.bundle import build_bundle, project_files
from flux_lsp.model import Execution, Span, new_execution_id
from flux_lsp.project import Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.remote_store import RemoteStore
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import open_for_writing, write_batch
from tests.harness import copy_shop
from tests.serve.helpers import TOKEN, ServeProcess


def synthetic(i: int, t0: float) -> Execution:
    failed = i % 10 == 0
    return Execution(
        id=new_execution_id(),
        kind="http",
        function="stripe_webhook",
        method="POST",
        path="/stripe_webhook",
        status="500" if failed else "200",
        started_at=t0 + i * 0.01,
        duration_ms=12.5,
        request={"method": "POST", "path": "/stripe_webhook", "body": {"n": i}},
        spans=[
            Span(id=0, name="gateway", duration_ms=12.5),
            Span(id=1, name="function", parent=0, duration_ms=11.0),
            Span(id=2, name="db.update", parent=1, duration_ms=1.0, file="functions/x.py", line=9),
        ],
        code_version="abc123",
    )


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


async def timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        out.append(time.perf_counter() - start)
    return out


async def compare(url: str, recorder: Path, runs: int) -> None:
    local = await SQLiteStore.open(recorder)
    remote = await RemoteStore.open(url, token=TOKEN)
    some_id = (await local.executions(ExecutionQuery(limit=100)))[-1].id
    calls: dict[str, Callable[[SQLiteStore | RemoteStore], Awaitable[object]]] = {
        "executions (tail, limit 20)": lambda s: s.executions(ExecutionQuery(limit=20)),
        "get by 8-digit prefix": lambda s: s.get(some_id[:8]),
        "function_stats (500)": lambda s: s.function_stats("stripe_webhook"),
        "change_token": lambda s: s.change_token(),
    }
    print("| call | SQLiteStore | RemoteStore |")
    print("|---|---|---|")
    for name, call in calls.items():
        here = await timed(lambda c=call: c(local), runs)  # type: ignore[misc]
        there = await timed(lambda c=call: c(remote), runs)  # type: ignore[misc]
        print(f"| {name} | {median_ms(here)} | {median_ms(there)} |")
    await remote.close()
    await local.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deploys", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server_dir = root / "server"
        (server_dir / ".flux").mkdir(parents=True)
        conn = open_for_writing(server_dir / ".flux" / "recorder.db")
        t0 = time.time() - args.executions * 0.01
        for start in range(0, args.executions, 1000):
            batch = [synthetic(i, t0) for i in range(start, min(args.executions, start + 1000))]
            write_batch(conn, batch)
        conn.close()
        shop = copy_shop(root)
        with ServeProcess(server_dir) as server, server.client() as client:
            samples = []
            for n in range(args.deploys):
                (shop / "templates" / "welcome.txt").write_text(f"welcome v{n}\n")
                bundle = build_bundle(project_files(Project.load(shop)))
                start = time.perf_counter()
                r = client.post("/_flux/deploy", content=bundle)
                samples.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
            print(
                f"deploy of the example shop ({len(bundle):,} bytes): median {median_ms(samples)}"
            )
            httpx.get(server.url + "/create_user")  # warm the gateway
            print(f"{args.executions:,} executions; medians of {args.runs} calls")
            asyncio.run(compare(server.url, server_dir / ".flux" / "recorder.db", args.runs))


if __name__ == "__main__":
    main()
