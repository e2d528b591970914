"""The recorder backends the tests run on, and how a test project is pointed at one.

`store_backend` (tests/conftest.py) is `sqlite` or `postgres`. A project records to PostgreSQL
when its flux.toml says `[recorder] url = …` (`use_recorder`), so the app, the `flux` commands
and `flux lsp` all find it the way a user's project would. `copy_recorder` gives a test its own
copy of a recorded database (PostgreSQL's `CREATE DATABASE … TEMPLATE`), as the file backend's
tests copy the file. `write_executions` writes `Execution` values straight into either backend.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from flux_lsp.model import Execution
from flux_lsp.project import is_database_url
from flux_lsp.recorder.postgres_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION
from flux_lsp.recorder.postgres_schema import connect, ensure_schema
from flux_lsp.recorder.postgres_schema import schema_version as pg_schema_version
from flux_lsp.recorder.postgres_writer import write_records_pg
from flux_lsp.recorder.schema import SCHEMA_VERSION
from flux_lsp.recorder.writer import encode, open_for_writing, write_batch
from tests.postgres import (
    _as_server_user,
    drop_database,
    fresh_database,
    server_bindir,
    with_database,
)

BACKENDS = ("sqlite", "postgres")


@contextlib.contextmanager
def recorder_database(server: str | None) -> Iterator[str | None]:
    """A fresh database on `server` for a recorder; None (the file) when there is no server."""
    if server is None:
        yield None
        return
    with fresh_database(server) as url:
        yield url


def use_recorder(project: Path, url: str | None) -> None:
    """Point `project` at the PostgreSQL recorder `url` (None: keep its recorder file)."""
    if url is None:
        return
    toml = project / "flux.toml"
    text = toml.read_text() if toml.is_file() else ""
    toml.write_text(text + f'\n[recorder]\nurl = "{url}"\n')


def recorder_url(project: Path) -> str | None:
    """The PostgreSQL recorder a test project points at, if any."""
    from flux_lsp.project import Project

    return Project.load(project).settings.recorder.url


@contextlib.contextmanager
def copy_recorder(project: Path) -> Iterator[None]:
    """Give a copied project its own copy of its PostgreSQL recorder (files copy themselves)."""
    url = recorder_url(project)
    if url is None:
        yield
        return
    name = f"flux_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        template = conn.info.dbname
    server = with_database(url, "postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    toml = project / "flux.toml"
    toml.write_text(toml.read_text().replace(url, with_database(url, name)))
    try:
        yield
    finally:
        drop_database(server, name)


def write_executions(location: str | Path, executions: Iterable[Execution]) -> None:
    """Write executions into the recorder at `location` (a file or a PostgreSQL URL)."""
    text = str(location)
    if is_database_url(text):
        with connect(text, autocommit=True) as conn:
            ensure_schema(conn)
            write_records_pg(conn, [encode(e) for e in executions], set())
        return
    conn = open_for_writing(Path(text))
    try:
        write_batch(conn, executions)
    finally:
        conn.close()


def make_newer(location: str) -> None:
    """Mark the recorder at `location` as written by a newer Flux."""
    if is_database_url(location):
        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute(
                "UPDATE flux_recorder.meta SET value = %s WHERE key = 'schema_version'",
                (str(PG_SCHEMA_VERSION + 1),),
            )
        return
    conn = sqlite3.connect(location)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()


def make_older(location: str) -> int:
    """Mark the recorder at `location` as written by the Flux before this one; return that
    version. Every migration is idempotent, so a writer that upgrades it again gets it right."""
    if is_database_url(location):
        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute(
                "UPDATE flux_recorder.meta SET value = %s WHERE key = 'schema_version'",
                (str(PG_SCHEMA_VERSION - 1),),
            )
        return PG_SCHEMA_VERSION - 1
    conn = sqlite3.connect(location)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    conn.commit()
    conn.close()
    return SCHEMA_VERSION - 1


def schema_version_of(location: str) -> int:
    """The schema version the recorder at `location` says it has."""
    if is_database_url(location):
        with connect(location) as conn:
            return pg_schema_version(conn)
    conn = sqlite3.connect(location)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def forget_recorder(project: Path, elsewhere: Path) -> str:
    """Take the recorder out of where `project` finds it by itself; return where it is now
    (the file moved to `elsewhere`, or the database URL dropped from flux.toml)."""
    url = recorder_url(project)
    if url is not None:
        toml = project / "flux.toml"
        toml.write_text(toml.read_text().replace(f'\n[recorder]\nurl = "{url}"\n', ""))
        return url
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    (project / ".flux" / "recorder.db").rename(elsewhere)
    return str(elsewhere)


class ClusterControl:
    """Stop and start again the PostgreSQL server at `url` (a throwaway cluster of this test)."""

    def __init__(self, url: str) -> None:
        self.url = url
        with psycopg.connect(url, autocommit=True) as conn:
            self.data = str(_show(conn, "data_directory"))
            self.sockets = str(_show(conn, "unix_socket_directories"))
        self.port = urlsplit(url).port

    def _pg_ctl(self, *args: str) -> None:
        argv = [str(server_bindir() / "pg_ctl"), "-D", self.data, *args]
        subprocess.run(_as_server_user(argv), capture_output=True, check=True, timeout=120)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = str(Path(self.data).parent / "server.log")
        self._pg_ctl("-l", log, "-o", options, "-w", "-t", "60", "start")


def _show(conn: psycopg.Connection, name: str) -> object:
    row = conn.execute(f"SHOW {name}").fetchone()
    return row[0] if row else None
