"""`PostgresStore`: the `Store` over a PostgreSQL recorder, read through psycopg (async).

It asks the same SQL as the file store (`recorder.sql`) of the same tables, in the
`flux_recorder` schema. Opening checks what is there: an unreachable server, a database without
the recorder schema and a schema newer than this Flux each raise their own `RecorderError`, one
line, with the password left out of the URL. A reader never writes: an older schema is refused
in one line naming the commands whose writer upgrades it, as the file is. A connection lost
later (the server restarted) is reopened on the next call.

`stats()` counts the executions exactly while PostgreSQL's statistics put them under
`EXACT_COUNT_BELOW`; past that, counting every row took seconds, so the count is the
statistics' estimate, marked as such (`executions_estimated`), beside exact oldest, newest and
replays.

The change token is the `changes` sequence, which the writer advances after every committed
batch: reading it is one cheap query, so the language server's live diagnostics poll it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from flux_lsp.recorder.postgres_schema import (
    ESTIMATED_COUNTS_SQL,
    LONGEST_KEY,
    ROWS_ESTIMATE_SQL,
    SCHEMA,
    SCHEMA_VERSION,
    SIZE_SQL,
    redact,
)
from flux_lsp.recorder.schema import SchemaTooNew, older_schema
from flux_lsp.recorder.sql import SqlReads
from flux_lsp.recorder.store import (
    RecorderCorrupt,
    RecorderError,
    RecorderMissing,
    RecorderStats,
    RecorderTooNew,
)

CONNECT_SECONDS = 5
EXACT_COUNT_BELOW = 100_000
"""Executions (as PostgreSQL's statistics estimate them) below which `stats()` counts them."""
BOUND_SLACK = 60.0
"""Seconds added to the longest execution when bounding its start (clocks and rounding)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _pg(sql: str) -> str:
    """The shared SQL (`?` placeholders) in psycopg's style."""
    return sql.replace("?", "%s")


class PostgresStore(SqlReads):
    """Read access to a PostgreSQL recorder."""

    dialect = "postgres"

    def __init__(self, url: str, conn: psycopg.AsyncConnection[Any], health: Path | None) -> None:
        self.url = url
        self.location = redact(url)
        self._conn: psycopg.AsyncConnection[Any] | None = conn
        self._health = health

    @classmethod
    async def open(cls, url: str, *, health: Path | None = None) -> PostgresStore:
        """Connect and check the schema; `health`: the local writer's health file, if any.

        One connection does both (a new backend's first look at the partitioned tables is
        most of what opening costs)."""
        store = cls(url, await cls._connect(url), health)
        try:
            version = await store._version()
            if version == 0:
                raise RecorderMissing(
                    f"no recorder in {store.location} (start `flux serve` with this recorder first)"
                )
            if version > SCHEMA_VERSION:
                raise RecorderTooNew(f"{store.location}: {SchemaTooNew(version)}")
            if version < SCHEMA_VERSION:
                raise RecorderCorrupt(older_schema(store.location, version))
        except BaseException:
            await store.close()
            raise
        return store

    async def _version(self) -> int:
        """The schema version in the database; 0 when there is no recorder schema."""
        try:
            rows = await self._all("SELECT value FROM meta WHERE key = 'schema_version'")
        except RecorderMissing as exc:
            if str(exc).startswith("cannot reach"):
                raise
            return 0
        return int(rows[0]["value"]) if rows else 0

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

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
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

    # -- health --------------------------------------------------------------------------

    async def stats(self) -> RecorderStats:
        from flux_lsp.recorder.retention import COUNTS_SQL, recorder_stats

        estimate = int((await self._all(ROWS_ESTIMATE_SQL))[0]["n"])
        estimated = estimate >= EXACT_COUNT_BELOW
        if estimated:
            counts = (await self._all(ESTIMATED_COUNTS_SQL))[0]
            counts["n"] = max(estimate, counts["replays"])
        else:
            counts = (await self._all(COUNTS_SQL))[0]
        size = int((await self._all(SIZE_SQL))[0]["bytes"])
        meta = await self._all("SELECT key, value FROM meta")
        stats = recorder_stats(self.location, size, counts, meta, self._health, SCHEMA_VERSION)
        stats.executions_estimated = estimated
        return stats

    async def _started_after(self, since: float | None) -> float | None:
        """Mutations and call sites are partitioned by their execution's start; one at or
        after `since` belongs to an execution that started at most the longest execution
        recorded (`longest_ms`, raised by the writer with the rows) before it. Naming that
        bound lets PostgreSQL plan and read the few day partitions it allows instead of all
        that retention keeps. (An execution longer than any before it, committed between this
        read and the query, is seen by the next read.)"""
        if since is None:
            return None
        rows = await self._all(f"SELECT value FROM meta WHERE key = '{LONGEST_KEY}'")
        if not rows:
            return None
        return since - float(rows[0]["value"]) / 1000.0 - BOUND_SLACK

    async def change_token(self) -> int:
        rows = await self._all(f"SELECT last_value, is_called FROM {SCHEMA}.changes")
        return int(rows[0]["last_value"]) if rows[0]["is_called"] else 0

    def changes(self, fallback: float) -> AsyncIterator[bool]:
        from flux_lsp.recorder.signal import recorder_changes

        return recorder_changes(self.url, fallback)  # LISTEN for every commit's NOTIFY
