"""The recorder writer process: `python -m flux_lsp.recorder.writer_process PATH BUSY_TIMEOUT`.

Started by `RecorderWriter` in the app. It reads length-prefixed messages of records from
stdin, writes them to the recorder file in batches, and after each message prints one JSON
line of running counts to stdout (`processed`, `recorded`, `dropped`, `problem`). It keeps
`recorder-health.json` next to the recorder for `flux status`, and exits when stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import BinaryIO

import orjson

from flux_lsp.recorder.writer import BATCH, FRAME, health_path, open_for_writing, write_records

log_stream = sys.stderr


class FileWriter:
    """Owns the recorder connection and the counts; survives every write failure."""

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.processed = 0
        self.recorded = 0
        self.dropped = 0
        self.problem: str | None = None
        self.conn: sqlite3.Connection | None = None
        self.inode: tuple[int, int] | None = None
        self.health_written_at = 0.0
        self.open()

    def set_problem(self, message: str) -> None:
        if message != self.problem:
            log_stream.write(f"flux: {message}\n")
            log_stream.flush()
        self.problem = message

    def open(self) -> None:
        try:
            self.conn = open_for_writing(self.path, self.busy_timeout)
            st = os.stat(self.path)
            self.inode = (st.st_dev, st.st_ino)
        except Exception as exc:  # any failure to open: later batches try again
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
            self.dropped += len(frames)
        else:
            try:
                self.recorded += write_records(self.conn, frames)
            except Exception as exc:  # locked, read-only, disk full, corrupt: drop and count
                self.dropped += len(frames)
                self.set_problem(
                    f"recorder write failed ({type(exc).__name__}: {exc}); records dropped"
                )
        self.processed += len(frames)

    def counts(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "recorded": self.recorded,
            "dropped": self.dropped,
            "problem": self.problem,
        }

    def write_health(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.health_written_at < 1.0:
            return
        self.health_written_at = now
        data = {"pid": os.getpid(), "updated_at": now, **self.counts()}
        target = health_path(self.path)
        try:
            tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(orjson.dumps(data))
            os.replace(tmp, target)
        except OSError:
            pass  # the folder itself may be gone; the app still gets the counts


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


def serve(path: Path, busy_timeout: float, source: BinaryIO, acks: BinaryIO) -> None:
    """Write every message from `source`, acknowledging each on `acks`, until end of input."""
    writer = FileWriter(path, busy_timeout)
    while True:
        header = read_exact(source, FRAME.size)
        if header is None:
            break
        message = read_exact(source, FRAME.unpack(header)[0])
        if message is None:
            break
        frames = split_records(message)
        for start in range(0, len(frames), BATCH):
            writer.write(frames[start : start + BATCH])
        writer.write_health()
        acks.write(orjson.dumps(writer.counts()) + b"\n")
        acks.flush()
    writer.write_health(force=True)
    if writer.conn is not None:
        writer.conn.close()


def main() -> None:
    path, busy_timeout = Path(sys.argv[1]), float(sys.argv[2])
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve(path, busy_timeout, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
