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
from typing import TYPE_CHECKING

from flux_lsp.lsp import diagnostics
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.recorder.store import RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

POLL_SECONDS = 0.25
DEBOUNCE_SECONDS = 0.1


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
            for uri in sorted(project.open_uris):
                await diagnostics.refresh(self._ls, uri)
            if project.key not in self._again:
                return
