"""`flux debug <id>`: re-run one recorded execution under a debugger (debugpy, DAP).

The session itself is `flux_lsp.replay.debug`; this module reads the arguments, prints where
the debugger listens (one line, or `{"host", "port", "pid", …}` with `--json`), and when the
request has run prints its outcome in replay's words, or the `ReplayReport` as JSON (one line).
The exit code is 0 when the request passes and 1 otherwise. Ctrl-C or SIGTERM removes the
sandbox before the process ends; debugpy's adapter then ends the client's session. The
language server starts this command in its own process for `flux.debug`, handing unsaved
buffers over stdin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.replay_commands import open_project, outcome_lines, render_footer
from flux_lsp.cli.stores import ServerOpt
from flux_lsp.cli.user_errors import UserError, user_errors

if TYPE_CHECKING:
    from flux_lsp.replay.debug import DebugEndpoint
    from flux_lsp.replay.report import ReplayReport


def _overlay_from_stdin() -> dict[str, str]:
    try:
        data = json.loads(sys.stdin.read() or "{}")
    except ValueError as exc:
        raise UserError(f"--buffers-from-stdin: not a JSON object: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise UserError('--buffers-from-stdin: expected {"functions/x.py": "text", …}')
    return data


def _announce(as_json: bool) -> Callable[[DebugEndpoint], None]:
    def announce(endpoint: DebugEndpoint) -> None:
        if as_json:
            line = json.dumps(dataclasses.asdict(endpoint))
        else:
            stop = endpoint.stop_at
            where = f", stopping at {Path(stop.file).name}:{stop.line}" if stop else ""
            line = (
                f"  Debugging {endpoint.short_id} {endpoint.label} on current code{where}: "
                f"attach a DAP client to {endpoint.host}:{endpoint.port} (pid {endpoint.pid})…"
            )
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return announce


async def _debug(
    project_dir: Path,
    ident: str,
    port: int,
    stop: bool | None,
    as_json: bool,
    overlay: dict[str, str],
) -> ReplayReport:
    from flux_lsp.replay.debug import DebugError, debug_one

    project, store = await open_project(project_dir)
    try:
        return await debug_one(
            project,
            store,
            ident,
            port=port,
            stop=stop,
            overlay=overlay or None,
            announce=_announce(as_json),
        )
    except DebugError as exc:
        raise UserError(str(exc)) from None
    finally:
        await store.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command("debug")
def debug(
    request_id: Annotated[str, typer.Argument(help="The execution: req:7c8d9e0f or a prefix.")],
    port: Annotated[
        int, typer.Option("--port", help="Listen on this port of 127.0.0.1 (default: a free one).")
    ] = 0,
    stop_at_failure: Annotated[
        bool | None,
        typer.Option(
            "--stop-at-failure/--no-stop-at-failure",
            help="Stop at the recorded failing line (default: when the recording failed).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the endpoint and the report as JSON lines.")
    ] = False,
    server: ServerOpt = None,
    buffers_from_stdin: Annotated[bool, typer.Option("--buffers-from-stdin", hidden=True)] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Re-run one recorded execution under a debugger, on the code you have now.

    It runs as `flux replay` does: the data as it was, email off, Stripe checks skipped, HTTP
    answered from the recording.

    Attach VS Code, nvim-dap or any Debug Adapter Protocol client to the printed 127.0.0.1 port.

    Exits with 1 while the request still fails.

    Examples:

      flux debug 4ad4b141

      flux debug req:4ad4b141 --port 5678 --no-stop-at-failure
    """
    with user_errors():
        if server is not None:
            from flux_lsp.replay.debug import remote_refusal

            raise UserError(remote_refusal(server))
        overlay = _overlay_from_stdin() if buffers_from_stdin else {}
        # Ctrl-C and the editor ending a session (SIGTERM) remove the sandbox. The handler is
        # Python's own: debugpy, waiting for its client, lets the default one pass unseen.
        signal.signal(signal.SIGTERM, _interrupt)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _interrupt)
        try:
            report = asyncio.run(
                _debug(project, request_id, port, stop_at_failure, as_json, overlay)
            )
        except KeyboardInterrupt:
            raise UserError("debug session interrupted") from None
    if as_json:
        from flux_lsp.encode import to_json

        typer.echo(json.dumps(to_json(report), ensure_ascii=False))
    else:
        from rich.console import Console

        console = Console(highlight=False, soft_wrap=True)
        console.print()
        for outcome in report.outcomes:
            for line in outcome_lines(outcome, False, report.with_jobs):
                console.print(line, highlight=False, markup=False)
        render_footer(console, report)
    raise typer.Exit(0 if report.ok else 1)
