"""The typer application every `flux` command registers on, and the options they share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flux_lsp.cli.reading import discover_project

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="flux",
    help="Run backend functions, record every execution, and debug them from here or the editor."
    "\n\nExample:\n\n  flux init notes && cd notes && flux dev",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from flux_lsp import __version__

        typer.echo(f"flux {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Run backend functions, record every execution, and debug them from here or the editor."""


ProjectOption = Annotated[
    Path,
    typer.Option(
        "--project",
        "-p",
        help="The project folder (default: the one holding the current folder).",
        show_default=False,
        callback=discover_project,
    ),
]
HostOption = Annotated[str, typer.Option(envvar="FLUX_HOST", help="Address to bind.")]
PortOption = Annotated[int, typer.Option(envvar="FLUX_PORT", help="Port to listen on.")]
