"""Where the inspecting commands read from: one way to open a `Store`, and the options for it.

Every command that reads recordings (`tail`, `why`, `trace`, `state history`, `status`) takes
`--project/-p`, `--recorder` (a recorder file or `postgresql://` URL), `--server` (a
`flux serve` URL) and `--token` (or `FLUX_TOKEN`), and opens its store through
`recorder.open.open_project_store`, so that files, databases and remote servers behave the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
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


def run_with_store(
    work: Callable[[Store], Awaitable[T]],
    project: Path,
    recorder: str | None,
    server: str | None,
    token: str | None,
) -> T:
    """Open the store, run `work` on it, close it; user errors become one line and exit 1."""
    from flux_lsp.cli.user_errors import user_errors
    from flux_lsp.recorder.open_store import open_project_store

    async def main() -> T:
        store = await open_project_store(project, recorder, server, token)
        try:
            return await work(store)
        finally:
            await store.close()

    with user_errors():
        return run(main())


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
