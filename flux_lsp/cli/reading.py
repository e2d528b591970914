"""What a reading command reads from (`StoreOptions`), and running its work on that store.

Kept apart from the typer declarations of the options (`cli/stores.py`) so that the entry
point's fast way to `flux tail` (`cli/tail_command.py`) reads the same store the same way
without importing typer. `StoreOptions.run(work, blocking=True)` runs a command's work
without an event loop when the store is a local recorder file (asyncio's import alone was a
third of a short command's start).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from flux_lsp.recorder.store import Store

T = TypeVar("T")


def discover_project(value: Path) -> Path:
    """Without `--project`, the project is found from any of its subfolders, as git does."""
    if value != Path("."):
        return value
    from flux_lsp.project import find_root

    return find_root(Path.cwd()) or value


@dataclass(frozen=True)
class StoreOptions:
    """The store a command reads: the project, or the recorder or server named instead."""

    project: Path
    recorder: str | None
    server: str | None
    token: str | None

    async def open(self) -> Store:
        from flux_lsp.recorder.open_store import open_project_store

        return await open_project_store(self.project, self.recorder, self.server, self.token)

    def run(self, work: Callable[[Store], Awaitable[T]], *, blocking: bool = False) -> T:
        """Open the store, run `work` on it, close it; user errors become one line and exit 1.

        `blocking`: `work` awaits nothing but the store, so a recorder file or database is
        read without an event loop (a server still gets one; see `open_store.can_block`)."""
        from flux_lsp.cli.user_errors import user_errors
        from flux_lsp.recorder.open_store import can_block, open_store, project_recorder

        with user_errors():
            location, health = project_recorder(self.project, self.recorder, self.server)
            blocking = blocking and can_block(location)
            token = self.token if self.server is not None else None

            async def main() -> T:
                store = await open_store(location, token=token, health=health, blocking=blocking)
                try:
                    return await work(store)
                finally:
                    await store.close()

            return run_to_end(main()) if blocking else run(main())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine in an event loop of its own."""
    import asyncio

    return asyncio.run(coro)


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits (its store answers every call at once) to its end
    without an event loop; one that does wait is a mistake in the command, said as such."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a blocking command awaited something that needs an event loop")
