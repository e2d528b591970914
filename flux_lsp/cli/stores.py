"""Where the inspecting commands read from: one way to open a `Store`, and the options for it.

Every command that reads recordings (`tail`, `why`, `trace`, `state history`, `status`,
`test add`, `mcp`) takes `--project/-p`, `--recorder` (a recorder file or `postgresql://` URL),
`--server` (a `flux serve` URL) and `--token` (or `FLUX_TOKEN`): `@store_options` adds the four
to a command, which receives them as one `StoreOptions` and opens its store through
`recorder.open_store.open_project_store`, so that files, databases and remote servers behave
the same. `StoreOptions.run(work, blocking=True)` runs a command's work without an event loop
when the store is a local file (asyncio's import alone is a third of a short command's start).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from flux_lsp.cli.app import ProjectOption

if TYPE_CHECKING:
    from flux_lsp.recorder.store import Store

T = TypeVar("T")

ProjectOpt = ProjectOption
RecorderOpt = Annotated[
    str | None,
    typer.Option(
        "--recorder",
        help="A recorder file or postgresql:// URL to read instead of the project's.",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option("--server", help="Read from a `flux serve` server at this URL.", metavar="URL"),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="FLUX_TOKEN", help="The server's access token."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document instead.")]


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

        `blocking`: `work` awaits nothing but the store, so a local recorder file is read
        without an event loop (a server or a database still gets one)."""
        from flux_lsp.cli.user_errors import user_errors
        from flux_lsp.recorder.open_store import is_url, open_store, project_recorder

        with user_errors():
            location, health = project_recorder(self.project, self.recorder, self.server)
            blocking = blocking and not is_url(location)
            token = self.token if self.server is not None else None

            async def main() -> T:
                store = await open_store(location, token=token, health=health, blocking=blocking)
                try:
                    return await work(store)
                finally:
                    await store.close()

            return run_to_end(main()) if blocking else run(main())


_STORE_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=option, default=default)
    for name, option, default in (
        ("project", ProjectOpt, Path(".")),
        ("recorder", RecorderOpt, None),
        ("server", ServerOpt, None),
        ("token", TokenOpt, None),
    )
]


def store_options(command: Callable[..., T]) -> Callable[..., T]:
    """Give `command` the options `--project`, `--recorder`, `--server` and `--token`, last
    in its help, passed to it as one keyword argument `where: StoreOptions`."""
    signature = inspect.signature(command, eval_str=True)
    parameters = [p for p in signature.parameters.values() if p.name != "where"]

    @functools.wraps(command)
    def with_store(
        *, project: Path, recorder: str | None, server: str | None, token: str | None, **kw: Any
    ) -> T:
        return command(**kw, where=StoreOptions(project, recorder, server, token))

    # typer reads the command's parameters from its signature and its type hints.
    with_store.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*parameters, *_STORE_PARAMETERS]
    )
    with_store.__annotations__ = {p.name: p.annotation for p in parameters + _STORE_PARAMETERS}
    return with_store


def run(coro: Coroutine[Any, Any, T]) -> T:
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
