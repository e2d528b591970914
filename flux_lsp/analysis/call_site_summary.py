"""What a call site in user code (`ctx.db.update(...)` on line 9) has recently done.

Turns the recorder's `CallSiteResult` rows into a summary: one row per recent call (when,
request, status, result, duration) and p50/p95 over them, for the editor's hover. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flux_lsp.analysis.stats import percentile
from flux_lsp.analysis.values import compact
from flux_lsp.model import short_id
from flux_lsp.recorder.store import CallSiteResult


@dataclass(slots=True, frozen=True)
class CallSiteCall:
    execution_id: str
    short_id: str
    started_at: float
    name: str
    status: str
    result: str
    duration_ms: float


@dataclass(slots=True)
class CallSiteSummary:
    file: str
    line: int
    calls: list[CallSiteCall] = field(default_factory=list)
    errors: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None


def call_result(result: CallSiteResult) -> str:
    """`0 rows affected`, `200`, `→ { email: 'a@b.com' }` or `✗ <error>`."""
    if result.error:
        return f"✗ {result.error}"
    attrs = result.attributes
    if "db.response.rows_affected" in attrs:
        n = attrs["db.response.rows_affected"]
        return f"{n} row{'' if n == 1 else 's'} affected"
    status = attrs.get("http.response.status_code")
    if status is not None:
        return f"HTTP {status}"
    if result.output is None:
        return "ok"
    return "→ " + compact(result.output, 80)


def summarize_call_site(file: str, line: int, results: Sequence[CallSiteResult]) -> CallSiteSummary:
    """Recent calls at `file:line` (newest first, as the store returns them) and their stats."""
    calls = [
        CallSiteCall(
            execution_id=r.execution_id,
            short_id=short_id(r.execution_id),
            started_at=r.started_at,
            name=r.name,
            status=r.status,
            result=call_result(r),
            duration_ms=r.duration_ms,
        )
        for r in results
    ]
    durations = [r.duration_ms for r in results]
    return CallSiteSummary(
        file=file,
        line=line,
        calls=calls,
        errors=sum(1 for r in results if r.status == "error"),
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
    )
