"""The SQL every recorder database answers alike: filters, pages, and rows back into records.

The SQLite file and PostgreSQL hold the same tables with the same columns, so the `WHERE`
clauses of an `ExecutionQuery`, of a mutation search and of a call-site search are built here
once, with `?` placeholders; `PostgresStore` turns them into psycopg's `%s`. The functions that
turn rows (anything indexable by column name) back into `Execution`, `Mutation` and
`CallSiteResult` values live here too, so both stores read rows the same way.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

import orjson

from flux_lsp.model import Execution, Mutation, normalize_id
from flux_lsp.recorder.query import STATUS_CLASSES, ExecutionQuery, MutationQuery
from flux_lsp.recorder.store import AmbiguousExecution, CallSiteResult, UnknownExecution

PAGE = 500
"""Rows per page of a `stream`."""
HEX_ID = re.compile(r"^[0-9a-f]{1,16}$")
RECENT_WINDOWS = (86400.0, 7 * 86400.0)
"""How far back a newest-first query with a limit looks first (`recent_first`): on PostgreSQL a
query bounded in time is planned over the few day partitions it can touch, where an unbounded
one is planned over every partition the retention keeps (about 90 ms for 104 partitions, on
every new connection: every `flux tail`)."""
LIGHT_FIELDS = (
    "id", "kind", "function", "method", "path", "status", "started_at", "duration_ms",
    "code_version", "parent_id",
)  # fmt: skip
"""The columns an execution is listed from, each an `Execution` field of the same name."""
LIGHT_COLUMNS = ", ".join(LIGHT_FIELDS)
FAILURE = "(status = 'failed' OR status LIKE '4__' OR status LIKE '5__')"
"""The executions retention keeps longer: failed jobs and 4xx/5xx responses."""


class Row(Protocol):
    """A result row read by column name (`sqlite3.Row`, psycopg's `dict_row`)."""

    def __getitem__(self, key: str, /) -> Any: ...


def id_prefix(ident: str) -> str:
    """The lower-case hex prefix `ident` stands for; `UnknownExecution` when it is not one."""
    prefix = normalize_id(ident)
    if not HEX_ID.match(prefix):
        raise UnknownExecution(ident)
    return prefix


def next_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (hex ids)."""
    return prefix + "g"


LOG_MATCH = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(record, '$.logs') "
    "WHERE instr(lower(json_extract(value, '$.message')), lower(?)) > 0)",
    "postgres": "EXISTS (SELECT 1 FROM jsonb_array_elements(record::jsonb -> 'logs') AS line "
    "WHERE strpos(lower(line ->> 'message'), lower(?)) > 0)",
}
"""`log~=text`: an execution whose printed or logged lines contain `text`, in any case (the
one clause the two databases spell differently: JSON functions)."""
TRACE_MATCH = {
    "sqlite": "json_extract(record, '$.trace_id') = ?",
    "postgres": "record::jsonb ->> 'trace_id' = ?",
}
"""`trace=<id>`: every execution of one W3C trace. Not indexed: on a large recorder, narrow
it with a time window (`--since`)."""


def execution_where(q: ExecutionQuery, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """` WHERE …` (or nothing) and its parameters for the filter fields of `q`."""
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
        clauses.append(LOG_MATCH[dialect])
        params.append(q.log)
    if q.trace is not None:
        clauses.append(TRACE_MATCH[dialect])
        params.append(q.trace)
    if q.status is not None:
        if q.status == "failed":
            clauses.append("(status = 'failed' OR status LIKE '5__')")
        elif q.status in STATUS_CLASSES:
            clauses.append("status LIKE ?")
            params.append(q.status[0] + "__")
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


def executions_sql(q: ExecutionQuery, dialect: str = "sqlite") -> tuple[str, list[Any]]:
    where, params = execution_where(q, dialect)
    order = "DESC" if q.newest_first else "ASC"
    limit = f" LIMIT {int(q.limit)}" if q.limit is not None else ""
    return (
        f"SELECT record FROM executions{where} ORDER BY started_at {order}, id {order}{limit}",
        params,
    )


def recent_first(query: ExecutionQuery, now: float) -> list[ExecutionQuery]:
    """The queries to try in turn for `query`: for the newest `limit` executions, the recent
    windows (`RECENT_WINDOWS`) less than half as long as its own range, then `query` itself. A
    window that holds `limit` rows holds the newest `limit` of all, so the first that does is
    the answer."""
    if not query.newest_first or query.limit is None:
        return [query]
    tries = []
    for span in RECENT_WINDOWS:
        start = now - span
        if (query.since is not None and query.since >= start - span) or (
            query.until is not None and query.until <= start
        ):
            break
        tries.append(query.with_(since=start))
    return [*tries, query]


def stream_page_sql(
    q: ExecutionQuery, cursor: tuple[float, str] | None, page: int, dialect: str = "sqlite"
) -> tuple[str, list[Any]]:
    """One page of a keyset-paged stream, continuing after `cursor` (started_at, id)."""
    where, params = execution_where(q, dialect)
    op, order = (">", "ASC") if not q.newest_first else ("<", "DESC")
    if cursor is not None:
        where += f"{' AND ' if where else ' WHERE '}(started_at, id) {op} (?, ?)"
        params = [*params, cursor[0], cursor[1]]
    return (
        f"SELECT started_at, id, record FROM executions{where} "
        f"ORDER BY started_at {order}, id {order} LIMIT {int(page)}",
        params,
    )


def function_stats_sql(function: str, since: float | None, limit: int) -> tuple[str, list[Any]]:
    params: list[Any] = [function]
    clause = ""
    if since is not None:
        clause = " AND started_at >= ?"
        params.append(since)
    return (
        f"SELECT {LIGHT_COLUMNS} FROM executions WHERE function = ?{clause} "
        f"ORDER BY started_at DESC LIMIT {int(limit)}",
        params,
    )


def mutations_sql(
    query: MutationQuery, dialect: str = "sqlite", *, started_after: float | None = None
) -> tuple[str, list[Any]]:
    """The mutations `query` asks for, oldest first. `started_after`: a bound on their
    executions' start that the store knows to follow from `query.since` (`_started_after`).

    A table's mutations since a moment (no `pk`) are read along the time index in SQLite: its
    planner, without statistics, would otherwise pick the row index for `table_name = ?` and
    read and sort every mutation the table ever had (50,000 rows: ~10 ms) to return the few
    written since. `+table_name` keeps that index out of the choice.
    """
    by_time = dialect == "sqlite" and query.pk is None and query.since is not None
    clauses: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("+table_name = ?" if by_time else "table_name = ?", query.table),
        ("pk = ?", query.pk),
        ("execution_id = ?", query.execution_id),
        ("at >= ?", query.since),
        ("at < ?", query.until),
        ("exec_started >= ?", started_after),
    ):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if query.creations:
        clauses.append("op IN ('insert', 'update', 'replace') AND after IS NOT NULL")
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    return (
        "SELECT execution_id, seq, table_name, op, pk, rows_affected, at, before, after, "
        f"where_json FROM mutations{where} ORDER BY at, execution_id, seq LIMIT {int(query.limit)}",
        params,
    )


def call_sites_sql(
    file: str, line: int, since: float | None, limit: int, *, started_after: float | None = None
) -> tuple[str, list[Any]]:
    params: list[Any] = [file, line]
    clause = ""
    if since is not None:
        clause = " AND started_at >= ?"
        params.append(since)
    if started_after is not None:
        clause += " AND exec_started >= ?"
        params.append(started_after)
    return (
        "SELECT execution_id, started_at, name, duration_ms, status, summary FROM call_sites "
        f"WHERE file = ? AND line = ?{clause} ORDER BY started_at DESC LIMIT {int(limit)}",
        params,
    )


# -- rows back into values -----------------------------------------------------------------


def execution_from_record(row: Row) -> Execution:
    """An execution from its stored record (which carries its own mutations)."""
    return Execution.from_dict(orjson.loads(row["record"]))


def light_execution(r: Row) -> Execution:
    """An execution from the `LIGHT_COLUMNS` alone (no spans, no mutations)."""
    return Execution(**{name: r[name] for name in LIGHT_FIELDS})


def mutation_from_row(row: Row) -> Mutation:
    """A row of the mutations table as a `Mutation` (a why report reads thousands: no
    per-row closures, JSON parsed only where a column holds some)."""
    before, after, where = row["before"], row["after"], row["where_json"]
    return Mutation(
        row["execution_id"],
        row["seq"],
        row["table_name"],
        row["op"],
        row["pk"],
        orjson.loads(before) if before else None,
        orjson.loads(after) if after else None,
        row["rows_affected"],
        row["at"],
        orjson.loads(where) if where else None,
    )


def call_site_from_row(r: Row) -> CallSiteResult:
    summary = json.loads(r["summary"]) if r["summary"] else {}
    if not isinstance(summary, dict):
        summary = {}
    return CallSiteResult(
        execution_id=r["execution_id"],
        started_at=r["started_at"],
        name=r["name"],
        duration_ms=r["duration_ms"],
        status=r["status"],
        output=summary.get("output"),
        error=summary.get("error"),
        attributes=summary.get("attributes") or {},
    )


# -- the reads both databases answer alike ------------------------------------------------


class SqlReads:
    """The `Store` reads over the recorder's tables, for a store that runs SQL (`?`
    placeholders) with `_all` and names its `dialect`: `SQLiteStore` and `PostgresStore`."""

    dialect = "sqlite"

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]:
        raise NotImplementedError

    # -- executions ----------------------------------------------------------------------

    async def get(self, ident: str) -> Execution:
        prefix = id_prefix(ident)
        if len(prefix) == 16:
            rows = await self._all("SELECT record FROM executions WHERE id = ?", (prefix,))
        else:
            rows = await self._all(
                "SELECT id, record FROM executions WHERE id >= ? AND id < ? ORDER BY id LIMIT 11",
                (prefix, next_prefix(prefix)),
            )
            if len(rows) > 1:
                raise AmbiguousExecution(ident, [r["id"] for r in rows])
        if not rows:
            raise UnknownExecution(ident)
        return execution_from_record(rows[0])

    async def executions(self, query: ExecutionQuery) -> list[Execution]:
        for attempt in recent_first(query, time.time()):
            rows = await self._all(*executions_sql(attempt, self.dialect))
            if query.limit is not None and len(rows) >= query.limit:
                break
        return [execution_from_record(r) for r in rows]

    async def stream(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        cursor: tuple[float, str] | None = None
        remaining = query.limit
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            rows = await self._all(*stream_page_sql(query, cursor, page, self.dialect))
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

    async def _started_after(self, since: float | None) -> float | None:
        """A start that every execution with a mutation or call site at or after `since`
        started at or after, when the store knows one (None: no bound)."""
        return None

    async def mutations(self, query: MutationQuery) -> list[Mutation]:
        bound = await self._started_after(query.since)
        rows = await self._all(*mutations_sql(query, self.dialect, started_after=bound))
        return [mutation_from_row(r) for r in rows]

    async def call_sites(
        self, file: str, line: int, *, since: float | None = None, limit: int = 20
    ) -> list[CallSiteResult]:
        bound = await self._started_after(since)
        rows = await self._all(*call_sites_sql(file, line, since, limit, started_after=bound))
        return [call_site_from_row(r) for r in rows]
