"""The writer's own choices: the wire form of a record and the layout of a new recorder file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from flux_lsp.model import Execution, Span
from flux_lsp.recorder import writer
from flux_lsp.recorder.signal import signal_path
from flux_lsp.recorder.writer import (
    FRAME,
    GATHER_WRITE,
    PAGE_BYTES,
    WAL_BYTES,
    RecorderWriter,
    encode,
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
    for path, expected, vacuum in ((tmp_path / "new.db", PAGE_BYTES, 2), (old, 4096, 0)):
        conn = open_for_writing(path)
        assert conn.execute("PRAGMA page_size").fetchone()[0] == expected
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == vacuum  # 2: incremental
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        checkpoint_pages = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        assert checkpoint_pages * expected == WAL_BYTES
        conn.close()


def test_a_message_larger_than_one_gathered_write_arrives_whole(tmp_path: Path) -> None:
    records = [f"record {i}".encode() * (i % 7 + 1) for i in range(2 * GATHER_WRITE + 5)]
    path = tmp_path / "message"
    with path.open("wb") as out:
        write_message(out.fileno(), records)
    data = path.read_bytes()
    (size,) = FRAME.unpack_from(data)
    assert size == len(data) - FRAME.size
    assert split_records(data[FRAME.size :]) == records


def test_a_failure_is_handed_over_at_once_and_signalled_successes_gather(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "GATHER_SECONDS", 3600.0)  # only a failure (or flush) hands over
    path = tmp_path / "recorder.db"
    recorder = RecorderWriter(path)
    try:
        signal = signal_path(path)
        deadline = time.monotonic() + 10
        while not signal.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert int(signal.read_bytes()) == 0  # there to be watched before any commit
        ok = Execution("1a2b3c4d00000001", "http", "f", "POST", "/f", "200", 1000.0, 1.0)
        recorder.record(ok)
        time.sleep(0.5)
        assert recorder.recorded == 0  # a success waits for the gather
        failed = Execution("1a2b3c4d00000002", "http", "f", "POST", "/f", "500", 1001.0, 1.0)
        recorder.record(failed)
        deadline = time.monotonic() + 10
        while recorder.recorded < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert recorder.recorded == 2
        assert int(signal.read_bytes()) == 2  # readers were told
        conn = sqlite3.connect(path)
        ids = {r[0] for r in conn.execute("SELECT id FROM executions")}
        conn.close()
        assert ids == {ok.id, failed.id}
    finally:
        recorder.close()
