"""`flux init` and `flux functions`: start a project, and list what it serves.

`init` writes the scaffold of `cli/scaffold.py`; `functions` prints the catalog of
`runtime/catalog.py` as a table, or as JSON with `--json`. Heavy imports stay inside the
commands, so `flux` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.user_errors import fail, user_errors


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="The folder to create the project in (created if needed).")
    ] = Path("."),
) -> None:
    """Create a working Flux project: flux.toml, an endpoint, a job, a migration, .gitignore.

    Existing files are never overwritten: when one is there, nothing is written.

    Example:

      flux init notes && cd notes && flux dev
    """
    from flux_lsp.cli.scaffold import ScaffoldExists, write_scaffold

    if directory.exists() and not directory.is_dir():
        fail(f"{directory} is a file, not a folder")
    try:
        written = write_scaffold(directory)
    except ScaffoldExists as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the project into {directory}: {exc.strerror or exc}")
    typer.echo(f"Created a Flux project in {directory}:")
    for rel in written:
        typer.echo(f"  {rel}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    typer.echo(f'Next: {where}flux dev, then POST /create_note with {{"text": "hello"}}.')


@app.command()
def functions(
    json: Annotated[bool, typer.Option("--json", help="Print a JSON document instead.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Each function: its route or job trigger, its file, and whether it loads.

    Exits with 1 when a function does not load.

    Examples:

      flux functions

      flux functions --json -p path/to/project
    """
    from dataclasses import asdict

    from flux_lsp.project import Project
    from flux_lsp.runtime.catalog import load_catalog
    from flux_lsp.runtime.functions import FunctionRegistry

    with user_errors():
        loaded = Project.load(project)
        if not loaded.functions_dir.is_dir():
            fail(f"no functions folder at {loaded.functions_dir} (flux init creates one)")
        registry = FunctionRegistry(loaded.functions_dir, project_root=loaded.root)
        try:
            catalog = load_catalog(registry)
        finally:
            registry.close()
    if json:
        from flux_lsp.cli.render_json import print_json

        print_json(asdict(catalog))
    else:
        from flux_lsp.cli.render import console, render_functions

        render_functions(console(), catalog)
    if catalog.broken:
        raise typer.Exit(1)
