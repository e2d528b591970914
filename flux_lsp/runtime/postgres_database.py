"""The PostgreSQL backend of the app database: psycopg 3 with a connection pool.

Several `flux serve` processes, on several hosts, share one database:
- generated `TEXT` ids (`u_42`) come from a sequence per table (`_flux_id_<table>`), so they are
  unique across processes;
- each write takes its row images (`SELECT ... FOR UPDATE`, `RETURNING *`) in its own
  transaction, or in the open `transaction()`;
- migrations run under an advisory lock, each file in its own transaction, and are remembered
  in `_flux_migrations`, so processes starting together apply each file once;
- a lock wait longer than `busy_timeout` (PostgreSQL's `lock_timeout`), or no free pooled
  connection within it, raises `DatabaseBusy` (503 with `Retry-After`);
- `notify_jobs` / `watch_jobs` are `NOTIFY` / `LISTEN` on the `flux_jobs` channel.
Queries keep their `$1` placeholders: they are sent as written (psycopg's raw cursor). May
import `model` and the runtime's `database` and `trace` modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import decimal
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
from psycopg import AsyncConnection, AsyncRawCursor
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from flux_lsp.model import JSON, Mutation
from flux_lsp.runtime.database import (
    JOBS_CHANNEL,
    MIGRATIONS_TABLE,
    DatabaseBusy,
    DatabaseError,
    PendingTransaction,
    RecordedWrites,
    Row,
    TableInfo,
    check_ident,
    describe_url,
    generated_id,
    migration_files,
    row_write,
    stop_if_cancelled,
    where_clause,
    written_rows,
)

log = logging.getLogger("flux.database")

MIGRATION_LOCK = 0x666C7578  # "flux": the advisory lock migrations run under
POOL_SIZE = 10
CONNECT_TIMEOUT = 10

Conn = AsyncConnection[dict[str, Any]]
_EXISTS = "SELECT to_regclass($1) IS NOT NULL AS ok"
_RETURNING = "RETURNING *, ctid::text AS __ctid"


def plain(value: Any) -> Any:
    """A column value as the recorder keeps it (JSON-friendly, as SQLite would return it)."""
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _row(record: Mapping[str, Any]) -> Row:
    return Row({k: plain(v) for k, v in record.items()})


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresDatabase(RecordedWrites):
    """The app database on a PostgreSQL server, through a pool of connections."""

    dialect = "postgresql"

    def __init__(self, url: str, *, busy_timeout: float = 5.0, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._pk_cache: dict[str, tuple[str | None, str]] = {}
        self._sequences: set[str] = set()
        self._sequence_lock = asyncio.Lock()

    def describe(self) -> str:
        return describe_url(self.url)

    def _busy(self, what: str) -> DatabaseBusy:
        return DatabaseBusy(
            f"{what}: the app database stayed locked for {self.busy_timeout:g} s",
            retry_after=max(1, round(self.busy_timeout)),
        )

    # -- connections -----------------------------------------------------------------------

    def _connect_options(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "row_factory": dict_row,
            "cursor_factory": AsyncRawCursor,
            "options": f"-c lock_timeout={int(self.busy_timeout * 1000)}",
        }

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:  # one direct connection first: its error says why (refused, auth, no database)
            probe = await AsyncConnection.connect(self.url, connect_timeout=CONNECT_TIMEOUT)
            await probe.close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(f"cannot connect to {self.describe()}: {reason}") from None
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            kwargs=self._connect_options(),
            timeout=self.busy_timeout,
            name="flux-app",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            await pool.close()
            raise DatabaseError(f"cannot connect to {self.describe()}") from None
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """The open transaction's connection, or a pooled one for this call."""
        pending = self._joined()
        if pending is not None:
            yield pending.handle
            return
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise self._busy("no free database connection") from None

    @contextlib.asynccontextmanager
    async def _atomic(self) -> AsyncIterator[Conn]:
        """A connection inside a transaction: the open one, or one for this call only."""
        async with self._connection() as conn:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                yield conn
                return
            async with conn.transaction():
                yield conn

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[PendingTransaction]:
        async with self._connection() as conn, conn.transaction():
            yield PendingTransaction(self, conn)

    async def _execute(
        self, conn: Conn, sql: str, params: Sequence[Any] = (), what: str = "query"
    ) -> psycopg.AsyncCursor[dict[str, Any]]:
        try:
            return await conn.execute(sql, list(params))
        except psycopg.errors.LockNotAvailable:
            raise self._busy(what) from None
        except psycopg.Error as exc:
            message = (exc.diag.message_primary if exc.diag else None) or str(exc)
            raise DatabaseError(f"{what} failed: {message}") from None

    async def _fetch(
        self, conn: Conn, sql: str, params: Sequence[Any] = (), what: str = "query"
    ) -> list[Row]:
        cur = await self._execute(conn, sql, params, what)
        return [_row(r) for r in await cur.fetchall()] if cur.description else []

    # -- schema -------------------------------------------------------------------------

    async def apply_migrations(self, folder: Path) -> list[str]:
        files = migration_files(folder, self.dialect)
        applied: list[str] = []
        async with self._connection() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK])
            try:
                await conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                    "(name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
                cur = await conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")
                done = {r["name"] for r in await cur.fetchall()}
                for file in files:
                    if file.name in done:
                        continue
                    script = file.read_text(encoding="utf-8")
                    try:
                        async with conn.transaction():
                            await conn.execute(script.encode())
                            await conn.execute(
                                f"INSERT INTO {MIGRATIONS_TABLE} VALUES ($1, $2)",
                                [file.name, time.time()],
                            )
                    except psycopg.Error as exc:
                        message = (exc.diag.message_primary if exc.diag else None) or str(exc)
                        raise DatabaseError(f"migration {file.name} failed: {message}") from None
                    applied.append(file.name)
            finally:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK])
        self._pk_cache.clear()
        return applied

    async def apply_schema(self, statements: Sequence[str]) -> None:
        async with self._connection() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK])
            try:
                async with conn.transaction():
                    for statement in statements:
                        await self._execute(conn, statement, what="schema")
            finally:
                with contextlib.suppress(psycopg.Error):
                    await conn.execute("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK])

    async def tables(self) -> list[str]:
        async with self._connection() as conn:
            rows = await self._fetch(
                conn,
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename",
            )
        return [str(r["tablename"]) for r in rows]

    async def table_info(self, table: str) -> TableInfo | None:
        check_ident(table, "table")
        async with self._connection() as conn:
            columns = await self._fetch(
                conn,
                "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass($1) "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                [_quoted(table)],
            )
            if not columns:
                return None
            pk, pk_type = await self._primary_key(conn, table)
        numeric = any(t in pk_type for t in ("INT", "SERIAL", "NUMERIC"))
        return TableInfo([str(c["name"]) for c in columns], pk, numeric)

    async def _primary_key(self, conn: Conn, table: str) -> tuple[str | None, str]:
        cached = self._pk_cache.get(table)
        if cached is not None:
            return cached
        exists = await self._fetch(conn, _EXISTS, [_quoted(table)])
        if not exists or not exists[0]["ok"]:
            raise DatabaseError(f"no such table: {table}")
        rows = await self._fetch(
            conn,
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type "
            "FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass($1) AND i.indisprimary",
            [_quoted(table)],
        )
        result: tuple[str | None, str] = (
            (str(rows[0]["name"]), str(rows[0]["type"]).upper()) if len(rows) == 1 else (None, "")
        )
        self._pk_cache[table] = result
        return result

    async def _id_sequence(self, table: str, pk_col: str) -> str:
        """The sequence numbering the table's generated ids (`u_42`), created on first use."""
        sequence = _quoted(f"_flux_id_{table}")
        if table not in self._sequences:
            async with self._sequence_lock:
                if table not in self._sequences:
                    await self._create_sequence(sequence, table, pk_col)
                    self._sequences.add(table)
        return sequence

    async def _create_sequence(self, sequence: str, table: str, pk_col: str) -> None:
        """Create the table's id sequence if no process has, starting after the highest
        generated id in the table; committed on a connection of its own (outside the pool, so
        it never waits for a pooled connection), so every process sees it at once."""
        try:
            conn = await AsyncConnection.connect(self.url, **self._connect_options())
        except psycopg.Error as exc:
            raise DatabaseError(f"id sequence for {table} failed: {exc}") from None
        try:
            async with conn.transaction():
                await self._execute(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", [sequence])
                found = await self._fetch(conn, _EXISTS, [sequence])
                if found[0]["ok"]:
                    return
                await self._execute(conn, f"CREATE SEQUENCE {sequence}", what="id sequence")
                top = await self._fetch(
                    conn,
                    f"SELECT COALESCE(MAX(substring({_quoted(pk_col)} FROM $1)::bigint), 0) AS n "
                    f"FROM {_quoted(table)}",
                    [f"^{table[0]}_([0-9]+)$"],
                )
                if int(top[0]["n"] or 0) > 0:
                    await self._execute(conn, "SELECT setval($1, $2)", [sequence, top[0]["n"]])
        finally:
            await conn.close()

    # -- writes with their mutation images -----------------------------------------------

    async def _insert_row(self, table: str, values: dict[str, Any]) -> tuple[Row, Mutation]:
        async with self._connection() as conn:  # one statement: atomic on its own
            pk_col, pk_type = await self._primary_key(conn, table)
            params = list(values.values())
            cols = [_quoted(c) for c in values]
            marks = [f"${i}" for i in range(1, len(values) + 1)]
            if pk_col and pk_col not in values and ("TEXT" in pk_type or "CHAR" in pk_type):
                sequence = await self._id_sequence(table, pk_col)
                cols.append(_quoted(pk_col))  # `u_` || the sequence's next number
                marks.append(f"${len(params) + 1} || nextval(${len(params) + 2})")
                params += [generated_id(table, 0)[:-1], sequence]
            body = f"({', '.join(cols)}) VALUES ({', '.join(marks)})" if cols else "DEFAULT VALUES"
            sql = f"INSERT INTO {_quoted(table)} {body} {_RETURNING}"
            rows = await self._fetch(conn, sql, params, f"insert into {table}")
        after = rows[0]
        ctid = after.pop("__ctid")
        pk = str(after[pk_col]) if pk_col and after.get(pk_col) is not None else str(ctid)
        return after, row_write(table, "insert", pk, None, dict(after), time.time())

    async def _change_rows(
        self, op: str, table: str, where: Mapping[str, Any], set_values: dict[str, Any]
    ) -> tuple[list[Row], list[Mutation]]:
        where_sql, params = where_clause(where, lambda n: f"${n}")
        now = time.time()
        what = f"{op} on {table}"
        pairs: list[tuple[Row, Row | None]] = []
        async with self._atomic() as conn:
            pk_col, _ = await self._primary_key(conn, table)
            befores = await self._fetch(
                conn,
                f"SELECT *, ctid::text AS __ctid FROM {_quoted(table)} "
                f"WHERE {where_sql} FOR UPDATE",
                params,
                what,
            )
            for before in befores:
                ctid = before["__ctid"]
                if op == "update":
                    assignments = ", ".join(
                        f"{_quoted(c)} = ${i}" for i, c in enumerate(set_values, start=2)
                    )
                    got = await self._fetch(
                        conn,
                        f"UPDATE {_quoted(table)} SET {assignments} WHERE ctid = $1::tid "
                        "RETURNING *",
                        [ctid, *set_values.values()],
                        what,
                    )
                    pairs.append((before, got[0] if got else None))
                else:
                    await self._execute(
                        conn, f"DELETE FROM {_quoted(table)} WHERE ctid = $1::tid", [ctid], what
                    )
                    pairs.append((before, None))
        written: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        for before, after in pairs:
            ctid = before.pop("__ctid")
            pk = str(before[pk_col]) if pk_col and before.get(pk_col) is not None else ctid
            written.append((pk, dict(before), dict(after) if after is not None else None))
        return written_rows(table, op, where, now, written)

    # -- reads ----------------------------------------------------------------------------

    async def _run_query(self, sql: str, params: list[Any], write: bool) -> tuple[list[Row], int]:
        async with self._connection() as conn:
            cur = await self._execute(conn, sql, params)
            rows = [_row(r) for r in await cur.fetchall()] if cur.description else []
            return rows, max(cur.rowcount, 0) if write else 0

    async def dump_table(self, table: str) -> list[dict[str, JSON]]:
        check_ident(table, "table")
        async with self._connection() as conn:
            rows = await self._fetch(conn, f"SELECT * FROM {_quoted(table)}")
        return [dict(r) for r in rows]

    # -- job notifications -----------------------------------------------------------------

    async def notify_jobs(self) -> None:
        async with self._connection() as conn:
            await self._execute(conn, f"NOTIFY {JOBS_CHANNEL}")

    async def watch_jobs(self, wake: Any) -> None:
        delay = 0.2
        while True:
            try:
                conn = await AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
            except psycopg.Error as exc:
                stop_if_cancelled()
                log.warning("cannot listen for jobs on %s: %s", self.describe(), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                await conn.execute(f"LISTEN {JOBS_CHANNEL}")
                delay = 0.2
                wake.set()  # anything enqueued while not listening
                async for _ in conn.notifies():
                    wake.set()
            except psycopg.Error as exc:
                stop_if_cancelled()
                log.warning("job notifications from %s stopped: %s", self.describe(), exc)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
