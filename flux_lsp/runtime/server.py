"""Serving the gateway with uvicorn, and the `flux dev` file watcher.

`flux dev` and `flux serve` both end up in `serve_app`; dev adds a watcher that reloads
changed functions and shared code (`lib/`) and applies new migrations in place, without
restarting the process. After each reload every function is imported again and each one that
cannot load is printed on one line, `file:line: reason`; the others keep serving.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol
from watchfiles import Change

from flux_lsp.project import Project
from flux_lsp.runtime.catalog import Catalog
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.settings import ENV_FILE, ServerSection

log = logging.getLogger("flux.dev")


def report_catalog(catalog: Catalog) -> None:
    """One console line per function that cannot load, and per note (ignored subfolders)."""
    for problem in catalog.problems:
        log.error("%s", problem)
    for note in catalog.notes:
        log.warning("%s", note)


class WatchTask:
    """Reloads the runtime whenever a file under functions/, lib/, migrations/ or templates/
    changes, and its settings when `flux.toml` or `.env` changes (a broken one is reported and
    the previous settings stay)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self) -> None:
        project = self.runtime.project
        folders = [
            p
            for p in (
                project.functions_dir,
                project.shared_dir,
                project.migrations_dir,
                project.templates_dir,
            )
            if p.is_dir()
        ]
        settings_files = {project.config_file, project.root / ENV_FILE}
        # The code folders recursively; the project root alone (not its .flux/ or .venv/).
        watches = [self._watch(folders, recursive=True)] if folders else []
        watches.append(self._watch([project.root], recursive=False, only=settings_files))
        await asyncio.gather(*watches)

    async def _watch(
        self, paths: list[Path], *, recursive: bool, only: set[Path] | None = None
    ) -> None:
        from watchfiles import awatch

        def accept(_change: Change, raw: str) -> bool:
            path = Path(raw)
            return "__pycache__" not in path.parts and (only is None or path in only)

        async for changes in awatch(*paths, recursive=recursive, watch_filter=accept):
            names = sorted({Path(path).name for _, path in changes})
            try:
                project = Project.load(self.runtime.project.root) if only else None
                applied = await self.runtime.reload(project)
            except Exception as exc:  # a broken migration or flux.toml must not stop the server
                log.error("reload failed: %s", exc)
                continue
            catalog = self.runtime.catalog()
            log.warning(
                "reloaded (%s)%s; code version %s; %s",
                ", ".join(names),
                f", applied {', '.join(applied)}" if applied else "",
                self.runtime.code_version,
                catalog.summary(),
            )
            report_catalog(catalog)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not
    arrived within `header_timeout` (uvicorn itself waits for ever: slowloris)."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.header_timeout, self._headers_too_slow
        )

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self._header_timer is not None:  # headers are in
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()


def serve_app(
    app: Starlette,
    host: str,
    port: int,
    limits: ServerSection | None = None,
    log_level: str = "info",
) -> None:
    """Run the app until interrupted, with `[server]`'s connection limits and timeouts."""
    limits = limits or ServerSection()
    protocol = type(
        "FluxH11Protocol", (GuardedH11Protocol,), {"header_timeout": limits.header_timeout}
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=protocol,
        limit_concurrency=limits.max_connections,
        timeout_keep_alive=max(1, round(limits.keep_alive)),
        h11_max_incomplete_event_size=64 * 1024,
    )
    uvicorn.Server(config).run()
