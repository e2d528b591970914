"""The sandbox holds the app data exactly as it was at the window's start."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.replay.sandbox import Sandbox
from flux_lsp.runtime.database import AppDatabase, open_database
from flux_lsp.runtime.postgres_database import PostgresDatabase
from flux_lsp.runtime.sqlite_database import SQLiteDatabase
from tests.harness import FluxApp, write_function
from tests.replay.helpers import jobs_settled

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


EDIT = """\
async def handler(req, ctx):
    await ctx.db.update("users", {"id": "u_1"}, {"name": "Renamed", "email": "new@x.com"})
    await ctx.db.delete("users", {"id": "u_2"})
    await ctx.db.insert("users", {"email": "c@x.com", "name": "C"})
    await ctx.db.update("users", {"id": "nobody"}, {"name": "x"}, missing_ok=True)
    await ctx.db.insert("subscriptions", {"customer_id": "cus_1", "status": "pending"})
    await ctx.db.update("subscriptions", {"customer_id": "cus_1"}, {"status": "active"})
    await ctx.queue.enqueue("send_onboarding_email", {"userId": "u_1"})
    return {"ok": True}
"""
RAW = """\
async def handler(req, ctx):
    await ctx.db.query(
        "INSERT INTO subscriptions (id, customer_id, status) VALUES ('s_raw', 'r', 'x')"
    )
    return {"ok": True}
"""


async def dump(database: AppDatabase) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: sorted((tuple(r.values()) for r in await database.dump_table(table)), key=repr)
        for table in ("users", "subscriptions", "email_sends", "_flux_jobs")
    }


async def live_dump(project: Project) -> dict[str, list[tuple[object, ...]]]:
    database = open_database(project)
    try:
        return await dump(database)
    finally:
        await database.close()


async def scratch_is_gone(database: AppDatabase, project: Project) -> bool:
    """The sandbox's scratch copy (a temporary file, or a scratch PostgreSQL database) is
    deleted."""
    if isinstance(database, SQLiteDatabase):
        return not database.path.exists()
    assert isinstance(database, PostgresDatabase)
    name = database.url.rsplit("/", 1)[1]
    live = open_database(project)
    try:
        rows, _ = await live.query(None, "SELECT 1 FROM pg_database WHERE datname = $1", [name])
    finally:
        await live.close()
    return rows == []


async def test_every_later_write_is_undone(shop: Path) -> None:
    write_function(shop, "edit", EDIT)
    write_function(shop, "raw", RAW)
    project = Project.load(shop)
    async with FluxApp(shop) as flux:
        for email in ("a@x.com", "b@x.com"):
            assert (
                await flux.client.post("/create_user", json={"email": email})
            ).status_code == 201
        await asyncio.sleep(0.02)
        at_start = await dump(flux.runtime.database)
        since = time.time()
        assert (await flux.client.post("/edit", json={})).status_code == 200
        assert (await flux.client.post("/raw", json={})).status_code == 200
        await jobs_settled(flux)
        flux.flush()
    live = await live_dump(project)
    assert live["users"] != at_start["users"] and live["_flux_jobs"]

    store = await SQLiteStore.open(project.recorder_path)
    try:
        sandbox = await Sandbox.create(project, store, since)
    finally:
        await store.close()
    try:
        now = await dump(sandbox.database)
        stats = sandbox.stats
    finally:
        await sandbox.close()

    assert now["users"] == at_start["users"]
    assert now["_flux_jobs"] == at_start["_flux_jobs"] == []
    # The raw-SQL insert cannot be undone: it stays, and the sandbox says so.
    assert now["subscriptions"] == [("s_raw", "r", None, "pro", "x", None, None)]
    assert now["email_sends"] == at_start["email_sends"] == []  # the job's welcome email
    # 3 user writes, 2 subscription writes, 1 email_sends row; the zero-row update is skipped.
    assert stats.undone == 6 and stats.skipped_zero_row == 1 and stats.flux_rows_removed == 1
    assert stats.warnings == [
        "1 write(s) made with raw SQL (ctx.db.query) cannot be undone; the sandbox keeps their "
        "effect"
    ]
    assert await live_dump(project) == live
    assert await scratch_is_gone(sandbox.database, project)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_no_app_database_yet_gives_an_empty_sandbox(shop: Path, tmp_path: Path) -> None:
    project = Project.load(shop)
    async with FluxApp(shop) as flux:
        flux.flush()
    project.app_db_path.unlink()
    store = await SQLiteStore.open(project.recorder_path)
    try:
        sandbox = await Sandbox.create(project, store, 0.0)
    finally:
        await store.close()
    try:
        assert await sandbox.database.tables() == []
    finally:
        await sandbox.close()
    assert not project.app_db_path.exists()
