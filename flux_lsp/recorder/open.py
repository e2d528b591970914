"""Opening a `Store` from what a user wrote: a recorder file path, or a `flux serve` URL."""

from __future__ import annotations

from pathlib import Path

from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.store import Store


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
