"""Following a recorder: the executions recorded since the last look, each reported once.

`flux tail --follow` and the `flux serve` tail stream both poll with a `Follower`. A look
reads anything only when the store's change token moved, and then reads back a while before
the newest execution it has reported: an execution is recorded when it ends, so a long one
arrives with a start time earlier than executions already shown. Reading back would report
every older execution in that while as new, so a follower first marks what the store already
holds (`mark_recorded`): only what is recorded after that is news.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flux_lsp.model import Execution
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import Store

LOOKBACK_SECONDS = 300.0
"""How far before the newest reported start a look reads back."""


class Follower:
    """Reports each new execution matching `query` once, oldest first."""

    def __init__(
        self,
        store: Store,
        query: ExecutionQuery,
        *,
        shown: Iterable[tuple[str, float]] = (),
        after: tuple[float, str] | None = None,
        token: int | None = None,
    ) -> None:
        """`shown`: (id, start) pairs already reported; `after`: a (start, id) resume point,
        nothing at or before it is new; `token`: the change token already looked at."""
        self.store = store
        self.query = query
        self.seen = dict(shown)
        self.after = after
        self.token = token
        starts = [*self.seen.values(), *([after[0]] if after else [])]
        self.newest = max(starts, default=time.time())

    async def mark_recorded(self) -> None:
        """Take everything the store holds now as already reported, so that only what is
        recorded after this call is new. The next `poll` reads whatever the change token
        says, so a record committed during this call is not missed."""
        self.token = None
        window = self.query.with_(
            since=self.newest - LOOKBACK_SECONDS, newest_first=False, limit=None
        )
        async for execution in self.store.stream(window):
            self.seen[execution.id] = execution.started_at

    def mark_shown(self, shown: Iterable[tuple[str, float]]) -> None:
        """(id, start) pairs reported by the caller itself, e.g. the first screenful."""
        for ident, started_at in shown:
            self.seen[ident] = started_at
            self.newest = max(self.newest, started_at)

    async def poll(self) -> list[Execution]:
        """The executions recorded since the last look (none when the store did not change)."""
        current = await self.store.change_token()
        if current == self.token:
            return []
        self.token = current
        since = self.newest - LOOKBACK_SECONDS
        if self.after is not None:
            since = max(since, self.after[0])
        window = self.query.with_(since=since, newest_first=False, limit=None)
        fresh: list[Execution] = []
        async for execution in self.store.stream(window):
            if execution.id in self.seen or self._before_start(execution):
                continue
            self.seen[execution.id] = execution.started_at
            self.newest = max(self.newest, execution.started_at)
            fresh.append(execution)
        horizon = self.newest - LOOKBACK_SECONDS
        self.seen = {i: at for i, at in self.seen.items() if at >= horizon}
        return fresh

    def _before_start(self, execution: Execution) -> bool:
        return self.after is not None and (execution.started_at, execution.id) <= self.after
