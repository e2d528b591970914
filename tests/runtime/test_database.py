"""ctx.db: writes with their mutation images, RowNotFound, $1 queries, remembered migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flux_lsp.project import Project
from flux_lsp.recorder.query import MutationQuery
from flux_lsp.runtime.database import AppDatabase, DatabaseError, RowNotFound, open_database
from flux_lsp.runtime.inflight import Trace
from tests.harness import FluxApp, write_function

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL

ACTIVATE = """\
async def handler(req, ctx):
    body = await req.json()
    await ctx.db.update(
        "subscriptions", {"customer_id": body["customer_id"]}, {"status": "active"}
    )
    return {"ok": True}
"""


async def test_zero_row_update_raises_row_not_found_and_records_0_rows(shop: Path) -> None:
    write_function(shop, "activate", ACTIVATE)
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/activate", json={"customer_id": "cus_ABC"})
        assert r.status_code == 500
        assert r.json()["error"] == "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert e.error is not None and e.error.type == "RowNotFound"
    assert e.error.location is not None and e.error.location.line == 3
    [m] = e.mutations
    assert (m.table, m.op, m.rows_affected, m.pk) == ("subscriptions", "update", 0, None)
    assert m.where == {"customer_id": "cus_ABC"}
    update = next(s for s in e.spans if s.name == "db.update")
    assert update.status == "error" and update.output == {"rows_affected": 0}
    assert update.attributes["db.collection.name"] == "subscriptions"


async def test_update_and_delete_record_before_and_after(shop: Path) -> None:
    write_function(shop, "activate", ACTIVATE)
    async with FluxApp(shop) as flux:
        await flux.client.post("/confirm_email", json={"customer_id": "cus_1"})
        r = await flux.client.post("/activate", json={"customer_id": "cus_1"})
        assert r.status_code == 200
        store = await flux.store()
        e = await store.get(r.headers["x-flux-request-id"])
        history = await store.mutations(MutationQuery(table="subscriptions", pk="s_1"))
        await store.close()
    [m] = e.mutations
    assert m.before is not None and m.after is not None
    assert (m.before["status"], m.after["status"], m.rows_affected) == ("pending", "active", 1)
    assert m.changed_fields == {"status": "active"}
    assert [h.op for h in history] == ["insert", "update"]


async def test_query_placeholders_and_rows(app_database: AppDatabase, tmp_path: Path) -> None:
    db = app_database
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001.sql").write_text("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT);")
    assert await db.apply_migrations(migrations) == ["001.sql"]
    trace = Trace("0" * 16, str(tmp_path / "functions") + "/", str(tmp_path))
    await db.insert(trace, "t", {"id": 1, "a": "x", "b": 1})
    await db.insert(trace, "t", {"id": 2, "a": "y", "b": 2})
    rows, _ = await db.query(
        trace, "SELECT a, b FROM t WHERE b >= $1 AND a != $2 ORDER BY id", [1, "y"]
    )
    assert rows == [{"a": "x", "b": 1}] and rows[0].a == "x"
    assert [m.pk for m in trace.mutations] == ["1", "2"]
    # raw writes through query are still in the mutation log, with their row count
    _, affected = await db.query(trace, "UPDATE t SET b = b + 1", [])
    assert affected == 2 and trace.mutations[-1].rows_affected == 2
    with pytest.raises(DatabaseError, match="invalid table name"):
        await db.insert(trace, "t; DROP TABLE t", {"a": 1})
    with pytest.raises(DatabaseError, match="no such table"):
        await db.insert(trace, "nope", {"a": 1})
    with pytest.raises(RowNotFound):
        raise RowNotFound("t", {"a": "z"})


async def test_generated_text_ids_count_up_per_table(
    app_database: AppDatabase, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001.sql").write_text("CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT);")
    await app_database.apply_migrations(migrations)
    first = await app_database.insert(None, "users", {"email": "a@x.com"})
    second = await app_database.insert(None, "users", {"email": "b@x.com"})
    assert (first.id, second.id) == ("u_1", "u_2")


async def test_migrations_are_applied_once_and_remembered(
    app_database: AppDatabase, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_a.sql").write_text("CREATE TABLE a (id INTEGER PRIMARY KEY);")
    db = app_database
    assert await db.apply_migrations(migrations) == ["001_a.sql"]
    (migrations / "002_b.sql").write_text("CREATE TABLE b (id INTEGER PRIMARY KEY);")
    other = "postgresql" if db.dialect == "sqlite" else "sqlite"
    (migrations / f"002_c.{other}.sql").write_text("CREATE TABLE not_for_us (;")
    (migrations / f"002_c.{db.dialect}.sql").write_text("CREATE TABLE ours (id INTEGER);")
    assert await db.apply_migrations(migrations) == ["002_b.sql", f"002_c.{db.dialect}.sql"]
    assert await db.apply_migrations(migrations) == []
    (migrations / "003_bad.sql").write_text("CREATE TABLE c (id INTEGER);\nCREATE TABLE d (;")
    with pytest.raises(DatabaseError, match=r"migration 003_bad\.sql failed"):
        await db.apply_migrations(migrations)
    assert "c" not in await db.tables()
    assert "ours" in await db.tables()


async def test_migrations_run_once_when_processes_start_together(
    backend: str, tmp_path: Path
) -> None:
    """Several app databases (as several processes would) migrate at the same moment."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_a.sql").write_text("CREATE TABLE a (id INTEGER PRIMARY KEY);")
    (migrations / "002_b.sql").write_text("INSERT INTO a (id) VALUES (1);")
    databases = [open_database(Project.load(tmp_path)) for _ in range(4)]
    try:
        for db in databases:
            await db.open()
        applied = await asyncio.gather(*(db.apply_migrations(migrations) for db in databases))
        rows, _ = await databases[0].query(None, "SELECT count(*) AS n FROM a")
    finally:
        for db in databases:
            await db.close()
    assert sorted(name for names in applied for name in names) == ["001_a.sql", "002_b.sql"]
    assert rows[0]["n"] == 1
