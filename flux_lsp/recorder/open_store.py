"""Opening a `Store` from what a user wrote: a recorder file path, a `postgresql://` URL, or
a `flux serve` URL.

`open_store` opens one location; `open_project_store` picks the location the way every front
end offers it (`--server` URL, else `--recorder` file or URL, else the project's own recorder:
`FLUX_RECORDER_URL`, `[recorder] url` or its file), so the CLI and the agent tools read the
same recorder from the same options. `project_recorder` is that choice alone, for a caller
that decides how to run before it opens (a local file can be read `blocking`, without an event
loop).
"""

from __future__ import annotations

from pathlib import Path

from flux_lsp.project import is_database_url, is_remote
from flux_lsp.recorder.store import RecorderError, Store


def is_url(location: str) -> bool:
    """A recorder that is not a local file: a server or a database."""
    return is_remote(location) or is_database_url(location)


def can_block(location: str) -> bool:
    """Whether `open_store(location, blocking=True)` reads without an event loop: a file
    always, a database when libpq can be loaded, a server never."""
    if is_remote(location):
        return False
    if is_database_url(location):
        from flux_lsp.recorder.libpq import load

        return load() is not None
    return True


async def open_store(
    location: str | Path,
    *,
    token: str | None = None,
    health: Path | None = None,
    blocking: bool = False,
) -> Store:
    """A Store for a local recorder file, a PostgreSQL recorder, or a Flux server's recorder API.

    `health`: the local writer's health file, for a PostgreSQL recorder's `stats()`.
    `blocking`: a recorder file or database is read in the caller's thread (see
    `SQLiteStore.open`, `PostgresStore.open`); a server always needs an event loop."""
    text = str(location)
    if is_remote(text):
        from flux_lsp.recorder.remote_store import RemoteStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = await RemoteStore.open(text, token=token)
        return store
    if is_database_url(text):
        from flux_lsp.recorder.postgres_store import PostgresStore

        return await PostgresStore.open(text, health=health, blocking=blocking)
    from flux_lsp.recorder.sqlite_store import SQLiteStore  # each backend imports its own

    return await SQLiteStore.open(Path(text), blocking=blocking)


def project_recorder(
    project: Path | str = ".",
    recorder: Path | str | None = None,
    server: str | None = None,
) -> tuple[str, Path | None]:
    """Where to read, and the local writer's health file (None when not the project's own):
    `server` (a `flux serve` URL), else `recorder` (a file or a PostgreSQL URL), else the
    recorder of the project at `project`. A server URL that is not http(s) is a RecorderError."""
    if server is not None:
        if not is_remote(server):
            raise RecorderError(f"bad server URL {server!r}: expected http://… or https://…")
        return server, None
    if recorder is not None:
        return str(recorder), None
    from flux_lsp.project import Project

    loaded = Project.load(project)
    return loaded.recorder_location, loaded.recorder_health_path


async def open_project_store(
    project: Path | str = ".",
    recorder: Path | str | None = None,
    server: str | None = None,
    token: str | None = None,
) -> Store:
    """The store `project_recorder` chooses, opened (with `token` for `server`)."""
    location, health = project_recorder(project, recorder, server)
    return await open_store(location, token=token if server is not None else None, health=health)
