"""`flux dev` and `flux serve`: the gateway, the job worker and the recorder, on localhost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from flux_lsp.cli.app import HostOption, PortOption, ProjectOption, app
from flux_lsp.cli.user_errors import fail, user_errors

if TYPE_CHECKING:
    from flux_lsp.runtime.runtime import Runtime


async def _check_database(runtime: Runtime) -> None:
    """Open the app database and apply pending migrations once, before serving."""
    try:
        await runtime.start()
    finally:
        await runtime.stop()


def check_port(host: str, port: int) -> None:
    """Fail with one line, before any banner, when `host:port` cannot be listened on."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"port {port} on {host} is in use: pick another with --port {port + 1}")
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _serve(project_dir: Path, host: str, port: int, dev: bool) -> None:
    import logging

    check_port(host, port)

    from starlette.routing import BaseRoute

    from flux_lsp.project import Project
    from flux_lsp.recorder.postgres_schema import redact
    from flux_lsp.recorder.writer import open_writer
    from flux_lsp.runtime.gateway import BackgroundTask, create_app
    from flux_lsp.runtime.runtime import Runtime
    from flux_lsp.runtime.server import WatchTask, report_catalog, serve_app
    from flux_lsp.runtime.worker import Worker

    logging.basicConfig(level=logging.INFO, format="flux: %(message)s")
    with user_errors():
        project = Project.load(project_dir)
        project.export_env_file()  # handlers read .env values from os.environ, as in production
        base = project
        if not dev:
            from flux_lsp.serve.admin import prepare

            project = prepare(base)  # the active deployment, when there is one
        if not project.functions_dir.is_dir():
            fail(f"no functions folder at {project.functions_dir}")
        recorder = open_writer(project, export=True)
        runtime = Runtime(project, recorder, check_mtime=dev)
        asyncio.run(_check_database(runtime))  # unreachable, or a failed migration: one line
        catalog = runtime.catalog()
        report_catalog(catalog)
        if catalog.problems and not dev:
            recorder.close()
            fail(
                f"not serving: {catalog.summary()} (each is listed above); fix them, "
                "or run `flux dev`, which serves the others"
            )
    background: list[BackgroundTask] = [WatchTask(runtime)] if dev else []
    background.append(Worker(runtime))
    extra_routes: list[BaseRoute] = []
    on_shutdown: list[BackgroundTask] = []
    if not dev:
        from flux_lsp.serve.admin import AdminAPI

        admin = AdminAPI(runtime, base, base.settings.server.token)
        extra_routes = admin.routes()
        on_shutdown = admin.on_shutdown()
        typer.echo(f"flux serve: {admin.startup_note()}", err=True)
    typer.echo(
        f"flux {'dev' if dev else 'serve'}: {catalog.summary()} on "
        f"http://{host}:{port}/<name> · data in {runtime.database.describe()} · "
        f"recording to {redact(project.recorder_location)}",
        err=True,
    )
    app_ = create_app(runtime, extra_routes, background, on_shutdown)
    serve_app(app_, host, port, project.settings.server)


@app.command()
def dev(
    project: ProjectOption = Path("."),
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Serve functions/ on localhost with reload on change, and record every execution.

    Examples:

      flux dev

      flux dev --port 8001
    """
    _serve(project, host, port, dev=True)


@app.command()
def serve(
    project: ProjectOption = Path("."),
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
) -> None:
    """Serve functions/ without reload (production), and record every execution.

    Example:

      FLUX_TOKEN=… flux serve --host 0.0.0.0 --port 8000
    """
    _serve(project, host, port, dev=False)
