"""The typer application every `flux` command registers on, and the options they share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="flux",
    help="Run backend functions, record every execution, and debug them from here or the editor.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="The project folder.", show_default=False)
]
HostOption = Annotated[str, typer.Option(help="Address to bind.")]
PortOption = Annotated[int, typer.Option(help="Port to listen on.")]
