"""The recorder's write side: records leave the request path at once, in another process.

`RecorderWriter.record()` serialises the execution (orjson, a few microseconds) and appends
the bytes to a bounded in-memory queue; that is all a request pays. A sender thread hands the
queue to a writer process in large framed chunks, and the writer process turns them into rows
and writes them in batches of up to `BATCH` per transaction, on the machine's other core and
away from the app's GIL. When the file is locked, read-only, removed or broken, a batch is
dropped and counted; the counts and the last problem are shared back with the app process and
written next to the recorder (`recorder-health.json`) for `flux status`.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import multiprocessing.sharedctypes
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from flux_lsp.model import Execution
from flux_lsp.recorder.schema import ensure_schema

log = logging.getLogger("flux.recorder")

BATCH = 1000
GATHER_SECONDS = 0.05
"""How long the sender waits to gather records into one hand-over (and the writer into one
transaction): fewer, larger writes and far fewer wake-ups competing with the app."""
SUMMARY_CAP = 1200
PROBLEM_CAP = 480
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
_FRAME = struct.Struct("<I")

Row = tuple[Any, ...]


def health_path(recorder_path: Path) -> Path:
    return recorder_path.with_name(recorder_path.stem + "-health.json")


def _dumps(value: object) -> str:
    """Compact JSON; dataclasses serialise natively, unknown types as str."""
    return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()


def encode(execution: Execution) -> bytes:
    """The wire form of an execution: the JSON of `Execution.to_dict()`."""
    return orjson.dumps(execution, default=str, option=_ORJSON_OPTIONS)


# -- rows ---------------------------------------------------------------------------------

INSERT_EXECUTION = "INSERT OR REPLACE INTO executions VALUES (" + ",".join("?" * 15) + ")"
INSERT_MUTATION = "INSERT OR REPLACE INTO mutations VALUES (" + ",".join("?" * 10) + ")"
INSERT_SITE = "INSERT OR REPLACE INTO call_sites VALUES (" + ",".join("?" * 9) + ")"


def _json_or_none(value: object) -> str | None:
    return None if value is None else _dumps(value)


def _site_summary(span: dict[str, Any]) -> str:
    text = _dumps(
        {"output": span["output"], "error": span["error"], "attributes": span["attributes"]}
    )
    if len(text) > SUMMARY_CAP:
        output = _dumps(span["output"])[:SUMMARY_CAP] + "…"
        text = _dumps({"output": output, "error": span["error"], "attributes": {}})
    return text


def record_rows(record: dict[str, Any]) -> tuple[Row, list[Row], list[Row]]:
    """The rows one execution (in its `to_dict()` form) becomes: execution, mutations, sites."""
    mutations = record.pop("mutations", None) or []
    error = record.get("error")
    loc = error.get("location") if error else None
    eid = record["id"]
    started = record["started_at"]
    exec_row: Row = (
        eid,
        record["kind"],
        record["function"],
        record["method"],
        record["path"],
        record["status"],
        started,
        record["duration_ms"],
        record.get("code_version") or "",
        record.get("parent_id"),
        error["type"] if error else None,
        error["message"] if error else None,
        loc["file"] if loc else None,
        loc["line"] if loc else None,
        _dumps(record),
    )
    mutation_rows: list[Row] = [
        (
            eid,
            m["seq"],
            m["table"],
            m["op"],
            m["pk"],
            m["rows_affected"],
            m["at"],
            _json_or_none(m["before"]),
            _json_or_none(m["after"]),
            _json_or_none(m.get("where")),
        )
        for m in mutations
    ]
    site_rows: list[Row] = [
        (
            eid,
            s["id"],
            s["file"],
            s["line"],
            s["name"],
            started + s["start_ms"] / 1000.0,
            s["duration_ms"],
            s["status"],
            _site_summary(s),
        )
        for s in record.get("spans") or []
        if s.get("file") is not None and s.get("line") is not None and s["name"] != "function"
    ]
    return exec_row, mutation_rows, site_rows


def write_records(conn: sqlite3.Connection, records: Iterable[dict[str, Any]]) -> int:
    """Write executions (as `to_dict()` dicts) in one transaction; return how many."""
    execs: list[Row] = []
    muts: list[Row] = []
    sites: list[Row] = []
    for record in records:
        row, m, s = record_rows(record)
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
    return len(execs)


def write_batch(conn: sqlite3.Connection, batch: Iterable[Execution]) -> int:
    """Write `Execution` objects in one transaction (for tools, tests and benchmarks)."""
    return write_records(conn, (orjson.loads(encode(e)) for e in batch))


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


# -- the writer process -------------------------------------------------------------------

_PROCESSED, _RECORDED, _DROPPED = 0, 1, 2


class _FileWriter:
    """Runs in the writer process: owns the connection, the counters and the health file."""

    def __init__(
        self,
        path: Path,
        busy_timeout: float,
        counters: Any,
        problem: Any,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.counters = counters
        self.problem = problem
        self.conn: sqlite3.Connection | None = None
        self.inode: tuple[int, int] | None = None
        self.health_written_at = 0.0
        self.open()

    def set_problem(self, message: str) -> None:
        encoded = message.encode()[:PROBLEM_CAP]
        if self.problem.value != encoded:
            self.problem.value = encoded
            log.warning("%s", message)

    def open(self) -> None:
        try:
            self.conn = open_for_writing(self.path, self.busy_timeout)
            st = os.stat(self.path)
            self.inode = (st.st_dev, st.st_ino)
        except Exception as exc:  # any failure to open: recording continues to be attempted
            self.conn = None
            self.set_problem(f"cannot open recorder {self.path}: {exc}")

    def file_still_ours(self) -> bool:
        """False when the recorder file was deleted; reopens when it was replaced."""
        try:
            st = os.stat(self.path)
        except OSError:
            self.set_problem(f"recorder file {self.path} was removed; records are being dropped")
            return False
        if (st.st_dev, st.st_ino) != self.inode:
            if self.conn is not None:
                self.conn.close()
            self.open()
            return self.conn is not None
        return True

    def write(self, frames: list[bytes]) -> None:
        if self.conn is None:
            self.open()
        if self.conn is None or not self.file_still_ours():
            self.counters[_DROPPED] += len(frames)
        else:
            try:
                assert self.conn is not None
                written = write_records(self.conn, (orjson.loads(f) for f in frames))
                self.counters[_RECORDED] += written
            except Exception as exc:  # locked, read-only, disk full, corrupt: drop and count
                self.counters[_DROPPED] += len(frames)
                self.set_problem(
                    f"recorder write failed ({type(exc).__name__}: {exc}); records dropped"
                )
        self.counters[_PROCESSED] += len(frames)
        self.write_health()

    def write_health(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.health_written_at < 1.0:
            return
        self.health_written_at = now
        data = {
            "pid": os.getpid(),
            "updated_at": now,
            "recorded": self.counters[_RECORDED],
            "dropped": self.counters[_DROPPED],
            "problem": self.problem.value.decode(errors="replace") or None,
        }
        target = health_path(self.path)
        try:
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(orjson.dumps(data))
            os.replace(tmp, target)
        except OSError:
            pass  # the folder itself may be gone; the counters are still shared and logged


def _frames(message: bytes) -> list[bytes]:
    """Split one hand-over message into its records (each prefixed with its length)."""
    frames: list[bytes] = []
    view = memoryview(message)
    offset = 0
    while offset < len(view):
        (size,) = _FRAME.unpack_from(view, offset)
        offset += _FRAME.size
        frames.append(bytes(view[offset : offset + size]))
        offset += size
    return frames


def writer_process_main(
    path: str, busy_timeout: float, reader: Any, counters: Any, problem: Any
) -> None:
    """Entry point of the writer process: write what arrives until the app closes the pipe."""
    writer = _FileWriter(Path(path), busy_timeout, counters, problem)
    while True:
        try:
            message = reader.recv_bytes()
        except (EOFError, OSError):
            break
        frames = _frames(message)
        for start in range(0, len(frames), BATCH):
            writer.write(frames[start : start + BATCH])
    writer.write_health(force=True)
    if writer.conn is not None:
        writer.conn.close()


# -- the app side -------------------------------------------------------------------------


class RecorderWriter:
    """The runtime's `Recorder` backed by a SQLite recorder file written by another process."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        queue_size: int = 10_000,
        busy_timeout: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.queue_size = queue_size
        self._pending: collections.deque[bytes] = collections.deque()
        self._enqueued = 0
        self._local_dropped = 0
        self._local_problem: str | None = None
        context = multiprocessing.get_context("spawn")
        self._counters = context.Array("q", 3, lock=False)
        self._problem = context.Array("c", PROBLEM_CAP + 16, lock=False)
        self._context = context
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Any = None
        self._closing = threading.Event()
        try:  # create the file and its schema now, so readers find it from the start
            open_for_writing(self.path, busy_timeout).close()
        except Exception as exc:  # the writer process retries and reports the same problem
            self._local_problem = f"cannot open recorder {self.path}: {exc}"
        self._start_process()
        self._sender = threading.Thread(target=self._send_loop, name="flux-recorder", daemon=True)
        self._sender.start()

    # -- the request path: serialise and append, nothing else ---------------------------

    def record(self, execution: Execution) -> None:
        if len(self._pending) >= self.queue_size:
            self._local_dropped += 1
            self._local_problem = "recorder queue full: records dropped while the writer catches up"
            return
        self._pending.append(encode(execution))
        self._enqueued += 1

    # -- counters --------------------------------------------------------------------------

    @property
    def recorded(self) -> int:
        return int(self._counters[_RECORDED])

    @property
    def dropped(self) -> int:
        return int(self._counters[_DROPPED]) + self._local_dropped

    @property
    def last_problem(self) -> str | None:
        shared = bytes(self._problem.value).decode(errors="replace")
        return shared or self._local_problem

    # -- the sender thread -----------------------------------------------------------------

    def _start_process(self) -> None:
        reader, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=writer_process_main,
            args=(str(self.path), self.busy_timeout, reader, self._counters, self._problem),
            name="flux-recorder-writer",
            daemon=True,
        )
        process.start()
        reader.close()
        self._process = process
        self._pipe = sender

    def _take(self) -> list[bytes]:
        frames: list[bytes] = []
        pending = self._pending
        while pending and len(frames) < BATCH:
            frames.append(pending.popleft())
        return frames

    def _send(self, frames: list[bytes]) -> None:
        parts: list[bytes] = []
        for frame in frames:
            parts.append(_FRAME.pack(len(frame)))
            parts.append(frame)
        try:
            self._pipe.send_bytes(b"".join(parts))
        except OSError as exc:  # the writer process died: count the loss and start another
            self._counters[_DROPPED] += len(frames)
            self._counters[_PROCESSED] += len(frames)
            self._local_problem = f"recorder writer process stopped ({exc}); restarted"
            self._pipe.close()
            self._start_process()

    def _send_loop(self) -> None:
        while True:
            closing = self._closing.wait(GATHER_SECONDS)
            while True:
                frames = self._take()
                if not frames:
                    break
                self._send(frames)
            if closing:
                return

    # -- control -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        target = self._enqueued
        while self._counters[_PROCESSED] < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self._sender.join(timeout=10)
        self._pipe.close()
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
