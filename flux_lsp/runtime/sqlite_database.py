"""The embedded SQLite backend of the app database (`.flux/app.db`): no lock wait on the event loop.

A call first runs on the event loop with no lock wait at all (SQLite's busy timeout is 0 there):
in WAL mode a read never waits and a write takes the write lock at once or not at all, so the
common call costs what the SQLite statement costs. Only a call that finds a lock held by another
process moves, untouched, to one thread of the database's own and waits there up to
`busy_timeout` seconds; so such a lock delays only the requests that use the database, the event
loop keeps answering the rest, and a wait that runs out raises `DatabaseBusy`, which the gateway
answers with 503 and `Retry-After`. (A hop to that thread for every call cost about a quarter of a
millisecond of CPU and halved a small handler's throughput.) One connection serves the process:
a `transaction()` holds it (an asyncio lock, taken in turn by every other call) from its
`BEGIN IMMEDIATE` to its `COMMIT`, across the handler's awaits. May import `model` and the
runtime's `database` and `trace` modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from flux_lsp.model import JSON, Mutation
from flux_lsp.runtime.database import (
    MIGRATIONS_TABLE,
    DatabaseBusy,
    DatabaseError,
    PendingTransaction,
    RecordedWrites,
    Row,
    TableInfo,
    check_ident,
    generated_id,
    migration_files,
    row_write,
    where_clause,
    written_rows,
)

T = TypeVar("T")
CHECKPOINT_EVERY = 256
"""Calls between two checkpoints of the write-ahead log. A checkpoint writes the database file
and syncs it, so it runs on the database thread (the connection's `wal_autocheckpoint` is off),
in turn like any call: with no write beside it, the log is then whole in the file and the next
write starts it again from the top, so it stays small."""
_DOLLAR_PARAM = re.compile(r"\$(\d+)")


def copy_database(live: Path, target: Path) -> None:
    """Copy an app database file (opened read-only, consistent even while it is being written).

    Nothing is copied when `live` does not exist yet."""
    if not live.is_file():
        return
    source = sqlite3.connect(f"{live.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        dest = sqlite3.connect(str(target))
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()


def _busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@contextlib.contextmanager
def _failing_as(what: str) -> Iterator[None]:
    """SQLite's errors as `DatabaseError("<what> failed: …")`; a lock wait that ran out is left
    to `_run`, which retries on the thread, and `_waiting`, which makes it `DatabaseBusy`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            raise
        raise DatabaseError(f"{what} failed: {exc}") from None
    except sqlite3.Error as exc:
        raise DatabaseError(f"{what} failed: {exc}") from None


def _pk_text(value: Any, rowid: int) -> str:
    return str(value if value is not None else rowid)


class SQLiteDatabase(RecordedWrites):
    """One SQLite app database file, used from the event loop through its own thread."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._turn: asyncio.Lock | None = None
        self._pk_cache: dict[str, tuple[str | None, str]] = {}
        self._on_thread = 0
        """Calls running on the database thread now (the event loop then leaves the
        connection alone)."""
        self._calls = 0
        self._checkpointing: asyncio.Task[None] | None = None

    def describe(self) -> str:
        return f"SQLite {self.path}"

    # -- the connection and its thread ---------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                isolation_level=None,
                check_same_thread=False,
                timeout=0,  # no wait on the event loop; the thread sets its own (`_waiting`)
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # `_checkpoint`, on the thread
            self._conn = conn
        return self._conn

    async def _call(self, fn: Callable[[sqlite3.Connection], T], *, wait: bool = False) -> T:
        """Run `fn(connection)` in turn with other tasks' calls: here when it takes its locks at
        once, else on the database thread, waiting for them (at once there when `wait`).

        `fn` must be safe to run again after SQLite said busy: it raises before changing
        anything (a write's `BEGIN IMMEDIATE`, a single statement, a read)."""
        if self._joined() is not None:  # the transaction holds the turn
            return await self._run(fn, wait)
        async with self._lock():
            return await self._run(fn, wait)

    async def _run(self, fn: Callable[[sqlite3.Connection], T], wait: bool) -> T:
        if not wait and not self._on_thread:
            try:
                result = fn(self._connect())
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
            else:
                self._calls += 1
                if self._calls >= CHECKPOINT_EVERY and self._checkpointing is None:
                    self._calls = 0
                    # in a context of its own: not part of a transaction this call may be in
                    self._checkpointing = asyncio.create_task(
                        self._checkpoint(), context=contextvars.Context()
                    )
                return result
        self._on_thread += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._waiting, fn)
        finally:
            self._on_thread -= 1

    @property
    def _thread(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-sqlite")
        return self._executor

    def _lock(self) -> asyncio.Lock:
        if self._turn is None:
            self._turn = asyncio.Lock()
        return self._turn

    def _waiting(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn(connection)` on the database thread, waiting up to `busy_timeout` for a lock."""
        conn = self._connect()
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        try:
            return fn(conn)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise DatabaseBusy(
                    f"the app database stayed locked for {self.busy_timeout:g} s",
                    retry_after=max(1, round(self.busy_timeout)),
                ) from None
            raise
        finally:
            if self._conn is not None:
                self._conn.execute("PRAGMA busy_timeout = 0")

    async def _checkpoint(self) -> None:
        """Copy the write-ahead log's pages into the database file (PASSIVE: without waiting
        for readers; what they still need stays for the next one)."""
        try:
            await self._call(
                lambda conn: conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall(), wait=True
            )
        except Exception:  # busy or failing: try again a little later
            self._calls = CHECKPOINT_EVERY // 2
        finally:
            self._checkpointing = None

    async def open(self) -> None:
        await self._call(lambda conn: None, wait=True)

    async def close(self) -> None:
        if self._checkpointing is not None:
            with contextlib.suppress(Exception):
                await self._checkpointing

        def shut(_: sqlite3.Connection) -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        if self._conn is not None:
            await self._call(shut, wait=True)
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self._turn = None

    @contextlib.asynccontextmanager
    async def _begin(self) -> AsyncIterator[PendingTransaction]:
        async with self._lock():
            await self._run(lambda c: c.execute("BEGIN IMMEDIATE"), False)
            try:
                yield PendingTransaction(self)
            except BaseException:
                await asyncio.shield(self._end("ROLLBACK"))
                raise
            await self._end("COMMIT")

    async def _end(self, verb: str) -> None:
        def end(conn: sqlite3.Connection) -> None:
            if conn.in_transaction:
                conn.execute(verb)

        await self._run(end, False)

    @staticmethod
    @contextlib.contextmanager
    def _atomic(conn: sqlite3.Connection) -> Any:
        """One statement group as its own transaction, or part of the open one."""
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------

    async def apply_migrations(self, folder: Path) -> list[str]:
        files = migration_files(folder, self.dialect)
        return await self._call(lambda conn: self._migrate(conn, files), wait=True)

    def _migrate(self, conn: sqlite3.Connection, files: list[Path]) -> list[str]:
        """Under a lock file beside the database, so processes starting together apply each
        migration once."""
        with open(self.path.with_name(self.path.name + ".migrate-lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._migrate_locked(conn, files)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _migrate_locked(self, conn: sqlite3.Connection, files: list[Path]) -> list[str]:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
            "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        done = {r[0] for r in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        applied: list[str] = []
        for file in files:
            if file.name in done:
                continue
            script = file.read_text(encoding="utf-8")
            try:
                conn.executescript(
                    "BEGIN;\n"
                    + script
                    + f"\n;INSERT INTO {MIGRATIONS_TABLE} VALUES "
                    + f"('{file.name.replace(chr(39), '')}', {time.time()});\nCOMMIT;"
                )
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise DatabaseError(f"migration {file.name} failed: {exc}") from None
            applied.append(file.name)
        self._pk_cache.clear()
        return applied

    async def apply_schema(self, statements: Sequence[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with self._atomic(conn):
                for statement in statements:
                    conn.execute(statement)

        await self._call(run)

    async def tables(self) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
            return [r[0] for r in rows]

        return await self._call(run)

    async def table_info(self, table: str) -> TableInfo | None:
        def run(conn: sqlite3.Connection) -> TableInfo | None:
            rows = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            if not rows:
                return None
            pks = [r for r in rows if r[5]]
            pk = pks[0][1] if len(pks) == 1 else None
            numeric = pk is None or "INT" in (pks[0][2] or "").upper()
            return TableInfo([r[1] for r in rows], pk, numeric)

        check_ident(table, "table")
        return await self._call(run)

    def _primary_key(self, conn: sqlite3.Connection, table: str) -> tuple[str | None, str]:
        """(primary-key column or None for rowid tables, its declared type)."""
        cached = self._pk_cache.get(table)
        if cached is not None:
            return cached
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        if not info:
            raise DatabaseError(f"no such table: {table}")
        pks = [r for r in info if r["pk"]]
        result: tuple[str | None, str] = (
            (pks[0]["name"], (pks[0]["type"] or "").upper()) if len(pks) == 1 else (None, "")
        )
        self._pk_cache[table] = result
        return result

    # -- writes with their mutation images -----------------------------------------------

    async def _insert_row(self, table: str, values: dict[str, Any]) -> tuple[Row, Mutation]:
        return await self._call(lambda conn: self._insert(conn, table, values))

    def _insert(
        self, conn: sqlite3.Connection, table: str, values: dict[str, Any]
    ) -> tuple[Row, Mutation]:
        with self._atomic(conn):
            pk_col, pk_type = self._primary_key(conn, table)
            if pk_col and pk_col not in values and "TEXT" in pk_type:
                n = conn.execute(f'SELECT COALESCE(MAX(rowid), 0) + 1 FROM "{table}"').fetchone()[0]
                values[pk_col] = generated_id(table, n)
            cols = ", ".join(f'"{c}"' for c in values)
            marks = ", ".join("?" for _ in values)
            sql = (
                f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'
                if values
                else f'INSERT INTO "{table}" DEFAULT VALUES'
            )
            with _failing_as(f"insert into {table}"):
                cur = conn.execute(sql, list(values.values()))
            rowid = cur.lastrowid or 0
            after = Row(
                conn.execute(f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
            )
        pk = _pk_text(after.get(pk_col) if pk_col else None, rowid)
        return after, row_write(table, "insert", pk, None, dict(after), time.time())

    async def _change_rows(
        self, op: str, table: str, where: Mapping[str, Any], set_values: dict[str, Any]
    ) -> tuple[list[Row], list[Mutation]]:
        where_sql, params = where_clause(where, lambda n: "?")
        return await self._call(
            lambda conn: self._change_sync(conn, op, table, where, where_sql, params, set_values)
        )

    def _change_sync(
        self,
        conn: sqlite3.Connection,
        op: str,
        table: str,
        where: Mapping[str, Any],
        where_sql: str,
        params: list[Any],
        set_values: dict[str, Any],
    ) -> tuple[list[Row], list[Mutation]]:
        now = time.time()
        written: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        with self._atomic(conn):
            pk_col, _ = self._primary_key(conn, table)
            before_rows = conn.execute(
                f'SELECT rowid AS __rowid, * FROM "{table}" WHERE {where_sql}', params
            ).fetchall()
            with _failing_as(f"{op} on {table}"):
                if op == "update":
                    assignments = ", ".join(f'"{c}" = ?' for c in set_values)
                    conn.execute(
                        f'UPDATE "{table}" SET {assignments} WHERE {where_sql}',
                        [*set_values.values(), *params],
                    )
                else:
                    conn.execute(f'DELETE FROM "{table}" WHERE {where_sql}', params)
            for b in before_rows:
                before = {k: b[k] for k in b.keys() if k != "__rowid"}  # noqa: SIM118 (sqlite3.Row iterates values)
                rowid = b["__rowid"]
                after: dict[str, Any] | None = None
                if op == "update":
                    got = conn.execute(
                        f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)
                    ).fetchone()
                    after = dict(got) if got else None
                pk = _pk_text(before.get(pk_col) if pk_col else None, rowid)
                written.append((pk, before, after))
        return written_rows(table, op, where, now, written)

    # -- reads ----------------------------------------------------------------------------

    async def _run_query(self, sql: str, params: list[Any], write: bool) -> tuple[list[Row], int]:
        converted = _DOLLAR_PARAM.sub(r"?\1", sql)

        def run(conn: sqlite3.Connection) -> tuple[list[Row], int]:
            with _failing_as("query"):
                cur = conn.execute(converted, params)
                rows = [Row(r) for r in cur.fetchall()]
            return rows, (cur.rowcount if write else 0)

        return await self._call(run)

    async def dump_table(self, table: str) -> list[dict[str, JSON]]:
        check_ident(table, "table")
        return await self._call(
            lambda conn: [dict(r) for r in conn.execute(f'SELECT * FROM "{table}"')], wait=True
        )

    async def notify_jobs(self) -> None:
        return None

    async def watch_jobs(self, wake: Any) -> None:
        await asyncio.Event().wait()
