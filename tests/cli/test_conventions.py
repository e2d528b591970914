"""The command line keeps its ecosystem's habits: -h, --version, completion, an example in
every --help, project discovery from a subfolder, and one line when the port is taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from flux_lsp import __version__
from flux_lsp.cli.main import app
from tests.cli.flux import flux
from tests.cli.incident import Incident
from tests.harness import free_port


def command_paths() -> list[list[str]]:
    """Every command and group of `flux`, as argument lists."""
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "flux")
def test_every_help_has_an_example_and_h_works(path: list[str]) -> None:
    long = flux(*path, "--help")
    assert long.code == 0
    if path != ["incident", "replay"]:  # its window may be `-2h..now`: -h is not help there
        assert flux(*path, "-h").out == long.out
    assert "Example" in long.out and "flux " in long.out.split("Example", 1)[1]


def test_a_window_starting_with_a_dash_is_not_an_option(shop: Path) -> None:
    r = flux("incident", "replay", "-2h..now", "-p", str(shop))
    assert "Usage" not in r.out  # read as the window, not as -2 -h: it gets to the recorder
    assert r.code == 1 and r.err.startswith("flux: no recorder at ")


def test_version_and_completion() -> None:
    r = flux("--version")
    assert r.code == 0 and r.out.strip() == f"flux {__version__}"
    assert "--install-completion" in flux("--help").out


def test_commands_find_the_project_from_a_subfolder(incident: Incident) -> None:
    sub = incident.project / "functions"
    r = subprocess.run(
        [sys.executable, "-m", "flux_lsp", "status", "--json"],
        cwd=sub, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert '"executions": 17' in r.stdout


def test_a_port_in_use_is_one_line_with_a_hint_before_any_banner(shop: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        r = subprocess.run(
            [sys.executable, "-m", "flux_lsp", "dev", "-p", str(shop), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if k != "FLUX_PORT"},
        )  # fmt: skip
    assert r.returncode == 1
    assert (
        r.stderr
        == f"flux: port {port} on 127.0.0.1 is in use: pick another with --port {port + 1}\n"
    )
    assert r.stdout == ""


def _names(typer_app: typer.Typer) -> set[str]:
    names = {
        c.name or (c.callback.__name__ if c.callback else "") for c in typer_app.registered_commands
    }
    return names | {g.name or "" for g in typer_app.registered_groups}


def test_flux_imports_only_the_module_of_the_command_asked_for() -> None:
    """`main()` imports a command's module from `COMMANDS` alone: every command of the app is
    there, and importing just that module (in a fresh interpreter) registers it."""
    from flux_lsp.cli import main

    assert _names(app) == set(main.COMMANDS)
    code = (
        "import sys; from flux_lsp.cli.main import register; app = register((sys.argv[1],)); "
        "print(*[c.name or c.callback.__name__ for c in app.registered_commands], "
        "*[g.name for g in app.registered_groups])"
    )
    for module in sorted(set(main.COMMANDS.values())):
        out = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, check=True
        ).stdout.split()
        wanted = {c for c, m in main.COMMANDS.items() if m == module}
        assert wanted <= set(out), (module, out)
