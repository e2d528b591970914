"""A throwaway copy of the live app database: the replay sandbox's and the deploy check's.

`scratch_copy(project)` builds a private database holding the live data as it is now, and
deletes it when the block ends (also on Ctrl-C or an error):
- SQLite: the file is copied with SQLite's backup API (the live file is opened read-only) into
  a temporary folder;
- PostgreSQL: a new database `flux_scratch_<random>` on the same server gets the project's
  migrations that the live database has applied, then every table's rows, copied from one
  read-only snapshot of the live database (`COPY ... TO STDOUT` / `FROM STDIN`); sequences
  continue where the live ones are. The live database is only read.
The scratch database needs the right to create databases (`CREATEDB`) on PostgreSQL. May import
`project` and the runtime's database modules.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flux_lsp.project import Project
from flux_lsp.runtime.database import (
    MIGRATIONS_TABLE,
    AppDatabase,
    DatabaseError,
    database_url,
    migration_files,
)


@contextlib.asynccontextmanager
async def scratch_copy(
    project: Project, migrations_dir: Path | None = None
) -> AsyncIterator[AppDatabase]:
    """An opened private copy of `project`'s live app database, removed afterwards.

    `migrations_dir` is where the live database's applied migrations are read from (the
    running code's folder; by default the project's)."""
    url = database_url(project)
    if url:
        async with _postgres_copy(project, url, migrations_dir or project.migrations_dir) as db:
            yield db
        return
    from flux_lsp.runtime.sqlite_database import SQLiteDatabase, copy_database

    folder = Path(tempfile.mkdtemp(prefix="flux-scratch-"))
    database = SQLiteDatabase(
        folder / "app.db", busy_timeout=project.settings.database.busy_timeout
    )
    try:
        copy_database(project.app_db_path, folder / "app.db")  # none yet: starts empty
        await database.open()
        yield database
    finally:
        with contextlib.suppress(Exception):
            await database.close()
        shutil.rmtree(folder, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def _postgres_copy(
    project: Project, url: str, migrations: Path
) -> AsyncIterator[AppDatabase]:
    import psycopg
    from psycopg import sql

    from flux_lsp.runtime.postgres_database import PostgresDatabase

    name = f"flux_scratch_{secrets.token_hex(6)}"
    try:
        admin = await psycopg.AsyncConnection.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to the app database: {exc}") from None
    try:
        try:
            await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot create a scratch database: {exc}") from None
        scratch = PostgresDatabase(
            _with_database(url, name), busy_timeout=project.settings.database.busy_timeout
        )
        try:
            await scratch.open()
            await _copy_into(url, scratch, migrations)
            yield scratch
        finally:
            with contextlib.suppress(Exception):
                await scratch.close()
            with contextlib.suppress(psycopg.Error):
                await admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
    finally:
        await admin.close()


async def _copy_into(live_url: str, scratch: AppDatabase, migrations: Path) -> None:
    """The live schema (its applied migrations) and rows, from one snapshot, into `scratch`."""
    import psycopg
    from psycopg import sql

    from flux_lsp.runtime.services import service_schema

    assert hasattr(scratch, "url")
    async with await psycopg.AsyncConnection.connect(live_url) as live:
        await live.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
        await live.set_read_only(True)
        async with live.transaction():
            cur = await live.execute("SELECT to_regclass(%s) IS NOT NULL", [MIGRATIONS_TABLE])
            has_history = (await cur.fetchone() or (False,))[0]
            applied: set[str] = set()
            if has_history:
                cur = await live.execute(sql.SQL("SELECT name FROM {}").format(
                    sql.Identifier(MIGRATIONS_TABLE)))  # fmt: skip
                applied = {r[0] for r in await cur.fetchall()}
            folder = Path(tempfile.mkdtemp(prefix="flux-migrations-"))
            try:
                for file in migration_files(migrations, "postgresql"):
                    if file.name in applied:
                        shutil.copy(file, folder / file.name)
                await scratch.apply_migrations(folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            await scratch.apply_schema(service_schema("postgresql"))
            cur = await live.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            live_tables = {r[0] for r in await cur.fetchall()}
            copied = (set(await scratch.tables()) & live_tables) - {MIGRATIONS_TABLE}
            async with await psycopg.AsyncConnection.connect(scratch.url) as target:
                for table in sorted(copied):
                    ident = sql.Identifier(table)
                    cols = await _columns(target, table)
                    col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
                    async with (
                        live.cursor().copy(
                            sql.SQL("COPY {} ({}) TO STDOUT (FORMAT BINARY)").format(
                                ident, col_list
                            )
                        ) as out,
                        target.cursor().copy(
                            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                                ident, col_list
                            )
                        ) as into,
                    ):
                        async for chunk in out:
                            await into.write(chunk)
                    await _continue_sequences(target, table, cols)
                await target.commit()


async def _columns(conn: object, table: str) -> list[str]:
    import psycopg

    assert isinstance(conn, psycopg.AsyncConnection)
    cur = await conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        ['"' + table.replace('"', '""') + '"'],
    )
    return [r[0] for r in await cur.fetchall()]


async def _continue_sequences(conn: object, table: str, columns: list[str]) -> None:
    """Serial and identity columns continue after the copied rows, as the live ones do."""
    import psycopg
    from psycopg import sql

    assert isinstance(conn, psycopg.AsyncConnection)
    quoted = '"' + table.replace('"', '""') + '"'
    for column in columns:
        cur = await conn.execute("SELECT pg_get_serial_sequence(%s, %s)", [quoted, column])
        row = await cur.fetchone()
        if row is None or row[0] is None:
            continue
        await conn.execute(
            sql.SQL("SELECT setval({seq}, COALESCE(MAX({col}), 0) + 1, false) FROM {table}").format(
                seq=sql.Literal(row[0]), col=sql.Identifier(column), table=sql.Identifier(table)
            )
        )
