"""`Background`: work the language server does while the editor is not waiting for it.

Working out ahead what a hover will show (`hover.prepare`) must not delay the answers an editor
is waiting for: the diagnostics of a file just opened, a hover, a lens. Handlers that answer
the editor run inside `busy()`; background work awaits `quiet()` before each step, which
returns once nothing is being answered and nothing was for `QUIET_SECONDS`. Jobs run one at a
time, in the order they were scheduled; scheduling a key again replaces its waiting job.
May import the standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator

log = logging.getLogger("flux.lsp")

QUIET_SECONDS = 0.03
"""How long the editor must have been answered before background work takes a step."""


class Background:
    """One worker running scheduled jobs, each step of which waits for a quiet moment."""

    def __init__(self) -> None:
        self._busy = 0
        self._last_busy = 0.0
        self._jobs: OrderedDict[str, Callable[[], Awaitable[None]]] = OrderedDict()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Around work the editor is waiting for: background steps hold back meanwhile."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._last_busy = time.monotonic()

    async def quiet(self) -> None:
        """Return once nothing is being answered and nothing was for `QUIET_SECONDS`."""
        while True:
            idle = time.monotonic() - self._last_busy
            if self._busy == 0 and idle >= QUIET_SECONDS:
                return
            await asyncio.sleep(max(QUIET_SECONDS - idle, 0.005))

    def schedule(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job()` after the jobs scheduled before it (replacing a waiting one of `key`)."""
        self._jobs.pop(key, None)
        self._jobs[key] = job
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    def pending(self) -> int:
        return len(self._jobs)

    async def _run(self) -> None:
        while True:
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            _key, job = self._jobs.popitem(last=False)
            try:
                await job()
            except Exception:
                log.exception("background work failed")

    async def stop(self) -> None:
        self._jobs.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
