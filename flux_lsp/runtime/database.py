"""The app database behind `ctx.db`: embedded SQLite, migrations, and the mutation log.

Each insert, update and delete runs in its own transaction that also reads the affected rows
before and after, so the `Mutation` handed to the trace is exactly what the write did — or,
when the write fails, nothing. Calls run on the event loop's thread: an embedded SQLite write
takes well under a millisecond, less than a hop to a worker thread would.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flux_lsp.model import JSON, Mutation, describe_where
from flux_lsp.runtime.inflight import Trace

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOLLAR_PARAM = re.compile(r"\$(\d+)")
_FROM_TABLE = re.compile(r"\b(?:from|into|update|join)\s+[\"`]?([A-Za-z_][A-Za-z0-9_]*)", re.I)
_WRITE_VERB = re.compile(r"^\s*(insert|update|delete|replace)\b", re.I)
MIGRATIONS_TABLE = "_flux_migrations"


class DatabaseError(Exception):
    """A `ctx.db` call that cannot be carried out as asked (unknown table, bad column, ...)."""


class RowNotFound(DatabaseError):
    """An update or delete matched no row."""

    def __init__(self, table: str, where: Mapping[str, Any]) -> None:
        self.table = table
        self.where = dict(where)
        super().__init__(f"Row not found: {table} WHERE {describe_where(where)}")


class Row(dict[str, Any]):
    """A result row: a dict whose columns can also be read as attributes (`user.email`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def to_sql_value(value: Any) -> Any:
    """Convert Python values SQLite cannot store directly."""
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _check_ident(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENT.match(name):
        raise DatabaseError(f"invalid {what} name: {name!r}")
    return name


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


class AppDatabase:
    """One SQLite app database file with the project's migrations applied."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        self._pk_cache: dict[str, tuple[str | None, str]] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- schema -------------------------------------------------------------------------

    def apply_migrations(self, folder: Path) -> list[str]:
        """Apply `folder/*.sql` not yet applied, in name order; return the names applied."""
        with self._lock:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            done = {r[0] for r in self._conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
            applied: list[str] = []
            if not folder.is_dir():
                return applied
            for file in sorted(folder.glob("*.sql")):
                if file.name in done:
                    continue
                script = file.read_text(encoding="utf-8")
                try:
                    self._conn.executescript(
                        "BEGIN;\n"
                        + script
                        + f"\n;INSERT INTO {MIGRATIONS_TABLE} VALUES "
                        + f"('{file.name.replace(chr(39), '')}', {time.time()});\nCOMMIT;"
                    )
                except sqlite3.Error as exc:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise DatabaseError(f"migration {file.name} failed: {exc}") from None
                applied.append(file.name)
            self._pk_cache.clear()
            return applied

    def tables(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return [r[0] for r in rows]

    def primary_key(self, table: str) -> tuple[str | None, str]:
        """(primary-key column or None for rowid tables, its declared type)."""
        cached = self._pk_cache.get(table)
        if cached is not None:
            return cached
        info = self._conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        if not info:
            raise DatabaseError(f"no such table: {table}")
        pks = [r for r in info if r["pk"]]
        result: tuple[str | None, str] = (
            (pks[0]["name"], (pks[0]["type"] or "").upper()) if len(pks) == 1 else (None, "")
        )
        self._pk_cache[table] = result
        return result

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    # -- writes with their mutation images -----------------------------------------------

    def _pk_of(self, table: str, row: Mapping[str, Any], rowid: int) -> str:
        col, _ = self.primary_key(table)
        value = row.get(col) if col else rowid
        return str(value if value is not None else rowid)

    def insert(self, trace: Trace | None, table: str, row: Mapping[str, Any]) -> Row:
        _check_ident(table, "table")
        values = {_check_ident(k, "column"): to_sql_value(v) for k, v in row.items()}
        with self.transaction() as conn:
            pk_col, pk_type = self.primary_key(table)
            if pk_col and pk_col not in values and "TEXT" in pk_type:
                n = conn.execute(f'SELECT COALESCE(MAX(rowid), 0) + 1 FROM "{table}"').fetchone()[0]
                values[pk_col] = f"{table[0]}_{n}"
            cols = ", ".join(f'"{c}"' for c in values)
            marks = ", ".join("?" for _ in values)
            sql = (
                f'INSERT INTO "{table}" ({cols}) VALUES ({marks})'
                if values
                else (f'INSERT INTO "{table}" DEFAULT VALUES')
            )
            try:
                cur = conn.execute(sql, list(values.values()))
            except sqlite3.Error as exc:
                raise DatabaseError(f"insert into {table} failed: {exc}") from None
            rowid = cur.lastrowid or 0
            after = Row(
                conn.execute(f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
            )
            if trace is not None:
                trace.add_mutation(
                    Mutation(
                        execution_id=trace.execution_id,
                        seq=trace.next_mutation_seq(),
                        table=table,
                        op="insert",
                        pk=self._pk_of(table, after, rowid),
                        before=None,
                        after=dict(after),
                        rows_affected=1,
                        at=time.time(),
                    )
                )
        return after

    def _where_sql(self, where: Mapping[str, Any]) -> tuple[str, list[Any]]:
        parts, params = [], []
        for key, value in where.items():
            _check_ident(key, "column")
            if value is None:
                parts.append(f'"{key}" IS NULL')
            else:
                parts.append(f'"{key}" = ?')
                params.append(to_sql_value(value))
        return (" AND ".join(parts) or "1"), params

    def _change(
        self,
        trace: Trace | None,
        op: str,
        table: str,
        where: Mapping[str, Any],
        values: Mapping[str, Any] | None,
    ) -> list[Row]:
        _check_ident(table, "table")
        where_sql, params = self._where_sql(where)
        set_values = {_check_ident(k, "column"): to_sql_value(v) for k, v in (values or {}).items()}
        if op == "update" and not set_values:
            raise DatabaseError("update needs at least one value to set")
        now = time.time()
        with self.transaction() as conn:
            before_rows = conn.execute(
                f'SELECT rowid AS __rowid, * FROM "{table}" WHERE {where_sql}', params
            ).fetchall()
            try:
                if op == "update":
                    assignments = ", ".join(f'"{c}" = ?' for c in set_values)
                    conn.execute(
                        f'UPDATE "{table}" SET {assignments} WHERE {where_sql}',
                        [*set_values.values(), *params],
                    )
                else:
                    conn.execute(f'DELETE FROM "{table}" WHERE {where_sql}', params)
            except sqlite3.Error as exc:
                raise DatabaseError(f"{op} on {table} failed: {exc}") from None
            results: list[Row] = []
            mutations: list[Mutation] = []
            for b in before_rows:
                before = {k: b[k] for k in b.keys() if k != "__rowid"}  # noqa: SIM118 (sqlite3.Row iterates values)
                rowid = b["__rowid"]
                after: dict[str, Any] | None = None
                if op == "update":
                    got = conn.execute(
                        f'SELECT * FROM "{table}" WHERE rowid = ?', (rowid,)
                    ).fetchone()
                    after = dict(got) if got else None
                    results.append(Row(after or {}))
                else:
                    results.append(Row(before))
                mutations.append(
                    Mutation(
                        execution_id=trace.execution_id if trace else "",
                        seq=0,
                        table=table,
                        op=op,
                        pk=self._pk_of(table, before, rowid),
                        before=before,
                        after=after,
                        rows_affected=1,
                        at=now,
                        where=dict(where),
                    )
                )
            if not before_rows:
                mutations.append(
                    Mutation(
                        execution_id=trace.execution_id if trace else "",
                        seq=0,
                        table=table,
                        op=op,
                        pk=None,
                        before=None,
                        after=None,
                        rows_affected=0,
                        at=now,
                        where={k: to_sql_value(v) for k, v in where.items()},
                    )
                )
            if trace is not None:
                for m in mutations:
                    m.seq = trace.next_mutation_seq()
                    trace.add_mutation(m)
        return results

    def update(
        self, trace: Trace | None, table: str, where: Mapping[str, Any], values: Mapping[str, Any]
    ) -> list[Row]:
        return self._change(trace, "update", table, where, values)

    def delete(self, trace: Trace | None, table: str, where: Mapping[str, Any]) -> list[Row]:
        return self._change(trace, "delete", table, where, None)

    # -- reads ----------------------------------------------------------------------------

    def query(
        self, trace: Trace | None, sql: str, params: Sequence[Any] = ()
    ) -> tuple[list[Row], int]:
        """Run `sql` with `$1`-style parameters; (rows, rows affected by a write)."""
        converted = _DOLLAR_PARAM.sub(r"?\1", sql)
        with self._lock:
            try:
                cur = self._conn.execute(converted, [to_sql_value(p) for p in params])
                rows = [Row(r) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise DatabaseError(f"query failed: {exc}") from None
            affected = cur.rowcount if _WRITE_VERB.match(sql) else 0
        if affected and trace is not None:
            verb = _WRITE_VERB.match(sql)
            trace.add_mutation(
                Mutation(
                    execution_id=trace.execution_id,
                    seq=trace.next_mutation_seq(),
                    table=query_table(sql) or "?",
                    op=verb.group(1).lower() if verb else "write",
                    pk=None,
                    before=None,
                    after=None,
                    rows_affected=affected,
                    at=time.time(),
                )
            )
        return rows, affected

    def dump_table(self, table: str) -> list[dict[str, JSON]]:
        _check_ident(table, "table")
        with self._lock:
            return [dict(r) for r in self._conn.execute(f'SELECT * FROM "{table}"')]


def query_table(sql: str) -> str | None:
    """The first table a SQL statement names (for span labels like `db.query(users)`)."""
    match = _FROM_TABLE.search(sql)
    return match.group(1) if match else None
