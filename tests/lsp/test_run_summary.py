"""A function's run summary rolls forward: the runs held, followed by newer ones, give the same
statistics as reading the window's newest runs again."""

from __future__ import annotations

import random

from flux_lsp.analysis.stats import run_stats
from flux_lsp.lsp.run_summary import Runs
from flux_lsp.model import Execution


def runs(count: int, start: float, seed: int) -> list[Execution]:
    """`count` runs one second apart from `start`, newest first, with 5xx, 4xx and replays."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        status = rng.choice(["200", "200", "200", "500", "404"])
        out.append(
            Execution(
                id=f"{seed:04x}{i:012x}",
                kind="replay" if rng.random() < 0.1 else "http",
                function="create_user",
                method="POST",
                path="/create_user",
                status=status,
                started_at=start + i,
                duration_ms=rng.lognormvariate(2.5, 0.6),
            )
        )
    return out[::-1]


def test_rolled_forward_equals_read_again() -> None:
    older, newer = runs(400, 1000.0, 1), runs(300, 1400.0, 2)
    window = newer + older  # newest first, as function_stats returns them
    for since, limit in ((0.0, 500), (1250.0, 500), (0.0, 100)):
        rolled = Runs.of(newer).then(Runs.of(older), since, limit)
        expected = [e for e in window if e.started_at >= since][:limit]
        assert rolled.stats() == run_stats(expected)
        assert list(rolled.started) == [e.started_at for e in expected]


def test_no_runs_have_no_percentiles() -> None:
    stats = Runs.of([]).stats()
    assert stats.runs == 0 and stats.p95_ms is None and stats.latest_at is None
