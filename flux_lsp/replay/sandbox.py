"""The sandbox a replay writes to: a copy of the app database as it was at a point in time.

`Sandbox.create` copies `.flux/app.db` with SQLite's backup API (the live file is opened
read-only and never written) into a temporary folder, then walks the mutation log backwards:
every insert, update and delete recorded at or after the point in time is undone, newest
first, from the before/after images the recorder holds. The result is the data as it was when
the window started. Flux's own jobs table, which the queue writes outside the mutation log, is
rolled back by its `created_at`. Writes that cannot be undone (raw SQL through
`ctx.db.query`, tables since dropped) are counted as warnings, not guessed at.

During a replay, recorded job runs that are not re-run (no `--with-jobs`) have their recorded
writes re-applied with `redo`, so the data evolves as it did when recorded.
"""

from __future__ import annotations

import contextlib
import json
import shutil
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
from flux_lsp.runtime.database import AppDatabase, copy_database
from flux_lsp.runtime.queue import JOBS_TABLE

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


class _Tables:
    """Column names and primary keys of the sandbox's tables, looked up once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._info: dict[str, tuple[list[str], str | None, bool]] = {}

    def get(self, table: str) -> tuple[list[str], str | None, bool] | None:
        """(columns, primary-key column or None for rowid, whether the key is numeric)."""
        if table not in self._info:
            rows = self._conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            if not rows:
                return None
            pks = [r for r in rows if r[5]]
            pk = pks[0][1] if len(pks) == 1 else None
            numeric = pk is None or "INT" in (pks[0][2] or "").upper()
            self._info[table] = ([r[1] for r in rows], pk, numeric)
        return self._info[table]


class _Writer:
    """Applies row images to the sandbox: the shared step of undo and redo."""

    def __init__(self, conn: sqlite3.Connection, stats: SandboxStats) -> None:
        self.conn = conn
        self.stats = stats
        self.tables = _Tables(conn)
        self._unknown_tables: set[str] = set()
        self._raw_writes = 0

    def _key(self, numeric: bool, pk: JSON) -> JSON:
        if numeric and isinstance(pk, str) and pk.lstrip("-").isdigit():
            return int(pk)
        return pk

    def _delete(self, table: str, pk_col: str | None, numeric: bool, pk: JSON) -> None:
        column = f'"{pk_col}"' if pk_col else "rowid"
        self.conn.execute(f'DELETE FROM "{table}" WHERE {column} = ?', (self._key(numeric, pk),))

    def _put(
        self, table: str, columns: list[str], pk_col: str | None, numeric: bool, row: dict[str, Any]
    ) -> None:
        """Make `row` the row with its key: updated in place when it exists (keeping its rowid,
        which the id generator counts from), else inserted at the rowid its generated id names.
        """
        values = {k: _sql(v) for k, v in row.items() if k in columns}
        if not values:
            return
        key = values.get(pk_col) if pk_col else None
        if pk_col and key is not None:
            assignments = ", ".join(f'"{c}" = ?' for c in values)
            cur = self.conn.execute(
                f'UPDATE "{table}" SET {assignments} WHERE "{pk_col}" = ?',
                [*values.values(), self._key(numeric, key)],
            )
            if cur.rowcount:
                return
            rowid = _generated_rowid(table, key)
            if rowid is not None and not numeric:
                taken = self.conn.execute(
                    f'SELECT 1 FROM "{table}" WHERE rowid = ?', (rowid,)
                ).fetchone()
                if taken is None:
                    values = {"rowid": rowid, **values}
        names = ", ".join("rowid" if c == "rowid" else f'"{c}"' for c in values)
        marks = ", ".join("?" for _ in values)
        self.conn.execute(
            f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({marks})', list(values.values())
        )

    def apply(self, m: Mutation, *, backwards: bool) -> bool:
        """Undo (`backwards`) or redo one mutation; False when it cannot be applied."""
        if m.rows_affected == 0:
            self.stats.skipped_zero_row += 1
            return False
        if m.pk is None or (m.before is None and m.after is None):
            self._raw_writes += 1
            return False
        info = self.tables.get(m.table)
        if info is None:
            self._unknown_tables.add(m.table)
            return False
        columns, pk_col, numeric = info

        def key(image: dict[str, Any] | None) -> JSON:
            value = image.get(pk_col) if image is not None and pk_col else None
            return value if value is not None else m.pk

        if m.op == "insert":
            if backwards:
                self._delete(m.table, pk_col, numeric, key(m.after))
            elif m.after is not None:
                self._put(m.table, columns, pk_col, numeric, m.after)
        elif m.op == "delete":
            if not backwards:
                self._delete(m.table, pk_col, numeric, key(m.before))
            elif m.before is not None:
                self._put(m.table, columns, pk_col, numeric, m.before)
        else:
            old, new = (m.after, m.before) if backwards else (m.before, m.after)
            if new is None or key(old) != key(new):
                self._delete(m.table, pk_col, numeric, key(old))
            if new is not None:
                self._put(m.table, columns, pk_col, numeric, new)
        return True

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
    """The rowid behind an id `AppDatabase.insert` generated (`u_42` in `users` → 42).

    Re-inserting a row at its old rowid keeps the generator's next id what it was, so a
    replayed insert gets the id the recorded one got.
    """
    if not isinstance(key, str) or not table:
        return None
    prefix, _, number = key.partition("_")
    return int(number) if prefix == table[0] and number.isdigit() else None


def _sql(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


async def _spool_mutations(store: Store, since: float, conn: sqlite3.Connection) -> None:
    """Copy every mutation at or after `since` into a temp table, oldest first, page by page."""
    conn.execute("CREATE TEMP TABLE undo_log (n INTEGER PRIMARY KEY, record TEXT NOT NULL)")
    async for page in mutation_pages(store, since=since):
        conn.executemany(
            "INSERT INTO undo_log (record) VALUES (?)",
            ((json.dumps(to_json(m)),) for m in page),
        )


class Sandbox:
    """A private copy of the app database, removed on `close`."""

    def __init__(self, folder: Path, stats: SandboxStats) -> None:
        self.folder = folder
        self.path = folder / "app.db"
        self.stats = stats
        self.database = AppDatabase(self.path)
        self._conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=10)
        self._writer = _Writer(self._conn, stats)

    @classmethod
    async def create(cls, project: Project, store: Store, at: float) -> Sandbox:
        """The app data of `project` as it was at time `at` (epoch seconds)."""
        folder = Path(tempfile.mkdtemp(prefix="flux-replay-"))
        stats = SandboxStats()
        try:
            target = folder / "app.db"
            copy_database(project.app_db_path, target)  # none yet: starts empty
            conn = sqlite3.connect(str(target), isolation_level=None, timeout=10)
            try:
                await _spool_mutations(store, at, conn)
                _undo_all(conn, stats)
                stats.flux_rows_removed = _roll_back_flux_tables(conn, at)
            finally:
                conn.close()
            return cls(folder, stats)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def redo(self, mutations: Iterable[Mutation]) -> None:
        """Re-apply the recorded writes of an execution that is not re-run."""
        ordered = sorted(mutations, key=lambda m: m.seq)
        if not ordered:
            return
        self._conn.execute("PRAGMA foreign_keys = OFF")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            for m in ordered:
                try:
                    if self._writer.apply(m, backwards=False):
                        self.stats.redone += 1
                except sqlite3.Error as exc:
                    self.stats.warnings.append(f"cannot re-apply a write to {m.table}: {exc}")
        finally:
            self._conn.execute("COMMIT")
        self._writer.finish()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        with contextlib.suppress(sqlite3.Error):
            self.database.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _undo_all(conn: sqlite3.Connection, stats: SandboxStats) -> None:
    writer = _Writer(conn, stats)
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute("SELECT record FROM undo_log ORDER BY n DESC")
        for (record,) in rows:
            mutation = Mutation.from_dict(json.loads(record))
            try:
                if writer.apply(mutation, backwards=True):
                    stats.undone += 1
            except sqlite3.Error as exc:
                stats.warnings.append(f"cannot undo a write to {mutation.table}: {exc}")
        conn.execute("DROP TABLE undo_log")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    writer.finish()


def _roll_back_flux_tables(conn: sqlite3.Connection, at: float) -> int:
    removed = 0
    tables = _Tables(conn)
    for table, column in FLUX_TABLES_BY_CREATION.items():
        info = tables.get(table)
        if info is None or column not in info[0]:
            continue
        cur = conn.execute(f'DELETE FROM "{table}" WHERE "{column}" >= ?', (at,))
        removed += max(cur.rowcount, 0)
    return removed
