"""A function's run statistics, kept per function while the recorder does not change.

The handler's code lens and its hover both show a function's recent runs with p50/p95. Each
summary is read from the store once (`function_stats`, up to `STATS_LIMIT` runs) and kept,
with the recorder's change token it was read at, in an `Lru` sized for the open files: a
hover or a lens while nothing new was recorded (and within `FRESH_SECONDS`, as the window
moves on) is answered from it instead of reading and ranking up to 500 runs again.
May import analysis/, recorder/ and lsp/ helpers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flux_lsp.analysis.stats import STATS_LIMIT, RunStats, run_stats
from flux_lsp.lsp.lru import Lru
from flux_lsp.model import Execution
from flux_lsp.recorder.store import Store

if TYPE_CHECKING:
    from flux_lsp.lsp.projects import FluxProject

RECENT_ROWS = 8
"""How many of the latest runs a summary keeps to show."""
FRESH_SECONDS = 60.0
"""A summary is read again after this long even when nothing was recorded."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    stats: RunStats
    recent: list[Execution]
    token: int | None
    read_at: float


class RunSummaries:
    """The summaries of the functions whose files are open (two per open file at least)."""

    def __init__(self, open_files: Callable[[], int]) -> None:
        self._cache: Lru[tuple[tuple[str, str], str], RunSummary] = Lru(
            open_files, per_file=2, least=64
        )

    async def get(self, project: FluxProject, store: Store, function: str) -> RunSummary:
        key = (project.key, function)
        now = time.time()
        cached = self._cache.get(key)
        if (
            cached is not None
            and project.token is not None
            and cached.token == project.token
            and now - cached.read_at < FRESH_SECONDS
        ):
            return cached
        token = project.token
        since = now - project.settings.window_seconds
        recent = await store.function_stats(function, since=since, limit=STATS_LIMIT)
        summary = RunSummary(run_stats(recent), recent[:RECENT_ROWS], token, now)
        self._cache.put(key, summary)
        return summary
