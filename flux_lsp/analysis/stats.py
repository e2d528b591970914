"""Run statistics for a function or a call site: counts, failures and latency percentiles.

Used by the editor's code lens (`12 runs · 2 failed · p95 48 ms`) and hovers (pure), and by the
agent tools' `function_stats` (`load_function_stats` reads the store).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from flux_lsp.analysis.tail import TailLine, tail_lines
from flux_lsp.analysis.values import iso
from flux_lsp.encode import INLINE
from flux_lsp.model import Execution
from flux_lsp.recorder.store import Store

STATS_LIMIT = 500
"""How many of a function's latest executions in the window its lens and hover stats cover."""


def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p`-th percentile (0..100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(slots=True, frozen=True)
class RunStats:
    """How a function has been doing over a window."""

    runs: int
    failed: int
    client_errors: int
    p50_ms: float | None
    p95_ms: float | None
    latest_at: float | None


def run_stats(executions: Iterable[Execution]) -> RunStats:
    """Counts and p50/p95 durations of `executions` (replays are not runs and are skipped)."""
    durations: list[float] = []
    failed = client_errors = 0
    latest: float | None = None
    for e in executions:
        if e.kind == "replay":
            continue
        durations.append(e.duration_ms)
        failed += e.failed
        client_errors += e.is_client_error
        latest = e.started_at if latest is None else max(latest, e.started_at)
    return summarize_runs(durations, failed, client_errors, latest)


def summarize_runs(
    durations: Sequence[float], failed: int, client_errors: int, latest: float | None
) -> RunStats:
    """The `RunStats` of runs that took `durations`, `failed` of them 5xx or failed jobs and
    `client_errors` 4xx, the latest started at `latest`."""
    return RunStats(
        runs=len(durations),
        failed=failed,
        client_errors=client_errors,
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
        latest_at=latest,
    )


@dataclass(slots=True)
class FunctionStats:
    """A function's runs since a moment: the counts and percentiles, and its latest runs."""

    function: str
    since: float | None
    stats: RunStats = field(metadata=INLINE)
    recent: list[TailLine] = field(default_factory=list)

    derived: ClassVar[tuple[str, ...]] = ("since_iso",)

    @property
    def since_iso(self) -> str | None:
        return iso(self.since)


RECENT_RUNS = 10
"""How many of the latest runs a function's stats list."""


async def load_function_stats(
    store: Store, function: str, since: float | None = None
) -> FunctionStats:
    """The stats of `function`'s latest runs (up to STATS_LIMIT) since `since`."""
    runs = await store.function_stats(function, since=since, limit=STATS_LIMIT)
    recent = [e for e in runs if e.kind != "replay"][:RECENT_RUNS]
    return FunctionStats(function, since, run_stats(runs), tail_lines(recent))
