"""The `flux` command: the typer app with every command module registered on it.

Command modules keep their heavy imports inside the command bodies so `flux` starts fast.
"""

from __future__ import annotations

from flux_lsp.cli import (
    config_commands,  # noqa: F401  (registers config)
    debug_commands,  # noqa: F401  (registers debug)
    deploy_commands,  # noqa: F401  (registers deploy)
    inspect_commands,  # noqa: F401  (registers tail, why, trace, state, status)
    lsp_commands,  # noqa: F401  (registers lsp)
    mcp_commands,  # noqa: F401  (registers mcp)
    project_commands,  # noqa: F401  (registers init, functions)
    prune_commands,  # noqa: F401  (registers prune)
    replay_commands,  # noqa: F401  (registers incident replay, replay)
    serve_commands,  # noqa: F401  (registers dev, serve)
    test_commands,  # noqa: F401  (registers test, test add)
)
from flux_lsp.cli.app import app
from flux_lsp.cli.lsp_commands import lsp_main  # noqa: F401  (the flux-lsp script)


def main() -> None:
    app()
