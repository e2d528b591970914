"""Live updates: failures recorded while a file is open show up without an edit.

Each project with open documents has one task that listens for the recorder writer's commit
signal (`flux_lsp.recorder.signal`: a small file the writer process writes after every commit,
watched with watchfiles; for a PostgreSQL recorder, `LISTEN`ing for the NOTIFY of every commit,
`flux_lsp.recorder.postgres_signal`) and, on hearing it, reads the store's `change_token()`.
When the signal cannot be heard (a `flux serve` recorder, no signal file yet, a lost database
connection) the same task polls the token every `[recorder] poll_seconds`. A change refreshes
the project's open documents at once; changes
that arrive during a refresh cause one more refresh, at most every `DEBOUNCE_SECONDS`, so a
burst of writes costs few queries per file and a lone failure waits for nothing. A recorder
that did not exist yet is opened as soon as its file appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from flux_lsp.lsp import diagnostics
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.project import ConfigError, Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.signal import changes, recorder_changes
from flux_lsp.recorder.store import RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

DEBOUNCE_SECONDS = 0.1
SCAN_SLACK = 120.0
SCAN_LIMIT = 1000


def _poll_seconds(root: Path) -> float:
    """The project's `[recorder] poll_seconds` (the default when its flux.toml is broken)."""
    try:
        return Project.load(root).settings.recorder.poll_seconds
    except ConfigError:
        return Project(root).settings.recorder.poll_seconds


class LiveWatcher:
    """One listening task per watched project, and the pending refreshes."""

    def __init__(self, ls: FluxLanguageServer) -> None:
        self._ls = ls
        self._running = False
        self._watches: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()
        self._scanned: dict[tuple[str, str], dict[str, float]] = {}
        """Per project, the executions a scan already handled (id → start), within the slack."""

    def start(self) -> None:
        self._running = True
        for project in self._ls.projects.all():
            if project.open_uris:
                self.watch(project)

    def watch(self, project: FluxProject) -> None:
        """Listen for the project's new records (once per project; cheap to call again)."""
        if not self._running or project.key in self._watches:
            return
        loop = asyncio.get_running_loop()
        self._watches[project.key] = loop.create_task(self._listen(project.key, project.root))

    async def stop(self) -> None:
        self._running = False
        tasks = [*self._watches.values(), *self._pending.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watches.clear()
        self._pending.clear()

    def _project(self, key: tuple[str, str]) -> FluxProject | None:
        return next((p for p in self._ls.projects.all() if p.key == key), None)

    async def _listen(self, key: tuple[str, str], root: Path) -> None:
        project = self._project(key)
        location = project.recorder if project is not None else None
        fallback = _poll_seconds(root)
        heard = recorder_changes(location, fallback) if location else changes(None, fallback)
        async for _heard in heard:
            project = self._project(key)
            if project is None or not project.open_uris:
                continue
            try:
                await self._check(project)
            except Exception:
                log.exception("watching %s failed", project.recorder)

    async def _check(self, project: FluxProject) -> None:
        if project.store is None:
            if not project.recorder_present():
                return
            if await project.open() is None:
                return
            self.schedule(project)
            return
        try:
            token = await project.store.change_token()
        except RecorderError as exc:
            await project.drop_store(str(exc))
            self._ls.projects.report(f"Flux: {exc}")
            return
        if project.token is None:
            project.token = token
        elif token != project.token:
            project.token = token
            self.schedule(project)

    def schedule(self, project: FluxProject) -> None:
        """Refresh the project's open documents soon (once, however many changes arrive)."""
        key = project.key
        pending = self._pending.get(key)
        if pending is not None and not pending.done():
            self._again.add(key)
            return
        self._pending[key] = asyncio.get_running_loop().create_task(self._refresh(project))

    async def _refresh(self, project: FluxProject) -> None:
        while True:
            self._again.discard(project.key)
            with self._ls.background.busy():  # a new failure goes ahead of background work
                for uri in await self._touched(project):
                    await diagnostics.refresh(self._ls, uri)
            if project.key not in self._again:
                return
            await asyncio.sleep(DEBOUNCE_SECONDS)  # more arrived meanwhile: gather the rest

    async def _touched(self, project: FluxProject) -> list[str]:
        """The open documents the newest records concern (all of them when unsure).

        A new failure concerns the file it was raised in; a new replay, its function's file.
        Records are written when an execution ends, so the scan reaches `SCAN_SLACK` seconds
        before the previous scan started; what an earlier scan handled is skipped, so a new
        failure refreshes its own file, not every file of the last two minutes.
        """
        scan_started = time.time()
        since, project.scanned_at = project.scanned_at, scan_started
        everything = sorted(project.open_uris)
        if since is None or project.store is None:
            return everything
        try:
            recent = await project.store.executions(
                ExecutionQuery(since=since - SCAN_SLACK, limit=SCAN_LIMIT)
            )
        except RecorderError:
            return everything
        if len(recent) >= SCAN_LIMIT:
            return everything
        files: set[str] = set()
        handled = self._scanned.setdefault(project.key, {})
        for execution in recent:
            if execution.id in handled:
                continue
            handled[execution.id] = execution.started_at
            location = execution.error.location if execution.error else None
            if location is not None:
                files.add(location.file)
            if execution.kind == "replay":
                files.add(project.relative(project.functions_dir / f"{execution.function}.py"))
        horizon = since - SCAN_SLACK
        for ident in [i for i, started in handled.items() if started < horizon]:
            del handled[ident]
        if not files:
            return []
        return [uri for uri in everything if project.relative_uri(uri) in files]
