"""`RecentFailures`: the failed executions of the editor's window, counted and worded once.

The editor's status bar item and its quick pick of failures show this report; they render its
fields and decide nothing. Which executions count (5xx and failed jobs; replays are not
incidents), their order (newest first), the cap, and the words (`Flux: 3 failing`,
`100+ failed executions in the last 24h`) are decided here.

JSON shape:

    {"window": "24h", "lines": [TailLine, ...], "capped": false,
     "count": 2, "state": "failing", "label": "Flux: 2 failing",
     "tooltip": "2 failed executions in the last 24h — click to pick one",
     "title": "Flux: 2 failures", "empty": "Flux: no failures in the last 24h."}

Imports `model`, the recorder's store and query, and `analysis.tail`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from flux_lsp.analysis.tail import TailLine, tail_line
from flux_lsp.model import Execution
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import Store

FAILURE_CAP = 100
"""How many failures are listed and counted; more show as `100+`."""


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"


@dataclass(slots=True)
class RecentFailures:
    """The failed executions of the window, newest first, counted for the status bar."""

    window: str
    """The window they were recorded in, as the user set it (`24h`)."""
    lines: list[TailLine] = field(default_factory=list)
    capped: bool = False
    """More failed than `lines` holds."""

    derived: ClassVar[tuple[str, ...]] = ("count", "state", "label", "tooltip", "title", "empty")

    @property
    def count(self) -> int:
        return len(self.lines)

    @property
    def state(self) -> str:
        """`failing` when any failed, else `clear`."""
        return "failing" if self.lines else "clear"

    @property
    def _shown(self) -> str:
        return f"{self.count}+" if self.capped else str(self.count)

    @property
    def label(self) -> str:
        """`Flux: 3 failing`, `Flux: 100+ failing`, or `Flux` when nothing failed."""
        return f"Flux: {self._shown} failing" if self.lines else "Flux"

    @property
    def tooltip(self) -> str:
        if not self.lines:
            return f"No failed executions in the last {self.window}"
        what = _plural(self.count, "failed execution")
        return f"{self._shown} {what} in the last {self.window} — click to pick one"

    @property
    def title(self) -> str:
        """`Flux: 3 failures`: the title of the pick that lists them."""
        return f"Flux: {self._shown} {_plural(self.count, 'failure')}"

    @property
    def empty(self) -> str:
        """What to say when asked to list them and there are none."""
        return f"Flux: no failures in the last {self.window}."


async def failed_since(store: Store, since: float, cap: int = FAILURE_CAP) -> list[Execution]:
    """The newest failed executions recorded since `since`: one more than `cap`, so a caller
    knows there are more."""
    query = ExecutionQuery(status="failed", exclude_kind="replay", since=since, limit=cap + 1)
    return await store.executions(query)


def recent_failures(
    executions: Iterable[Execution], window: str, cap: int = FAILURE_CAP
) -> RecentFailures:
    """The report of `executions` (from one or more stores), newest first, at most `cap`."""
    newest = sorted(executions, key=lambda e: (e.started_at, e.id), reverse=True)
    return RecentFailures(window, [tail_line(e) for e in newest[:cap]], len(newest) > cap)
