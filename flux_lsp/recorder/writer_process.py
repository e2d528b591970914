"""The recorder writer process: `python -m flux_lsp.recorder.writer_process`.

Started by `RecorderWriter` in the app, with its settings as JSON in `FLUX_WRITER_CONFIG`
(the recorder's location, which may hold a password, stays out of the process list). It reads
length-prefixed messages of records from stdin, writes them in batches to the recorder file
(`FileSink`) or to PostgreSQL (`PostgresSink`), and after each message prints one JSON line of
running counts to stdout (`processed`, `recorded`, `dropped`, `problem`, and `export` when
exporting). With `export` in the config (an `ExportTarget`), every record is also handed to an
`OtlpExporter` after it is written, which sends it on to an OpenTelemetry collector from a
thread of its own. A database that is
down or slow costs records, counted, never a wait: the sink tries to reconnect at most once a
second and drops what arrives in between. It keeps a health file (`recorder-health.json`) for
`flux status`, writes the commit signal readers watch (`signal`) after each message, prunes
the recorder to its retention policy from a thread of its own (`Pruner`), and exits when stdin
closes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from flux_lsp.project import is_database_url
from flux_lsp.recorder.retention import PruneReport, RetentionPolicy, prune_file
from flux_lsp.recorder.signal import signal_commit, signal_path
from flux_lsp.recorder.writer import (
    BATCH,
    FRAME,
    open_for_writing,
    read_health_file,
    write_health_file,
    write_records,
)

if TYPE_CHECKING:
    from flux_lsp.recorder.export import OtlpExporter

log_stream = sys.stderr
CONFIG_VARIABLE = "FLUX_WRITER_CONFIG"
RECONNECT_SECONDS = 1.0
"""A sink whose database is gone tries again at most this often; it drops records between."""

DISK_FULL = "disk full: the recorder cannot grow ({exc}); records are dropped"


def disk_full(exc: Exception) -> bool:
    """Whether a failed open or write met a full disk (SQLite's or the system's words)."""
    full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    return full or "disk is full" in str(exc) or "No space left" in str(exc)


class Sink:
    """The counts, the last problem and the health file every sink keeps."""

    def __init__(self, health: Path) -> None:
        self.health = health
        self.exporter: OtlpExporter | None = None
        self.processed = 0
        self.recorded = 0
        self.dropped = 0
        self.problem: str | None = None
        self.health_written_at = 0.0
        self.health_reported: tuple[int, str | None] = (0, None)
        self.health_problem: str | None = None
        """Why the health file could not be written (sent to the app, which persists it)."""
        self.said: set[str] = set()
        previous = read_health_file(health) or {}
        self.carried = {key: int(previous.get(key) or 0) for key in ("recorded", "dropped")}
        """The counts of earlier writer processes, which the health file keeps adding to."""

    def set_problem(self, message: str) -> None:
        """Note the problem; the first time it is met, say it in one line."""
        if message not in self.said:
            self.said.add(message)
            log_stream.write(f"flux: {message}\n")
            log_stream.flush()
        self.problem = message

    def write_failed(self, exc: Exception, count: int) -> None:
        """A write of `count` records failed: drop and count them, and name the problem (a
        full disk by that name, said once however many writes it fails)."""
        self.dropped += count
        if disk_full(exc):
            self.set_problem(DISK_FULL.format(exc=exc))
        else:
            text = f"{type(exc).__name__}: {exc}"
            self.set_problem(f"recorder write failed ({text}); records dropped")

    def write(self, frames: list[bytes]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def signal(self) -> None:
        """Tell readers that a message's records were committed (see `signal`)."""

    def counts(self) -> dict[str, object]:
        return {
            **({"export": self.exporter.counts()} if self.exporter is not None else {}),
            "processed": self.processed,
            "recorded": self.recorded,
            "dropped": self.dropped,
            "problem": self.problem,
            "health_problem": self.health_problem,
        }

    def write_health(self, force: bool = False) -> None:
        """Write the health file at most once a second, but at once when records were lost
        or the problem changed (what `flux status` is asked for)."""
        now = time.time()
        news = (self.dropped, self.problem) != self.health_reported
        if not force and not news and now - self.health_written_at < 1.0:
            return
        self.health_written_at = now
        self.health_reported = (self.dropped, self.problem)
        data = {"pid": os.getpid(), "updated_at": now, **self.counts()}
        data["recorded"] = self.carried["recorded"] + self.recorded
        data["dropped"] = self.carried["dropped"] + self.dropped
        # the app persists a failure here in its own file, for `flux status`
        self.health_problem = write_health_file(self.health, data)


class FileSink(Sink):
    """Owns the recorder file's connection; survives every write failure."""

    def __init__(self, path: Path, busy_timeout: float, health: Path) -> None:
        super().__init__(health)
        self.path = path
        self.busy_timeout = busy_timeout
        self.conn: sqlite3.Connection | None = None
        self.inode: tuple[int, int] | None = None
        self.signalled = 0
        self.open()

    def open(self) -> None:
        try:
            self.conn = open_for_writing(self.path, self.busy_timeout)
            st = os.stat(self.path)
            self.inode = (st.st_dev, st.st_ino)
            signal_commit(signal_path(self.path), self.recorded)  # readers may watch it now
        except Exception as exc:  # any failure to open: later batches try again
            self.conn = None
            if disk_full(exc):
                self.set_problem(DISK_FULL.format(exc=exc))
            else:
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
            self.dropped += len(frames)
        else:
            try:
                self.recorded += write_records(self.conn, frames)
            except Exception as exc:  # locked, read-only, disk full, corrupt: drop and count
                self.write_failed(exc, len(frames))
        self.processed += len(frames)

    def signal(self) -> None:
        if self.recorded != self.signalled:
            self.signalled = self.recorded
            signal_commit(signal_path(self.path), self.recorded)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class PostgresSink(Sink):
    """Owns a PostgreSQL connection; a database that is down or slow costs records, not time."""

    def __init__(self, url: str, health: Path, statement_timeout: float = 5.0) -> None:
        super().__init__(health)
        self.url = url
        self.statement_timeout = statement_timeout
        self.conn: Any = None
        self.known: set[tuple[bool, int]] = set()
        self.tried_at = 0.0
        self.open()

    def open(self) -> None:
        from flux_lsp.recorder.postgres_schema import (
            connect,
            ensure_schema,
            known_partitions,
            redact,
        )

        self.tried_at = time.monotonic()
        try:
            conn = connect(self.url, timeout=self.statement_timeout, autocommit=True)
            conn.execute(f"SET statement_timeout = {int(self.statement_timeout * 1000)}")
            ensure_schema(conn)
            self.known = known_partitions(conn)
            self.conn = conn
        except Exception as exc:  # down, refused, bad credentials: drop, count, retry later
            self.conn = None
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.set_problem(
                f"cannot reach the recorder at {redact(self.url)} ({reason}); records dropped"
            )

    def write(self, frames: list[bytes]) -> None:
        from flux_lsp.recorder.postgres_writer import write_records_pg

        if self.conn is None and time.monotonic() - self.tried_at >= RECONNECT_SECONDS:
            self.open()
        if self.conn is None:
            self.dropped += len(frames)
        else:
            try:
                self.recorded += write_records_pg(self.conn, frames, self.known)
            except Exception as exc:  # the server went away, a timeout, a full disk
                self.write_failed(exc, len(frames))
                if self.conn.closed or self.conn.broken:
                    self.conn = None
                    self.tried_at = time.monotonic()
                self.known = set() if self.conn is None else self.known
        self.processed += len(frames)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


class Pruner:
    """Applies the retention policy every `interval` seconds, from a thread and a connection
    of its own, in the small batches `retention` uses."""

    def __init__(self, location: str, policy: RetentionPolicy, interval: float) -> None:
        self.location = location
        self.policy = policy
        self.interval = interval
        self.stop = threading.Event()
        self.last: PruneReport | None = None
        self.thread = threading.Thread(target=self.run, name="flux-pruner", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.last = prune(self.location, self.policy)
            except Exception as exc:  # the next round tries again; writing goes on regardless
                log_stream.write(f"flux: pruning the recorder failed: {exc}\n")
                log_stream.flush()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=10)


def prune(
    location: str,
    policy: RetentionPolicy,
    *,
    dry_run: bool = False,
    now: float | None = None,
    busy_timeout: float = 1.0,
) -> PruneReport:
    """Apply `policy` to the recorder at `location` (a file or a PostgreSQL URL) as of `now`."""
    if is_database_url(location):
        from flux_lsp.recorder.postgres_retention import prune_postgres
        from flux_lsp.recorder.postgres_schema import connect, ensure_schema, redact

        with connect(location, autocommit=True) as database:
            ensure_schema(database)
            return prune_postgres(database, redact(location), policy, now=now, dry_run=dry_run)
    conn = open_for_writing(Path(location), busy_timeout)
    try:
        return prune_file(conn, Path(location), policy, now=now, dry_run=dry_run)
    finally:
        conn.close()


def read_exact(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def split_records(message: bytes) -> list[bytes]:
    frames: list[bytes] = []
    view = memoryview(message)
    offset = 0
    while offset < len(view):
        (size,) = FRAME.unpack_from(view, offset)
        offset += FRAME.size
        frames.append(bytes(view[offset : offset + size]))
        offset += size
    return frames


def open_sink(config: dict[str, Any]) -> Sink:
    location = str(config["location"])
    health = Path(config["health"])
    if is_database_url(location):
        return PostgresSink(location, health, float(config.get("busy_timeout", 1.0)) * 5)
    return FileSink(Path(location), float(config.get("busy_timeout", 1.0)), health)


def serve(config: dict[str, Any], source: BinaryIO, acks: BinaryIO) -> None:
    """Write every message from `source`, acknowledging each on `acks`, until end of input.

    `config`: `location` (file or URL), `health` (the health file), `busy_timeout`, and
    optionally `policy` (`RetentionPolicy.to_json()`) and `prune_seconds` for the pruner.
    """
    sink = open_sink(config)
    sink.write_health(force=True)  # the file takes its space now, while there is some
    if config.get("export"):
        from flux_lsp.recorder.export import ExportTarget, OtlpExporter

        sink.exporter = OtlpExporter(ExportTarget(**config["export"]))
    pruner: Pruner | None = None
    if config.get("policy"):
        policy = RetentionPolicy.from_json(str(config["policy"]))
        pruner = Pruner(str(config["location"]), policy, float(config.get("prune_seconds", 0)))
        pruner.start()
    try:
        while True:
            header = read_exact(source, FRAME.size)
            if header is None:
                break
            message = read_exact(source, FRAME.unpack(header)[0])
            if message is None:
                break
            frames = split_records(message)
            for start in range(0, len(frames), BATCH):
                sink.write(frames[start : start + BATCH])
            sink.signal()
            if sink.exporter is not None:
                sink.exporter.offer(frames)
            sink.write_health()
            acks.write(orjson.dumps(sink.counts()) + b"\n")
            acks.flush()
    finally:
        if pruner is not None:
            pruner.close()
        if sink.exporter is not None:
            sink.exporter.close()
        sink.write_health(force=True)
        sink.close()


def main() -> None:
    config = orjson.loads(os.environ[CONFIG_VARIABLE])
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve(config, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
