"""The writer's own choices: the wire form of a record and the layout of a new recorder file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from flux_lsp.model import Execution, Span
from flux_lsp.recorder.writer import (
    FRAME,
    GATHER_WRITE,
    PAGE_BYTES,
    WAL_BYTES,
    encode,
    frame,
    open_for_writing,
    write_message,
)
from flux_lsp.recorder.writer_process import split_records


def test_keys_that_are_not_strings_are_recorded_as_strings() -> None:
    execution = Execution("1a2b3c4d00000000", "http", "f", "GET", "/f", "200", 1000.0, 1.0)
    execution.spans = [Span(id=0, name="function", output={1: "one", None: "none"})]
    record = orjson.loads(encode(execution))
    assert record["spans"][0]["output"] == {"1": "one", "null": "none"}


def test_a_new_recorder_has_large_pages_an_old_one_keeps_its_own_and_both_keep_a_4mb_log(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    for path, expected in ((tmp_path / "new.db", PAGE_BYTES), (old, 4096)):
        conn = open_for_writing(path)
        assert conn.execute("PRAGMA page_size").fetchone()[0] == expected
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        checkpoint_pages = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert checkpoint_pages * expected == WAL_BYTES
        conn.close()


def test_a_message_larger_than_one_gathered_write_arrives_whole(tmp_path: Path) -> None:
    records = [f"record {i}".encode() * (i % 7 + 1) for i in range(2 * GATHER_WRITE + 5)]
    path = tmp_path / "message"
    with path.open("wb") as out:
        write_message(out.fileno(), [frame(r) for r in records])
    data = path.read_bytes()
    (size,) = FRAME.unpack_from(data)
    assert size == len(data) - FRAME.size
    assert split_records(data[FRAME.size :]) == records
