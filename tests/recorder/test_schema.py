"""The recorder file's schema: indexes that only make reads faster are added by a writer to
a file that lacks them, and a file without them reads the same."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.schema import SCHEMA_VERSION
from flux_lsp.recorder.writer import open_for_writing
from tests.recorder.test_store import make
from tests.recorders import write_executions


def indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


async def test_a_file_without_the_read_indexes_reads_the_same_and_a_writer_adds_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "recorder.db"
    write_executions(path, [make("a1", started=1.0), make("a2", started=2.0, kind="replay")])
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX ix_executions_replays")  # as a Flux before the index left it
    conn.close()
    assert "ix_executions_replays" not in indexes(path)

    async with await open_store(path) as store:
        stats = await store.stats()
    assert (stats.executions, stats.replays, stats.schema_version) == (2, 1, SCHEMA_VERSION)
    assert "ix_executions_replays" not in indexes(path)  # a reader changes nothing

    open_for_writing(path).close()
    assert "ix_executions_replays" in indexes(path)
    conn = sqlite3.connect(path)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM executions WHERE kind = 'replay'"
    ).fetchall()
    conn.close()
    assert "ix_executions_replays" in str(plan)


def test_a_writer_opens_a_file_another_holds_and_leaves_the_read_indexes_for_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "recorder.db"
    write_executions(path, [make("a1", started=1.0)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("DROP INDEX ix_executions_replays")
    other.execute("BEGIN IMMEDIATE")  # another writer mid-transaction, building it perhaps
    try:
        open_for_writing(path, busy_timeout=0.05).close()  # opens: it does not need the index
        assert "ix_executions_replays" not in indexes(path)
    finally:
        other.execute("COMMIT")
        other.close()

    open_for_writing(path, busy_timeout=0.05).close()
    assert "ix_executions_replays" in indexes(path)
