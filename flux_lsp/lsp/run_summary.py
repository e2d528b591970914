"""A function's run statistics, kept per function and rolled forward as new runs are recorded.

The handler's code lens and its hover both show a function's recent runs with p50/p95 (up to
`STATS_LIMIT` runs of the window). A summary is read from the store once (`function_stats`)
and kept, in an `Lru` sized for the open files, with the window's runs held compactly (`Runs`:
start, duration and outcome of each, about 17 bytes a run). A hover or a lens while nothing
new was recorded is answered from it; once the recorder changed, only the runs that started
after the newest one held are read and rolled in (the oldest drop out), instead of reading and
ranking up to 500 runs again. Every `FRESH_SECONDS` a summary is read whole again, so a record
written late (a long request ends after later ones) is counted within that time.
May import analysis/, recorder/ and lsp/ helpers.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flux_lsp.analysis.stats import STATS_LIMIT, RunStats, summarize_runs
from flux_lsp.lsp.lru import Lru
from flux_lsp.model import Execution
from flux_lsp.recorder.store import Store

if TYPE_CHECKING:
    from flux_lsp.lsp.projects import FluxProject

RECENT_ROWS = 8
"""How many of the latest runs a summary keeps to show."""
FRESH_SECONDS = 60.0
"""A summary is read whole again after this long, whether or not anything was recorded."""
OK, FAILED, CLIENT_ERROR, REPLAY = b"o", b"f", b"c", b"r"


def _outcome(e: Execution) -> bytes:
    if e.kind == "replay":
        return REPLAY
    return FAILED if e.failed else CLIENT_ERROR if e.is_client_error else OK


@dataclass(frozen=True, slots=True)
class Runs:
    """A function's runs of the window, newest first: when each started, how long it took and
    how it ended (`OK`, `FAILED`, `CLIENT_ERROR`; a `REPLAY` is held but is not a run)."""

    started: array[float]
    durations: array[float]
    outcomes: bytes

    @classmethod
    def of(cls, executions: Sequence[Execution]) -> Runs:
        """`executions`, newest first (as `function_stats` returns them)."""
        return cls(
            array("d", (e.started_at for e in executions)),
            array("d", (e.duration_ms for e in executions)),
            b"".join(_outcome(e) for e in executions),
        )

    def then(self, older: Runs, since: float, limit: int) -> Runs:
        """These runs followed by `older`, keeping the newest `limit` that started at or after
        `since`."""
        started = self.started + older.started
        keep = min(limit, len(started))
        while keep and started[keep - 1] < since:
            keep -= 1
        return Runs(
            started[:keep],
            (self.durations + older.durations)[:keep],
            (self.outcomes + older.outcomes)[:keep],
        )

    def stats(self) -> RunStats:
        durations = [
            d for d, o in zip(self.durations, self.outcomes, strict=True) if o != REPLAY[0]
        ]
        latest = next(
            (s for s, o in zip(self.started, self.outcomes, strict=True) if o != REPLAY[0]), None
        )
        failed = self.outcomes.count(FAILED)
        return summarize_runs(durations, failed, self.outcomes.count(CLIENT_ERROR), latest)


@dataclass(frozen=True, slots=True)
class RunSummary:
    stats: RunStats
    recent: list[Execution]
    token: int | None
    """The change token the summary stands for."""
    read_at: float
    """When it was last read whole."""
    runs: Runs


def held_fresh(project: FluxProject, token: int | None, read_at: float) -> bool:
    """Whether what was read at change token `token` at `read_at` still stands: the recorder
    has not changed since and it is not older than `FRESH_SECONDS` (the window moves on)."""
    return (
        project.token is not None
        and token == project.token
        and time.time() - read_at < FRESH_SECONDS
    )


class RunSummaries:
    """The summaries of the functions whose files are open (two per open file at least)."""

    def __init__(self, open_files: Callable[[], int]) -> None:
        self._cache: Lru[tuple[tuple[str, str], str], RunSummary] = Lru(
            open_files, per_file=2, least=64
        )

    async def get(self, project: FluxProject, store: Store, function: str) -> RunSummary:
        """The function's summary: the one kept while the recorder has not changed, else
        rolled forward or read whole, once however many hovers and lenses ask meanwhile."""
        key = (project.key, function)

        def fresh(cached: RunSummary) -> bool:
            return held_fresh(project, cached.token, cached.read_at)

        async def read() -> RunSummary:
            token, now = project.token, time.time()
            since = now - project.settings.window_seconds
            held = self._cache.get(key)
            if held is not None and now - held.read_at < FRESH_SECONDS and held.runs.started:
                newest = held.runs.started[0]
                newer = await store.function_stats(function, since=newest, limit=STATS_LIMIT)
                added = [e for e in newer if e.started_at > newest]
                runs = Runs.of(added).then(held.runs, since, STATS_LIMIT)
                recent = (added + held.recent)[:RECENT_ROWS]
                return RunSummary(runs.stats(), recent, token, held.read_at, runs)
            recent = await store.function_stats(function, since=since, limit=STATS_LIMIT)
            runs = Runs.of(recent)
            return RunSummary(runs.stats(), recent[:RECENT_ROWS], token, now, runs)

        return await self._cache.get_or_compute(key, read, fresh)
