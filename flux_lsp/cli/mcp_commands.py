"""`flux mcp`: the agent tools (Model Context Protocol) on stdio, or streamable HTTP on loopback.

The declared exception to the rule that cli/ never imports another front end: this command
starts `flux_lsp.mcp`, as `flux lsp` starts the language server. Bad options end in one line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux_lsp.cli.app import app
from flux_lsp.cli.stores import StoreOptions, store_options


@app.command()
@store_options
def mcp(
    http: Annotated[
        bool,
        typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio."),
    ] = False,
    host: Annotated[str, typer.Option(help="Loopback address to bind with --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on with --http.")] = 8765,
    mcp_token: Annotated[
        str | None,
        typer.Option(
            "--mcp-token",
            envvar="FLUX_MCP_TOKEN",
            help="The token HTTP clients send as Authorization: Bearer (needed with --http).",
        ),
    ] = None,
    *,
    where: StoreOptions,
) -> None:
    """Serve Flux's recordings, why, trace and replay to coding agents over MCP.

    Examples:

      flux mcp

      FLUX_MCP_TOKEN=… flux mcp --http --port 8765
    """
    from flux_lsp.cli.user_errors import fail

    project = where.project
    if not (project / "functions").is_dir() and not (project / "flux.toml").is_file():
        fail(f"no Flux project at {project.resolve()}: expected functions/ or flux.toml")
    from flux_lsp.mcp.server import LoopbackOnly, run_http, run_stdio
    from flux_lsp.mcp.workspace import Workspace

    workspace = Workspace(project, where.recorder, where.server, where.token)
    if not http:
        run_stdio(workspace)
        return
    if not mcp_token:
        fail("--http needs a token: pass --mcp-token or set FLUX_MCP_TOKEN")
    try:
        run_http(workspace, host, port, mcp_token)
    except LoopbackOnly as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
