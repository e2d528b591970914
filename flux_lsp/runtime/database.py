"""The app database behind `ctx.db`: one async interface, two backends.

`AppDatabase` is the protocol the runtime, the queue, replay and deploys use. Its backends are
`SQLiteDatabase` (`sqlite_database.py`, the embedded default: `.flux/app.db`; a call that would
wait for a lock waits on a thread of its own, never on the event loop) and `PostgresDatabase`
(`postgres_database.py`, a psycopg connection pool). `open_database(project)` picks one from
the `[database] url` setting (`FLUX_DATABASE_URL` wins); without a URL it is the SQLite file.

Both backends behave alike: `insert/update/delete/query` with `$1` placeholders, rows read as
`row.email`, `RowNotFound` with the same message, generated `TEXT` ids such as `u_42`, and every
write recorded as a `Mutation` with its row before and after, taken in the write's own
transaction. `transaction()` makes every write inside it commit together or not at all; the
mutations it made reach the trace only when it commits. This module holds what the backends
share (its errors are `database_errors`); it may import `model`, `project`, `runtime.trace`
and `runtime.database_errors`.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from flux_lsp.model import JSON, Mutation
from flux_lsp.runtime.database_errors import DatabaseBusy as DatabaseBusy
from flux_lsp.runtime.database_errors import DatabaseError as DatabaseError
from flux_lsp.runtime.database_errors import RowNotFound as RowNotFound
from flux_lsp.runtime.inflight import Trace

if TYPE_CHECKING:
    from flux_lsp.project import Project

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FROM_TABLE = re.compile(r"\b(?:from|into|update|join)\s+[\"`]?([A-Za-z_][A-Za-z0-9_]*)", re.I)
WRITE_VERB = re.compile(r"^\s*(insert|update|delete|replace)\b", re.I)
MIGRATIONS_TABLE = "_flux_migrations"
JOBS_CHANNEL = "flux_jobs"
"""The PostgreSQL channel a job's enqueue notifies and idle workers listen on."""
DIALECTS = ("sqlite", "postgresql")


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop: a cancellation that lands inside
    a database call can come back as an ordinary error, which a loop that survives errors would
    otherwise swallow (and shutdown would then wait for it forever)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Row(dict[str, Any]):
    """A result row: a dict whose columns can also be read as attributes (`user.email`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_sql_value(value: Any) -> Any:
    """Convert Python values the database cannot take directly (dates as ISO text, JSON)."""
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def check_ident(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DatabaseError(f"invalid {what} name: {name!r}")
    return name


def query_table(sql: str) -> str | None:
    """The first table a SQL statement names (for span labels like `db.query(users)`)."""
    match = _FROM_TABLE.search(sql)
    return match.group(1) if match else None


def row_write(
    table: str,
    op: str,
    pk: str | None,
    before: dict[str, JSON] | None,
    after: dict[str, JSON] | None,
    at: float,
    where: Mapping[str, Any] | None = None,
    rows_affected: int = 1,
) -> Mutation:
    """One row an insert, update or delete wrote, with its images (numbered when recorded)."""
    where_json = dict(where) if where is not None else None
    return Mutation("", 0, table, op, pk, before, after, rows_affected, at, where_json)


def raw_write_mutation(sql: str, verb: str, affected: int) -> Mutation:
    """A write made with raw SQL: counted, without row images (replay cannot undo it)."""
    table = query_table(sql) or "?"
    return row_write(table, verb.lower(), None, None, None, time.time(), rows_affected=affected)


def missed_write(table: str, op: str, where: Mapping[str, Any], at: float) -> Mutation:
    """An update or delete that matched no row: recorded too, as `0 rows affected`."""
    where_json = {k: to_sql_value(v) for k, v in where.items()}
    return row_write(table, op, None, None, None, at, where_json, rows_affected=0)


def where_clause(where: Mapping[str, Any], mark: Callable[[int], str]) -> tuple[str, list[Any]]:
    """`"a" = ? AND "b" IS NULL` and its parameters; `mark(n)` spells the n-th placeholder."""
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        check_ident(key, "column")
        if value is None:
            parts.append(f'"{key}" IS NULL')
        else:
            params.append(to_sql_value(value))
            parts.append(f'"{key}" = {mark(len(params))}')
    return (" AND ".join(parts) or "1 = 1"), params


def generated_id(table: str, number: int) -> str:
    """The id Flux gives a row of a table with a `TEXT` primary key: `u_42` in `users`."""
    return f"{table[0]}_{number}"


def migration_files(folder: Path, dialect: str) -> list[Path]:
    """The migrations for `dialect`, in name order.

    `001_users.sql` runs on every backend; `002_search.postgresql.sql` only on PostgreSQL and
    `002_search.sqlite.sql` only on SQLite, so a project on both keeps its dialect-specific SQL
    side by side."""
    if not folder.is_dir():
        return []
    chosen = []
    for file in sorted(folder.glob("*.sql")):
        suffixes = file.name.split(".")[1:-1]
        if suffixes and suffixes[-1] in DIALECTS and suffixes[-1] != dialect:
            continue
        chosen.append(file)
    return chosen


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table's columns and its single-column primary key (None: SQLite's rowid, or none)."""

    columns: list[str]
    primary_key: str | None
    numeric_key: bool
    """Whether the key (or the rowid standing in for it) is an integer."""


@dataclass(slots=True)
class PendingTransaction:
    """The writes of one open `transaction()`: their mutations wait here until it commits."""

    owner: object
    handle: Any = None
    """The backend's connection for the transaction (PostgreSQL)."""
    mutations: list[tuple[Trace, Mutation]] = field(default_factory=list)


current_transaction: ContextVar[PendingTransaction | None] = ContextVar(
    "flux_db_transaction", default=None
)


def record_mutations(owner: object, trace: Trace | None, mutations: Sequence[Mutation]) -> None:
    """Hand mutations to the trace now, or to the enclosing transaction of `owner` (on commit)."""
    if trace is None:
        return
    pending = current_transaction.get()
    if pending is not None and pending.owner is owner:
        pending.mutations.extend((trace, m) for m in mutations)
        return
    for m in mutations:
        m.execution_id = trace.execution_id
        m.seq = trace.next_mutation_seq()
        trace.add_mutation(m)


def commit_mutations(pending: PendingTransaction) -> None:
    for trace, m in pending.mutations:
        m.execution_id = trace.execution_id
        m.seq = trace.next_mutation_seq()
        trace.add_mutation(m)


def written_rows(
    table: str,
    op: str,
    where: Mapping[str, Any],
    at: float,
    rows: Sequence[tuple[str, dict[str, Any], dict[str, Any] | None]],
) -> tuple[list[Row], list[Mutation]]:
    """What an update or delete of `rows` (each: primary key, row before, row after) returns
    (the rows after an update, before a delete) and records (a missed write when none)."""
    results = [Row(after or {}) if op == "update" else Row(before) for _, before, after in rows]
    mutations = [row_write(table, op, pk, before, after, at, where) for pk, before, after in rows]
    return results, mutations or [missed_write(table, op, where, at)]


class RecordedWrites:
    """The writes of both backends: names and values are checked here, the backend writes the
    rows and takes their images (`_insert_row`, `_change_rows`, `_run_query`), and the
    mutations go to the trace here (or to the enclosing transaction, which the backend opens
    with `_begin` and `transaction()` here joins, holds and commits)."""

    def _joined(self) -> PendingTransaction | None:
        """The transaction of this database the current task is inside, if any."""
        pending = current_transaction.get()
        return pending if pending is not None and pending.owner is self else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PendingTransaction]:
        outer = self._joined()
        if outer is not None:
            yield outer
            return
        async with self._begin() as pending:
            token = current_transaction.set(pending)
            try:
                yield pending
            finally:
                current_transaction.reset(token)
        commit_mutations(pending)

    def _begin(self) -> AbstractAsyncContextManager[PendingTransaction]:
        """A transaction of the backend's: committed when the block ends, rolled back when it
        raises."""
        raise NotImplementedError

    async def insert(self, trace: Trace | None, table: str, row: Mapping[str, Any]) -> Row:
        check_ident(table, "table")
        values = {check_ident(k, "column"): to_sql_value(v) for k, v in row.items()}
        after, mutation = await self._insert_row(table, values)
        record_mutations(self, trace, [mutation])
        return after

    async def update(
        self, trace: Trace | None, table: str, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> list[Row]:
        return await self._change(trace, "update", table, where, values)

    async def delete(self, trace: Trace | None, table: str, where: Mapping[str, Any]) -> list[Row]:
        return await self._change(trace, "delete", table, where, None)

    async def _change(
        self,
        trace: Trace | None,
        op: str,
        table: str,
        where: Mapping[str, Any],
        values: Mapping[str, Any] | None,
    ) -> list[Row]:
        check_ident(table, "table")
        set_values = {check_ident(k, "column"): to_sql_value(v) for k, v in (values or {}).items()}
        if op == "update" and not set_values:
            raise DatabaseError("update needs at least one value to set")
        results, mutations = await self._change_rows(op, table, where, set_values)
        record_mutations(self, trace, mutations)
        return results

    async def query(
        self, trace: Trace | None, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[Row], int]:
        verb = WRITE_VERB.match(sql)
        rows, affected = await self._run_query(sql, [to_sql_value(p) for p in params], bool(verb))
        if affected and verb:
            record_mutations(self, trace, [raw_write_mutation(sql, verb.group(1), affected)])
        return rows, affected

    async def _insert_row(self, table: str, values: dict[str, Any]) -> tuple[Row, Mutation]:
        """Insert one row (an id generated for a `TEXT` key left out): the row, its mutation."""
        raise NotImplementedError

    async def _change_rows(
        self, op: str, table: str, where: Mapping[str, Any], set_values: dict[str, Any]
    ) -> tuple[list[Row], list[Mutation]]:
        """Update (`set_values`) or delete the rows matching `where`, atomically: `written_rows`."""
        raise NotImplementedError

    async def _run_query(self, sql: str, params: list[Any], write: bool) -> tuple[list[Row], int]:
        """Run `$1`-style SQL: its rows, and the rows a `write` affected."""
        raise NotImplementedError


class AppDatabase(Protocol):
    """What `ctx.db`, the queue, replay and deploys need from an app database."""

    dialect: str
    """`sqlite` or `postgresql`."""

    def describe(self) -> str:
        """Which database this is, for `flux status` and logs; never holds a password."""
        ...

    async def open(self) -> None:
        """Connect (a one-line `DatabaseError` when the database cannot be reached)."""
        ...

    async def close(self) -> None: ...

    async def apply_migrations(self, folder: Path) -> list[str]:
        """Apply the migrations in `folder` not applied yet, each whole or not at all, once
        even when several processes start together; return the names applied."""
        ...

    async def apply_schema(self, statements: Sequence[str]) -> None:
        """Run Flux's own `CREATE ... IF NOT EXISTS` statements (service tables)."""
        ...

    async def insert(self, trace: Trace | None, table: str, row: Mapping[str, Any]) -> Row: ...

    async def update(
        self, trace: Trace | None, table: str, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> list[Row]: ...

    async def delete(
        self, trace: Trace | None, table: str, where: Mapping[str, Any]
    ) -> list[Row]: ...

    async def query(
        self, trace: Trace | None, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[Row], int]:
        """Run `sql` with `$1`-style parameters; (rows, rows affected by a write)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[PendingTransaction]:
        """All the writes inside commit together, or none of them (nested calls join)."""
        ...

    async def tables(self) -> list[str]: ...

    async def table_info(self, table: str) -> TableInfo | None:
        """The table's columns and primary key, or None when there is no such table."""
        ...

    async def dump_table(self, table: str) -> list[dict[str, JSON]]: ...

    async def notify_jobs(self) -> None:
        """Tell workers in other processes that a job was enqueued (on commit)."""
        ...

    async def watch_jobs(self, wake: Any) -> None:
        """Set the `asyncio.Event` `wake` whenever another process enqueues a job; runs until
        cancelled (SQLite has no such channel: workers there rely on polling)."""
        ...


def database_url(project: Project) -> str | None:
    """The configured PostgreSQL URL: `FLUX_DATABASE_URL`, else `[database] url`, else None."""
    return project.settings.database.url or None


def describe_url(url: str) -> str:
    """`PostgreSQL db.internal:5432/app` from a URL, without user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    name = parts.path.lstrip("/") or "postgres"
    return f"PostgreSQL {host}{port}/{name}"


def describe_database(project: Project) -> str:
    """Which app database `project` uses, for `flux status` (no connection, no password)."""
    url = database_url(project)
    if url:
        return describe_url(url)
    return f"SQLite {project.relative(project.app_db_path)}"


def open_database(project: Project) -> AppDatabase:
    """The project's app database (not opened yet): PostgreSQL when a URL is set, else SQLite."""
    url = database_url(project)
    if url:
        if urlsplit(url).scheme not in ("postgres", "postgresql"):
            raise DatabaseError(
                f"database url must start with postgresql:// (got {urlsplit(url).scheme}://…)"
            )
        from flux_lsp.runtime.postgres_database import PostgresDatabase

        return PostgresDatabase(url, busy_timeout=project.settings.database.busy_timeout)
    from flux_lsp.runtime.sqlite_database import SQLiteDatabase

    return SQLiteDatabase(project.app_db_path, busy_timeout=project.settings.database.busy_timeout)
