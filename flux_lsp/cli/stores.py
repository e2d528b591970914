"""Where the inspecting commands read from: one way to open a `Store`, and the options for it.

Every command that reads recordings (`tail`, `why`, `trace`, `state history`, `status`,
`test add`, `mcp`) takes `--project/-p`, `--recorder` (a recorder file or `postgresql://` URL),
`--server` (a `flux serve` URL) and `--token` (or `FLUX_TOKEN`): `@store_options` adds the four
to a command, which receives them as one `StoreOptions` and opens its store through
`recorder.open_store.open_project_store`, so that files, databases and remote servers behave
the same. `StoreOptions` itself, and running a command's work on its store, live in
`cli/reading.py`, which imports no typer.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from flux_lsp.cli.app import ProjectOption
from flux_lsp.cli.reading import StoreOptions

__all__ = ["JsonOpt", "ProjectOpt", "RecorderOpt", "ServerOpt", "StoreOptions", "TokenOpt"]

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
