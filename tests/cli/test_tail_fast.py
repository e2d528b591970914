"""`flux tail`'s fast path (`cli/tail_command.py`) says exactly what typer's `flux tail` says.

The entry point runs a `flux tail` of plain options without typer. Each command line below is
run both ways, the fast one as a user runs it (a `flux` process) and typer's in-process, on
the file recorder and on PostgreSQL: the same output, errors and exit code. The options the
fast path reads are checked against the command's typer declaration.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer.main

from flux_lsp.cli.main import app
from flux_lsp.cli.tail_command import FLAGS, VALUES, parse_tail
from tests.cli.flux import flux
from tests.cli.incident import Incident

COMMAND_LINES = [
    [],
    ["--limit", "3"],
    ["-n", "2", "--json"],
    ["--filter", "status=500", "--filter", "path=/stripe_webhook"],
    ["--filter", "kind=job", "--json", "-n", "1"],
    ["--since", "1h", "-n", "5"],
    ["--filter", "status=teapot"],
    ["--since", "yesterday-ish"],
    ["--limit", "0"],
    ["--filter", "function=nothing_like_it"],
]


def fast(*args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FLUX_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "flux_lsp", *args], capture_output=True, text=True, env=env
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", COMMAND_LINES, ids=" ".join)
def test_the_fast_path_says_what_typer_says(incident: Incident, args: list[str]) -> None:
    assert parse_tail(args) is not None, "this command line should take the fast path"
    for where in (["-p", str(incident.project)], ["--recorder", incident.recorder]):
        command = ["tail", *args, *where]
        typer_said = flux(*command)
        assert fast(*command) == (typer_said.code, typer_said.out, typer_said.err)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-n", "-1"],
        ["-n", "x"],
        ["--limit=3"],
        ["-n", "3", "-n", "4"],
        ["--json", "--json"],
        ["--bogus"],
        ["extra"],
        ["-n"],
        ["-fn", "3"],
    ],
    ids=" ".join,
)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse_tail(args) is None


def test_the_fast_path_reads_the_options_tail_declares() -> None:
    command = typer.main.get_command(app)
    tail = command.commands["tail"]  # type: ignore[attr-defined]
    declared = {
        opt: param.name for param in tail.params for opt in param.opts if opt not in ("-h",)
    }
    declared.pop("--help", None)
    assert declared == {**FLAGS, **VALUES}
    flags = {opt for param in tail.params if param.is_flag for opt in param.opts}
    assert flags == set(FLAGS)
    limit = next(param for param in tail.params if param.name == "limit")
    parsed = parse_tail([])
    assert parsed is not None and parsed["limit"] == limit.default
    assert next(p for p in tail.params if p.name == "token").envvar == "FLUX_TOKEN"
