"""How fast an incident replay runs, against serving the same requests live, and its memory.

Serves a window of requests live through the gateway (httpx ASGI transport, real recorder
writer, no job worker), in the seed's mix: signup, confirm_email, a signed Stripe webhook and
create_user per customer. Then replays that window with `replay_window` (sandbox built from the
mutation log, every replay recorded through the same recorder writer) and prints both rates and
their ratio (target: replay/live >= 1.0). Finally replays a fifth of the window and the whole
window again under tracemalloc and prints both peaks (target: flat — the window is streamed,
not loaded), once as the CLI runs it (only outcomes that did not pass are kept) and once keeping
every outcome in the report (as `--json` and the editor do).

    .venv/bin/python bench/replay_throughput.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import RecorderWriter
from flux_lsp.replay.engine import replay_window
from flux_lsp.replay.report import ReplayReport
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.stripe import signed_webhook

SHOP = Path(__file__).resolve().parent.parent / "examples" / "shop"
SECRET = "whsec_flux_example_secret"


async def serve_live(project: Project, requests: int) -> tuple[float, float, float]:
    """Serve `requests` requests; (window start, window end, seconds spent serving)."""
    writer = RecorderWriter(project.recorder_path, queue_size=requests + 100)
    runtime = Runtime(project, writer)
    await runtime.start()
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for i in range(20):  # warm up: module loads, SQLite caches (before the window)
            await client.post("/create_user", json={"email": f"warm{i}@x.com"})
        await asyncio.sleep(0.01)
        since = time.time()
        start = time.perf_counter()
        for n in range(requests):
            customer, step = f"cus_{n // 4}", n % 4
            if step == 0:
                body = {"email": f"{customer}@x.com", "customer_id": customer}
                r = await client.post("/signup", json=body)
            elif step == 1:
                r = await client.post("/confirm_email", json={"customer_id": customer})
            elif step == 2:
                event = {
                    "id": f"evt_{n}",
                    "type": "payment_intent.succeeded",
                    "data": {"object": {"customer_id": customer, "amount": 4900}},
                }
                content, headers = signed_webhook(event, SECRET)
                r = await client.post("/stripe_webhook", content=content, headers=headers)
            else:
                r = await client.post("/create_user", json={"email": f"extra{n}@x.com"})
            assert r.status_code < 500, r.text
        elapsed = time.perf_counter() - start
        until = time.time()
    writer.flush(timeout=120)
    writer.close()
    await runtime.stop()
    return since, until, elapsed


async def replay(
    project: Project, since: float, until: float, keep_passing: bool = True
) -> tuple[ReplayReport, float]:
    store = await SQLiteStore.open(project.recorder_path)
    writer = RecorderWriter(project.recorder_path, queue_size=20_000)
    try:
        start = time.perf_counter()
        report = await replay_window(
            project, store, since, until, recorder=writer, keep_passing=keep_passing
        )
        elapsed = time.perf_counter() - start
    finally:
        writer.flush(timeout=120)
        writer.close()
        await store.close()
    return report, elapsed


async def peak_memory(project: Project, since: float, until: float, keep_passing: bool) -> float:
    """Peak traced memory (MB) while replaying [since, until)."""
    tracemalloc.start()
    try:
        await replay(project, since, until, keep_passing)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


async def main(requests: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="flux-bench-replay-"))
    try:
        shop = root / "shop"
        shutil.copytree(SHOP, shop, ignore=shutil.ignore_patterns(".flux", "__pycache__"))
        os.environ["FLUX_STRIPE_WEBHOOK_SECRET"] = SECRET
        project = Project.load(shop)
        since, until, live_s = await serve_live(project, requests)
        live_rate = requests / live_s
        print(f"live:    {requests} requests in {live_s:.2f} s = {live_rate:,.0f} requests/s")

        report, replay_s = await replay(project, since, until)
        assert report.summary.replayed == requests, report.summary
        assert report.ok, report.summary
        replay_rate = requests / replay_s
        print(
            f"replay:  {requests} requests in {replay_s:.2f} s = {replay_rate:,.0f} requests/s "
            f"(sandbox: {report.sandbox.undone if report.sandbox else 0} writes undone)"
        )
        print(f"ratio replay/live: {replay_rate / live_rate:.2f} (target >= 1.0)")

        fifth = since + (until - since) / 5
        for keep, how in ((False, "as the CLI runs it"), (True, "keeping every outcome")):
            small = await peak_memory(project, since, fifth, keep)
            full = await peak_memory(project, since, until, keep)
            print(
                f"peak traced memory, {how}: {small:.1f} MB replaying ~{requests // 5} "
                f"requests, {full:.1f} MB replaying {requests} (target: flat)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.requests))
