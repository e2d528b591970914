"""Live updates: failures recorded while a file is open show up without an edit.

One task polls each project that has open documents every `POLL_SECONDS`: the store's
`change_token()` (for SQLite, `PRAGMA data_version`, a read of a counter in shared memory) tells
whether anything was written since the last look. A change schedules one refresh of the
project's open documents after `DEBOUNCE_SECONDS`, so a burst of writes costs one query per
file. A recorder that did not exist yet is opened as soon as its file appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from pygls.uris import to_fs_path

from flux_lsp.lsp import diagnostics
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

POLL_SECONDS = 0.25
DEBOUNCE_SECONDS = 0.1
SCAN_SLACK = 120.0
SCAN_LIMIT = 1000


def _relative(project: FluxProject, uri: str) -> str | None:
    fs = to_fs_path(uri)
    return project.relative(fs) if fs else None


class LiveWatcher:
    """The polling task and the pending (debounced) refreshes."""

    def __init__(self, ls: FluxLanguageServer) -> None:
        self._ls = ls
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: set[tuple[str, str]] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._pending.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            for project in self._ls.projects.all():
                if not project.open_uris:
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
            await asyncio.sleep(DEBOUNCE_SECONDS)
            for uri in await self._touched(project):
                await diagnostics.refresh(self._ls, uri)
            if project.key not in self._again:
                return

    async def _touched(self, project: FluxProject) -> list[str]:
        """The open documents the newest records concern (all of them when unsure).

        A new failure concerns the file it was raised in; a new replay, its function's file.
        Records are written when an execution ends, so the scan reaches `SCAN_SLACK` seconds
        before the previous scan started.
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
        for execution in recent:
            location = execution.error.location if execution.error else None
            if location is not None:
                files.add(location.file)
            if execution.kind == "replay":
                files.add(project.relative(project.functions_dir / f"{execution.function}.py"))
        return [uri for uri in everything if _relative(project, uri) in files]
