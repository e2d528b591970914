"""ctx.db: writes with their mutation images, RowNotFound, $1 queries, remembered migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_lsp.runtime.database import AppDatabase, DatabaseError, RowNotFound
from flux_lsp.runtime.inflight import Trace
from tests.harness import FluxApp, write_function

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
        history = await store.mutations(table="subscriptions", pk="s_1")
        await store.close()
    [m] = e.mutations
    assert m.before is not None and m.after is not None
    assert (m.before["status"], m.after["status"], m.rows_affected) == ("pending", "active", 1)
    assert m.changed_fields == {"status": "active"}
    assert [h.op for h in history] == ["insert", "update"]


def test_query_placeholders_and_rows(tmp_path: Path) -> None:
    db = AppDatabase(tmp_path / "app.db")
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001.sql").write_text("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INT);")
    assert db.apply_migrations(migrations) == ["001.sql"]
    trace = Trace("0" * 16, str(tmp_path / "functions") + "/", str(tmp_path))
    db.insert(trace, "t", {"a": "x", "b": 1})
    db.insert(trace, "t", {"a": "y", "b": 2})
    rows, _ = db.query(trace, "SELECT a, b FROM t WHERE b >= $1 AND a != $2", [1, "y"])
    assert rows == [{"a": "x", "b": 1}] and rows[0].a == "x"
    assert [m.pk for m in trace.mutations] == ["1", "2"]
    # raw writes through query are still in the mutation log, with their row count
    _, affected = db.query(trace, "UPDATE t SET b = b + 1", [])
    assert affected == 2 and trace.mutations[-1].rows_affected == 2
    with pytest.raises(DatabaseError, match="invalid table name"):
        db.insert(trace, "t; DROP TABLE t", {"a": 1})
    with pytest.raises(DatabaseError, match="no such table"):
        db.insert(trace, "nope", {"a": 1})
    with pytest.raises(RowNotFound):
        raise RowNotFound("t", {"a": "z"})


def test_migrations_are_applied_once_and_remembered(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_a.sql").write_text("CREATE TABLE a (id INTEGER PRIMARY KEY);")
    db = AppDatabase(tmp_path / "app.db")
    assert db.apply_migrations(migrations) == ["001_a.sql"]
    db.close()
    (migrations / "002_b.sql").write_text("CREATE TABLE b (id INTEGER PRIMARY KEY);")
    db = AppDatabase(tmp_path / "app.db")
    assert db.apply_migrations(migrations) == ["002_b.sql"]
    assert db.apply_migrations(migrations) == []
    (migrations / "003_bad.sql").write_text("CREATE TABLE c (;")
    with pytest.raises(DatabaseError, match=r"migration 003_bad\.sql failed"):
        db.apply_migrations(migrations)
    assert "c" not in db.tables()
