"""Replaying recorded executions against the current code: the API the CLI and the editor use.

`replay_window` re-runs every recorded execution of a time window in recorded order;
`replay_one` re-runs a single one. Both run on a `Runtime` built for the project's current
functions (or an overlay of unsaved editor buffers, `{relative path: text}`) whose database is
a `Sandbox` — the app data as it was when the window started — so the live app database is
never written. Each run is an `Invocation` of kind `replay` pointing at its original, which is
what makes the ctx services stay quiet: no email, no Stripe signature check, outbound HTTP
answered from the recording, and time, random values and ids fed back. Any other connection
the code makes is refused by the network guard (`replay.guard`) and fails the outcome.
Replays are recorded (kind `replay`, parent = the original) so the editor can show "fixed in
replay".

The window is streamed page by page (`Store.stream`), never loaded whole. A `query` narrows
what is reported, not what runs: every request in the window still runs on the current code,
in order, so that a fix in one function (signup) shows in another's outcome (the webhook).
Recorded job runs are re-run with `with_jobs`; otherwise their recorded writes are re-applied
to the sandbox, so the data evolves as it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from flux_lsp.model import Execution
from flux_lsp.project import Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import Store, pruned_note
from flux_lsp.recorder.writer import open_writer
from flux_lsp.replay.guard import no_network
from flux_lsp.replay.rebuild import REPLAY_KIND, replay_invocation
from flux_lsp.replay.report import (
    ReplayOutcome,
    ReplayReport,
    ReplayWindow,
    compare,
    event_type_of,
    network_used,
)
from flux_lsp.replay.report import missing_function as missing_function_outcome
from flux_lsp.replay.sandbox import Sandbox
from flux_lsp.runtime.functions import FunctionRegistry
from flux_lsp.runtime.http_client import close_client
from flux_lsp.runtime.recording import Recorder
from flux_lsp.runtime.runtime import Runtime

ProgressCallback = Callable[[ReplayOutcome, int], None]
"""Called after each replayed execution with its outcome and how many have been replayed."""


@dataclass(slots=True)
class ReplayPlan:
    """What a window holds to replay, counted before replaying (for headers, progress bars)."""

    count: int
    webhooks: int


def reruns(execution: Execution, with_jobs: bool) -> bool:
    """Whether `execution` runs again (else its recorded writes are re-applied, or, for an
    earlier replay, nothing happens)."""
    return execution.kind != REPLAY_KIND and (execution.kind != "job" or with_jobs)


def selects(execution: Execution, query: ExecutionQuery | None, with_jobs: bool) -> bool:
    """Whether `execution` runs again and is reported (it matches `query`)."""
    return reruns(execution, with_jobs) and (query is None or query.matches(execution))


INCIDENT_BEFORE = 10 * 60.0
"""How far before a failure the window `--around` it starts (seconds)."""
INCIDENT_AFTER = 5 * 60.0
"""How far after a failure that window ends, unless that is still to come."""


def window_around(execution: Execution, now: float | None = None) -> tuple[float, float]:
    """The incident window around one execution: from 10 minutes before it to 5 minutes after
    it (or now, if that is sooner), so the requests that led to it and followed it replay too."""
    now = time.time() if now is None else now
    since = execution.started_at - INCIDENT_BEFORE
    return since, min(now, execution.started_at + INCIDENT_AFTER) + 0.001


def window_query(since: float, until: float) -> ExecutionQuery:
    """Every execution that started in [since, until), oldest first, without a limit."""
    return ExecutionQuery(since=since, until=until, limit=None, newest_first=False)


async def plan_window(
    store: Store,
    since: float,
    until: float,
    *,
    query: ExecutionQuery | None = None,
    with_jobs: bool = False,
) -> ReplayPlan:
    """Count what `replay_window` with the same arguments would re-run."""
    plan = ReplayPlan(0, 0)
    async for execution in store.stream(window_query(since, until)):
        if selects(execution, query, with_jobs):
            plan.count += 1
            if event_type_of(execution):
                plan.webhooks += 1
    return plan


class ReplaySession:
    """A runtime on a sandbox: the machinery one replay runs on, released by `close`."""

    def __init__(
        self, runtime: Runtime, sandbox: Sandbox, recorder: Recorder, owns_recorder: bool
    ) -> None:
        self.runtime = runtime
        self.sandbox = sandbox
        self._recorder = recorder
        self._owns_recorder = owns_recorder

    @classmethod
    async def open(
        cls,
        project: Project,
        store: Store,
        at: float,
        *,
        overlay: dict[str, str] | None = None,
        recorder: Recorder | None = None,
    ) -> ReplaySession:
        sandbox = await Sandbox.create(project, store, at)
        owns = recorder is None
        sink: Recorder = recorder if recorder is not None else _project_recorder(project)
        try:
            registry = FunctionRegistry(
                project.functions_dir, overlay=overlay, project_root=project.root
            )
            runtime = Runtime(
                project, _WithoutDataChanges(sink), database=sandbox.database, registry=registry
            )
            await runtime.start()
        except BaseException:
            await sandbox.close()
            if owns:
                sink.close()
            raise
        return cls(runtime, sandbox, sink, owns)

    async def replay(self, original: Execution) -> ReplayOutcome:
        """Run `original` again and compare."""
        if not self.runtime.registry.exists(original.function):
            return missing_function_outcome(original)
        invocation = await replay_invocation(self.runtime, original)
        with no_network() as guard:
            result = await self.runtime.run(invocation)
        return network_used(compare(original, result.execution), guard.attempts)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await close_client(self.runtime)
        self.runtime.registry.close()
        await self.sandbox.close()
        if self._owns_recorder:
            self._recorder.close()


def _project_recorder(project: Project) -> Recorder:
    return open_writer(project)


class _WithoutDataChanges:
    """Records replays without their mutations: the mutation log is what happened to the
    live data (`flux state history`, and the undo log of later sandboxes), and a replay's
    writes went to a sandbox. The replay's db spans still show what it did."""

    def __init__(self, sink: Recorder) -> None:
        self.sink = sink

    def record(self, execution: Execution) -> None:
        self.sink.record(dataclasses.replace(execution, mutations=[]))

    def close(self) -> None:
        self.sink.close()


@contextlib.asynccontextmanager
async def _session(
    project: Project,
    store: Store,
    at: float,
    overlay: dict[str, str] | None,
    recorder: Recorder | None,
) -> AsyncIterator[ReplaySession]:
    session = await ReplaySession.open(project, store, at, overlay=overlay, recorder=recorder)
    try:
        yield session
    finally:
        await session.close()


async def replay_window(
    project: Project,
    store: Store,
    since: float,
    until: float,
    *,
    overlay: dict[str, str] | None = None,
    query: ExecutionQuery | None = None,
    with_jobs: bool = False,
    recorder: Recorder | None = None,
    progress: ProgressCallback | None = None,
    cancel: asyncio.Event | None = None,
    keep_passing: bool = True,
) -> ReplayReport:
    """Re-run every recorded execution that started in [since, until), in recorded order.

    `overlay` replaces function files with unsaved text; `query` narrows which outcomes are
    reported (everything still runs, in order); `with_jobs` re-runs recorded job runs too
    (otherwise their recorded writes are re-applied). Replays are recorded into `recorder`
    (by default the project's recorder file; a `NullRecorder` records nothing). Setting
    `cancel` stops after the current execution with `report.cancelled` set. With
    `keep_passing=False` the report keeps only the outcomes that did not pass (the counts
    stay complete), so memory stays flat however long the window: for callers that take
    each outcome from `progress`.
    """
    report = ReplayReport(
        ReplayWindow(since, until), with_jobs=with_jobs, overlay=sorted(overlay or {})
    )
    async with _session(project, store, since, overlay, recorder) as session:
        report.code_version = session.runtime.code_version
        async for execution in store.stream(window_query(since, until)):
            if cancel is not None and cancel.is_set():
                report.cancelled = True
                break
            if not reruns(execution, with_jobs):
                if execution.kind != REPLAY_KIND:
                    await session.sandbox.redo(execution.mutations)
                    report.redone += 1
                continue
            outcome = await session.replay(execution)
            if query is not None and not query.matches(execution):
                report.unreported += 1
                continue
            report.add(outcome, keep=keep_passing)
            if progress is not None:
                progress(outcome, report.summary.replayed)
        report.sandbox = session.sandbox.stats
    note = pruned_note((await store.stats()).pruned_before, since)
    if note is not None:  # the window reaches before what retention kept: say so
        report.sandbox.warnings.insert(0, note)
    return report


async def resolve_original(store: Store, ident: str) -> Execution:
    """The recorded execution `ident` names (id, `req:` id or prefix); a replay's stands for
    its original."""
    original = await store.get(ident)
    if original.kind == REPLAY_KIND and original.parent_id:
        original = await store.get(original.parent_id)
    return original


def one_report(original: Execution, overlay: dict[str, str] | None = None) -> ReplayReport:
    """The empty report of re-running `original` alone."""
    return ReplayReport(
        target=original.id,
        with_jobs=original.kind == "job",
        overlay=sorted(overlay or {}),
    )


@contextlib.asynccontextmanager
async def session_for(
    project: Project,
    store: Store,
    original: Execution,
    *,
    overlay: dict[str, str] | None = None,
    recorder: Recorder | None = None,
) -> AsyncIterator[ReplaySession]:
    """The session that re-runs `original` alone: on the data as it was when it started."""
    async with _session(project, store, original.started_at, overlay, recorder) as session:
        yield session


async def replay_one(
    project: Project,
    store: Store,
    ident: str,
    *,
    overlay: dict[str, str] | None = None,
    recorder: Recorder | None = None,
    progress: ProgressCallback | None = None,
) -> ReplayReport:
    """Re-run one recorded execution (by id, `req:` id or prefix) on the data as it was then.

    The id of a replay stands for its original. `progress` is called with its outcome.
    """
    original = await resolve_original(store, ident)
    report = one_report(original, overlay)
    async with session_for(project, store, original, overlay=overlay, recorder=recorder) as session:
        report.code_version = session.runtime.code_version
        outcome = await session.replay(original)
        report.add(outcome)
        if progress is not None:
            progress(outcome, 1)
        report.sandbox = session.sandbox.stats
    return report
