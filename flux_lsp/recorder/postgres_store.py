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

Opened `blocking` (a one-shot command without an event loop), it asks through libpq directly
(`recorder.libpq`) and never imports psycopg, which was most of such a command's start; where
no libpq can be loaded it falls back to psycopg. Both ways raise the same errors.

The change token is the `changes` sequence, which the writer advances after every committed
batch: reading it is one cheap query, so the language server's live diagnostics poll it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    RecorderUnreachable,
)

if TYPE_CHECKING:
    import psycopg

    from flux_lsp.recorder.libpq import Connection as LibpqConnection

CONNECT_SECONDS = 5
EXACT_COUNT_BELOW = 100_000
"""Executions (as PostgreSQL's statistics estimate them) below which `stats()` counts them."""
BOUND_SLACK = 60.0
"""Seconds added to the longest execution when bounding its start (clocks and rounding)."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


UNDEFINED_TABLE = "42P01"


def _unreachable(location: str, exc: BaseException) -> RecorderUnreachable:
    return RecorderUnreachable(f"cannot reach the recorder at {location}: {_reason(exc)}")


def _failed(
    location: str, exc: BaseException, *, connected: bool, sqlstate: str | None
) -> RecorderError:
    """A failed query as the store says it, whichever driver asked (psycopg or libpq): the
    server gone, no recorder schema, or anything else in one line."""
    if not connected:
        return _unreachable(location, exc)
    if sqlstate == UNDEFINED_TABLE:
        return RecorderMissing(f"no recorder in {location}")
    return RecorderError(f"{location}: {_reason(exc)}")


def _pg(sql: str) -> str:
    """The shared SQL (`?` placeholders) in psycopg's style."""
    return sql.replace("?", "%s")


class PostgresStore(SqlReads):
    """Read access to a PostgreSQL recorder."""

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        conn: psycopg.AsyncConnection[Any] | None,
        health: Path | None,
        *,
        pq: LibpqConnection | None = None,
    ) -> None:
        self.url = url
        self.location = redact(url)
        self._conn = conn
        self._pq = pq
        """The blocking connection, when opened `blocking` (then `_conn` stays None)."""
        self._health = health

    @classmethod
    async def open(
        cls, url: str, *, health: Path | None = None, blocking: bool = False
    ) -> PostgresStore:
        """Connect and check the schema; `health`: the local writer's health file, if any;
        `blocking`: ask through libpq in the caller's thread (for a command without an event
        loop), when libpq can be loaded.

        One connection does both (a new backend's first look at the partitioned tables is
        most of what opening costs)."""
        from flux_lsp.recorder import libpq

        if blocking and libpq.load() is not None:
            store = cls(url, None, health, pq=cls._connect_blocking(url))
        else:
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
        except RecorderUnreachable:
            raise
        except RecorderMissing:  # the server answered: no recorder tables
            return 0
        return int(rows[0]["value"]) if rows else 0

    @staticmethod
    def _connect_blocking(url: str) -> LibpqConnection:
        from flux_lsp.recorder.libpq import Connection, PgError

        try:
            return Connection.connect(
                url,
                connect_timeout=str(CONNECT_SECONDS),
                options=f"-c search_path={SCHEMA}",
                application_name="flux reader",
            )
        except PgError as exc:
            raise _unreachable(redact(url), exc) from None

    @staticmethod
    async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
        import psycopg
        from psycopg.rows import dict_row

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
            raise _unreachable(redact(url), exc) from None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if self._pq is not None:
            self._pq.close()
        if conn is not None:
            await conn.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._pq is not None:
            return self._ask(self._pq, sql, params)
        import psycopg

        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._conn = await self._connect(self.url)
        try:
            cur = await conn.execute(_pg(sql).encode(), params)
            return await cur.fetchall()
        except psycopg.Error as exc:
            lost = isinstance(exc, psycopg.OperationalError)
            if lost:
                await self.close()
            raise _failed(self.location, exc, connected=not lost, sqlstate=exc.sqlstate) from None

    def _ask(self, conn: LibpqConnection, sql: str, params: Sequence[Any]) -> list[Any]:
        """`_all` through libpq, with the same errors as through psycopg."""
        from flux_lsp.recorder.libpq import PgError, numbered

        try:
            if conn.closed or conn.broken:
                conn.close()
                conn = self._pq = self._connect_blocking(self.url)
            return conn.query(numbered(sql), params)
        except PgError as exc:
            if not exc.connected:
                conn.close()
            raise _failed(
                self.location, exc, connected=exc.connected, sqlstate=exc.sqlstate
            ) from None

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
