"""`PostgresStore`: the `Store` over a PostgreSQL recorder, read through psycopg (async).

It asks the same SQL as the file store (`recorder.sql`) of the same tables, in the
`flux_recorder` schema. Opening checks what is there: an unreachable server, a database without
the recorder schema and a schema newer than this Flux each raise their own `RecorderError`, one
line, with the password left out of the URL. An older schema is upgraded when the role may, as
the file is. A connection lost later (the server restarted) is reopened on the next call.

The change token is the `changes` sequence, which the writer advances after every committed
batch: reading it is one cheap query, so the language server's live diagnostics poll it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from flux_lsp.model import Execution, Mutation
from flux_lsp.recorder.postgres_schema import (
    SCHEMA,
    SCHEMA_VERSION,
    SIZE_SQL,
    ensure_schema,
    redact,
    schema_version,
)
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.retention import apply_meta, read_health
from flux_lsp.recorder.schema import SchemaTooNew
from flux_lsp.recorder.sql import (
    PAGE,
    call_site_from_row,
    call_sites_sql,
    execution_from_record,
    executions_sql,
    function_stats_sql,
    id_prefix,
    light_execution,
    mutation_from_row,
    mutations_sql,
    next_prefix,
    stream_page_sql,
)
from flux_lsp.recorder.store import (
    AmbiguousExecution,
    CallSiteResult,
    RecorderCorrupt,
    RecorderError,
    RecorderMissing,
    RecorderStats,
    RecorderTooNew,
    UnknownExecution,
)

CONNECT_SECONDS = 5
DIALECT = "postgres"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_schema(url: str) -> None:
    """Raise the right RecorderError unless `url` holds a current recorder (upgrading old ones)."""
    shown = redact(url)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_SECONDS, autocommit=True) as conn:
            version = schema_version(conn)
            if version == 0:
                raise RecorderMissing(
                    f"no recorder in {shown} (start `flux serve` with this recorder first)"
                )
            try:
                ensure_schema(conn)  # refuses a newer schema, upgrades an older one
            except psycopg.errors.InsufficientPrivilege:
                raise RecorderCorrupt(
                    f"{shown}: recorder schema v{version} is older than this Flux "
                    f"(v{SCHEMA_VERSION}); a writer with more rights upgrades it"
                ) from None
    except SchemaTooNew as exc:
        raise RecorderTooNew(f"{shown}: {exc}") from None
    except psycopg.OperationalError as exc:
        raise RecorderMissing(f"cannot reach the recorder at {shown}: {_reason(exc)}") from None
    except psycopg.Error as exc:
        raise RecorderCorrupt(f"{shown} is not a readable recorder: {_reason(exc)}") from None


def _pg(sql: str) -> str:
    """The shared SQL (`?` placeholders) in psycopg's style."""
    return sql.replace("?", "%s")


class PostgresStore:
    """Read access to a PostgreSQL recorder."""

    def __init__(self, url: str, conn: psycopg.AsyncConnection[Any], health: Path | None) -> None:
        self.url = url
        self.location = redact(url)
        self._conn: psycopg.AsyncConnection[Any] | None = conn
        self._health = health

    @classmethod
    async def open(cls, url: str, *, health: Path | None = None) -> PostgresStore:
        """Connect and check the schema; `health`: the local writer's health file, if any."""
        import asyncio

        await asyncio.to_thread(_check_schema, url)
        return cls(url, await cls._connect(url), health)

    @staticmethod
    async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                url,
                connect_timeout=CONNECT_SECONDS,
                autocommit=True,
                row_factory=dict_row,
                options=f"-c search_path={SCHEMA}",
                application_name="flux reader",
            )
        except psycopg.OperationalError as exc:
            raise RecorderMissing(
                f"cannot reach the recorder at {redact(url)}: {_reason(exc)}"
            ) from None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _all(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await self._connect(self.url)
        try:
            cur = await self._conn.execute(_pg(sql).encode(), params)
            return await cur.fetchall()
        except psycopg.OperationalError as exc:
            await self.close()
            raise RecorderMissing(
                f"cannot reach the recorder at {self.location}: {_reason(exc)}"
            ) from None
        except psycopg.errors.UndefinedTable:
            raise RecorderMissing(f"no recorder in {self.location}") from None
        except psycopg.Error as exc:
            raise RecorderError(f"{self.location}: {_reason(exc)}") from None

    # -- executions ----------------------------------------------------------------------

    async def get(self, ident: str) -> Execution:
        prefix = id_prefix(ident)
        if len(prefix) == 16:
            rows = await self._all("SELECT record FROM executions WHERE id = ? LIMIT 1", (prefix,))
        else:
            rows = await self._all(
                "SELECT DISTINCT ON (id) id, record FROM executions WHERE id >= ? AND id < ? "
                "ORDER BY id LIMIT 11",
                (prefix, next_prefix(prefix)),
            )
            if len(rows) > 1:
                raise AmbiguousExecution(ident, [r["id"] for r in rows])
        if not rows:
            raise UnknownExecution(ident)
        return execution_from_record(rows[0])

    async def executions(self, query: ExecutionQuery) -> list[Execution]:
        rows = await self._all(*executions_sql(query, DIALECT))
        return [execution_from_record(r) for r in rows]

    async def stream(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        cursor: tuple[float, str] | None = None
        remaining = query.limit
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            rows = await self._all(*stream_page_sql(query, cursor, page, DIALECT))
            if not rows:
                return
            for row in rows:
                yield execution_from_record(row)
            cursor = (rows[-1]["started_at"], rows[-1]["id"])
            if remaining is not None:
                remaining -= len(rows)
            if len(rows) < page:
                return

    async def function_stats(
        self, function: str, *, since: float | None = None, limit: int = 500
    ) -> list[Execution]:
        rows = await self._all(*function_stats_sql(function, since, limit))
        return [light_execution(r) for r in rows]

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
        rows = await self._all(*mutations_sql(table, pk, execution_id, since, until, limit))
        return [mutation_from_row(r) for r in rows]

    async def call_sites(
        self, file: str, line: int, *, since: float | None = None, limit: int = 20
    ) -> list[CallSiteResult]:
        rows = await self._all(*call_sites_sql(file, line, since, limit))
        return [call_site_from_row(r) for r in rows]

    # -- health --------------------------------------------------------------------------

    async def stats(self) -> RecorderStats:
        rows = await self._all(
            "SELECT count(*) AS n, min(started_at) AS oldest, max(started_at) AS newest "
            "FROM executions"
        )
        size = await self._all(SIZE_SQL)
        stats = RecorderStats(
            location=self.location,
            size_bytes=int(size[0]["bytes"]),
            executions=int(rows[0]["n"]),
            oldest=rows[0]["oldest"],
            newest=rows[0]["newest"],
            schema_version=SCHEMA_VERSION,
        )
        meta = await self._all("SELECT key, value FROM meta")
        apply_meta(stats, {r["key"]: r["value"] for r in meta})
        if self._health is not None:
            read_health(stats, self._health)
        return stats

    async def change_token(self) -> int:
        rows = await self._all(f"SELECT last_value, is_called FROM {SCHEMA}.changes")
        return int(rows[0]["last_value"]) if rows[0]["is_called"] else 0
