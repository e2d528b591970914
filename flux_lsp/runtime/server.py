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
from watchfiles import Change

from flux_lsp.project import Project
from flux_lsp.runtime.catalog import Catalog
from flux_lsp.runtime.executor import Runtime
from flux_lsp.settings import ENV_FILE

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
                applied = self.runtime.reload(project)
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


def serve_app(app: Starlette, host: str, port: int, log_level: str = "info") -> None:
    """Run the app until interrupted."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    uvicorn.Server(config).run()
