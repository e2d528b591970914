"""Fingerprints and grouping of failures (analysis/fingerprint.py) and run stats."""

from __future__ import annotations

from flux_lsp.analysis.fingerprint import (
    fingerprint,
    group_failures,
    latest_replay_verdicts,
    normalise_message,
    replay_passed,
)
from flux_lsp.analysis.stats import percentile, run_stats
from flux_lsp.model import ErrorInfo, Execution, Location


def failure(
    eid: str, message: str, status: str = "500", at: float = 0.0, **kw: object
) -> Execution:
    loc = Location("functions/pay.py", 7, 4, 11, 5, "handler", "    await ctx.db.update(")
    return Execution(
        id=eid,
        kind=str(kw.get("kind", "http")),
        function="pay",
        method="POST",
        path="/pay",
        status=status,
        started_at=at,
        duration_ms=float(kw.get("ms", 10.0)),  # type: ignore[arg-type]
        error=ErrorInfo("RowNotFound", message, loc) if message else None,
        parent_id=kw.get("parent"),  # type: ignore[arg-type]
    )


def test_ids_quotes_and_numbers_are_normalised() -> None:
    assert normalise_message("Row not found: subs WHERE customer_id = 'cus_ABC'") == (
        "Row not found: subs WHERE customer_id = '…'"
    )
    assert normalise_message("User 42 not found") == "User <n> not found"
    assert normalise_message("order ord_3f9a2c1b failed") == "order <id> failed"
    assert normalise_message("req 7c8d9e0f1a2b3c4d gone") == "req <id> gone"
    assert normalise_message("customer_id missing") == "customer_id missing"


def test_same_failure_with_other_data_shares_a_fingerprint() -> None:
    a = failure("a", "Row not found: subs WHERE customer_id = 'cus_ABC'")
    b = failure("b", "Row not found: subs WHERE customer_id = 'cus_XYZ'")
    c = failure("c", "Row not found: users WHERE id = 'u_1'")
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_grouping_orders_newest_first_and_skips_successes_and_replays() -> None:
    groups = group_failures(
        [
            failure("a", "boom 1", at=1),
            failure("b", "boom 2", at=3),
            failure("ok", "", status="200", at=4),
            failure("r", "boom 3", at=5, kind="replay", parent="b"),
            failure("w", "bad input", status="400", at=2),
        ]
    )
    assert [g.ids for g in groups] == [["b", "a"], ["w"]]
    assert [g.severity for g in groups] == ["error", "warning"]


def test_latest_replay_decides_fixed() -> None:
    (group,) = group_failures([failure("a", "boom", at=1), failure("b", "boom", at=2)])
    replays = [
        failure("r1", "boom", at=3, kind="replay", parent="a"),
        failure("r2", "", status="200", at=4, kind="replay", parent="b"),
    ]
    verdict = latest_replay_verdicts([group], replays)[group.fingerprint]
    assert verdict.id == "r2" and replay_passed(verdict)


def test_percentiles_and_run_stats() -> None:
    assert percentile([], 50) is None
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    stats = run_stats(
        [failure(str(i), "", status="200", ms=float(i)) for i in range(1, 11)]
        + [failure("x", "boom", ms=100.0)]
    )
    assert (stats.runs, stats.failed, stats.p50_ms, stats.p95_ms) == (11, 1, 6.0, 100.0)
