"""`Store`: the one read interface to recorded executions, and the errors it raises.

The CLI and the language server only ever talk to a `Store`. `SQLiteStore` reads a local
recorder file, `PostgresStore` a PostgreSQL recorder, `RemoteStore` a `flux serve` server's
recorder API. All raise the errors below, each with a message fit to show a user as it is.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from flux_lsp.model import Execution, Mutation
from flux_lsp.recorder.query import ExecutionQuery, MutationQuery


class RecorderError(Exception):
    """Base of every recorder error; `str()` is the one line to show the user."""


class RecorderMissing(RecorderError):
    """No recorder there: no file, no schema in the database, or the server is unreachable."""


class RecorderUnreachable(RecorderMissing):
    """The recorder's server (PostgreSQL, or `flux serve`) could not be reached, or went away."""


class RecorderCorrupt(RecorderError):
    pass


class RecorderTooNew(RecorderError):
    pass


class UnknownExecution(RecorderError):
    def __init__(self, ident: str) -> None:
        self.ident = ident
        super().__init__(f"no execution matches {ident!r}")


class AmbiguousExecution(RecorderError):
    def __init__(self, ident: str, candidates: list[str]) -> None:
        self.ident = ident
        self.candidates = candidates
        shown = ", ".join(f"req:{c[:12]}" for c in candidates[:10])
        super().__init__(
            f"{ident!r} matches {len(candidates)} executions: {shown}; use more digits"
        )


@dataclass(slots=True)
class CallSiteResult:
    """One recorded span at a call site in user code (`ctx.db.update(...)` on line 9)."""

    execution_id: str
    started_at: float
    name: str
    duration_ms: float
    status: str
    output: object = None
    error: str | None = None
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class RecorderStats:
    location: str
    size_bytes: int
    executions: int
    oldest: float | None
    newest: float | None
    schema_version: int
    replays: int = 0
    """How many of `executions` are replays."""
    executions_estimated: bool = False
    """`executions` is the database's estimate, not a count (a large PostgreSQL recorder)."""
    dropped: int = 0
    """Records lost: counted by the app and the writer, plus `dropped_estimated`."""
    dropped_estimated: int = 0
    """The part of `dropped` estimated from hand-off counts when a process was killed."""
    dropped_note: str | None = None
    """Where the estimate comes from ("≈ 39 lost when the writer was killed")."""
    recorded_by_writer: int = 0
    problem: str | None = None
    health_updated_at: float | None = None
    retention: str | None = None
    """The retention policy the writer applies (`keep 14d · failures 90d · max 5 GB`)."""
    pruned_before: float | None = None
    """The start of the newest execution pruning removed: windows before it are partial."""
    pruned_at: float | None = None
    export: dict[str, object] | None = None
    """OpenTelemetry export, when on: `endpoint`, spans `exported` and `dropped`, `problem`."""


class Store(Protocol):
    """Read access to recorded executions."""

    async def get(self, ident: str) -> Execution:
        """An execution by id, `req:` id or unique prefix, with spans and mutations."""
        ...

    async def executions(self, query: ExecutionQuery) -> list[Execution]:
        """Executions matching `query` (spans included, mutations included)."""
        ...

    def stream(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        """Executions matching `query`, fetched in pages: for windows too large to hold."""
        ...

    async def mutations(self, query: MutationQuery) -> list[Mutation]:
        """Mutations oldest first, narrowed by table, primary key, execution and time."""
        ...

    async def call_sites(
        self, file: str, line: int, *, since: float | None = None, limit: int = 20
    ) -> list[CallSiteResult]:
        """The most recent spans recorded at `file:line`, newest first."""
        ...

    async def function_stats(
        self, function: str, *, since: float | None = None, limit: int = 500
    ) -> list[Execution]:
        """Recent executions of one function, newest first, without spans or mutations."""
        ...

    async def stats(self) -> RecorderStats: ...

    async def change_token(self) -> int:
        """A number that changes whenever new records are written."""
        ...

    def changes(self, fallback: float) -> AsyncIterator[bool]:
        """True each time the writer signals a commit, False after `fallback` seconds without
        one; read `change_token` to see what changed. Runs until the caller stops iterating."""
        ...

    async def close(self) -> None: ...


MUTATION_PAGE = 1000


async def mutation_pages(
    store: Store, *, since: float, table: str | None = None, creations: bool = False
) -> AsyncGenerator[list[Mutation], None]:
    """Every mutation at or after `since` (of `table`, if given; only creations, if asked: see
    `MutationQuery.creations`), oldest first, each once, a page at a time.

    A page continues from the time of the last one; when a whole page was written at one
    instant (one statement touching many rows), the next asks for a larger page at that same
    instant rather than reading the same rows again.
    """
    cursor, limit = since, MUTATION_PAGE
    seen_at_cursor: set[tuple[str, int]] = set()
    while True:
        query = MutationQuery(table=table, since=cursor, limit=limit, creations=creations)
        page = await store.mutations(query)
        fresh = [m for m in page if (m.execution_id, m.seq) not in seen_at_cursor]
        if fresh:
            yield fresh
        if len(page) < limit:
            return
        last = page[-1].at
        if last == cursor:
            seen_at_cursor.update((m.execution_id, m.seq) for m in fresh)
            limit *= 2
            continue
        cursor, limit = last, MUTATION_PAGE
        seen_at_cursor = {(m.execution_id, m.seq) for m in page if m.at == last}


def pruned_note(pruned_before: float | None, since: float | None = None) -> str | None:
    """The one line that says a window reaches before what retention kept, else None.

    `since` is where the window starts (None: from the beginning)."""
    if pruned_before is None or (since is not None and since > pruned_before):
        return None
    bound = _dt.datetime.fromtimestamp(math.ceil(pruned_before / 60) * 60)
    return f"recordings before {bound:%Y-%m-%d %H:%M} were pruned"
