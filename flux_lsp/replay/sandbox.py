"""The sandbox a replay writes to: a copy of the app database as it was at a point in time.

`Sandbox.create` takes a scratch copy of the live app database (`runtime.scratch`: a copied
SQLite file, or a scratch PostgreSQL database filled from one snapshot of the live one; the
live data is only read) and walks the mutation log backwards: every insert, update and delete
recorded at or after the point in time is undone, newest first, from the before/after images
the recorder holds. The result is the data as it was when the window started. Flux's own jobs
table, which the queue writes outside the mutation log, is rolled back by its `created_at`.
Writes that cannot be undone (raw SQL through `ctx.db.query`, tables since dropped) are counted
as warnings, not guessed at. The scratch copy is deleted by `close`, also after Ctrl-C.

During a replay, recorded job runs that are not re-run (no `--with-jobs`) have their recorded
writes re-applied with `redo`, so the data evolves as it did when recorded.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flux_lsp.encode import to_json
from flux_lsp.model import JSON, Mutation
from flux_lsp.project import Project
from flux_lsp.recorder.store import Store, mutation_pages
from flux_lsp.runtime.database import AppDatabase, DatabaseError, TableInfo
from flux_lsp.runtime.queue import JOBS_TABLE
from flux_lsp.runtime.scratch import scratch_copy

FLUX_TABLES_BY_CREATION = {JOBS_TABLE: "created_at"}
"""Flux's own tables written outside the mutation log, and the column dating each row."""


@dataclass(slots=True)
class SandboxStats:
    """What building the sandbox did: mutations undone, and what it could not undo."""

    undone: int = 0
    skipped_zero_row: int = 0
    flux_rows_removed: int = 0
    redone: int = 0
    warnings: list[str] = field(default_factory=list)


class _Writer:
    """Applies row images to the sandbox: the shared step of undo and redo."""

    def __init__(self, database: AppDatabase, stats: SandboxStats) -> None:
        self.db = database
        self.stats = stats
        self._info: dict[str, TableInfo | None] = {}
        self._unknown_tables: set[str] = set()
        self._raw_writes = 0

    async def table(self, name: str) -> TableInfo | None:
        if name not in self._info:
            try:
                self._info[name] = await self.db.table_info(name)
            except DatabaseError:
                self._info[name] = None
        return self._info[name]

    def _key(self, numeric: bool, pk: JSON) -> JSON:
        if numeric and isinstance(pk, str) and pk.lstrip("-").isdigit():
            return int(pk)
        return pk

    def _key_column(self, info: TableInfo) -> str:
        if info.primary_key:
            return f'"{info.primary_key}"'
        if self.db.dialect == "sqlite":
            return "rowid"
        raise DatabaseError("a table without a primary key cannot be rolled back on PostgreSQL")

    async def _delete(self, table: str, info: TableInfo, pk: JSON) -> None:
        column = self._key_column(info)
        await self.db.query(
            None, f'DELETE FROM "{table}" WHERE {column} = $1', [self._key(info.numeric_key, pk)]
        )

    async def _put(self, table: str, info: TableInfo, row: dict[str, Any]) -> None:
        """Make `row` the row with its key: updated in place when it exists (keeping its rowid,
        which SQLite's id generator counts from), else inserted (on SQLite at the rowid its
        generated id names)."""
        values = {k: _sql(v) for k, v in row.items() if k in info.columns}
        if not values:
            return
        pk_col = info.primary_key
        key = values.get(pk_col) if pk_col else None
        if pk_col and key is not None:
            assignments = ", ".join(f'"{c}" = ${i}' for i, c in enumerate(values, start=2))
            _, changed = await self.db.query(
                None,
                f'UPDATE "{table}" SET {assignments} WHERE "{pk_col}" = $1',
                [self._key(info.numeric_key, key), *values.values()],
            )
            if changed:
                return
            rowid = _generated_rowid(table, key)
            if self.db.dialect == "sqlite" and rowid is not None and not info.numeric_key:
                taken, _ = await self.db.query(
                    None, f'SELECT 1 FROM "{table}" WHERE rowid = $1', [rowid]
                )
                if not taken:
                    values = {"rowid": rowid, **values}
        names = ", ".join("rowid" if c == "rowid" else f'"{c}"' for c in values)
        marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        verb = "INSERT OR REPLACE" if self.db.dialect == "sqlite" else "INSERT"
        await self.db.query(
            None, f'{verb} INTO "{table}" ({names}) VALUES ({marks})', list(values.values())
        )

    async def apply(self, m: Mutation, *, backwards: bool) -> bool:
        """Undo (`backwards`) or redo one mutation; False when it cannot be applied."""
        if m.rows_affected == 0:
            self.stats.skipped_zero_row += 1
            return False
        if m.pk is None or (m.before is None and m.after is None):
            self._raw_writes += 1
            return False
        info = await self.table(m.table)
        if info is None:
            self._unknown_tables.add(m.table)
            return False
        pk_col = info.primary_key

        def key(image: dict[str, Any] | None) -> JSON:
            value = image.get(pk_col) if image is not None and pk_col else None
            return value if value is not None else m.pk

        if m.op == "insert":
            if backwards:
                await self._delete(m.table, info, key(m.after))
            elif m.after is not None:
                await self._put(m.table, info, m.after)
        elif m.op == "delete":
            if not backwards:
                await self._delete(m.table, info, key(m.before))
            elif m.before is not None:
                await self._put(m.table, info, m.before)
        else:
            old, new = (m.after, m.before) if backwards else (m.before, m.after)
            if new is None or key(old) != key(new):
                await self._delete(m.table, info, key(old))
            if new is not None:
                await self._put(m.table, info, new)
        return True

    async def apply_all(self, mutations: Iterable[Mutation], *, backwards: bool) -> None:
        """Apply mutations in the order given; on SQLite in one transaction with foreign keys
        off (on PostgreSQL each write stands alone, so one that fails spoils no other)."""
        sqlite = self.db.dialect == "sqlite"
        if sqlite:
            await self.db.query(None, "PRAGMA foreign_keys = OFF")
        scope = self.db.transaction() if sqlite else contextlib.nullcontext()
        async with scope:
            for m in mutations:
                try:
                    if await self.apply(m, backwards=backwards):
                        if backwards:
                            self.stats.undone += 1
                        else:
                            self.stats.redone += 1
                except DatabaseError as exc:
                    verb = "undo" if backwards else "re-apply"
                    self.stats.warnings.append(f"cannot {verb} a write to {m.table}: {exc}")
        if sqlite:
            await self.db.query(None, "PRAGMA foreign_keys = ON")
        self.finish()

    def finish(self) -> None:
        if self._raw_writes:
            self.stats.warnings.append(
                f"{self._raw_writes} write(s) made with raw SQL (ctx.db.query) cannot be undone; "
                "the sandbox keeps their effect"
            )
            self._raw_writes = 0
        for table in sorted(self._unknown_tables):
            self.stats.warnings.append(f"table {table} no longer exists; its changes were skipped")
        self._unknown_tables.clear()


def _generated_rowid(table: str, key: JSON) -> int | None:
    """The rowid behind an id SQLite's `insert` generated (`u_42` in `users` → 42).

    Re-inserting a row at its old rowid keeps the generator's next id what it was, so a
    replayed insert gets the id the recorded one got. (On PostgreSQL the id sequence of the
    scratch database starts after the highest id left in the table, with the same effect.)
    """
    if not isinstance(key, str) or not table:
        return None
    prefix, _, number = key.partition("_")
    return int(number) if prefix == table[0] and number.isdigit() else None


def _sql(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


class _UndoLog:
    """The mutations at or after a point in time, spooled to a temporary file, oldest first,
    so a long window is undone newest first without holding it in memory."""

    def __init__(self, folder: Path) -> None:
        self.conn = sqlite3.connect(str(folder / "undo.db"), isolation_level=None)
        self.conn.execute("CREATE TABLE undo_log (n INTEGER PRIMARY KEY, record TEXT NOT NULL)")

    async def fill(self, store: Store, since: float) -> None:
        async for page in mutation_pages(store, since=since):
            self.conn.execute("BEGIN")
            self.conn.executemany(
                "INSERT INTO undo_log (record) VALUES (?)",
                ((json.dumps(to_json(m)),) for m in page),
            )
            self.conn.execute("COMMIT")

    def newest_first(self) -> Iterable[Mutation]:
        for (record,) in self.conn.execute("SELECT record FROM undo_log ORDER BY n DESC"):
            yield Mutation.from_dict(json.loads(record))

    def close(self) -> None:
        self.conn.close()


class Sandbox:
    """A private copy of the app database, removed on `close`."""

    def __init__(
        self, database: AppDatabase, stats: SandboxStats, exit_stack: contextlib.AsyncExitStack
    ) -> None:
        self.database = database
        self.stats = stats
        self._exit_stack = exit_stack
        self._writer = _Writer(database, stats)

    @classmethod
    def on(cls, database: AppDatabase, stats: SandboxStats) -> Sandbox:
        """A sandbox over a database made for it (closed with the sandbox)."""
        stack = contextlib.AsyncExitStack()
        stack.push_async_callback(database.close)
        return cls(database, stats, stack)

    @classmethod
    async def create(cls, project: Project, store: Store, at: float) -> Sandbox:
        """The app data of `project` as it was at time `at` (epoch seconds)."""
        stack = contextlib.AsyncExitStack()
        stats = SandboxStats()
        try:
            database = await stack.enter_async_context(scratch_copy(project))
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flux-undo-")))
            log = _UndoLog(folder)
            stack.callback(log.close)
            await log.fill(store, at)
            await _Writer(database, stats).apply_all(log.newest_first(), backwards=True)
            stats.flux_rows_removed = await _roll_back_flux_tables(database, at)
            return cls(database, stats, stack)
        except BaseException:
            await stack.aclose()
            raise

    async def redo(self, mutations: Iterable[Mutation]) -> None:
        """Re-apply the recorded writes of an execution that is not re-run."""
        ordered = sorted(mutations, key=lambda m: m.seq)
        if ordered:
            await self._writer.apply_all(ordered, backwards=False)

    async def close(self) -> None:
        await self._exit_stack.aclose()


async def _roll_back_flux_tables(database: AppDatabase, at: float) -> int:
    removed = 0
    for table, column in FLUX_TABLES_BY_CREATION.items():
        info = await database.table_info(table)
        if info is None or column not in info.columns:
            continue
        _, count = await database.query(None, f'DELETE FROM "{table}" WHERE "{column}" >= $1', [at])
        removed += max(count, 0)
    return removed
