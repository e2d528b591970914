"""`ctx`, the second argument of every handler, and its database service.

`ctx.db` wraps the app database in spans; `ctx.now()`, `ctx.random()` and `ctx.new_id()` give
values that are recorded with the execution and fed back when it is replayed. The other
services (`ctx.email`, `ctx.stripe`, `ctx.queue`, `ctx.http`) are attached by the runtime from
their own modules.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import random as _random
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from flux_lsp.runtime.database import (
    AppDatabase,
    PendingTransaction,
    Row,
    RowNotFound,
    query_table,
)
from flux_lsp.runtime.inflight import Trace, require_trace


def _row_summary(rows: list[Row]) -> Any:
    if len(rows) == 1:
        return dict(rows[0])
    return {"rows": len(rows), "first": dict(rows[0]) if rows else None}


class DbService:
    """`ctx.db`: insert, update, delete and query, each one a recorded span."""

    def __init__(self, database: AppDatabase) -> None:
        self._db = database

    async def insert(self, table: str, row: Mapping[str, Any]) -> Row:
        """Insert `row` into `table`; return the stored row, with its generated id."""
        trace = require_trace()
        attrs = {"db.collection.name": table, "db.operation.name": "insert"}
        with trace.span("db.insert", attrs) as span:
            span.input = dict(row)
            result = await self._db.insert(trace, table, row)
            span.output = dict(result)
        return result

    async def update(
        self,
        table: str,
        where: Mapping[str, Any],
        values: Mapping[str, Any],
        *,
        missing_ok: bool = False,
    ) -> list[Row]:
        """Set `values` on the rows matching `where`; `RowNotFound` if none (unless missing_ok)."""
        trace = require_trace()
        attrs = {"db.collection.name": table, "db.operation.name": "update"}
        with trace.span("db.update", attrs) as span:
            span.input = {"where": dict(where), "values": dict(values)}
            rows = await self._db.update(trace, table, where, values)
            span.attributes["db.response.rows_affected"] = len(rows)
            span.output = {"rows_affected": len(rows)}
            if not rows and not missing_ok:
                raise RowNotFound(table, where)
        return rows

    async def delete(
        self, table: str, where: Mapping[str, Any], *, missing_ok: bool = True
    ) -> list[Row]:
        """Delete the rows matching `where`; return them as they were."""
        trace = require_trace()
        attrs = {"db.collection.name": table, "db.operation.name": "delete"}
        with trace.span("db.delete", attrs) as span:
            span.input = {"where": dict(where)}
            rows = await self._db.delete(trace, table, where)
            span.attributes["db.response.rows_affected"] = len(rows)
            span.output = {"rows_affected": len(rows)}
            if not rows and not missing_ok:
                raise RowNotFound(table, where)
        return rows

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run SQL with `$1`, `$2` placeholders; return the rows."""
        trace = require_trace()
        attrs: dict[str, Any] = {"db.operation.name": "query", "db.query.text": sql[:500]}
        table = query_table(sql)
        if table:
            attrs["db.collection.name"] = table
        with trace.span("db.query", attrs) as span:
            span.input = {"sql": sql[:500], "params": list(params)}
            rows, affected = await self._db.query(trace, sql, params)
            span.output = {"rows_affected": affected} if affected else _row_summary(rows)
        return rows

    async def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        rows = await self.query(sql, params)
        return rows[0] if rows else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """`async with ctx.db.transaction():` every write inside commits together, or none does.

        Recorded as a `db.transaction` span whose `db.transaction.outcome` is `committed` or
        `rolled_back`; the writes of a rolled-back transaction are not in the execution's
        mutations (they never happened), only counted on the span."""
        trace = require_trace()
        with trace.span("db.transaction", {"db.operation.name": "transaction"}) as span:
            pending: PendingTransaction | None = None
            try:
                async with self._db.transaction() as pending:
                    yield
            except BaseException:
                span.attributes["db.transaction.outcome"] = "rolled_back"
                span.output = {
                    "outcome": "rolled_back",
                    "writes_undone": len(pending.mutations) if pending is not None else 0,
                }
                raise
            span.attributes["db.transaction.outcome"] = "committed"
            span.output = {"outcome": "committed", "writes": len(pending.mutations)}


class Ctx:
    """The services a handler uses. Built fresh for every execution."""

    def __init__(self, trace: Trace, db: DbService, services: Mapping[str, Any]) -> None:
        self._trace = trace
        self.db = db
        self.request_id = trace.execution_id
        for name, service in services.items():
            setattr(self, name, service)

    def now(self) -> _dt.datetime:
        """The current UTC time (replayed from the recording during a replay)."""
        stamp = self._trace.take_value(lambda: _dt.datetime.now(_dt.UTC).isoformat())
        return _dt.datetime.fromisoformat(stamp)

    def random(self) -> float:
        """A random float in [0, 1) (replayed from the recording during a replay)."""
        return float(self._trace.take_value(_random.random))

    def new_id(self, prefix: str = "") -> str:
        """A random id such as `ord_3f9a2c1b` (replayed from the recording during a replay)."""
        return str(self._trace.take_value(lambda: f"{prefix}{secrets.token_hex(4)}"))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"ctx has no service named {name!r}")
