"""Opening a `Store` from what a user wrote: a recorder file path, or a `flux serve` URL.

`open_store` opens one location; `open_project_store` picks the location the way every front
end offers it (`--server` URL, else `--recorder` file, else the project's own recorder), so the
CLI and the agent tools read the same recorder from the same options.
"""

from __future__ import annotations

from pathlib import Path

from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.store import RecorderError, Store


def is_remote(location: str) -> bool:
    return location.startswith(("http://", "https://"))


async def open_store(location: str | Path, *, token: str | None = None) -> Store:
    """A Store for a local recorder file, or for a Flux server's recorder API at a URL."""
    text = str(location)
    if is_remote(text):
        from flux_lsp.recorder.remote_store import RemoteStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = await RemoteStore.open(text, token=token)
        return store
    return await SQLiteStore.open(Path(text))


async def open_project_store(
    project: Path | str = ".",
    recorder: Path | str | None = None,
    server: str | None = None,
    token: str | None = None,
) -> Store:
    """The store to read: `server` (a `flux serve` URL), else `recorder` (a file), else the
    recorder of the project at `project`. A server URL that is not http(s) is a RecorderError."""
    if server is not None:
        if not is_remote(server):
            raise RecorderError(f"bad server URL {server!r}: expected http://… or https://…")
        return await open_store(server, token=token)
    if recorder is not None:
        return await open_store(Path(recorder))
    from flux_lsp.project import Project

    return await open_store(Project.load(project).recorder_path)
