"""The `flux` command: the typer app with every command module registered on it.

Command modules keep their heavy imports inside the command bodies so `flux` starts fast, and
`main()` imports only the module of the command asked for (`flux tail` needs neither deploy
nor debug nor replay): every module is imported for `--help`, completion, or a name it does
not know. `flux tail` with plain options does not even import typer: `cli/tail_command.py`
reads its command line as typer would and runs it (anything else goes to typer). `app` (for
tests and tools) is the app with every command registered.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

MODULES = (
    "config_commands",  # config
    "debug_commands",  # debug (and, through replay_commands, incident replay, replay)
    "deploy_commands",  # deploy
    "inspect_commands",  # tail, why, trace, state, status
    "lsp_commands",  # lsp
    "mcp_commands",  # mcp
    "project_commands",  # init, functions
    "prune_commands",  # prune
    "replay_commands",  # incident replay, replay
    "serve_commands",  # dev, serve
    "test_commands",  # test, test add
)
COMMANDS = {
    "config": "config_commands",
    "debug": "debug_commands",
    "deploy": "deploy_commands",
    "tail": "inspect_commands",
    "why": "inspect_commands",
    "trace": "inspect_commands",
    "state": "inspect_commands",
    "status": "inspect_commands",
    "lsp": "lsp_commands",
    "mcp": "mcp_commands",
    "init": "project_commands",
    "functions": "project_commands",
    "prune": "prune_commands",
    "incident": "replay_commands",
    "replay": "replay_commands",
    "dev": "serve_commands",
    "serve": "serve_commands",
    "test": "test_commands",
}
"""Which module registers each top-level command (tests/cli checks it against the app)."""


def register(modules: tuple[str, ...] = MODULES) -> Any:
    """Import command modules (registering their commands); return the typer app."""
    for module in modules:
        importlib.import_module(f"flux_lsp.cli.{module}")
    from flux_lsp.cli.app import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        return register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command(args: list[str]) -> str | None:
    """The command asked for: the first argument that is not an option."""
    return next((arg for arg in args if not arg.startswith("-")), None)


def main() -> None:
    completing = "_FLUX_COMPLETE" in os.environ
    if sys.argv[1:2] == ["tail"] and not completing:
        from flux_lsp.cli.tail_command import fast_tail

        if fast_tail(sys.argv[2:]):
            return
    module = COMMANDS.get(_command(sys.argv[1:]) or "")
    register((module,) if module is not None and not completing else MODULES)()


def lsp_main() -> None:
    """The `flux-lsp` script: `flux lsp` under a name of its own."""
    from flux_lsp.cli.lsp_commands import lsp_main as run

    run()
