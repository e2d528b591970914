"""A real PostgreSQL server for the tests and benchmarks.

`FLUX_TEST_POSTGRES_URL` points at an existing server. Without it, `throwaway_cluster()` starts
one cluster in a temporary folder: `initdb` as the `postgres` user when running as root (initdb
refuses root), trust authentication on loopback, a free port, the unix socket inside the folder.
It is stopped (`pg_ctl stop -m fast`) and the folder deleted when the context ends.
`fresh_database(url)` creates a uniquely named database on that server and drops it afterwards.

A missing server is an error with a clear message, never a skip: `scripts/ensure-postgres.sh`
installs Debian's `postgresql` package.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

URL_VARIABLE = "FLUX_TEST_POSTGRES_URL"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started."""


def server_bindir() -> Path:
    """The folder holding `initdb` and `pg_ctl` (Debian keeps them outside PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    for folder in reversed(candidates):
        if os.access(os.path.join(folder, "initdb"), os.X_OK):
            return Path(folder)
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(os.path.realpath(on_path)).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/ensure-postgres.sh "
        f"(installs Debian's postgresql package) or set {URL_VARIABLE} to an existing server"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    """Run as `postgres` when we are root (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-s", "/bin/sh", "-c", subprocess.list2cmdline(argv)]


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise PostgresUnavailable(f"{what} failed: " + " | ".join(output))


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a PostgreSQL cluster in a temp folder; yields its URL; stops and deletes it after."""
    bindir = server_bindir()
    folder = Path(tempfile.mkdtemp(prefix="flux-postgres-"))
    data = folder / "data"
    if os.geteuid() == 0:
        try:
            shutil.chown(folder, "postgres", "postgres")
        except (LookupError, PermissionError) as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise PostgresUnavailable(
                "running as root needs the `postgres` user (from Debian's postgresql package) "
                f"to start a cluster: {error}"
            ) from error
        folder.chmod(0o700)
    started = False
    try:
        _run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            "initdb",
        )  # fmt: skip
        port = 0
        for _attempt in range(3):
            port = _free_port()
            options = (
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                _run(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                     "-o", options, "-w", "-t", "60", "start"],
                    "pg_ctl start",
                )  # fmt: skip
            except PostgresUnavailable:
                log = folder / "server.log"
                if _attempt == 2 or "could not bind" not in (
                    log.read_text() if log.exists() else ""
                ):
                    raise
                continue
            started = True
            break
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                _as_server_user(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """`FLUX_TEST_POSTGRES_URL` when set (checked to answer), else a throwaway cluster."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as error:
            raise PostgresUnavailable(
                f"{URL_VARIABLE}={redacted(url)} does not answer: {error}"
            ) from error
        yield url
        return
    with throwaway_cluster() as started:
        yield started


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def create_database(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, uniquely named, empty database on the server; dropped afterwards."""
    name = f"flux_test_{uuid.uuid4().hex[:16]}"
    url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)
