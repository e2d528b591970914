"""`SQLiteStore`: the `Store` over a local recorder file, read through aiosqlite.

Opening checks the file before anything else: a missing file, a file that is not SQLite, a
SQLite file that is not a recorder and a recorder of a newer schema each raise their own
`RecorderError`. Older schemas are upgraded in place.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from flux_lsp.model import Execution, Mutation, normalize_id
from flux_lsp.recorder.query import STATUS_CLASSES, ExecutionQuery
from flux_lsp.recorder.schema import (
    SCHEMA_VERSION,
    SchemaTooNew,
    ensure_schema,
    mutation_from_row,
    schema_version,
)
from flux_lsp.recorder.store import (
    AmbiguousExecution,
    CallSiteResult,
    RecorderCorrupt,
    RecorderMissing,
    RecorderStats,
    RecorderTooNew,
    UnknownExecution,
)
from flux_lsp.recorder.writer import health_path

_HEX = re.compile(r"^[0-9a-f]{1,16}$")
PAGE = 500
LIGHT_COLUMNS = (
    "id, kind, function, method, path, status, started_at, duration_ms, code_version, parent_id"
)


def check_recorder_file(path: Path) -> None:
    """Raise the right RecorderError unless `path` is a readable recorder (upgrading old ones)."""
    if not path.is_file():
        raise RecorderMissing(f"no recorder at {path} (run `flux dev` and send a request first)")
    try:
        conn = sqlite3.connect(str(path), timeout=5)
        try:
            version = schema_version(conn)
            if version == 0:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                if tables and "executions" not in tables:
                    raise RecorderCorrupt(f"{path} is a SQLite file but not a Flux recorder")
            ensure_schema(conn)
        finally:
            conn.close()
    except SchemaTooNew as exc:
        raise RecorderTooNew(f"{path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise RecorderCorrupt(f"{path} is not a readable recorder: {exc}") from None


def _next_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (hex ids)."""
    return prefix + "g"


class SQLiteStore:
    """Read access to a local recorder file."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SQLiteStore:
        file = Path(path)
        check_recorder_file(file)
        try:
            conn = await aiosqlite.connect(str(file), timeout=5)
            await conn.execute("PRAGMA query_only = 1")
        except sqlite3.Error as exc:
            raise RecorderCorrupt(f"{file}: {exc}") from None
        conn.row_factory = sqlite3.Row
        return cls(conn, file)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            async with self._conn.execute(sql, params) as cur:
                return list(await cur.fetchall())
        except sqlite3.DatabaseError as exc:
            raise RecorderCorrupt(f"{self.path}: {exc}") from None

    # -- executions ----------------------------------------------------------------------

    async def _full(self, rows: list[sqlite3.Row]) -> list[Execution]:
        """Executions from their stored records (each carries its own mutations)."""
        return [Execution.from_dict(orjson.loads(r["record"])) for r in rows]

    async def get(self, ident: str) -> Execution:
        prefix = normalize_id(ident)
        if not _HEX.match(prefix):
            raise UnknownExecution(ident)
        if len(prefix) == 16:
            rows = await self._all("SELECT record FROM executions WHERE id = ?", (prefix,))
        else:
            rows = await self._all(
                "SELECT id, record FROM executions WHERE id >= ? AND id < ? ORDER BY id LIMIT 11",
                (prefix, _next_prefix(prefix)),
            )
            if len(rows) > 1:
                raise AmbiguousExecution(ident, [r["id"] for r in rows])
        if not rows:
            raise UnknownExecution(ident)
        return (await self._full(rows))[0]

    def _where(self, q: ExecutionQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("function", q.function),
            ("path", q.path),
            ("kind", q.kind),
            ("parent_id", q.parent_id),
            ("error_file", q.error_file),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if q.exclude_kind is not None:
            clauses.append("kind != ?")
            params.append(q.exclude_kind)
        if q.log is not None:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(record, '$.logs') "
                "WHERE instr(lower(json_extract(value, '$.message')), lower(?)) > 0)"
            )
            params.append(q.log)
        if q.status is not None:
            if q.status == "failed":
                clauses.append("(status = 'failed' OR status GLOB '5[0-9][0-9]')")
            elif q.status in STATUS_CLASSES:
                clauses.append("status GLOB ?")
                params.append(q.status[0] + "[0-9][0-9]")
            else:
                clauses.append("status = ?")
                params.append(q.status)
        if q.since is not None:
            clauses.append("started_at >= ?")
            params.append(q.since)
        if q.until is not None:
            clauses.append("started_at < ?")
            params.append(q.until)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    async def executions(self, query: ExecutionQuery) -> list[Execution]:
        where, params = self._where(query)
        order = "DESC" if query.newest_first else "ASC"
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        rows = await self._all(
            f"SELECT record FROM executions{where} ORDER BY started_at {order}, id {order}{limit}",
            params,
        )
        return await self._full(rows)

    async def stream(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        where, params = self._where(query)
        joiner = " AND " if where else " WHERE "
        op, order = (">", "ASC") if not query.newest_first else ("<", "DESC")
        cursor: tuple[float, str] | None = None
        remaining = query.limit
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            extra, extra_params = "", []
            if cursor is not None:
                extra = f"{joiner}(started_at, id) {op} (?, ?)"
                extra_params = [cursor[0], cursor[1]]
            rows = await self._all(
                f"SELECT started_at, id, record FROM executions{where}{extra} "
                f"ORDER BY started_at {order}, id {order} LIMIT {page}",
                [*params, *extra_params],
            )
            if not rows:
                return
            for execution in await self._full(rows):
                yield execution
            cursor = (rows[-1]["started_at"], rows[-1]["id"])
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < page:
                return

    async def function_stats(
        self, function: str, *, since: float | None = None, limit: int = 500
    ) -> list[Execution]:
        params: list[Any] = [function]
        clause = ""
        if since is not None:
            clause = " AND started_at >= ?"
            params.append(since)
        rows = await self._all(
            f"SELECT {LIGHT_COLUMNS} FROM executions WHERE function = ?{clause} "
            f"ORDER BY started_at DESC LIMIT {int(limit)}",
            params,
        )
        return [
            Execution(
                id=r["id"],
                kind=r["kind"],
                function=r["function"],
                method=r["method"],
                path=r["path"],
                status=r["status"],
                started_at=r["started_at"],
                duration_ms=r["duration_ms"],
                code_version=r["code_version"],
                parent_id=r["parent_id"],
            )
            for r in rows
        ]

    # -- mutations and call sites --------------------------------------------------------

    async def mutations(
        self,
        *,
        table: str | None = None,
        pk: str | None = None,
        execution_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 1000,
    ) -> list[Mutation]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("table_name", table), ("pk", pk), ("execution_id", execution_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("at < ?")
            params.append(until)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = await self._all(
            f"SELECT * FROM mutations{where} ORDER BY at, execution_id, seq LIMIT {int(limit)}",
            params,
        )
        return [mutation_from_row(r) for r in rows]

    async def call_sites(
        self, file: str, line: int, *, since: float | None = None, limit: int = 20
    ) -> list[CallSiteResult]:
        params: list[Any] = [file, line]
        clause = ""
        if since is not None:
            clause = " AND started_at >= ?"
            params.append(since)
        rows = await self._all(
            "SELECT * FROM call_sites WHERE file = ? AND line = ?"
            f"{clause} ORDER BY started_at DESC LIMIT {int(limit)}",
            params,
        )
        out = []
        for r in rows:
            summary = json.loads(r["summary"]) if r["summary"] else {}
            if not isinstance(summary, dict):
                summary = {}
            out.append(
                CallSiteResult(
                    execution_id=r["execution_id"],
                    started_at=r["started_at"],
                    name=r["name"],
                    duration_ms=r["duration_ms"],
                    status=r["status"],
                    output=summary.get("output"),
                    error=summary.get("error"),
                    attributes=summary.get("attributes") or {},
                )
            )
        return out

    # -- health --------------------------------------------------------------------------

    async def stats(self) -> RecorderStats:
        rows = await self._all(
            "SELECT COUNT(*), MIN(started_at), MAX(started_at), "
            "COALESCE(SUM(kind = 'replay'), 0) FROM executions"
        )
        count, oldest, newest, replays = rows[0][0], rows[0][1], rows[0][2], rows[0][3]
        size = sum(
            p.stat().st_size for p in (self.path, Path(str(self.path) + "-wal")) if p.exists()
        )
        stats = RecorderStats(
            location=str(self.path),
            size_bytes=size,
            executions=count,
            replays=replays,
            oldest=oldest,
            newest=newest,
            schema_version=SCHEMA_VERSION,
        )
        try:
            health = json.loads(health_path(self.path).read_text())
            stats.dropped = int(health.get("dropped", 0))
            stats.recorded_by_writer = int(health.get("recorded", 0))
            stats.problem = health.get("problem")
            stats.health_updated_at = health.get("updated_at")
        except (OSError, ValueError):
            pass
        return stats

    async def change_token(self) -> int:
        rows = await self._all("PRAGMA data_version")
        return int(rows[0][0])
