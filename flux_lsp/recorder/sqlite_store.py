"""`SQLiteStore`: the `Store` over a local recorder file, read through aiosqlite.

Opened `blocking`, it reads through sqlite3 directly instead: every call is answered before it
returns, so a one-shot command runs its work without an event loop, and neither asyncio nor
aiosqlite is imported (they are most of what `flux tail` would otherwise spend starting).

Opening checks the file before anything else: a missing file, a file that is not SQLite, a
SQLite file that is not a recorder and a recorder of a newer schema each raise their own
`RecorderError`. A reader never writes: a recorder of an older schema is refused in one line
naming the commands whose writer upgrades it (`flux dev`, `flux serve`), as on PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flux_lsp.recorder.schema import (
    FIRST_VERSION,
    SCHEMA_VERSION,
    SchemaTooNew,
    older_schema,
    schema_version,
)
from flux_lsp.recorder.sql import SqlReads
from flux_lsp.recorder.store import (
    RecorderCorrupt,
    RecorderMissing,
    RecorderStats,
    RecorderTooNew,
)

if TYPE_CHECKING:
    import aiosqlite


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens `path` without ever writing to it. On a read-only mount a WAL
    file has no `-shm` to share, so there it is opened as immutable (nothing can be writing)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return uri + "&immutable=1"
    return uri


def check_recorder_file(path: Path) -> str:
    """Raise the right RecorderError unless `path` is a readable recorder of this Flux's schema,
    without writing to it; the read-only URI to open it with."""
    if not path.is_file():
        raise RecorderMissing(f"no recorder at {path} (run `flux dev` and send a request first)")
    if path.stat().st_size == 0:
        raise RecorderMissing(f"{path} is empty: nothing was recorded in it yet")
    try:
        uri = read_only_uri(path)
        conn = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            version = schema_version(conn)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RecorderCorrupt(f"{path} is not a readable recorder: {exc}") from None
    if "executions" not in tables:
        raise RecorderCorrupt(f"{path} is a SQLite file but not a Flux recorder")
    if version > SCHEMA_VERSION or 0 < version < FIRST_VERSION:
        raise RecorderTooNew(f"{path}: {SchemaTooNew(version)}")
    if version < SCHEMA_VERSION:
        raise RecorderCorrupt(older_schema(str(path), version))
    return uri


class SQLiteStore(SqlReads):
    """Read access to a local recorder file."""

    def __init__(self, conn: aiosqlite.Connection | sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    async def open(cls, path: str | os.PathLike[str], *, blocking: bool = False) -> SQLiteStore:
        """Check and open the recorder file; `blocking`: read through sqlite3 in the caller's
        thread (for a command without an event loop), else through aiosqlite's thread."""
        file = Path(path)
        uri = check_recorder_file(file)
        conn: aiosqlite.Connection | sqlite3.Connection
        try:
            if blocking:
                conn = sqlite3.connect(uri, uri=True, timeout=5)
                conn.execute("PRAGMA query_only = 1")
            else:
                import aiosqlite

                conn = await aiosqlite.connect(uri, uri=True, timeout=5)
                await conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise RecorderCorrupt(f"{file}: {exc}") from None
        conn.row_factory = sqlite3.Row
        return cls(conn, file)

    async def close(self) -> None:
        if isinstance(self._conn, sqlite3.Connection):
            self._conn.close()
        else:
            await self._conn.close()

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            if isinstance(self._conn, sqlite3.Connection):
                return self._conn.execute(sql, params).fetchall()
            async with self._conn.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.DatabaseError as exc:
            raise RecorderCorrupt(f"{self.path}: {exc}") from None

    # -- health --------------------------------------------------------------------------

    async def stats(self) -> RecorderStats:
        from flux_lsp.recorder.retention import COUNTS_SQL, recorder_stats
        from flux_lsp.recorder.writer import health_path

        rows = await self._all(COUNTS_SQL)
        size = sum(
            p.stat().st_size for p in (self.path, Path(str(self.path) + "-wal")) if p.exists()
        )
        meta = await self._all("SELECT key, value FROM recorder_meta")
        health = health_path(self.path)
        return recorder_stats(str(self.path), size, rows[0], meta, health, SCHEMA_VERSION)

    async def change_token(self) -> int:
        rows = await self._all("PRAGMA data_version")
        return int(rows[0][0])

    def changes(self, fallback: float) -> AsyncIterator[bool]:
        from flux_lsp.recorder.signal import recorder_changes

        return recorder_changes(self.path, fallback)  # the writer's signal file
