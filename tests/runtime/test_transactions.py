"""`ctx.db.transaction()`: all the writes or none, recorded as committed or rolled back; and a
database lock held elsewhere delays only the requests that use the database (503 after the
bounded wait), on both backends."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from flux_lsp.project import Project
from flux_lsp.runtime.database import open_database
from tests.harness import FluxApp, write_function
from tests.serve.helpers import ServeProcess

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL

PAIR = """\
import asyncio


async def handler(req, ctx):
    body = await req.json()
    async with ctx.db.transaction():
        await ctx.db.insert("left_side", {"k": body["k"]})
        await asyncio.sleep(body.get("pause", 0))
        if body.get("fail"):
            raise RuntimeError("changed my mind")
        await ctx.db.insert("right_side", {"k": body["k"]})
    return {"ok": True}
"""
PAIR_SCHEMA = (
    "CREATE TABLE left_side (id TEXT PRIMARY KEY, k TEXT NOT NULL);\n"
    "CREATE TABLE right_side (id TEXT PRIMARY KEY, k TEXT NOT NULL);\n"
)
PING = "async def handler(req, ctx):\n    return {'pong': True}\n"
TOUCH = (
    "async def handler(req, ctx):\n"
    "    await ctx.db.insert('users', {'email': 'x@y.z'})\n"
    "    return {'ok': True}\n"
)


def pair_project(shop: Path) -> None:
    write_function(shop, "pair", PAIR)
    (shop / "migrations" / "900_pair.sql").write_text(PAIR_SCHEMA)


async def keys(project: Path, table: str) -> list[str]:
    database = open_database(Project.load(project))
    try:
        rows, _ = await database.query(None, f"SELECT k FROM {table}")
    finally:
        await database.close()
    return sorted(str(r["k"]) for r in rows)


async def test_commit_records_both_writes_and_rollback_records_none(shop: Path) -> None:
    pair_project(shop)
    async with FluxApp(shop) as flux:
        ok = await flux.client.post("/pair", json={"k": "a", "pause": 0.01})
        bad = await flux.client.post("/pair", json={"k": "b", "fail": True})
        assert (ok.status_code, bad.status_code) == (200, 500)
        committed, rolled_back = await flux.recorded(
            ok.headers["x-flux-request-id"], bad.headers["x-flux-request-id"]
        )
    assert await keys(shop, "left_side") == ["a"] and await keys(shop, "right_side") == ["a"]
    assert [(m.table, m.op, m.seq) for m in committed.mutations] == [
        ("left_side", "insert", 0),
        ("right_side", "insert", 1),
    ]
    span = next(s for s in committed.spans if s.name == "db.transaction")
    assert span.attributes["db.transaction.outcome"] == "committed"
    assert rolled_back.mutations == []  # the insert never happened
    span = next(s for s in rolled_back.spans if s.name == "db.transaction")
    assert span.attributes["db.transaction.outcome"] == "rolled_back"
    assert span.output == {"outcome": "rolled_back", "writes_undone": 1}
    insert = next(s for s in rolled_back.spans if s.name == "db.insert")
    assert insert.parent == span.id


async def test_concurrent_transactions_each_apply_whole(shop: Path) -> None:
    pair_project(shop)
    async with FluxApp(shop) as flux:
        replies = await asyncio.gather(
            *(
                flux.client.post("/pair", json={"k": f"k{i}", "pause": 0.005, "fail": i % 3 == 0})
                for i in range(30)
            )
        )
    assert [r.status_code for r in replies].count(200) == 20
    expected = sorted(f"k{i}" for i in range(30) if i % 3)
    assert await keys(shop, "left_side") == expected == await keys(shop, "right_side")


async def test_sigkill_between_two_writes_leaves_no_half_applied_request(shop: Path) -> None:
    pair_project(shop)
    acknowledged: list[str] = []
    with ServeProcess(shop, token=None) as server:
        assert server.process is not None

        async def client(worker: int) -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                for n in range(10_000):
                    key = f"w{worker}-{n}"
                    try:
                        r = await http.post("/pair", json={"k": key, "pause": 0.002})
                    except httpx.HTTPError:
                        return
                    if r.status_code == 200:
                        acknowledged.append(key)

        clients = [asyncio.create_task(client(w)) for w in range(8)]
        while len(acknowledged) < 150:
            await asyncio.sleep(0.01)
        server.process.send_signal(signal.SIGKILL)
        await asyncio.gather(*clients)
    left, right = await keys(shop, "left_side"), await keys(shop, "right_side")
    assert left == right
    assert set(acknowledged) <= set(left)


LOCKER = """\
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO users (id, email) VALUES ('held', 'held@x')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


async def test_a_lock_held_elsewhere_delays_only_database_requests(
    shop: Path, backend: str
) -> None:

    write_function(shop, "ping", PING)
    write_function(shop, "touch", TOUCH)
    (shop / "flux.toml").write_text(
        (shop / "flux.toml").read_text() + "\n[database]\nbusy_timeout = 1.0\n"
    )
    async with FluxApp(shop) as flux:
        holder: subprocess.Popen[str] | None = None
        pg: psycopg.Connection[tuple[object, ...]] | None = None
        if backend == "sqlite":  # another process holds the write lock for 10 s
            holder = subprocess.Popen(
                [sys.executable, "-c", LOCKER, str(flux.project.app_db_path), "10"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        else:  # another session holds the users table
            pg = psycopg.connect(str(flux.project.settings.database.url))
            pg.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        try:
            t0 = time.perf_counter()
            blocked = asyncio.create_task(flux.client.post("/touch", json={}))
            await asyncio.sleep(0.05)
            t1 = time.perf_counter()
            ping = await flux.client.post("/ping", json={})
            ping_ms = (time.perf_counter() - t1) * 1000
            busy = await blocked
            waited = time.perf_counter() - t0
        finally:
            if holder is not None:
                holder.kill()
                holder.wait()
            if pg is not None:
                pg.close()
    assert ping.status_code == 200 and ping_ms < 100
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert "locked" in busy.json()["error"]
    assert 0.9 < waited < 5
