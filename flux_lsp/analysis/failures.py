"""Recorded failures by source location: the groups the editor shows as diagnostics, as reports.

`recorded_failures` reads the failures of a window (optionally of one file) from a `Store`,
groups them by fingerprint (`analysis.fingerprint`) and finds each group's latest replay. The
language server turns each group into a diagnostic; `failure_report` turns one into a report
value for the agent tools: the error, how often, the latest ids, where the failing line is in
the code as it is now (`analysis.anchoring`) and the source lines around it. Imports model,
recorder (the store and its query) and the other analysis modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flux_lsp.analysis.anchoring import Anchor, anchor
from flux_lsp.analysis.fingerprint import (
    FailureGroup,
    group_failures,
    latest_replay_verdicts,
    replay_passed,
)
from flux_lsp.analysis.values import iso
from flux_lsp.model import Execution, short_id
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import Store

FAILURE_LIMIT = 500
"""How many of the newest failing executions of a window are grouped."""
REPLAY_LIMIT = 200
"""How many of a function's newest replays are looked through for a group's verdict."""
REPORT_IDS = 50
"""How many of a group's execution ids a report lists (newest first)."""
SOURCE_CONTEXT = 3
"""Source lines shown on each side of the failing line."""


async def recorded_failures(
    store: Store, since: float, file: str | None = None
) -> tuple[list[FailureGroup], dict[str, Execution]]:
    """The failure groups recorded since `since` (in `file`, relative to the project, if
    given), newest first, and each group's latest replay by fingerprint."""
    if file is not None:
        queries = [ExecutionQuery(error_file=file, since=since, limit=FAILURE_LIMIT)]
    else:  # failures only: 5xx and failed jobs, then 4xx
        queries = [
            ExecutionQuery(status=status, since=since, limit=FAILURE_LIMIT)
            for status in ("failed", "4xx")
        ]
    recorded: list[Execution] = []
    for query in queries:
        recorded.extend(await store.executions(query))
    groups = group_failures(recorded)
    replays: list[Execution] = []
    for function in sorted({g.latest.function for g in groups}):
        replays.extend(
            await store.executions(
                ExecutionQuery(function=function, kind="replay", since=since, limit=REPLAY_LIMIT)
            )
        )
    return groups, latest_replay_verdicts(groups, replays)


def failure_state(found: Anchor, replay: Execution | None) -> str:
    """`fixed` when the group's latest replay passed, `changed` when its failing line is no
    longer in the code, else `open`."""
    if replay is not None and replay_passed(replay):
        return "fixed"
    return "open" if found.found else "changed"


@dataclass(slots=True)
class SourceLine:
    line: int
    """1-based."""
    text: str
    failing: bool = False


@dataclass(slots=True)
class FailureReport:
    """One failure group: what failed, how often, and where it is in the code now."""

    fingerprint: str
    function: str
    error_type: str
    message: str
    count: int
    severity: str
    """`error` (5xx, failed job) or `warning` (4xx)."""
    state: str
    """`open`, `fixed` (its latest replay passed) or `changed` (the failing line is gone)."""
    latest_id: str
    latest_short_id: str
    latest_at: float
    latest_at_iso: str | None
    file: str | None
    recorded_line: int | None
    line: int | None
    """Where the failing line is in the working tree now (1-based); None when it changed."""
    replay_id: str | None
    ids: list[str] = field(default_factory=list)
    source: list[SourceLine] = field(default_factory=list)
    """The working tree's lines around the failing one, or the recorded ones if the file is
    gone."""

    @property
    def title(self) -> str:
        """`functions/stripe_webhook.py:9 RowNotFound (3×)`."""
        place = f"{self.file}:{self.line or self.recorded_line}" if self.file else self.function
        return f"{place} {self.error_type} ({self.count}×)"


def _source(lines: Sequence[str], index: int, failing: int | None) -> list[SourceLine]:
    start, end = max(0, index - SOURCE_CONTEXT), min(len(lines), index + SOURCE_CONTEXT + 1)
    return [SourceLine(i + 1, lines[i], i == failing) for i in range(start, end)]


def failure_report(
    group: FailureGroup, lines: Sequence[str] | None, replay: Execution | None = None
) -> FailureReport:
    """The report of `group`; `lines` is its file's text now (None when it cannot be read)."""
    latest = group.latest
    error = latest.error
    location = group.location
    line: int | None = None
    source: list[SourceLine] = []
    state = failure_state(Anchor("exact", 0, 0, 0, 0), replay)
    if location is not None and lines is not None:
        found = anchor(location, lines)
        state = failure_state(found, replay)
        line = found.start_line + 1 if found.found else None
        source = _source(lines, found.start_line, found.start_line if found.found else None)
    elif location is not None and location.context_start is not None:
        first = location.context_start
        source = [
            SourceLine(first + i, text, first + i == location.line)
            for i, text in enumerate(location.context)
        ]
    return FailureReport(
        fingerprint=group.fingerprint,
        function=latest.function,
        error_type=error.type if error else "",
        message=error.message if error else latest.status,
        count=group.count,
        severity=group.severity,
        state=state,
        latest_id=latest.id,
        latest_short_id=short_id(latest.id),
        latest_at=latest.started_at,
        latest_at_iso=iso(latest.started_at),
        file=location.file if location else None,
        recorded_line=location.line if location else None,
        line=line,
        replay_id=replay.id if replay is not None else None,
        ids=group.ids[:REPORT_IDS],
        source=source,
    )
