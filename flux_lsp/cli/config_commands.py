"""`flux config`: every setting's value and where it came from, and the flux.toml JSON Schema.

The settings and their documentation are declared once in `flux_lsp.settings`; this command
only lays them out. Secrets are never printed: only whether they are set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.user_errors import user_errors

SchemaOption = Annotated[
    bool, typer.Option("--schema", help="Print the JSON Schema of flux.toml instead.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def config(
    project: ProjectOption = Path("."),
    schema: SchemaOption = False,
    json_out: JsonOption = False,
) -> None:
    """Show every setting, its value, and where it came from (flux.toml, .env, environment).

    Example: flux config --project shop
    """
    import json

    from flux_lsp.project import Project
    from flux_lsp.settings import iter_settings, json_schema, value_of

    if schema:
        typer.echo(json.dumps(json_schema(), indent=2))
        return
    with user_errors():
        loaded = Project.load(project)
    rows: list[dict[str, Any]] = []
    for info in iter_settings():
        value = value_of(loaded.settings, info)
        shown: object = ("set" if value else "not set") if info.secret else value
        rows.append(
            {
                "key": info.dotted,
                "value": list(shown) if isinstance(shown, tuple) else shown,
                "source": loaded.sources.get(info.dotted, "default"),
                "env": info.env[0],
                "secret": info.secret,
            }
        )
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(row["key"]) for row in rows)
    for row in rows:
        value = row["value"]
        text = ", ".join(value) if isinstance(value, list) else str(value)
        text = "-" if value is None or value == [] else text
        typer.echo(f"  {row['key']:<{width}}  {text}  ({row['source']}; {row['env']})")
    for name in loaded.secrets_in_file:
        typer.echo(f"flux: warning: {name} is a secret set in flux.toml; use the environment")
