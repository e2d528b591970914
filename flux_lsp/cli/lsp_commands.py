"""`flux lsp` (and the `flux-lsp` script): the language server on stdio, or TCP for debugging."""

from __future__ import annotations

from typing import Annotated

import typer

from flux_lsp.cli.app import HELP_OPTIONS, app


def run_server(tcp: bool, host: str, port: int) -> None:
    import logging

    from flux_lsp.lsp.server import create_server

    logging.basicConfig(level=logging.WARNING, format="flux-lsp: %(levelname)s %(message)s")
    server = create_server()
    try:
        if tcp:
            server.start_tcp(host, port)
        else:
            server.start_io()
    finally:
        server.release()
        exit_if_held()


def exit_if_held() -> None:
    """Exit now if a thread is still running once the server has closed everything: a
    connection nobody closed would otherwise keep the process alive after its client has
    gone. The threads are named on stderr, as this is a Flux bug."""
    import contextlib
    import logging
    import os
    import sys
    import threading

    main = threading.main_thread()
    held = [t.name for t in threading.enumerate() if t is not main and not t.daemon]
    if held:
        logging.getLogger("flux.lsp").warning("exiting with threads held: %s", ", ".join(held))
        logging.shutdown()
        with contextlib.suppress(OSError, ValueError):  # the client may be gone
            sys.stdout.flush()
        os._exit(0)


@app.command()
def lsp(
    tcp: Annotated[bool, typer.Option("--tcp", help="Listen on TCP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="Address to bind with --tcp.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on with --tcp.")] = 2087,
    stdio: Annotated[bool, typer.Option("--stdio", help="Use stdio (the default).")] = False,
) -> None:
    """Run the Flux language server (stdio by default; --tcp for debugging).

    Examples:

      flux lsp

      flux lsp --tcp --port 2087
    """
    run_server(tcp and not stdio, host, port)


lsp_app = typer.Typer(
    add_completion=False, pretty_exceptions_enable=False, context_settings=HELP_OPTIONS
)
lsp_app.command()(lsp)


def lsp_main() -> None:
    """The `flux-lsp` console script: `flux lsp` with its options."""
    lsp_app()
