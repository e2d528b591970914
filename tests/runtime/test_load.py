"""Under concurrent load every request is recorded once, and the data matches the mutations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from flux_lsp.recorder.query import ExecutionQuery
from tests.harness import FluxApp, serve_on_loopback

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


REQUESTS = 1000
CONCURRENCY = 50


async def test_1000_requests_at_concurrency_50_are_all_recorded(shop: Path) -> None:
    flux = FluxApp(shop)
    async with serve_on_loopback(flux.app) as base:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(REQUESTS):
            queue.put_nowait(i)
        statuses: list[int] = []

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                # every fifth request is a validation error: no mutation
                body = {"name": f"user {i}"} if i % 5 == 0 else {"email": f"u{i}@x", "name": "n"}
                r = await client.post(f"{base}/create_user", json=body)
                statuses.append(r.status_code)

        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    # the lifespan has closed the writer: everything queued is on disk
    assert statuses.count(201) == 800 and statuses.count(400) == 200
    assert flux.writer.dropped == 0
    store = await flux.store()
    executions = [e async for e in store.stream(ExecutionQuery(limit=None))]
    await store.close()
    assert len(executions) == REQUESTS
    assert len({e.id for e in executions}) == REQUESTS
    inserted = {
        m.pk: m.after["email"]  # type: ignore[index]
        for e in executions
        for m in e.mutations
        if m.op == "insert" and m.table == "users"
    }
    rows = await flux.runtime.database.dump_table("users")
    await flux.runtime.stop()
    assert {r["id"]: r["email"] for r in rows} == inserted and len(rows) == 800
