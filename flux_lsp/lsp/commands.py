"""`workspace/executeCommand`: flux.why, flux.trace, flux.traceDiff, flux.tail, flux.failures,
flux.replay, flux.incidentReplay, flux.saveRegressionTest, flux.debug.

Every command takes one JSON object (`{"id": "req:7c8d9e0f", "uri": ...}`) and returns a
`CommandAnswer` (`answer.py`): `{"kind", "execution_id", "report", "markdown", "document",
"execution"}`. A client that does not render reports itself is also shown why, trace,
traceDiff, replay and incidentReplay as a Markdown document, or their verdict as a message
(`report_documents`), and the answer names the file as `document`; `flux.trace` adds the raw
`execution` (every span, for clients that draw their own view; the VS Code extension draws its
waterfall from the report's tree).
Replays run on the editor's unsaved function files, report work-done progress, can be
cancelled from the progress notification (the answer is then the LSP `RequestCancelled`
error), and refresh the diagnostics when they finish.
`flux.debug` starts a debug session in its own process (`debug_sessions`) and returns where
its debugger listens; the client attaches to it.
Bad arguments, unknown ids and unreadable recorders answer with an LSP error response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.uris import to_fs_path

from flux_lsp.encode import to_json
from flux_lsp.lsp import diagnostics, markdown
from flux_lsp.lsp.answer import CommandAnswer
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.lsp.report_documents import present
from flux_lsp.lsp.server import FluxLanguageServer
from flux_lsp.model import Execution, short_id
from flux_lsp.recorder.query import ExecutionQuery, QueryError, parse_filters, parse_window
from flux_lsp.recorder.store import AmbiguousExecution, RecorderError, Store, UnknownExecution

log = logging.getLogger("flux.lsp")

TAIL_LIMIT = 50
MAX_FOLLOWERS = 16
"""Follow cursors kept; the oldest is forgotten first."""


class RequestFailed(JsonRpcException):
    """LSP `RequestFailed`: the request was well formed but cannot be answered."""

    CODE = -32803


def _argument(command: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The command's one argument, an object such as `{"id": "req:7c8d9e0f"}`."""
    if not args:
        return {}
    first = args[0]
    if len(args) == 1 and isinstance(first, dict):
        return first
    raise JsonRpcInvalidParams(
        f'{command}: expected an object such as {{"id": "req:7c8d9e0f"}}, got {first!r}'
    )


def _text(command: str, arg: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = arg.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise JsonRpcInvalidParams(f"{command}: {key!r} must be a non-empty string")
    return value.strip()


async def _projects(ls: FluxLanguageServer, arg: dict[str, Any]) -> list[FluxProject]:
    """The project the argument's `uri` names, else every project the workspace has."""
    uri = arg.get("uri")
    if uri is not None:
        if not isinstance(uri, str):
            raise JsonRpcInvalidParams("'uri' must be a string")
        project = await ls.projects.project_for(uri)
        return [project] if project is not None else []
    return ls.projects.all() or await ls.projects.folder_projects()


async def _stores(ls: FluxLanguageServer, arg: dict[str, Any]) -> list[tuple[FluxProject, Store]]:
    out: list[tuple[FluxProject, Store]] = []
    problems: list[str] = []
    for project in await _projects(ls, arg):
        store = await project.open()
        if store is None:
            problems.append(project.problem or f"no recorder at {project.recorder}")
        else:
            out.append((project, store))
    if not out:
        raise RequestFailed(problems[0] if problems else "no Flux project in this workspace")
    return out


async def _find(
    ls: FluxLanguageServer, command: str, arg: dict[str, Any], key: str = "id"
) -> tuple[FluxProject, Store, Execution]:
    ident = _text(command, arg, key)
    assert ident is not None
    unknown: RecorderError | None = None
    for project, store in await _stores(ls, arg):
        try:
            return project, store, await store.get(ident)
        except AmbiguousExecution as exc:
            raise JsonRpcInvalidParams(f"{command}: {exc}") from None
        except UnknownExecution as exc:
            unknown = exc
    raise JsonRpcInvalidParams(f"{command}: {unknown or 'no execution matches ' + repr(ident)}")


async def why(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    from flux_lsp.analysis.why import explain

    project, store, execution = await _find(ls, "flux.why", arg)
    report = await explain(store, execution)
    result = CommandAnswer("why", execution.id, report, markdown.why(report))
    where = f" at {report.location.label}" if report.location else ""
    e = report.execution
    verdict = (
        f"Flux: why {e.short_id} — {e.target} → {e.status}: {report.root_cause.summary}{where}"
    )
    await present(ls, project.root, result, verdict)
    return result


async def trace(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    from flux_lsp.analysis.trace_report import trace_report

    project, _store, execution = await _find(ls, "flux.trace", arg)
    report = trace_report(execution)
    result = CommandAnswer("trace", execution.id, report, markdown.trace(report))
    result.execution = execution
    e = report.execution
    verdict = f"Flux: trace {e.short_id} — {e.target} → {e.status}"
    if e.error is not None:
        where = f" at {e.error.location}" if e.error.location else ""
        verdict += f": {e.error.type}: {e.error.message}{where}"
    await present(ls, project.root, result, verdict)
    return result


async def _last_success(store: Store, failing: Execution) -> Execution:
    recent = await store.function_stats(failing.function, limit=200)
    for e in recent:
        if e.id != failing.id and e.kind != "replay" and not e.failed and not e.is_client_error:
            return await store.get(e.id)
    raise RequestFailed(
        f"flux.traceDiff: no successful run of {failing.function} to compare "
        f'{failing.short_id} with; pass "against"'
    )


async def trace_diff(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """`{"id": id, "against"?: id}`: how `id` differs from `against`, by default from the
    latest success of the same function."""
    from flux_lsp.analysis.diff import trace_diff as build

    project, store, b = await _find(ls, "flux.traceDiff", arg)
    if arg.get("against") is not None:
        _p, _s, a = await _find(ls, "flux.traceDiff", arg, "against")
    else:
        a = await _last_success(store, b)
    report = build(a, b)
    result = CommandAnswer("traceDiff", b.id, report, markdown.trace_diff(report))
    verdict = f"Flux: trace diff {a.short_id} → {b.short_id}"
    if report.notes:
        verdict += f": {report.notes[0]}"
    await present(ls, project.root, result, verdict)
    return result


async def tail(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """`{"function"?, "path"?, "status"?, "kind"?, "since"?: "15m", "limit"?: 50, "uri"?,
    "follow"?: true}`; with `follow`, the answer carries a `cursor`, and `{"cursor": ...}`
    answers with what was recorded since the cursor's last look, each execution once."""
    from flux_lsp.analysis.tail import TailReport, tail_lines
    from flux_lsp.recorder.follow import Follower
    from flux_lsp.recorder.query import parse_time

    cursor = arg.get("cursor")
    if cursor is not None:
        known = ls.followers.get(cursor) if isinstance(cursor, str) else None
        if known is None:
            raise JsonRpcInvalidParams("flux.tail: unknown cursor; ask again with follow")
        fresh: list[Execution] = []
        for follower in known:
            fresh.extend(await follower.poll())
        lines = tail_lines(fresh)
        return CommandAnswer("tail", None, TailReport(lines, cursor), markdown.tail(lines))

    filters = [
        f"{key}={arg[key]}"
        for key in ("function", "path", "status", "kind")
        if arg.get(key) is not None
    ]
    limit = arg.get("limit", TAIL_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= 1000:
        raise JsonRpcInvalidParams("flux.tail: 'limit' must be a number from 1 to 1000")
    try:
        query = parse_filters(filters, ExecutionQuery(limit=limit))
        since = _text("flux.tail", arg, "since", required=False)
        if since is not None:
            query = query.with_(since=parse_time(since))
    except QueryError as exc:
        raise JsonRpcInvalidParams(f"flux.tail: {exc}") from None
    executions: list[Execution] = []
    followers: list[Follower] = []
    for _project, store in await _stores(ls, arg):
        if arg.get("follow"):
            follower = Follower(store, query)
            await follower.mark_recorded()  # before the query: what it misses is news
            followers.append(follower)
        executions.extend(await store.executions(query))
    lines = tail_lines(executions[: limit * 4])[-limit:]
    title = f"Flux: recent {arg['function']}" if arg.get("function") else "Flux: recent executions"
    report = TailReport(lines)
    if followers:
        report.cursor = uuid.uuid4().hex
        ls.followers[report.cursor] = followers
        while len(ls.followers) > MAX_FOLLOWERS:
            del ls.followers[next(iter(ls.followers))]
    return CommandAnswer("tail", None, report, markdown.tail(lines, title))


async def failures(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """`{"uri"?}`: the failed executions within the `flux.window` of each workspace folder's
    project (or of the project `uri` is in), newest first, counted and worded for the editor's
    status bar and its pick (`analysis.recent_failures`)."""
    from flux_lsp.analysis.recent_failures import failed_since, recent_failures

    if arg.get("uri") is None:  # each folder's settings as they are now
        projects = await ls.projects.folder_projects() or ls.projects.all()
    else:
        projects = await _projects(ls, arg)
    executions: list[Execution] = []
    problems: list[str] = []
    for project in projects:
        store = await project.open()
        if store is None:
            problems.append(project.problem or f"no recorder at {project.recorder}")
            continue
        since = time.time() - project.settings.window_seconds
        executions.extend(await failed_since(store, since))
    if not projects or len(problems) == len(projects):
        raise RequestFailed(problems[0] if problems else "no Flux project in this workspace")
    report = recent_failures(executions, projects[0].settings.window)
    return CommandAnswer("failures", None, report, markdown.tail(report.lines, report.title))


def _overlay(ls: FluxLanguageServer, project: FluxProject) -> dict[str, str]:
    """Unsaved editor text of the project's function files, by path relative to the project."""
    overlay: dict[str, str] = {}
    for uri, document in ls.workspace.text_documents.items():
        fs = to_fs_path(uri)
        if fs and project.function_name(fs) is not None:
            path = Path(fs)
            try:
                on_disk = path.read_text(encoding="utf-8")
            except OSError:
                on_disk = None
            if document.source != on_disk:
                overlay[project.relative(path)] = document.source
    return overlay


class _Progress:
    """Work-done progress for a long command, cancellable from the client when it supports it."""

    def __init__(self, ls: FluxLanguageServer, title: str) -> None:
        self._ls = ls
        self.title = title
        self.token = f"flux-{uuid.uuid4().hex[:12]}"
        self.cancelled = asyncio.Event()
        self.enabled = False

    async def begin(self, message: str) -> None:
        window = self._ls.client_capabilities.window
        if window is None or not window.work_done_progress:
            return
        try:
            await asyncio.wait_for(self._ls.work_done_progress.create_async(self.token), 5)
        except Exception:
            log.debug("client refused work-done progress", exc_info=True)
            return
        self.enabled = True
        loop = asyncio.get_running_loop()
        future = self._ls.work_done_progress.tokens.get(self.token)
        if future is not None:
            future.add_done_callback(
                lambda f: loop.call_soon_threadsafe(self.cancelled.set) if f.cancelled() else None
            )
        self._ls.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=self.title, message=message, cancellable=True),
        )

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.enabled:
            self._ls.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )

    def end(self, message: str) -> None:
        if self.enabled:
            self.enabled = False
            self._ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self._ls.work_done_progress.tokens.pop(self.token, None)


async def _refresh_after_replay(ls: FluxLanguageServer, project: FluxProject) -> None:
    project.token = None
    for uri in sorted(project.open_uris):
        await diagnostics.refresh(ls, uri)


def _replay_recorder(project: FluxProject) -> Any:
    """Replays are recorded next to the originals when the recorder is a file or a database."""
    from flux_lsp.project import Project, is_remote
    from flux_lsp.recorder.writer import open_writer

    if is_remote(project.recorder):
        return None
    return open_writer(Project.load(project.root), project.recorder)


async def _run_replay(
    ls: FluxLanguageServer,
    project: FluxProject,
    progress: _Progress,
    work: Callable[[Any], Awaitable[Any]],
) -> Any:
    """Run `work(recorder)` as a task that the progress Cancel button stops."""
    recorder = _replay_recorder(project)
    task = asyncio.ensure_future(work(recorder))
    waiter = asyncio.ensure_future(progress.cancelled.wait())
    try:
        done, _pending = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            progress.end("cancelled")
            raise JsonRpcRequestCancelled("replay cancelled")
        return task.result()
    finally:
        waiter.cancel()
        if not task.done():  # this handler was cancelled (e.g. the server is shutting down)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if recorder is not None:
            recorder.close()
        await _refresh_after_replay(ls, project)


def replay_verdict(report: Any) -> str:
    """`Flux: replay req:7c8d9e0f — ✔ incident resolved (1 replayed · 1 passing · …)`."""
    if report.empty:
        return f"Flux: replay — {report.empty_message}"
    what = f" {short_id(report.target)}" if report.target else ""
    return f"Flux: replay{what} — {report.verdict} ({report.summary_line})"


def _errors(command: str, exc: Exception) -> JsonRpcException:
    from flux_lsp.project import ConfigError

    if isinstance(exc, JsonRpcException):
        return exc
    if isinstance(exc, (RecorderError, ConfigError, QueryError)):
        return RequestFailed(f"{command}: {exc}")
    return RequestFailed(f"{command} failed: {type(exc).__name__}: {exc}")


async def replay(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """Replay one execution against the current code (unsaved buffers included)."""
    from flux_lsp.project import Project
    from flux_lsp.replay.engine import replay_one

    project, store, execution = await _find(ls, "flux.replay", arg)
    overlay = _overlay(ls, project)
    progress = _Progress(ls, f"Flux: replaying {execution.short_id}")
    await progress.begin("against current code" + (" (unsaved buffers)" if overlay else ""))

    async def work(recorder: Any) -> Any:
        return await replay_one(
            Project.load(project.root), store, execution.id, overlay=overlay, recorder=recorder
        )

    try:
        report = await _run_replay(ls, project, progress, work)
    except Exception:
        progress.end("failed")
        raise
    progress.end(report.verdict)
    result = CommandAnswer("replay", execution.id, report, markdown.replay(report))
    await present(ls, project.root, result, replay_verdict(report))
    return result


async def incident_replay(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """`{"window": "09:00..09:20"}`, or `{"id": ...}` for a window around that execution."""
    from flux_lsp.project import Project
    from flux_lsp.replay.engine import plan_window, replay_window, window_around

    window = _text("flux.incidentReplay", arg, "window", required=False)
    execution_id: str | None = None
    if window is not None:
        try:
            since, until = parse_window(window)
        except QueryError as exc:
            raise JsonRpcInvalidParams(f"flux.incidentReplay: {exc}") from None
        project, store = (await _stores(ls, arg))[0]
    elif arg.get("id") is not None:
        project, store, execution = await _find(ls, "flux.incidentReplay", arg)
        execution_id = execution.id
        since, until = window_around(execution)
    else:
        raise JsonRpcInvalidParams(
            'flux.incidentReplay: pass {"window": "09:00..09:20"} or {"id": "req:…"}'
        )
    overlay = _overlay(ls, project)
    progress = _Progress(ls, "Flux: incident replay")
    try:
        plan = await plan_window(store, since, until)
        await progress.begin(f"{plan.count} requests")

        def on_outcome(outcome: Any, done: int) -> None:
            percent = int(100 * done / plan.count) if plan.count else None
            progress.report(f"{done}/{plan.count} {outcome.short_id} {outcome.outcome}", percent)

        async def work(recorder: Any) -> Any:
            return await replay_window(
                Project.load(project.root),
                store,
                since,
                until,
                overlay=overlay,
                recorder=recorder,
                progress=on_outcome,
                cancel=progress.cancelled,
            )

        report = await _run_replay(ls, project, progress, work)
    except Exception:
        progress.end("failed")
        raise
    progress.end(report.verdict)
    result = CommandAnswer("incidentReplay", execution_id, report, markdown.replay(report))
    await present(ls, project.root, result, replay_verdict(report))
    return result


def _expectations(arg: dict[str, Any]) -> dict[str, Any] | None:
    """`"expect": ["status=200"]` (as `flux test add --expect`), or None for the default."""
    from flux_lsp.replay.expect import ExpectationError, parse_expectations

    given = arg.get("expect")
    if given is None:
        return None
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not all(isinstance(x, str) for x in given):
        raise JsonRpcInvalidParams(
            'flux.saveRegressionTest: "expect" is a list such as ["status=200"]'
        )
    try:
        return parse_expectations(given)
    except ExpectationError as exc:
        raise JsonRpcInvalidParams(f"flux.saveRegressionTest: {exc}") from None


async def save_regression_test(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """`{"id", "name"?, "expect"?: ["status=200"], "force"?}`: `flux test add` from the editor.

    Writes the case under the project's `tests/flux/` and opens it when the client can show a
    document."""
    from flux_lsp.project import Project
    from flux_lsp.replay.capture import CaptureError, save_case

    command = "flux.saveRegressionTest"
    expect = _expectations(arg)
    name = _text(command, arg, "name", required=False)
    project, store, execution = await _find(ls, command, arg)
    try:
        saved = await save_case(
            Project.load(project.root),
            store,
            execution.id,
            name=name,
            expect=expect,
            force=arg.get("force") is True,
        )
    except CaptureError as exc:
        raise RequestFailed(f"{command}: {exc}") from None
    window = ls.client_capabilities.window
    if window is not None and window.show_document is not None and window.show_document.support:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                ls.window_show_document_async(types.ShowDocumentParams(uri=saved.uri)), 5
            )
    text = "\n".join(["```", *saved.lines, "```"])
    return CommandAnswer("saveRegressionTest", execution.id, saved, text)


async def debug(ls: FluxLanguageServer, arg: dict[str, Any]) -> CommandAnswer:
    """Start a debug session of one execution (unsaved buffers included) in its own process;
    returns where to attach: `{"host", "port", "pid", "stop_at", ...}` as the report."""
    from flux_lsp.lsp.debug_sessions import DebugStartError, outcome_message
    from flux_lsp.project import is_remote
    from flux_lsp.replay.debug import remote_refusal

    projects = await _projects(ls, arg)
    for candidate in projects:
        if is_remote(candidate.recorder):
            raise RequestFailed(f"flux.debug: {remote_refusal(candidate.recorder)}")
    project, _store, execution = await _find(ls, "flux.debug", arg)
    port = arg.get("port") or 0
    if not isinstance(port, int):
        raise JsonRpcInvalidParams("flux.debug: 'port' must be a number")
    rid = execution.short_id

    def ended(report: dict[str, Any] | None, stderr: str) -> None:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Info, message=outcome_message(rid, report, stderr)
            )
        )

    try:
        endpoint = await ls.debug_sessions.start(
            project.root, execution.id, _overlay(ls, project), port=port, on_end=ended
        )
    except DebugStartError as exc:
        raise RequestFailed(f"flux.debug: {exc}") from None
    result = CommandAnswer("debug", execution.id, endpoint, markdown.debug_endpoint(endpoint))
    verdict = f"Flux: debugging {rid}: attach a DAP client to {endpoint['host']}:{endpoint['port']}"
    await present(ls, project.root, result, verdict)
    return result


Handler = Callable[[FluxLanguageServer, dict[str, Any]], Awaitable[CommandAnswer]]
HANDLERS: dict[str, Handler] = {
    "flux.why": why,
    "flux.trace": trace,
    "flux.traceDiff": trace_diff,
    "flux.tail": tail,
    "flux.failures": failures,
    "flux.replay": replay,
    "flux.incidentReplay": incident_replay,
    "flux.debug": debug,
    "flux.saveRegressionTest": save_regression_test,
}


def _command(name: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def run(ls: FluxLanguageServer, *args: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = to_json(await handler(ls, _argument(name, args)))
            return answer
        except Exception as exc:
            raise _errors(name, exc) from None

    run.__name__ = name.replace(".", "_")
    return run


def register(ls: FluxLanguageServer) -> None:
    for name, handler in HANDLERS.items():
        ls.command(name)(_command(name, handler))
