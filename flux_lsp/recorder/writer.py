"""The recorder's write side: a bounded queue drained by a batching writer thread.

`RecorderWriter.record()` only appends to a bounded queue, so a request never waits on the
recorder. A background thread takes up to `BATCH` records at a time, serialises them and
writes them in one transaction. When the file is locked, read-only, removed or broken, the
batch is dropped and counted; the count and the last problem are written next to the recorder
(`recorder-health.json`) for `flux status`, and the writer keeps trying with later batches.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from flux_lsp.model import Execution, Span
from flux_lsp.recorder.schema import ensure_schema

log = logging.getLogger("flux.recorder")

BATCH = 256
SUMMARY_CAP = 300
_STOP = object()


def health_path(recorder_path: Path) -> Path:
    return recorder_path.with_name(recorder_path.stem + "-health.json")


def _dumps(value: object) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


Row = tuple[Any, ...]


def execution_rows(e: Execution) -> tuple[Row, list[Row], list[Row]]:
    """The rows one execution becomes: (executions row, mutation rows, call-site rows)."""
    record = e.to_dict()
    del record["mutations"]
    loc = e.error.location if e.error else None
    exec_row: Row = (
        e.id,
        e.kind,
        e.function,
        e.method,
        e.path,
        e.status,
        e.started_at,
        e.duration_ms,
        e.code_version,
        e.parent_id,
        e.error.type if e.error else None,
        e.error.message if e.error else None,
        loc.file if loc else None,
        loc.line if loc else None,
        _dumps(record),
    )
    mutation_rows: list[Row] = [
        (
            e.id,
            m.seq,
            m.table,
            m.op,
            m.pk,
            m.rows_affected,
            m.at,
            _dumps(m.before) if m.before is not None else None,
            _dumps(m.after) if m.after is not None else None,
            _dumps(m.where) if m.where is not None else None,
        )
        for m in e.mutations
    ]
    site_rows: list[Row] = [
        (
            e.id,
            s.id,
            s.file,
            s.line,
            s.name,
            e.started_at + s.start_ms / 1000.0,
            s.duration_ms,
            s.status,
            _span_summary(s),
        )
        for s in e.spans
        if s.file is not None and s.line is not None and s.name != "function"
    ]
    return exec_row, mutation_rows, site_rows


def _span_summary(span: Span) -> str:
    text = _dumps({"output": span.output, "error": span.error, "attributes": span.attributes})
    return text if len(text) <= SUMMARY_CAP * 4 else text[: SUMMARY_CAP * 4]


INSERT_EXECUTION = "INSERT OR REPLACE INTO executions VALUES (" + ",".join("?" * 15) + ")"
INSERT_MUTATION = "INSERT OR REPLACE INTO mutations VALUES (" + ",".join("?" * 10) + ")"
INSERT_SITE = "INSERT OR REPLACE INTO call_sites VALUES (" + ",".join("?" * 9) + ")"


def write_batch(conn: sqlite3.Connection, batch: list[Execution]) -> None:
    """Write executions in one transaction (used by the writer thread and by tools)."""
    execs: list[Row] = []
    muts: list[Row] = []
    sites: list[Row] = []
    for e in batch:
        row, m, s = execution_rows(e)
        execs.append(row)
        muts.extend(m)
        sites.extend(s)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(INSERT_EXECUTION, execs)
        if muts:
            conn.executemany(INSERT_MUTATION, muts)
        if sites:
            conn.executemany(INSERT_SITE, sites)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def open_for_writing(path: Path, busy_timeout: float = 1.0) -> sqlite3.Connection:
    """Open (creating if needed) a recorder file with its schema, in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    ensure_schema(conn)
    return conn


class RecorderWriter:
    """The runtime's `Recorder` backed by a SQLite recorder file."""

    def __init__(
        self, path: str | os.PathLike[str], queue_size: int = 10_000, busy_timeout: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self.recorded = 0
        self.dropped = 0
        self.last_problem: str | None = None
        self._health_written_at = 0.0
        self._health_dirty = True
        self._conn: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._enqueued = 0
        self._processed = 0
        self._open()
        self._thread = threading.Thread(target=self._run, name="flux-recorder", daemon=True)
        self._thread.start()

    # -- the request path ----------------------------------------------------------------

    def record(self, execution: Execution) -> None:
        try:
            self._queue.put_nowait(execution)
            self._enqueued += 1
        except queue.Full:
            self.dropped += 1
            self._problem("recorder queue full: records dropped while the writer catches up")

    # -- the writer thread ---------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._conn = open_for_writing(self.path, self.busy_timeout)
            st = os.stat(self.path)
            self._inode = (st.st_dev, st.st_ino)
        except (sqlite3.Error, OSError, Exception) as exc:
            self._conn = None
            self._problem(f"cannot open recorder {self.path}: {exc}")

    def _file_still_ours(self) -> bool:
        """False when the recorder file was deleted or replaced under us."""
        try:
            st = os.stat(self.path)
        except OSError:
            self._problem(f"recorder file {self.path} was removed; records are being dropped")
            return False
        if (st.st_dev, st.st_ino) != self._inode:
            if self._conn is not None:
                self._conn.close()
            self._open()
            return self._conn is not None
        return True

    def _problem(self, message: str) -> None:
        if message != self.last_problem:
            log.warning("%s", message)
        self.last_problem = message
        self._health_dirty = True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[Execution] = []
            stop = item is _STOP
            if not stop:
                batch.append(item)  # type: ignore[arg-type]
            while len(batch) < BATCH and not stop:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                else:
                    batch.append(nxt)  # type: ignore[arg-type]
            if batch:
                self._write(batch)
                self._processed += len(batch)
            self._write_health(force=stop)
            if stop:
                if self._conn is not None:
                    self._conn.close()
                return

    def _write(self, batch: list[Execution]) -> None:
        if self._conn is None:
            self._open()
        if self._conn is None or not self._file_still_ours():
            self.dropped += len(batch)
            self._health_dirty = True
            return
        try:
            write_batch(self._conn, batch)
            self.recorded += len(batch)
            self._health_dirty = True
        except Exception as exc:  # locked, read-only, disk full, corrupt: drop and count
            self.dropped += len(batch)
            self._problem(f"recorder write failed ({type(exc).__name__}: {exc}); records dropped")

    def _write_health(self, force: bool = False) -> None:
        now = time.time()
        if not self._health_dirty or (not force and now - self._health_written_at < 1.0):
            return
        self._health_written_at = now
        self._health_dirty = False
        data = {
            "pid": os.getpid(),
            "updated_at": now,
            "recorded": self.recorded,
            "dropped": self.dropped,
            "problem": self.last_problem,
        }
        target = health_path(self.path)
        try:
            tmp = target.with_name(f"{target.name}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, target)
        except OSError:
            pass  # the folder itself may be gone; the counters stay in memory and in the log

    # -- control -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        target = self._enqueued
        while self._processed < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        self._write_health(force=True)
        return True

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)
