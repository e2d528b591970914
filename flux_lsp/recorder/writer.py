"""The recorder's write side: records leave the request path at once, for another process.

`RecorderWriter.record()` serialises the execution (orjson) and appends the bytes to a bounded
in-memory queue; that is all a request pays (in a running app, 20–30 µs: about 2% of what the
request costs, the encoding half of it). A sender thread hands the queue in large framed
messages to the writer process (`writer_process.py`, started as
`python -m flux_lsp.recorder.writer_process`), which turns them into rows and writes them in
batches, on the machine's other core and away from the app's GIL. The writer process answers
each message with its running counts (recorded, dropped, the last problem), so the app always
knows what was lost; when the file is locked, read-only, removed or broken, records are dropped
and counted, never waited for. This module also holds the row layout shared with tools.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from flux_lsp.model import Execution
from flux_lsp.project import Project, is_database_url
from flux_lsp.recorder.retention import RetentionPolicy
from flux_lsp.recorder.schema import ensure_schema

if TYPE_CHECKING:
    from flux_lsp.recorder.export import ExportTarget

if sys.platform != "win32":
    import fcntl

BATCH = 1000
"""The most records the writer process puts in one transaction."""
GATHER_SECONDS = 0.25
"""How long the sender lets records gather before handing them over (unless `flush()` asks
sooner, or a failed execution arrives: a failure is handed over at once, as the editor and
`flux tail` wait for it): every hand-over costs the app's thread a turn of the GIL, so there
are few of them."""
HANDOFF_RECORDS = 400
"""A hand-over starts early once this many records wait: it bounds the message (about 1 MB)."""
GATHER_WRITE = 1024
"""The most buffers one `os.writev` call is given (the usual IOV_MAX)."""
PIPE_BYTES = 1 << 20
"""The pipe to the writer process is widened to this, so a hand-over is one unblocked write."""
PAGE_BYTES = 16384
"""The page size of a new recorder file. A record (a few kB) took a 4 kB page of its own, so
the file was half empty and every record cost a page in the WAL and again at checkpoint; with
16 kB pages several records share one, and the writer spends a fifth less time per record."""
WAL_BYTES = 4 << 20
"""The write-ahead log is copied into the file once it holds about this much (SQLite's
default of 1,000 pages, at 4 kB pages), whatever the file's page size."""
SUMMARY_CAP = 1200
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
FRAME = struct.Struct("<I")
"""Every record in a message, and every message on the pipe, is prefixed with its length."""
RESTART_SECONDS = 5.0
PRUNE_SECONDS = 300.0
"""How often the writer process applies the retention policy."""
QUEUE_FULL = "recorder queue full: records dropped while the writer catches up"

Row = tuple[Any, ...]


def health_path(recorder_path: Path) -> Path:
    return recorder_path.with_name(recorder_path.stem + "-health.json")


HEALTH_BYTES = 4096
"""Health files are written in place, padded to this size: once a file has its page, a full
disk cannot stop it from being rewritten (a write-and-rename would need a new one)."""


def app_health_path(health: Path) -> Path:
    """The app side's counts, beside the writer's health file (`recorder-health.app.json`):
    each file has one writer, so neither overwrites the other's counts."""
    return health.with_suffix(".app.json")


def write_health_file(path: Path, data: dict[str, Any]) -> str | None:
    """Overwrite a health file in place; the problem (one line) when it cannot be written."""
    body = orjson.dumps(data, default=str)
    body = body.ljust(HEALTH_BYTES) if len(body) < HEALTH_BYTES else body
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, body)
            if len(body) > HEALTH_BYTES:
                os.ftruncate(fd, len(body))
        finally:
            os.close(fd)
    except OSError as exc:
        return f"cannot write the health file {path}: {exc.strerror or exc}"
    return None


def read_health_file(path: Path) -> dict[str, Any] | None:
    """A health file's counts, or None when there is none (or it cannot be read)."""
    for _ in range(3):  # a read that met a rewrite half way is read again
        try:
            data = orjson.loads(path.read_bytes())
        except OSError:
            return None
        except orjson.JSONDecodeError:
            continue
        return data if isinstance(data, dict) else None
    return None


def process_alive(pid: int) -> bool:
    """Whether a process with this id still runs (True when that cannot be told)."""
    if sys.platform == "win32" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def unfinished_run_lost(app: dict[str, Any]) -> int:
    """Records an app run left queued when it was killed (its file was never closed and its
    process is gone), estimated: what it had enqueued but not handed to the writer when it
    last wrote its counts, and as many again as arrived in the hand-off before (`recent`),
    for the records that came after (the counts are written after every hand-off)."""
    if app.get("closed", True) or process_alive(int(app.get("pid") or 0)):
        return 0
    queued = int(app.get("enqueued") or 0) - int(app.get("handed_off") or 0)
    return max(0, queued) + int(app.get("recent") or 0)


def _dumps(value: object) -> str:
    """Compact JSON; dataclasses serialise natively, unknown types as str."""
    return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()


def encode(execution: Execution) -> bytes:
    """The wire form of an execution: the JSON of `encode.to_json(execution)`.

    Keys that are not strings (a user's `{1: ...}` passing through a span) become strings;
    orjson's option for that costs a fifth of the encoding, so it is used only for the
    records that need it.
    """
    try:
        return orjson.dumps(execution, default=str)
    except orjson.JSONEncodeError:
        return orjson.dumps(execution, default=str, option=_ORJSON_OPTIONS)


# -- rows ---------------------------------------------------------------------------------

INSERT_EXECUTION = "INSERT OR REPLACE INTO executions VALUES (" + ",".join("?" * 15) + ")"
INSERT_MUTATION = "INSERT INTO mutations VALUES (" + ",".join("?" * 10) + ")"
INSERT_SITE = "INSERT INTO call_sites VALUES (" + ",".join("?" * 9) + ")"


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


def record_rows(wire: bytes) -> tuple[Row, list[Row], list[Row]]:
    """The rows one execution (in its wire form) becomes: execution, mutations, sites.

    The execution row keeps the wire form itself as its record, mutations included: the
    writer reads a record once and never encodes it again.
    """
    record: dict[str, Any] = orjson.loads(wire)
    mutations = record.get("mutations") or []
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
        wire.decode(),
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


def write_records(conn: sqlite3.Connection, records: Iterable[bytes]) -> int:
    """Write executions (in their wire form) in one transaction; return how many."""
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
        _forget_rewritten(conn, [row[0] for row in execs])
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


def _forget_rewritten(conn: sqlite3.Connection, ids: list[str]) -> None:
    """An execution written again replaces its old rows: drop the old mutations and sites.

    Nothing in Flux writes an execution twice, so this is one probe of the id index per
    record; the deletes (which scan, as those tables are not indexed by execution) are rare.
    """
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        again = [
            r[0] for r in conn.execute(f"SELECT id FROM executions WHERE id IN ({marks})", chunk)
        ]
        if again:
            marks = ",".join("?" * len(again))
            conn.execute(f"DELETE FROM mutations WHERE execution_id IN ({marks})", again)
            conn.execute(f"DELETE FROM call_sites WHERE execution_id IN ({marks})", again)


def write_batch(conn: sqlite3.Connection, batch: Iterable[Execution]) -> int:
    """Write `Execution` objects in one transaction (for tools, tests and benchmarks)."""
    return write_records(conn, (encode(e) for e in batch))


def open_for_writing(path: Path, busy_timeout: float = 1.0) -> sqlite3.Connection:
    """Open (creating if needed) a recorder file with its schema, in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout
    )
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:  # a new file: its layout
        conn.execute(f"PRAGMA page_size={PAGE_BYTES}")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # pruning gives pages back
        # (on a file that exists, setting it would wait for the write lock, for nothing)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute(f"PRAGMA wal_autocheckpoint={max(1, WAL_BYTES // page)}")
    ensure_schema(conn)
    return conn


# -- the app side -------------------------------------------------------------------------


def write_message(fd: int, records: list[bytes]) -> None:
    """Write one message: its length, then each record prefixed with its length, gathered
    from where they lie.

    Joining a hand-off's records into one buffer first cost the app more than the write
    itself (a megabyte of fresh memory, faulted in page by page); `os.writev` sends the
    records as they are, `GATHER_WRITE` buffers per call. The length prefixes are made here,
    on the sender's thread: prefixing each record as it was queued copied it once more on
    the request path, a tenth of what `record()` cost a request.
    """
    pack = FRAME.pack
    buffers = [pack(sum(map(len, records)) + FRAME.size * len(records))]
    for record in records:
        buffers += (pack(len(record)), record)
    if not hasattr(os, "writev"):  # Windows
        _write_all(fd, b"".join(buffers))
        return
    for start in range(0, len(buffers), GATHER_WRITE):
        chunk = buffers[start : start + GATHER_WRITE]
        written = os.writev(fd, chunk)
        if written < sum(map(len, chunk)):  # a signal cut the write short: finish it plainly
            _write_all(fd, b"".join(chunk)[written:])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class RecorderWriter:
    """The runtime's `Recorder` backed by a recorder (a SQLite file or a PostgreSQL URL)
    written by another process.

    `health` is the writer's health file (by default beside a recorder file; a PostgreSQL
    recorder needs one given). With a `policy`, the writer process prunes the recorder to it
    every `prune_seconds`.
    """

    def __init__(
        self,
        location: str | os.PathLike[str],
        queue_size: int = 10_000,
        busy_timeout: float = 1.0,
        *,
        health: Path | None = None,
        policy: RetentionPolicy | None = None,
        prune_seconds: float = PRUNE_SECONDS,
        export: ExportTarget | None = None,
    ) -> None:
        self.location = str(location)
        self.database = is_database_url(self.location)
        self.path = Path(self.location) if not self.database else None
        if health is None:
            if self.path is None:
                raise ValueError("a PostgreSQL recorder's writer needs a health file")
            health = health_path(self.path)
        self.health = health
        self.policy = policy
        self.prune_seconds = prune_seconds
        self.export = export
        """Where the writer process exports spans (OTLP/HTTP); None: no export."""
        self.busy_timeout = busy_timeout
        self.queue_size = queue_size
        self.restart_seconds = RESTART_SECONDS
        """How long to wait before starting a new writer process after one stopped."""
        self._pending: list[bytes] = []
        """Encoded records waiting for the sender; it takes the whole list at once."""
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._enqueued = 0
        self._sent = 0
        self._lost = 0
        """Records dropped on this side: queue full, or no writer process to take them."""
        self._lost_problem: str | None = None
        self._no_writer = 0
        """Records handed to no writer process (none was running): dropped, counted exactly."""
        self._killed_lost = 0
        """Records handed to a writer process that stopped before saying it processed them:
        an estimate (it may have written some before it died)."""
        self._app_health = app_health_path(self.health)
        self._carried = self._carry_previous_run()
        self._persisted: tuple[int, ...] = ()
        self._persisted_at = 0.0
        self._acked = {"processed": 0, "recorded": 0, "dropped": 0, "problem": None}
        self._base = {"processed": 0, "recorded": 0, "dropped": 0}
        """Counts of earlier writer processes, when one had to be restarted."""
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._started_at = 0.0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        # Both health files take their space before the recorder does: on a disk that the
        # recorder fills, they can still be rewritten in place, and say so.
        self._persist(force=True)
        if read_health_file(self.health) is None:
            write_health_file(self.health, {"pid": 0, "updated_at": time.time()})
        try:  # create the file and its schema now, so readers find it from the start
            if self.path is not None:
                open_for_writing(self.path, busy_timeout).close()
        except Exception as exc:  # the writer process retries and reports the same problem
            self._lost_problem = f"cannot open recorder {self.path}: {exc}"
        self._start_process()
        self._sender = threading.Thread(target=self._send_loop, name="flux-recorder", daemon=True)
        self._sender.start()

    # -- the request path: serialise and append, nothing else ---------------------------

    def record(self, execution: Execution) -> None:
        data = encode(execution)
        with self._pending_lock:
            waiting = len(self._pending)
            if waiting >= self.queue_size:
                self._lost += 1
                self._lost_problem = QUEUE_FULL
                return
            self._pending.append(data)
            self._enqueued += 1
        if waiting + 1 == HANDOFF_RECORDS or execution.failed:
            self._wake.set()  # a failure is handed over at once: someone is waiting for it

    # -- counters --------------------------------------------------------------------------

    def _count(self, key: str) -> int:
        with self._lock:
            return int(self._base[key]) + int(self._acked[key] or 0)

    @property
    def recorded(self) -> int:
        return self._count("recorded")

    @property
    def dropped(self) -> int:
        return self._count("dropped") + self._lost

    @property
    def export_counts(self) -> dict[str, Any] | None:
        """The exporter's `endpoint`, `exported` and `dropped` spans and `problem`, when
        exporting (the counts of the current writer process)."""
        with self._lock:
            counts = self._acked.get("export")
        return dict(counts) if isinstance(counts, dict) else None

    @property
    def last_problem(self) -> str | None:
        with self._lock:
            problem = self._acked["problem"]
        return str(problem) if problem else self._lost_problem

    # -- the app side's counts, persisted by the sender thread --------------------------

    def _carry_previous_run(self) -> dict[str, int]:
        """The drop counts of earlier runs of the app (from its file), which `flux status`
        keeps showing; a run that was killed adds what it left queued, as an estimate."""
        previous = read_health_file(self._app_health) or {}
        return {
            "lost": int(previous.get("lost") or 0),
            "lost_writer_killed": int(previous.get("lost_writer_killed") or 0),
            "lost_app_killed": int(previous.get("lost_app_killed") or 0)
            + unfinished_run_lost(previous),
        }

    def _persist(self, *, force: bool = False, closed: bool = False) -> None:
        """Write the app side's counts for `flux status`: after each hand-off while records
        arrive (a few times a second), at once when a drop was counted, else once a second.
        Called by the sender thread (and at start and close), never by a request."""
        with self._lock:
            writer_health = self._acked.get("health_problem")
        enqueued = self._enqueued
        state = (enqueued, self._lost, self._no_writer, self._killed_lost, hash(writer_health))
        now = time.time()
        if not force and state == self._persisted and now - self._persisted_at < 1.0:
            return
        recent = enqueued - (self._persisted[0] if self._persisted else 0)
        self._persisted, self._persisted_at = state, now
        data = {
            "pid": os.getpid(),
            "updated_at": now,
            "closed": closed,
            "enqueued": enqueued,
            "handed_off": self._sent,
            "recent": recent,
            "lost": self._carried["lost"] + self._lost + self._no_writer,
            "lost_writer_killed": self._carried["lost_writer_killed"] + self._killed_lost,
            "lost_app_killed": self._carried["lost_app_killed"],
            "problem": self._lost_problem,
            "writer_health_problem": writer_health,
        }
        problem = write_health_file(self._app_health, data)
        if problem is not None and problem != self._lost_problem:
            self._lost_problem = problem

    # -- the writer process ----------------------------------------------------------------

    def _start_process(self) -> None:
        self._started_at = time.monotonic()
        config = {
            "location": self.location,
            "health": str(self.health),
            "busy_timeout": self.busy_timeout,
            "policy": self.policy.to_json() if self.policy is not None else None,
            "prune_seconds": self.prune_seconds,
            "export": self.export,
        }
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "flux_lsp.recorder.writer_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                env={**os.environ, "FLUX_WRITER_CONFIG": orjson.dumps(config).decode()},
            )
        except OSError as exc:
            self._process = None
            self._lost_problem = f"cannot start the recorder writer: {exc}; records are dropped"
            return
        self._process = process
        if sys.platform != "win32" and process.stdin is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            with contextlib.suppress(OSError):  # a narrower pipe only means more, smaller writes
                fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._reader = threading.Thread(
            target=self._read_acks, args=(process,), name="flux-recorder-acks", daemon=True
        )
        self._reader.start()

    def _read_acks(self, process: subprocess.Popen[bytes]) -> None:
        """Take the writer process's running counts as it reports them."""
        assert process.stdout is not None
        for line in process.stdout:
            try:
                ack = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            with self._lock:
                self._acked = ack

    def _retire_process(self, reason: str) -> None:
        """The writer process is gone: keep its counts, count what it never took."""
        process = self._process
        self._process = None
        if process is not None:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait()
            if self._reader is not None:
                self._reader.join(timeout=5)
        with self._lock:
            for key in ("processed", "recorded", "dropped"):
                self._base[key] += int(self._acked[key] or 0)
            self._acked = {"processed": 0, "recorded": 0, "dropped": 0, "problem": None}
            unprocessed = self._sent - self._base["processed"]
            self._base["processed"] += unprocessed
            self._base["dropped"] += unprocessed
            self._killed_lost += unprocessed
        self._lost_problem = f"recorder writer stopped ({reason}); records were dropped"

    def _send(self, records: list[bytes]) -> None:
        if self._process is None and time.monotonic() - self._started_at > self.restart_seconds:
            self._start_process()
        process = self._process
        if process is None or process.stdin is None:
            with self._lock:
                self._base["processed"] += len(records)
                self._base["dropped"] += len(records)
            self._sent += len(records)
            self._no_writer += len(records)
            return
        self._sent += len(records)
        try:
            # straight to the pipe: stdin's buffered writer is never written through
            write_message(process.stdin.fileno(), records)
        except (OSError, ValueError) as exc:
            self._retire_process(str(exc) or type(exc).__name__)

    def _send_loop(self) -> None:
        while True:
            self._wake.wait(GATHER_SECONDS)
            self._wake.clear()
            closing = self._closing.is_set()
            with self._pending_lock:
                records, self._pending = self._pending, []
            if records:
                self._send(records)
            self._persist()
            if closing:
                return

    # -- control -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far has been written (or dropped)."""
        deadline = time.monotonic() + timeout
        target = self._enqueued
        self._wake.set()
        while self._count("processed") < target:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self) -> None:
        """Send what is queued, let the writer process finish, and stop it."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._wake.set()
        self._sender.join(timeout=10)
        process = self._process
        if process is None:
            self._persist(force=True, closed=True)
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._persist(force=True, closed=True)


def open_writer(
    project: Project,
    recorder: str | os.PathLike[str] | None = None,
    *,
    export: bool = False,
    **options: Any,
) -> RecorderWriter:
    """The one way Flux builds a recorder writer from settings: the project's recorder (a file
    or a PostgreSQL URL), or `recorder` when an editor or a command chose another, with
    `[recorder] queue_size`, the writer's health file, and the retention policy it prunes to
    (a bad policy is a `ConfigError`). With `export` (the live app's writer, never a
    replay's), the writer process also exports every execution to the `[telemetry]`
    collector, when one is set."""
    location = str(recorder or project.recorder_location)
    own_health = recorder is None or is_database_url(location)
    target = None
    if export:
        from flux_lsp.recorder.export import export_target

        target = export_target(project.settings.telemetry)
    return RecorderWriter(
        location,
        project.settings.recorder.queue_size,
        health=project.recorder_health_path if own_health else None,
        policy=RetentionPolicy.from_settings(project.settings),
        export=target,
        **options,
    )
